"""Reliability: a worker killed mid-batch, a Redis restart under load, and bad input at the API edge.

Every wait polls Redis against a deadline; subprocesses and private servers are always torn down.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import redis

from board import Job, Queue, RedisUnavailable, SyncJob, Worker
from board.engine import OutcomeUnknown
from board.engine import worker as worker_module
from board.redis_server import RedisServer
from tests.engine.helpers import running
from tests.support import until as wait_until

SLOW_WORKER = Path(__file__).parent / "workers" / "slow_worker.py"


@pytest.mark.timeout(60)
async def test_sigterm_lets_running_jobs_finish_and_leaves_nothing_locked(
    spawn: Callable[..., Awaitable[WorkerProcess]], redis_url: str, raw: redis.Redis, qname: str
) -> None:
    queue = Queue(qname, redis_url)
    try:
        worker = await spawn(redis_url, qname, 1500)
        await worker.ready()
        await queue.add_bulk([{"name": "slow", "data": i} for i in range(3)])
        await wait_until(lambda: raw.llen(f"bull:{qname}:active") == 3, 10, "three jobs active")
        worker.proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(worker.proc.wait(), 20) == 0
        assert raw.zcard(f"bull:{qname}:completed") == 3
        assert raw.llen(f"bull:{qname}:active") == 0
        assert raw.keys(f"bull:{qname}:*:lock") == []
    finally:
        await queue.close()


@pytest.mark.timeout(60)
async def test_sigterm_never_hands_back_a_job_whose_thread_still_runs(
    redis_url: str, raw: redis.Redis, qname: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plain function runs in a thread, which nothing can stop: before, its job was handed back at
    shutdown_timeout while the thread went on, and another worker ran it at the same time."""
    monkeypatch.setattr(worker_module, "_STILL_WAITING_EVERY", 0.2)
    started, release = threading.Event(), threading.Event()

    def slow(job: SyncJob) -> str:
        started.set()
        release.wait(30)
        return "finished"

    seen_by_other: list[str] = []

    async def other(job: Job) -> None:
        seen_by_other.append(job.id)

    first = Worker(qname, slow, redis_url, lock_duration=0.5, stalled_interval=0.2, shutdown_timeout=0.1)
    second = Worker(qname, other, redis_url, lock_duration=0.5, stalled_interval=0.2, handle_signals=False)
    lock = f"bull:{qname}:1:lock"
    async with Queue(qname, redis_url) as queue:
        job = await queue.add("slow", {})
        run = asyncio.create_task(first.run())
        try:
            await wait_until(started.is_set, 10, "the thread to start")
            os.kill(os.getpid(), signal.SIGTERM)  # the worker's own handler: it starts closing

            def waiting() -> list[str]:
                return [r.getMessage() for r in caplog.records if "still waiting" in r.getMessage()]

            await wait_until(waiting, 5, "the worker to say, past its timeout, what it waits for")
            async with running(second):
                # Past the shutdown timeout, and then over several lock lifetimes while another worker
                # checks for stalled jobs every 0.2 s: the lock must be renewed, the job left alone.
                renewals = 0
                last = raw.pttl(lock)
                while renewals < 4:
                    ttl = raw.pttl(lock)
                    assert ttl > 0, "the lock of a job whose thread still runs ran out"
                    renewals += ttl > last
                    last = ttl
                    await asyncio.sleep(0.01)
                assert str(raw.get(lock)).startswith(first.id + ":")
                assert await queue.get_job_state(job.id) == "active"
                assert raw.lrange(f"bull:{qname}:wait", 0, -1) == []
                assert seen_by_other == []
                waits = waiting()
                assert len(waits) >= 2, waits  # at the timeout, then again
                assert "1 job(s) whose code is running in threads" in waits[0] and waits[0].endswith(": 1")
                release.set()
                await asyncio.wait_for(run, 10)
        finally:
            release.set()
            if not run.done():
                await first.close()
            await run
        done = await queue.get_job(job.id)
    assert done is not None and done.returnvalue == "finished"
    assert done.attempts_started == 1 and done.stalled_counter == 0
    assert seen_by_other == []
    assert raw.exists(lock) == 0


# a. A worker process is SIGKILLed in the middle of the run.


