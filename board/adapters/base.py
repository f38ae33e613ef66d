"""What the board needs from a queue engine: the ``QueueAdapter`` protocol and the shapes it returns.

Plug another engine into the board by implementing ``QueueAdapter``. Every read is bounded (a page,
one job, a page of logs) and should cost one round trip to the store whatever the number of queues or
jobs; every bulk action must work in bounded chunks.
"""

from __future__ import annotations

from collections.abc import Collection, Container, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from ..alerts import AlertConfig, Delivery
from ..alerts.delivery import AlertCallable
from ..alerts.runner import AlertRunner
from ..engine import states
from ..engine.states import RUN_ORDER
from .audit import AuditEntry, AuditPage

# The states a queue's jobs are counted and listed in, in run order (the engine's vocabulary).
COUNTED = tuple(state.value for state in RUN_ORDER)
# Tabs of the queue page, in order; "latest" is the newest jobs of every state.
TABS = ("latest", *COUNTED)
RETRYABLE = tuple(state.value for state in states.RETRYABLE)
# What a job search can look in: the job's id, name, data and failed reason.
SEARCH_FIELDS = ("id", "name", "data", "failedReason")
CLEANABLE_STATES = COUNTED


@dataclass
class WorkerInfo:
    name: str
    addr: str
    age_s: int
    idle_s: int


@dataclass
class QueueInfo:
    name: str
    counts: dict[str, int] = field(default_factory=dict)
    paused: bool = False
    workers: list[WorkerInfo] = field(default_factory=list)
    global_concurrency: int | None = None
    rate_limit_max: int | None = None
    rate_limit_duration_ms: int | None = None
    rate_limited_for_ms: int = 0
    schedulers: int = 0
    exists: bool = True
    error: str | None = None

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class QueueMark:
    """What a queue navigation shows beside a queue's name: whether it is paused or rate limited now."""

    name: str
    paused: bool = False
    rate_limited: bool = False


@dataclass
class ChildCounts:
    """A flow parent's children by outcome: waited for, done, failed (failing the parent), and failed but
    ignored by the parent."""

    pending: int = 0
    done: int = 0
    failed: int = 0
    ignored: int = 0

    @property
    def total(self) -> int:
        return self.pending + self.done + self.failed + self.ignored


@dataclass
class DeadLetter:
    """Where a dead letter came from (its options' ``deadLetter``): the queue and job it failed in, after
    how many attempts and when. ``queue`` is None when the viewer may not see that queue (``hidden``) or
    it was not written as a queue name."""

    queue: str | None
    job_id: str | None
    attempts_made: int | None = None
    failed_on_ms: int | None = None
    hidden: bool = False


@dataclass
class JobSummary:
    """One row of a job list: previews only, never a full payload."""

    queue: str
    id: str
    name: str
    state: str
    added_ms: int | None = None
    processed_ms: int | None = None
    finished_ms: int | None = None
    run_at_ms: int | None = None
    attempts_made: int = 0
    attempts_started: int = 0
    attempts_allowed: int = 1
    priority: int = 0
    delay_ms: int = 0
    progress: Any = None
    data_preview: str = ""
    data_size: int = 0
    failed_reason: str | None = None
    problems: dict[str, str] = field(default_factory=dict)
    deduplication_id: str | None = None
    # The job scheduler that produced this job (its hash's ``rjk``).
    scheduler_id: str | None = None
    # A flow parent's children (None for a job with none).
    children_counts: ChildCounts | None = None
    dead_letter: DeadLetter | None = None

    @property
    def wait_ms(self) -> int | None:
        if self.processed_ms is None or self.added_ms is None:
            return None
        return max(0, self.processed_ms - self.added_ms - self.delay_ms)

    @property
    def run_ms(self) -> int | None:
        if self.finished_ms is None or self.processed_ms is None:
            return None
        return max(0, self.finished_ms - self.processed_ms)

    @property
    def progress_percent(self) -> float | None:
        if isinstance(self.progress, bool) or not isinstance(self.progress, int | float):
            return None
        return float(min(100, max(0, self.progress)))


