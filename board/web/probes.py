"""Endpoints for machines: ``/metrics`` for Prometheus and ``/readyz`` for the queues' readiness.

Both take the board's own bearer token (``metrics_token``, or ``BOARD_METRICS_TOKEN``), so that a
scraper or a monitor needs no user account; a request without the token goes through the board's auth
and sees only the queues its user may see. ``/readyz`` answers anyone with its status code and
``{"status": ...}`` alone, and with each queue's figures and failed checks only to the token or a user.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..adapters import Unavailable
from .board import Board
from .readiness import evaluate
from .users import User

log = logging.getLogger("board.web")
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _bearer(request: Request) -> str | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _token_ok(board: Board, request: Request) -> bool | None:
    """True for the board's token, False for another bearer token, None for no bearer token."""
    given = _bearer(request)
    if given is None or board.metrics_token is None:
        return None if given is None else False
    return hmac.compare_digest(given.encode(), board.metrics_token.encode())


async def _visible(board: Board, user: User | None) -> list[str]:
    names = await board.adapter.queue_names()
    return names if user is None else [name for name in names if user.sees(name)]


async def metrics(request: Request) -> Response:
    board: Board = request.app.state.board
    token = _token_ok(board, request)
    user: User | None = None
    if token is False:
        return JSONResponse({"error": "wrong bearer token"}, status_code=401, headers={"WWW-Authenticate": "Bearer"})
    if token is None:
        identified = await board.identify(request)
        if not isinstance(identified, User):
            return identified
        user = identified
    try:
        body = await board.adapter.metrics_text(await _visible(board, user))
    except Unavailable as exc:
        return Response(f"# {exc}\n", status_code=503, media_type=CONTENT_TYPE)
    return Response(body, media_type=CONTENT_TYPE, headers={"Cache-Control": "no-store"})


async def _reader(board: Board, request: Request) -> tuple[bool, User | None]:
    """Whether the request may see details, and as which user (None for the token)."""
    token = _token_ok(board, request)
    if token is not None:
        return token, None
    try:
        user = await board.auth.authenticate(request)
    except Exception:  # a throttled or refused login sees the status alone, as anyone does
        return False, None
    return user is not None, user


async def readyz(request: Request) -> Response:
    board: Board = request.app.state.board
    allowed, user = await _reader(board, request)
    body: dict[str, Any]
    try:
        await board.adapter.ping()
        health = await board.adapter.queue_health(await _visible(board, user))
    except Unavailable as exc:
        body = {"status": "unavailable"}
        if allowed:
            body["checks"] = {"redis": str(exc)}
        return JSONResponse(body, status_code=503)
    ready, report = evaluate(board.checks, health)
    body = {"status": "ready" if ready else "not ready"}
    if allowed:
        body["checks"] = {"redis": "ok", "queues": report}
    return JSONResponse(body, status_code=200 if ready else 503, headers={"Cache-Control": "no-store"})


__all__ = ["metrics", "readyz"]
