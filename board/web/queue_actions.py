"""The actions on a whole queue: retry or promote all, clean, pause and resume, empty, the global limits,
obliterate. Admins only, and the destructive ones confirmed."""

from __future__ import annotations

import math

from starlette.requests import Request
from starlette.responses import Response

from ..adapters import CLEANABLE_STATES, RETRYABLE, Invalid
from .board import Board
from .forms import blank, confirm, done, flag, form_errors, queue_url, seconds, whole
from .guard import guarded
from .i18n import _, state_label
from .render import limit_values
from .users import User

MAX_CLEAN_LIMIT = 1_000_000
MAX_GRACE_S = 100 * 365 * 86400
# Far above any real setting; past them a typo is more likely than a wish.
MAX_CONCURRENCY = 1_000_000
MAX_RATE_JOBS = 1_000_000_000
MAX_RATE_DURATION_S = 365 * 86400


@guarded("admin", action=True)
async def retry_all(request: Request, board: Board, user: User) -> Response:
    queue = request.path_params["queue"]
    state = str(request.state.body.get("state", "failed"))
    if state == "completed" and not board.allow_completed_retries:
        return board.error(request, 403, _("Retrying completed jobs is turned off on this board."), user)
    if state in RETRYABLE and not board.allows_retries(queue, state):
        return board.error(request, 403, _("Retries are turned off for queue %(queue)s.", queue=queue), user)
    question = _("Move every %(state)s job of %(queue)s back to waiting?", state=state_label(state), queue=queue)
    asking = confirm(request, board, user, question)
    if asking:
        return asking
    # Dead letters go back only to queues the user may change; the rest stay failed here.
    takers = await board.writable_queues(user, retries=True)
    result = await board.adapter.retry_all(queue, state, send_back_to=takers)
    return done(request, board, result, queue_url(request, queue, state))


@guarded("admin", action=True)
async def promote_all(request: Request, board: Board, user: User) -> Response:
    queue = request.path_params["queue"]
    asking = confirm(request, board, user, _("Run every delayed job of %(queue)s now?", queue=queue))
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
        known = ", ".join(CLEANABLE_STATES)
        return board.error(
            request, 400, _("state: expected one of %(known)s, got %(got)r", known=known, got=state), user
        )
    try:
        grace = float(body.get("grace", 0))
        limit = int(body.get("limit", 1000))
    except (TypeError, ValueError, OverflowError):
        return board.error(request, 400, _("grace (seconds) and limit (a whole number) must be numbers."), user)
    if not math.isfinite(grace) or not 0 <= grace <= MAX_GRACE_S or not 1 <= limit <= MAX_CLEAN_LIMIT:
        return board.error(
            request,
            400,
            _(
                "grace must be a number of seconds from 0 to %(grace)s and limit between 1 and %(limit)s.",
                grace=f"{MAX_GRACE_S:,}",
                limit=f"{MAX_CLEAN_LIMIT:,}",
            ),
            user,
        )
    question = _(
        "Remove up to %(limit)s %(state)s jobs of %(queue)s older than %(grace)s s?",
        limit=f"{limit:,}",
        state=state_label(state),
        queue=queue,
        grace=f"{grace:g}",
    )
    asking = confirm(request, board, user, question)
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
    if delayed:
        question = _("Remove every waiting, prioritized and delayed job of %(queue)s?", queue=queue)
    else:
        question = _("Remove every waiting and prioritized job of %(queue)s?", queue=queue)
    asking = confirm(request, board, user, question)
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
    question = _("Delete queue %(queue)s and every job in it? This cannot be undone.", queue=queue)
    asking = confirm(request, board, user, question)
    if asking:
        return asking
    result = await board.adapter.obliterate(queue, force=force)
    return done(request, board, result, board.url(request, "overview"))
