"""Job schedulers as the board shows them, and the engine's refusals of a new schedule as form fields."""

from __future__ import annotations

import json

from ..engine.schedulers import JobScheduler
from .base import Field, SchedulerInfo
from .payload import nested_deeper_than

# Words the engine starts a refusal with ("cron: ...", "cron, every: ..."), and the form field each is.
_FIELDS = {"cron": "cron", "pattern": "cron", "every": "every", "tz": "tz", "limit": "limit", "end": "end"}


def scheduler_info(queue: str, scheduler: JobScheduler, data_bytes: int) -> SchedulerInfo:
    """``scheduler`` for display: its template data as JSON text cut at ``data_bytes``."""
    problems = dict(scheduler.problems)
    data = scheduler.data
    if isinstance(data, dict | list) and nested_deeper_than(data):
        problems.setdefault("data", "nested too deep to show")
        data = "[nested too deep to show]"
    if "data" in problems:
        text = data if isinstance(data, str) else ""
        shown = Field(text[:data_bytes], len(text.encode("utf-8", "surrogateescape")), len(text) > data_bytes)
    else:
        text = json.dumps(data, ensure_ascii=False, indent=2, default=str)
        size = len(text.encode("utf-8", "surrogateescape"))
        shown = Field(text[:data_bytes], size, len(text) > data_bytes, data, len(text) <= data_bytes)
    opts = scheduler.opts if not nested_deeper_than(scheduler.opts) else {}
    return SchedulerInfo(
        queue=queue,
        id=scheduler.id,
        name=scheduler.name,
        pattern=scheduler.pattern,
        every_ms=scheduler.every_ms,
        tz=scheduler.tz,
        next_run_ms=scheduler.next_run_ms,
        next_job_id=scheduler.next_job_id,
        iterations=scheduler.iteration_count,
        limit=scheduler.limit,
        start_ms=scheduler.start_ms,
        end_ms=scheduler.end_ms,
        data=shown,
        opts=opts,
        problems=problems,
    )


def refused_field(message: str) -> str | None:
    """The form field a refusal of the engine is about ("cron: unknown field ..." -> "cron")."""
    head = message.split(":", 1)[0]
    first = head.split(",", 1)[0].strip()
    return _FIELDS.get(first)


__all__ = ["refused_field", "scheduler_info"]
