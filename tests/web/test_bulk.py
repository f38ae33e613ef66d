"""Actions on the jobs chosen in a list (board/web/bulk.py): each job acted on and its outcome counted and
said, as the queue page's form (one ``ids`` field per checked row) and as a script's JSON; removal for
admins and confirmed; bounded; refused for a queue the user may not see or may not touch."""

from __future__ import annotations

import re
from typing import Any

import pytest
import redis

from board import BasicAuth, SyncQueue

from .conftest import AS, JSON, USERS, ClientFactory, basic, csrf_of, flash_of, flow, keys_of, process_all


def post_selection(client: Any, queue: str, action: str, ids: list[str], **extra: str) -> Any:
    """Posts the queue page's table form as a browser does: one ``ids`` field per checked row."""
    token = csrf_of(client.get(f"/queues/{queue}?state=failed", headers=extra.pop("headers_of", None) or {}).text)
    fields = {"csrf_token": token, "action": action, "ids": ids, **extra}
    return client.post(f"/queues/{queue}/bulk", data=fields, follow_redirects=False)


def failed_jobs(redis_url: str, sq: SyncQueue, n: int) -> list[str]:
    ids = [sq.add(f"f{i}", {"fail": "x"}).id for i in range(n)]
    process_all(redis_url, sq, failed=n)
    return ids


def test_retry_the_chosen_jobs_and_say_what_became_of_each(
    make_client: ClientFactory, redis_url: str, sq: SyncQueue, qname: str, raw: redis.Redis
) -> None:
    failed = failed_jobs(redis_url, sq, 4)
    waiting = sq.add("w", {}).id
    client = make_client([qname])

    chosen = [failed[0], failed[1], waiting, "404"]
    response = post_selection(client, qname, "retry", chosen, state="failed", next=f"/queues/{qname}?state=failed")
    assert response.status_code == 303 and response.headers["location"] == f"/queues/{qname}?state=failed"
    message = flash_of(client.get(response.headers["location"]).text)
    # Chosen on the failed tab: what is not failed any more is said so.
    assert message == "Retried 2 jobs; 1 was no longer failed; 1 was gone."
    assert sorted(raw.lrange(f"bull:{qname}:wait", 0, -1)) == sorted([waiting, failed[0], failed[1]])
    assert sorted(raw.zrange(f"bull:{qname}:failed", 0, -1)) == sorted(failed[2:])

    # A script gets each outcome by name.
    body = client.post(
        f"/queues/{qname}/bulk", json={"action": "retry", "ids": [failed[2], failed[0]], "confirm": True}, headers=JSON
    )
    assert body.status_code == 200
    assert body.json() == {
        "ok": True,
        "message": "Retried 1 job; 1 was neither failed nor completed.",
        "count": 1,
        "done": [failed[2]],
        "skipped": {"state": [failed[0]]},
    }


def test_promote_the_chosen_jobs(make_client: ClientFactory, sq: SyncQueue, qname: str, raw: redis.Redis) -> None:
    delayed = [sq.add(f"d{i}", {}, delay=3600).id for i in range(3)]
    client = make_client([qname])
    answer = client.post(f"/queues/{qname}/bulk", json={"action": "promote", "ids": delayed[:2]}, headers=JSON).json()
    assert answer["message"] == "Promoted 2 jobs."
    assert sorted(raw.lrange(f"bull:{qname}:wait", 0, -1)) == sorted(delayed[:2])
    assert raw.zrange(f"bull:{qname}:delayed", 0, -1) == [delayed[2]]
    again = client.post(f"/queues/{qname}/bulk", json={"action": "promote", "ids": delayed[:1]}, headers=JSON).json()
    assert again["message"] == "Promoted 0 jobs; 1 was no longer delayed."


