"""The return codes of the Lua scripts, named once, and the one place they become exceptions.

``lua/_lib.lua`` declares the same names with the same numbers (a test reads them out of it). A refusal is
negative; where BullMQ has a code with the same meaning (``enums/error-code.ts``) the number is BullMQ's:

=====  =============================  ==========================  ===============
code   name                           BullMQ                      raised as
=====  =============================  ==========================  ===============
-1     JOB_NOT_FOUND                  JobNotExist                 JobNotFound
-2     JOB_LOCK_MISSING               JobLockNotExist             LockLostError
-3     JOB_NOT_IN_STATE               JobNotInState               JobStateError
-6     JOB_LOCK_MISMATCH              JobLockMismatch             LockLostError
-7     PARENT_JOB_CANNOT_BE_REPLACED  ParentJobCannotBeReplaced   JobStateError
-8     JOB_BELONGS_TO_JOB_SCHEDULER   JobBelongsToJobScheduler    JobStateError
-101   JOB_LOCKED                     (removeJob answers 0)       JobLockedError
-102   QUEUE_NOT_PAUSED               (obliterate answers -1)     QueueStateError
-103   QUEUE_HAS_ACTIVE_JOBS          (obliterate answers -2)     QueueStateError
=====  =============================  ==========================  ===============

BullMQ's other numbers (-4 JobPendingChildren, -5 ParentJobNotExist, -9 JobHasFailedChildren) are left
free for those meanings; the board's own refusals count down from -101. The scheduler scripts refuse with
BullMQ's -10 SchedulerJobIdCollision and -11 SchedulerJobSlotsBusy, named in ``SchedulerCode`` and
declared in ``lua/_scheduler.lua``.
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
    PARENT_JOB_CANNOT_BE_REPLACED = -7  # a flow job's id is taken by a child of another parent
    JOB_BELONGS_TO_JOB_SCHEDULER = -8  # the job is a scheduler's next run: remove the scheduler instead
    JOB_LOCKED = -101
    QUEUE_NOT_PAUSED = -102
    QUEUE_HAS_ACTIVE_JOBS = -103


class SchedulerCode(IntEnum):
    """Why a scheduler script refused to give a scheduler its next run (``lua/_scheduler.lua``)."""

    SCHEDULER_JOB_ID_COLLISION = -10  # the run's id is held by a job that has started or finished
    SCHEDULER_JOB_SLOTS_BUSY = -11  # every slot looked at for an `every` run is held by a job


class Finished(IntEnum):
    """What ``finish_jobs.lua`` did with a job it did not refuse (a refusal is a ``Code``)."""

    FINISHED = 0
    FINISHED_EARLIER = 1  # an earlier try of the same call, whose reply was lost, had finished it
    # A completed job whose completion could not be written whole (a key it writes, named by stored data,
    # has another type): failed instead, with a reason naming that key.
    FINISHED_AS_FAILED = 2


def _scheduler_of(job_id: str) -> str:
    """``repeat:<scheduler id>:<millis>`` -> the scheduler id."""
    parts = job_id.split(":")
    return parts[1] if len(parts) == 3 else job_id


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
        case Code.PARENT_JOB_CANNOT_BE_REPLACED:
            return JobStateError(f"cannot {action} job {job_id!r}: it exists already, as the child of another parent")
        case Code.JOB_BELONGS_TO_JOB_SCHEDULER:
            return JobStateError(
                f"cannot {action} job {job_id!r}: it is the next run of job scheduler {_scheduler_of(job_id)!r}; "
                "remove the scheduler instead"
            )
        case Code.JOB_LOCKED:
            return JobLockedError(f"cannot {action} job {job_id!r}: it is being processed by a worker")
        case Code.QUEUE_NOT_PAUSED:
            return QueueStateError(f"cannot {action} queue {queue!r}: pause it first")
        case Code.QUEUE_HAS_ACTIVE_JOBS:
            return QueueStateError(f"cannot {action} queue {queue!r}: it has active jobs (use force)")
