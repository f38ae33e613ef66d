"""The actions: POST only, CSRF-checked, confirmed when destructive, each answering with what happened.

A browser gets a redirect back with a message (or, without JavaScript, a confirmation page first for
destructive actions); a script that sends ``Accept: application/json`` gets the result as JSON.
"""

from __future__ import annotations

import math
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from ..adapters import CLEANABLE_STATES, ActionResult, Invalid
from ..adapters.payload import loads_bounded
from .board import Board
from .csrf import FIELD as CSRF_FIELD
from .editing import EditConflict, apply_edit
from .guard import guarded
from .paths import safe_next
from .render import wants_json
from .users import User

ADD_OPTIONS = {
    "job_id",
    "delay",
    "priority",
    "lifo",
    "attempts",
    "backoff",
    "remove_on_complete",
    "remove_on_fail",
    "keep_logs",
    "stack_trace_limit",
}
MAX_CLEAN_LIMIT = 1_000_000
MAX_GRACE_S = 100 * 365 * 86400


def _flag(body: dict[str, Any], name: str) -> bool:
    value = body.get(name)
    return value is True or str(value).lower() in ("1", "true", "yes", "on")


def _back(request: Request, fallback: str) -> str:
    """Where to return after an action: the posted ``next`` if it is a path inside the board."""
    root = str(request.scope.get("root_path") or "").rstrip("/")
    return safe_next(str(request.state.body.get("next") or ""), root) or fallback


def _done(request: Request, board: Board, result: ActionResult, fallback: str) -> Response:
    if wants_json(request):
        return JSONResponse({"ok": True, "message": result.message, "count": result.count, "job_id": result.job_id})
    response = RedirectResponse(_back(request, fallback), status_code=303)
    board.flash(request, response, "ok", result.message)
    return response


def _confirm(request: Request, board: Board, user: User, question: str) -> Response | None:
    """None when the action is confirmed; else a page asking for it (or 400 for a script)."""
    if _flag(request.state.body, "confirm"):
        return None
    if wants_json(request):
        return JSONResponse({"error": f"{question} Send confirm=true to go ahead."}, status_code=400)
    fields = {k: v for k, v in request.state.body.items() if k not in ("confirm", CSRF_FIELD)}
    queue, job_id = request.path_params["queue"], request.path_params.get("job_id")
    cancel = _job_url(request, queue, job_id) if job_id is not None else _queue_url(request, queue)
    context = board.context(request, user, question=question, action=board.here(request), fields=fields, cancel=cancel)
    return board.renderer.page(request, "confirm.html", context)


def _queue_url(request: Request, queue: str, state: str | None = None) -> str:
    url = str(request.app.state.board.url(request, "queue", queue=queue))
    return f"{url}?state={state}" if state else url


def _job_url(request: Request, queue: str, job_id: str) -> str:
    return str(request.app.state.board.url(request, "job", queue=queue, job_id=job_id))


# Job actions


@guarded("operator", action=True)
async def retry_job(request: Request, board: Board, user: User) -> Response:
    queue, job_id = request.path_params["queue"], request.path_params["job_id"]
    if not board.allow_completed_retries:
        detail = await board.adapter.job(queue, job_id, logs_start=0, logs_count=0)
        if detail is not None and detail.state == "completed":
            return board.error(request, 403, "Retrying completed jobs is turned off on this board.", user)
    result = await board.adapter.retry_job(queue, job_id)
    return _done(request, board, result, _job_url(request, queue, job_id))


@guarded("operator", action=True)
async def promote_job(request: Request, board: Board, user: User) -> Response:
    queue, job_id = request.path_params["queue"], request.path_params["job_id"]
    result = await board.adapter.promote_job(queue, job_id)
    return _done(request, board, result, _job_url(request, queue, job_id))


