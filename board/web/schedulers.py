"""Job schedulers: the pages (one queue's, every visible queue's, one scheduler's with its edit form) and
the actions on one scheduler (run its next run now, give it a new schedule, remove it)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..adapters import Field, Invalid, SchedulerInfo
from .board import Board
from .forms import blank, confirm, done, form_errors, moment, seconds, whole
from .guard import guarded
from .i18n import _
from .render import pretty, query
from .users import User
from .views import PER_PAGE, int_param

# A longer id is no scheduler's: refused before Redis is asked.
MAX_ID_LENGTH = 1000
# The page across queues shows this many of each queue (the first ones to run), with a link to the rest.
ACROSS_PER_QUEUE = 20
MAX_LIMIT = 1_000_000_000
MAX_EVERY_S = 10 * 365 * 86400


def _url(request: Request, board: Board, name: str = "scheduler") -> str:
    """The page of this request's scheduler ("scheduler"), or of its queue's schedulers ("schedulers")."""
    params = {"queue": request.path_params["queue"]}
    if name == "scheduler":
        params["scheduler_id"] = request.path_params["scheduler_id"]
    return board.url(request, name, **params)


def _bad_id(request: Request, board: Board, user: User) -> Response | None:
    scheduler_id = request.path_params["scheduler_id"]
    if len(scheduler_id) > MAX_ID_LENGTH:
        queue = request.path_params["queue"]
        message = _(
            "There is no job scheduler %(id)s… in queue %(queue)s.", id=repr(scheduler_id[:40]), queue=repr(queue)
        )
        return board.error(request, 404, message, user)
    return None


@guarded("viewer")
async def queue_schedulers(request: Request, board: Board, user: User) -> Response:
    name = request.path_params["queue"]
    try:
        page = int_param(request, "page", 1)
        per_page = int_param(request, "per_page", 25)
    except ValueError as exc:
        return board.error(request, 400, str(exc), user)
    if per_page not in PER_PAGE:
        message = _("per_page: expected one of %(choices)s, got %(got)s", choices=PER_PAGE, got=per_page)
        return board.error(request, 400, message, user)
    found = await board.adapter.schedulers(name, page, per_page)
    found.schedulers = [_formatted(board, user, one) for one in found.schedulers]
    context = board.context(request, user, pages=[found], queue_name=name, per_pages=PER_PAGE)
    context["query"] = lambda **changes: query(request, **changes)
    return board.renderer.page(request, "schedulers.html", context, data=found, block="live")


@guarded("viewer")
async def all_schedulers(request: Request, board: Board, user: User) -> Response:
    names = await board.visible_queues(user)
    found = await board.adapter.all_schedulers(names, ACROSS_PER_QUEUE)
    shown = [page for page in found if page.total]
    for page in shown:
        page.schedulers = [_formatted(board, user, one) for one in page.schedulers]
    context = board.context(request, user, pages=shown, queue_name=None, per_pages=PER_PAGE)
    return board.renderer.page(request, "schedulers.html", context, data={"queues": shown}, block="live")


@guarded("viewer")
async def scheduler_page(request: Request, board: Board, user: User) -> Response:
    refused = _bad_id(request, board, user)
    if refused:
        return refused
    name, scheduler_id = request.path_params["queue"], request.path_params["scheduler_id"]
    found = await board.adapter.scheduler(name, scheduler_id)
    if found is None:
        message = _("There is no job scheduler %(id)s in queue %(queue)s.", id=repr(scheduler_id), queue=repr(name))
        return board.error(request, 404, message, user)
    context = board.context(
        request, user, scheduler=_formatted(board, user, found), queue_name=name, values=_values(found), errors={}
    )
    return board.renderer.page(request, "scheduler.html", context, data=found, block="live")


def _formatted(board: Board, user: User, found: SchedulerInfo) -> SchedulerInfo:
    """The template as the user may see it: through the formatters (redaction), as a job's data is."""
    found.name = str(board.formatters.apply("name", found.name, user))
    if found.data.is_json:
        shown = board.formatters.apply("data", found.data.value, user)
        found.data = Field(pretty(shown), found.data.size, False, shown, True)
    else:
        found.data.text = str(board.formatters.apply("data", found.data.text, user))
    found.opts = board.formatters.apply("opts", found.opts, user)
    return found


