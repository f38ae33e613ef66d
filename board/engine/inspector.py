"""``Inspector``: reads many queues at once, for dashboards.

Each method is one round trip to Redis whatever the number of queues or jobs: the per-queue scripts go
out as one pipeline, and the overview's figures of many queues come back from one script call
(``queue_summaries.lua``) as one reply, which costs far less to read than a reply per command. Large
fields are cut inside Redis (``job_rows.lua``), so a page of jobs never ships a full payload. Errors of
one queue (a hash another program wrote badly, a wrong key type) come back as that queue's error instead
of failing the whole read. An id listed in a state whose key is not a hash comes back as a row holding
only the key's type, which ``JobRecord`` names in its ``problems``. On a Redis Cluster, a read's calls go
to the nodes that serve them at the same time (routing.py): one round trip per node, not one after another.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from redis.exceptions import SlotNotCoveredError

from .connection import Call, Connection, command, script_call
from .job import key_type_problem
from .keys import QueueKeys, check_cluster_queue, check_job_id, hash_tag, is_job_id, queue_name_from_meta_key
from .metrics import Metrics, parse_metrics
from .ops import STATES, parse_client_list
from .routing import ClusterRunner, close_client, engine_client, runner_for
from .schedulers import JobScheduler, parse_scheduler
from .scripts import script
from .states import RUN_ORDER, state_key

# Keys a SCAN step looks at, when discovering queues.
SCAN_COUNT = 1000
# Queues read by one call of queue_summaries.lua: Redis serves other clients between two calls, so that a
# board of thousands of queues never holds it for long.
SUMMARY_CHUNK = 500
# The states a summary counts: those a job moves through, not BullMQ 4's legacy paused list (which the
# overview never shows; get_counts.lua still counts it).
SUMMARY_STATES = tuple(state.key for state in RUN_ORDER)
# What a queue_summaries.lua reply holds for each queue after its counts, and in marks mode.
_FIGURES_AFTER_COUNTS = 10
_MARKS = 4


def is_rate_limited(ttl_ms: int, max_jobs: int | None, started: int | None) -> bool:
    """Workers wait ``ttl_ms`` before taking a job: the limiter's window is open and full.

    As BullMQ's ``getRateLimitTtl``: without a global limit the queue's own maximum is unknown (it is
    each worker's), so an open window counts as limited, as a manual ``rateLimit(ms)`` does."""
    if ttl_ms <= 0:
        return False
    if max_jobs is None or started is None:
        return True
    return started >= max_jobs


class Marks(NamedTuple):
    """What a queue navigation shows of a queue: whether it is paused and rate limited now."""

    name: str
    paused: bool = False
    rate_limited: bool = False


@dataclass
class QueueStatus:
    name: str
    counts: dict[str, int] = field(default_factory=dict)
    paused: bool = False
    global_concurrency: int | None = None
    rate_limit_max: int | None = None
    rate_limit_duration_ms: int | None = None
    limiter_ttl_ms: int = 0
    # Jobs started in the limiter's open window (None when no window is open); a worker's own limiter or a
    # manual rate limit (BullMQ's ``rateLimit(ms)``) counts here too.
    limiter_count: int | None = None
    schedulers: int = 0
    version: str = ""
    workers: list[dict[str, str]] = field(default_factory=list)
    exists: bool = True
    error: str | None = None
    # The job metrics read with the figures (``statuses(metrics_minutes=...)``), by kind ({} when the queue
    # keeps none); None when not read, and ``metrics_error`` when Redis refused that read alone.
    metrics: dict[str, Metrics] | None = None
    metrics_error: str | None = None

    @property
    def rate_limited(self) -> bool:
        """Workers wait ``limiter_ttl_ms`` before taking a job (``is_rate_limited``)."""
        return is_rate_limited(self.limiter_ttl_ms, self.rate_limit_max, self.limiter_count)


@dataclass
class JobRow:
    id: str
    state: str
    fields: dict[str, str]
    sizes: dict[str, int]

    @property
    def key_problem(self) -> str | None:
        """Why this row is no job at all (its key is a string, a list, ... not a hash), or None."""
        return key_type_problem(self.fields)


@dataclass
class Children:
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
class FlowNode:
    """One job of a flow as ``flow_call`` read it: its full key (``<prefix>:<queue>:<id>``), the index of
    its parent among the nodes (-1 for the first), state ("missing": no job hash; "elsewhere": under
    another prefix, not read), name and children."""

    key: str
    parent: int
    state: str
    name: str
    children: Children


@dataclass
class Flow:
    """The flow around one job: its parents from the root down, the job (``nodes[current]``), and its
    descendants breadth first, each node after its parent. ``cut``: parents above the first were left out."""

    current: int
    cut: bool
    nodes: list[FlowNode]


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _workers_by_name(rows: list[dict[str, str]], names: set[str]) -> dict[str, list[dict[str, str]]]:
    """CLIENT LIST's rows by the queue client name they belong to (BullMQ names a worker's connection
    ``<name>`` or ``<name>:w:<worker>``): each row is looked at once, however many queues there are."""
    found: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        name = row.get("name", "")
        if name in names:
            found.setdefault(name, []).append(row)
            continue
        at = name.find(":w:")
        while at != -1:
            if name[:at] in names:
                found.setdefault(name[:at], []).append(row)
                break
            at = name.find(":w:", at + 1)
    return found


def _rows(flat: list[Any]) -> list[JobRow]:
    rows = []
    for i in range(0, len(flat), 3):
        pairs = flat[i + 2]
        fields: dict[str, str] = {}
        sizes: dict[str, int] = {}
        for j in range(0, len(pairs), 2):
            name, value = str(pairs[j]), str(pairs[j + 1])
            if name.endswith(".size") and name[:-5] in fields:
                sizes[name[:-5]] = int(value)
            else:
                fields[name] = value
        rows.append(JobRow(str(flat[i]), str(flat[i + 1]), fields, sizes))
    return rows


class Inspector:
    """On a Redis Cluster (a ``redis+cluster://`` URL or a ``RedisCluster`` client) each queue is read
    on the node that serves its hash slot; a queue whose keys would spread over slots (no hash tag in
    its prefix or name) is not read at all and shows as that queue's error (``refusal``)."""

    def __init__(self, connection: Connection | None = None, *, prefix: str = "bull") -> None:
        self.prefix = prefix
        self.client = engine_client(connection)
        self.runner = runner_for(self.client)
        # The runner that routes calls by node, on a cluster (None on a single Redis or Sentinel).
        self.cluster_runner: ClusterRunner | None = self.runner if isinstance(self.runner, ClusterRunner) else None
        self._keys: dict[str, QueueKeys] = {}
        self._refused: dict[str, str] = {}
        self._client_names: dict[str, str] = {}
        # Per queue: its key base and the group of queues it is read with (see _summary_chunks).
        self._bases: dict[str, tuple[str, int | str | None]] = {}

    def keys(self, queue: str) -> QueueKeys:
        """The queue's keys; on a cluster, ``ValueError`` for a queue whose keys would spread over slots."""
        keys = self._keys.get(queue)
        if keys is None:
            if self.cluster_runner is None:
                keys = QueueKeys(self.prefix, queue)
            else:
                refused = self._refused.get(queue)
                if refused is not None:
                    raise ValueError(refused)
                try:
                    keys = check_cluster_queue(self.prefix, queue)
                except ValueError as exc:
                    self._refused[queue] = str(exc)
                    raise
            self._keys[queue] = keys
        return keys

    def refusal(self, queue: str) -> str | None:
        """Why ``queue`` cannot be read here (on a cluster, keys that would spread over slots), or None."""
        if queue in self._keys or self.cluster_runner is None:
            return None
        try:
            self.keys(queue)
        except ValueError as exc:
            return str(exc)
        return None

    def client_name(self, queue: str) -> str:
        """``QueueKeys.client_name()``, kept: a page of a thousand queues asks for each on every read.
        Only a name: given for a queue ``keys`` refuses too."""
        name = self._client_names.get(queue)
        if name is None:
            name = self._client_names[queue] = QueueKeys(self.prefix, queue).client_name()
        return name

    async def close(self) -> None:
        await close_client(self.client)

    # Calls, so that callers can put several reads in one round trip.
    def status_call(self, queue: str) -> Call:
        return script_call("get_counts", self.keys(queue), *STATES)

    def logs_call(self, queue: str, job_id: str, start: int, count: int, max_bytes: int) -> Call:
        """A page of a job's log lines, none read when the whole list holds more than ``max_bytes``."""
        return script_call("job_logs", self.keys(queue), job_id, start, start + max(0, count - 1), max_bytes)

    def exists_call(self, queue: str) -> Call:
        keys = self.keys(queue)
        return command("EXISTS", keys.meta, keys.id, keys.wait, keys.completed, keys.failed, keys.delayed)

    def client_list_call(self, queue: str | None = None) -> Call:
        """CLIENT LIST; with ``queue``, of the node that serves it (a cluster's: its workers are there)."""
        return command("CLIENT", "LIST", route=None if queue is None else self.keys(queue).meta)

    async def batch_and_clients(self, calls: list[Call]) -> tuple[list[Any], Any]:
        """The replies of ``calls`` (as ``batch``) and CLIENT LIST's, for ``workers_of``: on a single Redis in
        the same round trip; on a cluster, every primary's by node name, asked at the same time."""
        if self.cluster_runner is None:
            replies = await self.runner.batch([*calls, self.client_list_call()])
            clients = replies.pop()
            return replies, clients
        replies, clients = await asyncio.gather(
            self.runner.batch(calls), self.cluster_runner.on_nodes(self.client_list_call()), return_exceptions=True
        )
        if isinstance(replies, BaseException):
            raise replies
        return replies, clients

    def workers_of(self, queues: Sequence[str], clients: Any) -> dict[str, list[dict[str, str]]] | None:
        """Each queue's worker connections in CLIENT LIST's reply: its text or rows, or on a cluster the
        replies by node of ``batch_and_clients``, of which a queue's are those of the node serving its
        slot (where its workers block); None when the list could not be read."""
        if isinstance(clients, str | list):
            rows = parse_client_list(clients) if isinstance(clients, str) else clients
            found = _workers_by_name(rows, {self.client_name(q) for q in queues})
            return {q: found.get(self.client_name(q), []) for q in queues}
        if not isinstance(clients, dict) or self.cluster_runner is None:
            return None
        by_node: dict[str, list[str]] = {}
        for queue in queues:
            node = self._node_of(queue)
            if node is not None:
                by_node.setdefault(node, []).append(queue)
        workers: dict[str, list[dict[str, str]]] = {q: [] for q in queues}
        for node, served in by_node.items():
            text = clients.get(node)
            if isinstance(text, str):
                found = _workers_by_name(parse_client_list(text), {self.client_name(q) for q in served})
                workers.update((q, found.get(self.client_name(q), [])) for q in served)
        return workers

    def _node_of(self, queue: str) -> str | None:
        """The name of the primary serving ``queue``'s slot, as ``on_nodes`` names it; None when unknown."""
        if self.cluster_runner is None or self.refusal(queue) is not None:
            return None
        try:
            node = self.cluster_runner.cluster.nodes_manager.get_node_from_slot(self.keys(queue).slot)
        except SlotNotCoveredError:
            return None
        return str(node.name)

    def rows_call(self, queue: str, states: Sequence[str], start: int, end: int, asc: bool, preview: int) -> Call:
        names = [state_key(s) for s in states]
        return script_call("job_rows", self.keys(queue), preview, "range", start, end, "1" if asc else "0", *names)

    def rows_by_id_call(self, queue: str, job_ids: Sequence[str], preview: int) -> Call:
        """Ids that cannot name a job (``meta``, ``1:lock``: see ``check_job_id``) are not sent, so they
        come back as not found: a page asked for such an id answers 404 rather than failing."""
        return script_call("job_rows", self.keys(queue), preview, "ids", *(i for i in job_ids if is_job_id(i)))

    def limiter_call(self, queue: str) -> Call:
        """Jobs started in the limiter's open window: with ``get_counts``'s TTL, whether it is full."""
        return command("GET", self.keys(queue).limiter)

    def _base(self, queue: str) -> tuple[str, int | str | None] | None:
        """The queue's key base and the group of queues it is read with: its hash slot on a cluster, its
        hash tag elsewhere; None for a queue ``keys`` refuses."""
        found = self._bases.get(queue)
        if found is None:
            if self.refusal(queue) is not None:
                return None
            keys = self.keys(queue)
            group = hash_tag(keys.base) if self.cluster_runner is None else keys.slot
            found = self._bases[queue] = (keys.base, group)
        return found

    def _summary_chunks(self, queues: Sequence[str]) -> list[list[str]]:
        """``queues`` in the calls of ``summaries_calls``: on a cluster by hash slot (a script reads the
        keys of its own slot only), then ``SUMMARY_CHUNK`` at a time; refused queues left out."""
        groups: dict[int | str | None, list[str]] = {}
        for queue in queues:
            found = self._base(queue)
            if found is not None:
                groups.setdefault(found[1], []).append(queue)
        return [names[i : i + SUMMARY_CHUNK] for names in groups.values() for i in range(0, len(names), SUMMARY_CHUNK)]

    def summaries_calls(self, queues: Sequence[str], *, marks: bool = False, metrics_minutes: int = 0) -> list[Call]:
        """``queue_summaries.lua`` over ``queues``: one call per hash slot and ``SUMMARY_CHUNK`` queues. Read
        the replies with ``parse_summaries`` (same ``queues``, same ``marks``)."""
        states: tuple[str, ...] = () if marks else SUMMARY_STATES
        head = ("marks" if marks else "figures", metrics_minutes, len(states), *states)
        return [
            Call(script("queue_summaries"), (self.keys(chunk[0]).meta,), (*head, *(self._bases[q][0] for q in chunk)))
            for chunk in self._summary_chunks(queues)
        ]

    def parse_summaries(
        self, queues: Sequence[str], replies: Sequence[Any], *, clients: Any = None
    ) -> list[QueueStatus]:
        """The replies of ``summaries_calls`` (figures) as one ``QueueStatus`` a queue, in the order of
        ``queues`` (a refused queue's ``error`` says why). ``clients``: CLIENT LIST's reply for the
        workers (see ``workers_of``)."""
        items: dict[str, Any] = {}
        for chunk, reply in zip(self._summary_chunks(queues), replies, strict=True):
            items.update(zip(chunk, self._summary_items(reply, len(chunk)), strict=True))
        workers = self.workers_of(queues, clients) if clients is not None else None
        out = []
        for queue in queues:
            item = items.get(queue)
            status = self._parse_figures_item(queue, self.refusal(queue) if item is None else item)
            if workers is not None:
                status.workers = workers[queue]
            out.append(status)
        return out

    @staticmethod
    def _summary_items(reply: Any, n: int) -> list[Any]:
        """One item a queue; a call that failed whole (Redis unreachable mid-way, a script refused) makes
        each of its queues fail with it."""
        if isinstance(reply, list) and len(reply) == n:
            return reply
        return [str(reply) if isinstance(reply, Exception) else "unexpected reply"] * n

    @staticmethod
    def _parse_figures_item(queue: str, item: Any) -> QueueStatus:
        status = QueueStatus(queue)
        n = len(SUMMARY_STATES)
        if not isinstance(item, list) or len(item) != n + _FIGURES_AFTER_COUNTS:
            status.error = str(item)
            return status
        status.counts = dict(zip(SUMMARY_STATES, item[:n], strict=True))
        paused, concurrency, max_jobs, duration, ttl, started, schedulers, found, version, metrics = item[n:]
        status.paused = paused == 1
        status.global_concurrency = _int_or_none(concurrency)
        status.rate_limit_max = _int_or_none(max_jobs)
        status.rate_limit_duration_ms = _int_or_none(duration)
        status.limiter_ttl_ms = max(0, int(ttl))
        status.limiter_count = _int_or_none(started) if status.limiter_ttl_ms else None
        status.schedulers = schedulers if isinstance(schedulers, int) else 0
        status.exists = found == 1
        status.version = str(version)
        if metrics == 0:
            status.metrics = {}
        elif isinstance(metrics, list) and len(metrics) == 6:
            try:
                status.metrics = {"completed": parse_metrics(metrics[:3]), "failed": parse_metrics(metrics[3:])}
            except (TypeError, IndexError, ValueError) as exc:
                status.metrics_error = str(exc)
        elif isinstance(metrics, str):
            status.metrics_error = metrics
        return status

    async def marks(self, queues: Sequence[str]) -> list[Marks]:
        """Whether each queue is paused and rate limited, in one round trip and one reply per
        ``SUMMARY_CHUNK`` queues: cheap enough for every page's navigation. A queue Redis refused to read
        (a key of another type) has no marks."""
        if not queues:
            return []
        replies = await self.runner.batch(self.summaries_calls(queues, marks=True))
        found: dict[str, Marks] = {}
        for chunk, reply in zip(self._summary_chunks(queues), replies, strict=True):
            for queue, item in zip(chunk, self._summary_items(reply, len(chunk)), strict=True):
                if isinstance(item, list) and len(item) == _MARKS:
                    paused, max_jobs, ttl, started = item
                    limited = ttl > 0 and is_rate_limited(ttl, _int_or_none(max_jobs), _int_or_none(started))
                    found[queue] = Marks(queue, paused == 1, limited)
                else:
                    found[queue] = Marks(queue)
        return [found.get(queue) or Marks(queue) for queue in queues]

    def schedulers_count_call(self, queue: str) -> Call:
        return command("ZCARD", self.keys(queue).repeat)

    def schedulers_call(self, queue: str, start: int, end: int, *, asc: bool = True) -> Call:
        """Schedulers ``start`` to ``end`` in order of next run (soonest first when ``asc``): read with
        ``parse_schedulers``."""
        return script_call("job_schedulers", self.keys(queue), "range", start, end, "1" if asc else "0")

    def schedulers_by_id_call(self, queue: str, scheduler_ids: Sequence[str]) -> Call:
        return script_call("job_schedulers", self.keys(queue), "ids", *scheduler_ids)

    @staticmethod
    def parse_schedulers(reply: Any) -> list[JobScheduler]:
        """The schedulers of a ``job_schedulers`` reply; raises the error Redis answered instead."""
        if isinstance(reply, Exception):
            raise reply
        return [
            parse_scheduler(
                str(reply[i]),
                {str(k): str(v) for k, v in zip(reply[i + 2][::2], reply[i + 2][1::2], strict=True)},
                reply[i + 1],
            )
            for i in range(0, len(reply), 3)
        ]

    def flow_call(
        self,
        queue: str,
        job_id: str,
        *,
        depth: int = 4,
        per_node: int = 20,
        nodes: int = 200,
        parents: int = 8,
        scan: int = 1000,
    ) -> Call:
        """The flow around a job within bounds (``flow_tree.lua``): read with ``parse_flow``."""
        return script_call("flow_tree", self.keys(queue), job_id, self.prefix, depth, per_node, nodes, parents, scan)

    @staticmethod
    def parse_flow(reply: Any) -> Flow | None:
        """None when the job is not there (or Redis refused the read: the page then shows no flow)."""
        if not isinstance(reply, list) or len(reply) < 3:
            return None
        current, cut, *rows = reply
        nodes = [
            FlowNode(str(key), int(parent) - 1, str(state), str(name), Children(*(int(n) for n in counts)))
            for key, parent, state, name, *counts in rows
        ]
        return Flow(int(current) - 1, bool(cut), nodes)

    def children_counts_call(self, queue: str, states: Sequence[str], start: int, end: int, asc: bool) -> Call:
        """The children of the flow parents in the same range as ``rows_call``: read with ``parse_children``."""
        names = [state_key(s) for s in states]
        return script_call("children_counts", self.keys(queue), start, end, "1" if asc else "0", *names)

    @staticmethod
    def parse_children(reply: Any) -> dict[str, Children]:
        """Job id -> its children, for the parents among the range; {} when Redis refused the read."""
        if not isinstance(reply, list):
            return {}
        return {str(reply[i]): Children(*(int(n) for n in reply[i + 1])) for i in range(0, len(reply) - 1, 2)}

    def parse_status(
        self, queue: str, reply: Any, exists: Any, clients: Any, *, limiter: Any = None, schedulers: Any = None
    ) -> QueueStatus:
        """``clients``: CLIENT LIST's text, or its rows already parsed (when many queues share it);
        ``limiter`` and ``schedulers``: the replies to ``limiter_call`` and ``schedulers_count_call``."""
        status = QueueStatus(queue)
        if isinstance(reply, Exception):
            status.error = str(reply)
            return status
        counts, paused, concurrency, max_jobs, duration, ttl, version = reply
        status.counts = dict(zip(STATES, (int(n) for n in counts), strict=True))
        status.paused = bool(paused)
        status.global_concurrency = _int_or_none(concurrency)
        status.rate_limit_max = _int_or_none(max_jobs)
        status.rate_limit_duration_ms = _int_or_none(duration)
        status.limiter_ttl_ms = max(0, int(ttl))
        status.limiter_count = _int_or_none(limiter) if status.limiter_ttl_ms else None
        status.schedulers = schedulers if isinstance(schedulers, int) else 0
        status.version = str(version)
        status.exists = not isinstance(exists, int) or exists > 0
        rows = parse_client_list(clients) if isinstance(clients, str) else clients
        if isinstance(rows, list):
            base = self.keys(queue).client_name()
            status.workers = [
                row for row in rows if row.get("name") == base or row.get("name", "").startswith(base + ":w:")
            ]
        return status

    # One round trip each
    async def statuses(
        self, queues: Sequence[str], *, workers: bool = True, metrics_minutes: int = 0
    ) -> list[QueueStatus]:
        """Every queue's figures (its counts of ``SUMMARY_STATES``, its workers, and its last
        ``metrics_minutes`` of job metrics), from one reply per ``SUMMARY_CHUNK`` queues."""
        if not queues:
            return []
        calls = self.summaries_calls(queues, metrics_minutes=metrics_minutes)
        if workers:
            replies, clients = await self.batch_and_clients(calls)
        else:
            replies, clients = await self.runner.batch(calls), None
        return self.parse_summaries(queues, replies, clients=clients if isinstance(clients, str | dict) else None)

    # How many calls ``status_calls`` makes.
    STATUS_CALLS = 4

    def status_calls(self, queue: str) -> list[Call]:
        """Everything ``parse_statuses`` reads of one queue, to send in a larger pipeline."""
        return [
            self.status_call(queue),
            self.exists_call(queue),
            self.limiter_call(queue),
            self.schedulers_count_call(queue),
        ]

    def parse_statuses(self, queue: str, replies: Sequence[Any], clients: Any) -> QueueStatus:
        status, exists, limiter, schedulers = replies
        return self.parse_status(queue, status, exists, clients, limiter=limiter, schedulers=schedulers)

    async def rows(
        self, queue: str, states: Sequence[str], start: int, end: int, *, asc: bool = False, preview: int = 300
    ) -> list[JobRow]:
        return _rows(await self.runner.call(self.rows_call(queue, states, start, end, asc, preview)))

    async def job(self, queue: str, job_id: str, *, preview: int = 0) -> JobRow | None:
        job_id = check_job_id(job_id)
        found = _rows(await self.runner.call(self.rows_by_id_call(queue, [job_id], preview)))
        return found[0] if found else None

    @staticmethod
    def parse_rows(reply: Any) -> list[JobRow]:
        if isinstance(reply, Exception):
            raise reply
        return _rows(reply)

    async def discover(self, *, limit: int = 10_000) -> list[str]:
        """Queue names under the prefix, from a bounded SCAN for ``<prefix>:*:meta`` and ``:id`` keys (on a
        cluster, of every primary, each with its own cursor; the bound is shared)."""
        found: set[str] = set()
        scanned = 0
        for pattern, suffix in ((f"{self.prefix}:*:meta", ":meta"), (f"{self.prefix}:*:id", ":id")):
            cursors: dict[str, str] | None = None
            while True:
                replies = await self._scan(pattern, cursors)
                cursors = {}
                for node, (cursor, keys) in replies.items():
                    for key in keys:
                        name = queue_name_from_meta_key(str(key)[: -len(suffix)] + ":meta", self.prefix)
                        if name:
                            found.add(name)
                    if str(cursor) != "0":
                        cursors[node] = str(cursor)
                scanned += SCAN_COUNT * len(replies)
                if not cursors or scanned >= limit * 100:
                    break
        return sorted(found)[:limit]

    async def _scan(self, pattern: str, cursors: dict[str, str] | None) -> dict[str, Any]:
        """One SCAN step on each node whose cursor is in ``cursors`` (None: the first step, on every
        primary), at the same time; the replies by node. Raises when a node does not answer: a list
        missing that node's queues would read as queues gone."""

        def scan(cursor: str) -> Call:
            return command("SCAN", cursor, "MATCH", pattern, "COUNT", SCAN_COUNT)

        if self.cluster_runner is None:
            return {"": await self.runner.call(scan("0" if cursors is None else cursors[""]))}
        if cursors is None:
            replies = await self.cluster_runner.on_nodes(scan("0"))
            failed = next((r for r in replies.values() if isinstance(r, Exception)), None)
            if failed is not None:
                raise failed
            return replies
        cluster = self.cluster_runner
        names = list(cursors)
        return dict(
            zip(names, await asyncio.gather(*(cluster.on_node(n, scan(cursors[n])) for n in names)), strict=True)
        )

    async def field_size(self, queue: str, job_id: str, name: str) -> int | None:
        """The size in bytes of one field of a job (0 when it has none); None when no job hash is there.
        Typed first: a key of another type where a job belongs is no job."""
        key = self.keys(queue).job(check_job_id(job_id))
        kind, size = await self.runner.batch([command("TYPE", key), command("HSTRLEN", key, name)])
        return int(size) if str(kind) == "hash" and isinstance(size, int) else None

    async def field(self, queue: str, job_id: str, name: str) -> str | None:
        """One field of a job, whole (see ``field_size`` before reading one that may be large)."""
        value = await self.runner.call(command("HGET", self.keys(queue).job(check_job_id(job_id)), name))
        return None if value is None else str(value)

    async def holding(self, job_id: str, queues: Sequence[str]) -> list[str]:
        """The queues among ``queues`` that hold a job with this id, in one round trip."""
        if self.cluster_runner is not None:
            queues = [q for q in queues if self.refusal(q) is None]
        if not queues or not is_job_id(job_id):
            return []
        kinds = await self.runner.batch([command("TYPE", self.keys(q).job(job_id)) for q in queues])
        return [q for q, kind in zip(queues, kinds, strict=True) if str(kind) == "hash"]

    async def ping(self) -> None:
        """Returns when Redis (every primary of a cluster) answers; raises the engine's connection errors
        when it does not."""
        if self.cluster_runner is None:
            await self.runner.call(command("PING"))
            return
        for reply in (await self.cluster_runner.on_nodes(command("PING"))).values():
            if isinstance(reply, Exception):
                raise reply

    async def server_info(self) -> dict[str, dict[str, str] | Exception]:
        """INFO's fields by server: the Redis's (one entry), or each primary's of a cluster, by node name
        (``host:port``), or the error of a primary that did not answer."""
        replies = await self.runner.on_nodes(command("INFO"))
        return {node: reply if isinstance(reply, Exception) else _info(str(reply)) for node, reply in replies.items()}


def _info(text: str) -> dict[str, str]:
    info: dict[str, str] = {}
    for line in text.splitlines():
        if ":" in line and not line.startswith("#"):
            key, _, value = line.partition(":")
            info[key] = value
    return info


__all__ = ["STATES", "Children", "Flow", "FlowNode", "Inspector", "JobRow", "Marks", "QueueStatus", "is_rate_limited"]
