"""When a cron pattern next fires, in a time zone, as an instant in epoch milliseconds.

croniter matches the pattern against wall-clock times; turning a wall-clock time into an instant is done
here, with ``zoneinfo``, so that the result does not depend on how a croniter release treats time zones.
Daylight-saving changes follow cron-parser, which Node BullMQ uses:

- a wall-clock time that the spring change skips (02:30 in Berlin on the last Sunday of March) fires at
  the instant that time would have had on the old offset (03:30 summer time): the run is moved, not lost;
- a wall-clock time that the autumn change repeats fires once, at its first occurrence, unless the
  pattern's hour field is ``*``: then each hour of the clock fires, both occurrences of the repeated one.
  Looked for from inside the second occurrence, the times left in it are still ahead.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

UTC_NAME = "UTC"
# A daylight-saving change moves the clock by at most this much (2 h at Troll, Antarctica).
_LARGEST_SHIFT = timedelta(hours=3)
# Wall-clock matches looked at for one next run: a pattern that matches more often than once a second
# cannot exist, and the search past a repeated hour never needs more than its seconds.
_MAX_CANDIDATES = 4 * 3600


def check_pattern(pattern: object, option: str = "cron") -> str:
    """``pattern`` when it is a cron pattern of 5 fields (minute first) or 6 (second first) that fires at
    least once; ``ValueError`` naming ``option`` otherwise."""
    if not isinstance(pattern, str) or not pattern.strip():
        raise ValueError(f"{option}: expected a cron pattern such as '0 9 * * *', got {pattern!r}")
    fields = pattern.split()
    if len(fields) not in (5, 6):
        raise ValueError(
            f"{option}: a cron pattern has 5 fields (minute hour day month weekday) or 6 (second first), "
            f"got {len(fields)} in {pattern!r}"
        )
    try:
        croniter(pattern, datetime(2000, 1, 1), second_at_beginning=True).get_next(datetime)
    except (ValueError, KeyError, TypeError) as exc:
        # croniter's errors are ValueErrors, except for a few malformed ranges.
        raise ValueError(f"{option}: {pattern!r} is not a cron pattern that ever fires ({exc})") from None
    return pattern


@lru_cache(maxsize=256)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def check_tz(tz: object, option: str = "tz") -> str:
    """``tz`` when it names an IANA time zone (``Europe/Berlin``, ``UTC``); ``ValueError`` otherwise."""
    if not isinstance(tz, str) or not tz:
        raise ValueError(f"{option}: expected an IANA time zone name such as 'Europe/Berlin', got {tz!r}")
    try:
        _zone(tz)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            f"{option}: unknown time zone {tz!r} (expected an IANA name such as 'Europe/Berlin')"
        ) from None
    return tz


def _hour_is_any(pattern: str) -> bool:
    fields = pattern.split()
    hour = fields[1] if len(fields) == 5 else fields[2]
    return hour in ("*", "*/1", "0-23")


def _ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


def _instants(wall: datetime, zone: ZoneInfo, both: bool) -> Iterator[int]:
    """The instants (ms) at which the naive wall-clock time ``wall`` happens in ``zone``; of a repeated
    one, the second too only when ``both``."""
    first = wall.replace(tzinfo=zone, fold=0)
    second = wall.replace(tzinfo=zone, fold=1)
    if first.utcoffset() == second.utcoffset():
        yield _ms(first)
        return
    if first.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != wall:
        # Skipped by a spring change: fold=0 reads it on the old offset, which lands just past the gap.
        yield _ms(first)
        return
    yield _ms(first)
    if both:
        yield _ms(second)


def next_fire_ms(pattern: str, after_ms: int, tz: str | None = None, end_ms: int | None = None) -> int | None:
    """The first instant strictly after ``after_ms`` at which ``pattern`` fires in ``tz`` (UTC when None),
    or None when there is none up to ``end_ms``."""
    zone = _zone(tz or UTC_NAME)
    after = datetime.fromtimestamp(after_ms / 1000, UTC)
    local = after.astimezone(zone)
    # Where the clock will be set back soon, wall-clock times earlier than now's can still lie ahead.
    soon = (after + _LARGEST_SHIFT).astimezone(zone)
    shift = max(timedelta(0), (local.utcoffset() or timedelta(0)) - (soon.utcoffset() or timedelta(0)))
    start = local.replace(tzinfo=None) - shift - timedelta(seconds=1)
    # From a run at a repeated time's first occurrence, its second is no new time; from a moment in the
    # second occurrence (fold 1), what is left of it is.
    both = _hour_is_any(pattern) or local.fold == 1
    matches = croniter(pattern, start, second_at_beginning=True)
    best: int | None = None
    best_wall: datetime | None = None
    for _ in range(_MAX_CANDIDATES):
        try:
            wall = matches.get_next(datetime)
        except ValueError:
            break  # croniter found nothing within its search horizon
        if best_wall is not None and wall > best_wall + shift:
            break
        if end_ms is not None and _ms(wall.replace(tzinfo=zone)) - int(_LARGEST_SHIFT.total_seconds() * 1000) > end_ms:
            break
        for instant in _instants(wall, zone, both):
            if instant > after_ms and (best is None or instant < best):
                best, best_wall = instant, wall
    if best is None or (end_ms is not None and best > end_ms):
        return None
    return best
