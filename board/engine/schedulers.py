"""Job schedulers (BullMQ's ``upsertJobScheduler``): a template job run on a cron pattern or every N ms.

A scheduler is the ``repeat`` sorted set's member (scored with its next run, ms) and the
``repeat:<id>`` hash beside it (spec §7); at any time it has exactly one next-run job, with the id
``repeat:<id>:<run ms>``.

This module reads schedulers back (whatever program wrote them) and holds their operations, written once
as generators of Redis calls like those of ``ops.py``; ``scheduler_options.py`` checks what they are
given and ``cron.py`` works out cron times.

Exactly one next run at a time: every change to a scheduler is one script, and the next run is made only
by the script that replaces a run not yet started (an upsert) or by the worker that took the run the
scheduler's score names (``update_job_scheduler.lua``, which refuses any other producer).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .codes import SchedulerCode
from .connection import Op, command, script_call
from .cron import check_pattern, check_tz, next_fire_ms
from .errors import JobStateError
from .keys import QueueKeys
from .scheduler_options import NextRun, UpsertSpec, first_after

# A page of schedulers: at most this many a call.
PAGE = 1000
# Cron times tried when the next one's run id is held by a job that has started or finished.
_COLLISION_TRIES = 5
_KEY_TYPE_FIELD = "board:keytype"
# As _scheduler.lua's ownsSchedulerKey has it.
_COLON_ID = (
    "holds ':', which this engine's ids never do: its hash (repeat:<id>) may be another key (repeat:x:<ms> is "
    "also a run of scheduler x), so it is neither written nor deleted here"
)


@dataclass(frozen=True)
class JobScheduler:
    """One scheduler, as read back from Redis (whoever wrote it: Node BullMQ or this engine)."""

    id: str
    # The template: the name, data and options of every job it produces.
    name: str
    data: Any = None  # None when it could not be read (see problems)
    opts: dict[str, Any] = field(default_factory=dict)
    pattern: str | None = None  # a cron pattern, as Node's cron-parser reads it (see cron.py)
    every_ms: int | None = None  # or an interval
    tz: str | None = None
    offset_ms: int = 0
    start_ms: int | None = None
    end_ms: int | None = None
    limit: int | None = None
    iteration_count: int = 0  # runs produced so far (BullMQ's ``ic``)
    next_run_ms: int | None = None  # the score in ``repeat``: when the next-run job is due
    # What could not be read, or cannot be followed (another program wrote it): a field of the hash (or
    # "key", "id", "next_run") -> why. A field too large to read says its size in bytes.
    problems: dict[str, str] = field(default_factory=dict)

    @property
    def next_job_id(self) -> str | None:
        """The id of the scheduler's current next-run job."""
        return None if self.next_run_ms is None else f"repeat:{self.id}:{self.next_run_ms}"


# Reading -------------------------------------------------------------------------------------------------------

_INT_FIELDS = {
    "every": "every_ms",
    "offset": "offset_ms",
    "startDate": "start_ms",
    "endDate": "end_ms",
    "limit": "limit",
    "ic": "iteration_count",
}


def _int(text: str) -> int | None:
    try:
        number = float(text)
    except ValueError:
        return None
    if not math.isfinite(number) or number != int(number) or abs(number) >= 2**63:
        return None
    return int(number)


def _text(text: str) -> str | None:
    """The text, or None when it holds bytes that were not UTF-8 (decoded as lone surrogates)."""
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return None
    return text


def _json(text: str) -> tuple[Any, str | None]:
    try:
        return json.loads(text), None
    except ValueError as exc:
        return text, f"not valid JSON: {exc}"
    except RecursionError:
        return text, "nested too deep to read"


def _too_large(fields: Mapping[str, str], key: str, problems: dict[str, str]) -> bool:
    """Whether ``job_schedulers.lua`` left the field out for its size (sending "<key>.size" instead)."""
    size = fields.get(f"{key}.size")
    if size is None:
        return False
    problems[key] = f"too large to read here ({size} bytes)"
    return True


