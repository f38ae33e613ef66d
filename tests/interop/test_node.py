"""Interop with Node.js BullMQ 6.7.0: each side processes, reads and operates on the other's queues.

Node is driven through ``node_helper.js`` (one short-lived process per call, see its header). Jobs
carry their processor's behaviour in their data, and both sides' processors read it the same way:
``progress`` and ``logs`` lists, ``fail_until`` (fail while attemptsMade < k, with ``fail_message``),
``sleep_ms`` (``node_sleep_ms``: Node only), ``hold`` (Python only: wait for the test to release the
job) and ``result`` (the return value).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar, cast

import pytest
import redis

from board import Job, Queue, Worker
from tests.interop.nodejs import HELPER, INTEROP, require_node

NODE = require_node("Node.js interop tests")

T = TypeVar("T")

# Node's Queue.getJobCounts() / getJobs() default states, in Node's order.
NODE_STATES = ["active", "completed", "delayed", "failed", "prioritized", "waiting", "waiting-children"]


# Talking to Node
async def spawn_node(
    redis_url: str, command: str, queue: str, *, timeout: float = 20, **args: Any
) -> asyncio.subprocess.Process:
    """Starts one node_helper.js command; it gives up by itself ``timeout`` seconds later."""
    args = {"queue": queue, "timeout_ms": int(timeout * 1000) - 1000, **args}
    return await asyncio.create_subprocess_exec(
        NODE,
        str(HELPER),
        redis_url,
        command,
        json.dumps(args),
        cwd=INTEROP,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def node(redis_url: str, command: str, queue: str, *, timeout: float = 20, **args: Any) -> Any:
    """Runs one node_helper.js command and returns its JSON result; fails the test on any error."""
    proc = await spawn_node(redis_url, command, queue, timeout=timeout, **args)
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except (TimeoutError, asyncio.CancelledError) as exc:
        if proc.returncode is None:
            proc.kill()
        await proc.communicate()
        if isinstance(exc, TimeoutError):
            raise AssertionError(f"node {command} did not finish within {timeout} s") from None
        raise
    if proc.returncode != 0:
        raise AssertionError(f"node {command} exited with {proc.returncode}: {err.decode(errors='replace')[-4000:]}")
    lines = out.decode().strip().splitlines()
    assert lines, f"node {command} printed nothing; stderr: {err.decode(errors='replace')[-2000:]}"
    return json.loads(lines[-1])


async def node_add(redis_url: str, queue: str, jobs: Sequence[dict[str, Any]]) -> dict[str, str]:
    """Adds jobs with Node's Queue.addBulk; returns {job name: job id}."""
    result = await node(redis_url, "add", queue, jobs=list(jobs))
    return {spec["name"]: job_id for spec, job_id in zip(jobs, result["ids"], strict=True)}


async def node_job(redis_url: str, queue: str, job_id: str) -> dict[str, Any] | None:
    job: dict[str, Any] | None = await node(redis_url, "job", queue, id=job_id)
    return job


async def until(probe: Callable[[], Awaitable[T | None]], *, timeout: float = 5, what: str = "condition") -> T:
    """Polls ``probe`` until it returns something truthy, which is returned."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}; last value: {value!r}")
        await asyncio.sleep(0.05)


async def counts_reach(queue: Queue, **wanted: int) -> dict[str, int] | None:
    counts = await queue.get_job_counts(*wanted)
    return counts if all(counts[state] >= n for state, n in wanted.items()) else None


# Python side
def now_ms() -> int:
    return int(time.time() * 1000)


def data_driven(record: list[dict[str, Any]], gate: asyncio.Event | None = None) -> Callable[[Job], Awaitable[Any]]:
    """The Python twin of node_helper.js's processor; appends each start to ``record``."""

    async def process(job: Job) -> Any:
        data = job.data if isinstance(job.data, dict) else {}
        record.append({"id": job.id, "name": job.name, "attemptsMade": job.attempts_made, "at": now_ms()})
        for value in data.get("progress", []):
            await job.update_progress(value)
        for line in data.get("logs", []):
            await job.log(line)
        if data.get("hold"):
            assert gate is not None
            await gate.wait()
        if data.get("sleep_ms"):
            await asyncio.sleep(data["sleep_ms"] / 1000)
        if "fail_until" in data and job.attempts_made < data["fail_until"]:
            raise RuntimeError(f"{data.get('fail_message', 'planned failure')} #{job.attempts_made + 1}")
        return data.get("result", {"by": "python", "id": job.id})

    return process


@contextlib.asynccontextmanager
async def running(worker: Worker, errors: list[BaseException] | None = None) -> AsyncIterator[Worker]:
    """Runs ``worker`` for the duration of the block; collects its 'error' events into ``errors``."""
    if errors is not None:
        worker.on("error", errors.append)
    task = asyncio.create_task(worker.run())
    try:
        yield worker
    finally:
        await worker.close(timeout=5)
        await asyncio.wait_for(task, 10)


