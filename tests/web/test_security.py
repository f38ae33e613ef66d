"""Who may do what on the board, and what it never shows: roles, per-queue visibility, read-only boards,
CSRF, the login flow, escaping, redaction and formatters."""

from __future__ import annotations

import html
import json
from typing import Any

import pytest
import redis
from starlette.applications import Starlette
from starlette.routing import Mount

from board import BasicAuth, FormLogin, SyncQueue, User
from board.web.throttle import LoginThrottle

from .conftest import (
    HTML,
    JSON,
    SECRET,
    ClientFactory,
    basic,
    csrf_of,
    flash_of,
    job_ids_in,
    process_all,
    tags_of,
)
from .test_actions import keys_of

USERS: dict[str, Any] = {
    "viewer": ("viewer-pw", "viewer"),
    "operator": ("operator-pw", "operator"),
    "admin": ("admin-pw", "admin"),
    "emailer": ("emailer-pw", "admin", ["email"]),
}
AS = {name: basic(name, entry[0]) for name, entry in USERS.items()}
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


def post_forms(page: str) -> list[str]:
    """The actions of the POST forms on a page."""
    return [attrs.get("action", "") for tag, attrs in tags_of(page) if tag == "form" and attrs.get("method") == "post"]


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
    assert f"/queues/email/jobs/{ids['failed']}/duplicate" in forms
    assert f"/queues/email/jobs/{ids['failed']}/remove" not in forms
    queue_page = client.get("/queues/email", headers=operator).text
    assert "Add job" in queue_page and post_forms(queue_page) == []
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


def test_static_files_need_auth(make_client: ClientFactory, qname: str) -> None:
    client = make_client([qname], auth=BasicAuth(USERS))
    for path in ("/static/board.css", "/static/board.js", "/static/vendor/htmx-2.0.11.min.js"):
        assert client.get(path).status_code == 401, path
        allowed = client.get(path, headers=AS["viewer"])
        assert allowed.status_code == 200 and len(allowed.content) > 0, path
    assert client.get("/static/board.css", headers=AS["viewer"]).headers["content-type"].startswith("text/css")
    assert client.get("/static/nothing.css", headers=AS["viewer"]).status_code == 404

    form = make_client([qname], auth=FormLogin(USERS, SECRET), client={"follow_redirects": False})
    response = form.get("/static/board.css")
    assert response.status_code == 303 and response.headers["location"].startswith("/login")


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


# CSRF ---------------------------------------------------------------------------------------------------------


def test_csrf(make_client: ClientFactory, sq: SyncQueue, qname: str, raw: redis.Redis) -> None:
    job = sq.add("j", {})
    client = make_client([qname], client={"follow_redirects": False})
    page = client.get(f"/queues/{qname}/jobs/{job.id}")
    token = csrf_of(page.text)
    assert "board_csrf" in client.cookies
    url = f"/queues/{qname}/pause"
    before = keys_of(raw, qname)

    # Another browser's valid token does not fit this browser's cookie.
    other = make_client([qname])
    other_token = csrf_of(other.get(f"/queues/{qname}/jobs/{job.id}").text)
    assert other_token != token

    for data in (
        {},
        {"csrf_token": ""},
        {"csrf_token": "forged"},
        {"csrf_token": token + "x"},
        {"csrf_token": other_token},
    ):
        response = client.post(url, data=data)
        assert response.status_code == 403, data
        assert "The form expired or came from elsewhere" in html.unescape(response.text)
    multipart = client.post(url, files={"csrf_token": (None, "forged")})
    assert multipart.status_code == 403
    # The right token, but no cookie (a cross-site post carries none: SameSite=Strict).
    client.cookies.clear()
    assert client.post(url, data={"csrf_token": token}).status_code == 403
    # A tampered cookie.
    client.cookies.set("board_csrf", "tampered.value")
    assert client.post(url, data={"csrf_token": token}).status_code == 403
    assert client.post(url, data={"csrf_token": "tampered.value"}).status_code == 403
    assert keys_of(raw, qname) == before

    # JSON needs no token (a cross-site page cannot send it without a preflight); the right token works.
    assert client.post(url, json={}, headers=JSON).json()["ok"] is True
    fresh = make_client([qname], client={"follow_redirects": False})
    fresh_token = csrf_of(fresh.get(f"/queues/{qname}/jobs/{job.id}").text)
    resumed = fresh.post(f"/queues/{qname}/resume", data={"csrf_token": fresh_token})
    assert resumed.status_code == 303
    header = fresh.post(f"/queues/{qname}/pause", headers={"X-CSRF-Token": fresh_token})
    assert header.status_code == 303
    assert raw.hget(f"bull:{qname}:meta", "paused") == "1"


