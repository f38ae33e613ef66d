"""The actions: POST only, CSRF-checked, confirmed when destructive, each answering with what happened.

A browser gets a redirect back with a message (or, without JavaScript, a confirmation page first for
destructive actions); a script that sends ``Accept: application/json`` gets the result as JSON.
"""

from __future__ import annotations

import math
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..adapters import CLEANABLE_STATES, Conflict, Invalid
from ..adapters.payload import loads_bounded
from .board import Board
from .editing import EditConflict, apply_edit
from .forms import blank, confirm, done, flag, form_errors, job_url, queue_url, seconds, whole
from .guard import guarded
from .render import limit_values
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
# Far above any real setting; past them a typo is more likely than a wish.
MAX_CONCURRENCY = 1_000_000
MAX_RATE_JOBS = 1_000_000_000
MAX_RATE_DURATION_S = 365 * 86400


# Job actions


@guarded("operator", action=True)
async def retry_job(request: Request, board: Board, user: User) -> Response:
    queue, job_id = request.path_params["queue"], request.path_params["job_id"]
    detail = await board.adapter.job(queue, job_id, logs_start=0, logs_count=0)
    if detail is not None and detail.state == "completed" and not board.allow_completed_retries:
        return board.error(request, 403, "Retrying completed jobs is turned off on this board.", user)
    origin = detail.dead_letter if detail is not None else None
    if origin is not None and origin.queue not in await board.visible_queues(user):
        # Sending a dead letter back writes to the queue it came from: only for someone who may see it.
        refusal = "This dead letter came from a queue not shown to you here: it cannot be sent back from this board."
        return board.error(request, 403, refusal, user)
    result = await board.adapter.retry_job(queue, job_id)
    if origin is not None and origin.queue is not None:
        # The dead letter left this queue: follow it to where it went.
        home = job_url(request, origin.queue, origin.job_id) if origin.job_id else queue_url(request, origin.queue)
        return done(request, board, result, home)
    return done(request, board, result, job_url(request, queue, job_id))


@guarded("operator", action=True)
async def promote_job(request: Request, board: Board, user: User) -> Response:
    queue, job_id = request.path_params["queue"], request.path_params["job_id"]
    result = await board.adapter.promote_job(queue, job_id)
    return done(request, board, result, job_url(request, queue, job_id))


@guarded("admin", action=True)
async def remove_job(request: Request, board: Board, user: User) -> Response:
    queue, job_id = request.path_params["queue"], request.path_params["job_id"]
    asking = confirm(request, board, user, f"Remove job {job_id} from {queue}, with its logs (and its children)?")
    if asking:
        return asking
    try:
        result = await board.adapter.remove_job(queue, job_id, visible=await board.visible_queues(user))
    except Conflict as exc:
        detail = await board.adapter.job(queue, job_id, logs_start=0, logs_count=0)
        # Refused as a scheduler's next run (not, say, as a job a worker holds).
        if detail is None or not detail.scheduler_id or "scheduler" not in str(exc):
            raise
        # A scheduler's next run: the way out is the scheduler, so the refusal links to it.
        link = (
            "Go to its job scheduler",
            board.url(request, "scheduler", queue=queue, scheduler_id=detail.scheduler_id),
        )
        return board.error(request, 409, str(exc), user, link=link)
    return done(request, board, result, queue_url(request, queue))


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
            return form_errors(request, board, user, "edit.html", {"data": f"Not valid JSON: {exc}"}, **edit)
    elif raw is None:
        return form_errors(request, board, user, "edit.html", {"data": "Give the new data, as JSON."}, **edit)
    else:
        data = raw
    stored = await board.adapter.raw_field(queue, job_id, "data")
    if stored is None:
        return board.error(request, 404, f"There is no job {job_id!r} in queue {queue!r}.", user)
    try:
        data = apply_edit(data, stored, version if isinstance(version, str) and version else None, board.formatters)
    except EditConflict as exc:
        return form_errors(request, board, user, "edit.html", {"data": f"Not saved: {exc}."}, status=409, **edit)
    result = await board.adapter.update_job_data(queue, job_id, data)
    return done(request, board, result, job_url(request, queue, job_id))


@guarded("operator", action=True)
async def change_priority(request: Request, board: Board, user: User) -> Response:
    queue, job_id = request.path_params["queue"], request.path_params["job_id"]
    raw = request.state.body.get("priority")
    try:
        priority = int(raw)
    except (TypeError, ValueError, OverflowError):
        return board.error(request, 400, f"priority: expected a whole number, got {raw!r}", user)
    result = await board.adapter.change_job_priority(queue, job_id, priority)
    return done(request, board, result, job_url(request, queue, job_id))


