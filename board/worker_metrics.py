"""Prometheus metrics of one worker process, from the worker's hooks: what its jobs cost, as it sees them.

The board's ``/metrics`` reads the queues from Redis, whoever processes them; these are the figures only
the process running the jobs knows (how long each took, how long it waited to start), served on the
worker's own port (``board worker --metrics-port``) for a scraper to collect per pod::

    metrics = WorkerMetrics()
    metrics.watch(worker)
    metrics.serve(9400)
"""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from .engine.worker import Worker

# Seconds; from a quick e-mail to a report that takes minutes.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
WAIT_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)


class WorkerMetrics:
    """Counters and histograms of the jobs the watched workers run, in ``registry`` (a new one when
    None, so that two in one process never clash; pass ``prometheus_client.REGISTRY`` to add them to an
    application's own). Labelled by queue, so that one process may watch several workers."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        self.duration = Histogram(
            "bullmq_worker_job_duration_seconds",
            "Time from a job's start on this worker to its result, per outcome.",
            ["queue", "status"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.wait = Histogram(
            "bullmq_worker_job_wait_seconds",
            "Time a job waited to start: from when it was added, or due when delayed, to its start here.",
            ["queue"],
            buckets=WAIT_BUCKETS,
            registry=self.registry,
        )
        self.completed = Counter(
            "bullmq_worker_jobs_completed", "Jobs this process completed.", ["queue"], registry=self.registry
        )
        self.failed = Counter(
            "bullmq_worker_jobs_failed",
            "Failed attempts in this process, retried or not.",
            ["queue"],
            registry=self.registry,
        )
        self.exhausted = Counter(
            "bullmq_worker_jobs_retries_exhausted",
            "Jobs that failed their last attempt in this process.",
            ["queue"],
            registry=self.registry,
        )
        self.active = Gauge("bullmq_worker_jobs_active", "Jobs running now.", ["queue"], registry=self.registry)
        self._started: dict[tuple[str, str], float] = {}

    def watch(self, worker: Worker) -> None:
        """Records the jobs ``worker`` runs from now on."""
        queue = worker.keys.name
        for metric in (self.completed, self.failed, self.exhausted, self.active):
            metric.labels(queue=queue)  # so that a scrape shows 0 before the first job
        worker.on("active", lambda job: self._start(queue, job))
        worker.on("completed", lambda job, _result: self._end(queue, job, "completed"))
        worker.on("failed", lambda job, _error: self._end(queue, job, "failed"))
        worker.on("retries-exhausted", lambda _job, _error: self.exhausted.labels(queue=queue).inc())

    def _start(self, queue: str, job: Any) -> None:
        self._started[(queue, str(job.id))] = time.monotonic()
        self.active.labels(queue=queue).inc()
        # A retry's wait would count its backoff and earlier attempts: first attempts only.
        if job.attempts_made:
            return
        due_ms = (job.timestamp or 0) + (job.delay or 0)
        started_ms = job.processed_on or int(time.time() * 1000)
        if due_ms > 0:
            self.wait.labels(queue=queue).observe(max(0.0, (started_ms - due_ms) / 1000))

    def _end(self, queue: str, job: Any, status: str) -> None:
        started = self._started.pop((queue, str(job.id)), None)
        if started is None:
            return
        self.active.labels(queue=queue).dec()
        self.duration.labels(queue=queue, status=status).observe(time.monotonic() - started)
        (self.completed if status == "completed" else self.failed).labels(queue=queue).inc()

    def serve(self, port: int, addr: str = "0.0.0.0") -> None:
        """Serves ``/metrics`` on ``addr:port`` from a thread of this process (every address by default:
        the scraper runs elsewhere)."""
        start_http_server(port, addr, registry=self.registry)


__all__ = ["WorkerMetrics"]
