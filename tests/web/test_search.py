"""Job search (board/web/search.py): what it finds and shows, how it goes on step by step with and without
htmx, what it refuses (with 400 and the reason), and that it never tells what a masked value holds nor
reaches a queue the user may not see."""

from __future__ import annotations

import html
import json
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import redis

from board import BasicAuth, SyncQueue
from board.adapters import COUNTED
from board.engine import search as engine_search
from board.web import search

from .conftest import AS, HTMX, JSON, USERS, ClientFactory, basic, job_ids_in, process_all, tags_of


def find(client: Any, queue: str, query: str, headers: dict[str, str] | None = None) -> Any:
    return client.get(f"/queues/{queue}/search?{query}", headers=headers or {})


def found_ids(client: Any, queue: str, query: str) -> list[str]:
    response = find(client, queue, query, JSON)
    assert response.status_code == 200, response.text
    return sorted(job["id"] for job in response.json()["jobs"])


# What it finds --------------------------------------------------------------------------------------------------


def test_finds_a_text_in_ids_names_data_and_failed_reasons(
    make_client: ClientFactory, redis_url: str, sq: SyncQueue, qname: str
) -> None:
    sq.add("send-invoice", {"to": "ada@example.com"}, job_id="order-77")
    failing = sq.add("charge", {"card": "4242", "fail": "INVOICE card declined"}).id
    sq.add("resize", {"path": "/img/Invoice.png"}, delay=600)
    sq.add("other", {"x": 1})
    process_all(redis_url, sq, failed=1)
    client = make_client([qname])

    assert found_ids(client, qname, "text=invoice") == sorted(["order-77", failing, "3"])
    assert found_ids(client, qname, "text=invoice&fields=name") == ["order-77"]
    assert found_ids(client, qname, "text=invoice&fields=failedReason") == [failing]
    assert found_ids(client, qname, "text=invoice&states=failed&states=delayed") == sorted([failing, "3"])
    assert found_ids(client, qname, "text=ORDER-7&fields=id") == ["order-77"]
    assert found_ids(client, qname, "text=nowhere") == []

    body = find(client, qname, "text=invoice", JSON).json()
    assert body["cursor"] is None and body["next"] is None
    assert body["covered"] == body["total"] == 4 and body["looked"] == 4 and body["hidden"] == 0
    assert body["states"] == ["waiting", "prioritized", "delayed", "active", "waiting-children", "completed", "failed"]
    assert {job["state"] for job in body["jobs"]} == {"completed", "failed", "delayed"}

    page = find(client, qname, "text=invoice").text
    assert sorted(job_ids_in(page, qname)) == sorted(["order-77", failing, "3"])
    assert "Searched all 4 jobs in waiting, prioritized, delayed, active, waiting-children, completed, failed." in page
    assert "3 matches on this page." in page and "End of the search." in page


def test_rows_carry_previews_never_whole_payloads(
    make_client: ClientFactory, sq: SyncQueue, qname: str, raw: redis.Redis
) -> None:
    big = sq.add("big", {"needle": "here", "blob": "x" * 200_000}).id
    client = make_client([qname])
    (job,) = find(client, qname, "text=needle", JSON).json()["jobs"]
    assert job["id"] == big and len(job["data_preview"].encode()) <= 300 and job["data_size"] > 200_000
    assert len(find(client, qname, "text=needle").content) < 40_000


def test_the_queue_page_has_the_search_form(make_client: ClientFactory, sq: SyncQueue, qname: str) -> None:
    sq.add("n", {})
    page = make_client([qname]).get(f"/queues/{qname}").text
    (form,) = [a for tag, a in tags_of(page) if tag == "form" and a.get("action", "").endswith("/search")]
    assert form["action"] == f"/queues/{qname}/search" and form["method"] == "get"
    boxes = [a for tag, a in tags_of(page) if tag == "input" and a.get("type") == "checkbox" and "name" in a]
    assert {a["value"] for a in boxes if a["name"] == "states"} == set(COUNTED)
    assert {a["value"] for a in boxes if a["name"] == "fields"} == {"id", "name", "data", "failedReason"}
    assert all("checked" in a for a in boxes if a["name"] in ("states", "fields"))


