"""Each user's own settings, kept in their browser: a cookie the board reads on every request.

The cookie is the user's to change, so nothing in it is trusted: each value is checked against what the
board offers, and one that is unknown or wrong is left out (its default serves) rather than refusing the
page. The settings page (``settings.py``) writes it; ``form_errors`` says what a submitted form got wrong.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import parse_qsl, urlencode
from zoneinfo import ZoneInfo, available_timezones

from starlette.requests import Request

from ..adapters import TABS
from . import i18n

COOKIE = "board_settings"
# Far more than the settings take; a longer cookie is not read at all.
MAX_COOKIE = 1024
POLLS = (0, 2, 5, 10, 30, 60)
THEMES = ("system", "light", "dark")
PER_PAGE = (10, 25, 50, 100)
TIME_DISPLAYS = ("relative", "absolute")
BROWSER_ZONE = "browser"


@dataclass(frozen=True)
class Preferences:
    """``poll``: seconds between updates, 0 for none, None for the board's own; ``tab``: the queue page's
    first tab; ``zone``: "browser", "UTC" or an IANA name; ``lang``: "auto" (the browser's) or a code."""

    poll: int | None = None
    theme: str = "system"
    tab: str = "latest"
    per_page: int = 25
    time: str = "relative"
    zone: str = BROWSER_ZONE
    lang: str = "auto"

    def poll_interval(self, board_default: float) -> float:
        return board_default if self.poll is None else self.poll

    def encode(self) -> str:
        """The cookie's value: only what differs from the defaults."""
        default = Preferences()
        changed = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if getattr(self, f.name) != getattr(default, f.name)
        }
        return urlencode(changed)


def valid_zone(zone: str) -> bool:
    if zone in (BROWSER_ZONE, "UTC"):
        return True
    if not zone or len(zone) > 64 or zone not in zones():
        return False
    try:
        ZoneInfo(zone)
    except (ValueError, KeyError):
        return False
    return True


@cache
def zones() -> frozenset[str]:
    return frozenset(available_timezones())


def _whole(raw: str, allowed: tuple[int, ...]) -> int | None:
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 5 and int(raw) in allowed else None


def _check(name: str, raw: str) -> tuple[bool, Any]:
    """Whether ``raw`` is a valid value of setting ``name``, and the value."""
    if name == "poll":
        if raw in ("", "default"):
            return True, None
        value = _whole(raw, POLLS)
        return value is not None, value
    if name == "per_page":
        value = _whole(raw, PER_PAGE)
        return value is not None, value
    choices = {"theme": THEMES, "tab": TABS, "time": TIME_DISPLAYS}.get(name)
    if choices is not None:
        return raw in choices, raw
    if name == "zone":
        return valid_zone(raw), raw
    if name == "lang":
        return raw == "auto" or raw in i18n.available(), raw
    return False, None


NAMES = tuple(f.name for f in dataclasses.fields(Preferences))


def parse(values: dict[str, str]) -> Preferences:
    """Preferences from untrusted values: the valid ones, the defaults for the rest."""
    good: dict[str, Any] = {}
    for name in NAMES:
        if name in values and isinstance(values[name], str):
            ok, value = _check(name, values[name].strip())
            if ok:
                good[name] = value
    return Preferences(**good)


def form_errors(values: dict[str, Any]) -> dict[str, str]:
    """What a submitted settings form got wrong, field by field (a missing field keeps its default)."""
    errors: dict[str, str] = {}
    for name in NAMES:
        raw = values.get(name)
        if raw is None:
            continue
        ok, _value = _check(name, str(raw).strip())
        if not ok:
            errors[name] = _message(name, str(raw))
    return errors


def _message(name: str, raw: str) -> str:
    shown = raw[:40]
    if name == "zone":
        return i18n._(
            "%(value)r is not a time zone: use an IANA name such as Europe/Berlin, UTC or browser", value=shown
        )
    return i18n._("%(value)r is not one of the choices", value=shown)


def from_cookie(raw: str | None) -> Preferences:
    if not raw or len(raw) > MAX_COOKIE:
        return Preferences()
    return parse(dict(parse_qsl(raw, keep_blank_values=True)))


def of(request: Request) -> Preferences:
    """The request's preferences, read once per request."""
    prefs = getattr(request.state, "preferences", None)
    if not isinstance(prefs, Preferences):
        prefs = from_cookie(request.cookies.get(COOKIE))
        request.state.preferences = prefs
    return prefs


def language_of(request: Request) -> str:
    """The language to answer in: the user's choice, else the browser's (Accept-Language)."""
    chosen = of(request).lang
    if chosen != "auto":
        return chosen
    return i18n.negotiate(request.headers.get("accept-language", ""))


__all__ = ["COOKIE", "Preferences", "form_errors", "from_cookie", "language_of", "of", "parse"]