class WorkerProcess:
    def __init__(self, proc: asyncio.subprocess.Process, log: Path) -> None:
        self.proc = proc
        self.log = log
        self.worker_id = ""
        self.pid = proc.pid

    async def ready(self, timeout: float = 20) -> None:
        assert self.proc.stdout is not None
        try:
            line = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        except TimeoutError:
            raise AssertionError(f"worker {self.pid} did not start: {self.log.read_text()}") from None
        parts = line.decode().split()
        assert parts[:1] == ["ready"], f"unexpected worker output {line!r}: {self.log.read_text()}"
        self.worker_id = parts[1]
        assert int(parts[2]) == self.pid

    async def stop(self) -> None:
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


@pytest.fixture
async def spawn(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[WorkerProcess]]]:
    started: list[WorkerProcess] = []

    async def start(url: str, queue: str, sleep_ms: int = 20) -> WorkerProcess:
        log = tmp_path / f"worker-{len(started)}.log"
        with log.open("wb") as err:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                str(SLOW_WORKER),
                url,
                queue,
                str(sleep_ms),
                stdout=asyncio.subprocess.PIPE,
                stderr=err,
            )
        worker = WorkerProcess(proc, log)
        started.append(worker)
        return worker

    yield start
    for worker in started:
        await worker.stop()


@pytest.mark.timeout(60)
async def test_sigkilled_worker_jobs_are_recovered(
    redis_url: str, raw: redis.Redis, qname: str, spawn: Callable[[str, str], Awaitable[WorkerProcess]]
) -> None:
    total = 1000
    victim = await spawn(redis_url, qname)
    survivor = await spawn(redis_url, qname)
    await asyncio.gather(victim.ready(), survivor.ready())

    async with Queue(qname, redis_url) as queue:
        jobs = await queue.add_bulk([{"name": "slow", "data": {"n": i}} for i in range(total)])
    ids = {job.id for job in jobs}
    assert len(ids) == total

    completed_key = f"bull:{qname}:completed"
    await wait_until(lambda: raw.zcard(completed_key) >= 250, 20, "250 completed jobs before the kill")

    # Freeze the victim first, so that the jobs it holds cannot change while we look at them.
    os.kill(victim.pid, signal.SIGSTOP)
    orphans: list[str] = []
    for job_id in map(str, raw.lrange(f"bull:{qname}:active", 0, -1)):
        token = raw.get(f"bull:{qname}:{job_id}:lock")
        if token is not None and str(token).startswith(victim.worker_id + ":"):
            orphans.append(job_id)
    os.kill(victim.pid, signal.SIGKILL)
    assert await asyncio.wait_for(victim.proc.wait(), 10) == -signal.SIGKILL
    assert orphans, "the killed worker held no active job; the test proves nothing"
    done_before_kill = raw.zcard(completed_key)
    assert done_before_kill < total, "every job finished before the kill; the test proves nothing"

    await wait_until(lambda: raw.zcard(completed_key) >= total, 40, f"all {total} jobs to complete")
    await asyncio.sleep(0.3)  # nothing more should happen

    async with Queue(qname, redis_url) as queue:
        counts = await queue.get_job_counts()
        assert counts == {
            "wait": 0,
            "paused": 0,
            "active": 0,
            "delayed": 0,
            "prioritized": 0,
            "waiting-children": 0,
            "completed": total,
            "failed": 0,
        }, survivor.log.read_text()
        assert set(raw.zrange(completed_key, 0, -1)) == ids
        pids = set()
        for job_id in ids:
            job = await queue.get_job(job_id)
            assert job is not None
            assert job.returnvalue["id"] == job_id
            pids.add(job.returnvalue["pid"])
        # The orphans waited out their locks, were found by the survivor's stalled check, and ran there.
        for job_id in orphans:
            job = await queue.get_job(job_id)
            assert job is not None
            assert job.returnvalue["pid"] == survivor.pid, job_id
            assert job.stalled_counter == 1, job_id
            assert job.attempts_started == 2, job_id
            assert job.attempts_made == 1, job_id
            assert raw.exists(f"bull:{qname}:{job_id}:lock") == 0
        assert pids == {victim.pid, survivor.pid}
    assert survivor.proc.returncode is None, "the surviving worker died"


# b. Redis restarts (append-only file) while a producer and a worker are running.


