"""Interop with the Python port of BullMQ (the ``bullmq`` package on PyPI).

Both directions: jobs that ``bullmq.Queue`` adds are processed by ``board.Worker``, and jobs that
``board.Queue`` adds are processed by ``bullmq.Worker``; the results are read back through both
libraries. Every wait polls Redis against a deadline, and everything is closed in ``finally``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import redis

from board import Job, Queue, Worker
from tests.support import until as wait_until

bullmq: Any = pytest.importorskip(
    "bullmq", reason="the PyPI package 'bullmq' (the test extra) is not installed; Python interop not tested"
)

pytestmark = pytest.mark.timeout(60)

FAIL_MESSAGE = "always fails"


def finished(raw: redis.Redis, qname: str, ids: list[str]) -> Callable[[], Awaitable[bool]]:
    """True once every id is in the completed or failed set."""

    async def check() -> bool:
        pipe = raw.pipeline(transaction=False)
        for job_id in ids:
            pipe.zscore(f"bull:{qname}:completed", job_id)
            pipe.zscore(f"bull:{qname}:failed", job_id)
        scores = pipe.execute()
        return all(scores[i] is not None or scores[i + 1] is not None for i in range(0, len(scores), 2))

    return check


async def check_results_both_ways(
    raw: redis.Redis, qname: str, redis_url: str, ids: dict[str, str], processed: list[str]
) -> None:
    """The same assertions, read through board.Queue and through bullmq.Queue."""
    board_q = Queue(qname, redis_url)
    bull_q = bullmq.Queue(qname, {"connection": redis_url})
    try:
        # board's view
        jobs: dict[str, Job] = {}
        for key, job_id in ids.items():
            job = await board_q.get_job(job_id)
            assert job is not None, key
            assert job.problems == {}, (key, job.problems)
            jobs[key] = job

        for key in ("plain", "delayed", "p1", "p5"):
            job = jobs[key]
            assert await board_q.get_job_state(job.id) == "completed", key
            assert job.returnvalue == {"name": job.name, "data": job.data}, key
            assert job.attempts_made == 1, key
            assert job.attempts_started == 1, key
            assert job.failed_reason is None, key
            assert job.finished_on is not None and job.processed_on is not None

        delayed = jobs["delayed"]
        assert delayed.processed_on is not None and delayed.processed_on >= delayed.timestamp + 300
        assert jobs["p1"].priority == 1 and jobs["p5"].priority == 5
        # Lower number = higher priority: p1 runs before p5 (one job at a time, both waiting at start).
        assert processed.index(ids["p1"]) < processed.index(ids["p5"])

        retried = jobs["retried"]
        assert await board_q.get_job_state(retried.id) == "completed"
        assert retried.returnvalue == {"name": "retried", "data": {"n": 4}}
        assert retried.attempts_made == 3
        assert retried.attempts_started == 3
        assert len(retried.stacktrace) == 2
        assert processed.count(retried.id) == 3

        doomed = jobs["doomed"]
        assert await board_q.get_job_state(doomed.id) == "failed"
        assert doomed.failed_reason == FAIL_MESSAGE
        assert doomed.attempts_made == 2
        assert doomed.returnvalue is None
        assert doomed.finished_on is not None
        assert len(doomed.stacktrace) == 2
        assert all(f"RuntimeError: {FAIL_MESSAGE}" in s for s in doomed.stacktrace)
        assert processed.count(doomed.id) == 2

        counts = await board_q.get_job_counts("completed", "failed", "wait", "active", "delayed", "prioritized")
        assert counts == {"completed": 5, "failed": 1, "wait": 0, "active": 0, "delayed": 0, "prioritized": 0}

        # bullmq's view of the same jobs
        for key, job_id in ids.items():
            bjob = await bull_q.getJob(job_id)
            assert bjob is not None, key
            mine = jobs[key]
            assert bjob.name == mine.name
            assert bjob.data == mine.data
            assert bjob.returnvalue == mine.returnvalue, key
            assert bjob.attemptsMade == mine.attempts_made, key
            assert bjob.attemptsStarted == mine.attempts_started, key
            assert bjob.stacktrace == mine.stacktrace, key
            assert bjob.finishedOn == mine.finished_on, key
            assert bjob.opts.get("attempts") == mine.opts.get("attempts"), key
        assert await bull_q.getJobState(ids["doomed"]) == "failed"
        bdoomed = await bull_q.getJob(ids["doomed"])
        assert bdoomed.failedReason == FAIL_MESSAGE
        for key in ("plain", "delayed", "p1", "p5", "retried"):
            assert await bull_q.getJobState(ids[key]) == "completed", key
        bcounts = await bull_q.getJobCounts("completed", "failed", "wait", "active", "delayed", "prioritized")
        assert bcounts == {"completed": 5, "failed": 1, "wait": 0, "active": 0, "delayed": 0, "prioritized": 0}
    finally:
        await bull_q.close()
        await board_q.close()


async def test_bullmq_queue_board_worker(redis_url: str, raw: redis.Redis, qname: str) -> None:
    bull_q = bullmq.Queue(qname, {"connection": redis_url})
    try:
        added = {
            "plain": await bull_q.add("plain", {"n": 1}),
            "delayed": await bull_q.add("delayed", {"n": 2}, {"delay": 300}),
            "p5": await bull_q.add("p5", {"n": 3}, {"priority": 5}),
            "p1": await bull_q.add("p1", {"n": 3}, {"priority": 1}),
            "retried": await bull_q.add(
                "retried", {"n": 4}, {"attempts": 3, "backoff": {"type": "fixed", "delay": 50}}
            ),
            "doomed": await bull_q.add("doomed", {"n": 5}, {"attempts": 2, "backoff": 50}),
        }
    finally:
        await bull_q.close()
    ids = {key: str(job.id) for key, job in added.items()}
    assert raw.zcard(f"bull:{qname}:delayed") == 1
    assert raw.zcard(f"bull:{qname}:prioritized") == 2

    processed: list[str] = []

    async def process(job: Job) -> Any:
        processed.append(job.id)
        if job.name == "retried" and job.attempts_made < 2:
            raise RuntimeError(f"attempt {job.attempts_made + 1} fails")
        if job.name == "doomed":
            raise RuntimeError(FAIL_MESSAGE)
        return {"name": job.name, "data": job.data}

    worker = Worker(qname, process, redis_url, concurrency=1, block_timeout=1)
    errors: list[BaseException] = []
    worker.on("error", errors.append)
    run = asyncio.create_task(worker.run())
    try:
        await wait_until(finished(raw, qname, list(ids.values())), 20, "board.Worker to finish bullmq's jobs")
    finally:
        await worker.close(timeout=5)
        await asyncio.wait_for(run, 10)
    assert errors == []
    await check_results_both_ways(raw, qname, redis_url, ids, processed)


async def test_board_queue_bullmq_worker(redis_url: str, raw: redis.Redis, qname: str) -> None:
    async with Queue(qname, redis_url) as queue:
        added = {
            "plain": await queue.add("plain", {"n": 1}),
            "delayed": await queue.add("delayed", {"n": 2}, delay=0.3),
            "p5": await queue.add("p5", {"n": 3}, priority=5),
            "p1": await queue.add("p1", {"n": 3}, priority=1),
            "retried": await queue.add("retried", {"n": 4}, attempts=3, backoff={"type": "fixed", "delay": 0.05}),
            "doomed": await queue.add("doomed", {"n": 5}, attempts=2, backoff=0.05),
        }
    ids = {key: job.id for key, job in added.items()}
    assert raw.zcard(f"bull:{qname}:delayed") == 1
    assert raw.zcard(f"bull:{qname}:prioritized") == 2

    processed: list[str] = []

    async def process(job: Any, token: str) -> Any:
        processed.append(job.id)
        if job.name == "retried" and job.attemptsMade < 2:
            raise RuntimeError(f"attempt {job.attemptsMade + 1} fails")
        if job.name == "doomed":
            raise RuntimeError(FAIL_MESSAGE)
        return {"name": job.name, "data": job.data}

    worker = bullmq.Worker(qname, process, {"connection": redis_url, "concurrency": 1, "drainDelay": 1})
    errors: list[Any] = []
    worker.on("error", lambda *args: errors.append(args))
    try:
        await wait_until(finished(raw, qname, list(ids.values())), 30, "bullmq.Worker to finish board's jobs")
    finally:
        await asyncio.wait_for(worker.close(), 15)
    assert errors == []
    await check_results_both_ways(raw, qname, redis_url, ids, processed)
