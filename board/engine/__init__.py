"""The queue engine: BullMQ 6's Redis format, asyncio first."""

from .backoff import BackoffStrategy
from .errors import (
    BoardError,
    JobFailedError,
    JobLockedError,
    JobNotFound,
    JobStateError,
    LockLostError,
    OutcomeUnknown,
    QueueStateError,
    RedisRefused,
    RedisUnavailable,
    UnrecoverableError,
    WaitTimeoutError,
)
from .events import QueueEvents
from .job import Job, JobRecord, SyncJob
from .keys import check_job_id
from .queue import Queue
from .sync_queue import SyncQueue
from .worker import Worker

__all__ = [
    "BackoffStrategy",
    "BoardError",
    "Job",
    "JobFailedError",
    "JobLockedError",
    "JobNotFound",
    "JobRecord",
    "JobStateError",
    "LockLostError",
    "OutcomeUnknown",
    "Queue",
    "QueueEvents",
    "QueueStateError",
    "RedisRefused",
    "RedisUnavailable",
    "SyncJob",
    "SyncQueue",
    "UnrecoverableError",
    "WaitTimeoutError",
    "Worker",
    "check_job_id",
]
