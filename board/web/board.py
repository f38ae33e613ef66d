"""``Board``: what every request handler needs (the adapter, auth, CSRF, rendering, the options), and the
answers they share (who is asking, errors, flash messages, the board's own URLs)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

from itsdangerous import BadSignature, URLSafeTimedSerializer
from jinja2 import pass_context
from starlette.datastructures import URL
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Router

from ..adapters import (
    AdapterError,
    Conflict,
    Invalid,
    NotFound,
    QueueAdapter,
    QueueInfo,
    QueueMark,
    TooLarge,
    Unavailable,
)
from .alert_loop import AlertLoop
from .auth import AuthBackend, AuthRefused
from .csrf import Csrf
from .formatters import Formatters
from .i18n import _
from .nav import nav_items
from .paths import mount_path
from .queue_config import QueueConfigs
from .readiness import QueueChecks
from .recorder import note
from .render import Renderer, wants_json
from .sessions import SessionStoreError
from .throttle import Throttled
from .users import User

__all__ = ["FLASH_COOKIE", "NAV_LIMIT", "STATUS_OF", "Board", "Navigation"]

# The one place where the adapter's errors become HTTP statuses.
STATUS_OF: dict[type[AdapterError], int] = {
    NotFound: 404,
    Conflict: 409,
    Invalid: 400,
    TooLarge: 413,
    Unavailable: 503,
}

log = logging.getLogger("board.web")

FLASH_COOKIE = "board_flash"
# Queues listed in every page's navigation; past that the overview, with its filter, finds the rest.
NAV_LIMIT = 500


@dataclass(frozen=True)
class Navigation:
    """The queue navigation every whole page shows: the first queues with their marks, and how many more."""

    queues: list[QueueMark]
    more: int = 0


class Board:
    """Everything a request handler needs: the adapter, auth, CSRF, rendering and the options."""

    def __init__(
        self,
        adapter: QueueAdapter,
        *,
        auth: AuthBackend,
        read_only: bool,
        title: str,
        formatters: Formatters,
        poll_interval: float,
        secret_key: str,
        group_delimiter: str | None,
        allow_completed_retries: bool,
    ) -> None:
        self.adapter = adapter
        self.auth = auth
        self.read_only = read_only
        self.title = title
        self.formatters = formatters
        self.poll_interval = poll_interval
        self.csrf = Csrf(secret_key)
        self.renderer = Renderer(title=title, poll_interval=poll_interval)
        self.group_delimiter = group_delimiter
        self.allow_completed_retries = allow_completed_retries
        # Set by create_board: each queue's display name, description, read-only and retries settings; the
        # environment badge and logo beside the title.
        self.queue_config = QueueConfigs()
        self.environment: str | None = None
        self.logo_url: str | None = None
        # Set by create_board: the bearer token of /metrics and /readyz, and the readiness checks.
        self.metrics_token: str | None = None
        self.checks: tuple[QueueChecks, ...] = ()
        # Set by create_board: the alert loop (off unless alerts are configured).
        self.alerts = AlertLoop()
        self._flash = URLSafeTimedSerializer(secret_key, salt="board-flash")
        self.router: Router | None = None
        self._named: dict[str | None, BaseRoute] = {}
        self.renderer.templates.env.globals["url_for"] = pass_context(
            lambda context, name, **params: URL(self.url(context["request"], name, **params))
        )
        self.renderer.templates.env.globals["nav_items"] = nav_items

    def url(self, request: Request, name: str, **params: Any) -> str:
        """A path inside the board, from the board's own routes: a parent app's routes of the same
        name never win, and ids are percent-encoded (a custom job id may hold '/', '?', '#' or '%')."""
        assert self.router is not None
        quoted = {
            k: (v if k == "path" else quote(str(v), safe="", errors="surrogateescape")) for k, v in params.items()
        }
        root = str(request.scope.get("root_path", ""))
        # Straight to the named route: Router.url_path_for tries every route in turn, raising as it goes.
        route = self._named.get(name)
        if route is None:
            self._named = {getattr(r, "name", None): r for r in self.router.routes}
            route = self._named[name]
        return root + str(route.url_path_for(name, **quoted))

    def here(self, request: Request) -> str:
        """The current page's URL, rebuilt from its route with every parameter encoded again: a decoded
        path must never be written back into a page (an id holding ``/../`` would point elsewhere)."""
        name = getattr(request.scope.get("route"), "name", None)
        url = self.url(request, name, **request.path_params) if name else self.url(request, "overview")
        params = request.query_params.multi_items()
        return url + ("?" + urlencode(params) if params else "")

    async def identify(self, request: Request) -> User | Response:
        """The user making the request, or the response that refuses it."""
        try:
            user = await self.auth.authenticate(request)
        except Throttled as exc:
            return self.error(request, 429, str(exc), headers={"Retry-After": str(exc.retry_after)})
        except AuthRefused as exc:
            return self.error(request, exc.status, str(exc))
        except SessionStoreError as exc:
            log.warning("board: the session store is unavailable: %s", exc)
            return self.error(request, 503, _("Sign-in cannot be checked: Redis is unavailable; try again shortly."))
        if user is None:
            return self.auth.challenge(request)
        return user

    def queue_read_only(self, queue: str) -> bool:
        """Whether no action may touch this queue: the whole board is read-only, or this queue is."""
        return self.read_only or self.queue_config(queue).read_only

    def allows_retries(self, queue: str, state: str = "failed") -> bool:
        """Whether jobs of this queue in this state may be retried (completed ones only if the board allows)."""
        if not self.queue_config(queue).allow_retries:
            return False
        return state != "completed" or self.allow_completed_retries

    async def writable_queues(self, user: User, *, retries: bool = False) -> list[str]:
        """The queues this user may change: shown to them and not read-only (and, for ``retries``, whose
        failed jobs may be retried). An action that reaches past its own queue (a dead letter sent back,
        a flow's children removed) stays inside these."""
        return [
            q
            for q in await self.visible_queues(user)
            if not self.queue_read_only(q) and (not retries or self.allows_retries(q))
        ]

    async def visible_queues(self, user: User) -> list[str]:
        return [q for q in await self.adapter.queue_names() if user.sees(q)]

    def queue_path(self, request: Request) -> str:
        """The path of queue pages up to the queue's name: add ``path_part(name)`` for one queue's page. A
        page listing hundreds of queues builds their links from it instead of asking the router each time."""
        return self.url(request, "queue", queue="q")[:-1]

    @staticmethod
    def navigation_of(queues: list[QueueInfo]) -> Navigation:
        """The navigation from figures read already (the overview reads every queue the user may see)."""
        marks = [QueueMark(q.name, q.paused, q.rate_limited_for_ms > 0) for q in queues[:NAV_LIMIT]]
        return Navigation(marks, len(queues) - len(marks))

    async def navigation(self, user: User) -> Navigation | None:
        """The queue navigation of a whole page: the queues the user may see, with their marks, cut at
        ``NAV_LIMIT`` (the overview lists the rest). None when it cannot be read: the page itself says why."""
        try:
            names = await self.visible_queues(user)
            shown = names[:NAV_LIMIT]
            # An adapter written before the navigation has no marks to give: the names alone then.
            read = getattr(self.adapter, "queue_marks", None)
            marks = await read(shown) if read is not None else [QueueMark(name) for name in shown]
        except AdapterError:
            return None
        return Navigation(marks, len(names) - len(shown))

    # Flash messages survive one redirect in a signed cookie.
    def flash(self, request: Request, response: Response, kind: str, message: str) -> None:
        response.set_cookie(
            FLASH_COOKIE,
            self._flash.dumps([kind, message]),
            max_age=60,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
            path=mount_path(request) or "/",
        )

    def pop_flash(self, request: Request) -> tuple[str, str] | None:
        raw = request.cookies.get(FLASH_COOKIE)
        if not raw:
            return None
        request.state.clear_flash = True
        try:
            kind, message = self._flash.loads(raw, max_age=60)
        except (BadSignature, ValueError):
            return None
        return str(kind), str(message)

    def finish(self, request: Request, response: Response) -> Response:
        self.csrf.ensure_cookie(request, response)
        if getattr(request.state, "clear_flash", False) and FLASH_COOKIE not in response.headers.get("set-cookie", ""):
            response.delete_cookie(FLASH_COOKIE, path=mount_path(request) or "/")
        return response

    def context(self, request: Request, user: User, **extra: Any) -> dict[str, Any]:
        return {
            "user": user,
            "board": self,
            "csrf_token": self.csrf.token(request),
            "flash": self.pop_flash(request),
            "read_only": self.read_only,
            "auth_routes": bool(self.auth.routes),
            "here": self.here(request),
            **extra,
        }

    def refused(self, request: Request, exc: AdapterError, user: User | None = None) -> Response:
        """The answer to an adapter's refusal: its message, with the status its class maps to."""
        status = next((STATUS_OF[kind] for kind in type(exc).__mro__ if kind in STATUS_OF), 500)
        return self.error(request, status, str(exc), user)

    def error(
        self,
        request: Request,
        status: int,
        message: str,
        user: User | None = None,
        headers: Mapping[str, str] | None = None,
        link: tuple[str, str] | None = None,
    ) -> Response:
        """An error page (or ``{"error": ...}``); ``link``: (label, URL) of where to go about it."""
        note(request, message)
        if wants_json(request):
            data = {"error": message, **({"see": link[1]} if link else {})}
            response = self.renderer.page(request, "", {}, data=data, status=status)
        else:
            context: dict[str, Any] = {"status": status, "message": message, "user": user, "board": self, "link": link}
            context.update(flash=None, csrf_token=self.csrf.token(request), auth_routes=bool(self.auth.routes))
            response = self.renderer.page(request, "error.html", context, status=status)
        response.headers.update(headers or {})
        return self.finish(request, response)
