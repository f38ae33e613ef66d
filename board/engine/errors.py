"""The engine's exceptions.

Bad arguments raise the built-in ``ValueError`` (a wrong or unknown option, named in the message) or
``TypeError`` (job data that is not JSON-serialisable), before anything is written. Everything else
derives from ``BoardError``::

    BoardError
    ├── RedisUnavailable        Redis could not be reached or dropped the connection; safe to retry
    ├── OutcomeUnknown          the connection dropped after a call that must not run twice was sent
    ├── RedisRefused            Redis answered with an error (out of memory, read-only replica, ...)
    ├── JobNotFound             no job with that id in that queue
    ├── JobStateError           the job is not in a state that allows the operation
    │   └── JobLockedError      the job is active and locked by a worker
    ├── LockLostError           a worker no longer holds the lock of the job it is finishing
    ├── QueueStateError         the queue is not in a state that allows the operation
    ├── JobFailedError          a waited-for job failed (carries its failed reason)
    └── WaitTimeoutError        a wait ran out of time

What each Redis error promises about the call that raised it:

- ``RedisUnavailable``: retrying is safe. Either nothing reached Redis, or the call is one that leaves
  the same result however often it runs (a read, a lock renewal, an add with a custom ``job_id``,
  pause, clean, ...), and the engine already retried it for about a second.
- ``OutcomeUnknown``: the request was sent and the connection failed before the reply, for a call
  that must not run twice (an add without a custom ``job_id``, removing, promoting or retrying one job,
  a log line): Redis may or may not have carried it out. The engine did not retry it.
- ``RedisRefused``: Redis answered with an error reply (kept on ``reply``, its first word on ``code``).
  When ``retryable`` is true (OOM, READONLY, NOREPLICAS, MISCONF, BUSY, MASTERDOWN, LOADING) Redis
  refused before the call wrote anything, so it can be retried once the cause is gone.

``OutcomeUnknown`` and ``RedisRefused`` are also redis-py errors (``redis.exceptions.RedisError``,
and ``ResponseError`` for the refusal), so that code written for redis-py keeps catching them;
``RedisUnavailable`` is the built-in ``ConnectionError``.

``UnrecoverableError`` is raised by a processor, not by the engine: it fails the job at once, without
the retries its options would allow.
"""

from __future__ import annotations

from redis.exceptions import RedisError, ResponseError


class BoardError(Exception):
    """Base class of every error the engine raises on purpose."""


class RedisUnavailable(BoardError, ConnectionError):
    """Redis could not be reached, or the connection failed. The call may be retried: either it never
    reached Redis, or running it again leaves the same result (see this module's docstring)."""


class OutcomeUnknown(BoardError, RedisError):
    """The connection failed after the request was sent and before its reply, for a call that must not
    run twice: Redis may or may not have carried it out, so the engine did not send it again.

    For an add, give the job a ``job_id``: an add whose id exists returns that job and writes nothing,
    so such adds are retried by the engine itself and are always safe to retry.
    """

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class RedisRefused(BoardError, ResponseError):
    """Redis answered a call with an error reply instead of carrying it out.

    ``reply`` is Redis's own text (``"OOM command not allowed when used memory > 'maxmemory'"``),
    ``code`` its first word (``"OOM"``, ``"READONLY"``, ``"NOREPLICAS"``, ``"MISCONF"``, ``"BUSY"``,
    ``"ERR"``, ...). ``retryable`` is true for refusals that Redis makes before a call writes anything
    (a full memory, a read-only replica, missing replicas, a failed disk, a busy script, a replica
    cut from its master, data still loading): such a call can be retried once the cause is gone.
    """

    def __init__(self, message: str, *, reply: str, code: str, retryable: bool) -> None:
        super().__init__(message)
        self.reply = reply
        self.code = code
        self.retryable = retryable

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


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