def b64(name: str) -> str:
    return base64.b64encode(name.encode()).decode()


# The job mix both directions use: (name, data, Node opts, our options).
MIX: list[tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]] = [
    ("plain-1", {"result": {"n": 1}}, {}, {}),
    ("plain-2", {"result": [2, "two"]}, {}, {}),
    ("plain-3", {"result": "three", "progress": [10, {"step": 2}], "logs": ["first line", "second line"]}, {}, {}),
    ("lifo", {"result": "lifo"}, {"lifo": True}, {"lifo": True}),
    ("custom", {"result": None}, {"jobId": "custom-1"}, {"job_id": "custom-1"}),
    ("delayed", {"result": "late"}, {"delay": 400}, {"delay": 0.4}),
    ("prio-5", {}, {"priority": 5}, {"priority": 5}),
    ("prio-1", {}, {"priority": 1}, {"priority": 1}),
    ("prio-3", {}, {"priority": 3}, {"priority": 3}),
    ("prio-1b", {}, {"priority": 1}, {"priority": 1}),
    (
        "retried",
        {"fail_until": 2, "result": "third time", "logs": ["attempt"]},
        {"attempts": 3, "backoff": {"type": "exponential", "delay": 100}},
        {"attempts": 3, "backoff": {"type": "exponential", "delay": 0.1}},
    ),
    (
        "exhausted",
        {"fail_until": 99, "fail_message": "always"},
        {"attempts": 2, "backoff": {"type": "fixed", "delay": 50}},
        {"attempts": 2, "backoff": 0.05},
    ),
]
MIX_COMPLETED = len(MIX) - 1
# Wait is consumed from its tail: the lifo job first, then the others FIFO; prioritized jobs after.
FIRST_RUNS = ["lifo", "plain-1", "plain-2", "plain-3", "custom", "retried", "exhausted"]
PRIORITY_ORDER = ["prio-1", "prio-1b", "prio-3", "prio-5"]


def check_processing_order(record: Sequence[dict[str, Any]]) -> None:
    """Asserts the run order of the mix, from a processor's record (worker concurrency 1)."""
    firsts = [r["name"] for r in record if r["attemptsMade"] == 0]
    assert firsts[: len(FIRST_RUNS)] == FIRST_RUNS, firsts
    assert [n for n in firsts if n.startswith("prio-")] == PRIORITY_ORDER, firsts
    assert sorted(firsts) == sorted(name for name, *_ in MIX), firsts
    retried = [r for r in record if r["name"] == "retried"]
    assert [r["attemptsMade"] for r in retried] == [0, 1, 2]
    # Exponential backoff of 100 ms: the 2nd attempt waits >= 100 ms, the 3rd >= 200 ms.
    assert retried[1]["at"] - retried[0]["at"] >= 100, retried
    assert retried[2]["at"] - retried[1]["at"] >= 200, retried
    exhausted = [r for r in record if r["name"] == "exhausted"]
    assert [r["attemptsMade"] for r in exhausted] == [0, 1]
    assert exhausted[1]["at"] - exhausted[0]["at"] >= 50, exhausted


def expected_result(name: str, data: dict[str, Any], job_id: str, by: str) -> Any:
    return data.get("result", {"by": by, "id": job_id})


def check_node_view(view: dict[str, Any], name: str, data: dict[str, Any], job_id: str, by: str) -> None:
    """Asserts what Node's Queue.getJob (+ getState, getJobLogs) reads for one finished job of the mix."""
    assert view is not None, f"Node cannot read job {name} ({job_id})"
    assert view["id"] == job_id and view["name"] == name and view["data"] == data
    assert isinstance(view["processedOn"], int) and isinstance(view["finishedOn"], int)
    assert view["finishedOn"] >= view["processedOn"] >= view["timestamp"]
    if name == "exhausted":
        assert view["state"] == "failed"
        assert view["attemptsMade"] == 2 and view["attemptsStarted"] == 2
        assert view["failedReason"] == "always #2"
        assert len(view["stacktrace"]) == 2
        assert "always #1" in view["stacktrace"][0] and "always #2" in view["stacktrace"][1]
        assert view["returnvalue"] is None
        return
    assert view["state"] == "completed", view
    assert view["returnvalue"] == expected_result(name, data, job_id, by)
    if name == "retried":
        assert view["attemptsMade"] == 3 and view["attemptsStarted"] == 3
        assert len(view["stacktrace"]) == 2
        assert "planned failure #1" in view["stacktrace"][0] and "planned failure #2" in view["stacktrace"][1]
        assert view["failedReason"] == "planned failure #2"  # BullMQ keeps it after the final success
        assert view["logs"] == {"logs": ["attempt"] * 3, "count": 3}  # logs survive retries
        assert view["opts"] == {"attempts": 3, "backoff": {"type": "exponential", "delay": 100}}
    else:
        assert view["attemptsMade"] == 1 and view["attemptsStarted"] == 1
        assert view["stacktrace"] == [] and view["failedReason"] is None
    if name == "plain-3":
        assert view["progress"] == {"step": 2}
        assert view["logs"] == {"logs": ["first line", "second line"], "count": 2}
    if name == "delayed":
        assert view["opts"]["delay"] == 400
        assert view["processedOn"] - view["timestamp"] >= 400
    if name.startswith("prio-"):
        assert view["priority"] == int(name.split("-")[1].rstrip("b"))
    if name == "lifo":
        assert view["opts"]["lifo"] is True
    if name == "custom":
        assert job_id == "custom-1"


