"""Completed and failed jobs per minute, from BullMQ's job metrics, as the board's charts read them.

Workers started with ``metrics={"max_data_points": n}`` keep, per kind, a running total and one count
per minute (``board.engine.metrics``). BullMQ writes a minute's count only when a later job finishes
(its "rollover"): the list's head is the minute before the last rollover, and the jobs finished since
then (``count - prevCount``) belong to the rollover's own minute. ``align`` turns that into the minutes
of a window ending now, oldest first, with zeros for the minutes since the last rollover (no job
finished then, or there would have been another) and nothing for minutes older than the store keeps.

Reads are bounded whatever the queue: the window's points (at most 1,440) and the totals, for every
queue in one pipeline.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from redis.exceptions import RedisError

from ..engine.connection import Call
from ..engine.inspector import Inspector
from ..engine.metrics import Metrics, metrics_calls, parse_metrics
from .base import MinuteCounts, Throughput

log = logging.getLogger("board.adapters")

MINUTE_MS = 60_000
# A day of minutes: the longest window a chart asks for, and the most a page reads per kind.
MAX_MINUTES = 1440
KINDS = ("completed", "failed")
# Calls per queue: three per kind.
CALLS = 3 * len(KINDS)


def check_minutes(minutes: int) -> int:
    if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= MAX_MINUTES:
        raise ValueError(f"minutes: expected a whole number from 1 to {MAX_MINUTES}, got {minutes!r}")
    return minutes


def calls(inspector: Inspector, queue: str, minutes: int) -> list[Call]:
    """The reads of one queue's metrics over ``minutes``; the list's head is at most a minute old, so the
    window's points are among its first ``minutes``."""
    keys = inspector.keys(queue)
    return [call for kind in KINDS for call in metrics_calls(keys, kind, 0, minutes - 1)]


def align(metrics: Metrics, minutes: int, now_ms: int) -> MinuteCounts | None:
    """The last ``minutes`` minutes up to ``now_ms``, oldest first; None when nothing was ever kept."""
    if not (metrics.count or metrics.prev_ts or metrics.points):
        return None
    rollover = metrics.prev_ts // MINUTE_MS
    # A worker's clock a little ahead of the board's: its rollover minute is the current one.
    current = max(now_ms // MINUTE_MS, rollover)
    known = metrics.data
    values: list[int] = []
    for minute in range(current - minutes + 1, current + 1):
        if minute > rollover:
            value = 0
        elif minute == rollover:
            value = metrics.count - metrics.prev_count
        else:
            index = rollover - 1 - minute
            if index >= len(known):
                # Older than the list holds: unknown, not zero.
                continue
            value = known[index]
        # Another program may have written anything there: a count is never below zero.
        values.append(max(0, value))
    return MinuteCounts(max(0, metrics.count), values, current * MINUTE_MS, max(0, metrics.points))


def parse(queue: str, replies: Sequence[Any], minutes: int, now_ms: int) -> Throughput:
    """One queue's ``calls`` replies; a key of another type makes the queue's metrics unreadable, not the page."""
    try:
        completed, failed = (
            align(parse_metrics(replies[3 * i : 3 * i + 3]), minutes, now_ms) for i in range(len(KINDS))
        )
    except (RedisError, TypeError, IndexError) as exc:
        # Redis's own words stay in the log: they can name keys and internals.
        log.warning("board: the metrics of queue %r could not be read: %s", queue, exc)
        return Throughput(queue, error="unreadable")
    return Throughput(queue, completed, failed)


__all__ = ["CALLS", "KINDS", "MAX_MINUTES", "MINUTE_MS", "align", "calls", "check_minutes", "parse"]
