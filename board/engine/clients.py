"""The engine's Redis clients, built in this one place from a URL or from a client whose settings they copy.

Three deployments: one server (``redis://``, ``rediss://``, ``unix://``), a primary watched by Sentinels
(``redis+sentinel://``: the client asks the Sentinels for the primary at each connect, so it follows a
failover) and a Redis Cluster (``redis+cluster://``: a ``RedisCluster`` the runners route calls on). Every
client decodes replies the engine's way (``_DECODE``) and is marked as the engine's (``is_ours``).
"""

from __future__ import annotations

import inspect
from typing import Any, cast

import redis
import redis.asyncio as aredis
import redis.asyncio.retry as aretry
import redis.asyncio.sentinel as asentinel
import redis.sentinel as ssentinel
from redis.asyncio.cluster import ClusterNode as AsyncClusterNode
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.asyncio.connection import parse_url as _parse_node_url
from redis.backoff import ExponentialBackoff
from redis.cluster import ClusterNode, RedisCluster
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ReadOnlyError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

from .urls import RedisTarget, parse_url

__all__ = [
    "AsyncClient",
    "Connection",
    "SyncClient",
    "async_client",
    "describe",
    "is_ours",
    "sync_client",
]

AsyncClient = aredis.Redis | AsyncRedisCluster
SyncClient = redis.Redis | RedisCluster
Connection = str | aredis.Redis | redis.Redis | AsyncRedisCluster | RedisCluster
# Replies are decoded as UTF-8; bytes that are not valid UTF-8 (a binary payload another program
# wrote) come through as lone surrogates instead of failing the whole reply.
_DECODE: dict[str, Any] = {
    "decode_responses": True,
    "encoding": "utf-8",
    "encoding_errors": "surrogateescape",
}
DEFAULT_URL = "redis://localhost:6379"
# A Sentinel that does not answer is skipped for the next one after this long (redis-py waits forever).
# Each is asked once, without redis-py's retries (seconds of back-off per Sentinel): the others are the
# redundancy, and the runners retry the whole connect.
SENTINEL_TIMEOUT = 2.0
# Connection settings that belong to one connection or pool, not to the deployment they reach.
_NOT_COPIED = ("retry", "connection_class", "parser_class", "connection_pool", "host", "port")


def _retry() -> Retry:
    return _sync_retry(2)


def _sync_retry(retries: int) -> Retry:
    return Retry(ExponentialBackoff(cap=0.5, base=0.05), retries)


def _aretry(retries: int = 2) -> aretry.Retry:
    return aretry.Retry(ExponentialBackoff(cap=0.5, base=0.05), retries)


_OURS = "_board_engine_client"


def is_ours(client: object) -> bool:
    """True for a client this module made (so it decodes replies the engine's way)."""
    return getattr(client, _OURS, False) is True


def _mark(client: Any) -> Any:
    setattr(client, _OURS, True)
    return client


# --- Sentinel ---------------------------------------------------------------------------------------
#
# redis-py's SentinelManagedConnection turns a READONLY reply into ConnectionError("The previous master is
# now a slave"), which the runners would report as OutcomeUnknown for a call Redis refused before doing
# anything. Ours keeps the reply (a retryable RedisRefused, see REFUSALS) and marks the connection stale:
# it then reports itself disconnected, and its next connect asks the Sentinels for the primary again.
# The runners read replies straight from hiredis's reader (connection._Line) as well as through
# read_response, so the mark is made where both pass: the reader's error factory.


def _note_readonly(conn: Any, error: Exception) -> Exception:
    if isinstance(error, ReadOnlyError):
        conn._board_stale = True
    return error


