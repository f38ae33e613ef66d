"""A FastAPI app that signs users up and sends their welcome email from a worker, with the board for admins.

- ``POST /signup`` (JSON ``{"email": ..., "name": ...}``) stores the user, enqueues a ``welcome-email``
  job (5 attempts, exponential backoff) and answers 201 at once: the mail is sent by a worker process.
- ``/admin/queues/`` is the board, behind this app's OWN auth: an admin session (``GET``/``POST /login``,
  Starlette's signed session cookie) or, for scripts, ``Authorization: Bearer $ADMIN_API_KEY``. The app
  hands the board a plain function that turns a request into a ``board.User`` (or ``None``).

Run it (from the repository root, with Redis on localhost)::

    uvicorn examples.fastapi_signup.app:app --reload
    board worker examples.fastapi_signup.worker:send_welcome --queue email

Settings come from the environment: ``REDIS_URL``, ``SECRET_KEY`` (signs the session cookie),
``ADMIN_EMAIL`` / ``ADMIN_PASSWORD`` (the one admin of this example) and ``ADMIN_API_KEY`` (optional).

The users live in a dict in memory: this is an example, not a user store.
"""

from __future__ import annotations

import hmac
import html
import logging
import os
import secrets
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import FastAPI, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, Field
from starlette.middleware.sessions import SessionMiddleware

from board import Queue, RedisUnavailable, User, create_board

log = logging.getLogger(__name__)

EMAIL_QUEUE = "email"
BOARD_PATH = "/admin/queues"
DEMO_PASSWORD = "change-me"


@dataclass
class Settings:
    redis_url: str = "redis://localhost:6379"
    secret_key: str = ""
    admin_email: str = "admin@example.com"
    admin_password: str = DEMO_PASSWORD
    admin_api_key: str | None = None

    @classmethod
    def from_env(cls, **overrides: Any) -> Settings:
        env = os.environ.get
        settings = cls(
            redis_url=env("REDIS_URL") or cls.redis_url,
            secret_key=env("SECRET_KEY") or "",
            admin_email=env("ADMIN_EMAIL") or cls.admin_email,
            admin_password=env("ADMIN_PASSWORD") or cls.admin_password,
            admin_api_key=env("ADMIN_API_KEY") or None,
        )
        for name, value in overrides.items():
            if value is not None:
                setattr(settings, name, value)
        if not settings.secret_key:
            # Sessions then last as long as the process: set SECRET_KEY for anything but a demo.
            settings.secret_key = secrets.token_urlsafe(32)
        if settings.admin_password == DEMO_PASSWORD:
            log.warning("ADMIN_PASSWORD is the demo default %r: set it before exposing this app", DEMO_PASSWORD)
        return settings


class SignupRequest(BaseModel):
    email: str = Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    name: str = Field(min_length=1, max_length=100)


class UserOut(BaseModel):
    id: str
    email: str
    name: str
    created_at: datetime


class SignupResponse(BaseModel):
    user: UserOut
    job_id: str


@dataclass
class Users:
    """The example's user store: a dict in memory, lost at restart."""

    by_email: dict[str, UserOut] = field(default_factory=dict)


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


def create_app(redis_url: str | None = None, **settings: Any) -> FastAPI:
    """The app. Arguments override the environment (see ``Settings``); tests pass them directly."""
    config = Settings.from_env(redis_url=redis_url, **settings)
    emails = Queue(EMAIL_QUEUE, config.redis_url)
    users = Users()

    def board_user(request: Request) -> User | None:
        """The app's own check, handed to the board: a logged-in admin, or the admin API key."""
        session: dict[str, Any] = request.session if "session" in request.scope else {}
        if session.get("admin") == config.admin_email:
            return User(config.admin_email, "admin")
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if config.admin_api_key and scheme.lower() == "bearer" and _same(token.strip(), config.admin_api_key):
            return User("api-key", "admin")
        return None

    board = create_board(
        config.redis_url, queues=[EMAIL_QUEUE], auth=board_user, title="signup queues", secret_key=config.secret_key
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        # A mounted app's own lifespan does not run: the host closes the board's Redis connections.
        await board.state.board.adapter.close()
        await emails.close()

    app = FastAPI(title="signup example", lifespan=lifespan)
    # Behind TLS, add https_only=True so that the session cookie is never sent in clear.
    app.add_middleware(SessionMiddleware, secret_key=config.secret_key, same_site="lax", max_age=8 * 3600)
    app.mount(BOARD_PATH, board)

    @app.post("/signup", status_code=201)
    async def signup(body: SignupRequest) -> SignupResponse:
        email = body.email.lower()
        if email in users.by_email:
            raise HTTPException(409, "this email has already signed up")
        user = UserOut(id=uuid.uuid4().hex, email=email, name=body.name, created_at=datetime.now(UTC))
        users.by_email[email] = user
        try:
            job = await emails.add(
                "welcome-email",
                {"user_id": user.id, "to": user.email, "name": user.name},
                # A custom id makes the add idempotent: adding it again returns the job already there.
                job_id=f"welcome-{user.id}",
                attempts=5,
                backoff={"type": "exponential", "delay": 2},  # 2 s, 4 s, 8 s, 16 s
                remove_on_complete={"age": 7 * 24 * 3600, "count": 1000},
                remove_on_fail=5000,
            )
        except RedisUnavailable:
            del users.by_email[email]  # nothing was queued: let the client try again
            raise HTTPException(503, "cannot queue the welcome email right now; try again shortly") from None
        return SignupResponse(user=user, job_id=job.id)

    @app.get("/", response_class=HTMLResponse)
    async def home() -> str:
        return (
            "<h1>Signup example</h1><p>POST /signup with JSON {email, name}.</p>"
            f'<p><a href="/login">Admin login</a> · <a href="{BOARD_PATH}/">Queues</a></p>'
        )

    @app.get("/login", response_class=HTMLResponse)
    async def login_page(error: str = "") -> str:
        message = f"<p role='alert'>{html.escape(error)}</p>" if error else ""
        return (
            f"<h1>Admin login</h1>{message}<form method='post' action='/login'>"
            "<label>Email <input name='email' type='email' required></label> "
            "<label>Password <input name='password' type='password' required></label> "
            "<button>Log in</button></form>"
        )

    @app.post("/login", response_model=None)
    async def login(
        request: Request, email: Annotated[str, Form()], password: Annotated[str, Form()]
    ) -> RedirectResponse | HTMLResponse:
        if not (_same(email.strip().lower(), config.admin_email.lower()) and _same(password, config.admin_password)):
            return HTMLResponse(await login_page("Wrong email or password."), status_code=401)
        request.session.clear()
        request.session["admin"] = config.admin_email
        return RedirectResponse(f"{BOARD_PATH}/", status_code=303)

    @app.post("/logout")
    async def logout(request: Request) -> RedirectResponse:
        request.session.clear()
        return RedirectResponse("/", status_code=303)

    app.state.users = users
    app.state.emails = emails
    return app


app = create_app()
