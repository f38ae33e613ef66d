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
from collections.abc import Callable, Generator, Iterable, Sequence
from functools import lru_cache
from typing import Any, NamedTuple, TypeVar

import redis
import redis.asyncio as aredis
from redis.exceptions import BusyLoadingError, NoScriptError, RedisError, ResponseError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

# Clients are built in clients.py; the names stay importable from here, where the engine first had them.
from .clients import _DECODE as _DECODE
from .clients import Connection as Connection
from .clients import _aretry as _aretry
from .clients import _kwargs_of as _kwargs_of
from .clients import _mark as _mark
from .clients import _retry as _retry
from .clients import async_client as async_client
from .clients import describe as describe
from .clients import is_ours as is_ours
from .clients import sync_client as sync_client
from .errors import OutcomeUnknown, RedisRefused, RedisUnavailable
from .keys import QueueKeys
from .scripts import Script, script

T = TypeVar("T")

_pack_command: Any
_hiredis: Any
try:
    from hiredis import pack_command as _pack_command
except ImportError:  # commands are then encoded by _bulk alone
    _pack_command = None
try:
    from redis._parsers import hiredis as _hiredis
except ImportError:  # replies are then read through redis-py's read_response: see _Line
    _hiredis = None


class Call(NamedTuple):
    script: Script | None
    keys: Sequence[str]
    args: Sequence[Any]
    # True when running the call twice leaves Redis as running it once: only such a call is sent again
    # after a connection failed between the request and its reply.
    repeatable: bool = True
    # The key that decides which Redis Cluster node runs the call, when not its first key (see routing.py).
    route: str | None = None


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


def command(*args: Any, route: str | None = None) -> Call:
    return Call(None, (), args, True, route)


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
    if code in ("MOVED", "ASK"):
        message = (
            f"Redis at {describe(client)} is a node of a Redis Cluster, which serves a key on the node that "
            f"holds its hash slot: name the cluster as redis+cluster://host:port,host2:port2. Redis said: {reply}"
        )
    elif cause is None:
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
    for r in results:
        if isinstance(r, RedisError):
            break
    else:
        return results
    if all(isinstance(r, BusyLoadingError) for r in results):
        raise unavailable(client, results[0])
    return [refused(client, r) if isinstance(r, RedisError) else r for r in results]


def _first_error(results: list[Any]) -> None:
    for result in results:
        if isinstance(result, Exception):
            raise result


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
        # The two types nearly every argument has, without _encode's chain of isinstance checks.
        kind = type(value)
        if kind is str:
            data = value.encode("utf-8", "surrogateescape")
        elif kind is int:
            data = b"%d" % value
        else:
            data = _encode(value)
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def _command(args: tuple[Any, ...]) -> bytes:
    """RESP for one command: hiredis's encoder, in C, for what it encodes as ``_encode`` does; the rest
    (text with lone surrogates, enum members, values that cannot be sent) through ``_bulk``."""
    if _pack_command is not None:
        try:
            return bytes(_pack_command(args))
        except (TypeError, UnicodeEncodeError):
            pass
    return b"*%d\r\n" % len(args) + _bulk(args)


@lru_cache(maxsize=512)
def _script_head(sha: str, keys: tuple[str, ...]) -> bytes:
    return _bulk(("EVALSHA", sha, len(keys), *keys))


def pack(call: Call) -> bytes:
    """RESP for one call. Script calls reuse the encoded EVALSHA + keys prefix: the worker's hot path
    sends the same sixteen keys on every call, and redis-py's general encoder spends most of its time
    there."""
    args = tuple(call.args)
    if call.script is None:
        return _command(args)
    keys = tuple(call.keys)
    # The arguments as a command of their own, without its "*<count>" line.
    packed = _command(args)
    packed = packed[packed.index(b"\n") + 1 :]
    return b"*%d\r\n" % (3 + len(keys) + len(args)) + _script_head(call.script.sha, keys) + packed


def _scripts_of(calls: list[Call]) -> dict[str, Script]:
    return {c.script.name: c.script for c in calls if c.script is not None}


def _load(script: Script) -> bytes:
    return pack(Call(None, (), ("SCRIPT", "LOAD", script.source)))


# Redis-py's reply parser over hiredis, whose reader and stream the runner reads replies from directly
# (``_Line.read``); without it, replies are read through redis-py's ``read_response``.
_HIREDIS_PARSER: Any = getattr(_hiredis, "_AsyncHiredisParser", None)
_NOT_ENOUGH_DATA: Any = getattr(_hiredis, "NOT_ENOUGH_DATA", None)
# The most bytes one read takes off a socket (redis-py's default too).
_READ_SIZE = 65536
# Connections a runner keeps for itself, for calls that overlap (a worker's two finish calls, its fetch,
# its lock renewal); calls beyond these take one from the client's pool.
OWN_LINES = 4


