"""Request bodies read with a bound: a client cannot make the board hold an unlimited upload in memory."""

from __future__ import annotations

from starlette.requests import Request

__all__ = ["BodyTooLarge", "read_bounded"]


class BodyTooLarge(ValueError):
    def __init__(self, limit: int) -> None:
        super().__init__(f"the request body is larger than {limit:,} bytes")
        self.limit = limit


async def read_bounded(request: Request, limit: int) -> bytes:
    """The whole body, refused past ``limit`` bytes; ``request.form()`` and ``request.json()`` then parse it."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
    body = b"".join(chunks)
    # Starlette keeps a body it has read here and parses forms from it.
    request._body = body
    return body
