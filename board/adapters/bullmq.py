"""``BullMQAdapter``: the board's ``QueueAdapter`` over the bundled engine (BullMQ 6's Redis format).

Reads go through ``Inspector`` (one pipeline per page); actions through ``Queue``, whose bulk operations
work in bounded batches.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from typing import Any

from redis.exceptions import RedisError

from ..engine import (
    JobNotFound,
    JobStateError,
    OutcomeUnknown,
    Queue,
    QueueStateError,
    RedisRefused,
    RedisUnavailable,
)
from ..engine.connection import REFUSALS, Connection
from ..engine.inspector import Inspector, JobRow, QueueStatus
from ..engine.job import JobRecord
from ..engine.keys import is_job_id
from ..engine.options import dump_json
from ..engine.states import RUN_ORDERED, JobState, state_key
from .base import (
    COUNTED,
    RETRYABLE,
    ActionResult,
    ChildLink,
    Field,
    JobDetail,
    JobPage,
    JobSummary,
    QueueInfo,
    WorkerInfo,
)
from .errors import Conflict, Invalid, NotFound, TooLarge, Unavailable
from .payload import MAX_DEPTH, loads_bounded, nested_deeper_than
from .store import RedisSessionStore

log = logging.getLogger("board.adapters")
UNREADABLE = "unreadable"
UNANSWERED = "Redis could not answer this request; the reason is in the board's log."
LOST = "The connection to Redis dropped before it answered: this may or may not have been done. Reload to see."

_CHILDREN_SHOWN = 20


def _shown_state(name: str) -> str:
    """A row's state as the board names it; "unknown" and the like pass through."""
    try:
        return JobState.parse(name).value
    except ValueError:
        return name


def _worker_name(client_name: str, base: str) -> str:
    """The name a worker was given (BullMQ's ``rawname`` holds the whole client name)."""
    named = base + ":w:"
    return client_name[len(named) :] if client_name.startswith(named) else ""


def _status_info(status: QueueStatus, base: str) -> QueueInfo:
    counts = {JobState.parse(k).value: v for k, v in status.counts.items()}
    return QueueInfo(
        name=status.name,
        counts={state: counts.get(state, 0) for state in COUNTED},
        paused=status.paused,
        workers=[
            WorkerInfo(
                name=_worker_name(w.get("name", ""), base),
                addr=w.get("addr", ""),
                age_s=int(w.get("age", 0) or 0),
                idle_s=int(w.get("idle", 0) or 0),
            )
            for w in status.workers
        ],
        global_concurrency=status.global_concurrency,
        rate_limit_max=status.rate_limit_max,
        rate_limit_duration_ms=status.rate_limit_duration_ms,
        rate_limited_for_ms=status.limiter_ttl_ms if status.rate_limited else 0,
        exists=status.exists,
        error=_hidden_error(status.name, status.error),
    )


def _hidden_error(queue: str, error: str | None) -> str | None:
    """Redis's own words stay in the log: they can name keys, scripts and internals."""
    if error is None:
        return None
    log.warning("board: queue %r could not be read: %s", queue, error)
    return UNREADABLE


def _cut_clean(text: str) -> str:
    """A field cut inside Redis may end in the middle of a UTF-8 character: drop that partial tail."""
    end = len(text)
    while end > 0 and len(text) - end < 3 and 0xDC80 <= ord(text[end - 1]) <= 0xDCFF:
        end -= 1
    return text[:end]


def _record(queue: str, row: JobRow) -> JobRecord:
    """The parsed job, without judging the fields that were cut for display."""
    whole = {k: v for k, v in row.fields.items() if k not in row.sizes}
    record = JobRecord(queue, row.id, whole)
    for cut in row.sizes:
        record.problems.pop(cut, None)
    return record