def _read_template(fields: Mapping[str, str], out: dict[str, Any], problems: dict[str, str]) -> None:
    name = fields.get("name")
    if not _too_large(fields, "name", problems):
        if name is None:
            problems["name"] = "missing"
        else:
            if _text(name) is None:
                problems["name"] = "not valid UTF-8"
            out["name"] = name
    out["data"] = {}
    if _too_large(fields, "data", problems):
        out["data"] = None
    elif "data" in fields:
        out["data"], problem = _json(fields["data"])
        if problem:
            problems["data"] = problem
    if _too_large(fields, "opts", problems):
        return
    if "opts" in fields:
        opts, problem = _json(fields["opts"])
        if problem or not isinstance(opts, dict):
            problems["opts"] = problem or f"not a JSON object: {fields['opts'][:40]!r}"
        else:
            out["opts"] = opts


def _follow_pattern(pattern: object) -> None:
    check_pattern(pattern, "pattern", any_fields=True)


def _follow_tz(tz: object) -> None:
    check_tz(tz, "tz", host=True)


def _unfollowed(out: dict[str, Any], problems: dict[str, str]) -> None:
    """Names a pattern or time zone that a worker of this engine cannot work out next runs from (as
    ``next_run_of`` checks them): such a scheduler, made by another program, stops when one of this
    engine's workers takes its run."""
    for key, check in (("pattern", _follow_pattern), ("tz", _follow_tz)):
        if out.get(key) is None or key in problems:
            continue
        try:
            check(out[key])
        except ValueError as exc:
            problems[key] = f"this engine's workers cannot follow it, so it stops when one takes its run: {exc}"


def _read_schedule(fields: Mapping[str, str], out: dict[str, Any], problems: dict[str, str]) -> None:
    for key, attribute in _INT_FIELDS.items():
        if _too_large(fields, key, problems):
            continue
        if key in fields:
            value = _int(fields[key])
            if value is None:
                problems[key] = f"not an integer: {fields[key][:40]!r}"
            else:
                out[attribute] = value
    for key in ("pattern", "tz"):
        if _too_large(fields, key, problems):
            continue
        if key in fields:
            if _text(fields[key]) is None:
                problems[key] = "not valid UTF-8"
            out[key] = fields[key]
    has = {key for key in ("pattern", "every") if key in fields or f"{key}.size" in fields}
    if has == {"pattern", "every"}:
        problems["every"] = "both a pattern and an every"
    elif not has:
        problems["pattern"] = "neither a pattern nor an every"
    _unfollowed(out, problems)


def parse_scheduler(scheduler_id: str, fields: Mapping[str, str], score: Any) -> JobScheduler:
    """A scheduler from its hash and its score, whatever another program wrote there: what cannot be
    read is named in ``problems`` and left at its default."""
    out: dict[str, Any] = {"name": ""}
    problems: dict[str, str] = {}
    next_run = _int(str(score)) if score is not None else None
    if score is not None and next_run is None:
        problems["next_run"] = f"the score in repeat is not a time in ms: {score!r}"
    if ":" in scheduler_id:
        problems["id"] = _COLON_ID
    if fields.get(_KEY_TYPE_FIELD) == "hash":
        problems["key"] = "the scheduler's hash (repeat:<id>) holds none of a scheduler's fields"
    elif _KEY_TYPE_FIELD in fields:
        problems["key"] = f"stored key is a {fields[_KEY_TYPE_FIELD]}, not a hash"
    elif not fields:
        problems["key"] = "the scheduler's hash (repeat:<id>) is missing"
    else:
        _read_template(fields, out, problems)
        _read_schedule(fields, out, problems)
    return JobScheduler(id=scheduler_id, next_run_ms=next_run, problems=problems, **out)


def _pairs(flat: Sequence[Any]) -> dict[str, str]:
    return {str(k): str(v) for k, v in zip(flat[::2], flat[1::2], strict=True)}


def _rows(flat: Sequence[Any]) -> list[JobScheduler]:
    return [parse_scheduler(str(flat[i]), _pairs(flat[i + 2]), flat[i + 1]) for i in range(0, len(flat), 3)]


def scheduler_ref(scheduler_id: object) -> str:
    """An id to look a scheduler up by: any non-empty string, since another program may have made
    schedulers whose ids this engine would not create (with ':')."""
    if not isinstance(scheduler_id, str) or not scheduler_id:
        raise ValueError(f"scheduler_id: expected a non-empty string, got {scheduler_id!r}")
    return scheduler_id


