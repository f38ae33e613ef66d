"""When a cron pattern next fires, in a time zone, as an instant in epoch milliseconds.

Schedulers are shared with Node BullMQ, whose workers read patterns and time zones with cron-parser (5.x)
and luxon; ours must read the same texts and find the same times, or a scheduler that one side made
stops (or drifts) when the other side's worker takes its run. So:

- A pattern is read as cron-parser reads it (``read_pattern``): its macros (``@daily``, ``@weekdays``,
  ...), one to six fields (five: minute first; six: second first; fewer are padded as cron-parser pads
  them), names of months and weekdays in any case, ``?``, ``L`` (the last day of the month; ``5L`` the
  last Friday), ``#`` (``5#2``, the second Friday), 7 for Sunday, and cron-parser's refusals (duplicate
  values, ``L`` alone in the weekday field). What it means is then written out as plain value lists for
  croniter, which finds the matching wall-clock times: the reading here only lists values, it does not
  match dates. Hashed values (``H``) are refused: without a seed they are random in cron-parser, and
  differ on each Node worker.
- A time zone is read as luxon reads it (``zone_of``): an IANA name in any case (``europe/berlin``),
  ``UTC``/``GMT``, a fixed offset ``UTC+2`` or ``UTC-05:30``, and ``local`` (the machine's own zone, on
  Node as here).

croniter matches the pattern against wall-clock times; turning a wall-clock time into an instant is done
here, with ``zoneinfo``, so that the result does not depend on how a croniter release treats time zones.
Daylight-saving changes follow cron-parser, whose search steps through a day's clock hours but moves to
another day or month with a step that sets the clock to that day's 00:00 (``_Search``):

- a wall-clock time that the spring change skips (02:30 in Berlin on the last Sunday of March) fires at
  the clock hour the change lands on, at its own minute and second (03:30 summer time): the run is
  moved, not lost. But where the gap opens at midnight (Santiago, Havana, Beirut: 00:00 becomes 01:00)
  the step to that day lands past the gap, so a time inside it is lost for that day, unless the pattern
  also fires in the hour before midnight (the search then steps across). A search that starts past the
  gap never comes back to it.
- a wall-clock time that the autumn change repeats fires once, at its first occurrence, unless the
  pattern's hour field holds all 24 hours: then each hour of the clock fires, both occurrences of the
  repeated one. Looked for from inside the second occurrence, the times left in it are still ahead. But
  where the change repeats the first hour of a day (Havana, the Azores), a step to that day usually lands
  in the second occurrence.

Left different: Lord Howe's half-hour changes (where cron-parser loops until it gives up), Troll's
two-hour autumn change, and a search that starts in the last second before a change (cron-parser then
carries the change over to later days).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta, timezone, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from croniter import croniter

UTC_NAME = "UTC"
# A daylight-saving change moves the clock by at most this much (2 h at Troll, Antarctica).
_LARGEST_SHIFT = timedelta(hours=3)
# Wall-clock matches looked at for one next run: a pattern that matches more often than once a second
# cannot exist, and the search past a repeated hour never needs more than its seconds.
_MAX_CANDIDATES = 4 * 3600

# cron-parser's reading ---------------------------------------------------------------------------------------

MACROS = {
    "@yearly": "0 0 0 1 1 *",
    "@annually": "0 0 0 1 1 *",
    "@monthly": "0 0 0 1 * *",
    "@weekly": "0 0 0 * * 0",
    "@daily": "0 0 0 * * *",
    "@hourly": "0 0 * * * *",
    "@minutely": "0 * * * * *",
    "@secondly": "* * * * * *",
    "@weekdays": "0 0 0 * * 1-5",
    "@weekends": "0 0 0 * * 0,6",
}
_MAX_LENGTH = 1024  # cron-parser's: listing every value of every field takes about half of it
_MAX_VALUES = 256  # values a field may list
_PADDING = ("0", "*", "*", "*", "*", "*")
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_NAMES = {name: number for number, name in enumerate(_MONTHS, 1)} | {name: n for n, name in enumerate(_DAYS)}
_LEADING_INT = re.compile(r"[+-]?[0-9]+")


@dataclass(frozen=True)
class _Unit:
    name: str
    low: int
    high: int
    chars: re.Pattern[str]  # the characters cron-parser allows, aliases replaced
    last: bool = False  # may hold L


_UNITS = (
    _Unit("second", 0, 59, re.compile(r"[?,*0-9/-]+")),
    _Unit("minute", 0, 59, re.compile(r"[?,*0-9/-]+")),
    _Unit("hour", 0, 23, re.compile(r"[?,*0-9/-]+")),
    _Unit("day of month", 1, 31, re.compile(r"[?,*0-9L/-]+"), last=True),
    _Unit("month", 1, 12, re.compile(r"[?,*0-9/-]+")),
    _Unit("day of week", 0, 7, re.compile(r"[?,*0-9L#/-]+"), last=True),
)
_MONTH, _DOW = _UNITS[4], _UNITS[5]


def _int(text: str) -> int | None:
    """JavaScript's ``parseInt(text, 10)``: the leading integer, None for NaN."""
    found = _LEADING_INT.match(text)
    return int(found[0]) if found else None