@pytest.mark.timeout(60)
async def test_redis_restart_loses_no_acknowledged_job(qname: str) -> None:
    with RedisServer(appendonly=True) as server:
        url = server.url
        processed: set[str] = set()

        async def process(job: Job) -> str:
            await asyncio.sleep(0.002)
            processed.add(job.id)
            return job.id

        worker = Worker(qname, process, url, concurrency=5, lock_duration=5, stalled_interval=1, block_timeout=1)
        worker_errors: list[BaseException] = []
        worker.on("error", worker_errors.append)
        run = asyncio.create_task(worker.run())
        queue = Queue(qname, url)

        acked: list[str] = []
        outage_errors: list[RedisUnavailable] = []
        unknown: list[int] = []
        stop = asyncio.Event()

        async def produce() -> None:
            n = 0
            while not stop.is_set():
                try:
                    job = await queue.add("job", {"n": n})
                except RedisUnavailable as exc:
                    # Promised not written: the same add is sent again, and must not make a second job.
                    outage_errors.append(exc)
                    await asyncio.sleep(0.05)
                    continue
                except OutcomeUnknown:
                    # Sent while Redis went down: it may exist. Not retried, so n is used at most once.
                    unknown.append(n)
                    n += 1
                    continue
                acked.append(job.id)
                n += 1
                await asyncio.sleep(0.003)

        producer = asyncio.create_task(produce())
        try:
            await wait_until(lambda: len(acked) >= 100, 15, "100 adds before the first restart")
            await asyncio.to_thread(server.restart)  # a quick bounce
            at_bounce = len(acked)
            await wait_until(lambda: len(acked) >= at_bounce + 100, 15, "100 adds after the quick restart")
            # A restart with a held outage, so that the producer certainly sees Redis gone.
            await asyncio.to_thread(server.stop)
            errors_before = len(outage_errors)
            await wait_until(lambda: len(outage_errors) > errors_before, 10, "an add to fail during the outage")
            await asyncio.sleep(0.5)
            await asyncio.to_thread(server.start)
            at_restart = len(acked)
            await wait_until(lambda: len(acked) >= at_restart + 100, 15, "100 adds after the restart")
            stop.set()
            await asyncio.wait_for(producer, 10)

            assert outage_errors, "no add failed while Redis was down"
            assert all("unavailable" in str(e) for e in outage_errors), outage_errors[:3]
            assert len(set(acked)) == len(acked)

            client = redis.Redis.from_url(url, decode_responses=True)
            try:

                def missing() -> list[str]:
                    pipe = client.pipeline(transaction=False)
                    for job_id in acked:
                        pipe.zscore(f"bull:{qname}:completed", job_id)
                    return [job_id for job_id, score in zip(acked, pipe.execute(), strict=True) if score is None]

                deadline = time.monotonic() + 30
                while missing() and time.monotonic() < deadline:
                    await asyncio.sleep(0.1)
                lost = missing()
                states = {job_id: await queue.get_job_state(job_id) for job_id in lost[:20]}
                assert lost == [], f"{len(lost)} acknowledged jobs did not complete; states: {states}"
                assert client.zcard(f"bull:{qname}:failed") == 0
                assert set(acked) <= processed
                # No add was written twice: every payload is in at most one job, the acknowledged ones
                # in exactly one.
                ids = [str(job_id) for job_id in client.zrange(f"bull:{qname}:completed", 0, -1)]
                pipe = client.pipeline(transaction=False)
                for job_id in ids:
                    pipe.hget(f"bull:{qname}:{job_id}", "data")
                payloads = [json.loads(data)["n"] for data in pipe.execute()]
                assert len(payloads) == len(set(payloads)), "an add was written twice"
                assert len(ids) <= len(acked) + len(unknown)
            finally:
                client.close()
        finally:
            stop.set()
            producer.cancel()
            await asyncio.gather(producer, return_exceptions=True)
            await worker.close(timeout=5)
            await asyncio.wait_for(run, 10)
            await queue.close()


async def _idle_worker_through_an_outage(qname: str) -> tuple[list[BaseException], list[str]]:
    """An idle worker (blocked on the marker) while Redis goes away for a moment and comes back.
    Returns what its error hook got, and the ids it processed after the restart."""
    with RedisServer() as server:
        processed: list[str] = []

        async def process(job: Job) -> None:
            processed.append(job.id)

        worker = Worker(qname, process, server.url, block_timeout=5)
        errors: list[BaseException] = []
        worker.on("error", errors.append)
        run = asyncio.create_task(worker.run())
        try:
            await asyncio.sleep(0.5)  # idle: blocked in BZPOPMIN
            await asyncio.to_thread(server.stop)
            await wait_until(lambda: bool(errors), 10, "the worker to report the outage")
            await asyncio.to_thread(server.start)
            async with Queue(qname, server.url) as queue:
                job = await queue.add("after", {})
                await wait_until(lambda: job.id in processed, 15, "the worker to take a job after the restart")
        finally:
            if server.process is None:
                server.start()
            await worker.close(timeout=5)
            await asyncio.wait_for(run, 10)
        return errors, processed


