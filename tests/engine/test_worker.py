from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import pytest

from board import Queue, SyncJob, UnrecoverableError, Worker

from .helpers import running, until


def linear_backoff(attempt: int, error: BaseException) -> float:
    return 0.05 * attempt


def events(raw: Any, name: str) -> list[dict[str, str]]:
    return [fields for _, fields in raw.xrange(f"bull:{name}:events")]


async def test_a_worker_completes_jobs_the_way_bullmq_records_them(queue: Queue, redis_url, raw, qname):
    async def double(job):
        return {"double": job.data["n"] * 2}

    completed = []
    worker = Worker(qname, double, redis_url, name="w1")
    worker.on("completed", lambda job, result: completed.append((job.id, result)))
    job = await queue.add("math", {"n": 21})
    async with running(worker):
        await until(lambda: completed)
    assert completed == [("1", {"double": 42})]
    stored = raw.hgetall(f"bull:{qname}:1")
    assert json.loads(stored["returnvalue"]) == {"double": 42}
    assert stored["atm"] == "1" and stored["ats"] == "1" and stored["pb"] == "w1"
    assert int(stored["finishedOn"]) >= int(stored["processedOn"]) >= job.timestamp
    assert raw.zscore(f"bull:{qname}:completed", "1") == int(stored["finishedOn"])
    assert raw.llen(f"bull:{qname}:active") == 0 and raw.exists(f"bull:{qname}:1:lock") == 0
    names = [(e["event"], e.get("prev")) for e in events(raw, qname)]
    assert ("active", "waiting") in names and ("completed", "active") in names
    completed_event = next(e for e in events(raw, qname) if e["event"] == "completed")
    assert json.loads(completed_event["returnvalue"]) == {"double": 42}


async def test_a_plain_function_runs_in_a_thread_and_can_report(queue: Queue, redis_url, raw, qname):
    seen: dict[str, Any] = {}

    def work(job: SyncJob):
        seen["thread"] = threading.current_thread().name
        seen["type"] = type(job)
        job.update_progress(50)
        job.log("half way")
        return "done"

    progress = []
    worker = Worker(qname, work, redis_url)
    worker.on("progress", lambda job_id, value: progress.append((job_id, value)))
    await queue.add("t", {})
    async with running(worker):
        await until(lambda: raw.zcard(f"bull:{qname}:completed"))
        await until(lambda: progress)
    assert seen["type"] is SyncJob and seen["thread"].startswith("board-")
    assert raw.hget(f"bull:{qname}:1", "returnvalue") == '"done"'
    assert raw.hget(f"bull:{qname}:1", "progress") == "50"
    assert raw.lrange(f"bull:{qname}:1:logs", 0, -1) == ["half way"]
    assert progress == [("1", 50)]


async def test_failed_attempts_retry_with_fixed_backoff_then_succeed(queue: Queue, redis_url, raw, qname):
    calls = []
    failures = []

    async def flaky(job):
        calls.append(time.monotonic())
        if len(calls) < 3:
            raise ConnectionError(f"downstream flaked ({len(calls)})")
        return "ok"

    worker = Worker(qname, flaky, redis_url)
    worker.on("failed", lambda job, err: failures.append(str(err)))
    await queue.add("x", {}, attempts=3, backoff=0.2)
    async with running(worker):
        await until(lambda: raw.zcard(f"bull:{qname}:completed"))
    assert failures == ["downstream flaked (1)", "downstream flaked (2)"]
    assert calls[1] - calls[0] >= 0.19 and calls[2] - calls[1] >= 0.19
    stored = raw.hgetall(f"bull:{qname}:1")
    assert stored["atm"] == "3" and stored["ats"] == "3"
    traces = json.loads(stored["stacktrace"])
    assert len(traces) == 2 and "downstream flaked (1)" in traces[0]
    delayed = [e for e in events(raw, qname) if e["event"] == "delayed"]
    assert len(delayed) == 2
    names = [e["event"] for e in events(raw, qname)]
    assert "failed" not in names  # BullMQ writes no failed event for an attempt that will retry