# 1. Node produces, our Worker consumes
async def test_node_jobs_processed_by_python_worker(redis_url: str, qname: str) -> None:
    ids = await node_add(redis_url, qname, [{"name": n, "data": d, "opts": o} for n, d, o, _ in MIX])
    record: list[dict[str, Any]] = []
    errors: list[BaseException] = []
    async with Queue(qname, redis_url) as queue:
        async with running(Worker(qname, data_driven(record), redis_url), errors):
            await until(
                lambda: counts_reach(queue, completed=MIX_COMPLETED, failed=1), timeout=10, what="all jobs finished"
            )
        assert errors == []
        assert await queue.get_job_counts("wait", "active", "delayed", "prioritized") == dict.fromkeys(
            ["wait", "active", "delayed", "prioritized"], 0
        )
    for r in record:
        assert ids[r["name"]] == r["id"]
    check_processing_order(record)
    views = await node(redis_url, "batch", qname, calls=[["job", {"id": ids[n]}] for n, *_ in MIX])
    for (name, data, _, _), view in zip(MIX, views, strict=True):
        check_node_view(view, name, data, ids[name], "python")


# 2. Our Queue produces, Node's Worker consumes; both sides read the results back
async def test_python_jobs_processed_by_node_worker(redis_url: str, qname: str) -> None:
    async with Queue(qname, redis_url) as queue:
        added = await queue.add_bulk([{"name": n, "data": d, **o} for n, d, _, o in MIX])
        ids = {job.name: job.id for job in added}
        assert ids["custom"] == "custom-1"
        result = await node(redis_url, "work", qname, until={"completed": MIX_COMPLETED, "failed": 1}, timeout=20)
        assert result["errors"] == []
        assert result["done"] is True
        check_processing_order(result["processed"])
        node_returns = {c["id"]: c["returnvalue"] for c in result["completed"]}
        for name, data, *_ in MIX:
            if name != "exhausted":
                assert node_returns[ids[name]] == expected_result(name, data, ids[name], "node")
        assert [f for f in result["failed"] if f["final"]] == [
            {"id": ids["exhausted"], "reason": "always #2", "attemptsMade": 2, "final": True}
        ]

        # Read back with our Queue.
        for name, data, *_ in MIX:
            job = await queue.get_job(ids[name])
            assert job is not None and job.problems == {}, (name, job and job.problems)
            assert job.name == name and job.data == data
            assert job.processed_on is not None and job.finished_on is not None
            state = await queue.get_job_state(ids[name])
            if name == "exhausted":
                assert state == "failed"
                assert job.attempts_made == 2 and job.attempts_started == 2
                assert job.failed_reason == "always #2"
                assert len(job.stacktrace) == 2 and "always #1" in job.stacktrace[0]
                continue
            assert state == "completed"
            assert job.returnvalue == expected_result(name, data, ids[name], "node")
            if name == "retried":
                assert job.attempts_made == 3 and job.attempts_started == 3
                assert len(job.stacktrace) == 2 and "planned failure #2" in job.stacktrace[1]
                assert await queue.get_job_logs(ids[name]) == (["attempt"] * 3, 3)
            else:
                assert job.attempts_made == 1
            if name == "plain-3":
                assert job.progress == {"step": 2}
                assert await queue.get_job_logs(ids[name]) == (["first line", "second line"], 2)
            if name == "delayed":
                assert job.processed_on - job.timestamp >= 400

    # And with Node.
    views = await node(redis_url, "batch", qname, calls=[["job", {"id": ids[n]}] for n, *_ in MIX])
    for (name, data, _, _), view in zip(MIX, views, strict=True):
        check_node_view(view, name, data, ids[name], "node")


# 3. Counts and listings agree, for every state, on one queue
def job_fields(job: Job) -> dict[str, Any]:
    """Our reading of a job, under the names of node_helper.js's jobOut."""
    return {
        "id": job.id,
        "name": job.name,
        "data": job.data,
        "opts": job.opts,
        "progress": job.progress,
        "delay": job.delay,
        "priority": job.priority,
        "timestamp": job.timestamp,
        "attemptsMade": job.attempts_made,
        "attemptsStarted": job.attempts_started,
        "stalledCounter": job.stalled_counter,
        "processedOn": job.processed_on,
        "finishedOn": job.finished_on,
        "processedBy": job.processed_by,
        "failedReason": job.failed_reason,
        "stacktrace": job.stacktrace,
        "returnvalue": job.returnvalue,
        "parentKey": job.parent_key,
    }