@pytest.mark.timeout(40)
async def test_idle_worker_reconnects_after_an_outage(qname: str) -> None:
    errors, processed = await _idle_worker_through_an_outage(qname)
    assert processed == ["1"]
    assert errors


@pytest.mark.timeout(40)
async def test_worker_reports_an_outage_as_redis_unavailable(qname: str) -> None:
    errors, _ = await _idle_worker_through_an_outage(qname)
    assert errors
    kinds = [f"{type(e).__module__}.{type(e).__name__}: {e}" for e in errors]
    assert all(isinstance(e, RedisUnavailable) for e in errors), kinds


# c. Bad input.


def snapshot(raw: redis.Redis) -> dict[str, Any]:
    """Everything in the (test-private) database, to show that a refused call wrote nothing."""
    out: dict[str, Any] = {}
    for key in sorted(map(str, raw.keys("*"))):
        kind = raw.type(key)
        if kind == "string":
            out[key] = raw.get(key)
        elif kind == "hash":
            out[key] = raw.hgetall(key)
        elif kind == "list":
            out[key] = raw.lrange(key, 0, -1)
        elif kind == "zset":
            out[key] = raw.zrange(key, 0, -1, withscores=True)
        elif kind == "set":
            out[key] = sorted(raw.smembers(key))
        elif kind == "stream":
            out[key] = raw.xrange(key)
        else:
            out[key] = kind
    return out


async def test_unknown_option_is_refused_and_writes_nothing(queue: Queue, raw: redis.Redis, qname: str) -> None:
    await queue.add("first", {"n": 1})
    before = snapshot(raw)
    assert raw.get(f"bull:{qname}:id") == "1"
    with pytest.raises(ValueError, match="jobid"):
        await queue.add("x", {}, jobid="abc")  # type: ignore[call-arg]
    with pytest.raises(ValueError, match=r"removeOnComplete"):
        await queue.add("x", {}, removeOnComplete=True)  # type: ignore[call-arg]
    assert snapshot(raw) == before
    assert raw.get(f"bull:{qname}:id") == "1"


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("delay", -1),
        ("delay", float("nan")),
        ("delay", "5"),
        ("priority", 2**21),
        ("priority", -1),
        ("priority", 1.5),
        ("attempts", -1),
        ("backoff", {"type": "fixed"}),
        ("backoff", {"type": "exponential", "delay": -1}),
        ("backoff", {"type": "fixed", "delay": 1, "jitter": 2}),
        ("backoff", {"typ": "fixed", "delay": 1}),
        ("backoff", "soon"),
        ("backoff", lambda attempts: 1),
        ("remove_on_complete", "yes"),
        ("remove_on_complete", -1),
        ("remove_on_complete", {"ages": 10}),
        ("remove_on_complete", {}),
        ("remove_on_fail", {"count": -2}),
        ("job_id", "12"),
        ("job_id", "a:b"),
        ("lifo", "yes"),
    ],
)
async def test_wrong_option_value_names_the_option(
    queue: Queue, raw: redis.Redis, qname: str, option: str, value: Any
) -> None:
    before = snapshot(raw)
    with pytest.raises(ValueError, match=option.split(".")[0]):
        await queue.add("x", {"n": 1}, **{option: value})
    assert snapshot(raw) == before
    assert raw.get(f"bull:{qname}:id") is None


@pytest.mark.parametrize("data", [{"when": object()}, {1, 2}, {"x": float("nan")}, b"bytes", {"t": (1, 2j)}])
async def test_non_json_data_is_a_type_error_and_writes_nothing(
    queue: Queue, raw: redis.Redis, qname: str, data: Any
) -> None:
    await queue.add("first", {"n": 1})
    before = snapshot(raw)
    with pytest.raises(TypeError, match="JSON"):
        await queue.add("x", data)
    with pytest.raises(TypeError, match="JSON"):
        await queue.add_bulk([{"name": "ok", "data": {"n": 2}}, {"name": "x", "data": data}])
    assert snapshot(raw) == before
    assert raw.get(f"bull:{qname}:id") == "1"