def _bounded(record: JobRecord, name: str, value: Any, instead: Any) -> Any:
    """Parsed JSON another program stored too deep to print or walk in a request: shown as a marker."""
    if isinstance(value, dict | list) and nested_deeper_than(value):
        record.problems.setdefault(name, f"nested deeper than {MAX_DEPTH} levels")
        return instead
    return value


def _summary(queue: str, row: JobRow, record: JobRecord | None = None) -> JobSummary:
    record = record or _record(queue, row)
    record.progress = _bounded(record, "progress", record.progress, "[nested too deep to show]")
    fields = row.fields
    state = _shown_state(row.state)
    run_at = record.timestamp + record.delay if state == "delayed" and record.timestamp else None
    return JobSummary(
        queue=queue,
        id=row.id,
        name=record.name,
        state=state,
        added_ms=record.timestamp or None,
        processed_ms=record.processed_on,
        finished_ms=record.finished_on,
        run_at_ms=run_at,
        attempts_made=record.attempts_made,
        attempts_started=record.attempts_started,
        attempts_allowed=record.attempts,
        priority=record.priority,
        delay_ms=record.delay,
        progress=record.progress if "progress" not in row.sizes else fields.get("progress"),
        data_preview=_cut_clean(fields["data"]) if "data" in row.sizes else fields.get("data", ""),
        data_size=row.sizes.get("data", len(fields.get("data", "").encode("utf-8", "surrogateescape"))),
        failed_reason=record.failed_reason if "failedReason" not in row.sizes else fields.get("failedReason"),
        problems=dict(record.problems),
    )


def _field(row: JobRow, name: str, problems: dict[str, str]) -> Field:
    """A payload for the job page; one that cannot be shown as a structure says why in ``problems``."""
    text = row.fields.get(name, "")
    size = row.sizes.get(name, len(text.encode("utf-8", "surrogateescape")))
    truncated = name in row.sizes
    if not truncated:
        try:
            return Field(text, size, False, loads_bounded(text), True)
        except ValueError as exc:
            problems.setdefault(name, f"shown as text: {exc}")
    return Field(_cut_clean(text), size, truncated)


def _timeline(job: JobSummary, detail: JobRecord) -> list[tuple[int, str]]:
    events: list[tuple[int, str]] = []
    if job.added_ms:
        events.append((job.added_ms, "added"))
    if job.delay_ms and job.added_ms:
        events.append((job.added_ms + job.delay_ms, f"due after a delay of {job.delay_ms / 1000:g} s"))
    if job.processed_ms:
        by = f" by {detail.processed_by}" if detail.processed_by else ""
        events.append((job.processed_ms, f"attempt {max(1, job.attempts_started)} started{by}"))
    if job.finished_ms:
        events.append((job.finished_ms, "failed" if job.state == "failed" else "completed"))
    return sorted(events)


def _options_from_opts(opts: dict[str, Any]) -> dict[str, Any]:
    """BullMQ ``opts`` back to ``Queue.add`` options, to duplicate a job."""
    out: dict[str, Any] = {}
    if isinstance(opts.get("attempts"), int):
        out["attempts"] = opts["attempts"]
    backoff = opts.get("backoff")
    if isinstance(backoff, dict) and isinstance(backoff.get("type"), str) and backoff["type"]:
        # Custom types too: the copy names the same strategy, which its worker resolves.
        out["backoff"] = {k: v for k, v in backoff.items() if k in ("type", "jitter")}
        delay = backoff.get("delay")
        if isinstance(delay, int | float) and not isinstance(delay, bool):
            out["backoff"]["delay"] = delay / 1000
    elif isinstance(backoff, int | float) and not isinstance(backoff, bool):
        out["backoff"] = backoff / 1000
    if isinstance(opts.get("delay"), int) and opts["delay"] > 0:
        out["delay"] = opts["delay"] / 1000
    if isinstance(opts.get("priority"), int) and opts["priority"] > 0:
        out["priority"] = opts["priority"]
    if opts.get("lifo") is True and "priority" not in out:
        out["lifo"] = True
    for src, dst in (("removeOnComplete", "remove_on_complete"), ("removeOnFail", "remove_on_fail")):
        if opts.get(src) is not None:
            out[dst] = opts[src]
    if isinstance(opts.get("kl"), int):
        out["keep_logs"] = opts["kl"]
    if isinstance(opts.get("stackTraceLimit"), int):
        out["stack_trace_limit"] = opts["stackTraceLimit"]
    return out


