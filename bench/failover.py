"""The failover bench: how long producers and workers on a replicated deployment wait when its primary dies.

    python bench/failover.py [--kind sentinel|cluster] [--rounds 3] [--rate 100]

Starts its own deployment on loopback ports (tests/servers.py: for ``sentinel`` a primary, a replica and
three Sentinels; for ``cluster`` three primaries with a replica each, the queue's primary killed; a node
declared down after 1 s of silence). Each round runs a producer adding jobs at
a steady rate and a worker (concurrency 4) on one queue, both on the deployment's URL, kills the primary
(SIGKILL), and keeps both running until every acknowledged add is accounted for. Nothing is restarted:
the engine finds the new primary by itself. The deployment is healed between rounds.

For each round the table gives:

- add: from the kill to the first add sent after it and acknowledged;
- job: from the kill to the completion of the first job added after it;
- elected: from the kill to the deployment agreeing on the new primary (the Sentinels, or every cluster
  node): the deployment's own part, the anchor the other two compare with;
- acked, lost, twice: acknowledged adds, those that no longer exist (asynchronous replication: written
  on the old primary, not yet on the replica), jobs that ran more than once (allowed only for a job that
  was running at the kill);
- refusals: what the producer was told while the primary was away (each add was then not written).

``run_failover`` is the scenario alone (any URL, any way to stop a primary), shared with
tests/cluster/test_sentinel.py which asserts on it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from board.engine.errors import RedisRefused, RedisUnavailable
from board.engine.job import Job
from board.engine.queue import Queue
from board.engine.worker import Worker

QUEUE = "{failover}"  # a hash tag: one slot on a cluster as well


@dataclass
class Failover:
    """What one failover did to a producer and a worker; times in seconds from the kill."""

    acknowledged: list[str] = field(default_factory=list)
    refusals: Counter[str] = field(default_factory=Counter)
    unexpected: list[BaseException] = field(default_factory=list)
    worker_errors: Counter[str] = field(default_factory=Counter)
    runs: dict[str, list[float]] = field(default_factory=dict)  # job id -> the times each run started
    completed: dict[str, float] = field(default_factory=dict)
    killed_at: float = 0.0
    first_add: float | None = None
    first_job: float | None = None
    elected: float | None = None
    lost: list[str] = field(default_factory=list)
    stuck: list[str] = field(default_factory=list)

    @property
    def twice(self) -> list[str]:
        return [job_id for job_id, starts in self.runs.items() if len(starts) > 1]

    def twice_not_running_at_kill(self) -> list[str]:
        """Jobs run again though no run of theirs had started before the kill (and so none was cut)."""
        return [job_id for job_id in self.twice if min(self.runs[job_id]) > self.killed_at]


def _refusal(exc: BaseException) -> str | None:
    """The name of an error that says an add was not written (the producer may send it again), else None."""
    if isinstance(exc, RedisUnavailable):
        return "RedisUnavailable"
    if isinstance(exc, RedisRefused) and exc.retryable:
        return f"RedisRefused {exc.code}"
    return None


async def run_failover(
    url: str,
    stop_primary: Callable[[], Any],
    wait_failover: Callable[[Any], Any],
    *,
    before: float = 1.0,
    after: float = 1.0,
    rate: float = 100,
    settle_timeout: float = 30,
) -> Failover:
    """Adds jobs at ``rate`` a second while a worker runs them; calls ``stop_primary()`` after ``before``
    seconds and ``wait_failover(stopped)`` (blocking, in a thread) to time the election; adds on for
    ``after`` seconds once adds succeed again, then waits until each acknowledged job completed or is
    known lost."""
    report = Failover()
    loop = asyncio.get_running_loop()

    async def processor(job: Job) -> int:
        report.runs.setdefault(job.id, []).append(loop.time())
        await asyncio.sleep(0.005)
        return 1

    added_after_kill: set[str] = set()

    def completed(job: Job, _result: Any) -> None:
        report.completed.setdefault(job.id, loop.time())
        if report.first_job is None and job.id in added_after_kill:
            report.first_job = loop.time() - report.killed_at

    queue = Queue(QUEUE, connection=url)
    worker = Worker(
        QUEUE,
        processor,
        connection=url,
        concurrency=4,
        lock_duration=3,
        stalled_interval=1,
        block_timeout=1,
        handle_signals=False,
    )
    worker.on("completed", completed)
    worker.on("error", lambda exc: report.worker_errors.update([type(exc).__name__]))
    producing = asyncio.Event()
    producing.set()

    async def produce() -> None:
        n = 0
        while producing.is_set():
            n += 1
            sent = loop.time()
            try:
                job = await queue.add("job", {"n": n})
            except Exception as exc:  # every error is counted; only some are allowed
                name = _refusal(exc)
                if name is None:
                    report.unexpected.append(exc)
                else:
                    report.refusals[name] += 1
            else:
                report.acknowledged.append(job.id)
                # Sent after the kill: an add answered before it may be read only after it.
                if report.killed_at and sent > report.killed_at:
                    added_after_kill.add(job.id)
                    if report.first_add is None:
                        report.first_add = loop.time() - report.killed_at
            await asyncio.sleep(1 / rate)

    running = asyncio.create_task(worker.run())
    producer = asyncio.create_task(produce())
    try:
        await asyncio.sleep(before)
        stopped = stop_primary()
        report.killed_at = loop.time()

        async def elect() -> None:
            await asyncio.to_thread(wait_failover, stopped)
            report.elected = loop.time() - report.killed_at

        election = asyncio.create_task(elect())
        deadline = loop.time() + settle_timeout
        while (report.first_add is None or report.first_job is None) and loop.time() < deadline:
            await asyncio.sleep(0.01)
        await election
        await asyncio.sleep(after)
        producing.clear()
        await producer
        await _settle(queue, report, deadline=loop.time() + settle_timeout)
    finally:
        producing.clear()
        with contextlib.suppress(BaseException):
            await producer
        await worker.close(timeout=5)
        with contextlib.suppress(BaseException):
            await running
        await queue.close()
    return report


async def _settle(queue: Queue, report: Failover, *, deadline: float) -> None:
    """Waits until every acknowledged job completed or no longer exists; the rest are stuck."""
    loop = asyncio.get_running_loop()
    while True:
        waiting = [job_id for job_id in report.acknowledged if job_id not in report.completed]
        report.lost = []
        for job_id in waiting:
            if await queue.get_job(job_id) is None:
                report.lost.append(job_id)
        report.stuck = [job_id for job_id in waiting if job_id not in report.lost]
        if not report.stuck or loop.time() > deadline:
            return
        await asyncio.sleep(0.1)


def _deployment(kind: str) -> Any:
    from tests.servers import ClusterServers, SentinelServers

    return SentinelServers() if kind == "sentinel" else ClusterServers()


def _url(kind: str, servers: Any) -> str:
    if kind == "sentinel":
        return str(servers.url)
    return str(servers.cluster_url())


def _stop(kind: str, servers: Any) -> Callable[[], Any]:
    # On a cluster, the primary that serves the queue's slot.
    return servers.stop_primary if kind == "sentinel" else lambda: servers.stop_primary(QUEUE)


async def _round(kind: str, servers: Any, rate: float) -> Failover:
    return await run_failover(_url(kind, servers), _stop(kind, servers), servers.wait_failover, rate=rate)


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kind", choices=["sentinel", "cluster"], default="sentinel")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rate", type=float, default=100, help="adds a second")
    args = parser.parse_args()
    # The worker logs every refused call during the outage: counted in the table instead.
    logging.basicConfig(level=logging.CRITICAL)
    with _deployment(args.kind) as servers:
        timeout = servers.down_after_ms if args.kind == "sentinel" else servers.node_timeout_ms
        print(f"{args.kind}: primary killed (SIGKILL), declared down after {timeout} ms of silence")
        print(f"{'round':>5} {'add ms':>7} {'job ms':>7} {'elected ms':>10} {'acked':>6} {'lost':>5} "
              f"{'twice':>6} {'stuck':>6}  refusals")  # fmt: skip
        for i in range(args.rounds):
            servers.heal()
            time.sleep(0.5)
            report = asyncio.run(_round(args.kind, servers, args.rate))
            refusals = ", ".join(f"{k} x{v}" for k, v in report.refusals.items()) or "-"
            if report.unexpected:
                refusals += f"; UNEXPECTED {[repr(e) for e in report.unexpected[:3]]}"
            print(
                f"{i + 1:>5} {_ms(report.first_add):>7} {_ms(report.first_job):>7} {_ms(report.elected):>10} "
                f"{len(report.acknowledged):>6} {len(report.lost):>5} {len(report.twice):>6} "
                f"{len(report.stuck):>6}  {refusals}"
            )


if __name__ == "__main__":
    main()
