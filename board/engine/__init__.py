"""The queue engine: BullMQ 6's Redis format, asyncio first."""

from .errors import (
    BoardError,
    JobFailedError,
    JobLockedError,
    JobNotFound,
    JobStateError,
    LockLostError,
    QueueStateError,
    RedisUnavailable,
    UnrecoverableError,
    WaitTimeoutError,
)
from .events import QueueEvents
from .job import Job, JobRecord, SyncJob
from .queue import Queue
from .sync_queue import SyncQueue
from .worker import Worker

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
    "QueueEvents",
    "QueueStateError",
    "RedisUnavailable",
    "SyncJob",
    "SyncQueue",
    "UnrecoverableError",
    "WaitTimeoutError",
    "Worker",
]
