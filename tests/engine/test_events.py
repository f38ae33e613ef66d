from __future__ import annotations

import asyncio

import pytest

from board import JobFailedError, Queue, QueueEvents, WaitTimeoutError, Worker

from .helpers import running, until


async def test_wait_until_finished_returns_the_result(queue: Queue, redis_url, qname):
    async def work(job):
        await asyncio.sleep(0.05)
        return {"sent": job.data["to"]}

    async with QueueEvents(qname, redis_url) as events, running(Worker(qname, work, redis_url)):
        job = await queue.add("mail", {"to": "a@b"})
        assert await job.wait_until_finished(events, timeout=5) == {"sent": "a@b"}


async def test_a_failed_job_raises_with_its_reason(queue: Queue, redis_url, qname):
    async def work(job):
        raise RuntimeError("smtp down")

    async with QueueEvents(qname, redis_url) as events, running(Worker(qname, work, redis_url)):
        job = await queue.add("mail", {})
        with pytest.raises(JobFailedError, match="smtp down"):
            await job.wait_until_finished(events, timeout=5)


async def test_a_job_that_finished_before_the_wait_is_answered_from_its_hash(queue: Queue, redis_url, qname):
    async def work(job):
        return 7

    async with running(Worker(qname, work, redis_url)):
        job = await queue.add("x", {})
        await until(lambda: _is_completed(queue, job.id))
    async with QueueEvents(qname, redis_url) as events:
        assert await job.wait_until_finished(events, timeout=1) == 7


async def _is_completed(queue: Queue, job_id: str) -> bool:
    return await queue.get_job_state(job_id) == "completed"


async def test_waiting_too_long_raises_a_timeout(queue: Queue, redis_url, qname):
    async with QueueEvents(qname, redis_url) as events:
        job = await queue.add("never-processed", {})
        with pytest.raises(WaitTimeoutError):
            await job.wait_until_finished(events, timeout=0.2)


async def test_hooks_and_iteration_see_the_stream(queue: Queue, redis_url, qname):
    seen: list[tuple[str | None, ...]] = []
    events = QueueEvents(qname, redis_url, block_timeout=0.1)
    events.on("added", lambda e: seen.append(("added", e.job_id, e.fields["name"])))
    events.on("*", lambda e: seen.append(("any", e.event)))
    await events.read_position()
    reader = asyncio.create_task(events.run())
    await queue.add("first", {})
    await until(lambda: ("added", "1", "first") in seen)
    assert ("any", "waiting") in [s for s in seen if s[0] == "any"] or await until(lambda: ("any", "waiting") in seen)
    await events.close()
    await asyncio.wait_for(reader, 2)

    replay = QueueEvents(qname, redis_url, last_event_id="0-0", block_timeout=0.1)
    names = [event.event async for event in _take(replay, 2)]
    assert names == ["added", "waiting"]
    await replay.close()


async def _take(events: QueueEvents, n: int):
    count = 0
    async for event in events:
        yield event
        count += 1
        if count >= n:
            return
