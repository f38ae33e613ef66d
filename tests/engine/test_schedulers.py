"""Job schedulers: next-run times (cron in a time zone, every with an offset, start, end, limit), the Redis
layout BullMQ 6.7 writes, reading what another program wrote badly, the worker making each next run, and
the one-next-run guarantee under producers and workers racing."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import random
import re
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import redis
import redis.asyncio as aredis

from board import Queue, SyncQueue, Worker
from board.engine import cron, scheduler_options, schedulers
from board.engine.codes import SchedulerCode
from board.engine.errors import JobStateError
from board.engine.keys import QueueKeys
from board.engine.scheduler_options import next_run_of, upsert_spec
from board.engine.scripts import LUA_DIR, script

from .helpers import running, until

ROOT = Path(__file__).resolve().parents[2]
BERLIN = "Europe/Berlin"


def ms(text: str) -> int:
    """An ISO time (with its offset) as epoch ms."""
    return round(datetime.fromisoformat(text).timestamp() * 1000)


def iso(millis: int) -> str:
    return datetime.fromtimestamp(millis / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def fires(pattern: str, after: str, count: int, tz: str | None = BERLIN) -> list[str]:
    """``count`` next runs, each computed from the one before as a worker does."""
    out, now = [], ms(after)
    for _ in range(count):
        found = cron.next_fire_ms(pattern, now, tz)
        assert found is not None
        out.append(iso(found))
        now = found
    return out


# Cron times -------------------------------------------------------------------------------------------------


def test_a_daily_run_in_berlin_is_neither_lost_nor_doubled_by_daylight_saving() -> None:
    # Spring: 02:00 does not exist on 30 March 2025; the run moves to 03:00 summer time (01:00 UTC).
    assert fires("0 2 * * *", "2025-03-29T12:00:00+01:00", 3) == [
        "2025-03-30T01:00:00Z",
        "2025-03-31T00:00:00Z",
        "2025-04-01T00:00:00Z",
    ]
    # Autumn: 02:00 happens twice on 26 October 2025; it runs once, at the first.
    assert fires("0 2 * * *", "2025-10-25T12:00:00+02:00", 3) == [
        "2025-10-26T00:00:00Z",
        "2025-10-27T01:00:00Z",
        "2025-10-28T01:00:00Z",
    ]
    # From a "now" inside the repeated hour, after the first 02:00: the next is the next day's.
    assert fires("0 2 * * *", "2025-10-26T02:30:00+01:00", 1) == ["2025-10-27T01:00:00Z"]
    assert fires("0 2 * * *", "2025-10-26T02:30:00+02:00", 1) == ["2025-10-27T01:00:00Z"]


def test_daylight_saving_as_cron_parser_has_it() -> None:
    # A skipped time moves by the gap; an hourly pattern fires in both copies of the repeated hour.
    assert fires("30 2 * * *", "2025-03-29T12:00:00Z", 2) == ["2025-03-30T01:30:00Z", "2025-03-31T00:30:00Z"]
    assert fires("0 * * * *", "2025-10-25T22:30:00Z", 5) == [
        "2025-10-25T23:00:00Z",
        "2025-10-26T00:00:00Z",
        "2025-10-26T01:00:00Z",
        "2025-10-26T02:00:00Z",
        "2025-10-26T03:00:00Z",
    ]
    assert fires("*/30 * * * *", "2025-03-30T00:00:00Z", 4) == [
        "2025-03-30T00:30:00Z",
        "2025-03-30T01:00:00Z",
        "2025-03-30T01:30:00Z",
        "2025-03-30T02:00:00Z",
    ]
    assert fires("*/30 * * * *", "2025-10-26T00:10:00Z", 3) == [
        "2025-10-26T00:30:00Z",
        "2025-10-26T01:00:00Z",
        "2025-10-26T01:30:00Z",
    ]


def test_cron_patterns_of_five_and_six_fields_and_bounds() -> None:
    assert fires("0 9 * * 1-5", "2025-01-03T10:00:00Z", 2, None) == ["2025-01-06T09:00:00Z", "2025-01-07T09:00:00Z"]
    # Six fields: seconds first, as cron-parser reads them.
    assert fires("*/10 * * * * *", "2025-01-01T00:00:05Z", 2, None) == ["2025-01-01T00:00:10Z", "2025-01-01T00:00:20Z"]
    assert fires("0 9 * * *", "2025-01-01T00:00:00Z", 1, "America/New_York") == ["2025-01-01T14:00:00Z"]
    # Strictly after: a run is never found again from its own time.
    assert cron.next_fire_ms("0 9 * * *", ms("2025-01-01T09:00:00Z"), None) == ms("2025-01-02T09:00:00Z")
    assert cron.next_fire_ms("0 9 * * *", ms("2025-01-01T10:00:00Z"), None, ms("2025-01-02T08:59:59Z")) is None
    assert cron.next_fire_ms("0 9 * * *", ms("2025-01-01T10:00:00Z"), None, ms("2025-01-02T09:00:00Z")) == ms(
        "2025-01-02T09:00:00Z"
    )


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        ("0 9 * *", "5 fields"),
        ("0 0 9 * * * 2025", "5 fields"),
        ("61 * * * *", "not a cron pattern"),
        ("0 0 30 2 *", "not a cron pattern"),
        ("every day", "5 fields"),
        ("", "expected a cron pattern"),
        (5, "expected a cron pattern"),
    ],
)
def test_a_bad_pattern_is_refused_naming_the_option(pattern: Any, why: str) -> None:
    with pytest.raises(ValueError, match=rf"^cron: .*{why}"):
        cron.check_pattern(pattern)


def test_a_bad_time_zone_is_refused_naming_the_option() -> None:
    for tz in ("Mars/Olympus", "", "../etc/passwd", 3):
        with pytest.raises(ValueError, match=r"^tz: "):
            cron.check_tz(tz)
    assert cron.check_tz("Asia/Kolkata") == "Asia/Kolkata"


# What Node's cron-parser takes: each expected time is cron-parser 5.10's (tests/interop checks more).
NODE_PATTERNS = [
    ("@daily", "2026-01-01T10:00:00Z", "2026-01-02T00:00:00Z"),
    ("@weekdays", "2026-01-02T10:00:00Z", "2026-01-05T00:00:00Z"),
    ("@weekly", "2026-01-01T10:00:00Z", "2026-01-04T00:00:00Z"),
    ("0 12 * * 5L", "2026-01-01T00:00:00Z", "2026-01-30T12:00:00Z"),  # the last Friday
    ("0 12 * * 5#2", "2026-01-01T00:00:00Z", "2026-01-09T12:00:00Z"),  # the second Friday
    ("0 12 * * 7", "2026-01-01T00:00:00Z", "2026-01-04T12:00:00Z"),  # 7 is Sunday
    ("0 12 * * 5-7", "2026-01-03T13:00:00Z", "2026-01-04T12:00:00Z"),
    ("0 12 L * *", "2026-02-01T00:00:00Z", "2026-02-28T12:00:00Z"),
    ("0 12 ? * MON", "2026-01-01T00:00:00Z", "2026-01-05T12:00:00Z"),
    ("0 12 * JAN,feb Sat", "2026-01-01T00:00:00Z", "2026-01-03T12:00:00Z"),
    # Day of month and day of week both set: either day fires, also with L.
    ("0 12 13 * 5", "2026-01-10T00:00:00Z", "2026-01-13T12:00:00Z"),
    ("0 12 1 * 5L", "2026-01-02T00:00:00Z", "2026-01-30T12:00:00Z"),
]


@pytest.mark.parametrize(("pattern", "after", "expected"), NODE_PATTERNS)
def test_patterns_node_takes_fire_when_cron_parser_fires_them(pattern: str, after: str, expected: str) -> None:
    assert iso(cron.next_fire_ms(pattern, ms(after.replace("Z", "+00:00")), None) or 0) == expected
    assert cron.check_pattern(pattern) == pattern


def test_a_node_run_may_hold_what_cron_parser_pads_but_an_upsert_may_not() -> None:
    # cron-parser reads 1 to 4 fields as the last ones of 6 ("* * *": every minute, at second 0).
    assert fires("* * *", "2026-01-01T00:00:30Z", 2, None) == ["2026-01-01T00:01:00Z", "2026-01-01T00:02:00Z"]
    assert cron.check_pattern("* * *", any_fields=True) == "* * *"
    with pytest.raises(ValueError, match=r"^cron: .*5 fields"):
        cron.check_pattern("* * *")


@pytest.mark.parametrize(
    ("pattern", "why"),
    [
        ("H 12 * * *", "hashed values"),  # random on each Node worker
        ("0 12 * * L", "L needs a weekday"),
        ("0 12 * * 0,7", "listed twice"),
        ("0 12 15W * *", "unexpected characters"),
        ("0 12 * * 1#6", "from 1 to 5"),
        ("0/0 12 * * *", "step"),
        ("@DAILY", "unknown name"),
    ],
)
def test_what_cron_parser_refuses_is_refused(pattern: str, why: str) -> None:
    with pytest.raises(ValueError, match=rf"^cron: .*{why}"):
        cron.check_pattern(pattern, any_fields=True)
    with pytest.raises(ValueError, match=r"^cron: "):
        cron.check_pattern(pattern)


def test_zones_are_read_as_luxon_reads_them() -> None:
    nine = ms("2026-01-01T00:00:00+00:00")
    for tz, expected in [
        ("utc", "2026-01-01T09:00:00Z"),
        ("GMT", "2026-01-01T09:00:00Z"),
        ("europe/berlin", "2026-01-01T08:00:00Z"),
        ("EUROPE/BERLIN", "2026-01-01T08:00:00Z"),
        ("UTC+2", "2026-01-01T07:00:00Z"),
        ("UTC-05:30", "2026-01-01T14:30:00Z"),
        ("UTC-0:30", "2026-01-01T09:30:00Z"),  # the sign covers the minutes
    ]:
        assert cron.check_tz(tz) == tz
        assert iso(cron.next_fire_ms("0 9 * * *", nine, tz) or 0) == expected, tz
    # A fixed offset knows no daylight saving.
    assert fires("0 9 * * *", "2026-03-28T12:00:00Z", 2, "UTC+1") == ["2026-03-29T08:00:00Z", "2026-03-30T08:00:00Z"]
    # Each machine's own zone: followed in a run Node made, refused in an upsert here.
    assert cron.check_tz("local", host=True) == "local"
    with pytest.raises(ValueError, match=r"^tz: 'local' is each machine's own zone"):
        cron.check_tz("local")
    for tz in ("GMT+2", "+02:00", "UTC+02:5", "UTC+24", "localtime", "Factory"):
        with pytest.raises(ValueError, match=r"^tz: "):
            cron.check_tz(tz, host=True)


def test_a_midnight_that_daylight_saving_skips_is_skipped_as_cron_parser_skips_it() -> None:
    # Santiago sets 00:00 to 01:00 on 6 September 2026: cron-parser passes the day by, and so does this.
    assert fires("0 0 * * *", "2026-09-05T12:00:00Z", 2, "America/Santiago") == [
        "2026-09-07T03:00:00Z",
        "2026-09-08T03:00:00Z",
    ]
    assert fires("0 0 * * *", "2026-03-07T12:00:00Z", 1, "America/Havana") == ["2026-03-09T04:00:00Z"]
    assert fires("30 0 * * *", "2026-09-05T03:30:00Z", 2, "America/Santiago") == [
        "2026-09-05T04:30:00Z",
        "2026-09-07T03:30:00Z",
    ]
    # Firing in the hour before midnight too, it steps across the gap: the run moves to 01:00.
    assert fires("0 23,0 * * *", "2026-09-06T02:00:00Z", 2, "America/Santiago") == [
        "2026-09-06T03:00:00Z",
        "2026-09-06T04:00:00Z",
    ]
    # A first hour of the day that the autumn change repeats (Havana, 2 November 2025) fires in its second
    # occurrence when the search comes to it by a whole-day step, in its first when it steps in.
    assert fires("0 0 * * *", "2025-11-01T12:00:00Z", 1, "America/Havana") == ["2025-11-02T05:00:00Z"]
    assert fires("0 0 * * *", "2025-11-01T04:00:00Z", 1, "America/Havana") == ["2025-11-02T05:00:00Z"]
    assert fires("0 0 1 * *", "2026-10-25T06:44:00Z", 1, "America/Havana") == ["2026-11-01T04:00:00Z"]
    # Inside a day the skipped time still moves past the gap, and a search from past the gap stays past it.
    assert fires("0 2 * * *", "2025-03-29T12:00:00Z", 1) == ["2025-03-30T01:00:00Z"]
    assert fires("0,30 2 * * *", "2025-03-30T01:00:00Z", 1) == ["2025-03-31T00:00:00Z"]


# Options ----------------------------------------------------------------------------------------------------

NOW = ms("2025-06-01T12:00:00+00:00")


def spec(scheduler_id: str = "s", **kwargs: Any) -> scheduler_options.UpsertSpec:
    return upsert_spec(scheduler_id, NOW, frozenset(), **kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({}, r"^cron, every: give exactly one"),
        ({"cron": "* * * * *", "every": 5}, r"^cron, every: give exactly one"),
        ({"every": 0}, r"^every: "),
        ({"every": -1}, r"^every: "),
        ({"every": "5"}, r"^every: "),
        ({"every": 5, "tz": BERLIN}, r"^tz: only a cron pattern"),
        ({"cron": "* * * * *", "tz": "Nowhere/Else"}, r"^tz: unknown time zone"),
        ({"cron": "* * * * *", "offset": 1}, r"^offset: only an `every`"),
        ({"every": 5, "offset": 5}, r"^offset: must be shorter"),
        ({"every": 5, "start": datetime(2030, 1, 1)}, r"^start: the datetime needs a time zone"),
        ({"every": 5, "end": 1_900_000_000}, r"^end: expected a datetime"),
        ({"every": 5, "end": datetime(2020, 1, 1, tzinfo=UTC)}, r"^end: must be in the future"),
        (
            {"every": 5, "start": datetime(2031, 1, 1, tzinfo=UTC), "end": datetime(2030, 1, 1, tzinfo=UTC)},
            r"^end: must be after start",
        ),
        ({"every": 5, "limit": 0}, r"^limit: "),
        ({"every": 5, "limit": True}, r"^limit: "),
        ({"every": 5, "options": {"job_id": "x"}}, r"^options: job_id cannot be set"),
        ({"every": 5, "options": {"delay": 3}}, r"^options: delay cannot be set"),
        ({"every": 5, "options": {"attempts": -1}}, r"^attempts: "),
        ({"every": 5, "options": {"nope": 1}}, r"unknown job option"),
        ({"every": 5, "name": ""}, r"^name: "),
    ],
)
def test_bad_scheduler_options_are_refused_naming_the_option(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        spec(**kwargs)


@pytest.mark.parametrize("bad", ["", "a:b", 7, None])
def test_a_scheduler_id_holds_no_colon(bad: Any) -> None:
    with pytest.raises(ValueError, match=r"^scheduler_id: "):
        spec(bad, every=5)


def test_data_that_is_not_json_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="job data"):
        spec(every=5, data={"when": datetime.now()})


def test_the_legacy_repeat_option_names_its_scheduler_as_bullmq_did() -> None:
    def scheduler_id(repeat: dict[str, Any], **options: Any) -> str:
        return scheduler_options.repeat_spec("mail", {}, repeat, options, NOW, frozenset()).scheduler_id

    expected = hashlib.md5(b"mail::::0 9 * * *").hexdigest()
    assert scheduler_id({"pattern": "0 9 * * *"}) == expected
    assert (
        scheduler_id({"pattern": "0 9 * * *", "tz": BERLIN})
        == hashlib.md5(b"mail:::Europe/Berlin:0 9 * * *").hexdigest()
    )
    assert scheduler_id({"every": 1000}) == hashlib.md5(b"mail::::1000").hexdigest()
    assert scheduler_id({"every": 1000, "key": "beat"}) == "beat"
    assert scheduler_id({"every": 1000}, job_id="beat") == "beat"
    with pytest.raises(ValueError, match=r"^repeat: unknown key"):
        scheduler_id({"every": 1000, "cron": "* * * * *"})
    with pytest.raises(ValueError, match=r"^repeat.pattern: "):
        scheduler_id({"pattern": "whenever"})
    with pytest.raises(ValueError, match=r"^repeat.every: "):
        scheduler_id({"every": "1000"})
    with pytest.raises(ValueError, match=r"^repeat.key: "):
        scheduler_id({"every": 1000, "key": "a:b"})
    with pytest.raises(ValueError, match=r"^repeat: give exactly one"):
        scheduler_id({"every": 1000, "pattern": "* * * * *"})
    with pytest.raises(ValueError, match=r"^repeat.startDate: the datetime needs a time zone"):
        scheduler_id({"every": 1000, "startDate": datetime(2030, 1, 1)})
    with pytest.raises(ValueError, match=r"^repeat: expected a dict"):
        scheduler_id("0 9 * * *")  # type: ignore[arg-type]


def run_fields(opts: dict[str, Any], scheduler_id: str = "s") -> dict[str, str]:
    return {"name": "tpl", "data": "{}", "opts": json.dumps(opts), "rjk": scheduler_id}


def test_a_taken_cron_run_calls_for_the_next_time_after_its_own() -> None:
    taken = ms("2025-03-29T02:00:00+01:00")
    opts: dict[str, Any] = {"repeat": {"pattern": "0 2 * * *", "tz": BERLIN, "count": 4}, "prevMillis": taken}
    opts["attempts"] = 2
    # A worker whose clock is behind still never lands on the run it took.
    run = next_run_of("repeat:s:1", run_fields(opts), taken - 60_000)
    assert run is not None and run.next_ms == ms("2025-03-30T03:00:00+02:00")
    made = json.loads(run.opts)
    assert made["repeat"]["count"] == 5 and made["prevMillis"] == run.next_ms and made["attempts"] == 2
    assert made["repeatJobKey"] == "s" and "jobId" not in made and "delay" not in made
    assert next_run_of("repeat:s:1", run_fields({**opts, "repeat": {**opts["repeat"], "limit": 4}}), taken) is None
    ended = {**opts["repeat"], "endDate": ms("2025-03-30T00:00:00Z")}
    assert next_run_of("repeat:s:1", run_fields({**opts, "repeat": ended}), taken) is None


def test_a_taken_run_whose_options_say_nothing_usable_is_an_error() -> None:
    for opts in ("{", "[]", json.dumps({"repeat": {}}), json.dumps({"repeat": {"pattern": "x", "every": 5}})):
        fields = {"name": "n", "opts": opts, "rjk": "s"}
        with pytest.raises(ValueError, match="repeat:s:1"):
            next_run_of("repeat:s:1", fields, NOW)
    with pytest.raises(ValueError, match=r"opts\.repeat\.pattern"):
        next_run_of("repeat:s:1", run_fields({"repeat": {"pattern": "61 * * * *"}}), NOW)


def test_a_taken_run_with_what_only_cron_parser_took_before_gets_its_next_run() -> None:
    taken = ms("2026-01-01T10:00:00+00:00")
    for pattern, tz, expected in [
        ("@daily", "europe/berlin", "2026-01-01T23:00:00Z"),
        ("0 12 * * 5L", "utc", "2026-01-30T12:00:00Z"),
        ("0 9 * * *", "UTC+2", "2026-01-02T07:00:00Z"),
        ("0 9 * * *", "UTC-05:30", "2026-01-01T14:30:00Z"),
        ("5", None, "2026-01-02T00:00:00Z"),  # cron-parser pads it: Fridays, every minute
    ]:
        repeat = {"pattern": pattern, "count": 1, **({"tz": tz} if tz else {})}
        run = next_run_of("repeat:s:1", run_fields({"repeat": repeat, "prevMillis": taken}), taken)
        assert run is not None and iso(run.next_ms or 0) == expected, (pattern, tz)


def test_a_taken_run_this_engine_cannot_follow_names_the_scheduler_it_stops() -> None:
    for repeat in ({"pattern": "H 12 * * *"}, {"pattern": "0 9 * * *", "tz": "UTC+24"}):
        with pytest.raises(ValueError, match=r"^job 'repeat:s:1' \(scheduler 's' gets no next run from this worker\)"):
            next_run_of("repeat:s:1", run_fields({"repeat": repeat}), NOW)


def test_the_limit_counts_the_runs_since_the_last_upsert_as_node_does() -> None:
    # An upsert starts the run's count again at 1; the hash's ic (all runs ever) plays no part.
    fields = {**run_fields({"repeat": {"every": 1000, "count": 2, "limit": 3}}), "ic": "12"}
    assert next_run_of("repeat:s:1", fields, NOW) is not None
    fields = run_fields({"repeat": {"every": 1000, "count": 3, "limit": 3}})
    assert next_run_of("repeat:s:1", fields, NOW) is None


# Reading what another program wrote --------------------------------------------------------------------------


def test_a_badly_written_hash_is_read_with_its_problems_named() -> None:
    fields = {
        "name": "n\udcff",
        "data": "{broken",
        "opts": "[1]",
        "every": "soon",
        "pattern": "* * * * *",
        "ic": "1.5",
        "limit": "3",
    }
    s = schedulers.parse_scheduler("s", fields, "17")
    assert s.next_run_ms == 17 and s.next_job_id == "repeat:s:17" and s.limit == 3
    assert s.data == "{broken" and s.opts == {} and s.every_ms is None and s.iteration_count == 0
    assert set(s.problems) == {"name", "data", "opts", "every", "ic"}
    assert schedulers.parse_scheduler("s", {}, "1").problems == {"key": "the scheduler's hash (repeat:<id>) is missing"}
    assert "a string" in schedulers.parse_scheduler("s", {"board:keytype": "string"}, "1").problems["key"]
    assert "next_run" in schedulers.parse_scheduler("s", {"name": "n", "every": "5"}, "inf").problems
    assert schedulers.parse_scheduler("s", {"name": "n"}, "1").problems == {"pattern": "neither a pattern nor an every"}


def test_fields_too_large_to_read_and_what_no_worker_here_can_follow_are_named() -> None:
    fields = {"name": "n", "data.size": "104857600", "opts.size": "2000000", "pattern": "H * * * *", "tz": "UTC+30"}
    s = schedulers.parse_scheduler("s", fields, "17")
    assert s.data is None and s.opts == {} and s.name == "n"
    assert s.problems["data"] == "too large to read here (104857600 bytes)"
    assert s.problems["opts"] == "too large to read here (2000000 bytes)"
    assert "stops when one takes its run" in s.problems["pattern"] and "hashed" in s.problems["pattern"]
    assert "stops when one takes its run" in s.problems["tz"]
    big = schedulers.parse_scheduler("s", {"name.size": "5000", "every": "1000", "tz.size": "9000"}, "1")
    assert big.name == "" and set(big.problems) == {"name", "tz"}
    # What Node takes is no problem.
    node = schedulers.parse_scheduler("s", {"name": "n", "pattern": "@daily", "tz": "europe/berlin"}, "1")
    assert node.problems == {}
    assert "holds none" in schedulers.parse_scheduler("s", {"board:keytype": "hash"}, "1").problems["key"]
    assert (
        "neither written nor deleted"
        in schedulers.parse_scheduler("x:1", {"name": "n", "every": "5"}, "1").problems["id"]
    )


def test_the_scheduler_codes_are_named_alike_in_lua_and_python() -> None:
    lua = (LUA_DIR / "_scheduler.lua").read_text(encoding="utf-8")
    named = {m[1]: int(m[2]) for m in re.finditer(r"^local (SCHEDULER_[A-Z_]+) = (-?\d+)", lua, re.M)}
    assert named == {c.name: int(c) for c in SchedulerCode}


# On Redis ---------------------------------------------------------------------------------------------------


def run_op(queue: Queue, op: Any) -> Any:
    return queue._runner.run(op)


async def upsert_at(queue: Queue, now: int, scheduler_id: str = "s", **kwargs: Any) -> schedulers.Upserted:
    made = upsert_spec(scheduler_id, now, frozenset(), **kwargs)
    done: schedulers.Upserted = await run_op(queue, schedulers.upsert(queue.keys, made, now))
    return done


def events(raw: Any, qname: str) -> list[dict[str, str]]:
    return [fields for _, fields in raw.xrange(f"bull:{qname}:events")]


async def test_a_cron_scheduler_is_stored_as_bullmq_stores_it(queue: Queue, raw: redis.Redis, qname: str) -> None:
    end = datetime.now(UTC) + timedelta(days=30)
    s = await queue.upsert_job_scheduler(
        "daily",
        cron="0 9 * * *",
        tz=BERLIN,
        limit=5,
        end=end,
        name="report",
        data={"a": 1},
        options={"attempts": 3, "backoff": 1, "remove_on_complete": 10, "priority": 4},
    )
    assert s.next_run_ms is not None and s.next_run_ms > cron.next_fire_ms("0 9 * * *", 0) - 1  # type: ignore[operator]
    assert datetime.fromtimestamp(s.next_run_ms / 1000, cron.zone_of(BERLIN)).hour == 9
    assert (s.name, s.data, s.pattern, s.tz, s.limit, s.iteration_count, s.problems) == (
        "report", {"a": 1}, "0 9 * * *", BERLIN, 5, 1, {}
    )  # fmt: skip
    assert s.opts == {"attempts": 3, "backoff": {"type": "fixed", "delay": 1000}, "removeOnComplete": 10, "priority": 4}
    base = f"bull:{qname}:"
    assert raw.zrange(base + "repeat", 0, -1, withscores=True) == [("daily", s.next_run_ms)]
    end_ms = round(end.timestamp() * 1000)
    stored = raw.hgetall(base + "repeat:daily")
    assert json.loads(stored.pop("opts")) == s.opts
    assert stored == {
        "name": "report",
        "data": '{"a":1}',
        "pattern": "0 9 * * *",
        "tz": BERLIN,
        "offset": "0",
        "limit": "5",
        "endDate": str(end_ms),
        "ic": "1",
    }
    run = raw.hgetall(base + s.next_job_id)  # type: ignore[operator]
    opts = json.loads(run.pop("opts"))
    delay = int(run["delay"])
    assert run == {
        "name": "report",
        "data": '{"a":1}',
        "timestamp": run["timestamp"],
        "delay": str(delay),
        "priority": "4",
        "rjk": "daily",
    }
    assert delay == s.next_run_ms - int(run["timestamp"])
    assert opts == {
        "delay": delay,
        "jobId": s.next_job_id,
        "attempts": 3,
        "backoff": {"type": "fixed", "delay": 1000},
        "removeOnComplete": 10,
        "priority": 4,
        "repeat": {"pattern": "0 9 * * *", "tz": BERLIN, "count": 1, "limit": 5, "endDate": end_ms},
        "repeatJobKey": "daily",
        "timestamp": int(run["timestamp"]),
        "prevMillis": s.next_run_ms,
    }
    assert raw.zrange(base + "delayed", 0, -1) == [s.next_job_id]
    assert [(e["event"], e["jobId"]) for e in events(raw, qname)] == [
        ("added", s.next_job_id),
        ("delayed", s.next_job_id),
    ]
    assert events(raw, qname)[1]["delay"] == str(s.next_run_ms)
    job = await queue.get_job(s.next_job_id)  # type: ignore[arg-type]
    assert job is not None and job.repeat_job_key == "daily" and await job.get_state() == "delayed"


async def test_an_every_scheduler_runs_first_at_once(queue: Queue, raw: redis.Redis, qname: str) -> None:
    now = ms("2025-06-01T12:00:00.019+00:00")
    made = await upsert_at(queue, now, "tick", every=2, data={"b": 2})
    s = made.scheduler
    assert (s.next_run_ms, s.every_ms, s.offset_ms, s.data) == (now, 2000, 19, {"b": 2})
    assert made.job_id == f"repeat:tick:{now}" and made.job_fields["delay"] == "0"
    assert raw.lrange(f"bull:{qname}:wait", 0, -1) == [made.job_id]
    assert raw.hgetall(f"bull:{qname}:repeat:tick") == {
        "name": "tick",
        "every": "2000",
        "offset": "19",
        "data": '{"b":2}',
        "ic": "1",
    }
    assert json.loads(made.job_fields["opts"])["repeat"] == {"every": 2000, "count": 1}
    assert [e["event"] for e in events(raw, qname)] == ["added", "waiting"]


async def test_every_with_an_offset_or_a_start(queue: Queue) -> None:
    now = ms("2025-06-01T12:00:00.500+00:00")
    aligned = await upsert_at(queue, now, "a", every=60, offset=1.234)
    assert aligned.scheduler.next_run_ms == ms("2025-06-01T12:00:01.234+00:00")
    assert aligned.scheduler.offset_ms == 1234
    later = await upsert_at(queue, now, "b", every=60, start=datetime(2025, 6, 1, 13, tzinfo=UTC))
    assert later.scheduler.next_run_ms == ms("2025-06-01T13:00:00+00:00")
    assert later.scheduler.start_ms == later.scheduler.next_run_ms
    assert later.job_fields["delay"] == str(3_600_000 - 500)
    # A cron start that is one of the pattern's times is the first run.
    first = await upsert_at(queue, now, "c", cron="0 13 * * *", start=datetime(2025, 6, 1, 13, tzinfo=UTC))
    assert first.scheduler.next_run_ms == ms("2025-06-01T13:00:00+00:00")


async def test_an_upsert_replaces_the_pending_run(queue: Queue, raw: redis.Redis, qname: str) -> None:
    now = ms("2025-06-01T12:00:00+00:00")
    first = await upsert_at(queue, now, every=60, data={"v": 1})
    again = await upsert_at(queue, now + 5_000, every=60, data={"v": 2}, name="renamed")
    # The same schedule keeps its time; the run is made anew from the new template.
    assert again.job_id == first.job_id
    assert json.loads(again.job_fields["data"]) == {"v": 2} and again.job_fields["name"] == "renamed"
    other = await upsert_at(queue, now + 6_000, every=30)
    assert other.scheduler.next_run_ms == now + 6_000 and other.scheduler.iteration_count == 1
    cron_run = await upsert_at(queue, now + 7_000, cron="0 13 * * *")
    assert cron_run.scheduler.next_run_ms == ms("2025-06-01T13:00:00+00:00")
    assert cron_run.scheduler.every_ms is None and cron_run.scheduler.pattern == "0 13 * * *"
    keys = [k for k in raw.scan_iter(f"bull:{qname}:repeat:s:*")]
    assert keys == [f"bull:{qname}:{cron_run.job_id}"]
    assert raw.llen(f"bull:{qname}:wait") == 0 and raw.zrange(f"bull:{qname}:delayed", 0, -1) == [cron_run.job_id]
    assert await queue.count_job_schedulers() == 1


async def test_a_cron_time_whose_run_id_is_taken_moves_to_the_next(queue: Queue, raw: redis.Redis, qname: str) -> None:
    now = ms("2025-06-01T12:00:00+00:00")
    # A finished run of 13:00 kept from an earlier scheduler of the same id.
    raw.hset(f"bull:{qname}:repeat:s:{ms('2025-06-01T13:00:00+00:00')}", mapping={"name": "old", "data": "{}"})
    made = await upsert_at(queue, now, cron="0 13 * * *")
    assert made.scheduler.next_run_ms == ms("2025-06-02T13:00:00+00:00")
    # The script itself refuses the time; the upsert above then asked for the next one.
    raw.hset(f"bull:{qname}:repeat:t:{ms('2025-06-01T13:00:00+00:00')}", "name", "old")
    keys = QueueKeys("bull", qname)
    args = upsert_spec("t", now, frozenset(), cron="0 13 * * *").script_args(now, ms("2025-06-01T13:00:00+00:00"))
    code = raw.eval(script("add_job_scheduler").source, len(keys.script_keys), *keys.script_keys, keys.base, *args)
    assert code == SchedulerCode.SCHEDULER_JOB_ID_COLLISION
    assert raw.zscore(f"bull:{qname}:repeat", "t") is None
    for i in range(1, 40):
        raw.hset(f"bull:{qname}:repeat:e:{now + i * 1000}", "name", "old")
    raw.hset(f"bull:{qname}:repeat:e:{now}", "name", "old")
    with pytest.raises(JobStateError, match="held by jobs kept from earlier runs"):
        await upsert_at(queue, now, "e", every=1)


async def test_an_end_before_the_first_run_writes_nothing(queue: Queue, raw: redis.Redis, qname: str) -> None:
    now = ms("2025-06-01T12:00:00+00:00")
    with pytest.raises(ValueError, match=r"^end: "):
        await upsert_at(queue, now, cron="0 13 * * *", end=datetime(2025, 6, 1, 12, 30, tzinfo=UTC))
    with pytest.raises(ValueError, match=r"^end: "):
        await upsert_at(queue, now, every=60, offset=30, end=datetime(2025, 6, 1, 12, 0, 10, tzinfo=UTC))
    assert raw.keys(f"bull:{qname}:repeat*") == []


async def test_get_list_count_and_remove(queue: Queue, raw: redis.Redis, qname: str) -> None:
    for i, minutes in enumerate((30, 10, 20)):
        await queue.upsert_job_scheduler(
            f"s{i}", every=minutes * 60, start=datetime.now(UTC) + timedelta(hours=1, minutes=minutes)
        )
    assert [s.id for s in await queue.get_job_schedulers()] == ["s1", "s2", "s0"]
    assert [s.id for s in await queue.get_job_schedulers(asc=False)] == ["s0", "s2", "s1"]
    assert [s.id for s in await queue.get_job_schedulers(1, 1)] == ["s2"]
    assert await queue.get_job_schedulers(5) == []
    with pytest.raises(ValueError, match=r"^end: a page holds at most 1000"):
        await queue.get_job_schedulers(0, 1000)
    with pytest.raises(ValueError, match=r"^start: "):
        await queue.get_job_schedulers(-1)
    assert await queue.count_job_schedulers() == 3
    one = await queue.get_job_scheduler("s1")
    assert one is not None and one.every_ms == 600_000 and one.next_job_id
    assert await queue.get_job_scheduler("nope") is None
    assert await queue.remove_job_scheduler("s1") is True
    assert await queue.remove_job_scheduler("s1") is False
    assert raw.exists(f"bull:{qname}:{one.next_job_id}", f"bull:{qname}:repeat:s1") == 0
    assert one.next_job_id not in raw.zrange(f"bull:{qname}:delayed", 0, -1)
    removed = [e for e in events(raw, qname) if e["event"] == "removed"]
    assert removed == [{"event": "removed", "jobId": one.next_job_id, "prev": "delayed"}]
    assert await queue.count_job_schedulers() == 2


async def test_a_scheduler_another_program_wrote_badly_is_listed_with_its_problems(
    queue: Queue, raw: redis.Redis, qname: str
) -> None:
    await queue.upsert_job_scheduler("good", every=60)
    base = f"bull:{qname}:"
    raw.zadd(base + "repeat", {"string": 1, "empty": 2, "broken": 3, "with:colon": 4})
    raw.set(base + "repeat:string", "x")
    raw.hset(base + "repeat:broken", mapping={"name": "b", "data": "{", "every": "x", "offset": "y", "opts": "1"})
    raw.hset(base + "repeat:with:colon", mapping={"name": "c", "pattern": "0 9 * * *"})
    found = {s.id: s for s in await queue.get_job_schedulers()}
    assert set(found) == {"good", "string", "empty", "broken", "with:colon"}
    assert found["good"].problems == {}
    assert "a string" in found["string"].problems["key"]
    assert found["empty"].problems == {"key": "the scheduler's hash (repeat:<id>) is missing"}
    assert set(found["broken"].problems) == {"data", "every", "offset", "opts"}
    assert set(found["with:colon"].problems) == {"id"} and found["with:colon"].pattern == "0 9 * * *"
    assert (await queue.get_job_scheduler("string")).problems  # type: ignore[union-attr]
    # Removed from the set; its hash, which may be another key, stays.
    assert await queue.remove_job_scheduler("with:colon") is True
    assert await queue.get_job_scheduler("with:colon") is None and raw.exists(base + "repeat:with:colon")


async def test_a_page_reads_only_a_schedulers_fields_and_none_too_large(
    queue: Queue, raw: redis.Redis, qname: str
) -> None:
    await queue.upsert_job_scheduler("s", every=60, data={"small": True})
    key = f"bull:{qname}:repeat:s"
    pipe = raw.pipeline(transaction=False)
    for start in range(0, 50_000, 10_000):
        pipe.hset(key, mapping={f"junk{i}": "x" * 20 for i in range(start, start + 10_000)})
    pipe.execute()
    data = json.dumps({"blob": "y" * 2_000_000})
    raw.hset(key, mapping={"data": data, "name": "n" * 5000})
    raw.zadd(f"bull:{qname}:repeat", {"junk-only": 1})
    raw.hset(f"bull:{qname}:repeat:junk-only", mapping={"junk": "x"})

    def hgetalls() -> int:
        return int(raw.info("commandstats").get("cmdstat_hgetall", {}).get("calls", 0))

    before = hgetalls()
    page = {s.id: s for s in await queue.get_job_schedulers()}
    one = await queue.get_job_scheduler("s")
    assert hgetalls() == before
    assert one == page["s"]
    assert one.data is None and one.problems["data"] == f"too large to read here ({len(data)} bytes)"
    assert one.name == "" and one.problems["name"] == "too large to read here (5000 bytes)"
    assert one.every_ms == 60_000 and set(one.problems) == {"data", "name"}
    assert "holds none" in page["junk-only"].problems["key"]


async def test_an_id_with_a_colon_from_redis_never_names_another_key(
    queue: Queue, raw: redis.Redis, qname: str
) -> None:
    now = ms("2025-06-01T12:00:00+00:00")
    made = await upsert_at(queue, now, "x", every=60)
    base = f"bull:{qname}:"
    # A member "x:<ms>" names the hash repeat:x:<ms>: the key of scheduler x's run.
    member = made.job_id.removeprefix("repeat:")
    raw.zadd(base + "repeat", {member: 7})
    run_key = base + made.job_id
    fields = raw.hgetall(run_key)
    listed = await queue.get_job_scheduler(member)
    assert listed is not None and "neither written nor deleted" in listed.problems["id"]
    # Following a run of it writes nothing into that hash...
    follow = scheduler_options.NextRun(member, f"repeat:{member}:7", None, 1000, None, "n", "{}", 0, False)
    made_next = await run_op(queue, schedulers.schedule_next(queue.keys, follow, now))
    assert made_next == f"repeat:{member}:{now + 1000}"
    assert raw.hgetall(run_key) == fields
    # ... and removing it deletes neither that hash nor scheduler x.
    assert await queue.remove_job_scheduler(member) is True
    assert raw.hgetall(run_key) == fields and raw.zscore(base + "repeat", member) is None
    assert raw.zscore(base + "repeat", "x") == now and await queue.get_job_scheduler("x") is not None


async def test_the_sync_queue_has_the_same_calls(redis_url: str, qname: str, raw: redis.Redis) -> None:
    with SyncQueue(qname, redis_url) as q:
        s = q.upsert_job_scheduler("sync", every=timedelta(minutes=1), data={"x": 1})
        assert s.every_ms == 60_000 and q.count_job_schedulers() == 1
        assert q.get_job_scheduler("sync") == s
        assert [x.id for x in q.get_job_schedulers()] == ["sync"]
        job = q.add("legacy", {"y": 1}, repeat={"every": 5000, "key": "beat"}, attempts=2)
        assert job.id.startswith("repeat:beat:") and job.opts["attempts"] == 2
        assert q.remove_job_scheduler("sync") and q.remove_job_scheduler("beat")
        assert q.count_job_schedulers() == 0


async def test_add_with_repeat_makes_a_scheduler(queue: Queue, raw: redis.Redis, qname: str) -> None:
    first = await queue.add("mail", {"to": "a"}, repeat={"pattern": "0 9 * * *", "tz": BERLIN}, attempts=3)
    again = await queue.add("mail", {"to": "b"}, repeat={"pattern": "0 9 * * *", "tz": BERLIN}, attempts=3)
    scheduler_id = hashlib.md5(b"mail:::Europe/Berlin:0 9 * * *").hexdigest()
    assert first.id == again.id and first.id.startswith(f"repeat:{scheduler_id}:")
    assert again.data == {"to": "b"} and again.repeat_job_key == scheduler_id
    assert await queue.count_job_schedulers() == 1 and raw.zcard(f"bull:{qname}:delayed") == 1
    every = await queue.add("beat", None, repeat={"every": 1000}, job_id="beat-1")
    assert every.id.startswith("repeat:beat-1:") and await every.get_state() == "waiting"
    with pytest.raises(ValueError, match="unknown job option"):
        await queue.add_bulk([{"name": "x", "repeat": {"every": 1000}}])
    assert await queue.count_job_schedulers() == 2


# The worker makes each next run ------------------------------------------------------------------------------


async def test_a_worker_runs_an_every_scheduler_one_run_after_another(
    queue: Queue, redis_url: str, raw: redis.Redis, qname: str
) -> None:
    ran: list[str] = []

    async def work(job: Any) -> None:
        ran.append(job.id)

    await queue.upsert_job_scheduler("tick", every=0.25, limit=4, data={"n": 1})
    async with running(Worker(qname, work, redis_url)):
        await until(lambda: len(ran) == 4, timeout=5)
        await asyncio.sleep(0.3)
    assert len(ran) == 4
    times = [int(job_id.rsplit(":", 1)[1]) for job_id in ran]
    assert [b - a for a, b in itertools.pairwise(times)] == [250, 250, 250]
    s = await queue.get_job_scheduler("tick")
    assert s is not None and s.iteration_count == 4 and s.next_job_id == ran[-1]
    # Each run carries the next count, as BullMQ's worker writes it.
    counts = [json.loads(raw.hget(f"bull:{qname}:{job_id}", "opts"))["repeat"]["count"] for job_id in ran]  # type: ignore[arg-type]
    assert counts == [1, 2, 3, 4]
    assert raw.zcard(f"bull:{qname}:delayed") == 0 and raw.llen(f"bull:{qname}:wait") == 0


async def test_a_worker_runs_a_cron_scheduler_and_stops_at_its_end(
    queue: Queue, redis_url: str, raw: redis.Redis, qname: str
) -> None:
    ran: list[str] = []

    async def work(job: Any) -> None:
        ran.append(job.id)

    end = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=3)
    await queue.upsert_job_scheduler("sec", cron="* * * * * *", end=end)
    async with running(Worker(qname, work, redis_url)):
        await until(lambda: len(ran) >= 2, timeout=6)
        await asyncio.sleep(max(0.0, end.timestamp() - datetime.now(UTC).timestamp()) + 0.5)
    times = [int(job_id.rsplit(":", 1)[1]) for job_id in ran]
    assert all(t % 1000 == 0 for t in times) and times == sorted(set(times))
    assert times[-1] <= end.timestamp() * 1000
    assert [b - a for a, b in itertools.pairwise(times)] == [1000] * (len(times) - 1)
    assert raw.zcard(f"bull:{qname}:delayed") == 0


async def test_a_failure_to_schedule_never_fails_the_run(
    queue: Queue, redis_url: str, raw: redis.Redis, qname: str
) -> None:
    done: list[str] = []
    errors: list[BaseException] = []
    made = await queue.upsert_job_scheduler("bad", every=60)
    # Another program left a pattern that cannot be read in the run's options.
    key = f"bull:{qname}:{made.next_job_id}"
    raw.hset(key, "opts", json.dumps({"repeat": {"pattern": "never ever"}}))
    worker = Worker(qname, lambda job: done.append(job.id), redis_url)
    worker.on("error", errors.append)
    async with running(worker):
        await until(lambda: done and errors, timeout=5)
    assert made.next_job_id is not None and done == [made.next_job_id]
    assert raw.zscore(f"bull:{qname}:completed", made.next_job_id)
    assert isinstance(errors[0], ValueError) and "repeat.pattern" in str(errors[0])


def node_made(raw: redis.Redis, qname: str, job_id: str, repeat: dict[str, Any]) -> None:
    """Turns a scheduler's next run (and the scheduler) into one Node made with ``repeat``."""
    base = f"bull:{qname}:"
    raw.hset(base + job_id, "opts", json.dumps({"repeat": {**repeat, "count": 1}}))
    scheduler = base + "repeat:" + job_id.split(":")[1]
    raw.hdel(scheduler, "every", "offset")
    raw.hset(scheduler, mapping={k: v for k, v in repeat.items() if k in ("pattern", "tz")})


