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

from board import SyncQueue

from .conftest import (
    JSON,
    MODES,
    ClientFactory,
    ThreadWorker,
    act,
    counts_of,
    flash_of,
    keys_of,
    process_all,
    refused,
    tags_of,
    token,
    wait_for,
)


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
    from board import BasicAuth

    from .conftest import AS, USERS

    sq.add("j", {})
    client = make_client([qname], auth=BasicAuth(USERS))
    before = keys_of(raw, qname)
    for who in ("viewer", "operator"):
        for url, body in (("concurrency", {"concurrency": 2}), ("rate-limit", {"max": 5, "duration": 1})):
            response = client.post(f"/queues/{qname}/{url}", json=body, headers={**AS[who], **JSON})
            assert response.status_code == 403, (who, url)
    assert keys_of(raw, qname) == before


# Flows ----------------------------------------------------------------------------------------------------------


def flow(redis_url: str, parent_queue: str, child_queue: str, children: int) -> tuple[str, list[str]]:
    from board import SyncFlowProducer

    with SyncFlowProducer(redis_url) as flows:
        tree = flows.add(
            {
                "name": "parent",
                "queue_name": parent_queue,
                "job_id": "p7",
                "children": [{"name": f"c{i}", "queue_name": child_queue, "job_id": f"c{i}"} for i in range(children)],
            }
        )
    return tree.job.id, [child.job.id for child in tree.children]


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
