"""Flows and dead letters as the board shows them: the tree around a job, read by the engine's ``Inspector``,
and where a dead letter came from, read from its options. Both come from Redis, so neither is trusted."""

from __future__ import annotations

from typing import Any

from ..engine.inspector import Children, Flow
from ..engine.keys import is_job_id
from .base import ChildCounts, DeadLetter, FlowNode


def counts(children: Children) -> ChildCounts:
    return ChildCounts(children.pending, children.done, children.failed, children.ignored)


def split_job_key(key: str, prefix: str) -> tuple[str, str] | None:
    """``<prefix>:<queue>:<id>`` -> (queue, id); None for another prefix or a key that names no job.
    Queue names hold no ':', so the first one after the prefix ends the name; the id may hold more."""
    head = prefix + ":"
    if not key.startswith(head):
        return None
    queue, _, job_id = key[len(head) :].partition(":")
    return (queue, job_id) if queue and is_job_id(job_id) else None


def flow_tree(flow: Flow, prefix: str) -> FlowNode:
    """The tree of a flow read by ``Inspector.flow_call``: its root, each node with its children."""
    built: list[FlowNode] = []
    for index, row in enumerate(flow.nodes):
        where = split_job_key(row.key, prefix)
        node = FlowNode(
            queue=where[0] if where else None,
            id=where[1] if where else None,
            name=row.name,
            state=row.state,
            counts=counts(row.children),
            current=index == flow.current,
        )
        built.append(node)
        # Each node comes after its parent (see flow_tree.lua).
        if 0 <= row.parent < index:
            built[row.parent].children.append(node)
    return built[0]


def find_current(node: FlowNode) -> FlowNode | None:
    stack = [node]
    while stack:
        here = stack.pop()
        if here.current:
            return here
        stack.extend(here.children)
    return None


def _whole(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def dead_letter(opts: dict[str, Any]) -> DeadLetter | None:
    """Where a dead letter came from, from ``opts["deadLetter"]`` (``{"queue", "jobId", "attemptsMade",
    "failedOn"}``); None for a job that is no dead letter. A queue or id that could not be a real one
    (another program's doing) is dropped, never shown as a link."""
    origin = opts.get("deadLetter")
    if not isinstance(origin, dict):
        return None
    queue, job_id = origin.get("queue"), origin.get("jobId")
    if isinstance(job_id, int) and not isinstance(job_id, bool):
        job_id = str(job_id)
    return DeadLetter(
        queue=queue if isinstance(queue, str) and queue and ":" not in queue else None,
        job_id=job_id if isinstance(job_id, str) and is_job_id(job_id) else None,
        attempts_made=_whole(origin.get("attemptsMade")),
        failed_on_ms=_whole(origin.get("failedOn")),
    )


__all__ = ["counts", "dead_letter", "find_current", "flow_tree", "split_job_key"]