def test_without_a_text_the_page_is_the_form(make_client: ClientFactory, sq: SyncQueue, qname: str) -> None:
    response = make_client([qname]).get(f"/queues/{qname}/search")
    assert response.status_code == 200 and 'name="text"' in response.text and "jobs search-results" not in response.text


# Bad input --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("text=", "text", "text: give the text to search for"),
        ("text=%20%20", "text", "text: give the text to search for"),
        ("text=" + "x" * 201, "text", "text: at most 200 characters, got 201"),
        ("text=a&states=wait", "states", "states: expected some of waiting, prioritized"),
        ("text=a&states=paused", "states", "states: expected some of"),
        ("text=a&fields=opts", "fields", "fields: expected some of id, name, data, failedReason, got 'opts'"),
        ("text=a&cursor=abc", "cursor", "cursor: 'abc' is not where a search of these states stopped"),
        ("text=a&cursor=7.0", "cursor", "is not where a search of these states stopped"),
        ("text=a&states=failed&cursor=1.0", "cursor", "is not where a search"),
        ("text=a&cursor=0.-5", "cursor", "is not where a search"),
        ("text=a&cursor=0.99999999999999999999", "cursor", "is not where a search"),
        ("text=a&cursor=" + "9" * 500, "cursor", "…"),
        ("text=a&shown=-1", "shown", "shown: must be between 0 and"),
        ("text=a&skipped=x", "skipped", "skipped: expected a whole number"),
    ],
)
def test_bad_input_is_a_400_with_the_reason(
    make_client: ClientFactory, sq: SyncQueue, qname: str, query: str, field: str, message: str
) -> None:
    sq.add("n", {"a": 1})
    client = make_client([qname])
    answer = find(client, qname, query, JSON)
    assert answer.status_code == 400
    assert message in answer.json()["error"] and message in answer.json()["fields"][field]
    page = find(client, qname, query)
    assert page.status_code == 400 and message in html.unescape(page.text)
    # The form comes back as it was filled in, with the reason next to it.
    assert 'name="text"' in page.text and "field-error" in page.text
    assert len(page.text) < 30_000


# Going on, step by step ---------------------------------------------------------------------------------------------


@pytest.fixture
def small_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    """Steps of 20 jobs and 5 matches, pages of 12 matches: a few dozen jobs take several steps."""
    monkeypatch.setattr(engine_search, "CHUNK", 20)
    monkeypatch.setattr(search, "BUDGET_S", 0.0)
    monkeypatch.setattr(search, "STEP_LIMIT", 5)
    monkeypatch.setattr(search, "PAGE_CAP", 12)


def next_of(page: str) -> tuple[str | None, str | None]:
    """The sentinel's htmx URL (the next step by itself) and the "Search further" link, if any."""
    step = next((a["hx-get"] for tag, a in tags_of(page) if tag == "tbody" and "hx-get" in a), None)
    further = next((a["href"] for tag, a in tags_of(page) if tag == "a" and "cursor=" in a.get("href", "")), None)
    return step, further


@pytest.mark.usefixtures("small_steps")
def test_without_javascript_the_links_go_on_until_every_job_was_searched(
    make_client: ClientFactory, sq: SyncQueue, qname: str
) -> None:
    sq.add_bulk([{"name": "n", "data": {"i": i, "tag": "hit" if i % 3 == 0 else "miss"}} for i in range(90)])
    client = make_client([qname])
    url: str | None = f"/queues/{qname}/search?text=hit&states=waiting"
    seen: list[str] = []
    pages = 0
    while url is not None:
        page = client.get(url)
        assert page.status_code == 200
        seen += job_ids_in(page.text, qname)
        pages += 1
        _, url = next_of(page.text)
        if url is not None:
            assert parse_qs(urlsplit(url).query)["states"] == ["waiting"]
            assert "Search further" in page.text and "Looked at " in page.text
    assert sorted(seen, key=int) == [str(i + 1) for i in range(90) if i % 3 == 0]
    assert pages >= 5
    assert "Searched all 90 jobs in waiting." in page.text


