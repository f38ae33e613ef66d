"""Redis clients for the engine, and the drivers that run operations on them.

Operations (``ops.py``) are generators that yield ``Call``s (or lists of them, sent as one pipeline)
and receive the replies; ``AsyncRunner`` and ``SyncRunner`` drive the same operation over an asyncio
or a blocking client, which is how ``Queue`` and ``SyncQueue`` share one implementation.

When a connection fails, the runners tell apart a request that never reached Redis from one whose
reply was lost, because only the first is always safe to send again: see ``errors.py`` for what
``RedisUnavailable``, ``OutcomeUnknown`` and ``RedisRefused`` promise.
"""

from __future__ import annotations

import asyncio
import re
import select
import time
import weakref
from collections.abc import Generator, Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, TypeVar

import redis
import redis.asyncio as aredis
import redis.asyncio.retry as aretry
from redis.backoff import ExponentialBackoff
from redis.exceptions import BusyLoadingError, NoScriptError, RedisError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from .errors import OutcomeUnknown, RedisRefused, RedisUnavailable
from .keys import QueueKeys
from .scripts import Script, script
from .urls import check_url

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
    # True when running the call twice leaves Redis as running it once: only such a call is sent again
    # after a connection failed between the request and its reply.
    repeatable: bool = True


Step = Call | list[Call]
Op = Generator[Step, Any, T]

# Pauses before each new attempt when a connection fails: the first reconnects at once (Redis restarted
# and the old connection is dead), the second gives a restarting Redis a little time. Each attempt to
# connect is itself tried three times within 0.3 s (the clients' Retry), so that a Redis that stays
# down is reported after about 1.2 s.
RETRY_PAUSES = (0.0, 0.3)
# Refusals that Redis makes before a call writes anything (for a script: at its first write, which is
# refused only when nothing was written before it), so the call can be sent again later.
REFUSALS = {
    "OOM": "it is out of memory (used memory is over maxmemory and its eviction policy frees nothing)",
    "READONLY": "it is a read-only replica (a failover is under way, or the URL names a replica)",
    "NOREPLICAS": "too few replicas are in sync for it to accept writes (min-replicas-to-write)",
    "MISCONF": "it could not save to disk and refuses writes until it can (stop-writes-on-bgsave-error)",
    "BUSY": "it is busy running a long script",
    "MASTERDOWN": "it is a replica that lost its link to its master",
    "LOADING": "it is still loading its data after a restart",
}


def script_call(name: str, keys: QueueKeys, *args: Any, repeatable: bool = True) -> Call:
    return Call(script(name), keys.script_keys, (keys.base, *args), repeatable)


def command(*args: Any) -> Call:
    return Call(None, (), args)


def _retry() -> Retry:
    return Retry(ExponentialBackoff(cap=0.5, base=0.05), 2)


def _aretry(retries: int = 2) -> aretry.Retry:
    return aretry.Retry(ExponentialBackoff(cap=0.5, base=0.05), retries)


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


def async_client(connection: Connection | None, *, retries: int = 2, **extra: Any) -> aredis.Redis:
    """A new asyncio client; a given client lends its connection settings only."""
    if connection is None:
        connection = "redis://localhost:6379"
    retry = _aretry(retries)
    if isinstance(connection, str):
        return _mark(aredis.Redis.from_url(check_url(connection), retry=retry, **_DECODE, **extra))  # type: ignore[no-any-return]
    if isinstance(connection, aredis.Redis | redis.Redis):
        return _mark(aredis.Redis(**{**_kwargs_of(connection), **_DECODE, **extra}, retry=retry))  # type: ignore[no-any-return]
    raise ValueError(f"connection: expected a redis URL or a redis client, got {connection!r}")


def sync_client(connection: Connection | None, **extra: Any) -> redis.Redis:
    """A new blocking client; a given client lends its connection settings only."""
    if connection is None:
        connection = "redis://localhost:6379"
    if isinstance(connection, str):
        return _mark(redis.Redis.from_url(check_url(connection), retry=_retry(), **_DECODE, **extra))  # type: ignore[no-any-return]
    if isinstance(connection, aredis.Redis | redis.Redis):
        return _mark(redis.Redis(**{**_kwargs_of(connection), **_DECODE, **extra}, retry=_retry()))  # type: ignore[no-any-return]
    raise ValueError(f"connection: expected a redis URL or a redis client, got {connection!r}")