async def test_a_node_scheduler_with_what_only_cron_parser_took_goes_on_under_our_worker(
    queue: Queue, redis_url: str, raw: redis.Redis, qname: str
) -> None:
    errors: list[BaseException] = []
    made = {
        "last-friday": {"pattern": "0 12 * * 5L", "tz": "utc"},
        "daily": {"pattern": "@daily", "tz": "europe/berlin"},
        "offset": {"pattern": "0 9 * * *", "tz": "UTC-05:30"},
    }
    for scheduler_id, repeat in made.items():
        run = (await queue.upsert_job_scheduler(scheduler_id, every=60)).next_job_id
        assert run is not None
        node_made(raw, qname, run, repeat)
    worker = Worker(qname, lambda job: None, redis_url)
    worker.on("error", errors.append)
    started = round(time.time() * 1000)
    async with running(worker):
        await until(lambda: raw.zcard(f"bull:{qname}:delayed") == 3, timeout=5)
    ended = round(time.time() * 1000)
    assert errors == [] and raw.zcard(f"bull:{qname}:completed") == 3
    for scheduler_id, repeat in made.items():
        s = await queue.get_job_scheduler(scheduler_id)
        assert s is not None and s.problems == {} and s.next_run_ms is not None
        earliest = cron.next_fire_ms(repeat["pattern"], started, repeat["tz"])
        latest = cron.next_fire_ms(repeat["pattern"], ended, repeat["tz"])
        assert earliest is not None and latest is not None and earliest <= s.next_run_ms <= latest


