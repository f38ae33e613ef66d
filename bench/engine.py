"""The engine benchmark: board's Queue and Worker side by side with Node.js BullMQ, in the same run.

    python bench/engine.py [--n 20000] [--rounds 3] [--latency-n 1000] [--rate 200]

Starts its own Redis (no persistence) on a free loopback port. Each round runs every phase for each
engine in turn (interleaved, so both see the same machine); the table shows medians and the ratio
board / Node. Each phase runs in a child process, so that CPU time and memory are the worker's own.
A phase can also be run alone: ``python bench/engine.py phase process <redis-url> <queue> <n> <c>``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
NODE_SCRIPT = ROOT / "bench" / "node_engine.js"
NODE_MODULES = ROOT / "tests" / "interop" / "node_modules" / "bullmq"
sys.path.insert(0, str(ROOT))

from board import Queue, Worker  # noqa: E402
from board.redis_server import RedisServer  # noqa: E402

# Phases (child side)


async def phase_adds(url: str, queue: str, n: int) -> dict[str, Any]:
    q = Queue(queue, url)
    await q.get_job_counts()  # connect before the clock starts
    start = time.perf_counter()
    for i in range(n):
        await q.add("bench", {"i": i})
    seconds = time.perf_counter() - start
    await q.close()
    return {"phase": "adds", "n": n, "seconds": seconds, "per_sec": n / seconds}


async def phase_bulk(url: str, queue: str, n: int, chunk: int) -> dict[str, Any]:
    q = Queue(queue, url)
    await q.get_job_counts()
    start = time.perf_counter()
    for first in range(0, n, chunk):
        await q.add_bulk([{"name": "bench", "data": {"i": i}} for i in range(first, min(n, first + chunk))])
    seconds = time.perf_counter() - start
    await q.close()
    return {"phase": "bulk", "n": n, "seconds": seconds, "per_sec": n / seconds}


async def phase_process(url: str, queue: str, n: int, concurrency: int) -> dict[str, Any]:
    done = asyncio.Event()
    count = 0

    async def noop(job: Any) -> None:
        return None

    def completed(job: Any, result: Any) -> None:
        nonlocal count
        count += 1
        if count >= n:
            done.set()

    worker = Worker(queue, noop, url, concurrency=concurrency)
    worker.on("completed", completed)
    await worker.queue.get_job_counts()
    cpu0, start = time.process_time(), time.perf_counter()
    runner = asyncio.create_task(worker.run())
    await asyncio.wait_for(done.wait(), 300)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu0
    await worker.close()
    await runner
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {
        "phase": "process",
        "n": n,
        "concurrency": concurrency,
        "seconds": seconds,
        "per_sec": n / seconds,
        "cpu_us_per_job": cpu * 1e6 / n,
        "rss_mb": rss_mb,
    }


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    rank = max(1, round(p / 100 * len(ordered) + 0.5))  # nearest rank, as the Node side does
    return ordered[min(rank, len(ordered)) - 1]


async def phase_latency(url: str, queue: str, n: int, rate: float) -> dict[str, Any]:
    latencies: list[float] = []
    done = asyncio.Event()

    async def measure(job: Any) -> None:
        latencies.append(time.time() * 1000 - job.data["sent"])
        if len(latencies) >= n:
            done.set()

    worker = Worker(queue, measure, url, concurrency=10)
    q = Queue(queue, url)
    runner = asyncio.create_task(worker.run())
    await asyncio.sleep(0.2)
    start = time.perf_counter()
    for i in range(n):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await q.add("bench", {"i": i, "sent": time.time() * 1000})
    await asyncio.wait_for(done.wait(), 60)
    await worker.close()
    await runner
    await q.close()
    return {
        "phase": "latency",
        "n": n,
        "rate": rate,
        "p50_ms": _percentile(latencies, 50),
        "p99_ms": _percentile(latencies, 99),
        "max_ms": max(latencies),
    }


def run_phase(argv: list[str]) -> None:
    phase, url, queue, *rest = argv
    if phase == "adds":
        result = asyncio.run(phase_adds(url, queue, int(rest[0])))
    elif phase == "bulk":
        result = asyncio.run(phase_bulk(url, queue, int(rest[0]), int(rest[1])))
    elif phase == "process":
        result = asyncio.run(phase_process(url, queue, int(rest[0]), int(rest[1])))
    elif phase == "latency":
        result = asyncio.run(phase_latency(url, queue, int(rest[0]), float(rest[1])))
    else:
        raise SystemExit(f"unknown phase {phase!r}")
    print(json.dumps(result))


# Driver side


def child(engine: str, *args: Any) -> dict[str, Any]:
    if engine == "node":
        cmd = ["node", str(NODE_SCRIPT), *map(str, args)]
    else:
        cmd = [sys.executable, str(Path(__file__).resolve()), "phase", *map(str, args)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=400)
    if out.returncode != 0:
        raise RuntimeError(f"{engine} {args[0]} failed ({out.returncode}): {out.stderr[-2000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def flush(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    client.flushall()
    client.close()


def one_round(url: str, engine: str, n: int, latency_n: int, rate: float) -> dict[str, float]:
    figures: dict[str, float] = {}
    flush(url)
    figures["awaited adds/s"] = child(engine, "adds", url, "adds", n)["per_sec"]
    flush(url)
    figures["bulk adds/s"] = child(engine, "bulk", url, "work", n, 1000)["per_sec"]
    result = child(engine, "process", url, "work", n, 10)
    figures["processed/s c=10"] = result["per_sec"]
    figures["worker CPU us/job c=10"] = result["cpu_us_per_job"]
    figures["worker RSS MB"] = result["rss_mb"]
    flush(url)
    child(engine, "bulk", url, "work100", n, 1000)
    figures["processed/s c=100"] = child(engine, "process", url, "work100", n, 100)["per_sec"]
    flush(url)
    result = child(engine, "latency", url, "lat", latency_n, rate)
    figures["e2e p50 ms"] = result["p50_ms"]
    figures["e2e p99 ms"] = result["p99_ms"]
    return figures


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "phase":
        run_phase(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20_000, help="jobs per throughput phase")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency-n", type=int, default=1_000)
    parser.add_argument("--rate", type=float, default=200, help="jobs/s in the latency phase")
    parser.add_argument("--no-node", action="store_true", help="measure board only")
    args = parser.parse_args()

    engines = ["board"]
    if args.no_node:
        pass
    elif shutil.which("node") and NODE_MODULES.exists():
        engines.append("node")
    else:
        print("node or tests/interop/node_modules missing (run `make interop`): measuring board only\n")

    results: dict[str, list[dict[str, float]]] = {e: [] for e in engines}
    with RedisServer() as server:
        for r in range(args.rounds):
            for engine in engines:
                results[engine].append(one_round(server.url, engine, args.n, args.latency_n, args.rate))
            print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)

    names = list(results["board"][0])
    med = {e: {k: statistics.median(rnd[k] for rnd in results[e]) for k in names} for e in engines}
    print(f"N={args.n}, {args.rounds} rounds (medians), latency: {args.latency_n} jobs at {args.rate:g}/s")
    header = f"{'figure':26}" + "".join(f"{e:>12}" for e in engines) + ("    board/node" if "node" in med else "")
    print(header)
    print("-" * len(header))
    for k in names:
        row = f"{k:26}" + "".join(f"{med[e][k]:12,.2f}" for e in engines)
        if "node" in med and med["node"][k]:
            row += f"{med['board'][k] / med['node'][k]:14.2f}"
        print(row)


if __name__ == "__main__":
    main()
