"""Job metrics as BullMQ keeps them: running totals and one count a minute, read back by get_metrics."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from board import Queue, Worker
from board.engine.inspector import Inspector
from board.engine.keys import QueueKeys
from board.engine.metrics import metrics_calls, parse_metrics

from .helpers import running, until


async def _work(job: Any) -> str:
    if job.data.get("fail"):
        raise RuntimeError("no")
    return "ok"


async def test_totals_and_minutes(queue: Queue, raw: redis.Redis, redis_url: str, qname: str) -> None:
    await queue.add_bulk([{"name": "n", "data": {}} for _ in range(3)] + [{"name": "n", "data": {"fail": True}}])
    async with running(Worker(qname, _work, redis_url, handle_signals=False, metrics={"max_data_points": 5})):
        await until(lambda: _counts(queue, completed=3, failed=1))
    completed, failed = await queue.get_metrics("completed"), await queue.get_metrics("failed")
    # As BullMQ: the first finish only starts the clock; totals count every job.
    assert completed.count == 3 and failed.count == 1
    assert completed.prev_count == 0 and completed.data == [] and completed.points == 0
    # Three minutes later: one point for the minute that had jobs, then a 0 for each empty one since,
    # newest first (the order of BullMQ's LPUSH).
    prev = int(raw.hget(f"bull:{qname}:metrics:completed", "prevTS") or 0)
    raw.hset(f"bull:{qname}:metrics:completed", "prevTS", prev - 3 * 60_000)
    await queue.add("n", {})
    async with running(Worker(qname, _work, redis_url, handle_signals=False, metrics={"max_data_points": 5})):
        await until(lambda: _counts(queue, completed=4, failed=1))
    after = await queue.get_metrics("completed")
    assert after.count == 4 and after.data == [0, 0, 3] and after.points == 3 and after.prev_count == 3
    assert (await queue.get_metrics("completed", 2, 2)).data == [3]


async def test_no_metrics_unless_asked(queue: Queue, raw: redis.Redis, redis_url: str, qname: str) -> None:
    await queue.add("n", {})
    async with running(Worker(qname, _work, redis_url, handle_signals=False)):
        await until(lambda: _counts(queue, completed=1, failed=0))
    assert not raw.exists(f"bull:{qname}:metrics:completed")
    assert (await queue.get_metrics("completed")).count == 0


@pytest.mark.parametrize("metrics", [{"max_data_points": 0}, {"max_points": 5}, {"max_data_points": True}, 5])
def test_bad_metrics_options(metrics: Any, qname: str) -> None:
    with pytest.raises(ValueError, match="metrics"):
        Worker(qname, _work, metrics=metrics)


async def test_a_kind_that_is_not_kept(queue: Queue) -> None:
    with pytest.raises(ValueError, match="kind: expected 'completed' or 'failed'"):
        await queue.get_metrics("active")


async def _counts(queue: Queue, completed: int, failed: int) -> bool:
    return await queue.get_job_counts("completed", "failed") == {"completed": completed, "failed": failed}


async def test_many_queues_metrics_in_one_pipeline(queue: Queue, raw: redis.Redis, redis_url: str, qname: str) -> None:
    raw.hset(f"bull:{qname}:metrics:failed", mapping={"count": 7, "prevTS": 1000, "prevCount": 5})
    raw.rpush(f"bull:{qname}:metrics:failed:data", 3, "x", 1)
    raw.set("bull:other:metrics:failed", "a string")
    inspector = Inspector(redis_url)
    try:
        calls = [*metrics_calls(QueueKeys("bull", qname), "failed", 0, 1)]
        calls += metrics_calls(QueueKeys("bull", "other"), "failed", 0, 1)
        replies = await inspector.runner.batch(calls)
    finally:
        await inspector.close()
    # A value that is not a number reads as 0, and only the range asked is read.
    assert parse_metrics(replies[:3]) == (await queue.get_metrics("failed", 0, 1))
    assert parse_metrics(replies[:3]).data == [3, 0] and parse_metrics(replies[:3]).points == 3
    with pytest.raises(redis.ResponseError, match="WRONGTYPE"):
        parse_metrics(replies[3:])
