"""The return codes of the Lua scripts, named once, and the one place they become exceptions.

``lua/_lib.lua`` declares the same names with the same numbers (a test reads them out of it). A refusal is
negative; where BullMQ has a code with the same meaning (``enums/error-code.ts``) the number is BullMQ's:

=====  ========================  =========================  ===========================================
code   name                      BullMQ                     raised as
=====  ========================  =========================  ===========================================
-1     JOB_NOT_FOUND             JobNotExist                JobNotFound
-2     JOB_LOCK_MISSING          JobLockNotExist            LockLostError
-3     JOB_NOT_IN_STATE          JobNotInState              JobStateError
-6     JOB_LOCK_MISMATCH         JobLockMismatch            LockLostError
-101   JOB_LOCKED                (removeJob answers 0)      JobLockedError
-102   QUEUE_NOT_PAUSED          (obliterate answers -1)    QueueStateError
-103   QUEUE_HAS_ACTIVE_JOBS     (obliterate answers -2)    QueueStateError
=====  ========================  =========================  ===========================================

BullMQ's other numbers (-4 JobPendingChildren, -5 ParentJobNotExist, -7 ParentJobCannotBeReplaced,
-8 JobBelongsToJobScheduler, -9 JobHasFailedChildren, -10 SchedulerJobIdCollision, -11
SchedulerJobSlotsBusy) are left free for those meanings; the board's own refusals count down from -101.
"""

from __future__ import annotations

from enum import IntEnum

from .errors import BoardError, JobLockedError, JobNotFound, JobStateError, LockLostError, QueueStateError


class Code(IntEnum):
    """Why a script refused a job or a queue (``lua/_lib.lua`` names them the same)."""

    JOB_NOT_FOUND = -1
    JOB_LOCK_MISSING = -2
    JOB_NOT_IN_STATE = -3
    JOB_LOCK_MISMATCH = -6
    JOB_LOCKED = -101
    QUEUE_NOT_PAUSED = -102
    QUEUE_HAS_ACTIVE_JOBS = -103


class Finished(IntEnum):
    """What ``finish_jobs.lua`` did with a job it did not refuse (a refusal is a ``Code``)."""

    FINISHED = 0
    FINISHED_EARLIER = 1  # an earlier try of the same call, whose reply was lost, had finished it


def error_for(code: int, *, action: str, queue: str, job_id: str = "", state: str = "") -> BoardError:
    """The engine's exception for refusal ``code``, from a script asked to ``action`` (a verb phrase:
    "promote", "save the result of", "obliterate") job ``job_id`` of ``queue``, or the queue itself.
    ``state`` is the state the job had to be in, for ``JOB_NOT_IN_STATE``. ``ValueError`` for a code
    that is not a refusal."""
    match Code(code):
        case Code.JOB_NOT_FOUND:
            return JobNotFound(queue, job_id)
        case Code.JOB_LOCK_MISSING:
            return LockLostError(f"cannot {action} job {job_id!r}: its lock has expired")
        case Code.JOB_NOT_IN_STATE:
            return JobStateError(f"cannot {action} job {job_id!r}: it is not {state}")
        case Code.JOB_LOCK_MISMATCH:
            return LockLostError(f"cannot {action} job {job_id!r}: another worker holds its lock")
        case Code.JOB_LOCKED:
            return JobLockedError(f"cannot {action} job {job_id!r}: it is being processed by a worker")
        case Code.QUEUE_NOT_PAUSED:
            return QueueStateError(f"cannot {action} queue {queue!r}: pause it first")
        case Code.QUEUE_HAS_ACTIVE_JOBS:
            return QueueStateError(f"cannot {action} queue {queue!r}: it has active jobs (use force)")
