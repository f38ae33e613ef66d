"""The actions on a whole queue (board/web/queue_actions.py) over HTTP, each checked in Redis: as a browser's
form post (CSRF token from the page, 303 redirect, flash message) and as a script's JSON post."""

from __future__ import annotations

import html
import re
import time
from typing import Any

import pytest
import redis

from board import BasicAuth, SyncQueue

from .conftest import (
    AS,
    JSON,
    MODES,
    USERS,
    ClientFactory,
    ThreadWorker,
    act,
    basic,
    counts_of,
    dead_letter,
    in_wait,
    keys_of,
    process_all,
    refused,
    tags_of,
    token,
    wait_for,
)

# Queue actions ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_retry_all(
    make_client: ClientFactory, redis_url: str, sq: SyncQueue, qname: str, raw: redis.Redis, mode: str
) -> None:
    failed = [sq.add(f"f{i}", {"fail": "x"}).id for i in range(3)]
    completed = [sq.add(f"c{i}", {}).id for i in range(2)]
    process_all(redis_url, sq, completed=2, failed=3)
    client = make_client([qname])

    message = act(client, mode, f"/queues/{qname}/retry", qname, {"state": "failed", "confirm": True})
    assert message == "3 failed job(s) moved back to waiting."
    assert sorted(in_wait(raw, qname)) == sorted(failed)
    assert raw.zcard(f"bull:{qname}:failed") == 0

    message = act(client, mode, f"/queues/{qname}/retry", qname, {"state": "completed", "confirm": True})
    assert message == "2 completed job(s) moved back to waiting."
    assert sorted(in_wait(raw, qname)) == sorted(failed + completed)
    assert raw.zcard(f"bull:{qname}:completed") == 0

    # Not confirmed: asked, nothing moves.
    sq.drain()
    before = keys_of(raw, qname)
    asked = refused(client, mode, f"/queues/{qname}/retry", qname, {"state": "failed"})
    assert asked.status_code == (200 if mode == "form" else 400)
    assert keys_of(raw, qname) == before


def test_completed_retries_can_be_turned_off(
    make_client: ClientFactory, redis_url: str, sq: SyncQueue, qname: str, raw: redis.Redis
) -> None:
    done = sq.add("c", {})
    bad = sq.add("f", {"fail": "x"})
    process_all(redis_url, sq, completed=1, failed=1)
    client = make_client([qname], allow_completed_retries=False)
    before = keys_of(raw, qname)

    assert "Retry all failed" in client.get(f"/queues/{qname}?state=failed").text
    queue_page = client.get(f"/queues/{qname}?state=completed").text
    assert "Retry all completed" not in queue_page and f"/jobs/{done.id}/retry" not in queue_page
    assert "Retry</button>" not in client.get(f"/queues/{qname}/jobs/{done.id}").text
    for mode in MODES:
        all_completed = refused(client, mode, f"/queues/{qname}/retry", qname, {"state": "completed", "confirm": True})
        assert all_completed.status_code == 403, mode
        one = refused(client, mode, f"/queues/{qname}/jobs/{done.id}/retry", qname)
        assert one.status_code == 403, mode
    assert "Retrying completed jobs is turned off" in one.json()["error"]
    assert keys_of(raw, qname) == before
    # Failed jobs still can.
    assert "Retry</button>" in client.get(f"/queues/{qname}/jobs/{bad.id}").text
    act(client, "json", f"/queues/{qname}/retry", qname, {"state": "failed", "confirm": True})
    assert in_wait(raw, qname) == [bad.id]


@pytest.mark.parametrize("mode", MODES)
def test_promote_all(make_client: ClientFactory, sq: SyncQueue, qname: str, raw: redis.Redis, mode: str) -> None:
    delayed = [sq.add(f"d{i}", {}, delay=600 + i).id for i in range(3)]
    client = make_client([qname])
    message = act(client, mode, f"/queues/{qname}/promote", qname, {"confirm": True})
    assert message == "3 delayed job(s) promoted."
    assert raw.zcard(f"bull:{qname}:delayed") == 0
    assert sorted(in_wait(raw, qname)) == sorted(delayed)


