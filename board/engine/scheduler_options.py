"""Job scheduler options: checked at the API edge, then put in the shapes BullMQ 6 stores.

Two callers make a scheduler: ``upsert_job_scheduler`` (Python names, seconds and datetimes) and
``add(..., repeat={...})`` (BullMQ's names and milliseconds, as its legacy ``repeat`` option). Both end in
one ``UpsertSpec``. A worker that takes a run makes the next one from the run itself (``next_run_of``),
as BullMQ's worker does: the pattern, time zone and count come from the run's ``opts.repeat``.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from .cron import check_pattern, check_tz, next_fire_ms
from .options import MAX_PRIORITY, build_add, dump_json, to_ms

# Set by the scheduler on each run: a template cannot choose them.
_RUN_OWNED = ("job_id", "delay", "timestamp")
# The keys of BullMQ's legacy `repeat` option that ``add`` takes (RepeatOptions).
REPEAT_KEYS = frozenset({"pattern", "every", "tz", "limit", "startDate", "endDate", "key", "offset"})
# Options of a taken run that each new run gets afresh.
_PER_RUN = ("jobId", "delay", "prevMillis", "timestamp", "repeatJobKey")


def check_scheduler_id(scheduler_id: object, option: str = "scheduler_id") -> str:
    """A scheduler id names keys (``repeat:<id>``) and is part of its runs' ids (``repeat:<id>:<ms>``),
    which cannot hold another ':'."""
    if not isinstance(scheduler_id, str) or not scheduler_id:
        raise ValueError(f"{option}: expected a non-empty string, got {scheduler_id!r}")
    if ":" in scheduler_id:
        raise ValueError(f"{option}: must not contain ':' (its runs are repeat:<id>:<millis>), got {scheduler_id!r}")
    if not scheduler_id.isascii():
        try:
            scheduler_id.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"{option}: not valid text (lone surrogate) in {scheduler_id!r}") from None
    return scheduler_id


def _moment_ms(value: Any, option: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise ValueError(f"{option}: expected a datetime, got {value!r}")
    if value.tzinfo is None or value.utcoffset() is None:
        # A naive datetime is read in the machine's own zone, which differs between producer machines.
        raise ValueError(f"{option}: the datetime needs a time zone (datetime(..., tzinfo=UTC)), got {value!r}")
    return round(value.timestamp() * 1000)


def _limit(value: Any, option: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{option}: expected an integer >= 1 (the number of runs), got {value!r}")
    return value


@dataclass(frozen=True)
class Schedule:
    """When a scheduler runs: a cron pattern or an interval, within optional bounds."""

    pattern: str | None
    every_ms: int | None
    tz: str | None
    start_ms: int | None
    end_ms: int | None
    limit: int | None
    offset_ms: int | None

    def repeat_opts(self) -> dict[str, Any]:
        """The ``opts.repeat`` of the first run, as BullMQ writes it (count 1)."""
        out: dict[str, Any] = {}
        if self.pattern is not None:
            out["pattern"] = self.pattern
            if self.tz is not None:
                out["tz"] = self.tz
        else:
            out["every"] = self.every_ms
            if self.offset_ms is not None:
                out["offset"] = self.offset_ms
        out["count"] = 1
        for key, value in (("limit", self.limit), ("startDate", self.start_ms), ("endDate", self.end_ms)):
            if value is not None:
                out[key] = value
        return out


def build_schedule(
    *,
    cron: Any,
    every: Any,
    tz: Any,
    start: Any,
    end: Any,
    limit: Any,
    offset: Any,
    now_ms: int,
) -> Schedule:
    if (cron is None) == (every is None):
        raise ValueError("cron, every: give exactly one of them (a cron pattern, or an interval in seconds)")
    pattern = check_pattern(cron, "cron") if cron is not None else None
    every_ms = to_ms(every, "every", allow_zero=False) if every is not None else None
    if tz is not None:
        if pattern is None:
            raise ValueError("tz: only a cron pattern has a time zone; `every` counts real time")
        check_tz(tz)
    offset_ms = None
    if offset is not None:
        if every_ms is None:
            raise ValueError("offset: only an `every` scheduler has an offset inside its interval")
        offset_ms = to_ms(offset, "offset")
        if offset_ms >= every_ms:
            raise ValueError(f"offset: must be shorter than the interval ({every_ms} ms), got {offset_ms} ms")
    start_ms, end_ms = _moment_ms(start, "start"), _moment_ms(end, "end")
    if end_ms is not None:
        if end_ms <= now_ms:
            raise ValueError(f"end: must be in the future, got {end!r}")
        if start_ms is not None and end_ms <= start_ms:
            raise ValueError(f"end: must be after start ({start!r}), got {end!r}")
    return Schedule(pattern, every_ms, tz, start_ms, end_ms, _limit(limit, "limit"), offset_ms)


@dataclass(frozen=True)
class UpsertSpec:
    """One validated upsert, ready for ``add_job_scheduler.lua`` but for the times of the call."""

    scheduler_id: str
    name: str
    data: str  # the template data, JSON
    template_opts: str  # the template's job options (BullMQ names), JSON, or "" for none
    run_opts: dict[str, Any]  # the first run's options but for its times
    priority: int
    lifo: bool
    schedule: Schedule

    def script_args(self, now_ms: int, next_ms: int | None) -> list[Any]:
        s = self.schedule
        opts = {**self.run_opts, "timestamp": now_ms}
        if next_ms is not None:
            opts["prevMillis"] = next_ms
        return [
            self.scheduler_id,
            now_ms,
            "" if next_ms is None else next_ms,
            "" if s.every_ms is None else s.every_ms,
            self.name,
            self.data,
            self.template_opts,
            dump_json(opts, "job options"),
            self.priority,
            "1" if self.lifo else "0",
            s.pattern or "",
            s.tz or "",
            "" if s.start_ms is None else s.start_ms,
            "" if s.end_ms is None else s.end_ms,
            "" if s.limit is None else s.limit,
            "" if s.offset_ms is None else s.offset_ms,
        ]


def build_upsert(
    scheduler_id: Any,
    schedule: Schedule,
    name: Any,
    data: Any,
    options: Mapping[str, Any] | None,
    now_ms: int,
    backoff_types: frozenset[str] = frozenset(),
) -> UpsertSpec:
    """Validate a whole upsert before anything is written; the template's job options are checked as
    ``add`` checks them."""
    scheduler_id = check_scheduler_id(scheduler_id)
    if options is None:
        options = {}
    if not isinstance(options, Mapping):
        raise ValueError(f"options: expected a dict of job options, got {options!r}")
    owned = sorted(set(options) & set(_RUN_OWNED))
    if owned:
        raise ValueError(f"options: {', '.join(owned)} cannot be set on a template: the scheduler sets it on each run")
    spec = build_add(
        scheduler_id if name is None else name, {} if data is None else data, options, now_ms, backoff_types
    )
    template = dict(spec.opts_value or {})
    if template.get("attempts") == 0:
        # The default, which BullMQ leaves out of a template.
        del template["attempts"]
    run_opts = {**(spec.opts_value or {}), "repeat": schedule.repeat_opts(), "repeatJobKey": scheduler_id}
    return UpsertSpec(
        scheduler_id=scheduler_id,
        name=spec.name,
        data=spec.data,
        template_opts=dump_json(template, "job options") if template else "",
        run_opts=run_opts,
        priority=spec.priority,
        lifo=spec.lifo,
        schedule=schedule,
    )


def upsert_spec(
    scheduler_id: Any,
    now_ms: int,
    backoff_types: frozenset[str],
    *,
    cron: Any = None,
    every: Any = None,
    tz: Any = None,
    start: Any = None,
    end: Any = None,
    limit: Any = None,
    offset: Any = None,
    name: Any = None,
    data: Any = None,
    options: Mapping[str, Any] | None = None,
) -> UpsertSpec:
    """``Queue.upsert_job_scheduler``'s arguments, checked."""
    schedule = build_schedule(
        cron=cron, every=every, tz=tz, start=start, end=end, limit=limit, offset=offset, now_ms=now_ms
    )
    return build_upsert(scheduler_id, schedule, name, data, options, now_ms, backoff_types)


