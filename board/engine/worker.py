"""``Worker``: takes jobs from a queue and runs a processor on them.

Jobs are fetched and finished in batches: every finished job is queued for the next finish call, and
that call also fetches new jobs for the free slots, so a busy worker makes about one Redis call per
batch instead of two per job. Each job still has its own lock, renewed at half its life.

The worker's four loops (fetching, saving results, renewing locks, checking for stalled jobs) survive
any error: each reports it (the ``error`` hook and a log line), waits a little longer each time (0.1 s
doubling up to 2 s), and tries again. Results that could not be saved are kept and saved later.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import signal
import threading
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .backoff import BackoffStrategy, NoRetry, Strategies, backoff_delay
from .connection import Connection, async_client, close_client, refused, script_call, sync_client, unavailable
from .errors import BoardError, LockLostError, OutcomeUnknown, RedisRefused, RedisUnavailable, UnrecoverableError
from .job import Job, JobRecord, SyncJob
from .keys import QueueKeys
from .options import dump_json, parse_limiter, to_ms
from .queue import Queue
from .sync_queue import SyncQueue

log = logging.getLogger("board.worker")

Processor = Callable[[Any], Any]
Hook = Callable[..., Any]
HOOK_EVENTS = frozenset(
    {
        "active",
        "completed",
        "failed",
        "progress",
        "stalled",
        "retries-exhausted",
        "drained",
        "error",
        "closed",
    }
)
_MALFORMED = ("name", "data", "opts")
_RETRY_PAUSE_MIN = 0.1
_RETRY_PAUSE_MAX = 2.0
# A batch of results that fails for a reason other than Redis being away or refusing writes is retried
# job by job, and a job whose result still cannot be saved after this many tries is given up on (its
# lock runs out and it runs again), so that one bad result cannot hold up the others for ever.
_SAVE_TRIES = 5
# While a stopping worker waits for jobs whose code is still running, it says so this often.
_STILL_WAITING_EVERY = 10.0
# Two finish calls may be in flight at once, so that Redis runs one batch while Python handles the other.
_MAX_FLUSHES = 2


@dataclass
class _Running:
    job: JobRecord
    token: str
    task: asyncio.Task[None] | None = None
    # Set when a stopping worker cancels the job: it is handed back once its code has stopped.
    released: bool = False


@dataclass
class _Finish:
    job: JobRecord
    token: str
    kind: str
    values: tuple[Any, Any, Any, Any, Any]
    outcome: Any = None
    exhausted: bool = False
    error: BaseException | None = field(default=None)
    # Tries that failed for a reason other than Redis being away or refusing (see _SAVE_TRIES).
    failures: int = 0
    # A try may have saved it: the connection failed after the request was sent.
    maybe_saved: bool = False


def _next_pause(pause: float) -> float:
    return min(_RETRY_PAUSE_MAX, pause * 2 or _RETRY_PAUSE_MIN)


def _transient(exc: BaseException) -> bool:
    """Errors that say nothing about the call itself: Redis is away, or refuses writes for now."""
    if isinstance(exc, RedisRefused):
        return exc.retryable
    return isinstance(exc, RedisUnavailable | OutcomeUnknown)


def _keep(policy: Any) -> tuple[int, float]:
    if policy is True:
        return 0, 0
    if isinstance(policy, int) and not isinstance(policy, bool):
        return policy, 0
    if isinstance(policy, dict):
        count, age = policy.get("count", -1), policy.get("age", 0)
        return (count if isinstance(count, int) else -1), (age if isinstance(age, int | float) else 0)
    return -1, 0


def _positive(value: Any, option: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{option}: expected an integer >= 1, got {value!r}")
    return value


class Worker:
    """Runs ``processor(job)`` on the jobs of one queue, ``concurrency`` at a time.

    Custom backoff strategies come only from here, never from a job: a job names one with
    ``backoff={"type": "<name>", "delay": seconds}`` (stored as BullMQ's ``{"type", "delay"}``) and
    the worker looks the name up in ``backoff_strategies`` (``{"<name>": fn}``), then falls back to
    ``backoff_strategy`` (one function for every type that is neither ``fixed`` nor ``exponential``,
    like BullMQ's ``settings.backoffStrategy``). A strategy is called in the worker's event loop as
    ``fn(attempts_made, error, backoff_type, job)``, with as many of these leading arguments as it
    takes (so ``fn(attempts_made)`` and ``fn(attempts_made, error)`` work too); ``job`` is the
    ``Job`` (or ``SyncJob``) that failed. It returns the seconds (or a ``timedelta``) to wait, or
    ``None`` or a negative number to stop retrying. A job whose backoff type the worker does not know,
    or whose backoff is malformed, fails at once with a reason saying so; other jobs are unaffected.
    """

    def __init__(
        self,
        queue_name: str,
        processor: Processor,
        connection: Connection | None = None,
        *,
        prefix: str = "bull",
        concurrency: int = 1,
        limiter: dict[str, float] | None = None,
        lock_duration: float | timedelta = 30,
        stalled_interval: float | timedelta = 30,
        max_stalled_count: int = 1,
        name: str | None = None,
        backoff_strategy: BackoffStrategy | None = None,
        backoff_strategies: Mapping[str, BackoffStrategy] | None = None,
        shutdown_timeout: float | timedelta = 30,
        block_timeout: float | timedelta = 5,
        handle_signals: bool = True,
    ) -> None:
        if not callable(processor):
            raise ValueError(f"processor: expected a function, got {processor!r}")
        self.keys = QueueKeys(prefix, queue_name)
        self.name = name
        self.concurrency = _positive(concurrency, "concurrency")
        self.limit_max, self.limit_ms = parse_limiter(limiter)
        self.lock_ms = to_ms(lock_duration, "lock_duration", allow_zero=False)
        self.stalled_ms = to_ms(stalled_interval, "stalled_interval", allow_zero=False)
        if isinstance(max_stalled_count, bool) or not isinstance(max_stalled_count, int) or max_stalled_count < 0:
            raise ValueError(f"max_stalled_count: expected an integer >= 0, got {max_stalled_count!r}")
        self.max_stalled_count = max_stalled_count
        self.shutdown_timeout = to_ms(shutdown_timeout, "shutdown_timeout") / 1000
        self.block_timeout = to_ms(block_timeout, "block_timeout", allow_zero=False) / 1000
        if name is not None and (not isinstance(name, str) or not name or " " in name):
            raise ValueError(f"name: expected a non-empty string without spaces, got {name!r}")
        self.backoff_strategy = backoff_strategy
        self._strategies = Strategies(backoff_strategy, backoff_strategies)
        self.handle_signals = handle_signals
        self.processor = processor
        self._is_async = inspect.iscoroutinefunction(processor) or inspect.iscoroutinefunction(
            getattr(processor, "__call__", None)  # noqa: B004
        )
        self.id = uuid.uuid4().hex
        client_name = self.keys.client_name(name)
        self.queue = _WorkerQueue(self, queue_name, async_client(connection), prefix)
        # Like BullMQ, only the blocking connection carries the worker's name: one per worker in CLIENT LIST.
        # No retries here: close() drops this connection to end a blocked wait at once.
        self._blocking = async_client(connection, client_name=client_name, retries=0)
        self._sync_queue: SyncQueue | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        if not self._is_async:
            self._sync_queue = _WorkerSyncQueue(self, queue_name, sync_client(connection), prefix)
            self._executor = ThreadPoolExecutor(self.concurrency, thread_name_prefix=f"board-{queue_name}")
        self._runner = self.queue._runner
        self._hooks: dict[str, list[Hook]] = {}
        self._running: dict[str, _Running] = {}
        self._pending: list[_Finish] = []
        # Token serials (first, last) of fetches whose reply was lost: the jobs they took are handed back.
        self._lost: list[tuple[int, int]] = []
        self._reserved = 0
        self._serial = 0
        self._flushes = 0
        self._empty = False
        self._slot_freed = asyncio.Event()
        self._closing = False
        self._stop = asyncio.Event()
        # Locks are renewed until the last job is finished or handed back, after the stop.
        self._locks_released = asyncio.Event()
        self._started = False
        self._closed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._hook_tasks: set[asyncio.Task[Any]] = set()

    # Hooks
    def on(self, event: str, fn: Hook) -> None:
        """Calls ``fn`` in this process when ``event`` happens (``fn`` may be async)."""
        if event not in HOOK_EVENTS:
            raise ValueError(f"event: unknown worker event {event!r}; expected one of {sorted(HOOK_EVENTS)}")
        self._hooks.setdefault(event, []).append(fn)

    def _emit(self, event: str, *args: Any) -> None:
        for fn in self._hooks.get(event, ()):
            try:
                result = fn(*args)
                if inspect.isawaitable(result):
                    task = asyncio.ensure_future(result)
                    self._hook_tasks.add(task)
                    task.add_done_callback(self._hook_done)
            except Exception:
                log.exception("worker hook for %r raised", event)

    def _hook_done(self, task: asyncio.Task[Any]) -> None:
        self._hook_tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("worker hook raised", exc_info=task.exception())

    def _error(self, exc: BaseException, doing: str) -> None:
        """Reports an error that a loop met and survives: to the ``error`` hooks, and in the log."""
        if isinstance(exc, BoardError):
            log.warning("worker of %s, %s: %s", self.keys.queue_key, doing, exc)
        else:
            log.error("worker of %s, %s: %r", self.keys.queue_key, doing, exc, exc_info=exc)
        self._emit("error", exc)

    # Running
    async def run(self) -> None:
        """Serves until ``close()``, SIGTERM or SIGINT; then stops taking jobs and lets active ones finish."""
        if self._started:
            raise RuntimeError("this worker is already running")
        self._started = True
        loop = self._loop = asyncio.get_running_loop()
        handled: list[signal.Signals] = []
        if self.handle_signals and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.add_signal_handler(sig, self._on_signal)
                    handled.append(sig)
        # Connect the named connection now, so that the worker is listed even while it is busy.
        with contextlib.suppress(RedisConnectionError, RedisTimeoutError, OSError):
            await self._blocking.ping()
        self._tasks = [
            asyncio.create_task(self._fetch_loop(), name="board-fetch"),
            asyncio.create_task(self._lock_loop(), name="board-locks"),
            asyncio.create_task(self._stalled_loop(), name="board-stalled"),
        ]
        try:
            await self._closed.wait()
        finally:
            for sig in handled:
                loop.remove_signal_handler(sig)

    def _on_signal(self) -> None:
        task = asyncio.ensure_future(self.close())
        self._hook_tasks.add(task)
        task.add_done_callback(self._hook_tasks.discard)

    async def close(self, timeout: float | None = None) -> None:
        """Stops taking jobs and waits up to ``timeout`` (default ``shutdown_timeout``) for active jobs.
        Then async jobs still running are cancelled and handed back to the queue once their code has
        stopped, so that nothing stays locked. A plain function running in a thread cannot be stopped:
        its job keeps its lock, renewed, and the worker waits for it (saying so in the log), because
        handing it back would let another worker run it at the same time."""
        if self._closing:
            await self._closed.wait()
            return
        self._closing = True
        wait_for = self.shutdown_timeout if timeout is None else timeout
        self._stop.set()
        self._slot_freed.set()
        # In-flight Redis calls are never cancelled (a cancelled read can leave redis-py waiting on a
        # dead socket): a fetch loop blocked on the marker is ended by dropping its connection instead.
        await self._blocking.connection_pool.disconnect()
        fetch = self._tasks[0] if self._tasks else None
        if fetch is not None:
            await self._settle(fetch, 10)
        deadline = time.monotonic() + wait_for
        while self._running and time.monotonic() < deadline:
            self._slot_freed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._slot_freed.wait(), max(0.0, deadline - time.monotonic()))
        await self._stop_unfinished(deadline - wait_for)
        await self._drain_pending(max(deadline, time.monotonic()) + 5)
        if self._lost:
            try:
                await self._release_lost()
            except Exception as exc:
                self._error(exc, "handing back jobs taken by a fetch whose reply was lost")
        self._locks_released.set()
        for task in self._tasks[1:]:
            await self._settle(task, 10)
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
        if self._sync_queue is not None:
            self._sync_queue.close()
        await close_client(self._blocking)
        await self.queue.close()
        self._closed.set()
        self._emit("closed")

    @staticmethod
    async def _settle(task: asyncio.Task[None], timeout: float) -> None:
        """Waits for a loop to notice the stop; cancels it only if it does not within ``timeout``."""
        done, _ = await asyncio.wait([task], timeout=timeout)
        if not done:
            task.cancel()
            await asyncio.wait([task], timeout=1)

    async def _nap(self, seconds: float, stop: asyncio.Event | None = None) -> bool:
        """Sleeps up to ``seconds``; True when ``stop`` (by default: the worker stopping) is set."""
        stop = stop or self._stop
        if seconds > 0 and not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), seconds)
        return stop.is_set()

    async def _drain_pending(self, deadline: float) -> None:
        while (self._pending or self._flushes) and time.monotonic() < deadline:
            if self._pending and self._flushes < _MAX_FLUSHES:
                self._start_flush()
            self._slot_freed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._slot_freed.wait(), max(0.05, deadline - time.monotonic()))

    async def _stop_unfinished(self, stopped_at: float) -> None:
        """Past the shutdown timeout: cancels async jobs and hands each back once its code has stopped;
        waits for jobs running in threads, which finish (and are saved) as usual."""
        for r in self._running.values():
            if self._is_async and r.task is not None:
                r.released = True
                r.task.cancel()
        # A cancelled coroutine normally stops at once: only a thread is reported straight away.
        next_report = time.monotonic() + (1.0 if self._is_async else 0.0)
        while self._running:
            stopped = [r for r in self._running.values() if r.released and (r.task is None or r.task.done())]
            if stopped:
                await self._hand_back(stopped)
                continue
            if time.monotonic() >= next_report:
                self._report_waiting(time.monotonic() - stopped_at)
                next_report = time.monotonic() + _STILL_WAITING_EVERY
            self._slot_freed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._slot_freed.wait(), max(0.01, next_report - time.monotonic()))

    def _report_waiting(self, waited: float) -> None:
        ids = ", ".join(sorted(self._running))
        if self._is_async:
            what = "cancelled and not stopped yet"
        else:
            what = "running in threads, which cannot be interrupted; their locks are kept until they finish"
        log.warning(
            "worker of %s is stopping: %.1f s after the stop (shutdown_timeout %g s), still waiting for %d job(s) "
            "whose code is %s: %s",
            self.keys.queue_key,
            waited,
            self.shutdown_timeout,
            len(self._running),
            what,
            ids,
        )

    async def _hand_back(self, stopped: list[_Running]) -> None:
        pairs: list[str] = []
        for r in stopped:
            self._running.pop(r.job.id, None)
            pairs += [r.job.id, r.token]
        try:
            await self._runner.call(script_call("release_jobs", self.keys, *pairs))
        except Exception as exc:
            # Their locks run out and a stalled check puts them back.
            self._error(exc, "handing back unfinished jobs")

    async def _release_lost(self) -> None:
        ranges, self._lost = self._lost, []
        try:
            await self._runner.call(script_call("release_lost", self.keys, self.id, *(n for r in ranges for n in r)))
        except BaseException:
            self._lost = ranges + self._lost
            raise

    # Fetching
    def _free_slots(self) -> int:
        return self.concurrency - len(self._running) - self._reserved

    def _fetch_args(self, count: int) -> list[Any]:
        first = self._serial
        self._serial += count
        return [
            int(time.time() * 1000),
            count,
            self.lock_ms,
            self.id,
            first,
            self.name or "",
            self.limit_max,
            self.limit_ms,
        ]

    async def _fetch_loop(self) -> None:
        pause = 0.0
        next_due = 0
        while not self._closing:
            try:
                next_due = await self._fetch_step(next_due)
                pause = 0.0
            except Exception as exc:
                if self._closing:
                    return
                # Any error, not just a lost connection: a refused call (a full memory, a read-only
                # replica during a failover) must not end fetching for good.
                self._error(exc, "fetching jobs")
                pause = _next_pause(pause)
                await self._nap(pause)

    async def _fetch_step(self, next_due: int) -> int:
        """One turn of the fetch loop; returns the due time (ms) of the next delayed job when the queue
        had nothing to run."""
        if self._free_slots() <= 0:
            self._slot_freed.clear()
            await self._slot_freed.wait()
            return next_due
        if self._empty:
            await self._wait_for_marker(next_due)
            self._empty = False
            if self._closing:
                return next_due
        if self._lost:
            await self._release_lost()
        free = self._free_slots()
        if free <= 0:
            return next_due
        self._reserved += free
        args = self._fetch_args(free)
        try:
            status, jobs, extra = await self._runner.call(script_call("fetch_jobs", self.keys, *args, repeatable=False))
        except OutcomeUnknown:
            self._lost.append((args[4], args[4] + free - 1))
            raise
        finally:
            self._reserved -= free
        next_due = self._handle_fetched(status, jobs, extra)
        if status == 1:
            await self._nap(int(extra) / 1000)
        return next_due

    def _handle_fetched(self, status: int, jobs: list[Any], extra: Any) -> int:
        """Starts fetched jobs; returns the next delayed due time (ms) when the queue had nothing."""
        if status == 0:
            self._empty = False
            for i in range(0, len(jobs), 3):
                self._start(str(jobs[i]), str(jobs[i + 1]), jobs[i + 2])
            return 0
        if status == 2:
            was_empty = self._empty
            self._empty = True
            if not was_empty and not self._running:
                self._emit("drained")
            return int(extra)
        return 0

    async def _wait_for_marker(self, next_due: int) -> None:
        timeout = self.block_timeout
        if next_due:
            timeout = min(timeout, max(0.0, next_due / 1000 - time.time()))
        if timeout <= 0.001:
            return
        try:
            popped = await self._blocking.bzpopmin(self.keys.marker, timeout)
        except RedisTimeoutError:
            # The client's read deadline can run out just before the server's own timeout answers.
            return
        except (RedisConnectionError, OSError) as exc:
            if self._closing:
                return
            raise unavailable(self._blocking, exc) from exc
        except ResponseError as exc:
            # READONLY on a replica, UNBLOCKED when the server turns into one during a failover.
            if self._closing:
                return
            raise refused(self._blocking, exc) from exc
        if popped:
            _, member, score = popped
            due = float(score)
            if member == "1" and due > time.time() * 1000 + 1:
                # The earliest delayed job is not due yet: wait for it, or for new work.
                remaining = min(self.block_timeout, due / 1000 - time.time())
                if remaining > 0.001:
                    # An error here only ends the wait early: the fetch that follows reports it.
                    with contextlib.suppress(RedisConnectionError, RedisTimeoutError, ResponseError, OSError):
                        await self._blocking.bzpopmin(self.keys.marker, remaining)

    # Processing
    def _start(self, job_id: str, token: str, flat: list[str]) -> None:
        fields = dict(zip(flat[::2], flat[1::2], strict=True))
        job: JobRecord
        if self._sync_queue is not None:
            job = SyncJob(self._sync_queue, job_id, fields)
        else:
            job = Job(self.queue, job_id, fields)
        running = _Running(job, token)
        self._running[job_id] = running
        running.task = asyncio.create_task(self._process(running))
        # A stopping worker waits for cancelled jobs to stop: wake it when one does.
        running.task.add_done_callback(lambda _: self._slot_freed.set())
        self._emit("active", job)

    async def _process(self, running: _Running) -> None:
        job = running.job
        try:
            broken = [f"{name}: {job.problems[name]}" for name in _MALFORMED if name in job.problems]
            if broken:
                raise UnrecoverableError("job hash is malformed (" + "; ".join(broken) + ")")
            if self._is_async:
                result = await self.processor(job)
            else:
                loop = asyncio.get_running_loop()
                result = await loop.run_in_executor(self._executor, self.processor, job)
            try:
                returnvalue = dump_json(result, "return value")
            except TypeError as exc:
                raise UnrecoverableError(str(exc)) from None
        except asyncio.CancelledError:
            if running.released:
                return
            raise
        except Exception as exc:
            if running.released:
                return
            self._finish(self._failure(running, exc))
            return
        if running.released:
            return
        keep_count, keep_age = _keep(job.opts.get("removeOnComplete"))
        self._finish(_Finish(job, running.token, "c", (returnvalue, keep_count, keep_age, "", ""), result))

    def _failure(self, running: _Running, exc: Exception) -> _Finish:
        job = running.job
        reason = str(exc) or type(exc).__name__
        stack = [*job.stacktrace, "".join(traceback.format_exception(exc))]
        limit = job.opts.get("stackTraceLimit")
        if isinstance(limit, int) and limit > 0:
            stack = stack[-limit:]
        stack_json = dump_json(stack, "stacktrace")
        attempts_made = job.attempts_made + 1
        if not isinstance(exc, UnrecoverableError) and attempts_made < job.attempts:
            try:
                delay = backoff_delay(job.opts.get("backoff"), attempts_made, exc, self._strategies, job)
                return _Finish(job, running.token, "r", (reason, stack_json, delay, "", ""), error=exc)
            except NoRetry:
                pass
            except Exception as problem:
                reason = f"{reason} (not retried: {problem})"
        keep_count, keep_age = _keep(job.opts.get("removeOnFail"))
        values = (reason, stack_json, keep_count, keep_age, job.attempts)
        return _Finish(job, running.token, "f", values, error=exc, exhausted=attempts_made >= job.attempts)

    def _finish(self, item: _Finish) -> None:
        self._running.pop(item.job.id, None)
        self._pending.append(item)
        if self._flushes < _MAX_FLUSHES:
            self._start_flush()

    def _start_flush(self) -> None:
        self._flushes += 1
        task = asyncio.create_task(self._flush())
        self._hook_tasks.add(task)
        task.add_done_callback(self._hook_tasks.discard)

    def _next_batch(self) -> list[_Finish]:
        # Half the slots a call: while Redis runs one batch, Python starts the jobs of the other.
        size = max(1, self.concurrency // _MAX_FLUSHES)
        if any(item.failures for item in self._pending[:size]):
            # Retried alone, so that a result Redis cannot take holds up no other.
            size = 1
        batch, self._pending = self._pending[:size], self._pending[size:]
        return batch

    async def _flush(self) -> None:
        pause = 0.0
        try:
            # After close() gave up on them, unsaved results are left to the stalled check.
            while self._pending and not self._closed.is_set():
                batch = self._next_batch()
                fetch = 0 if self._closing else max(0, self._free_slots())
                args: list[Any] = [*self._fetch_args(fetch), len(batch)]
                for item in batch:
                    args += [item.job.id, item.token, item.kind, *item.values]
                self._reserved += fetch
                try:
                    if self._lost:
                        await self._release_lost()
                    codes, fetched = await self._runner.call(
                        script_call("finish_jobs", self.keys, *args, repeatable=False)
                    )
                except Exception as exc:
                    self._reserved -= fetch
                    self._unsaved(batch, exc, fetch, args[4])
                    # The slots are free again while this waits: the fetch loop may use them.
                    self._slot_freed.set()
                    pause = _next_pause(pause)
                    await asyncio.sleep(pause)  # not _nap: results must be saved even while stopping
                    continue
                self._reserved -= fetch
                pause = 0.0
                self._settled(batch, codes)
                self._handle_fetched(*fetched)
        finally:
            self._flushes -= 1
            self._slot_freed.set()

    def _unsaved(self, batch: list[_Finish], exc: Exception, fetched: int, first_serial: int) -> None:
        """A finish call failed: its results go back to the front of the queue, to be saved later."""
        self._error(exc, "saving job results")
        if isinstance(exc, OutcomeUnknown):
            # The call may have run: the token check keeps a job from being finished twice, and what
            # it fetched is handed back.
            for item in batch:
                item.maybe_saved = True
            if fetched:
                self._lost.append((first_serial, first_serial + fetched - 1))
        elif not _transient(exc):
            for item in batch:
                item.failures += 1
            if len(batch) == 1 and batch[0].failures >= _SAVE_TRIES:
                job_id = batch[0].job.id
                log.error(
                    "worker of %s gave up saving the result of job %s after %d tries (%s); the job stays "
                    "active until its lock runs out, then runs again",
                    self.keys.queue_key,
                    job_id,
                    _SAVE_TRIES,
                    exc,
                )
                return
        self._pending = batch + self._pending

    def _settled(self, batch: list[_Finish], codes: list[int]) -> None:
        for item, code in zip(batch, codes, strict=True):
            # 1: an earlier try of this finish had saved it; so had one that lost its lock right after
            # the reply was lost, since nothing else removes the lock of a job this worker holds.
            if code == 0 or code == 1 or (code == -2 and item.maybe_saved):
                if item.kind == "c":
                    self._emit("completed", item.job, item.outcome)
                else:
                    self._emit("failed", item.job, item.error)
                    if item.exhausted:
                        self._emit("retries-exhausted", item.job, item.error)
            elif code in (-2, -6):
                self._error(
                    LockLostError(f"lost the lock of job {item.job.id!r}; its result was not saved"),
                    "saving job results",
                )

    # Locks and stalled jobs
    async def _lock_loop(self) -> None:
        interval = self.lock_ms / 2000
        pause = 0.0
        while not await self._nap(min(pause, interval) if pause else interval, self._locks_released):
            # Results waiting to be saved keep their locks too, so that they outlast a short outage.
            held: list[_Running | _Finish] = [*self._running.values(), *self._pending]
            if not held:
                continue
            pairs: list[str] = []
            for h in held:
                pairs += [h.job.id, h.token]
            try:
                renewed = await self._runner.call(script_call("extend_locks", self.keys, self.lock_ms, *pairs))
                pause = 0.0
            except Exception as exc:
                # Tried again well before the locks run out: they had half their life left.
                self._error(exc, "renewing locks")
                pause = _next_pause(pause)
                continue
            for h, ok in zip(held, renewed, strict=True):
                # A result whose lock is gone is reported when its save is refused.
                if not ok and isinstance(h, _Running) and h.job.id in self._running:
                    self._error(LockLostError(f"could not renew the lock of job {h.job.id!r}"), "renewing locks")

    async def _stalled_loop(self) -> None:
        pause = 0.0
        while not self._stop.is_set():
            try:
                result = await self._runner.call(
                    script_call(
                        "move_stalled",
                        self.keys,
                        int(time.time() * 1000),
                        self.max_stalled_count,
                        self.stalled_ms,
                    )
                )
                pause = 0.0
            except Exception as exc:
                self._error(exc, "checking for stalled jobs")
                pause = _next_pause(pause)
                await self._nap(min(pause, self.stalled_ms / 1000))
                continue
            if result:
                for job_id in [*result[0], *result[1]]:
                    self._emit("stalled", str(job_id))
            await self._nap(self.stalled_ms / 1000)

    def __repr__(self) -> str:
        return f"<Worker {self.keys.queue_key} concurrency={self.concurrency}>"


class _WorkerQueue(Queue):
    """The worker's own queue handle: reports progress to the worker's local hooks too."""

    def __init__(self, worker: Worker, name: str, client: Any, prefix: str) -> None:
        super().__init__(name, client, prefix=prefix)
        self._worker = worker

    async def update_job_progress(self, job_id: str, progress: Any) -> None:
        await super().update_job_progress(job_id, progress)
        self._worker._emit("progress", job_id, progress)


class _WorkerSyncQueue(SyncQueue):
    def __init__(self, worker: Worker, name: str, client: Any, prefix: str) -> None:
        super().__init__(name, client, prefix=prefix)
        self._worker = worker

    def update_job_progress(self, job_id: str, progress: Any) -> None:
        super().update_job_progress(job_id, progress)
        loop = self._worker._loop
        if loop is not None:
            loop.call_soon_threadsafe(self._worker._emit, "progress", job_id, progress)


AsyncProcessor = Callable[[Job], Awaitable[Any]]
SyncProcessor = Callable[[SyncJob], Any]
