"""The engine's exceptions.

Bad arguments raise the built-in ``ValueError`` (a wrong or unknown option, named in the message) or
``TypeError`` (job data that is not JSON-serialisable), before anything is written. Everything else
derives from ``BoardError``::

    BoardError
    ├── RedisUnavailable        Redis could not be reached or dropped the connection; safe to retry
    ├── JobNotFound             no job with that id in that queue
    ├── JobStateError           the job is not in a state that allows the operation
    │   └── JobLockedError      the job is active and locked by a worker
    ├── LockLostError           a worker no longer holds the lock of the job it is finishing
    ├── QueueStateError         the queue is not in a state that allows the operation
    ├── JobFailedError          a waited-for job failed (carries its failed reason)
    └── WaitTimeoutError        a wait ran out of time

``UnrecoverableError`` is raised by a processor, not by the engine: it fails the job at once, without
the retries its options would allow.
"""

from __future__ import annotations


class BoardError(Exception):
    """Base class of every error the engine raises on purpose."""


class RedisUnavailable(BoardError, ConnectionError):
    """Redis could not be reached. Nothing was acknowledged; the call may be retried."""


class JobNotFound(BoardError, KeyError):
    def __init__(self, queue: str, job_id: str) -> None:
        super().__init__(f"job {job_id!r} not found in queue {queue!r}")
        self.queue = queue
        self.job_id = job_id

    def __str__(self) -> str:
        return str(self.args[0])


class JobStateError(BoardError):
    """The job exists but its state does not allow the operation (e.g. promoting a waiting job)."""


class JobLockedError(JobStateError):
    """The job is being processed by a worker that holds its lock."""


class LockLostError(BoardError):
    """The worker lost a job's lock (it expired, or another worker took the job over)."""


class QueueStateError(BoardError):
    """The queue's state does not allow the operation (e.g. obliterating a queue that is not paused)."""


class JobFailedError(BoardError):
    def __init__(self, job_id: str, reason: str) -> None:
        super().__init__(f"job {job_id!r} failed: {reason}")
        self.job_id = job_id
        self.reason = reason


class WaitTimeoutError(BoardError, TimeoutError):
    """A wait for a job or an event ran out of time."""


class UnrecoverableError(Exception):
    """Raised by a processor to fail its job immediately, skipping any remaining attempts."""