async def test_exponential_backoff_doubles_and_the_last_failure_is_final(queue: Queue, redis_url, raw, qname):
    async def always(job):
        raise ValueError("bad input")

    exhausted = []
    worker = Worker(qname, always, redis_url)
    worker.on("retries-exhausted", lambda job, err: exhausted.append(job.id))
    await queue.add("x", {}, attempts=3, backoff={"type": "exponential", "delay": 0.1}, remove_on_fail=False)
    async with running(worker):
        await until(lambda: raw.zcard(f"bull:{qname}:failed"))
        await until(lambda: exhausted)
    stored = raw.hgetall(f"bull:{qname}:1")
    assert stored["failedReason"] == "bad input" and stored["atm"] == "3"
    assert len(json.loads(stored["stacktrace"])) == 3
    stream = raw.xrange(f"bull:{qname}:events")
    delays = []
    for entry_id, fields in stream:
        if fields["event"] == "delayed":
            delays.append(int(fields["delay"]) - int(entry_id.split("-")[0]))
    assert len(delays) == 2
    assert 90 <= delays[0] <= 110 and 190 <= delays[1] <= 210
    tail = [e for e in events(raw, qname) if e["event"] in ("failed", "retries-exhausted")]
    assert tail == [
        {"event": "failed", "jobId": "1", "failedReason": "bad input", "prev": "active"},
        {"event": "retries-exhausted", "jobId": "1", "attemptsMade": "3"},
    ]


TRAPPED: list[tuple[Any, ...]] = []


def trap(*args: Any) -> float:
    """Named by a job's old ``fn`` field: a worker that imported it would record the call."""
    TRAPPED.append(args)
    return 0


def add_raw(raw: Any, qname: str, job_id: str, opts: dict[str, Any], data: str = "{}") -> None:
    """A job as another program writes it, straight into Redis."""
    fields = {"name": job_id, "data": data, "opts": json.dumps(opts), "timestamp": int(time.time() * 1000)}
    raw.hset(f"bull:{qname}:{job_id}", mapping={**fields, "delay": 0, "priority": 0})
    raw.lpush(f"bull:{qname}:wait", job_id)


async def test_a_backoff_naming_code_runs_nothing_and_fails_the_job_alone(queue: Queue, redis_url, raw, qname):
    add_raw(raw, qname, "exit", {"attempts": 3, "backoff": {"type": "custom", "fn": "os:_exit"}})
    add_raw(raw, qname, "trap", {"attempts": 3, "backoff": {"type": "custom", "fn": "tests.engine.test_worker:trap"}})
    ran = []

    async def work(job):
        ran.append(job.id)
        if job.id in ("exit", "trap"):
            raise RuntimeError("downstream down")
        return "ok"

    async with running(Worker(qname, work, redis_url)):
        await until(lambda: raw.zcard(f"bull:{qname}:failed") == 2)
        await queue.add("next", {})
        await until(lambda: raw.zcard(f"bull:{qname}:completed") == 1)
    assert TRAPPED == []
    assert sorted(ran) == ["1", "exit", "trap"]
    for job_id in ("exit", "trap"):
        stored = raw.hgetall(f"bull:{qname}:{job_id}")
        assert stored["atm"] == "1"
        assert stored["failedReason"] == (
            "downstream down (not retried: backoff type 'custom' is unknown to this worker, which knows "
            "'fixed', 'exponential'; give the Worker backoff_strategies={'custom': fn})"
        )


