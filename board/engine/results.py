"""Job results: the record a ``Worker`` makes of each finished job, and ``ResultWriter``, which saves them.

A job's code ends one of three ways, each a ``Finish`` record in the layout ``finish_jobs.lua`` takes:
completed (``"c"``), to be retried after a backoff delay (``"r"``), or failed (``"f"``), following the
job's own options (``attempts``, ``backoff``, ``removeOnComplete``, ``removeOnFail``, ``stackTraceLimit``).
A job failed for good is copied to the worker's dead-letter queue, when it has one, by the same call. A
completed job whose completion cannot be written whole, because another program gave a key it writes
(its flow parent's, its deduplication id's) another type, is failed instead, with a reason naming the
key, and reported to the ``failed`` hook.

Results are saved in batches, apart from the jobs that made them: every finished job is queued for the
next finish call, and that call also fetches new jobs for the free slots (through the worker's
``Fetcher``), so a busy worker makes about one Redis call per batch instead of two per job. Up to two
calls are in flight at once, so that Redis runs one batch while Python handles the other.

A result that cannot be saved is never dropped quietly: while Redis is away or refuses writes, the batch
goes back to the front of the queue and is tried again (its locks are still renewed, see
``Worker._lock_loop``); a batch refused for any other reason is retried job by job, and a job whose
result still fails after ``SAVE_TRIES`` tries is given up on, saying so in the log: its lock runs out and
it runs again. Once the worker has closed, results not saved yet are left to the stalled check.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import traceback
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .backoff import NoRetry, Strategies, backoff_delay
from .codes import Code, Finished, error_for
from .connection import script_call
from .errors import OutcomeUnknown, RedisRefused, RedisUnavailable, UnrecoverableError
from .job import JobRecord
from .loops import next_pause
from .options import dump_json

if TYPE_CHECKING:
    from .fetching import Fetcher
    from .worker import Worker

log = logging.getLogger("board.worker")

# A batch of results that fails for a reason other than Redis being away or refusing writes is retried
# job by job, and a job whose result still cannot be saved after this many tries is given up on (its
# lock runs out and it runs again), so that one bad result cannot hold up the others for ever.
SAVE_TRIES = 5
# Two finish calls may be in flight at once, so that Redis runs one batch while Python handles the other.
MAX_FLUSHES = 2


@dataclass
class Finish:
    """One job's result, waiting to be saved."""

    job: JobRecord
    token: str
    kind: str  # "c" completed, "r" retried, "f" failed
    values: tuple[Any, Any, Any, Any, Any]  # the five values of ``kind`` that finish_jobs.lua takes
    outcome: Any = None  # the processor's return value, for the ``completed`` hook
    exhausted: bool = False  # failed on its last attempt, for the ``retries-exhausted`` hook
    error: BaseException | None = None  # what the processor raised, for the ``failed`` hook
    # Tries that failed for a reason other than Redis being away or refusing (see SAVE_TRIES).
    failures: int = 0
    # A try may have saved it: the connection failed after the request was sent.
    maybe_saved: bool = False


def keep(policy: Any) -> tuple[int, float]:
    """``removeOnComplete`` / ``removeOnFail`` -> (jobs to keep, -1 for all; seconds to keep them, 0 for
    no limit), as ``finish_jobs.lua`` takes them."""
    if policy is True:
        return 0, 0
    if isinstance(policy, int) and not isinstance(policy, bool):
        return policy, 0
    if isinstance(policy, dict):
        count, age = policy.get("count", -1), policy.get("age", 0)
        return (count if isinstance(count, int) else -1), (age if isinstance(age, int | float) else 0)
    return -1, 0


def transient(exc: BaseException) -> bool:
    """Errors that say nothing about the call itself: Redis is away, or refuses writes for now."""
    if isinstance(exc, RedisRefused):
        return exc.retryable
    return isinstance(exc, RedisUnavailable | OutcomeUnknown)