@pytest.mark.usefixtures("small_steps")
def test_with_htmx_each_step_appends_rows_and_stops_at_the_page_cap(
    make_client: ClientFactory, sq: SyncQueue, qname: str
) -> None:
    sq.add_bulk([{"name": "n", "data": {"tag": "hit"}} for _ in range(40)])
    client = make_client([qname])
    first = client.get(f"/queues/{qname}/search?text=hit").text
    shown = job_ids_in(first, qname)
    assert len(shown) == 5
    step, further = next_of(first)
    assert step is not None and further is not None
    (sentinel,) = [a for tag, a in tags_of(first) if tag == "tbody" and "hx-get" in a]
    assert sentinel["hx-trigger"] == "revealed" and sentinel["hx-swap"] == "outerHTML"
    while step is not None:
        fragment = client.get(step, headers=HTMX).text
        # Only rows and the next sentinel, and the summary swapped out of band: never the whole page.
        assert "<html" not in fragment and fragment.lstrip().startswith("<tbody>")
        assert re.search(r'<template><div id="search-summary"[^>]* hx-swap-oob="true">', fragment)
        shown += job_ids_in(fragment, qname)
        step, further = next_of(fragment)
    # The page holds its cap; the rest is a click away, on a page of its own.
    assert len(shown) == 12 and len(set(shown)) == 12
    assert further is not None and "shown=" not in further
    assert "12 matches on this page." in fragment and "Searching further" not in fragment
    rest = client.get(further).text
    assert set(job_ids_in(rest, qname)).isdisjoint(shown)


# Masked values stay masked ---------------------------------------------------------------------------------------


def test_a_text_only_in_a_masked_value_is_not_shown(make_client: ClientFactory, sq: SyncQueue, qname: str) -> None:
    sq.add("login", {"user": "ada", "password": "hunter2"})
    sq.add("login", {"user": "bob", "api_key": "sk-live-hunter2"})
    sq.add("note", {"text": "hunter2 is a famous password"})
    sq.add("charge", {"auth": "Authorization: Bearer hunter2token"})
    client = make_client([qname])
    body = find(client, qname, "text=hunter2", JSON).json()
    assert [job["name"] for job in body["jobs"]] == ["note"] and body["hidden"] == 3
    assert "hunter2" not in json.dumps([job for job in body["jobs"] if job["name"] != "note"])
    page = find(client, qname, "text=hunter2").text
    assert "3 more matches not shown" in page
    # What is shown is found: the user's name, with the password masked in the preview.
    (ada,) = find(client, qname, "text=ada", JSON).json()["jobs"]
    assert '"password":"***"' in ada["data_preview"]
    # A prefix that reaches into a masked value is no oracle either.
    assert find(client, qname, "text=%22password%22:%22hun", JSON).json()["jobs"] == []
    assert found_ids(client, qname, "text=%22password%22:%22") == ["1"]


def test_without_redaction_everything_is_found(make_client: ClientFactory, sq: SyncQueue, qname: str) -> None:
    sq.add("login", {"password": "hunter2"})
    assert found_ids(make_client([qname], redact=False), qname, "text=hunter2") == ["1"]


def test_a_custom_formatter_decides_what_can_be_found(make_client: ClientFactory, sq: SyncQueue, qname: str) -> None:
    sq.add("a", {"email": "ada@example.com", "plan": "gold"})

    def only_plan(value: Any, user: Any) -> Any:
        return {"plan": value.get("plan")} if isinstance(value, dict) else "[hidden]"

    client = make_client([qname], formatters={"data": only_plan})
    assert found_ids(client, qname, "text=gold") == ["1"]
    assert found_ids(client, qname, "text=%22plan%22:%22gold") == ["1"]
    body = find(client, qname, "text=ada@", JSON).json()
    assert body["jobs"] == [] and body["hidden"] == 1