@pytest.mark.parametrize("mode", MODES)
def test_clean_by_age_and_limit(
    make_client: ClientFactory, redis_url: str, sq: SyncQueue, qname: str, raw: redis.Redis, mode: str
) -> None:
    with ThreadWorker(redis_url, qname):
        old = [sq.add(f"old{i}", {}).id for i in range(3)]
        wait_for(lambda: counts_of(sq)["completed"] == 3, what="old jobs completed")
        time.sleep(1.0)
        new = [sq.add(f"new{i}", {}).id for i in range(2)]
        wait_for(lambda: counts_of(sq)["completed"] == 5, what="new jobs completed")
    client = make_client([qname])

    message = act(
        client, mode, f"/queues/{qname}/clean", qname, {"state": "completed", "grace": 0.6, "limit": 2, "confirm": True}
    )
    assert message == "2 completed job(s) older than 0.6 s removed."
    left = raw.zrange(f"bull:{qname}:completed", 0, -1)
    assert sorted(left) == sorted([old[2], *new])  # the two oldest went, at most the limit
    assert not raw.exists(f"bull:{qname}:{old[0]}", f"bull:{qname}:{old[1]}")

    before = keys_of(raw, qname)
    for bad in (
        {"state": "paused", "grace": 0, "limit": 1},
        {"state": "completed", "grace": -1, "limit": 1},
        {"state": "completed", "grace": "soon", "limit": 1},
        {"state": "completed", "grace": 0, "limit": 0},
        {"state": "completed", "grace": 0, "limit": 2_000_000},
    ):
        assert refused(client, mode, f"/queues/{qname}/clean", qname, {**bad, "confirm": True}).status_code == 400, bad
    assert keys_of(raw, qname) == before


@pytest.mark.parametrize("mode", MODES)
def test_pause_and_resume(make_client: ClientFactory, sq: SyncQueue, qname: str, raw: redis.Redis, mode: str) -> None:
    sq.add("j", {})
    client = make_client([qname])
    assert 'action="/queues/' + qname + '/pause"' in client.get(f"/queues/{qname}").text

    assert act(client, mode, f"/queues/{qname}/pause", qname) == "Queue paused."
    assert raw.hget(f"bull:{qname}:meta", "paused") == "1"
    page = client.get(f"/queues/{qname}").text
    assert "badge-paused" in page and f'action="/queues/{qname}/resume"' in page
    assert client.get("/", headers=JSON).json()["queues"][0]["paused"] is True
    assert act(client, mode, f"/queues/{qname}/pause", qname) == "Queue was already paused."

    assert act(client, mode, f"/queues/{qname}/resume", qname) == "Queue resumed."
    assert raw.hget(f"bull:{qname}:meta", "paused") is None
    assert "badge-paused" not in client.get(f"/queues/{qname}").text
    assert act(client, mode, f"/queues/{qname}/resume", qname) == "Queue was not paused."


@pytest.mark.parametrize("mode", MODES)
def test_empty(
    make_client: ClientFactory, redis_url: str, sq: SyncQueue, qname: str, raw: redis.Redis, mode: str
) -> None:
    done = sq.add("done", {})
    process_all(redis_url, sq, completed=1)
    waiting = [sq.add(f"w{i}", {}).id for i in range(2)]
    prioritized = sq.add("p", {}, priority=1).id
    delayed = sq.add("d", {}, delay=600).id
    client = make_client([qname])

    message = act(client, mode, f"/queues/{qname}/empty", qname, {"confirm": True})
    assert message == "Queue emptied of its waiting and prioritized jobs."
    counts = counts_of(sq)
    assert (counts["waiting"], counts["prioritized"], counts["delayed"], counts["completed"]) == (0, 0, 1, 1)
    assert not raw.exists(*(f"bull:{qname}:{i}" for i in [*waiting, prioritized]))
    assert raw.exists(f"bull:{qname}:{delayed}", f"bull:{qname}:{done.id}") == 2

    message = act(client, mode, f"/queues/{qname}/empty", qname, {"delayed": True, "confirm": True})
    assert message == "Queue emptied of its waiting, prioritized and delayed jobs."
    assert counts_of(sq)["delayed"] == 0 and counts_of(sq)["completed"] == 1
    assert not raw.exists(f"bull:{qname}:{delayed}")


