from __future__ import annotations

import json
import time
from typing import Any

import pytest
import redis

from board import JobLockedError, JobNotFound, JobStateError, Queue, QueueStateError, RedisUnavailable
from board.engine import ops
from board.engine.connection import AsyncRunner
from board.redis_server import free_port


def events(raw: Any, name: str) -> list[dict[str, str]]:
    return [fields for _, fields in raw.xrange(f"bull:{name}:events")]


async def test_add_writes_the_bullmq_job_hash_wait_list_marker_and_events(queue: Queue, raw, qname):
    job = await queue.add("send", {"to": "a@example.com"})
    assert job.id == "1" and job.data == {"to": "a@example.com"}
    stored = raw.hgetall(f"bull:{qname}:1")
    assert stored["name"] == "send"
    assert json.loads(stored["data"]) == {"to": "a@example.com"}
    assert json.loads(stored["opts"]) == {"attempts": 0}
    assert stored["delay"] == "0" and stored["priority"] == "0"
    assert abs(int(stored["timestamp"]) - time.time() * 1000) < 5000
    assert raw.lrange(f"bull:{qname}:wait", 0, -1) == ["1"]
    assert raw.zrange(f"bull:{qname}:marker", 0, -1, withscores=True) == [("0", 0.0)]
    assert raw.get(f"bull:{qname}:id") == "1"
    assert raw.hget(f"bull:{qname}:meta", "opts.maxLenEvents") == "10000"
    assert raw.hget(f"bull:{qname}:meta", "version").startswith("board:")
    assert events(raw, qname) == [
        {"event": "added", "jobId": "1", "name": "send"},
        {"event": "waiting", "jobId": "1"},
    ]


async def test_fifo_adds_queue_at_the_head_and_lifo_at_the_tail(queue: Queue, raw, qname):
    await queue.add("a", 1)
    await queue.add("b", 2)
    await queue.add("c", 3, lifo=True)
    assert raw.lrange(f"bull:{qname}:wait", 0, -1) == ["2", "1", "3"]


async def test_delayed_jobs_are_scored_by_due_time_times_4096_plus_a_sequence(queue: Queue, raw, qname):
    ts = 1_900_000_000  # seconds; both jobs fall due in the same millisecond
    await queue.add("a", {}, delay=5, timestamp=ts)
    await queue.add("b", {}, delay=5, timestamp=ts)
    due = ts * 1000 + 5000
    scored = raw.zrange(f"bull:{qname}:delayed", 0, -1, withscores=True)
    assert scored == [("1", due * 4096), ("2", due * 4096 + 1)]
    assert raw.zscore(f"bull:{qname}:marker", "1") == due
    assert {"event": "delayed", "jobId": "1", "delay": str(due)} in events(raw, qname)
    assert raw.llen(f"bull:{qname}:wait") == 0


async def test_prioritized_jobs_are_scored_and_listed_in_run_order(queue: Queue, raw, qname):
    await queue.add("p1", {}, priority=1)
    await queue.add("p5", {}, priority=5)
    await queue.add("p10", {}, priority=10)
    await queue.add("p1b", {}, priority=1)
    scores = dict(raw.zrange(f"bull:{qname}:prioritized", 0, -1, withscores=True))
    assert scores == {"1": 4294967297, "2": 21474836482, "3": 42949672963, "4": 4294967300}
    assert raw.get(f"bull:{qname}:pc") == "4"
    listed = await queue.get_jobs("prioritized", asc=True)
    assert [j.name for j in listed] == ["p1", "p1b", "p5", "p10"]
    assert [j.name for j in await queue.get_jobs("prioritized")] == ["p10", "p5", "p1b", "p1"]


async def test_a_custom_job_id_makes_the_add_idempotent(queue: Queue, raw, qname):
    first = await queue.add("charge", {"amount": 5}, job_id="order-1")
    before = raw.hgetall(f"bull:{qname}:order-1")
    again = await queue.add("charge", {"amount": 999}, job_id="order-1")
    assert first.id == again.id == "order-1"
    assert again.data == {"amount": 5}
    assert raw.hgetall(f"bull:{qname}:order-1") == before
    assert raw.llen(f"bull:{qname}:wait") == 1
    assert events(raw, qname)[-1] == {"event": "duplicated", "jobId": "order-1"}
    # As in BullMQ, every add consumes an id from the counter.
    assert raw.get(f"bull:{qname}:id") == "2"


