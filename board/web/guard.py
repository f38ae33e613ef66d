"""The check in front of every page, fragment and action: who is asking, may they, and is it safe."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from ..adapters import AdapterError
from ..adapters.payload import loads_bounded
from .board import Board
from .bodies import BodyTooLarge, read_bounded
from .csrf import FIELD as CSRF_FIELD
from .i18n import N_, _, using
from .preferences import language_of
from .recorder import ACTIONS, record_action
from .render import is_fragment, wants_json
from .users import User

Handler = Callable[[Request, Board, User], Awaitable[Response]]
ROLE_NAMES = {"viewer": N_("a viewer"), "operator": N_("an operator"), "admin": N_("an admin")}


# Job data arrives in actions (add, edit): room for large payloads, but not for any amount.
MAX_BODY = 16 * 1024 * 1024


async def read_body(request: Request) -> dict[str, Any]:
    """Form fields or a JSON object, as one dict; raises ValueError with the reason when malformed."""
    kind = request.headers.get("content-type", "").split(";")[0].strip()
    await read_bounded(request, MAX_BODY)
    if kind == "application/json":
        raw = await request.body() or b"{}"
        try:
            body = loads_bounded(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValueError(_("the body is not valid JSON: %(reason)s", reason=exc)) from None
        if not isinstance(body, dict):
            raise ValueError(_("the body must be a JSON object"))
        return body
    if kind in ("application/x-www-form-urlencoded", "multipart/form-data", ""):
        form = await request.form()
        return {k: v for k, v in form.items() if isinstance(v, str)}
    raise ValueError(_("unsupported content type %(kind)s: send a form or JSON", kind=repr(kind)))


async def _refusal(request: Request, board: Board, user: User, role: str, action: bool) -> Response | None:
    """The answer that refuses this request before its handler runs, or None to run it."""
    queue = request.path_params.get("queue")
    # A queue the user may not see is answered exactly like one that does not exist.
    try:
        if queue is not None and (not user.sees(queue) or queue not in await board.adapter.queue_names()):
            return board.error(request, 404, _("There is no queue named %(queue)s.", queue=repr(queue)), user)
    except AdapterError as exc:
        return board.refused(request, exc, user)
    if not user.can(role):
        message = _("This needs %(role)s; you are %(you)s.", role=_(ROLE_NAMES[role]), you=user.role)
        return board.error(request, 403, message, user)
    if action:
        if board.read_only:
            return board.error(request, 403, _("This board is read-only."), user)
        if queue is not None and board.queue_read_only(queue):
            return board.error(request, 403, _("Queue %(queue)s is read-only on this board.", queue=repr(queue)), user)
        try:
            request.state.body = await read_body(request)
        except BodyTooLarge as exc:
            return board.error(request, 413, _("Not done: %(reason)s.", reason=exc), user)
        except ValueError as exc:
            return board.error(request, 400, str(exc), user)
        if not await board.csrf.check(request, request.state.body.get(CSRF_FIELD)):
            return board.error(request, 403, _("The form expired or came from elsewhere: reload and retry."), user)
    return None


def guarded(
    role: str, *, action: bool = False, nav: bool = True
) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    """``nav=False``: the handler sets ``request.state.nav`` itself, from a read it makes anyway."""

    def decorate(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        @wraps(handler)
        async def endpoint(request: Request) -> Response:
            # Messages made while answering speak the user's language (their settings, else the browser's).
            with using(language_of(request)):
                return await guarded_answer(request)

        async def guarded_answer(request: Request) -> Response:
            board: Board = request.app.state.board
            user = await board.identify(request)
            if not isinstance(user, User):
                return user
            request.state.user = user
            if not action:
                return await answer(request, board, user)
            # Every action lands in the audit log, done or refused, whoever refused it.
            try:
                response = await answer(request, board, user)
            except Exception:
                await record_action(board.adapter, request, user, None)
                raise
            await record_action(board.adapter, request, user, response)
            return response

        async def answer(request: Request, board: Board, user: User) -> Response:
            refusal = await _refusal(request, board, user, role, action)
            if refusal is not None:
                return refusal
            if nav and request.method == "GET" and not wants_json(request) and not is_fragment(request):
                # Only a whole page shows the queue navigation: polls and JSON never pay for its read.
                request.state.nav = await board.navigation(user)
            try:
                response = await handler(request, board, user)
            except AdapterError as exc:
                response = board.refused(request, exc, user)
            return board.finish(request, response)

        if action:
            ACTIONS.add(handler.__name__)
        return endpoint

    return decorate
