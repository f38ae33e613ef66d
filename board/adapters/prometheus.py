"""The queues in the Prometheus text format, produced with prometheus-client.

First exactly the series Node BullMQ's ``exportPrometheusMetrics()`` writes (``bullmq_job_count{queue,
state}``, ``bullmq_job_completed_total{queue}``, ``bullmq_job_failed_total{queue}``: same names, labels
and values, so that dashboards and rules made for it keep working), then what it lacks: one gauge per
state (``bullmq_queue_waiting`` is what a Kubernetes HPA scales on), whether the queue is paused or
rate limited, the workers connected and how long the next job to run has waited.

One scrape costs one round trip to Redis whatever the number of queues: one pipeline holding two
script calls per queue and a ``CLIENT LIST`` (on a Redis Cluster, each node's calls and every primary's
``CLIENT LIST`` at the same time).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ..engine.inspector import Inspector, QueueStatus
from ..engine.metrics import QueueFigures, figures_call, parse_figures
from ..engine.states import JobState

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# The states Node's getJobCounts() counts when given none, in its order.
NODE_STATES = (
    JobState.ACTIVE,
    JobState.COMPLETED,
    JobState.DELAYED,
    JobState.FAILED,
    JobState.PRIORITIZED,
    JobState.WAITING,
    JobState.WAITING_CHILDREN,
)


@dataclass(frozen=True)
class QueueSample:
    status: QueueStatus
    figures: QueueFigures


class _Snapshot(Collector):
    """The figures of one scrape, read beforehand: prometheus-client collects synchronously."""

    def __init__(self, samples: Sequence[QueueSample], now_ms: int) -> None:
        self.samples = samples
        self.now_ms = now_ms

    def collect(self) -> Iterator[Metric]:
        yield from self._node_series()
        yield from self._state_gauges()
        yield from self._queue_gauges()

    def _node_series(self) -> Iterator[Metric]:
        count = GaugeMetricFamily("bullmq_job_count", "Number of jobs in the queue by state", labels=["queue", "state"])
        completed = CounterMetricFamily(
            "bullmq_job_completed_total", "Total number of completed jobs", labels=["queue"]
        )
        failed = CounterMetricFamily("bullmq_job_failed_total", "Total number of failed jobs", labels=["queue"])
        for sample in self.samples:
            name = sample.status.name
            for state in NODE_STATES:
                count.add_metric([name, state.value], sample.status.counts.get(state.key, 0))
            completed.add_metric([name], sample.figures.completed_total)
            failed.add_metric([name], sample.figures.failed_total)
        yield from (count, completed, failed)

    def _state_gauges(self) -> Iterator[Metric]:
        for state in NODE_STATES:
            metric = "bullmq_queue_" + state.value.replace("-", "_")
            gauge = GaugeMetricFamily(metric, f"Jobs {state.value} in the queue", labels=["queue"])
            for sample in self.samples:
                gauge.add_metric([sample.status.name], sample.status.counts.get(state.key, 0))
            yield gauge

    def _queue_gauges(self) -> Iterator[Metric]:
        paused = GaugeMetricFamily("bullmq_queue_paused", "1 when the queue is paused", labels=["queue"])
        limited = GaugeMetricFamily(
            "bullmq_queue_rate_limited", "1 while the queue's rate limit holds workers back", labels=["queue"]
        )
        limit_left = GaugeMetricFamily(
            "bullmq_queue_rate_limit_remaining_seconds", "Time until the rate limit lets jobs start", labels=["queue"]
        )
        workers = GaugeMetricFamily("bullmq_queue_workers", "Workers connected to the queue", labels=["queue"])
        oldest = GaugeMetricFamily(
            "bullmq_queue_oldest_waiting_seconds",
            "How long the next job to run has waited since it was added (0 when none waits)",
            labels=["queue"],
        )
        for sample in self.samples:
            status, name = sample.status, [sample.status.name]
            paused.add_metric(name, int(status.paused))
            limited.add_metric(name, int(status.rate_limited))
            limit_left.add_metric(name, status.limiter_ttl_ms / 1000 if status.rate_limited else 0)
            workers.add_metric(name, len(status.workers))
            added = sample.figures.oldest_waiting_ms
            oldest.add_metric(name, max(0, self.now_ms - added) / 1000 if added else 0)
        yield from (paused, limited, limit_left, workers, oldest)


async def scrape(inspector: Inspector, queues: Sequence[str]) -> list[QueueSample]:
    """The figures of ``queues``, in one round trip; a queue the inspector refuses (``Inspector.refusal``)
    has that refusal as its status's ``error``."""
    read = [queue for queue in queues if inspector.refusal(queue) is None]
    calls = []
    for queue in read:
        calls += [inspector.status_call(queue), figures_call(inspector.keys(queue))]
    replies, clients = await inspector.batch_and_clients(calls)
    workers = inspector.workers_of(read, clients) or {}
    samples = {}
    for i, queue in enumerate(read):
        status = inspector.parse_status(queue, replies[2 * i], 1, None)
        status.workers = workers.get(queue, [])
        samples[queue] = QueueSample(status, parse_figures(replies[2 * i + 1]))
    return [samples.get(queue) or _refused(queue, inspector.refusal(queue)) for queue in queues]


def _refused(queue: str, error: str | None) -> QueueSample:
    return QueueSample(QueueStatus(queue, error=error), QueueFigures())


def exposition(samples: Sequence[QueueSample], now_ms: int | None = None) -> bytes:
    """The Prometheus text format of ``samples``."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Snapshot(samples, int(time.time() * 1000) if now_ms is None else now_ms))
    return generate_latest(registry)


__all__ = ["CONTENT_TYPE", "NODE_STATES", "QueueSample", "exposition", "scrape"]
