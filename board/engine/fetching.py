"""``Fetcher``: how a ``Worker`` takes jobs from its queue.

Taking jobs is the one part of a worker that blocks on Redis and keeps its own books: the slots that a
fetch in flight has claimed, the serial numbers that make each lock token unique, and the fetches whose
reply was lost (the connection failed after the request was sent), whose jobs may be active under this
worker's tokens without the worker knowing: they are handed back before the next fetch. Jobs are taken
two ways, both through here: by each call that saves results (``results.py``), which also fetches jobs
for the slots free at that moment, and by the fetch loop, for slots that no such call is due to fill (none
is pending, or the last one failed).

When the queue has nothing to run, the loop blocks on the queue's marker (a sorted set that producers
touch) on its own connection, which ``Worker.close()`` drops to end the wait at once.

A job taken that is a scheduler's run (its hash has ``rjk``) gives its scheduler the next run, as BullMQ's
worker does when it takes one: beside the job, never holding it up, and never failing it. So does a run
that the fetch failed instead of starting (it stalled too often, or its counters were written badly),
which the fetch reply lists apart: its scheduler would otherwise stop. A failure to
do so is reported (the ``error`` hook and the log) and tried again, with the loops' pauses, until it is
done or the worker stops; sending it twice is harmless, since only the run the scheduler names produces.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .connection import refused, script_call, unavailable
from .errors import OutcomeUnknown, RedisRefused, RedisUnavailable
from .loops import nap, next_pause, settle
from .scheduler_options import next_run_of
from .schedulers import schedule_next

# How often Redis checks blocking calls for their timeout, at its default hz of 10.
_REDIS_TICK = 0.1

if TYPE_CHECKING:
    from .worker import Worker


class Fetcher:
    """Takes jobs for ``worker`` and starts them (``worker._start``), waiting on the marker with the
    worker's blocking connection."""

    def __init__(self, worker: Worker) -> None:
        self._worker = worker
        # Slots claimed by fetches in flight: the jobs they take are not running yet.
        self.reserved = 0
        # The serial of the next lock token: tokens are "<worker id>:<serial>".
        self._serial = 0
        # Token serials (first, last) of fetches whose reply was lost: the jobs they took are handed back.
        self.lost: list[tuple[int, int]] = []
        # The last fetch found nothing to run: the next one waits for the marker first.
        self._empty = False
        # Scheduler runs taken whose next run is being made.
        self._scheduling: set[asyncio.Task[None]] = set()

    @property
    def _blocking(self) -> Redis:
        # The worker's, which a worker on a cluster replaces when the marker's node changes.
        return self._worker._blocking

    def free_slots(self) -> int:
        w = self._worker
        return w.concurrency - len(w._running) - self.reserved

    @contextlib.contextmanager
    def reserving(self, count: int) -> Iterator[None]:
        """Claims ``count`` slots while a call that fetches that many jobs is in flight."""
        self.reserved += count
        try:
            yield
        finally:
            self.reserved -= count

    def args(self, count: int) -> list[Any]:
        """The fetch arguments of ``fetch_jobs.lua`` and ``finish_jobs.lua`` for ``count`` jobs; the fifth
        (index 4) is the serial of the first token they use."""
        w = self._worker
        first = self._serial
        self._serial += count
        return [int(time.time() * 1000), count, w.lock_ms, w.id, first, w.name or "", w.limit_max, w.limit_ms]

    def lost_reply(self, first_serial: int, count: int) -> None:
        """A call that fetched ``count`` jobs may have run, but its reply was lost: hand them back later."""
        self.lost.append((first_serial, first_serial + count - 1))

    async def release_lost(self) -> None:
        """Hands back the jobs taken by fetches whose reply was lost (kept for later if this fails)."""
        w = self._worker
        ranges, self.lost = self.lost, []
        try:
            await w._runner.call(script_call("release_lost", w.keys, w.id, *(n for r in ranges for n in r)))
        except BaseException:
            self.lost = ranges + self.lost
            raise

    def start_fetched(self, status: int, jobs: list[Any], extra: Any, failed_runs: list[Any]) -> int:
        """Starts fetched jobs, and follows the scheduler runs the fetch failed (``failed_runs``: id,
        fields, ...); returns the next delayed due time (ms) when the queue had nothing."""
        w = self._worker
        for i in range(0, len(failed_runs), 2):
            self._follow_scheduler(str(failed_runs[i]), failed_runs[i + 1])
        if status == 0:
            self._empty = False
            for i in range(0, len(jobs), 3):
                job_id, flat = str(jobs[i]), jobs[i + 2]
                fields = dict(zip(flat[::2], flat[1::2], strict=True))
                w._start(job_id, str(jobs[i + 1]), fields)
                if "rjk" in fields:
                    self._schedule_after(job_id, fields)
            return 0
        if status == 2:
            was_empty = self._empty
            self._empty = True
            if not was_empty and not w._running:
                w._emit("drained")
            return int(extra)
        return 0

    def _follow_scheduler(self, job_id: str, flat: list[Any]) -> None:
        if "rjk" in flat[::2]:
            self._schedule_after(job_id, dict(zip(flat[::2], flat[1::2], strict=True)))

    def _schedule_after(self, job_id: str, fields: dict[str, str]) -> None:
        task = asyncio.create_task(self._schedule_next(job_id, fields))
        self._scheduling.add(task)
        task.add_done_callback(self._scheduling.discard)

    async def _schedule_next(self, job_id: str, fields: dict[str, str]) -> None:
        """Gives the scheduler of the taken run ``job_id`` its next run (see the module's docstring)."""
        w = self._worker
        doing = f"scheduling the next run of scheduler {fields.get('rjk')!r} after job {job_id!r}"
        pause = 0.0
        while True:
            try:
                run = next_run_of(job_id, fields, int(time.time() * 1000))
                if run is not None:
                    await w._runner.run(schedule_next(w.keys, run, int(time.time() * 1000)))
                return
            except Exception as exc:
                w._error(exc, doing)
                passing = isinstance(exc, RedisUnavailable | OutcomeUnknown) or (
                    isinstance(exc, RedisRefused) and exc.retryable
                )
                if not passing or w._closing:
                    return
                pause = next_pause(pause)
                await nap(pause, w._stop)

    async def settle_scheduling(self) -> None:
        """At the stop: lets next runs being made finish (they take one call each) before the
        connection closes."""
        for task in list(self._scheduling):
            await settle(task, 5)

    async def loop(self) -> None:
        """Fetches until the worker stops, surviving any error."""
        try:
            await self._fetch_until_closed()
        finally:
            await self.settle_scheduling()

    async def _fetch_until_closed(self) -> None:
        w = self._worker
        pause = 0.0
        next_due = 0
        while not w._closing:
            try:
                next_due = await self._step(next_due)
                pause = 0.0
            except Exception as exc:
                if w._closing:
                    return
                # Any error, not just a lost connection: a refused call (a full memory, a read-only
                # replica during a failover) must not end fetching for good.
                w._error(exc, "fetching jobs")
                pause = next_pause(pause)
                await nap(pause, w._stop)

    async def _step(self, next_due: int) -> int:
        """One turn of the fetch loop; returns the due time (ms) of the next delayed job when the queue
        had nothing to run."""
        w = self._worker
        # A finish call due or in flight fetches for the slots free when it is sent: the loop leaves those
        # to it rather than spend a call of its own on them.
        if self.free_slots() <= 0 or w._results.will_fetch():
            w._slot_freed.clear()
            await w._slot_freed.wait()
            return next_due
        if self._empty:
            await self._wait_for_marker(next_due)
            self._empty = False
            if w._closing:
                return next_due
        if self.lost:
            await self.release_lost()
        free = self.free_slots()
        if free <= 0:
            return next_due
        args = self.args(free)
        try:
            with self.reserving(free):
                dead = w.dead_letter_keys.base if w.dead_letter_keys else ""
                status, jobs, extra, failed_runs = await w._runner.call(
                    script_call("fetch_jobs", w.keys, *args, dead, repeatable=False)
                )
        except OutcomeUnknown:
            self.lost_reply(args[4], free)
            raise
        next_due = self.start_fetched(status, jobs, extra, failed_runs)
        if status == 1:  # rate limited: extra is the time (ms) until the limiter's window closes
            await nap(int(extra) / 1000, w._stop)
        return next_due

    async def _wait_for_marker(self, next_due: int) -> None:
        w = self._worker
        timeout = w.block_timeout
        if next_due:
            timeout = min(timeout, max(0.0, next_due / 1000 - time.time()))
        if timeout <= 0.001:
            return
        try:
            popped = await self._block(timeout, until_due=timeout < w.block_timeout)
        except RedisTimeoutError:
            # The client's read deadline can run out just before the server's own timeout answers.
            return
        except (RedisConnectionError, OSError) as exc:
            if w._closing:
                return
            error: Exception = unavailable(self._blocking, exc)
            await w.home_blocking()
            raise error from exc
        except ResponseError as exc:
            # READONLY on a replica, UNBLOCKED when the server turns into one during a failover; MOVED
            # on a cluster node that no longer serves the marker.
            if w._closing:
                return
            error = refused(self._blocking, exc)
            await w.home_blocking()
            raise error from exc
        if popped:
            _, member, score = popped
            due = float(score)
            if member == "1" and due > time.time() * 1000 + 1:
                # The earliest delayed job is not due yet: wait for it, or for new work.
                remaining = due / 1000 - time.time()
                if remaining > 0.001:
                    # An error here only ends the wait early: the fetch that follows reports it.
                    with contextlib.suppress(RedisConnectionError, RedisTimeoutError, ResponseError, OSError):
                        await self._block(min(w.block_timeout, remaining), until_due=remaining < w.block_timeout)

    async def _block(self, seconds: float, *, until_due: bool) -> Any:
        """Waits on the marker for up to ``seconds``; what it popped, or None.

        Redis ends a blocking call's timeout at its next clock tick (every 100 ms at its default hz of
        10), so a wait for a delayed job due in 0.35 s would end up to 0.1 s late. When ``until_due``
        (the wait ends at a due time), Redis is asked for one tick less and the rest is waited here,
        where new work goes unnoticed for that tick at most: the delayed job is taken on time."""
        w = self._worker
        if not until_due:
            return await self._blocking.bzpopmin(w.keys.marker, seconds)
        deadline = time.monotonic() + seconds
        if seconds - _REDIS_TICK > 0.001:
            popped = await self._blocking.bzpopmin(w.keys.marker, seconds - _REDIS_TICK)
            if popped:
                return popped
        await nap(deadline - time.monotonic(), w._stop)
        return None
