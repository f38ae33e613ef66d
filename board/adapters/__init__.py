"""Adapters between the board and queue engines; the board reads and acts only through these."""

from .base import (
    CLEANABLE_STATES,
    TABS,
    ActionResult,
    AdapterError,
    ChildLink,
    Field,
    JobDetail,
    JobPage,
    JobSummary,
    QueueAdapter,
    QueueInfo,
    SessionStore,
    WorkerInfo,
)
from .bullmq import BullMQAdapter

__all__ = [
    "CLEANABLE_STATES",
    "TABS",
    "ActionResult",
    "AdapterError",
    "BullMQAdapter",
    "ChildLink",
    "Field",
    "JobDetail",
    "JobPage",
    "JobSummary",
    "QueueAdapter",
    "QueueInfo",
    "SessionStore",
    "WorkerInfo",
]