@pytest.mark.parametrize("mode", MODES)
def test_obliterate_needs_a_paused_queue(
    make_client: ClientFactory, sq: SyncQueue, qname: str, raw: redis.Redis, mode: str
) -> None:
    sq.add("a", {})
    sq.add("b", {}, delay=60)
    client = make_client([qname], client={"raise_server_exceptions": False})
    assert "Obliterate" not in client.get(f"/queues/{qname}").text  # offered only once paused
    before = keys_of(raw, qname)

    refusal = refused(client, mode, f"/queues/{qname}/obliterate", qname, {"confirm": True})
    assert refusal.status_code == 409
    assert "pause it first" in html.unescape(refusal.text)
    assert keys_of(raw, qname) == before

    sq.pause()
    assert "Obliterate" in client.get(f"/queues/{qname}").text
    assert act(client, mode, f"/queues/{qname}/obliterate", qname, {"confirm": True}) == f"Queue {qname} obliterated."
    assert raw.keys(f"bull:{qname}:*") == []


def test_obliterate_with_active_jobs_needs_force(
    make_client: ClientFactory, redis_url: str, sq: SyncQueue, qname: str, raw: redis.Redis
) -> None:
    client = make_client([qname])
    with ThreadWorker(redis_url, qname):
        sq.add("held", {"hold": True})
        wait_for(lambda: counts_of(sq)["active"] == 1, what="a job held active")
        sq.add("waiting", {})
        sq.pause()
        refusal = refused(client, "json", f"/queues/{qname}/obliterate", qname, {"confirm": True})
        assert refusal.status_code == 409, refusal.text
        assert "active" in refusal.json()["error"]
        assert counts_of(sq)["active"] == 1 and counts_of(sq)["waiting"] == 1

        message = act(client, "form", f"/queues/{qname}/obliterate", qname, {"force": True, "confirm": True})
        assert message == f"Queue {qname} obliterated."
        assert [k for k in raw.keys(f"bull:{qname}:*") if not str(k).endswith(":lock")] == []


# Global limits ------------------------------------------------------------------------------------------------


def meta_of(raw: redis.Redis, queue: str) -> dict[str, str]:
    return {
        str(k): str(v) for k, v in raw.hgetall(f"bull:{queue}:meta").items() if k in ("concurrency", "max", "duration")
    }


@pytest.mark.parametrize("mode", MODES)
def test_set_and_remove_global_concurrency(
    make_client: ClientFactory, sq: SyncQueue, qname: str, raw: redis.Redis, mode: str
) -> None:
    sq.add("j", {})
    client = make_client([qname])
    url = f"/queues/{qname}/concurrency"
    message = act(client, mode, url, qname, {"concurrency": 3})
    assert message == f"Global concurrency of {qname} set to 3: at most that many jobs run at once."
    assert meta_of(raw, qname) == {"concurrency": "3"}
    assert "<dt>Global concurrency</dt><dd>3</dd>" in client.get(f"/queues/{qname}").text
    removed = act(client, mode, url, qname, {"concurrency": "" if mode == "form" else None})
    assert removed.startswith(f"Global concurrency of {qname} removed")
    assert meta_of(raw, qname) == {}


@pytest.mark.parametrize("mode", MODES)
def test_set_and_remove_global_rate_limit(
    make_client: ClientFactory, sq: SyncQueue, qname: str, raw: redis.Redis, mode: str
) -> None:
    sq.add("j", {})
    client = make_client([qname])
    url = f"/queues/{qname}/rate-limit"
    message = act(client, mode, url, qname, {"max": 100, "duration": "1.5"})
    assert message == f"Global rate limit of {qname} set to 100 jobs per 1.5 s."
    assert meta_of(raw, qname) == {"max": "100", "duration": "1500"}
    assert act(client, mode, url, qname, {"max": ""}) == f"Global rate limit of {qname} removed."
    assert meta_of(raw, qname) == {}


