"""The Prometheus exposition: Node BullMQ's series first, as Node writes them, then ours."""

from __future__ import annotations

import time
from typing import Any

import redis
from prometheus_client.parser import text_string_to_metric_families

from board import Queue
from board.adapters.prometheus import exposition, scrape
from board.engine.inspector import Inspector

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def parse(text: str) -> Samples:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_series_values_and_types(queue: Queue, raw: redis.Redis, redis_url: str, qname: str) -> None:
    await queue.add("a", {})
    await queue.add("b", {}, delay=60)
    await queue.add("c", {}, priority=3)
    raw.hset(f"bull:{qname}:metrics:completed", mapping={"count": 7, "prevTS": 1, "prevCount": 0})
    raw.hset(f"bull:{qname}:metrics:failed", mapping={"count": 2, "prevTS": 1, "prevCount": 0})
    added = int(raw.hget(f"bull:{qname}:1", "timestamp") or 0)
    await queue.pause()
    inspector = Inspector(redis_url)
    try:
        samples = await scrape(inspector, [qname, "empty"])
    finally:
        await inspector.close()
    text = exposition(samples, now_ms=added + 90_000).decode()
    got = parse(text)
    q = (("queue", qname),)
    assert got[("bullmq_job_count", (("queue", qname), ("state", "waiting")))] == 1
    assert got[("bullmq_job_count", (("queue", qname), ("state", "delayed")))] == 1
    assert got[("bullmq_job_count", (("queue", qname), ("state", "prioritized")))] == 1
    assert got[("bullmq_job_count", (("queue", qname), ("state", "waiting-children")))] == 0
    assert got[("bullmq_job_completed_total", q)] == 7 and got[("bullmq_job_failed_total", q)] == 2
    assert got[("bullmq_queue_waiting", q)] == 1 and got[("bullmq_queue_waiting_children", q)] == 0
    assert got[("bullmq_queue_paused", q)] == 1
    # The next to run is job 1 (wait's tail), added 90 s before "now".
    assert got[("bullmq_queue_oldest_waiting_seconds", q)] == 90
    assert got[("bullmq_queue_workers", q)] == 0
    empty = (("queue", "empty"),)
    assert got[("bullmq_queue_oldest_waiting_seconds", empty)] == 0 and got[("bullmq_queue_paused", empty)] == 0
    assert "# TYPE bullmq_job_completed_total counter" in text
    assert "# TYPE bullmq_queue_waiting gauge" in text


async def test_one_scrape_is_one_round_trip_whatever_the_number_of_queues(redis_url: str) -> None:
    inspector = Inspector(redis_url)
    trips = 0
    exchange = inspector.runner._exchange

    async def counted(data: bytes, replies: int) -> list[Any]:
        nonlocal trips
        trips += 1
        return await exchange(data, replies)

    inspector.runner._exchange = counted  # type: ignore[method-assign]
    try:
        await scrape(inspector, ["warm"])  # the scripts loaded once, as any long-running board has them
        for count in (1, 300):
            trips = 0
            samples = await scrape(inspector, [f"q{i}" for i in range(count)])
            assert len(samples) == count and trips == 1, (count, trips)
    finally:
        await inspector.close()


async def test_a_queue_whose_keys_another_program_broke_still_scrapes(raw: redis.Redis, redis_url: str) -> None:
    raw.set("bull:broken:wait", "not a list")
    raw.set("bull:broken:metrics:completed", "not a hash")
    inspector = Inspector(redis_url)
    try:
        samples = await scrape(inspector, ["broken"])
    finally:
        await inspector.close()
    got = parse(exposition(samples, now_ms=int(time.time() * 1000)).decode())
    assert got[("bullmq_job_completed_total", (("queue", "broken"),))] == 0
