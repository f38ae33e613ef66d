"""``Inspector``: reads many queues at once, for dashboards.

Each method is one round trip to Redis whatever the number of queues or jobs: the per-queue scripts go
out as one pipeline. Large fields are cut inside Redis (``job_rows.lua``), so a page of jobs never
ships a full payload. Errors of one queue (a hash another program wrote badly, a wrong key type) come
back as that queue's error instead of failing the whole read. An id listed in a state whose key is not
a hash comes back as a row holding only the key's type, which ``JobRecord`` names in its ``problems``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aredis

from .connection import Call, Connection, async_client, close_client, command, is_ours, runner_for, script_call
from .job import key_type_problem
from .keys import QueueKeys, check_job_id, is_job_id, queue_name_from_meta_key
from .ops import STATES, parse_client_list
from .schedulers import JobScheduler, parse_scheduler
from .states import state_key


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

    @property
    def rate_limited(self) -> bool:
        """Workers wait ``limiter_ttl_ms`` before taking a job: the limiter's window is open and full.

        As BullMQ's ``getRateLimitTtl``: without a global limit the queue's own maximum is unknown (it is
        each worker's), so an open window counts as limited, as a manual ``rateLimit(ms)`` does."""
        if self.limiter_ttl_ms <= 0:
            return False
        if self.rate_limit_max is None or self.limiter_count is None:
            return True
        return self.limiter_count >= self.rate_limit_max


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
    def __init__(self, connection: Connection | None = None, *, prefix: str = "bull") -> None:
        self.prefix = prefix
        self.client = (
            connection if isinstance(connection, aredis.Redis) and is_ours(connection) else async_client(connection)
        )
        self.runner = runner_for(self.client)
        self._keys: dict[str, QueueKeys] = {}

    def keys(self, queue: str) -> QueueKeys:
        keys = self._keys.get(queue)
        if keys is None:
            keys = self._keys[queue] = QueueKeys(self.prefix, queue)
        return keys

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

    @staticmethod
    def client_list_call() -> Call:
        return command("CLIENT", "LIST")

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

    def marks_calls(self, queue: str) -> list[Call]:
        """Whether a queue is paused and rate limited, and nothing more: three plain commands, cheap
        enough for every page's navigation. Read with ``parse_marks``."""
        keys = self.keys(queue)
        return [command("HMGET", keys.meta, "paused", "max"), command("PTTL", keys.limiter), self.limiter_call(queue)]

    @staticmethod
    def parse_marks(queue: str, replies: Sequence[Any]) -> QueueStatus:
        """A ``QueueStatus`` with only ``paused`` and what ``rate_limited`` needs (its ``error`` set when
        Redis refused a read: a key of another type, another program's doing)."""
        status = QueueStatus(queue)
        failed = next((reply for reply in replies if isinstance(reply, Exception)), None)
        if failed is not None:
            status.error = str(failed)
            return status
        (paused, max_jobs), ttl, limiter = replies
        status.paused = paused is not None
        status.rate_limit_max = _int_or_none(max_jobs)
        status.limiter_ttl_ms = max(0, int(ttl))
        status.limiter_count = _int_or_none(limiter) if status.limiter_ttl_ms else None
        return status

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
    async def statuses(self, queues: Sequence[str], *, workers: bool = True) -> list[QueueStatus]:
        calls: list[Call] = []
        for queue in queues:
            calls += self.status_calls(queue)
        if workers:
            calls.append(self.client_list_call())
        replies = await self.runner.batch(calls)
        clients = replies[-1] if workers else None
        if isinstance(clients, str):
            clients = parse_client_list(clients)
        step = self.STATUS_CALLS
        return [self.parse_statuses(q, replies[step * i : step * (i + 1)], clients) for i, q in enumerate(queues)]

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
        """Queue names under the prefix, from a bounded SCAN for ``<prefix>:*:meta`` and ``:id`` keys."""
        found: set[str] = set()
        scanned = 0
        for pattern, suffix in ((f"{self.prefix}:*:meta", ":meta"), (f"{self.prefix}:*:id", ":id")):
            cursor = "0"
            while True:
                cursor, keys = await self.runner.call(command("SCAN", cursor, "MATCH", pattern, "COUNT", 1000))
                for key in keys:
                    name = queue_name_from_meta_key(str(key)[: -len(suffix)] + ":meta", self.prefix)
                    if name:
                        found.add(name)
                scanned += 1000
                if str(cursor) == "0" or scanned >= limit * 100:
                    break
        return sorted(found)[:limit]

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
        if not queues or not is_job_id(job_id):
            return []
        kinds = await self.runner.batch([command("TYPE", self.keys(q).job(job_id)) for q in queues])
        return [q for q, kind in zip(queues, kinds, strict=True) if str(kind) == "hash"]

    async def ping(self) -> None:
        """Returns when Redis answers; raises the engine's connection errors when it does not."""
        await self.runner.call(command("PING"))

    async def server_info(self) -> dict[str, str]:
        text = await self.runner.call(command("INFO"))
        info: dict[str, str] = {}
        for line in str(text).splitlines():
            if ":" in line and not line.startswith("#"):
                key, _, value = line.partition(":")
                info[key] = value
        return info


__all__ = ["STATES", "Children", "Flow", "FlowNode", "Inspector", "JobRow", "QueueStatus"]