def repeat_spec(
    name: Any, data: Any, repeat: Any, options: Mapping[str, Any], now_ms: int, backoff_types: frozenset[str]
) -> UpsertSpec:
    """``Queue.add(name, data, repeat={...}, **options)``'s arguments, checked (see ``from_repeat``)."""
    scheduler_id, schedule, template = from_repeat(name, repeat, options, now_ms)
    return build_upsert(scheduler_id, schedule, name, data, template, now_ms, backoff_types)


def first_after(schedule: Schedule, now_ms: int) -> int:
    """The instant after which a new cron scheduler's first run is looked for: now, or just before its
    start, so that a start on one of the pattern's times is its first run."""
    return now_ms if schedule.start_ms is None else max(now_ms, schedule.start_ms - 1)


# BullMQ's legacy `repeat` option ------------------------------------------------------------------------------


def _repeat_ms(value: Any, option: str, *, positive: bool) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{option}: expected milliseconds as a number, got {value!r}")
    if value < 0 or (positive and value == 0):
        raise ValueError(f"{option}: must be {'> 0' if positive else '>= 0'} milliseconds, got {value!r}")
    return round(value)


def _repeat_moment(value: Any, option: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        _moment_ms(value, option)
        return value
    ms = _repeat_ms(value, option, positive=True)
    return datetime.fromtimestamp(ms / 1000).astimezone()


def legacy_scheduler_id(name: str, job_id: str, repeat: Mapping[str, Any]) -> str:
    """The id BullMQ's legacy repeat gave a repeatable job: the MD5 of
    ``<name>:<jobId>:<endDate>:<tz>:<pattern or every>``, so that the same add names the same scheduler
    and another pattern another one."""
    end = repeat.get("endDate")
    end_ms = "" if end is None else str(_moment_ms(end, "repeat.endDate") if isinstance(end, datetime) else end)
    suffix = repeat.get("pattern") if repeat.get("pattern") is not None else repeat.get("every")
    key = f"{name}:{job_id}:{end_ms}:{repeat.get('tz') or ''}:{suffix}"
    return hashlib.md5(key.encode("utf-8", "surrogatepass"), usedforsecurity=False).hexdigest()


def from_repeat(
    name: Any, repeat: Any, options: Mapping[str, Any], now_ms: int
) -> tuple[str, Schedule, dict[str, Any]]:
    """``add(name, data, repeat={...}, **options)`` as a scheduler: its id, its schedule and the template's
    job options. The id is ``repeat["key"]``, else the ``job_id`` option, else ``legacy_scheduler_id``."""
    if not isinstance(repeat, Mapping):
        raise ValueError(f"repeat: expected a dict such as {{'pattern': '0 9 * * *'}}, got {repeat!r}")
    unknown = set(repeat) - REPEAT_KEYS
    if unknown:
        raise ValueError(f"repeat: unknown key(s) {sorted(unknown)}; expected some of {sorted(REPEAT_KEYS)}")
    if (repeat.get("pattern") is None) == (repeat.get("every") is None):
        raise ValueError("repeat: give exactly one of 'pattern' (a cron pattern) and 'every' (milliseconds)")
    if repeat.get("pattern") is not None:
        check_pattern(repeat["pattern"], "repeat.pattern")
    if repeat.get("tz") is not None:
        check_tz(repeat["tz"], "repeat.tz")
    every = repeat.get("every")
    offset = repeat.get("offset")
    schedule = build_schedule(
        cron=repeat.get("pattern"),
        every=None if every is None else _repeat_ms(every, "repeat.every", positive=True) / 1000,
        tz=repeat.get("tz"),
        start=_repeat_moment(repeat.get("startDate"), "repeat.startDate"),
        end=_repeat_moment(repeat.get("endDate"), "repeat.endDate"),
        limit=_limit(repeat.get("limit"), "repeat.limit"),
        offset=None if offset is None else _repeat_ms(offset, "repeat.offset", positive=False) / 1000,
        now_ms=now_ms,
    )
    template = {k: v for k, v in options.items() if k != "job_id"}
    job_id = options.get("job_id")
    if repeat.get("key") is not None:
        scheduler_id = check_scheduler_id(repeat["key"], "repeat.key")
    elif job_id is not None:
        scheduler_id = check_scheduler_id(job_id, "job_id")
    else:
        scheduler_id = legacy_scheduler_id(str(name), "", repeat)
    return scheduler_id, schedule, template


# The next run, made by the worker that takes the current one -------------------------------------------------


@dataclass(frozen=True)
class NextRun:
    """What ``update_job_scheduler.lua`` takes to follow a taken run with the next one."""

    scheduler_id: str
    producer: str  # the taken run's job id
    next_ms: int | None  # a cron scheduler's next run; an `every` one's is worked out in the script
    every_ms: int | None
    offset_ms: int | None
    name: str
    opts: str
    priority: int
    lifo: bool

    def script_args(self, now_ms: int) -> list[Any]:
        return [
            self.scheduler_id,
            self.producer,
            now_ms,
            "" if self.next_ms is None else self.next_ms,
            "" if self.every_ms is None else self.every_ms,
            "" if self.offset_ms is None else self.offset_ms,
            self.name,
            self.opts,
            self.priority,
            "1" if self.lifo else "0",
        ]


def _whole(value: Any) -> int | None:
    """An integer stored by another program as a JSON number (possibly 5.0), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and (not math.isfinite(value) or value != int(value)):
        return None
    return int(value)


def next_run_of(job_id: str, fields: Mapping[str, str], now_ms: int) -> NextRun | None:
    """The next run a scheduler's taken run ``job_id`` (its hash ``fields``) calls for, or None when its
    limit or end date is reached. ``ValueError`` when its options cannot say when that is.

    As Node's worker, it reads the pattern and time zone as cron-parser does (``check_pattern`` with
    ``any_fields``, ``check_tz`` with ``host``), and counts the limit from the run's ``opts.repeat.count``,
    which each upsert starts again at 1 (the hash's ``ic`` counts every run the scheduler ever made)."""
    scheduler_id = fields.get("rjk") or ""
    try:
        opts = json.loads(fields.get("opts") or "{}")
    except (ValueError, RecursionError):
        opts = None
    if not isinstance(opts, dict):
        raise ValueError(f"job {job_id!r}: its opts are not a JSON object, so the next run cannot be worked out")
    raw_repeat = opts.get("repeat")
    repeat: dict[str, Any] = raw_repeat if isinstance(raw_repeat, dict) else {}
    pattern, every = repeat.get("pattern"), _whole(repeat.get("every"))
    if bool(pattern) == bool(every):
        raise ValueError(f"job {job_id!r}: its opts.repeat needs a pattern or an every, and not both")
    count = _whole(repeat.get("count")) or 0
    limit = _whole(repeat.get("limit"))
    if limit is not None and count + 1 > limit:
        return None
    next_ms = None
    if pattern:
        tz = repeat.get("tz")
        # What Node's worker takes, for a run Node made; what is still refused stops the scheduler, so
        # the error names it (the worker reports it, and the scheduler's reader names it in problems).
        stops = f"job {job_id!r} (scheduler {scheduler_id!r} gets no next run from this worker)"
        check_pattern(pattern, f"{stops}: opts.repeat.pattern", any_fields=True)
        if tz is not None:
            check_tz(tz, f"{stops}: opts.repeat.tz", host=True)
        # Never before the run just taken, even from a worker whose clock is behind.
        after = max(now_ms, _whole(opts.get("prevMillis")) or 0, (_whole(repeat.get("startDate")) or 0) - 1)
        next_ms = next_fire_ms(pattern, after, tz, _whole(repeat.get("endDate")))
        if next_ms is None:
            return None
    run_opts = {k: v for k, v in opts.items() if k not in _PER_RUN}
    run_opts["repeat"] = {**repeat, "count": count + 1}
    run_opts["repeatJobKey"] = scheduler_id
    run_opts["timestamp"] = now_ms
    if next_ms is not None:
        run_opts["prevMillis"] = next_ms
    priority = _whole(opts.get("priority")) or 0
    return NextRun(
        scheduler_id=scheduler_id,
        producer=job_id,
        next_ms=next_ms,
        every_ms=every,
        offset_ms=_whole(repeat.get("offset")),
        name=fields.get("name") or scheduler_id,
        opts=dump_json(run_opts, "job options"),
        priority=priority if 0 <= priority <= MAX_PRIORITY else 0,
        lifo=opts.get("lifo") is True,
    )
