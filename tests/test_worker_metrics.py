"""A worker's own Prometheus metrics, read the way a scraper reads them."""

from __future__ import annotations

from typing import Any

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from board import Queue, Worker
from board.worker_metrics import WorkerMetrics
from tests.engine.helpers import running
from tests.support import until


def scrape(metrics: WorkerMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = generate_latest(metrics.registry).decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def test_counts_outcomes_attempts_and_durations_per_queue(queue: Queue, redis_url: str, qname: str) -> None:
    async def work(job: Any) -> str:
        if job.data.get("fail"):
            raise RuntimeError("no")
        return "ok"

    await queue.add("good", {})
    await queue.add("flaky", {"fail": True}, attempts=2)
    await queue.add("bad", {"fail": True})
    metrics = WorkerMetrics()
    worker = Worker(qname, work, redis_url, handle_signals=False)
    metrics.watch(worker)
    before = scrape(metrics)
    assert before[("bullmq_worker_jobs_completed_total", (("queue", qname),))] == 0

    async with running(worker):
        await until(
            lambda: scrape(metrics).get(("bullmq_worker_jobs_retries_exhausted_total", (("queue", qname),))) == 2
        )
        await until(lambda: scrape(metrics)[("bullmq_worker_jobs_completed_total", (("queue", qname),))] == 1)
    after = scrape(metrics)
    label = (("queue", qname),)
    # The flaky job failed twice (both attempts), the bad one once.
    assert after[("bullmq_worker_jobs_failed_total", label)] == 3
    assert after[("bullmq_worker_job_duration_seconds_count", (("queue", qname), ("status", "failed")))] == 3
    assert after[("bullmq_worker_job_duration_seconds_count", (("queue", qname), ("status", "completed")))] == 1
    # Wait times of first attempts only: three jobs, not four attempts.
    assert after[("bullmq_worker_job_wait_seconds_count", label)] == 3
    assert after[("bullmq_worker_jobs_active", label)] == 0


def test_two_collectors_in_one_process_do_not_clash() -> None:
    first, second = WorkerMetrics(), WorkerMetrics()
    assert first.registry is not second.registry
