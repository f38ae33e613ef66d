"""Job search on a queue page: a text in the jobs' ids, names, data or failed reasons, found in bounded steps.

Each request runs one step of the engine's search (a time budget, never holding Redis up for long) and
answers the matches as job rows with previews. A step that did not reach the end hands on a cursor:
without JavaScript, a "search further" link; with htmx, a row at the end of the table that loads the next
step when it comes into view and puts its rows after the others, until a page holds ``PAGE_CAP`` matches
or every job was searched.

Redaction holds in search too: a job whose text matched only inside a value the board masks (a
password, a token) or past the part of a large field read back to check (``TEXT_BYTES``) is not shown,
only counted, so that searching can never tell what a masked value holds.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response

from ..adapters import COUNTED, SEARCH_FIELDS, Invalid, JobSummary, SearchHit, SearchPage
from ..adapters.payload import loads_bounded
from .board import Board
from .guard import guarded
from .i18n import _, state_label
from .render import is_fragment
from .users import User
from .views import _format_summary, _hide_origin, int_param

__all__ = ["BUDGET_S", "PAGE_CAP", "STEP_LIMIT", "TEXT_BYTES", "Query", "read_query", "search", "visible"]

# Matches asked of one step, and shown on one page before the search waits for a click.
STEP_LIMIT = 50
PAGE_CAP = 200
# Seconds of searching per request.
BUDGET_S = 0.5
# Bytes of each searched field read back with a match, to check the text is in what the board shows.
TEXT_BYTES = 8 * 1024
# The formatter that decides what the board shows of each searched field.
_SHOWN_AS = {"name": "name", "data": "data", "failedReason": "failed_reason"}
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


@dataclass
class Query:
    """What a search request asks: the text, the states and fields (every one when none is given), where
    to go on from, and what the page already shows (matches, fields skipped for their size)."""

    text: str | None
    states: list[str]
    fields: list[str]
    cursor: str | None = None
    shown: int = 0
    skipped: int = 0

    def params(self, **changes: Any) -> str:
        """The query string of this search, with ``changes`` (None drops one); every state or field
        is the default, and is left out."""
        values = {"cursor": self.cursor, "shown": self.shown or None, "skipped": self.skipped or None, **changes}
        pairs: list[tuple[str, str]] = [("text", self.text or "")]
        if set(self.states) != set(COUNTED):
            pairs += [("states", s) for s in self.states]
        if set(self.fields) != set(SEARCH_FIELDS):
            pairs += [("fields", f) for f in self.fields]
        pairs += [(k, str(v)) for k, v in values.items() if v is not None]
        return "?" + urlencode(pairs)


def read_query(request: Request) -> Query:
    """The search's parameters; ``Invalid`` naming the field for one that cannot be."""
    params = request.query_params
    text = params.get("text")
    states = params.getlist("states")
    fields = params.getlist("fields")
    for name, values, known in (("states", states, COUNTED), ("fields", fields, SEARCH_FIELDS)):
        unknown = [v for v in values if v not in known]
        if unknown:
            message = _(
                "%(field)s: expected some of %(known)s, got %(got)s",
                field=name,
                known=", ".join(known),
                got=repr(unknown[0][:40]),
            )
            raise Invalid(message, name)
    if text is not None and not text.strip():
        raise Invalid(_("text: give the text to search for"), "text")
    query = Query(
        text,
        [s for s in COUNTED if s in states] or list(COUNTED),
        [f for f in SEARCH_FIELDS if f in fields] or list(SEARCH_FIELDS),
        params.get("cursor") or None,
    )
    for name in ("shown", "skipped"):
        try:
            setattr(query, name, int_param(request, name, 0, low=0, high=10**9))
        except ValueError as exc:
            raise Invalid(str(exc), name) from None
    return query


def _lower(text: str) -> str:
    """As the engine compares: ASCII letters lowered, every other character as it is."""
    return text.translate(_ASCII_LOWER)


def _shown_forms(board: Board, user: User, field: str, text: str, cut: bool) -> list[str]:
    """What the board shows of a field, as text to look for the search's text in."""
    name = _SHOWN_AS[field]
    if name not in board.formatters.custom:
        # Redaction of the text as stored keeps everything else byte for byte: the text a user typed
        # is found exactly where the page shows it.
        return [str(board.formatters.apply(name, text, user))]
    value: Any = text
    if not cut:
        with contextlib.suppress(ValueError):
            value = loads_bounded(text)
    shown = board.formatters.apply(name, value, user)
    if isinstance(shown, str):
        return [shown]
    # The text was typed against JSON as another program wrote it: compact or spaced, escaped or not.
    return [
        json.dumps(shown, ensure_ascii=ascii_only, separators=separators, default=str)
        for ascii_only in (False, True)
        for separators in ((",", ":"), (", ", ": "))
    ]


