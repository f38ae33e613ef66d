"""The polled parts of the overview and of a queue page: what the overview reads, and the digest of what
each shows.

Every open page polls (htmx, every few seconds). The poll carries a digest of what its part of the page
shows, in the ``Board-Seen`` header; the board reads the figures (the same reads as ever) and, while they
would show the same, answers 204 No Content, on which htmx swaps nothing: nothing is rendered or sent. A
digest covers everything the polled part shows, as it shows it: a rate limit's time left as its words, a
sparkline as its minutes, a worker as its name and age as shown (not its idle seconds), a job's times as
moments (board.js, which runs every poll, keeps the words of relative times current).
"""

from __future__ import annotations

import asyncio
import hashlib

from starlette.requests import Request

from ..adapters import JobPage, MinuteCounts, QueueAdapter, QueueInfo, Throughput
from . import i18n, preferences
from .charts import HOUR, QueueCharts
from .render import duration, remaining
from .users import User

__all__ = ["SEEN_HEADER", "overview_figures", "queue_digest", "shown_digest", "unchanged"]

SEEN_HEADER = "Board-Seen"


async def overview_figures(
    adapter: QueueAdapter, names: list[str], *, sparks: bool
) -> tuple[list[QueueInfo], list[Throughput]]:
    """Every queue's figures and, with ``sparks``, its last hour of job metrics: in one read when the
    adapter can (``overview_and_throughput``), else the two reads at once. No metrics from an adapter
    written before charts were."""
    if not sparks or not hasattr(adapter, "throughput"):
        return await adapter.overview(names), []
    both = getattr(adapter, "overview_and_throughput", None)
    if both is not None:
        infos, through = await both(names, HOUR)
        return list(infos), list(through)
    infos, through = await asyncio.gather(adapter.overview(names), adapter.throughput(names, HOUR))
    return infos, through


def unchanged(request: Request, digest: str) -> bool:
    """Whether this request is a poll of a part that shows ``digest`` already."""
    return request.headers.get("hx-request") == "true" and request.headers.get(SEEN_HEADER) == digest


def _digest(parts: list[object]) -> str:
    return hashlib.blake2b(repr(parts).encode(), digest_size=12).hexdigest()


def _viewer(request: Request, user: User) -> list[object]:
    """What every polled part depends on besides its data: the language, the settings, who asks, the URL."""
    return [i18n.current(), preferences.of(request), user.name, user.role, request.url.query]


def _queue_shown(q: QueueInfo) -> tuple[object, ...]:
    left = remaining(q.rate_limited_for_ms) if q.rate_limited_for_ms else ""
    return (
        q.name,
        tuple(q.counts.values()),
        q.paused,
        q.global_concurrency,
        q.rate_limit_max,
        q.rate_limit_duration_ms,
        left,
        q.schedulers,
        q.error,
    )


def _minutes(counts: MinuteCounts | None) -> object:
    return None if counts is None else (counts.total, counts.end_ms, tuple(counts.minutes))


def shown_digest(request: Request, user: User, queues: list[QueueInfo], through: list[Throughput]) -> str:
    """A digest of what the overview's polled part shows to this user, in this language and these settings."""
    parts = _viewer(request, user)
    parts.extend((*_queue_shown(q), len(q.workers)) for q in queues)
    parts.extend((t.queue, t.error, _minutes(t.completed), _minutes(t.failed)) for t in through)
    return _digest(parts)


def queue_digest(request: Request, user: User, page: JobPage, charts: QueueCharts | None, token: str) -> str:
    """A digest of what a queue page's polled part shows: the queue, its workers as shown, each job, the
    charts; and the form's token."""
    q = page.queue
    parts = _viewer(request, user)
    parts.append(token)
    parts.append(_queue_shown(q))
    parts.append([(w.name, w.addr, duration(w.age_s * 1000)) for w in q.workers])
    parts.append((page.state, page.page, page.per_page, page.total))
    # A job's times as moments: board.js keeps the words of a relative time ("3 min. ago") current between
    # polls, as every poll comes from a page running it.
    parts.extend(repr(job) for job in page.jobs)
    parts.append(repr(charts))
    return _digest(parts)
