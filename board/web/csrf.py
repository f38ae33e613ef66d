"""CSRF protection for form posts: a signed random token in a cookie, repeated in each form.

A cross-site page can neither read the cookie nor set it (SameSite=Strict, signed), so it cannot make
a form post carry the token. JSON posts (``Content-Type: application/json``) need no token: a browser
sends that content type cross-site only after a CORS preflight, which the board never grants.
"""

from __future__ import annotations

import hmac
import secrets

from itsdangerous import BadSignature, Signer
from starlette.requests import Request
from starlette.responses import Response

from .paths import mount_path

COOKIE = "board_csrf"
FIELD = "csrf_token"
HEADER = "x-csrf-token"


class Csrf:
    def __init__(self, secret_key: str) -> None:
        self.signer = Signer(secret_key, salt="board-csrf")

    def token(self, request: Request) -> str:
        """The request's token: the cookie's, or a new one (``ensure_cookie`` then sets it)."""
        existing = getattr(request.state, "csrf_token", None)
        if existing:
            return str(existing)
        cookie = request.cookies.get(COOKIE, "")
        try:
            token = self.signer.unsign(cookie).decode() if cookie else ""
        except BadSignature:
            token = ""
        if not token:
            token = secrets.token_urlsafe(24)
            request.state.csrf_new = True
        request.state.csrf_token = token
        return token

    def ensure_cookie(self, request: Request, response: Response) -> None:
        if getattr(request.state, "csrf_new", False):
            response.set_cookie(
                COOKIE,
                self.signer.sign(request.state.csrf_token).decode(),
                httponly=True,
                samesite="strict",
                secure=request.url.scheme == "https",
                path=mount_path(request) or "/",
            )

    async def check(self, request: Request, form_token: str | None, *, allow_json: bool = True) -> bool:
        """Whether a post carries this browser's token; a JSON post passes unless ``allow_json`` is off."""
        is_json = request.headers.get("content-type", "").split(";")[0].strip().lower() == "application/json"
        if is_json and allow_json:
            return True
        cookie = request.cookies.get(COOKIE, "")
        try:
            expected = self.signer.unsign(cookie).decode() if cookie else ""
        except BadSignature:
            return False
        given = form_token or request.headers.get(HEADER, "")
        return bool(expected) and hmac.compare_digest(expected, given)
