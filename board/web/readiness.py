"""Per-queue readiness checks: what ``/readyz`` and ``board health --ready`` hold each queue to.

Configured per queue name or shell pattern (``"*"`` for all), from Python or a TOML file::

    [email]
    min_workers = 1              # at least this many workers connected
    max_waiting = 10000          # no more jobs waiting than this
    max_oldest_waiting_s = 300   # the next job to run has not waited longer than this

A queue takes the settings of every entry that matches it, the more specific (an exact name) last.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..adapters import QueueHealth
from ..alerts.rules import load_toml

LIMITS = ("min_workers", "max_waiting", "max_oldest_waiting_s")


class ChecksError(ValueError):
    """The checks cannot be used; the message names the entry and the setting."""


@dataclass(frozen=True)
class QueueChecks:
    pattern: str
    min_workers: int | None = None
    max_waiting: int | None = None
    max_oldest_waiting_s: float | None = None


def load_checks(data: Mapping[str, Any]) -> tuple[QueueChecks, ...]:
    if not isinstance(data, Mapping):
        raise ChecksError(f"expected a table of queues, got {data!r}")
    found = []
    for pattern, settings in data.items():
        if not isinstance(settings, Mapping):
            raise ChecksError(f"{pattern}: expected a table of settings, got {settings!r}")
        unknown = sorted(set(settings) - set(LIMITS))
        if unknown:
            raise ChecksError(f"{pattern}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(LIMITS)}")
        values: dict[str, Any] = {}
        for name, value in settings.items():
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ChecksError(f"{pattern}: {name} must be a number >= 0, got {value!r}")
            values[name] = value if name == "max_oldest_waiting_s" else int(value)
        found.append(QueueChecks(str(pattern), **values))
    # Patterns first, exact names last: the more specific settings win.
    return tuple(sorted(found, key=lambda c: not any(ch in c.pattern for ch in "*?[")))


def load_checks_file(path: str | Path) -> tuple[QueueChecks, ...]:
    return load_toml(path, load_checks, ChecksError)


def limits_for(checks: Sequence[QueueChecks], queue: str) -> dict[str, float]:
    limits: dict[str, float] = {}
    for check in checks:
        if fnmatch.fnmatchcase(queue, check.pattern):
            limits.update({name: getattr(check, name) for name in LIMITS if getattr(check, name) is not None})
    return limits


def evaluate(checks: Sequence[QueueChecks], health: Sequence[QueueHealth]) -> tuple[bool, dict[str, Any]]:
    """Whether every checked queue passes, and each checked queue's figures against its limits."""
    report: dict[str, Any] = {}
    ready = True
    for queue in health:
        limits = limits_for(checks, queue.name)
        if not limits:
            continue
        failed: list[str] = []
        if queue.error:
            failed.append(f"unreadable: {queue.error}")
        if "min_workers" in limits and queue.workers < limits["min_workers"]:
            failed.append(f"{queue.workers} worker(s), fewer than {limits['min_workers']:g}")
        if "max_waiting" in limits and queue.waiting > limits["max_waiting"]:
            failed.append(f"{queue.waiting} waiting, more than {limits['max_waiting']:g}")
        oldest = limits.get("max_oldest_waiting_s")
        if oldest is not None and queue.oldest_waiting_s > oldest:
            failed.append(f"the next job has waited {queue.oldest_waiting_s:.0f} s, longer than {oldest:g} s")
        ready = ready and not failed
        report[queue.name] = {
            "ok": not failed,
            "failed": failed,
            "workers": queue.workers,
            "waiting": queue.waiting,
            "oldest_waiting_s": round(queue.oldest_waiting_s, 3),
            "limits": limits,
        }
    return ready, report


__all__ = ["ChecksError", "QueueChecks", "evaluate", "limits_for", "load_checks", "load_checks_file"]