@guarded("admin", action=True)
async def remove_job(request: Request, board: Board, user: User) -> Response:
    queue, job_id = request.path_params["queue"], request.path_params["job_id"]
    asking = _confirm(request, board, user, f"Remove job {job_id} from {queue}, with its logs?")
    if asking:
        return asking
    result = await board.adapter.remove_job(queue, job_id)
    return _done(request, board, result, _queue_url(request, queue))


@guarded("operator", action=True)
async def update_data(request: Request, board: Board, user: User) -> Response:
    queue, job_id = request.path_params["queue"], request.path_params["job_id"]
    body = request.state.body
    raw = body.get("data")
    version = body.get("version")
    edit = {"job_id": job_id}
    if isinstance(raw, str):
        try:
            data = loads_bounded(raw)
        except ValueError as exc:
            return _form_errors(request, board, user, "edit.html", {"data": f"Not valid JSON: {exc}"}, **edit)
    elif raw is None:
        return _form_errors(request, board, user, "edit.html", {"data": "Give the new data, as JSON."}, **edit)
    else:
        data = raw
    stored = await board.adapter.raw_field(queue, job_id, "data")
    if stored is None:
        return board.error(request, 404, f"There is no job {job_id!r} in queue {queue!r}.", user)
    try:
        data = apply_edit(data, stored, version if isinstance(version, str) and version else None, board.formatters)
    except EditConflict as exc:
        return _form_errors(request, board, user, "edit.html", {"data": f"Not saved: {exc}."}, status=409, **edit)
    result = await board.adapter.update_job_data(queue, job_id, data)
    return _done(request, board, result, _job_url(request, queue, job_id))


@guarded("operator", action=True)
async def change_priority(request: Request, board: Board, user: User) -> Response:
    queue, job_id = request.path_params["queue"], request.path_params["job_id"]
    raw = request.state.body.get("priority")
    try:
        priority = int(raw)
    except (TypeError, ValueError, OverflowError):
        return board.error(request, 400, f"priority: expected a whole number, got {raw!r}", user)
    result = await board.adapter.change_job_priority(queue, job_id, priority)
    return _done(request, board, result, _job_url(request, queue, job_id))


@guarded("operator", action=True)
async def duplicate_job(request: Request, board: Board, user: User) -> Response:
    queue, job_id = request.path_params["queue"], request.path_params["job_id"]
    result = await board.adapter.duplicate_job(queue, job_id)
    return _done(request, board, result, _job_url(request, queue, result.job_id or job_id))


def _form_errors(
    request: Request,
    board: Board,
    user: User,
    template: str,
    errors: dict[str, str],
    status: int = 400,
    **extra: Any,
) -> Response:
    """The form again, with each problem next to its field; nothing was written."""
    if wants_json(request):
        return JSONResponse({"error": "; ".join(f"{k}: {v}" for k, v in errors.items()), "fields": errors}, status)
    values = {k: v for k, v in request.state.body.items() if isinstance(v, str)}
    context = board.context(
        request, user, queue_name=request.path_params["queue"], values=values, errors=errors, **extra
    )
    return board.renderer.page(request, template, context, status=status)


@guarded("operator", action=True)
async def add_job(request: Request, board: Board, user: User) -> Response:
    queue = request.path_params["queue"]
    body = request.state.body
    errors: dict[str, str] = {}
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        errors["name"] = "Give the job a name."
    data: Any = body.get("data", {})
    if isinstance(data, str):
        try:
            data = loads_bounded(data or "{}")
        except ValueError as exc:
            errors["data"] = f"Not valid JSON: {exc}"
    options: Any = body.get("options", {})
    if isinstance(options, str):
        try:
            options = loads_bounded(options or "{}")
        except ValueError as exc:
            errors["options"] = f"Not valid JSON: {exc}"
            options = {}
    if not isinstance(options, dict):
        errors["options"] = 'Options must be a JSON object, such as {"delay": 10, "attempts": 3}.'
        options = {}
    unknown = set(options) - ADD_OPTIONS
    if unknown:
        errors["options"] = f"Unknown option(s): {', '.join(sorted(unknown))}; known: {', '.join(sorted(ADD_OPTIONS))}."
    if errors:
        return _form_errors(request, board, user, "add.html", errors)
    try:
        result = await board.adapter.add_job(queue, str(name).strip(), data, options)
    except Invalid as exc:
        return _form_errors(request, board, user, "add.html", {exc.field or "options": str(exc)})
    return _done(request, board, result, _job_url(request, queue, result.job_id or ""))