def _range(unit: _Unit, text: str, step: int | None) -> list[int | str] | int | str:
    parts = text.split("-")
    if len(parts) == 1:
        return int(text) if text.isascii() and text.isdigit() else text
    # Like cron-parser, only the first two parts count ("1-2-3" is 1-2) and each is read as parseInt.
    low, high = _int(parts[0]), _int(parts[1])
    if low is None or high is None or low < unit.low or high > unit.high:
        raise ValueError(f"{unit.name}: the range {text!r} is outside {unit.low}-{unit.high}")
    if low > high:
        raise ValueError(f"{unit.name}: the range {text!r} goes backwards")
    if step is None or step <= 0:
        raise ValueError(f"{unit.name}: a step must be a whole number above 0")
    values: list[int | str] = []
    if unit is _DOW and high % 7 == 0 and (high - low) % step == 0:
        values.append(0)  # a range that ends on 7 (Sunday) includes Sunday as 0
    values += [v for v in range(low, high + 1, step) if v not in values]
    return values


def _atom(unit: _Unit, atom: str) -> list[int | str] | int | str:
    if not atom:
        raise ValueError(f"{unit.name}: an empty value in a list")
    parts = atom.split("/")
    if len(parts) > 2:
        raise ValueError(f"{unit.name}: {atom!r} has more than one '/'")
    if len(parts) == 2:
        start = parts[0] if "-" in parts[0] else f"{parts[0]}-{unit.high}"
        return _range(unit, start, _int(parts[1]))
    return _range(unit, atom, 1)


def _numbered(unit: _Unit, raw: str) -> str:
    """``raw`` with month and weekday names as numbers; cron-parser takes either kind in either field."""
    if unit not in (_MONTH, _DOW):
        return raw

    def number(found: re.Match[str]) -> str:
        value = _NAMES.get(found[0].lower())
        if value is None:
            raise ValueError(f"{unit.name}: unknown name {found[0]!r}")
        return str(value)

    return re.sub(r"[a-z]{3}", number, raw, flags=re.I)


def _field(unit: _Unit, raw: str) -> list[int | str]:
    """The values of one field, as cron-parser lists them (numbers; "L" or "5L" where L is allowed)."""
    text = _numbered(unit, raw)
    if "H" in text:
        raise ValueError(f"{unit.name}: hashed values (H) are random on each Node worker and cannot be followed")
    if not unit.chars.fullmatch(text):
        raise ValueError(f"{unit.name}: unexpected characters in {raw!r}")
    text = re.sub(r"[*?]", f"{unit.low}-{unit.high}", text)
    values: list[int | str] = []
    for atom in text.split(","):
        if len(values) > _MAX_VALUES:
            raise ValueError(f"{unit.name}: more than {_MAX_VALUES} values")
        found = _atom(unit, atom)
        if isinstance(found, list):
            values += found
        elif unit.last and isinstance(found, str) and "L" in found:
            values.append(found)
        else:
            value = _int(str(found))
            if value is None or not unit.low <= value <= unit.high:
                raise ValueError(f"{unit.name}: {found!r} is outside {unit.low}-{unit.high}")
            values.append(value % 7 if unit is _DOW else value)
    for listed in values:
        if isinstance(listed, str) and not re.fullmatch(r"[0-9]{0,2}L", listed):
            raise ValueError(f"{unit.name}: {listed!r} is not a value")
    if len(set(values)) != len(values):
        raise ValueError(f"{unit.name}: a value is listed twice in {raw!r}")
    return values