def describe(client: aredis.Redis | redis.Redis) -> str:
    kw = client.connection_pool.connection_kwargs
    if "path" in kw:
        return f"unix:{kw['path']}"
    return f"{kw.get('host', 'localhost')}:{kw.get('port', 6379)}"


def unavailable(client: aredis.Redis | redis.Redis, exc: BaseException) -> RedisUnavailable:
    return RedisUnavailable(f"Redis at {describe(client)} is unavailable: {exc}")


def outcome_unknown(client: aredis.Redis | redis.Redis, exc: BaseException) -> OutcomeUnknown:
    return OutcomeUnknown(
        f"the connection to Redis at {describe(client)} failed after the request was sent ({exc}): "
        "Redis may or may not have carried it out, and it was not sent again because running it twice "
        "could repeat its effect; check the state before retrying"
    )


_WRAPPED_CODE = re.compile(r"(?:^|[\s:])-([A-Z]{3,})\b")


def reply_text(exc: Exception) -> tuple[str, str]:
    """(code, Redis's whole error line). redis-py strips the code of the errors it has a class for
    ("OOM ..." becomes OutOfMemoryError("...")) and keeps it on ``status_code``."""
    text = str(exc)
    code = getattr(exc, "status_code", None)
    # Before Redis 7 a refusal inside a script comes wrapped in an ERR: "Error running script (call to
    # f_...): @user_script:12: @user_script: 12: -READONLY You can't write against a read only replica."
    wrapped = _WRAPPED_CODE.search(text) if code in (None, "", "ERR") else None
    if wrapped and wrapped.group(1) in REFUSALS:
        return wrapped.group(1), f"{code} {text}" if code else text
    if isinstance(code, str) and code:
        return code, f"{code} {text}"
    first = text.split(" ", 1)[0]
    return (first if first.isupper() else "ERR"), text


def refused(client: aredis.Redis | redis.Redis, exc: Exception) -> RedisRefused:
    if isinstance(exc, RedisRefused):
        return exc
    code, reply = reply_text(exc)
    cause = REFUSALS.get(code)
    if cause is None:
        message = f"Redis at {describe(client)} answered with an error: {reply}"
    else:
        message = f"Redis at {describe(client)} refused the call because {cause}. Redis said: {reply}"
    return RedisRefused(message, reply=reply, code=code, retryable=cause is not None)


def _reply_error(exc: BaseException) -> bool:
    """An error that Redis sent as its reply (LOADING, "max number of clients reached"), as opposed
    to a failed socket: the connection still works and the command was not carried out."""
    return isinstance(exc, RedisConnectionError) and bool(getattr(exc, "status_code", None))


def _settle(client: aredis.Redis | redis.Redis, results: list[Any]) -> list[Any]:
    """The replies, with each error reply turned into the engine's error. A step that Redis answered
    only with LOADING (it is reading its data after a restart) was not carried out: unavailable."""
    if results and all(isinstance(r, BusyLoadingError) for r in results):
        raise unavailable(client, results[0])
    return [refused(client, r) if isinstance(r, RedisError) else r for r in results]


def _first_error(results: list[Any]) -> None:
    for result in results:
        if isinstance(result, Exception):
            raise result


def _closed_by_server(conn: Any) -> bool:
    """True when Redis has closed this idle connection (it restarted, or killed the client), or left
    bytes on it that nobody asked for. Sending on it would fail, and could not tell whether Redis
    received the request; checked first, the request is sent on a new connection instead."""
    reader = conn._reader
    if reader is None:
        return False
    if reader.at_eof() or reader.exception() is not None:
        return True
    # The event loop may not have run since the server's FIN arrived: ask the socket itself.
    sock = conn._writer.get_extra_info("socket")
    fd = sock.fileno() if sock is not None else -1
    if fd < 0:
        return False
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(0))
    return bool(select.select([fd], [], [], 0)[0])


def _encode(value: Any) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    if isinstance(value, bytes):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return b"%d" % value
    if isinstance(value, float):
        return repr(value).encode()
    raise TypeError(f"cannot send {type(value).__name__} to Redis")


def _bulk(values: Iterable[Any]) -> bytes:
    parts = []
    for value in values:
        data = _encode(value)
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