async def test_add_bulk_is_one_round_trip_and_returns_the_jobs(queue: Queue, raw, qname, monkeypatch):
    # Loads the script first: a Redis that has not run it yet asks for it (two more round trips).
    await queue.add_bulk([{"name": "first"}])
    exchanges = 0
    real = AsyncRunner._exchange

    async def counting(self, data, replies):
        nonlocal exchanges
        exchanges += 1
        return await real(self, data, replies)

    monkeypatch.setattr(AsyncRunner, "_exchange", counting)
    jobs = await queue.add_bulk(
        [{"name": "a", "data": {"i": i}, "delay": 10 if i == 2 else None} for i in range(5)]
        + [{"name": "b", "data": None, "priority": 3}]
    )
    assert exchanges == 1
    assert [j.id for j in jobs] == ["2", "3", "4", "5", "6", "7"]
    assert raw.llen(f"bull:{qname}:wait") == 5
    assert raw.zcard(f"bull:{qname}:delayed") == 1
    assert raw.zcard(f"bull:{qname}:prioritized") == 1


async def test_add_bulk_validates_everything_before_writing(queue: Queue, raw, qname):
    with pytest.raises(ValueError, match="bogus"):
        await queue.add_bulk([{"name": "a", "data": 1}, {"name": "b", "data": 2, "bogus": 1}])
    with pytest.raises(TypeError):
        await queue.add_bulk([{"name": "a", "data": 1}, {"name": "b", "data": object()}])
    with pytest.raises(ValueError, match="name"):
        await queue.add_bulk([{"data": 1}])
    assert raw.keys(f"bull:{qname}:*") == []


async def test_an_unknown_option_raises_before_anything_is_written(queue: Queue, raw, qname):
    with pytest.raises(ValueError, match="dealy"):
        await queue.add("x", {}, dealy=3)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        await queue.add("x", {"f": lambda: 1})
    assert raw.keys("*") == []


async def test_counts_states_and_pages(queue: Queue, raw, qname):
    for i in range(12):
        await queue.add("w", {"i": i})
    await queue.add("d", {}, delay=60)
    await queue.add("p", {}, priority=2)
    counts = await queue.get_job_counts()
    assert counts == {
        "wait": 12,
        "paused": 0,
        "active": 0,
        "delayed": 1,
        "prioritized": 1,
        "waiting-children": 0,
        "completed": 0,
        "failed": 0,
    }
    assert await queue.get_job_counts("waiting", "delayed") == {"waiting": 12, "delayed": 1}
    newest = await queue.get_jobs("wait", 0, 4)
    assert [j.data["i"] for j in newest] == [11, 10, 9, 8, 7]
    oldest = await queue.get_jobs(["waiting"], 0, 2, asc=True)
    assert [j.data["i"] for j in oldest] == [0, 1, 2]
    page3 = await queue.get_jobs("wait", 10, 14)
    assert [j.data["i"] for j in page3] == [1, 0]
    assert await queue.get_job_state("1") == "waiting"
    assert await queue.get_job_state("13") == "delayed"
    assert await queue.get_job_state("14") == "prioritized"
    assert await queue.get_job_state("nope") == "unknown"
    with pytest.raises(ValueError, match="state"):
        await queue.get_job_counts("sleeping")


async def test_pause_and_resume(queue: Queue, raw, qname):
    await queue.add("a", {})
    assert await queue.pause() is True
    assert await queue.pause() is False
    assert raw.hget(f"bull:{qname}:meta", "paused") == "1"
    assert raw.exists(f"bull:{qname}:marker") == 0
    assert await queue.is_paused()
    assert raw.llen(f"bull:{qname}:wait") == 1  # BullMQ 6 keeps paused jobs in wait
    assert await queue.resume() is True
    assert not await queue.is_paused()
    assert raw.hexists(f"bull:{qname}:meta", "paused") == 0
    assert raw.zscore(f"bull:{qname}:marker", "0") == 0
    names = [e["event"] for e in events(raw, qname)]
    assert names[-2:] == ["paused", "resumed"]


async def test_resume_moves_a_legacy_paused_list_back_to_wait(queue: Queue, raw, qname):
    await queue.add("a", {})
    await queue.pause()
    raw.rpush(f"bull:{qname}:paused", "legacy")
    await queue.resume()
    assert raw.exists(f"bull:{qname}:paused") == 0
    assert "legacy" in raw.lrange(f"bull:{qname}:wait", 0, -1)