async def test_a_scheduler_no_worker_here_can_follow_is_named_not_silently_stopped(
    queue: Queue, redis_url: str, raw: redis.Redis, qname: str
) -> None:
    errors: list[BaseException] = []
    run = (await queue.upsert_job_scheduler("hashed", every=60)).next_job_id
    assert run is not None
    # Node takes H (a random minute, different on each of its workers); no worker here can follow it.
    node_made(raw, qname, run, {"pattern": "H 12 * * *"})
    s = await queue.get_job_scheduler("hashed")
    assert s is not None and "stops when one takes its run" in s.problems["pattern"]
    worker = Worker(qname, lambda job: None, redis_url)
    worker.on("error", errors.append)
    async with running(worker):
        await until(lambda: errors, timeout=5)
    assert isinstance(errors[0], ValueError)
    assert "scheduler 'hashed' gets no next run from this worker" in str(errors[0])


async def test_a_limit_set_by_a_later_upsert_counts_the_runs_from_that_upsert(
    queue: Queue, redis_url: str, raw: redis.Redis, qname: str
) -> None:
    ran: list[str] = []

    async def work(job: Any) -> None:
        ran.append(job.id)

    await queue.upsert_job_scheduler("tick", every=0.1)
    async with running(Worker(qname, work, redis_url)):
        await until(lambda: len(ran) >= 5, timeout=5)
    earlier = await queue.get_job_scheduler("tick")
    assert earlier is not None and earlier.iteration_count > 3
    # As on Node: the upsert starts the runs' count again, and the limit counts from there.
    await queue.upsert_job_scheduler("tick", every=0.1, limit=3)
    ran.clear()
    async with running(Worker(qname, work, redis_url)):
        await until(lambda: len(ran) >= 3, timeout=5)
        await asyncio.sleep(0.5)
    assert len(ran) == 3
    counts = [json.loads(raw.hget(f"bull:{qname}:{job_id}", "opts"))["repeat"]["count"] for job_id in ran]  # type: ignore[arg-type]
    assert counts == [1, 2, 3]


