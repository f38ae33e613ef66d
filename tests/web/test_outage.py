"""Across modules, the board through Redis trouble: every page and action answers 503 with a clear message
while Redis is down, and recovers by itself (guard, board's refusals, views, actions); /healthz says so,
with no login, under a mount too (views, routes); a write Redis refuses (out of memory) is answered with
its cause; and a huge job field or log line is never read for a page (views, the adapter)."""

from __future__ import annotations

import json
from typing import Any

import redis
from starlette.applications import Starlette
from starlette.routing import Mount

from board import SyncQueue
from board.adapters import BullMQAdapter
from board.redis_server import RedisServer

from .conftest import HTML, JSON, ClientFactory, csrf_of, keys_of


def pages(qname: str, job_id: str) -> list[str]:
    return [
        "/",
        f"/queues/{qname}",
        f"/queues/{qname}?state=failed",
        f"/queues/{qname}/jobs/{job_id}",
        f"/queues/{qname}/jobs/{job_id}/raw/data",
        f"/queues/{qname}/jobs/{job_id}/edit",
        f"/queues/{qname}/add",
        "/redis",
        f"/find?id={job_id}",
    ]


def test_every_page_answers_503_while_redis_is_down_and_recovers(
    make_client: ClientFactory, redis_url: str, redis_server: RedisServer, sq: SyncQueue, qname: str
) -> None:
    job = sq.add("j", {"a": 1})
    # Discovery cached for a tenth of a second: the outage outlasts it, as the report had it.
    adapter = BullMQAdapter(redis_url, discover=True, discover_ttl=0.1)
    client = make_client(None, adapter=adapter, client={"raise_server_exceptions": False})
    token = csrf_of(client.get(f"/queues/{qname}/add").text)
    for url in pages(qname, job.id):
        assert client.get(url).status_code == 200, url
    redis_server.stop()
    try:
        # Each answer waits out the engine's own retries (about a second): JSON is checked on a few pages.
        for number, url in enumerate(pages(qname, job.id)):
            html_answer = client.get(url, headers=HTML)
            assert html_answer.status_code == 503, (url, html_answer.status_code)
            assert "Redis unavailable" in html_answer.text and "try again" in html_answer.text, url
            if number % 3 == 0:
                json_answer = client.get(url, headers=JSON)
                assert json_answer.status_code == 503, url
                assert json_answer.json() == {"error": "Redis is unavailable right now; try again shortly."}, url
        for action, body in (
            (f"/queues/{qname}/pause", {}),
            (f"/queues/{qname}/jobs/{job.id}/retry", {}),
            (f"/queues/{qname}/add", {"name": "x"}),
        ):
            form = client.post(action, data={"csrf_token": token, **body}, headers=HTML)
            assert form.status_code == 503 and "Redis unavailable" in form.text, action
        assert client.post(f"/queues/{qname}/pause", json={}, headers=JSON).status_code == 503
        health = client.get("/healthz")
        assert health.status_code == 503
        assert health.json()["status"] == "unavailable" and health.json()["checks"]["redis"]
    finally:
        redis_server.start()
    # The test Redis keeps nothing across a restart: the queue comes back with its next job.
    again = sq.add("j", {"a": 2})
    for url in pages(qname, again.id):
        assert client.get(url).status_code == 200, url
    assert client.get("/healthz").json() == {"status": "ok", "checks": {"redis": "ok"}}


def test_healthz_under_a_mount_path_needs_no_login(make_client: ClientFactory, qname: str) -> None:
    from board import BasicAuth

    def parent(board: Starlette) -> Starlette:
        return Starlette(routes=[Mount("/admin/queues", app=board)])

    client = make_client([qname], wrap=parent, auth=BasicAuth({"ada": ("pw", "admin")}))
    response = client.get("/admin/queues/healthz")
    assert response.status_code == 200 and response.json()["checks"] == {"redis": "ok"}
    assert response.headers["cache-control"] == "no-store"
    assert client.get("/admin/queues/").status_code == 401  # the rest still needs a login


