"""The alerts page: every rule with its episodes under way and the last deliveries, for viewers and up, as
HTML, its htmx fragment or JSON; a user limited to some queues sees only what concerns their queues."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient

from board import BasicAuth, SyncQueue

from .conftest import AS, HTMX, JSON, USERS, ClientFactory, wait_for

HOOK = "http://127.0.0.1:1/services/T0/B0/secret-token-in-the-url"


def config(other: str) -> dict[str, Any]:
    """Rules over the "email" queue and ``other``: one fires at once on any backlog, one waits ten minutes,
    one watches ``other`` only and one takes no threshold."""
    return {
        "webhooks": [{"name": "ops", "url": HOOK, "retries": 0, "timeout": 1}],
        "rules": [
            {"name": "any backlog", "when": "waiting_above", "threshold": 0, "send_to": []},
            {"name": "long backlog", "when": "waiting_above", "queues": ["email"], "threshold": 0, "minutes": 10},
            {"name": "other's workers", "when": "no_workers", "queues": [other], "minutes": 30},
            {"name": "dead jobs", "when": "retries_exhausted", "queues": ["em*"]},
        ],
    }


@pytest.fixture
def alerting(make_client: ClientFactory, sync_queues: Any, qname: str) -> TestClient:
    """A board over "email" and another queue, both with a job waiting, after its first round."""
    for name in ("email", qname):
        sync_queues(name).add("waiting", {})
    client = make_client(["email", qname], auth=BasicAuth(USERS), alerts=config(qname), alert_callables={"log": log})
    # The first round ran as the app started: two firing alerts, each to the webhook and the callable.
    wait_for(lambda: len(page(client, "admin")["deliveries"]) == 4, 15, "the first round's deliveries")
    return client


def log(alert: Any) -> None:
    """A callable target that takes the alert and does nothing with it."""


def page(client: TestClient, who: str) -> Any:
    answer = client.get("/alerts", headers={**JSON, **AS[who]})
    assert answer.status_code == 200, answer.text
    return answer.json()


def stop(client: TestClient) -> None:
    assert client.portal is not None
    board: Any = client.app.state.board  # type: ignore[attr-defined]
    client.portal.call(board.alerts.stop)


def test_viewers_see_the_rules_their_episodes_and_the_deliveries(alerting: TestClient, qname: str) -> None:
    data = page(alerting, "viewer")
    stop(alerting)
    assert data["configured"] is True and data["running"] is True
    rules = {rule["name"]: rule for rule in data["rules"]}
    assert list(rules) == ["any backlog", "long backlog", "other's workers", "dead jobs"]
    backlog = rules["any backlog"]
    assert (backlog["when"], backlog["queues"], backlog["threshold"], backlog["minutes"]) == ("waiting_above", [], 0, 0)
    assert backlog["condition"] == "jobs waiting: more than 0"
    assert {(e["queue"], e["phase"], e["value"]) for e in backlog["episodes"]} == {
        ("email", "firing", 1),
        (qname, "firing", 1),
    }
    # Ten minutes not yet held: pending, since the first round, not fired.
    (pending,) = rules["long backlog"]["episodes"]
    assert (pending["queue"], pending["phase"], pending["fired_ms"]) == ("email", "pending", 0)
    assert pending["since_ms"] > 0
    assert rules["other's workers"]["threshold"] is None and rules["other's workers"]["minutes"] == 30
    assert rules["dead jobs"]["queues"] == ["em*"] and rules["dead jobs"]["episodes"] == []
    deliveries = data["deliveries"]
    assert {(d["target"], d["rule"], d["queue"], d["state"], d["ok"]) for d in deliveries} == {
        ("log", "any backlog", "email", "firing", True),
        ("log", "any backlog", qname, "firing", True),
        ("ops", "any backlog", "email", "firing", False),
        ("ops", "any backlog", qname, "firing", False),
    }
    failed = next(d for d in deliveries if d["target"] == "ops")
    assert failed["attempts"] == 1 and failed["detail"].startswith("no answer") and failed["at_ms"] > 0

    html = alerting.get("/alerts", headers=AS["viewer"]).text
    for shown in ("any backlog", "long backlog", "jobs waiting: more than 0", "every queue", "10 min", "pending"):
        assert shown in html, shown
    assert 'data-rule="dead jobs"' in html and "no answer" in html
    # A webhook is named, never shown: its URL often carries a token.
    assert "secret-token" not in html and "secret-token" not in str(data)


def test_a_user_limited_to_some_queues_sees_only_theirs(alerting: TestClient, qname: str) -> None:
    data = page(alerting, "emailer")
    stop(alerting)
    rules = {rule["name"]: rule for rule in data["rules"]}
    # The rule on the other queue is not there at all; the others name only "email".
    assert list(rules) == ["any backlog", "long backlog", "dead jobs"]
    assert rules["any backlog"]["queues"] == ["email"] and rules["dead jobs"]["queues"] == ["email"]
    assert [e["queue"] for e in rules["any backlog"]["episodes"]] == ["email"]
    assert {d["queue"] for d in data["deliveries"]} == {"email"} and len(data["deliveries"]) == 2
    html = alerting.get("/alerts", headers=AS["emailer"]).text
    assert qname not in html and "other&#39;s workers" not in html and "other's workers" not in html


def test_the_page_polls_its_live_block(alerting: TestClient) -> None:
    stop(alerting)
    full = alerting.get("/alerts", headers=AS["viewer"]).text
    fragment = alerting.get("/alerts", headers={**HTMX, **AS["viewer"]}).text
    assert 'id="live"' in full and 'hx-trigger="every 5s"' in full and "<html" in full
    assert fragment.lstrip().startswith('<div id="live"') and "<html" not in fragment
    # Linked from the navigation of every page, for every role.
    assert 'href="/alerts"' in alerting.get("/", headers=AS["viewer"]).text


def test_without_rules_the_page_says_how_to_configure_them(make_client: ClientFactory) -> None:
    client = make_client(["email"])
    html = client.get("/alerts").text
    assert "No alert rules are configured" in html and "board serve --alerts FILE" in html
    assert client.get("/alerts", headers=JSON).json() == {
        "configured": False,
        "running": False,
        "rules": [],
        "deliveries": [],
    }


def test_anonymous_gets_no_alerts(alerting: TestClient) -> None:
    stop(alerting)
    assert alerting.get("/alerts", headers=JSON).status_code == 401


def test_the_page_answers_503_while_redis_is_down(
    make_client: ClientFactory, redis_server: Any, sq: SyncQueue, qname: str
) -> None:
    client = make_client([qname], alerts={"rules": [{"name": "idle", "when": "no_workers", "minutes": 60}]})
    stop(client)
    redis_server.stop()
    try:
        answer = client.get("/alerts", headers=JSON)
    finally:
        redis_server.start()
    assert answer.status_code == 503 and "Redis" in answer.json()["error"]