async def test_only_the_run_the_scheduler_names_makes_the_next(queue: Queue, raw: Any, qname: str) -> None:
    now = ms("2025-06-01T12:00:00+00:00")
    made = await upsert_at(queue, now, every=60)
    run = next_run_of(made.job_id, made.job_fields, now)
    assert run is not None
    first = await run_op(queue, schedulers.schedule_next(queue.keys, run, now + 10))
    assert first == f"repeat:s:{now + 60_000}"
    # The same call again (a retry after a lost reply, a retried run) makes nothing more.
    assert await run_op(queue, schedulers.schedule_next(queue.keys, run, now + 20)) is None
    stale = next_run_of("repeat:s:1", made.job_fields, now)
    assert stale is not None and await run_op(queue, schedulers.schedule_next(queue.keys, stale, now)) is None
    assert raw.zrange(f"bull:{qname}:repeat", 0, -1, withscores=True) == [("s", now + 60_000)]
    assert raw.hget(f"bull:{qname}:repeat:s", "ic") == "2"
    # A scheduler removed meanwhile makes nothing either.
    await queue.remove_job_scheduler("s")
    follow = next_run_of(first, raw.hgetall(f"bull:{qname}:{first}") or made.job_fields, now)
    assert follow is not None and await run_op(queue, schedulers.schedule_next(queue.keys, follow, now)) is None