def finish(raw: redis.Redis, qname: str, job_id: str, state: str, finished_on: int) -> None:
    """Moves a waiting job to completed or failed the way a worker leaves it."""
    raw.lrem(f"bull:{qname}:wait", 0, job_id)
    raw.hset(f"bull:{qname}:{job_id}", mapping={"finishedOn": finished_on, "processedOn": finished_on, "atm": 1})
    if state == "failed":
        raw.hset(f"bull:{qname}:{job_id}", "failedReason", "boom")
    else:
        raw.hset(f"bull:{qname}:{job_id}", "returnvalue", "1")
    raw.zadd(f"bull:{qname}:{state}", {job_id: finished_on})


async def test_clean_removes_old_finished_jobs_up_to_a_limit(queue: Queue, raw, qname):
    now = int(time.time() * 1000)
    for i in range(6):
        job = await queue.add("j", {})
        await queue.add_job_log(job.id, "a line")
        finish(raw, qname, job.id, "completed", now - (60_000 if i < 4 else 0))
    removed = await queue.clean(30, 3, "completed")
    assert sorted(removed) == ["1", "2", "3"]
    assert raw.exists(f"bull:{qname}:1", f"bull:{qname}:1:logs") == 0
    assert await queue.clean(30, 0, "completed") == ["4"]
    assert raw.zcard(f"bull:{qname}:completed") == 2
    assert events(raw, qname)[-1] == {"event": "cleaned", "count": "1"}


async def test_clean_waiting_jobs_compares_their_timestamp(queue: Queue, raw, qname):
    old = time.time() - 3600
    for _ in range(3):
        await queue.add("old", {}, timestamp=old)
    await queue.add("new", {})
    removed = await queue.clean(60, 0, "wait")
    assert sorted(removed) == ["1", "2", "3"]
    assert raw.lrange(f"bull:{qname}:wait", 0, -1) == ["4"]


async def test_clean_scans_past_the_batch_size(queue: Queue, raw, qname, monkeypatch):
    monkeypatch.setattr(ops, "BATCH", 7)
    old = time.time() - 3600
    await queue.add_bulk([{"name": "old", "data": i, "timestamp": old} for i in range(20)])
    await queue.add_bulk([{"name": "new", "data": i} for i in range(5)])
    removed = await queue.clean(60, 0, "wait")
    assert len(removed) == 20
    assert raw.llen(f"bull:{qname}:wait") == 5


async def test_drain_removes_unstarted_jobs_and_keeps_delayed_unless_asked(queue: Queue, raw, qname):
    await queue.add_bulk([{"name": "w", "data": i} for i in range(3)])
    await queue.add("p", {}, priority=1)
    await queue.add("d", {}, delay=60)
    await queue.drain()
    assert raw.llen(f"bull:{qname}:wait") == 0
    assert raw.zcard(f"bull:{qname}:prioritized") == 0
    assert raw.zcard(f"bull:{qname}:delayed") == 1
    assert raw.exists(f"bull:{qname}:1", f"bull:{qname}:4") == 0
    await queue.drain(delayed=True)
    assert raw.zcard(f"bull:{qname}:delayed") == 0
    assert raw.exists(f"bull:{qname}:5") == 0


async def test_obliterate_needs_a_paused_queue_and_no_active_job_unless_forced(queue: Queue, raw, qname):
    await queue.add_bulk([{"name": "w", "data": i} for i in range(5)])
    with pytest.raises(QueueStateError, match="pause"):
        await queue.obliterate()
    await queue.pause()
    raw.lmove(f"bull:{qname}:wait", f"bull:{qname}:active", "RIGHT", "LEFT")
    with pytest.raises(QueueStateError, match="active"):
        await queue.obliterate()
    await queue.obliterate(force=True)
    assert raw.keys(f"bull:{qname}:*") == []


async def test_remove_deletes_the_job_everywhere_but_not_a_locked_one(queue: Queue, raw, qname):
    job = await queue.add("a", {})
    await job.log("x")
    assert await queue.remove(job.id) is True
    assert raw.exists(f"bull:{qname}:1", f"bull:{qname}:1:logs") == 0
    assert raw.llen(f"bull:{qname}:wait") == 0
    assert events(raw, qname)[-1] == {"event": "removed", "jobId": "1", "prev": "wait"}
    assert await queue.remove("1") is False
    locked = await queue.add("b", {})
    raw.set(f"bull:{qname}:{locked.id}:lock", "someone")
    with pytest.raises(JobLockedError):
        await queue.remove(locked.id)
    assert raw.exists(f"bull:{qname}:{locked.id}") == 1


