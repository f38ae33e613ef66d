"""``FlowProducer``: adds a flow, a tree of jobs across queues of one prefix, in one Redis call.

A parent waits in ``waiting-children`` until every child is done, then runs and reads its children's
return values with ``await job.get_children_values()``; children may have children of their own. The
jobs are written as BullMQ's ``FlowProducer`` writes them (``lua/add_flow.lua``), so Node's workers can
run ours and ours Node's.

A node of the tree is a mapping: ``name`` and ``queue_name`` (required), ``data``, ``children`` (a list
of nodes), any option of ``Queue.add`` but ``deduplication`` (BullMQ refuses it on jobs with a parent or
children), and, on a child, what its failure for good does to its parent (at most one, stored in BullMQ's
short names):

- ``fail_parent_on_failure`` (``fpof``): the parent fails too, with "child <key> failed";
- ``ignore_dependency_on_failure`` (``idof``): the parent runs once its other children are done, and
  finds the failure in ``get_ignored_children_failures()``;
- ``remove_dependency_on_failure`` (``rdof``): the same, without a record of the failure;
- ``continue_parent_on_failure`` (``cpof``): the parent runs at once, with the failure recorded;
- none: the parent keeps waiting (retry the child to go on).

A flow holds at most ``MAX_FLOW_JOBS`` jobs, ``MAX_FLOW_DEPTH`` levels deep; a larger one is refused with
``ValueError`` before anything is written, as is any bad option (named with the job's place in the tree).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Generic, TypeVar

from . import ops
from .codes import error_for
from .connection import Connection, Op, script_call
from .errors import OutcomeUnknown, RedisRefused, RedisUnavailable
from .job import Job, JobRecord, SyncJob
from .keys import QueueKeys, check_cluster_queue, hash_tag
from .options import AddSpec, backoff_types_option, build_add, dump_json
from .queue import Queue
from .routing import (
    close_client,
    engine_client,
    is_cluster,
    is_sync_cluster,
    runner_for,
    sync_engine_client,
    sync_runner_for,
)
from .sync_queue import SyncQueue

# Bounds of one flow: its jobs go to Redis in one script call, which blocks Redis while it runs (some
# 16 ms for 1,000 jobs, by SLOWLOG), and removing a parent walks its tree depth first.
MAX_FLOW_JOBS = 5_000
MAX_FLOW_DEPTH = 100
# A child's failure options -> the flags BullMQ stores in its opts and its parent field.
CHILD_OPTIONS = {
    "fail_parent_on_failure": "fpof",
    "continue_parent_on_failure": "cpof",
    "ignore_dependency_on_failure": "idof",
    "remove_dependency_on_failure": "rdof",
}
_NODE_KEYS = frozenset({"name", "queue_name", "data", "children"})

JobT = TypeVar("JobT", bound=JobRecord)


@dataclass
class JobNode(Generic[JobT]):
    """A job of an added flow and its children (BullMQ's ``JobNode``)."""

    job: JobT
    children: list[JobNode[JobT]] = field(default_factory=list)


@dataclass
class PlannedJob:
    """One job of a flow, checked and ready for ``add_flow.lua``."""

    keys: QueueKeys
    spec: AddSpec
    job_id: str
    parent: int  # index in the plan, -1 for the root
    parent_key: str
    parent_field: str  # the child's "parent" hash field (JSON), "" for the root
    has_children: bool


def _where(path: str, node: Any) -> str:
    name = node.get("name") if isinstance(node, Mapping) else None
    return f"flow job {path}" + (f" ({name!r})" if isinstance(name, str) else "")


def _child_flags(node: Mapping[str, Any], is_child: bool) -> dict[str, bool]:
    flags: dict[str, bool] = {}
    for option, flag in CHILD_OPTIONS.items():
        value = node.get(option, False)
        if not isinstance(value, bool):
            raise ValueError(f"{option}: expected True or False, got {value!r}")
        if value:
            flags[flag] = True
    if flags and not is_child:
        raise ValueError(f"{', '.join(o for o in CHILD_OPTIONS if node.get(o))}: only a child has a parent")
    if len(flags) > 1:
        # As BullMQ's validateOptions: each says something else about the same failure.
        raise ValueError(f"{', '.join(o for o in CHILD_OPTIONS if node.get(o))}: cannot be used together")
    return flags


def _children(node: Mapping[str, Any]) -> Sequence[Any]:
    children = node.get("children") or ()
    if isinstance(children, str | bytes | Mapping) or not isinstance(children, Sequence):
        raise ValueError(f"children: expected a list of jobs, got {children!r}")
    return children


def _plan_one(
    node: Any, parent: PlannedJob | None, parent_index: int, prefix: str, now: int, backoff_types: Collection[str]
) -> PlannedJob:
    if not isinstance(node, Mapping):
        raise ValueError(f"expected a dict with 'name' and 'queue_name', got {node!r}")
    queue_name = node.get("queue_name")
    if not isinstance(queue_name, str):
        raise ValueError(f"queue_name: expected a queue name, got {queue_name!r}")
    keys = QueueKeys(prefix, queue_name)
    options = {k: v for k, v in node.items() if k not in _NODE_KEYS and k not in CHILD_OPTIONS}
    if "deduplication" in options:
        raise ValueError("deduplication: not available in a flow (BullMQ refuses it on jobs with a parent or children)")
    flags = _child_flags(node, parent is not None)
    spec = build_add(node.get("name"), node.get("data"), options, now, backoff_types)
    job_id = spec.job_id or str(uuid.uuid4())
    parent_key = parent_field = ""
    if parent is not None:
        opts = {**(spec.opts_value or {}), **flags, "parent": {"id": parent.job_id, "queue": parent.keys.queue_key}}
        spec = replace(spec, opts=dump_json(opts, "job options"), opts_value=opts)
        parent_key = parent.keys.job(parent.job_id)
        parent_field = dump_json({"id": parent.job_id, "queueKey": parent.keys.queue_key, **flags}, "parent")
    return PlannedJob(keys, spec, job_id, parent_index, parent_key, parent_field, bool(_children(node)))


def plan_flow(tree: Any, prefix: str, now: int, backoff_types: Collection[str] = ()) -> list[PlannedJob]:
    """The jobs of ``tree``, parents before their children, checked; ``ValueError`` or ``TypeError`` (data
    that is not JSON) naming the first bad job's place (``root``, ``root.children[2]``, ...)."""
    plan: list[PlannedJob] = []
    seen: set[str] = set()
    # Depth first, without recursion: a deep tree cannot reach Python's recursion limit.
    stack: list[tuple[Any, int, str, int]] = [(tree, -1, "root", 1)]
    while stack:
        node, parent_index, path, depth = stack.pop()
        if len(plan) >= MAX_FLOW_JOBS:
            raise ValueError(f"flow: more than {MAX_FLOW_JOBS} jobs; add it in parts (each part one flow)")
        if depth > MAX_FLOW_DEPTH:
            raise ValueError(f"flow: deeper than {MAX_FLOW_DEPTH} levels, at {path}")
        parent = plan[parent_index] if parent_index >= 0 else None
        try:
            job = _plan_one(node, parent, parent_index, prefix, now, backoff_types)
        except (ValueError, TypeError) as exc:
            raise type(exc)(f"{_where(path, node)}: {exc}") from None
        key = job.keys.job(job.job_id)
        if key in seen:
            raise ValueError(f"{_where(path, node)}: job_id {job.job_id!r} is used twice in the flow")
        seen.add(key)
        plan.append(job)
        children = _children(node)
        for i in reversed(range(len(children))):
            stack.append((children[i], len(plan) - 1, f"{path}.children[{i}]", depth + 1))
    return plan


def check_flow_slots(plan: Sequence[PlannedJob]) -> None:
    """On a Redis Cluster a flow is written by one script, which reaches the keys of one hash slot only
    (BullMQ's rule too: its flows are one MULTI): ``ValueError`` naming the first job of another slot,
    before anything is sent."""
    root = plan[0].keys
    check_cluster_queue(root.prefix, root.name)
    for job in plan[1:]:
        check_cluster_queue(job.keys.prefix, job.keys.name)
        if job.keys.slot != root.slot:
            raise ValueError(
                f"flow job {job.spec.name!r} of queue {job.keys.name!r} is in another hash slot of the cluster "
                f"than the flow's root (queue {root.name!r}): a flow's queues must share a hash tag, as "
                f"'{{{hash_tag(root.base)}}}-{job.keys.name.strip('{}')}' or a prefix with a hash tag"
            )


def add_flow(plan: Sequence[PlannedJob], now: int) -> Op[list[int]]:
    """Writes the planned jobs in one script call; returns the indexes of those whose id existed already
    (kept as they were). Not sent again after a lost reply (``OutcomeUnknown``): a child that completed
    in between and was removed on completion would be created again, and run twice."""
    args: list[Any] = [now, ops.VERSION, len(plan)]
    for job in plan:
        spec = job.spec
        args += [job.keys.base, job.job_id, spec.name, spec.data, spec.opts, spec.timestamp, spec.delay]
        args += [spec.priority, "1" if spec.lifo else "0", job.parent_key, job.parent_field]
        args.append("1" if job.has_children else "0")
    code, found = yield script_call("add_flow", plan[0].keys, *args, repeatable=False)
    if int(code) < 0:
        refused = plan[int(found) - 1]
        raise error_for(int(code), action="add", queue=refused.keys.name, job_id=refused.job_id)
    return [int(i) - 1 for i in found]


def flow_outcome_unknown(exc: OutcomeUnknown, plan: Sequence[PlannedJob]) -> OutcomeUnknown:
    """The error of a flow whose reply was lost, naming its root job and how to find out."""
    root = plan[0]
    cause = exc.__cause__ or exc
    return OutcomeUnknown(
        f"the flow of {len(plan)} jobs under {root.spec.name!r} (job {root.job_id!r} of queue "
        f"{root.keys.name!r}) may or may not have been written: the connection to Redis failed after the "
        f"request was sent ({cause}). It was not sent again, because a child that completed in between "
        "and was removed on completion would be created again and run twice. Look for the root job "
        "before adding the flow again."
    )


def known_fields(job: PlannedJob) -> tuple[dict[str, str], dict[str, Any]]:
    """The hash a new flow job gets and its attributes, for building it without reading it back."""
    fields, known = ops.spec_fields(job.spec), job.spec.known_fields()
    if job.parent_key:
        fields |= {"parentKey": job.parent_key, "parent": job.parent_field}
        known |= {"parent_key": job.parent_key, "parent": json.loads(job.parent_field)}
    return fields, known


def tree_of(plan: Sequence[PlannedJob], jobs: Sequence[JobT]) -> JobNode[JobT]:
    nodes = [JobNode(job) for job in jobs]
    for planned, node in zip(plan, nodes, strict=True):
        if planned.parent >= 0:
            nodes[planned.parent].children.append(node)
    return nodes[0]


def _by_queue(plan: Sequence[PlannedJob], indexes: Iterable[int]) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {}
    for i in indexes:
        groups.setdefault(plan[i].keys.name, []).append(i)
    return groups


class FlowProducer:
    """Adds flows to the queues of one ``prefix`` (BullMQ's ``FlowProducer``). ``connection``: a Redis URL
    or a redis client (its settings are used), as for ``Queue``; ``backoff_types`` as for ``Queue``."""

    def __init__(
        self,
        connection: Connection | None = None,
        *,
        prefix: str = "bull",
        backoff_types: Iterable[str] | None = None,
    ) -> None:
        QueueKeys(prefix, "flow")  # checks the prefix now rather than at the first add
        self.prefix = prefix
        self.backoff_types = backoff_types_option(backoff_types)
        self.client = engine_client(connection)
        self.cluster = is_cluster(self.client)
        self._runner = runner_for(self.client)
        self._queues: dict[str, Queue] = {}

    async def __aenter__(self) -> FlowProducer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await close_client(self.client)

    def _queue(self, name: str) -> Queue:
        if name not in self._queues:
            self._queues[name] = Queue(name, self.client, prefix=self.prefix, backoff_types=self.backoff_types)
        return self._queues[name]

    async def add(self, tree: Mapping[str, Any]) -> JobNode[Job]:
        """Adds the flow ``tree`` (see the module's docstring) atomically; returns its jobs as a tree. A
        job whose ``job_id`` exists already is kept as it is (and read back), under its new parent;
        ``JobStateError`` when it is the child of another parent. ``OutcomeUnknown`` when the connection
        failed after the flow was sent: it may or may not be in (it is not sent again)."""
        now = ops.now_ms()
        plan = plan_flow(tree, self.prefix, now, self.backoff_types)
        if self.cluster:
            check_flow_slots(plan)
        try:
            existed = await self._runner.run(add_flow(plan, now))
        except OutcomeUnknown as exc:
            raise flow_outcome_unknown(exc, plan) from exc.__cause__
        jobs = [Job(self._queue(job.keys.name), job.job_id, *known_fields(job)) for job in plan]
        for name, indexes in _by_queue(plan, existed).items():
            queue = self._queue(name)
            try:
                found = await self._runner.run(ops.get_jobs_by_id(queue.keys, [plan[i].job_id for i in indexes]))
            except (RedisUnavailable, RedisRefused):
                # The flow is in: raising now would invite adding it again. The jobs that existed are
                # then described by what this call asked for, not by what is stored.
                continue
            for i, fields in zip(indexes, found, strict=True):
                if fields is not None:
                    jobs[i] = Job(queue, plan[i].job_id, fields)
        return tree_of(plan, jobs)

    def __repr__(self) -> str:
        return f"<FlowProducer {self.prefix}>"


class SyncFlowProducer:
    """The blocking twin of ``FlowProducer``."""

    def __init__(
        self,
        connection: Connection | None = None,
        *,
        prefix: str = "bull",
        backoff_types: Iterable[str] | None = None,
    ) -> None:
        QueueKeys(prefix, "flow")
        self.prefix = prefix
        self.backoff_types = backoff_types_option(backoff_types)
        self.client = sync_engine_client(connection)
        self.cluster = is_sync_cluster(self.client)
        self._runner = sync_runner_for(self.client)
        self._queues: dict[str, SyncQueue] = {}

    def __enter__(self) -> SyncFlowProducer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.client.close()

    def _queue(self, name: str) -> SyncQueue:
        if name not in self._queues:
            self._queues[name] = SyncQueue(name, self.client, prefix=self.prefix, backoff_types=self.backoff_types)
        return self._queues[name]

    def add(self, tree: Mapping[str, Any]) -> JobNode[SyncJob]:
        now = ops.now_ms()
        plan = plan_flow(tree, self.prefix, now, self.backoff_types)
        if self.cluster:
            check_flow_slots(plan)
        try:
            existed = self._runner.run(add_flow(plan, now))
        except OutcomeUnknown as exc:
            raise flow_outcome_unknown(exc, plan) from exc.__cause__
        jobs = [SyncJob(self._queue(job.keys.name), job.job_id, *known_fields(job)) for job in plan]
        for name, indexes in _by_queue(plan, existed).items():
            queue = self._queue(name)
            try:
                found = self._runner.run(ops.get_jobs_by_id(queue.keys, [plan[i].job_id for i in indexes]))
            except (RedisUnavailable, RedisRefused):
                continue  # as in FlowProducer.add
            for i, fields in zip(indexes, found, strict=True):
                if fields is not None:
                    jobs[i] = SyncJob(queue, plan[i].job_id, fields)
        return tree_of(plan, jobs)

    def __repr__(self) -> str:
        return f"<SyncFlowProducer {self.prefix}>"