async def test_runs_across_daylight_saving_as_a_worker_makes_them(queue: Queue) -> None:
    now = ms("2025-10-24T12:00:00+02:00")
    made = await upsert_at(queue, now, "night", cron="0 2 * * *", tz=BERLIN)
    seen, job_id, fields = [], made.job_id, made.job_fields
    for _ in range(4):
        taken = int(job_id.rsplit(":", 1)[1])
        seen.append(iso(taken))
        run = next_run_of(job_id, fields, taken)
        assert run is not None
        job_id = await run_op(queue, schedulers.schedule_next(queue.keys, run, taken))
        job = await queue.get_job(job_id)
        assert job is not None
        fields = job.raw
    assert seen == ["2025-10-25T00:00:00Z", "2025-10-26T00:00:00Z", "2025-10-27T01:00:00Z", "2025-10-28T01:00:00Z"]


# Racing producers and workers --------------------------------------------------------------------------------

RACE_SCRIPT = """
local out = {}
for _, key in ipairs({KEYS[1], KEYS[2]}) do
  for _, id in ipairs(redis.call("ZRANGE", key, 0, -1)) do out[#out + 1] = id end
end
for _, id in ipairs(redis.call("LRANGE", KEYS[3], 0, -1)) do out[#out + 1] = id end
return out
"""


