"""Queue operations, written once as generators of Redis calls and run by an async or a sync driver.

Every bulk operation works in bounded batches: a call never touches more than ``BATCH`` jobs, and the
generator loops until the work is done, so no call loads a whole queue.
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any

from .codes import error_for
from .connection import Op, command, script_call
from .errors import OutcomeUnknown
from .keys import QueueKeys
from .options import MAX_PRIORITY, AddSpec, dump_json, to_ms
from .states import ALL_STATES, state_key

BATCH = 1000
# The most adds one add_jobs call carries, and about the most characters of their names, data and
# options: Redis serves no other client during a call, and either bound keeps a call to a few ms (250
# small jobs about 3 ms, 1 MiB of payloads 2 to 5 ms, measured on one core of a small machine). Smaller
# calls cost next to nothing more (a call's own overhead is some 30 us), and all the calls of one
# add_bulk still go in one round trip.
BULK_JOBS = 250
BULK_CHARS = 1 << 20
# The most list entries one remove_job call searches for the children it removes (a few ms of Redis's
# time): a child waiting far down a long list costs that much to find, as in BullMQ, so fewer such children
# go per call.
LIST_SCAN = 100_000
# Key names of every state, in run order: what ``get_jobs`` lists when given no state.
STATES = tuple(s.key for s in ALL_STATES)
VERSION = "board:0.1.0"

JobRow = tuple[str, dict[str, str], str]


def now_ms() -> int:
    return int(time.time() * 1000)


def _pairs(flat: Sequence[str]) -> dict[str, str]:
    return dict(zip(flat[::2], flat[1::2], strict=True))


def _add_call(keys: QueueKeys, spec: AddSpec) -> Any:
    # An add with a custom id is idempotent (an id that exists is returned, nothing is written), so it
    # can be sent again after a lost reply; an add without one would create a second job.
    return script_call(
        "add_job",
        keys,
        spec.job_id,
        spec.name,
        spec.data,
        spec.opts,
        spec.timestamp,
        spec.delay,
        spec.priority,
        "1" if spec.lifo else "0",
        VERSION,
        spec.dedup_id,
        repeatable=bool(spec.job_id),
    )


def add(keys: QueueKeys, spec: AddSpec) -> Op[tuple[str, bool]]:
    job_id, created = yield _add_call(keys, spec)
    return str(job_id), bool(created)


def _bulk_chunks(specs: Sequence[AddSpec]) -> list[Sequence[AddSpec]]:
    """The adds cut in runs of at most ``BULK_JOBS`` jobs and about ``BULK_CHARS`` characters of names,
    data and options (a job larger than that goes in a call of its own)."""
    chunks: list[Sequence[AddSpec]] = []
    start = size = 0
    for i, spec in enumerate(specs):
        weight = len(spec.name) + len(spec.data) + len(spec.opts)
        if i > start and (i - start == BULK_JOBS or size + weight > BULK_CHARS):
            chunks.append(specs[start:i])
            start, size = i, 0
        size += weight
    if start < len(specs):
        chunks.append(specs[start:])
    return chunks


def _add_bulk_call(keys: QueueKeys, chunk: Sequence[AddSpec]) -> Any:
    args: list[Any] = [VERSION]
    for s in chunk:
        args += (s.job_id, s.name, s.data, s.opts, s.timestamp, s.delay, s.priority, "1" if s.lifo else "0", s.dedup_id)
    # As for one add: only adds that all have a custom id can be sent again after a lost reply.
    return script_call("add_jobs", keys, *args, repeatable=all(s.job_id for s in chunk))


def add_bulk(keys: QueueKeys, specs: Sequence[AddSpec]) -> Op[list[tuple[str, bool]]]:
    """Adds the jobs in order, a chunk per ``add_jobs`` call, all chunks in one round trip. Redis runs each
    call on its own: a call that fails (a key of another type) keeps the adds before the one it failed
    at, and the other calls still run; the first failure is raised."""
    replies = yield [_add_bulk_call(keys, chunk) for chunk in _bulk_chunks(specs)]
    out: list[tuple[str, bool]] = []
    for flat in replies:
        out.extend(zip(map(str, flat[::2]), map(bool, flat[1::2]), strict=True))
    return out


def add_outcome_unknown(exc: OutcomeUnknown, specs: Sequence[AddSpec]) -> OutcomeUnknown:
    """The error of an add whose reply was lost, naming the jobs and how to make such adds safe."""
    names = ", ".join(repr(s.name) for s in specs[:3]) + (f" and {len(specs) - 3} more" if len(specs) > 3 else "")
    what = f"the add of job {names}" if len(specs) == 1 else f"the add of {len(specs)} jobs ({names})"
    cause = exc.__cause__ or exc
    return OutcomeUnknown(
        f"{what} may or may not have been written: the connection to Redis failed after the request "
        f"was sent ({cause}). It was not sent again, because an add without a job_id would then create "
        "a second job. Look for the job before adding it again, or give jobs a job_id: an add whose "
        "job_id exists returns that job and writes nothing, so it is always safe to retry."
    )


def get_job(keys: QueueKeys, job_id: str) -> Op[dict[str, str] | None]:
    (fields,) = yield from get_jobs_by_id(keys, [job_id])
    return fields


def get_jobs_by_id(keys: QueueKeys, job_ids: Sequence[str]) -> Op[list[dict[str, str] | None]]:
    """The hash of each job, None when there is none. Through job_rows, not HGETALL: a key of another
    type (another program's doing) is then "not found" instead of a WRONGTYPE error."""
    if not job_ids:
        return []
    flat = yield script_call("job_rows", keys, 0, "fields", *job_ids)
    found = {str(flat[i]): _pairs(flat[i + 2]) for i in range(0, len(flat), 3)}
    return [found.get(job_id) or None for job_id in job_ids]


def get_jobs(keys: QueueKeys, states: Iterable[str], start: int, end: int, asc: bool) -> Op[list[JobRow]]:
    names = [state_key(s) for s in states]
    if start < 0:
        raise ValueError(f"start: must be >= 0, got {start}")
    if end >= 0 and end - start >= 10 * BATCH:
        raise ValueError(f"end: a page holds at most {10 * BATCH} jobs per state")
    if end < 0:
        end = start + 10 * BATCH - 1
    flat = yield script_call("job_rows", keys, 0, "range", start, end, "1" if asc else "0", *names)
    return [(str(flat[i]), _pairs(flat[i + 2]), str(flat[i + 1])) for i in range(0, len(flat), 3)]


def get_counts(keys: QueueKeys, states: Iterable[str]) -> Op[dict[str, int]]:
    names = list(states) or list(STATES)
    for s in names:
        state_key(s)
    reply = yield script_call("get_counts", keys, *names)
    return dict(zip(names, (int(n) for n in reply[0]), strict=True))


def get_state(keys: QueueKeys, job_id: str) -> Op[str]:
    state = yield script_call("get_state", keys, job_id)
    return str(state)


def get_logs(keys: QueueKeys, job_id: str, start: int, end: int) -> Op[tuple[list[str], int]]:
    lines, total = yield [
        command("LRANGE", keys.logs(job_id), start, end),
        command("LLEN", keys.logs(job_id)),
    ]
    return [str(line) for line in lines], int(total)


def set_paused(keys: QueueKeys, paused: bool) -> Op[bool]:
    changed = yield script_call("pause" if paused else "resume", keys)
    return bool(changed)


def is_paused(keys: QueueKeys) -> Op[bool]:
    flag = yield command("HEXISTS", keys.meta, "paused")
    return bool(flag)


def clean(keys: QueueKeys, grace_ms: int, limit: int, state: str, collect: bool = True) -> Op[tuple[list[str], int]]:
    """Removes up to ``limit`` jobs (0 = all) older than the grace; the ids only when ``collect``."""
    name = state_key(state)
    if limit < 0:
        raise ValueError(f"limit: must be >= 0 (0 = no limit), got {limit}")
    cutoff = now_ms() - grace_ms
    removed: list[str] = []
    count = 0
    position = 0
    while position >= 0 and (limit == 0 or count < limit):
        want = BATCH if limit == 0 else min(BATCH, limit - count)
        ids, position = yield script_call("clean", keys, name, cutoff, want, position, BATCH)
        count += len(ids)
        if collect:
            removed.extend(str(i) for i in ids)
        position = int(position)
    return removed, count


def drain(keys: QueueKeys, delayed: bool) -> Op[None]:
    # The scheduler runs kept so far at the oldest end of each source, which the next call starts past.
    kept = [0, 0, 0, 0]
    while True:
        left, *kept = yield script_call("drain", keys, "1" if delayed else "0", BATCH, *kept)
        if not left:
            return


def obliterate(keys: QueueKeys, force: bool) -> Op[None]:
    while True:
        reply = yield script_call("obliterate", keys, "1" if force else "0", BATCH)
        if _check(keys, reply, "obliterate") == 0:
            return


def remove(keys: QueueKeys, job_id: str, remove_children: bool = True) -> Op[int]:
    """How many jobs were removed: the job and, with ``remove_children``, its children (0: no such job).

    A tree too large for one call (``BATCH`` jobs) goes in steps: first a look for a worker's lock among
    the pending descendants, then the jobs, children first and the job last (see ``remove_job.lua``)."""
    flag = "1" if remove_children else "0"
    total, step = 0, ["start"]
    while True:
        # Not repeatable: a second run would report the job as not found.
        reply = yield script_call("remove_job", keys, job_id, flag, BATCH, LIST_SCAN, *step, repeatable=False)
        if not isinstance(reply, list):
            return total + _check(keys, reply, "remove", job_id)
        total += int(reply[0])
        step = [str(value) for value in reply[1:]]


def retry_jobs(
    keys: QueueKeys, state: str, count: int, before_ms: int | None, *, send_back_to: Collection[str] | None = None
) -> Op[int]:
    """Retries up to ``count`` jobs (0: all) finished before ``before_ms``. A dead letter goes back to the
    queue it came from if ``send_back_to`` names it (None: any queue); else it stays here, failed."""
    if state not in ("failed", "completed"):
        raise ValueError(f"state: only 'failed' or 'completed' jobs can be retried, got {state!r}")
    if count < 0:
        raise ValueError(f"count: must be >= 0 (0 = all), got {count}")
    cutoff = now_ms() if before_ms is None else before_ms
    total = kept = 0
    limited = "0" if send_back_to is None else "1"
    takers = sorted(set(send_back_to or ()))
    while count == 0 or total < count:
        want = BATCH if count == 0 else min(BATCH, count - total)
        call = script_call("retry_jobs", keys, state, want, cutoff, now_ms(), limited, kept, *takers)
        moved, left, passed = yield call
        total += int(moved)
        # The dead letters kept are the oldest left: the next call passes over them.
        kept += int(passed)
        if (not moved and not passed) or int(left) <= kept:
            break
    return total


def promote_jobs(keys: QueueKeys, count: int) -> Op[int]:
    if count < 0:
        raise ValueError(f"count: must be >= 0 (0 = all), got {count}")
    total = 0
    while count == 0 or total < count:
        want = BATCH if count == 0 else min(BATCH, count - total)
        moved, left = yield script_call("promote_jobs", keys, want)
        total += int(moved)
        if not moved or not left:
            break
    return total


def _check(keys: QueueKeys, reply: Any, action: str, job_id: str = "", state: str = "") -> int:
    """A script's integer reply; a refusal code (negative, see codes.py) is raised as the engine's
    exception for ``action`` on the job or the queue."""
    code = int(reply)
    if code < 0:
        raise error_for(code, action=action, queue=keys.name, job_id=job_id, state=state)
    return code


def retry_job(keys: QueueKeys, job_id: str, state: str, reset_attempts: bool) -> Op[None]:
    if state not in ("failed", "completed"):
        raise ValueError(f"state: only 'failed' or 'completed' jobs can be retried, got {state!r}")
    # Not repeatable, as the next three: a second run would find the job moved and report it.
    reset = "1" if reset_attempts else "0"
    code = yield script_call("reprocess_job", keys, job_id, state, reset, now_ms(), repeatable=False)
    _check(keys, code, "retry", job_id, state)


def promote_job(keys: QueueKeys, job_id: str) -> Op[None]:
    code = yield script_call("promote_job", keys, job_id, repeatable=False)
    _check(keys, code, "promote", job_id, "delayed")


def change_priority(keys: QueueKeys, job_id: str, priority: int, lifo: bool) -> Op[None]:
    if isinstance(priority, bool) or not isinstance(priority, int) or not 0 <= priority <= MAX_PRIORITY:
        raise ValueError(f"priority: must be an integer between 0 and {MAX_PRIORITY}, got {priority!r}")
    code = yield script_call("change_priority", keys, job_id, priority, "1" if lifo else "0")
    _check(keys, code, "change the priority of", job_id)


def change_delay(keys: QueueKeys, job_id: str, delay_ms: int) -> Op[None]:
    code = yield script_call("change_delay", keys, job_id, delay_ms, now_ms())
    _check(keys, code, "change the delay of", job_id, "delayed")


def update_data(keys: QueueKeys, job_id: str, data: Any) -> Op[None]:
    code = yield script_call("update_data", keys, job_id, dump_json(data, "job data"))
    _check(keys, code, "update the data of", job_id)


def update_progress(keys: QueueKeys, job_id: str, progress: Any) -> Op[None]:
    code = yield script_call("update_progress", keys, job_id, dump_json(progress, "progress"))
    _check(keys, code, "update the progress of", job_id)


def add_log(keys: QueueKeys, job_id: str, line: str, keep: int) -> Op[int]:
    if not isinstance(line, str):
        raise TypeError(f"log line: expected a string, got {type(line).__name__}")
    # A second run would log the line twice.
    count = yield script_call("add_log", keys, job_id, line, keep, repeatable=False)
    return _check(keys, count, "add a log line to", job_id)


def get_deduplication_job_id(keys: QueueKeys, dedup_id: str) -> Op[str | None]:
    job_id = yield command("GET", keys.key("de:" + _dedup_id(dedup_id)))
    return None if job_id is None else str(job_id)


def remove_deduplication_key(keys: QueueKeys, dedup_id: str) -> Op[bool]:
    removed = yield command("DEL", keys.key("de:" + _dedup_id(dedup_id)))
    return bool(removed)


def _dedup_id(dedup_id: Any) -> str:
    if not isinstance(dedup_id, str) or not dedup_id:
        raise ValueError(f"deduplication id: expected a non-empty string, got {dedup_id!r}")
    return dedup_id


def _hash(reply: Any) -> dict[str, str]:
    """An HGETALL reply: a map (RESP3) or a flat list of fields and values."""
    return {str(k): str(v) for k, v in reply.items()} if isinstance(reply, dict) else _pairs(reply)


def _json_values(flat: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in _hash(flat).items():
        try:
            out[key] = json.loads(value)
        except (ValueError, RecursionError):
            out[key] = value
    return out


def children_values(keys: QueueKeys, job_id: str) -> Op[dict[str, Any]]:
    """A flow parent's completed children: child key (``<prefix>:<queue>:<id>``) -> its return value."""
    flat = yield command("HGETALL", keys.processed(job_id))
    return _json_values(flat)


def ignored_children_failures(keys: QueueKeys, job_id: str) -> Op[dict[str, str]]:
    """Children that failed with ignore_dependency_on_failure (or continue_parent_on_failure): child key
    -> its failed reason."""
    flat = yield command("HGETALL", keys.job(job_id) + ":failed")
    return _hash(flat)


def dependencies_count(keys: QueueKeys, job_id: str) -> Op[dict[str, int]]:
    """A flow parent's children by outcome, as BullMQ's ``getDependenciesCount``."""
    processed, unprocessed, ignored, failed = yield [
        command("HLEN", keys.processed(job_id)),
        command("SCARD", keys.dependencies(job_id)),
        command("HLEN", keys.job(job_id) + ":failed"),
        command("ZCARD", keys.job(job_id) + ":unsuccessful"),
    ]
    return {"processed": processed, "unprocessed": unprocessed, "ignored": ignored, "failed": failed}


def delay_ms(delay: Any) -> int:
    return to_ms(delay, "delay")


def spec_fields(spec: AddSpec) -> dict[str, str]:
    """The hash a fresh add writes, so that ``add`` can return the job without reading it back."""
    return {
        "name": spec.name,
        "data": spec.data,
        "opts": spec.opts,
        "timestamp": str(spec.timestamp),
        "delay": str(spec.delay),
        "priority": str(spec.priority),
    }


def split_bulk_entry(entry: Mapping[str, Any]) -> tuple[Any, Any, dict[str, Any]]:
    if not isinstance(entry, Mapping) or "name" not in entry:
        raise ValueError(f"add_bulk: each job needs a 'name', got {entry!r}")
    options = dict(entry)
    del options["name"]
    options.pop("data", None)
    return entry["name"], entry.get("data"), options


def parse_client_list(text: str) -> list[dict[str, str]]:
    rows = []
    for line in text.splitlines():
        row = dict(part.split("=", 1) for part in line.split(" ") if "=" in part)
        if row:
            rows.append(row)
    return rows


def parse_workers(client_list: str, keys: QueueKeys) -> list[dict[str, str]]:
    """Connections named like BullMQ workers of this queue, from CLIENT LIST (as BullMQ matches them)."""
    base = keys.client_name()
    return [
        row
        for row in parse_client_list(client_list)
        if row.get("name") == base or row.get("name", "").startswith(base + ":w:")
    ]


def client_list(keys: QueueKeys | None = None) -> Op[Any]:
    # On a cluster, the clients of the node that serves the queue: its workers' blocking connections.
    rows = yield command("CLIENT", "LIST", route=keys.meta if keys is not None else None)
    return rows


def set_meta(keys: QueueKeys, values: Mapping[str, int | None]) -> Op[None]:
    for field, value in values.items():
        if value is None or value == 0:
            yield command("HDEL", keys.meta, field)
        elif isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{field}: expected a positive integer or None, got {value!r}")
        else:
            yield command("HSET", keys.meta, field, value)


def set_rate_limit(keys: QueueKeys, max_jobs: int | None, duration: float | timedelta) -> Op[None]:
    if not max_jobs:
        yield command("HDEL", keys.meta, "max", "duration")
        return
    if isinstance(max_jobs, bool) or not isinstance(max_jobs, int) or max_jobs < 1:
        raise ValueError(f"max_jobs: expected a positive integer, got {max_jobs!r}")
    yield command("HSET", keys.meta, "max", max_jobs, "duration", to_ms(duration, "duration", allow_zero=False))
