"""The settings page: each user's own polling, theme, queue page, times and language, kept in their
browser's cookie (``preferences.py``).

A viewer may change them on a read-only board, and they stay out of the audit log: they touch no queue,
only the cookie of the browser that sends them. The form still carries the CSRF token, so that another
site cannot switch someone's board to another language or stop its updates.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from ..adapters import TABS
from . import i18n, preferences
from .board import Board
from .bodies import BodyTooLarge
from .csrf import FIELD as CSRF_FIELD
from .guard import guarded, read_body
from .i18n import _
from .paths import mount_path
from .preferences import COOKIE, NAMES, Preferences
from .render import wants_json
from .users import User

__all__ = ["save_settings", "settings_page"]

# Browsers keep a cookie at most 400 days.
MAX_AGE = 400 * 24 * 3600


def as_fields(prefs: Preferences) -> dict[str, str]:
    """Preferences as the form's fields hold them."""
    values = {name: str(getattr(prefs, name)) for name in NAMES}
    values["poll"] = "default" if prefs.poll is None else str(prefs.poll)
    return values


def _choices(board: Board) -> dict[str, list[tuple[str, str]]]:
    """Each setting's choices as (value, label), labels in the request's language."""
    tab_labels = {
        "latest": _("Latest"),
        "waiting": _("Waiting"),
        "prioritized": _("Prioritized"),
        "delayed": _("Delayed"),
        "active": _("Active"),
        "waiting-children": _("Waiting children"),
        "completed": _("Completed"),
        "failed": _("Failed"),
    }
    board_poll = f"{board.poll_interval:g} s"
    default = _("The board's (%(seconds)s)", seconds=board_poll) if board.poll_interval else _("The board's (off)")
    return {
        "poll": [("default", default), ("0", _("Off"))] + [(str(s), f"{s} s") for s in preferences.POLLS if s],
        "theme": [("system", _("As the system")), ("light", _("Light")), ("dark", _("Dark"))],
        "tab": [(tab, tab_labels.get(tab, tab)) for tab in TABS],
        "per_page": [(str(n), str(n)) for n in preferences.PER_PAGE],
        "time": [("relative", _("Relative (3 minutes ago)")), ("absolute", _("Date and time"))],
        "lang": [("auto", _("The browser's")), *((code, i18n.display_name(code)) for code in i18n.available())],
    }


def _form(
    request: Request, board: Board, user: User, values: dict[str, str], errors: dict[str, str], status: int = 200
) -> Response:
    context = board.context(request, user, values=values, errors=errors, choices=_choices(board))
    context["zones"] = sorted(preferences.zones())
    return board.renderer.page(request, "settings.html", context, data={"settings": values}, status=status)


@guarded("viewer")
async def settings_page(request: Request, board: Board, user: User) -> Response:
    return _form(request, board, user, as_fields(preferences.of(request)), {})


def _submitted(body: dict[str, Any]) -> dict[str, str]:
    return {name: str(body[name]).strip() for name in NAMES if body.get(name) is not None}


@guarded("viewer")
async def save_settings(request: Request, board: Board, user: User) -> Response:
    try:
        body = await read_body(request)
    except BodyTooLarge as exc:
        return board.error(request, 413, _("Not saved: %(reason)s.", reason=str(exc)), user)
    except ValueError as exc:
        return board.error(request, 400, str(exc), user)
    if not await board.csrf.check(request, body.get(CSRF_FIELD)):
        return board.error(request, 403, _("The form expired or came from elsewhere: reload and retry."), user)
    reset = str(body.get("reset", "")).lower() in ("1", "true", "yes", "on")
    submitted = _submitted(body)
    errors = {} if reset else preferences.form_errors(submitted)
    if errors:
        if wants_json(request):
            said = "; ".join(f"{k}: {v}" for k, v in errors.items())
            return JSONResponse({"error": said, "fields": errors}, status_code=400)
        # The form again, as it was sent, each problem beside its field; the cookie is left alone.
        return _form(request, board, user, {**as_fields(preferences.of(request)), **submitted}, errors, 400)
    prefs = Preferences() if reset else preferences.parse({**as_fields(preferences.of(request)), **submitted})
    # Said in the language just chosen, which the next page speaks.
    lang = prefs.lang if prefs.lang != "auto" else i18n.negotiate(request.headers.get("accept-language", ""))
    with i18n.using(lang):
        message = _("Settings reset to the defaults.") if reset else _("Settings saved.")
    if wants_json(request):
        response: Response = JSONResponse({"ok": True, "message": message, "settings": dataclasses.asdict(prefs)})
    else:
        response = RedirectResponse(board.url(request, "settings"), status_code=303)
        board.flash(request, response, "ok", message)
    _store(request, response, prefs)
    return response


def _store(request: Request, response: Response, prefs: Preferences) -> None:
    path = mount_path(request) or "/"
    value = prefs.encode()
    if not value:
        response.delete_cookie(COOKIE, path=path)
        return
    response.set_cookie(
        COOKIE,
        value,
        max_age=MAX_AGE,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path=path,
    )
