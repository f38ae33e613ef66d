"""The metrics benchmark: what one Prometheus scrape of the board costs, at 10, 200 and 1,000 queues.

    python bench/metrics.py [--queues 10,200,1000] [--scrapes 30]

Starts its own Redis (no persistence) on a free loopback port, writes the queues (a few jobs in each,
metrics hashes as workers keep them), and scrapes them as ``GET /metrics`` does (the adapter's
``metrics_text``). Per scrape: time p50/p95 in this process, Redis round trips (calls of the runner's
``_exchange``), Redis commands (``INFO commandstats``, the scripts' inner commands included) and the
size of the text.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from board.adapters.bullmq import BullMQAdapter  # noqa: E402
from board.redis_server import RedisServer  # noqa: E402


def fill(url: str, count: int) -> list[str]:
    client = redis.Redis.from_url(url)
    names = [f"queue-{i:04d}" for i in range(count)]
    now = int(time.time() * 1000)
    pipe = client.pipeline(transaction=False)
    for name in names:
        base = f"bull:{name}:"
        pipe.hset(base + "meta", "opts.maxLenEvents", 10000)
        for job in range(3):
            pipe.hset(f"{base}{job}", mapping={"name": "n", "data": "{}", "timestamp": now - 60_000})
            pipe.lpush(base + "wait", str(job))
        pipe.zadd(base + "completed", {"c1": now, "c2": now})
        pipe.hset(base + "metrics:completed", mapping={"count": 1234, "prevTS": now, "prevCount": 1200})
    pipe.execute()
    client.close()
    return names


def commands(client: redis.Redis) -> int:
    stats: dict[str, Any] = client.info("commandstats")
    return sum(int(v["calls"]) for k, v in stats.items() if k != "cmdstat_config" and k != "cmdstat_info")


async def measure(url: str, names: list[str], scrapes: int) -> str:
    adapter = BullMQAdapter(url, queues=names)
    runner = adapter.inspector.runner
    trips = 0
    exchange = runner._exchange

    async def counted(data: bytes, replies: int) -> list[Any]:
        nonlocal trips
        trips += 1
        return await exchange(data, replies)

    runner._exchange = counted  # type: ignore[method-assign]
    size = len(await adapter.metrics_text(names))  # loads the scripts
    client = redis.Redis.from_url(url)
    client.config_resetstat()
    trips = 0
    times = []
    for _ in range(scrapes):
        start = time.perf_counter()
        await adapter.metrics_text(names)
        times.append(time.perf_counter() - start)
    per_scrape_commands = commands(client) / scrapes
    client.close()
    await adapter.close()
    times.sort()
    p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
    return (
        f"{len(names):>5} queues: p50 {statistics.median(times) * 1000:7.1f} ms, p95 {p95 * 1000:7.1f} ms, "
        f"{trips / scrapes:.0f} round trips, {per_scrape_commands:,.0f} Redis commands, {size / 1024:,.0f} KB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queues", default="10,200,1000")
    parser.add_argument("--scrapes", type=int, default=30)
    args = parser.parse_args()
    with RedisServer() as server:
        for count in (int(n) for n in args.queues.split(",")):
            client = redis.Redis.from_url(server.url)
            client.flushall()
            client.close()
            names = fill(server.url, count)
            print(asyncio.run(measure(server.url, names, args.scrapes)), flush=True)


if __name__ == "__main__":
    main()
