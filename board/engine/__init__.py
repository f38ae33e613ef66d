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
from .flows import FlowProducer, JobNode, SyncFlowProducer
from .job import Job, JobRecord, SyncJob
from .keys import check_job_id
from .queue import Queue
from .schedulers import JobScheduler
from .sync_queue import SyncQueue
from .worker import Worker

__all__ = [
    "BackoffStrategy",
    "BoardError",
    "FlowProducer",
    "Job",
    "JobFailedError",
    "JobLockedError",
    "JobNode",
    "JobNotFound",
    "JobRecord",
    "JobScheduler",
    "JobStateError",
    "LockLostError",
    "OutcomeUnknown",
    "Queue",
    "QueueEvents",
    "QueueStateError",
    "RedisRefused",
    "RedisUnavailable",
    "SyncFlowProducer",
    "SyncJob",
    "SyncQueue",
    "UnrecoverableError",
    "WaitTimeoutError",
    "Worker",
    "check_job_id",
]
