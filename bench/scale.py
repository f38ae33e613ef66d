"""Many worker processes on one queue: how far board's workers scale toward what Redis sustains.

``run_scale`` fills a queue with ``n`` jobs while it is paused, starts ``procs`` worker processes on it
(each a board ``Worker`` with a no-op processor), waits until every one has started and found the queue
paused, then resumes it: the clock runs from the resume to the last job any of them completed (by the
wall clock, which the processes share). Each job must have completed once: the completed set holds ``n``
jobs, nothing is left waiting or active, and the processes' own counts of completed jobs add up to ``n``
(a job run twice would count twice).

``run_scale`` also takes several queues (``queues``): the jobs are spread evenly over them and each
process runs one ``Worker`` per queue, so it works all of them. On a Redis Cluster (a
``redis+cluster://`` URL) the queues are named with hash tags whose slots lie on different primaries
(``spread_queues``: one queue per primary), which spreads the load over the cluster's nodes.

The figures, alone:

    python bench/scale.py [--procs 1,2,4,8] [--n 20000] [--concurrency 50] [--loop asyncio] [--rounds 1]
                          [--cluster] [--replicas 0]

start a standalone Redis and measure each process count on one queue. With ``--cluster`` they also start
a Redis Cluster of 3 primaries (``tests/servers.py``, ``--replicas`` each; none by default, so that
replication does not take the few cores the figures share) and, each round, for each process count in
turn: standalone with one queue, standalone with the same 3 queues the cluster gets, then the cluster
with one queue per primary, every process working all 3 queues. Printed as jobs/s (medians) and the
cluster's ratio to the standalone one-queue figure of the same run, with Redis CPU per job (summed over
the primaries).

A worker process alone, which prints ``ready``, then its figures as one JSON line once SIGTERM stops it:
``python bench/scale.py worker <loop> <redis-url> <queue>[,<queue>...] <concurrency>``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis
from redis.cluster import ClusterNode, RedisCluster

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from board import Queue, Worker
from board.cli_loop import event_loop, loop_factory, loop_name

HERE = Path(__file__).resolve()
QUEUE = "scale"
CLUSTER_SCHEME = "redis+cluster://"
# A started worker's first fetch finds the queue paused and it waits on the marker: give it that long.
SETTLE_SECONDS = 0.3
RUN_TIMEOUT = 300


# Worker side


async def work(url: str, queues: list[str], concurrency: int) -> dict[str, Any]:
    completed = 0
    last_done = 0.0

    async def noop(job: Any) -> None:
        return None

    def done(job: Any, result: Any) -> None:
        nonlocal completed, last_done
        completed += 1
        last_done = time.time()

    # The signal ends this function, which then closes the workers and reports.
    workers = [Worker(queue, noop, url, concurrency=concurrency, handle_signals=False) for queue in queues]
    for worker in workers:
        worker.on("completed", done)
        await worker.queue.get_job_counts()  # connected and scripts loaded before the clock starts
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    runners = [asyncio.create_task(worker.run()) for worker in workers]
    await asyncio.sleep(SETTLE_SECONDS)
    print("ready", flush=True)
    cpu0 = time.process_time()
    await stop.wait()
    cpu = time.process_time() - cpu0
    await asyncio.gather(*(worker.close() for worker in workers))
    await asyncio.gather(*runners)
    return {
        "completed": completed,
        "last_done": last_done,
        "cpu_s": cpu,
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "loop": loop_name(asyncio.get_running_loop()),
    }


def worker_main(argv: list[str]) -> None:
    loop, url, queues, concurrency = argv
    with asyncio.Runner(loop_factory=loop_factory(event_loop(loop))) as runner:
        result = runner.run(work(url, queues.split(","), int(concurrency)))
    print(json.dumps(result), flush=True)


# Driver side


async def fill(url: str, queue: str, n: int, *, paused: bool) -> None:
    """``n`` jobs waiting in ``queue``, which is left ``paused`` or not."""
    q = Queue(queue, url)
    if paused:
        await q.pause()
    for first in range(0, n, 1000):
        await q.add_bulk([{"name": "bench", "data": {"i": i}} for i in range(first, min(n, first + 1000))])
    await q.close()


def start_workers(
    url: str, loop: str, procs: int, concurrency: int, queues: Sequence[str] = (QUEUE,)
) -> list[subprocess.Popen[str]]:
    workers = [
        subprocess.Popen(
            [sys.executable, str(HERE), "worker", loop, url, ",".join(queues), str(concurrency)],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(procs)
    ]
    for proc in workers:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if line != "ready":
            stop(workers)
            raise RuntimeError(f"a worker process did not start (exit {proc.poll()}): {line!r}")
    return workers


def stop(workers: list[subprocess.Popen[str]]) -> list[dict[str, Any]]:
    """SIGTERM to each (by its own pid), then each one's figures."""
    for proc in workers:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
    results = []
    for proc in workers:
        out, _ = proc.communicate(timeout=60)
        if proc.returncode != 0:
            raise RuntimeError(f"a worker process failed (exit {proc.returncode})")
        results.append(json.loads(out.strip().splitlines()[-1]))
    return results


