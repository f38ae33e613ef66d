"""Many worker processes on one queue: 8 real processes (tests/workers/counting_worker.py) share a queue of
50,000 jobs and each job is completed once.

The queue is filled while paused and resumed once every process is connected, so all of them race for the
same jobs from the start. Each run of a job leaves a side effect (HINCRBY of the job's field, and the
name of the process that ran it): a job taken by two processes, or run again after losing its lock,
would show a count of 2, or a ``processedBy`` on its hash that differs from the process that ran it.
Nothing is shared between the processes but Redis.

The harness (fill, start, wait, stop, check) is shared with tests/cluster/test_many_workers_cluster.py.
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from redis.cluster import RedisCluster

from board import Queue
from tests.workers.counting_worker import effects_key, ran_by_key

COUNTING_WORKER = Path(__file__).parent / "workers" / "counting_worker.py"
PROCESSES = 8
CONCURRENCY = 50
BULK = 1000  # jobs per add_bulk call
SCAN = 5000  # fields or jobs per bounded read
# A plain client of the suite's Redis or of the test cluster, decoding replies.
Raw = redis.Redis | RedisCluster


async def fill(url: str, queue: str, n: int) -> None:
    """``n`` jobs (ids 1..n) waiting in ``queue``, which is left paused."""
    q = Queue(queue, url)
    try:
        await q.pause()
        for first in range(0, n, BULK):
            await q.add_bulk([{"name": "count", "data": {"i": i}} for i in range(first, min(n, first + BULK))])
    finally:
        await q.close()


async def resume(url: str, queues: list[str]) -> None:
    for name in queues:
        q = Queue(name, url)
        try:
            await q.resume()
        finally:
            await q.close()


def names(count: int) -> list[str]:
    return [f"p{i}" for i in range(count)]


def start_workers(url: str, count: int, queues: list[str], log_dir: Path) -> list[subprocess.Popen[str]]:
    """``count`` counting_worker processes named p0..p<count-1>, each working every queue; returned once
    each has said it is connected."""
    procs: list[subprocess.Popen[str]] = []
    try:
        for name in names(count):
            with (log_dir / f"{name}.err").open("w") as err:
                procs.append(
                    subprocess.Popen(
                        [sys.executable, str(COUNTING_WORKER), url, name, str(CONCURRENCY), *queues],
                        stdout=subprocess.PIPE,
                        stderr=err,
                        text=True,
                    )
                )
        for name, proc in zip(names(count), procs, strict=True):
            assert proc.stdout is not None
            line = proc.stdout.readline().split()
            assert line[:2] == ["ready", name], f"{name} did not start: {(log_dir / f'{name}.err').read_text()}"
    except BaseException:
        kill(procs)
        raise
    return procs


def kill(procs: list[subprocess.Popen[str]]) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


def stop_workers(procs: list[subprocess.Popen[str]], log_dir: Path) -> None:
    """SIGTERM to each (by its own pid); each must close cleanly and have logged no error."""
    for proc in procs:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
    for name, proc in zip(names(len(procs)), procs, strict=True):
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            kill(procs)
            raise
        if proc.stdout is not None:
            proc.stdout.close()
        err = (log_dir / f"{name}.err").read_text()
        assert proc.returncode == 0, f"{name} exited {proc.returncode}: {err}"
        assert "worker error" not in err, f"{name}: {err}"


def wait_completed(
    raw: Raw, queues: list[str], total: int, procs: list[subprocess.Popen[str]], timeout: float
) -> float:
    """Seconds until the queues' completed sets hold ``total`` jobs together; fails if a process dies."""
    start = time.monotonic()
    while True:
        done = sum(int(raw.zcard(f"bull:{q}:completed")) for q in queues)
        if done >= total:
            return time.monotonic() - start
        dead = [proc.pid for proc in procs if proc.poll() is not None]
        assert not dead, f"worker processes {dead} ended with {done} of {total} jobs completed"
        assert time.monotonic() - start < timeout, f"{done} of {total} jobs completed after {timeout} s"
        time.sleep(0.1)


def check_each_once(raw: Raw, queue: str, n: int) -> collections.Counter[str]:
    """Asserts each of the queue's jobs 1..n ran once, by the process its hash names, and is completed;
    returns how many each process ran."""
    counts = dict(raw.hscan_iter(effects_key(queue), count=SCAN))
    assert set(counts) == {str(i) for i in range(1, n + 1)}
    twice = {job: runs for job, runs in counts.items() if runs != "1"}
    assert not twice, f"jobs run more than once: {dict(list(twice.items())[:10])}"
    ran_by = dict(raw.hscan_iter(ran_by_key(queue), count=SCAN))
    assert set(ran_by) == set(counts)
    for first in range(1, n + 1, SCAN):
        ids = [str(i) for i in range(first, min(n + 1, first + SCAN))]
        pipe = raw.pipeline(transaction=False)
        for job_id in ids:
            # pb: the name of the worker that took it (processedBy); ats: how many times it was taken.
            pipe.hmget(f"bull:{queue}:{job_id}", "pb", "ats")
            pipe.zscore(f"bull:{queue}:completed", job_id)
            pipe.exists(f"bull:{queue}:{job_id}:lock")
        replies = pipe.execute()
        fields, scores, locks = replies[0::3], replies[1::3], replies[2::3]
        assert [pb for pb, _ in fields] == [ran_by[job_id] for job_id in ids], "taken by one, run by another"
        assert {ats for _, ats in fields} == {"1"}, "a job taken more than once"
        assert None not in scores, "a job that ran is not in the completed set"
        assert not any(locks), "a lock left behind"
    assert int(raw.zcard(f"bull:{queue}:completed")) == n
    for state in ("wait", "active", "paused"):
        assert raw.llen(f"bull:{queue}:{state}") == 0, f"jobs left in {state}"
    for state in ("failed", "delayed", "prioritized"):
        assert raw.zcard(f"bull:{queue}:{state}") == 0, f"jobs in {state}"
    return collections.Counter(ran_by.values())


@pytest.mark.timeout(120)
async def test_eight_processes_complete_each_of_50000_jobs_once(
    redis_url: str, raw: redis.Redis, qname: str, tmp_path: Path
) -> None:
    n = 50_000
    await fill(redis_url, qname, n)
    procs = start_workers(redis_url, PROCESSES, [qname], tmp_path)
    try:
        await resume(redis_url, [qname])
        seconds = wait_completed(raw, [qname], n, procs, timeout=90)
    finally:
        stop_workers(procs, tmp_path)
    per_process = check_each_once(raw, qname, n)
    assert set(per_process) == set(names(PROCESSES)), f"processes that took no job: {per_process}"
    assert sum(per_process.values()) == n
    print(f"{n} jobs by {PROCESSES} processes in {seconds:.1f} s: {dict(sorted(per_process.items()))}")