# Login --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mount", ["", "/admin/queues"])
def test_form_login_flow(make_client: ClientFactory, sq: SyncQueue, qname: str, raw: redis.Redis, mount: str) -> None:
    job = sq.add("later", {}, delay=600)

    def wrap(board: Starlette) -> Starlette:
        return Starlette(routes=[Mount(mount, app=board)]) if mount else board

    client = make_client([qname], auth=FormLogin(USERS, SECRET), wrap=wrap, client={"follow_redirects": False})
    target = f"{mount}/queues/{qname}"

    # Anonymous: sent to the login page, which remembers where to come back.
    first = client.get(target, headers=HTML)
    assert first.status_code == 303
    assert first.headers["location"] == f"{mount}/login?next=%2Fqueues%2F{qname}"
    assert client.get(target, headers=JSON).status_code == 401
    login = client.get(first.headers["location"])
    assert login.status_code == 200
    form = next(attrs for tag, attrs in tags_of(login.text) if tag == "form")
    assert form["action"] == f"{mount}/login?next=%2Fqueues%2F{qname}"

    fields = {"username": "admin", "password": "nope", "next": f"/queues/{qname}", "csrf_token": csrf_of(login.text)}
    wrong = client.post(form["action"], data=fields)
    assert wrong.status_code == 401 and "Wrong user name or password." in wrong.text
    assert "board_session" not in client.cookies

    ok = client.post(form["action"], data={**fields, "password": "admin-pw"})
    assert ok.status_code == 303 and ok.headers["location"] == target
    assert "board_session" in client.cookies

    page = client.get(target)
    assert page.status_code == 200
    assert 'class="user">admin' in page.text
    logout = [a for a in post_forms(page.text) if a.endswith("/logout")]
    assert logout == [f"{mount}/logout"]
    # Logged in, the actions work (with the CSRF token of the page).
    job_page = client.get(f"{mount}/queues/{qname}/jobs/{job.id}")
    done = client.post(f"{mount}/queues/{qname}/jobs/{job.id}/promote", data={"csrf_token": csrf_of(job_page.text)})
    assert done.status_code == 303
    assert flash_of(client.get(done.headers["location"]).text) == f"Job {job.id} promoted: it runs now."
    assert raw.lrange(f"bull:{qname}:wait", 0, -1) == [job.id]

    out = client.post(logout[0], data={"csrf_token": csrf_of(page.text)})
    assert out.status_code == 303 and out.headers["location"] == f"{mount}/login"
    assert "board_session" not in client.cookies
    again = client.get(target)
    assert again.status_code == 303 and again.headers["location"].startswith(f"{mount}/login")


# Escaping, redaction, formatters --------------------------------------------------------------------------------

XSS_NAME = "<script>alert(1)</script>"
XSS_DATA = {"html": "</pre><script>alert(2)</script>", "attr": '" onmouseover="alert(3)'}


def assert_no_injection(page: str) -> None:
    scripts = [attrs for tag, attrs in tags_of(page) if tag == "script"]
    assert all("src" in attrs for attrs in scripts), "an inline script got into the page"
    handlers = [(tag, name) for tag, attrs in tags_of(page) for name in attrs if name.startswith("on")]
    assert handlers == [], f"event handler attributes got into the page: {handlers}"
    assert "<script>alert" not in page and "</pre><script>" not in page


