"""The alert loop's ports over Redis: where its state lives, and what it sees of the queues.

State sits beside the board's other keys (``board:<prefix>:alerts:...``): the lock that keeps rounds in
one process, each episode, each queue's position in its events stream, and the last deliveries (a
capped stream). Observing a queue costs the metrics scrape's two round trips for all queues, plus one
for their events streams.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ..alerts.delivery import Delivery
from ..alerts.episodes import Episode, Phase
from ..alerts.runner import QueueObservation, split_key
from ..engine.connection import AsyncRunner, command
from ..engine.inspector import Inspector
from ..engine.keys import QueueKeys
from .base import AlertEpisode, AlertState
from .prometheus import scrape

HOLD_LOCK = (Path(__file__).with_name("lua") / "hold_lock.lua").read_text(encoding="utf-8")
DELIVERIES_KEPT = 1000
# Events read per queue and round: a burst beyond it is read in the next rounds.
EVENTS_PER_ROUND = 1000


class AlertKeys:
    def __init__(self, prefix: str) -> None:
        self.base = f"board:{prefix}:alerts:"
        self.lock = self.base + "lock"
        self.episodes = self.base + "episodes"
        self.cursors = self.base + "cursors"
        self.deliveries = self.base + "deliveries"


class RedisAlertStore:
    def __init__(self, runner: AsyncRunner, prefix: str) -> None:
        self.runner = runner
        self.keys = AlertKeys(prefix)

    async def hold_lock(self, owner: str, ttl_ms: int) -> bool:
        held = await self.runner.call(command("EVAL", HOLD_LOCK, 1, self.keys.lock, owner, max(1, ttl_ms)))
        return bool(held == 1)

    async def episodes(self) -> dict[str, str]:
        found = await self.runner.call(command("HGETALL", self.keys.episodes))
        return dict(found) if isinstance(found, dict) else _pairs(found)

    async def save_episodes(self, changed: Mapping[str, str]) -> None:
        flat = [item for pair in changed.items() for item in pair]
        await self.runner.call(command("HSET", self.keys.episodes, *flat))

    async def record(self, deliveries: Sequence[Delivery]) -> None:
        await self.runner.pipeline(
            [
                command("XADD", self.keys.deliveries, "MAXLEN", "~", DELIVERIES_KEPT, "*", "d", json.dumps(asdict(d)))
                for d in deliveries
            ]
        )

    async def recent(self, count: int = 50) -> list[Delivery]:
        """The last deliveries, newest first."""
        entries = await self.runner.call(command("XREVRANGE", self.keys.deliveries, "+", "-", "COUNT", count))
        found = []
        for _, fields in entries or []:
            try:
                found.append(Delivery(**json.loads(_pairs(fields)["d"])))
            except (KeyError, TypeError, ValueError):
                continue  # an entry another program wrote: not ours to show
        return found

    async def state(self, deliveries: int = 50) -> AlertState:
        """The episodes under way (pending or firing) and the last deliveries, for the alerts page."""
        episodes = []
        for key, fields in sorted((await self.episodes()).items()):
            where, episode = split_key(key), Episode.from_fields(fields)
            if where is not None and episode.phase is not Phase.OK:
                rule, queue = where
                phase = episode.phase.value
                episodes.append(AlertEpisode(rule, queue, phase, episode.since_ms, episode.fired_ms, episode.value))
        return AlertState(episodes, await self.recent(deliveries))

    async def cursors(self, queues: Sequence[str]) -> list[str | None]:
        if not queues:
            return []
        found = await self.runner.call(command("HMGET", self.keys.cursors, *queues))
        return [str(c) if c is not None else None for c in found]

    async def save_cursors(self, cursors: Mapping[str, str]) -> None:
        if cursors:
            await self.runner.call(command("HSET", self.keys.cursors, *[x for pair in cursors.items() for x in pair]))


def _pairs(flat: Any) -> dict[str, str]:
    if isinstance(flat, dict):
        return {str(k): str(v) for k, v in flat.items()}
    items = list(flat or [])
    return {str(k): str(v) for k, v in zip(items[::2], items[1::2], strict=False)}


class RedisObserver:
    """What a round sees of the queues the board serves."""

    def __init__(
        self, inspector: Inspector, store: RedisAlertStore, queue_names: Callable[[], Awaitable[list[str]]]
    ) -> None:
        self.inspector = inspector
        self.store = store
        self._queue_names = queue_names

    async def queue_names(self) -> list[str]:
        return await self._queue_names()

    async def observe(self, queues: Sequence[str]) -> list[QueueObservation]:
        samples = await scrape(self.inspector, queues)
        exhausted = await self._exhausted(queues)
        observed = []
        for sample, ids in zip(samples, exhausted, strict=True):
            status, figures = sample.status, sample.figures
            failed = figures.failed_total or status.counts.get("failed", 0)
            oldest = figures.oldest_waiting_ms
            observed.append(
                QueueObservation(
                    status.name,
                    status.counts.get("wait", 0),
                    len(status.workers),
                    failed,
                    _age_s(oldest),
                    tuple(ids),
                )
            )
        return observed

    async def _exhausted(self, queues: Sequence[str]) -> list[list[str]]:
        """The jobs whose retries ran out since each queue's saved position in its events stream; a
        queue seen for the first time starts at its stream's end (old news is not alerted)."""
        cursors = await self.store.cursors(queues)
        calls = []
        for queue, cursor in zip(queues, cursors, strict=True):
            # One key a call: read on a cluster even for a queue the inspector refuses (no hash tag).
            stream = QueueKeys(self.inspector.prefix, queue).events
            if cursor is None:
                calls.append(command("XREVRANGE", stream, "+", "-", "COUNT", 1))
            else:
                calls.append(command("XRANGE", stream, "(" + cursor, "+", "COUNT", EVENTS_PER_ROUND))
        replies = await self.inspector.runner.batch(calls)
        moved: dict[str, str] = {}
        found: list[list[str]] = []
        for queue, cursor, reply in zip(queues, cursors, replies, strict=True):
            entries = reply if isinstance(reply, list) else []
            if cursor is None:
                moved[queue] = str(entries[0][0]) if entries else "0-0"
                found.append([])
                continue
            if entries:
                moved[queue] = str(entries[-1][0])
            found.append(
                [
                    fields.get("jobId", "")
                    for fields in (_pairs(raw) for _, raw in entries)
                    if fields.get("event") == "retries-exhausted"
                ]
            )
        await self.store.save_cursors(moved)
        return found


def _age_s(added_ms: int) -> float:
    return max(0.0, time.time() - added_ms / 1000) if added_ms else 0.0


__all__ = ["AlertKeys", "RedisAlertStore", "RedisObserver"]