class BullMQAdapter:
    def __init__(
        self,
        connection: Connection | None = None,
        *,
        prefix: str = "bull",
        queues: Iterable[str] | None = None,
        discover: bool = False,
        discover_ttl: float = 30,
        preview_bytes: int = 300,
        detail_bytes: int = 64 * 1024,
        max_read_bytes: int = 1024 * 1024,
    ) -> None:
        self.prefix = prefix
        self.inspector = Inspector(connection, prefix=prefix)
        self.configured = list(dict.fromkeys(queues or ()))
        for name in self.configured:
            if not isinstance(name, str) or not name or ":" in name:
                raise ValueError(f"queues: {name!r} is not a queue name BullMQ allows (non-empty, no ':')")
        if not self.configured and not discover:
            raise ValueError("queues: give the queue names, or discover=True to find them in Redis")
        self.discover = discover
        self.discover_ttl = discover_ttl
        self.preview_bytes = preview_bytes
        self.detail_bytes = detail_bytes
        # What one page may make Redis read of one field (or of a job's whole log list).
        self.max_read_bytes = max_read_bytes
        self._discovered: list[str] = []
        self._discovered_at = 0.0
        self._queues: dict[str, Queue] = {}

    def queue(self, name: str) -> Queue:
        q = self._queues.get(name)
        if q is None:
            # Shares the inspector's client: one connection pool for the whole board.
            q = self._queues[name] = Queue(name, self.inspector.client, prefix=self.prefix)
        return q

    async def close(self) -> None:
        await self.inspector.close()

    def session_store(self) -> RedisSessionStore:
        return RedisSessionStore(self.inspector.runner, self.prefix)

    async def _own_job_id(self, queue: str, job_id: str) -> str:
        """``job_id`` if it names a job of ``queue`` and nothing else; else the job is not there.

        An id with ':' (a scheduler's run, ``repeat:<key>:<millis>``) could still be the key of a queue
        whose name holds ':' that another program wrote: it counts only when listed in one of this
        queue's states."""
        missing = NotFound(f"job {job_id!r} not found in queue {queue!r}")
        if not is_job_id(job_id):
            raise missing
        if ":" in job_id and await self._act(self.queue(queue).get_job_state(job_id)) == "unknown":
            raise missing
        return job_id

    async def queue_names(self) -> list[str]:
        if not self.discover:
            return list(self.configured)
        if time.monotonic() - self._discovered_at > self.discover_ttl:
            self._discovered = await self._act(self.inspector.discover())
            self._discovered_at = time.monotonic()
        return sorted(set(self.configured) | set(self._discovered))

    async def overview(self, queues: list[str]) -> list[QueueInfo]:
        statuses = await self._act(self.inspector.statuses(queues))
        return [_status_info(s, self.inspector.keys(s.name).client_name()) for s in statuses]

    async def page(self, queue: str, state: str, page: int, per_page: int) -> JobPage:
        ins = self.inspector
        if state == "latest":
            rows_call = ins.rows_call(
                queue, [state_key(s) for s in COUNTED], 0, per_page - 1, False, self.preview_bytes
            )
        else:
            start = (page - 1) * per_page
            rows_call = ins.rows_call(
                queue,
                [state_key(state)],
                start,
                start + per_page - 1,
                JobState(state) in RUN_ORDERED,
                self.preview_bytes,
            )
        status, exists, clients, rows = await self._act(
            ins.runner.batch([ins.status_call(queue), ins.exists_call(queue), ins.client_list_call(), rows_call])
        )
        info = _status_info(ins.parse_status(queue, status, exists, clients), ins.keys(queue).client_name())
        parsed = self._parsed_rows(queue, rows)
        if parsed is None:
            info.error = UNREADABLE
        jobs = [_summary(queue, row) for row in parsed or []]
        if state == "latest":
            jobs.sort(key=lambda j: j.added_ms or 0, reverse=True)
            jobs = jobs[:per_page]
            total = len(jobs)
        else:
            total = info.counts.get(state, 0)
        return JobPage(info, state, jobs, page, per_page, total)

    async def job(self, queue: str, job_id: str, *, logs_start: int = 0, logs_count: int = 50) -> JobDetail | None:
        if not is_job_id(job_id):
            return None
        ins = self.inspector
        rows, logs_reply, *children_replies = await self._act(
            ins.runner.batch(
                [
                    ins.rows_by_id_call(queue, [job_id], self.detail_bytes),
                    ins.logs_call(queue, job_id, logs_start, logs_count, self.max_read_bytes),
                    *ins.children_calls(queue, job_id, _CHILDREN_SHOWN),
                ]
            )
        )
        children = ins.parse_children(children_replies)
        found = self._parsed_rows(queue, rows)
        if found is None:
            raise Conflict(f"Job {job_id!r} of queue {queue!r} could not be read: {UNREADABLE}.")
        if not found or (":" in job_id and found[0].state == "unknown"):
            return None
        row = found[0]
        record = _record(queue, row)
        opts = _bounded(record, "opts", record.opts, {})
        lines, logs_total, logs_bytes = logs_reply if isinstance(logs_reply, list) else ([], 0, 0)
        if lines is False or lines is None:
            # Too much to read for a page (see job_logs.lua): said, not shown.
            record.problems["logs"] = f"{logs_total:,} log lines holding {logs_bytes:,} bytes: too large to show here"
        summary = _summary(queue, row, record)
        parent = record.parent or {}
        parent_queue = self._queue_of(str(parent.get("queueKey", "")))
        detail = JobDetail(
            **{f: getattr(summary, f) for f in summary.__dataclass_fields__},
            data=_field(row, "data", summary.problems),
            returnvalue=_field(row, "returnvalue", summary.problems) if "returnvalue" in row.fields else None,
            opts=opts,
            stacktrace=record.stacktrace,
            processed_by=record.processed_by,
            stalled_counter=record.stalled_counter,
            deferred_failure=record.deferred_failure,
            parent_queue=parent_queue,
            parent_id=record.parent_id,
            children=[
                *self._children(children.pending_keys, done=False),
                *self._children(children.done_keys, done=True),
            ],
            children_pending=children.pending,
            children_done=children.done,
            logs=[str(line) for line in lines] if isinstance(lines, list) else [],
            logs_total=logs_total,
            logs_start=logs_start,
        )
        if "opts" in row.sizes:
            detail.problems["opts"] = f"options too large to show ({row.sizes['opts']} bytes)"
        detail.timeline = _timeline(summary, record)
        return detail

    @staticmethod
    def _parsed_rows(queue: str, reply: Any) -> list[JobRow] | None:
        """The rows of a ``job_rows`` reply; None, logged, when Redis refused it (Redis's words stay in the log)."""
        if isinstance(reply, Exception):
            log.warning("board: jobs of queue %r could not be read: %s", queue, reply)
            return None
        return Inspector.parse_rows(reply)

    def _queue_of(self, queue_key: str) -> str | None:
        """``<prefix>:<queue>`` -> the queue; None for another prefix or a name BullMQ would refuse."""
        head = self.prefix + ":"
        name = queue_key[len(head) :] if queue_key.startswith(head) else ""
        return name if name and ":" not in name else None

    def _children(self, keys: list[str], *, done: bool) -> list[ChildLink]:
        """Child job keys (``<prefix>:<queue>:<id>``) as links; a child in another prefix is skipped."""
        links = []
        head = self.prefix + ":"
        for text in keys:
            # Queue names hold no ':', so the first one after the prefix ends the name; the id may hold more.
            queue, _, child_id = text[len(head) :].partition(":") if text.startswith(head) else ("", "", "")
            if queue and child_id and is_job_id(child_id):
                links.append(ChildLink(queue, child_id, done))
        return links

    async def raw_field(self, queue: str, job_id: str, name: str, *, max_bytes: int | None = None) -> str | None:
        if name not in ("data", "returnvalue"):
            raise Invalid(f"no raw view of {name!r}", "name")
        job_id = await self._own_job_id(queue, job_id)
        # Sized first: reading a field of many megabytes for a form would hold Redis up for every
        # other client.
        size = await self._act(self.inspector.field_size(queue, job_id, name))
        if size is None:
            return None
        if max_bytes is not None and size > max_bytes:
            raise TooLarge(f"the job's {name} is {size:,} bytes, more than the {max_bytes:,} shown here")
        return await self._act(self.inspector.field(queue, job_id, name))  # type: ignore[no-any-return]

    async def find(self, job_id: str, queues: list[str]) -> list[str]:
        return await self._act(self.inspector.holding(job_id, queues))  # type: ignore[no-any-return]

    async def ping(self) -> None:
        await self._act(self.inspector.ping())

    async def server_info(self) -> dict[str, str]:
        return await self._act(self.inspector.server_info())  # type: ignore[no-any-return]

    # Actions
    async def _act(self, action: Any) -> Any:
        """Awaits an engine call, turning the engine's errors into the adapter's."""
        try:
            return await action
        except JobNotFound as exc:
            raise NotFound(str(exc)) from None
        except (JobStateError, QueueStateError) as exc:
            raise Conflict(str(exc)) from None
        except (ValueError, TypeError) as exc:
            raise Invalid(str(exc)) from None
        except RedisUnavailable as exc:
            log.warning("board: Redis unavailable: %s", exc)
            raise Unavailable("Redis is unavailable right now; try again shortly.") from None
        except OutcomeUnknown as exc:
            log.warning("board: Redis's answer was lost: %s", exc)
            raise Unavailable(LOST) from None
        except RedisRefused as exc:
            log.warning("board: Redis refused a call: %s", exc)
            # The cause in our words; Redis's own reply stays in the log.
            cause = REFUSALS.get(exc.code)
            message = f"Not done: Redis refused it because {cause}. Retry when it is fixed." if cause else UNANSWERED
            raise Unavailable(message) from None
        except RedisError as exc:
            # Redis's own words stay in the log: they can name keys, scripts and internals.
            log.warning("board: Redis refused a request: %s", exc)
            raise Unavailable(UNANSWERED) from None

    async def retry_job(self, queue: str, job_id: str) -> ActionResult:
        job_id = await self._own_job_id(queue, job_id)
        state = await self._act(self.queue(queue).get_job_state(job_id))
        if state == "unknown":
            raise NotFound(f"job {job_id!r} not found in queue {queue!r}")
        if state not in RETRYABLE:
            raise Conflict(f"job {job_id} is {state}: only failed or completed jobs can be retried")
        await self._act(self.queue(queue).retry_job(job_id, state))
        return ActionResult(f"Job {job_id} moved from {state} back to waiting.", 1, job_id)

    async def promote_job(self, queue: str, job_id: str) -> ActionResult:
        job_id = await self._own_job_id(queue, job_id)
        await self._act(self.queue(queue).promote_job(job_id))
        return ActionResult(f"Job {job_id} promoted: it runs now.", 1, job_id)

    async def remove_job(self, queue: str, job_id: str) -> ActionResult:
        job_id = await self._own_job_id(queue, job_id)
        removed = await self._act(self.queue(queue).remove(job_id))
        if not removed:
            raise NotFound(f"job {job_id!r} not found in queue {queue!r}")
        return ActionResult(f"Job {job_id} removed.", 1, job_id)

    async def update_job_data(self, queue: str, job_id: str, data: Any) -> ActionResult:
        job_id = await self._own_job_id(queue, job_id)
        await self._act(self.queue(queue).update_job_data(job_id, data))
        return ActionResult(f"Data of job {job_id} replaced.", 1, job_id)

    async def change_job_priority(self, queue: str, job_id: str, priority: int) -> ActionResult:
        job_id = await self._own_job_id(queue, job_id)
        await self._act(self.queue(queue).change_job_priority(job_id, priority))
        return ActionResult(f"Priority of job {job_id} set to {priority}.", 1, job_id)

    async def duplicate_job(self, queue: str, job_id: str) -> ActionResult:
        job_id = await self._own_job_id(queue, job_id)
        job = await self._act(self.queue(queue).get_job(job_id))
        if job is None:
            raise NotFound(f"job {job_id!r} not found in queue {queue!r}")
        if job.problems.get("data"):
            raise Conflict(f"job {job_id} cannot be duplicated: its data is {job.problems['data']}")
        options = _options_from_opts(job.opts)
        kind = options.get("backoff", {}).get("type") if isinstance(options.get("backoff"), dict) else None
        # The copy names the same backoff strategy as the original, whatever workers resolve it to.
        adder = self.queue(queue)
        if kind not in (None, "fixed", "exponential"):
            adder = Queue(queue, self.inspector.client, prefix=self.prefix, backoff_types=[str(kind)])
        copy = await self._act(adder.add(job.name, job.data, **options))
        return ActionResult(f"Job {job_id} duplicated as job {copy.id}.", 1, copy.id)

    async def add_job(self, queue: str, name: str, data: Any, options: dict[str, Any]) -> ActionResult:
        try:
            dump_json(data, "job data")
        except TypeError as exc:
            raise Invalid(str(exc), "data") from None
        try:
            job = await self._act(self.queue(queue).add(name, data, **options))
        except Invalid as exc:
            # The data passed above: what the engine refused is an option.
            raise Invalid(str(exc), "options") from None
        return ActionResult(f"Job {job.id} added.", 1, job.id)

    async def retry_all(self, queue: str, state: str) -> ActionResult:
        if state not in RETRYABLE:
            raise Invalid(f"only failed or completed jobs can be retried, not {state}", "state")
        count = await self._act(self.queue(queue).retry_jobs(state))
        return ActionResult(f"{count} {state} job(s) moved back to waiting.", count)

    async def promote_all(self, queue: str) -> ActionResult:
        count = await self._act(self.queue(queue).promote_jobs())
        return ActionResult(f"{count} delayed job(s) promoted.", count)

    async def clean(self, queue: str, state: str, grace_s: float, limit: int) -> ActionResult:
        count = await self._act(self.queue(queue).clean_count(grace_s, limit, state))
        return ActionResult(f"{count} {state} job(s) older than {grace_s:g} s removed.", count)

    async def pause(self, queue: str) -> ActionResult:
        changed = await self._act(self.queue(queue).pause())
        return ActionResult("Queue paused." if changed else "Queue was already paused.", int(changed))

    async def resume(self, queue: str) -> ActionResult:
        changed = await self._act(self.queue(queue).resume())
        return ActionResult("Queue resumed." if changed else "Queue was not paused.", int(changed))

    async def empty(self, queue: str, *, delayed: bool) -> ActionResult:
        await self._act(self.queue(queue).drain(delayed))
        what = "waiting, prioritized and delayed" if delayed else "waiting and prioritized"
        return ActionResult(f"Queue emptied of its {what} jobs.")

    async def obliterate(self, queue: str, *, force: bool) -> ActionResult:
        await self._act(self.queue(queue).obliterate(force))
        return ActionResult(f"Queue {queue} obliterated.")
