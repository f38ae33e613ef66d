"""The board's own state in Redis: login session generations and revoked sessions, failed passwords, and
the signing key shared when none is configured.

Kept beside the queues, under ``board:<queue prefix>:``, so that every process of a deployment (several
uvicorn workers, several pods) sees the same: a session ended in one is ended in all, a name locked out
by one is locked out in all, and a form served by one is accepted by all.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import redis

from ..engine.connection import AsyncRunner, Call, Connection, command, sync_client
from ..engine.scripts import Script
from .base import ThrottleSubject
from .errors import Unavailable


def _script(name: str) -> Script:
    source = (Path(__file__).with_name("lua") / f"{name}.lua").read_text(encoding="utf-8")
    return Script(name, source, hashlib.sha1(source.encode()).hexdigest())


LOGIN_FAILED = _script("login_failed")
# The member of a throttle key that marks it locked out (see login_failed.lua).
LOCKED = "locked"


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

    def login_failures(self, kind: str, value: str) -> str:
        return f"{self.base}throttle:{kind}:{value}"

    @property
    def secret(self) -> str:
        return f"{self.base}secret"


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


class RedisThrottleStore:
    """``ThrottleStore`` over the adapter's Redis connection: one round trip per check, failure or success."""

    def __init__(self, runner: AsyncRunner, prefix: str) -> None:
        self.runner = runner
        self.keys = StoreKeys(prefix)

    async def locked_for(self, subjects: Sequence[ThrottleSubject]) -> float:
        calls: list[Call] = []
        for subject in subjects:
            key = self.keys.login_failures(subject.kind, subject.value)
            calls += [command("ZSCORE", key, LOCKED), command("PTTL", key)]
        replies = await self.runner.pipeline(calls)
        left = [int(ttl) for locked, ttl in zip(replies[::2], replies[1::2], strict=True) if locked is not None]
        return max([ms for ms in left if ms > 0], default=0) / 1000

    async def failed(self, subjects: Sequence[ThrottleSubject], window_s: float, lockout_s: float) -> None:
        window_ms, lockout_ms = max(1, round(window_s * 1000)), max(1, round(lockout_s * 1000))
        await self.runner.pipeline(
            [
                # Not sent twice when an answer is lost: that would count one failure as two.
                Call(
                    LOGIN_FAILED, (self.keys.login_failures(s.kind, s.value),), (s.limit, window_ms, lockout_ms), False
                )
                for s in subjects
            ]
        )

    async def forget(self, subject: ThrottleSubject) -> None:
        # Failures are scored with their time, the lockout mark with 0: this keeps a lockout under way.
        key = self.keys.login_failures(subject.kind, subject.value)
        await self.runner.call(command("ZREMRANGEBYSCORE", key, "(0", "+inf"))


def shared_secret(connection: Connection, prefix: str, timeout_s: float = 2) -> str:
    """The deployment's signing key kept in Redis, created by the first process to ask: every process
    started on the same Redis and prefix gets the same one. ``Unavailable`` when Redis does not answer.

    Blocking, for a board being built (not yet serving): one round trip."""
    keys = StoreKeys(prefix)
    client = sync_client(connection, socket_timeout=timeout_s, socket_connect_timeout=timeout_s)
    try:
        pipe = client.pipeline(transaction=False)
        # NX: a process that comes second keeps the first one's key.
        pipe.set(keys.secret, secrets.token_urlsafe(32), nx=True)
        pipe.get(keys.secret)
        _, key = pipe.execute()
    except (redis.RedisError, OSError) as exc:
        raise Unavailable(f"Redis did not answer: {exc}") from exc
    finally:
        client.close()
    if not isinstance(key, str) or len(key) < 16:
        raise Unavailable(f"{keys.secret} holds no usable key: delete it, or configure one")
    return key