# Queue actions


@guarded("admin", action=True)
async def retry_all(request: Request, board: Board, user: User) -> Response:
    queue = request.path_params["queue"]
    state = str(request.state.body.get("state", "failed"))
    if state == "completed" and not board.allow_completed_retries:
        return board.error(request, 403, "Retrying completed jobs is turned off on this board.", user)
    asking = _confirm(request, board, user, f"Move every {state} job of {queue} back to waiting?")
    if asking:
        return asking
    result = await board.adapter.retry_all(queue, state)
    return _done(request, board, result, _queue_url(request, queue, state))


@guarded("admin", action=True)
async def promote_all(request: Request, board: Board, user: User) -> Response:
    queue = request.path_params["queue"]
    asking = _confirm(request, board, user, f"Run every delayed job of {queue} now?")
    if asking:
        return asking
    result = await board.adapter.promote_all(queue)
    return _done(request, board, result, _queue_url(request, queue, "delayed"))


@guarded("admin", action=True)
async def clean(request: Request, board: Board, user: User) -> Response:
    queue = request.path_params["queue"]
    body = request.state.body
    state = str(body.get("state", "completed"))
    if state not in CLEANABLE_STATES:
        return board.error(request, 400, f"state: expected one of {', '.join(CLEANABLE_STATES)}, got {state!r}", user)
    try:
        grace = float(body.get("grace", 0))
        limit = int(body.get("limit", 1000))
    except (TypeError, ValueError, OverflowError):
        return board.error(request, 400, "grace (seconds) and limit (a whole number) must be numbers.", user)
    if not math.isfinite(grace) or not 0 <= grace <= MAX_GRACE_S or not 1 <= limit <= MAX_CLEAN_LIMIT:
        return board.error(
            request,
            400,
            f"grace must be a number of seconds from 0 to {MAX_GRACE_S:,} and limit between 1 and {MAX_CLEAN_LIMIT:,}.",
            user,
        )
    asking = _confirm(request, board, user, f"Remove up to {limit:,} {state} jobs of {queue} older than {grace:g} s?")
    if asking:
        return asking
    result = await board.adapter.clean(queue, state, grace, limit)
    return _done(request, board, result, _queue_url(request, queue, state))


@guarded("admin", action=True)
async def pause(request: Request, board: Board, user: User) -> Response:
    queue = request.path_params["queue"]
    return _done(request, board, await board.adapter.pause(queue), _queue_url(request, queue))


@guarded("admin", action=True)
async def resume(request: Request, board: Board, user: User) -> Response:
    queue = request.path_params["queue"]
    return _done(request, board, await board.adapter.resume(queue), _queue_url(request, queue))


@guarded("admin", action=True)
async def empty(request: Request, board: Board, user: User) -> Response:
    queue = request.path_params["queue"]
    delayed = _flag(request.state.body, "delayed")
    what = "waiting, prioritized and delayed" if delayed else "waiting and prioritized"
    asking = _confirm(request, board, user, f"Remove every {what} job of {queue}?")
    if asking:
        return asking
    result = await board.adapter.empty(queue, delayed=delayed)
    return _done(request, board, result, _queue_url(request, queue))


@guarded("admin", action=True)
async def obliterate(request: Request, board: Board, user: User) -> Response:
    queue = request.path_params["queue"]
    force = _flag(request.state.body, "force")
    asking = _confirm(request, board, user, f"Delete queue {queue} and every job in it? This cannot be undone.")
    if asking:
        return asking
    result = await board.adapter.obliterate(queue, force=force)
    return _done(request, board, result, board.url(request, "overview"))
