"""Reading an action's fields and answering it: what every action shares (a redirect back with a message, or
JSON; a confirmation first; the form again with each problem next to its field)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from ..adapters import ActionResult
from .board import Board
from .csrf import FIELD as CSRF_FIELD
from .i18n import _
from .paths import safe_next
from .recorder import note
from .render import wants_json
from .users import User


def flag(body: dict[str, Any], name: str) -> bool:
    value = body.get(name)
    return value is True or str(value).lower() in ("1", "true", "yes", "on")


def back(request: Request, fallback: str) -> str:
    """Where to return after an action: the posted ``next`` if it is a path inside the board."""
    root = str(request.scope.get("root_path") or "").rstrip("/")
    return safe_next(str(request.state.body.get("next") or ""), root) or fallback


def said(result: ActionResult) -> str:
    """What an action did, in the reader's language: each of its sentences translated (the adapter's English
    message when it gives none)."""
    if not result.said:
        return result.message
    return " ".join(_(sentence.template, **sentence.params) for sentence in result.said)


def done(request: Request, board: Board, result: ActionResult, fallback: str) -> Response:
    # The audit log and scripts keep the English message; the page says it in the reader's language.
    note(request, result.message, result.job_id)
    if wants_json(request):
        return JSONResponse({"ok": True, "message": result.message, "count": result.count, "job_id": result.job_id})
    response = RedirectResponse(back(request, fallback), status_code=303)
    board.flash(request, response, "ok", said(result))
    return response


def confirm(
    request: Request,
    board: Board,
    user: User,
    question: str,
    cancel: str | None = None,
    fields: Mapping[str, str | list[str]] | None = None,
) -> Response | None:
    """None when the action is confirmed; else a page asking for it (or 400 for a script), whose Cancel
    goes to ``cancel`` (by default the job's page, or the queue's). The page posts ``fields`` again (by
    default the fields received; a list is posted as one field per item)."""
    if flag(request.state.body, "confirm"):
        return None
    if wants_json(request):
        refusal = _("%(question)s Send confirm=true to go ahead.", question=question)
        note(request, refusal)
        return JSONResponse({"error": refusal}, status_code=400)
    if fields is None:
        fields = request.state.body
    fields = {k: v for k, v in fields.items() if k not in ("confirm", CSRF_FIELD)}
    queue, job_id = request.path_params["queue"], request.path_params.get("job_id")
    if cancel is None:
        cancel = job_url(request, queue, job_id) if job_id is not None else queue_url(request, queue)
    context = board.context(request, user, question=question, action=board.here(request), fields=fields, cancel=cancel)
    return board.renderer.page(request, "confirm.html", context)


def queue_url(request: Request, queue: str, state: str | None = None) -> str:
    url = str(request.app.state.board.url(request, "queue", queue=queue))
    return f"{url}?state={state}" if state else url


def job_url(request: Request, queue: str, job_id: str) -> str:
    return str(request.app.state.board.url(request, "job", queue=queue, job_id=job_id))


def form_errors(
    request: Request,
    board: Board,
    user: User,
    template: str,
    errors: dict[str, str],
    status: int = 400,
    **extra: Any,
) -> Response:
    """The form again, with each problem next to its field; nothing was written."""
    said = "; ".join(f"{k}: {v}" for k, v in errors.items())
    note(request, said)
    if wants_json(request):
        return JSONResponse({"error": said, "fields": errors}, status)
    values = {k: v for k, v in request.state.body.items() if isinstance(v, str)}
    context = board.context(
        request, user, queue_name=request.path_params["queue"], values=values, errors=errors, **extra
    )
    return board.renderer.page(request, template, context, status=status)


def blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def whole(value: Any, high: int) -> int:
    """A whole number from 1 to ``high`` from a form field or JSON; ValueError with the reason."""
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError(_("expected a whole number from 1 to %(high)s, got %(got)r", high=f"{high:,}", got=value))
    try:
        number = int(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(
            _("expected a whole number from 1 to %(high)s, got %(got)r", high=f"{high:,}", got=value)
        ) from None
    if not 1 <= number <= high:
        raise ValueError(
            _("expected a whole number from 1 to %(high)s, got %(got)s", high=f"{high:,}", got=f"{number:,}")
        )
    return number


def seconds(value: Any, high: float) -> float:
    """A positive number of seconds up to ``high``; ValueError with the reason."""
    try:
        seconds = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError, OverflowError):
        raise ValueError(_("expected a number of seconds, got %(got)r", got=value)) from None
    if isinstance(value, bool) or not math.isfinite(seconds) or not 0.001 <= seconds <= high:
        raise ValueError(
            _("expected a number of seconds from 0.001 to %(high)s, got %(got)r", high=f"{high:,.0f}", got=value)
        )
    return seconds


def moment(value: Any) -> datetime:
    """A date and time from a form (``2026-05-01T18:00``, read as UTC) or JSON (ISO 8601, with or without
    an offset; a number of milliseconds since the epoch); ValueError with the reason."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        try:
            return datetime.fromtimestamp(value / 1000, UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError(_("expected a date and time, got %(got)r", got=value)) from None
    if not isinstance(value, str):
        raise ValueError(_("expected a date and time, got %(got)r", got=value))
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(_("expected a date and time such as 2026-05-01T18:00, got %(got)r", got=value[:40])) from None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
