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


# BullMQ's JobsOptions as a form or a script writes them (times in ms), and the ``Queue.add`` option each
# becomes; ``delay``, ``attempts``, ``backoff``, ``priority`` and ``lifo`` keep their names.
BULLMQ_RENAMED = {
    "jobId": "job_id",
    "removeOnComplete": "remove_on_complete",
    "removeOnFail": "remove_on_fail",
    "keepLogs": "keep_logs",
    "stackTraceLimit": "stack_trace_limit",
}
BULLMQ_NAMES = frozenset({*BULLMQ_RENAMED, "delay", "attempts", "backoff", "priority", "lifo", "deduplication"})
# Far beyond any real setting (100 years), and still exact as a JavaScript number once added to now.
MAX_MS = 100 * 36525 * 864 * 1000
DEDUP_RENAMED = {"keepLastIfActive": "keep_last_if_active"}


def _seconds_of_ms(value: Any, option: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= MAX_MS:
        raise ValueError(f"{option}: expected milliseconds, a number from 0 to {MAX_MS:,}, got {value!r:.80}")
    return value / 1000


def _backoff(value: Any) -> Any:
    if isinstance(value, dict):
        out = dict(value)
        if "delay" in out:
            out["delay"] = _seconds_of_ms(out["delay"], "backoff.delay")
        return out
    return _seconds_of_ms(value, "backoff") if isinstance(value, int | float) and not isinstance(value, bool) else value


def _deduplication(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    out = {DEDUP_RENAMED.get(k, k): v for k, v in value.items()}
    if out.get("ttl") is not None:
        out["ttl"] = _seconds_of_ms(out["ttl"], "deduplication.ttl")
    return out


def from_bullmq(options: dict[str, Any]) -> dict[str, Any]:
    """Options in BullMQ's names and units as ``Queue.add`` takes them: ``delay``, ``backoff`` and
    ``deduplication.ttl`` in milliseconds become seconds; the snake_case names of ``Queue.add`` pass as
    they are. ValueError naming the option for a wrong value or one given under both names."""
    out: dict[str, Any] = {}
    for name, value in options.items():
        target = BULLMQ_RENAMED.get(name, name)
        if target in out:
            raise ValueError(f"{name}: given twice, under two names")
        out[target] = value
    if out.get("delay") is not None:
        out["delay"] = _seconds_of_ms(out["delay"], "delay")
    if out.get("backoff") is not None:
        out["backoff"] = _backoff(out["backoff"])
    if out.get("deduplication") is not None:
        out["deduplication"] = _deduplication(out["deduplication"])
    return out


def form_options(opts: dict[str, Any]) -> dict[str, Any]:
    """A job's stored options as the add form shows them to copy it: BullMQ's names and units, without
    what belongs to the original alone (its id, deduplication, parent, scheduler)."""
    out: dict[str, Any] = {}
    for name in ("delay", "attempts", "backoff", "priority", "lifo", "removeOnComplete", "removeOnFail"):
        if opts.get(name) not in (None, 0, False):
            out[name] = opts[name]
    if opts.get("kl") is not None:
        out["keepLogs"] = opts["kl"]
    if opts.get("stackTraceLimit") is not None:
        out["stackTraceLimit"] = opts["stackTraceLimit"]
    if isinstance(out.get("backoff"), dict):
        out["backoff"] = {k: v for k, v in out["backoff"].items() if k in ("type", "delay", "jitter")}
    return out


__all__ = [
    "BULLMQ_NAMES",
    "BULLMQ_RENAMED",
    "CARRIED",
    "SET_PER_RUN",
    "add_options",
    "form_options",
    "from_bullmq",
    "template_options",
]
