"""Redis trouble: refusals (out of memory, a read-only replica, missing replicas, a busy script),
restarts, replies lost after Redis carried out the call, and job hashes whose counters are not numbers.

Everything runs against real Redis servers. The one fault Redis cannot make by itself, a reply lost
on the network after the call ran, comes from a TCP proxy between the client and a real Redis
(``proxy.py``).
"""

from __future__ import annotations

import asyncio
import functools
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import redis

from board import BoardError, Job, LockLostError, Queue, SyncQueue, Worker
from board.engine import OutcomeUnknown, RedisRefused, RedisUnavailable
from board.engine.scripts import all_scripts, script
from board.redis_server import RedisServer

from .helpers import running, until
from .proxy import CuttingProxy


@contextmanager
def out_of_memory(raw: redis.Redis) -> Iterator[None]:
    """Redis refuses every command that may use memory, as when maxmemory is reached with noeviction."""
    policy = str(raw.config_get("maxmemory-policy")["maxmemory-policy"])
    raw.config_set("maxmemory-policy", "noeviction")
    raw.config_set("maxmemory", "1")
    try:
        yield
    finally:
        raw.config_set("maxmemory", "0")
        raw.config_set("maxmemory-policy", policy)


def logged(caplog: pytest.LogCaptureFixture, *words: str) -> bool:
    return any(all(w in r.getMessage() for w in words) for r in caplog.records)


def events_of(raw: Any, qname: str) -> list[dict[str, str]]:
    return [fields for _, fields in raw.xrange(f"bull:{qname}:events")]


def foreign_job(raw: Any, qname: str, job_id: str, **extra: Any) -> None:
    """A job written straight into Redis by another program, queued to run first."""
    fields = {
        "name": job_id,
        "data": "{}",
        "opts": json.dumps({"attempts": 3}),
        "timestamp": int(time.time() * 1000),
        "delay": 0,
        "priority": 0,
        **extra,
    }
    raw.hset(f"bull:{qname}:{job_id}", mapping=fields)
    raw.rpush(f"bull:{qname}:wait", job_id)
    raw.zadd(f"bull:{qname}:marker", {"0": 0})


# Refusals at the API


async def test_a_write_refused_for_lack_of_memory_names_the_cause_and_writes_nothing(
    queue: Queue, raw: redis.Redis, qname: str, redis_url: str
) -> None:
    first = await queue.add("before", {})
    counter = raw.get(f"bull:{qname}:id")
    with out_of_memory(raw):
        with pytest.raises(RedisRefused) as caught:
            await queue.add("during", {})
        with pytest.raises(RedisRefused, match="out of memory"):
            await queue.pause()
        with SyncQueue(qname, redis_url) as sync, pytest.raises(RedisRefused, match="out of memory"):
            sync.add("during", {})
        # Reads still work.
        fetched = await queue.get_job(first.id)
        assert fetched is not None and fetched.name == "before"
    refusal = caught.value
    assert isinstance(refusal, BoardError)
    assert refusal.code == "OOM" and refusal.retryable
    assert "OOM command not allowed when used memory > 'maxmemory'" in refusal.reply  # wrapped before Redis 7
    assert str(refusal).startswith("Redis at 127.0.0.1:")
    assert "refused the call because it is out of memory" in str(refusal)
    assert raw.get(f"bull:{qname}:id") == counter
    assert raw.lrange(f"bull:{qname}:wait", 0, -1) == [first.id]
    assert await queue.is_paused() is False
    after = await queue.add("after", {})
    assert raw.lrange(f"bull:{qname}:wait", 0, -1) == [after.id, first.id]


async def test_too_few_replicas_is_a_refusal_that_says_so(queue: Queue, raw: redis.Redis, qname: str) -> None:
    raw.config_set("min-replicas-to-write", 1)
    try:
        with pytest.raises(RedisRefused, match="too few replicas") as caught:
            await queue.add("x", {})
    finally:
        raw.config_set("min-replicas-to-write", 0)
    assert caught.value.code == "NOREPLICAS" and caught.value.retryable
    assert raw.exists(f"bull:{qname}:id") == 0