@pytest.mark.timeout(90)
async def test_one_next_run_at_a_time_under_racing_producers_and_workers(redis_url: str, qname: str) -> None:
    ran: list[str] = []
    failed: list[str] = []
    stop = asyncio.Event()

    async def work(job: Any) -> None:
        ran.append(job.id)
        await asyncio.sleep(random.uniform(0, 0.02))

    async def produce(n: int) -> None:
        async with Queue(qname, redis_url) as q:
            while not stop.is_set():
                await q.upsert_job_scheduler("race", every=0.05, data={"producer": n})
                await asyncio.sleep(random.uniform(0, 0.03))

    pending_seen: list[int] = []
    checker = aredis.Redis.from_url(redis_url, decode_responses=True)
    base = f"bull:{qname}:"
    pending_script = checker.register_script(RACE_SCRIPT)

    async def watch() -> None:
        while not stop.is_set():
            ids = await pending_script(keys=[base + "delayed", base + "prioritized", base + "wait"])
            pending_seen.append(sum(1 for i in ids if i.startswith("repeat:race:")))
            await asyncio.sleep(0.002)

    async with Queue(qname, redis_url) as queue:
        await queue.upsert_job_scheduler("race", every=0.05)
    workers = [Worker(qname, work, redis_url, concurrency=2, name=f"w{i}") for i in range(4)]
    for w in workers:
        w.on("failed", lambda job, exc: failed.append(job.id))
    tasks = [asyncio.create_task(w.run()) for w in workers]
    others = [asyncio.create_task(produce(n)) for n in range(3)] + [asyncio.create_task(watch())]
    try:
        await until(lambda: len(ran) >= 220, timeout=60, what="220 runs")
    finally:
        stop.set()
        await asyncio.gather(*others)
        for w in workers:
            await w.close()
        await asyncio.gather(*tasks)
    ids = await pending_script(keys=[base + "delayed", base + "prioritized", base + "wait"])
    await checker.aclose()

    assert not failed
    assert len(ran) == len(set(ran)), "a tick ran twice"
    ticks = sorted(int(i.rsplit(":", 1)[1]) for i in ran)
    assert len({t % 50 for t in ticks}) == 1, "runs off the scheduler's grid"
    assert max(pending_seen) == 1, "two next runs at once"
    assert len(pending_seen) > 100
    # Still one (none only if a worker's very last take could not be followed before it closed).
    assert len(ids) <= 1 and all(i.startswith("repeat:race:") for i in ids)