@pytest.mark.parametrize(
    ("url", "fields", "field", "says"),
    [
        ("concurrency", {"concurrency": "0"}, "concurrency", "whole number from 1"),
        ("concurrency", {"concurrency": "2.5"}, "concurrency", "whole number"),
        ("concurrency", {"concurrency": "lots"}, "concurrency", "whole number"),
        ("rate-limit", {"max": "-4", "duration": "60"}, "max", "whole number"),
        ("rate-limit", {"max": "10", "duration": "0"}, "duration", "seconds"),
        ("rate-limit", {"max": "10", "duration": "forever"}, "duration", "seconds"),
        ("rate-limit", {"max": "10"}, "duration", "seconds"),
    ],
)
def test_bad_limits_are_said_on_their_field_and_write_nothing(
    make_client: ClientFactory,
    sq: SyncQueue,
    qname: str,
    raw: redis.Redis,
    url: str,
    fields: dict[str, str],
    field: str,
    says: str,
) -> None:
    sq.set_global_concurrency(7)
    client = make_client([qname])
    before = keys_of(raw, qname)
    response = client.post(
        f"/queues/{qname}/{url}", data={"csrf_token": token(client, qname), **fields}, follow_redirects=False
    )
    assert response.status_code == 400
    error = re.search(rf'<p class="field-error" id="limit-{field}-error">(.*?)</p>', response.text)
    assert error and says in html.unescape(error.group(1)), response.text[-2000:]
    inputs = {
        a["name"]: a for tag, a in tags_of(response.text) if tag == "input" and a.get("id", "").startswith("limit-")
    }
    assert inputs[field].get("aria-invalid") == "true"
    # The other form still shows the queue's setting.
    if url == "rate-limit":
        assert inputs["concurrency"]["value"] == "7"
    as_json = client.post(f"/queues/{qname}/{url}", json=fields, headers=JSON)
    assert as_json.status_code == 400 and field in as_json.json()["fields"]
    assert keys_of(raw, qname) == before


def test_limits_are_for_admins(make_client: ClientFactory, sq: SyncQueue, qname: str, raw: redis.Redis) -> None:
    sq.add("j", {})
    client = make_client([qname], auth=BasicAuth(USERS))
    before = keys_of(raw, qname)
    for who in ("viewer", "operator"):
        for url, body in (("concurrency", {"concurrency": 2}), ("rate-limit", {"max": 5, "duration": 1})):
            response = client.post(f"/queues/{qname}/{url}", json=body, headers={**AS[who], **JSON})
            assert response.status_code == 403, (who, url)
    assert keys_of(raw, qname) == before


def test_retry_all_keeps_the_dead_letters_of_a_queue_the_user_may_not_change(
    make_client: ClientFactory, redis_url: str, sync_queues: Any, raw: redis.Redis
) -> None:
    payroll, dead = sync_queues("payroll"), sync_queues("payroll-dead")
    letter = dead_letter(redis_url, payroll, dead)
    own = dead.add("own", {"fail": "here too"}).id
    process_all(redis_url, dead, failed=2)
    users = {**USERS, "team": ("team-pw", "admin", ["payroll-dead"])}
    client = make_client(["payroll-dead", "payroll"], auth=BasicAuth(users))
    before = keys_of(raw, "payroll")
    team = {**basic("team", "team-pw"), **JSON}
    answer = client.post("/queues/payroll-dead/retry", json={"confirm": True, "state": "failed"}, headers=team)
    assert answer.status_code == 200 and answer.json()["count"] == 1
    assert keys_of(raw, "payroll") == before
    assert raw.zrange("bull:payroll-dead:failed", 0, -1) == [letter] and own in raw.lrange(
        "bull:payroll-dead:wait", 0, -1
    )
    # Someone who may change the queue it came from sends it back.
    admin = {**AS["admin"], **JSON}
    answer = client.post("/queues/payroll-dead/retry", json={"confirm": True, "state": "failed"}, headers=admin)
    assert (
        answer.status_code == 200 and raw.zcard("bull:payroll-dead:failed") == 0 and raw.llen("bull:payroll:wait") == 1
    )
