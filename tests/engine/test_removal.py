"""Removing jobs in bulk within bounds: a flow parent with its tree, a bounded share per script call; the
children followed only where they can be this queue's jobs; drain and clean keeping each job scheduler's
next run; obliterate taking the schedulers with it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import pytest
import redis

from board import FlowProducer, JobLockedError, Queue
from board.engine import ops
from board.engine.connection import Call, Op
from board.engine.keys import QUEUE_KEY_NAMES

T = TypeVar("T")


@pytest.fixture
async def flows(redis_url: str) -> AsyncIterator[FlowProducer]:
    async with FlowProducer(redis_url) as producer:
        yield producer


def removed_events(raw: Any, queues: list[str]) -> list[dict[str, str]]:
    return [f for q in queues for _, f in raw.xrange(f"bull:{q}:events") if f["event"] == "removed"]


def watched(op: Op[T], before: Callable[[Call], None], after: Callable[[Call], None]) -> Op[T]:
    """``op``, with ``before`` and ``after`` called around each script call it makes."""
    step = next(op)
    while True:
        assert isinstance(step, Call)
        before(step)
        reply = yield step
        after(step)
        try:
            step = op.send(reply)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]


async def remove_watched(
    queue: Queue, job_id: str, after: Callable[[Call], None], before: Callable[[Call], None] = lambda call: None
) -> int:
    count: int = await queue._runner.run(watched(ops.remove(queue.keys, job_id), before, after))
    return count


def write_job(raw: Any, qname: str, job_id: str, **fields: Any) -> str:
    key = f"bull:{qname}:{job_id}"
    raw.hset(key, mapping={"name": "j", "data": "{}", "opts": "{}", "timestamp": 1, "delay": 0, **fields})
    return key


def command_calls(raw: redis.Redis) -> dict[str, int]:
    stats = raw.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(row["calls"]) for name, row in stats.items()}


# A flow parent and its tree


async def test_a_large_flow_is_removed_a_bounded_share_per_call(
    flows: FlowProducer, queue: Queue, raw: redis.Redis, qname: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ops, "BATCH", 4)
    kids, grandkids = qname + "-a", qname + "-b"
    tree = await flows.add(
        {
            "name": "p",
            "queue_name": qname,
            "children": [
                *(
                    {"name": "c", "queue_name": kids, "children": [{"name": "g", "queue_name": grandkids}] * 3}
                    for _ in range(3)
                ),
                *({"name": "d", "queue_name": qname} for _ in range(6)),
            ],
        }
    )
    # And children that completed, in the parent's processed hash.
    for i in range(5):
        key = write_job(raw, kids, f"done{i}", parentKey=f"bull:{qname}:{tree.job.id}", finishedOn=2)
        raw.zadd(f"bull:{kids}:completed", {f"done{i}": 2})
        raw.hset(f"bull:{qname}:{tree.job.id}:processed", key, '"ok"')
    queues = [qname, kids, grandkids]
    raw.config_resetstat()

    per_call: list[int] = []

    def after(call: Call) -> None:
        per_call.append(len(removed_events(raw, queues)) - sum(per_call))

    assert await remove_watched(queue, tree.job.id, after) == 24
    assert max(per_call) <= 4 and len(per_call) > 6
    # Nothing of the tree is left (only queue-level keys), and the parent went last.
    assert {str(k).split(":")[2] for k in raw.keys("bull:*")} <= QUEUE_KEY_NAMES
    assert raw.zcard(f"bull:{kids}:completed") == 0
    assert removed_events(raw, [qname])[-1] == {"event": "removed", "jobId": tree.job.id, "prev": "waiting-children"}
    # No whole child set was read at once.
    assert not {"smembers", "hkeys", "hgetall"} & command_calls(raw).keys()


async def test_finished_children_are_not_searched_for_in_lists(queue: Queue, raw: redis.Redis, qname: str) -> None:
    raw.lpush(f"bull:{qname}:wait", *(f"w{i}" for i in range(2000)))
    parent = write_job(raw, qname, "p", finishedOn=3)
    raw.zadd(f"bull:{qname}:completed", {"p": 3})
    for i in range(20):
        write_job(raw, qname, f"c{i}", parentKey=parent, finishedOn=2)
        raw.zadd(f"bull:{qname}:completed", {f"c{i}": 2})
        raw.hset(parent + ":processed", f"bull:{qname}:c{i}", '"ok"')
    raw.config_resetstat()
    assert await queue.remove_count("p") == 21
    # Each was found by ZSCORE: the long wait list was not searched, let alone for each child.
    calls = command_calls(raw)
    assert "lrem" not in calls and "lpos" not in calls
    assert raw.llen(f"bull:{qname}:wait") == 2000 and raw.zcard(f"bull:{qname}:completed") == 0


async def test_children_far_down_a_list_go_a_few_per_call(
    queue: Queue, raw: redis.Redis, qname: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ops, "LIST_SCAN", 10, raising=False)
    parent = write_job(raw, qname, "p")
    raw.zadd(f"bull:{qname}:waiting-children", {"p": 1})
    for i in range(6):
        write_job(raw, qname, f"c{i}", parentKey=parent)
        raw.lpush(f"bull:{qname}:wait", f"c{i}")
        raw.sadd(parent + ":dependencies", f"bull:{qname}:c{i}")
    others = [f"w{i}" for i in range(30)]
    raw.lpush(f"bull:{qname}:wait", *others)

    per_call: list[int] = []

    def after(call: Call) -> None:
        waiting = [e for e in removed_events(raw, [qname]) if e["prev"] == "wait"]
        per_call.append(len(waiting) - sum(per_call))

    assert await remove_watched(queue, "p", after) == 7
    # Each child costs more than the call's share of list entries to find: one per call.
    assert max(per_call) == 1 and sum(per_call) == 6
    assert raw.lrange(f"bull:{qname}:wait", 0, -1) == others[::-1]


async def test_a_lock_anywhere_below_a_large_tree_removes_nothing(
    flows: FlowProducer, queue: Queue, raw: redis.Redis, qname: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ops, "BATCH", 3)
    tree = await flows.add(
        {
            "name": "p",
            "queue_name": qname,
            "children": [{"name": "c", "queue_name": qname, "children": [{"name": "g", "queue_name": qname}]}] * 8,
        }
    )
    keys_before = set(raw.keys(f"bull:{qname}:*"))
    last = tree.children[-1].children[0].job.id
    raw.set(f"bull:{qname}:{last}:lock", "a-worker")
    with pytest.raises(JobLockedError):
        await queue.remove(tree.job.id)
    assert set(raw.keys(f"bull:{qname}:*")) == keys_before | {f"bull:{qname}:{last}:lock"}
    raw.delete(f"bull:{qname}:{last}:lock")

    # A worker that takes a child after the check stops the removal there; the rest is left as it is.
    def before(call: Call) -> None:
        if call.args[5:6] == ("remove",) and not raw.exists(f"bull:{qname}:{last}:lock"):
            raw.set(f"bull:{qname}:{last}:lock", "a-worker")

    with pytest.raises(JobLockedError):
        await remove_watched(queue, tree.job.id, lambda call: None, before)
    assert raw.exists(f"bull:{qname}:{tree.job.id}", f"bull:{qname}:{last}") == 2


async def test_loops_and_deep_chains_are_removed_in_bounded_calls(
    queue: Queue, raw: redis.Redis, qname: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ops, "BATCH", 3)
    # A chain twelve deep whose last job lists the first as its child: another program's loop.
    chain = [write_job(raw, qname, f"j{i}") for i in range(12)]
    for parent, child in zip(chain, chain[1:] + chain[:1], strict=True):
        raw.sadd(parent + ":dependencies", child)
    raw.zadd(f"bull:{qname}:waiting-children", {f"j{i}": 1 for i in range(12)})

    per_call: list[int] = []

    def after(call: Call) -> None:
        per_call.append(len(removed_events(raw, [qname])) - sum(per_call))

    assert await remove_watched(queue, "j0", after) == 12
    assert max(per_call) <= 3
    assert raw.keys(f"bull:{qname}:j*") == [] and raw.zcard(f"bull:{qname}:waiting-children") == 0


async def test_only_children_under_the_queues_prefix_are_followed(
    flows: FlowProducer, queue: Queue, raw: redis.Redis, qname: str, redis_url: str
) -> None:
    async with Queue("billing", redis_url, prefix="otherapp") as other:
        victim = await other.add("invoice", {"amount": 100})
    tree = await flows.add({"name": "p", "queue_name": qname, "children": [{"name": "c", "queue_name": qname}]})
    raw.hset(f"bull:{qname}-x:meta", "opts.maxLenEvents", 10)
    write_job(raw, qname + "-x", "7")
    foreign = [
        f"otherapp:billing:{victim.id}",  # another application's job
        f"bull:{qname}-x:meta",  # a queue's own key
        f"bull:{qname}-x:7:lock",  # a job's sub-key
        f"bull:{qname}:x:7",  # job 7 of a queue whose name holds ':'
    ]
    raw.sadd(f"bull:{qname}:{tree.job.id}:dependencies", *foreign)
    stream = raw.xlen("otherapp:billing:events")
    assert await queue.remove_count(tree.job.id) == 2
    assert raw.lrange("otherapp:billing:wait", 0, -1) == [victim.id]
    assert raw.exists(f"otherapp:billing:{victim.id}", f"bull:{qname}-x:meta", f"bull:{qname}-x:7") == 3
    assert raw.xlen("otherapp:billing:events") == stream


# Job schedulers' next runs


async def schedulers_with_jobs(queue: Queue, raw: redis.Redis, qname: str) -> dict[str, str]:
    """Two schedulers whose next runs wait, one whose next run is delayed, an earlier run of one of them,
    and other jobs in every state drain and clean empty, runs among them; the next run ids by scheduler."""
    await queue.add_bulk([{"name": "before", "data": i} for i in range(3)])
    await queue.upsert_job_scheduler("tick", every=60)
    await queue.add_bulk([{"name": "between", "data": i} for i in range(3)])
    await queue.upsert_job_scheduler("tock", every=60)
    await queue.upsert_job_scheduler("nightly", cron="0 3 * * *")
    await queue.add_bulk([{"name": "after", "data": i} for i in range(3)])
    await queue.add_bulk([{"name": "later", "data": i, "delay": 60 + i} for i in range(3)])
    await queue.add("urgent", {}, priority=1)
    # An earlier run of "tick", at the oldest end of wait: not the next one, so it goes.
    write_job(raw, qname, "repeat:tick:1000", rjk="tick")
    raw.rpush(f"bull:{qname}:wait", "repeat:tick:1000")
    runs = {}
    for scheduler_id in ("tick", "tock", "nightly"):
        found = await queue.get_job_scheduler(scheduler_id)
        assert found is not None and found.next_job_id
        runs[scheduler_id] = found.next_job_id
    return runs


def runs_kept(raw: redis.Redis, qname: str, runs: dict[str, str]) -> None:
    base = f"bull:{qname}:"
    assert sorted(raw.lrange(base + "wait", 0, -1)) == sorted([runs["tick"], runs["tock"]])
    assert raw.zrange(base + "delayed", 0, -1) == [runs["nightly"]]
    assert raw.zcard(base + "prioritized") == 0
    assert raw.exists(*(base + run for run in runs.values())) == 3
    assert raw.exists(base + "repeat:tick:1000") == 0


async def test_drain_keeps_each_schedulers_next_run(
    queue: Queue, raw: redis.Redis, qname: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ops, "BATCH", 2)
    runs = await schedulers_with_jobs(queue, raw, qname)
    await queue.drain(delayed=True)
    runs_kept(raw, qname, runs)
    # The runs waiting still wake a worker.
    assert raw.zscore(f"bull:{qname}:marker", "0") is not None
    await queue.drain(delayed=True)
    runs_kept(raw, qname, runs)


@pytest.mark.parametrize("window", [2, 1000])
async def test_clean_keeps_each_schedulers_next_run(
    queue: Queue, raw: redis.Redis, qname: str, monkeypatch: pytest.MonkeyPatch, window: int
) -> None:
    monkeypatch.setattr(ops, "BATCH", window)
    runs = await schedulers_with_jobs(queue, raw, qname)
    for state in ("wait", "delayed", "prioritized"):
        await queue.clean(0, 0, state)
    runs_kept(raw, qname, runs)


async def test_obliterate_deletes_the_schedulers_and_a_new_one_starts_afresh(
    queue: Queue, raw: redis.Redis, qname: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ops, "BATCH", 2)
    for i in range(3):
        await queue.upsert_job_scheduler(f"s{i}", every=60)
    await queue.add_bulk([{"name": "j", "data": i} for i in range(3)])
    raw.hset(f"bull:{qname}:repeat:s0", "ic", 12)
    await queue.pause()
    await queue.obliterate(force=True)
    assert raw.keys(f"bull:{qname}:*") == []
    again = await queue.upsert_job_scheduler("s0", every=60, limit=3)
    assert again.iteration_count <= 1
    assert json.loads(raw.hget(f"bull:{qname}:repeat:s0", "ic") or "0") <= 1
