"""``create_board``: the dashboard as a Starlette app, to mount anywhere (``/admin/queues``) or serve alone."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote, urlencode

from itsdangerous import BadSignature, URLSafeTimedSerializer
from jinja2 import pass_context
from starlette.applications import Starlette
from starlette.datastructures import URL
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Router
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from ..adapters import BullMQAdapter, QueueAdapter
from .auth import AuthBackend, AuthRefused, FormLogin, NoAuth, as_backend
from .csrf import Csrf
from .formatters import Formatter, Formatters
from .headers import SecurityHeaders, frame_origins, security_headers
from .paths import mount_path
from .render import Renderer, asset_dir, wants_json
from .sessions import SessionStoreError
from .throttle import Throttled
from .users import User

log = logging.getLogger("board.web")

FLASH_COOKIE = "board_flash"


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
        self._flash = URLSafeTimedSerializer(secret_key, salt="board-flash")
        self.router: Router | None = None
        self._named: dict[str | None, BaseRoute] = {}
        self.renderer.templates.env.globals["url_for"] = pass_context(
            lambda context, name, **params: URL(self.url(context["request"], name, **params))
        )

    def url(self, request: Request, name: str, **params: Any) -> str:
        """A path inside the board, from the board's own routes: a parent app's routes of the same
        name never win, and ids are percent-encoded (a custom job id may hold '/', '?', '#' or '%')."""
        assert self.router is not None
        quoted = {k: (v if k == "path" else quote(str(v), safe="")) for k, v in params.items()}
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
            return self.error(request, 503, "Sign-in cannot be checked: Redis is unavailable; try again shortly.")
        if user is None:
            return self.auth.challenge(request)
        return user

    async def visible_queues(self, user: User) -> list[str]:
        return [q for q in await self.adapter.queue_names() if user.sees(q)]

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

    def error(
        self,
        request: Request,
        status: int,
        message: str,
        user: User | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        if wants_json(request):
            response = self.renderer.page(request, "", {}, data={"error": message}, status=status)
        else:
            context: dict[str, Any] = {"status": status, "message": message, "user": user, "board": self}
            context.update(flash=None, csrf_token=self.csrf.token(request), auth_routes=bool(self.auth.routes))
            response = self.renderer.page(request, "error.html", context, status=status)
        response.headers.update(headers or {})
        return self.finish(request, response)


class _GuardedStatic:
    """Static files behind the same authentication as the pages."""

    def __init__(self, app: ASGIApp, board: Board) -> None:
        self.app = app
        self.board = board

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            # Answer as the board itself would, so that a login redirect points at the board's page.
            root = str(scope.get("root_path", ""))
            request = Request({**scope, "root_path": root.removesuffix("/static")}, receive)
            user = await self.board.identify(request)
            if not isinstance(user, User):
                await user(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _secret_key(given: str | None, backend: AuthBackend) -> str:
    """One key for every process of a deployment, so that a form served by one is accepted by another."""
    for source, key in (
        ("secret_key=", given),
        ("the auth backend", getattr(backend, "secret_key", None)),
        ("BOARD_SECRET_KEY", os.environ.get("BOARD_SECRET_KEY")),
    ):
        if key:
            if len(key) < 16:
                raise ValueError(f"secret key from {source} is too short: use at least 16 characters")
            return key
    log.warning(
        "board: no secret key given (secret_key=, the auth backend's, or BOARD_SECRET_KEY): using a random one. "
        "Forms and messages then fail after a restart and between processes; set one key for the deployment."
    )
    return secrets.token_urlsafe(32)


def create_board(
    connection: Any = None,
    *,
    queues: Iterable[str] | None = None,
    prefix: str = "bull",
    discover: bool = False,
    auth: AuthBackend | Callable[[Request], User | Awaitable[User | None] | None] | None = None,
    read_only: bool = False,
    title: str = "board",
    formatters: Mapping[str, Formatter] | None = None,
    redact: bool = True,
    redact_words: Iterable[str] = (),
    poll_interval: float = 5,
    secret_key: str | None = None,
    frame_ancestors: Iterable[str] | None = None,
    group_delimiter: str | None = ".",
    allow_completed_retries: bool = True,
    adapter: QueueAdapter | None = None,
) -> Starlette:
    """The board as an ASGI app. ``connection`` is a redis URL or client; ``queues`` names the queues
    to serve, ``discover=True`` finds every queue under ``prefix``. ``auth`` is a backend from
    ``board`` (``BasicAuth``, ``FormLogin``, ``TrustedHeader``) or a callable ``request -> User | None``;
    without one, everyone is an admin and a warning is logged at start-up.

    ``secret_key`` signs CSRF tokens and messages: give every process of a deployment the same one (or
    let the auth backend's, or ``BOARD_SECRET_KEY``, serve). ``redact_words`` adds key names to the
    secret-looking ones whose values are masked; ``frame_ancestors`` names the origins allowed to show
    the board in a frame (none by default)."""
    if poll_interval < 0:
        raise ValueError(f"poll_interval: must be >= 0 seconds (0 turns polling off), got {poll_interval}")
    if group_delimiter is not None and (not isinstance(group_delimiter, str) or not group_delimiter):
        raise ValueError(f"group_delimiter: expected a non-empty string or None, got {group_delimiter!r}")
    backend = as_backend(auth) or NoAuth()
    key = _secret_key(secret_key, backend)
    ancestors = frame_origins(frame_ancestors)
    if adapter is None:
        adapter = BullMQAdapter(connection, prefix=prefix, queues=queues, discover=discover)
    if isinstance(backend, FormLogin) and not backend.session_store_given:
        store = adapter.session_store()
        if store is not None:
            backend.sessions.store = store
    board = Board(
        adapter,
        auth=backend,
        read_only=read_only,
        title=title,
        formatters=Formatters(formatters, redact=redact, words=tuple(redact_words)),
        poll_interval=poll_interval,
        secret_key=key,
        group_delimiter=group_delimiter,
        allow_completed_retries=allow_completed_retries,
    )

    from . import actions, views

    routes: list[BaseRoute] = [
        *views.routes(),
        *actions.routes(),
        views.job_route(),
        *backend.routes,
        Mount("/static", app=_GuardedStatic(StaticFiles(directory=str(asset_dir("static"))), board), name="static"),
    ]

    if getattr(backend, "warns", False):
        # Said when the board is built: a mounted app's own start-up hooks never run.
        log.warning(
            "board: no auth configured: everyone who can reach it is an admin. "
            "Pass auth=BasicAuth(...), FormLogin(...), TrustedHeader(...) or a callable."
        )

    async def on_error(request: Request, exc: Exception) -> Response:
        # Starlette answers unhandled errors outside every middleware: the page gets its headers here.
        log.exception("board: error while answering %s %s", request.method, request.url.path, exc_info=exc)
        message = "Something went wrong on the board; the details are in its log."
        return board.error(request, 500, message, headers={**security_headers(ancestors), "Vary": "Accept, HX-Request"})

    app = Starlette(
        routes=routes,
        middleware=[Middleware(SecurityHeaders, frame_ancestors=ancestors)],
        exception_handlers={Exception: on_error},
    )
    app.state.board = board
    board.router = app.router
    return app


__all__ = ["Board", "create_board"]