def test_names_and_data_are_escaped(make_client: ClientFactory, redis_url: str, sq: SyncQueue, qname: str) -> None:
    job = sq.add(XSS_NAME, {**XSS_DATA, "result": XSS_DATA, "logs": [XSS_NAME]})
    process_all(redis_url, sq, completed=1)
    waiting = sq.add(XSS_NAME, XSS_DATA)
    client = make_client([qname])

    for url in (f"/queues/{qname}", f"/queues/{qname}?state=completed", f"/queues/{qname}?state=waiting"):
        page = client.get(url).text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page, url
        assert "&lt;/pre&gt;&lt;script&gt;alert(2)" in page, url
        assert_no_injection(page)
    for job_id in (job.id, waiting.id):
        page = client.get(f"/queues/{qname}/jobs/{job_id}").text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert "&lt;/pre&gt;&lt;script&gt;alert(2)&lt;/script&gt;" in page
        assert_no_injection(page)
    edit = client.get(f"/queues/{qname}/jobs/{waiting.id}/edit").text
    assert "&lt;/pre&gt;&lt;script&gt;alert(2)&lt;/script&gt;" in edit
    assert_no_injection(edit)

    # Reflected input: a queue name, an id to find, a form field.
    for url, shown in (
        ("/queues/<b onmouseover=alert(1)>x", "&lt;b onmouseover=alert(1)&gt;x"),
        ("/find?id=<script>alert(1)</script>", "&lt;script&gt;alert(1)&lt;/script&gt;"),
    ):
        reflected = client.get(url)
        assert reflected.status_code == 404
        assert shown in reflected.text
        assert_no_injection(reflected.text)
    confirm = client.post(
        f"/queues/{qname}/jobs/{waiting.id}/remove",
        data={"csrf_token": csrf_of(edit), "next": '"><script>alert(4)</script>'},
    )
    assert confirm.status_code == 200 and "Please confirm" in confirm.text
    assert_no_injection(confirm.text)
    added = client.post(
        f"/queues/{qname}/add",
        data={"csrf_token": csrf_of(edit), "name": XSS_NAME, "data": "</textarea><script>alert(5)</script>"},
    )
    assert added.status_code == 400
    assert_no_injection(added.text)


def test_malformed_fields_cannot_inject_attributes(
    make_client: ClientFactory, raw: redis.Redis, sq: SyncQueue, qname: str
) -> None:
    """A hash another program wrote with a bad number field: its text is quoted in the "malformed" badge's
    title, and must not be able to break out of that attribute."""
    sq.add("fine", {})
    raw.hset(
        f"bull:{qname}:evil",
        mapping={"name": "evil", "data": "{}", "opts": "{}", "timestamp": "1", "priority": "1 onmouseover=alert(1) x"},
    )
    raw.lpush(f"bull:{qname}:wait", "evil")
    client = make_client([qname])
    for state in ("latest", "waiting"):
        page = client.get(f"/queues/{qname}", params={"state": state})
        assert page.status_code == 200
        assert "malformed" in page.text
        assert_no_injection(page.text)
    assert_no_injection(client.get(f"/queues/{qname}/jobs/evil").text)


SECRET_DATA = {"password": "hunter2", "nested": {"api_token": "abc"}, "user": "ada"}


def test_secrets_are_redacted_everywhere(make_client: ClientFactory, redis_url: str, sync_queues: Any) -> None:
    vault = sync_queues("vault")
    done = vault.add("login", {**SECRET_DATA, "result": SECRET_DATA})
    process_all(redis_url, vault, completed=1)
    waiting = vault.add("login", SECRET_DATA)
    vault.add_job_log(waiting.id, "connecting with password=hunter2 token: abc")
    client = make_client(["vault"])

    def clean(text: str, where: str) -> None:
        assert "hunter2" not in text, where
        assert "abc" not in text, where

    pages = [
        "/",
        "/queues/vault",
        "/queues/vault?state=waiting",
        "/queues/vault?state=completed",
        f"/queues/vault/jobs/{done.id}",
        f"/queues/vault/jobs/{waiting.id}",
        f"/queues/vault/jobs/{done.id}/raw/data",
        f"/queues/vault/jobs/{done.id}/raw/returnvalue",
        f"/queues/vault/jobs/{waiting.id}/raw/data",
    ]
    for url in pages:
        for headers in (HTML, JSON):
            response = client.get(url, headers=headers)
            assert response.status_code == 200, url
            clean(response.text, f"{url} {headers}")
    # What is kept: the shape, the other values, a mask.
    detail = client.get(f"/queues/vault/jobs/{waiting.id}", headers=JSON).json()
    assert detail["data"]["value"] == {"password": "***", "nested": {"api_token": "***"}, "user": "ada"}
    assert detail["logs"] == ["connecting with password=*** token: ***"]
    assert client.get(f"/queues/vault/jobs/{waiting.id}/raw/data").json()["password"] == "***"
    assert "ada" in client.get("/queues/vault?state=waiting").text


def test_secrets_under_a_secret_key_are_redacted_in_list_previews(make_client: ClientFactory, sync_queues: Any) -> None:
    """The job page masks the whole value of a secret-looking key, an object or a list included; the list
    page's preview must not show what the job page hides."""
    vault = sync_queues("vault")
    job = vault.add("login", {"credentials": {"user": "ada", "pin": "4321"}, "tokens": ["t-one", "t-two"]})
    client = make_client(["vault"])
    detail = client.get(f"/queues/vault/jobs/{job.id}", headers=JSON).json()
    assert detail["data"]["value"] == {"credentials": "***", "tokens": "***"}
    for state in ("latest", "waiting"):
        for headers in (HTML, JSON):
            text = client.get(f"/queues/vault?state={state}", headers=headers).text
            for secret in ("4321", "t-one", "t-two"):
                assert secret not in text, (state, headers, secret)


