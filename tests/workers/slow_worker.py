"""A worker process for the reliability tests: ``python slow_worker.py REDIS_URL QUEUE [SLEEP_MS]``.

It runs a ``board.Worker`` (concurrency 10, 2 s locks, 1 s stalled checks) whose processor sleeps a
few milliseconds and completes each job with ``{"id": <job id>, "pid": <this process>}``. Once the
worker is built it prints ``ready <worker id> <pid>`` on stdout, so the test knows which lock tokens
are this process's (tokens are ``<worker id>:<n>``). SIGTERM closes it cleanly.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

from board import Job, Worker


async def main(url: str, queue: str, sleep_ms: int) -> None:
    pid = os.getpid()

    async def process(job: Job) -> dict[str, Any]:
        await asyncio.sleep(sleep_ms / 1000)
        return {"id": job.id, "pid": pid}

    worker = Worker(queue, process, url, concurrency=10, lock_duration=2, stalled_interval=1, block_timeout=1)
    worker.on("error", lambda exc: print(f"worker error: {exc}", file=sys.stderr, flush=True))
    print(f"ready {worker.id} {pid}", flush=True)
    await worker.run()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 20))