def get(keys: QueueKeys, scheduler_id: str) -> Op[JobScheduler | None]:
    flat = yield script_call("job_schedulers", keys, "ids", scheduler_id)
    found = _rows(flat)
    return found[0] if found else None


def get_page(keys: QueueKeys, start: int, end: int, asc: bool) -> Op[list[JobScheduler]]:
    """Schedulers ``start`` to ``end`` (inclusive) in order of next run; -1 for ``end``: a whole page."""
    for value, option in ((start, "start"), (end, "end")):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"{option}: expected an integer, got {value!r}")
    if start < 0:
        raise ValueError(f"start: must be >= 0, got {start}")
    if end < 0:
        end = start + PAGE - 1
    elif end - start >= PAGE:
        raise ValueError(f"end: a page holds at most {PAGE} schedulers")
    if end < start:
        return []
    flat = yield script_call("job_schedulers", keys, "range", start, end, "1" if asc else "0")
    return _rows(flat)


def count(keys: QueueKeys) -> Op[int]:
    total = yield command("ZCARD", keys.repeat)
    return int(total)


def remove(keys: QueueKeys, scheduler_id: str) -> Op[bool]:
    # Not repeatable: a second run would answer that there was nothing to remove.
    removed = yield script_call("remove_job_scheduler", keys, scheduler_id, repeatable=False)
    return bool(removed)


# Writing -------------------------------------------------------------------------------------------------------


def _refusal(code: int, scheduler_id: str, run: str) -> JobStateError:
    if code == SchedulerCode.SCHEDULER_JOB_SLOTS_BUSY:
        why = "the job ids of its next runs are all held by jobs kept from earlier runs"
    else:
        why = f"the id of its next run, {run!r}, is held by a job that has already started or finished"
    return JobStateError(f"cannot schedule the next run of scheduler {scheduler_id!r}: {why}")


@dataclass(frozen=True)
class Upserted:
    """What an upsert wrote: the scheduler, and its next run (id and hash)."""

    scheduler: JobScheduler
    job_id: str
    job_fields: dict[str, str]


def upsert(keys: QueueKeys, spec: UpsertSpec, now_ms: int) -> Op[Upserted]:
    """Creates or replaces the scheduler and its next run. A cron time whose run id is held (a run of
    that time already taken) is skipped for the one after it."""
    schedule = spec.schedule
    after = first_after(schedule, now_ms)
    next_ms: int | None = None
    for _ in range(_COLLISION_TRIES):
        if schedule.pattern is not None:
            next_ms = next_fire_ms(schedule.pattern, after, schedule.tz, schedule.end_ms)
            if next_ms is None:
                raise ValueError("end: the pattern has no time between now (or start) and end")
        # Repeatable: a second run replaces the run the first one made, at the same time.
        reply = yield script_call("add_job_scheduler", keys, *spec.script_args(now_ms, next_ms))
        if isinstance(reply, int):
            if reply == SchedulerCode.SCHEDULER_JOB_ID_COLLISION and next_ms is not None:
                after = next_ms
                continue
            raise _refusal(reply, spec.scheduler_id, f"repeat:{spec.scheduler_id}:{next_ms}")
        job_id = str(reply[0])
        if not job_id:
            raise ValueError("end: the next run would fall after end")
        scheduler = parse_scheduler(spec.scheduler_id, _pairs(reply[2]), job_id.rsplit(":", 1)[1])
        return Upserted(scheduler, job_id, _pairs(reply[3]))
    raise _refusal(SchedulerCode.SCHEDULER_JOB_ID_COLLISION, spec.scheduler_id, f"repeat:{spec.scheduler_id}:{next_ms}")


def schedule_next(keys: QueueKeys, run: NextRun, now_ms: int) -> Op[str | None]:
    """Follows a taken run with its scheduler's next run; the new run's id, or None when there is none
    (the run is stale, or the scheduler is gone or done). Safe to send twice: the second finds the
    scheduler's score moved on and does nothing."""
    job_id = yield script_call("update_job_scheduler", keys, *run.script_args(now_ms))
    return str(job_id) or None
