"""board: a job-queue dashboard with its own BullMQ-compatible queue engine."""

from .engine import (
    BoardError,
    Job,
    JobFailedError,
    JobLockedError,
    JobNotFound,
    JobRecord,
    JobStateError,
    LockLostError,
    Queue,
    QueueEvents,
    QueueStateError,
    RedisUnavailable,
    SyncJob,
    SyncQueue,
    UnrecoverableError,
    WaitTimeoutError,
    Worker,
)
from .engine.events import QueueEvent

__version__ = "0.1.0"

__all__ = [
    "BoardError",
    "Job",
    "JobFailedError",
    "JobLockedError",
    "JobNotFound",
    "JobRecord",
    "JobStateError",
    "LockLostError",
    "Queue",
    "QueueEvent",
    "QueueEvents",
    "QueueStateError",
    "RedisUnavailable",
    "SyncJob",
    "SyncQueue",
    "UnrecoverableError",
    "WaitTimeoutError",
    "Worker",
    "__version__",
]
