"""A worker module: one processor per kind of job, and ``process`` to run them all from one queue.

Run it from the repository root (``produce.py`` beside this file adds jobs to work on)::

    board worker examples.worker_module.jobs:process --queue tasks --concurrency 5

Each processor is an ``async`` function of a ``board.Job``; its return value is stored on the job. A raised
exception fails the attempt: the job is tried again after its backoff while it has attempts left, then
lands in ``failed``. ``UnrecoverableError`` fails it at once. A plain (non-async) function works too: the
worker then runs it in a thread pool and hands it a ``board.SyncJob``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from board import Job, UnrecoverableError

log = logging.getLogger(__name__)


def _data(job: Job) -> dict[str, Any]:
    return job.data if isinstance(job.data, dict) else {}


async def resize_image(job: Job) -> dict[str, Any]:
    """Reports its progress step by step, as a long job would."""
    data = _data(job)
    image, width = data.get("image", "image.jpg"), int(data.get("width", 640))
    for step in (25, 50, 75, 100):
        await asyncio.sleep(0.02)  # the work
        await job.update_progress(step)
    await job.log(f"resized {image} to {width} px")
    return {"image": image, "thumbnail": f"thumbs/{width}/{image}"}


async def send_reminder(job: Job) -> dict[str, Any]:
    """Added with a delay: runs once that has passed."""
    data = _data(job)
    log.info("reminding %s: %s", data.get("user"), data.get("about"))
    return {"reminded": data.get("user"), "at": datetime.now(UTC).isoformat(timespec="milliseconds")}


async def build_report(job: Job) -> dict[str, Any]:
    """Added with a priority: among prioritized jobs, 1 runs first."""
    data = _data(job)
    await asyncio.sleep(0.01)
    return {"report": data.get("report"), "priority": job.priority, "rows": 42}


class GatewayTimeout(ConnectionError):
    """What a flaky downstream service does now and then."""


async def charge_card(job: Job) -> dict[str, Any]:
    """Flaky on purpose: the first ``fail_first`` attempts time out, as a payment gateway might; the job's
    ``attempts`` and ``backoff`` then decide whether and when it is tried again."""
    data = _data(job)
    amount = data.get("amount_cents")
    if not isinstance(amount, int) or amount <= 0:
        raise UnrecoverableError(f"amount_cents must be a positive whole number, got {amount!r}")
    attempt = job.attempts_made + 1
    if attempt <= int(data.get("fail_first", 0)):
        raise GatewayTimeout(f"payment gateway timed out (attempt {attempt})")
    await job.log(f"charged {amount} cents for order {data.get('order')} on attempt {attempt}")
    return {"order": data.get("order"), "charged_cents": amount, "attempt": attempt}


PROCESSORS: dict[str, Callable[[Job], Awaitable[dict[str, Any]]]] = {
    "resize-image": resize_image,
    "send-reminder": send_reminder,
    "build-report": build_report,
    "charge-card": charge_card,
}


async def process(job: Job) -> dict[str, Any]:
    """Runs the processor for the job's name; a name nobody handles fails at once."""
    processor = PROCESSORS.get(job.name)
    if processor is None:
        raise UnrecoverableError(f"no processor for jobs named {job.name!r}; known: {', '.join(PROCESSORS)}")
    return await processor(job)
