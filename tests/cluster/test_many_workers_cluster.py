"""Many worker processes on a 3-primary cluster with queues spread over slots: queues ``{w1}``, ``{w2}``
and ``{w3}`` live on three different primaries (their hash tags' slots), 20,000 jobs are spread over them
and 8 real processes (tests/workers/counting_worker.py) each work all three. Each job is completed once,
by the process its hash names, and every process takes jobs of every queue.

The harness and the checks are tests/test_many_workers.py's; here they run through cluster clients.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator
from pathlib import Path

import pytest
from redis.cluster import ClusterNode, RedisCluster

from tests.servers import ClusterServers
from tests.test_many_workers import (
    PROCESSES,
    check_each_once,
    fill,
    names,
    resume,
    start_workers,
    stop_workers,
    wait_completed,
)

QUEUES = ["{w1}", "{w2}", "{w3}"]
JOBS = 20_000


def board_url(cluster: ClusterServers) -> str:
    return cluster.cluster_url()


@pytest.fixture
def raw(cluster: ClusterServers) -> Iterator[RedisCluster]:
    client = RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in cluster.startup_nodes], decode_responses=True
    )
    yield client
    client.close()


@pytest.mark.timeout(120)
async def test_eight_processes_complete_each_job_once_on_queues_over_three_primaries(
    cluster: ClusterServers, raw: RedisCluster, tmp_path: Path
) -> None:
    primaries = {cluster.primary_for(f"bull:{queue}:wait").port for queue in QUEUES}
    assert len(primaries) == 3, "the queues' slots are not on three primaries"
    url = board_url(cluster)
    sizes = {queue: JOBS // len(QUEUES) + (i < JOBS % len(QUEUES)) for i, queue in enumerate(QUEUES)}
    for queue, n in sizes.items():
        await fill(url, queue, n)
    procs = start_workers(url, PROCESSES, QUEUES, tmp_path)
    try:
        await resume(url, QUEUES)
        seconds = wait_completed(raw, QUEUES, JOBS, procs, timeout=90)
    finally:
        stop_workers(procs, tmp_path)
    total: collections.Counter[str] = collections.Counter()
    for queue, n in sizes.items():
        per_process = check_each_once(raw, queue, n)
        assert set(per_process) == set(names(PROCESSES)), f"{queue}: processes that took no job: {per_process}"
        total += per_process
    assert sum(total.values()) == JOBS
    print(
        f"{JOBS} jobs on {len(QUEUES)} primaries by {PROCESSES} processes in {seconds:.1f} s:",
        dict(sorted(total.items())),
    )
