"""Clients for a Redis Cluster, built from a ``redis+cluster://`` URL or copied from a given cluster client."""

from __future__ import annotations

import pytest
from redis.asyncio.cluster import ClusterNode as AsyncClusterNode
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import RedisCluster

from board.engine.clients import async_client, describe, is_ours, sync_client
from board.engine.connection import command
from board.engine.errors import RedisRefused
from board.engine.routing import close_client, runner_for
from tests.servers import ClusterServers


def _url(cluster: ClusterServers) -> str:
    return cluster.cluster_url(2)


async def test_a_cluster_url_gives_a_cluster_client_that_finds_every_node(cluster: ClusterServers) -> None:
    client = async_client(_url(cluster))
    blocking = sync_client(_url(cluster))
    try:
        assert isinstance(client, AsyncRedisCluster) and is_ours(client)
        assert isinstance(blocking, RedisCluster) and is_ours(blocking)
        first, second = cluster.startup_nodes[:2]
        assert describe(client) == f"Redis Cluster {first[0]}:{first[1]},{second[0]}:{second[1]}"
        # Keys of every primary, though only two nodes were named; replies decoded the engine's way.
        keys = {cluster.primary_for(f"{{t{i}}}").port: f"{{t{i}}}:k" for i in range(60)}
        assert len(keys) == 3
        for key in keys.values():
            await client.set(key, "é")
        for port, key in keys.items():
            assert blocking.get(key) == "é"
            assert cluster.node(port).call("GET", key) == "é"
    finally:
        await client.aclose()
        blocking.close()


async def test_a_given_cluster_client_lends_its_settings(cluster: ClusterServers) -> None:
    host, port = cluster.startup_nodes[0]
    given = AsyncRedisCluster(startup_nodes=[AsyncClusterNode(host, port)], client_name="theirs")
    await given.set("{a}:k", "v")
    copy = async_client(given)
    blocking = sync_client(given)
    try:
        assert isinstance(copy, AsyncRedisCluster) and copy is not given and is_ours(copy)
        assert await copy.get("{a}:k") == "v"  # not b"v": the engine's decoding, the given client's nodes
        assert blocking.get("{a}:k") == "v"
        assert await copy.client_getname() == "theirs"
    finally:
        await copy.aclose()
        await given.aclose()
        blocking.close()


async def test_a_plain_url_to_a_cluster_node_is_refused_with_the_cluster_form(cluster: ClusterServers) -> None:
    elsewhere = next(
        f"{{t{i}}}:k" for i in range(100) if cluster.primary_for(f"{{t{i}}}").port != cluster.nodes[0].port
    )
    queue_url = f"redis://127.0.0.1:{cluster.nodes[0].port}"
    client = async_client(queue_url)
    try:
        with pytest.raises(RedisRefused) as refused:
            await runner_for(client).call(command("SET", elsewhere, "v"))
    finally:
        await close_client(client)
    assert refused.value.code == "MOVED" and not refused.value.retryable
    assert "is a node of a Redis Cluster" in str(refused.value) and "redis+cluster://" in str(refused.value)