def _nth(raw: str) -> tuple[str, int]:
    """cron-parser's ``<weekday>#<n>``: the weekday part and n (0 without #)."""
    parts = raw.split("#")
    if len(parts) == 1:
        return raw, 0
    if re.search(r"[,/-]", raw):
        raise ValueError("day of week: '#' cannot be combined with ',', '-' or '/'")
    if len(parts) != 2 or not (parts[1].isascii() and parts[1].isdigit()) or not 1 <= int(parts[1]) <= 5:
        raise ValueError(f"day of week: {raw!r} needs one occurrence number from 1 to 5 after '#'")
    return parts[0], int(parts[1])


@dataclass(frozen=True)
class CronSpec:
    """A pattern as croniter patterns (6 fields, second first) whose union fires when cron-parser fires.

    Day of month and day of week each go in a pattern of their own, with the other field ``*``: where
    both are set cron-parser fires on either (a union), and croniter mishandles that union with ``L``
    and ``#`` weekdays."""

    patterns: tuple[str, ...]
    # All 24 hours: cron-parser then fires both occurrences of a repeated hour.
    all_hours: bool
    months: frozenset[int]


def _listed(values: list[int | str]) -> str:
    return ",".join(str(v) for v in sorted(v for v in values if isinstance(v, int)))


def _weekdays(values: list[int | str], nth: int) -> list[str]:
    """The weekday field as croniter fields: plain weekdays in one, ``L``/``#`` ones in another (croniter
    refuses the two kinds in one field)."""
    # 7 stays in a range that ends on it, next to the 0 that stands for it, and matches no day.
    days = sorted({v for v in values if isinstance(v, int) and v < 7})
    lasts = sorted({int(v[0]) % 7 for v in values if isinstance(v, str) and v[0].isdigit()})
    if nth:
        plain, special = [], [f"{d}#{nth}" for d in days]
    else:
        plain, special = [str(d) for d in days], []
    special += [f"L{d}" for d in lasts]
    return [",".join(kind) for kind in (plain, special) if kind]


@lru_cache(maxsize=512)
def read_pattern(pattern: str) -> CronSpec:
    """``pattern`` as cron-parser reads it; ``ValueError`` (without the option's name) when it refuses it
    or when it is a form croniter cannot follow."""
    text = MACROS.get(pattern, pattern)
    if len(text) > _MAX_LENGTH:
        raise ValueError(f"longer than {_MAX_LENGTH} characters")
    raws = text.split()
    if not raws or len(raws) > 6:
        raise ValueError(f"{len(raws)} fields")
    raws = [*_PADDING[: 6 - len(raws)], *raws]
    weekday_raw, nth = _nth(raws[5])
    fields = [_field(unit, raw) for unit, raw in zip(_UNITS[:5], raws[:5], strict=True)]
    weekdays = _field(_DOW, weekday_raw)
    if "L" in weekdays:
        raise ValueError("day of week: L needs a weekday before it (5L: the last Friday)")
    # A field written as * or ? is cron-parser's wildcard; anything else restricts, even if it lists all.
    wild = [raw in ("*", "?") for raw in raws]
    head = " ".join("*" if wild[i] else _listed(fields[i]) for i in range(3))
    month = "*" if wild[4] else _listed(fields[4])
    days = [_listed(fields[3])] if any(isinstance(v, int) for v in fields[3]) else []
    dom = "*" if wild[3] else ",".join(days + ["L"] * any(isinstance(v, str) for v in fields[3]))
    patterns = [f"{head} {dom} {month} *"] if wild[5] or not wild[3] else []
    if not wild[5]:
        patterns += [f"{head} * {month} {dow}" for dow in _weekdays(weekdays, nth)]
    months = frozenset(v for v in fields[4] if isinstance(v, int))
    return CronSpec(tuple(patterns), len(fields[2]) == 24, months)


@lru_cache(maxsize=512)
def _fires(spec: CronSpec) -> bool:
    for pattern in spec.patterns:
        try:
            croniter(pattern, datetime(2000, 1, 1), second_at_beginning=True).get_next(datetime)
            return True
        except (ValueError, KeyError, TypeError):
            continue  # croniter's errors are ValueErrors, except for a few malformed fields
    return False


