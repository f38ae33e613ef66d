"""The actions on one job (board/web/actions.py) over HTTP, each checked in Redis: as a browser's form post
(CSRF token from the page, 303 redirect, flash message) and as a script's JSON post ({"ok": true, ...}); the
rows of the queue page that post them."""

from __future__ import annotations

import html
import json
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
    dead_letter,
    flash_of,
    flow,
    in_wait,
    keys_of,
    post_forms,
    process_all,
    refused,
    tags_of,
    token,
    wait_for,
)

# Job actions --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_retry_job(
    make_client: ClientFactory, redis_url: str, sq: SyncQueue, qname: str, raw: redis.Redis, mode: str
) -> None:
    job = sq.add("flaky", {"fail": "down"})
    process_all(redis_url, sq, failed=1)
    client = make_client([qname])
    assert "Retry</button>" in client.get(f"/queues/{qname}/jobs/{job.id}").text

    message = act(client, mode, f"/queues/{qname}/jobs/{job.id}/retry", qname)
    assert message == f"Job {job.id} moved from failed back to waiting."
    assert in_wait(raw, qname) == [job.id]
    assert raw.zscore(f"bull:{qname}:failed", job.id) is None
    assert sq.get_job_state(job.id) == "waiting"

    # A waiting job cannot be retried.
    again = refused(client, mode, f"/queues/{qname}/jobs/{job.id}/retry", qname)
    assert again.status_code == 409
    assert in_wait(raw, qname) == [job.id]


@pytest.mark.parametrize("mode", MODES)
def test_promote_job(make_client: ClientFactory, sq: SyncQueue, qname: str, raw: redis.Redis, mode: str) -> None:
    job = sq.add("later", {}, delay=3600)
    other = sq.add("later too", {}, delay=3600)
    client = make_client([qname])
    assert "Promote</button>" in client.get(f"/queues/{qname}/jobs/{job.id}").text

    assert act(client, mode, f"/queues/{qname}/jobs/{job.id}/promote", qname) == f"Job {job.id} promoted: it runs now."
    assert in_wait(raw, qname) == [job.id]
    assert raw.zrange(f"bull:{qname}:delayed", 0, -1) == [other.id]
    assert refused(client, mode, f"/queues/{qname}/jobs/{job.id}/promote", qname).status_code == 409


@pytest.mark.parametrize("mode", MODES)
def test_remove_job_needs_confirmation(
    make_client: ClientFactory, sq: SyncQueue, qname: str, raw: redis.Redis, mode: str
) -> None:
    job = sq.add("doomed", {"a": 1})
    sq.add_job_log(job.id, "a line")
    keep = sq.add("kept", {})
    client = make_client([qname])
    url = f"/queues/{qname}/jobs/{job.id}/remove"
    before = keys_of(raw, qname)

    if mode == "form":
        asked = client.post(
            url, data={"csrf_token": token(client, qname), "next": f"/queues/{qname}"}, follow_redirects=False
        )
        assert asked.status_code == 200
        assert "Please confirm" in asked.text and f"Remove job {job.id} from {qname}" in asked.text
        assert keys_of(raw, qname) == before
        # The confirmation page's own form does it.
        form = next(attrs for tag, attrs in tags_of(asked.text) if tag == "form" and attrs.get("action") == url)
        assert form["method"] == "post"
        hidden = {
            attrs["name"]: attrs.get("value", "")
            for tag, attrs in tags_of(asked.text)
            if tag == "input" and attrs.get("type") == "hidden" and "name" in attrs
        }
        assert hidden["confirm"] == "1" and hidden["next"] == f"/queues/{qname}"
        done = client.post(url, data=hidden, follow_redirects=False)
        assert done.status_code == 303 and done.headers["location"] == f"/queues/{qname}"
        assert flash_of(client.get(done.headers["location"]).text) == f"Job {job.id} removed."
    else:
        asked = client.post(url, json={}, headers=JSON)
        assert asked.status_code == 400 and "confirm=true" in asked.json()["error"]
        assert keys_of(raw, qname) == before
        assert act(client, mode, url, qname, {"confirm": True}) == f"Job {job.id} removed."

    assert not raw.exists(f"bull:{qname}:{job.id}", f"bull:{qname}:{job.id}:logs")
    assert in_wait(raw, qname) == [keep.id]
    gone = refused(client, mode, url, qname, {"confirm": True})
    assert gone.status_code == 404


