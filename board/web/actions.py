"""The actions on one job: POST only, CSRF-checked, confirmed when destructive, each answering with what
happened (those on a whole queue are in queue_actions.py).

A browser gets a redirect back with a message (or, without JavaScript, a confirmation page first for
destructive actions); a script that sends ``Accept: application/json`` gets the result as JSON.
"""

from __future__ import annotations

import math
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..adapters import RETRYABLE, Conflict
from ..adapters.payload import loads_bounded
from .board import Board
from .editing import EditConflict, apply_edit
from .forms import blank, confirm, done, form_errors, job_url, moment, queue_url
from .guard import guarded
from .i18n import _
from .users import User

# A delayed job's new delay: in ms unless said, as BullMQ's changeDelay.
RESCHEDULE_UNITS = {"ms": 1, "s": 1000, "min": 60_000, "h": 3_600_000}
MAX_DELAY_MS = 100 * 365 * 86400 * 1000


@guarded("operator", action=True)
async def retry_job(request: Request, board: Board, user: User) -> Response:
    queue, job_id = request.path_params["queue"], request.path_params["job_id"]
    detail = await board.adapter.job(queue, job_id, logs_start=0, logs_count=0)
    if detail is not None and detail.state in RETRYABLE and not board.allows_retries(queue, detail.state):
        if detail.state == "completed" and not board.allow_completed_retries:
            return board.error(request, 403, _("Retrying completed jobs is turned off on this board."), user)
        return board.error(request, 403, _("Retries are turned off for queue %(queue)s.", queue=queue), user)
    origin = detail.dead_letter if detail is not None else None
    if origin is not None and origin.queue not in await board.writable_queues(user, retries=True):
        # Sending a dead letter back writes to the queue it came from: only for someone who may change it.
        refusal = _(
            "This dead letter came from a queue you may not change here: it cannot be sent back from this board."
        )
        return board.error(request, 403, refusal, user)
    if detail is not None and detail.state == "completed":
        # It ran once already: running it again may do its work twice.
        asking = confirm(request, board, user, _("Run completed job %(id)s again?", id=job_id))
        if asking:
            return asking
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
    question = _("Remove job %(id)s from %(queue)s, with its logs (and its children)?", id=job_id, queue=queue)
    asking = confirm(request, board, user, question)
    if asking:
        return asking
    try:
        result = await board.adapter.remove_job(
            queue, job_id, visible=await board.visible_queues(user), writable=await board.writable_queues(user)
        )
    except Conflict as exc:
        detail = await board.adapter.job(queue, job_id, logs_start=0, logs_count=0)
        # Refused as a scheduler's next run (not, say, as a job a worker holds).
        if detail is None or not detail.scheduler_id or "scheduler" not in str(exc):
            raise
        # A scheduler's next run: the way out is the scheduler, so the refusal links to it.
        link = (
            _("Go to its job scheduler"),
            board.url(request, "scheduler", queue=queue, scheduler_id=detail.scheduler_id),
        )
        return board.error(request, 409, str(exc), user, link=link)
    return done(request, board, result, queue_url(request, queue))


@guarded("admin", action=True)
async def remove_children(request: Request, board: Board, user: User) -> Response:
    queue, job_id = request.path_params["queue"], request.path_params["job_id"]
    question = _("Remove the children job %(id)s still waits for (each with its own children)?", id=job_id)
    asking = confirm(request, board, user, question)
    if asking:
        return asking
    # Children in a read-only queue, or one not shown to the user, are kept.
    writable = await board.writable_queues(user)
    result = await board.adapter.remove_unprocessed_children(queue, job_id, writable=writable)
    return done(request, board, result, job_url(request, queue, job_id))


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
            return form_errors(request, board, user, "edit.html", {"data": _("Not valid JSON: %(e)s", e=exc)}, **edit)
    elif raw is None:
        return form_errors(request, board, user, "edit.html", {"data": _("Give the new data, as JSON.")}, **edit)
    else:
        data = raw
    stored = await board.adapter.raw_field(queue, job_id, "data")
    if stored is None:
        return board.error(request, 404, _("There is no job %(id)r in queue %(queue)r.", id=job_id, queue=queue), user)
    try:
        data = apply_edit(data, stored, version if isinstance(version, str) and version else None, board.formatters)
    except EditConflict as exc:
        problem = {"data": _("Not saved: %(e)s.", e=exc)}
        return form_errors(request, board, user, "edit.html", problem, status=409, **edit)
    result = await board.adapter.update_job_data(queue, job_id, data)
    return done(request, board, result, job_url(request, queue, job_id))


@guarded("operator", action=True)
async def change_priority(request: Request, board: Board, user: User) -> Response:
    queue, job_id = request.path_params["queue"], request.path_params["job_id"]
    raw = _row_field(request.state.body, "priority", job_id)
    try:
        priority = int(raw)
    except (TypeError, ValueError, OverflowError):
        return board.error(request, 400, _("priority: expected a whole number, got %(got)r", got=raw), user)
    result = await board.adapter.change_job_priority(queue, job_id, priority)
    return done(request, board, result, job_url(request, queue, job_id))


def _row_field(body: dict[str, Any], name: str, job_id: str) -> Any:
    """A field of a job's own form (``name``), or of its row in a list's one form (``name.<job id>``)."""
    value = body.get(name)
    return body.get(f"{name}.{job_id}") if blank(value) else value


def _new_delay(body: dict[str, Any], job_id: str) -> int:
    """The delay asked for, in ms: ``delay`` in ``unit`` (ms unless said, as BullMQ), or the time ``at``
    (a form's is read as UTC); ValueError naming the field."""
    at = _row_field(body, "at", job_id)
    if not blank(at):
        try:
            when = moment(at)
        except ValueError as exc:
            raise ValueError(_("at: %(e)s", e=exc)) from None
        return max(0, round((when.timestamp() - time.time()) * 1000))
    raw, unit = _row_field(body, "delay", job_id), str(_row_field(body, "unit", job_id) or "ms")
    if unit not in RESCHEDULE_UNITS:
        raise ValueError(_("unit: expected one of %(units)s, got %(got)r", units=", ".join(RESCHEDULE_UNITS), got=unit))
    if blank(raw):
        raise ValueError(_("delay: give a new delay, or a time in at"))
    try:
        number = float(raw.strip() if isinstance(raw, str) else raw)
    except (TypeError, ValueError, OverflowError):
        number = math.nan
    delay = number * RESCHEDULE_UNITS[unit] if not isinstance(raw, bool) else math.nan
    if not math.isfinite(delay) or not 0 <= delay <= MAX_DELAY_MS:
        raise ValueError(
            _("delay: expected a number of %(unit)s from 0 up to 100 years, got %(got)r", unit=unit, got=raw)
        )
    return round(delay)


@guarded("operator", action=True)
async def reschedule_job(request: Request, board: Board, user: User) -> Response:
    queue, job_id = request.path_params["queue"], request.path_params["job_id"]
    try:
        delay_ms = _new_delay(request.state.body, job_id)
    except ValueError as exc:
        return board.error(request, 400, str(exc), user)
    result = await board.adapter.reschedule_job(queue, job_id, delay_ms)
    return done(request, board, result, job_url(request, queue, job_id))


@guarded("operator", action=True)
async def duplicate_job(request: Request, board: Board, user: User) -> Response:
    queue, job_id = request.path_params["queue"], request.path_params["job_id"]
    result = await board.adapter.duplicate_job(queue, job_id)
    return done(request, board, result, job_url(request, queue, result.job_id or job_id))
