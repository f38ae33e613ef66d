"""Adding a job from the board: the add form's action, in BullMQ's option names and units.

The board serves BullMQ queues written from any language, so the form speaks BullMQ's ``JobsOptions``
(``jobId``, ``delay`` in ms, ``removeOnComplete``...); ``Queue.add``'s own snake_case names still work.
A form prefilled from another job (``from``) shows that job's secrets masked: a value left masked is
given back the original's on adding, so copying a job never sends its secrets to the browser.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..adapters import Invalid, TooLarge
from ..adapters.options import BULLMQ_NAMES, from_bullmq
from ..adapters.payload import loads_bounded
from .board import Board
from .editing import apply_edit
from .forms import done, form_errors, job_url
from .guard import guarded
from .i18n import _
from .users import User

__all__ = ["ADD_OPTIONS", "add_job"]

# The add form's options: BullMQ's names (times in ms), and the older snake_case ones (times in seconds).
ADD_OPTIONS = {
    *BULLMQ_NAMES,
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
    "deduplication",
}
# Data read back from the job an add form was prefilled from, to give masked secrets their values.
MAX_SOURCE_BYTES = 1024 * 1024


def _options(raw: Any) -> dict[str, Any]:
    """The add form's options as ``Queue.add`` takes them; ValueError naming the option."""
    if isinstance(raw, str):
        try:
            raw = loads_bounded(raw or "{}")
        except ValueError as exc:
            raise ValueError(_("Not valid JSON: %(e)s", e=exc)) from None
    if not isinstance(raw, dict):
        raise ValueError(_('Options must be a JSON object, such as {"delay": 10000, "attempts": 3}.'))
    unknown = set(raw) - ADD_OPTIONS
    if unknown:
        known = ", ".join(sorted(ADD_OPTIONS))
        raise ValueError(
            _("Unknown option(s): %(unknown)s; known: %(known)s.", unknown=", ".join(sorted(unknown)), known=known)
        )
    return from_bullmq(raw)


async def _from_source(board: Board, queue: str, source: Any, data: Any) -> Any:
    """``data`` with the secrets masked in the form given back their values in the job it was copied from."""
    if not isinstance(source, str) or not source or not board.formatters.redact:
        return data
    try:
        stored = await board.adapter.raw_field(queue, source, "data", max_bytes=MAX_SOURCE_BYTES)
    except (TooLarge, Invalid):
        return data
    return data if stored is None else apply_edit(data, stored, None, board.formatters)


@guarded("operator", action=True)
async def add_job(request: Request, board: Board, user: User) -> Response:
    queue = request.path_params["queue"]
    body = request.state.body
    errors: dict[str, str] = {}
    name = body.get("name")
    if not isinstance(name, str) or not name.strip():
        errors["name"] = _("Give the job a name.")
    data: Any = body.get("data", {})
    if isinstance(data, str):
        try:
            data = loads_bounded(data or "{}")
        except ValueError as exc:
            errors["data"] = _("Not valid JSON: %(e)s", e=exc)
    options: dict[str, Any] = {}
    try:
        options = _options(body.get("options", {}))
    except ValueError as exc:
        errors["options"] = str(exc)
    dedup = options.get("deduplication")
    if isinstance(dedup, dict) and dedup.get("replace") and not user.can("admin"):
        # Replacing removes the job that holds the deduplication id, which only an admin may do.
        refusal = _(
            "deduplication.replace removes the job holding its id: this needs an admin; you are %(role)s.",
            role=user.role,
        )
        return board.error(request, 403, refusal, user)
    if errors:
        return form_errors(request, board, user, "add.html", errors, source=body.get("from"))
    data = await _from_source(board, queue, body.get("from"), data)
    try:
        result = await board.adapter.add_job(queue, str(name).strip(), data, options)
    except Invalid as exc:
        problem = {exc.field or "options": str(exc)}
        return form_errors(request, board, user, "add.html", problem, source=body.get("from"))
    return done(request, board, result, job_url(request, queue, result.job_id or ""))