def completed_count(client: Any, queues: Sequence[str]) -> int:
    return sum(int(client.zcard(f"bull:{queue}:completed")) for queue in queues)


def wait_done(client: Any, n: int, workers: list[subprocess.Popen[str]], queues: Sequence[str] = (QUEUE,)) -> None:
    deadline = time.monotonic() + RUN_TIMEOUT
    while completed_count(client, queues) < n:
        if time.monotonic() > deadline or any(proc.poll() is not None for proc in workers):
            stop(workers)
            raise RuntimeError(f"only {completed_count(client, queues)} of {n} jobs completed")
        time.sleep(0.05)


@contextmanager
def plain_client(url: str) -> Iterator[tuple[Any, list[redis.Redis]]]:
    """A plain client of the deployment board's ``url`` names, and one of each primary (for CPU figures)."""
    if not url.startswith(CLUSTER_SCHEME):
        client = redis.Redis.from_url(url)
        try:
            yield client, [client]
        finally:
            client.close()
        return
    cluster = cluster_client(url)
    primaries = [redis.Redis(host=node.host, port=node.port) for node in cluster.get_primaries()]
    try:
        yield cluster, primaries
    finally:
        for primary in primaries:
            primary.close()
        cluster.close()


def cluster_client(url: str) -> RedisCluster:
    nodes = [ClusterNode(*address.rsplit(":", 1)) for address in url.removeprefix(CLUSTER_SCHEME).split(",")]
    return RedisCluster(startup_nodes=nodes)


def spread_queues(url: str, count: int) -> list[str]:
    """``count`` queue names whose hash tags' slots lie on as many different primaries as the cluster at
    ``url`` has (round robin when ``count`` is larger); on a standalone Redis, ``{scale-0}``, ..."""
    candidates = (f"{{scale-{i}}}" for i in range(10_000))
    if not url.startswith(CLUSTER_SCHEME):
        return [next(candidates) for _ in range(count)]
    cluster = cluster_client(url)
    try:
        primaries = [node.name for node in cluster.get_primaries()]
        by_primary: dict[str, str] = {}
        for name in candidates:
            node = cluster.get_node_from_key(f"bull:{name}:wait").name
            by_primary.setdefault(node, name)
            if len(by_primary) == len(primaries):
                break
    finally:
        cluster.close()
    ordered = [by_primary[node] for node in sorted(by_primary)]
    return [ordered[i % len(ordered)] for i in range(count)]


