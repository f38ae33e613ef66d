"""Job options: validated at the API edge, then written in BullMQ's ``opts`` JSON shape.

Times are seconds (or ``timedelta``) at the API and milliseconds in Redis.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, TypedDict

from .keys import check_job_id

MAX_PRIORITY = 2**21 - 1
# Any duration: 100 years. Now + this, in ms, stays far inside 2**53, where Lua and JavaScript numbers
# are still exact integers.
MAX_SECONDS = 100 * 36525 * 864
MAX_MS = MAX_SECONDS * 1000
# An absolute time (the timestamp option): the last second of year 9999, as datetime allows.
MAX_TIMESTAMP = 253_402_300_799
BUILTIN_BACKOFFS = ("fixed", "exponential")

Seconds = float | int | timedelta
KeepPolicy = bool | int | Mapping[str, float | int]
Backoff = float | int | timedelta | Mapping[str, Any]


class JobOptions(TypedDict, total=False):
    job_id: str
    delay: Seconds
    priority: int
    lifo: bool
    attempts: int
    backoff: Backoff
    remove_on_complete: KeepPolicy
    remove_on_fail: KeepPolicy
    timestamp: float
    stack_trace_limit: int
    keep_logs: int
    deduplication: Mapping[str, Any]


OPTION_NAMES = frozenset(JobOptions.__annotations__)


@dataclass(frozen=True)
class AddSpec:
    """One validated add, ready for the add script."""

    name: str
    data: str
    opts: str
    job_id: str
    timestamp: int
    delay: int
    priority: int
    lifo: bool
    data_value: Any = None
    opts_value: dict[str, Any] | None = None
    dedup_id: str = ""

    def known_fields(self) -> dict[str, Any]:
        """The attributes of the job this add creates, for building it without reading it back."""
        return {
            "name": self.name,
            "data": self.data_value,
            "opts": self.opts_value or {},
            "timestamp": self.timestamp,
            "delay": self.delay,
            "priority": self.priority,
            "deduplication_id": self.dedup_id or None,
        }


def _shown(value: Any) -> str:
    """repr() for an error message; Python refuses to write out an int of more than 4300 digits."""
    if isinstance(value, int) and value.bit_length() > 4096:
        return "a larger integer"
    return repr(value)


def to_ms(value: Seconds, option: str, *, allow_zero: bool = True) -> int:
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{option}: expected seconds as a number or a timedelta, got {value!r}")
    elif isinstance(value, int) and value > MAX_SECONDS:
        # float() of a huge int overflows.
        seconds = math.inf
    else:
        seconds = float(value)
    if math.isnan(seconds) or seconds < 0 or (seconds == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{option}: must be a finite number of seconds {bound}, got {value!r}")
    if seconds > MAX_SECONDS:
        raise ValueError(f"{option}: must be at most {MAX_SECONDS} seconds (100 years), got {_shown(value)}")
    return round(seconds * 1000)


# One encoder for every dump: json.dumps with options builds a new one per call, a third of its cost.
_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def dump_json(value: Any, what: str) -> str:
    try:
        text = _JSON.encode(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{what} is not JSON-serialisable: {exc}") from None
    except RecursionError:
        raise TypeError(f"{what} is not JSON-serialisable: nested too deep") from None
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            # A lone surrogate would reach Redis as bytes that are not UTF-8.
            raise TypeError(f"{what} is not JSON-serialisable: lone surrogate at position {exc.start}") from None
    return text


def _int_option(value: Any, option: str, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{option}: expected an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f">= {low}"
        raise ValueError(f"{option}: must be {bound}, got {value}")
    return value


def keep_policy(value: Any, option: str) -> bool | int | dict[str, int]:
    """``True`` (remove at once), a count to keep, or ``{"age": seconds, "count": n}``."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return _int_option(value, option, 0)
    if isinstance(value, Mapping):
        unknown = set(value) - {"age", "count"}
        if unknown or not value:
            raise ValueError(f"{option}: expected keys 'age' and/or 'count', got {sorted(value)}")
        out: dict[str, int] = {}
        if "age" in value:
            # BullMQ stores the age in seconds, like the API.
            out["age"] = max(1, to_ms(value["age"], f"{option}.age") // 1000)
        if "count" in value:
            out["count"] = _int_option(value["count"], f"{option}.count", 0)
        return out
    raise ValueError(f"{option}: expected True/False, a count or {{'age', 'count'}}, got {value!r}")


def backoff_types_option(value: Iterable[str] | None) -> frozenset[str]:
    """The custom backoff types a queue's adds may name (the keys of its workers' ``backoff_strategies``)."""
    if value is None:
        return frozenset()
    if isinstance(value, str) or not isinstance(value, Iterable):
        raise ValueError(f"backoff_types: expected a list of strategy names, got {value!r}")
    names = list(value)
    for name in names:
        if not isinstance(name, str) or not name:
            raise ValueError(f"backoff_types: a name must be a non-empty string, got {name!r}")
        if name in BUILTIN_BACKOFFS:
            raise ValueError(f"backoff_types: {name!r} is built in; list only custom types")
    return frozenset(names)


def _check_backoff_type(kind: str, declared: Collection[str]) -> None:
    if kind in BUILTIN_BACKOFFS or kind in declared:
        return
    known = [*BUILTIN_BACKOFFS, *sorted(declared)]
    close = difflib.get_close_matches(kind, known, n=1)
    guess = f" (did you mean {close[0]!r}?)" if close else ""
    declared_text = f"; this queue declares {', '.join(map(repr, sorted(declared)))}" if declared else ""
    # A misspelled type would be stored as is, and the job would lose every retry at its first failure.
    raise ValueError(
        f"backoff: unknown type {kind!r}{guess}. The built-in types are 'fixed' and 'exponential'"
        f"{declared_text}; a custom type must be declared on the queue, as "
        f"Queue(..., backoff_types=[{kind!r}]), under the name its workers get in backoff_strategies"
    )


def backoff_option(value: Any, declared: Collection[str] = ()) -> dict[str, Any]:
    if callable(value) and not isinstance(value, Mapping):
        # A job names its strategy; it never carries code, which any program that writes jobs could pick.
        raise ValueError(
            "backoff: a function cannot be stored with a job; register it on the Worker "
            "(backoff_strategies={'<name>': fn}) and name it here with {'type': '<name>', 'delay': seconds}"
        )
    if isinstance(value, int | float | timedelta) and not isinstance(value, bool):
        return {"type": "fixed", "delay": to_ms(value, "backoff")}
    if isinstance(value, Mapping):
        unknown = set(value) - {"type", "delay", "jitter"}
        if unknown:
            raise ValueError(f"backoff: unknown keys {sorted(unknown)}")
        kind = value.get("type")
        if not isinstance(kind, str) or not kind:
            raise ValueError("backoff: 'type' must be 'fixed', 'exponential' or a strategy name given to the Worker")
        _check_backoff_type(kind, declared)
        out: dict[str, Any] = {"type": kind}
        if "delay" in value:
            out["delay"] = to_ms(value["delay"], "backoff.delay")
        elif kind in BUILTIN_BACKOFFS:
            raise ValueError(f"backoff: a {kind} backoff needs a 'delay'")
        if "jitter" in value:
            jitter = value["jitter"]
            if isinstance(jitter, bool) or not isinstance(jitter, int | float) or not 0 <= jitter <= 1:
                raise ValueError(f"backoff.jitter: must be a number between 0 and 1, got {jitter!r}")
            out["jitter"] = jitter
        return out
    raise ValueError(f"backoff: expected seconds or a dict with 'type' and 'delay', got {value!r}")


def validate_job_id(job_id: Any) -> str:
    if not isinstance(job_id, str) or not job_id:
        raise ValueError(f"job_id: expected a non-empty string, got {job_id!r}")
    if ":" in job_id:
        raise ValueError(f"job_id: must not contain ':' (got {job_id!r})")
    if job_id.isdigit() or (job_id.startswith("-") and job_id[1:].isdigit()):
        # Auto ids are integers; a custom integer id could collide with one.
        raise ValueError(f"job_id: must not be an integer (got {job_id!r}); auto ids are integers")
    return check_job_id(job_id, "job_id")


def _is_text(value: str) -> bool:
    """False for a string holding a lone surrogate, which would reach Redis as bytes that are not UTF-8."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _check_name(name: Any) -> str:
    if not isinstance(name, str) or not name:
        raise ValueError(f"name: expected a non-empty string, got {name!r}")
    if not name.isascii():
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"name: not valid text (lone surrogate) in {name!r}") from None
    return name


# Each option helper below checks its options and writes them into ``opts`` under BullMQ's names.


def _job_id_option(options: Mapping[str, Any], opts: dict[str, Any]) -> str:
    if options.get("job_id") is None:
        return ""
    job_id = validate_job_id(options["job_id"])
    opts["jobId"] = job_id
    return job_id


def _delay_option(options: Mapping[str, Any], opts: dict[str, Any]) -> int:
    delay = to_ms(options["delay"], "delay") if options.get("delay") is not None else 0
    if delay:
        opts["delay"] = delay
    return delay


def _order_options(options: Mapping[str, Any], opts: dict[str, Any]) -> tuple[int, bool]:
    """The priority and the LIFO flag: where the job joins its list."""
    priority = 0
    if options.get("priority") is not None:
        priority = _int_option(options["priority"], "priority", 0, MAX_PRIORITY)
        if priority:
            opts["priority"] = priority
    lifo = options.get("lifo", False)
    if not isinstance(lifo, bool):
        raise ValueError(f"lifo: expected True or False, got {lifo!r}")
    if lifo:
        if priority:
            raise ValueError("lifo: cannot be combined with a priority")
        opts["lifo"] = True
    return priority, lifo


def _retry_options(options: Mapping[str, Any], opts: dict[str, Any], backoff_types: Collection[str]) -> None:
    if options.get("attempts") is not None:
        opts["attempts"] = _int_option(options["attempts"], "attempts", 0)
    if options.get("backoff") is not None:
        opts["backoff"] = backoff_option(options["backoff"], backoff_types)


def _keep_options(options: Mapping[str, Any], opts: dict[str, Any]) -> None:
    """What of the job stays behind: the job itself once finished, its stack traces, its log lines."""
    for option, key in (("remove_on_complete", "removeOnComplete"), ("remove_on_fail", "removeOnFail")):
        if options.get(option) is not None:
            opts[key] = keep_policy(options[option], option)
    if options.get("stack_trace_limit") is not None:
        opts["stackTraceLimit"] = _int_option(options["stack_trace_limit"], "stack_trace_limit", 0)
    if options.get("keep_logs") is not None:
        opts["kl"] = _int_option(options["keep_logs"], "keep_logs", 1)


# BullMQ's deduplication options under our names, and the opts.de keys they are stored as.
DEDUP_FLAGS = {
    "extend": "extend",
    "replace": "replace",
    "keep_last_if_active": "keepLastIfActive",
    "reschedule": "reschedule",
}


def _dedup_option(options: Mapping[str, Any], opts: dict[str, Any]) -> str:
    """``{"id": ..., "ttl": seconds, "extend", "replace", "keep_last_if_active", "reschedule"}`` -> the
    deduplication id; stored as BullMQ's ``opts.de`` (ttl in ms)."""
    value = options.get("deduplication")
    if value is None:
        return ""
    if not isinstance(value, Mapping):
        raise ValueError(f"deduplication: expected a dict with an 'id', got {value!r}")
    unknown = set(value) - {"id", "ttl", *DEDUP_FLAGS}
    if unknown:
        raise ValueError(f"deduplication: unknown keys {sorted(unknown)}")
    dedup_id = value.get("id")
    if not isinstance(dedup_id, str) or not dedup_id or not _is_text(dedup_id):
        raise ValueError(f"deduplication.id: expected a non-empty string, got {dedup_id!r}")
    de: dict[str, Any] = {"id": dedup_id}
    if value.get("ttl") is not None:
        de["ttl"] = to_ms(value["ttl"], "deduplication.ttl", allow_zero=False)
    for option, key in DEDUP_FLAGS.items():
        flag = value.get(option, False)
        if not isinstance(flag, bool):
            raise ValueError(f"deduplication.{option}: expected True or False, got {flag!r}")
        if flag:
            de[key] = True
    opts["de"] = de
    return dedup_id


def _timestamp_option(options: Mapping[str, Any], opts: dict[str, Any], now_ms: int) -> int:
    ts = options.get("timestamp")
    if ts is None:
        return now_ms
    if isinstance(ts, bool) or not isinstance(ts, int | float) or not 0 < ts <= MAX_TIMESTAMP:
        raise ValueError(f"timestamp: expected seconds since the epoch, up to {MAX_TIMESTAMP}, got {_shown(ts)}")
    timestamp = round(ts * 1000)
    opts["timestamp"] = timestamp
    return timestamp


_NO_OPTS: dict[str, Any] = {"attempts": 0}
_NO_OPTS_JSON = '{"attempts":0}'


def build_add(
    name: Any, data: Any, options: Mapping[str, Any], now_ms: int, backoff_types: Collection[str] = ()
) -> AddSpec:
    """Validate one add completely before anything is written. ``backoff_types``: the custom backoff
    types the queue declared (see ``backoff_types_option``)."""
    unknown = set(options) - OPTION_NAMES
    if unknown:
        raise ValueError(f"unknown job option(s): {', '.join(sorted(unknown))}")
    name = _check_name(name)
    data_json = dump_json(data, "job data")
    # A fixed order: the first bad option is always the one reported, and the stored opts JSON keeps its
    # key order from one add to the next.
    opts: dict[str, Any] = {"attempts": 0}
    job_id = _job_id_option(options, opts)
    delay = _delay_option(options, opts)
    priority, lifo = _order_options(options, opts)
    _retry_options(options, opts, backoff_types)
    _keep_options(options, opts)
    dedup_id = _dedup_option(options, opts)
    timestamp = _timestamp_option(options, opts, now_ms)
    return AddSpec(
        name=name,
        data=data_json,
        # An add without options (most of a bulk add's) always writes the same opts.
        opts=_NO_OPTS_JSON if opts == _NO_OPTS else dump_json(opts, "job options"),
        job_id=job_id,
        timestamp=timestamp,
        delay=delay,
        priority=priority,
        lifo=lifo,
        data_value=data,
        opts_value=opts,
        dedup_id=dedup_id,
    )


def parse_limiter(limiter: Any) -> tuple[int, int]:
    """``{"max": n, "duration": seconds}`` -> (max, duration in ms)."""
    if limiter is None:
        return 0, 0
    if not isinstance(limiter, Mapping) or set(limiter) != {"max", "duration"}:
        raise ValueError(f"limiter: expected {{'max': n, 'duration': seconds}}, got {limiter!r}")
    return _int_option(limiter["max"], "limiter.max", 1), to_ms(
        limiter["duration"], "limiter.duration", allow_zero=False
    )
