"""Adding a job (board/web/adding.py): BullMQ's option names and units (ms) from the form and from JSON, the
older snake_case names, errors that name the option and write nothing, and adding from a form prefilled
from another job (the prefilled form itself is in test_views.py) with its masked secrets given back."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import pytest
import redis

from board import BasicAuth, SyncQueue

from .conftest import AS, JSON, MODES, USERS, ClientFactory, act, keys_of, token


@pytest.mark.parametrize("mode", MODES)
def test_add_job_in_bullmq_names_and_units(make_client: ClientFactory, qname: str, raw: redis.Redis, mode: str) -> None:
    client = make_client([qname])
    page = client.get(f"/queues/{qname}/add")
    assert page.status_code == 200 and 'name="options"' in page.text
    assert "milliseconds" in page.text  # the form says which unit it uses
    data = {"to": "ada@example.com", "n": [1, 2]}
    options = {
        "delay": 60000,
        "attempts": 3,
        "backoff": {"type": "fixed", "delay": 5000},
        "jobId": "welcome-ada",
        "removeOnComplete": {"age": 3600, "count": 10},
        "removeOnFail": 5,
        "keepLogs": 20,
        "stackTraceLimit": 2,
    }
    fields: dict[str, Any] = {"name": "welcome", "data": data, "options": options}
    if mode == "form":
        fields = {k: v if isinstance(v, str) else json.dumps(v) for k, v in fields.items()}

    assert act(client, mode, f"/queues/{qname}/add", qname, fields) == "Job welcome-ada added."
    stored = raw.hgetall(f"bull:{qname}:welcome-ada")
    assert stored["name"] == "welcome"
    assert json.loads(stored["data"]) == data
    opts = json.loads(stored["opts"])
    assert opts["attempts"] == 3 and opts["backoff"] == {"type": "fixed", "delay": 5000}
    assert opts["removeOnComplete"] == {"age": 3600, "count": 10} and opts["removeOnFail"] == 5
    assert opts["kl"] == 20 and opts["stackTraceLimit"] == 2
    # 60000 ms, as BullMQ reads it: not 60000 seconds.
    assert stored["delay"] == "60000"
    assert raw.zscore(f"bull:{qname}:delayed", "welcome-ada") is not None

    # Without an id, the next one; a priority puts it in prioritized; a deduplication ttl in ms.
    plain: dict[str, Any] = {
        "name": "second",
        "data": {},
        "options": {"priority": 2, "deduplication": {"id": "d", "ttl": 1500}},
    }
    if mode == "form":
        plain = {"name": "second", "data": "", "options": json.dumps(plain["options"])}
    added = re.fullmatch(r"Job (\d+) added\.", act(client, mode, f"/queues/{qname}/add", qname, plain))
    assert added
    assert raw.zscore(f"bull:{qname}:prioritized", added.group(1)) is not None
    assert json.loads(str(raw.hget(f"bull:{qname}:{added.group(1)}", "opts")))["de"] == {"id": "d", "ttl": 1500}


def test_snake_case_names_still_work(make_client: ClientFactory, qname: str, raw: redis.Redis) -> None:
    client = make_client([qname])
    options = {"job_id": "old-style", "remove_on_fail": True, "keep_logs": 3, "delay": 2000}
    act(client, "json", f"/queues/{qname}/add", qname, {"name": "n", "data": {}, "options": options})
    opts = json.loads(str(raw.hget(f"bull:{qname}:old-style", "opts")))
    assert opts["removeOnFail"] is True and opts["kl"] == 3 and opts["delay"] == 2000


ADD_ERRORS = [
    ({"name": "x", "data": '{"a": ', "options": "{}"}, "data", "Not valid JSON"),
    ({"name": "x", "data": "{}", "options": "{delay: 5}"}, "options", "Not valid JSON"),
    ({"name": "x", "data": "{}", "options": '{"colour": "red"}'}, "options", "Unknown option(s): colour"),
    ({"name": "x", "data": "{}", "options": "[1, 2]"}, "options", "Options must be a JSON object"),
    ({"name": "x", "data": "{}", "options": '{"delay": -5}'}, "options", "delay: expected milliseconds"),
    ({"name": "x", "data": "{}", "options": '{"delay": "soon"}'}, "options", "delay: expected milliseconds"),
    (
        {"name": "x", "data": "{}", "options": '{"backoff": {"type": "fixed", "delay": true}}'},
        "options",
        "backoff.delay",
    ),
    ({"name": "x", "data": "{}", "options": '{"jobId": "a:b"}'}, "options", "job_id"),
    ({"name": "x", "data": "{}", "options": '{"jobId": "a", "job_id": "b"}'}, "options", "given twice"),
    ({"name": "x", "data": "{}", "options": '{"removeOnComplete": "yes"}'}, "options", "remove_on_complete"),
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


def test_a_copy_keeps_the_secrets_left_masked(
    make_client: ClientFactory, sq: SyncQueue, qname: str, raw: redis.Redis
) -> None:
    original = sq.add("mail", {"to": "ada@example.com", "password": "hunter2", "apiKey": "key-1"}, attempts=4)
    client = make_client([qname])
    page = client.get(f"/queues/{qname}/add?from={original.id}").text
    assert "hunter2" not in page and "key-1" not in page
    shown = re.search(r'<textarea id="data" name="data"[^>]*>(.*?)</textarea>', page, re.S)
    assert shown
    data = json.loads(html.unescape(shown.group(1)))
    assert data["password"] == "***"
    data["to"] = "grace@example.com"  # changed; the password left masked; a new key typed
    data["apiKey"] = "key-2"
    fields = {"csrf_token": token(client, qname), "name": "mail", "data": json.dumps(data), "options": "{}"}
    response = client.post(f"/queues/{qname}/add", data={**fields, "from": original.id}, follow_redirects=False)
    assert response.status_code == 303, response.text
    copy_id = response.headers["location"].rsplit("/", 1)[1]
    assert copy_id != original.id
    assert json.loads(str(raw.hget(f"bull:{qname}:{copy_id}", "data"))) == {
        "to": "grace@example.com",
        "password": "hunter2",
        "apiKey": "key-2",
    }


def test_replacing_a_deduplicated_job_is_for_admins(
    make_client: ClientFactory, sq: SyncQueue, qname: str, raw: redis.Redis
) -> None:
    held = sq.add("important", {"v": 1}, delay=3600, deduplication={"id": "k", "ttl": 3600}).id
    client = make_client([qname], auth=BasicAuth(USERS))
    options = {"delay": 1000, "deduplication": {"id": "k", "replace": True, "ttl": 100000}}
    body = {"name": "x", "data": {}, "options": options}
    refused = client.post(f"/queues/{qname}/add", json=body, headers={**AS["operator"], **JSON})
    assert refused.status_code == 403 and "needs an admin" in refused.json()["error"]
    assert raw.exists(f"bull:{qname}:{held}")
    done = client.post(f"/queues/{qname}/add", json=body, headers={**AS["admin"], **JSON})
    assert done.status_code == 200 and not raw.exists(f"bull:{qname}:{held}")