@pytest.mark.parametrize("mode", MODES)
def test_edit_data(make_client: ClientFactory, sq: SyncQueue, qname: str, raw: redis.Redis, mode: str) -> None:
    job = sq.add("mail", {"to": "ada@example.com"})
    client = make_client([qname])
    form = client.get(f"/queues/{qname}/jobs/{job.id}/edit")
    assert form.status_code == 200
    textarea = re.search(r'<textarea id="data" name="data"[^>]*>(.*?)</textarea>', form.text, re.S)
    assert textarea and json.loads(html.unescape(textarea.group(1))) == {"to": "ada@example.com"}

    new = {"to": "grace@example.com", "cc": ["x"]}
    value: Any = json.dumps(new) if mode == "form" else new
    message = act(client, mode, f"/queues/{qname}/jobs/{job.id}/data", qname, {"data": value})
    assert message == f"Data of job {job.id} replaced."
    assert json.loads(raw.hget(f"bull:{qname}:{job.id}", "data") or "") == new


@pytest.mark.parametrize("mode", MODES)
def test_edit_data_rejects_bad_json(
    make_client: ClientFactory, sq: SyncQueue, qname: str, raw: redis.Redis, mode: str
) -> None:
    job = sq.add("mail", {"to": "ada@example.com"})
    client = make_client([qname])
    before = keys_of(raw, qname)
    url = f"/queues/{qname}/jobs/{job.id}/data"

    response = refused(client, mode, url, qname, {"data": '{"to": '})
    assert response.status_code == 400
    if mode == "form":
        field = re.search(r'<div class="field error">(.*?)</div>', response.text, re.S)
        assert field, "the error is not shown next to the field"
        assert 'name="data"' in field.group(1) and 'aria-invalid="true"' in field.group(1)
        assert "Not valid JSON" in field.group(1)
        assert "{&#34;to&#34;: </textarea>" in field.group(1)  # what was typed, to fix it
    else:
        assert "Not valid JSON" in response.json()["error"]
    assert refused(client, mode, url, qname, {}).status_code == 400
    assert keys_of(raw, qname) == before


@pytest.mark.parametrize("mode", MODES)
def test_change_priority(make_client: ClientFactory, sq: SyncQueue, qname: str, raw: redis.Redis, mode: str) -> None:
    job = sq.add("j", {})
    client = make_client([qname])
    url = f"/queues/{qname}/jobs/{job.id}/priority"

    assert act(client, mode, url, qname, {"priority": 7}) == f"Priority of job {job.id} set to 7."
    assert raw.hget(f"bull:{qname}:{job.id}", "priority") == "7"
    assert raw.zscore(f"bull:{qname}:prioritized", job.id) is not None
    assert in_wait(raw, qname) == []

    before = keys_of(raw, qname)
    for bad in ("high", "", 3_000_000, -1):
        response = refused(client, mode, url, qname, {"priority": bad})
        assert response.status_code == 400, bad
    assert keys_of(raw, qname) == before


@pytest.mark.parametrize("mode", MODES)
def test_duplicate_job(make_client: ClientFactory, sq: SyncQueue, qname: str, raw: redis.Redis, mode: str) -> None:
    job = sq.add(
        "invoice",
        {"order": 42, "lines": [{"sku": "A", "qty": 2}]},
        attempts=3,
        backoff={"type": "exponential", "delay": 2, "jitter": 0.5},
        priority=4,
        remove_on_complete=10,
        remove_on_fail={"age": 60, "count": 5},
        keep_logs=5,
        stack_trace_limit=2,
    )
    client = make_client([qname])
    message = act(client, mode, f"/queues/{qname}/jobs/{job.id}/duplicate", qname)
    match = re.fullmatch(rf"Job {job.id} duplicated as job (\d+)\.", message)
    assert match
    copy_id = match.group(1)
    assert copy_id != job.id
    original = raw.hgetall(f"bull:{qname}:{job.id}")
    copy = raw.hgetall(f"bull:{qname}:{copy_id}")
    assert copy["name"] == original["name"]
    assert json.loads(copy["data"]) == json.loads(original["data"])
    assert json.loads(copy["opts"]) == json.loads(original["opts"])
    assert copy["priority"] == "4"
    assert raw.zscore(f"bull:{qname}:prioritized", copy_id) is not None


