"""Flows: a parent and its children across queues, added in one call, the parent running once they are done;
the child failure options; removing children and parents; the bounds of a flow; a job scheduler's next run,
which cannot be removed on its own."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import pytest
import redis

from board import FlowProducer, Job, JobLockedError, JobNode, JobStateError, Queue, SyncFlowProducer, Worker
from board.engine.flows import MAX_FLOW_DEPTH, MAX_FLOW_JOBS

from .helpers import running, until

Processor = Callable[[Job], Awaitable[Any]]


def events(raw: Any, queue: str) -> list[dict[str, str]]:
    return [fields for _, fields in raw.xrange(f"bull:{queue}:events")]


def names(node: JobNode[Any]) -> list[str]:
    return [node.job.name, *(name for child in node.children for name in names(child))]


@asynccontextmanager
async def workers(url: str, queues: list[str], processor: Processor) -> AsyncIterator[None]:
    async with AsyncExitStack() as stack:
        for queue in queues:
            await stack.enter_async_context(running(Worker(queue, processor, url, concurrency=4)))
        yield


@pytest.fixture
async def flows(redis_url: str) -> AsyncIterator[FlowProducer]:
    async with FlowProducer(redis_url) as producer:
        yield producer


# Adding and running


async def test_a_five_queue_three_level_flow_runs_children_first(
    flows: FlowProducer, redis_url: str, raw: redis.Redis, qname: str
) -> None:
    q = [f"{qname}-{i}" for i in range(5)]
    tree = await flows.add(
        {
            "name": "report",
            "queue_name": q[0],
            "data": {"level": 0},
            "children": [
                {
                    "name": "region-eu",
                    "queue_name": q[1],
                    "data": {"level": 1},
                    "children": [
                        {"name": "shop-de", "queue_name": q[3], "data": {"n": 3}},
                        {"name": "shop-fr", "queue_name": q[4], "data": {"n": 4}},
                    ],
                },
                {"name": "region-us", "queue_name": q[2], "data": {"level": 1}},
            ],
        }
    )
    assert names(tree) == ["report", "region-eu", "shop-de", "shop-fr", "region-us"]
    root, eu, us = tree.job, tree.children[0].job, tree.children[1].job
    de, fr = (node.job for node in tree.children[0].children)
    for job in (root, eu, us, de, fr):
        assert str(uuid.UUID(job.id)) == job.id
    # Every job moved its queue's counter, as BullMQ's adds do.
    assert [raw.get(f"bull:{name}:id") for name in q] == ["1", "1", "1", "1", "1"]

    # BullMQ's layout: parents in waiting-children scored with their timestamp, children linked to them.
    assert raw.zrange(f"bull:{q[0]}:waiting-children", 0, -1, withscores=True) == [(root.id, float(root.timestamp))]
    assert raw.zrange(f"bull:{q[1]}:waiting-children", 0, -1) == [eu.id]
    assert raw.smembers(f"bull:{q[0]}:{root.id}:dependencies") == {f"bull:{q[1]}:{eu.id}", f"bull:{q[2]}:{us.id}"}
    assert raw.smembers(f"bull:{q[1]}:{eu.id}:dependencies") == {f"bull:{q[3]}:{de.id}", f"bull:{q[4]}:{fr.id}"}
    child = raw.hgetall(f"bull:{q[3]}:{de.id}")
    assert child["parentKey"] == f"bull:{q[1]}:{eu.id}"
    assert json.loads(child["parent"]) == {"id": eu.id, "queueKey": f"bull:{q[1]}"}
    assert json.loads(child["opts"])["parent"] == {"id": eu.id, "queue": f"bull:{q[1]}"}
    assert raw.lrange(f"bull:{q[3]}:wait", 0, -1) == [de.id]
    assert events(raw, q[0]) == [
        {"event": "added", "jobId": root.id, "name": "report"},
        {"event": "waiting-children", "jobId": root.id},
    ]
    assert events(raw, q[2]) == [
        {"event": "added", "jobId": us.id, "name": "region-us"},
        {"event": "waiting", "jobId": us.id},
    ]
    assert tree.children[0].children[0].job.parent_key == f"bull:{q[1]}:{eu.id}"

    finished: dict[str, int] = {}
    started: dict[str, int] = {}
    seen: dict[str, Any] = {}
    clock = iter(range(1_000_000))

    async def work(job: Job) -> Any:
        started[job.name] = next(clock)
        seen[job.name] = await job.get_children_values()
        await asyncio.sleep(0.01)
        finished[job.name] = next(clock)
        return {"job": job.name, "children": len(seen[job.name])}

    async with workers(redis_url, q, work):
        await until(lambda: "report" in finished, 10, "the root to run")
    assert started["region-eu"] > max(finished["shop-de"], finished["shop-fr"])
    assert started["report"] > max(finished["region-eu"], finished["region-us"])
    assert seen["report"] == {
        f"bull:{q[1]}:{eu.id}": {"job": "region-eu", "children": 2},
        f"bull:{q[2]}:{us.id}": {"job": "region-us", "children": 0},
    }
    assert seen["shop-de"] == {}
    parent = await Queue(q[0], redis_url).get_job(root.id)
    assert parent is not None and await parent.get_dependencies_count() == {
        "processed": 2,
        "unprocessed": 0,
        "ignored": 0,
        "failed": 0,
    }
    await parent.queue.close()
    assert raw.exists(f"bull:{q[0]}:{root.id}:dependencies") == 0
    released = [e for e in events(raw, q[0]) if e["event"] == "waiting"]
    assert released == [{"event": "waiting", "jobId": root.id, "prev": "waiting-children"}]


async def test_custom_ids_options_and_the_sync_producer(redis_url: str, raw: redis.Redis, qname: str) -> None:
    with SyncFlowProducer(redis_url) as producer:
        tree = producer.add(
            {
                "name": "parent",
                "queue_name": qname,
                "job_id": "order-1",
                "priority": 3,
                "children": [
                    {"name": "child", "queue_name": qname, "job_id": "order-1-a", "delay": 60, "attempts": 2},
                    {"name": "last", "queue_name": qname, "lifo": True, "data": [1, 2]},
                ],
            }
        )
    assert tree.job.id == "order-1" and tree.children[0].job.id == "order-1-a"
    assert raw.zscore(f"bull:{qname}:delayed", "order-1-a") is not None
    assert json.loads(raw.hget(f"bull:{qname}:order-1-a", "opts") or "") == {
        "attempts": 2,
        "jobId": "order-1-a",
        "delay": 60_000,
        "parent": {"id": "order-1", "queue": f"bull:{qname}"},
    }
    assert raw.get(f"bull:{qname}:id") == "3"
    assert tree.children[1].job.data == [1, 2]


async def test_a_delayed_parent_waits_its_delay_after_its_children(
    flows: FlowProducer, redis_url: str, raw: redis.Redis, qname: str
) -> None:
    tree = await flows.add(
        {"name": "p", "queue_name": qname, "delay": 30, "children": [{"name": "c", "queue_name": qname}]}
    )

    async def work(job: Job) -> str:
        return job.name

    async with workers(redis_url, [qname], work):
        await until(lambda: raw.zscore(f"bull:{qname}:delayed", tree.job.id), 5, "the parent to be delayed")
    due = raw.zscore(f"bull:{qname}:delayed", tree.job.id)
    assert due is not None and int(due) // 4096 >= tree.job.timestamp + 30_000
    assert events(raw, qname)[-1]["event"] == "delayed"


async def test_a_job_that_exists_already_is_linked_not_written_again(
    flows: FlowProducer, queue: Queue, redis_url: str, raw: redis.Redis, qname: str
) -> None:
    done = await queue.add("done-before", {"x": 1}, job_id="shared")

    async def work(job: Job) -> Any:
        return await job.get_children_values() if job.name == "p" else "fresh"

    async with workers(redis_url, [qname], work):
        await until(lambda: raw.zscore(f"bull:{qname}:completed", done.id), 5, "the existing job to complete")
        tree = await flows.add(
            {"name": "p", "queue_name": qname, "children": [{"name": "again", "queue_name": qname, "job_id": "shared"}]}
        )
        # Its only child had completed already: the parent runs at once, with that child's value.
        await until(lambda: raw.zscore(f"bull:{qname}:completed", tree.job.id), 5, "the parent to run")
    assert tree.children[0].job.name == "done-before"  # read back: the job as it is
    parent = await queue.get_job(tree.job.id)
    assert parent is not None and parent.returnvalue == {f"bull:{qname}:shared": "fresh"}
    assert {"event": "duplicated", "jobId": "shared"} in events(raw, qname)

    # The same id under another parent that still exists is refused, and nothing is written.
    before = raw.dbsize()
    other = {"name": "p2", "queue_name": qname, "children": [{"name": "x", "queue_name": qname, "job_id": "shared"}]}
    with pytest.raises(JobStateError, match="as the child of another parent"):
        await flows.add(other)
    assert raw.dbsize() == before


# Child failure options


def failing(*fail: str) -> Processor:
    async def work(job: Job) -> Any:
        if job.name in fail:
            raise RuntimeError(f"{job.name} broke")
        await asyncio.sleep(0.05 if job.name == "slow" else 0)
        return {"values": await job.get_children_values(), "ignored": await job.get_ignored_children_failures()}

    return work


def family(qname: str, option: str | None, *, grandparent: bool = False) -> dict[str, Any]:
    bad: dict[str, Any] = {"name": "bad", "queue_name": qname + "-kids"}
    if option:
        bad[option] = True
    parent: dict[str, Any] = {
        "name": "parent",
        "queue_name": qname,
        "children": [bad, {"name": "slow", "queue_name": qname + "-kids"}],
    }
    if grandparent:
        parent["fail_parent_on_failure"] = True
        return {"name": "grandparent", "queue_name": qname + "-top", "children": [parent]}
    return parent


async def test_fail_parent_on_failure_fails_the_parent_and_up_the_tree(
    flows: FlowProducer, redis_url: str, raw: redis.Redis, qname: str
) -> None:
    tree = await flows.add(family(qname, "fail_parent_on_failure", grandparent=True))
    parent, bad = tree.children[0].job, tree.children[0].children[0].job
    assert json.loads(raw.hget(f"bull:{qname}-kids:{bad.id}", "parent") or "")["fpof"] is True
    assert json.loads(raw.hget(f"bull:{qname}-kids:{bad.id}", "opts") or "")["fpof"] is True
    async with workers(redis_url, [qname, qname + "-kids", qname + "-top"], failing("bad")):
        await until(lambda: raw.zscore(f"bull:{qname}-top:failed", tree.job.id), 10, "the grandparent to fail")
    bad_key = f"bull:{qname}-kids:{bad.id}"
    assert raw.hget(f"bull:{qname}:{parent.id}", "failedReason") == f"child {bad_key} failed"
    assert raw.hget(f"bull:{qname}-top:{tree.job.id}", "failedReason") == f"child bull:{qname}:{parent.id} failed"
    assert raw.zrange(f"bull:{qname}:{parent.id}:unsuccessful", 0, -1) == [bad_key]
    assert raw.hexists(f"bull:{qname}:{parent.id}", "defa") is False
    assert [e["event"] for e in events(raw, qname)][-3:] == ["waiting", "failed", "retries-exhausted"]
    parent_events = events(raw, qname)
    assert {"event": "waiting", "jobId": parent.id, "prev": "waiting-children"} in parent_events
    assert {"event": "failed", "jobId": parent.id, "failedReason": f"child {bad_key} failed", "prev": "active"} in (
        parent_events
    )
    job = await Queue(qname, redis_url).get_job(parent.id)
    assert job is not None and (await job.get_dependencies_count())["failed"] == 1
    await job.queue.close()


@pytest.mark.parametrize("option", ["ignore_dependency_on_failure", "remove_dependency_on_failure"])
async def test_ignored_or_removed_dependencies_let_the_parent_run_after_the_others(
    flows: FlowProducer, redis_url: str, raw: redis.Redis, qname: str, option: str
) -> None:
    tree = await flows.add(family(qname, option))
    bad, slow = (node.job for node in tree.children)
    async with workers(redis_url, [qname, qname + "-kids"], failing("bad")):
        await until(lambda: raw.zscore(f"bull:{qname}:completed", tree.job.id), 10, "the parent to run")
    result = json.loads(raw.hget(f"bull:{qname}:{tree.job.id}", "returnvalue") or "")
    bad_key, slow_key = f"bull:{qname}-kids:{bad.id}", f"bull:{qname}-kids:{slow.id}"
    assert list(result["values"]) == [slow_key]
    ignored = {bad_key: "bad broke"} if option == "ignore_dependency_on_failure" else {}
    assert result["ignored"] == ignored
    assert raw.hgetall(f"bull:{qname}:{tree.job.id}:failed") == ignored
    assert raw.exists(f"bull:{qname}:{tree.job.id}:unsuccessful") == 0
    # It ran after its other child, not when the failure came.
    parent_started = int(raw.hget(f"bull:{qname}:{tree.job.id}", "processedOn") or 0)
    assert parent_started >= int(raw.hget(slow_key, "finishedOn") or 0)


async def test_continue_parent_on_failure_runs_the_parent_at_once(
    flows: FlowProducer, redis_url: str, raw: redis.Redis, qname: str
) -> None:
    family_tree = family(qname, "continue_parent_on_failure")
    family_tree["children"][1]["delay"] = 60  # the other child is still pending when the parent runs
    tree = await flows.add(family_tree)
    bad = tree.children[0].job
    async with workers(redis_url, [qname, qname + "-kids"], failing("bad")):
        await until(lambda: raw.zscore(f"bull:{qname}:completed", tree.job.id), 10, "the parent to run")
    assert raw.hgetall(f"bull:{qname}:{tree.job.id}:failed") == {f"bull:{qname}-kids:{bad.id}": "bad broke"}
    assert raw.scard(f"bull:{qname}:{tree.job.id}:dependencies") == 1


async def test_without_an_option_a_failed_child_keeps_its_parent_waiting(
    flows: FlowProducer, redis_url: str, raw: redis.Redis, qname: str
) -> None:
    tree = await flows.add(family(qname, None))
    bad = tree.children[0].job
    async with workers(redis_url, [qname, qname + "-kids"], failing("bad")):
        await until(lambda: raw.zscore(f"bull:{qname}-kids:failed", bad.id), 10, "the child to fail")
        await until(lambda: raw.scard(f"bull:{qname}:{tree.job.id}:dependencies") == 1, 5, "the other child")
        assert raw.zscore(f"bull:{qname}:waiting-children", tree.job.id) is not None
        # Retrying the child lets the flow go on.
        async with Queue(qname + "-kids", redis_url) as kids:
            await kids.update_job_data(bad.id, {})
            raw.hset(f"bull:{qname}-kids:{bad.id}", "name", "fixed")
            await kids.retry_job(bad.id)
        await until(lambda: raw.zscore(f"bull:{qname}:completed", tree.job.id), 10, "the parent to run")


async def test_a_child_retried_by_hand_is_pending_for_its_parent_again(
    flows: FlowProducer, redis_url: str, raw: redis.Redis, qname: str
) -> None:
    tree = await flows.add(
        {
            "name": "p",
            "queue_name": qname,
            "children": [
                {"name": "bad", "queue_name": qname + "-kids", "ignore_dependency_on_failure": True},
                {"name": "later", "queue_name": qname + "-kids", "delay": 60},
            ],
        }
    )
    bad, later = (node.job for node in tree.children)
    bad_key = f"bull:{qname}-kids:{bad.id}"
    async with workers(redis_url, [qname + "-kids"], failing("bad")):
        await until(lambda: raw.hexists(f"bull:{qname}:{tree.job.id}:failed", bad_key), 5, "the ignored failure")
    assert raw.smembers(f"bull:{qname}:{tree.job.id}:dependencies") == {f"bull:{qname}-kids:{later.id}"}
    async with Queue(qname + "-kids", redis_url) as kids:
        await kids.retry_job(bad.id)
    # BullMQ's moveChildBackToParentDependencies: pending again, the ignored failure forgotten.
    assert raw.sismember(f"bull:{qname}:{tree.job.id}:dependencies", bad_key)
    assert raw.exists(f"bull:{qname}:{tree.job.id}:failed") == 0


async def test_clean_and_drain_remove_a_parent_in_the_same_queue_with_its_last_child(
    flows: FlowProducer, queue: Queue, raw: redis.Redis, qname: str
) -> None:
    same = await flows.add({"name": "p", "queue_name": qname, "children": [{"name": "c", "queue_name": qname}]})
    other = await flows.add(
        {"name": "p", "queue_name": qname + "-top", "children": [{"name": "c", "queue_name": qname}]}
    )
    await queue.drain()
    # As BullMQ's drain: the parent in the drained queue goes, the one elsewhere runs.
    assert raw.exists(f"bull:{qname}:{same.job.id}") == 0 and raw.zcard(f"bull:{qname}:waiting-children") == 0
    assert raw.lrange(f"bull:{qname}-top:wait", 0, -1) == [other.job.id]
    assert events(raw, qname + "-top")[-1] == {"event": "waiting", "jobId": other.job.id, "prev": "waiting-children"}


async def test_a_failed_child_removed_on_failure_releases_its_parent(
    flows: FlowProducer, redis_url: str, raw: redis.Redis, qname: str
) -> None:
    # BullMQ's moveToFinished: a job removed as it fails leaves its parent's dependencies.
    tree = await flows.add(
        {"name": "p", "queue_name": qname, "children": [{"name": "bad", "queue_name": qname, "remove_on_fail": True}]}
    )
    async with workers(redis_url, [qname], failing("bad")):
        await until(lambda: raw.zscore(f"bull:{qname}:completed", tree.job.id), 10, "the parent to run")
    assert raw.exists(f"bull:{qname}:{tree.children[0].job.id}") == 0


# Removing


async def test_removing_the_last_pending_child_releases_the_parent(
    flows: FlowProducer, raw: redis.Redis, qname: str, redis_url: str
) -> None:
    tree = await flows.add(
        {"name": "p", "queue_name": qname, "children": [{"name": "c", "queue_name": qname + "-kids"}]}
    )
    async with Queue(qname + "-kids", redis_url) as kids:
        assert await kids.remove_count(tree.children[0].job.id) == 1
    assert raw.lrange(f"bull:{qname}:wait", 0, -1) == [tree.job.id]
    assert raw.zcard(f"bull:{qname}:waiting-children") == 0
    assert events(raw, qname)[-1] == {"event": "waiting", "jobId": tree.job.id, "prev": "waiting-children"}
    assert events(raw, qname + "-kids")[-1] == {"event": "removed", "jobId": tree.children[0].job.id, "prev": "wait"}


async def test_removing_a_parent_removes_its_children_in_every_queue(
    flows: FlowProducer, queue: Queue, raw: redis.Redis, qname: str, redis_url: str
) -> None:
    tree = await flows.add(
        {
            "name": "p",
            "queue_name": qname,
            "children": [
                {"name": "c1", "queue_name": qname + "-a", "children": [{"name": "g", "queue_name": qname + "-b"}]},
                {"name": "c2", "queue_name": qname + "-a"},
            ],
        }
    )
    kept = await flows.add({"name": "p", "queue_name": qname, "children": [{"name": "c", "queue_name": qname + "-a"}]})
    assert await queue.remove_count(tree.job.id) == 4
    keys = set(raw.keys(f"bull:{qname}*"))
    for node in (tree, *tree.children, tree.children[0].children[0]):
        assert not {k for k in keys if node.job.id in k}, node.job.name
    assert raw.lrange(f"bull:{qname}-a:wait", 0, -1) == [kept.children[0].job.id]
    assert events(raw, qname)[-1] == {"event": "removed", "jobId": tree.job.id, "prev": "waiting-children"}
    assert {"event": "removed", "jobId": tree.children[0].children[0].job.id, "prev": "wait"} in events(
        raw, qname + "-b"
    )

    # Asked not to, it leaves the children; a job that is not there is not removed.
    assert await queue.remove(kept.job.id, remove_children=False) is True
    assert raw.lrange(f"bull:{qname}-a:wait", 0, -1) == [kept.children[0].job.id]
    assert await queue.remove(kept.job.id) is False


async def test_a_parent_whose_pending_child_runs_is_not_removed(
    flows: FlowProducer, queue: Queue, raw: redis.Redis, qname: str
) -> None:
    tree = await flows.add({"name": "p", "queue_name": qname, "children": [{"name": "c", "queue_name": qname + "-a"}]})
    raw.set(f"bull:{qname}-a:{tree.children[0].job.id}:lock", "a-worker")
    with pytest.raises(JobLockedError):
        await queue.remove(tree.job.id)
    assert raw.exists(f"bull:{qname}:{tree.job.id}") == 1
    # Without its children the parent may go.
    assert await queue.remove(tree.job.id, remove_children=False) is True


async def test_removing_finished_children_with_their_parent(
    flows: FlowProducer, queue: Queue, redis_url: str, raw: redis.Redis, qname: str
) -> None:
    tree = await flows.add(family(qname, "ignore_dependency_on_failure"))
    async with workers(redis_url, [qname, qname + "-kids"], failing("bad")):
        await until(lambda: raw.zscore(f"bull:{qname}:completed", tree.job.id), 10, "the parent to run")
    # Its children: one in its processed hash, one in its failed hash.
    assert await queue.remove_count(tree.job.id) == 3
    assert raw.zcard(f"bull:{qname}-kids:completed") == raw.zcard(f"bull:{qname}-kids:failed") == 0


# Bounds and checks


async def test_a_flow_over_its_bounds_or_with_a_bad_job_writes_nothing(
    flows: FlowProducer, raw: redis.Redis, qname: str
) -> None:
    many = {"name": "p", "queue_name": qname, "children": [{"name": "c", "queue_name": qname}] * MAX_FLOW_JOBS}
    with pytest.raises(ValueError, match=f"more than {MAX_FLOW_JOBS} jobs"):
        await flows.add(many)
    deep: dict[str, Any] = {"name": "leaf", "queue_name": qname}
    for _ in range(MAX_FLOW_DEPTH):
        deep = {"name": "level", "queue_name": qname, "children": [deep]}
    with pytest.raises(ValueError, match=f"deeper than {MAX_FLOW_DEPTH} levels"):
        await flows.add(deep)
    bad_option = {"name": "p", "queue_name": qname, "children": [{"name": "c", "queue_name": qname, "attempts": -1}]}
    with pytest.raises(ValueError, match=r"flow job root.children\[0\] \('c'\): attempts: must be >= 0"):
        await flows.add(bad_option)
    with pytest.raises(ValueError, match="deduplication: not available in a flow"):
        await flows.add({"name": "p", "queue_name": qname, "deduplication": {"id": "x"}})
    with pytest.raises(ValueError, match="only a child has a parent"):
        await flows.add({"name": "p", "queue_name": qname, "fail_parent_on_failure": True})
    both = {"name": "c", "queue_name": qname, "fail_parent_on_failure": True, "remove_dependency_on_failure": True}
    with pytest.raises(ValueError, match="cannot be used together"):
        await flows.add({"name": "p", "queue_name": qname, "children": [both]})
    twice = [{"name": "c", "queue_name": qname, "job_id": "c1"}] * 2
    with pytest.raises(ValueError, match="used twice"):
        await flows.add({"name": "p", "queue_name": qname, "children": twice})
    with pytest.raises(ValueError, match="queue name: must not contain"):
        await flows.add({"name": "p", "queue_name": "a:b"})
    with pytest.raises(TypeError, match="not JSON-serialisable"):
        await flows.add({"name": "p", "queue_name": qname, "data": {1, 2}})
    assert raw.dbsize() == 0


# Job schedulers


async def test_a_schedulers_next_run_cannot_be_removed_alone(queue: Queue, raw: redis.Redis, qname: str) -> None:
    base = f"bull:{qname}:"
    raw.zadd(base + "repeat", {"x": 1_800_000_000_000})
    for millis in (1_700_000_000_000, 1_800_000_000_000):
        raw.hset(
            f"{base}repeat:x:{millis}",
            mapping={"name": "tick", "data": "{}", "opts": "{}", "timestamp": millis, "delay": 0, "rjk": "x"},
        )
        raw.zadd(base + "delayed", {f"repeat:x:{millis}": millis * 4096})
    with pytest.raises(JobStateError) as refused:
        await queue.remove("repeat:x:1800000000000")
    assert str(refused.value) == (
        "cannot remove job 'repeat:x:1800000000000': it is the next run of job scheduler 'x'; "
        "remove the scheduler instead"
    )
    assert raw.exists(base + "repeat:x:1800000000000") == 1
    # An earlier run is not the next one: it goes.
    assert await queue.remove("repeat:x:1700000000000") is True
