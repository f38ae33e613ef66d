"""BullMQ's job metrics, read back: per-minute counts of completed and failed jobs, and running totals.

Workers started with ``metrics={"max_data_points": n}`` keep them in ``metrics:completed`` and
``metrics:failed`` (a hash: ``count`` the running total, ``prevTS`` and ``prevCount`` at the last
minute rollover) and their ``:data`` lists (one count per minute, newest first), exactly as Node
BullMQ does, so that either side's ``getMetrics`` reads the same numbers. ``figures_call`` adds what a
scrape needs of a queue beyond its counts, in one script call per queue.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .connection import Call, Op, command, script_call
from .keys import QueueKeys


@dataclass(frozen=True)
class Metrics:
    """As BullMQ's ``getMetrics``: ``count`` the running total, ``data`` the per-minute counts of the
    range asked (newest first), ``points`` how many minutes are kept in all."""

    count: int = 0
    prev_ts: int = 0
    prev_count: int = 0
    data: list[int] = field(default_factory=list)
    points: int = 0


@dataclass(frozen=True)
class QueueFigures:
    completed_total: int = 0
    failed_total: int = 0
    # When the next job to run was added, in ms; 0 when nothing waits.
    oldest_waiting_ms: int = 0


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def metrics_calls(keys: QueueKeys, kind: str, start: int, end: int) -> list[Call]:
    """What ``get_metrics`` reads, so that a dashboard can put many queues' metrics in one pipeline:
    read the replies with ``parse_metrics``."""
    key = keys.metrics(kind)
    return [
        command("HMGET", key, "count", "prevTS", "prevCount"),
        command("LRANGE", key + ":data", start, end),
        command("LLEN", key + ":data"),
    ]


def parse_metrics(replies: Sequence[Any]) -> Metrics:
    """The replies to ``metrics_calls``; raises the error Redis answered instead (a key of another type)."""
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply
    meta, data, points = replies
    return Metrics(_int(meta[0]), _int(meta[1]), _int(meta[2]), [_int(point) for point in data], _int(points))


def get_metrics(keys: QueueKeys, kind: str, start: int, end: int) -> Op[Metrics]:
    replies = yield metrics_calls(keys, kind, start, end)
    return parse_metrics(replies)


def figures_call(keys: QueueKeys) -> Call:
    return script_call("queue_figures", keys)


def parse_figures(reply: Any) -> QueueFigures:
    """The reply of ``figures_call``; zeros for a queue whose keys could not be read."""
    if not isinstance(reply, list) or len(reply) != 3:
        return QueueFigures()
    return QueueFigures(*(_int(value) for value in reply))


__all__ = [
    "Metrics",
    "QueueFigures",
    "figures_call",
    "get_metrics",
    "metrics_calls",
    "parse_figures",
    "parse_metrics",
]