class _SelectPoller:
    """``select.poll``'s one use here, where the platform has no poll (Windows)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def poll(self, timeout: float) -> list[int]:
        return select.select([self.fd], [], [], timeout)[0]


def _poller_of(writer: Any) -> Any:
    sock = writer.get_extra_info("socket") if writer is not None else None
    fd = sock.fileno() if sock is not None else -1
    if fd < 0:
        return None
    if not hasattr(select, "poll"):
        return _SelectPoller(fd)
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return poller


def _where(conn: Any) -> str:
    path = getattr(conn, "path", None)
    return str(path) if path else f"{getattr(conn, 'host', 'localhost')}:{getattr(conn, 'port', 6379)}"


class _Line:
    """One connection that the runner sends steps on, with what each step needs at hand: a poller on
    its socket, made once per socket, and one timer for all its reads.

    A step is one write and the reading of its replies. When redis-py reads with hiredis (the engine
    requires it), both go straight to the asyncio stream and the hiredis reader: redis-py's
    ``send_packed_command`` and ``read_response`` start a task and a timer per call to enforce the
    connection's ``socket_timeout``, which cost more than the rest of a call. Here a write that the
    socket takes whole needs no timer, and the reads share one (``_expire``): they fail with redis-py's
    ``TimeoutError`` as its reads would, when no byte came for ``socket_timeout`` seconds.
    """

    __slots__ = ("_deadline", "_fast", "_polled", "_poller", "_timer", "_waiting", "conn")

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self._fast = _NOT_ENOUGH_DATA is not None and type(conn._parser) is _HIREDIS_PARSER
        self._polled: Any = None  # the writer whose socket _poller watches
        self._poller: Any = None
        self._deadline = 0.0
        self._waiting: asyncio.StreamReader | None = None  # the stream a read waits on
        self._timer: asyncio.TimerHandle | None = None

    def closed_by_server(self) -> bool:
        """True when Redis has closed this idle connection (it restarted, or killed the client), or left
        bytes on it that nobody asked for. Sending on it would fail, and could not tell whether Redis
        received the request; checked first, the request is sent on a new connection instead."""
        conn = self.conn
        reader = conn._reader
        if reader is None:
            return False
        if reader.at_eof() or reader.exception() is not None:
            return True
        # The event loop may not have run since the server's FIN arrived: ask the socket itself.
        writer = conn._writer
        if writer is not self._polled:
            self._polled, self._poller = writer, _poller_of(writer)
        return self._poller is not None and bool(self._poller.poll(0))

    async def send(self, data: bytes) -> None:
        conn = self.conn
        if not self._fast:
            await conn.send_packed_command([data], check_health=False)
            return
        writer = conn._writer
        writer.write(data)
        if writer.transport.get_write_buffer_size():
            # Redis reads slower than this writes: wait for it, as long as redis-py would.
            timeout = conn.socket_timeout
            await (asyncio.wait_for(writer.drain(), timeout) if timeout else writer.drain())
        else:
            await writer.drain()  # raises when the connection is lost; waits for nothing otherwise

    async def read(self, replies: int) -> list[Any]:
        """The replies, each an error reply as its exception, as ``read_response`` would raise it."""
        conn = self.conn
        if not self._fast:
            return [await self._read_one() for _ in range(replies)]
        parser = conn._parser
        reader = parser._reader
        push = getattr(parser, "_hiredis_PushNotificationType", None)
        stream: asyncio.StreamReader = conn._reader
        timeout = conn.socket_timeout
        out: list[Any] = []
        try:
            while len(out) < replies:
                reply = reader.gets()
                while reply is _NOT_ENOUGH_DATA:
                    if timeout:
                        self._arm(stream, timeout)
                    data = await stream.read(_READ_SIZE)
                    if not data:
                        raise RedisConnectionError("Connection closed by server.")
                    reader.feed(data)
                    reply = reader.gets()
                if push is not None and isinstance(reply, push):
                    # A RESP3 push message (client tracking, maintenance notices) between replies: handed
                    # to redis-py, as its read_response does, and the reply read on.
                    await parser.handle_push_response(reply)
                    continue
                # As redis-py's parser: a connection error is raised, even as a pipeline's first reply.
                if isinstance(reply, RedisConnectionError):
                    self._kept(reply)
                elif isinstance(reply, list) and reply and isinstance(reply[0], RedisConnectionError):
                    reply = self._kept(reply[0])
                out.append(reply)
        except OSError as exc:
            raise RedisConnectionError(f"Error while reading from {_where(conn)} : {exc.args}") from exc
        finally:
            self._waiting = None
        return out

    @staticmethod
    def _kept(exc: RedisConnectionError) -> RedisConnectionError:
        """A connection error that Redis sent as its reply is kept as the reply; any other is raised."""
        if not _reply_error(exc):
            raise exc
        return exc

    async def _read_one(self) -> Any:
        try:
            return await self.conn.read_response()
        except ResponseError as exc:
            return exc
        except RedisConnectionError as exc:
            return self._kept(exc)

    def stop(self) -> None:
        """Cancels the read timer (the line is no longer used)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _arm(self, stream: asyncio.StreamReader, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        self._deadline = loop.time() + timeout
        self._waiting = stream
        if self._timer is None:
            self._timer = loop.call_at(self._deadline, self._expire)

    def _expire(self) -> None:
        """The read timer: fails the waiting read once no byte came for the timeout; while reads go on,
        it just moves to their deadline, so that a busy connection arms one timer per timeout."""
        self._timer = None
        stream = self._waiting
        if stream is None:
            return
        loop = asyncio.get_running_loop()
        if self._deadline - loop.time() > 0.001:
            self._timer = loop.call_at(self._deadline, self._expire)
            return
        stream.set_exception(RedisTimeoutError(f"Timeout reading from {_where(self.conn)}"))


class AsyncRunner:
    """Sends calls on connections of an asyncio client: one write and one read per step.

    The runner keeps a few connections for itself (``OWN_LINES``), so that calls made one after another
    (a request handler's adds) reuse one connection and calls that overlap (a worker's finish calls, its
    fetch) each have one ready; only calls beyond those take one from the pool. Checking a connection
    out of redis-py's pool costs more than the round trip it carries.

    A step whose connection fails is sent again on a new connection, for about a second
    (``RETRY_PAUSES``), when nothing reached Redis or every call of the step is ``repeatable``;
    otherwise ``OutcomeUnknown`` is raised at once.
    """

    def __init__(self, client: aredis.Redis) -> None:
        self.client = client
        self._lines: list[_Line] = []
        self._idle: list[_Line] = []

    async def _talk(self, line: _Line, data: bytes, replies: int) -> list[Any]:
        conn = line.conn
        try:
            await line.send(data)
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            # A failed write delivered no whole request: Redis carried out nothing.
            await conn.disconnect()
            raise unavailable(self.client, exc) from exc
        except BaseException:
            await conn.disconnect()
            raise
        try:
            return await line.read(replies)
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            await conn.disconnect()
            raise outcome_unknown(self.client, exc) from exc
        except BaseException:
            # Cancelled mid-exchange: the connection may hold unread replies.
            await conn.disconnect()
            raise

    async def _exchange(self, data: bytes, replies: int) -> list[Any]:
        if self._idle:
            line = self._idle.pop()
        elif len(self._lines) < OWN_LINES:
            line = _Line(self.client.connection_pool.make_connection())  # type: ignore[no-untyped-call]
            self._lines.append(line)
        else:
            return await self._exchange_pooled(data, replies)
        try:
            conn = line.conn
            if conn.is_connected and line.closed_by_server():
                await conn.disconnect()
            if not conn.is_connected:
                try:
                    await conn.connect()
                except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                    raise unavailable(self.client, exc) from exc
            return await self._talk(line, data, replies)
        finally:
            if line in self._lines:  # not closed meanwhile by aclose()
                self._idle.append(line)

    async def _exchange_pooled(self, data: bytes, replies: int) -> list[Any]:
        pool = self.client.connection_pool
        try:
            # The pool reconnects a connection that the server closed before handing it out.
            conn = await pool.get_connection()  # type: ignore[no-untyped-call]
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            raise unavailable(self.client, exc) from exc
        line = _Line(conn)
        try:
            return await self._talk(line, data, replies)
        finally:
            line.stop()
            await pool.release(conn)

    async def aclose(self) -> None:
        """Closes the runner's own connections (the client's pool is the client's to close)."""
        lines, self._lines, self._idle = self._lines, [], []
        for line in lines:
            line.stop()
            await line.conn.disconnect()

    async def _steps_once(self, calls: list[Call]) -> list[Any]:
        data = pack(calls[0]) if len(calls) == 1 else b"".join([pack(c) for c in calls])
        results = await self._exchange(data, len(calls))
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

    async def on_nodes(self, call: Call) -> dict[str, Any]:
        """``call`` (keyless: INFO, PING, CLIENT LIST, SCAN) on every primary, by node: its reply or its
        error. One entry here; a Redis Cluster's runner (routing.py) has one per primary."""
        (result,) = await self._steps([call])
        return {describe(self.client): result}

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


def talk_blocking(
    conn: Any,
    data: bytes,
    replies: int,
    not_sent: Callable[[BaseException], RedisUnavailable],
    lost: Callable[[BaseException], OutcomeUnknown],
) -> list[Any]:
    """One write and the reading of its replies on a blocking connection, each error reply as its
    exception; ``not_sent``/``lost`` make the error of a request that never reached Redis or whose reply
    was lost (the connection is then dropped)."""
    try:
        try:
            conn.send_packed_command([data], check_health=False)
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            conn.disconnect()
            raise not_sent(exc) from exc
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
        conn.disconnect()
        raise lost(exc) from exc
    except BaseException:
        conn.disconnect()
        raise


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
            return talk_blocking(
                conn, data, replies, lambda e: unavailable(self.client, e), lambda e: outcome_unknown(self.client, e)
            )
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