async def test_a_strategy_given_to_the_worker_is_used_by_name(queue: Queue, redis_url, raw, qname):
    async def failing(job):
        raise RuntimeError("nope")

    calls: list[tuple[Any, ...]] = []

    def linear(attempts_made: int, error: BaseException, backoff_type: str, job: Any) -> float:
        calls.append((attempts_made, str(error), backoff_type, job.id, job.data))
        return 0.05 * attempts_made

    def fallback(attempts_made: int, error: BaseException) -> float:
        calls.append(("fallback", attempts_made))
        return 0.01

    worker = Worker(qname, failing, redis_url, backoff_strategies={"linear": linear}, backoff_strategy=fallback)
    async with Queue(qname, redis_url, backoff_types=["linear"]) as declaring:
        await declaring.add("named", {"n": 1}, attempts=3, backoff={"type": "linear", "delay": 1})
    add_raw(raw, qname, "old", {"attempts": 2, "backoff": {"type": "custom", "fn": "tests.engine.test_worker:trap"}})
    async with running(worker):
        await until(lambda: raw.zcard(f"bull:{qname}:failed") == 2)
    assert sorted(calls, key=str) == sorted(
        [(1, "nope", "linear", "1", {"n": 1}), (2, "nope", "linear", "1", {"n": 1}), ("fallback", 1)], key=str
    )
    assert TRAPPED == []
    delays = [
        int(fields["delay"]) - int(entry_id.split("-")[0])
        for entry_id, fields in raw.xrange(f"bull:{qname}:events")
        if fields["event"] == "delayed" and fields["jobId"] == "1"
    ]
    assert len(delays) == 2 and 40 <= delays[0] <= 60 and 90 <= delays[1] <= 110
    assert raw.hget(f"bull:{qname}:1", "atm") == "3" and raw.hget(f"bull:{qname}:old", "atm") == "2"


async def test_an_unknown_backoff_type_fails_alone_and_the_next_job_runs(queue: Queue, redis_url, raw, qname):
    async def work(job):
        if job.name in ("bad", "malformed"):
            raise RuntimeError("flaky")
        return "fine"

    worker = Worker(qname, work, redis_url, backoff_strategies={"linear": lambda attempts: 0.01})
    # Declared on this queue (or written by another program) but not given to the worker.
    async with Queue(qname, redis_url, backoff_types=["quadratic"]) as declaring:
        await declaring.add("bad", {}, attempts=5, backoff={"type": "quadratic", "delay": 1})
    add_raw(raw, qname, "malformed", {"attempts": 5, "backoff": "soon"})
    await queue.add("good", {})
    async with running(worker):
        await until(lambda: raw.zcard(f"bull:{qname}:completed") == 1 and raw.zcard(f"bull:{qname}:failed") == 2)
    assert raw.hget(f"bull:{qname}:2", "returnvalue") == '"fine"'
    reason = raw.hget(f"bull:{qname}:1", "failedReason")
    assert "flaky (not retried: backoff type 'quadratic' is unknown to this worker" in reason
    assert "'fixed', 'exponential', 'linear'" in reason
    assert raw.hget(f"bull:{qname}:1", "atm") == "1"
    assert "malformed backoff 'soon'" in raw.hget(f"bull:{qname}:malformed", "failedReason")


def test_a_worker_refuses_strategies_it_could_never_use(redis_url):
    async def work(job):
        return None

    with pytest.raises(ValueError, match="built-in"):
        Worker("q", work, redis_url, backoff_strategies={"exponential": linear_backoff})
    with pytest.raises(ValueError, match="backoff_strategies"):
        Worker("q", work, redis_url, backoff_strategies={"linear": 5})  # type: ignore[dict-item]


async def test_an_unrecoverable_error_skips_the_remaining_attempts(queue: Queue, redis_url, raw, qname):
    async def refuse(job):
        raise UnrecoverableError("card declined")

    await queue.add("charge", {}, attempts=5)
    async with running(Worker(qname, refuse, redis_url)):
        await until(lambda: raw.zcard(f"bull:{qname}:failed"))
    assert raw.hget(f"bull:{qname}:1", "atm") == "1"
    assert raw.hget(f"bull:{qname}:1", "failedReason") == "card declined"


