"""The states a job can be in: one vocabulary for the engine, the adapters and the board.

BullMQ names a waiting job two ways: its list key is ``wait`` and ``getJobState`` says ``waiting``;
``getJobs`` and ``getJobCounts`` take either. ``JobState.parse`` is the one place that knows it.
"""

from __future__ import annotations

from enum import StrEnum


class JobState(StrEnum):
    """A job's state, named as ``getJobState`` names it; ``key`` is the name of its Redis key."""

    WAITING = "waiting"
    PRIORITIZED = "prioritized"
    DELAYED = "delayed"
    ACTIVE = "active"
    WAITING_CHILDREN = "waiting-children"
    COMPLETED = "completed"
    FAILED = "failed"
    # BullMQ before 5 moved waiting jobs to this list while a queue was paused; still counted and listed.
    PAUSED = "paused"

    @property
    def key(self) -> str:
        return "wait" if self is JobState.WAITING else self.value

    @classmethod
    def parse(cls, name: str) -> JobState:
        """The state called ``name`` (``wait`` or ``waiting`` for a waiting job); ValueError otherwise."""
        if name == "wait":
            return cls.WAITING
        try:
            return cls(name)
        except ValueError:
            known = ", ".join(["wait", *(s.value for s in cls)])
            raise ValueError(f"state: unknown state {name!r}; expected one of {known}") from None


# The order a job moves through, which is the order of the board's tabs: what runs next first.
RUN_ORDER = (
    JobState.WAITING,
    JobState.PRIORITIZED,
    JobState.DELAYED,
    JobState.ACTIVE,
    JobState.WAITING_CHILDREN,
    JobState.COMPLETED,
    JobState.FAILED,
)
ALL_STATES = (*RUN_ORDER, JobState.PAUSED)
# Lists whose jobs run oldest first, so that their pages show the next to run on top.
RUN_ORDERED = frozenset({JobState.PRIORITIZED, JobState.DELAYED})
RETRYABLE = (JobState.FAILED, JobState.COMPLETED)


def state_key(name: str) -> str:
    """The Redis key name (``wait``, ``delayed``, ...) of the state called ``name``."""
    return JobState.parse(name).key


__all__ = ["ALL_STATES", "RETRYABLE", "RUN_ORDER", "RUN_ORDERED", "JobState", "state_key"]
