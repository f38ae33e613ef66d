"""The engine and the board on a Sentinel deployment: built from a ``redis+sentinel://`` URL or a given
Sentinel-managed client, they name the service and its primary, keep a READONLY reply a refusal to retry,
and follow a failover without a restart."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import redis
import redis.asyncio.sentinel as asentinel
import redis.sentinel as ssentinel
from starlette.testclient import TestClient

from bench.failover import QUEUE, run_failover
from board import create_board
from board.engine.clients import async_client, describe, is_ours, sync_client
from board.engine.connection import _Line, command, pack, refused
from board.engine.errors import RedisRefused, RedisUnavailable
from board.engine.queue import Queue
from board.engine.routing import close_client, runner_for
from board.engine.sync_queue import SyncQueue
from tests.servers import SentinelServers

ROOT = Path(__file__).resolve().parent.parent.parent

JSON = {"Accept": "application/json"}


def _replica(sentinel: SentinelServers) -> tuple[str, int]:
    primary = sentinel.primary()
    (replica,) = [node for node in sentinel.data if node is not primary]
    return replica.address


async def test_a_sentinel_url_gives_a_client_of_the_services_primary(sentinel: SentinelServers) -> None:
    primary = sentinel.primary()
    async with Queue("email", connection=sentinel.url) as queue:
        job = await queue.add("welcome", {"to": "a@example.com"})
        assert describe(queue.client) == f"Sentinel service 'mymaster' (primary {primary.address[0]}:{primary.port})"
        # The job is on the primary the Sentinels name, under the database of the URL.
        assert primary.call("HGET", f"bull:email:{job.id}", "name") == "welcome"
    with SyncQueue("email", connection=sentinel.url) as same:
        assert same.get_job_counts("wait") == {"wait": 1}
        assert "Sentinel service 'mymaster'" in describe(same.client)


async def test_a_given_sentinel_client_lends_its_settings(sentinel: SentinelServers) -> None:
    watcher = asentinel.Sentinel(
        sentinel.sentinel_addresses,
        sentinel_kwargs={"password": sentinel.sentinel_password},
        password=sentinel.password,
    )
    given = watcher.master_for(sentinel.service)
    copy = async_client(given)
    try:
        assert is_ours(copy) and copy is not given
        assert await runner_for(copy).call(command("SET", "k", "é")) == "OK"
        assert await runner_for(copy).call(command("GET", "k")) == "é"  # decoded the engine's way
        assert describe(copy).startswith("Sentinel service 'mymaster' (primary ")
    finally:
        await copy.aclose()
        await given.aclose()
        await watcher.aclose()
    blocking = ssentinel.Sentinel(
        sentinel.sentinel_addresses,
        sentinel_kwargs={"password": sentinel.sentinel_password},
        password=sentinel.password,
    ).master_for(sentinel.service)
    sync_copy = sync_client(blocking)
    try:
        assert sync_copy.get("k") == "é"
    finally:
        sync_copy.close()
        blocking.close()


async def test_sentinels_that_refuse_are_each_named_in_one_line(sentinel: SentinelServers) -> None:
    url = sentinel.url.replace(f"sentinel_password={sentinel.sentinel_password}", "sentinel_password=wrong")
    client = async_client(url, retries=0)
    try:
        with pytest.raises(RedisUnavailable) as unavailable:
            await runner_for(client).call(command("PING"))
    finally:
        await close_client(client)
    message = str(unavailable.value)
    assert "Sentinel service 'mymaster'" in message and "no Sentinel names a primary" in message
    for host, port in sentinel.sentinel_addresses:
        assert f"Sentinel {host}:{port}: invalid username-password pair" in message
    assert "wrong" not in message and "\n" not in message and "ConnectionPool" not in message


async def test_readonly_is_a_refusal_and_the_next_connect_asks_the_sentinels(sentinel: SentinelServers) -> None:
    """A connection still on a demoted primary (here: put on the replica) gets READONLY: the call is a
    retryable refusal, not a lost reply, and the connection's next connect goes to the primary."""
    client = async_client(sentinel.url)
    primary = sentinel.primary()
    try:
        for fast in (True, False):
            conn = client.connection_pool.make_connection()
            await conn.connect_to(_replica(sentinel))
            line = _Line(conn)
            line._fast = line._fast and fast  # both ways the runners read replies
            await line.send(pack(command("SET", "k", "v")))
            (reply,) = await line.read(1)
            line.stop()
            error = refused(client, reply)
            assert isinstance(error, RedisRefused) and error.code == "READONLY" and error.retryable
            assert not conn.is_connected
            await conn.connect()
            assert (conn.host, conn.port) == primary.address
            await conn.send_command("SET", "k", "v")
            assert await conn.read_response() == "OK"
            await conn.disconnect()
    finally:
        await client.aclose()

    blocking = sync_client(sentinel.url)
    try:
        conn = blocking.connection_pool.make_connection()
        conn.connect_to(_replica(sentinel))  # type: ignore[attr-defined]
        conn.send_command("SET", "k", "v")
        with pytest.raises(redis.ReadOnlyError):
            conn.read_response()
        conn.connect()
        assert (conn.host, conn.port) == primary.address  # type: ignore[attr-defined]
        conn.disconnect()
    finally:
        blocking.close()


def _completed_on_board(client: TestClient) -> int:
    response = client.get("/", headers=JSON)
    assert response.status_code == 200, response.text
    (row,) = [q for q in response.json()["queues"] if q["name"] == QUEUE]
    return int(row["counts"]["completed"])


async def test_producer_worker_and_board_follow_a_failover(sentinel: SentinelServers) -> None:
    app = create_board(sentinel.url, queues=[QUEUE], secret_key="sentinel-tests-secret-0123456789")
    with TestClient(app) as board:
        assert (await asyncio.to_thread(board.get, "/", headers=JSON)).status_code == 200
        report = await run_failover(sentinel.url, sentinel.stop_primary, sentinel.wait_failover, before=1.0)
        # The board answers again, from the new primary, with what the worker did there.
        completed = await asyncio.to_thread(_completed_on_board, board)
    assert report.unexpected == [], report.unexpected
    assert set(report.refusals) <= {"RedisUnavailable", "RedisRefused READONLY", "RedisRefused LOADING"}
    assert report.first_add is not None and report.first_job is not None
    # Every acknowledged add either ran or was lost in the replication window; none is stuck.
    assert report.stuck == []
    assert set(report.acknowledged) == set(report.completed) | set(report.lost)
    assert len(report.lost) <= 5
    # A job runs twice only when it was running at the kill.
    assert report.twice_not_running_at_kill() == []
    assert completed == len(report.completed)