async def test_removal_policies(queue: Queue, redis_url, raw, qname):
    async def work(job):
        if job.data.get("fail"):
            raise RuntimeError("x")
        return 1

    await queue.add("gone", {}, remove_on_complete=True)
    for _ in range(4):
        await queue.add("kept", {}, remove_on_complete=2)
    await queue.add("fail-gone", {"fail": True}, remove_on_fail=True)
    await queue.add("fail-kept", {"fail": True})
    async with running(Worker(qname, work, redis_url)):
        await until(lambda: raw.llen(f"bull:{qname}:wait") == 0 and raw.llen(f"bull:{qname}:active") == 0)
        await until(lambda: raw.zcard(f"bull:{qname}:failed") == 1)
    assert raw.exists(f"bull:{qname}:1") == 0
    assert sorted(raw.zrange(f"bull:{qname}:completed", 0, -1)) == ["4", "5"]
    assert raw.exists(f"bull:{qname}:2", f"bull:{qname}:3") == 0
    assert raw.exists(f"bull:{qname}:6") == 0
    assert raw.zrange(f"bull:{qname}:failed", 0, -1) == ["7"]


async def test_remove_on_complete_by_age(queue: Queue, redis_url, raw, qname):
    raw.zadd(f"bull:{qname}:completed", {"old": int(time.time() * 1000) - 7_200_000})
    raw.hset(f"bull:{qname}:old", mapping={"name": "old", "data": "{}", "opts": "{}", "timestamp": "1"})
    await queue.add("new", {}, remove_on_complete={"age": 3600})

    async def work(job):
        return None

    async with running(Worker(qname, work, redis_url)):
        await until(lambda: raw.zscore(f"bull:{qname}:completed", "1") is not None)
    assert raw.zrange(f"bull:{qname}:completed", 0, -1) == ["1"]
    assert raw.exists(f"bull:{qname}:old") == 0


async def test_concurrency_caps_jobs_in_flight(queue: Queue, redis_url, raw, qname):
    current = peak = 0

    async def slow(job):
        nonlocal current, peak
        current += 1
        peak = max(peak, current)
        await asyncio.sleep(0.02)
        current -= 1

    await queue.add_bulk([{"name": "j", "data": i} for i in range(40)])
    async with running(Worker(qname, slow, redis_url, concurrency=4)):
        await until(lambda: raw.zcard(f"bull:{qname}:completed") == 40)
    assert peak == 4


async def test_the_limiter_caps_jobs_started_per_window(queue: Queue, redis_url, raw, qname):
    starts: list[float] = []

    async def work(job):
        starts.append(time.monotonic())

    await queue.add_bulk([{"name": "j", "data": i} for i in range(6)])
    async with running(Worker(qname, work, redis_url, concurrency=5, limiter={"max": 2, "duration": 0.3})):
        await until(lambda: raw.zcard(f"bull:{qname}:completed") == 6)
    starts.sort()
    for i in range(len(starts) - 2):
        assert starts[i + 2] - starts[i] >= 0.25, starts


async def test_global_concurrency_in_meta_caps_every_worker(queue: Queue, redis_url, raw, qname):
    current = peak = 0

    async def slow(job):
        nonlocal current, peak
        current += 1
        peak = max(peak, current)
        await asyncio.sleep(0.02)
        current -= 1

    await queue.set_global_concurrency(2)
    await queue.add_bulk([{"name": "j", "data": i} for i in range(12)])
    async with running(Worker(qname, slow, redis_url, concurrency=6)):
        await until(lambda: raw.zcard(f"bull:{qname}:completed") == 12)
    assert peak == 2


async def test_priorities_run_in_order_and_delayed_jobs_are_promoted_by_the_worker(queue: Queue, redis_url, qname):
    order = []

    async def record(job):
        order.append(job.name)

    await queue.pause()
    await queue.add("low", {}, priority=10)
    await queue.add("high", {}, priority=1)
    await queue.add("plain", {})
    await queue.add("later", {}, delay=0.3)
    await queue.resume()
    async with running(Worker(qname, record, redis_url)):
        await until(lambda: len(order) == 4)
    assert order == ["plain", "high", "low", "later"]


