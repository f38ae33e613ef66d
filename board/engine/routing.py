"""Running steps on a Redis Cluster: each call goes to the node that serves its key's hash slot.

A step's calls are grouped by node; each group is packed and sent on a connection of its node, the
groups at the same time, and the replies are put back in the step's order, so callers see what the
standalone runner gives them. Every queue's keys share one slot (``keys.check_cluster_queue``), so a
script call is routed by its first key and touches keys of that node only.

Redirections are calls Redis did not carry out, so they are sent again in the same attempt whether
or not they are ``repeatable``: MOVED (the slot map is updated, the call re-routed), ASK (``ASKING``
and the call on the target's connection), TRYAGAIN (short pauses). A node that cannot be reached or a
cluster that is down makes the calls of that node's group unavailable: the map is read again from a
live node and those calls alone follow the standalone runner's rules (``RETRY_PAUSES``).

``SyncClusterRunner`` is the blocking twin (groups sent one node after another). A blocking command
(the worker's BZPOPMIN, QueueEvents' XREAD) goes on a plain client of the key's node (``node_client``),
made again when that node fails or the slot moves.
"""

from __future__ import annotations

import asyncio
import inspect
import time
import weakref
from functools import lru_cache
from typing import Any, TypeGuard

import redis
import redis.asyncio as aredis
import redis.cluster
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.crc import key_slot
from redis.exceptions import (
    AskError,
    ClusterDownError,
    MovedError,
    NoScriptError,
    RedisError,
    SlotNotCoveredError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .connection import (
    _DECODE,
    REFUSALS,
    RETRY_PAUSES,
    AsyncRunner,
    Call,
    Connection,
    SyncRunner,
    _Line,
    _load,
    _mark,
    _scripts_of,
    async_client,
    is_ours,
    pack,
    reply_text,
    sync_client,
    talk_blocking,
)
from .errors import OutcomeUnknown, RedisRefused, RedisUnavailable

# Commands whose first argument is not a key: sent to the node of the step's other calls.
KEYLESS = frozenset({"PING", "INFO", "CLIENT", "SCAN", "SCRIPT", "CLUSTER", "TIME", "ECHO", "DBSIZE", "CONFIG"})
# Redirections followed within one attempt before the whole slot map is read again.
MAX_REDIRECTS = 5
TRY_AGAIN_PAUSE = 0.05


def is_cluster(client: object) -> TypeGuard[RedisCluster]:
    return isinstance(client, RedisCluster)


def is_sync_cluster(client: object) -> TypeGuard[redis.cluster.RedisCluster]:
    return isinstance(client, redis.cluster.RedisCluster)


def engine_client(connection: Connection | None) -> Any:
    """The asyncio client an engine object uses: a client of ours (a worker's) as it is, else a new one
    (``async_client``: a ``RedisCluster`` for a cluster URL or client)."""
    if isinstance(connection, aredis.Redis | RedisCluster) and is_ours(connection):
        return connection
    return async_client(connection)


def sync_engine_client(connection: Connection | None) -> Any:
    """The blocking twin of ``engine_client``."""
    if isinstance(connection, redis.Redis | redis.cluster.RedisCluster) and is_ours(connection):
        return connection
    return sync_client(connection)


@lru_cache(maxsize=4096)
def slot_of(key: str) -> int:
    return int(key_slot(key.encode("utf-8", "surrogateescape")))


def route_of(call: Call) -> str | None:
    """The key whose slot decides the node of ``call``; None for a command without a key."""
    if call.route is not None:
        return call.route
    if call.script is not None:
        return call.keys[0] if call.keys else None
    args = call.args
    if len(args) < 2:
        return None
    name = str(args[0]).upper()
    if name in KEYLESS:
        return None
    if name in ("EVAL", "EVALSHA"):
        return str(args[3]) if len(args) > 3 and int(args[2]) > 0 else None
    return str(args[1])


def node_unavailable(node: str, exc: BaseException) -> RedisUnavailable:
    return RedisUnavailable(f"Redis Cluster node {node} is unavailable: {exc}")


def node_outcome_unknown(node: str, exc: BaseException) -> OutcomeUnknown:
    return OutcomeUnknown(
        f"the connection to Redis Cluster node {node} failed after the request was sent ({exc}): "
        "Redis may or may not have carried it out, and it was not sent again because running it twice "
        "could repeat its effect; check the state before retrying"
    )


def node_refused(node: str, exc: Exception) -> RedisRefused:
    if isinstance(exc, RedisRefused):
        return exc
    code, reply = reply_text(exc)
    cause = REFUSALS.get(code)
    if cause is None:
        message = f"Redis Cluster node {node} answered with an error: {reply}"
    else:
        message = f"Redis Cluster node {node} refused the call because {cause}. Redis said: {reply}"
    return RedisRefused(message, reply=reply, code=code, retryable=cause is not None)


def group_by_node(nodes: Any, calls: list[Call], todo: list[int]) -> dict[Any, list[int]]:
    """The calls ``todo`` by the node that serves them (per ``nodes``, a NodesManager), in order; a call
    without a key goes with the others, or to the default node when the step has no key at all."""
    routes = [route_of(calls[i]) for i in todo]
    first = next((r for r in routes if r is not None), None)
    home = nodes.default_node if first is None else nodes.get_node_from_slot(slot_of(first))
    groups: dict[Any, list[int]] = {}
    for i, route in zip(todo, routes, strict=True):
        node = home if route is None else nodes.get_node_from_slot(slot_of(route))
        groups.setdefault(node, []).append(i)
    if len(groups) > 1 and None in routes:
        raise ValueError("a call without a key cannot share a step with calls on several cluster nodes")
    return groups


_NET_ERRORS = (RedisConnectionError, RedisTimeoutError, OSError)
_REDIRECTED = "Redis Cluster kept redirecting the calls (a slot is being migrated)"
_ASKING = pack(Call(None, (), ("ASKING",)))


class _Failed(Exception):
    """A node group's calls did not complete in this attempt (``error`` says why)."""

    def __init__(self, error: RedisUnavailable | OutcomeUnknown) -> None:
        super().__init__(str(error))
        self.error = error


class ClusterRunner(AsyncRunner):
    """``AsyncRunner`` over a ``RedisCluster``: the same calls, routed to the nodes that serve them."""

    def __init__(self, client: RedisCluster) -> None:
        super().__init__(client)  # type: ignore[arg-type]
        self.cluster = client
        self._stale = False
        self._line_of: weakref.WeakKeyDictionary[Any, _Line] = weakref.WeakKeyDictionary()

    async def _nodes_ready(self) -> None:
        try:
            if self._stale:
                self._stale = False
                await self.cluster.nodes_manager.initialize()
            else:
                await self.cluster.initialize()
        except (RedisError, OSError) as exc:
            self._stale = True
            raise RedisUnavailable(f"Redis Cluster is unavailable: {exc}") from exc

    def _groups(self, calls: list[Call], todo: list[int]) -> dict[ClusterNode, list[int]]:
        return group_by_node(self.cluster.nodes_manager, calls, todo)

    async def _on_node(self, node: ClusterNode, data: bytes, replies: int) -> list[Any]:
        """One write and its replies on a connection of ``node``."""
        conn = node.acquire_connection()
        line = self._line_of.get(conn)
        if line is None:
            # Kept with its connection: a line makes a poller per socket, which costs syscalls.
            line = self._line_of[conn] = _Line(conn)
        try:
            if conn.is_connected and line.closed_by_server():
                await conn.disconnect()
            if not conn.is_connected:
                try:
                    await conn.connect()  # type: ignore[no-untyped-call]
                except _NET_ERRORS as exc:
                    raise node_unavailable(node.name, exc) from exc
            try:
                await line.send(data)
            except _NET_ERRORS as exc:
                await conn.disconnect()
                raise node_unavailable(node.name, exc) from exc
            except BaseException:
                await conn.disconnect()
                raise
            try:
                return await line.read(replies)
            except _NET_ERRORS as exc:
                await conn.disconnect()
                raise node_outcome_unknown(node.name, exc) from exc
            except BaseException:
                await conn.disconnect()
                raise
        finally:
            line.stop()
            node.release(conn)

    async def _group(self, node: ClusterNode, calls: list[Call]) -> list[Any]:
        """The replies of ``calls`` on ``node``; scripts the node lacks (a new primary after a failover:
        script caches are not replicated) are loaded there and those calls alone sent again."""
        try:
            results = await self._on_node(node, b"".join([pack(c) for c in calls]), len(calls))
            missing = [i for i, r in enumerate(results) if isinstance(r, NoScriptError)]
            if missing:
                scripts = _scripts_of([calls[i] for i in missing])
                await self._on_node(node, b"".join(_load(sc) for sc in scripts.values()), len(scripts))
                again = await self._on_node(node, b"".join(pack(calls[i]) for i in missing), len(missing))
                for i, result in zip(missing, again, strict=True):
                    results[i] = result
        except (RedisUnavailable, OutcomeUnknown) as exc:
            raise _Failed(exc) from exc
        return results

    async def _asking(self, error: AskError, call: Call) -> Any:
        """``call`` on the node a migrating slot's key moved to: ASKING must precede it on the same
        connection."""
        node = self.cluster.nodes_manager.get_node(host=error.host, port=error.port)
        if node is None:
            node = ClusterNode(error.host, error.port, **self.cluster.nodes_manager.connection_kwargs)
        asking = _ASKING + pack(call)
        try:
            _, reply = await self._on_node(node, asking, 2)
            if isinstance(reply, NoScriptError) and call.script is not None:
                await self._on_node(node, _load(call.script), 1)
                _, reply = await self._on_node(node, asking, 2)
        except (RedisUnavailable, OutcomeUnknown) as exc:
            raise _Failed(exc) from exc
        return reply

    async def _attempt(self, calls: list[Call], todo: list[int], results: list[Any]) -> list[_Failed]:
        """Sends the calls ``todo`` and fills ``results``; what failed, its calls left in ``todo``."""
        held: list[int] = []
        failed: list[_Failed] = []
        send = list(todo)
        redirects = 0
        while send:
            try:
                groups = self._groups(calls, send)
            except SlotNotCoveredError as exc:
                self._stale = True
                raise RedisUnavailable(f"Redis Cluster does not serve every slot: {exc}") from exc
            outs: list[Any]
            if len(groups) == 1:  # a step of one queue, as nearly every step is: no tasks to gather
                ((node, idxs),) = groups.items()
                try:
                    outs = [await self._group(node, [calls[i] for i in idxs])]
                except _Failed as exc:
                    outs = [exc]
            else:
                outs = await asyncio.gather(
                    *(self._group(node, [calls[i] for i in idxs]) for node, idxs in groups.items()),
                    return_exceptions=True,
                )
            again: list[int] = []
            pause = False
            for (node, idxs), out in zip(groups.items(), outs, strict=True):
                if isinstance(out, _Failed):
                    self._stale = True
                    self.cluster.nodes_manager.move_node_to_end_of_cached_nodes(node.name)
                    failed.append(out)
                    held.extend(idxs)
                    continue
                if isinstance(out, BaseException):
                    raise out
                pause = await self._take(node, idxs, out, calls, results, again, held, failed) or pause
            if again:
                redirects += 1
                if redirects > MAX_REDIRECTS:
                    self._stale = True
                    held.extend(again)
                    failed.append(_Failed(RedisUnavailable(_REDIRECTED)))
                    break
                if pause:
                    await asyncio.sleep(TRY_AGAIN_PAUSE)
            send = again
        todo[:] = sorted(held)
        return failed

    async def _take(
        self,
        node: ClusterNode,
        idxs: list[int],
        replies: list[Any],
        calls: list[Call],
        results: list[Any],
        again: list[int],
        held: list[int],
        failed: list[_Failed],
    ) -> bool:
        """Puts a group's replies in ``results``, the calls to redirect in ``again`` and those of a cluster
        that is down in ``held``; True when one asked for a pause (TRYAGAIN)."""
        pause = False
        for i, reply in zip(idxs, replies, strict=True):
            if isinstance(reply, MovedError):
                await self.cluster.nodes_manager.move_slot(reply)
                again.append(i)
            elif isinstance(reply, AskError):
                try:
                    asked = await self._asking(reply, calls[i])
                except _Failed as exc:
                    failed.append(exc)
                    held.append(i)
                    continue
                if isinstance(asked, TryAgainError):
                    # Some of the call's keys are still on the source: asked again once moved.
                    again.append(i)
                    pause = True
                    continue
                where = f"{reply.host}:{reply.port}"
                results[i] = node_refused(where, asked) if isinstance(asked, RedisError) else asked
            elif isinstance(reply, TryAgainError):
                again.append(i)
                pause = True
            elif isinstance(reply, ClusterDownError):
                self._stale = True
                failed.append(_Failed(node_unavailable(node.name, reply)))
                held.append(i)
            else:
                results[i] = node_refused(node.name, reply) if isinstance(reply, RedisError) else reply
        return pause

    async def _steps(self, calls: list[Call]) -> list[Any]:
        results: list[Any] = [None] * len(calls)
        todo = list(range(len(calls)))
        failed: list[_Failed] = []
        for pause in (*RETRY_PAUSES, None):
            try:
                await self._nodes_ready()
                failed = await self._attempt(calls, todo, results)
            except RedisUnavailable as exc:
                failed = [_Failed(exc)]
            if not todo:
                return results
            for f in failed:
                if isinstance(f.error, OutcomeUnknown) and not all(calls[i].repeatable for i in todo):
                    raise f.error
            if pause is not None:
                await asyncio.sleep(pause)
        error = failed[0].error if failed else RedisUnavailable("Redis Cluster is unavailable")
        if isinstance(error, OutcomeUnknown):
            raise RedisUnavailable(str(error)) from error
        raise error

    async def on_nodes(self, call: Call) -> dict[str, Any]:
        """``call`` on every primary at once, by node name: each reply or that node's error (the
        engine's: ``RedisUnavailable`` for a node out of reach); raises when no primary answered."""
        await self._nodes_ready()
        primaries = self.cluster.nodes_manager.get_nodes_by_server_type("primary")
        outs = await asyncio.gather(*(self._group(node, [call]) for node in primaries), return_exceptions=True)
        replies: dict[str, Any] = {}
        for node, out in zip(primaries, outs, strict=True):
            if isinstance(out, _Failed):
                self._stale = True
                replies[node.name] = out.error
            elif isinstance(out, BaseException):
                raise out
            else:
                reply = out[0]
                replies[node.name] = node_refused(node.name, reply) if isinstance(reply, RedisError) else reply
        if replies and all(isinstance(r, RedisUnavailable | OutcomeUnknown) for r in replies.values()):
            raise next(iter(replies.values()))
        return replies

    async def on_node(self, name: str, call: Call) -> Any:
        """``call`` on the node ``name`` (as ``on_nodes`` names it), for what goes on per node: a SCAN
        cursor. Raises as ``call`` does."""
        await self._nodes_ready()
        node = self.cluster.nodes_manager.get_node(node_name=name)
        if node is None:
            raise RedisUnavailable(f"Redis Cluster has no node {name} now")
        try:
            (reply,) = await self._group(node, [call])
        except _Failed as exc:
            self._stale = True
            raise exc.error from exc
        if isinstance(reply, RedisError):
            raise node_refused(name, reply)
        return reply

    async def aclose(self) -> None:
        """Nothing of its own: connections belong to the cluster client's nodes."""


class SyncClusterRunner(SyncRunner):
    """The blocking twin of ``ClusterRunner``: the groups of a step are sent one node after another."""

    def __init__(self, client: redis.cluster.RedisCluster) -> None:
        super().__init__(client)  # type: ignore[arg-type]
        self.cluster = client
        self._stale = False

    def _on_node(self, node: Any, data: bytes, replies: int) -> list[Any]:
        try:
            pool = self.cluster.get_redis_connection(node).connection_pool
            conn = pool.get_connection()
        except (RedisError, OSError) as exc:
            raise node_unavailable(node.name, exc) from exc
        try:
            name = node.name
            return talk_blocking(
                conn, data, replies, lambda e: node_unavailable(name, e), lambda e: node_outcome_unknown(name, e)
            )
        finally:
            pool.release(conn)

    def _group(self, node: Any, calls: list[Call]) -> list[Any]:
        results = self._on_node(node, b"".join([pack(c) for c in calls]), len(calls))
        missing = [i for i, r in enumerate(results) if isinstance(r, NoScriptError)]
        if missing:
            scripts = _scripts_of([calls[i] for i in missing])
            self._on_node(node, b"".join(_load(sc) for sc in scripts.values()), len(scripts))
            again = self._on_node(node, b"".join(pack(calls[i]) for i in missing), len(missing))
            for i, result in zip(missing, again, strict=True):
                results[i] = result
        return results

    def _asking(self, error: AskError, call: Call) -> Any:
        node = self.cluster.nodes_manager.get_node(host=error.host, port=error.port)
        if node is None:
            raise node_unavailable(f"{error.host}:{error.port}", error)
        _, reply = self._on_node(node, _ASKING + pack(call), 2)
        if isinstance(reply, NoScriptError) and call.script is not None:
            self._on_node(node, _load(call.script), 1)
            _, reply = self._on_node(node, _ASKING + pack(call), 2)
        return reply

    def _attempt(self, calls: list[Call], todo: list[int], results: list[Any]) -> None:
        """Sends the calls ``todo``, group after group, and fills ``results``; when a group fails, raises
        with the calls that did not complete left in ``todo``."""
        done: set[int] = set()
        try:
            self._send(calls, list(todo), results, done)
        finally:
            todo[:] = [i for i in todo if i not in done]

    def _send(self, calls: list[Call], send: list[int], results: list[Any], done: set[int]) -> None:
        redirects = 0
        while send:
            try:
                groups = group_by_node(self.cluster.nodes_manager, calls, send)
            except SlotNotCoveredError as exc:
                self._stale = True
                raise RedisUnavailable(f"Redis Cluster does not serve every slot: {exc}") from exc
            again: list[int] = []
            pause = False
            for node, idxs in groups.items():
                try:
                    replies = self._group(node, [calls[i] for i in idxs])
                except (RedisUnavailable, OutcomeUnknown):
                    self._stale = True
                    self.cluster.nodes_manager.move_node_to_end_of_cached_nodes(node.name)
                    raise
                pause = self._take(node, idxs, replies, calls, results, done, again) or pause
            if again:
                redirects += 1
                if redirects > MAX_REDIRECTS:
                    self._stale = True
                    raise RedisUnavailable(_REDIRECTED)
                if pause:
                    time.sleep(TRY_AGAIN_PAUSE)
            send = again

    def _take(
        self,
        node: Any,
        idxs: list[int],
        replies: list[Any],
        calls: list[Call],
        results: list[Any],
        done: set[int],
        again: list[int],
    ) -> bool:
        """As ``ClusterRunner._take``; a cluster that is down raises."""
        pause = False
        for i, reply in zip(idxs, replies, strict=True):
            if isinstance(reply, MovedError | TryAgainError):
                if isinstance(reply, MovedError):
                    self.cluster.nodes_manager.move_slot(reply)
                else:
                    pause = True
                again.append(i)
                continue
            if isinstance(reply, ClusterDownError):
                self._stale = True
                raise node_unavailable(node.name, reply)
            where = node.name
            if isinstance(reply, AskError):
                where, reply = f"{reply.host}:{reply.port}", self._asking(reply, calls[i])
                if isinstance(reply, TryAgainError):
                    pause = True
                    again.append(i)
                    continue
            results[i] = node_refused(where, reply) if isinstance(reply, RedisError) else reply
            done.add(i)
        return pause

    def _steps(self, calls: list[Call]) -> list[Any]:
        results: list[Any] = [None] * len(calls)
        todo = list(range(len(calls)))
        error: RedisUnavailable | OutcomeUnknown = RedisUnavailable("Redis Cluster is unavailable")
        for pause in (*RETRY_PAUSES, None):
            try:
                if self._stale:
                    self._stale = False
                    self.cluster.nodes_manager.initialize()
                self._attempt(calls, todo, results)
                return results
            except (RedisUnavailable, OutcomeUnknown) as exc:
                if isinstance(exc, OutcomeUnknown) and not all(calls[i].repeatable for i in todo):
                    raise
                error = exc
            except (RedisError, OSError) as exc:
                self._stale = True
                error = RedisUnavailable(f"Redis Cluster is unavailable: {exc}")
            if pause is not None:
                time.sleep(pause)
        if isinstance(error, OutcomeUnknown):
            raise RedisUnavailable(str(error)) from error
        raise error


_RUNNERS: weakref.WeakKeyDictionary[Any, AsyncRunner] = weakref.WeakKeyDictionary()


def runner_for(client: aredis.Redis) -> AsyncRunner:
    """The one runner of a client (a cluster client's routes its calls), so that every object sharing the
    client shares its connections."""
    runner = _RUNNERS.get(client)
    if runner is None:
        runner = _RUNNERS[client] = AsyncRunner(client) if isinstance(client, aredis.Redis) else ClusterRunner(client)
    return runner


async def close_client(client: aredis.Redis) -> None:
    runner = _RUNNERS.pop(client, None)
    if runner is not None:
        await runner.aclose()
    await client.aclose()


def sync_runner_for(client: redis.Redis | redis.cluster.RedisCluster) -> SyncRunner:
    return SyncClusterRunner(client) if isinstance(client, redis.cluster.RedisCluster) else SyncRunner(client)


async def node_client(cluster: RedisCluster, key: str, *, refresh: bool = False, **extra: Any) -> aredis.Redis:
    """A plain client to the primary that serves ``key`` (for a blocking call, whose connection carries
    a name: a cluster client would open it on every node); ``refresh``: the slot map is read again
    first (the node failed or the slot moved)."""
    await cluster.initialize()
    if refresh:
        await cluster.nodes_manager.initialize()
    node = cluster.nodes_manager.get_node_from_slot(slot_of(key))
    accepted = inspect.signature(aredis.Redis.__init__).parameters
    kwargs = {
        k: v
        for k, v in node.connection_kwargs.items()
        if k in accepted and k not in ("retry", "connection_class", "event_dispatcher")
    }
    kwargs.update(_DECODE)
    kwargs.update(extra)
    return _mark(aredis.Redis(**kwargs))  # type: ignore[no-any-return]
