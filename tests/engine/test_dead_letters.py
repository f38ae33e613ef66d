"""Dead letters: a worker's ``dead_letter_queue`` receives every job it fails for good, in the call that fails
it; retrying a dead letter sends it back where it came from."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import redis

from board import Job, Queue, UnrecoverableError, Worker

from .helpers import running, until


def events(raw: Any, qname: str) -> list[dict[str, str]]:
    return [fields for _, fields in raw.xrange(f"bull:{qname}:events")]


def worker(qname: str, url: str, **options: Any) -> Worker:
    async def work(job: Job) -> Any:
        data = job.data if isinstance(job.data, dict) else {}
        if data.get("unrecoverable"):
            raise UnrecoverableError("cannot ever work")
        if job.attempts_made < data.get("fail_until", 0):
            raise RuntimeError(f"broken #{job.attempts_made + 1}")
        return "ok"

    return Worker(qname, work, url, dead_letter_queue=qname + ".dead", **options)


async def test_a_job_that_used_its_attempts_is_dead_lettered_and_kept(
    queue: Queue, raw: redis.Redis, qname: str, redis_url: str
) -> None:
    job = await queue.add("mail", {"fail_until": 9}, attempts=2, backoff=0.01, priority=4)
    async with running(worker(qname, redis_url)):
        await until(lambda: raw.zscore(f"bull:{qname}.dead:failed", job.id), 5, "the dead letter")
    origin = raw.hgetall(f"bull:{qname}:{job.id}")
    dead = raw.hgetall(f"bull:{qname}.dead:{job.id}")
    opts = json.loads(dead.pop("opts"))
    mark = opts.pop("deadLetter")
    assert opts == json.loads(origin["opts"])
    assert mark == {
        "queue": qname,
        "jobId": job.id,
        "attemptsMade": 2,
        "failedOn": int(origin["finishedOn"]),
    }
    for field in ("name", "data", "failedReason", "stacktrace", "atm", "ats", "processedOn", "finishedOn", "priority"):
        assert dead[field] == origin[field], field
    assert dead["failedReason"] == "broken #2" and len(json.loads(dead["stacktrace"])) == 2
    assert "parentKey" not in dead and "deid" not in dead
    assert raw.zscore(f"bull:{qname}:failed", job.id) is not None
    assert events(raw, qname)[-2:] == [
        {"event": "failed", "jobId": job.id, "failedReason": "broken #2", "prev": "active"},
        {"event": "retries-exhausted", "jobId": job.id, "attemptsMade": "2"},
    ]
    assert events(raw, qname + ".dead") == [
        {"event": "added", "jobId": job.id, "name": "mail"},
        {"event": "failed", "jobId": job.id, "failedReason": "broken #2"},
    ]
    # The dead-letter queue is a queue like any other, found by its meta key; no worker takes its jobs.
    assert raw.exists(f"bull:{qname}.dead:meta") == 1
    async with Queue(qname + ".dead", redis_url) as dead_queue:
        letter = await dead_queue.get_job(job.id)
        assert letter is not None and letter.attempts_made == 2
        assert await dead_queue.get_job_state(job.id) == "failed"


async def test_the_origins_removal_policy_applies_and_only_final_failures_go(
    queue: Queue, raw: redis.Redis, qname: str, redis_url: str
) -> None:
    removed = await queue.add("a", {"unrecoverable": True}, attempts=5, remove_on_fail=True)
    retried = await queue.add("b", {"fail_until": 1}, attempts=2)
    async with running(worker(qname, redis_url)):
        await until(lambda: raw.zscore(f"bull:{qname}:completed", retried.id), 5, "the retried job to complete")
        await until(lambda: raw.zscore(f"bull:{qname}.dead:failed", removed.id), 5, "the dead letter")
    assert raw.exists(f"bull:{qname}:{removed.id}") == 0
    assert raw.zrange(f"bull:{qname}.dead:failed", 0, -1) == [removed.id]
    assert raw.hget(f"bull:{qname}.dead:{removed.id}", "failedReason") == "cannot ever work"
    assert {"event": "failed", "jobId": removed.id, "failedReason": "cannot ever work", "prev": "active"} in events(
        raw, qname
    )


async def test_an_id_taken_in_the_dead_letter_queue_gets_a_new_one(
    queue: Queue, raw: redis.Redis, qname: str, redis_url: str
) -> None:
    job = await queue.add("a", {"unrecoverable": True})
    raw.hset(f"bull:{qname}.dead:{job.id}", mapping={"name": "older", "data": "{}", "opts": "{}", "timestamp": 1})
    async with running(worker(qname, redis_url)):
        await until(lambda: raw.zcard(f"bull:{qname}.dead:failed"), 5, "the dead letter")
    (letter,) = [str(i) for i in raw.zrange(f"bull:{qname}.dead:failed", 0, -1)]
    assert letter != job.id and raw.hget(f"bull:{qname}.dead:{letter}", "name") == "a"
    assert json.loads(raw.hget(f"bull:{qname}.dead:{letter}", "opts") or "")["deadLetter"]["jobId"] == job.id


async def test_a_dead_letter_retried_while_the_original_is_failed_retries_it_in_place(
    queue: Queue, raw: redis.Redis, qname: str, redis_url: str
) -> None:
    job = await queue.add("a", {"fail_until": 1})
    async with running(worker(qname, redis_url)):
        await until(lambda: raw.zscore(f"bull:{qname}.dead:failed", job.id), 5, "the dead letter")
        async with Queue(qname + ".dead", redis_url) as dead:
            await dead.retry_job(job.id)
        # The original runs again (its attempt count goes on, so it now succeeds).
        await until(lambda: raw.zscore(f"bull:{qname}:completed", job.id), 5, "the original to complete")
    assert raw.zcard(f"bull:{qname}:failed") == 0
    assert raw.exists(f"bull:{qname}.dead:{job.id}") == 0 and raw.zcard(f"bull:{qname}.dead:failed") == 0
    assert {"event": "waiting", "jobId": job.id, "prev": "failed"} in events(raw, qname)
    assert events(raw, qname + ".dead")[-1] == {"event": "removed", "jobId": job.id, "prev": "failed"}


async def test_a_dead_letter_whose_original_is_gone_is_added_again_under_its_id(
    queue: Queue, raw: redis.Redis, qname: str, redis_url: str
) -> None:
    jobs = [
        await queue.add("a", {"unrecoverable": True}, remove_on_fail=True, job_id="order-9", lifo=True),
        await queue.add("b", {"unrecoverable": True}, remove_on_fail=True),
    ]
    async with running(worker(qname, redis_url)):
        await until(lambda: raw.zcard(f"bull:{qname}.dead:failed") == 2, 5, "the dead letters")
    counter = int(raw.get(f"bull:{qname}:id") or 0)
    async with Queue(qname + ".dead", redis_url) as dead:
        # Their data is fixed in the dead-letter queue before they go back.
        for job in jobs:
            await dead.update_job_data(job.id, {"fixed": True})
        assert await dead.retry_jobs("failed") == 2
    for job in jobs:
        back = raw.hgetall(f"bull:{qname}:{job.id}")
        assert back["name"] == job.name and back["data"] == '{"fixed":true}'
        assert json.loads(back["opts"]) == job.opts
        assert "atm" not in back
    assert raw.lrange(f"bull:{qname}:wait", 0, -1) == [jobs[1].id, jobs[0].id]  # the lifo one runs first
    assert int(raw.get(f"bull:{qname}:id") or 0) == counter + 2
    assert raw.zcard(f"bull:{qname}.dead:failed") == 0
    assert [e["event"] for e in events(raw, qname)][-4:] == ["added", "waiting", "added", "waiting"]


async def test_a_dead_letter_whose_id_is_taken_again_comes_back_under_a_new_one(
    queue: Queue, raw: redis.Redis, qname: str, redis_url: str
) -> None:
    job = await queue.add("a", {"unrecoverable": True}, job_id="dup")
    async with running(worker(qname, redis_url)):
        await until(lambda: raw.zscore(f"bull:{qname}.dead:failed", job.id), 5, "the dead letter")
    await queue.retry_job(job.id)  # the original goes on its own, and waits
    async with Queue(qname + ".dead", redis_url) as dead:
        await dead.retry_job(job.id)
    assert raw.llen(f"bull:{qname}:wait") == 2 and raw.zcard(f"bull:{qname}.dead:failed") == 0


def test_the_dead_letter_queue_must_be_another_queue_of_the_prefix(qname: str) -> None:
    async def work(job: Job) -> None:
        return None

    with pytest.raises(ValueError, match="another queue"):
        Worker(qname, work, dead_letter_queue=qname)
    with pytest.raises(ValueError, match="dead_letter_queue: queue name: must not contain ':'"):
        Worker(qname, work, dead_letter_queue="a:b")


@contextmanager
def refusing_writes(raw: redis.Redis) -> Iterator[None]:
    """Redis refuses every write, a script's at its first (NOREPLICAS: too few replicas in sync). Unlike a
    full memory, this refuses a finish call's first write, the lock's DEL, so the call writes nothing."""
    raw.config_set("min-replicas-to-write", 1)
    try:
        yield
    finally:
        raw.config_set("min-replicas-to-write", 0)


def refused_saves(caplog: pytest.LogCaptureFixture) -> int:
    return sum("saving job results" in r.getMessage() for r in caplog.records)


async def test_a_dead_letter_move_refused_by_redis_loses_nothing_and_happens_once(
    queue: Queue, raw: redis.Redis, qname: str, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    jobs = [await queue.add("a", {}, remove_on_fail=i % 2 == 0) for i in range(4)]
    gate = asyncio.Event()

    async def work(job: Job) -> None:
        await gate.wait()
        raise UnrecoverableError("cannot ever work")

    w = Worker(qname, work, redis_url, concurrency=4, dead_letter_queue=qname + ".dead")
    errors: list[BaseException] = []
    w.on("error", errors.append)
    async with running(w):
        await until(lambda: raw.llen(f"bull:{qname}:active") == 4, 5, "the jobs to start")
        with refusing_writes(raw):
            # Each finish call is refused whole and kept to be tried again.
            gate.set()
            await until(lambda: refused_saves(caplog) >= 2, 10, "refused saves")
            assert raw.exists(f"bull:{qname}.dead:failed", f"bull:{qname}:failed") == 0
            assert raw.llen(f"bull:{qname}:active") == 4
        await until(lambda: raw.zcard(f"bull:{qname}.dead:failed") == 4, 10, "the dead letters")
    assert sorted(raw.zrange(f"bull:{qname}.dead:failed", 0, -1)) == sorted(j.id for j in jobs)
    assert sorted(raw.zrange(f"bull:{qname}:failed", 0, -1)) == sorted([jobs[1].id, jobs[3].id])
    assert raw.llen(f"bull:{qname}:active") == 0
    assert [e["event"] for e in events(raw, qname + ".dead")].count("added") == 4
    assert [e["event"] for e in events(raw, qname)].count("failed") == 4
    assert errors and all(getattr(e, "code", None) == "NOREPLICAS" for e in errors), errors


async def test_a_job_failed_when_taken_is_dead_lettered_too(
    queue: Queue, raw: redis.Redis, qname: str, redis_url: str
) -> None:
    # A failure the stalled check deferred (a job that stalled too often) is applied when a worker takes
    # the job: that failure is final too.
    job = await queue.add("mail", {})
    raw.hset(f"bull:{qname}:{job.id}", "defa", "job stalled more than allowable limit")
    async with running(worker(qname, redis_url)):
        await until(lambda: raw.zscore(f"bull:{qname}.dead:failed", job.id), 5, "the dead letter")
    dead = raw.hgetall(f"bull:{qname}.dead:{job.id}")
    assert dead["failedReason"] == "job stalled more than allowable limit"
    assert json.loads(dead["opts"])["deadLetter"]["queue"] == qname


async def test_retrying_in_bulk_sends_dead_letters_back_only_to_the_queues_named(
    queue: Queue, raw: redis.Redis, qname: str, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(3):
        await queue.add("letter", {"unrecoverable": True, "n": n})
    async with running(worker(qname, redis_url)):
        await until(lambda: raw.zcard(f"bull:{qname}.dead:failed") == 3, 5, "the dead letters")
    async with Queue(qname + ".dead", redis_url) as dead:
        own = [(await dead.add("own", {"n": n})).id for n in range(3)]

        async def fail(job: Job) -> Any:
            raise UnrecoverableError("fails here")

        async with running(Worker(qname + ".dead", fail, redis_url)):
            await until(lambda: raw.zcard(f"bull:{qname}.dead:failed") == 6, 5, "its own failures")
        # Batches of two: the dead letters kept are passed over from one call to the next.
        monkeypatch.setattr("board.engine.ops.BATCH", 2)
        assert await dead.retry_jobs("failed", send_back_to=[qname + ".other"]) == 3
        assert sorted(raw.lrange(f"bull:{qname}.dead:wait", 0, -1)) == sorted(own)
        assert raw.zcard(f"bull:{qname}.dead:failed") == 3
        assert raw.llen(f"bull:{qname}:wait") == 0
        # Sent back to the queues named, or to any when none are.
        assert await dead.retry_jobs("failed", send_back_to=[qname]) == 3
        assert raw.llen(f"bull:{qname}:wait") == 3
