"""Interop with Node.js BullMQ 6.7.0 for flows and deduplication: a flow Node adds runs on our workers and
ours on Node's, with the children's values and failure options read the same on both sides; a
deduplicated add on either side drops the other side's adds with the same id.

Node is driven through ``node_flows.js`` (one short-lived process per call, see its header).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import pytest
import redis

from board import FlowProducer, Job, Queue, Worker
from tests.interop.nodejs import INTEROP, require_node

NODE = require_node("Node.js flow interop tests")
SCRIPT = INTEROP / "node_flows.js"


async def node(redis_url: str, command: str, *, timeout: float = 20, **args: Any) -> Any:
    """Runs one node_flows.js command and returns its JSON result; fails the test on any error."""
    args = {"timeout_ms": int(timeout * 1000) - 1000, **args}
    proc = await asyncio.create_subprocess_exec(
        NODE,
        str(SCRIPT),
        redis_url,
        command,
        json.dumps(args),
        cwd=INTEROP,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.communicate()
        raise AssertionError(f"node {command} did not finish within {timeout} s") from None
    if proc.returncode != 0:
        raise AssertionError(f"node {command} exited with {proc.returncode}: {err.decode(errors='replace')[-4000:]}")
    return json.loads(out.decode().strip().splitlines()[-1])


async def until_true(probe: Any, timeout: float = 10, what: str = "condition") -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not probe():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.05)


class Ours:
    """Our workers on several queues, recording what ran: a parent returns its children's values."""

    def __init__(self, url: str, queues: list[str]) -> None:
        self.url, self.queues = url, queues
        self.done: dict[str, Any] = {}
        self.failed: dict[str, str] = {}
        self._stack = AsyncExitStack()

    async def work(self, job: Job) -> Any:
        data = job.data if isinstance(job.data, dict) else {}
        if data.get("fail"):
            raise RuntimeError(data["fail"])
        counts = await job.get_dependencies_count()
        if sum(counts.values()):
            return {"values": await job.get_children_values(), "ignored": await job.get_ignored_children_failures()}
        return data.get("result", {"by": "python"})

    async def __aenter__(self) -> Ours:
        for queue in self.queues:
            worker = Worker(queue, self.work, self.url, concurrency=4, handle_signals=False)
            worker.on("completed", lambda job, result: self.done.__setitem__(job.id, result))
            worker.on("failed", lambda job, error: self.failed.__setitem__(job.id, job.failed_reason or str(error)))
            task = asyncio.create_task(worker.run())
            self._stack.push_async_callback(self._stop, worker, task)
        return self

    @staticmethod
    async def _stop(worker: Worker, task: asyncio.Task[None]) -> None:
        await worker.close()
        await task

    async def __aexit__(self, *exc: object) -> None:
        await self._stack.aclose()


@pytest.fixture
async def flows(redis_url: str) -> AsyncIterator[FlowProducer]:
    async with FlowProducer(redis_url) as producer:
        yield producer


async def test_a_flow_node_adds_runs_on_our_workers(redis_url: str, raw: redis.Redis, qname: str) -> None:
    top, mid, leaf = qname, qname + "-mid", qname + "-leaf"
    tree = await node(
        redis_url,
        "flow",
        flow={
            "name": "root",
            "queueName": top,
            "data": {},
            "children": [
                {
                    "name": "mid",
                    "queueName": mid,
                    "data": {},
                    "children": [{"name": "leaf", "queueName": leaf, "data": {"result": "from-leaf"}}],
                },
                {"name": "side", "queueName": leaf, "data": {"result": 7}},
            ],
        },
    )
    mid_job, side = tree["children"]
    leaf_job = mid_job["children"][0]
    async with Ours(redis_url, [top, mid, leaf]) as ours:
        await until_true(lambda: tree["id"] in ours.done, 10, "the root to run")
    assert ours.done[mid_job["id"]]["values"] == {f"bull:{leaf}:{leaf_job['id']}": "from-leaf"}
    assert ours.done[tree["id"]]["values"] == {
        f"bull:{mid}:{mid_job['id']}": ours.done[mid_job["id"]],
        f"bull:{leaf}:{side['id']}": 7,
    }
    # Node reads the parent's children as it wrote them.
    seen = await node(redis_url, "children", queue=top, id=tree["id"])
    assert seen["values"] == ours.done[tree["id"]]["values"]
    assert seen["counts"] == {"processed": 2, "unprocessed": 0, "ignored": 0, "failed": 0}


async def test_a_node_flow_child_failing_on_our_worker_fails_its_parent(
    redis_url: str, raw: redis.Redis, qname: str
) -> None:
    kids = qname + "-kids"
    tree = await node(
        redis_url,
        "flow",
        flow={
            "name": "parent",
            "queueName": qname,
            "data": {},
            "children": [
                {"name": "bad", "queueName": kids, "data": {"fail": "boom"}, "opts": {"failParentOnFailure": True}},
                {"name": "ok", "queueName": kids, "data": {}},
            ],
        },
    )
    bad = tree["children"][0]["id"]
    async with Ours(redis_url, [qname, kids]) as ours:
        await until_true(lambda: raw.zscore(f"bull:{qname}:failed", tree["id"]), 10, "the parent to fail")
    assert ours.failed == {bad: "boom"}
    assert raw.hget(f"bull:{qname}:{tree['id']}", "failedReason") == f"child bull:{kids}:{bad} failed"
    assert raw.zrange(f"bull:{qname}:{tree['id']}:unsuccessful", 0, -1) == [f"bull:{kids}:{bad}"]
    seen = await node(redis_url, "children", queue=qname, id=tree["id"])
    assert seen["counts"]["failed"] == 1


