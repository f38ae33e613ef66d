"""A queue page's rows of jobs (board/web/job_rows.py): ids, names, data and reasons escaped and intact, each
row's fields and buttons naming its own job, and the buttons following the job's state and the user's role
exactly as the server accepts the actions they post."""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import quote

import redis

from board import BasicAuth, SyncQueue

from .conftest import AS, JSON, USERS, ClientFactory, flow, keys_of, process_all, tags_of, token
from .test_actions import row_buttons

# Every action a row can post (the last part of its URL).
ACTIONS = ("retry", "promote", "reschedule", "priority", "duplicate", "remove", "remove-children")


def row_of(page: str, job_id: str) -> str:
    """A job's row, found by its link (which every row has, whoever is asking)."""
    rows = [row for row in re.findall(r"<tr>.*?</tr>", page, re.S) if f'/jobs/{quote(job_id, safe="")}"' in row]
    assert len(rows) == 1, f"no row for job {job_id!r}"
    return str(rows[0])


def attrs_of(row: str, tag: str, **having: str) -> dict[str, str]:
    (found,) = [a for t, a in tags_of(row) if t == tag and all(a.get(k) == v for k, v in having.items())]
    return found


def text_of(fragment: str) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", fragment))


def test_hostile_values_come_out_escaped_and_intact(
    make_client: ClientFactory, sq: SyncQueue, qname: str, raw: redis.Redis
) -> None:
    # No '%': Starlette's TestClient decodes a path twice, which a browser's server does not.
    job_id = "x/\"<b>&'?#"
    name = '<script>alert("n")</script>'
    sq.add(name, {"x": "<script>&\"'"}, job_id=job_id, priority=5, deduplication={"id": '<d>&"'})
    client = make_client([qname])
    page = client.get(f"/queues/{qname}?state=prioritized").text
    assert "<script>alert" not in page and "<b>&" not in page and "<d>" not in page

    row = row_of(page, job_id)
    at = f"/queues/{qname}/jobs/{quote(job_id, safe='')}"
    assert attrs_of(row, "input", type="checkbox")["value"] == job_id
    link = attrs_of(row, "a", href=at)
    assert link and client.get(at).status_code == 200
    cell = re.search(r'<td class="name">(.*?)<div class="row-actions">', row, re.S)
    assert cell and text_of(cell.group(1)).startswith(name + ' p5 dedup <d>&"')
    preview = re.search(r'<div class="preview mono"[^>]*>(.*?)</div>', row, re.S)
    assert preview and '"x":"<script>&\\"\'"' in text_of(preview.group(1)).replace(" ", "")
    assert attrs_of(row, "input", type="number")["name"] == f"priority.{job_id}"
    assert attrs_of(row, "input", type="number")["value"] == "5"
    assert attrs_of(row, "button", formaction=f"{at}/priority")
    assert attrs_of(row, "button", formaction=f"{at}/remove")["data-confirm"] == f"Remove job {job_id} and its logs?"

    # What a row names is what the server reads: its field, posted to its button's action, sets its job.
    form = {"csrf_token": token(client, qname), f"priority.{job_id}": "9"}
    assert client.post(f"{at}/priority", data=form, follow_redirects=False).status_code == 303
    assert raw.hget(f"bull:{qname}:{job_id}", "priority") == "9"


