"""The alert loop against a real Redis: once per episode, in one process, across restarts."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis

from board import Queue, Worker
from board.adapters.alerting import RedisAlertStore, RedisObserver
from board.alerts import Alert, load_config
from board.alerts.runner import AlertRunner
from board.engine.inspector import Inspector
from tests.engine.helpers import running
from tests.support import until

LOCK = "board:bull:alerts:lock"


@pytest.fixture
async def inspector(redis_url: str) -> AsyncIterator[Inspector]:
    found = Inspector(redis_url)
    yield found
    await found.close()


def make_runner(
    inspector: Inspector, queues: list[str], rules: list[dict[str, Any]], seen: list[Alert], **kw: Any
) -> AlertRunner:
    store = RedisAlertStore(inspector.runner, "bull")

    async def names() -> list[str]:
        return queues

    config = load_config({"rules": rules})
    return AlertRunner(config, RedisObserver(inspector, store, names), store, callables={"test": seen.append}, **kw)


async def test_fires_once_and_resolves_once(inspector: Inspector, queue: Queue, qname: str) -> None:
    seen: list[Alert] = []
    loop = make_runner(inspector, [qname], [{"name": "backlog", "when": "waiting_above", "threshold": 2}], seen)
    await queue.add_bulk([{"name": "n", "data": {}} for _ in range(3)])
    deliveries = await loop.round()
    assert [(a.rule, a.queue, a.state, a.value) for a in seen] == [("backlog", qname, "firing", 3)]
    assert deliveries[0].ok and deliveries[0].target == "test"
    await loop.round()
    assert len(seen) == 1
    await queue.drain()
    await loop.round()
    assert [a.state for a in seen] == ["firing", "resolved"]
    await loop.round()
    assert len(seen) == 2
    recent = await RedisAlertStore(inspector.runner, "bull").recent()
    assert [d.state for d in recent] == ["resolved", "firing"]


async def test_a_restarted_board_neither_fires_again_nor_forgets_to_resolve(
    inspector: Inspector, queue: Queue, raw: redis.Redis, qname: str
) -> None:
    rules = [{"name": "backlog", "when": "waiting_above", "threshold": 0}]
    seen: list[Alert] = []
    await queue.add("n", {})
    await make_runner(inspector, [qname], rules, seen).round()
    assert len(seen) == 1
    raw.delete(LOCK)  # the first process is gone and its lock ran out
    restarted = make_runner(inspector, [qname], rules, seen)
    await restarted.round()
    assert len(seen) == 1
    await queue.drain()
    await restarted.round()
    assert [a.state for a in seen] == ["firing", "resolved"]


async def test_rounds_run_in_one_process_at_a_time(inspector: Inspector, queue: Queue, qname: str) -> None:
    rules = [{"name": "backlog", "when": "waiting_above", "threshold": 0}]
    seen: list[Alert] = []
    first, second = (make_runner(inspector, [qname], rules, seen) for _ in range(2))
    await queue.add("n", {})
    assert await second.store.hold_lock(second.owner, 60_000)
    assert await first.round() == [] and seen == []
    assert len(await second.round()) == 1


async def test_a_hold_time_delays_the_alert(inspector: Inspector, queue: Queue, qname: str) -> None:
    now = [1_000_000.0]
    seen: list[Alert] = []
    rules = [{"name": "idle", "when": "no_workers", "minutes": 5}]
    loop = make_runner(inspector, [qname], rules, seen, clock=lambda: now[0])
    await loop.round()
    now[0] += 4 * 60
    await loop.round()
    assert seen == []
    now[0] += 60
    await loop.round()
    assert [(a.rule, a.state) for a in seen] == [("idle", "firing")]
    assert seen[0].since_ms == 1_000_000_000


async def test_failures_a_minute(inspector: Inspector, queue: Queue, raw: redis.Redis, qname: str) -> None:
    now = [1_000_000.0]
    seen: list[Alert] = []
    loop = make_runner(
        inspector,
        [qname],
        [{"name": "errors", "when": "failures_per_minute_above", "threshold": 5}],
        seen,
        clock=lambda: now[0],
    )
    await loop.round()  # the first round only counts
    raw.zadd(f"bull:{qname}:failed", {f"f{i}": i for i in range(12)})
    now[0] += 60
    await loop.round()
    assert [(a.state, a.value) for a in seen] == [("firing", 12)]
    now[0] += 60
    await loop.round()
    assert [a.state for a in seen] == ["firing", "resolved"]


async def test_jobs_that_exhausted_their_retries(
    inspector: Inspector, queue: Queue, redis_url: str, raw: redis.Redis, qname: str
) -> None:
    seen: list[Alert] = []
    loop = make_runner(inspector, [qname], [{"name": "dead jobs", "when": "retries_exhausted"}], seen)
    raw.xadd(f"bull:{qname}:events", {"event": "retries-exhausted", "jobId": "old", "attemptsMade": "1"})
    await loop.round()  # starts reading the events from here: what came before is not news
    assert seen == []

    async def work(job: Any) -> None:
        raise RuntimeError("smtp down")

    await queue.add("a", {}, attempts=2)
    await queue.add("b", {})
    async with running(Worker(qname, work, redis_url, handle_signals=False)):
        await until(lambda: _failed(queue, 2), what="both jobs failed for good")
    await loop.round()
    assert len(seen) == 1 and seen[0].when == "retries_exhausted"
    assert sorted(seen[0].job_ids) == ["1", "2"]
    await loop.round()
    assert len(seen) == 1


async def _failed(queue: Queue, count: int) -> bool:
    return (await queue.get_job_counts("failed"))["failed"] == count


async def test_stop_ends_the_loop_even_when_a_round_loses_the_cancellation() -> None:
    """Python 3.11's asyncio.wait_for (inside redis-py) can drop a cancellation that arrives as a call
    completes; the loop must still end, promptly, rather than go on to its next round."""
    rounds: list[str] = []

    class Swallowing:
        async def queue_names(self) -> list[str]:
            rounds.append("round")
            # What the lost cancellation looks like from here.
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.sleep(0.2)
            return []

        async def observe(self, queues: Any) -> list[Any]:
            return []

    class Store:
        async def hold_lock(self, owner: str, ttl_ms: int) -> bool:
            return True

        async def episodes(self) -> dict[str, str]:
            return {}

    config = load_config({"rules": [{"name": "idle", "when": "no_workers"}]})
    loop = AlertRunner(config, Swallowing(), Store(), interval=3600)  # type: ignore[arg-type]
    loop.start()
    await until(lambda: rounds, what="the first round")
    started = time.monotonic()
    await loop.stop()
    assert time.monotonic() - started < 2 and rounds == ["round"]
