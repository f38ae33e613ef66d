"""Security headers on every response of the board, pages, fragments, JSON, errors and static files alike.

The pages load scripts and styles only from the board itself, so the Content-Security-Policy allows no
inline script at all: an injected ``<script>`` or ``onclick=`` would not run even if escaping failed.
Framing is refused unless the board is given the origins allowed to embed it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["SecurityHeaders", "frame_origins", "security_headers"]

_ORIGIN = re.compile(r"(https?)://[A-Za-z0-9.-]+(:[0-9]{1,5})?|'self'")


def frame_origins(origins: Iterable[str] | str | None) -> tuple[str, ...]:
    """The origins allowed to frame the board, checked: ``https://host[:port]``, ``http://...`` or ``'self'``."""
    if origins is None:
        return ()
    if isinstance(origins, str):
        origins = [part for part in re.split(r"[\s,]+", origins) if part]
    checked = []
    for origin in origins:
        if not isinstance(origin, str) or not _ORIGIN.fullmatch(origin):
            raise ValueError(
                f"frame_ancestors: {origin!r} is not an origin such as https://intranet.example.com or 'self'"
            )
        checked.append(origin)
    return tuple(checked)


def security_headers(frame_ancestors: tuple[str, ...] = ()) -> dict[str, str]:
    """The headers every response of the board carries (static files may replace Cache-Control, and a
    response's own Vary is kept beside these)."""
    ancestors = " ".join(frame_ancestors) if frame_ancestors else "'none'"
    headers = {
        "Content-Security-Policy": (
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
            f"connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors {ancestors}"
        ),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "Cache-Control": "no-store",
        "Vary": "Accept, HX-Request",
    }
    # X-Frame-Options can only deny or allow the same origin; with named origins CSP alone decides.
    if not frame_ancestors:
        headers["X-Frame-Options"] = "DENY"
    return headers


class SecurityHeaders:
    """Adds the headers below to each response; ``static_path`` marks the files that may be cached."""

    def __init__(self, app: ASGIApp, frame_ancestors: tuple[str, ...] = (), static_path: str = "/static/") -> None:
        self.app = app
        self.static_path = static_path
        self.headers = security_headers(frame_ancestors)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        root = str(scope.get("root_path", "")).rstrip("/")
        path = str(scope.get("path", ""))
        static = path.startswith(root + self.static_path)

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                # A Vary the response set itself (Accept-Encoding, say) is kept beside the board's.
                vary = [v.strip() for v in f"{headers.get('Vary', '')},{self.headers['Vary']}".split(",")]
                headers.update(self.headers)
                headers["Vary"] = ", ".join(dict.fromkeys(v for v in vary if v))
                # Pages show job payloads: no shared or disk cache may keep them. Static files hold nothing
                # private and are served to signed-in users only, so the browser alone may keep them.
                cacheable = static and message["status"] in (200, 304)
                headers["Cache-Control"] = "private, max-age=3600" if cacheable else "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)