@guarded("operator", action=True)
async def duplicate_job(request: Request, board: Board, user: User) -> Response:
    queue, job_id = request.path_params["queue"], request.path_params["job_id"]
    result = await board.adapter.duplicate_job(queue, job_id)
    return done(request, board, result, job_url(request, queue, result.job_id or job_id))


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
        return form_errors(request, board, user, "add.html", errors)
    try:
        result = await board.adapter.add_job(queue, str(name).strip(), data, options)
    except Invalid as exc:
        return form_errors(request, board, user, "add.html", {exc.field or "options": str(exc)})
    return done(request, board, result, job_url(request, queue, result.job_id or ""))


# Queue actions


@guarded("admin", action=True)
async def retry_all(request: Request, board: Board, user: User) -> Response:
    queue = request.path_params["queue"]
    state = str(request.state.body.get("state", "failed"))
    if state == "completed" and not board.allow_completed_retries:
        return board.error(request, 403, "Retrying completed jobs is turned off on this board.", user)
    asking = confirm(request, board, user, f"Move every {state} job of {queue} back to waiting?")
    if asking:
        return asking
    result = await board.adapter.retry_all(queue, state)
    return done(request, board, result, queue_url(request, queue, state))


@guarded("admin", action=True)
async def promote_all(request: Request, board: Board, user: User) -> Response:
    queue = request.path_params["queue"]
    asking = confirm(request, board, user, f"Run every delayed job of {queue} now?")
    if asking:
        return asking
    result = await board.adapter.promote_all(queue)
    return done(request, board, result, queue_url(request, queue, "delayed"))


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
    asking = confirm(request, board, user, f"Remove up to {limit:,} {state} jobs of {queue} older than {grace:g} s?")
    if asking:
        return asking
    result = await board.adapter.clean(queue, state, grace, limit)
    return done(request, board, result, queue_url(request, queue, state))


@guarded("admin", action=True)
async def pause(request: Request, board: Board, user: User) -> Response:
    queue = request.path_params["queue"]
    return done(request, board, await board.adapter.pause(queue), queue_url(request, queue))


@guarded("admin", action=True)
async def resume(request: Request, board: Board, user: User) -> Response:
    queue = request.path_params["queue"]
    return done(request, board, await board.adapter.resume(queue), queue_url(request, queue))


@guarded("admin", action=True)
async def empty(request: Request, board: Board, user: User) -> Response:
    queue = request.path_params["queue"]
    delayed = flag(request.state.body, "delayed")
    what = "waiting, prioritized and delayed" if delayed else "waiting and prioritized"
    asking = confirm(request, board, user, f"Remove every {what} job of {queue}?")
    if asking:
        return asking
    result = await board.adapter.empty(queue, delayed=delayed)
    return done(request, board, result, queue_url(request, queue))


async def _limits_errors(request: Request, board: Board, user: User, errors: dict[str, str]) -> Response:
    """The limits form again, the other form showing the queue's current setting; nothing was written."""
    (info,) = await board.adapter.overview([request.path_params["queue"]])
    current = limit_values(info)
    return form_errors(request, board, user, "limits.html", errors, current=current)


@guarded("admin", action=True)
async def set_concurrency(request: Request, board: Board, user: User) -> Response:
    queue = request.path_params["queue"]
    raw = request.state.body.get("concurrency")
    concurrency = None
    if not blank(raw):
        try:
            concurrency = whole(raw, MAX_CONCURRENCY)
        except ValueError as exc:
            return await _limits_errors(request, board, user, {"concurrency": str(exc).capitalize() + "."})
    try:
        result = await board.adapter.set_global_concurrency(queue, concurrency)
    except Invalid as exc:
        return await _limits_errors(request, board, user, {"concurrency": str(exc)})
    return done(request, board, result, queue_url(request, queue))


@guarded("admin", action=True)
async def set_rate_limit(request: Request, board: Board, user: User) -> Response:
    queue = request.path_params["queue"]
    body = request.state.body
    max_jobs, duration = None, 0.0
    errors: dict[str, str] = {}
    if not blank(body.get("max")):
        try:
            max_jobs = whole(body.get("max"), MAX_RATE_JOBS)
        except ValueError as exc:
            errors["max"] = str(exc).capitalize() + "."
        try:
            duration = seconds(body.get("duration"), MAX_RATE_DURATION_S)
        except ValueError as exc:
            errors["duration"] = str(exc).capitalize() + "."
    if errors:
        return await _limits_errors(request, board, user, errors)
    try:
        result = await board.adapter.set_global_rate_limit(queue, max_jobs, duration)
    except Invalid as exc:
        return await _limits_errors(request, board, user, {exc.field or "max": str(exc)})
    return done(request, board, result, queue_url(request, queue))


@guarded("admin", action=True)
async def obliterate(request: Request, board: Board, user: User) -> Response:
    queue = request.path_params["queue"]
    force = flag(request.state.body, "force")
    asking = confirm(request, board, user, f"Delete queue {queue} and every job in it? This cannot be undone.")
    if asking:
        return asking
    result = await board.adapter.obliterate(queue, force=force)
    return done(request, board, result, board.url(request, "overview"))
