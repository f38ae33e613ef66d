"""The board over a real Redis Cluster (3 primaries, 3 replicas): queues named with a hash tag are found by
scanning every primary and read on the node that serves their slot, their workers found on that node; a
queue page and its actions work; the Redis page shows each primary; and a queue another program wrote
without a hash tag shows as that queue's error instead of failing the page."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from starlette.testclient import TestClient

from board import SyncQueue, create_board
from board.adapters import BullMQAdapter
from board.adapters.alerting import RedisAlertStore, RedisObserver
from tests.servers import ClusterServers
from tests.support import wait_for
from tests.web.conftest import JSON, SECRET, ThreadWorker

EMAIL, SMS = "{email}", "{sms}"


def _url(cluster: ClusterServers) -> str:
    # Two of the six nodes: the client finds the others.
    return cluster.cluster_url(2)


def _path(queue: str) -> str:
    return "/queues/" + quote(queue, safe="")


@pytest.fixture
def board(cluster: ClusterServers) -> Iterator[TestClient]:
    """A board that discovers its queues, made after the test's data is written (see ``_fill``)."""
    app = create_board(_url(cluster), discover=True, secret_key=SECRET)
    with TestClient(app) as client:
        try:
            yield client
        finally:
            assert client.portal is not None
            client.portal.call(app.state.board.adapter.close)


@pytest.fixture
def filled(cluster: ClusterServers) -> ClusterServers:
    """``{email}``: 3 waiting jobs; ``{sms}``: 1 delayed; ``legacy``: another program's queue without a
    hash tag (its meta hash alone, on the node of its slot)."""
    assert cluster.primary_for(EMAIL).port != cluster.primary_for(SMS).port
    with SyncQueue(EMAIL, _url(cluster)) as email, SyncQueue(SMS, _url(cluster)) as sms:
        for i in range(3):
            email.add("send", {"i": i})
        sms.add("text", {}, delay=600_000)
    legacy = cluster.primary_for("bull:legacy:meta")
    legacy.call("HSET", "bull:legacy:meta", "opts.maxLenEvents", "10000")
    return cluster


def test_the_overview_lists_the_queues_of_every_primary_with_their_figures_and_workers(
    filled: ClusterServers, board: TestClient
) -> None:
    with ThreadWorker(_url(filled), SMS):
        rows = {q["name"]: q for q in board.get("/", headers=JSON).json()["queues"]}
        assert set(rows) == {EMAIL, SMS, "legacy"}
        assert rows[EMAIL]["counts"]["waiting"] == 3 and rows[EMAIL]["error"] is None
        assert rows[SMS]["counts"]["delayed"] == 1 and rows[SMS]["counts"]["waiting"] == 0
        # The worker's connection is on the node of {sms}'s slot, and counted there only.
        assert len(rows[SMS]["workers"]) == 1 and rows[EMAIL]["workers"] == []
        # Refused before any read, in words that say how to fix it.
        assert "would spread its keys over the cluster's hash slots" in rows["legacy"]["error"]
        assert rows["legacy"]["counts"]["waiting"] == 0

        page = board.get("/")
        assert page.status_code == 200
        assert "would spread its keys over the cluster" in page.text.replace("&#39;", "'")
        metrics = board.get("/metrics").text
        assert f'bullmq_job_count{{queue="{EMAIL}",state="waiting"}} 3.0' in metrics
        assert f'bullmq_queue_workers{{queue="{SMS}"}} 1.0' in metrics

    # Its page says why it cannot be read, and its actions are refused: neither is a server error.
    legacy = board.get(_path("legacy"))
    assert legacy.status_code == 200 and "use prefix" in legacy.text.replace("&#39;", "'")
    assert board.post(_path("legacy") + "/pause", json={}, headers=JSON).status_code == 409
    assert board.get(_path("legacy") + "/jobs/1", headers=JSON).status_code == 409


def test_a_queue_page_lists_its_jobs_and_its_actions_reach_its_node(filled: ClusterServers, board: TestClient) -> None:
    url = _url(filled)
    with SyncQueue(EMAIL, url) as email, SyncQueue(SMS, url) as sms:
        job = email.add("bounce", {"fail": "mailbox full"})
        with ThreadWorker(url, EMAIL):
            wait_for(lambda: email.get_job_counts("failed")["failed"] == 1, what="the failed job")
        page = board.get(_path(EMAIL), params={"state": "failed"}, headers=JSON).json()
        assert [j["id"] for j in page["jobs"]] == [job.id]
        assert page["queue"]["counts"]["failed"] == 1 and page["total"] == 1
        html = board.get(_path(EMAIL), params={"state": "failed"}).text
        assert f"/jobs/{job.id}" in html and "mailbox full" in html

        retried = board.post(f"{_path(EMAIL)}/jobs/{job.id}/retry", json={}, headers=JSON)
        assert retried.status_code == 200 and retried.json()["ok"] is True
        assert email.get_job_state(job.id) == "waiting"

        assert board.post(f"{_path(SMS)}/pause", json={}, headers=JSON).status_code == 200
        assert sms.is_paused()
        rows = {q["name"]: q for q in board.get("/", headers=JSON).json()["queues"]}
        assert rows[SMS]["paused"] is True and rows[EMAIL]["paused"] is False
        detail = board.get(f"{_path(EMAIL)}/jobs/{job.id}", headers=JSON)
        assert detail.status_code == 200 and detail.json()["id"] == job.id


def test_the_redis_page_shows_each_primary_and_health_asks_them_all(cluster: ClusterServers, board: TestClient) -> None:
    primaries = {f"{host}:{port}" for host, port in (node.address for node in cluster.primaries())}
    data = board.get("/redis", headers=JSON).json()
    assert {node["node"] for node in data["nodes"]} == primaries
    assert all(node["redis_mode"] == "cluster" for node in data["nodes"])
    page = board.get("/redis").text
    assert set(re.findall(r'<h2 class="mono">([^<]+)</h2>', page)) == primaries
    assert page.count("<h3>Memory</h3>") == 3

    health = board.get("/healthz")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert board.get("/readyz").status_code == 200


async def test_an_alert_round_reads_every_queue_and_keeps_its_cursors(filled: ClusterServers) -> None:
    adapter = BullMQAdapter(_url(filled), discover=True)
    try:
        store = RedisAlertStore(adapter.inspector.runner, "bull")
        observer = RedisObserver(adapter.inspector, store, adapter.queue_names)
        queues = await observer.queue_names()
        for _ in range(2):  # the first round saves each queue's events position, the second reads from it
            seen = {o.queue: o for o in await observer.observe(queues)}
        assert seen[EMAIL].waiting == 3 and seen[SMS].waiting == 0 and seen["legacy"].waiting == 0
        assert None not in await store.cursors(queues)
    finally:
        await adapter.close()