@dataclass
class Field:
    """A large field of a job: its text (cut at the page's limit), its full size, and whether it was cut."""

    text: str
    size: int
    truncated: bool
    value: Any = None
    is_json: bool = False


@dataclass
class ChildLink:
    """A child of a flow parent: where it lives and whether it has finished."""

    queue: str
    id: str
    done: bool


@dataclass
class FlowNode:
    """A job of a flow, for the tree on a job page. ``queue`` and ``id`` are None for a job the viewer may
    not see (``hidden``) or one under another prefix; ``state`` is "missing" when the job is gone."""

    queue: str | None
    id: str | None
    name: str
    state: str
    counts: ChildCounts = field(default_factory=ChildCounts)
    children: list[FlowNode] = field(default_factory=list)
    current: bool = False
    hidden: bool = False

    @property
    def more(self) -> int:
        """Children not shown (past the bounds of the read, or hidden with their parent)."""
        return max(0, self.counts.total - len(self.children))


@dataclass
class JobDetail(JobSummary):
    data: Field = field(default_factory=lambda: Field("", 0, False))
    returnvalue: Field | None = None
    opts: dict[str, Any] = field(default_factory=dict)
    stacktrace: list[str] = field(default_factory=list)
    processed_by: str | None = None
    stalled_counter: int = 0
    deferred_failure: str | None = None
    parent_queue: str | None = None
    parent_id: str | None = None
    # A parent or children in queues the viewer may not see are dropped; only that they exist is said.
    parent_hidden: bool = False
    children: list[ChildLink] = field(default_factory=list)
    children_hidden: int = 0
    children_pending: int = 0
    children_done: int = 0
    # The flow the job belongs to, from its root (parents beyond the read's bound left out: ``flow_cut``).
    flow: FlowNode | None = None
    flow_cut: bool = False
    logs: list[str] = field(default_factory=list)
    logs_total: int = 0
    logs_start: int = 0
    timeline: list[tuple[int, str]] = field(default_factory=list)
    # The timeline's words as templates and values, in the same order, for the board to translate.
    timeline_said: list[Said] = field(default_factory=list)


@dataclass
class JobPage:
    queue: QueueInfo
    state: str
    jobs: list[JobSummary]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


@dataclass
class MinuteCounts:
    """Jobs that finished in each minute, oldest first; the last is the current minute so far, which
    starts at ``end_ms``. Minutes older than the store keeps are left out, so the list may be shorter than
    the window asked for. ``total``: every job counted since the queue's metrics began; ``kept``: how
    many minutes the store keeps."""

    total: int
    minutes: list[int]
    end_ms: int
    kept: int = 0


@dataclass
class Throughput:
    """A queue's completed and failed jobs per minute; both None when its workers keep no metrics,
    ``error`` when its metrics could not be read."""

    queue: str
    completed: MinuteCounts | None = None
    failed: MinuteCounts | None = None
    error: str | None = None

    @property
    def enabled(self) -> bool:
        return self.completed is not None or self.failed is not None


@dataclass
class SearchHit:
    """A job the search matched: its row (previews only), and the searched fields as stored, each cut at
    the bytes asked for (``cut`` names those that were), so that the board can check the text is in what
    it shows of them rather than only in a value it masks."""

    job: JobSummary
    texts: dict[str, str] = field(default_factory=dict)
    cut: frozenset[str] = frozenset()


@dataclass
class SearchPage:
    """One bounded step of a search: the hits, the jobs looked at and the fields skipped for their size
    in this step, how far the search has got (``covered`` of the ``total`` jobs in ``states``), and the
    cursor to go on from (None once every state was searched)."""

    queue: str
    states: list[str]
    hits: list[SearchHit]
    looked: int = 0
    skipped: int = 0
    covered: int = 0
    total: int = 0
    cursor: str | None = None


