"""The check in front of every page, fragment and action (board/web/guard.py, the ``guarded`` decorator): who
is asking (an anonymous request gets the auth backend's challenge), whether their role allows it (viewer <
operator < admin), whether they may see the queue (a hidden queue is answered exactly like one that does
not exist), whether the board is read-only, and whether an action's body is a form or a JSON object."""

from __future__ import annotations

from typing import Any

import redis

from board import BasicAuth, SyncQueue
from board.web.throttle import LoginThrottle

from .conftest import AS, JSON, JSON_POST, USERS, ClientFactory, basic, keys_of, post_forms, process_all

OPERATOR_ACTIONS = {"retry", "promote", "data", "priority", "duplicate", "add"}


def action_urls(queue: str, ids: dict[str, str]) -> list[tuple[str, str, dict[str, Any]]]:
    """(action, url, JSON body) for every action, in an order an admin can run them all."""
    job = f"/queues/{queue}/jobs"
    q = f"/queues/{queue}"
    return [
        ("retry", f"{job}/{ids['failed']}/retry", {}),
        ("promote", f"{job}/{ids['delayed']}/promote", {}),
        ("data", f"{job}/{ids['waiting']}/data", {"data": {"new": True}}),
        ("priority", f"{job}/{ids['waiting']}/priority", {"priority": 5}),
        ("duplicate", f"{job}/{ids['waiting']}/duplicate", {}),
        ("add", f"{q}/add", {"name": "added", "data": {}, "options": {}}),
        ("remove", f"{job}/{ids['waiting']}/remove", {"confirm": True}),
        ("retry_all", f"{q}/retry", {"state": "completed", "confirm": True}),
        ("promote_all", f"{q}/promote", {"confirm": True}),
        ("clean", f"{q}/clean", {"state": "completed", "grace": 0, "limit": 10, "confirm": True}),
        ("pause", f"{q}/pause", {}),
        ("resume", f"{q}/resume", {}),
        ("empty", f"{q}/empty", {"delayed": True, "confirm": True}),
        ("pause", f"{q}/pause", {}),
        ("obliterate", f"{q}/obliterate", {"confirm": True}),
    ]


def fill(redis_url: str, queue: SyncQueue) -> dict[str, str]:
    """One job of each kind an action needs."""
    ids = {"failed": queue.add("bad", {"fail": "x"}).id, "completed": queue.add("good", {}).id}
    process_all(redis_url, queue, completed=1, failed=1)
    ids["delayed"] = queue.add("later", {}, delay=600).id
    ids["waiting"] = queue.add("now", {"a": 1}).id
    return ids


# Roles --------------------------------------------------------------------------------------------------------


def test_viewer_reads_everything_and_does_nothing(
    make_client: ClientFactory, redis_url: str, sync_queues: Any, raw: redis.Redis
) -> None:
    ids = fill(redis_url, sync_queues("email"))
    client = make_client(["email"], auth=BasicAuth(USERS))
    viewer = AS["viewer"]
    for url in (
        "/",
        "/queues/email",
        "/queues/email?state=failed",
        f"/queues/email/jobs/{ids['failed']}",
        f"/queues/email/jobs/{ids['waiting']}/raw/data",
        "/redis",
        f"/find?id={ids['waiting']}",
        "/static/board.css",
    ):
        assert client.get(url, headers=viewer).status_code == 200, url
        assert client.get(url, headers={**viewer, **JSON}).status_code == 200, url
    # No buttons for a viewer.
    for url in ("/", "/queues/email", f"/queues/email/jobs/{ids['failed']}", f"/queues/email/jobs/{ids['delayed']}"):
        assert post_forms(client.get(url, headers=viewer).text) == [], url
    assert "Add job" not in client.get("/queues/email", headers=viewer).text
    # Nor the forms.
    assert client.get("/queues/email/add", headers=viewer).status_code == 403
    assert client.get(f"/queues/email/jobs/{ids['waiting']}/edit", headers=viewer).status_code == 403

    before = keys_of(raw, "email")
    for action, url, body in action_urls("email", ids):
        response = client.post(url, json=body, headers={**viewer, **JSON})
        assert response.status_code == 403, action
        assert response.json()["error"].endswith("you are viewer.")
        form = client.post(url, data={k: str(v) for k, v in body.items()}, headers=viewer)
        assert form.status_code == 403, action
    assert keys_of(raw, "email") == before