class _EngineSentinelConnection(asentinel.SentinelManagedConnection):
    _board_stale = False

    @property
    def is_connected(self) -> bool:
        return bool(super().is_connected) and not self._board_stale

    async def connect(self) -> None:
        if self._board_stale:
            await self.disconnect()
        await super().connect()  # type: ignore[no-untyped-call]

    async def disconnect(self, *args: Any, **kwargs: Any) -> None:
        # Cleared first: redis-py closes nothing on a connection that reports itself disconnected.
        self._board_stale = False
        await super().disconnect(*args, **kwargs)

    async def on_connect_check_health(self, check_health: bool = True) -> None:
        await super().on_connect_check_health(check_health=check_health)
        parser: Any = self._parser
        reader = getattr(parser, "_reader", None)
        if reader is not None and type(reader).__module__.startswith("hiredis"):
            import hiredis

            kwargs: dict[str, Any] = {"protocolError": redis.exceptions.InvalidResponse}
            kwargs["notEnoughData"] = _not_enough_data()
            if self.encoder.decode_responses:
                kwargs["encoding"] = self.encoder.encoding
                kwargs["errors"] = self.encoder.encoding_errors
            kwargs["replyError"] = lambda text: _note_readonly(self, parser.parse_error(text))
            parser._reader = hiredis.Reader(**kwargs)

    async def read_response(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await aredis.Connection.read_response(self, *args, **kwargs)
        except ReadOnlyError as exc:
            raise _note_readonly(self, exc) from None


class _EngineSentinelSSLConnection(_EngineSentinelConnection, aredis.SSLConnection):
    pass


def _not_enough_data() -> Any:
    from redis._parsers.hiredis import NOT_ENOUGH_DATA

    return NOT_ENOUGH_DATA


class _SyncEngineSentinelConnection(ssentinel.SentinelManagedConnection):
    _board_stale = False

    def connect(self) -> None:
        if self._board_stale:
            self.disconnect()
        super().connect()  # type: ignore[no-untyped-call]

    def disconnect(self, *args: Any, **kwargs: Any) -> None:
        self._board_stale = False
        super().disconnect(*args, **kwargs)  # type: ignore[no-untyped-call]

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return redis.Connection.read_response(self, *args, **kwargs)
        except ReadOnlyError as exc:
            raise _note_readonly(self, exc) from None


class _SyncEngineSentinelSSLConnection(_SyncEngineSentinelConnection, redis.SSLConnection):
    pass


def _where(sentinel: Any) -> str:
    kwargs = sentinel.connection_pool.connection_kwargs
    return f"{kwargs.get('host')}:{kwargs.get('port')}"


def _no_primary(service: str, errors: list[str]) -> asentinel.MasterNotFoundError:
    # redis-py's message holds the repr of every Sentinel client, settings and all: one line each instead.
    reasons = f" ({'; '.join(errors)})" if errors else ""
    return asentinel.MasterNotFoundError(f"no Sentinel names a primary for service {service!r}{reasons}")


class _Sentinels(asentinel.Sentinel):
    """Sentinels asked in turn for the service's primary, as redis-py's, with a readable failure."""

    async def discover_master(self, service_name: str) -> tuple[str, int]:
        errors = []
        for i, sentinel in enumerate(self.sentinels):
            try:
                masters: Any = await sentinel.sentinel_masters()
            except (RedisConnectionError, RedisTimeoutError) as exc:
                errors.append(f"Sentinel {_where(sentinel)}: {exc}")
                continue
            state = masters.get(service_name)
            if state and self.check_master_state(state, service_name):
                # The Sentinel that answered is asked first next time, as redis-py does.
                self.sentinels[0], self.sentinels[i] = sentinel, self.sentinels[0]
                return state["ip"], int(state["port"])
            errors.append(f"Sentinel {_where(sentinel)}: no primary known")
        raise _no_primary(service_name, errors)


class _SyncSentinels(ssentinel.Sentinel):
    def discover_master(self, service_name: str) -> tuple[str, int]:
        errors = []
        for i, sentinel in enumerate(self.sentinels):
            try:
                masters: Any = sentinel.sentinel_masters()
            except (RedisConnectionError, RedisTimeoutError) as exc:
                errors.append(f"Sentinel {_where(sentinel)}: {exc}")
                continue
            state = masters.get(service_name)
            if state and self.check_master_state(state, service_name):  # type: ignore[no-untyped-call]
                self.sentinels[0], self.sentinels[i] = sentinel, self.sentinels[0]
                return state["ip"], int(state["port"])
            errors.append(f"Sentinel {_where(sentinel)}: no primary known")
        raise _no_primary(service_name, errors)


class _SentinelRedis(aredis.Redis):
    """A client of the service's primary that closes its Sentinel clients with itself (each engine client
    has a Sentinel manager of its own)."""

    async def aclose(self, close_connection_pool: bool | None = None) -> None:
        await super().aclose(close_connection_pool)
        manager = getattr(self.connection_pool, "sentinel_manager", None)
        if manager is not None:
            await manager.aclose()


class _SyncSentinelRedis(redis.Redis):
    def close(self) -> None:
        super().close()
        manager: Any = getattr(self.connection_pool, "sentinel_manager", None)
        for client in getattr(manager, "sentinels", ()):
            client.close()


def _node_kwargs(target: RedisTarget) -> dict[str, Any]:
    """The data nodes' connection settings of a Sentinel or cluster URL, as redis-py reads a URL."""
    host, port = target.hosts[0]
    kwargs = dict(_parse_node_url(target.node_url(host, port)))
    for key in _NOT_COPIED:
        kwargs.pop(key, None)
    return kwargs


def _sentinel_kwargs(target: RedisTarget, data: dict[str, Any]) -> dict[str, Any]:
    kwargs: dict[str, Any] = {k: v for k, v in data.items() if k.startswith("socket_")}
    kwargs.setdefault("socket_timeout", SENTINEL_TIMEOUT)
    kwargs.setdefault("socket_connect_timeout", SENTINEL_TIMEOUT)
    if target.sentinel_password is not None:
        kwargs["password"] = target.sentinel_password
    if target.sentinel_username is not None:
        kwargs["username"] = target.sentinel_username
    if target.tls:
        kwargs["ssl"] = True
        kwargs.update({k: v for k, v in data.items() if k.startswith("ssl_")})
    return kwargs


class _SentinelSpec:
    """What a Sentinel-managed client is made of: the Sentinels, the service, the data nodes' settings."""

    def __init__(
        self,
        addresses: list[tuple[str, int]],
        service: str,
        sentinel_kwargs: dict[str, Any],
        data: dict[str, Any],
        *,
        tls: bool,
    ) -> None:
        self.addresses = addresses
        self.service = service
        self.sentinel_kwargs = sentinel_kwargs
        self.tls = bool(data.pop("ssl", False)) or tls
        self.data = data

    @classmethod
    def of_target(cls, target: RedisTarget) -> _SentinelSpec:
        data = _node_kwargs(target)
        return cls(list(target.hosts), target.service or "", _sentinel_kwargs(target, data), data, tls=target.tls)

    @classmethod
    def of_client(cls, client: aredis.Redis | redis.Redis) -> _SentinelSpec | None:
        pool: Any = client.connection_pool
        manager = getattr(pool, "sentinel_manager", None)
        if manager is None:
            return None
        addresses = [
            (s.connection_pool.connection_kwargs["host"], s.connection_pool.connection_kwargs["port"])
            for s in manager.sentinels
        ]
        data = {**manager.connection_kwargs, **pool.connection_kwargs}
        ssl_classes = (aredis.SSLConnection, redis.SSLConnection)
        tls = isinstance(pool.connection_class, type) and issubclass(pool.connection_class, ssl_classes)
        for key in _NOT_COPIED:
            data.pop(key, None)
        return cls(addresses, pool.service_name, dict(manager.sentinel_kwargs), data, tls=tls)

    def async_client(self, retry: aretry.Retry, extra: dict[str, Any]) -> aredis.Redis:
        manager = _Sentinels(self.addresses, sentinel_kwargs={**self.sentinel_kwargs, "retry": _aretry(0)})  # type: ignore[no-untyped-call]
        connection_class = _EngineSentinelSSLConnection if self.tls else _EngineSentinelConnection
        return manager.master_for(  # type: ignore[no-any-return]
            self.service,
            redis_class=_SentinelRedis,
            connection_class=connection_class,
            retry=retry,
            **{**self.data, **_DECODE, **extra},
        )

    def sync_client(self, extra: dict[str, Any]) -> redis.Redis:
        manager = _SyncSentinels(self.addresses, sentinel_kwargs={**self.sentinel_kwargs, "retry": _sync_retry(0)})  # type: ignore[no-untyped-call]
        connection_class = _SyncEngineSentinelSSLConnection if self.tls else _SyncEngineSentinelConnection
        return manager.master_for(  # type: ignore[no-any-return,no-untyped-call]
            self.service,
            redis_class=_SyncSentinelRedis,
            connection_class=connection_class,
            retry=_retry(),
            **{**self.data, **_DECODE, **extra},
        )


# --- Cluster ----------------------------------------------------------------------------------------


def _cluster_kwargs(kwargs: dict[str, Any], tls: bool) -> dict[str, Any]:
    """Connection settings as RedisCluster's constructor takes them (the asyncio one names each)."""
    out = {k: v for k, v in kwargs.items() if k not in _NOT_COPIED}
    out.pop("db", None)
    out.pop("event_dispatcher", None)  # one client's, as its pool
    if tls:
        out["ssl"] = True
    known = inspect.signature(AsyncRedisCluster.__init__).parameters
    return {k: v for k, v in out.items() if k in known}


def _cluster_of_client(client: AsyncRedisCluster | RedisCluster) -> tuple[list[tuple[str, int]], dict[str, Any]]:
    nodes = [(n.host, int(n.port)) for n in client.get_nodes()]
    if not nodes:  # an asyncio client not initialized yet knows its startup nodes only
        nodes = [(n.host, int(n.port)) for n in client.nodes_manager.startup_nodes.values()]
    kwargs = dict(client.get_connection_kwargs())
    connection_class = kwargs.get("connection_class")
    ssl_classes = (aredis.SSLConnection, redis.SSLConnection)
    tls = isinstance(connection_class, type) and issubclass(connection_class, ssl_classes)
    return nodes, _cluster_kwargs(kwargs, tls)


def _async_cluster(nodes: list[tuple[str, int]], kwargs: dict[str, Any], retries: int) -> AsyncRedisCluster:
    return AsyncRedisCluster(
        startup_nodes=[AsyncClusterNode(h, p) for h, p in nodes],
        retry=_aretry(retries),
        **{**kwargs, **_DECODE},
    )


def _sync_cluster(nodes: list[tuple[str, int]], kwargs: dict[str, Any]) -> RedisCluster:
    startup = [ClusterNode(h, p) for h, p in nodes]  # type: ignore[no-untyped-call]
    return RedisCluster(startup_nodes=startup, retry=_retry(), **{**kwargs, **_DECODE})


# --- Building ---------------------------------------------------------------------------------------


def _kwargs_of(client: aredis.Redis | redis.Redis) -> dict[str, Any]:
    kwargs = dict(client.connection_pool.connection_kwargs)
    for key in ("retry", "connection_class", "parser_class"):
        kwargs.pop(key, None)
    return kwargs


def async_client(connection: Connection | None, *, retries: int = 2, **extra: Any) -> aredis.Redis:
    """A new asyncio client; a given client lends its connection settings only.

    A cluster URL or client gives a ``RedisCluster``: typed as the plain client its callers keep and
    pass to ``runner_for``, whose runner routes calls on a cluster (routing.py)."""
    if connection is None:
        connection = DEFAULT_URL
    retry = _aretry(retries)
    if isinstance(connection, str):
        target = parse_url(connection)
        if target.kind == "sentinel":
            return _mark(_SentinelSpec.of_target(target).async_client(retry, extra))  # type: ignore[no-any-return]
        if target.kind == "cluster":
            kwargs = _cluster_kwargs({**_node_kwargs(target), **extra}, target.tls)
            return cast(aredis.Redis, _mark(_async_cluster(list(target.hosts), kwargs, retries)))
        return _mark(aredis.Redis.from_url(connection, retry=retry, **_DECODE, **extra))  # type: ignore[no-any-return]
    if isinstance(connection, AsyncRedisCluster | RedisCluster):
        nodes, kwargs = _cluster_of_client(connection)
        return cast(aredis.Redis, _mark(_async_cluster(nodes, {**kwargs, **extra}, retries)))
    if isinstance(connection, aredis.Redis | redis.Redis):
        spec = _SentinelSpec.of_client(connection)
        if spec is not None:
            return _mark(spec.async_client(retry, extra))  # type: ignore[no-any-return]
        return _mark(aredis.Redis(**{**_kwargs_of(connection), **_DECODE, **extra}, retry=retry))  # type: ignore[no-any-return]
    raise ValueError(f"connection: expected a redis URL or a redis client, got {connection!r}")


def sync_client(connection: Connection | None, **extra: Any) -> redis.Redis:
    """A new blocking client; a given client lends its connection settings only (a cluster: see
    ``async_client``)."""
    if connection is None:
        connection = DEFAULT_URL
    if isinstance(connection, str):
        target = parse_url(connection)
        if target.kind == "sentinel":
            return _mark(_SentinelSpec.of_target(target).sync_client(extra))  # type: ignore[no-any-return]
        if target.kind == "cluster":
            kwargs = _cluster_kwargs({**_node_kwargs(target), **extra}, target.tls)
            return cast(redis.Redis, _mark(_sync_cluster(list(target.hosts), kwargs)))
        return _mark(redis.Redis.from_url(connection, retry=_retry(), **_DECODE, **extra))  # type: ignore[no-any-return]
    if isinstance(connection, AsyncRedisCluster | RedisCluster):
        nodes, kwargs = _cluster_of_client(connection)
        return cast(redis.Redis, _mark(_sync_cluster(nodes, {**kwargs, **extra})))
    if isinstance(connection, aredis.Redis | redis.Redis):
        spec = _SentinelSpec.of_client(connection)
        if spec is not None:
            return _mark(spec.sync_client(extra))  # type: ignore[no-any-return]
        return _mark(redis.Redis(**{**_kwargs_of(connection), **_DECODE, **extra}, retry=_retry()))  # type: ignore[no-any-return]
    raise ValueError(f"connection: expected a redis URL or a redis client, got {connection!r}")


def describe(client: Any) -> str:
    """The deployment a client reaches, for messages: "localhost:6379", "unix:/path", "Sentinel service
    'mymaster' (primary h:p)" or "Redis Cluster h:p,h:p"."""
    if isinstance(client, AsyncRedisCluster | RedisCluster):
        nodes = [f"{n.host}:{n.port}" for n in client.nodes_manager.startup_nodes.values()]
        more = f" and {len(nodes) - 3} more" if len(nodes) > 3 else ""
        return "Redis Cluster " + ",".join(nodes[:3]) + more
    pool: Any = client.connection_pool
    service = getattr(pool, "service_name", None)
    if service is not None:
        address = getattr(pool, "master_address", None) or getattr(getattr(pool, "proxy", None), "master_address", None)
        primary = f"primary {address[0]}:{address[1]}" if address else "primary not known yet"
        return f"Sentinel service {service!r} ({primary})"
    kw = pool.connection_kwargs
    if "path" in kw:
        return f"unix:{kw['path']}"
    return f"{kw.get('host', 'localhost')}:{kw.get('port', 6379)}"
