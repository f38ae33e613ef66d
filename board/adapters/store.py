"""The board's own state in Redis: login session generations and revoked sessions.

Kept beside the queues, under ``board:<queue prefix>:``, so that every process of a deployment (several
uvicorn workers, several pods) sees the same: a session ended in one is ended in all.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..engine.connection import AsyncRunner, command


@dataclass(frozen=True)
class StoreKeys:
    """Every key the board itself writes."""

    prefix: str

    @property
    def base(self) -> str:
        return f"board:{self.prefix}:"

    def session_generation(self, user: str) -> str:
        return f"{self.base}session-generation:{user}"

    def revoked_session(self, session_id: str) -> str:
        return f"{self.base}revoked-session:{session_id}"


class RedisSessionStore:
    """``SessionStore`` over the adapter's Redis connection: one round trip per check."""

    def __init__(self, runner: AsyncRunner, prefix: str) -> None:
        self.runner = runner
        self.keys = StoreKeys(prefix)

    async def session_state(self, user: str, session_id: str) -> tuple[int, bool]:
        generation, revoked = await self.runner.pipeline(
            [
                command("GET", self.keys.session_generation(user)),
                command("EXISTS", self.keys.revoked_session(session_id)),
            ]
        )
        try:
            number = int(generation) if generation is not None else 0
        except (TypeError, ValueError):
            # Unreadable: treat as a generation no cookie carries, so every session of this user ends.
            number = -1
        return number, revoked == 1

    async def revoke_session(self, session_id: str, ttl_s: int) -> None:
        await self.runner.call(command("SET", self.keys.revoked_session(session_id), "1", "EX", max(1, ttl_s)))

    async def revoke_user(self, user: str) -> int:
        return int(await self.runner.call(command("INCR", self.keys.session_generation(user))))
