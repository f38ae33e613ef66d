"""board: a job-queue dashboard with its own BullMQ-compatible queue engine."""

from .engine import (
    BoardError,
    FlowProducer,
    Job,
    JobFailedError,
    JobLockedError,
    JobNode,
    JobNotFound,
    JobRecord,
    JobScheduler,
    JobStateError,
    LockLostError,
    OutcomeUnknown,
    Queue,
    QueueEvents,
    QueueStateError,
    RedisRefused,
    RedisUnavailable,
    SyncFlowProducer,
    SyncJob,
    SyncQueue,
    UnrecoverableError,
    WaitTimeoutError,
    Worker,
)
from .engine.events import QueueEvent
from .web.app import create_board
from .web.auth import BasicAuth, FormLogin, TrustedHeader
from .web.users import User, hash_password

__version__ = "0.1.0"

__all__ = [
    "BasicAuth",
    "BoardError",
    "FlowProducer",
    "FormLogin",
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
    "QueueEvent",
    "QueueEvents",
    "QueueStateError",
    "RedisRefused",
    "RedisUnavailable",
    "SyncFlowProducer",
    "SyncJob",
    "SyncQueue",
    "TrustedHeader",
    "UnrecoverableError",
    "User",
    "WaitTimeoutError",
    "Worker",
    "__version__",
    "create_board",
    "hash_password",
]
