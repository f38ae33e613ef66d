"""A plain Starlette app with the board at ``/admin/queues``, behind board's own login page (``FormLogin``).

Run it (from the repository root, with Redis on localhost)::

    BOARD_USERS='alice:s3cret:admin;bob:hunter2:viewer' BOARD_SECRET_KEY="$(openssl rand -hex 32)" \\
        uvicorn examples.starlette_login.app:app

then open http://127.0.0.1:8000/ and follow the link to the queues.

Settings come from the environment, in the same format as ``board serve``:

- ``REDIS_URL``: default ``redis://localhost:6379``;
- ``BOARD_USERS``: ``name:password:role[:queue,queue]`` entries separated by ``;`` or new lines; a password
  may be a ``board.hash_password(...)`` hash instead. Roles: viewer, operator, admin. The demo default is
  one admin ``admin`` with the password ``change-me``;
- ``BOARD_SECRET_KEY``: signs the session cookie (16+ characters). Without it a random key is made at
  start-up, so that sessions end when the process does.
"""

from __future__ import annotations

import html
import logging
import os
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Mount, Route

from board import FormLogin, create_board
from board.web.users import Users

log = logging.getLogger(__name__)

BOARD_PATH = "/admin/queues"
DEMO_USERS = "admin:change-me:admin"


def parse_users(text: str) -> Users:
    """``name:password:role[:queue,queue]`` entries, separated by ``;`` or new lines."""
    users: dict[str, tuple[str, str] | tuple[str, str, tuple[str, ...]]] = {}
    for entry in text.replace(";", "\n").splitlines():
        entry = entry.strip()
        if not entry or entry.startswith("#"):
            continue
        parts = entry.split(":")  # a hash_password() hash holds '$' but no ':'
        if len(parts) not in (3, 4) or not parts[0] or not parts[1]:
            raise ValueError(f"BOARD_USERS: expected name:password:role[:queues], got {parts[0]!r}...")
        name, password, role = parts[:3]
        queues = tuple(q.strip() for q in parts[3].split(",") if q.strip()) if len(parts) == 4 else ()
        users[name] = (password, role, queues) if queues else (password, role)
    return users


def create_app(redis_url: str | None = None, users: str | None = None, secret_key: str | None = None) -> Starlette:
    """The app. Arguments override the environment; tests pass them directly."""
    redis_url = redis_url or os.environ.get("REDIS_URL") or "redis://localhost:6379"
    users = users or os.environ.get("BOARD_USERS")
    if not users:
        log.warning("BOARD_USERS is not set: the demo user 'admin' (password 'change-me') can log in")
        users = DEMO_USERS
    secret_key = secret_key or os.environ.get("BOARD_SECRET_KEY") or secrets.token_urlsafe(32)

    board = create_board(
        redis_url,
        discover=True,  # every queue under the "bull" prefix
        auth=FormLogin(parse_users(users), secret_key),
        title="queues",
    )

    async def homepage(request: Request) -> HTMLResponse:
        queues = html.escape(f"{BOARD_PATH}/")
        return HTMLResponse(
            "<!doctype html><title>Example app</title><h1>Example app</h1>"
            f'<p>The queues of this app are at <a href="{queues}">{queues}</a> (log in first).</p>'
        )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        yield
        # A mounted app's own lifespan does not run: the host closes the board's Redis connections.
        await board.state.board.adapter.close()

    return Starlette(routes=[Route("/", homepage), Mount(BOARD_PATH, app=board)], lifespan=lifespan)


app = create_app()
