"""A worker process that counts what it does: ``python counting_worker.py URL NAME CONCURRENCY QUEUE...``.

It runs one ``board.Worker`` per queue, each named NAME (stored on every job it takes as BullMQ's
``processedBy``) at CONCURRENCY. Each job's side effect, in one pipeline, is ``HINCRBY effects:<queue>
<job id> 1`` (a job run twice shows 2) and ``HSET ran-by:<queue> <job id> NAME`` (which process ran it
last). Both keys carry the queue's hash tag when it has one, so on a cluster they live on the queue's
node. Not a MULTI: redis-py's cluster transactions cost a few times the round trip, and a count needs
no atomicity with the name. URL is board's (``redis://`` or ``redis+cluster://h:p,h:p``).
Once every worker is built and connected it prints ``ready NAME <pid>``; SIGTERM closes them cleanly.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from typing import Any

import redis.asyncio as aredis
from redis.asyncio.cluster import ClusterNode, RedisCluster

from board import Job, Worker

CLUSTER_SCHEME = "redis+cluster://"


def effects_key(queue: str) -> str:
    return f"effects:{queue}"


def ran_by_key(queue: str) -> str:
    return f"ran-by:{queue}"


def side_effect_client(url: str) -> Any:
    """A plain client of the deployment board's URL names, for the side effects."""
    if not url.startswith(CLUSTER_SCHEME):
        return aredis.Redis.from_url(url)
    nodes = []
    for address in url.removeprefix(CLUSTER_SCHEME).split(","):
        host, port = address.rsplit(":", 1)
        nodes.append(ClusterNode(host, int(port)))
    return RedisCluster(startup_nodes=nodes)


async def main(url: str, name: str, concurrency: int, queues: list[str]) -> None:
    client = side_effect_client(url)

    def processor_for(queue: str) -> Any:
        async def process(job: Job) -> None:
            # Same slot for both keys: one round trip to one node, on a cluster too.
            async with client.pipeline(transaction=False) as pipe:
                pipe.hincrby(effects_key(queue), job.id, 1)
                pipe.hset(ran_by_key(queue), job.id, name)
                await pipe.execute()

        return process

    workers = [
        Worker(queue, processor_for(queue), url, name=name, concurrency=concurrency, handle_signals=False)
        for queue in queues
    ]
    for worker in workers:
        worker.on("error", lambda exc: print(f"worker error: {exc!r}", file=sys.stderr, flush=True))
        await worker.queue.get_job_counts()  # connected and scripts loaded before the test resumes the queues
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    runners = [asyncio.create_task(worker.run()) for worker in workers]
    print(f"ready {name} {os.getpid()}", flush=True)
    await stop.wait()
    await asyncio.gather(*(worker.close() for worker in workers))
    await asyncio.gather(*runners)
    await client.aclose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]))