def test_a_huge_field_is_never_read_for_a_page(
    make_client: ClientFactory, sq: SyncQueue, qname: str, raw: redis.Redis
) -> None:
    big = {"blob": "x" * (3 * 1024 * 1024), "password": "hunter2"}
    job = sq.add("big", big)
    size = raw.hstrlen(f"bull:{qname}:{job.id}", "data")
    client = make_client([qname])
    detail = client.get(f"/queues/{qname}/jobs/{job.id}", headers=JSON).json()
    # Sized, not read: nothing of the field came back, and the page says how large it is.
    assert detail["data"] == {"text": "", "size": size, "truncated": True, "value": None, "is_json": False}
    page = client.get(f"/queues/{qname}/jobs/{job.id}", headers=HTML).text
    assert "too large to show on this page" in page and "xxxxxxxx" not in page
    assert "Edit data" not in page
    rows = client.get(f"/queues/{qname}?state=waiting", headers=JSON).json()["jobs"]
    assert rows[0]["data_preview"] == "" and rows[0]["data_size"] == size
    assert "too large to preview" in client.get(f"/queues/{qname}?state=waiting").text
    # The raw view reads it on demand, redacted, in pieces.
    whole = client.get(f"/queues/{qname}/jobs/{job.id}/raw/data")
    assert whole.status_code == 200 and int(whole.headers["content-length"]) == len(whole.content)
    assert json.loads(whole.content) == {"blob": big["blob"], "password": "***"}
    before = keys_of(raw, qname)
    edit = client.get(f"/queues/{qname}/jobs/{job.id}/edit", headers=JSON)
    assert edit.status_code == 413 and "more than" in edit.json()["error"]
    assert keys_of(raw, qname) == before


def test_the_engine_still_reads_huge_fields(sq: SyncQueue, raw: Any) -> None:
    """The bound is for pages only: a worker gets the whole payload."""
    job = sq.add("big", {"blob": "y" * (2 * 1024 * 1024)})
    fetched = sq.get_job(job.id)
    assert fetched is not None and len(fetched.data["blob"]) == 2 * 1024 * 1024


def test_write_refusals_are_answered_with_their_cause(
    make_client: ClientFactory, sq: SyncQueue, qname: str, raw: redis.Redis
) -> None:
    job = sq.add("j", {"a": 1})
    client = make_client([qname], client={"raise_server_exceptions": False})
    token = csrf_of(client.get(f"/queues/{qname}/add").text)
    before = keys_of(raw, qname)
    policy = str(raw.config_get("maxmemory-policy")["maxmemory-policy"])
    raw.config_set("maxmemory-policy", "noeviction")
    raw.config_set("maxmemory", "1")
    try:
        response = client.post(f"/queues/{qname}/add", json={"name": "x", "data": {}}, headers=JSON)
        assert response.status_code == 503
        assert "out of memory" in response.json()["error"] and "OOM" not in response.json()["error"]
        page = client.post(f"/queues/{qname}/jobs/{job.id}/data", data={"csrf_token": token, "data": "{}"})
        assert page.status_code == 503 and "out of memory" in page.text
        assert page.headers["content-type"].startswith("text/html")
        # Reading still works.
        assert client.get(f"/queues/{qname}/jobs/{job.id}", headers=JSON).status_code == 200
    finally:
        raw.config_set("maxmemory", "0")
        raw.config_set("maxmemory-policy", policy)
    assert keys_of(raw, qname) == before
    assert client.post(f"/queues/{qname}/add", json={"name": "x", "data": {}}, headers=JSON).status_code == 200


def test_a_huge_field_of_any_name_is_not_read(
    make_client: ClientFactory, sq: SyncQueue, qname: str, raw: redis.Redis
) -> None:
    job = sq.add("fine", {"a": 1})
    raw.hset(f"bull:{qname}:{job.id}", mapping={"name": "n" * (2 * 1024 * 1024), "custom": "c" * (2 * 1024 * 1024)})
    client = make_client([qname], client={"raise_server_exceptions": False})
    for url in (f"/queues/{qname}/jobs/{job.id}", f"/queues/{qname}?state=waiting"):
        response = client.get(url, headers=JSON)
        assert response.status_code == 200 and "nnnnnnnn" not in response.text and "cccccccc" not in response.text
    assert client.get(f"/queues/{qname}/jobs/{job.id}", headers=JSON).json()["data"]["value"] == {"a": 1}


def test_huge_logs_are_sized_not_read(make_client: ClientFactory, sq: SyncQueue, qname: str, raw: redis.Redis) -> None:
    job = sq.add("chatty", {})
    raw.rpush(f"bull:{qname}:{job.id}:logs", "first line", "L" * (3 * 1024 * 1024), "last line")
    client = make_client([qname])
    detail = client.get(f"/queues/{qname}/jobs/{job.id}", headers=JSON).json()
    assert detail["logs"] == [] and detail["logs_total"] == 3
    assert "too large to show here" in detail["problems"]["logs"]
    page = client.get(f"/queues/{qname}/jobs/{job.id}").text
    assert "LLLLLLLL" not in page and "too large to show here" in page
    other = sq.add("quiet", {})
    sq.add_job_log(other.id, "just one line")
    assert client.get(f"/queues/{qname}/jobs/{other.id}", headers=JSON).json()["logs"] == ["just one line"]
