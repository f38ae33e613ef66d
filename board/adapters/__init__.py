"""Adapters between the board and queue engines; the board reads and acts only through these."""

from .base import (
    CLEANABLE_STATES,
    COUNTED,
    RETRYABLE,
    TABS,
    ActionResult,
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
from .errors import AdapterError, Conflict, Invalid, NotFound, TooLarge, Unavailable

__all__ = [
    "CLEANABLE_STATES",
    "COUNTED",
    "RETRYABLE",
    "TABS",
    "ActionResult",
    "AdapterError",
    "BullMQAdapter",
    "ChildLink",
    "Conflict",
    "Field",
    "Invalid",
    "JobDetail",
    "JobPage",
    "JobSummary",
    "NotFound",
    "QueueAdapter",
    "QueueInfo",
    "SessionStore",
    "TooLarge",
    "Unavailable",
    "WorkerInfo",
]