def run_scale(
    url: str, n: int, procs: int, concurrency: int, loop: str, *, queues: Sequence[str] = (QUEUE,)
) -> dict[str, Any]:
    """One run: ``procs`` worker processes on ``queues`` holding ``n`` jobs together (see the module's
    docstring)."""
    sizes = [n // len(queues) + (i < n % len(queues)) for i in range(len(queues))]
    with plain_client(url) as (client, primaries):
        for primary in primaries:
            primary.flushall()
        for queue, size in zip(queues, sizes, strict=True):
            asyncio.run(fill(url, queue, size, paused=True))
        workers = start_workers(url, loop, procs, concurrency, queues)
        cpu0 = sum(redis_cpu(primary) for primary in primaries)
        start = asyncio.run(resume(url, queues))
        wait_done(client, n, workers, queues)
        redis_cpu_s = sum(redis_cpu(primary) for primary in primaries) - cpu0
        results = stop(workers)
        completed = completed_count(client, queues)
        left = sum(int(client.llen(f"bull:{q}:wait")) + int(client.llen(f"bull:{q}:active")) for q in queues)
    counted = sum(r["completed"] for r in results)
    if (completed, counted, left) != (n, n, 0):
        raise RuntimeError(f"completed set {completed}, completions {counted}, left {left}: expected {n}, {n}, 0")
    if {r["loop"] for r in results} != {loop}:
        raise RuntimeError(f"asked for {loop}, the workers ran on {sorted({r['loop'] for r in results})}")
    seconds = max(r["last_done"] for r in results) - start
    return {
        "procs": procs,
        "queues": len(queues),
        "n": n,
        "seconds": seconds,
        "per_sec": n / seconds,
        "cpu_us_per_job": sum(r["cpu_s"] for r in results) * 1e6 / n,
        "redis_cpu_us_per_job": redis_cpu_s * 1e6 / n,
    }


def redis_cpu(client: redis.Redis) -> float:
    """Redis's CPU seconds so far, as bench/ceiling.py reads them."""
    info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


async def resume(url: str, queues: Sequence[str] = (QUEUE,)) -> float:
    """Resumes the queues; the wall clock just before, once connected."""
    handles = [Queue(name, url) for name in queues]
    for q in handles:
        await q.is_paused()
    start = time.time()
    await asyncio.gather(*(q.resume() for q in handles))
    for q in handles:
        await q.close()
    return start


# The figures alone


def counts(text: str) -> list[int]:
    try:
        values = sorted({int(part) for part in text.split(",")})
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers such as 1,2,4,8, got {text!r}") from None
    if not values or values[0] < 1:
        raise argparse.ArgumentTypeError(f"expected numbers of at least 1, got {text!r}")
    return values


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Worker processes on one queue, standalone and on a cluster.")
    parser.add_argument("--procs", type=counts, default=[1, 2, 4, 8], help="worker process counts")
    parser.add_argument("--n", type=int, default=20_000, help="jobs per run")
    parser.add_argument("--concurrency", type=int, default=50, help="of each worker (per queue, per process)")
    parser.add_argument("--loop", default="asyncio", help="event loop of the worker processes")
    parser.add_argument("--rounds", type=int, default=1, help="runs of each figure (medians printed)")
    parser.add_argument("--cluster", action="store_true", help="also on a 3-primary Redis Cluster")
    parser.add_argument("--replicas", type=int, default=0, help="replicas per primary of the cluster")
    return parser.parse_args()


@contextmanager
def deployments(args: argparse.Namespace) -> Iterator[dict[str, tuple[str, list[str]]]]:
    """Each column of the table: its board URL and queues."""
    from board.redis_server import RedisServer

    with RedisServer() as server:
        if not args.cluster:
            yield {"standalone, 1 queue": (server.url, [QUEUE])}
            return
        from tests.servers import ClusterServers

        with ClusterServers(replicas=args.replicas) as cluster:
            url = CLUSTER_SCHEME + ",".join(f"{host}:{port}" for host, port in cluster.startup_nodes)
            spread = spread_queues(url, 3)
            yield {
                "standalone, 1 queue": (server.url, [QUEUE]),
                "standalone, 3 queues": (server.url, spread),
                "cluster, 3 queues": (url, spread),
            }


def main() -> None:
    args = arguments()
    runs: dict[tuple[str, int], list[dict[str, Any]]] = {}
    with deployments(args) as columns:
        for r in range(args.rounds):
            for procs in args.procs:
                for column, (url, queues) in columns.items():
                    result = run_scale(url, args.n, procs, args.concurrency, args.loop, queues=queues)
                    runs.setdefault((column, procs), []).append(result)
            print(f"round {r + 1}/{args.rounds} done", file=sys.stderr)
        names = ", ".join(columns["cluster, 3 queues"][1]) if args.cluster else QUEUE
    print(
        f"{args.n:,} jobs per run, workers at concurrency {args.concurrency} per queue on {args.loop}, "
        f"{args.rounds} round(s) (medians), {os.cpu_count()} CPU cores; queues {names}"
        + (f"; cluster of 3 primaries, {args.replicas} replica(s) each" if args.cluster else "")
    )
    header = f"{'procs':>5}"
    for column in columns:
        header += f" | {column + ' jobs/s':>27} {'Redis us/job':>12}"
    if args.cluster:
        header += " | cluster / standalone 1 queue"
    print(header)
    for procs in args.procs:
        line = f"{procs:>5}"
        figures = {}
        for column in columns:
            figures[column] = statistics.median(r["per_sec"] for r in runs[(column, procs)])
            redis_us = statistics.median(r["redis_cpu_us_per_job"] for r in runs[(column, procs)])
            line += f" | {figures[column]:>27,.0f} {redis_us:>12.1f}"
        if args.cluster:
            line += f" | {figures['cluster, 3 queues'] / figures['standalone, 1 queue']:>28.2f}"
        print(line)


if __name__ == "__main__":
    if sys.argv[1:2] == ["worker"]:
        worker_main(sys.argv[2:])
    else:
        main()