# Flows ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_removing_a_parent_says_it_took_its_children(
    make_client: ClientFactory, redis_url: str, sync_queues: Any, raw: redis.Redis, mode: str
) -> None:
    sync_queues("parents"), sync_queues("kids")
    parent, children = flow(redis_url, "parents", "kids", 3)
    client = make_client(["parents", "kids"])
    page = client.get(f"/queues/parents/jobs/{parent}").text
    assert "Remove this job, its logs and its 3 unfinished children?" in page
    message = act(client, mode, f"/queues/parents/jobs/{parent}/remove", "parents", {"confirm": True})
    assert message == f"Job {parent} removed with its 3 unfinished children."
    assert not any(raw.exists(f"bull:kids:{c}") for c in children) and not raw.exists(f"bull:parents:{parent}")
    assert raw.llen("bull:kids:wait") == 0


@pytest.mark.parametrize("mode", MODES)
def test_removing_a_child_says_what_its_parent_does_now(
    make_client: ClientFactory, redis_url: str, sync_queues: Any, raw: redis.Redis, mode: str
) -> None:
    parents, _ = sync_queues("parents"), sync_queues("kids")
    parent, children = flow(redis_url, "parents", "kids", 3)
    client = make_client(["parents", "kids"])
    first = act(client, mode, f"/queues/kids/jobs/{children[0]}/remove", "kids", {"confirm": True})
    assert first == f"Job {children[0]} removed. Its parent {parent} in parents now waits for 2 more."
    assert parents.get_job_state(parent) == "waiting-children"
    act(client, mode, f"/queues/kids/jobs/{children[1]}/remove", "kids", {"confirm": True})
    last = act(client, mode, f"/queues/kids/jobs/{children[2]}/remove", "kids", {"confirm": True})
    assert last == f"Job {children[2]} removed. Its parent {parent} in parents now runs."
    assert parents.get_job_state(parent) == "waiting"


def test_a_removed_childs_parent_is_named_only_to_who_may_see_it(
    make_client: ClientFactory, redis_url: str, sync_queues: Any
) -> None:
    from board import BasicAuth

    from .conftest import basic

    sync_queues("parents"), sync_queues("kids")
    parent, children = flow(redis_url, "parents", "kids", 2)
    users = {"kidder": ("pw-k", "admin", ["kids"])}
    client = make_client(["parents", "kids"], auth=BasicAuth(users))
    response = client.post(
        f"/queues/kids/jobs/{children[0]}/remove", json={"confirm": True}, headers={**basic("kidder", "pw-k"), **JSON}
    )
    assert response.status_code == 200
    assert response.json()["message"] == f"Job {children[0]} removed."
    assert "parents" not in response.text and parent not in response.text


# Dead letters ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_send_a_dead_letter_back(
    make_client: ClientFactory, redis_url: str, sync_queues: Any, raw: redis.Redis, mode: str
) -> None:
    email, dead = sync_queues("email"), sync_queues("email-dead")
    job = email.add("welcome", {"fail": "bounced"}, job_id="w1", remove_on_fail=True)
    with ThreadWorker(redis_url, "email", dead_letter_queue="email-dead"):
        wait_for(lambda: dead.get_job_counts("failed")["failed"] == 1, what="the dead letter")
    (letter,) = [str(i) for i in raw.zrange("bull:email-dead:failed", 0, -1)]
    client = make_client(["email", "email-dead"])
    message = act(client, mode, f"/queues/email-dead/jobs/{letter}/retry", "email-dead")
    assert message == f"Job {letter} sent back to queue email as job {job.id}."
    assert email.get_job_state(job.id) == "waiting"
    assert dead.get_job_counts("failed")["failed"] == 0
    if mode == "form":
        # The browser follows the job to where it went.
        form = {"csrf_token": token(client, "email")}
        assert (
            client.post(f"/queues/email-dead/jobs/{letter}/retry", data=form, follow_redirects=False).status_code == 404
        )


# Rows of the queue page ---------------------------------------------------------------------------------------


def row_buttons(page: str, job_id: str) -> dict[str, str]:
    """The buttons and links of one job's row: their label to where they post or lead."""
    row = re.search(
        rf'<tr>\s*<td class="pick"><input type="checkbox" name="ids" value="{re.escape(job_id)}".*?</tr>', page, re.S
    )
    assert row, f"no selectable row for job {job_id}"
    found: dict[str, str] = {}
    for tag, attrs in tags_of(row.group(0)):
        if tag == "button" and "formaction" in attrs:
            found[attrs["formaction"].rsplit("/", 1)[1]] = attrs.get("data-confirm", "")
        elif tag == "a" and ("?from=" in attrs.get("href", "") or attrs.get("href", "").endswith("/edit")):
            found["duplicate" if "?from=" in attrs["href"] else "edit"] = attrs["href"]
    return found


