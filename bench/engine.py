"""The engine benchmark: board's Queue and Worker side by side with Node.js BullMQ, in the same run, and
how close board's workers come to what Redis itself sustains.

    python bench/engine.py [--n 20000] [--rounds 3] [--latency-n 1000] [--rate 200] [--loops asyncio,uvloop]
                           [--scale 1,2,4,8] [--scale-n 50000] [--scale-concurrency 50] [--quick]

Starts its own Redis (no persistence) on a free loopback port. Each round runs every phase for each
engine in turn (interleaved, so all see the same machine): board once per event loop of ``--loops``
(``board`` on asyncio's own loop, ``board+uvloop``), then Node; the first table shows medians and the
ratios of each board to Node. Each phase runs in a child process, so that CPU time and memory are the
worker's own. A phase can also be run alone:
``python bench/engine.py phase [--loop uvloop] process <redis-url> <queue> <n> <c>``.

The second table, toward the physical limit, runs on one queue of ``--scale-n`` jobs, each round in turn:
the Redis ceiling (``bench/ceiling.py``: the worker's own finish-and-fetch script, sent in deep pipelines
from several connections with no per-job Python work), then 1, 2, 4, 8 worker processes
(``bench/scale.py``) at ``--scale-concurrency``, on uvloop when it is measured; each as jobs/s and as a
share of the ceiling, and where adding processes stops paying. On a machine of few cores the workers and
Redis share them: with 2 cores, Redis takes about one and the workers the other, so expect the gain to
stop at about 2 processes.

``--quick`` shrinks every size to finish in about a minute; its figures are for checking that the bench
runs, not for comparing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
NODE_SCRIPT = ROOT / "bench" / "node_engine.js"
NODE_MODULES = ROOT / "tests" / "interop" / "node_modules" / "bullmq"
sys.path.insert(0, str(ROOT))

from bench.scale import QUEUE as SCALE_QUEUE  # noqa: E402
from bench.scale import counts, fill, run_scale  # noqa: E402
from board import Queue, Worker  # noqa: E402
from board.cli_loop import event_loop, loop_factory, loop_name, uvloop_installed  # noqa: E402
from board.redis_server import RedisServer  # noqa: E402

CEILING_SCRIPT = ROOT / "bench" / "ceiling.py"
# Engine names in the tables: board on each event loop, then Node.
BOARD_ON = {"asyncio": "board", "uvloop": "board+uvloop"}
# Scaling stops at the fewest processes within this share of the best rate: the figures are noisy.
NEAR_BEST = 0.10

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


PHASES: dict[str, Callable[..., Awaitable[dict[str, Any]]]] = {
    "adds": phase_adds,
    "bulk": phase_bulk,
    "process": phase_process,
    "latency": phase_latency,
}
NUMBER = {"adds": (int,), "bulk": (int, int), "process": (int, int), "latency": (int, float)}


async def on_loop(phase: str, url: str, queue: str, values: list[Any]) -> dict[str, Any]:
    result = await PHASES[phase](url, queue, *values)
    result["loop"] = loop_name(asyncio.get_running_loop())
    return result


def run_phase(argv: list[str]) -> None:
    loop = "asyncio"
    if argv[:1] == ["--loop"]:
        loop, argv = event_loop(argv[1]), argv[2:]
    phase, url, queue, *rest = argv
    if phase not in PHASES:
        raise SystemExit(f"unknown phase {phase!r}")
    values = [kind(text) for kind, text in zip(NUMBER[phase], rest, strict=True)]
    with asyncio.Runner(loop_factory=loop_factory(loop)) as runner:
        result = runner.run(on_loop(phase, url, queue, values))
    print(json.dumps(result))


# Driver side


def run_child(cmd: list[str], what: str) -> dict[str, Any]:
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=400)
    if out.returncode != 0:
        raise RuntimeError(f"{what} failed ({out.returncode}): {out.stderr[-2000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def child(engine: str, *args: Any) -> dict[str, Any]:
    if engine == "node":
        return run_child(["node", str(NODE_SCRIPT), *map(str, args)], f"node {args[0]}")
    loop = next(name for name, shown in BOARD_ON.items() if shown == engine)
    cmd = [sys.executable, str(Path(__file__).resolve()), "phase", "--loop", loop, *map(str, args)]
    result = run_child(cmd, f"{engine} {args[0]}")
    if result["loop"] != loop:
        raise RuntimeError(f"{engine} {args[0]} ran on {result['loop']}, not {loop}")
    return result


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


def ceiling_round(url: str, n: int, batch: int, loop: str) -> dict[str, Any]:
    flush(url)
    asyncio.run(fill(url, SCALE_QUEUE, n, paused=False))
    cmd = [sys.executable, str(CEILING_SCRIPT), url, SCALE_QUEUE, str(n), str(batch), "--loop", loop]
    return run_child(cmd, "ceiling")


def print_engines(args: argparse.Namespace, results: dict[str, list[dict[str, float]]]) -> None:
    engines = list(results)
    boards = [e for e in engines if e != "node"]
    names = list(results[engines[0]][0])
    med = {e: {k: statistics.median(rnd[k] for rnd in results[e]) for k in names} for e in engines}
    print(f"N={args.n}, {args.rounds} rounds (medians), latency: {args.latency_n} jobs at {args.rate:g}/s")
    ratios = [f"{b}/node" for b in boards] if "node" in med else []
    header = f"{'figure':26}" + "".join(f"{e:>14}" for e in engines) + "".join(f"{r:>20}" for r in ratios)
    print(header)
    print("-" * len(header))
    for k in names:
        row = f"{k:26}" + "".join(f"{med[e][k]:14,.2f}" for e in engines)
        if ratios:
            row += "".join(f"{med[b][k] / med['node'][k]:20.2f}" if med["node"][k] else f"{'-':>20}" for b in boards)
        print(row)


def scaling_stops(rates: dict[int, float]) -> int:
    """The fewest processes that reach the best rate, give or take ``NEAR_BEST``: past it, more pay little."""
    best = max(rates.values())
    return min(procs for procs, rate in rates.items() if rate >= best * (1 - NEAR_BEST))


def print_limit(
    args: argparse.Namespace, loop: str, ceilings: list[dict[str, Any]], scale: dict[int, list[dict[str, Any]]]
) -> None:
    def median(runs: list[dict[str, Any]], key: str) -> float:
        return float(statistics.median(run[key] for run in runs))

    ceiling = median(ceilings, "per_sec")
    cores = os.cpu_count() or 1
    print()
    print(
        f"Toward the physical limit: {args.scale_n:,} jobs on one queue, workers at concurrency "
        f"{args.scale_concurrency} on {loop}, {args.rounds} rounds (medians), {cores} CPU cores"
    )
    header = f"{'figure':42}{'jobs/s':>10}{'of ceiling':>12}{'Redis us/job':>14}{'workers us/job':>16}"
    print(header)
    print("-" * len(header))
    first = ceilings[0]
    label = f"Redis ceiling ({first['connections']} conn x {first['depth']} calls of {first['batch']})"
    print(f"{label:42}{ceiling:10,.0f}{1:12.2f}{median(ceilings, 'redis_cpu_us_per_job'):14.1f}{'-':>16}")
    rates: dict[int, float] = {}
    for procs, runs in scale.items():
        rates[procs] = median(runs, "per_sec")
        label = f"{procs} worker process{'es' if procs > 1 else ''}"
        redis_us, workers_us = median(runs, "redis_cpu_us_per_job"), median(runs, "cpu_us_per_job")
        print(f"{label:42}{rates[procs]:10,.0f}{rates[procs] / ceiling:12.2f}{redis_us:14.1f}{workers_us:16.1f}")
    stops = scaling_stops(rates)
    print(
        f"stops scaling at {stops} process{'es' if stops > 1 else ''}: the fewest within {NEAR_BEST:.0%} "
        f"of the best rate, {max(rates.values()):,.0f} jobs/s"
    )
    print(
        f"expected with {cores} cores: about {cores} processes (Redis needs about one core, the workers share the rest)"
    )


def engines_to_run(args: argparse.Namespace) -> list[str]:
    engines = []
    for loop in args.loops:
        if loop == "uvloop" and not uvloop_installed():
            print("uvloop is not installed (pip install '.[uvloop]'): measuring board on asyncio only\n")
            continue
        engines.append(BOARD_ON[loop])
    if args.no_node:
        pass
    elif shutil.which("node") and NODE_MODULES.exists():
        engines.append("node")
    else:
        print("node or tests/interop/node_modules missing (run `make interop`): measuring board only\n")
    return engines


def loops(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = set(names) - set(BOARD_ON)
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"expected asyncio and/or uvloop, got {text!r}")
    return names


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20_000, help="jobs per throughput phase")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency-n", type=int, default=1_000)
    parser.add_argument("--rate", type=float, default=200, help="jobs/s in the latency phase")
    parser.add_argument("--loops", type=loops, default=["asyncio", "uvloop"], help="board's event loops")
    parser.add_argument("--no-node", action="store_true", help="measure board only")
    parser.add_argument("--scale", type=counts, default=[1, 2, 4, 8], help="worker processes, toward the limit")
    parser.add_argument("--scale-n", type=int, default=50_000, help="jobs on the queue, toward the limit")
    parser.add_argument("--scale-concurrency", type=int, default=50, help="of each worker process")
    parser.add_argument("--no-scale", action="store_true", help="skip the table toward the physical limit")
    parser.add_argument("--quick", action="store_true", help="small sizes, one round: about a minute")
    args = parser.parse_args()
    if args.quick:
        args.n, args.rounds, args.latency_n, args.scale_n = 2_000, 1, 200, 10_000
    return args


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "phase":
        run_phase(sys.argv[2:])
        return
    args = arguments()
    engines = engines_to_run(args)
    scale_loop = "uvloop" if "board+uvloop" in engines else "asyncio"
    batch = max(1, args.scale_concurrency // 2)  # what each worker's finish call carries (results.py)

    results: dict[str, list[dict[str, float]]] = {e: [] for e in engines}
    ceilings: list[dict[str, Any]] = []
    scale: dict[int, list[dict[str, Any]]] = {procs: [] for procs in args.scale}
    with RedisServer() as server:
        for r in range(args.rounds):
            for engine in engines:
                results[engine].append(one_round(server.url, engine, args.n, args.latency_n, args.rate))
            if not args.no_scale:
                ceilings.append(ceiling_round(server.url, args.scale_n, batch, scale_loop))
                for procs in args.scale:
                    scale[procs].append(run_scale(server.url, args.scale_n, procs, args.scale_concurrency, scale_loop))
            print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)

    print_engines(args, results)
    if not args.no_scale:
        print_limit(args, scale_loop, ceilings, scale)


if __name__ == "__main__":
    main()
