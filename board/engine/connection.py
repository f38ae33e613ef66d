"""Redis clients for the engine, and the drivers that run operations on them.

Operations (``ops.py``) are generators that yield ``Call``s (or lists of them, sent as one pipeline)
and receive the replies; ``AsyncRunner`` and ``SyncRunner`` drive the same operation over an asyncio
or a blocking client, which is how ``Queue`` and ``SyncQueue`` share one implementation.
"""

from __future__ import annotations

from collections.abc import Generator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import redis
import redis.asyncio as aredis
import redis.asyncio.retry as aretry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from .errors import RedisUnavailable
from .keys import QueueKeys
from .scripts import Script, script

T = TypeVar("T")

Connection = str | aredis.Redis | redis.Redis
# Replies are decoded as UTF-8; bytes that are not valid UTF-8 (a binary payload another program
# wrote) come through as lone surrogates instead of failing the whole reply.
_DECODE: dict[str, Any] = {
    "decode_responses": True,
    "encoding": "utf-8",
    "encoding_errors": "surrogateescape",
}


@dataclass(frozen=True)
class Call:
    script: Script | None
    keys: Sequence[str]
    args: Sequence[Any]


Step = Call | list[Call]
Op = Generator[Step, Any, T]


def script_call(name: str, keys: QueueKeys, *args: Any) -> Call:
    return Call(script(name), keys.script_keys, (keys.base, *args))


def command(*args: Any) -> Call:
    return Call(None, (), args)


def _retry() -> Retry:
    return Retry(ExponentialBackoff(cap=0.5, base=0.05), 2)


def _aretry() -> aretry.Retry:
    return aretry.Retry(ExponentialBackoff(cap=0.5, base=0.05), 2)


def _kwargs_of(client: aredis.Redis | redis.Redis) -> dict[str, Any]:
    kwargs = dict(client.connection_pool.connection_kwargs)
    for key in ("retry", "connection_class", "parser_class"):
        kwargs.pop(key, None)
    return kwargs


_OURS = "_board_engine_client"


def is_ours(client: object) -> bool:
    """True for a client this module made (so it decodes replies the engine's way)."""
    return getattr(client, _OURS, False) is True


def _mark(client: Any) -> Any:
    setattr(client, _OURS, True)
    return client


def async_client(connection: Connection | None, **extra: Any) -> aredis.Redis:
    """A new asyncio client; a given client lends its connection settings only."""
    if connection is None:
        connection = "redis://localhost:6379"
    if isinstance(connection, str):
        return _mark(aredis.Redis.from_url(connection, retry=_aretry(), **_DECODE, **extra))  # type: ignore[no-any-return]
    if isinstance(connection, aredis.Redis | redis.Redis):
        return _mark(aredis.Redis(**{**_kwargs_of(connection), **_DECODE, **extra}, retry=_aretry()))  # type: ignore[no-any-return]
    raise ValueError(f"connection: expected a redis URL or a redis client, got {connection!r}")


def sync_client(connection: Connection | None, **extra: Any) -> redis.Redis:
    """A new blocking client; a given client lends its connection settings only."""
    if connection is None:
        connection = "redis://localhost:6379"
    if isinstance(connection, str):
        return _mark(redis.Redis.from_url(connection, retry=_retry(), **_DECODE, **extra))  # type: ignore[no-any-return]
    if isinstance(connection, aredis.Redis | redis.Redis):
        return _mark(redis.Redis(**{**_kwargs_of(connection), **_DECODE, **extra}, retry=_retry()))  # type: ignore[no-any-return]
    raise ValueError(f"connection: expected a redis URL or a redis client, got {connection!r}")


def describe(client: aredis.Redis | redis.Redis) -> str:
    kw = client.connection_pool.connection_kwargs
    if "path" in kw:
        return f"unix:{kw['path']}"
    return f"{kw.get('host', 'localhost')}:{kw.get('port', 6379)}"


def unavailable(client: aredis.Redis | redis.Redis, exc: Exception) -> RedisUnavailable:
    return RedisUnavailable(f"Redis at {describe(client)} is unavailable: {exc}")


def _first_error(results: list[Any]) -> None:
    for result in results:
        if isinstance(result, Exception):
            raise result


class AsyncRunner:
    def __init__(self, client: aredis.Redis) -> None:
        self.client = client

    async def call(self, call: Call) -> Any:
        try:
            if call.script is None:
                return await self.client.execute_command(*call.args)  # type: ignore[no-untyped-call]
            sc = call.script
            try:
                return await self.client.evalsha(sc.sha, len(call.keys), *call.keys, *call.args)
            except NoScriptError:
                await self.client.script_load(sc.source)
                return await self.client.evalsha(sc.sha, len(call.keys), *call.keys, *call.args)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise unavailable(self.client, exc) from exc

    async def pipeline(self, calls: list[Call]) -> list[Any]:
        if not calls:
            return []
        try:
            pipe = self.client.pipeline(transaction=False)
            for c in calls:
                if c.script is None:
                    pipe.execute_command(*c.args)
                else:
                    pipe.evalsha(c.script.sha, len(c.keys), *c.keys, *c.args)
            results: list[Any] = await pipe.execute(raise_on_error=False)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise unavailable(self.client, exc) from exc
        # A script unknown to the server did not run: load it and run just those calls again.
        for i, result in enumerate(results):
            if isinstance(result, NoScriptError):
                results[i] = await self.call(calls[i])
        _first_error(results)
        return results

    async def run(self, op: Op[T]) -> T:
        reply: Any = None
        try:
            while True:
                step = op.send(reply)
                reply = await (self.pipeline(step) if isinstance(step, list) else self.call(step))
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]


class SyncRunner:
    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def call(self, call: Call) -> Any:
        try:
            if call.script is None:
                return self.client.execute_command(*call.args)  # type: ignore[no-untyped-call]
            sc = call.script
            try:
                return self.client.evalsha(sc.sha, len(call.keys), *call.keys, *call.args)
            except NoScriptError:
                self.client.script_load(sc.source)
                return self.client.evalsha(sc.sha, len(call.keys), *call.keys, *call.args)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise unavailable(self.client, exc) from exc

    def pipeline(self, calls: list[Call]) -> list[Any]:
        if not calls:
            return []
        try:
            pipe = self.client.pipeline(transaction=False)
            for c in calls:
                if c.script is None:
                    pipe.execute_command(*c.args)  # type: ignore[no-untyped-call]
                else:
                    pipe.evalsha(c.script.sha, len(c.keys), *c.keys, *c.args)
            results: list[Any] = pipe.execute(raise_on_error=False)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            raise unavailable(self.client, exc) from exc
        for i, result in enumerate(results):
            if isinstance(result, NoScriptError):
                results[i] = self.call(calls[i])
        _first_error(results)
        return results

    def run(self, op: Op[T]) -> T:
        reply: Any = None
        try:
            while True:
                step = op.send(reply)
                reply = self.pipeline(step) if isinstance(step, list) else self.call(step)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]


__all__ = ["AsyncRunner", "Call", "Op", "ResponseError", "SyncRunner", "command", "script_call"]