def test_rows_offer_the_actions_of_their_state(
    make_client: ClientFactory, redis_url: str, sq: SyncQueue, qname: str, raw: redis.Redis
) -> None:
    failed = sq.add("f", {"fail": "x"})
    completed = sq.add("c", {})
    process_all(redis_url, sq, completed=1, failed=1)
    delayed = sq.add("d", {}, delay=3600)
    waiting = sq.add("w", {})
    client = make_client([qname])

    latest = client.get(f"/queues/{qname}").text
    # One form around the table, with one token, whatever the number of rows.
    table_form = re.search(r'<form id="jobs-form".*?</form>', latest, re.S)
    assert table_form and table_form.group(0).count('name="csrf_token"') == 1
    assert row_buttons(latest, failed.id).keys() == {"retry", "duplicate", "edit", "remove"}
    assert row_buttons(latest, failed.id)["duplicate"] == f"/queues/{qname}/add?from={failed.id}"
    done = row_buttons(latest, completed.id)
    assert done.keys() == {"retry", "duplicate", "remove"} and "again" in done["retry"]
    assert row_buttons(latest, delayed.id).keys() == {"promote", "reschedule", "remove"}
    assert row_buttons(latest, waiting.id).keys() == {"priority", "remove"}

    # A row's button posts the table's form to that job's own action, and comes back to the list.
    here = f"/queues/{qname}?state=failed"
    form = {"csrf_token": token(client, qname), "next": here, "ids": waiting.id, f"priority.{waiting.id}": "0"}
    response = client.post(f"/queues/{qname}/jobs/{failed.id}/retry", data=form, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == here
    assert in_wait(raw, qname) == [waiting.id, failed.id] or sorted(in_wait(raw, qname)) == sorted(
        [waiting.id, failed.id]
    )
    assert sq.get_job_state(failed.id) == "waiting"

    # A priority typed in a row is that row's.
    form = {"csrf_token": token(client, qname), f"priority.{waiting.id}": "7", f"priority.{failed.id}": "1"}
    response = client.post(f"/queues/{qname}/jobs/{waiting.id}/priority", data=form, follow_redirects=False)
    assert response.status_code == 303
    assert raw.hget(f"bull:{qname}:{waiting.id}", "priority") == "7"
    assert raw.hget(f"bull:{qname}:{failed.id}", "priority") == "0"


def test_rows_follow_roles_and_queue_settings(
    make_client: ClientFactory, redis_url: str, sync_queues: Any, raw: redis.Redis
) -> None:
    locked, strict = sync_queues("locked"), sync_queues("strict")
    for q in (locked, strict):
        q.add("f", {"fail": "x"})
        process_all(redis_url, q, failed=1)
    settings = {"locked": {"read_only": True}, "strict": {"allow_retries": False}}
    client = make_client(["locked", "strict"], auth=BasicAuth(USERS), queue_config=settings)

    admin_strict = client.get("/queues/strict?state=failed", headers=AS["admin"]).text
    assert row_buttons(admin_strict, "1").keys() == {"duplicate", "edit", "remove"}
    assert 'value="retry"' not in admin_strict and "Retry all" not in admin_strict
    operator = client.get("/queues/strict?state=failed", headers=AS["operator"]).text
    assert row_buttons(operator, "1").keys() == {"duplicate", "edit"} and 'value="remove"' not in operator
    assert 'id="jobs-form"' not in client.get("/queues/strict", headers=AS["viewer"]).text
    assert 'id="jobs-form"' not in client.get("/queues/locked", headers=AS["admin"]).text

    # The server refuses what the page does not offer.
    before = keys_of(raw, "strict")
    for url, body in (
        ("/queues/strict/jobs/1/retry", {}),
        ("/queues/strict/retry", {"state": "failed", "confirm": True}),
    ):
        refusal = client.post(url, json=body, headers={**AS["admin"], **JSON})
        assert refusal.status_code == 403 and "Retries are turned off for queue strict" in refusal.json()["error"]
    assert keys_of(raw, "strict") == before
    refusal = client.post("/queues/locked/jobs/1/retry", json={}, headers={**AS["admin"], **JSON})
    assert refusal.status_code == 403 and "read-only" in refusal.json()["error"]


def test_retrying_a_completed_job_asks_first(
    make_client: ClientFactory, redis_url: str, sq: SyncQueue, qname: str, raw: redis.Redis
) -> None:
    job = sq.add("c", {})
    process_all(redis_url, sq, completed=1)
    client = make_client([qname])
    for mode in MODES:
        asked = refused(client, mode, f"/queues/{qname}/jobs/{job.id}/retry", qname)
        assert asked.status_code == (200 if mode == "form" else 400)
        assert sq.get_job_state(job.id) == "completed"
    assert "Please confirm" in asked.text or "confirm=true" in asked.text
    message = act(client, "form", f"/queues/{qname}/jobs/{job.id}/retry", qname, {"confirm": True})
    assert message == f"Job {job.id} moved from completed back to waiting."
    assert in_wait(raw, qname) == [job.id]


# Reschedule ---------------------------------------------------------------------------------------------------


def due_ms(raw: redis.Redis, queue: str, job_id: str) -> float:
    """When a delayed job is due, from its score (BullMQ keeps a counter in the low 12 bits)."""
    score = raw.zscore(f"bull:{queue}:delayed", job_id)
    assert score is not None
    return score // 4096


@pytest.mark.parametrize("mode", MODES)
def test_reschedule_a_delayed_job(
    make_client: ClientFactory, sq: SyncQueue, qname: str, raw: redis.Redis, mode: str
) -> None:
    job = sq.add("later", {}, delay=3600)
    client = make_client([qname])
    assert "reschedule" in " ".join(post_forms(client.get(f"/queues/{qname}/jobs/{job.id}").text))

    # As BullMQ's changeDelay: milliseconds unless a unit is said.
    start = time.time() * 1000
    message = act(client, mode, f"/queues/{qname}/jobs/{job.id}/reschedule", qname, {"delay": 120000})
    assert message.startswith(f"Job {job.id} rescheduled: it is due at ")
    assert start + 119_000 <= due_ms(raw, qname, job.id) <= time.time() * 1000 + 121_000
    assert raw.hget(f"bull:{qname}:{job.id}", "delay") == "120000"

    # In minutes, typed in its row of the queue page.
    row = {f"delay.{job.id}": "10", f"unit.{job.id}": "min", f"at.{job.id}": ""}
    act(client, mode, f"/queues/{qname}/jobs/{job.id}/reschedule", qname, row)
    assert abs(due_ms(raw, qname, job.id) - (time.time() * 1000 + 600_000)) < 5_000

    # At a time (a form's is read as UTC).
    act(client, mode, f"/queues/{qname}/jobs/{job.id}/reschedule", qname, {"at": "2099-01-01T00:00"})
    assert due_ms(raw, qname, job.id) == pytest.approx(4070908800000, abs=2_000)
    # The pages say when it now runs: from the delayed set, not the time it was added plus its delay.
    page = client.get(f"/queues/{qname}?state=delayed", headers=JSON).json()
    (shown,) = [row for row in page["jobs"] if row["id"] == job.id]
    assert shown["run_at_ms"] == due_ms(raw, qname, job.id)


def test_reschedule_refusals(make_client: ClientFactory, sq: SyncQueue, qname: str, raw: redis.Redis) -> None:
    job = sq.add("later", {}, delay=3600)
    waiting = sq.add("now", {})
    client = make_client([qname])
    before = keys_of(raw, qname)
    url = f"/queues/{qname}/jobs/{job.id}/reschedule"
    for body, field in (
        ({"delay": -1}, "delay"),
        ({"delay": "soon"}, "delay"),
        ({}, "delay"),
        ({"delay": 5, "unit": "weeks"}, "unit"),
        ({"at": "someday"}, "at"),
    ):
        answer = client.post(url, json=body, headers=JSON)
        assert answer.status_code == 400 and answer.json()["error"].startswith(f"{field}:"), body
    assert keys_of(raw, qname) == before
    assert (
        client.post(f"/queues/{qname}/jobs/{waiting.id}/reschedule", json={"delay": 5}, headers=JSON).status_code == 409
    )
    assert client.post(f"/queues/{qname}/jobs/404/reschedule", json={"delay": 5}, headers=JSON).status_code == 404


# Unprocessed children -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_remove_unprocessed_children(
    make_client: ClientFactory, redis_url: str, sync_queues: Any, raw: redis.Redis, mode: str
) -> None:
    from board import SyncFlowProducer

    sync_queues("parents"), sync_queues("later")
    kids = sync_queues("kids")
    with SyncFlowProducer(redis_url) as flows:
        children = [{"name": "done", "queue_name": "kids", "job_id": "c0"}]
        children += [{"name": f"c{i}", "queue_name": "later", "job_id": f"c{i}"} for i in (1, 2)]
        flows.add({"name": "parent", "queue_name": "parents", "job_id": "p7", "children": children})
    # One child done before: it stays, with its result for the parent.
    process_all(redis_url, kids, completed=1)
    client = make_client(["parents", "kids", "later"])

    queue_page = client.get("/queues/parents?state=waiting-children").text
    assert "remove-children" in row_buttons(queue_page, "p7")
    assert "Remove unprocessed children" in client.get("/queues/parents/jobs/p7").text
    message = act(client, mode, "/queues/parents/jobs/p7/remove-children", "parents", {"confirm": True})
    assert message == "2 unprocessed child job(s) of job p7 removed."
    assert not raw.exists("bull:later:c1") and not raw.exists("bull:later:c2")
    assert raw.exists("bull:kids:c0") and raw.hlen("bull:parents:p7:processed") == 1
    # Waiting for nothing now, the parent runs.
    assert raw.scard("bull:parents:p7:dependencies") == 0
    assert raw.lrange("bull:parents:wait", 0, -1) == ["p7"]


