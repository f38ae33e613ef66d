"""The board's actions over HTTP, each checked in Redis: as a browser's form post (CSRF token from the page,
303 redirect, flash message) and as a script's JSON post ({"ok": true, "message": ...})."""

from __future__ import annotations

import html
import json
import re
import time
from typing import Any

import pytest
import redis
from starlette.testclient import TestClient

from board import SyncQueue

from .conftest import (
    JSON,
    ClientFactory,
    ThreadWorker,
    counts_of,
    csrf_of,
    flash_of,
    keys_of,
    process_all,
    tags_of,
    wait_for,
)

MODES = ["form", "json"]


def token(client: TestClient, queue: str) -> str:
    return csrf_of(client.get(f"/queues/{queue}/add").text)


def _form_value(value: Any) -> str:
    if value is True:
        return "1"
    return value if isinstance(value, str) else json.dumps(value)


def act(client: TestClient, mode: str, url: str, queue: str, fields: dict[str, Any] | None = None) -> str:
    """Posts an action and returns the message it answered with, after checking the answer's shape."""
    fields = fields or {}
    if mode == "form":
        form = {"csrf_token": token(client, queue), **{k: _form_value(v) for k, v in fields.items()}}
        response = client.post(url, data=form, follow_redirects=False)
        assert response.status_code == 303, (response.status_code, response.text[-2000:])
        location = response.headers["location"]
        assert location.startswith("/")
        page = client.get(location)
        assert page.status_code == 200
        message = flash_of(page.text)
        assert message, "no flash message after the redirect"
        assert flash_of(client.get(location).text) is None, "the flash message is shown only once"
        return message
    response = client.post(url, json=fields, headers=JSON)
    assert response.status_code == 200, (response.status_code, response.text)
    body = response.json()
    assert body["ok"] is True and isinstance(body["message"], str)
    return str(body["message"])


def refused(client: TestClient, mode: str, url: str, queue: str, fields: dict[str, Any] | None = None) -> Any:
    """Posts an action that must be refused; returns the response."""
    fields = fields or {}
    if mode == "form":
        form = {"csrf_token": token(client, queue), **{k: _form_value(v) for k, v in fields.items()}}
        return client.post(url, data=form, follow_redirects=False)
    return client.post(url, json=fields, headers=JSON)


def in_wait(raw: redis.Redis, queue: str) -> list[str]:
    return [str(job_id) for job_id in raw.lrange(f"bull:{queue}:wait", 0, -1)]


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


@pytest.mark.parametrize("mode", MODES)
def test_add_job(make_client: ClientFactory, qname: str, raw: redis.Redis, mode: str) -> None:
    client = make_client([qname])
    page = client.get(f"/queues/{qname}/add")
    assert page.status_code == 200 and 'name="options"' in page.text
    data = {"to": "ada@example.com", "n": [1, 2]}
    options = {"delay": 60, "attempts": 3, "backoff": {"type": "fixed", "delay": 5}, "job_id": "welcome-ada"}
    fields: dict[str, Any] = {"name": "welcome", "data": data, "options": options}
    if mode == "form":
        fields = {k: v if isinstance(v, str) else json.dumps(v) for k, v in fields.items()}

    assert act(client, mode, f"/queues/{qname}/add", qname, fields) == "Job welcome-ada added."
    stored = raw.hgetall(f"bull:{qname}:welcome-ada")
    assert stored["name"] == "welcome"
    assert json.loads(stored["data"]) == data
    opts = json.loads(stored["opts"])
    assert opts["attempts"] == 3 and opts["backoff"] == {"type": "fixed", "delay": 5000}
    assert stored["delay"] == "60000"
    assert raw.zscore(f"bull:{qname}:delayed", "welcome-ada") is not None

    # Without a job_id, the next id; a priority puts it in prioritized.
    plain: dict[str, Any] = {"name": "second", "data": {}, "options": {"priority": 2}}
    if mode == "form":
        plain = {"name": "second", "data": "", "options": '{"priority": 2}'}
    added = re.fullmatch(r"Job (\d+) added\.", act(client, mode, f"/queues/{qname}/add", qname, plain))
    assert added
    assert raw.zscore(f"bull:{qname}:prioritized", added.group(1)) is not None
    assert raw.hget(f"bull:{qname}:{added.group(1)}", "data") == "{}"
    assert raw.hget(f"bull:{qname}:{added.group(1)}", "name") == "second"


ADD_ERRORS = [
    ({"name": "x", "data": '{"a": ', "options": "{}"}, "data", "Not valid JSON"),
    ({"name": "x", "data": "{}", "options": "{delay: 5}"}, "options", "Not valid JSON"),
    ({"name": "x", "data": "{}", "options": '{"colour": "red"}'}, "options", "Unknown option(s): colour"),
    ({"name": "x", "data": "{}", "options": "[1, 2]"}, "options", "Options must be a JSON object"),
    ({"name": "x", "data": "{}", "options": '{"delay": -5}'}, "options", "delay"),
    ({"name": "x", "data": "{}", "options": '{"job_id": "a:b"}'}, "options", "job_id"),
    ({"name": "x", "data": "{}", "options": '{"priority": 99999999}'}, "options", "priority"),
    ({"name": "  ", "data": "{}", "options": "{}"}, "name", "Give the job a name."),
    # Valid JSON text that the engine cannot store: the engine's refusal lands on the data field.
    ({"name": "x", "data": '"\\ud800"', "options": "{}"}, "data", "lone surrogate"),
]


@pytest.mark.parametrize(("fields", "field", "error"), ADD_ERRORS, ids=[e[2][:20] for e in ADD_ERRORS])
def test_add_job_errors_write_nothing(
    make_client: ClientFactory,
    sq: SyncQueue,
    qname: str,
    raw: redis.Redis,
    fields: dict[str, str],
    field: str,
    error: str,
) -> None:
    sq.add("existing", {})
    client = make_client([qname])
    before = keys_of(raw, qname)
    counter = raw.get(f"bull:{qname}:id")

    page = client.post(f"/queues/{qname}/add", data={"csrf_token": token(client, qname), **fields})
    assert page.status_code == 400
    errors = {
        m.group(1): html.unescape(m.group(2))
        for m in re.finditer(
            r'<div class="field error">\s*<label for="(\w+)">.*?<p class="field-error">(.*?)</p>', page.text, re.S
        )
    }
    assert list(errors) == [field], errors
    assert error in errors[field]
    # What was typed comes back, to be fixed.
    for name in ("data", "options"):
        shown = re.search(rf'<textarea id="{name}" name="{name}"[^>]*>(.*?)</textarea>', page.text, re.S)
        assert shown and html.unescape(shown.group(1)) == fields[name]

    body = {k: (json.loads(v) if k != "name" and _is_json(v) else v) for k, v in fields.items()}
    # Escaped to ASCII, so that a lone surrogate travels as JSON text does.
    as_json = client.post(
        f"/queues/{qname}/add", content=json.dumps(body), headers={**JSON, "Content-Type": "application/json"}
    )
    assert as_json.status_code == 400
    assert field in as_json.json()["fields"]

    assert raw.get(f"bull:{qname}:id") == counter
    assert keys_of(raw, qname) == before


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


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

    queue_page = client.get(f"/queues/{qname}").text
    assert "Retry all failed" in queue_page and "Retry all completed" not in queue_page
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