def completed(job: JobRecord, token: str, returnvalue: str, result: Any) -> Finish:
    """The record of a job whose code returned ``result`` (``returnvalue`` is its JSON)."""
    keep_count, keep_age = keep(job.opts.get("removeOnComplete"))
    return Finish(job, token, "c", (returnvalue, keep_count, keep_age, "", ""), result)


def failed(job: JobRecord, token: str, exc: Exception, strategies: Strategies) -> Finish:
    """The record of a job whose code raised ``exc``: to be retried after its backoff delay while it has
    attempts left (and ``exc`` is not an ``UnrecoverableError``), failed otherwise. A backoff that cannot
    be worked out fails the job, saying why in its reason."""
    reason = str(exc) or type(exc).__name__
    stack = [*job.stacktrace, "".join(traceback.format_exception(exc))]
    limit = job.opts.get("stackTraceLimit")
    if isinstance(limit, int) and limit > 0:
        stack = stack[-limit:]
    stack_json = dump_json(stack, "stacktrace")
    attempts_made = job.attempts_made + 1
    if not isinstance(exc, UnrecoverableError) and attempts_made < job.attempts:
        try:
            delay = backoff_delay(job.opts.get("backoff"), attempts_made, exc, strategies, job)
            return Finish(job, token, "r", (reason, stack_json, delay, "", ""), error=exc)
        except NoRetry:
            pass
        except Exception as problem:
            reason = f"{reason} (not retried: {problem})"
    keep_count, keep_age = keep(job.opts.get("removeOnFail"))
    values = (reason, stack_json, keep_count, keep_age, job.attempts)
    return Finish(job, token, "f", values, error=exc, exhausted=attempts_made >= job.attempts)