async def test_our_flow_runs_on_node_workers(flows: FlowProducer, raw: redis.Redis, qname: str, redis_url: str) -> None:
    kids = qname + "-kids"
    tree = await flows.add(
        {
            "name": "parent",
            "queue_name": qname,
            "children": [
                {"name": "a", "queue_name": kids, "data": {"result": {"rows": 3}}},
                {"name": "b", "queue_name": kids, "data": {"fail": "nope"}, "ignore_dependency_on_failure": True},
                {"name": "c", "queue_name": qname, "children": [{"name": "g", "queue_name": kids, "data": {}}]},
            ],
        }
    )
    a, b, c = tree.children
    g = c.children[0]
    result = await node(redis_url, "work", queues=[qname, kids], until={"completed": 4, "failed": 1})
    by_id = {done["id"]: done for done in result["completed"]}
    assert [f["id"] for f in result["failed"]] == [b.job.id]
    assert by_id[c.job.id]["returnvalue"] == {"values": {f"bull:{kids}:{g.job.id}": {"by": "node"}}}
    assert by_id[tree.job.id]["returnvalue"] == {
        "values": {f"bull:{kids}:{a.job.id}": {"rows": 3}, f"bull:{qname}:{c.job.id}": by_id[c.job.id]["returnvalue"]}
    }
    assert by_id[tree.job.id]["startedAt"] >= max(by_id[a.job.id]["finishedAt"], by_id[c.job.id]["finishedAt"])
    # Both sides read the ignored failure the same way.
    async with Queue(qname, redis_url) as queue:
        parent = await queue.get_job(tree.job.id)
        assert parent is not None
        assert await parent.get_ignored_children_failures() == {f"bull:{kids}:{b.job.id}": "nope"}
        counts = await parent.get_dependencies_count()
    seen = await node(redis_url, "children", queue=qname, id=tree.job.id)
    assert seen["ignored"] == {f"bull:{kids}:{b.job.id}": "nope"}
    assert seen["counts"] == counts == {"processed": 2, "unprocessed": 0, "ignored": 1, "failed": 0}


async def test_node_removes_our_parent_with_its_children_and_we_remove_nodes(
    flows: FlowProducer, queue: Queue, raw: redis.Redis, qname: str, redis_url: str
) -> None:
    ours = await flows.add({"name": "p", "queue_name": qname, "children": [{"name": "c", "queue_name": qname}]})
    assert (await node(redis_url, "remove", queue=qname, id=ours.job.id, removeChildren=True))["removed"] == 1
    assert raw.exists(f"bull:{qname}:{ours.job.id}", f"bull:{qname}:{ours.children[0].job.id}") == 0
    theirs = await node(
        redis_url,
        "flow",
        flow={"name": "p", "queueName": qname, "data": {}, "children": [{"name": "c", "queueName": qname}]},
    )
    assert await queue.remove_count(theirs["id"]) == 2
    assert raw.llen(f"bull:{qname}:wait") == 0 and raw.zcard(f"bull:{qname}:waiting-children") == 0


async def test_deduplicated_adds_are_dropped_across_node_and_python(
    queue: Queue, raw: redis.Redis, qname: str, redis_url: str
) -> None:
    theirs = await node(
        redis_url, "add", queue=qname, name="n", data={"by": "node"}, opts={"deduplication": {"id": "from-node"}}
    )
    ours = await queue.add("p", {"by": "python"}, deduplication={"id": "from-node"})
    assert ours.id == theirs["id"] and ours.data == {"by": "node"}

    mine = await queue.add("p", {}, deduplication={"id": "from-python", "ttl": 30})
    again = await node(
        redis_url, "add", queue=qname, name="n", data={}, opts={"deduplication": {"id": "from-python", "ttl": 30000}}
    )
    assert again["id"] == mine.id
    assert (await node(redis_url, "dedup", queue=qname, id="from-python"))["jobId"] == mine.id
    assert await queue.get_deduplication_job_id("from-node") == theirs["id"]
    assert raw.llen(f"bull:{qname}:wait") == 2
    # Both sides wrote the same deduplicated event and the same job fields.
    stream: Any = raw.xrange(f"bull:{qname}:events")
    dropped = [(f["jobId"], f["deduplicationId"]) for _, f in stream if f["event"] == "deduplicated"]
    assert dropped == [(theirs["id"], "from-node"), (mine.id, "from-python")]
    assert raw.hget(f"bull:{qname}:{theirs['id']}", "deid") == "from-node"
    assert json.loads(raw.hget(f"bull:{qname}:{mine.id}", "opts") or "")["de"] == {"id": "from-python", "ttl": 30000}
