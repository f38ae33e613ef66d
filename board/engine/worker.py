"""``Worker``: takes jobs from a queue and runs a processor on them.

This module holds the worker itself: its options, its hooks, running the processor on each job, renewing
the locks of the jobs it holds, the stalled-job check, and the order in which a stopping worker lets go.
Taking jobs is ``fetching.Fetcher``'s; recording and saving their results is ``results.ResultWriter``'s,
which saves them in batches and fetches new jobs in the same Redis call. Each job still has its own lock,
renewed at half its life.

The worker's four loops (fetching, saving results, renewing locks, checking for stalled jobs) survive
any error: each reports it (the ``error`` hook and a log line), waits a little longer each time (0.1 s
doubling up to 2 s, see ``loops.py``), and tries again. Results that could not be saved are kept and
saved later.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import signal
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .backoff import BackoffStrategy, Strategies
from .connection import Connection, _aretry, async_client, script_call, sync_client
from .errors import BoardError, LockLostError, UnrecoverableError
from .fetching import Fetcher
from .job import Job, JobRecord, SyncJob
from .keys import QueueKeys, check_cluster_queue, hash_tag, same_slot
from .loops import nap, next_pause, settle
from .options import dump_json, parse_limiter, to_ms
from .queue import Queue
from .results import Finish, ResultWriter, completed, failed
from .routing import close_client, is_cluster, node_client
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
# While a stopping worker waits for jobs whose code is still running, it says so this often.
_STILL_WAITING_EVERY = 10.0


@dataclass
class _Running:
    job: JobRecord
    token: str
    task: asyncio.Task[None] | None = None
    # Set when a stopping worker cancels the job: it is handed back once its code has stopped.
    released: bool = False


def _metrics_points(metrics: Mapping[str, int] | None) -> int:
    if metrics is None:
        return 0
    if not isinstance(metrics, Mapping) or set(metrics) != {"max_data_points"}:
        raise ValueError(f"metrics: expected {{'max_data_points': minutes}}, got {metrics!r}")
    points = metrics["max_data_points"]
    if isinstance(points, bool) or not isinstance(points, int) or not 1 <= points <= 100_000:
        raise ValueError(f"metrics: max_data_points must be a whole number from 1 to 100000, got {points!r}")
    return points


def _dead_letter_keys(prefix: str, queue_name: str, name: str | None) -> QueueKeys | None:
    if name is None:
        return None
    if not isinstance(name, str) or not name:
        raise ValueError(f"dead_letter_queue: expected a queue name, got {name!r}")
    if name == queue_name:
        # Its dead letters would sit among the jobs they came from, and retrying one would loop.
        raise ValueError(f"dead_letter_queue: must be another queue than {queue_name!r}")
    try:
        return QueueKeys(prefix, name)
    except ValueError as exc:
        raise ValueError(f"dead_letter_queue: {exc}") from None


def _check_cluster_worker(keys: QueueKeys, dead: QueueKeys | None) -> None:
    check_cluster_queue(keys.prefix, keys.name)
    if dead is not None and not same_slot(keys, dead):
        raise ValueError(
            f"dead-letter queue {dead.name!r} is in another hash slot than {keys.name!r}: name it "
            f"'{{{hash_tag(keys.base)}}}-dead' or use a prefix with a hash tag"
        )


def _positive(value: Any, option: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{option}: expected an integer >= 1, got {value!r}")
    return value


class Worker:
    """Runs ``processor(job)`` on the jobs of one queue, ``concurrency`` at a time, until ``close()``.

    It speaks BullMQ 6's Redis format, so it can share a queue with BullMQ's own workers and producers.
    ``await worker.run()`` serves until ``close()`` (or SIGTERM/SIGINT); a job's code that raises makes
    the job fail, or wait to be tried again if it has attempts left (see the backoff paragraph below).
    Durations are seconds (an ``int`` or ``float``) or a ``timedelta``; a bad option raises
    ``ValueError`` here, not later.

    :param queue_name: the queue to take jobs from: a non-empty name without ``':'``.
    :param processor: the function run on each job. An ``async def`` gets a ``Job`` and runs in the
        worker's event loop; a plain function gets a ``SyncJob`` (whose methods block) and runs in a
        thread pool of ``concurrency`` threads, so it must not touch the event loop. What it returns
        (JSON-serialisable, or the job fails without retry) is saved as the job's return value; raising
        ``UnrecoverableError`` fails the job whatever attempts it has left.
    :param connection: a Redis URL (``redis://``, ``rediss://`` or ``unix://``), a redis client (asyncio
        or blocking: only its connection settings are used), or None (default) for
        ``redis://localhost:6379``. The worker opens connections of its own: one for its calls, one that
        blocks waiting for work (named after the queue and ``name`` in CLIENT LIST, as BullMQ's
        ``getWorkers`` expects), and one more for a plain-function processor's ``SyncJob``.
    :param prefix: the key prefix the queue lives under (BullMQ's ``prefix``), default ``"bull"``.
    :param concurrency: how many jobs run at once, an integer >= 1 (default 1). Results are saved up to
        half this many (at least one) a call, and each such call also fetches jobs for the free slots.
    :param limiter: a rate limit, ``{"max": n, "duration": seconds}``: at most ``n`` jobs (an integer >=
        1) start per ``duration`` (> 0) across all the queue's workers, which share one counter in Redis;
        a worker that reaches it waits for the window to close. None (default): the queue's own limit,
        if one is stored in its meta, else no limit.
    :param lock_duration: how long a job's lock lasts, > 0 (default 30 s). The worker renews the locks
        of its jobs every half of it while they run, and of results waiting to be saved. A job whose lock
        runs out (its worker died, or its event loop was blocked for that long) is taken for stalled and
        may run again elsewhere; too short a lock makes that happen to jobs that are merely slow.
    :param stalled_interval: how often the stalled-job check runs, > 0 (default 30 s); it runs at most
        once per interval across all the queue's workers. A job found with no lock is put back in wait,
        so a dead worker's jobs run again within two intervals of their locks running out.
    :param max_stalled_count: how many times a job may be put back after stalling, an integer >= 0
        (default 1); the next stall fails it ("job stalled more than allowable limit"). 0: the first
        stall fails it.
    :param name: this worker's name, shown in CLIENT LIST and stored on each job it takes (BullMQ's
        ``processedBy``); a non-empty string without spaces, or None (default) for no name.
    :param backoff_strategy: the function for custom backoff types not in ``backoff_strategies``
        (BullMQ's ``settings.backoffStrategy``); None (default) for none.
    :param backoff_strategies: custom backoff strategies by type name, ``{"<name>": fn}``; None
        (default) for none. Both are described below.
    :param shutdown_timeout: how long ``close()`` waits for running jobs to finish, >= 0 (default 30 s),
        before it cancels the async ones; 0 cancels them at once. Jobs running in threads cannot be
        cancelled: ``close()`` waits for them, however long they take.
    :param block_timeout: the longest an idle worker waits on Redis for new work in one call, > 0
        (default 5 s). New jobs wake it at once, and delayed ones when they are due (the queue's
        marker); this bounds how late it notices work that came without a marker, and how often an
        idle worker calls Redis. ``close()`` ends the wait at once, whatever its length.
    :param handle_signals: True (default): ``run()`` closes the worker on SIGTERM and SIGINT, when run
        in the main thread on an event loop that supports signal handlers (not Windows'), and removes
        its handlers when it returns. False leaves signals to the application.
    :param dead_letter_queue: the name of a queue (same prefix, not this one) that receives a copy of
        every job this worker fails for good (attempts exhausted, ``UnrecoverableError``), in the same
        Redis call as the failure: a failed job there, with the original's name, data and options plus
        ``opts["deadLetter"]`` = ``{"queue", "jobId", "attemptsMade", "failedOn"}``. The original then
        follows its own ``remove_on_fail``. Retrying the dead letter (``retry_job`` or ``retry_jobs`` on
        that queue) sends it back: the original is retried in place while it is still failed, else added
        again under its id. None (default): no dead letters.
    :param metrics: ``{"max_data_points": n}`` keeps BullMQ's job metrics as Node BullMQ's workers do:
        running totals of completed and failed jobs and one count per minute for the last ``n``
        minutes (``metrics:completed`` / ``metrics:failed``), read by ``Queue.get_metrics``, Node's
        ``getMetrics()``, the board's charts and its ``/metrics``. None (default): none kept.

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
        dead_letter_queue: str | None = None,
        metrics: Mapping[str, int] | None = None,
    ) -> None:
        if not callable(processor):
            raise ValueError(f"processor: expected a function, got {processor!r}")
        self.keys = QueueKeys(prefix, queue_name)
        self.dead_letter_queue = dead_letter_queue
        self.dead_letter_keys = _dead_letter_keys(prefix, queue_name, dead_letter_queue)
        self.metrics_points = _metrics_points(metrics)
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
        self._client_name = client_name
        self._homed = False
        client = async_client(connection)
        self._cluster: Any = client if is_cluster(client) else None
        self.queue = _WorkerQueue(self, queue_name, client, prefix)
        if self._cluster is not None:
            _check_cluster_worker(self.keys, self.dead_letter_keys)
            # Replaced by a client of the node serving the marker when the worker starts (home_blocking).
            self._blocking = async_client(None, client_name=client_name, retries=0)
        else:
            # Like BullMQ, only the blocking connection carries the worker's name: one per worker in CLIENT
            # LIST. No retries here: close() drops this connection to end a blocked wait at once.
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
        self._fetcher = Fetcher(self)
        self._results = ResultWriter(self, self._fetcher)
        # Set when a job's code ends, when a finish call ends or fails (giving back the slots it fetched
        # for), and at the stop: the fetch loop and a stopping worker wait on it.
        self._slot_freed = asyncio.Event()
        self._closing = False
        self._stop = asyncio.Event()
        # Locks are renewed until the last job is finished or handed back, after the stop.
        self._locks_released = asyncio.Event()
        self._started = False
        self._closed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._hook_tasks: set[asyncio.Task[Any]] = set()

    async def home_blocking(self) -> None:
        """On a cluster: (re)opens the blocking connection on the node that serves the marker now, as
        the worker starts and after that node failed or the slot moved."""
        if self._cluster is None or self._closing:
            return
        old, refresh = self._blocking, self._homed
        try:
            self._blocking = await node_client(
                self._cluster, self.keys.marker, refresh=refresh, client_name=self._client_name, retry=_aretry(0)
            )
        except (RedisError, OSError):
            return  # the cluster is failing over: the next error tries again
        self._homed = True
        with contextlib.suppress(RedisError, OSError):
            await old.aclose()

    # Hooks
    def on(self, event: str, fn: Hook) -> None:
        """Calls ``fn`` in this process, in the worker's event loop, each time ``event`` happens.

        The events and what ``fn`` gets:

        - ``"active"``, ``(job)``: this worker started the job.
        - ``"progress"``, ``(job_id, progress)``: the job's code reported progress.
        - ``"completed"``, ``(job, result)``: its result is saved; ``result`` is what the processor
          returned.
        - ``"failed"``, ``(job, error)``: a failed attempt is saved, whether the job will be retried or
          has failed for good; ``error`` is what the processor raised.
        - ``"retries-exhausted"``, ``(job, error)``: after ``failed``, when that was the last attempt.
        - ``"stalled"``, ``(job_id)``: this worker's stalled check found a job that had lost its lock
          (another worker's, as a rule) and put it back in wait, or marked it to fail past
          ``max_stalled_count``.
        - ``"drained"``, ``()``: the queue has nothing left to run and this worker is idle.
        - ``"error"``, ``(exc)``: a loop met an error and goes on (Redis away, a refused call, a lost
          lock); it is logged as well.
        - ``"closed"``, ``()``: ``close()`` is done.

        ``fn`` may be async: it is then started as a task, not awaited. What ``fn`` raises is logged
        and goes no further. Hooks on the same event run in the order they were added. ``ValueError``
        for an event not listed.
        """
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
        """Serves until ``close()``, SIGTERM or SIGINT, then returns once the worker has closed.

        Starts the worker's loops (fetching jobs, renewing locks, checking for stalled jobs) and waits.
        Errors in the loops do not end it: they go to the ``error`` hooks and the log, and the loop
        tries again. A signal calls ``close()`` (see ``handle_signals``). A worker runs once:
        ``RuntimeError`` if it is already running or has run.
        """
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
        if self._cluster is not None:
            await self.home_blocking()
        # Connect the named connection now, so that the worker is listed even while it is busy.
        with contextlib.suppress(RedisConnectionError, RedisTimeoutError, OSError):
            await self._blocking.ping()
        self._tasks = [
            asyncio.create_task(self._fetcher.loop(), name="board-fetch"),
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
        """Stops taking jobs, lets the running ones finish, saves their results and closes connections.

        Waits up to ``timeout`` seconds (default ``shutdown_timeout``) for running jobs. Then async jobs
        still running are cancelled and handed back to the queue once their code has stopped, so that
        nothing stays locked and another worker can run them. A plain function running in a thread
        cannot be stopped: its job keeps its lock, renewed, and the worker waits for it (saying so in
        the log every 10 s), because handing it back would let another worker run it at the same time.
        Results not saved within 5 s more are left to the stalled check. Safe to call more than once:
        later calls wait for the first to end. Emits ``closed`` at the end.
        """
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
            await settle(fetch, 10)
        deadline = time.monotonic() + wait_for
        while self._running and time.monotonic() < deadline:
            self._slot_freed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._slot_freed.wait(), max(0.0, deadline - time.monotonic()))
        await self._stop_unfinished(deadline - wait_for)
        await self._results.drain(max(deadline, time.monotonic()) + 5)
        if self._fetcher.lost:
            try:
                await self._fetcher.release_lost()
            except Exception as exc:
                self._error(exc, "handing back jobs taken by a fetch whose reply was lost")
        self._locks_released.set()
        for task in self._tasks[1:]:
            await settle(task, 10)
        # A fetch made with the last results may have started scheduler runs: their next runs are
        # made before the connection closes, or those schedulers would wait for the next upsert.
        await self._fetcher.settle_scheduling()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
        if self._sync_queue is not None:
            self._sync_queue.close()
        await close_client(self._blocking)
        await self.queue.close()
        self._closed.set()
        self._emit("closed")

    async def _stop_unfinished(self, stopped_at: float) -> None:
        """Past the shutdown timeout: cancels async jobs and hands each back once its code has stopped;
        waits for jobs running in threads, which finish (and are saved) as usual."""
        for r in self._running.values():
            if self._is_async and r.task is not None:
                r.released = True
                r.task.cancel()
                # A task cancelled before it started never runs _process's own wake-up.
                r.task.add_done_callback(lambda _: self._slot_freed.set())
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

    # Processing
    def _start(self, job_id: str, token: str, fields: dict[str, str]) -> None:
        job: JobRecord
        if self._sync_queue is not None:
            job = SyncJob(self._sync_queue, job_id, fields)
        else:
            job = Job(self.queue, job_id, fields)
        running = _Running(job, token)
        self._running[job_id] = running
        running.task = asyncio.create_task(self._process(running))
        self._emit("active", job)

    async def _process(self, running: _Running) -> None:
        try:
            await self._run_job(running)
        finally:
            # The fetch loop waits for a free slot, and a stopping worker for cancelled jobs to stop: the
            # task is done by the time either looks.
            self._slot_freed.set()

    async def _run_job(self, running: _Running) -> None:
        job = running.job
        try:
            if job.problems:
                broken = [f"{name}: {job.problems[name]}" for name in _MALFORMED if name in job.problems]
                if broken:
                    raise UnrecoverableError("job hash is malformed (" + "; ".join(broken) + ")")
            if self._is_async:
                result = await self.processor(job)
            else:
                loop = asyncio.get_running_loop()
                result = await loop.run_in_executor(self._executor, self.processor, job)
            try:
                returnvalue = "null" if result is None else dump_json(result, "return value")
            except TypeError as exc:
                raise UnrecoverableError(str(exc)) from None
        except asyncio.CancelledError:
            if running.released:
                return
            raise
        except Exception as exc:
            if running.released:
                return
            self._finish(failed(job, running.token, exc, self._strategies))
            return
        if running.released:
            return
        self._finish(completed(job, running.token, returnvalue, result))

    def _finish(self, item: Finish) -> None:
        self._running.pop(item.job.id, None)
        self._results.add(item)

    # Locks and stalled jobs
    async def _lock_loop(self) -> None:
        interval = self.lock_ms / 2000
        pause = 0.0
        while not await nap(min(pause, interval) if pause else interval, self._locks_released):
            # Results waiting to be saved keep their locks too, so that they outlast a short outage.
            held: list[_Running | Finish] = [*self._running.values(), *self._results.pending]
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
                pause = next_pause(pause)
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
                pause = next_pause(pause)
                await nap(min(pause, self.stalled_ms / 1000), self._stop)
                continue
            if result:
                for job_id in [*result[0], *result[1]]:
                    self._emit("stalled", str(job_id))
            await nap(self.stalled_ms / 1000, self._stop)

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
