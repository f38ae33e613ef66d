"""Node BullMQ's exportPrometheusMetrics() and the board's exposition agree on the same queue."""

from __future__ import annotations

import redis
from prometheus_client.parser import text_string_to_metric_families

from board import Queue
from board.adapters.prometheus import exposition, scrape
from board.engine.inspector import Inspector
from tests.interop.nodejs import require_node
from tests.interop.test_node import node

require_node("Prometheus interop")

NODE_SERIES = ("bullmq_job_count", "bullmq_job_completed_total", "bullmq_job_failed_total")


def series(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name in NODE_SERIES
    }


async def test_the_node_series_are_the_same(queue: Queue, raw: redis.Redis, redis_url: str, qname: str) -> None:
    await queue.add_bulk([{"name": "a", "data": {}}, {"name": "b", "data": {}, "delay": 60}])
    await queue.add("c", {}, priority=2)
    raw.zadd(f"bull:{qname}:failed", {"x": 1})
    raw.hset(f"bull:{qname}:metrics:completed", mapping={"count": 12, "prevTS": 1, "prevCount": 0})
    raw.hset(f"bull:{qname}:metrics:failed", mapping={"count": 3, "prevTS": 1, "prevCount": 0})
    theirs = series((await node(redis_url, "prometheus", qname))["text"])
    inspector = Inspector(redis_url)
    try:
        ours = series(exposition(await scrape(inspector, [qname])).decode())
    finally:
        await inspector.close()
    assert ours == theirs
    assert theirs[("bullmq_job_completed_total", (("queue", qname),))] == 12


async def test_node_reads_our_metrics_and_we_read_nodes(
    queue: Queue, raw: redis.Redis, redis_url: str, qname: str
) -> None:
    from board import Worker
    from tests.engine.helpers import running
    from tests.support import until

    await queue.add_bulk([{"name": "n", "data": {}} for _ in range(3)])

    async def work(job: object) -> str:
        return "ok"

    async with running(Worker(qname, work, redis_url, handle_signals=False, metrics={"max_data_points": 10})):
        await until(lambda: _completed(queue, 3))
    # Move the clock of our metrics back two minutes, so that Node's worker rolls a minute over.
    prev = int(raw.hget(f"bull:{qname}:metrics:completed", "prevTS") or 0)
    raw.hset(f"bull:{qname}:metrics:completed", "prevTS", prev - 2 * 60_000)
    await queue.add_bulk([{"name": "n", "data": {}} for _ in range(2)])
    await node(redis_url, "work", qname, until={"completed": 2}, metrics_points=10)
    theirs = await node(redis_url, "metrics", qname, kind="completed")
    ours = await queue.get_metrics("completed")
    assert theirs["meta"]["count"] == ours.count == 5
    assert theirs["data"] == ours.data == [0, 3]
    assert theirs["count"] == ours.points == 2


async def _completed(queue: Queue, count: int) -> bool:
    return (await queue.get_job_counts("completed"))["completed"] == count