async def test_an_idle_worker_wakes_on_the_marker_not_by_polling(queue: Queue, redis_url, raw, qname):
    done = asyncio.Event()

    async def work(job):
        done.set()

    async with running(Worker(qname, work, redis_url, block_timeout=30)):
        await asyncio.sleep(0.3)  # let it block on the marker
        await queue.add("wake", {})
        await asyncio.wait_for(done.wait(), 5)


async def test_a_paused_queue_keeps_its_jobs_until_resumed(queue: Queue, redis_url, raw, qname):
    seen = []

    async def work(job):
        seen.append(job.id)

    await queue.pause()
    await queue.add("a", {})
    async with running(Worker(qname, work, redis_url, block_timeout=0.2)):
        await asyncio.sleep(0.5)
        assert seen == []
        await queue.resume()
        await until(lambda: seen == ["1"])


async def test_locks_are_renewed_while_a_long_job_runs(queue: Queue, redis_url, raw, qname):
    stalled: list[str] = []

    async def long(job):
        await asyncio.sleep(1.2)
        return "finished"

    worker = Worker(qname, long, redis_url, lock_duration=0.4, stalled_interval=0.2)
    worker.on("stalled", stalled.append)
    await queue.add("long", {})
    async with running(worker):
        await until(lambda: raw.exists(f"bull:{qname}:1:lock"))
        ttl = raw.pttl(f"bull:{qname}:1:lock")
        assert 0 < ttl <= 400
        await until(lambda: raw.zcard(f"bull:{qname}:completed"), timeout=5)
    assert stalled == []
    assert raw.hget(f"bull:{qname}:1", "ats") == "1"


async def test_a_job_whose_worker_died_goes_back_to_wait_and_completes(queue: Queue, redis_url, raw, qname):
    await queue.add("orphan", {})
    # A worker that died: the job is active, its lock has expired, and a stalled check has seen it.
    raw.lmove(f"bull:{qname}:wait", f"bull:{qname}:active", "RIGHT", "LEFT")
    raw.sadd(f"bull:{qname}:stalled", "1")
    stalled: list[str] = []

    async def work(job):
        return "recovered"

    worker = Worker(qname, work, redis_url, stalled_interval=0.2)
    worker.on("stalled", stalled.append)
    async with running(worker):
        await until(lambda: raw.zcard(f"bull:{qname}:completed"))
    assert stalled == ["1"]
    assert raw.hget(f"bull:{qname}:1", "stc") == "1"
    names = [e["event"] for e in events(raw, qname)]
    assert "stalled" in names


async def test_a_job_that_stalls_too_often_fails(queue: Queue, redis_url, raw, qname):
    await queue.add("crashy", {})
    raw.lmove(f"bull:{qname}:wait", f"bull:{qname}:active", "RIGHT", "LEFT")
    raw.sadd(f"bull:{qname}:stalled", "1")
    ran = []

    async def work(job):
        ran.append(job.id)

    async with running(Worker(qname, work, redis_url, stalled_interval=0.2, max_stalled_count=0)):
        await until(lambda: raw.zcard(f"bull:{qname}:failed"))
    assert ran == []
    assert raw.hget(f"bull:{qname}:1", "failedReason") == "job stalled more than allowable limit"
    assert raw.hexists(f"bull:{qname}:1", "defa") == 0


async def test_close_lets_active_jobs_finish(queue: Queue, redis_url, raw, qname):
    started = asyncio.Event()

    async def work(job):
        started.set()
        await asyncio.sleep(0.3)
        return "finished"

    worker = Worker(qname, work, redis_url)
    task = asyncio.create_task(worker.run())
    await queue.add("a", {})
    await started.wait()
    await worker.close()
    await task
    assert raw.hget(f"bull:{qname}:1", "returnvalue") == '"finished"'
    assert raw.llen(f"bull:{qname}:active") == 0