PAGES = [(0, -1, False), (0, -1, True), (1, 2, False), (1, 2, True), (0, 0, True), (2, 10, False)]


async def compare_listings(redis_url: str, qname: str, queue: Queue, order_mismatches: list[str]) -> dict[str, int]:
    """Asserts that Node's getJobCounts and ours agree, and that getJobs and ours list the same jobs with
    the same fields; differences in the order of a listing are appended to ``order_mismatches``."""
    state_sets = [[s] for s in [*NODE_STATES, "paused"]] + [NODE_STATES]
    calls: list[list[Any]] = [["counts", {}], ["counts", {"types": ["waiting", "paused", "wait", "active"]}]]
    for types in state_sets:
        for start, end, asc in PAGES:
            calls.append(["jobs", {"types": types, "start": start, "end": end, "asc": asc}])
    results = await node(redis_url, "batch", qname, calls=calls)
    node_counts, node_some = results[0], results[1]
    assert await queue.get_job_counts(*NODE_STATES) == node_counts
    assert await queue.get_job_counts("waiting", "paused", "wait", "active") == node_some
    index = 2
    for types in state_sets:
        for start, end, asc in PAGES:
            node_jobs = results[index]
            index += 1
            ours = await queue.get_jobs(types, start, end, asc)
            node_ids, our_ids = [j["id"] for j in node_jobs], [j.id for j in ours]
            where = f"getJobs({types}, {start}, {end}, asc={asc})"
            mismatch = f"{where}: Node {node_ids}, ours {our_ids}"
            if node_ids != our_ids and mismatch not in order_mismatches:
                order_mismatches.append(mismatch)
            if len(types) == 1 and end == -1:
                # A whole state: the same jobs, read the same way.
                assert sorted(node_ids) == sorted(our_ids), where
                ours_by_id = {j.id: j for j in ours}
                assert all(j.problems == {} for j in ours), [(j.id, j.problems) for j in ours if j.problems]
                for view in node_jobs:
                    assert job_fields(ours_by_id[view["id"]]) == view, (where, view["id"])
    return dict(node_counts)


async def test_counts_and_listings_agree_with_node(redis_url: str, qname: str) -> None:
    finished = [
        {"name": "c1", "data": {"result": 1}},
        {"name": "c2", "data": {"result": {"two": 2}}},
        {"name": "c3", "data": {"progress": [7], "logs": ["done"]}},
        {"name": "f1", "data": {"fail_until": 1, "fail_message": "f1 broke"}},
        {"name": "f2", "data": {"fail_until": 2}, "opts": {"attempts": 2}},
    ]
    await node_add(redis_url, qname, finished)
    result = await node(redis_url, "work", qname, until={"completed": 3, "failed": 2})
    assert result["errors"] == []

    gate = asyncio.Event()
    record: list[dict[str, Any]] = []
    order_mismatches: list[str] = []
    async with Queue(qname, redis_url) as queue:
        # One job held active by our worker (concurrency 1, so it takes nothing else).
        held = await node_add(redis_url, qname, [{"name": "held", "data": {"hold": True}}])
        async with running(Worker(qname, data_driven(record, gate), redis_url, name="holder")):
            await until(lambda: counts_reach(queue, active=1), what="the held job to be active")
            await node_add(
                redis_url,
                qname,
                [
                    {"name": "w1", "data": {"i": 1}},
                    {"name": "w2", "data": {"i": 2}},
                    {"name": "w-lifo", "data": {}, "opts": {"lifo": True}},
                    {"name": "w3", "data": {"i": 3}, "opts": {"jobId": "w-three"}},
                    {"name": "d1", "data": {}, "opts": {"delay": 60_000}},
                    {"name": "d2", "data": {}, "opts": {"delay": 90_000}},
                    {"name": "d3", "data": {}, "opts": {"delay": 60_000, "priority": 4}},
                    {"name": "p3", "data": {}, "opts": {"priority": 3}},
                    {"name": "p1", "data": {}, "opts": {"priority": 1}},
                    {"name": "p3b", "data": {}, "opts": {"priority": 3}},
                ],
            )
            flow = await node(
                redis_url,
                "flow",
                qname,
                flow={"name": "parent", "data": {"p": True}, "children": [{"name": "child", "data": {"c": 1}}]},
            )
            assert len(flow["children"]) == 1

            counts = await compare_listings(redis_url, qname, queue, order_mismatches)
            assert counts == {
                "active": 1,
                "completed": 3,
                "delayed": 3,
                "failed": 2,
                "prioritized": 3,
                "waiting": 5,
                "waiting-children": 1,
            }
            active = await queue.get_jobs("active")
            assert [j.id for j in active] == [held["held"]] and active[0].processed_by == "holder"

            # Paused by us: Node sees it paused, jobs stay in wait, and both sides still agree.
            assert await queue.pause() is True
            assert (await node(redis_url, "is_paused", qname))["paused"] is True
            assert await compare_listings(redis_url, qname, queue, order_mismatches) == counts
            # Resumed by Node, paused again by Node: we see each change.
            assert (await node(redis_url, "resume", qname))["paused"] is False
            assert await queue.is_paused() is False
            assert (await node(redis_url, "pause", qname))["paused"] is True
            assert await queue.is_paused() is True
            assert await compare_listings(redis_url, qname, queue, order_mismatches) == counts
            gate.set()
            await until(lambda: counts_reach(queue, completed=4), what="the held job to complete")
        # Paused: our worker took nothing else.
        assert [r["name"] for r in record] == ["held"]
        counts["active"], counts["completed"] = 0, 4
        assert await compare_listings(redis_url, qname, queue, order_mismatches) == counts
    assert not order_mismatches, "our get_jobs orders jobs differently from Node's getJobs:\n" + "\n".join(
        order_mismatches
    )