def test_past_the_part_read_back_a_match_is_not_shown(make_client: ClientFactory, sq: SyncQueue, qname: str) -> None:
    sq.add("far", {"blob": "x" * (search.TEXT_BYTES + 100), "word": "needle"})
    sq.add("near", {"word": "needle", "blob": "x" * (search.TEXT_BYTES + 100)})
    body = find(make_client([qname]), qname, "text=needle", JSON).json()
    assert [job["name"] for job in body["jobs"]] == ["near"] and body["hidden"] == 1


# Who may search where ----------------------------------------------------------------------------------------------


def test_a_user_limited_to_a_queue_never_searches_another(make_client: ClientFactory, sync_queues: Any) -> None:
    sync_queues("email").add("mail", {"secret_plan": "in email"})
    sync_queues("billing").add("bill", {"plan": "in billing"})
    client = make_client(["email", "billing"], auth=BasicAuth(USERS))
    emailer = AS["emailer"]
    for headers in ({**emailer, **JSON}, emailer, {**emailer, **HTMX}):
        refused = client.get("/queues/billing/search?text=plan", headers=headers)
        assert refused.status_code == 404 and "in billing" not in refused.text
    ok = client.get("/queues/email/search?text=plan", headers={**emailer, **JSON})
    assert [job["name"] for job in ok.json()["jobs"]] == ["mail"]
    page = client.get("/queues/email", headers=emailer).text
    assert "/queues/billing/search" not in page


def test_viewers_search_and_strangers_are_challenged(make_client: ClientFactory, sq: SyncQueue, qname: str) -> None:
    sq.add("n", {"word": "findme"})
    client = make_client([qname], auth=BasicAuth(USERS))
    assert [j["id"] for j in find(client, qname, "text=findme", {**AS["viewer"], **JSON}).json()["jobs"]] == ["1"]
    assert find(client, qname, "text=findme", JSON).status_code == 401
    assert find(client, qname, "text=findme", {**basic("viewer", "wrong"), **JSON}).status_code == 401


# Data another program wrote --------------------------------------------------------------------------------------


def test_jobs_written_badly_are_found_and_shown_marked(
    make_client: ClientFactory, sq: SyncQueue, qname: str, raw_bytes: redis.Redis
) -> None:
    sq.add("fine", {"word": "needle"})
    raw_bytes.hset(f"bull:{qname}:broken", mapping={"name": "needle-job", "data": b"{not json \xff", "timestamp": b"x"})
    raw_bytes.lpush(f"bull:{qname}:wait", "broken")
    raw_bytes.hset(f"bull:{qname}:huge", mapping={"name": "h", "data": b'"' + b"a" * (1024 * 1024 + 10) + b'"'})
    raw_bytes.lpush(f"bull:{qname}:wait", "huge")
    client = make_client([qname])
    body = find(client, qname, "text=needle", JSON).json()
    assert sorted(job["id"] for job in body["jobs"]) == ["1", "broken"] and body["skipped"] == 1
    page = find(client, qname, "text=needle")
    assert page.status_code == 200 and "malformed" in page.text
    assert "1 field not searched, too large to read (over 1 MB)" in page.text
    assert re.search(r"\\xff", html.unescape(page.text))


@pytest.mark.usefixtures("small_steps")
def test_the_next_steps_urls_are_encoded(make_client: ClientFactory, sync_queues: Any) -> None:
    odd = sync_queues("mail box é")
    odd.add_bulk([{"name": "n", "data": {"note": "a&b=c #1 ?"}} for _ in range(30)])
    client = make_client(["mail box é"])
    page = client.get("/queues/mail%20box%20%C3%A9/search?text=a%26b%3Dc+%231+%3F")
    assert page.status_code == 200 and len(job_ids_in(page.text, "mail%20box%20%C3%A9")) == 5
    step, further = next_of(page.text)
    assert step is not None and further is not None
    for url in (step, further):
        assert url.startswith("/queues/mail%20box%20%C3%A9/search?")
        assert parse_qs(urlsplit(url).query)["text"] == ["a&b=c #1 ?"]
    assert len(job_ids_in(client.get(step, headers=HTMX).text, "mail%20box%20%C3%A9")) == 5