class ResultWriter:
    """Saves the results of ``worker``'s jobs in batches, fetching new jobs through ``fetcher`` on the way,
    and reports each saved one to the worker's hooks (``completed``, ``failed``, ``retries-exhausted``)."""

    def __init__(self, worker: Worker, fetcher: Fetcher) -> None:
        self._worker = worker
        self._fetcher = fetcher
        # Results waiting for a finish call, oldest first; their locks are renewed with the running jobs'.
        self.pending: list[Finish] = []
        self.flushes = 0  # finish loops running, at most MAX_FLUSHES
        self.failing = False  # the last finish call failed
        self._tasks: set[asyncio.Task[None]] = set()

    def will_fetch(self) -> bool:
        """True while a finish call is due or in flight, each fetching jobs for the slots then free, and
        the last one went through (while they fail, the fetch loop takes jobs on its own)."""
        return (bool(self.pending) or self.flushes > 0) and not self.failing

    def add(self, item: Finish) -> None:
        """Queues a result for the next finish call."""
        self.pending.append(item)
        if self.flushes < MAX_FLUSHES:
            self._start_flush()

    async def drain(self, deadline: float) -> None:
        """For a stopping worker: saves what is pending, until ``deadline`` (``time.monotonic()``)."""
        slot_freed = self._worker._slot_freed
        while (self.pending or self.flushes) and time.monotonic() < deadline:
            if self.pending and self.flushes < MAX_FLUSHES:
                self._start_flush()
            slot_freed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(slot_freed.wait(), max(0.05, deadline - time.monotonic()))

    def _start_flush(self) -> None:
        self.flushes += 1
        task = asyncio.create_task(self._flush())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _next_batch(self) -> list[Finish]:
        # Half the slots a call: while Redis runs one batch, Python starts the jobs of the other.
        size = max(1, self._worker.concurrency // MAX_FLUSHES)
        if any(item.failures for item in self.pending[:size]):
            # Retried alone, so that a result Redis cannot take holds up no other.
            size = 1
        batch, self.pending = self.pending[:size], self.pending[size:]
        return batch

    async def _flush(self) -> None:
        w, fetcher = self._worker, self._fetcher
        pause = 0.0
        try:
            # After close() gave up on them, unsaved results are left to the stalled check.
            while self.pending and not w._closed.is_set():
                batch = self._next_batch()
                fetch = 0 if w._closing else max(0, fetcher.free_slots())
                args: list[Any] = [*fetcher.args(fetch), len(batch)]
                for item in batch:
                    args += [item.job.id, item.token, item.kind, *item.values]
                args.append(w.dead_letter_keys.base if w.dead_letter_keys else "")
                args.append(w.metrics_points)
                try:
                    with fetcher.reserving(fetch):
                        if fetcher.lost:
                            await fetcher.release_lost()
                        codes, fetched = await w._runner.call(
                            script_call("finish_jobs", w.keys, *args, repeatable=False)
                        )
                except Exception as exc:
                    self.failing = True
                    self._unsaved(batch, exc, fetch, args[4])
                    # The slots are free again while this waits: the fetch loop may use them.
                    w._slot_freed.set()
                    pause = next_pause(pause)
                    await asyncio.sleep(pause)  # not nap(): results must be saved even while stopping
                    continue
                pause = 0.0
                self.failing = False
                self._settled(batch, codes)
                fetcher.start_fetched(*fetched)
        finally:
            self.flushes -= 1
            w._slot_freed.set()

    def _unsaved(self, batch: list[Finish], exc: Exception, fetched: int, first_serial: int) -> None:
        """A finish call failed: its results go back to the front of the queue, to be saved later."""
        self._worker._error(exc, "saving job results")
        if isinstance(exc, OutcomeUnknown):
            # The call may have run: the token check keeps a job from being finished twice, and what
            # it fetched is handed back.
            for item in batch:
                item.maybe_saved = True
            if fetched:
                self._fetcher.lost_reply(first_serial, fetched)
        elif not transient(exc):
            for item in batch:
                item.failures += 1
            if len(batch) == 1 and batch[0].failures >= SAVE_TRIES:
                log.error(
                    "worker of %s gave up saving the result of job %s after %d tries (%s); the job stays "
                    "active until its lock runs out, then runs again",
                    self._worker.keys.queue_key,
                    batch[0].job.id,
                    SAVE_TRIES,
                    exc,
                )
                return
        self.pending = batch + self.pending

    def _settled(self, batch: list[Finish], codes: list[int]) -> None:
        w = self._worker
        for item, code in zip(batch, codes, strict=True):
            if code == Finished.FINISHED_AS_FAILED:
                self._failed_instead(item)
            # FINISHED_EARLIER: an earlier try of this finish had saved it; so had one that lost its lock
            # right after the reply was lost, since nothing else removes the lock of a job this worker holds.
            elif code in (Finished.FINISHED, Finished.FINISHED_EARLIER) or (
                code == Code.JOB_LOCK_MISSING and item.maybe_saved
            ):
                if item.kind == "c":
                    w._emit("completed", item.job, item.outcome)
                else:
                    w._emit("failed", item.job, item.error)
                    if item.exhausted:
                        w._emit("retries-exhausted", item.job, item.error)
            elif code != Code.JOB_NOT_FOUND:  # a job removed while it ran: nothing to report
                error = error_for(code, action="save the result of", queue=w.keys.name, job_id=item.job.id)
                w._error(error, "saving job results")

    def _failed_instead(self, item: Finish) -> None:
        """A completed job that ``finish_jobs.lua`` failed instead: a key its completion writes (its
        parent's, its deduplication id's), written by another program, has another type."""
        w = self._worker
        error = UnrecoverableError(
            f"job {item.job.id!r} completed, but its result could not be saved (a key it writes has another "
            "type): it was failed instead, with a reason naming that key"
        )
        log.warning("worker of %s: %s", w.keys.queue_key, error)
        w._emit("failed", item.job, error)
        if item.job.attempts_made + 1 >= item.job.attempts:
            w._emit("retries-exhausted", item.job, error)
