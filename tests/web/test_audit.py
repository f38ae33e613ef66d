"""The audit page: admins only, newest first, filtered by user, queue and action, paged with an "older" link,
and as JSON (``?format=json`` or ``Accept: application/json``) with the same filters and paging; an admin
limited to some queues sees the entries of theirs (and the board-wide ones, such as sign-ins)."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest
from starlette.testclient import TestClient

from board import BasicAuth, SyncQueue
from board.adapters.audit import AuditEntry, AuditLog
from board.engine.inspector import Inspector

from .conftest import AS, HTML, JSON, USERS, ClientFactory, urls_of


def write(redis_url: str, entries: list[AuditEntry]) -> None:
    """Entries written as the board writes them, oldest first."""

    async def run() -> None:
        inspector = Inspector(redis_url)
        try:
            log = AuditLog(inspector.runner, "bull")
            for entry in entries:
                await log.record(entry)
        finally:
            await inspector.close()

    asyncio.run(run())


def entry(n: int, user: str = "ada", queue: str = "email", action: str = "retry_job", **kw: Any) -> AuditEntry:
    fields = {"ok": True, "outcome": f"job {n} retried", "details": {"status": 303}, **kw}
    return AuditEntry(user, "admin", "10.0.0.1", action, queue, (str(n),), **fields)


@pytest.fixture
def board(make_client: ClientFactory, sync_queues: Any) -> TestClient:
    for name in ("email", "sms"):
        sync_queues(name).add("x", {})
    return make_client(["email", "sms"], auth=BasicAuth(USERS))


def listed(client: TestClient, who: str = "admin", query: str = "") -> Any:
    answer = client.get(f"/audit?format=json{query}", headers=AS[who])
    assert answer.status_code == 200, answer.text
    return answer.json()


def ids(data: Any) -> list[str]:
    return [e["job_ids"][0] for e in data["entries"]]


def test_admins_only(board: TestClient) -> None:
    for who in ("viewer", "operator"):
        refused = board.get("/audit", headers={**JSON, **AS[who]})
        assert refused.status_code == 403 and "needs an admin" in refused.json()["error"]
        assert 'href="/audit"' not in board.get("/", headers=AS[who]).text
    assert board.get("/audit", headers=JSON).status_code == 401
    assert board.get("/audit", headers=AS["admin"]).status_code == 200
    assert 'href="/audit"' in board.get("/", headers=AS["admin"]).text


def test_entries_newest_first_with_everything_said(board: TestClient, redis_url: str) -> None:
    write(redis_url, [entry(1), entry(2, user="bob", ok=False, outcome="job 2 is locked", details={"status": 409})])
    data = listed(board)
    assert ids(data) == ["2", "1"] and data["next"] is None
    newest = data["entries"][0]
    assert {k: newest[k] for k in ("user", "role", "address", "action", "queue", "ok", "outcome", "status")} == {
        "user": "bob",
        "role": "admin",
        "address": "10.0.0.1",
        "action": "retry_job",
        "queue": "email",
        "ok": False,
        "outcome": "job 2 is locked",
        "status": 409,
    }
    assert newest["at_ms"] > 0 and re.fullmatch(r"\d+-\d+", newest["id"])
    page = board.get("/audit", headers=AS["admin"]).text
    for shown in ("bob", "10.0.0.1", "retry_job", "job 2 is locked", "refused 409", "done"):
        assert shown in page, shown
    # Each job is linked to its page, and each value filters the log.
    assert "/queues/email/jobs/2" in urls_of(page)
    assert "?user=bob" in page and "?queue=email" in page and "?action=retry_job" in page


def test_json_by_accept_header_is_the_same(board: TestClient, redis_url: str) -> None:
    write(redis_url, [entry(n) for n in range(3)])
    by_header = board.get("/audit?per_page=10", headers={**JSON, **AS["admin"]}).json()
    assert by_header == listed(board, query="&per_page=10") and ids(by_header) == ["2", "1", "0"]


def test_filters(board: TestClient, redis_url: str) -> None:
    write(
        redis_url,
        [
            entry(1, user="ada", queue="email"),
            entry(2, user="bob", queue="email", action="pause"),
            entry(3, user="bob", queue="sms"),
            entry(4, user="ada", queue="sms", action="pause"),
        ],
    )
    assert ids(listed(board, query="&user=bob")) == ["3", "2"]
    assert ids(listed(board, query="&queue=sms")) == ["4", "3"]
    assert ids(listed(board, query="&action=pause")) == ["4", "2"]
    assert ids(listed(board, query="&user=ada&queue=sms&action=pause")) == ["4"]
    assert listed(board, query="&user=ada")["filters"] == {"user": "ada", "queue": None, "action": None}
    assert listed(board, query="&user=nobody")["entries"] == []
    page = board.get("/audit?user=bob&action=pause", headers=AS["admin"]).text
    assert 'name="user" value="bob"' in page and "<option selected>pause</option>" in page
    # Every action the board records can be picked.
    for action in ("retry_job", "pause", "obliterate", "run_scheduler", "login", "logout"):
        assert f"<option>{action}</option>" in page or f"<option selected>{action}</option>" in page


def test_paging_goes_to_older_entries(board: TestClient, redis_url: str) -> None:
    write(redis_url, [entry(n, user="ada" if n % 2 else "bob") for n in range(25)])
    first = listed(board, query="&per_page=10")
    assert ids(first) == [str(n) for n in range(24, 14, -1)] and first["next"] == first["entries"][-1]["id"]
    second = listed(board, query=f"&per_page=10&before={first['next']}")
    assert ids(second) == [str(n) for n in range(14, 4, -1)]
    last = listed(board, query=f"&per_page=10&before={second['next']}")
    assert ids(last) == ["4", "3", "2", "1", "0"] and last["next"] is None
    # With a filter, the pages keep it.
    filtered = listed(board, query="&per_page=10&user=ada")
    assert ids(filtered) == [str(n) for n in range(23, 3, -2)]
    rest = listed(board, query=f"&per_page=10&user=ada&before={filtered['next']}")
    assert ids(rest) == ["3", "1"] and rest["next"] is None

    html = board.get("/audit?per_page=10&user=ada", headers=AS["admin"]).text
    older = re.search(r'<a class="page" href="([^"]+)" rel="next">Older', html)
    assert older is not None
    href = older.group(1).replace("&amp;", "&")
    assert "user=ada" in href and f"before={filtered['next']}" in href and "per_page=10" in href
    following = board.get(f"/audit{href}", headers=AS["admin"]).text
    assert "« Newest" in following and 'rel="next">Older' not in following


def test_an_admin_limited_to_some_queues_sees_only_theirs(board: TestClient, redis_url: str) -> None:
    write(
        redis_url,
        [entry(1, queue="email"), entry(2, queue="sms"), entry(3, queue="", action="login"), entry(4, queue="sms")],
    )
    assert ids(listed(board, "emailer")) == ["3", "1"]
    # Asking for another queue finds nothing, rather than its entries.
    assert listed(board, "emailer", "&queue=sms")["entries"] == []
    page = board.get("/audit", headers=AS["emailer"]).text
    assert "sms" not in page.replace('placeholder="any"', "")
    # Paging stays inside them too.
    assert listed(board, "emailer", "&per_page=10")["next"] is None


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?before=x", "before: expected an entry id"),
        ("?before=1-2-3", "before: expected an entry id"),
        ("?per_page=7", "per_page: expected one of"),
        ("?per_page=abc", "per_page: expected a whole number"),
        ("?format=xml", "format: expected html or json"),
        ("?user=" + "u" * 201, "user: at most 200 characters"),
    ],
)
def test_bad_parameters_are_refused(board: TestClient, query: str, message: str) -> None:
    answer = board.get(f"/audit{query}", headers={**JSON, **AS["admin"]})
    assert answer.status_code == 400 and message in answer.json()["error"]


def test_actions_taken_on_the_board_show_up(board: TestClient, sync_queues: Any) -> None:
    queue: SyncQueue = sync_queues("email")
    assert board.post("/queues/email/pause", json={}, headers={**JSON, **AS["admin"]}).status_code == 200
    assert board.post("/queues/email/jobs/404/retry", json={}, headers={**JSON, **AS["operator"]}).status_code == 404
    data = listed(board)
    assert [(e["user"], e["action"], e["ok"], e["status"]) for e in data["entries"]] == [
        ("operator", "retry_job", False, 404),
        ("admin", "pause", True, 200),
    ]
    assert queue.is_paused()
    page = board.get("/audit", headers=HTML | AS["admin"]).text
    assert data["entries"][1]["outcome"] in page and "refused 404" in page