# 4. Our queue operations on a queue that Node built, with a Node worker running throughout
async def state_is(queue: Queue, job_id: str, state: str) -> bool:
    return await queue.get_job_state(job_id) == state


async def test_python_operations_keep_node_workers_working(redis_url: str, qname: str) -> None:
    ids = await node_add(
        redis_url,
        qname,
        [
            {"name": "c1", "data": {}},
            {"name": "c2", "data": {}},
            {"name": "f1", "data": {"fail_until": 1}},
            {"name": "f2", "data": {"fail_until": 1}},
        ],
    )
    # One Node worker (default drainDelay 5 s) for the whole test: each step below must wake it through
    # the marker, so a step whose job is not done within 3 s means a missing marker.
    expected_completions = 10
    worker = asyncio.create_task(node(redis_url, "work", qname, until={"completed": expected_completions}, timeout=40))
    try:
        async with Queue(qname, redis_url) as queue:
            await until(lambda: counts_reach(queue, completed=2, failed=2), what="the first four jobs")

            # pause / resume
            assert await queue.pause() is True
            assert (await node(redis_url, "is_paused", qname))["paused"] is True
            ids |= await node_add(redis_url, qname, [{"name": "w1", "data": {}}, {"name": "w2", "data": {}}])
            await asyncio.sleep(1.0)  # a running Node worker must leave a paused queue alone
            assert await queue.get_job_counts("wait", "active") == {"wait": 2, "active": 0}
            assert await queue.resume() is True
            assert (await node(redis_url, "is_paused", qname))["paused"] is False
            await until(lambda: counts_reach(queue, completed=4), timeout=3, what="jobs to run after resume")

            # clean
            cleaned = await queue.clean(0, state="completed")
            assert sorted(cleaned) == sorted(ids[n] for n in ("c1", "c2", "w1", "w2"))
            views = await node(
                redis_url,
                "batch",
                qname,
                calls=[["counts", {"types": ["completed", "failed"]}], ["job", {"id": ids["c1"]}]],
            )
            assert views == [{"completed": 0, "failed": 2}, None]

            # retry_job, then retry_jobs
            await queue.retry_job(ids["f1"])
            await until(lambda: state_is(queue, ids["f1"], "completed"), timeout=3, what="f1 to complete")
            assert await queue.retry_jobs("failed") == 1
            await until(lambda: state_is(queue, ids["f2"], "completed"), timeout=3, what="f2 to complete")

            # promote_job, then promote_jobs
            ids |= await node_add(
                redis_url,
                qname,
                [{"name": n, "data": {}, "opts": {"delay": 60_000}} for n in ("d1", "d2", "d3")],
            )
            await queue.promote_job(ids["d1"])
            await until(lambda: state_is(queue, ids["d1"], "completed"), timeout=3, what="d1 to complete")
            assert await queue.promote_jobs() == 2
            for name in ("d2", "d3"):
                probe = functools.partial(state_is, queue, ids[name], "completed")
                await until(probe, timeout=3, what=f"{name} to complete")

            # remove (a waiting job, on a paused queue so that the worker cannot take it first)
            assert await queue.pause() is True
            ids |= await node_add(redis_url, qname, [{"name": "r1", "data": {}}, {"name": "r2", "data": {}}])
            assert await queue.remove(ids["r1"]) is True
            assert await node_job(redis_url, qname, ids["r1"]) is None
            assert await queue.resume() is True
            await until(lambda: state_is(queue, ids["r2"], "completed"), timeout=3, what="r2 to complete")

            result = await asyncio.wait_for(worker, 10)
    finally:
        if not worker.done():
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError, AssertionError):
                await worker
    assert result["errors"] == []
    completed = [c["id"] for c in result["completed"]]
    assert sorted(completed) == sorted(ids[n] for n in ("c1", "c2", "w1", "w2", "f1", "f2", "d1", "d2", "d3", "r2"))
    assert ids["r1"] not in {p["id"] for p in result["processed"]}
    views = await node(redis_url, "batch", qname, calls=[["job", {"id": ids[n]}] for n in ("f1", "f2", "d1")])
    for view in views[:2]:
        assert view["state"] == "completed" and view["attemptsMade"] == 2 and view["finishedOn"] is not None
    assert views[2]["state"] == "completed" and views[2]["attemptsMade"] == 1