async def test_a_busy_script_is_a_refusal_and_the_call_works_once_it_ends(
    queue: Queue, raw: redis.Redis, redis_url: str, qname: str
) -> None:
    threshold = str(raw.config_get("lua-time-limit")["lua-time-limit"])
    raw.config_set("lua-time-limit", 10)
    busy = redis.Redis.from_url(redis_url)
    spin = (
        "local t = redis.call('TIME') repeat local n = redis.call('TIME') until (n[1] - t[1]) * 1e6 + n[2] - t[2] > 1e6"
    )
    thread = threading.Thread(target=busy.eval, args=(spin, 0))
    try:
        thread.start()

        def is_busy() -> bool:
            try:
                raw.ping()
            except redis.ResponseError as exc:
                return str(exc).startswith("BUSY")
            return False

        await until(is_busy, 5, "the script to hold Redis")
        with pytest.raises(RedisRefused, match="busy running a long script") as caught:
            await queue.add("x", {})
    finally:
        thread.join()
        busy.close()
        raw.config_set("lua-time-limit", threshold)
    assert caught.value.code == "BUSY" and caught.value.retryable
    job = await queue.add("x", {})
    assert raw.lrange(f"bull:{qname}:wait", 0, -1) == [job.id]


async def test_other_error_replies_are_engine_errors_keeping_redis_words(
    queue: Queue, raw: redis.Redis, qname: str
) -> None:
    job = await queue.add("x", {})
    raw.set(f"bull:{qname}:{job.id}:logs", "not a list")
    with pytest.raises(RedisRefused) as caught:
        await queue.get_job_logs(job.id)
    assert caught.value.code == "WRONGTYPE" and not caught.value.retryable
    assert "answered with an error: WRONGTYPE" in str(caught.value)


# The worker through refusals


async def test_a_worker_survives_running_out_of_memory(
    redis_url: str, raw: redis.Redis, qname: str, caplog: pytest.LogCaptureFixture
) -> None:
    processed: list[str] = []
    gate = asyncio.Event()

    async def work(job: Job) -> str:
        if job.name == "held":
            await gate.wait()
        processed.append(job.id)
        return job.id

    async with Queue(qname, redis_url) as queue:
        early = await queue.add_bulk([{"name": "early", "data": i} for i in range(5)])
        worker = Worker(
            qname, work, redis_url, concurrency=2, lock_duration=1, stalled_interval=0.2, shutdown_timeout=1
        )
        errors: list[BaseException] = []
        worker.on("error", errors.append)
        with out_of_memory(raw):
            async with running(worker):
                # Started while Redis is full: taking a job and the stalled check both write, and are
                # refused again and again; the worker must report it and keep trying.
                await until(lambda: len(errors) >= 4, 10, "the worker to report several refusals")
                await until(lambda: logged(caplog, "fetching jobs", "out of memory"), 5, "a refused fetch")
                await until(lambda: logged(caplog, "stalled jobs", "out of memory"), 5, "a refused stalled check")
                assert processed == []
                raw.config_set("maxmemory", "0")
                await until(lambda: len(processed) == 5, 10, "the jobs added before to run")

                # A job held through a second spell of full memory keeps its lock (renewed every 0.5 s,
                # with PEXPIRE, which needs no memory) and is saved (a finish first deletes the lock,
                # and Redis lets a script that has written go on).
                held = await queue.add("held", {})
                await until(lambda: raw.get(f"bull:{qname}:{held.id}:lock"), 5, "the held job to start")
                raw.config_set("maxmemory", "1")
                lock = f"bull:{qname}:{held.id}:lock"
                raw.pexpire(lock, 300)  # PEXPIRE needs no memory: the worker's renewals neither
                await until(lambda: raw.pttl(lock) > 400, 5, "a renewal while full")
                gate.set()
                await until(lambda: raw.zscore(f"bull:{qname}:completed", held.id), 5, "the held job to complete")
                raw.config_set("maxmemory", "0")

                # Still taking new work, and the stalled check still runs: an orphan (active, no lock,
                # marked by an earlier check) is put back and run.
                late = await queue.add_bulk([{"name": "late", "data": i} for i in range(20)])
                foreign_job(raw, qname, "orphan")
                raw.lrem(f"bull:{qname}:wait", 0, "orphan")
                raw.lpush(f"bull:{qname}:active", "orphan")
                raw.sadd(f"bull:{qname}:stalled", "orphan")
                await until(lambda: len(processed) == 27, 10, "the late jobs and the orphan to run")
    assert all(isinstance(e, RedisRefused) and e.code == "OOM" for e in errors), errors
    assert sorted(processed) == sorted([*(j.id for j in (*early, held, *late)), "orphan"])
    assert raw.zcard(f"bull:{qname}:completed") == 27 and raw.zcard(f"bull:{qname}:failed") == 0
    assert raw.llen(f"bull:{qname}:active") == 0