@dataclass
class SchedulerInfo:
    """A job scheduler: its template (name, data preview, options) and its schedule, a cron ``pattern``
    or an interval (``every_ms``). ``problems`` names fields another program wrote badly."""

    queue: str
    id: str
    name: str
    pattern: str | None = None
    every_ms: int | None = None
    tz: str | None = None
    next_run_ms: int | None = None
    next_job_id: str | None = None
    iterations: int = 0
    limit: int | None = None
    start_ms: int | None = None
    end_ms: int | None = None
    data: Field = field(default_factory=lambda: Field("", 0, False))
    opts: dict[str, Any] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)


@dataclass
class SchedulerPage:
    queue: str
    schedulers: list[SchedulerInfo]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def N_(template: str) -> str:
    """Marks a message template for the translation catalog where it is written, to be said later in the
    reader's language (the catalog's extractor knows the name, as it knows ``ActionResult.say``)."""
    return template


@dataclass(frozen=True)
class Said:
    """A sentence as a template with ``%(name)s`` placeholders, and its values."""

    template: str
    params: Mapping[str, Any]


@dataclass
class ActionResult:
    """What an action did: ``message`` in English (what JSON answers and the audit log keep), and the same
    sentences as templates with their values (``said``), which the board says in the reader's language.
    An adapter may leave ``said`` empty: its message is then shown as it is."""

    message: str
    count: int = 0
    job_id: str | None = None
    said: tuple[Said, ...] = ()

    @classmethod
    def say(cls, template: str, count: int = 0, job_id: str | None = None, **params: Any) -> ActionResult:
        """A result saying ``template % params``; ``count`` is one of its values too (``%(count)s``)."""
        params = {"count": count, **params}
        return cls(template % params, count, job_id, (Said(template, params),))

    def and_say(self, template: str, **params: Any) -> ActionResult:
        """This result with one more sentence."""
        said = Said(template, {"count": self.count, **params})
        return replace(self, message=f"{self.message} {template % said.params}", said=(*self.said, said))


# What a bulk action on chosen jobs can do, and how many jobs one request may name.
BULK_ACTIONS = ("retry", "promote", "remove")
MAX_BULK_IDS = 1000


@dataclass
class BulkResult:
    """What a bulk action did to each job it was given: the ids done, and those left as they were, by why:
    ``gone`` (no such job), ``state`` (not in a state the action takes), ``refused`` (held by a worker, a
    scheduler's next run, or a dead letter from a queue not shown)."""

    action: str
    done: list[str] = field(default_factory=list)
    skipped: dict[str, list[str]] = field(default_factory=dict)

    def skip(self, why: str, job_id: str) -> None:
        self.skipped.setdefault(why, []).append(job_id)


@dataclass(frozen=True)
class QueueHealth:
    """What a readiness check needs of a queue: its backlog, its workers and how long the next job to
    run has waited (0 when none waits); ``error`` when the queue could not be read."""

    name: str
    waiting: int = 0
    workers: int = 0
    oldest_waiting_s: float = 0
    paused: bool = False
    error: str | None = None


@dataclass(frozen=True)
class ServerNode:
    """One server of the store, for the server page: its address, its own facts (Redis's INFO fields),
    or ``error`` when it did not answer. A Redis Cluster has one per primary."""

    name: str
    info: dict[str, str] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True)
class AlertEpisode:
    """An alert rule's current episode on one queue: ``phase`` "pending" (the condition holds, not yet
    for the rule's minutes) or "firing", since when (ms), when it fired, and the value seen last."""

    rule: str
    queue: str
    phase: str
    since_ms: int
    fired_ms: int
    value: float


@dataclass
class AlertState:
    """What the alert loop has saved: the episodes under way, and the last deliveries, newest first."""

    episodes: list[AlertEpisode] = field(default_factory=list)
    deliveries: list[Delivery] = field(default_factory=list)


class SessionStore(Protocol):
    """Where the board keeps login session generations and revoked sessions, shared by its processes."""

    async def session_state(self, user: str, session_id: str) -> tuple[int, bool]:
        """The user's session generation, and whether this session was revoked."""
        ...

    async def revoke_session(self, session_id: str, ttl_s: int) -> None:
        """Mark one session revoked for ``ttl_s`` seconds (its remaining lifetime at most)."""
        ...

    async def revoke_user(self, user: str) -> int:
        """End every session of ``user``; returns the new generation."""
        ...