def check_pattern(pattern: object, option: str = "cron", *, any_fields: bool = False) -> str:
    """``pattern`` when cron-parser (Node) and this module both read it and it fires at least once;
    ``ValueError`` naming ``option`` otherwise. A pattern given to this engine has 5 fields (minute first)
    or 6 (second first), or is a macro (``@daily``); ``any_fields`` also takes the 1 to 4 fields that
    cron-parser pads (a run Node made)."""
    if not isinstance(pattern, str) or not pattern.strip():
        raise ValueError(f"{option}: expected a cron pattern such as '0 9 * * *', got {pattern!r}")
    count = len(pattern.split())
    if not any_fields and pattern not in MACROS and count not in (5, 6):
        raise ValueError(
            f"{option}: a cron pattern has 5 fields (minute hour day month weekday) or 6 (second first), or is "
            f"a macro such as '@daily', got {count} field(s) in {pattern!r}"
        )
    try:
        spec = read_pattern(pattern)
    except ValueError as exc:
        raise ValueError(f"{option}: {pattern!r} is not a cron pattern ({exc})") from None
    if not _fires(spec):
        raise ValueError(f"{option}: {pattern!r} is not a cron pattern that ever fires")
    return pattern


# Time zones, as luxon reads them ------------------------------------------------------------------------------

_FIXED = re.compile(r"utc(?:([+-])([0-9]{1,2})(?::([0-9]{2}))?)?")
# Machine-dependent names: luxon's own, and files of the zone database that are not zones.
_HOST_NAMES = frozenset({"local", "system", "default"})
_NOT_ZONES = frozenset({"localtime", "posixrules", "factory"})


@lru_cache(maxsize=1)
def _names() -> dict[str, str]:
    return {name.lower(): name for name in available_timezones() if name.lower() not in _NOT_ZONES}


def _host_zone() -> tzinfo:
    """This machine's zone, as luxon's ``local`` is the Node machine's: $TZ, else /etc/localtime."""
    name = os.environ.get("TZ", "").lstrip(":")
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            pass
    try:
        with open("/etc/localtime", "rb") as file:
            return ZoneInfo.from_file(file, key="localtime")
    except (OSError, ValueError):
        return UTC


@lru_cache(maxsize=256)
def zone_of(name: str) -> tzinfo:
    """The zone luxon reads from ``name``; ``ValueError`` when it reads none (or one beyond ±24 h)."""
    lowered = name.lower()
    if lowered in _HOST_NAMES:
        return _host_zone()
    if lowered == "gmt":
        return ZoneInfo(UTC_NAME)
    fixed = _FIXED.fullmatch(lowered)
    if fixed:
        if not fixed[1]:
            return ZoneInfo(UTC_NAME)
        # luxon's sign covers the minutes too: UTC-0:30 is half an hour behind.
        minutes = int(fixed[2]) * 60 + int(fixed[3] or 0)
        if minutes >= 24 * 60:
            raise ValueError(f"the offset {name!r} is a day or more")
        return timezone(timedelta(minutes=-minutes if fixed[1] == "-" else minutes))
    canonical = _names().get(lowered)
    if canonical is None:
        raise ValueError(f"unknown time zone {name!r}")
    return ZoneInfo(canonical)


def check_tz(tz: object, option: str = "tz", *, host: bool = False) -> str:
    """``tz`` when it names a time zone (``Europe/Berlin`` in any case, ``UTC``, ``UTC+2``, ``UTC-05:30``);
    ``ValueError`` otherwise. ``local`` (the machine's zone) only with ``host`` (a run Node made): a
    scheduler given to this engine must fire at the same times whichever machine works it out."""
    if not isinstance(tz, str) or not tz:
        raise ValueError(f"{option}: expected an IANA time zone name such as 'Europe/Berlin', got {tz!r}")
    if not host and tz.lower() in _HOST_NAMES:
        raise ValueError(f"{option}: {tz!r} is each machine's own zone; name it (such as 'Europe/Berlin')")
    try:
        zone_of(tz)
    except (ValueError, OSError) as exc:
        raise ValueError(
            f"{option}: {exc} (expected an IANA name such as 'Europe/Berlin', or an offset such as 'UTC+2')"
        ) from None
    return tz


# Next times -------------------------------------------------------------------------------------------------


def _ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


