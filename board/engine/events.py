"""``QueueEvents``: reads a queue's events stream (``<prefix>:<queue>:events``).

Use it to follow a queue live (``async for event in events``, or ``events.on("completed", fn)`` with
``await events.run()``), or to wait for one job's result: ``await job.wait_until_finished(events)``.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from . import ops
from .connection import Connection, _aretry, async_client, command, refused, unavailable
from .errors import JobFailedError, RedisUnavailable, WaitTimeoutError
from .keys import QueueKeys, check_cluster_queue, check_job_id
from .loops import next_pause
from .options import to_ms
from .routing import close_client, is_cluster, node_client, runner_for

log = logging.getLogger("board.events")


@dataclass(frozen=True)
class QueueEvent:
    """One entry of the events stream: its stream id, the event name and the other fields."""

    id: str
    event: str
    fields: dict[str, str]

    @property
    def job_id(self) -> str | None:
        return self.fields.get("jobId")

    @property
    def timestamp_ms(self) -> int:
        return int(self.id.split("-", 1)[0])


def _json(value: str | None) -> Any:
    if value is None:
        return None
    try:
        return json.loads(value)
    except (ValueError, RecursionError):
        return value


class QueueEvents:
    """Follows one queue's events stream, as BullMQ's ``QueueEvents`` does.

    :param queue_name: the queue whose ``<prefix>:<queue>:events`` stream is read.
    :param connection: a Redis URL, a ``redis.asyncio.Redis`` client, or None for localhost. The reader
        blocks on its connection, so it opens a client of its own (named ``<queue>:qe`` in CLIENT LIST).
    :param prefix: the key prefix the queue lives under (BullMQ's default ``bull``).
    :param last_event_id: where to start: ``"$"`` (default) for events written from now on, ``"0"``
        for the whole stream, or a stream id to go on after it.
    :param block_timeout: seconds one ``read`` waits for new events before it returns empty.

    Events are those BullMQ writes (``added``, ``waiting``, ``active``, ``progress``, ``completed``,
    ``failed``, ``delayed``, ``removed``, ``stalled``, ...), as ``QueueEvent`` objects. The stream is
    capped (the queue's ``maxLenEvents``), so a reader that falls far behind misses the oldest. Use it
    as an async context manager, or call ``close()``.
    """

    def __init__(
        self,
        queue_name: str,
        connection: Connection | None = None,
        *,
        prefix: str = "bull",
        last_event_id: str = "$",
        block_timeout: float = 5,
    ) -> None:
        self.keys = QueueKeys(prefix, queue_name)
        self.last_id = last_event_id
        self.block_ms = max(1, to_ms(block_timeout, "block_timeout"))
        # No retries: close() ends a blocked read by dropping the connection.
        self.client = async_client(connection, client_name=self.keys.client_name() + ":qe", retries=0)
        self._cluster: Any = None
        if is_cluster(self.client):
            check_cluster_queue(prefix, queue_name)
            # Calls are routed on a cluster client without the reader's name; the blocking reads go to a
            # plain client of the stream's node, made at the first read (_home).
            self._cluster = async_client(connection)
            self.client = async_client(None, client_name=self.keys.client_name() + ":qe", retries=0)
            self._runner = runner_for(self._cluster)
        else:
            self._runner = runner_for(self.client)
        self._homed = False
        self._rehome = False  # the first _home reads the slot map as the cluster client has it
        self._hooks: dict[str, list[Callable[..., Any]]] = {}
        self._waiters: dict[str, list[asyncio.Future[QueueEvent]]] = {}
        self._reader: asyncio.Task[None] | None = None
        self._hook_tasks: set[asyncio.Future[Any]] = set()
        self._closed = False

    def on(self, event: str, fn: Callable[[QueueEvent], Any]) -> None:
        """Calls ``fn(event)`` for each event of that name (``"*"`` for all) while ``run()`` reads."""
        self._hooks.setdefault(event, []).append(fn)

    async def read(self) -> list[QueueEvent]:
        """One blocking read: the events after the last one seen (waits up to ``block_timeout``)."""
        if self.last_id == "$":
            # Pin the position now, so that nothing written between two reads is missed.
            await self.read_position()
        if self._cluster is not None and not self._homed:
            await self._home()
        try:
            reply: Any = await self.client.xread({self.keys.events: self.last_id}, count=500, block=self.block_ms)
        except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
            self._homed = False
            raise unavailable(self.client, exc) from exc
        except ResponseError as exc:
            # On a cluster: MOVED after a failover or a reshard; the next read finds the new node.
            self._homed = False
            raise refused(self.client, exc) from exc
        out: list[QueueEvent] = []
        for _, entries in reply or []:
            for entry_id, fields in entries:
                self.last_id = entry_id
                out.append(QueueEvent(entry_id, fields.get("event", ""), fields))
        return out

    async def __aiter__(self) -> AsyncIterator[QueueEvent]:
        while not self._closed:
            for event in await self.read():
                yield event

    async def run(self) -> None:
        """Reads and dispatches events until ``close()``; survives Redis restarts."""
        pause = 0.0
        while not self._closed:
            try:
                events = await self.read()
                pause = 0.0
            except Exception as exc:
                if self._closed:
                    return
                log.warning("reading events of %s: %s", self.keys.queue_key, exc)
                pause = next_pause(pause)
                await asyncio.sleep(pause)
                continue
            for event in events:
                self._dispatch(event)

    def _dispatch(self, event: QueueEvent) -> None:
        for fn in [*self._hooks.get(event.event, ()), *self._hooks.get("*", ())]:
            try:
                result = fn(event)
                if inspect.isawaitable(result):
                    task = asyncio.ensure_future(result)
                    self._hook_tasks.add(task)
                    task.add_done_callback(self._hook_tasks.discard)
            except Exception:
                log.exception("events hook for %r raised", event.event)
        if event.event in ("completed", "failed") and event.job_id in self._waiters:
            for future in self._waiters.pop(event.job_id, []):
                if not future.done():
                    future.set_result(event)

    async def wait_for_job(self, job_id: str, timeout: float | None = None) -> Any:
        """The return value of a job once it completes; raises ``JobFailedError`` if it fails and
        ``WaitTimeoutError`` when ``timeout`` seconds pass first."""
        job_id = check_job_id(job_id)
        if self._reader is None or self._reader.done():
            if self.last_id == "$":
                await self.read_position()
            self._reader = asyncio.create_task(self.run())
        future: asyncio.Future[QueueEvent] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(job_id, []).append(future)
        # The job may have finished before we started listening: its hash says so.
        fields = await self._runner.run(ops.get_job(self.keys, job_id))
        if fields and fields.get("finishedOn"):
            self._forget(job_id, future)
            if "returnvalue" in fields:
                return _json(fields.get("returnvalue"))
            raise JobFailedError(job_id, fields.get("failedReason", ""))
        try:
            event = await asyncio.wait_for(future, timeout)
        except TimeoutError:
            self._forget(job_id, future)
            raise WaitTimeoutError(f"job {job_id!r} did not finish within {timeout} s") from None
        if event.event == "failed":
            raise JobFailedError(job_id, event.fields.get("failedReason", ""))
        return _json(event.fields.get("returnvalue"))

    async def _home(self) -> None:
        """On a cluster: the blocking reads go to a plain client of the node serving the stream (a
        cluster client would carry the reader's name to every node)."""
        try:
            client = await node_client(
                self._cluster,
                self.keys.events,
                refresh=self._rehome,
                client_name=self.keys.client_name() + ":qe",
                retry=_aretry(0),
            )
        except (RedisError, OSError) as exc:
            raise RedisUnavailable(f"Redis Cluster is unavailable: {exc}") from exc
        old, self.client, self._homed, self._rehome = self.client, client, True, True
        await close_client(old)

    async def read_position(self) -> None:
        info = await self._runner.call(command("XREVRANGE", self.keys.events, "+", "-", "COUNT", 1))
        self.last_id = info[0][0] if info else "0-0"

    def _forget(self, job_id: str, future: asyncio.Future[QueueEvent]) -> None:
        waiters = self._waiters.get(job_id, [])
        if future in waiters:
            waiters.remove(future)
        if not waiters:
            self._waiters.pop(job_id, None)

    async def close(self) -> None:
        """Stops reading. A blocked read is ended by dropping its connection, not by cancelling it:
        redis-py can be left waiting on a dead socket when a read is cancelled."""
        self._closed = True
        await self.client.connection_pool.disconnect()
        if self._reader is not None:
            done, _ = await asyncio.wait([self._reader], timeout=5)
            if not done:
                self._reader.cancel()
        await close_client(self.client)
        if self._cluster is not None:
            await close_client(self._cluster)

    async def __aenter__(self) -> QueueEvents:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