async def test_retry_jobs_and_promote_jobs_work_in_batches(queue: Queue, raw, qname, monkeypatch):
    monkeypatch.setattr(ops, "BATCH", 4)
    now = int(time.time() * 1000) - 10
    for _ in range(10):
        job = await queue.add("f", {})
        finish(raw, qname, job.id, "failed", now)
    assert await queue.retry_jobs("failed", count=6) == 6
    assert raw.zcard(f"bull:{qname}:failed") == 4
    assert await queue.retry_jobs() == 4
    assert raw.llen(f"bull:{qname}:wait") == 10
    assert raw.hexists(f"bull:{qname}:1", "failedReason") == 0
    assert {"event": "waiting", "jobId": "1", "prev": "failed"} in events(raw, qname)

    await queue.add_bulk([{"name": "d", "data": i, "delay": 60 + i} for i in range(9)])
    assert await queue.promote_jobs() == 9
    assert raw.zcard(f"bull:{qname}:delayed") == 0
    assert raw.llen(f"bull:{qname}:wait") == 19
    with pytest.raises(ValueError, match="state"):
        await queue.retry_jobs("active")


async def test_job_methods(queue: Queue, raw, qname):
    job = await queue.add("a", {"v": 1}, delay=60, keep_logs=2)
    await job.update_data({"v": 2})
    assert json.loads(raw.hget(f"bull:{qname}:1", "data")) == {"v": 2}
    await job.update_progress({"sent": 3, "total": 5})
    assert json.loads(raw.hget(f"bull:{qname}:1", "progress")) == {"sent": 3, "total": 5}
    assert events(raw, qname)[-1] == {"event": "progress", "jobId": "1", "data": '{"sent":3,"total":5}'}
    for line in ("one", "two", "three"):
        await job.log(line)
    assert await queue.get_job_logs("1") == (["two", "three"], 2)
    await job.change_delay(120)
    assert raw.hget(f"bull:{qname}:1", "delay") == "120000"
    assert await job.get_state() == "delayed"
    await job.promote()
    assert await job.get_state() == "waiting"
    assert raw.hget(f"bull:{qname}:1", "delay") == "0"
    with pytest.raises(JobStateError):
        await job.promote()
    await job.change_priority(4)
    assert await job.get_state() == "prioritized"
    assert raw.hget(f"bull:{qname}:1", "priority") == "4"
    await job.change_priority(0)
    assert raw.lrange(f"bull:{qname}:wait", 0, -1) == ["1"]
    with pytest.raises(JobStateError):
        await job.retry()
    finish(raw, qname, "1", "failed", int(time.time() * 1000))
    await job.retry()
    assert await job.get_state() == "waiting"
    await job.remove()
    assert await queue.get_job("1") is None
    with pytest.raises(JobNotFound):
        await queue.update_job_progress("1", 5)
    with pytest.raises(ValueError, match="priority"):
        await queue.change_job_priority("1", -1)


async def test_a_job_hash_written_badly_by_another_program_still_reads(queue: Queue, raw, qname):
    raw.hset(f"bull:{qname}:x1", mapping={"name": "broken", "data": "{not json", "opts": "[]", "timestamp": "abc"})
    raw.hset(f"bull:{qname}:x2", mapping={"name": "bin", "opts": "{}", "timestamp": "1"})
    raw.hset(f"bull:{qname}:x2", "data", b"\xff\xfe\x00binary")
    raw.lpush(f"bull:{qname}:wait", "x1", "x2")
    broken = await queue.get_job("x1")
    assert broken is not None
    assert broken.data == "{not json"
    assert "not valid JSON" in broken.problems["data"]
    assert "opts" in broken.problems and broken.opts == {}
    assert "timestamp" in broken.problems
    binary = await queue.get_job("x2")
    assert binary is not None and "UTF-8" in binary.problems["data"]
    listed = await queue.get_jobs("wait")
    assert {j.id for j in listed} == {"x1", "x2"}


async def test_an_unreachable_redis_raises_a_clear_error():
    port = free_port()
    queue = Queue("q", f"redis://127.0.0.1:{port}")
    with pytest.raises(RedisUnavailable, match=f"127.0.0.1:{port}"):
        await queue.add("a", {})
    await queue.close()


async def test_global_concurrency_and_rate_limit_settings(queue: Queue, raw, qname):
    await queue.set_global_concurrency(3)
    await queue.set_global_rate_limit(10, 1)
    assert raw.hmget(f"bull:{qname}:meta", "concurrency", "max", "duration") == ["3", "10", "1000"]
    await queue.set_global_concurrency(None)
    await queue.set_global_rate_limit(None)
    assert raw.hmget(f"bull:{qname}:meta", "concurrency", "max", "duration") == [None, None, None]
    with pytest.raises(ValueError, match="max_jobs"):
        await queue.set_global_rate_limit(-2, 1)