def visible(board: Board, user: User, hit: SearchHit, text: str) -> bool:
    """Whether the text is in what the board shows this user of the hit's searched fields."""
    needle = _lower(text.strip())
    for field, stored in hit.texts.items():
        if needle not in _lower(stored):
            continue
        if field == "id":
            return True
        if any(needle in _lower(shown) for shown in _shown_forms(board, user, field, stored, field in hit.cut)):
            return True
    return False


def _progress(result: SearchPage, shown: int, skipped: int) -> dict[str, Any]:
    """The words under the search: how far it got, in which states, what it found and skipped."""
    states = ", ".join(state_label(s) for s in result.states)
    done = result.cursor is None
    if done:
        covered = _("Searched all %(total)s jobs in %(states)s.", total=format(result.total, ","), states=states)
    else:
        covered = _(
            "Looked at %(covered)s of %(total)s jobs in %(states)s.",
            covered=format(result.covered, ","),
            total=format(result.total, ","),
            states=states,
        )
    return {"done": done, "covered": covered, "shown": shown, "skipped": skipped}


@guarded("viewer")
async def search(request: Request, board: Board, user: User) -> Response:
    queue = request.path_params["queue"]
    try:
        query = read_query(request)
    except Invalid as exc:
        return _refused(request, board, user, queue, exc)
    if not hasattr(board.adapter, "search"):
        return board.error(request, 404, _("This board's queue engine offers no job search."), user)
    context = board.context(request, user, queue_name=queue, query=query, errors={})
    if query.text is None:
        return board.renderer.page(request, "search.html", context, data={"queue": queue, "jobs": []})
    limit = max(1, min(STEP_LIMIT, PAGE_CAP - query.shown))
    try:
        result = await board.adapter.search(
            queue,
            query.text,
            states=query.states,
            fields=query.fields,
            cursor=query.cursor,
            limit=limit,
            budget_s=BUDGET_S,
            text_bytes=TEXT_BYTES,
        )
    except Invalid as exc:
        return _refused(request, board, user, queue, exc, query)
    shown_hits = [hit for hit in result.hits if visible(board, user, hit, query.text)]
    seen = set(await board.visible_queues(user))
    jobs: list[JobSummary] = []
    for hit in shown_hits:
        job = _format_summary(board, user, hit.job)
        _hide_origin(job, seen)
        jobs.append(job)
    shown, skipped = query.shown + len(jobs), query.skipped + result.skipped
    progress = _progress(result, shown, skipped)
    base = board.url(request, "search", queue=queue)
    going_on = result.cursor is not None
    context.update(
        jobs=jobs,
        result=result,
        progress=progress,
        hidden=len(result.hits) - len(jobs),
        fragment=is_fragment(request),
        # The next step by itself (htmx) while the page has room; else a link, which starts a new page.
        next_step=base + query.params(cursor=result.cursor, shown=shown, skipped=skipped)
        if going_on and shown < PAGE_CAP
        else None,
        next_page=base + query.params(cursor=result.cursor, shown=None, skipped=None) if going_on else None,
    )
    data = {
        "queue": queue,
        "text": query.text,
        "states": result.states,
        "fields": query.fields,
        "jobs": jobs,
        "hidden": context["hidden"],
        "looked": result.looked,
        "skipped": result.skipped,
        "covered": result.covered,
        "total": result.total,
        "cursor": result.cursor,
        "next": context["next_page"],
    }
    return board.renderer.page(request, "search.html", context, data=data, block="step")


def _refused(
    request: Request, board: Board, user: User, queue: str, exc: Invalid, query: Query | None = None
) -> Response:
    """400 with the reason next to its field, and the form again as it was filled in."""
    field = exc.field or "text"
    if query is None:
        params = request.query_params
        query = Query(params.get("text"), params.getlist("states"), params.getlist("fields"))
    context = board.context(request, user, queue_name=queue, query=query, errors={field: str(exc)})
    data = {"error": str(exc), "fields": {field: str(exc)}}
    return board.renderer.page(request, "search.html", context, data=data, status=400)