def test_bytes_that_are_not_utf8_are_shown_as_escapes(
    make_client: ClientFactory, sq: SyncQueue, qname: str, raw_bytes: redis.Redis
) -> None:
    sq.add("fine", {})
    raw_bytes.hset(
        f"bull:{qname}:id\xff".encode("latin-1"),
        mapping={
            b"name": b"n\xe9<b>",
            b"data": b'{"x": "\xff<script>"}',
            b"opts": b"{}",
            b"timestamp": b"1000",
            b"failedReason": b"bad \xfe <i>",
        },
    )
    raw_bytes.zadd(f"bull:{qname}:failed".encode(), {"id\xff".encode("latin-1"): 5})
    client = make_client([qname])
    page = client.get(f"/queues/{qname}?state=failed")
    assert page.status_code == 200

    (row,) = [r for r in re.findall(r"<tr>.*?</tr>", page.text, re.S) if "id%FF" in r]
    # The link carries the bytes Redis holds; the text shows them as escapes.
    assert attrs_of(row, "a", href=f"/queues/{qname}/jobs/id%FF")
    assert attrs_of(row, "input", type="checkbox")["value"] == "id\\xff"
    cell = re.search(r'<td class="name">(.*?) <span class="badge badge-error"', row, re.S)
    assert cell and text_of(cell.group(1)) == "n\\xe9<b>"
    assert "malformed" in row
    previews = [text_of(p) for p in re.findall(r'<div class="preview[^"]*"[^>]*>(.*?)</div>', row, re.S)]
    assert previews[0].replace(" ", "") == '{"x":"\\xff<script>"}' and previews[1] == "bad \\xfe <i>"


def test_buttons_follow_state_and_role_as_the_server_does(
    make_client: ClientFactory, redis_url: str, sync_queues: Any, raw: redis.Redis
) -> None:
    q, locked = sync_queues("work"), sync_queues("locked")
    failed = q.add("f", {"fail": "x"})
    completed = q.add("c", {})
    process_all(redis_url, q, completed=1, failed=1)
    delayed = q.add("d", {}, delay=3_600_000)
    waiting = q.add("w", {})
    prioritized = q.add("p", {}, priority=4)
    parent, _ = flow(redis_url, "work", "kids", 2)
    locked.add("x", {})
    client = make_client(
        ["work", "kids", "locked"], auth=BasicAuth(USERS), queue_config={"locked": {"read_only": True}}
    )
    jobs = {
        "failed": failed.id,
        "completed": completed.id,
        "delayed": delayed.id,
        "waiting": waiting.id,
        "prioritized": prioritized.id,
        "waiting-children": parent,
    }
    operator = {
        "failed": {"retry", "duplicate", "edit"},
        "completed": {"retry", "duplicate"},
        "delayed": {"promote", "reschedule"},
        "waiting": {"priority"},
        "prioritized": {"priority"},
        "waiting-children": set(),
    }
    admin = {state: offered | {"remove"} for state, offered in operator.items()}
    admin["waiting-children"] |= {"remove-children"}
    for role, expected in (("operator", operator), ("admin", admin)):
        for state, job_id in jobs.items():
            page = client.get(f"/queues/work?state={state}", headers=AS[role]).text
            assert row_buttons(page, job_id).keys() == expected[state], (role, state)
    viewer = client.get("/queues/work?state=failed", headers=AS["viewer"]).text
    assert 'name="ids"' not in viewer and "formaction" not in viewer and "?from=" not in viewer
    assert "formaction" not in client.get("/queues/locked", headers=AS["admin"]).text

    # The server accepts from each role what its rows offer it, and no more: a role refused an action
    # gets 403 before any job is looked for, one allowed gets on to find no such job.
    offered = {
        "viewer": set(),
        "operator": set().union(*operator.values()),
        "admin": set().union(*admin.values()),
    }
    before = keys_of(raw, "work"), keys_of(raw, "locked")
    for role, allowed in offered.items():
        for action in ACTIONS:
            status = client.post(f"/queues/work/jobs/nope/{action}", json={}, headers={**AS[role], **JSON}).status_code
            assert (status == 403) == (action not in allowed), (role, action, status)
            locked_status = client.post(f"/queues/locked/jobs/x/{action}", json={}, headers={**AS[role], **JSON})
            assert locked_status.status_code == 403, (role, action)
    # And refuses the state-bound actions on the jobs whose rows do not offer them.
    for state, job_id in jobs.items():
        for action in ("retry", "promote"):
            if action not in admin[state]:
                refusal = client.post(f"/queues/work/jobs/{job_id}/{action}", json={}, headers={**AS["admin"], **JSON})
                assert refusal.status_code == 409, (state, action, refusal.text)
    assert (keys_of(raw, "work"), keys_of(raw, "locked")) == before