@dataclass(frozen=True)
class ThrottleSubject:
    """What the login throttle counts failed passwords of: a user ``name`` or a client ``address``, and
    the failures within the window that lock it out."""

    kind: str
    value: str
    limit: int


class ThrottleStore(Protocol):
    """Where the board counts failed passwords, shared by its processes, so that spreading a guessing run
    over them does not multiply its attempts."""

    async def locked_for(self, subjects: Sequence[ThrottleSubject]) -> float:
        """Seconds until every one of ``subjects`` may try again; 0 when none is locked out."""
        ...

    async def failed(self, subjects: Sequence[ThrottleSubject], window_s: float, lockout_s: float) -> None:
        """Counts one failure of each subject; one that reached its ``limit`` within the last ``window_s``
        seconds is locked out for ``lockout_s`` seconds, and counted afresh after."""
        ...

    async def forget(self, subject: ThrottleSubject) -> None:
        """Forgets the failures of ``subject`` (not a lockout under way)."""
        ...


class QueueAdapter(Protocol):
    """The board's whole view of a queue engine.

    Every method may raise ``Unavailable`` when the store does not answer, refuses the call, or its
    answer is lost; the others it raises are named on each method (see ``board.adapters.errors``).
    Messages are shown to operators as they are: they must not leak the store's internals. Queue
    names reach these methods only after the board checked that the user may see the queue and that
    ``queue_names`` holds it; job ids come from URLs and forms and are not checked: an adapter must
    refuse an id that would reach keys other than that job's (``NotFound``).
    """

    async def queue_names(self) -> list[str]:
        """Every queue this adapter serves (configured or discovered), sorted."""
        ...

    async def overview(self, queues: list[str]) -> list[QueueInfo]:
        """Counts, pause state, limits and workers of many queues, in one round trip. A queue that
        cannot be read comes back with its ``error`` set instead of failing the others."""
        ...

    async def queue_marks(self, queues: list[str]) -> list[QueueMark]:
        """Paused and rate-limited marks of many queues, in one cheap round trip (no counts, no workers):
        read for the navigation of every page. A queue that cannot be read comes back unmarked."""
        ...

    async def page(self, queue: str, state: str, page: int, per_page: int) -> JobPage:
        """The queue's info and one page of one tab (``TABS``), in one round trip."""
        ...

    async def job(self, queue: str, job_id: str, *, logs_start: int, logs_count: int) -> JobDetail | None:
        """One job with a page of its logs, its parent and a bounded sample of its children; None
        when there is no such job. ``Conflict`` when the key exists but holds no job the board can
        read."""
        ...

    async def raw_field(self, queue: str, job_id: str, name: str, *, max_bytes: int | None = None) -> str | None:
        """A job's whole ``data`` or ``returnvalue`` text, for the raw view of large payloads; None
        when there is no such job. ``Invalid`` for another field name; with ``max_bytes``,
        ``TooLarge`` instead of reading a larger value."""
        ...

    async def find(self, job_id: str, queues: list[str]) -> list[str]:
        """The queues among ``queues`` holding a job with that id (one round trip)."""
        ...

    async def throughput(self, queues: list[str], minutes: int) -> list[Throughput]:
        """Completed and failed jobs per minute over the last ``minutes`` (at most 1,440) of ``queues``,
        in one round trip whatever their number; a queue whose metrics cannot be read comes back with its
        ``error`` set instead of failing the others."""
        ...

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
        """One bounded step of a search for ``text`` in the ``fields`` (``SEARCH_FIELDS``) of the jobs of
        ``states`` (``COUNTED``; all when empty), from ``cursor`` (a ``SearchPage.cursor``), until ``limit``
        hits or ``budget_s`` seconds, never holding the store up for long. ``Invalid`` with the field
        (``text``, ``states``, ``fields``, ``cursor``)."""
        ...

    async def server_info(self) -> list[ServerNode]:
        """The store's own facts (version, memory, clients, ...) for the server page, one entry per
        server (each primary of a Redis Cluster); ``Unavailable`` when none answers."""
        ...

    async def ping(self) -> None:
        """Returns when the store answers; ``Unavailable`` when it does not."""
        ...

    async def metrics_text(self, queues: list[str]) -> bytes:
        """The Prometheus text format of ``queues`` (``Unavailable`` when the store does not answer),
        in a bounded number of round trips whatever their number."""
        ...

    async def queue_health(self, queues: list[str]) -> list[QueueHealth]:
        """Backlog, workers and oldest waiting job of ``queues``, in a bounded number of round trips."""
        ...

    def session_store(self) -> SessionStore | None:
        """The shared store for login sessions, or None to keep them in each process's memory."""
        ...

    def throttle_store(self) -> ThrottleStore | None:
        """The shared count of failed passwords, or None to count them in each process's memory."""
        ...

    def alert_runner(
        self, config: AlertConfig, *, callables: Mapping[str, AlertCallable] | None = None, interval: float = 15
    ) -> AlertRunner:
        """The loop that evaluates ``config`` over these queues every ``interval`` seconds, keeping its state
        in the store so that one process of many evaluates; the board starts and stops it."""
        ...

    async def alert_state(self, deliveries: int = 50) -> AlertState:
        """The alert loop's episodes under way and its last ``deliveries``, in a bounded number of round trips."""
        ...

    async def record_audit(self, entry: AuditEntry) -> None:
        """Adds an entry to the audit log, shared by every process of the board."""
        ...

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
        """Up to ``limit`` audit entries older than ``before``, newest first, matching every filter given
        (``queues``: only entries of those queues, and board-wide ones), and where the next page starts."""
        ...

    async def retry_job(self, queue: str, job_id: str) -> ActionResult:
        """Moves a failed or completed job back to waiting. ``NotFound``; ``Conflict`` in another state."""
        ...

    async def promote_job(self, queue: str, job_id: str) -> ActionResult:
        """Runs a delayed job now. ``NotFound``; ``Conflict`` when it is not delayed."""
        ...

    async def remove_job(
        self,
        queue: str,
        job_id: str,
        *,
        visible: Collection[str] | None = None,
        writable: Collection[str] | None = None,
    ) -> ActionResult:
        """Removes a job with its logs and, for a flow parent, its children; the message says what went
        and, for a flow child, what its parent does now (naming the parent only when its queue is in
        ``visible``; None: any). ``NotFound``; ``Conflict`` while a worker holds its lock (or a child's),
        for a job scheduler's next run (remove the scheduler instead), and when a descendant sits in a
        queue not in ``writable`` (None: any) or the flow is too large to check."""
        ...

    async def reschedule_job(self, queue: str, job_id: str, delay_ms: int) -> ActionResult:
        """Makes a delayed job due ``delay_ms`` from now. ``NotFound``; ``Conflict`` when it is not delayed;
        ``Invalid`` (``delay``)."""
        ...

    async def remove_unprocessed_children(
        self, queue: str, job_id: str, *, writable: Collection[str] | None = None
    ) -> ActionResult:
        """Removes the children a flow parent still waits for (each with its own children), as BullMQ's
        ``removeUnprocessedChildren``: finished ones stay, and so do those a worker holds, those that failed
        and those reaching a queue not in ``writable`` (None: any); the parent runs once none is left. At most
        ``MAX_BULK_IDS`` children per call. ``NotFound``."""
        ...

    async def bulk_jobs(
        self,
        queue: str,
        action: str,
        job_ids: list[str],
        *,
        retry_states: Collection[str] = RETRYABLE,
        writable: Collection[str] | None = None,
    ) -> BulkResult:
        """``action`` (``BULK_ACTIONS``) on each of up to ``MAX_BULK_IDS`` jobs, one job at a time, each
        outcome counted rather than raised: retry only jobs in ``retry_states``, and never send a dead
        letter back to, nor remove a job whose children reach, a queue not in ``writable`` (None: any).
        ``Invalid`` (``action`` or ``ids``)."""
        ...

    async def update_job_data(self, queue: str, job_id: str, data: Any) -> ActionResult:
        """Replaces a job's data. ``NotFound``; ``Invalid`` (field ``data``) for data the store cannot hold."""
        ...

    async def change_job_priority(self, queue: str, job_id: str, priority: int) -> ActionResult:
        """Sets a job's priority, moving it when it waits. ``NotFound``; ``Invalid`` (``priority``)."""
        ...

    async def duplicate_job(self, queue: str, job_id: str) -> ActionResult:
        """Adds a new job with the name, data and options of this one (``job_id`` of the result is
        the copy's). ``NotFound``; ``Conflict`` when its data cannot be read."""
        ...

    async def add_job(self, queue: str, name: str, data: Any, options: dict[str, Any]) -> ActionResult:
        """Adds a job; ``job_id`` of the result is the new job's. ``Invalid`` with the field
        (``data`` or ``options``) the engine refused."""
        ...

    async def retry_all(self, queue: str, state: str, *, send_back_to: Collection[str] | None = None) -> ActionResult:
        """Moves every job of ``state`` (``RETRYABLE``) back to waiting, in bounded chunks; a dead letter goes
        back to its queue only if ``send_back_to`` names it (None: any), else stays. ``Invalid``."""
        ...

    async def promote_all(self, queue: str) -> ActionResult:
        """Runs every delayed job now, in bounded chunks."""
        ...

    async def clean(self, queue: str, state: str, grace_s: float, limit: int) -> ActionResult:
        """Removes up to ``limit`` jobs of ``state`` older than ``grace_s``, in bounded chunks. ``Invalid``."""
        ...

    async def pause(self, queue: str) -> ActionResult:
        """Stops workers from taking new jobs; says whether it was already paused."""
        ...

    async def resume(self, queue: str) -> ActionResult:
        """Lets workers take jobs again; says whether it was paused."""
        ...

    async def empty(self, queue: str, *, delayed: bool) -> ActionResult:
        """Removes every job that has not started (and the delayed ones with ``delayed``)."""
        ...

    async def obliterate(self, queue: str, *, force: bool) -> ActionResult:
        """Deletes the queue and all its jobs. ``Conflict`` unless paused, or with active jobs and no ``force``."""
        ...

    async def set_global_concurrency(self, queue: str, concurrency: int | None) -> ActionResult:
        """At most ``concurrency`` jobs of the queue run at once across every worker; None removes the
        limit. ``Invalid`` (``concurrency``)."""
        ...

    async def set_global_rate_limit(self, queue: str, max_jobs: int | None, duration_s: float) -> ActionResult:
        """At most ``max_jobs`` jobs start per ``duration_s`` seconds across every worker; None removes
        the limit. ``Invalid`` (``max`` or ``duration``)."""
        ...

    async def schedulers(self, queue: str, page: int, per_page: int) -> SchedulerPage:
        """One page of the queue's job schedulers, soonest next run first, with their count (one round trip)."""
        ...

    async def all_schedulers(self, queues: list[str], per_page: int, *, page: int = 1) -> list[SchedulerPage]:
        """``schedulers`` of many queues at once, in one round trip."""
        ...

    async def scheduler(self, queue: str, scheduler_id: str) -> SchedulerInfo | None:
        """One job scheduler; None when there is no such scheduler."""
        ...

    async def run_scheduler(self, queue: str, scheduler_id: str) -> ActionResult:
        """Runs the scheduler's next run now (``job_id`` of the result). ``NotFound``; ``Conflict`` when
        that run is not waiting for its time (already due, taken, or gone)."""
        ...

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
        """Gives the scheduler a new schedule (a cron pattern in ``tz``, or every ``every_s`` seconds, up to
        ``limit`` runs and until ``end``), keeping its template. Nothing is saved when the engine refuses:
        ``Invalid`` with the field (``cron``, ``every``, ``tz``, ``limit``, ``end``); ``NotFound``;
        ``Conflict`` when its template could not be saved again as it is."""
        ...

    async def remove_scheduler(self, queue: str, scheduler_id: str) -> ActionResult:
        """Removes the scheduler and its next run. ``NotFound``; ``Conflict`` while a worker holds that run."""
        ...

    async def close(self) -> None:
        """Releases the adapter's connections."""
        ...
