"""The alert loop: observe the queues, step every rule's episodes, deliver what fired or resolved.

It runs in the background of every board process, and evaluates in exactly one of them at a time: each
round starts by taking (or keeping) a lock in Redis, so that several uvicorn workers or pods alert once.
Episodes are saved before their alerts are sent: a process that dies in between loses that alert
rather than sending it twice, and the next owner goes on from the saved state. A round reads every
queue in a few round trips and never runs inside a request, so a page never waits for it.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from .delivery import Alert, AlertCallable, Delivery, call_target, send_webhook
from .episodes import Episode, step
from .rules import AlertConfig, Rule

log = logging.getLogger("board.alerts")
# How long stop() waits for the loop to end before cancelling it again.
STOP_RETRY_S = 0.5


@dataclass(frozen=True)
class QueueObservation:
    """What one round saw of a queue."""

    queue: str
    waiting: int
    workers: int
    # A running total: the workers' metrics count when they keep one, else the failed set's size.
    failed_total: int
    oldest_waiting_s: float
    # Jobs whose retries ran out since the previous round.
    exhausted: tuple[str, ...] = ()


class Observer(Protocol):
    async def queue_names(self) -> list[str]: ...

    async def observe(self, queues: Sequence[str]) -> list[QueueObservation]: ...


class AlertStore(Protocol):
    async def hold_lock(self, owner: str, ttl_ms: int) -> bool:
        """Takes the lock for ``owner``, or extends it when ``owner`` has it; False when another has it."""
        ...

    async def episodes(self) -> dict[str, str]: ...

    async def save_episodes(self, changed: Mapping[str, str]) -> None: ...

    async def record(self, deliveries: Sequence[Delivery]) -> None: ...


def _key(rule: Rule, queue: str) -> str:
    return f"{rule.name}\x1f{queue}"


def split_key(key: str) -> tuple[str, str] | None:
    """The rule's name and the queue of a saved episode's key; None for a key the runner did not write."""
    rule, sep, queue = key.partition("\x1f")
    return (rule, queue) if sep and rule and queue else None


class AlertRunner:
    """Evaluates ``config``'s rules every ``interval`` seconds; ``callables`` are extra targets (every
    alert goes to each, besides the webhooks its rule names)."""

    def __init__(
        self,
        config: AlertConfig,
        observer: Observer,
        store: AlertStore,
        *,
        callables: Mapping[str, AlertCallable] | None = None,
        interval: float = 15,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.observer = observer
        self.store = store
        self.callables = dict(callables or {})
        self.interval = interval
        self.clock = clock
        self.owner = uuid.uuid4().hex
        self._failed: dict[str, tuple[int, float]] = {}
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    async def round(self) -> list[Delivery]:
        """One evaluation, when this process holds the lock; the deliveries it made."""
        if not self.config.rules or not await self.store.hold_lock(self.owner, int(self.interval * 3000)):
            return []
        queues = await self.observer.queue_names()
        observed = await self.observer.observe(queues)
        now_ms = int(self.clock() * 1000)
        saved = await self.store.episodes()
        changed: dict[str, str] = {}
        alerts: list[tuple[Rule, Alert]] = []
        for seen in observed:
            rate = self._failure_rate(seen, now_ms)
            for rule in self.config.rules:
                if not rule.watches(seen.queue):
                    continue
                if rule.when == "retries_exhausted":
                    if seen.exhausted:
                        alerts.append((rule, _exhausted(rule, seen, now_ms)))
                    continue
                holds, value = _condition(rule, seen, rate)
                key = _key(rule, seen.queue)
                before = Episode.from_fields(saved.get(key))
                after, change = step(before, holds, value, now_ms, int(rule.minutes * 60_000))
                if after != before:
                    changed[key] = after.to_fields()
                if change is not None:
                    alerts.append((rule, _alert(rule, seen.queue, change.fired, change.episode, now_ms)))
        if changed:
            await self.store.save_episodes(changed)
        deliveries = await self._deliver(alerts)
        if deliveries:
            await self.store.record(deliveries)
        return deliveries

    def _failure_rate(self, seen: QueueObservation, now_ms: int) -> float | None:
        """Failures a minute since the previous round; None on the first round or after a reset."""
        previous = self._failed.get(seen.queue)
        self._failed[seen.queue] = (seen.failed_total, now_ms)
        if previous is None or seen.failed_total < previous[0] or now_ms <= previous[1]:
            return None
        return (seen.failed_total - previous[0]) * 60_000 / (now_ms - previous[1])

    async def _deliver(self, alerts: Sequence[tuple[Rule, Alert]]) -> list[Delivery]:
        sends = []
        for rule, alert in alerts:
            for hook in self.config.webhooks:
                if not rule.send_to or hook.name in rule.send_to:
                    sends.append(send_webhook(hook, alert))
            sends += [call_target(name, fn, alert) for name, fn in self.callables.items()]
        return list(await asyncio.gather(*sends))

    async def run(self) -> None:
        """Rounds until stopped; an error in a round is logged and the next round goes on."""
        while not self._stopping:
            try:
                await self.round()
            except Exception:
                log.exception("alerts: a round failed")
            if not self._stopping:
                await asyncio.sleep(self.interval)

    def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self.run(), name="board-alerts")

    async def stop(self) -> None:
        """Ends the loop, and returns once it has ended. A cancellation can be lost in a Redis call (Python
        3.11's ``asyncio.wait_for``, which redis-py sends through, drops one that arrives as the call
        completes): the loop also stops at its next turn, and is cancelled again until it has."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping = True
        while not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=STOP_RETRY_S)
        if not task.cancelled() and task.exception() is not None:
            log.error("alerts: the loop ended with an error", exc_info=task.exception())