@lru_cache(maxsize=512)
def _script_head(sha: str, keys: tuple[str, ...]) -> bytes:
    return _bulk(("EVALSHA", sha, len(keys), *keys))


def pack(call: Call) -> bytes:
    """RESP for one call. Script calls reuse the encoded EVALSHA + keys prefix: the worker's hot path
    sends the same sixteen keys on every call, and redis-py's general encoder spends most of its time
    there."""
    if call.script is None:
        return b"*%d\r\n" % len(call.args) + _bulk(call.args)
    keys = tuple(call.keys)
    count = 3 + len(keys) + len(call.args)
    return b"*%d\r\n" % count + _script_head(call.script.sha, keys) + _bulk(call.args)


def _scripts_of(calls: list[Call]) -> dict[str, Script]:
    return {c.script.name: c.script for c in calls if c.script is not None}


def _load(script: Script) -> bytes:
    return pack(Call(None, (), ("SCRIPT", "LOAD", script.source)))


class AsyncRunner:
    """Sends calls on a connection of an asyncio client: one write and one read per step.

    Calls made one after another (a request handler's adds, a worker's finish-and-fetch) reuse one
    connection that the runner keeps for itself; only calls that overlap take one from the pool.
    Checking a connection out of redis-py's pool costs more than the round trip it carries.

    A step whose connection fails is sent again on a new connection, for about a second
    (``RETRY_PAUSES``), when nothing reached Redis or every call of the step is ``repeatable``;
    otherwise ``OutcomeUnknown`` is raised at once.
    """

    def __init__(self, client: aredis.Redis) -> None:
        self.client = client
        self._own: Any = None
        self._own_busy = False

    async def _talk(self, conn: Any, data: bytes, replies: int) -> list[Any]:
        try:
            await conn.send_packed_command([data], check_health=False)
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            # A failed write delivered no whole request: Redis carried out nothing.
            await conn.disconnect()
            raise unavailable(self.client, exc) from exc
        except BaseException:
            await conn.disconnect()
            raise
        out: list[Any] = []
        try:
            for _ in range(replies):
                try:
                    out.append(await conn.read_response())
                except ResponseError as exc:
                    out.append(exc)
                except RedisConnectionError as exc:
                    if not _reply_error(exc):
                        raise
                    out.append(exc)
            return out
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            await conn.disconnect()
            raise outcome_unknown(self.client, exc) from exc
        except BaseException:
            # Cancelled mid-exchange: the connection may hold unread replies.
            await conn.disconnect()
            raise

    async def _exchange(self, data: bytes, replies: int) -> list[Any]:
        if not self._own_busy:
            self._own_busy = True
            try:
                if self._own is None:
                    self._own = self.client.connection_pool.make_connection()  # type: ignore[no-untyped-call]
                if self._own.is_connected and _closed_by_server(self._own):
                    await self._own.disconnect()
                if not self._own.is_connected:
                    try:
                        await self._own.connect()
                    except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                        raise unavailable(self.client, exc) from exc
                return await self._talk(self._own, data, replies)
            finally:
                self._own_busy = False
        pool = self.client.connection_pool
        try:
            # The pool reconnects a connection that the server closed before handing it out.
            conn = await pool.get_connection()  # type: ignore[no-untyped-call]
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise unavailable(self.client, exc) from exc
        try:
            return await self._talk(conn, data, replies)
        finally:
            await pool.release(conn)

    async def aclose(self) -> None:
        """Closes the runner's own connection (the client's pool is the client's to close)."""
        own, self._own = self._own, None
        if own is not None:
            await own.disconnect()

    async def _steps_once(self, calls: list[Call]) -> list[Any]:
        results = await self._exchange(b"".join(pack(c) for c in calls), len(calls))
        missing = [i for i, r in enumerate(results) if isinstance(r, NoScriptError)]
        if missing:
            # Redis restarted or flushed its scripts: load them and run just the calls that did not run.
            scripts = _scripts_of([calls[i] for i in missing])
            await self._exchange(b"".join(_load(sc) for sc in scripts.values()), len(scripts))
            again = await self._exchange(b"".join(pack(calls[i]) for i in missing), len(missing))
            for i, result in zip(missing, again, strict=True):
                results[i] = result
        return _settle(self.client, results)

    async def _steps(self, calls: list[Call]) -> list[Any]:
        repeatable = all(c.repeatable for c in calls)
        for pause in RETRY_PAUSES:
            try:
                return await self._steps_once(calls)
            except RedisUnavailable:
                pass
            except OutcomeUnknown:
                if not repeatable:
                    raise
            await asyncio.sleep(pause)
        try:
            return await self._steps_once(calls)
        except OutcomeUnknown as exc:
            if not repeatable:
                raise
            raise unavailable(self.client, exc.__cause__ or exc) from exc

    async def batch(self, calls: list[Call]) -> list[Any]:
        """One round trip; each reply or the error of that call, without raising."""
        return await self._steps(calls) if calls else []

    async def call(self, call: Call) -> Any:
        (result,) = await self._steps([call])
        if isinstance(result, Exception):
            raise result
        return result

    async def pipeline(self, calls: list[Call]) -> list[Any]:
        if not calls:
            return []
        results = await self._steps(calls)
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