# 5. Our workers in Node's getWorkers()
async def node_workers(redis_url: str, qname: str, count: int) -> list[dict[str, str]] | None:
    workers: list[dict[str, str]] = await node(redis_url, "workers", qname)
    return workers if len(workers) >= count else None


async def test_idle_python_workers_listed_by_node(redis_url: str, qname: str) -> None:
    record: list[dict[str, Any]] = []
    plain = Worker(qname, data_driven(record), redis_url)
    named = Worker(qname, data_driven(record), redis_url, name="py-reporter")
    async with running(plain), running(named):
        workers = await until(lambda: node_workers(redis_url, qname, 2), what="Node to list both workers")
    assert len(workers) == 2
    assert sorted(w["rawname"] for w in workers) == [f"bull:{b64(qname)}", f"bull:{b64(qname)}:w:py-reporter"]
    assert {w["name"] for w in workers} == {qname}
    # Closed workers leave the list.
    await until(lambda: node_gone(redis_url, qname), what="Node to stop listing the closed workers")


async def node_gone(redis_url: str, qname: str) -> bool:
    return bool(await node(redis_url, "workers", qname) == [])


async def test_busy_python_worker_listed_by_node(redis_url: str, qname: str) -> None:
    """A worker that has been busy since it started is a worker too (BullMQ names its connection at once)."""
    # The reference: a Node worker that took a job as soon as it started is listed while it runs it.
    control = qname + "-node"
    await node_add(redis_url, control, [{"name": "long", "data": {"sleep_ms": 1500}}])
    node_worker = asyncio.create_task(node(redis_url, "work", control, until={"completed": 1}, name="busy"))
    async with Queue(control, redis_url) as control_queue:
        await until(lambda: counts_reach(control_queue, active=1), what="the Node worker's job to be active")
        node_listed = await node(redis_url, "workers", control)
        await node_worker
    assert [w["rawname"] for w in node_listed] == [f"bull:{b64(control)}:w:busy"]

    gate = asyncio.Event()
    record: list[dict[str, Any]] = []
    async with Queue(qname, redis_url) as queue:
        await queue.add("long", {"hold": True})
        async with running(Worker(qname, data_driven(record, gate), redis_url, name="busy")):
            try:
                await until(lambda: counts_reach(queue, active=1), what="the job to be active")
                workers = await node(redis_url, "workers", qname)
            finally:
                gate.set()
    assert [w["rawname"] for w in workers] == [f"bull:{b64(qname)}:w:busy"]


# 6. Our worker's events, read by Node's QueueEvents and from the raw stream
async def test_python_worker_events_read_by_node(redis_url: str, qname: str, raw: redis.Redis) -> None:
    record: list[dict[str, Any]] = []
    async with Queue(qname, redis_url) as queue:
        ok = await queue.add("ok", {"result": {"a": [1, "x"]}, "progress": [42, {"pct": 50}]})
        bad = await queue.add("bad", {"fail_until": 9, "fail_message": "kaput"}, attempts=2)
        async with running(Worker(qname, data_driven(record), redis_url)):
            await until(lambda: counts_reach(queue, completed=1, failed=1), what="both jobs to finish")
    events = await node(
        redis_url, "events", qname, last_id="0-0", until={"completed": 1, "failed": 1, "retries-exhausted": 1}
    )
    assert [e for e in events if e["event"] == "error"] == []
    by_job: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for e in events:
        if "jobId" in e["args"]:
            by_job.setdefault(e["args"]["jobId"], []).append((e["event"], e["args"]))
    assert by_job[ok.id] == [
        ("added", {"jobId": ok.id, "name": "ok"}),
        ("waiting", {"jobId": ok.id}),
        ("active", {"jobId": ok.id, "prev": "waiting"}),
        ("progress", {"jobId": ok.id, "data": 42}),
        ("progress", {"jobId": ok.id, "data": {"pct": 50}}),
        ("completed", {"jobId": ok.id, "returnvalue": {"a": [1, "x"]}, "prev": "active"}),
    ]
    assert by_job[bad.id] == [
        ("added", {"jobId": bad.id, "name": "bad"}),
        ("waiting", {"jobId": bad.id}),
        ("active", {"jobId": bad.id, "prev": "waiting"}),
        ("waiting", {"jobId": bad.id, "prev": "active"}),  # an immediate retry (no backoff)
        ("active", {"jobId": bad.id, "prev": "waiting"}),
        ("failed", {"jobId": bad.id, "failedReason": "kaput #2", "prev": "active"}),
        ("retries-exhausted", {"jobId": bad.id, "attemptsMade": "2"}),
    ]
    # The raw entries: `event` first, then the fields in BullMQ's order.
    entries = cast("list[tuple[str, dict[str, str]]]", raw.xrange(f"bull:{qname}:events"))
    layouts = {fields["event"]: list(fields) for _, fields in entries}
    assert all(next(iter(fields)) == "event" for _, fields in entries)
    assert layouts["completed"] == ["event", "jobId", "returnvalue", "prev"]
    assert layouts["failed"] == ["event", "jobId", "failedReason", "prev"]
    assert layouts["retries-exhausted"] == ["event", "jobId", "attemptsMade"]
    assert layouts["progress"] == ["event", "jobId", "data"]
    assert layouts["added"] == ["event", "jobId", "name"]