def test_remove_unprocessed_children_keeps_hidden_queues_and_asks_first(
    make_client: ClientFactory, redis_url: str, sync_queues: Any, raw: redis.Redis
) -> None:
    sync_queues("parents"), sync_queues("kids")
    parent, children = flow(redis_url, "parents", "kids", 2)
    users = {**USERS, "team": ("team-pw", "admin", ["parents"])}
    client = make_client(["parents", "kids"], auth=BasicAuth(users))
    team = basic("team", "team-pw")
    url = f"/queues/parents/jobs/{parent}/remove-children"
    asked = client.post(url, json={}, headers={**team, **JSON})
    assert asked.status_code == 400 and "confirm=true" in asked.json()["error"]
    operator = client.post(url, json={"confirm": True}, headers={**AS["operator"], **JSON})
    assert operator.status_code == 403
    answer = client.post(url, json={"confirm": True}, headers={**team, **JSON}).json()
    assert answer["message"].startswith(f"0 unprocessed child job(s) of job {parent} removed. 2 kept")
    assert all(raw.exists(f"bull:kids:{c}") for c in children)


def test_removing_a_parent_never_reaches_children_in_a_queue_the_user_may_not_change(
    make_client: ClientFactory, redis_url: str, sync_queues: Any, raw: redis.Redis
) -> None:
    sync_queues("parents"), sync_queues("kids")
    parent, children = flow(redis_url, "parents", "kids", 2)
    client = make_client(["parents", "kids"], queue_config={"kids": {"read_only": True}})
    refused = client.post(f"/queues/parents/jobs/{parent}/remove", json={"confirm": True}, headers=JSON)
    assert refused.status_code == 409
    assert "children in a queue you may not change" in refused.json()["error"]
    assert raw.exists(f"bull:parents:{parent}") and all(raw.exists(f"bull:kids:{c}") for c in children)
    # Once the children's queue may be changed, the parent goes with them.
    client = make_client(["parents", "kids"])
    assert client.post(f"/queues/parents/jobs/{parent}/remove", json={"confirm": True}, headers=JSON).status_code == 200
    assert not any(raw.exists(f"bull:kids:{c}") for c in children)


def test_a_dead_letter_is_sent_back_only_to_a_queue_that_takes_retries(
    make_client: ClientFactory, redis_url: str, sync_queues: Any, raw: redis.Redis
) -> None:
    payroll, dead = sync_queues("payroll"), sync_queues("payroll-dead")
    letter = dead_letter(redis_url, payroll, dead)
    before = keys_of(raw, "payroll")
    for settings in ({"read_only": True}, {"allow_retries": False}):
        client = make_client(["payroll-dead", "payroll"], queue_config={"payroll": settings})
        single = client.post(f"/queues/payroll-dead/jobs/{letter}/retry", json={}, headers=JSON)
        assert single.status_code == 403 and "may not change" in single.json()["error"]
        bulk = client.post(
            "/queues/payroll-dead/bulk", json={"action": "retry", "ids": [letter], "state": "failed"}, headers=JSON
        )
        assert bulk.status_code == 200 and bulk.json()["done"] == []
        assert keys_of(raw, "payroll") == before
    assert raw.zscore("bull:payroll-dead:failed", letter) is not None
