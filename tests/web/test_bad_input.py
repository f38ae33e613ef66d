"""Across modules: input a user can send, and data another program can write, never make a 500. Page numbers
and per-page counts (views), JSON nested past the bound in bodies, form fields and stored data (guard,
actions, the adapter's payload reader), numbers that are NaN, infinite or huge (actions), the one rule for
JSON or HTML (render, for signed-in and anonymous requests alike), and the logs pager: each gets a clear
4xx (or a "malformed" marker for bad stored data) and writes nothing."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
import redis

from board import BasicAuth, SyncQueue

from .conftest import HTML, JSON, JSON_POST, ClientFactory, basic, csrf_of, keys_of

DEEP = "[" * 100_000 + "]" * 100_000


def deep(levels: int) -> Any:
    value: Any = "bottom"
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize(
    "url",
    [
        "?state=waiting&page=99999999999999999999999999",
        "?state=waiting&page=1000000001",
        "?state=waiting&page=-5",
        "?state=waiting&page=1e9",
        "?state=waiting&per_page=1000000",
    ],
)
def test_page_numbers_out_of_range_are_400(make_client: ClientFactory, sq: SyncQueue, qname: str, url: str) -> None:
    sq.add("j", {})
    client = make_client([qname], client={"raise_server_exceptions": False})
    for headers in (HTML, JSON):
        response = client.get(f"/queues/{qname}{url}", headers=headers)
        assert response.status_code == 400, (url, response.status_code)
    job_id = sq.add("j", {}).id
    assert client.get(f"/queues/{qname}/jobs/{job_id}?logs_page=10000000000000", headers=JSON).status_code == 400


def test_a_page_far_past_the_end_is_empty(make_client: ClientFactory, sq: SyncQueue, qname: str) -> None:
    sq.add("j", {})
    client = make_client([qname])
    response = client.get(f"/queues/{qname}?state=waiting&page=1000000000", headers=JSON)
    assert response.status_code == 200 and response.json()["jobs"] == []


def test_deep_json_bodies_are_refused(make_client: ClientFactory, sq: SyncQueue, qname: str, raw: redis.Redis) -> None:
    job = sq.add("j", {"a": 1})
    client = make_client([qname], client={"raise_server_exceptions": False})
    before = keys_of(raw, qname)
    for url in (f"/queues/{qname}/add", f"/queues/{qname}/jobs/{job.id}/data", f"/queues/{qname}/pause"):
        response = client.post(url, content=DEEP, headers=JSON_POST)
        assert response.status_code == 400 and "not valid JSON" in response.json()["error"], url
    # Deep JSON inside a form field, and a payload nested 900 levels (inside Python's limit, past ours).
    token = csrf_of(client.get(f"/queues/{qname}/add").text)
    for data in (DEEP, json.dumps(deep(900))):
        response = client.post(f"/queues/{qname}/add", data={"csrf_token": token, "name": "x", "data": data})
        assert response.status_code == 400 and "nested deeper than" in response.text
        response = client.post(f"/queues/{qname}/jobs/{job.id}/data", data={"csrf_token": token, "data": data})
        assert response.status_code == 400 and "nested deeper than" in response.text
    response = client.post(
        f"/queues/{qname}/add", json={"name": "x", "data": {"n": 1}, "options": {"delay": 1e308}}, headers=JSON
    )
    assert response.status_code == 400 and "delay" in response.json()["error"]
    assert keys_of(raw, qname) == before


@pytest.mark.parametrize(
    "body",
    [
        {"state": "completed", "grace": "nan", "confirm": True},
        {"state": "completed", "grace": "inf", "confirm": True},
        {"state": "completed", "grace": 1e308, "confirm": True},
        {"state": "completed", "grace": -1, "confirm": True},
        {"state": "completed", "grace": 0, "limit": 1e308, "confirm": True},
        {"state": "completed", "grace": 0, "limit": "lots", "confirm": True},
    ],
)
def test_clean_numbers_are_checked(
    make_client: ClientFactory, sq: SyncQueue, qname: str, raw: redis.Redis, body: dict[str, Any]
) -> None:
    sq.add("j", {})
    client = make_client([qname], client={"raise_server_exceptions": False})
    before = keys_of(raw, qname)
    response = client.post(f"/queues/{qname}/clean", json=body, headers=JSON)
    assert response.status_code == 400 and "grace" in response.json()["error"]
    assert keys_of(raw, qname) == before


def test_json_constants_and_huge_numbers(
    make_client: ClientFactory, sq: SyncQueue, qname: str, raw: redis.Redis
) -> None:
    job = sq.add("j", {})
    client = make_client([qname], client={"raise_server_exceptions": False})
    before = keys_of(raw, qname)
    for text in ('{"priority": Infinity}', '{"priority": NaN}', '{"priority": 1e400}'):
        response = client.post(f"/queues/{qname}/jobs/{job.id}/priority", content=text, headers=JSON_POST)
        assert response.status_code == 400, text
    response = client.post(f"/queues/{qname}/jobs/{job.id}/priority", json={"priority": 10**30}, headers=JSON)
    assert response.status_code == 400
    assert keys_of(raw, qname) == before


def test_deep_stored_payloads_render(make_client: ClientFactory, sq: SyncQueue, qname: str, raw: redis.Redis) -> None:
    """Another program stored data nested 900 and 100,000 deep: shown as text, marked, never a 500."""
    shallow = sq.add("ok", {"fine": True})
    ids = []
    for levels, text in ((900, json.dumps(deep(900))), (100_000, DEEP)):
        job = sq.add("deep", {})
        raw.hset(f"bull:{qname}:{job.id}", "data", text)
        ids.append((levels, job.id))
    client = make_client([qname], client={"raise_server_exceptions": False})
    for levels, job_id in ids:
        for headers in (HTML, JSON):
            response = client.get(f"/queues/{qname}/jobs/{job_id}", headers=headers)
            assert response.status_code == 200, (levels, headers)
        detail = client.get(f"/queues/{qname}/jobs/{job_id}", headers=JSON).json()
        # Past the job page's 64 KB the payload is cut (and so never parsed); below it, it is marked.
        assert detail["data"]["is_json"] is False, levels
        assert detail["data"]["truncated"] or "nested deeper than" in detail["problems"]["data"], levels
        assert client.get(f"/queues/{qname}/jobs/{job_id}/raw/data").status_code == 200
        assert client.get(f"/queues/{qname}/jobs/{job_id}/edit", headers=HTML).status_code == 409
    for state in ("latest", "waiting"):
        assert client.get(f"/queues/{qname}?state={state}", headers=HTML).status_code == 200
    assert client.get(f"/queues/{qname}/jobs/{shallow.id}", headers=JSON).json()["problems"] == {}


def test_one_rule_for_json_signed_in_or_not(make_client: ClientFactory, sq: SyncQueue, qname: str) -> None:
    client = make_client([qname], auth=BasicAuth({"ada": ("pw", "admin")}))
    ada = basic("ada", "pw")
    for accept, wants in (
        ("application/json", True),
        ("application/json, text/html;q=0.9", True),
        ("text/html, application/json;q=0.9", False),
        ("application/problem+json", True),
        ("*/*", False),
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", False),
    ):
        anonymous = client.get(f"/queues/{qname}", headers={"Accept": accept})
        signed_in = client.get(f"/queues/{qname}", headers={"Accept": accept, **ada})
        for response in (anonymous, signed_in):
            is_json = response.headers["content-type"].startswith("application/json")
            assert is_json is wants, (accept, response.status_code)


def test_deep_progress_without_redaction(
    make_client: ClientFactory, sq: SyncQueue, qname: str, raw: redis.Redis
) -> None:
    job = sq.add("j", {})
    raw.hset(f"bull:{qname}:{job.id}", "progress", json.dumps(deep(900)))
    client = make_client([qname], redact=False, client={"raise_server_exceptions": False})
    for headers in (HTML, JSON):
        assert client.get(f"/queues/{qname}/jobs/{job.id}", headers=headers).status_code == 200
        assert client.get(f"/queues/{qname}?state=waiting", headers=headers).status_code == 200
    detail = client.get(f"/queues/{qname}/jobs/{job.id}", headers=JSON).json()
    assert "nested deeper than" in detail["problems"]["progress"]


def test_the_logs_pager_is_windowed(make_client: ClientFactory, sq: SyncQueue, qname: str, raw: redis.Redis) -> None:
    job = sq.add("j", {})
    raw.rpush(f"bull:{qname}:{job.id}:logs", *[f"line {i}" for i in range(50 * 400)])
    client = make_client([qname])
    page = client.get(f"/queues/{qname}/jobs/{job.id}?logs_page=200").text
    numbers = [int(n) for n in re.findall(r'class="page(?: current)?"[^>]*>(\d+)<', page)]
    assert numbers == [1, 2, 199, 200, 201, 399, 400]


@pytest.mark.parametrize("data", ["1e999", '{"a": -1e400}', "NaN", "[Infinity]"])
def test_a_number_no_json_writer_could_write_shows_as_text(
    make_client: ClientFactory, qname: str, raw: redis.Redis, data: str
) -> None:
    raw.hset(f"bull:{qname}:m1", mapping={"name": "raw", "data": data, "opts": "{}", "timestamp": "1"})
    raw.zadd(f"bull:{qname}:failed", {"m1": 1})
    client = make_client([qname])
    for headers in ({}, JSON):
        page = client.get(f"/queues/{qname}/jobs/m1", headers=headers)
        assert page.status_code == 200, headers
    assert client.get(f"/queues/{qname}/jobs/m1", headers=JSON).json()["data"]["text"] == data
    assert client.get(f"/queues/{qname}?state=failed", headers=JSON).status_code == 200
