"""What Redis itself sustains for the worker's own scripts: the ceiling that board's workers are measured
against in ``bench/engine.py``.

    python bench/ceiling.py <redis-url> <queue> <n> <batch> [--connections 2] [--depth 4] [--loop auto]

The queue must hold ``n`` waiting jobs. Each connection drives ``depth`` lanes, and each lane is what a
worker is to Redis: it finishes the jobs it holds and fetches ``batch`` new ones in one
``finish_jobs.lua`` call (the worker's own call, with the arguments the worker sends, see
``board/engine/results.py``), its first call fetching only. A connection sends one call for each of its
lanes in one pipeline, and the connections run at once, so Redis always has calls waiting. The jobs in
flight (connections x depth x batch) are kept near what the workers hold (200 for 4 workers at
concurrency 50): finishing a job looks it up in the active list (an LREM), which costs more the longer
that list is, so a deeper pipeline would measure a lower ceiling, not a higher one. Nothing is
done per job in Python beyond passing back the id and lock token each fetch returned, which is why this
is not redis-benchmark: an EVALSHA there cannot carry what the previous reply said.

Prints one JSON line: the jobs finished, the seconds, jobs/s, and Redis's own CPU seconds over the run.
Each job must be finished once, by the call that holds its lock: anything else is an error.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from redis.asyncio import Redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from board.cli_loop import event_loop, loop_factory, loop_name
from board.engine.codes import Finished
from board.engine.keys import QueueKeys
from board.engine.scripts import script

LOCK_MS = 30_000
# A completed no-op job as results.completed() writes it: returnvalue null, kept (-1), no age limit.
COMPLETED = ("c", "null", -1, 0, "", "")


@dataclass
class Lane:
    """One worker's share of the calls: its token prefix, next token serial and the jobs it holds."""

    prefix: str = field(default_factory=lambda: uuid.uuid4().hex)
    serial: int = 0
    held: list[Any] = field(default_factory=list)  # id, token, id, token, ...
    done: bool = False


def finish_args(keys: QueueKeys, lane: Lane, batch: int) -> list[Any]:
    args: list[Any] = [keys.base, int(time.time() * 1000), batch, LOCK_MS, lane.prefix, lane.serial, "", 0, 0]
    lane.serial += batch
    args.append(len(lane.held) // 2)
    for i in range(0, len(lane.held), 2):
        args += [lane.held[i], lane.held[i + 1], *COMPLETED]
    args += ["", 0]  # no dead-letter queue, no metrics
    return args


async def drive(client: Redis, keys: QueueKeys, sha: str, lanes: list[Lane], batch: int) -> int:
    """Runs ``lanes`` on one connection until the queue is empty; the jobs they finished."""
    finished = 0
    while True:
        live = [lane for lane in lanes if not lane.done]
        if not live:
            return finished
        pipe = client.pipeline(transaction=False)
        for lane in live:
            pipe.evalsha(sha, len(keys.script_keys), *keys.script_keys, *finish_args(keys, lane, batch))
        replies = await pipe.execute()
        for lane, (codes, fetched) in zip(live, replies, strict=True):
            if any(code != Finished.FINISHED for code in codes):
                raise RuntimeError(f"finish_jobs refused a job: codes {codes}")
            finished += len(codes)
            status, jobs = fetched[0], fetched[1]
            lane.held = [x for i in range(0, len(jobs), 3) for x in (jobs[i], jobs[i + 1])]
            lane.done = status == 2 and not lane.held


async def ceiling(url: str, queue: str, n: int, batch: int, connections: int, depth: int) -> dict[str, Any]:
    keys = QueueKeys("bull", queue)
    finish = script("finish_jobs")
    clients = [Redis.from_url(url) for _ in range(connections)]
    try:
        sha = await clients[0].script_load(finish.source)
        for client in clients:
            await client.ping()
        cpu0 = await redis_cpu(clients[0])
        start = time.perf_counter()
        counts = await asyncio.gather(
            *(drive(client, keys, sha, [Lane() for _ in range(depth)], batch) for client in clients)
        )
        seconds = time.perf_counter() - start
        redis_cpu_s = await redis_cpu(clients[0]) - cpu0
        completed = await clients[0].zcard(keys.completed)
        left = await clients[0].llen(keys.wait) + await clients[0].llen(keys.active)
    finally:
        for client in clients:
            await client.aclose()
    if sum(counts) != n or completed != n or left:
        raise RuntimeError(f"finished {sum(counts)}, completed {completed}, left {left}: expected {n}, {n}, 0")
    return {
        "phase": "ceiling",
        "n": n,
        "batch": batch,
        "connections": connections,
        "depth": depth,
        "seconds": seconds,
        "per_sec": n / seconds,
        "redis_cpu_us_per_job": redis_cpu_s * 1e6 / n,
        "loop": loop_name(asyncio.get_running_loop()),
    }


async def redis_cpu(client: Redis) -> float:
    """Redis's CPU seconds so far (user and system, its main thread and the rest)."""
    info = await client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("url")
    parser.add_argument("queue")
    parser.add_argument("n", type=int)
    parser.add_argument("batch", type=int, help="jobs each call finishes and fetches (a worker's concurrency / 2)")
    parser.add_argument("--connections", type=int, default=2)
    parser.add_argument("--depth", type=int, default=4, help="calls in each connection's pipeline")
    parser.add_argument("--loop", default="auto", type=event_loop)
    args = parser.parse_args()
    with asyncio.Runner(loop_factory=loop_factory(args.loop)) as runner:
        result = runner.run(ceiling(args.url, args.queue, args.n, args.batch, args.connections, args.depth))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