# 7. Keep policies, keepLogs and stackTraceLimit written by one side are honoured by the other
KEEP_MIX: list[tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]] = [
    ("rm-complete", {}, {"removeOnComplete": True}, {"remove_on_complete": True}),
    ("keep-1-a", {}, {"removeOnComplete": {"count": 1}}, {"remove_on_complete": {"count": 1}}),
    ("keep-1-b", {}, {"removeOnComplete": {"count": 1}}, {"remove_on_complete": {"count": 1}}),
    ("rm-fail", {"fail_until": 1}, {"removeOnFail": True}, {"remove_on_fail": True}),
    ("logs-1", {"logs": ["a", "b", "c"]}, {"keepLogs": 1}, {"keep_logs": 1}),
    ("stack-1", {"fail_until": 9}, {"attempts": 3, "stackTraceLimit": 1}, {"attempts": 3, "stack_trace_limit": 1}),
    ("aged", {}, {"removeOnComplete": {"age": 3600, "count": 10}}, {"remove_on_complete": {"age": 3600, "count": 10}}),
]


@pytest.mark.parametrize("producer", ["node", "python"])
async def test_job_options_honoured_across_implementations(redis_url: str, qname: str, producer: str) -> None:
    async with Queue(qname, redis_url) as queue:
        if producer == "node":
            ids = await node_add(redis_url, qname, [{"name": n, "data": d, "opts": o} for n, d, o, _ in KEEP_MIX])
            record: list[dict[str, Any]] = []
            errors: list[BaseException] = []
            async with running(Worker(qname, data_driven(record), redis_url), errors):
                await until(lambda: counts_reach(queue, completed=3, failed=1), timeout=10, what="all jobs to finish")
            assert errors == []
        else:
            added = await queue.add_bulk([{"name": n, "data": d, **o} for n, d, _, o in KEEP_MIX])
            ids = {job.name: job.id for job in added}
            result = await node(redis_url, "work", qname, until={"completed": 5, "failed": 2})
            assert result["errors"] == []
        views = await node(redis_url, "batch", qname, calls=[["job", {"id": ids[n]}] for n, *_ in KEEP_MIX])
        by_name = {name: view for (name, *_), view in zip(KEEP_MIX, views, strict=True)}
        assert by_name["rm-complete"] is None and by_name["keep-1-a"] is None and by_name["rm-fail"] is None
        assert by_name["keep-1-b"]["state"] == "completed"
        assert by_name["logs-1"]["logs"] == {"logs": ["c"], "count": 1}
        assert by_name["stack-1"]["state"] == "failed" and by_name["stack-1"]["attemptsMade"] == 3
        assert len(by_name["stack-1"]["stacktrace"]) == 1 and "#3" in by_name["stack-1"]["stacktrace"][0]
        assert by_name["aged"]["state"] == "completed"
        assert by_name["aged"]["opts"]["removeOnComplete"] == {"age": 3600, "count": 10}
        assert by_name["logs-1"]["opts"]["keepLogs"] == 1
        # Both sides list the same finished jobs.
        completed = sorted(j.id for j in await queue.get_jobs("completed"))
        assert completed == sorted(ids[n] for n in ("keep-1-b", "logs-1", "aged"))
        assert [j.id for j in await queue.get_jobs("failed")] == [ids["stack-1"]]
        assert await queue.get_job_logs(ids["logs-1"]) == (["c"], 1)


