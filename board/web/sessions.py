"""Login sessions that the server can end.

A session cookie is signed and expires, but a signature alone cannot be taken back: a copied cookie
would keep working after logout. So each cookie names a random session id and the user's session
generation, and every request checks both against a store shared by all the board's processes (Redis,
through the adapter): logging out marks the session id revoked until it would have expired anyway, and
``revoke_user`` bumps the user's generation, which ends every session they have everywhere.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from itsdangerous import BadData, URLSafeTimedSerializer

from ..adapters import SessionStore

__all__ = ["MemorySessionStore", "Session", "SessionStore", "SessionStoreError", "Sessions"]


class SessionStoreError(Exception):
    """The session store could not be reached; nobody can be let in until it answers."""


class MemorySessionStore:
    """A store for one process: fine for a single server, wrong behind several (each keeps its own)."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._generations: dict[str, int] = {}
        self._revoked: dict[str, float] = {}

    async def session_state(self, user: str, session_id: str) -> tuple[int, bool]:
        until = self._revoked.get(session_id)
        revoked = until is not None and until > self.clock()
        return self._generations.get(user, 0), revoked

    async def revoke_session(self, session_id: str, ttl_s: int) -> None:
        now = self.clock()
        if len(self._revoked) > 10_000:
            self._revoked = {k: v for k, v in self._revoked.items() if v > now}
        self._revoked[session_id] = now + ttl_s

    async def revoke_user(self, user: str) -> int:
        self._generations[user] = self._generations.get(user, 0) + 1
        return self._generations[user]


@dataclass(frozen=True)
class Session:
    user: str
    id: str
    generation: int
    issued_at: float
    bound: str = ""


class Sessions:
    """Issues and checks session tokens: ``{"u": user, "s": session id, "g": generation}``, signed."""

    def __init__(self, secret_key: str, max_age: float, store: SessionStore | None = None) -> None:
        self.serializer = URLSafeTimedSerializer(secret_key, salt="board.web.sessions")
        # Signatures carry whole seconds.
        self.max_age = max(1, int(max_age))
        self.store: SessionStore = store if store is not None else MemorySessionStore()

    async def issue(self, user: str, bound: str = "") -> str:
        """A token for ``user``; ``bound`` (a fingerprint of their password, say) must match at each check."""
        generation, _ = await self._state(user, "")
        return self.serializer.dumps({"u": user, "s": secrets.token_urlsafe(16), "g": generation, "b": bound})

    def _decode(self, token: str) -> Session | None:
        try:
            payload, signed_at = self.serializer.loads(token, max_age=self.max_age, return_timestamp=True)
        except BadData:  # bad signature, expired, or not our format
            return None
        if not isinstance(payload, dict):
            return None
        user, session_id, generation = payload.get("u"), payload.get("s"), payload.get("g")
        if not isinstance(user, str) or not isinstance(session_id, str) or not isinstance(generation, int):
            return None
        bound = payload.get("b", "")
        return Session(user, session_id, generation, signed_at.timestamp(), bound if isinstance(bound, str) else "")

    async def check(self, token: str, bound: Callable[[str], str | None] | None = None) -> str | None:
        """The user a token stands for, if it is signed, unexpired, not ended on the server, and (with
        ``bound``) still bound to what ``bound(user)`` gives now."""
        session = self._decode(token)
        if session is None or (bound is not None and bound(session.user) != session.bound):
            return None
        generation, revoked = await self._state(session.user, session.id)
        if revoked or generation != session.generation:
            return None
        return session.user

    async def end(self, token: str) -> None:
        """End the session of this token (logout); a token that is not valid is ignored."""
        session = self._decode(token)
        if session is None:
            return
        remaining = session.issued_at + self.max_age - time.time()
        try:
            await self.store.revoke_session(session.id, max(1, int(remaining) + 1))
        except Exception as exc:
            raise SessionStoreError(str(exc)) from exc

    async def revoke_user(self, user: str) -> int:
        try:
            return await self.store.revoke_user(user)
        except Exception as exc:
            raise SessionStoreError(str(exc)) from exc

    async def _state(self, user: str, session_id: str) -> tuple[int, bool]:
        try:
            return await self.store.session_state(user, session_id)
        except Exception as exc:
            raise SessionStoreError(str(exc)) from exc