def test_operator_works_on_jobs_but_not_on_queues(
    make_client: ClientFactory, redis_url: str, sync_queues: Any, raw: redis.Redis
) -> None:
    ids = fill(redis_url, sync_queues("email"))
    client = make_client(["email"], auth=BasicAuth(USERS))
    operator = AS["operator"]

    job_page = client.get(f"/queues/email/jobs/{ids['failed']}", headers=operator).text
    forms = post_forms(job_page)
    assert f"/queues/email/jobs/{ids['failed']}/retry" in forms
    # Duplicate opens the add form, filled in from the job.
    assert f'href="/queues/email/add?from={ids["failed"]}"' in job_page
    assert f"/queues/email/jobs/{ids['failed']}/remove" not in forms
    queue_page = client.get("/queues/email", headers=operator).text
    # The jobs' own actions, one form for the table; none of the queue's (an admin's).
    assert "Add job" in queue_page and post_forms(queue_page) == ["/queues/email/bulk"]
    for admins in ("pause", "retry", "promote", "clean", "empty", "obliterate", "concurrency", "rate-limit"):
        assert f'action="/queues/email/{admins}"' not in queue_page
    assert client.get("/queues/email/add", headers=operator).status_code == 200

    for action, url, body in action_urls("email", ids):
        before = keys_of(raw, "email")
        response = client.post(url, json=body, headers={**operator, **JSON})
        if action in OPERATOR_ACTIONS:
            assert response.status_code == 200, (action, response.text)
            assert response.json()["ok"] is True
        else:
            assert response.status_code == 403, action
            assert response.json()["error"] == "This needs an admin; you are operator."
            assert keys_of(raw, "email") == before, action
    assert raw.hget(f"bull:email:{ids['waiting']}", "priority") == "5"


def test_admin_does_everything(make_client: ClientFactory, redis_url: str, sync_queues: Any, raw: redis.Redis) -> None:
    ids = fill(redis_url, sync_queues("email"))
    client = make_client(["email"], auth=BasicAuth(USERS))
    for action, url, body in action_urls("email", ids):
        response = client.post(url, json=body, headers={**AS["admin"], **JSON})
        assert response.status_code == 200, (action, response.text)
        assert response.json()["ok"] is True
    assert raw.keys("bull:email:*") == []


def test_anonymous_is_challenged(
    make_client: ClientFactory, redis_url: str, sync_queues: Any, raw: redis.Redis
) -> None:
    ids = fill(redis_url, sync_queues("email"))
    # No lockout here: this test sends a wrong password many times on purpose.
    unthrottled = LoginThrottle(max_failures=1000, max_address_failures=1000)
    client = make_client(["email"], auth=BasicAuth(USERS, throttle=unthrottled))
    before = keys_of(raw, "email")
    wrong = basic("admin", "not-the-password")
    for url in (
        "/",
        "/queues/email",
        f"/queues/email/jobs/{ids['waiting']}",
        "/redis",
        "/find?id=1",
        "/static/board.css",
    ):
        for headers in ({}, JSON, wrong, basic("nobody", "x")):
            response = client.get(url, headers=headers)
            assert response.status_code == 401, (url, headers)
            assert response.headers["www-authenticate"].startswith('Basic realm="board"')
    for _, url, body in action_urls("email", ids):
        assert client.post(url, json=body, headers=JSON).status_code == 401
        assert client.post(url, data={"confirm": "1"}).status_code == 401
    assert keys_of(raw, "email") == before


# Queues a user may see ----------------------------------------------------------------------------------------


