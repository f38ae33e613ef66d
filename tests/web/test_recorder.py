"""The audit log as actions write it: each action through the board, done or refused, lands once with who
(user and role), from where, what (the route's name), on which queue and jobs, and the outcome in the
words the user got; sign-ins and sign-outs of the login form too. Entries are read back from Redis."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
import redis
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from board import BasicAuth, FormLogin, SyncQueue
from board.adapters import BullMQAdapter

from .conftest import AS, JSON, SECRET, USERS, ClientFactory, csrf_of, login, logout, process_all, token

AUDIT_KEY = "board:bull:audit"


def stored(raw: redis.Redis) -> list[str]:
    """Every entry of the audit log, newest first, as stored."""
    found: Any = raw.xrevrange(AUDIT_KEY)
    return [str(fields["e"]) for _, fields in found]


def entries(raw: redis.Redis) -> list[dict[str, Any]]:
    """Every entry of the audit log, newest first, as the board wrote it."""
    return [json.loads(text) for text in stored(raw)]


def test_a_retry_is_recorded_with_who_where_what_and_the_outcome(
    make_client: ClientFactory, redis_url: str, sq: SyncQueue, qname: str, raw: redis.Redis
) -> None:
    job = sq.add("flaky", {"fail": "down"})
    process_all(redis_url, sq, failed=1)
    client = make_client([qname], auth=BasicAuth(USERS))
    form = {"csrf_token": csrf_of(client.get(f"/queues/{qname}/add", headers=AS["operator"]).text)}
    answer = client.post(
        f"/queues/{qname}/jobs/{job.id}/retry", data=form, headers=AS["operator"], follow_redirects=False
    )
    assert answer.status_code == 303
    (entry,) = entries(raw)
    assert entry == {
        "user": "operator",
        "role": "operator",
        "address": "testclient",
        "action": "retry_job",
        "queue": qname,
        "job_ids": [job.id],
        "ok": True,
        "outcome": f"Job {job.id} moved from failed back to waiting.",
        "details": {"status": 303},
    }


def test_a_refused_csrf_token_is_recorded_as_refused(
    make_client: ClientFactory, sq: SyncQueue, qname: str, raw: redis.Redis
) -> None:
    client = make_client([qname], auth=BasicAuth(USERS))
    answer = client.post(f"/queues/{qname}/pause", data={"csrf_token": "forged"}, headers=AS["admin"])
    assert answer.status_code == 403
    (entry,) = entries(raw)
    assert (entry["user"], entry["role"], entry["action"], entry["queue"], entry["ok"]) == (
        "admin",
        "admin",
        "pause",
        qname,
        False,
    )
    assert entry["outcome"] == "The form expired or came from elsewhere: reload and retry."
    assert entry["details"] == {"status": 403}
    assert raw.hget(f"bull:{qname}:meta", "paused") is None


def test_a_missing_job_is_recorded_with_the_adapters_refusal(
    make_client: ClientFactory, sq: SyncQueue, qname: str, raw: redis.Redis
) -> None:
    client = make_client([qname])
    answer = client.post(f"/queues/{qname}/jobs/nope/retry", json={}, headers=JSON)
    assert answer.status_code == 404
    (entry,) = entries(raw)
    assert (entry["user"], entry["action"], entry["job_ids"], entry["ok"]) == (
        "anonymous",
        "retry_job",
        ["nope"],
        False,
    )
    assert entry["outcome"] == answer.json()["error"] == f"job 'nope' not found in queue {qname!r}"
    assert entry["details"] == {"status": 404}


def test_refusals_before_the_action_runs_are_recorded(
    make_client: ClientFactory, sq: SyncQueue, qname: str, raw: redis.Redis
) -> None:
    client = make_client([qname], auth=BasicAuth(USERS))
    assert client.post(f"/queues/{qname}/pause", json={}, headers={**JSON, **AS["operator"]}).status_code == 403
    # A queue the user may not see is refused as one that does not exist, and recorded under its name.
    assert client.post(f"/queues/{qname}/pause", json={}, headers={**JSON, **AS["emailer"]}).status_code == 404
    # Nobody signed in: no one to record.
    assert client.post(f"/queues/{qname}/pause", json={}, headers=JSON).status_code == 401
    hidden, role = entries(raw)
    assert (role["user"], role["ok"], role["details"]) == ("operator", False, {"status": 403})
    assert role["outcome"] == "This needs an admin; you are operator."
    assert (hidden["user"], hidden["queue"], hidden["details"]) == ("emailer", qname, {"status": 404})


def test_a_confirmation_page_is_not_an_action_and_the_confirmed_one_keeps_its_fields(
    make_client: ClientFactory, sq: SyncQueue, qname: str, raw: redis.Redis
) -> None:
    client = make_client([qname])
    form = {"csrf_token": token(client, qname), "state": "completed", "grace": "60", "limit": "10"}
    asked = client.post(f"/queues/{qname}/clean", data=form)
    assert asked.status_code == 200 and "confirm" in asked.text
    assert entries(raw) == []
    done = client.post(f"/queues/{qname}/clean", data={**form, "confirm": "1"}, follow_redirects=False)
    assert done.status_code == 303
    (entry,) = entries(raw)
    assert entry["ok"] and entry["action"] == "clean"
    assert entry["details"] == {"status": 303, "state": "completed", "grace": "60", "limit": "10"}
    # A script that leaves out the confirmation is refused, and that is recorded.
    assert client.post(f"/queues/{qname}/clean", json={"state": "failed"}, headers=JSON).status_code == 400
    assert entries(raw)[0]["ok"] is False and "Send confirm=true" in entries(raw)[0]["outcome"]


def test_fields_refused_by_a_form_are_the_outcome_and_job_data_is_never_kept(
    make_client: ClientFactory, sq: SyncQueue, qname: str, raw: redis.Redis
) -> None:
    client = make_client([qname])
    bad = client.post(f"/queues/{qname}/add", json={"name": "", "data": {"password": "hunter2"}}, headers=JSON)
    assert bad.status_code == 400
    made = client.post(f"/queues/{qname}/add", json={"name": "x", "data": {"password": "hunter2"}}, headers=JSON)
    new_id = made.json()["job_id"]
    added, refused = entries(raw)
    assert refused["outcome"] == "name: Give the job a name." and refused["ok"] is False
    assert added["job_ids"] == [new_id] and added["ok"] is True
    assert not any("hunter2" in text for text in stored(raw))
    # The copy a duplicate makes is named beside the job it was made from.
    copy = client.post(f"/queues/{qname}/jobs/{new_id}/duplicate", json={}, headers=JSON).json()["job_id"]
    assert entries(raw)[0]["job_ids"] == [new_id, copy]


def test_the_address_is_the_one_the_proxy_settings_give(
    make_client: ClientFactory, sq: SyncQueue, qname: str, raw: redis.Redis
) -> None:
    # What `board serve --proxy-headers` puts in front of the board, trusting the test client.
    client = make_client([qname], wrap=lambda app: ProxyHeadersMiddleware(app, trusted_hosts="*"))
    headers = {**JSON, "X-Forwarded-For": "203.0.113.7"}
    assert client.post(f"/queues/{qname}/pause", json={}, headers=headers).status_code == 200
    assert entries(raw)[0]["address"] == "203.0.113.7"


def test_a_failure_to_record_never_fails_the_action(
    make_client: ClientFactory,
    sq: SyncQueue,
    qname: str,
    raw: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(self: BullMQAdapter, entry: Any) -> None:
        raise RuntimeError("the log is full")

    monkeypatch.setattr(BullMQAdapter, "record_audit", broken)
    client = make_client([qname])
    with caplog.at_level(logging.WARNING, logger="board.web"):
        answer = client.post(f"/queues/{qname}/pause", json={}, headers=JSON)
    assert answer.status_code == 200 and answer.json()["ok"] is True
    assert raw.hget(f"bull:{qname}:meta", "paused") == "1"
    assert "could not write to the audit log (pause by anonymous" in caplog.text and "the log is full" in caplog.text


def test_an_unexpected_error_is_recorded_as_such(
    make_client: ClientFactory, sq: SyncQueue, qname: str, raw: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def crash(self: BullMQAdapter, queue: str) -> Any:
        raise RuntimeError("a bug")

    monkeypatch.setattr(BullMQAdapter, "pause", crash)
    client = make_client([qname], client={"raise_server_exceptions": False})
    assert client.post(f"/queues/{qname}/pause", json={}, headers=JSON).status_code == 500
    (entry,) = entries(raw)
    assert entry["ok"] is False and entry["details"] == {"status": 500} and "unexpected error" in entry["outcome"]


def test_pages_are_not_recorded(make_client: ClientFactory, sq: SyncQueue, qname: str, raw: redis.Redis) -> None:
    client = make_client([qname])
    for url in ("/", f"/queues/{qname}", f"/queues/{qname}/add", "/alerts", "/audit"):
        assert client.get(url).status_code == 200, url
    assert entries(raw) == []


def test_sign_ins_and_sign_outs_are_recorded(make_client: ClientFactory, raw: redis.Redis) -> None:
    users = {"ada": ("pw-ada", "admin")}
    client = make_client(["email"], auth=FormLogin(users, SECRET), client={"follow_redirects": False})
    # A form from elsewhere is refused before any password is checked: nothing recorded.
    forged = client.post("/login", data={"username": "ada", "password": "pw-ada", "csrf_token": "forged"})
    assert forged.status_code == 403 and entries(raw) == []
    assert login(client, "ada", "wrong", mount="").status_code == 401
    assert login(client, "ada", "pw-ada", mount="").status_code == 303
    assert logout(client, mount="").status_code == 303
    signed_out, signed_in, refused = entries(raw)
    assert (refused["user"], refused["role"], refused["action"], refused["ok"]) == ("ada", "", "login", False)
    assert refused["outcome"] == "Wrong user name or password." and refused["details"] == {"status": 401}
    assert (signed_in["user"], signed_in["role"], signed_in["ok"], signed_in["outcome"]) == (
        "ada",
        "admin",
        True,
        "Signed in.",
    )
    assert (signed_out["user"], signed_out["action"], signed_out["ok"]) == ("ada", "logout", True)
    assert all(e["queue"] == "" and e["address"] == "testclient" for e in (refused, signed_in, signed_out))


def test_throttled_sign_ins_are_not_recorded(make_client: ClientFactory, raw: redis.Redis) -> None:
    users = {"ada": ("pw-ada", "admin")}
    client = make_client(["email"], auth=FormLogin(users, SECRET), client={"follow_redirects": False})
    answers = [login(client, "ada", "wrong", mount="").status_code for _ in range(8)]
    # Five failures lock the name: what follows is refused unread, and not written to the log.
    assert answers == [401] * 5 + [429] * 3
    assert [e["details"]["status"] for e in entries(raw)] == [401] * 5


def test_a_bulk_action_is_recorded_with_what_it_did_and_to_which_jobs(
    make_client: ClientFactory, sq: SyncQueue, qname: str, raw: redis.Redis
) -> None:
    delayed = [sq.add("later", {}, delay=3600).id for _ in range(2)]
    client = make_client([qname])
    response = client.post(f"/queues/{qname}/bulk", json={"action": "promote", "ids": delayed}, headers=JSON)
    assert response.status_code == 200
    (entry,) = [e for e in entries(raw) if e.get("action") == "bulk"]
    assert entry["details"]["action"] == "promote"
    assert sorted(entry["job_ids"]) == sorted(delayed)
