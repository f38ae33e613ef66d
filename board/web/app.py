"""``create_board``: the dashboard as a Starlette app, to mount anywhere (``/admin/queues``) or serve alone."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Awaitable, Callable, Iterable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response

from ..adapters import BullMQAdapter, QueueAdapter, Unavailable
from ..adapters.store import shared_secret
from ..alerts.delivery import AlertCallable
from .alert_loop import Alerts, alert_loop
from .auth import AuthBackend, FormLogin, NoAuth, as_backend
from .board import Board
from .formatters import Formatter, Formatters
from .headers import SecurityHeaders, frame_origins, security_headers
from .queue_config import QueueConfigs, load_queue_config
from .readiness import load_checks, load_checks_file
from .routes import routes
from .throttle import LoginThrottle
from .users import User

log = logging.getLogger("board.web")


def _metrics_token(given: str | None) -> str | None:
    token = given if given is not None else os.environ.get("BOARD_METRICS_TOKEN") or None
    if token is not None and len(token) < 16:
        source = "metrics_token=" if given is not None else "BOARD_METRICS_TOKEN"
        raise ValueError(f"metrics token from {source} is too short: use at least 16 characters")
    return token


def _configured_key(given: str | None, backend: AuthBackend) -> str | None:
    for source, key in (
        ("secret_key=", given),
        ("the auth backend", getattr(backend, "secret_key", None)),
        ("BOARD_SECRET_KEY", os.environ.get("BOARD_SECRET_KEY")),
    ):
        if key:
            if len(key) < 16:
                raise ValueError(f"secret key from {source} is too short: use at least 16 characters")
            return key
    return None


def _secret_key(given: str | None, backend: AuthBackend, shared: Callable[[], str] | None) -> str:
    """One key for every process of a deployment, so that a form served by one is accepted by another: the
    one configured, else one kept in Redis beside the queues (``shared``, created by the first process to
    ask), else a random one for this process alone."""
    key = _configured_key(given, backend)
    if key is not None:
        return key
    if shared is not None:
        try:
            return shared()
        except Unavailable as exc:
            reason = f"the shared one could not be read from Redis ({exc})"
    else:
        reason = "the queue adapter keeps none"
    log.warning(
        "board: no secret key given (secret_key=, the auth backend's, or BOARD_SECRET_KEY) and %s: using a "
        "random one. Forms and messages then fail after a restart and between processes; set one key for "
        "the deployment.",
        reason,
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
    metrics_token: str | None = None,
    checks: Mapping[str, Mapping[str, float]] | str | Path | None = None,
    alerts: Alerts = None,
    alert_callables: Mapping[str, AlertCallable] | None = None,
    alert_interval: float = 15,
    queue_config: Mapping[str, Mapping[str, Any]] | str | Path | QueueConfigs | None = None,
    environment: str | None = None,
    logo_url: str | None = None,
) -> Starlette:
    """The board as an ASGI app. ``connection`` is a redis URL or client; ``queues`` names the queues
    to serve, ``discover=True`` finds every queue under ``prefix``. ``auth`` is a backend from
    ``board`` (``BasicAuth``, ``FormLogin``, ``TrustedHeader``) or a callable ``request -> User | None``;
    without one, everyone is an admin and a warning is logged at start-up.

    ``secret_key`` signs CSRF tokens and messages: give every process of a deployment the same one (or
    let the auth backend's, or ``BOARD_SECRET_KEY``, serve); without any, the processes on one Redis and
    prefix share one that the first keeps in Redis (``board:<prefix>:secret``). ``redact_words`` adds key
    names to the secret-looking ones whose values are masked; ``frame_ancestors`` names the origins allowed
    to show the board in a frame (none by default).

    ``metrics_token`` (or ``BOARD_METRICS_TOKEN``) is the bearer token that opens ``/metrics`` and
    ``/readyz``'s details to a scraper without a user account; ``checks`` sets what ``/readyz`` holds
    each queue to (``{"email": {"min_workers": 1, "max_waiting": 10000, "max_oldest_waiting_s": 300}}``,
    names or patterns, or the path of a TOML file of the same).

    ``alerts`` holds alert rules and webhooks (a ``board.alerts.AlertConfig``, the same as a dict, or the
    path of a TOML file), evaluated every ``alert_interval`` seconds while the app runs (its lifespan);
    ``alert_callables`` maps names to functions of a ``board.alerts.Alert`` that get every alert.

    ``queue_config`` gives queues (by name or pattern) a ``display_name``, a ``description``, ``read_only``
    and ``allow_retries`` (or the path of a TOML file of the same); ``environment`` is shown as a badge
    beside the title ("production"), ``logo_url`` as an image before it."""
    if poll_interval < 0:
        raise ValueError(f"poll_interval: must be >= 0 seconds (0 turns polling off), got {poll_interval}")
    if group_delimiter is not None and (not isinstance(group_delimiter, str) or not group_delimiter):
        raise ValueError(f"group_delimiter: expected a non-empty string or None, got {group_delimiter!r}")
    backend = as_backend(auth) or NoAuth()
    ancestors = frame_origins(frame_ancestors)
    shared: Callable[[], str] | None = None
    if adapter is None:
        adapter = BullMQAdapter(connection, prefix=prefix, queues=queues, discover=discover)
        shared = partial(shared_secret, connection, prefix)
    key = _secret_key(secret_key, backend, shared)
    if isinstance(backend, FormLogin) and not backend.session_store_given:
        store = adapter.session_store()
        if store is not None:
            backend.sessions.store = store
    throttle = getattr(backend, "throttle", None)
    if isinstance(throttle, LoginThrottle) and not throttle.store_given:
        # Every process then counts the same failures.
        throttle.store = adapter.throttle_store()
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

    board.queue_config = load_queue_config(queue_config)
    board.environment = environment or None
    board.logo_url = logo_url or None
    board.metrics_token = _metrics_token(metrics_token)
    board.checks = load_checks_file(checks) if isinstance(checks, str | Path) else load_checks(checks or {})
    board.alerts = alert_loop(adapter, alerts, alert_callables, alert_interval)

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
        return board.error(request, 500, message, headers=security_headers(ancestors))

    app = Starlette(
        routes=routes(board),
        middleware=[Middleware(SecurityHeaders, frame_ancestors=ancestors)],
        exception_handlers={Exception: on_error},
        lifespan=board.alerts.lifespan(),
    )
    app.state.board = board
    board.router = app.router
    return app


__all__ = ["create_board"]