async def test_close_past_its_timeout_hands_unfinished_jobs_back(queue: Queue, redis_url, raw, qname):
    started = asyncio.Event()

    async def stuck(job):
        started.set()
        await asyncio.sleep(30)

    worker = Worker(qname, stuck, redis_url, shutdown_timeout=0.2)
    task = asyncio.create_task(worker.run())
    await queue.add("a", {})
    await started.wait()
    await worker.close()
    await task
    assert raw.llen(f"bull:{qname}:active") == 0
    assert raw.lrange(f"bull:{qname}:wait", 0, -1) == ["1"]
    assert raw.exists(f"bull:{qname}:1:lock") == 0
    assert raw.zscore(f"bull:{qname}:marker", "0") == 0


async def test_a_malformed_job_fails_alone_and_the_worker_goes_on(queue: Queue, redis_url, raw, qname):
    raw.hset(f"bull:{qname}:bad", mapping={"name": "x", "data": "{oops", "opts": "{}", "timestamp": "1"})
    raw.lpush(f"bull:{qname}:wait", "bad")
    await queue.add("good", {"fine": True})
    ran = []

    async def work(job):
        ran.append(job.id)
        return job.data

    async with running(Worker(qname, work, redis_url)):
        await until(lambda: raw.zcard(f"bull:{qname}:completed") and raw.zcard(f"bull:{qname}:failed"))
    assert ran == ["1"]
    reason = raw.hget(f"bull:{qname}:bad", "failedReason")
    assert "data" in reason and "JSON" in reason


async def test_a_return_value_that_is_not_json_fails_the_job_clearly(queue: Queue, redis_url, raw, qname):
    async def work(job):
        return object()

    await queue.add("a", {}, attempts=3)
    async with running(Worker(qname, work, redis_url)):
        await until(lambda: raw.zcard(f"bull:{qname}:failed"))
    assert "not JSON-serialisable" in raw.hget(f"bull:{qname}:1", "failedReason")
    assert raw.hget(f"bull:{qname}:1", "atm") == "1"


async def test_the_worker_is_listed_as_a_connected_worker(queue: Queue, redis_url, qname):
    async def work(job):
        return None

    async with running(Worker(qname, work, redis_url, name="mailer-1")):
        workers = await until(queue.get_workers)
    assert [w["name"] for w in workers] == [queue.keys.client_name("mailer-1")]


async def test_drained_fires_when_the_queue_empties(queue: Queue, redis_url, raw, qname):
    drained = []

    async def work(job):
        return None

    worker = Worker(qname, work, redis_url, concurrency=3)
    worker.on("drained", lambda: drained.append(True))
    await queue.add_bulk([{"name": "j", "data": i} for i in range(5)])
    async with running(worker):
        await until(lambda: drained)
    assert "drained" in [e["event"] for e in events(raw, qname)]


def test_bad_worker_options_name_the_option(redis_url):
    async def work(job):
        return None

    for kwargs, name in (
        ({"concurrency": 0}, "concurrency"),
        ({"limiter": {"max": 0, "duration": 1}}, "limiter"),
        ({"lock_duration": 0}, "lock_duration"),
        ({"stalled_interval": -1}, "stalled_interval"),
        ({"max_stalled_count": -1}, "max_stalled_count"),
        ({"name": "has space"}, "name"),
    ):
        with pytest.raises(ValueError, match=name):
            Worker("q", work, redis_url, **kwargs)
    with pytest.raises(ValueError, match="processor"):
        Worker("q", "not callable", redis_url)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="event"):
        Worker("q", work, redis_url).on("finished", print)


async def test_a_fetch_that_redis_refuses_is_reported_and_retried(queue: Queue, redis_url, raw, qname):
    # Another program made the limiter key a hash: every fetch of a rate-limited worker errors in Redis.
    raw.hset(f"bull:{qname}:limiter", "x", "1")
    await queue.add("a", {})
    errors: list[str] = []
    done = []

    async def work(job):
        done.append(job.id)

    worker = Worker(qname, work, redis_url, limiter={"max": 5, "duration": 1})
    worker.on("error", lambda exc: errors.append(str(exc)))
    async with running(worker):
        await until(lambda: errors)
        assert done == []
        raw.delete(f"bull:{qname}:limiter")
        await until(lambda: done == ["1"])
    assert "WRONGTYPE" in errors[0]