def test_remove_is_for_admins_and_confirmed(
    make_client: ClientFactory, redis_url: str, sync_queues: Any, raw: redis.Redis
) -> None:
    email = sync_queues("email")
    ids = [email.add(f"j{i}", {}).id for i in range(3)]
    client = make_client(["email"], auth=BasicAuth(USERS))
    before = keys_of(raw, "email")

    refused = client.post(
        "/queues/email/bulk", json={"action": "remove", "ids": ids}, headers={**AS["operator"], **JSON}
    )
    assert refused.status_code == 403
    # Not confirmed: asked, with every chosen job carried by the confirmation page.
    token = csrf_of(client.get("/queues/email", headers=AS["admin"]).text)
    fields = {"csrf_token": token, "action": "remove", "ids": ids[:2]}
    asked = client.post("/queues/email/bulk", data=fields, headers=AS["admin"])
    assert asked.status_code == 200 and "Remove 2 jobs from email" in asked.text
    carried = re.findall(r'<input type="hidden" name="ids" value="([^"]+)">', asked.text)
    assert carried == ids[:2]
    assert keys_of(raw, "email") == before

    confirmed = client.post(
        "/queues/email/bulk", data={**fields, "csrf_token": csrf_of(asked.text), "confirm": "1"}, headers=AS["admin"]
    )
    assert confirmed.status_code == 200 and "Removed 2 jobs." in confirmed.text
    assert raw.lrange("bull:email:wait", 0, -1) == [ids[2]]
    assert not raw.exists(f"bull:email:{ids[0]}") and not raw.exists(f"bull:email:{ids[1]}")


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ({"action": "explode", "ids": ["1"]}, "action: expected one of retry, promote, remove"),
        ({"action": "retry", "ids": []}, "ids: choose at least one job"),
        ({"action": "retry"}, "ids: choose at least one job"),
        ({"action": "retry", "ids": [{"id": 1}]}, "ids: expected a list of job ids"),
        ({"action": "retry", "ids": [str(i) for i in range(1001)]}, "ids: at most 1,000 jobs at once, got 1,001"),
    ],
)
def test_bad_selections_are_refused(
    make_client: ClientFactory, redis_url: str, sq: SyncQueue, qname: str, raw: redis.Redis, body: Any, said: str
) -> None:
    sq.add("w", {})
    client = make_client([qname])
    before = keys_of(raw, qname)
    answer = client.post(f"/queues/{qname}/bulk", json=body, headers=JSON)
    assert answer.status_code == 400 and answer.json()["error"].startswith(said)
    assert keys_of(raw, qname) == before


def test_settings_and_visibility_are_kept(
    make_client: ClientFactory, redis_url: str, sync_queues: Any, raw: redis.Redis
) -> None:
    strict, locked, hidden = sync_queues("strict"), sync_queues("locked"), sync_queues("billing")
    for q in (strict, locked, hidden):
        q.add("f", {"fail": "x"})
        process_all(redis_url, q, failed=1)
    settings = {"strict": {"allow_retries": False}, "locked": {"read_only": True}}
    users = {**USERS, "team": ("team-pw", "admin", ["strict", "locked"])}
    client = make_client(["strict", "locked", "billing"], auth=BasicAuth(users), queue_config=settings)
    team = basic("team", "team-pw")
    before = {q: keys_of(raw, q) for q in ("strict", "locked", "billing")}
    retry = {"action": "retry", "ids": ["1"]}
    assert client.post("/queues/strict/bulk", json=retry, headers={**team, **JSON}).status_code == 403
    assert client.post("/queues/locked/bulk", json=retry, headers={**team, **JSON}).status_code == 403
    assert client.post("/queues/billing/bulk", json=retry, headers={**team, **JSON}).status_code == 404
    assert {q: keys_of(raw, q) for q in before} == before
    # Removing still works where only retries are off.
    removed = client.post(
        "/queues/strict/bulk", json={**retry, "action": "remove", "confirm": True}, headers={**team, **JSON}
    )
    assert removed.json()["message"] == "Removed 1 job."


def test_a_bulk_remove_keeps_a_parent_whose_children_sit_in_a_hidden_queue(
    make_client: ClientFactory, redis_url: str, sync_queues: Any, raw: redis.Redis
) -> None:
    sync_queues("parents"), sync_queues("kids")
    parent, children = flow(redis_url, "parents", "kids", 2)
    users = {**USERS, "team": ("team-pw", "admin", ["parents"])}
    client = make_client(["parents", "kids"], auth=BasicAuth(users))
    body = {"action": "remove", "ids": [parent], "confirm": True}
    answer = client.post("/queues/parents/bulk", json=body, headers={**basic("team", "team-pw"), **JSON})
    assert (
        answer.status_code == 200 and answer.json()["done"] == [] and answer.json()["skipped"] == {"refused": [parent]}
    )
    assert raw.exists(f"bull:parents:{parent}") and all(raw.exists(f"bull:kids:{c}") for c in children)


def test_a_retry_that_may_run_completed_jobs_again_is_confirmed_first(
    make_client: ClientFactory, redis_url: str, sq: SyncQueue, qname: str, raw: redis.Redis
) -> None:
    done = sq.add("ran", {}).id
    process_all(redis_url, sq, completed=1)
    client = make_client([qname])
    asked = client.post(f"/queues/{qname}/bulk", json={"action": "retry", "ids": [done]}, headers=JSON)
    assert asked.status_code == 400 and "If it completed, it runs again" in asked.json()["error"]
    assert raw.zscore(f"bull:{qname}:completed", done) is not None
    # Chosen on the failed tab, a job that completed meanwhile is left alone.
    body: dict[str, Any] = {"action": "retry", "ids": [done], "state": "failed"}
    answer = client.post(f"/queues/{qname}/bulk", json=body, headers=JSON)
    assert answer.status_code == 200 and answer.json()["skipped"] == {"state": [done]}
    body = {"action": "retry", "ids": [done], "confirm": True}
    assert client.post(f"/queues/{qname}/bulk", json=body, headers=JSON).json()["done"] == [done]