# README ---------------------------------------------------------------------------------------------------


def test_the_readme_job_schedulers_example_runs(redis_url: str, tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Job schedulers") :]
    code = re.search(r"```python\n(.*?)```", section, re.S)
    assert code is not None
    script = tmp_path / "schedulers_example.py"
    script.write_text(code[1].replace("redis://localhost:6379", redis_url), encoding="utf-8")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert "nightly-report repeat:nightly-report:" in done.stdout


def test_an_offset_is_a_zone_as_luxon_has_it() -> None:
    # str(timezone) is "UTC+02:00", which Node reads as a fixed offset: so does an upsert here.
    tz = str(timezone(timedelta(hours=2)))
    assert cron.check_tz(tz) == tz
    assert fires("0 9 * * *", "2026-01-01T00:00:00Z", 1, tz) == ["2026-01-01T07:00:00Z"]


async def test_no_every_run_falls_after_end(queue: Queue) -> None:
    now = ms("2025-06-01T12:00:00+00:00")
    end = datetime.fromtimestamp((now + 90_000) / 1000, UTC)
    made = await upsert_at(queue, now - 1, every=60, end=end)
    job_id, fields, made_ids = made.job_id, made.job_fields, []
    for taken_at in (now, now + 60_000):
        run = next_run_of(job_id, fields, taken_at)
        assert run is not None
        job_id = await run_op(queue, schedulers.schedule_next(queue.keys, run, taken_at))
        made_ids.append(job_id)
        job = await queue.get_job(job_id) if job_id else None
        fields = job.raw if job else fields
    assert made_ids == [f"repeat:s:{now - 1 + 60_000}", None]


async def test_a_late_upsert_keeps_the_every_grid(queue: Queue, raw: Any, qname: str) -> None:
    now = ms("2025-06-01T12:00:00.011+00:00")
    made = await upsert_at(queue, now, every=0.05)
    # A worker took the run and has not made the next one yet; the upsert comes long after.
    raw.lrem(f"bull:{qname}:wait", 0, made.job_id)
    raw.lpush(f"bull:{qname}:active", made.job_id)
    later = await upsert_at(queue, now + 1234, every=0.05)
    assert later.scheduler.next_run_ms == now + 1250 and later.scheduler.offset_ms == 11
