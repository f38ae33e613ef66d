"""The flow benchmark: a parent with 1,000 children, and how soon the parent starts once its last child is done.

    python bench/flows.py [--children 1000] [--rounds 5] [--concurrency 100]

Starts its own Redis (no persistence). Each round adds one flow (the parent in one queue, its children in
another), runs it with one worker per queue in this process, and measures:

- add: the ``FlowProducer.add`` call for the whole flow (one script call);
- release: from the last child's completion to the parent's start, in Redis's own record of both (the
  child's ``finishedOn`` and the parent's ``processedOn``, ms, both stamped by the calls that did them);
- wake: the same seen from Python, from the moment the call that completed the last child returned to
  the moment the parent's processor was called (it can be negative: the parent's worker may start it
  before the children's worker has handled its reply).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from board import FlowProducer, Job, Queue, Worker
from board.redis_server import RedisServer


async def one_round(url: str, round_no: int, children: int, concurrency: int) -> dict[str, float]:
    parent_q, kids_q = f"bench-parent-{round_no}", f"bench-kids-{round_no}"
    parent_started = asyncio.Event()
    marks: dict[str, float] = {}
    done = 0

    async def child(job: Job) -> int:
        return int(job.data["i"])

    async def parent(job: Job) -> int:
        marks["parent"] = time.perf_counter()
        parent_started.set()
        return len(await job.get_children_values())

    def completed(job: Job, result: Any) -> None:
        nonlocal done
        done += 1
        if done == children:
            marks["last_child"] = time.perf_counter()

    kids_worker = Worker(kids_q, child, url, concurrency=concurrency, handle_signals=False)
    kids_worker.on("completed", completed)
    parent_worker = Worker(parent_q, parent, url, handle_signals=False)
    tasks = [asyncio.create_task(w.run()) for w in (parent_worker, kids_worker)]
    await asyncio.sleep(0.2)  # both workers connected and idle, blocked on their markers
    async with FlowProducer(url) as flows:
        start = time.perf_counter()
        tree = await flows.add(
            {
                "name": "parent",
                "queue_name": parent_q,
                "children": [{"name": "child", "queue_name": kids_q, "data": {"i": i}} for i in range(children)],
            }
        )
        added = time.perf_counter() - start
    await asyncio.wait_for(parent_started.wait(), 120)
    for w in (kids_worker, parent_worker):
        await w.close()
    await asyncio.gather(*tasks)
    async with Queue(kids_q, url) as kids, Queue(parent_q, url) as parents:
        finished = [job.finished_on or 0 for job in await kids.get_jobs("completed")]
        top = await parents.get_job(tree.job.id)
    assert len(finished) == children and top is not None and top.processed_on is not None
    return {
        "add_ms": added * 1000,
        "release_ms": float(top.processed_on - max(finished)),
        "wake_ms": (marks["parent"] - marks["last_child"]) * 1000,
        "total_s": marks["parent"] - start,
    }


async def main(children: int, rounds: int, concurrency: int) -> None:
    with RedisServer() as server:
        server.start()
        results = []
        for i in range(rounds):
            r = await one_round(server.url, i, children, concurrency)
            results.append(r)
            print(
                f"round {i + 1}: add {r['add_ms']:.1f} ms, release {r['release_ms']:.0f} ms (Redis clock), "
                f"wake {r['wake_ms']:.2f} ms (Python), flow done in {r['total_s']:.2f} s"
            )
        med = {key: statistics.median(r[key] for r in results) for key in results[0]}
        print(
            f"\nflow of 1 parent + {children} children, {rounds} rounds, medians: add {med['add_ms']:.1f} ms; "
            f"last child completed -> parent started: {med['release_ms']:.0f} ms (Redis clock, 1 ms resolution), "
            f"{med['wake_ms']:.2f} ms (Python)"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--children", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=100)
    args = parser.parse_args()
    asyncio.run(main(args.children, args.rounds, args.concurrency))