def _condition(rule: Rule, seen: QueueObservation, rate: float | None) -> tuple[bool, float]:
    if rule.when == "waiting_above":
        return seen.waiting > rule.threshold, seen.waiting
    if rule.when == "no_workers":
        return seen.workers == 0, seen.workers
    if rule.when == "oldest_waiting_above":
        return seen.oldest_waiting_s > rule.threshold, seen.oldest_waiting_s
    # failures_per_minute_above: unknown on a first round, which neither starts nor ends an episode.
    if rate is None:
        return False, 0
    return rate > rule.threshold, rate


_WHAT = {
    "waiting_above": "{value:,.0f} jobs waiting, above {threshold:,.0f}",
    "no_workers": "no worker connected",
    "oldest_waiting_above": "the next job has waited {value:,.0f} s, above {threshold:,.0f} s",
    "failures_per_minute_above": "{value:,.1f} failures a minute, above {threshold:,.0f}",
}


def _alert(rule: Rule, queue: str, fired: bool, episode: Episode, now_ms: int) -> Alert:
    what = _WHAT[rule.when].format(value=episode.value, threshold=rule.threshold)
    minutes = (now_ms - episode.since_ms) / 60_000
    message = what if fired else f"resolved after {minutes:,.0f} min (now {episode.value:,.0f})"
    state = "firing" if fired else "resolved"
    return Alert(rule.name, rule.when, queue, state, episode.value, rule.threshold, episode.since_ms, now_ms, message)


def _exhausted(rule: Rule, seen: QueueObservation, now_ms: int) -> Alert:
    shown = ", ".join(seen.exhausted[:10]) + (" ..." if len(seen.exhausted) > 10 else "")
    message = f"{len(seen.exhausted)} job(s) exhausted their retries: {shown}"
    count = len(seen.exhausted)
    return Alert(rule.name, rule.when, seen.queue, "firing", count, 0, now_ms, now_ms, message, seen.exhausted)


__all__ = ["AlertRunner", "AlertStore", "Observer", "QueueObservation", "split_key"]