def _values(found: SchedulerInfo) -> dict[str, str]:
    """The edit form's fields for a scheduler as it is."""
    return {
        "kind": "every" if found.every_ms is not None else "cron",
        "cron": found.pattern or "",
        "tz": found.tz or "",
        "every": f"{found.every_ms / 1000:g}" if found.every_ms is not None else "",
        "limit": str(found.limit or ""),
        "end": _local_input(found.end_ms),
    }


def _local_input(ms: int | None) -> str:
    """A time for a datetime-local field, in UTC (the form says so)."""
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M") if ms else ""


def _schedule(body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The new schedule from the edit form (or JSON), and the problems found before the engine is asked."""
    errors: dict[str, str] = {}
    out: dict[str, Any] = {"cron": None, "every_s": None, "tz": None, "limit": None, "end": None}
    kind = str(body.get("kind") or ("every" if not blank(body.get("every")) else "cron"))
    if kind == "cron":
        cron = body.get("cron")
        if blank(cron) or not isinstance(cron, str):
            errors["cron"] = _("Give a cron pattern, such as 0 3 * * * (every day at 03:00).")
        else:
            out["cron"] = cron.strip()
        tz = body.get("tz")
        out["tz"] = tz.strip() if isinstance(tz, str) and tz.strip() else None
    elif kind == "every":
        try:
            out["every_s"] = seconds(body.get("every"), MAX_EVERY_S)
        except ValueError as exc:
            errors["every"] = str(exc).capitalize() + "."
    else:
        errors["kind"] = _("Choose a cron pattern or an interval.")
    if not blank(body.get("limit")):
        try:
            out["limit"] = whole(body.get("limit"), MAX_LIMIT)
        except ValueError as exc:
            errors["limit"] = str(exc).capitalize() + "."
    if not blank(body.get("end")):
        try:
            out["end"] = moment(body.get("end"))
        except ValueError as exc:
            errors["end"] = str(exc).capitalize() + "."
    return out, errors


async def _form_again(request: Request, board: Board, user: User, errors: dict[str, str], status: int) -> Response:
    found = await board.adapter.scheduler(request.path_params["queue"], request.path_params["scheduler_id"])
    if found is None:
        return board.error(request, 404, _("This job scheduler is gone."), user)
    scheduler = _formatted(board, user, found)
    return form_errors(request, board, user, "scheduler.html", errors, status=status, scheduler=scheduler)


@guarded("operator", action=True)
async def run_scheduler(request: Request, board: Board, user: User) -> Response:
    refused = _bad_id(request, board, user)
    if refused:
        return refused
    name, scheduler_id = request.path_params["queue"], request.path_params["scheduler_id"]
    result = await board.adapter.run_scheduler(name, scheduler_id)
    return done(request, board, result, _url(request, board, "schedulers"))


@guarded("admin", action=True)
async def update_scheduler(request: Request, board: Board, user: User) -> Response:
    refused = _bad_id(request, board, user)
    if refused:
        return refused
    name, scheduler_id = request.path_params["queue"], request.path_params["scheduler_id"]
    schedule, errors = _schedule(request.state.body)
    if errors:
        return await _form_again(request, board, user, errors, 400)
    try:
        result = await board.adapter.update_scheduler(name, scheduler_id, **schedule)
    except Invalid as exc:
        # Refused by the engine before anything was saved: said next to the field it is about.
        return await _form_again(request, board, user, {exc.field or "cron": str(exc)}, 400)
    return done(request, board, result, _url(request, board))


@guarded("admin", action=True)
async def remove_scheduler(request: Request, board: Board, user: User) -> Response:
    refused = _bad_id(request, board, user)
    if refused:
        return refused
    name, scheduler_id = request.path_params["queue"], request.path_params["scheduler_id"]
    question = _(
        "Remove job scheduler %(id)s of %(queue)s, with its next run? No more jobs will be scheduled.",
        id=scheduler_id,
        queue=name,
    )
    asking = confirm(request, board, user, question, cancel=_url(request, board))
    if asking:
        return asking
    result = await board.adapter.remove_scheduler(name, scheduler_id)
    return done(request, board, result, _url(request, board, "schedulers"))
