"""A job's stored options (BullMQ's names, milliseconds) back into the options ``Queue.add`` takes (Python
names, seconds): to duplicate a job, or to save a job scheduler's template again when its schedule is edited."""

from __future__ import annotations

from typing import Any

# The stored options ``add_options`` carries over; those a scheduler sets on each run of its own.
CARRIED = frozenset(
    {"attempts", "backoff", "delay", "priority", "lifo", "removeOnComplete", "removeOnFail", "kl", "stackTraceLimit"}
)
SET_PER_RUN = frozenset({"jobId", "delay", "timestamp", "repeat", "repeatJobKey", "prevMillis"})


def add_options(opts: dict[str, Any]) -> dict[str, Any]:
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


def template_options(opts: dict[str, Any]) -> dict[str, Any]:
    """A scheduler template's stored options as ``upsert_job_scheduler`` takes them; ValueError naming the
    options it cannot carry over, so that saving a new schedule never drops part of the template."""
    lost = sorted(set(opts) - CARRIED - SET_PER_RUN)
    if lost:
        raise ValueError(f"its template has options the board cannot carry over ({', '.join(lost)})")
    out = add_options(opts)
    out.pop("delay", None)
    return out


__all__ = ["CARRIED", "SET_PER_RUN", "add_options", "template_options"]