def _walls(spec: CronSpec, start: datetime) -> Iterator[datetime]:
    """The wall-clock times after ``start`` that one of ``spec``'s patterns matches, in order."""
    matches = [croniter(p, start, second_at_beginning=True) for p in spec.patterns]
    heads: list[datetime | None] = [None] * len(matches)

    def advance(i: int) -> None:
        try:
            heads[i] = matches[i].get_next(datetime)
        except ValueError:
            heads[i] = None  # croniter found nothing within its search horizon

    for i in range(len(matches)):
        advance(i)
    while True:
        ready = [h for h in heads if h is not None]
        if not ready:
            return
        wall = min(ready)
        for i, head in enumerate(heads):
            if head == wall:
                advance(i)
        yield wall


def _change_ms(wall: datetime, zone: tzinfo) -> int:
    """The instant (ms) of the spring change that skips the naive wall-clock time ``wall``."""
    before = wall.replace(tzinfo=zone, fold=0).utcoffset() or timedelta(0)
    after = wall.replace(tzinfo=zone, fold=1).utcoffset() or timedelta(0)
    # The change lies between the instant ``wall`` would have on the new offset (which comes before the
    # change) and the one it would have on the old offset (which comes after it).
    low = int((wall - after).replace(tzinfo=UTC).timestamp())
    high = int((wall - before).replace(tzinfo=UTC).timestamp())
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, zone).utcoffset() == before:
            low = middle
        else:
            high = middle
    return high * 1000


def _fires_between(spec: CronSpec, start: datetime, end: datetime) -> bool:
    """Whether the pattern matches a wall-clock time in [start, end)."""
    first = next(_walls(spec, start - timedelta(seconds=1)), None)
    return first is not None and first < end


def _fires_in_hour_before(spec: CronSpec, wall: datetime) -> bool:
    """Whether the pattern matches in the clock hour that ends at ``wall``: from there cron-parser steps
    into ``wall`` hour by hour; from further away it comes to ``wall``'s day by a whole-day step."""
    return _fires_between(spec, wall - timedelta(hours=1), wall)


@dataclass(frozen=True)
class _Search:
    """One search for a next time: where it starts, and how cron-parser would treat the wall-clock times
    that a daylight-saving change skips or repeats."""

    spec: CronSpec
    zone: tzinfo
    after_ms: int
    # Both occurrences of a repeated time are runs (see next_fire_ms).
    both: bool

    def instants(self, wall: datetime) -> Iterator[int]:
        """The instants (ms) at which the naive wall-clock time ``wall`` fires."""
        first = wall.replace(tzinfo=self.zone, fold=0)
        second = wall.replace(tzinfo=self.zone, fold=1)
        if first.utcoffset() == second.utcoffset():
            yield _ms(first)
        elif first.astimezone(UTC).astimezone(self.zone).replace(tzinfo=None) != wall:
            moved = self._skipped(wall)
            if moved is not None:
                yield moved
        elif self._enters_at_second(wall):
            yield _ms(second)
        else:
            yield _ms(first)
            if self.both:
                yield _ms(second)

    def _skipped(self, wall: datetime) -> int | None:
        """When cron-parser fires ``wall``, which a spring change skips, if its search reaches it: it steps
        an hour from the last clock hour before the gap and fires at the clock hour it lands on, at
        ``wall``'s minute and second (03:30 for a skipped 02:30 in Berlin)."""
        change = _change_ms(wall, self.zone)
        if self.after_ms >= change:
            return None  # the search starts past the gap
        moment = datetime.fromtimestamp(change / 1000, UTC)
        before = wall.replace(tzinfo=self.zone, fold=0).utcoffset() or timedelta(0)
        opens = (moment + before).replace(tzinfo=None)
        lands = moment.astimezone(self.zone).replace(tzinfo=None)
        last_hour = (opens - timedelta(seconds=1)).replace(minute=0, second=0)
        stepped = (last_hour - before + timedelta(hours=1)).replace(tzinfo=UTC).astimezone(self.zone)
        moved = max(lands, stepped.replace(tzinfo=None, minute=wall.minute, second=wall.second))
        if (opens.time() != time(0) and opens.date() == lands.date()) or self._crosses(wall, opens, lands, change):
            return _ms(moved.replace(tzinfo=self.zone))
        return None

    def _crosses(self, wall: datetime, opens: datetime, lands: datetime, change: int) -> bool:
        """Whether cron-parser steps across a gap that touches midnight. Inside a day it steps through the
        hours, across any gap; a gap at midnight it passes by with a whole-day step that lands past it,
        unless it steps from inside the hour before the gap (the pattern fires there) or from its last
        second; and the day it lands on must match too."""
        day = datetime.combine(lands.date(), time(0))
        if lands.date() != wall.date() and not _fires_between(self.spec, day, day + timedelta(days=1)):
            return False
        last_second = self.after_ms % 1000 != 0 and change - self.after_ms < 1000
        return last_second or _fires_in_hour_before(self.spec, opens)

    def _enters_at_second(self, wall: datetime) -> bool:
        """Whether cron-parser comes to the repeated ``wall`` only in its second occurrence. Where the
        autumn change repeats the first hour of a day (Havana: 01:00 becomes 00:00), a whole-day or
        whole-month step carries the clock time of the moment it steps from over to the new date, with
        that moment's offset where the time is one of the repeated ones (the first occurrence) and the
        new offset otherwise (the second), and then sets it to 00:00 on that offset. A search that steps
        in from the hour before midnight, or that starts inside the first occurrence, stays in the first."""
        midnight = datetime.combine(wall.date(), time(0))
        first = midnight.replace(tzinfo=self.zone, fold=0)
        second = midnight.replace(tzinfo=self.zone, fold=1)
        if first.utcoffset() == second.utcoffset() or self.after_ms >= _ms(first):
            return False
        if _fires_in_hour_before(self.spec, midnight):
            return False
        eve = midnight - timedelta(days=1)
        start = datetime.fromtimestamp(self.after_ms / 1000, self.zone).replace(tzinfo=None)
        repeated = (first.utcoffset() or timedelta(0)) - (second.utcoffset() or timedelta(0))
        if midnight.day == 1 and eve.month not in self.spec.months:
            # A month step, from where the search starts in the month before, else from that month's 1st.
            step_from = max(start, eve.replace(day=1))
            return step_from.day != 1 or step_from - datetime.combine(step_from.date(), time(0)) >= repeated
        # A day step: from the eve's 00:00 when the search comes to the eve by a step, else from where it
        # starts, or from the end of that clock hour when the pattern fires in it.
        hour = start.replace(minute=0, second=0, microsecond=0)
        if start >= eve and _fires_between(self.spec, hour, hour + timedelta(hours=1)):
            start = hour + timedelta(hours=1)
        return max(start, eve) - eve >= repeated


