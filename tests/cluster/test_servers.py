"""The test deployments themselves: a cluster shards keys over its primaries and serves again after losing
one; Sentinels name the replica as the new primary after the primary stops, and a client follows."""

from __future__ import annotations

import pytest
import redis
import redis.asyncio as aredis
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.sentinel import Sentinel

from tests.servers import ClusterServers, Node, SentinelServers
from tests.support import wait_for


def _cluster_client(cluster: ClusterServers) -> RedisCluster:
    nodes = [aredis.cluster.ClusterNode(host, port) for host, port in cluster.startup_nodes]
    return RedisCluster(startup_nodes=nodes, decode_responses=True)


def _replicated(replica: Node, key: str, value: str, *, cluster: bool) -> bool:
    with replica.client() as client:
        if cluster:
            # A cluster replica answers reads only on a connection that said READONLY.
            client.execute_command("READONLY")
        return bool(client.get(key) == value)


async def test_cluster_spreads_keys_over_primaries_and_reads_them_back(cluster: ClusterServers) -> None:
    keys: dict[int, str] = {}
    for i in range(100):
        key = f"{{tag{i}}}:k"
        keys.setdefault(cluster.primary_for(key).port, key)
    assert len(keys) == 3
    client = _cluster_client(cluster)
    try:
        for key in keys.values():
            await client.set(key, "v-" + key)
        for port, key in keys.items():
            assert await client.get(key) == "v-" + key
            assert cluster.node(port).call("GET", key) == "v-" + key
    finally:
        await client.aclose()


async def test_cluster_serves_again_after_losing_a_primary(cluster: ClusterServers) -> None:
    key = "{email}:wait"
    client = _cluster_client(cluster)
    try:
        await client.set(key, "before")
        primary = cluster.primary_for(key)
        (replica,) = cluster.replicas_of(primary)
        wait_for(lambda: _replicated(replica, key, "before", cluster=True), what="the write to reach the replica")

        stopped = cluster.stop_primary(key)
        assert stopped is primary
        promoted = cluster.wait_failover(stopped)
        assert promoted is replica
        assert cluster.primary_for(key) is replica

        # The same client finds the new primary by itself.
        assert await client.get(key) == "before"
        await client.set(key, "after")
        assert replica.call("GET", key) == "after"
    finally:
        await client.aclose()
    cluster.heal()
    assert cluster.replicas_of(replica) == [stopped]


async def test_sentinels_name_the_replica_after_the_primary_stops(sentinel: SentinelServers) -> None:
    watcher = Sentinel(
        sentinel.sentinel_addresses,
        sentinel_kwargs={"password": sentinel.sentinel_password},
        password=sentinel.password,
        decode_responses=True,
    )
    client = watcher.master_for(sentinel.service)
    try:
        primary = sentinel.primary()
        (replica,) = [node for node in sentinel.data if node is not primary]
        assert await watcher.discover_master(sentinel.service) == primary.address
        await client.set("k", "before")
        wait_for(lambda: _replicated(replica, "k", "before", cluster=False), what="the write to reach the replica")

        stopped = sentinel.stop_primary()
        assert stopped is primary
        assert sentinel.wait_failover(stopped) is replica
        assert await watcher.discover_master(sentinel.service) == replica.address

        # The same client, through the Sentinels, reaches the new primary.
        assert await client.get("k") == "before"
        await client.set("k", "after")
        assert replica.call("GET", "k") == "after"
    finally:
        await client.aclose()
        for node in watcher.sentinels:
            await node.aclose()
    sentinel.heal()
    assert sentinel.primary() is replica
    with stopped.client() as old:
        assert old.info("replication")["role"] == "slave"
        with pytest.raises(redis.ReadOnlyError):
            old.set("k", "x")