def test_redaction_can_be_turned_off(make_client: ClientFactory, sync_queues: Any) -> None:
    vault = sync_queues("vault")
    job = vault.add("login", SECRET_DATA)
    client = make_client(["vault"], redact=False)
    assert "hunter2" in client.get("/queues/vault").text
    assert client.get(f"/queues/vault/jobs/{job.id}/raw/data").json() == SECRET_DATA


def _drop_ssn(value: Any, user: User) -> Any:
    """Drops every "ssn" key, at any depth."""
    if isinstance(value, dict):
        return {k: _drop_ssn(v, user) for k, v in value.items() if k != "ssn"}
    if isinstance(value, list):
        return [_drop_ssn(v, user) for v in value]
    return value


def test_custom_formatters(make_client: ClientFactory, redis_url: str, sync_queues: Any) -> None:
    people = sync_queues("people")
    job = people.add("enrol", {"who": "ada", "ssn": "078-05-1120", "result": {"id": 7, "ssn": "078-05-1120"}})
    process_all(redis_url, people, completed=1)

    formatters = {
        "name": lambda value, user: f"{value.upper()} (for {user.role})",
        "data": _drop_ssn,
        "returnvalue": _drop_ssn,
        "progress": lambda value, user: "n/a",
    }
    client = make_client(["people"], auth=BasicAuth(USERS), formatters=formatters)
    viewer = AS["viewer"]

    listing = client.get("/queues/people?state=completed", headers={**viewer, **JSON}).json()
    assert listing["jobs"][0]["name"] == "ENROL (for viewer)"
    assert "ENROL (for viewer)" in client.get("/queues/people", headers=viewer).text
    page = client.get(f"/queues/people/jobs/{job.id}", headers=viewer).text
    assert "ENROL (for viewer)" in page and "078-05-1120" not in page
    detail = client.get(f"/queues/people/jobs/{job.id}", headers={**AS["admin"], **JSON}).json()
    assert detail["name"] == "ENROL (for admin)"
    assert detail["data"]["value"] == {"who": "ada", "result": {"id": 7}}
    assert detail["returnvalue"]["value"] == {"id": 7}
    assert detail["progress"] == "n/a"
    assert client.get(f"/queues/people/jobs/{job.id}/raw/returnvalue", headers=viewer).json() == {"id": 7}
    assert "ssn" not in client.get(f"/queues/people/jobs/{job.id}/raw/data", headers=viewer).json()
    with pytest.raises(ValueError, match="unknown field"):
        make_client(["people"], formatters={"colour": _drop_ssn})


def test_custom_data_formatter_applies_to_list_previews(make_client: ClientFactory, sync_queues: Any) -> None:
    """A data formatter sees parsed JSON "when the text parsed": a whole (uncut) preview parses, so the
    list page must show the formatted data too, not the stored text."""
    people = sync_queues("people")
    people.add("enrol", {"who": "ada", "ssn": "078-05-1120"})
    client = make_client(["people"], formatters={"data": _drop_ssn})
    for headers in (HTML, JSON):
        listing = client.get("/queues/people", headers=headers)
        assert listing.status_code == 200
        assert "078-05-1120" not in listing.text
    assert job_ids_in(client.get("/queues/people").text, "people") == ["1"]
    assert json.loads(client.get("/queues/people/jobs/1/raw/data").text) == {"who": "ada"}


def test_secrets_in_stored_problems_and_deferred_failures_are_masked(
    make_client: ClientFactory, sync_queues: Any, raw: redis.Redis
) -> None:
    vault = sync_queues("vault")
    job = vault.add("login", {})
    key = f"bull:vault:{job.id}"
    raw.hset(key, mapping={"timestamp": "password=SUPERSECRET2", "defa": "token=SUPERSECRET1 expired"})
    client = make_client(["vault"])
    for url in ("/queues/vault", "/queues/vault?state=waiting", f"/queues/vault/jobs/{job.id}"):
        for headers in (HTML, JSON):
            text = client.get(url, headers=headers).text
            assert "SUPERSECRET" not in text, (url, headers)
    detail = client.get(f"/queues/vault/jobs/{job.id}", headers=JSON).json()
    assert "timestamp" in detail["problems"] and detail["deferred_failure"]
