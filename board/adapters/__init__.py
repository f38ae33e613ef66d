"""Adapters between the board and queue engines; the board reads and acts only through these."""

from .base import (
    TABS,
    ActionResult,
    AdapterError,
    Field,
    JobDetail,
    JobPage,
    JobSummary,
    QueueAdapter,
    QueueInfo,
    WorkerInfo,
)
from .bullmq import BullMQAdapter

__all__ = [
    "TABS",
    "ActionResult",
    "AdapterError",
    "BullMQAdapter",
    "Field",
    "JobDetail",
    "JobPage",
    "JobSummary",
    "QueueAdapter",
    "QueueInfo",
    "WorkerInfo",
]