_RUNNERS: weakref.WeakKeyDictionary[aredis.Redis, AsyncRunner] = weakref.WeakKeyDictionary()


def runner_for(client: aredis.Redis) -> AsyncRunner:
    """The one runner of a client, so that every object sharing the client shares its connection."""
    runner = _RUNNERS.get(client)
    if runner is None:
        runner = _RUNNERS[client] = AsyncRunner(client)
    return runner


async def close_client(client: aredis.Redis) -> None:
    runner = _RUNNERS.pop(client, None)
    if runner is not None:
        await runner.aclose()
    await client.aclose()


class SyncRunner:
    """The blocking twin of ``AsyncRunner``."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def _exchange(self, data: bytes, replies: int) -> list[Any]:
        pool = self.client.connection_pool
        try:
            # The pool reconnects a connection that the server closed before handing it out.
            conn = pool.get_connection()
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise unavailable(self.client, exc) from exc
        try:
            try:
                conn.send_packed_command([data], check_health=False)  # type: ignore[no-untyped-call]
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                conn.disconnect()  # type: ignore[no-untyped-call]
                raise unavailable(self.client, exc) from exc
            out: list[Any] = []
            for _ in range(replies):
                try:
                    out.append(conn.read_response())
                except ResponseError as exc:
                    out.append(exc)
                except RedisConnectionError as exc:
                    if not _reply_error(exc):
                        raise
                    out.append(exc)
            return out
        except RedisUnavailable:
            raise
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            conn.disconnect()  # type: ignore[no-untyped-call]
            raise outcome_unknown(self.client, exc) from exc
        except BaseException:
            conn.disconnect()  # type: ignore[no-untyped-call]
            raise
        finally:
            pool.release(conn)

    def _steps_once(self, calls: list[Call]) -> list[Any]:
        results = self._exchange(b"".join(pack(c) for c in calls), len(calls))
        missing = [i for i, r in enumerate(results) if isinstance(r, NoScriptError)]
        if missing:
            scripts = _scripts_of([calls[i] for i in missing])
            self._exchange(b"".join(_load(sc) for sc in scripts.values()), len(scripts))
            again = self._exchange(b"".join(pack(calls[i]) for i in missing), len(missing))
            for i, result in zip(missing, again, strict=True):
                results[i] = result
        return _settle(self.client, results)

    def _steps(self, calls: list[Call]) -> list[Any]:
        repeatable = all(c.repeatable for c in calls)
        for pause in RETRY_PAUSES:
            try:
                return self._steps_once(calls)
            except RedisUnavailable:
                pass
            except OutcomeUnknown:
                if not repeatable:
                    raise
            time.sleep(pause)
        try:
            return self._steps_once(calls)
        except OutcomeUnknown as exc:
            if not repeatable:
                raise
            raise unavailable(self.client, exc.__cause__ or exc) from exc

    def call(self, call: Call) -> Any:
        (result,) = self._steps([call])
        if isinstance(result, Exception):
            raise result
        return result

    def pipeline(self, calls: list[Call]) -> list[Any]:
        if not calls:
            return []
        results = self._steps(calls)
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


__all__ = ["AsyncRunner", "Call", "Op", "ResponseError", "SyncRunner", "command", "refused", "script_call"]