def test_queue_visibility(make_client: ClientFactory, redis_url: str, sync_queues: Any, raw: redis.Redis) -> None:
    email, billing = sync_queues("email"), sync_queues("billing")
    email.add("e", {}, job_id="shared")
    billing.add("b", {}, job_id="shared")
    secret = billing.add("invoice", {"amount": 10}, job_id="only-billing")
    client = make_client(["email", "billing"], auth=BasicAuth(USERS), client={"follow_redirects": False})
    emailer = AS["emailer"]

    # The overview, HTML and JSON, lists only the queues the user may see.
    overview = client.get("/", headers=emailer).text
    assert 'data-queue="email"' in overview and "billing" not in overview
    assert [q["name"] for q in client.get("/", headers={**emailer, **JSON}).json()["queues"]] == ["email"]
    assert "billing" not in client.get("/?filter=bill", headers=emailer).text
    # Everything in a hidden queue is answered like a queue that does not exist.
    for url in (
        "/queues/billing",
        "/queues/billing?state=waiting",
        f"/queues/billing/jobs/{secret.id}",
        f"/queues/billing/jobs/{secret.id}/raw/data",
        "/queues/billing/add",
        f"/queues/billing/jobs/{secret.id}/edit",
    ):
        hidden = client.get(url, headers=emailer)
        assert hidden.status_code == 404, url
        assert "There is no queue named &#39;billing&#39;." in hidden.text
        missing = client.get(url.replace("billing", "nosuch"), headers=emailer)
        assert missing.text.replace("nosuch", "billing") == hidden.text
        assert client.get(url, headers={**emailer, **JSON}).json() == {"error": "There is no queue named 'billing'."}
    before = keys_of(raw, "billing")
    for url, body in (
        (f"/queues/billing/jobs/{secret.id}/remove", {"confirm": True}),
        (f"/queues/billing/jobs/{secret.id}/data", {"data": {}}),
        ("/queues/billing/pause", {}),
        ("/queues/billing/add", {"name": "x"}),
        ("/queues/billing/obliterate", {"confirm": True, "force": True}),
    ):
        assert client.post(url, json=body, headers={**emailer, **JSON}).status_code == 404, url
    assert keys_of(raw, "billing") == before
    # Find looks only in visible queues.
    assert client.get("/find?id=only-billing", headers=emailer).status_code == 404
    assert client.get("/find?id=only-billing", headers={**emailer, **JSON}).json()["queues"] == []
    assert client.get("/find?id=only-billing&queue=billing", headers=emailer).status_code == 404
    found = client.get("/find?id=shared", headers=emailer)
    assert found.status_code == 303 and found.headers["location"] == "/queues/email/jobs/shared"
    # An unrestricted user sees both.
    assert client.get("/find?id=shared", headers={**AS["admin"], **JSON}).json()["queues"] == ["email", "billing"]


# Read-only boards ---------------------------------------------------------------------------------------------


def test_read_only_board(make_client: ClientFactory, redis_url: str, sync_queues: Any, raw: redis.Redis) -> None:
    queue = sync_queues("email")
    ids = fill(redis_url, queue)
    queue.pause()
    client = make_client(["email"], read_only=True)
    for url in (
        "/",
        "/queues/email",
        *(f"/queues/email/jobs/{i}" for i in ids.values()),
        "/redis",
    ):
        page = client.get(url)
        assert page.status_code == 200, url
        assert post_forms(page.text) == [], url
        assert "Read-only board" in page.text
        for label in ("Add job", "Edit data", "Retry", "Promote", "Obliterate", "Pause", "Resume", "Clean"):
            assert f">{label}" not in page.text, (url, label)
    assert client.get("/queues/email/add").status_code == 403
    assert client.get(f"/queues/email/jobs/{ids['waiting']}/edit").status_code == 403

    token = "any-token"  # there is no form to take one from; the refusal comes first anyway
    before = keys_of(raw, "email")
    for action, url, body in action_urls("email", ids):
        response = client.post(url, json=body, headers=JSON)
        assert response.status_code == 403, action
        assert response.json() == {"error": "This board is read-only."}
        form = client.post(url, data={"csrf_token": token, **{k: str(v) for k, v in body.items()}})
        assert form.status_code == 403, action
    assert keys_of(raw, "email") == before


# Action bodies ------------------------------------------------------------------------------------------------


def test_an_action_takes_a_form_or_a_json_object(
    make_client: ClientFactory, sq: SyncQueue, qname: str, raw: redis.Redis
) -> None:
    sq.add("j", {})
    client = make_client([qname])
    url = f"/queues/{qname}/pause"
    before = keys_of(raw, qname)
    for body, content_type, error in (
        (b"[1, 2]", "application/json", "the body must be a JSON object"),
        (b'"pause"', "application/json", "the body must be a JSON object"),
        (b'{"confirm": ', "application/json", "the body is not valid JSON"),
        (b"\xff\xfe{}", "application/json", "the body is not valid JSON"),
        (b"pause please", "text/plain", "unsupported content type 'text/plain'"),
        (b"<pause/>", "application/xml; charset=utf-8", "unsupported content type 'application/xml'"),
    ):
        response = client.post(url, content=body, headers={**JSON, "Content-Type": content_type})
        assert response.status_code == 400, (body, content_type, response.text)
        assert error in response.json()["error"], (body, content_type)
    assert keys_of(raw, qname) == before
    # An empty JSON body is an empty object: pausing needs no field.
    assert client.post(url, content=b"", headers=JSON_POST).json()["ok"] is True
    assert raw.hget(f"bull:{qname}:meta", "paused") == "1"
