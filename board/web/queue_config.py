"""What the board is told about each queue: a display name, a description, read-only, retries allowed.

Configured per queue name or shell pattern (``"*"`` for all), from Python or a TOML file::

    ["billing.*"]
    read_only = true             # no action on these queues, whatever the user's role
    description = "Charges and refunds; owned by the payments team"

    ["billing.charges"]
    display_name = "Card charges"
    allow_retries = false        # retrying could charge a card twice

A queue takes the settings of every entry that matches it, the more specific winning: an exact name over
any pattern, a narrower pattern (``"billing.*"``) over a broader one (``"*"``).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from ..alerts.rules import load_toml

TEXTS = ("display_name", "description")
FLAGS = ("read_only", "allow_retries")
# Shown in a sidebar and a card: longer text is a mistake more often than a wish.
MAX_TEXT = 500


class QueueConfigError(ValueError):
    """The queue settings cannot be used; the message names the entry and the setting."""


@dataclass(frozen=True)
class QueueConfig:
    """One queue's settings, as the board applies them."""

    display_name: str | None = None
    description: str | None = None
    read_only: bool = False
    allow_retries: bool = True


def _entry(pattern: str, settings: Any) -> dict[str, Any]:
    if not isinstance(settings, Mapping):
        raise QueueConfigError(f"{pattern}: expected a table of settings, got {settings!r}")
    known = (*TEXTS, *FLAGS)
    unknown = sorted(set(settings) - set(known))
    if unknown:
        names = ", ".join(map(str, unknown))
        raise QueueConfigError(f"{pattern}: unknown setting(s) {names}; known: {', '.join(known)}")
    values: dict[str, Any] = {}
    for name, value in settings.items():
        if name in FLAGS and not isinstance(value, bool):
            raise QueueConfigError(f"{pattern}: {name} must be true or false, got {value!r}")
        if name in TEXTS and (not isinstance(value, str) or len(value) > MAX_TEXT):
            said = f"{value!r:.80}"
            raise QueueConfigError(f"{pattern}: {name} must be text of at most {MAX_TEXT} characters, got {said}")
        values[name] = value
    return values


def _specificity(pattern: str) -> tuple[bool, int]:
    wild = any(ch in pattern for ch in "*?[")
    return (not wild, len(pattern) - sum(pattern.count(ch) for ch in "*?[]"))


class QueueConfigs:
    """Every entry, and the settings each queue ends up with."""

    def __init__(self, entries: tuple[tuple[str, dict[str, Any]], ...] = ()) -> None:
        # The more specific settings win: patterns first, the broadest ("*") before narrower ones (more
        # characters matched as they are), exact names last; in the order given where that is a tie.
        self.entries = tuple(sorted(entries, key=lambda e: _specificity(e[0])))
        self._cache: dict[str, QueueConfig] = {}

    def __call__(self, queue: str) -> QueueConfig:
        found = self._cache.get(queue)
        if found is None:
            found = QueueConfig()
            exact = None
            for pattern, values in self.entries:
                # A name that reads as a pattern ("jobs[eu]") is still that queue's own entry, and wins.
                if pattern == queue:
                    exact = values
                elif fnmatch.fnmatchcase(queue, pattern):
                    found = replace(found, **values)
            if exact is not None:
                found = replace(found, **exact)
            if len(self._cache) < 100_000:
                self._cache[queue] = found
        return found

    def label(self, queue: str) -> str:
        """The name to show for a queue: its display name, else its own."""
        return self(queue).display_name or queue


def load_queue_config(data: Mapping[str, Any] | str | Path | QueueConfigs | None) -> QueueConfigs:
    """Settings from a mapping of names (or patterns) to settings, or the path of a TOML file of the same
    (or settings already loaded, as ``board serve`` does to stop at a mistake before it starts)."""
    if data is None:
        return QueueConfigs()
    if isinstance(data, QueueConfigs):
        return data
    if isinstance(data, str | Path):
        return load_toml(data, load_queue_config, QueueConfigError)
    if not isinstance(data, Mapping):
        raise QueueConfigError(f"expected a table of queues, got {data!r}")
    return QueueConfigs(tuple((str(pattern), _entry(str(pattern), settings)) for pattern, settings in data.items()))


SETTINGS = tuple(f.name for f in fields(QueueConfig))

__all__ = ["SETTINGS", "QueueConfig", "QueueConfigError", "QueueConfigs", "load_queue_config"]
