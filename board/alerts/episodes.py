"""When an alert fires and when it resolves: one episode per rule and queue, told once each way.

A condition that starts to hold is *pending*; once it has held for the rule's minutes the alert
*fires*, once; when the condition stops holding, a firing alert *resolves*, once, and a pending one is
forgotten. The state is plain data, so that it can be kept in Redis and survive a restart: a board that
restarts mid-episode neither fires it again nor forgets to resolve it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Phase(StrEnum):
    OK = "ok"
    PENDING = "pending"
    FIRING = "firing"


@dataclass(frozen=True)
class Episode:
    phase: Phase = Phase.OK
    # When the condition started to hold (ms), for pending and firing.
    since_ms: int = 0
    # When the alert fired (ms), for firing.
    fired_ms: int = 0
    # The value seen last, for the message.
    value: float = 0

    def to_fields(self) -> str:
        return f"{self.phase.value}|{self.since_ms}|{self.fired_ms}|{self.value!r}"

    @classmethod
    def from_fields(cls, text: str | None) -> Episode:
        """An episode as ``to_fields`` wrote it; a fresh one for anything else (a lost or mangled value
        costs one late alert, never a crash)."""
        try:
            phase, since, fired, value = (text or "").split("|")
            return cls(Phase(phase), int(since), int(fired), float(value))
        except ValueError:
            return cls()


@dataclass(frozen=True)
class Change:
    """What a step says: the alert fires, or resolves."""

    fired: bool
    episode: Episode


def step(episode: Episode, holds: bool, value: float, now_ms: int, hold_ms: int) -> tuple[Episode, Change | None]:
    """The next state of ``episode`` given whether the condition ``holds`` now."""
    if not holds:
        if episode.phase is Phase.FIRING:
            return Episode(), Change(False, Episode(Phase.OK, episode.since_ms, episode.fired_ms, value))
        return Episode(), None
    since = episode.since_ms if episode.phase is not Phase.OK else now_ms
    if episode.phase is Phase.FIRING:
        return Episode(Phase.FIRING, since, episode.fired_ms, value), None
    if now_ms - since >= hold_ms:
        fired = Episode(Phase.FIRING, since, now_ms, value)
        return fired, Change(True, fired)
    return Episode(Phase.PENDING, since, 0, value), None


__all__ = ["Change", "Episode", "Phase", "step"]
