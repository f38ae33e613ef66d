"""Translations: the request's language, ``_``/``ngettext`` for messages written in Python, and times said
in that language.

Messages take their values as keywords and ``%(name)s`` placeholders, as the templates' newstyle
``_()`` does: ``_("Retried %(count)s jobs", count=3)``. The catalogs are ``board/locale/<lang>/LC_MESSAGES/
messages.mo`` (built by ``python -m board.web.catalogs``); English is the source language and needs none.

The language lives in a context variable, set for the length of one request (``using``): concurrent
requests each see their own, and the templates' ``_`` reads the same variable as Python's.
"""

from __future__ import annotations

import gettext as _gettext
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache, lru_cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError
from babel.dates import TIMEDELTA_UNITS, format_datetime, format_timedelta
from babel.support import Translations

LOCALE_DIR = Path(__file__).resolve().parent.parent / "locale"
DEFAULT = "en"
# Longest Accept-Language header read: a browser sends a few dozen bytes; the rest is ignored.
MAX_ACCEPT = 512


@dataclass(frozen=True)
class Language:
    code: str
    translations: _gettext.NullTranslations


_ENGLISH = Language(DEFAULT, _gettext.NullTranslations())
_current: ContextVar[Language] = ContextVar("board_language", default=_ENGLISH)


@cache
def available() -> tuple[str, ...]:
    """The languages the board speaks: English, and each with a compiled catalog."""
    found = sorted(p.parent.parent.name for p in LOCALE_DIR.glob("*/LC_MESSAGES/messages.mo"))
    return (DEFAULT, *(code for code in found if code != DEFAULT))


@cache
def language(code: str) -> Language:
    if code == DEFAULT or code not in available():
        return _ENGLISH
    return Language(code, Translations.load(str(LOCALE_DIR), [code], domain="messages"))


def display_name(code: str) -> str:
    """A language named in itself ("Deutsch"), as people look for their own."""
    try:
        name = Locale.parse(code).get_display_name(code) or code
    except (ValueError, UnknownLocaleError):
        return code
    return name[:1].upper() + name[1:]


def negotiate(accept_language: str) -> str:
    """The best of the available languages for an ``Accept-Language`` header, else English."""
    wanted: list[tuple[float, int, str]] = []
    for index, part in enumerate(accept_language[:MAX_ACCEPT].split(",")):
        tag, _sep, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                continue
        if tag and tag != "*" and q > 0:
            wanted.append((-q, index, tag.strip()))
    preferred = [tag for _q, _i, tag in sorted(wanted)]
    try:
        chosen = Locale.negotiate(preferred, list(available()), sep="-")
    except (ValueError, UnknownLocaleError):
        chosen = None
    if chosen is None:
        # "de-CH" when only "de" is there: the language without its region.
        bare = [tag.split("-")[0].lower() for tag in preferred]
        return next((code for code in bare if code in available()), DEFAULT)
    return str(chosen)


@contextmanager
def using(code: str) -> Iterator[Language]:
    """Speaks ``code`` until the block ends (in this task only)."""
    token = _current.set(language(code))
    try:
        yield _current.get()
    finally:
        _current.reset(token)


def current() -> str:
    return _current.get().code


def _(message: str, **params: Any) -> str:
    text = _current.get().translations.gettext(message)
    return text % params if params else text


def ngettext(singular: str, plural: str, n: int, **params: Any) -> str:
    text = _current.get().translations.ngettext(singular, plural, n)
    return text % {"num": n, **params}


# What the templates' i18n extension calls: the same catalog as ``_``, whichever template or macro asks.
def template_gettext(message: str) -> str:
    return _current.get().translations.gettext(message)


def template_ngettext(singular: str, plural: str, n: int) -> str:
    return _current.get().translations.ngettext(singular, plural, n)


# Times ---------------------------------------------------------------------------------------------------------


def zone_info(zone: str) -> ZoneInfo:
    """A settings zone as a ZoneInfo; "browser" is read as UTC here (the browser localises it)."""
    try:
        return ZoneInfo(zone) if zone not in ("", "browser") else ZoneInfo("UTC")
    except (ValueError, KeyError):
        return ZoneInfo("UTC")


@cache
def _locale(code: str) -> Locale:
    """Babel's data for a language, parsed once (Babel parses a code again on every call given one)."""
    return Locale.parse(code)


def absolute_time(ms: int | None, zone: str = "UTC") -> str:
    """A moment in full, in the zone and the request's language: "Nov 30, 2026, 10:00:46 PM"."""
    if not ms:
        return ""
    return _absolute(ms, zone, current())


# The same jobs' times come back on every poll of their page: each is worked out once.
@lru_cache(maxsize=8192)
def _absolute(ms: int, zone: str, code: str) -> str:
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    text = format_datetime(moment, "medium", tzinfo=zone_info(zone), locale=_locale(code))
    return text if zone not in ("", "browser", "UTC") else f"{text} UTC"


def N_(message: str) -> str:
    """Marks a message for the catalog where it is written; ``_`` translates it where it is shown."""
    return message


# The words for each job state and tab; the state's own name stays in URLs, classes and JSON.
STATE_LABELS = {
    "latest": N_("latest"),
    "waiting": N_("waiting"),
    "prioritized": N_("prioritized"),
    "delayed": N_("delayed"),
    "active": N_("active"),
    "waiting-children": N_("waiting-children"),
    "completed": N_("completed"),
    "failed": N_("failed"),
    "paused": N_("paused"),
    "unknown": N_("unknown"),
}


def state_label(state: str) -> str:
    label = STATE_LABELS.get(state)
    return _(label) if label else state


# Babel's rounding of a time span to one unit (format_timedelta's default threshold).
THRESHOLD = 0.85


def relative_time(ms: int | None, now_ms: float | None = None) -> str:
    """A moment from now, in the request's language: "3 min. ago", "in 2 hr.", "vor 3 Min.".

    Exactly Babel's ``format_timedelta(delta, add_direction=True, format="short")``: the unit and number are
    chosen here as Babel chooses them, and the words for each (language, unit, number, direction) are asked
    of Babel once. A page of jobs says some 150 of them."""
    if not ms:
        return ""
    now = time.time() * 1000 if now_ms is None else now_ms
    # As timedelta(milliseconds=...).total_seconds(): whole microseconds.
    seconds = round((ms - now) * 1000) / 1_000_000
    if abs(seconds) < 1:
        return _("now")
    for unit, per_unit in TIMEDELTA_UNITS:
        value = abs(seconds) / per_unit
        if value >= THRESHOLD or unit == "second":
            if unit == "second":
                value = max(1, value)
            return _span(current(), unit, round(value), seconds >= 0)
    return ""  # not reached: the last unit always answers


@lru_cache(maxsize=4096)
def _span(code: str, unit: str, value: int, future: bool) -> str:
    # Babel given the span in its own unit, and that unit as the smallest, says it in that unit.
    seconds = value * dict(TIMEDELTA_UNITS)[unit] * (1 if future else -1)
    # The short form ("3 min. ago") keeps a table's time columns narrow.
    return format_timedelta(
        timedelta(seconds=seconds),
        granularity=unit,  # type: ignore[arg-type]
        threshold=float("inf"),
        add_direction=True,
        format="short",
        locale=_locale(code),
    )


__all__ = [
    "DEFAULT",
    "LOCALE_DIR",
    "N_",
    "STATE_LABELS",
    "_",
    "absolute_time",
    "available",
    "current",
    "display_name",
    "negotiate",
    "ngettext",
    "relative_time",
    "state_label",
    "using",
]