@contextmanager
def read_only_failover(primary: RedisServer, spare: RedisServer) -> Iterator[None]:
    """The primary becomes a read-only replica of ``spare`` and then a primary again, keeping its data:
    the spare first copies it, writes are paused while it catches up, and only then do the roles swap."""
    main = redis.Redis(port=primary.port, decode_responses=True)
    other = redis.Redis(port=spare.port, decode_responses=True)
    delay = str(main.config_get("repl-diskless-sync-delay")["repl-diskless-sync-delay"])
    # By default a primary waits 5 s for more replicas before it sends its data to a first one.
    main.config_set("repl-diskless-sync-delay", 0)
    try:
        other.replicaof("127.0.0.1", primary.port)
        wait_until_synced(other)
        main.execute_command("CLIENT", "PAUSE", 10_000, "WRITE")
        while other.info("replication")["master_repl_offset"] != main.info("replication")["master_repl_offset"]:
            time.sleep(0.005)
        other.replicaof("NO", "ONE")
        main.replicaof("127.0.0.1", spare.port)
        main.execute_command("CLIENT", "UNPAUSE")
        wait_until_synced(main)
        yield
    finally:
        main.replicaof("NO", "ONE")
        main.config_set("repl-diskless-sync-delay", delay)
        main.close()
        other.close()


def wait_until_synced(replica: redis.Redis) -> None:
    deadline = time.monotonic() + 10
    while replica.info("replication").get("master_link_status") != "up":
        assert time.monotonic() < deadline, "the replica did not sync"
        time.sleep(0.01)