def next_fire_ms(pattern: str, after_ms: int, tz: str | None = None, end_ms: int | None = None) -> int | None:
    """The first instant strictly after ``after_ms`` at which ``pattern`` fires in ``tz`` (UTC when None),
    or None when there is none up to ``end_ms``. ``ValueError`` for a pattern or zone that
    ``check_pattern(..., any_fields=True)`` or ``check_tz(..., host=True)`` refuses."""
    spec = read_pattern(pattern)
    zone = zone_of(tz or UTC_NAME)
    after = datetime.fromtimestamp(after_ms / 1000, UTC)
    local = after.astimezone(zone)
    # Where the clock will be set back soon, wall-clock times earlier than now's can still lie ahead.
    soon = (after + _LARGEST_SHIFT).astimezone(zone)
    shift = max(timedelta(0), (local.utcoffset() or timedelta(0)) - (soon.utcoffset() or timedelta(0)))
    start = local.replace(tzinfo=None) - shift - timedelta(seconds=1)
    # From a run at a repeated time's first occurrence, its second is no new time; from a moment in the
    # second occurrence (fold 1), what is left of it is.
    search = _Search(spec, zone, after_ms, spec.all_hours or local.fold == 1)
    horizon = int(_LARGEST_SHIFT.total_seconds() * 1000)
    best: int | None = None
    best_wall: datetime | None = None
    for count, wall in enumerate(_walls(spec, start)):
        if count >= _MAX_CANDIDATES or (best_wall is not None and wall > best_wall + shift):
            break
        if end_ms is not None and _ms(wall.replace(tzinfo=zone)) - horizon > end_ms:
            break
        for instant in search.instants(wall):
            if instant > after_ms and (best is None or instant < best):
                best, best_wall = instant, wall
    if best is None or (end_ms is not None and best > end_ms):
        return None
    return best


__all__ = ["MACROS", "CronSpec", "check_pattern", "check_tz", "next_fire_ms", "read_pattern", "zone_of"]