@pytest.mark.parametrize("data", ["\udcff", {"k\udc80": 1}, "\ud800"], ids=["escaped-byte", "in-key", "lone-high"])
async def test_data_with_lone_surrogates_is_a_type_error_and_writes_nothing(
    queue: Queue, raw: redis.Redis, qname: str, data: Any
) -> None:
    """A lone surrogate is not Unicode text and has no UTF-8 form: like any other non-JSON data it must be
    refused with a TypeError before anything is written (today it is stored as broken bytes)."""
    await queue.add("first", {"n": 1})
    before = snapshot(raw)
    with pytest.raises(TypeError, match="JSON"):
        await queue.add("x", data)
    assert snapshot(raw) == before


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("data", '{"n": 1,,}', ("data", "JSON")),
        ("data", "{not json", ("data", "JSON")),
        ("opts", '{"attempts": 3', ("opts", "JSON")),
        ("data", b'"\xff\xfe"', ("data", "UTF-8")),
    ],
)
async def test_worker_fails_a_job_with_broken_json_and_goes_on(
    redis_url: str, queue: Queue, raw: redis.Redis, qname: str, field: str, value: str | bytes, words: tuple[str, ...]
) -> None:
    base = f"bull:{qname}:"
    now = int(time.time() * 1000)
    fields: dict[Any, Any] = {
        "name": "bad",
        "data": json.dumps({"n": 1}),
        "opts": json.dumps({"attempts": 3}),
        "timestamp": now,
        "delay": 0,
        "priority": 0,
    }
    fields[field] = value
    raw.hset(base + "bad-1", mapping=fields)
    raw.lpush(base + "wait", "bad-1")
    raw.zadd(base + "marker", {"0": 0})
    good_before = await queue.add("good", {"n": 2})  # behind the bad job in wait

    processed: list[str] = []

    async def process(job: Job) -> Any:
        processed.append(job.id)
        return {"doubled": job.data["n"] * 2}

    worker = Worker(qname, process, redis_url, block_timeout=1)
    errors: list[BaseException] = []
    worker.on("error", errors.append)
    run = asyncio.create_task(worker.run())
    try:

        async def finished(job_id: str) -> bool:
            return await queue.get_job_state(job_id) in ("completed", "failed")

        await wait_until(lambda: finished("bad-1"), 10, "the broken job to fail")
        await wait_until(lambda: finished(good_before.id), 10, "the good job behind it to complete")
        good_after = await queue.add("good", {"n": 3})
        await wait_until(lambda: finished(good_after.id), 10, "a good job added later to complete")
    finally:
        await worker.close(timeout=5)
        await asyncio.wait_for(run, 10)

    bad = await queue.get_job("bad-1")
    assert bad is not None
    assert await queue.get_job_state("bad-1") == "failed"
    assert bad.failed_reason is not None
    assert all(word in bad.failed_reason for word in words), bad.failed_reason
    assert bad.attempts_made == 1  # broken data does not get better on a retry
    assert bad.finished_on is not None
    assert raw.exists(base + "bad-1:lock") == 0
    assert "bad-1" not in processed  # the processor never saw it
    for job, expected in ((good_before, 4), (good_after, 6)):
        state = await queue.get_job_state(job.id)
        fresh = await queue.get_job(job.id)
        assert state == "completed" and fresh is not None and fresh.returnvalue == {"doubled": expected}
    assert processed == [good_before.id, good_after.id]
    assert errors == []
    assert await queue.get_job_counts("wait", "active", "failed", "completed") == {
        "wait": 0,
        "active": 0,
        "failed": 1,
        "completed": 2,
    }


async def _noop(job: Job) -> None:
    return None


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"concurrency": 0}, "concurrency"),
        ({"concurrency": -3}, "concurrency"),
        ({"concurrency": 2.5}, "concurrency"),
        ({"limiter": {"max": 0, "duration": 1}}, "limiter"),
        ({"limiter": {"max": 5}}, "limiter"),
        ({"limiter": {"max": 5, "duration": 0}}, "limiter"),
        ({"lock_duration": 0}, "lock_duration"),
        ({"stalled_interval": -1}, "stalled_interval"),
        ({"max_stalled_count": -1}, "max_stalled_count"),
        ({"name": "has space"}, "name"),
    ],
)
def test_worker_bad_options_name_the_option(redis_url: str, qname: str, options: dict[str, Any], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        Worker(qname, _noop, redis_url, **options)


def test_worker_needs_a_callable_processor(redis_url: str, qname: str) -> None:
    with pytest.raises(ValueError, match="processor"):
        Worker(qname, "not a function", redis_url)  # type: ignore[arg-type]
