"""How late job schedulers' runs start: `every` 1 s schedulers, idle and under a load of plain jobs.

    python bench/schedulers.py [--schedulers 50] [--seconds 20] [--rate 1000] [--workers 2] [--concurrency 50]

Starts its own Redis (no persistence) on a free loopback port. Worker processes take both the
schedulers' runs and, in the second phase, a stream of plain jobs (``--rate`` a second, each holding its
slot 2 ms) added by another process. A run is late by the time between its due time (the ms in its id,
``repeat:<id>:<ms>``) and the moment a worker's processor starts it. Also counted: ticks run twice
(there must be none) and ticks missed.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from board import Job, Queue, SyncQueue, Worker  # noqa: E402
from board.redis_server import RedisServer  # noqa: E402

QUEUE = "bench-schedulers"


def _worker_process(url: str, concurrency: int, stop: Any, out: Any) -> None:
    runs: list[tuple[str, float]] = []
    plain = 0

    async def work(job: Job) -> None:
        nonlocal plain
        if job.id.startswith("repeat:"):
            runs.append((job.id, time.time() * 1000 - int(job.id.rsplit(":", 1)[1])))
        else:
            plain += 1
            await asyncio.sleep(0.002)

    async def main() -> None:
        worker = Worker(QUEUE, work, url, concurrency=concurrency, handle_signals=False)
        task = asyncio.create_task(worker.run())
        while not stop.is_set():
            await asyncio.sleep(0.1)
        await worker.close()
        await task

    asyncio.run(main())
    out.put((runs, plain))


def _load_process(url: str, rate: int, stop: Any) -> None:
    with SyncQueue(QUEUE, url) as queue:
        step = 0.01
        per_step = max(1, round(rate * step))
        next_at = time.monotonic()
        while not stop.is_set():
            queue.add_bulk([{"name": "load", "data": {"i": i}, "remove_on_complete": True} for i in range(per_step)])
            next_at += step
            time.sleep(max(0.0, next_at - time.monotonic()))


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def phase(url: str, args: argparse.Namespace, load: bool) -> str:
    stop = multiprocessing.Event()
    out: Any = multiprocessing.Queue()
    workers = [
        multiprocessing.Process(target=_worker_process, args=(url, args.concurrency, stop, out))
        for _ in range(args.workers)
    ]
    for p in workers:
        p.start()
    loader = multiprocessing.Process(target=_load_process, args=(url, args.rate, stop)) if load else None
    if loader is not None:
        loader.start()
    time.sleep(1.0)  # workers connected, the load flowing

    async def upsert_all() -> None:
        async with Queue(QUEUE, url) as queue:
            for i in range(args.schedulers):
                # Spread over the second, as schedulers made at different times are.
                await queue.upsert_job_scheduler(f"s{i}", every=1, offset=(i * 0.997 / args.schedulers) % 1)

    asyncio.run(upsert_all())
    started = time.time()
    time.sleep(args.seconds)
    stop.set()
    results = [out.get(timeout=60) for _ in workers]
    for p in [*workers, *([loader] if loader else [])]:
        p.join(timeout=30)

    async def clean() -> None:
        async with Queue(QUEUE, url) as queue:
            for i in range(args.schedulers):
                await queue.remove_job_scheduler(f"s{i}")
            await queue.drain(delayed=True)

    asyncio.run(clean())
    runs = [r for worker_runs, _ in results for r in worker_runs]
    plain = sum(n for _, n in results)
    late = [lateness for _, lateness in runs]
    ticks: dict[str, list[int]] = defaultdict(list)
    for job_id, _ in runs:
        _, scheduler_id, due = job_id.split(":")
        ticks[scheduler_id].append(int(due))
    twice = sum(len(t) - len(set(t)) for t in ticks.values())
    missed = sum(max(0, round((max(t) - min(t)) / 1000) + 1 - len(set(t))) for t in ticks.values())
    what = f"under a load of {plain / (time.time() - started):,.0f} plain jobs/s" if load else "idle"
    return (
        f"{what}: {len(runs):,} runs of {args.schedulers} `every` 1 s schedulers in {args.seconds:g} s; "
        f"late by p50 {statistics.median(late):.1f} ms, p99 {_percentile(late, 0.99):.1f} ms, "
        f"max {max(late):.1f} ms; ticks run twice: {twice}, ticks missed: {missed}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--schedulers", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--rate", type=int, default=1000, help="plain jobs a second in the loaded phase")
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--concurrency", type=int, default=50)
    args = parser.parse_args()
    server = RedisServer().start()
    try:
        print(phase(server.url, args, load=False))
        print(phase(server.url, args, load=True))
    finally:
        server.close()


if __name__ == "__main__":
    main()