# 8. Locks and stalled checks: a Node worker and ours share a queue without stealing each other's jobs
async def test_node_and_python_workers_share_a_queue_without_stalls(
    redis_url: str, qname: str, raw: redis.Redis
) -> None:
    # Short locks and stalled intervals on both sides: a job that runs 4 lock renewals long must not be
    # taken for stalled by the other implementation's checker.
    node_worker = asyncio.create_task(
        node(
            redis_url,
            "work",
            qname,
            until={"completed": 1},
            name="node-w",
            lock_duration=600,
            stalled_interval=200,
        )
    )
    errors: list[BaseException] = []
    try:
        await until(lambda: node_workers(redis_url, qname, 1), what="the Node worker to start")
        worker = Worker(qname, data_driven([]), redis_url, name="py-w", lock_duration=0.6, stalled_interval=0.2)
        async with Queue(qname, redis_url) as queue, running(worker, errors):
            await until(lambda: node_workers(redis_url, qname, 2), what="our worker to start")
            added = await queue.add_bulk([{"name": f"long-{i}", "data": {"sleep_ms": 1500}} for i in range(2)])
            await until(lambda: counts_reach(queue, completed=2), timeout=6, what="both jobs to complete")
            jobs = [await queue.get_job(j.id) for j in added]
        result = await asyncio.wait_for(node_worker, 10)
    finally:
        if not node_worker.done():
            node_worker.cancel()
            with contextlib.suppress(asyncio.CancelledError, AssertionError):
                await node_worker
    assert errors == [] and result["errors"] == []
    assert sorted(j.processed_by or "" for j in jobs if j is not None) == ["node-w", "py-w"]
    for job in jobs:
        assert job is not None
        assert (job.attempts_made, job.attempts_started, job.stalled_counter) == (1, 1, 0), job.raw
    events = [
        fields["event"] for _, fields in cast("list[tuple[str, dict[str, str]]]", raw.xrange(f"bull:{qname}:events"))
    ]
    assert "stalled" not in events


# 9. Global concurrency set on either side limits the other side's workers
async def test_global_concurrency_shared_with_node(redis_url: str, qname: str) -> None:
    assert (await node(redis_url, "set_global_concurrency", qname, concurrency=1))["concurrency"] == 1
    running_now = 0
    peak = 0

    async def process(job: Job) -> None:
        nonlocal running_now, peak
        running_now += 1
        peak = max(peak, running_now)
        await asyncio.sleep(0.1)
        running_now -= 1

    async with Queue(qname, redis_url) as queue:
        await queue.add_bulk([{"name": f"j{i}", "data": {}} for i in range(4)])
        async with running(Worker(qname, process, redis_url, concurrency=4)):
            await until(lambda: counts_reach(queue, completed=4), what="all four jobs")
        assert peak == 1
        await queue.set_global_concurrency(3)
        assert (await node(redis_url, "get_global_concurrency", qname))["concurrency"] == 3
        await queue.set_global_concurrency(None)
        assert (await node(redis_url, "get_global_concurrency", qname))["concurrency"] is None


# 10. Our stalled checker recovers the job of a Node worker that died, the way BullMQ would
async def test_python_worker_recovers_job_of_killed_node_worker(redis_url: str, qname: str, raw: redis.Redis) -> None:
    ids = await node_add(redis_url, qname, [{"name": "orphan", "data": {"node_sleep_ms": 30_000, "result": "ok"}}])
    # (Its stalled interval is short too: the first checker to run owns `stalled-check` for its interval.)
    proc = await spawn_node(
        redis_url, "work", qname, until={"completed": 1}, lock_duration=500, stalled_interval=200, timeout=20
    )
    try:
        async with Queue(qname, redis_url) as queue:
            await until(lambda: counts_reach(queue, active=1), what="the Node worker to take the job")
            proc.kill()  # dies holding the job: its lock expires 500 ms later
            await proc.communicate()
            stalled: list[str] = []
            worker = Worker(qname, data_driven([]), redis_url, lock_duration=0.5, stalled_interval=0.2)
            worker.on("stalled", stalled.append)
            async with running(worker):
                await until(lambda: counts_reach(queue, completed=1), what="our worker to finish the orphan")
            job = await queue.get_job(ids["orphan"])
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.communicate()
    assert stalled == [ids["orphan"]]
    assert job is not None and job.returnvalue == "ok"
    assert (job.attempts_made, job.attempts_started, job.stalled_counter) == (1, 2, 1), job.raw
    view = await node_job(redis_url, qname, ids["orphan"])
    assert view is not None and view["state"] == "completed" and view["stalledCounter"] == 1
    entries = cast("list[tuple[str, dict[str, str]]]", raw.xrange(f"bull:{qname}:events"))
    recovered = [f for _, f in entries if f.get("jobId") == ids["orphan"] and f["event"] in ("waiting", "stalled")]
    assert recovered[-2:] == [
        {"event": "waiting", "jobId": ids["orphan"], "prev": "active"},
        {"event": "stalled", "jobId": ids["orphan"]},
    ]
