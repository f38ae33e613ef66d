"""``BullMQAdapter``: the board's ``QueueAdapter`` over the bundled engine (BullMQ 6's Redis format).

Reads go through ``Inspector`` (one pipeline per page); actions through ``Queue``, whose bulk operations
work in bounded batches.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Collection, Container, Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from redis.exceptions import RedisError

from ..alerts import AlertConfig
from ..alerts.delivery import AlertCallable
from ..alerts.runner import AlertRunner
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
from ..engine.inspector import Children, Flow, Inspector, JobRow, QueueStatus
from ..engine.inspector import FlowNode as InspectedNode
from ..engine.job import JobRecord
from ..engine.keys import is_job_id
from ..engine.options import dump_json
from ..engine.schedulers import JobScheduler
from ..engine.states import RUN_ORDERED, JobState, state_key
from . import job_search, throughput
from .alerting import RedisAlertStore, RedisObserver
from .audit import AuditEntry, AuditLog, AuditPage
from .base import (
    BULK_ACTIONS,
    COUNTED,
    MAX_BULK_IDS,
    N_,
    RETRYABLE,
    ActionResult,
    AlertState,
    BulkResult,
    ChildLink,
    DeadLetter,
    Field,
    FlowNode,
    JobDetail,
    JobPage,
    JobSummary,
    QueueHealth,
    QueueInfo,
    QueueMark,
    Said,
    SchedulerInfo,
    SchedulerPage,
    SearchHit,
    SearchPage,
    ServerNode,
    Throughput,
    WorkerInfo,
)
from .errors import Conflict, Invalid, NotFound, TooLarge, Unavailable
from .flows import counts, dead_letter, find_current, flow_tree, split_job_key
from .options import add_options, template_options
from .payload import MAX_DEPTH, loads_bounded, nested_deeper_than
from .prometheus import exposition, scrape
from .schedules import refused_field, scheduler_info
from .store import RedisSessionStore, RedisThrottleStore

log = logging.getLogger("board.adapters")
UNREADABLE = "unreadable"
UNANSWERED = "Redis could not answer this request; the reason is in the board's log."
LOST = "The connection to Redis dropped before it answered: this may or may not have been done. Reload to see."

# The flow tree on a job page: levels below the job, children per parent, nodes in all, parents above it.
FLOW_DEPTH = 4
FLOW_CHILDREN = 20
FLOW_NODES = 200
FLOW_PARENTS = 8
# Pending children of a flow parent read at a time, to remove them.
PENDING_PAGE = 100
# What is read of a job's descendants to see that removing it touches no queue the user may not change:
# a larger tree is refused from the board rather than read whole.
# Options larger than this are not read to find a dead letter's origin (the job is then not sent back).
MAX_OPTS_READ = 64 * 1024
CHECKED_NODES = 2000
CHECKED_LEVELS = 20
# A new delay, as the engine takes any duration: up to 100 years.
MAX_DELAY_MS = 100 * 36525 * 864 * 1000
# What cleaning each state says, one sentence per state so that each reads well in every language.
CLEANED = {
    "waiting": N_("%(count)s waiting job(s) older than %(grace)s s removed."),
    "prioritized": N_("%(count)s prioritized job(s) older than %(grace)s s removed."),
    "delayed": N_("%(count)s delayed job(s) older than %(grace)s s removed."),
    "active": N_("%(count)s active job(s) older than %(grace)s s removed."),
    "waiting-children": N_("%(count)s waiting-children job(s) older than %(grace)s s removed."),
    "completed": N_("%(count)s completed job(s) older than %(grace)s s removed."),
    "failed": N_("%(count)s failed job(s) older than %(grace)s s removed."),
    "paused": N_("%(count)s paused job(s) older than %(grace)s s removed."),
}


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


# Each counted state by the name of its key (``wait`` is "waiting"), worked out once: the overview maps
# the counts of every queue on every poll.
_COUNTED_KEYS = tuple((JobState.parse(state).key, state) for state in COUNTED)


def _status_info(status: QueueStatus, base: str) -> QueueInfo:
    counts = status.counts
    return QueueInfo(
        name=status.name,
        counts={state: counts.get(key, 0) for key, state in _COUNTED_KEYS},
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
        schedulers=status.schedulers,
        exists=status.exists,
        error=_hidden_error(status.name, status.error),
    )


def _throughput_of(status: QueueStatus, minutes: int, now_ms: int) -> Throughput:
    """A queue's metrics read with its figures, as a chart reads them."""
    if status.error is not None:
        return Throughput(status.name, error=UNREADABLE)
    if status.metrics_error is not None:
        log.warning("board: the metrics of queue %r could not be read: %s", status.name, status.metrics_error)
        return Throughput(status.name, error=UNREADABLE)
    metrics = status.metrics or {}
    completed, failed = (metrics.get(kind) for kind in throughput.KINDS)
    return Throughput(
        status.name,
        throughput.align(completed, minutes, now_ms) if completed is not None else None,
        throughput.align(failed, minutes, now_ms) if failed is not None else None,
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


def _run_at(row: JobRow, record: JobRecord) -> int | None:
    """When a delayed job is due: the delayed set's score (a changed delay counts from the change), else
    as added."""
    due = row.fields.get("board:runAt", "")
    if due.isascii() and due.isdigit():
        return int(due)
    return record.timestamp + record.delay if record.timestamp else None


def _summary(queue: str, row: JobRow, record: JobRecord | None = None, children: Children | None = None) -> JobSummary:
    record = record or _record(queue, row)
    record.progress = _bounded(record, "progress", record.progress, "[nested too deep to show]")
    fields = row.fields
    state = _shown_state(row.state)
    run_at = _run_at(row, record) if state == "delayed" else None
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
        deduplication_id=record.deduplication_id or None,
        scheduler_id=record.repeat_job_key or None,
        children_counts=counts(children) if children is not None and children.total else None,
        dead_letter=dead_letter(record.opts) if isinstance(record.opts, dict) and "opts" not in row.sizes else None,
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


def _timeline(job: JobSummary, detail: JobRecord) -> list[tuple[int, Said]]:
    events: list[tuple[int, Said]] = []
    if job.added_ms:
        events.append((job.added_ms, Said(N_("added"), {})))
    if job.delay_ms and job.added_ms:
        delay = Said(N_("due after a delay of %(seconds)s s"), {"seconds": format(job.delay_ms / 1000, "g")})
        events.append((job.added_ms + job.delay_ms, delay))
    if job.processed_ms:
        attempt = max(1, job.attempts_started)
        if detail.processed_by:
            started = Said(N_("attempt %(n)s started by %(worker)s"), {"n": attempt, "worker": detail.processed_by})
        else:
            started = Said(N_("attempt %(n)s started"), {"n": attempt})
        events.append((job.processed_ms, started))
    if job.finished_ms:
        events.append((job.finished_ms, Said(N_("failed") if job.state == "failed" else N_("completed"), {})))
    return sorted(events, key=lambda event: event[0])


def _removed(job_id: str, removed: int, before: Flow | None) -> ActionResult:
    """What removing a job took with it: "Job 7 removed with its 3 unfinished children"."""
    below = removed - 1
    if below <= 0:
        return ActionResult.say("Job %(job)s removed.", removed, job_id, job=job_id)
    pending = before.nodes[before.current].children.pending if before is not None else 0
    if pending == 1 == below:
        return ActionResult.say("Job %(job)s removed with its 1 unfinished child.", removed, job_id, job=job_id)
    if pending == below:
        template = N_("Job %(job)s removed with its %(children)s unfinished children.")
        return ActionResult.say(template, removed, job_id, job=job_id, children=pending)
    if below == 1:
        return ActionResult.say("Job %(job)s removed with 1 job of its flow below it.", removed, job_id, job=job_id)
    template = N_("Job %(job)s removed with %(below)s jobs of its flow below it.")
    return ActionResult.say(template, removed, job_id, job=job_id, below=below)


def _parent_now(result: ActionResult, where: tuple[str, str], queue: str, parent: InspectedNode) -> ActionResult:
    """What the removed child's parent does now: "Its parent 7 now waits for 2 more" (or "now runs")."""
    if parent.state == "waiting-children" and parent.children.pending:
        if where[0] == queue:
            return result.and_say(
                "Its parent %(parent)s now waits for %(more)s more.", parent=where[1], more=parent.children.pending
            )
        return result.and_say(
            "Its parent %(parent)s in %(queue)s now waits for %(more)s more.",
            parent=where[1],
            queue=where[0],
            more=parent.children.pending,
        )
    if parent.state in ("waiting", "prioritized", "active"):
        if where[0] == queue:
            return result.and_say("Its parent %(parent)s now runs.", parent=where[1])
        return result.and_say("Its parent %(parent)s in %(queue)s now runs.", parent=where[1], queue=where[0])
    return result


def _child_links(node: FlowNode | None) -> list[ChildLink]:
    """The children read with the flow, as links (a child under another prefix has none)."""
    if node is None:
        return []
    return [
        ChildLink(child.queue, child.id, child.state in ("completed", "failed"))
        for child in node.children
        if child.queue is not None and child.id is not None
    ]


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
            self._readable(name)
            # Shares the inspector's client: one connection pool for the whole board.
            q = self._queues[name] = Queue(name, self.inspector.client, prefix=self.prefix)
        return q

    def _readable(self, queue: str) -> None:
        """``Conflict`` for a queue the board cannot read here: on a Redis Cluster, one whose keys would
        spread over hash slots (another program wrote it without a hash tag)."""
        refused = self.inspector.refusal(queue)
        if refused is not None:
            raise Conflict(refused)

    def _info(self, status: QueueStatus) -> QueueInfo:
        refused = self.inspector.refusal(status.name)
        if refused is None:
            return _status_info(status, self.inspector.client_name(status.name))
        # Said as it is: our own words on how to fix it, not Redis's.
        info = _status_info(replace(status, error=None), self.inspector.client_name(status.name))
        info.error = refused
        return info

    async def close(self) -> None:
        await self.inspector.close()

    def session_store(self) -> RedisSessionStore:
        return RedisSessionStore(self.inspector.runner, self.prefix)

    def throttle_store(self) -> RedisThrottleStore:
        return RedisThrottleStore(self.inspector.runner, self.prefix)

    def alert_runner(
        self, config: AlertConfig, *, callables: Mapping[str, AlertCallable] | None = None, interval: float = 15
    ) -> AlertRunner:
        store = RedisAlertStore(self.inspector.runner, self.prefix)
        observer = RedisObserver(self.inspector, store, self.queue_names)
        return AlertRunner(config, observer, store, callables=callables, interval=interval)

    async def alert_state(self, deliveries: int = 50) -> AlertState:
        store = RedisAlertStore(self.inspector.runner, self.prefix)
        return await self._act(store.state(deliveries))  # type: ignore[no-any-return]

    async def record_audit(self, entry: AuditEntry) -> None:
        await self._act(AuditLog(self.inspector.runner, self.prefix).record(entry))

    async def audit_page(
        self,
        *,
        before: str | None = None,
        user: str | None = None,
        queue: str | None = None,
        action: str | None = None,
        queues: Container[str] | None = None,
        limit: int = 50,
    ) -> AuditPage:
        audit = AuditLog(self.inspector.runner, self.prefix)
        found = audit.page(before=before, user=user, queue=queue, action=action, queues=queues, limit=limit)
        return await self._act(found)  # type: ignore[no-any-return]

    async def _own_job_id(self, queue: str, job_id: str) -> str:
        """``job_id`` if it names a job of ``queue`` and nothing else; else the job is not there.

        An id with ':' (a scheduler's run, ``repeat:<key>:<millis>``) could still be the key of a queue
        whose name holds ':' that another program wrote: it counts only when listed in one of this
        queue's states."""
        missing = NotFound(f"job {job_id!r} not found in queue {queue!r}")
        self._readable(queue)
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
        return [self._info(s) for s in statuses]

    async def overview_and_throughput(
        self, queues: list[str], minutes: int
    ) -> tuple[list[QueueInfo], list[Throughput]]:
        """``overview`` and ``throughput`` of the same queues from one read (one reply per few hundred
        queues), for the overview's rows and their sparklines."""
        minutes = throughput.check_minutes(minutes)
        statuses = await self._act(self.inspector.statuses(queues, metrics_minutes=minutes))
        now_ms = int(time.time() * 1000)
        infos = [self._info(s) for s in statuses]
        return infos, [_throughput_of(s, minutes, now_ms) for s in statuses]

    async def queue_marks(self, queues: list[str]) -> list[QueueMark]:
        # One script call for all of them, answered in one reply: cheap enough for every page's navigation.
        return [QueueMark(*marks) for marks in await self._act(self.inspector.marks(queues))]

    async def page(self, queue: str, state: str, page: int, per_page: int) -> JobPage:
        ins = self.inspector
        if state == "latest":
            states, start, asc = [state_key(s) for s in COUNTED], 0, False
        else:
            states, start, asc = [state_key(state)], (page - 1) * per_page, JobState(state) in RUN_ORDERED
        end = start + per_page - 1
        if ins.refusal(queue) is not None:
            return JobPage(self._info(QueueStatus(queue)), state, [], page, per_page, 0)
        summary, clients, rows, children = await self._act(
            ins.runner.batch(
                [
                    *ins.summaries_calls([queue]),
                    # The CLIENT LIST of the queue's node: on a cluster, where its workers are.
                    ins.client_list_call(queue),
                    ins.rows_call(queue, states, start, end, asc, self.preview_bytes),
                    ins.children_counts_call(queue, states, start, end, asc),
                ]
            )
        )
        (status,) = ins.parse_summaries([queue], [summary], clients=clients)
        info = _status_info(status, ins.client_name(queue))
        parsed = self._parsed_rows(queue, rows)
        if parsed is None:
            info.error = UNREADABLE
        parents = ins.parse_children(children)
        jobs = [_summary(queue, row, children=parents.get(row.id)) for row in parsed or []]
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
        self._readable(queue)
        ins = self.inspector
        rows, logs_reply, flow_reply = await self._act(
            ins.runner.batch(
                [
                    ins.rows_by_id_call(queue, [job_id], self.detail_bytes),
                    ins.logs_call(queue, job_id, logs_start, logs_count, self.max_read_bytes),
                    ins.flow_call(
                        queue,
                        job_id,
                        depth=FLOW_DEPTH,
                        per_node=FLOW_CHILDREN,
                        nodes=FLOW_NODES,
                        parents=FLOW_PARENTS,
                    ),
                ]
            )
        )
        if isinstance(flow_reply, Exception):
            log.warning("board: the flow of job %r of queue %r could not be read: %s", job_id, queue, flow_reply)
        flow = ins.parse_flow(flow_reply)
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
        tree = flow_tree(flow, self.prefix) if flow is not None else None
        here = find_current(tree) if tree is not None else None
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
            children=_child_links(here),
            children_pending=here.counts.pending if here else 0,
            children_done=here.counts.done if here else 0,
            flow=tree if tree is not None and (tree is not here or here.children or here.counts.total) else None,
            flow_cut=bool(flow and flow.cut),
            logs=[str(line) for line in lines] if isinstance(lines, list) else [],
            logs_total=logs_total,
            logs_start=logs_start,
        )
        if "opts" in row.sizes:
            detail.problems["opts"] = f"options too large to show ({row.sizes['opts']} bytes)"
        events = _timeline(summary, record)
        detail.timeline = [(ms, said.template % said.params) for ms, said in events]
        detail.timeline_said = [said for _ms, said in events]
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

    async def throughput(self, queues: list[str], minutes: int) -> list[Throughput]:
        minutes = throughput.check_minutes(minutes)
        ins = self.inspector
        read = [queue for queue in queues if ins.refusal(queue) is None]
        calls = [call for queue in read for call in throughput.calls(ins, queue, minutes)]
        replies = await self._act(ins.runner.batch(calls))
        now_ms, step = int(time.time() * 1000), throughput.CALLS
        found = {
            queue: throughput.parse(queue, replies[step * i : step * (i + 1)], minutes, now_ms)
            for i, queue in enumerate(read)
        }
        return [found.get(queue) or Throughput(queue, error=ins.refusal(queue)) for queue in queues]

    async def search(
        self,
        queue: str,
        text: str,
        *,
        states: list[str],
        fields: list[str],
        cursor: str | None,
        limit: int,
        budget_s: float,
        text_bytes: int,
    ) -> SearchPage:
        text = job_search.check_text(text)
        names, wanted = job_search.check_states(states), job_search.check_fields(fields)
        at = job_search.parse_cursor(cursor, len(names))
        found = await self._act(
            self.queue(queue).search_jobs(text, states=names, fields=wanted, cursor=at, limit=limit, budget=budget_s)
        )
        ins = self.inspector
        ids = [job_id for job_id, _ in found.matches]
        rows, *status = await self._act(
            ins.runner.batch([ins.rows_by_id_call(queue, ids, text_bytes), *ins.status_calls(queue)])
        )
        parsed = self._parsed_rows(queue, rows)
        if parsed is None:
            raise Unavailable(UNANSWERED)
        hits = []
        for row in parsed:
            texts, cut = job_search.searched_texts(row, wanted)
            hits.append(SearchHit(_summary(queue, job_search.preview_row(row, self.preview_bytes)), texts, cut))
        info = _status_info(ins.parse_statuses(queue, status, None), ins.keys(queue).client_name())
        covered, total = job_search.coverage(names, info.counts, found.cursor)
        next_at = str(found.cursor) if found.cursor is not None else None
        return SearchPage(queue, names, hits, found.looked, found.skipped, covered, total, next_at)

    async def metrics_text(self, queues: list[str]) -> bytes:
        return exposition(await self._act(scrape(self.inspector, queues)))

    async def queue_health(self, queues: list[str]) -> list[QueueHealth]:
        samples = await self._act(scrape(self.inspector, queues))
        now = time.time()
        return [
            QueueHealth(
                s.status.name,
                s.status.counts.get("wait", 0),
                len(s.status.workers),
                max(0.0, now - s.figures.oldest_waiting_ms / 1000) if s.figures.oldest_waiting_ms else 0.0,
                s.status.paused,
                UNREADABLE if s.status.error else None,
            )
            for s in samples
        ]

    async def server_info(self) -> list[ServerNode]:
        nodes: dict[str, dict[str, str] | Exception] = await self._act(self.inspector.server_info())
        found = []
        for name, info in nodes.items():
            if isinstance(info, Exception):
                log.warning("board: Redis node %s did not answer INFO: %s", name, info)
                found.append(ServerNode(name, error=UNANSWERED))
            else:
                found.append(ServerNode(name, info))
        return found

    # Job schedulers
    async def schedulers(self, queue: str, page: int, per_page: int) -> SchedulerPage:
        (found,) = await self.all_schedulers([queue], per_page, page=page)
        return found

    async def all_schedulers(self, queues: list[str], per_page: int, *, page: int = 1) -> list[SchedulerPage]:
        ins = self.inspector
        start = (page - 1) * per_page
        read = [queue for queue in queues if ins.refusal(queue) is None]
        calls = []
        for queue in read:
            calls += [ins.schedulers_call(queue, start, start + per_page - 1), ins.schedulers_count_call(queue)]
        replies = await self._act(ins.runner.batch(calls))
        pages = {}
        for i, queue in enumerate(read):
            rows, total = replies[2 * i], replies[2 * i + 1]
            found = self._schedulers(queue, rows)
            pages[queue] = SchedulerPage(queue, found, page, per_page, total if isinstance(total, int) else len(found))
        return [pages.get(queue) or SchedulerPage(queue, [], page, per_page, 0) for queue in queues]

    def _schedulers(self, queue: str, reply: Any) -> list[SchedulerInfo]:
        if isinstance(reply, Exception):
            log.warning("board: the schedulers of queue %r could not be read: %s", queue, reply)
            return []
        return [scheduler_info(queue, s, self.detail_bytes) for s in self.inspector.parse_schedulers(reply)]

    async def _scheduler(self, queue: str, scheduler_id: str) -> JobScheduler:
        self._readable(queue)
        reply = await self._act(self.inspector.runner.call(self.inspector.schedulers_by_id_call(queue, [scheduler_id])))
        found = self.inspector.parse_schedulers(reply)
        if not found:
            raise NotFound(f"there is no job scheduler {scheduler_id!r} in queue {queue!r}")
        return found[0]

    async def scheduler(self, queue: str, scheduler_id: str) -> SchedulerInfo | None:
        try:
            return scheduler_info(queue, await self._scheduler(queue, scheduler_id), self.detail_bytes)
        except NotFound:
            return None

    async def run_scheduler(self, queue: str, scheduler_id: str) -> ActionResult:
        found = await self._scheduler(queue, scheduler_id)
        run = found.next_job_id
        if run is None:
            raise Conflict(f"job scheduler {scheduler_id!r} has no next run to start")
        state = await self._act(self.queue(queue).get_job_state(run))
        if state != "delayed":
            said = "gone" if state == "unknown" else state
            raise Conflict(
                f"the next run of job scheduler {scheduler_id!r}, job {run}, is {said}: it cannot be run now"
            )
        await self._act(self.queue(queue).promote_job(run))
        template = N_("Job scheduler %(scheduler)s: its next run, job %(job)s, runs now.")
        return ActionResult.say(template, 1, run, scheduler=scheduler_id, job=run)

    async def update_scheduler(
        self,
        queue: str,
        scheduler_id: str,
        *,
        cron: str | None,
        every_s: float | None,
        tz: str | None,
        limit: int | None,
        end: datetime | None,
    ) -> ActionResult:
        found = await self._scheduler(queue, scheduler_id)
        broken = sorted(set(found.problems) & {"key", "name", "data", "opts"})
        if broken:
            raise Conflict(
                f"job scheduler {scheduler_id!r} cannot be edited here: its {', '.join(broken)} is unreadable"
            )
        try:
            options = template_options(found.opts)
        except ValueError as exc:
            raise Conflict(f"job scheduler {scheduler_id!r} cannot be edited here: {exc}") from None
        kind = options.get("backoff", {}).get("type") if isinstance(options.get("backoff"), dict) else None
        # The template names the same backoff strategy as before, whatever workers resolve it to.
        upserter = self.queue(queue)
        if kind not in (None, "fixed", "exponential"):
            upserter = Queue(queue, self.inspector.client, prefix=self.prefix, backoff_types=[str(kind)])
        schedule: dict[str, Any] = {"cron": cron, "tz": tz} if cron is not None else {"every": every_s}
        start = datetime.fromtimestamp(found.start_ms / 1000, UTC) if found.start_ms is not None else None
        try:
            await self._act(
                upserter.upsert_job_scheduler(
                    scheduler_id,
                    **schedule,
                    start=start,
                    end=end,
                    limit=limit,
                    name=found.name,
                    data=found.data,
                    options=options,  # type: ignore[arg-type]
                )
            )
        except Invalid as exc:
            raise Invalid(str(exc), refused_field(str(exc))) from None
        template = N_("Job scheduler %(scheduler)s saved: its next run follows the new schedule.")
        return ActionResult.say(template, 1, scheduler=scheduler_id)

    async def remove_scheduler(self, queue: str, scheduler_id: str) -> ActionResult:
        if not await self._act(self.queue(queue).remove_job_scheduler(scheduler_id)):
            raise NotFound(f"there is no job scheduler {scheduler_id!r} in queue {queue!r}")
        return ActionResult.say("Job scheduler %(scheduler)s removed, with its next run.", 1, scheduler=scheduler_id)

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

    async def _origin(self, queue: str, job_id: str) -> DeadLetter | None:
        """Where a failed job came from if it is a dead letter, from its options alone (never its data).
        ``Conflict`` when the options are too large or too broken to tell."""
        size = await self._act(self.inspector.field_size(queue, job_id, "opts"))
        if not size:
            return None
        if size > MAX_OPTS_READ:
            raise Conflict(f"job {job_id}'s options are {size:,} bytes: too large to check where it came from")
        text = await self._act(self.inspector.field(queue, job_id, "opts"))
        if '"deadLetter"' not in str(text):
            return None
        try:
            opts = loads_bounded(str(text))
        except ValueError:
            raise Conflict(f"job {job_id}'s options are not valid JSON: where it came from is unclear") from None
        return dead_letter(opts) if isinstance(opts, dict) else None

    async def retry_job(self, queue: str, job_id: str) -> ActionResult:
        job_id = await self._own_job_id(queue, job_id)
        state = await self._act(self.queue(queue).get_job_state(job_id))
        if state == "unknown":
            raise NotFound(f"job {job_id!r} not found in queue {queue!r}")
        if state not in RETRYABLE:
            raise Conflict(f"job {job_id} is {state}: only failed or completed jobs can be retried")
        origin = await self._origin(queue, job_id) if state == "failed" else None
        await self._act(self.queue(queue).retry_job(job_id, state))
        if origin is not None and origin.queue:
            # The engine sends a dead letter back to where it failed, under its id there.
            if origin.job_id:
                template = N_("Job %(job)s sent back to queue %(queue)s as job %(as_job)s.")
                as_job = origin.job_id
                return ActionResult.say(template, 1, as_job, job=job_id, queue=origin.queue, as_job=as_job)
            template = N_("Job %(job)s sent back to queue %(queue)s.")
            return ActionResult.say(template, 1, None, job=job_id, queue=origin.queue)
        if state == "completed":
            return ActionResult.say("Job %(job)s moved from completed back to waiting.", 1, job_id, job=job_id)
        return ActionResult.say("Job %(job)s moved from failed back to waiting.", 1, job_id, job=job_id)

    async def promote_job(self, queue: str, job_id: str) -> ActionResult:
        job_id = await self._own_job_id(queue, job_id)
        await self._act(self.queue(queue).promote_job(job_id))
        return ActionResult.say("Job %(job)s promoted: it runs now.", 1, job_id, job=job_id)

    async def _reaches_beyond(self, queue: str, job_id: str, writable: Collection[str]) -> str | None:
        """Why removing this job, with its children, would reach past the queues in ``writable``; or None."""
        ins = self.inspector
        read = ins.flow_call(
            queue, job_id, depth=CHECKED_LEVELS, per_node=CHECKED_NODES, nodes=CHECKED_NODES, parents=0, scan=1
        )
        flow = ins.parse_flow(await self._act(ins.runner.call(read)))
        if flow is None:
            return None
        listed = Counter(node.parent for node in flow.nodes)
        for index in range(flow.current, len(flow.nodes)):
            node = flow.nodes[index]
            where = split_job_key(node.key, self.prefix)
            if index != flow.current and (where is None or where[0] not in writable):
                return "it has children in a queue you may not change here"
            if listed[index] < node.children.total:
                return f"its flow is too large to check here (over {CHECKED_NODES:,} jobs or {CHECKED_LEVELS} levels)"
        return None

    async def remove_job(
        self,
        queue: str,
        job_id: str,
        *,
        visible: Collection[str] | None = None,
        writable: Collection[str] | None = None,
    ) -> ActionResult:
        job_id = await self._own_job_id(queue, job_id)
        ins = self.inspector
        # Where the job stands in its flow, to say afterwards what removing it did there.
        before = ins.parse_flow(await self._act(ins.runner.call(ins.flow_call(queue, job_id, depth=0, parents=1))))
        if writable is not None and before is not None and before.nodes[before.current].children.total:
            why = await self._reaches_beyond(queue, job_id, writable)
            if why:
                raise Conflict(f"job {job_id} was not removed: {why}")
        removed = await self._act(self.queue(queue).remove_count(job_id))
        if not removed:
            raise NotFound(f"job {job_id!r} not found in queue {queue!r}")
        result = _removed(job_id, removed, before)
        parent = before.nodes[0] if before is not None and before.current == 1 else None
        where = split_job_key(parent.key, self.prefix) if parent is not None else None
        if parent is not None and where is not None and parent.state == "waiting-children":
            named = visible is None or where[0] in visible
            after = ins.parse_flow(
                await self._act(ins.runner.call(ins.flow_call(where[0], where[1], depth=0, parents=0)))
            )
            if named and after is not None:
                result = _parent_now(result, where, queue, after.nodes[after.current])
        return result

    async def update_job_data(self, queue: str, job_id: str, data: Any) -> ActionResult:
        job_id = await self._own_job_id(queue, job_id)
        await self._act(self.queue(queue).update_job_data(job_id, data))
        return ActionResult.say("Data of job %(job)s replaced.", 1, job_id, job=job_id)

    async def change_job_priority(self, queue: str, job_id: str, priority: int) -> ActionResult:
        job_id = await self._own_job_id(queue, job_id)
        await self._act(self.queue(queue).change_job_priority(job_id, priority))
        template = N_("Priority of job %(job)s set to %(priority)s.")
        return ActionResult.say(template, 1, job_id, job=job_id, priority=priority)

    async def reschedule_job(self, queue: str, job_id: str, delay_ms: int) -> ActionResult:
        job_id = await self._own_job_id(queue, job_id)
        if isinstance(delay_ms, bool) or not isinstance(delay_ms, int) or not 0 <= delay_ms <= MAX_DELAY_MS:
            raise Invalid(f"delay: expected milliseconds from 0 to {MAX_DELAY_MS:,}, got {delay_ms!r}", "delay")
        await self._act(self.queue(queue).change_job_delay(job_id, delay_ms / 1000))
        due = datetime.fromtimestamp(time.time() + delay_ms / 1000, UTC).isoformat(timespec="seconds")
        due = due.replace("+00:00", "Z")
        return ActionResult.say("Job %(job)s rescheduled: it is due at %(due)s.", 1, job_id, job=job_id, due=due)

    async def bulk_jobs(
        self,
        queue: str,
        action: str,
        job_ids: list[str],
        *,
        retry_states: Collection[str] = RETRYABLE,
        writable: Collection[str] | None = None,
    ) -> BulkResult:
        if action not in BULK_ACTIONS:
            raise Invalid(f"action: expected one of {', '.join(BULK_ACTIONS)}, got {action!r}", "action")
        if len(job_ids) > MAX_BULK_IDS:
            raise Invalid(f"ids: at most {MAX_BULK_IDS:,} jobs at once, got {len(job_ids):,}", "ids")
        result = BulkResult(action)
        # One job at a time: each outcome is its own, and no job waits on a batch that another one broke.
        for job_id in dict.fromkeys(job_ids):
            try:
                why = await self._bulk_one(queue, action, job_id, retry_states, writable)
            except NotFound:
                why = "gone"
            except Conflict:
                why = "refused" if action == "remove" else "state"
            if why:
                result.skip(why, job_id)
            else:
                result.done.append(job_id)
        return result

    async def remove_unprocessed_children(
        self, queue: str, job_id: str, *, writable: Collection[str] | None = None
    ) -> ActionResult:
        job_id = await self._own_job_id(queue, job_id)
        ins = self.inspector
        removed, kept = 0, 0
        seen: set[str] = set()
        # The parent's pending children come first in each read; those kept come back, so each read goes
        # on past them, until none is new or the call's share is done.
        while len(seen) < MAX_BULK_IDS:
            read = ins.flow_call(queue, job_id, depth=1, per_node=PENDING_PAGE, nodes=PENDING_PAGE + 1, parents=0)
            flow = ins.parse_flow(await self._act(ins.runner.call(read)))
            if flow is None:
                if not seen:
                    raise NotFound(f"job {job_id!r} not found in queue {queue!r}")
                break
            pending = [
                node
                for node in flow.nodes
                if node.parent == flow.current and node.key not in seen and node.state not in ("completed", "failed")
            ]
            if not pending:
                break
            for node in pending:
                seen.add(node.key)
                where = split_job_key(node.key, self.prefix)
                if where is None or (
                    writable is not None
                    and (where[0] not in writable or await self._reaches_beyond(where[0], where[1], writable))
                ):
                    kept += 1
                    continue
                try:
                    removed += min(1, await self._act(self.queue(where[0]).remove_count(where[1])))
                except Conflict:
                    kept += 1
        template = N_("%(count)s unprocessed child job(s) of job %(job)s removed.")
        result = ActionResult.say(template, removed, job_id, job=job_id)
        if kept:
            template = N_("%(kept)s kept: running, failed, a scheduler's run or in a queue not shown.")
            result = result.and_say(template, kept=kept)
        return result

    async def _bulk_one(
        self, queue: str, action: str, job_id: str, retry_states: Collection[str], writable: Collection[str] | None
    ) -> str:
        """What kept ``action`` from this job ("" when done); ``NotFound`` and ``Conflict`` as raised."""
        job_id = await self._own_job_id(queue, job_id)
        q = self.queue(queue)
        if action == "promote":
            await self._act(q.promote_job(job_id))
        elif action == "remove":
            if writable is not None and await self._reaches_beyond(queue, job_id, writable):
                return "refused"
            if not await self._act(q.remove_count(job_id)):
                return "gone"
        else:
            state = await self._act(q.get_job_state(job_id))
            if state == "unknown":
                return "gone"
            if state not in retry_states:
                return "state"
            try:
                origin = await self._origin(queue, job_id) if state == "failed" else None
            except Conflict:
                return "refused"
            if origin is not None and writable is not None and origin.queue not in writable:
                return "refused"
            await self._act(q.retry_job(job_id, state))
        return ""

    async def duplicate_job(self, queue: str, job_id: str) -> ActionResult:
        job_id = await self._own_job_id(queue, job_id)
        job = await self._act(self.queue(queue).get_job(job_id))
        if job is None:
            raise NotFound(f"job {job_id!r} not found in queue {queue!r}")
        if job.problems.get("data"):
            raise Conflict(f"job {job_id} cannot be duplicated: its data is {job.problems['data']}")
        options = add_options(job.opts)
        kind = options.get("backoff", {}).get("type") if isinstance(options.get("backoff"), dict) else None
        # The copy names the same backoff strategy as the original, whatever workers resolve it to.
        adder = self.queue(queue)
        if kind not in (None, "fixed", "exponential"):
            adder = Queue(queue, self.inspector.client, prefix=self.prefix, backoff_types=[str(kind)])
        copy = await self._act(adder.add(job.name, job.data, **options))
        return ActionResult.say("Job %(job)s duplicated as job %(copy)s.", 1, copy.id, job=job_id, copy=copy.id)

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
        return ActionResult.say("Job %(job)s added.", 1, job.id, job=job.id)

    async def retry_all(self, queue: str, state: str, *, send_back_to: Collection[str] | None = None) -> ActionResult:
        if state not in RETRYABLE:
            raise Invalid(f"only failed or completed jobs can be retried, not {state}", "state")
        count = await self._act(self.queue(queue).retry_jobs(state, send_back_to=send_back_to))
        if state == "completed":
            return ActionResult.say("%(count)s completed job(s) moved back to waiting.", count)
        return ActionResult.say("%(count)s failed job(s) moved back to waiting.", count)

    async def promote_all(self, queue: str) -> ActionResult:
        count = await self._act(self.queue(queue).promote_jobs())
        return ActionResult.say("%(count)s delayed job(s) promoted.", count)

    async def clean(self, queue: str, state: str, grace_s: float, limit: int) -> ActionResult:
        count = await self._act(self.queue(queue).clean_count(grace_s, limit, state))
        return ActionResult.say(CLEANED[state], count, grace=format(grace_s, "g"))

    async def pause(self, queue: str) -> ActionResult:
        changed = await self._act(self.queue(queue).pause())
        if changed:
            return ActionResult.say("Queue paused.", 1)
        return ActionResult.say("Queue was already paused.", 0)

    async def resume(self, queue: str) -> ActionResult:
        changed = await self._act(self.queue(queue).resume())
        if changed:
            return ActionResult.say("Queue resumed.", 1)
        return ActionResult.say("Queue was not paused.", 0)

    async def empty(self, queue: str, *, delayed: bool) -> ActionResult:
        await self._act(self.queue(queue).drain(delayed))
        if delayed:
            return ActionResult.say("Queue emptied of its waiting, prioritized and delayed jobs.")
        return ActionResult.say("Queue emptied of its waiting and prioritized jobs.")

    async def set_global_concurrency(self, queue: str, concurrency: int | None) -> ActionResult:
        await self._act(self.queue(queue).set_global_concurrency(concurrency))
        if not concurrency:
            template = N_("Global concurrency of %(queue)s removed: each worker runs as many as it is set to.")
            return ActionResult.say(template, queue=queue)
        template = N_("Global concurrency of %(queue)s set to %(concurrency)s: at most that many jobs run at once.")
        return ActionResult.say(template, queue=queue, concurrency=concurrency)

    async def set_global_rate_limit(self, queue: str, max_jobs: int | None, duration_s: float) -> ActionResult:
        await self._act(self.queue(queue).set_global_rate_limit(max_jobs, duration_s))
        if not max_jobs:
            return ActionResult.say("Global rate limit of %(queue)s removed.", queue=queue)
        template = N_("Global rate limit of %(queue)s set to %(max)s jobs per %(duration)s s.")
        return ActionResult.say(template, queue=queue, max=max_jobs, duration=format(duration_s, "g"))

    async def obliterate(self, queue: str, *, force: bool) -> ActionResult:
        await self._act(self.queue(queue).obliterate(force))
        return ActionResult.say("Queue %(queue)s obliterated.", queue=queue)
