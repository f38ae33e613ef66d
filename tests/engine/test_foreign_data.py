"""What another program can leave in Redis, and what a caller can ask for: ids that reach the queue's own
keys, keys of the wrong type where a job hash belongs, JSON nested too deep to read."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import redis

from board import Queue, QueueEvents, SyncQueue, Worker
from board.engine.inspector import Inspector

from .helpers import running, until

DEEP = "[" * 100_000 + "]" * 100_000


def snapshot(raw: redis.Redis) -> dict[str, Any]:
    """Every key with its serialised value, so that any write shows."""
    return {str(key): raw.dump(key) for key in sorted(raw.keys("*"))}


def write_job(raw: redis.Redis, qname: str, job_id: str, **fields: Any) -> None:
    stored: dict[Any, Any] = {"name": job_id, "data": "{}", "opts": "{}", "delay": 0}
    stored["timestamp"] = int(time.time() * 1000)
    stored.update(fields)
    raw.hset(f"bull:{qname}:{job_id}", mapping=stored)


# Ids that reach the queue's own keys or a job's sub-keys


UNSAFE_IDS = ["meta", "events", "wait", "id", "repeat", "1:lock", "1:logs", "metrics:completed:data", "de:x:y"]


@pytest.mark.parametrize("job_id", UNSAFE_IDS)
async def test_every_queue_method_refuses_an_id_that_is_not_a_job_and_writes_nothing(
    queue: Queue, raw: redis.Redis, qname: str, job_id: str
) -> None:
    job = await queue.add("a", {"n": 1}, delay=60)
    await job.log("a line")
    raw.set(f"bull:{qname}:1:lock", "worker-token")
    raw.zadd(f"bull:{qname}:failed", {"meta": 1})  # as if another program had listed it
    before = snapshot(raw)
    calls = [
        queue.get_job(job_id),
        queue.get_job_state(job_id),
        queue.get_job_logs(job_id),
        queue.remove(job_id),
        queue.retry_job(job_id),
        queue.promote_job(job_id),
        queue.change_job_priority(job_id, 3),
        queue.change_job_delay(job_id, 5),
        queue.update_job_data(job_id, {"x": 1}),
        queue.update_job_progress(job_id, 50),
        queue.add_job_log(job_id, "line"),
    ]
    for call in calls:
        with pytest.raises(ValueError, match="job id: "):
            await call
    assert snapshot(raw) == before


def test_the_blocking_queue_refuses_them_too(redis_url: str, raw: redis.Redis, qname: str) -> None:
    with SyncQueue(qname, redis_url) as queue:
        queue.add("a", {})
        before = snapshot(raw)
        for job_id in UNSAFE_IDS:
            with pytest.raises(ValueError, match="job id"):
                queue.get_job(job_id)
            with pytest.raises(ValueError, match="job id"):
                queue.remove(job_id)
            with pytest.raises(ValueError, match="job id"):
                queue.update_job_data(job_id, {})
        assert snapshot(raw) == before


async def test_a_scheduler_run_id_with_three_parts_still_works(queue: Queue, raw: redis.Redis, qname: str) -> None:
    job_id = "repeat:daily-report:1700000000000"
    write_job(raw, qname, job_id, data='{"day": 1}', delay=60_000)
    raw.zadd(f"bull:{qname}:delayed", {job_id: 1})
    job = await queue.get_job(job_id)
    assert job is not None and job.data == {"day": 1} and job.problems == {}
    assert await queue.get_job_state(job_id) == "delayed"
    await job.update_data({"day": 2})
    await job.promote()
    assert await queue.get_job_state(job_id) == "waiting"
    assert json.loads(raw.hget(f"bull:{qname}:{job_id}", "data") or "") == {"day": 2}
    assert await queue.remove(job_id) is True
    assert raw.exists(f"bull:{qname}:{job_id}") == 0


async def test_a_custom_id_naming_a_queue_key_is_refused_at_add(queue: Queue, raw: redis.Redis, qname: str) -> None:
    await queue.add("first", {})
    before = snapshot(raw)
    with pytest.raises(ValueError, match="job_id: 'meta'"):
        await queue.add("x", {}, job_id="meta")
    assert snapshot(raw) == before


async def test_the_inspector_treats_an_id_that_is_not_a_job_as_not_found(
    queue: Queue, redis_url: str, raw: redis.Redis, qname: str
) -> None:
    await queue.add("a", {})
    inspector = Inspector(redis_url)
    try:
        rows = await inspector.runner.call(inspector.rows_by_id_call(qname, ["meta", "1", "1:lock"], 0))
        assert [row.id for row in inspector.parse_rows(rows)] == ["1"]
        with pytest.raises(ValueError, match="job id"):
            await inspector.job(qname, "meta")
    finally:
        await inspector.close()


async def test_waiting_for_an_id_that_is_not_a_job_is_refused(redis_url: str, qname: str) -> None:
    async with QueueEvents(qname, redis_url) as events:
        with pytest.raises(ValueError, match="job id"):
            await events.wait_for_job("meta", timeout=1)


# Keys of the wrong type where a job hash belongs


def list_foreign_keys(raw: redis.Redis, qname: str, key: str) -> None:
    """Another program lists ids in ``key`` whose keys are a string and a list."""
    raw.set(f"bull:{qname}:s1", "hello")
    raw.rpush(f"bull:{qname}:l1", "a", "b")
    if raw.type(f"bull:{qname}:{key}") == "zset" or key in ("delayed", "failed", "completed", "prioritized"):
        raw.zadd(f"bull:{qname}:{key}", {"s1": 1, "l1": 2})
    else:
        raw.lpush(f"bull:{qname}:{key}", "s1", "l1")


async def test_a_page_of_jobs_shows_keys_of_another_type_as_malformed(
    queue: Queue, redis_url: str, raw: redis.Redis, qname: str
) -> None:
    await queue.add("good", {"n": 1})
    list_foreign_keys(raw, qname, "wait")
    jobs = {job.id: job for job in await queue.get_jobs("wait")}
    assert set(jobs) == {"1", "s1", "l1"}
    assert jobs["1"].problems == {}
    assert jobs["s1"].problems["key"] == "stored key is a string, not a job hash"
    assert jobs["l1"].problems["key"] == "stored key is a list, not a job hash"

    inspector = Inspector(redis_url)
    try:
        rows = {row.id: row for row in await inspector.rows(qname, ["wait"], 0, 10)}
        assert rows["s1"].key_problem == "stored key is a string, not a job hash"
        assert rows["s1"].state == "wait" and rows["1"].key_problem is None
        counts, listed = await inspector.runner.batch(
            [inspector.status_call(qname), inspector.rows_call(qname, ["wait"], 0, 10, False, 300)]
        )
        assert inspector.parse_status(qname, counts, 1, "").counts["wait"] == 3
        assert {row.id for row in inspector.parse_rows(listed)} == {"1", "s1", "l1"}
        assert await inspector.job(qname, "s1") is None
        assert await inspector.job(qname, "1") is not None
    finally:
        await inspector.close()


async def test_reading_one_key_of_another_type_finds_no_job(queue: Queue, raw: redis.Redis, qname: str) -> None:
    list_foreign_keys(raw, qname, "wait")
    assert await queue.get_job("s1") is None
    assert await queue.get_job("l1") is None
    jobs = await queue.add_bulk([{"name": "a", "data": 1, "job_id": "s1"}])
    assert jobs[0].id == "s1" and raw.get(f"bull:{qname}:s1") == "hello"


async def test_job_actions_on_a_key_of_another_type_say_not_found(queue: Queue, raw: redis.Redis, qname: str) -> None:
    from board import JobNotFound

    list_foreign_keys(raw, qname, "failed")
    for call in (
        queue.retry_job("s1"),
        queue.promote_job("s1"),
        queue.update_job_data("s1", {}),
        queue.change_job_priority("s1", 2),
    ):
        with pytest.raises(JobNotFound):
            await call
    assert raw.get(f"bull:{qname}:s1") == "hello"
    # An operator can clear the entry another program left.
    assert await queue.remove("s1") is True
    assert raw.exists(f"bull:{qname}:s1") == 0 and raw.zscore(f"bull:{qname}:failed", "s1") is None


@pytest.mark.parametrize("state", ["wait", "delayed", "failed", "completed"])
async def test_bulk_actions_go_past_keys_of_another_type(
    queue: Queue, raw: redis.Redis, qname: str, state: str
) -> None:
    list_foreign_keys(raw, qname, state)
    if state == "wait":
        assert len(await queue.clean(0, 0, "wait")) == 2
        await queue.add("a", {})
        await queue.drain()
        assert raw.llen(f"bull:{qname}:wait") == 0
    elif state == "delayed":
        assert await queue.promote_jobs() == 2
        assert raw.zcard(f"bull:{qname}:delayed") == 0
        assert set(raw.lrange(f"bull:{qname}:wait", 0, -1)) == {"s1", "l1"}
    else:
        assert await queue.retry_jobs(state) == 2
        assert raw.zcard(f"bull:{qname}:{state}") == 0
    await queue.pause()
    await queue.obliterate(force=True)
    assert raw.keys(f"bull:{qname}:*") == []


async def test_a_worker_drops_listed_keys_of_another_type_and_goes_on(
    queue: Queue, redis_url: str, raw: redis.Redis, qname: str
) -> None:
    list_foreign_keys(raw, qname, "wait")  # at the tail: taken first
    raw.zadd(f"bull:{qname}:delayed", {"s1": 4096})  # already due
    # A worker that died left its job and a foreign id in active; the last stalled check saw both.
    orphan = await queue.add("orphan", {})
    raw.lrem(f"bull:{qname}:wait", 0, orphan.id)
    raw.lpush(f"bull:{qname}:active", orphan.id, "l1")
    raw.sadd(f"bull:{qname}:stalled", orphan.id, "l1")
    await queue.add("good", {})
    ran: list[str] = []

    async def work(job: Any) -> str:
        ran.append(job.name)
        return "ok"

    async with running(Worker(qname, work, redis_url, stalled_interval=0.2)):
        await until(lambda: raw.zcard(f"bull:{qname}:completed") == 2)
    assert sorted(ran) == ["good", "orphan"]
    assert raw.llen(f"bull:{qname}:wait") == 0 and raw.llen(f"bull:{qname}:active") == 0
    assert raw.zcard(f"bull:{qname}:delayed") == 0
    assert raw.get(f"bull:{qname}:s1") == "hello"  # another program's key: not ours to delete


# JSON nested too deep to read


@pytest.mark.parametrize("field", ["data", "opts", "returnvalue", "progress", "stacktrace", "parent"])
async def test_a_field_nested_too_deep_reads_with_the_problem_named(
    queue: Queue, raw: redis.Redis, qname: str, field: str
) -> None:
    write_job(raw, qname, "deep", **{field: DEEP})
    raw.lpush(f"bull:{qname}:wait", "deep")
    job = await queue.get_job("deep")
    assert job is not None
    assert job.problems == {field: "nested too deep to read"}
    listed = await queue.get_jobs("wait")
    assert [j.problems for j in listed] == [{field: "nested too deep to read"}]


async def test_a_job_nested_too_deep_fails_alone_with_a_reason(
    queue: Queue, redis_url: str, raw: redis.Redis, qname: str
) -> None:
    write_job(raw, qname, "deep-data", data=DEEP)
    write_job(raw, qname, "deep-opts", opts=DEEP)
    raw.lpush(f"bull:{qname}:wait", "deep-data", "deep-opts")
    await queue.add("good", {"n": 1})
    ran: list[str] = []

    async def work(job: Any) -> Any:
        ran.append(job.id)
        return job.data

    async with running(Worker(qname, work, redis_url)):
        await until(lambda: raw.zcard(f"bull:{qname}:completed") == 1 and raw.zcard(f"bull:{qname}:failed") == 2)
    assert ran == ["1"]
    assert raw.hget(f"bull:{qname}:deep-data", "failedReason") == (
        "job hash is malformed (data: nested too deep to read)"
    )
    assert raw.hget(f"bull:{qname}:deep-opts", "failedReason") == (
        "job hash is malformed (opts: nested too deep to read)"
    )


async def test_a_number_too_large_for_redis_is_named_not_raised(queue: Queue, raw: redis.Redis, qname: str) -> None:
    write_job(raw, qname, "big", timestamp="1e400", atm="9" * 30, processedOn="inf")
    job = await queue.get_job("big")
    assert job is not None
    assert set(job.problems) == {"timestamp", "atm", "processedOn"}
    assert job.timestamp == 0 and job.attempts_made == 0 and job.processed_on is None
