"""Responses: a full page, the htmx fragment of the same template, or JSON, from one context."""

from __future__ import annotations

import dataclasses
import json
import math
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from jinja2 import pass_context
from jinja2.runtime import Context
from jinja2.utils import htmlsafe_json_dumps
from jinja2_fragments.starlette import Jinja2Blocks
from markupsafe import Markup, escape
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..adapters import COUNTED, TABS, JobSummary, QueueInfo
from . import i18n, preferences

_PACKAGE = Path(__file__).resolve().parent.parent


def asset_dir(name: str) -> Path:
    """``templates`` or ``static``: inside the installed package, else at the top of a checkout."""
    for candidate in (_PACKAGE / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise RuntimeError(f"board's {name} folder is missing (looked in {_PACKAGE} and {_PACKAGE.parent})")


def wants_json(request: Request) -> bool:
    """Whether the client prefers JSON to HTML: the one rule for every answer, signed in or not.

    A browser asks for HTML (or ``*/*``); ``fetch()`` and API clients that name ``application/json`` (or a
    ``+json`` type) above ``text/html`` get JSON.
    """
    json_q = html_q = 0.0
    for part in request.headers.get("accept", "").split(","):
        media, *params = (piece.strip().lower() for piece in part.split(";"))
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if media == "application/json" or (media.startswith("application/") and media.endswith("+json")):
            json_q = max(json_q, q)
        elif media == "text/html":
            html_q = max(html_q, q)
    return json_q > html_q


def is_fragment(request: Request) -> bool:
    return request.headers.get("hx-request") == "true" and request.headers.get("hx-history-restore-request") != "true"


def iso(ms: int | None) -> str:
    if not ms:
        return ""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def duration(ms: int | float | None) -> str:
    if ms is None:
        return ""
    if ms < 1000:
        return f"{ms:.0f} ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, seconds = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min"
    return f"{hours // 24} d {hours % 24} h"


def remaining(ms: int | float | None) -> str:
    """A time left, as a person says it: "under a second", "40 s", "26 min", "3 h 5 min", "2 d 4 h"."""
    if ms is None:
        return ""
    if ms < 1000:
        return "under a second"
    seconds = int(ms // 1000)
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{hours // 24} d {hours % 24} h" if hours % 24 else f"{hours // 24} d"


def interval(ms: int | float | None) -> str:
    """An interval exactly: "10 min", "1 h 30 min", "90 ms"."""
    if ms is None:
        return ""
    if ms < 1000 or ms % 1000:
        return f"{ms / 1000:g} s" if ms >= 1000 else f"{ms:g} ms"
    rest = int(ms // 1000)
    parts = []
    for unit, span in (("d", 86400), ("h", 3600), ("min", 60), ("s", 1)):
        if rest >= span:
            parts.append(f"{rest // span} {unit}")
            rest %= span
    return " ".join(parts)


def relative(ms: int | None, now_ms: float | None = None) -> str:
    """When ``ms`` is from now: "in 11 h 3 min", "4 min ago", "now"."""
    if not ms:
        return ""
    now = time.time() * 1000 if now_ms is None else now_ms
    delta = ms - now
    if abs(delta) < 1000:
        return "now"
    return f"in {remaining(delta)}" if delta > 0 else f"{remaining(-delta)} ago"


def size(n: int | None) -> str:
    if n is None:
        return ""
    if n < 1024:
        return f"{n} B"
    units = ("KB", "MB", "GB", "TB")
    power = min(len(units), int(math.log(n, 1024)))
    return f"{n / 1024**power:.1f} {units[power - 1]}"


def escaped_text(value: object) -> str:
    """A value as a page shows it, for markup written in Python: its text escaped as a template escapes it,
    with bytes that are not UTF-8 shown as escapes (``clean_text``)."""
    return str(escape(clean_text(str(value))))


def clean_text(text: str) -> str:
    """Text another program stored as bytes that are not UTF-8 arrives with lone surrogates; show those
    bytes as ``\\xNN`` escapes instead of failing the page."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        raw = text.encode("utf-8", "surrogateescape" if _only_escapes(text) else "surrogatepass")
        return raw.decode("utf-8", "backslashreplace")


def _only_escapes(text: str) -> bool:
    return all(not 0xD800 <= ord(c) <= 0xDFFF or 0xDC80 <= ord(c) <= 0xDCFF for c in text)


def printable(value: Any) -> Any:
    if isinstance(value, Markup):
        return Markup(clean_text(str(value)))
    if isinstance(value, str):
        return clean_text(value)
    return value


# Derived properties a JSON answer carries beside a dataclass's fields.
_PROPERTIES = ("wait_ms", "run_ms", "pages", "total", "more")
# Per dataclass: its field names and the derived properties it has, worked out once (an overview of a
# thousand queues converts thousands of them).
_SHAPES: dict[type, tuple[tuple[str, ...], tuple[str, ...]]] = {}


def _shape(cls: type) -> tuple[tuple[str, ...], tuple[str, ...]]:
    shape = _SHAPES.get(cls)
    if shape is None:
        names = tuple(f.name for f in dataclasses.fields(cls))
        derived = tuple(n for n in _PROPERTIES if isinstance(getattr(cls, n, None), property))
        shape = _SHAPES[cls] = (names, derived)
    return shape


def to_json(value: Any) -> Any:
    """Dataclasses (with their derived properties) and the rest, as JSON-ready values."""
    kind = type(value)
    if kind is str:
        return clean_text(value)
    if value is None or kind is int or kind is bool or kind is float:
        return value
    if kind is dict:
        return {str(k): to_json(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [to_json(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        names, derived = _shape(kind)
        out = {}
        for name in names:
            field = getattr(value, name)
            plain = type(field)
            # Numbers, flags and plain text as they are: most fields are, and this runs for each.
            if field is None or plain is int or plain is bool or (plain is str and field.isascii()):
                out[name] = field
            else:
                out[name] = to_json(field)
        for name in derived:
            out[name] = getattr(value, name)
        return out
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, str):
        return clean_text(value)
    return value


class Renderer:
    def __init__(self, *, title: str, poll_interval: float) -> None:
        self.templates = Jinja2Blocks(directory=str(asset_dir("templates")))
        env = self.templates.env
        # Text marked with _() / {% trans %}, in the request's language (i18n.using, around each render):
        # the callables read it when called, so imported macros and htmx blocks speak it too.
        env.add_extension("jinja2.ext.i18n")
        env.install_gettext_callables(  # type: ignore[attr-defined]
            i18n.template_gettext, i18n.template_ngettext, newstyle=True
        )
        env.filters.update(
            iso=iso, duration=duration, size=size, remaining=remaining, interval=interval, relative=relative
        )
        env.filters.update(ago=i18n.relative_time, absolute=i18n.absolute_time, pathpart=path_part)
        self.poll_interval = poll_interval
        env.finalize = printable
        env.globals.update(
            moment=moment,
            progress_tag=progress_tag,
            title=title,
            poll_interval=poll_interval,
            tabs=TABS,
            states=COUNTED,
            limit_values=limit_values,
            state_word=i18n.state_label,
        )
        env.policies["json.dumps_kwargs"] = {"sort_keys": False, "ensure_ascii": False}

    def page(
        self,
        request: Request,
        template: str,
        context: dict[str, Any],
        *,
        data: Any = None,
        block: str | None = None,
        status: int = 200,
        html_only: bool = False,
    ) -> Response:
        if wants_json(request) and not html_only:
            return JSONResponse(to_json(data if data is not None else {}), status_code=status)
        # The user's own settings (preferences.py): polling, theme, times and language.
        prefs = preferences.of(request)
        lang = preferences.language_of(request)
        poll = prefs.poll_interval(self.poll_interval)
        context = {"request": request, "prefs": prefs, "lang": lang, "poll_interval": poll, **context}
        # Templates render here, at once: the language holds for the whole render, and only for it.
        with i18n.using(lang):
            if block and is_fragment(request):
                return self.templates.TemplateResponse(request, template, context, block_name=block, status_code=status)
            return self.templates.TemplateResponse(request, template, context, status_code=status)


@pass_context
def moment(context: Context, ms: int | None) -> Markup:
    """``moment_tag`` with the request's settings, for the templates."""
    return moment_tag(ms, context.get("prefs"))


def moment_tag(ms: int | None, prefs: preferences.Preferences | None) -> Markup:
    """A moment: "3 min. ago" (or in full, as the user's settings say), the full time in its tooltip, in
    the user's time zone; board.js keeps relative times current and puts those of the "browser" zone in
    the browser's. A function, not a macro: a page of jobs shows three a row."""
    if not ms:
        return Markup('<span class="muted">—</span>')
    zone = prefs.zone if prefs else preferences.BROWSER_ZONE
    relative = not prefs or prefs.time == "relative"
    full = escape(clean_text(i18n.absolute_time(ms, zone)))
    if relative:
        said = escape(clean_text(i18n.relative_time(ms)))
        return Markup(f'<time datetime="{iso(ms)}" title="{full}" data-relative>{said}</time>')
    return Markup(f'<time datetime="{iso(ms)}" title="{full}">{full}</time>')


def truncate_text(text: str, length: int, killwords: bool = False, end: str = "...") -> str:
    """As the templates' ``truncate`` filter (its leeway of 5 characters)."""
    if len(text) <= length + 5:
        return text
    if killwords:
        return text[: length - len(end)] + end
    return text[: length - len(end)].rsplit(" ", 1)[0] + end


def progress_tag(job: JobSummary) -> Markup:
    """A bar with its number, or the JSON a job reported instead of a number. BullMQ reads 0 for a job that
    never reported progress, so 0 shows nothing."""
    pct = job.progress_percent
    if pct is not None and pct > 0:
        label = escape(i18n._("%(percent)s%%", percent=f"{round(pct, 1):g}"))
        return Markup(
            f'<span class="progress-line"><progress class="progress" max="100" value="{pct}" title="{label}">'
            f'{label}</progress><span class="progress-pct" aria-hidden="true">{label}</span></span>'
        )
    if job.progress not in (None, 0, "0"):
        shown = htmlsafe_json_dumps(job.progress, sort_keys=False, ensure_ascii=False)
        return Markup(f'<span class="mono muted">{truncate_text(shown, 40)}</span>')
    return Markup("")


def path_part(value: Any) -> str:
    """A value as one segment of a URL path, encoded as ``Board.url`` encodes ids ('/' and all)."""
    return quote(str(value), safe="", errors="surrogateescape")


def limit_values(queue: QueueInfo) -> dict[str, str]:
    """A queue's global limits as the limits form shows them (seconds for the rate limit's window)."""
    duration = queue.rate_limit_duration_ms
    return {
        "concurrency": str(queue.global_concurrency or ""),
        "max": str(queue.rate_limit_max or ""),
        "duration": f"{duration / 1000:g}" if duration and queue.rate_limit_max else "60",
    }


def query(request: Request, **changes: Any) -> str:
    """The current query string with some parameters changed (None drops one)."""
    params = dict(request.query_params)
    for key, value in changes.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = str(value)
    return ("?" + urlencode(params)) if params else ""


def pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False, default=str)
