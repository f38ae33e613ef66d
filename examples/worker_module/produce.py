"""Adds a mix of jobs for ``jobs.py`` to the ``tasks`` queue: plain, delayed, prioritized and retried ones.

    python -m examples.worker_module.produce [--queue tasks] [--time-scale 1]

(``REDIS_URL`` names the Redis, default ``redis://localhost:6379``.) Then run the worker and watch them on
the board (``board serve --queues tasks``)::

    board worker examples.worker_module.jobs:process --queue tasks --concurrency 5

``--time-scale`` multiplies every delay and backoff: 0.1 makes the whole run last about a second.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import Any

from board import Queue


def jobs(time_scale: float = 1.0) -> dict[str, list[dict[str, Any]]]:
    """The jobs to add, by kind; each is a ``Queue.add_bulk`` entry (name, data and options)."""
    s = time_scale
    return {
        "plain": [{"name": "resize-image", "data": {"image": f"photo-{i}.jpg", "width": 640}} for i in range(1, 4)],
        "delayed": [
            # Sits in "delayed" until then, and goes to the queue when due.
            {"name": "send-reminder", "data": {"user": "ada", "about": "trial ends soon"}, "delay": 5 * s},
            {"name": "send-reminder", "data": {"user": "grace", "about": "invoice due"}, "delay": 10 * s},
        ],
        "prioritized": [
            # 1 runs first among prioritized jobs; jobs without a priority go before them all.
            {"name": "build-report", "data": {"report": "monthly"}, "priority": 10},
            {"name": "build-report", "data": {"report": "weekly"}, "priority": 5},
            {"name": "build-report", "data": {"report": "incident"}, "priority": 1},
        ],
        "retried": [
            # Times out twice, then goes through: waits 1 s, then 2 s (exponential), then completes.
            {
                "name": "charge-card",
                "data": {"order": "A-1001", "amount_cents": 4200, "fail_first": 2},
                "attempts": 5,
                "backoff": {"type": "exponential", "delay": 1 * s},
            },
            # Times out once, then goes through, after a fixed wait.
            {
                "name": "charge-card",
                "data": {"order": "A-1002", "amount_cents": 990, "fail_first": 1},
                "attempts": 3,
                "backoff": {"type": "fixed", "delay": 0.5 * s},
            },
        ],
        "exhausted": [
            # Always times out: after its 3 attempts it stays in "failed" with each attempt's stack trace.
            {
                "name": "charge-card",
                "data": {"order": "A-1003", "amount_cents": 1500, "fail_first": 99},
                "attempts": 3,
                "backoff": {"type": "exponential", "delay": 0.5 * s},
            },
        ],
    }


async def produce(redis_url: str, queue_name: str = "tasks", *, time_scale: float = 1.0) -> dict[str, list[str]]:
    """Adds the jobs in one round trip; returns their ids by kind."""
    kinds = jobs(time_scale)
    entries = [entry for group in kinds.values() for entry in group]
    async with Queue(queue_name, redis_url) as queue:
        added = iter(await queue.add_bulk(entries))
    return {kind: [next(added).id for _ in group] for kind, group in kinds.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--queue", default="tasks")
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL") or "redis://localhost:6379")
    parser.add_argument("--time-scale", type=float, default=1.0, help="multiplies every delay and backoff")
    args = parser.parse_args(argv)
    ids = asyncio.run(produce(args.redis_url, args.queue, time_scale=args.time_scale))
    for kind, job_ids in ids.items():
        print(f"{kind:>12}: {', '.join(job_ids)}")


if __name__ == "__main__":
    main()
