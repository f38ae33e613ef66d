"""/metrics and /readyz: a bearer token for machines, the board's auth for people, queues kept apart."""

from __future__ import annotations

from typing import Any

import redis
from prometheus_client.parser import text_string_to_metric_families

from board import BasicAuth

from .conftest import AS, USERS, ClientFactory, ThreadWorker, wait_for

TOKEN = "scraper-token-0123456789"


def series(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def queues_in(text: str) -> set[str]:
    return {dict(labels)["queue"] for name, labels in series(text) if name == "bullmq_queue_waiting"}


def test_the_token_opens_metrics_of_every_queue(make_client: ClientFactory, sync_queues: Any, redis_url: str) -> None:
    sync_queues("email").add_bulk([{"name": "n", "data": {}} for _ in range(3)])
    sync_queues("sms")
    client = make_client(["email", "sms"], auth=BasicAuth(USERS), metrics_token=TOKEN)
    reply = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/plain; version=0.0.4")
    got = series(reply.text)
    assert got[("bullmq_queue_waiting", (("queue", "email"),))] == 3
    assert got[("bullmq_job_count", (("queue", "email"), ("state", "waiting")))] == 3
    assert queues_in(reply.text) == {"email", "sms"}
    wrong = client.get("/metrics", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and "bullmq" not in wrong.text


def test_without_the_token_metrics_are_behind_the_boards_auth(make_client: ClientFactory, sync_queues: Any) -> None:
    sync_queues("email")
    sync_queues("sms")
    client = make_client(["email", "sms"], auth=BasicAuth(USERS))
    assert client.get("/metrics").status_code == 401
    assert queues_in(client.get("/metrics", headers=AS["viewer"]).text) == {"email", "sms"}
    # A user limited to some queues sees only theirs.
    assert queues_in(client.get("/metrics", headers=AS["emailer"]).text) == {"email"}


def test_readyz_holds_queues_to_their_checks(make_client: ClientFactory, sync_queues: Any, redis_url: str) -> None:
    sync_queues("email")
    sync_queues("sms")
    checks = {"*": {"max_waiting": 5}, "email": {"min_workers": 1}}
    client = make_client(["email", "sms"], auth=BasicAuth(USERS), metrics_token=TOKEN, checks=checks)
    anonymous = client.get("/readyz")
    assert anonymous.status_code == 503 and anonymous.json() == {"status": "not ready"}
    detailed = client.get("/readyz", headers={"Authorization": f"Bearer {TOKEN}"}).json()
    assert detailed["checks"]["queues"]["email"]["failed"] == ["0 worker(s), fewer than 1"]
    assert detailed["checks"]["queues"]["email"]["limits"] == {"max_waiting": 5, "min_workers": 1}
    assert detailed["checks"]["queues"]["sms"]["ok"] is True
    with ThreadWorker(redis_url, "email"):
        wait_for(lambda: client.get("/readyz").status_code == 200, what="ready once a worker is there")
    for _ in range(6):
        sync_queues("sms").add("n", {})
    by_user = client.get("/readyz", headers=AS["viewer"])
    assert by_user.status_code == 503
    assert by_user.json()["checks"]["queues"]["sms"]["failed"] == ["6 waiting, more than 5"]


def test_readyz_without_checks_is_ready_while_redis_answers(
    make_client: ClientFactory, sync_queues: Any, raw: redis.Redis
) -> None:
    sync_queues("email")
    client = make_client(["email"])
    assert client.get("/readyz").json() == {"status": "ready", "checks": {"redis": "ok", "queues": {}}}
