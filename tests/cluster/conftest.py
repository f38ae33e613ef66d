"""A Redis Cluster and a Sentinel deployment for the whole test run, started on first use.

Tests get them whole and empty: a test that stopped a node is followed by a restart of it (``heal``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.servers import ClusterServers, SentinelServers

DATA_PASSWORD = "data-secret"
SENTINEL_PASSWORD = "sentinel-secret"


@pytest.fixture(scope="session")
def cluster_servers() -> Iterator[ClusterServers]:
    with ClusterServers() as servers:
        yield servers


@pytest.fixture
def cluster(cluster_servers: ClusterServers) -> ClusterServers:
    """Three primaries with a replica each, every node running and no keys."""
    cluster_servers.heal()
    cluster_servers.flushall()
    return cluster_servers


@pytest.fixture(scope="session")
def sentinel_servers() -> Iterator[SentinelServers]:
    with SentinelServers(password=DATA_PASSWORD, sentinel_password=SENTINEL_PASSWORD) as servers:
        yield servers


@pytest.fixture
def sentinel(sentinel_servers: SentinelServers) -> SentinelServers:
    """A primary and a replica behind three Sentinels (passwords on both), every node running, no keys."""
    sentinel_servers.heal()
    sentinel_servers.flushall()
    return sentinel_servers