@pytest.mark.timeout(60)
async def test_a_worker_survives_a_read_only_failover(
    redis_server: RedisServer, redis_url: str, raw: redis.Redis, qname: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Measured before: after a 5 s read-only spell, 10 jobs stayed active and no new job ran."""
    processed: list[str] = []
    gates: dict[str, asyncio.Event] = {}

    async def work(job: Job) -> str:
        if job.name == "held":
            await gates.setdefault(job.id, asyncio.Event()).wait()
        processed.append(job.id)
        return job.id

    # Locks renewed every 2 s: the read-only spell below lasts until a renewal was refused, and the
    # locks must outlive it.
    worker = Worker(qname, work, redis_url, concurrency=4, lock_duration=4, stalled_interval=0.5, shutdown_timeout=1)
    errors: list[BaseException] = []
    worker.on("error", errors.append)
    async with Queue(qname, redis_url) as queue, running(worker):
        held = await queue.add_bulk([{"name": "held", "data": i} for i in range(4)])
        await until(lambda: raw.llen(f"bull:{qname}:active") == 4, 5, "four held jobs")
        with RedisServer() as spare, read_only_failover(redis_server, spare):
            with pytest.raises(RedisRefused, match="read-only replica") as refused:
                await queue.add("refused", {})
            # Two jobs finish while Redis is read-only: saving is refused, and so is taking
            # more work for the slots they free; the two others keep running.
            for job in held[:2]:
                gates.setdefault(job.id, asyncio.Event()).set()
            for doing in ("saving job results", "fetching jobs", "renewing locks", "stalled jobs"):
                await until(functools.partial(logged, caplog, doing, "read-only"), 10, f"a refusal while {doing}")
        # Writable again: the saved-late results, the still-running jobs and new work all go through.
        for job in held[2:]:
            gates.setdefault(job.id, asyncio.Event()).set()
        late = await queue.add_bulk([{"name": "late", "data": i} for i in range(20)])
        await until(lambda: raw.zcard(f"bull:{qname}:completed") == 24, 15, "every job to complete")
    assert refused.value.code == "READONLY"
    assert sorted(processed) == sorted(j.id for j in (*held, *late))  # each job ran exactly once
    assert raw.llen(f"bull:{qname}:active") == 0 and raw.zcard(f"bull:{qname}:failed") == 0
    assert raw.keys(f"bull:{qname}:*:lock") == []
    assert errors and all(isinstance(e, RedisRefused | RedisUnavailable) for e in errors), errors
    assert any(isinstance(e, RedisRefused) and e.code == "READONLY" for e in errors)


# A job hash that another program broke


@pytest.mark.parametrize("field", ["ats", "atm", "stc"])
async def test_a_job_whose_counter_is_not_a_number_fails_alone(
    queue: Queue, redis_url: str, raw: redis.Redis, qname: str, field: str
) -> None:
    """Measured before: one bad ``ats`` stopped a queue of 8 good jobs."""
    foreign_job(raw, qname, "bad", **{field: "abc"})
    good = await queue.add_bulk([{"name": "good", "data": i} for i in range(8)])
    processed: list[str] = []

    async def work(job: Job) -> None:
        processed.append(job.id)

    worker = Worker(qname, work, redis_url, concurrency=3)
    errors: list[BaseException] = []
    worker.on("error", errors.append)
    async with running(worker):
        await until(lambda: raw.zcard(f"bull:{qname}:completed") == 8 and raw.zcard(f"bull:{qname}:failed") == 1)
    assert sorted(processed) == sorted(j.id for j in good)
    assert raw.hget(f"bull:{qname}:bad", "failedReason") == f"job hash is malformed ({field} is not an integer: 'abc')"
    assert raw.zscore(f"bull:{qname}:failed", "bad") is not None
    assert raw.exists(f"bull:{qname}:bad:lock") == 0 and raw.llen(f"bull:{qname}:active") == 0
    assert errors == []


# Restarts


@pytest.mark.timeout(60)
async def test_the_first_call_after_a_restart_fails_nothing(qname: str) -> None:
    with RedisServer(appendonly=True) as server:
        processed: list[str] = []
        gate = asyncio.Event()

        async def work(job: Job) -> str:
            await gate.wait()
            processed.append(job.id)
            return "done"

        worker = Worker(qname, work, server.url, lock_duration=5, shutdown_timeout=1)
        errors: list[BaseException] = []
        worker.on("error", errors.append)
        async with Queue(qname, server.url) as queue, running(worker):
            sync = SyncQueue(qname, server.url)
            try:
                running_job = await queue.add("running", {})
                sync.add("before", {})
                watcher = redis.Redis(port=server.port)
                await until(lambda: watcher.llen(f"bull:{qname}:active") == 1, 5, "the job to start")
                watcher.close()
                # Synchronous: the event loop does not run while Redis restarts, so the open
                # connections learn that Redis closed them only when they are next used.
                server.restart()
                added = await queue.add("after", {})
                sync_added = sync.add("after", {})
                assert (await queue.get_job(added.id)) is not None
                assert sync.get_job_state(sync_added.id) == "waiting"
                gate.set()
                await until(lambda: len(processed) == 4, 10, "every job to run")
                server.restart()
                assert await queue.pause() is True
                assert sync.is_paused() is True
            finally:
                sync.close()

            # The last result may have been on its way when Redis went: it is saved after.
            async def all_saved() -> dict[str, int] | None:
                counts = await queue.get_job_counts("completed", "failed", "active")
                return counts if counts["completed"] + counts["failed"] == 4 else None

            counts = await until(all_saved, 10, "the last result to be saved")
        assert counts == {"completed": 4, "failed": 0, "active": 0}
        assert processed.count(running_job.id) == 1
        assert not any(isinstance(e, LockLostError) for e in errors), errors


async def test_an_add_to_a_redis_that_stays_down_is_unavailable_and_wrote_nothing(qname: str) -> None:
    with RedisServer(appendonly=True) as server:
        async with Queue(qname, server.url) as queue:
            await queue.add("a", {})
            server.stop()
            with pytest.raises(RedisUnavailable, match="is unavailable"):
                await queue.add("b", {})
            server.start()
            job = await queue.add("c", {})
        assert job.id == "2"  # the refused add did not take an id


# Replies lost after Redis carried out the call


@pytest.fixture
def proxy(redis_server: RedisServer, raw: redis.Redis) -> Iterator[CuttingProxy]:
    # Loaded first, so that the reply cut is the call's own, never a NOSCRIPT answer before it ran.
    for loaded in all_scripts():
        raw.script_load(loaded.source)
    with CuttingProxy(redis_server.port) as p:
        yield p


def sha(name: str) -> bytes:
    return script(name).sha.encode()


async def test_an_add_whose_reply_is_lost_is_not_sent_again(proxy: CuttingProxy, raw: redis.Redis, qname: str) -> None:
    async with Queue(qname, proxy.url) as queue:
        first = await queue.add("first", {})  # loads the script: the next add runs at once
        proxy.cut_reply_to(sha("add_job"))
        with pytest.raises(OutcomeUnknown) as caught:
            await queue.add("welcome", {"to": "ada"})
    assert proxy.cuts == 1
    message = str(caught.value)
    assert "the add of job 'welcome' may or may not have been written" in message
    assert "job_id" in message and "always safe to retry" in message
    # Redis did add it, once: the engine did not send it again.
    assert raw.get(f"bull:{qname}:id") == "2"
    assert raw.lrange(f"bull:{qname}:wait", 0, -1) == ["2", first.id]
    assert json.loads(raw.hget(f"bull:{qname}:2", "data") or "") == {"to": "ada"}


async def test_a_sync_add_whose_reply_is_lost_is_not_sent_again(
    proxy: CuttingProxy, raw: redis.Redis, qname: str
) -> None:
    with SyncQueue(qname, proxy.url) as queue:
        queue.add("first", {})
        proxy.cut_reply_to(sha("add_job"))
        with pytest.raises(OutcomeUnknown, match="may or may not have been written"):
            queue.add("welcome", {})
    assert proxy.cuts == 1
    assert raw.get(f"bull:{qname}:id") == "2" and raw.llen(f"bull:{qname}:wait") == 2


async def test_an_add_with_a_job_id_whose_reply_is_lost_is_retried_and_makes_one_job(
    proxy: CuttingProxy, raw: redis.Redis, qname: str, redis_url: str
) -> None:
    async with Queue(qname, proxy.url) as queue:
        await queue.add("first", {})
        proxy.cut_reply_to(sha("add_job"))
        job = await queue.add("charge", {"amount": 5}, job_id="invoice-7")
        assert job.id == "invoice-7" and job.data == {"amount": 5}
        proxy.cut_reply_to(sha("add_jobs"))
        bulk = await queue.add_bulk([{"name": "b", "data": i, "job_id": f"bulk-{i}"} for i in range(3)])
        assert [j.id for j in bulk] == ["bulk-0", "bulk-1", "bulk-2"]
        proxy.cut_reply_to(sha("add_jobs"))
        with pytest.raises(OutcomeUnknown, match="the add of 2 jobs"):
            await queue.add_bulk([{"name": "c", "job_id": "mixed"}, {"name": "auto"}])
    with SyncQueue(qname, proxy.url) as sync:
        proxy.cut_reply_to(sha("add_job"))
        assert sync.add("charge", {"amount": 6}, job_id="invoice-8").id == "invoice-8"
    assert proxy.cuts == 4
    wait = raw.lrange(f"bull:{qname}:wait", 0, -1)
    for job_id in ("invoice-7", "invoice-8", "bulk-0", "bulk-1", "bulk-2", "mixed"):
        assert wait.count(job_id) == 1
    # The first try was written, so the retry found the job and wrote nothing.
    duplicated = [f["jobId"] for f in events_of(raw, qname) if f["event"] == "duplicated"]
    assert sorted(duplicated) == ["bulk-0", "bulk-1", "bulk-2", "invoice-7", "invoice-8"]


async def test_reads_and_repeatable_calls_whose_reply_is_lost_are_retried(
    proxy: CuttingProxy, raw: redis.Redis, qname: str
) -> None:
    async with Queue(qname, proxy.url) as queue:
        job = await queue.add("a", {})
        await queue.get_job_counts()
        proxy.cut_reply_to(sha("get_counts"))
        assert (await queue.get_job_counts("wait")) == {"wait": 1}
        proxy.cut_reply_to(sha("pause"))
        await queue.pause()
        assert raw.hexists(f"bull:{qname}:meta", "paused")
        proxy.cut_reply_to(sha("remove_job"))
        with pytest.raises(OutcomeUnknown):
            await queue.remove(job.id)
    assert proxy.cuts == 3
    assert raw.exists(f"bull:{qname}:{job.id}") == 0  # the removal had run


@pytest.mark.timeout(60)
async def test_a_worker_whose_finish_reply_is_lost_finishes_nothing_twice_and_loses_nothing(
    proxy: CuttingProxy, raw: redis.Redis, qname: str
) -> None:
    processed: list[str] = []

    async def work(job: Job) -> str:
        processed.append(job.id)
        return job.id

    async with Queue(qname, proxy.url) as queue:
        jobs = await queue.add_bulk([{"name": "j", "data": i} for i in range(6)])
        # Locks last a minute: a job stranded by the lost reply could only come back by a stalled check
        # after that, long past this test's timeout.
        worker = Worker(qname, work, proxy.url, lock_duration=60, stalled_interval=60)
        errors: list[BaseException] = []
        worker.on("error", errors.append)
        proxy.cut_reply_to(sha("finish_jobs"))
        async with running(worker):
            await until(lambda: raw.zcard(f"bull:{qname}:completed") == 6, 20, "every job to complete")
    assert proxy.cuts == 1
    assert sorted(processed) == sorted(j.id for j in jobs)  # each ran once
    assert [type(e) for e in errors] == [OutcomeUnknown]
    for job in jobs:
        assert raw.hmget(f"bull:{qname}:{job.id}", "atm", "ats", "stc") == ["1", "1", None]
    # The job that the lost call had taken was handed back, not left to a stalled check.
    events = events_of(raw, qname)
    assert [f["event"] == "waiting" and f.get("prev") == "active" for f in events].count(True) == 1


# Backoff types at the API


async def test_an_undeclared_backoff_type_is_refused_before_anything_is_written(
    redis_url: str, raw: redis.Redis, qname: str
) -> None:
    async with Queue(qname, redis_url) as queue:
        with pytest.raises(ValueError, match="did you mean 'exponential'"):
            await queue.add("x", {}, attempts=3, backoff={"type": "exponentail", "delay": 2})
        with pytest.raises(ValueError, match="backoff_types=\\['linear'\\]"):
            await queue.add_bulk([{"name": "x", "backoff": {"type": "linear", "delay": 1}}])
    with SyncQueue(qname, redis_url) as sync, pytest.raises(ValueError, match="unknown type 'linear'"):
        sync.add("x", {}, backoff={"type": "linear", "delay": 1})
    assert raw.keys(f"bull:{qname}:*") == []
    async with Queue(qname, redis_url, backoff_types=["linear"]) as declared:
        job = await declared.add("x", {}, attempts=3, backoff={"type": "linear", "delay": 1})
    with SyncQueue(qname, redis_url, backoff_types=("linear",)) as sync:
        sync.add("y", {}, backoff={"type": "linear", "delay": 1})
    assert json.loads(raw.hget(f"bull:{qname}:{job.id}", "opts") or "")["backoff"] == {"type": "linear", "delay": 1000}


@pytest.mark.parametrize(
    ("reply", "code"),
    [
        # Redis 6.2 wraps a refusal met inside a script; Redis 7 sends it as it is.
        (
            "Error running script (call to f_ab12): @user_script:12: @user_script: 12: -READONLY You can't write "
            "against a read only replica.",
            "READONLY",
        ),
        (
            "Error running script (call to f_ab12): @user_script:13: @user_script: 13: -OOM command not allowed "
            "when used memory > 'maxmemory'.",
            "OOM",
        ),
        ("NOREPLICAS Not enough good replicas to write.", "NOREPLICAS"),
        ("WRONGTYPE Operation against a key holding the wrong kind of value", "WRONGTYPE"),
        ("Error running script (call to f_ab12): @user_script:1: user_script:1: attempt to compare -x", "ERR"),
    ],
)
def test_refusals_are_named_whichever_redis_version_wrapped_them(reply: str, code: str) -> None:
    from redis.exceptions import ResponseError

    from board.engine.connection import reply_text

    assert reply_text(ResponseError(reply))[0] == code
