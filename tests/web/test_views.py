"""The pages (board/web/views.py) over HTTP: overview, queue tabs, job page, raw view, Redis, find, errors, JSON,
htmx fragments, and pages over data another program wrote badly. The board under a mount path is in
test_board.py (its URLs), escaping in test_render.py, redaction in test_formatters.py."""

from __future__ import annotations

import html
import json
import re
from typing import Any

import redis

from board import BasicAuth, SyncFlowProducer, SyncQueue

from .conftest import (
    AS,
    HTML,
    HTMX,
    JSON,
    USERS,
    ClientFactory,
    ThreadWorker,
    counts_of,
    job_ids_in,
    post_forms,
    process_all,
    tags_of,
    wait_for,
)

# Helpers ------------------------------------------------------------------------------------------------------


def card_of(page: str, queue: str) -> str:
    """The overview card of one queue."""
    match = re.search(rf'<article class="queue-card" data-queue="{re.escape(queue)}">(.*?)</article>', page, re.S)
    assert match, f"no card for {queue!r} on the overview"
    return match.group(1)


def card_counts(card: str) -> dict[str, int]:
    pairs = re.findall(r'<span>([a-z-]+)</span><span class="num">([\d,]+)</span>', card)
    return {state: int(n.replace(",", "")) for state, n in pairs}


def tab_counts(page: str) -> dict[str, int]:
    pairs = re.findall(r'class="tab state-([a-z-]+)[^"]*"[^>]*>\s*\1 <span class="count">([\d,]+)</span>', page)
    return {state: int(n.replace(",", "")) for state, n in pairs}


def card_order(page: str) -> list[str]:
    return re.findall(r'<article class="queue-card" data-queue="([^"]+)">', page)


def malformed_rows(page: str) -> set[str]:
    """Ids of the job rows marked malformed."""
    rows = re.findall(r"<tr>(.*?)</tr>", page, re.S)
    return {m.group(1) for row in rows if "malformed" in row and (m := re.search(r'/jobs/([^"]+)"', row))}


def warned_fields(page: str) -> set[str]:
    """The fields a job page says were written badly."""
    box = re.search(r'<div class="warn-box">(.*?)</div>', page, re.S)
    return set(re.findall(r"<code>([^<]+)</code>", box.group(1))) if box else set()


def logs_of(page: str) -> list[str]:
    """The log lines shown on a job page."""
    section = re.search(r'<ol class="logs"[^>]*>(.*?)</ol>', page, re.S)
    assert section, "no log list on the page"
    return [html.unescape(line) for line in re.findall(r'<li class="mono">(.*?)</li>', section.group(1), re.S)]


# Overview -----------------------------------------------------------------------------------------------------


def test_overview_counts_paused_and_workers(
    make_client: ClientFactory, redis_url: str, sync_queues: Any, raw: redis.Redis
) -> None:
    alpha, beta = sync_queues("alpha"), sync_queues("beta")
    sync_queues("gamma")  # no jobs: a worker only
    alpha.add("a1", {})
    alpha.add("a2", {})
    alpha.add("later", {}, delay=3600)
    alpha.add("urgent", {}, priority=3)
    alpha.pause()
    for i in range(2):
        beta.add(f"ok{i}", {})
    beta.add("bad", {"fail": "no"})
    process_all(redis_url, beta, completed=2, failed=1)
    client = make_client(["alpha", "beta", "gamma"])

    with ThreadWorker(redis_url, "gamma", name="overview-worker"):
        wait_for(lambda: client.get("/", headers=JSON).json()["queues"][2]["workers"], what="worker listed")
        page = client.get("/")
        data = client.get("/", headers=JSON).json()

    assert page.status_code == 200
    zero = dict.fromkeys(["waiting", "active", "delayed", "prioritized", "completed", "failed", "waiting-children"], 0)
    expected = {
        "alpha": {**zero, "waiting": 2, "delayed": 1, "prioritized": 1},
        "beta": {**zero, "completed": 2, "failed": 1},
        "gamma": zero,
    }
    for name, counts in expected.items():
        assert card_counts(card_of(page.text, name)) == counts, name
    by_name = {q["name"]: q for q in data["queues"]}
    assert list(by_name) == ["alpha", "beta", "gamma"]
    for name, counts in expected.items():
        assert {s: by_name[name]["counts"][s] for s in counts} == counts, name
    assert by_name["alpha"]["paused"] is True and by_name["beta"]["paused"] is False
    assert "badge-paused" in card_of(page.text, "alpha")
    assert "badge-paused" not in card_of(page.text, "beta")
    # Workers: gamma has one, the others none.
    assert len(by_name["gamma"]["workers"]) == 1
    assert by_name["gamma"]["workers"][0]["name"].endswith("overview-worker")
    assert by_name["alpha"]["workers"] == [] and by_name["beta"]["workers"] == []
    assert "1 worker<" in card_of(page.text, "gamma") and "no workers" not in card_of(page.text, "gamma")
    assert "no workers" in card_of(page.text, "alpha") and "no workers" in card_of(page.text, "beta")
    # Once the worker is gone, so is its badge.
    wait_for(lambda: "no workers" in card_of(client.get("/").text, "gamma"), what="worker gone")
    assert raw.hget("bull:alpha:meta", "paused") == "1"


def test_overview_filter_sort_and_group(make_client: ClientFactory, sync_queues: Any) -> None:
    names = ["billing", "mail.welcome", "mail.digest", "sms.out"]
    queues = {n: sync_queues(n) for n in names}
    for n, waiting in zip(names, [1, 3, 2, 0], strict=True):
        for i in range(waiting):
            queues[n].add(f"j{i}", {})
    queues["sms.out"].add("d", {}, delay=3600)
    client = make_client(names)

    # Filter: case-insensitive substring of the name.
    page = client.get("/", params={"filter": "MAIL", "group": "0"})
    assert page.status_code == 200
    assert sorted(card_order(page.text)) == ["mail.digest", "mail.welcome"]
    data = client.get("/", params={"filter": "mail"}, headers=JSON).json()
    assert sorted(q["name"] for q in data["queues"]) == ["mail.digest", "mail.welcome"]
    none = client.get("/", params={"filter": "nothing-like-this"})
    assert card_order(none.text) == [] and "No queues match" in none.text

    # Sort: by name, or by a count (highest first, then by name).
    assert card_order(client.get("/", params={"group": "0"}).text) == sorted(names)
    by_waiting = client.get("/", params={"sort": "waiting", "group": "0"}).text
    assert card_order(by_waiting) == ["mail.welcome", "mail.digest", "billing", "sms.out"]
    by_delayed = client.get("/", params={"sort": "delayed", "group": "0"}, headers=JSON).json()
    assert by_delayed["queues"][0]["name"] == "sms.out"
    bad = client.get("/", params={"sort": "colour"})
    assert bad.status_code == 400 and "sort: expected one of" in bad.text

    # Grouping by "." (the default delimiter): ungrouped queues first, then one group per prefix with its members.
    grouped = client.get("/").text
    titles = re.findall(r'<summary class="group-title">([^<]+) <span class="count">(\d+)</span>', grouped)
    assert titles == [("mail", "2"), ("sms", "1")]
    mail_at, sms_at = grouped.index(">mail <span"), grouped.index(">sms <span")
    assert grouped.index('data-queue="billing"') < mail_at
    assert mail_at < grouped.index('data-queue="mail.digest"') < sms_at
    assert mail_at < grouped.index('data-queue="mail.welcome"') < sms_at
    assert sms_at < grouped.index('data-queue="sms.out"')
    assert "group-title" not in client.get("/", params={"group": "0"}).text
    # The toolbar's form sends group=0 then, when the box is ticked, group=1: the last one counts.
    assert "group-title" in client.get("/?group=0&group=1").text


def test_overview_without_group_delimiter(make_client: ClientFactory, sync_queues: Any) -> None:
    for n in ("mail.a", "mail.b"):
        sync_queues(n).add("x", {})
    client = make_client(["mail.a", "mail.b"], group_delimiter=None)
    page = client.get("/").text
    assert "group-title" not in page
    assert card_order(page) == ["mail.a", "mail.b"]


def test_worker_names_are_shown_as_given(make_client: ClientFactory, redis_url: str, sq: SyncQueue) -> None:
    """A worker started with name="mailer-1" is listed as "mailer-1", not as its Redis client name
    ("bull:<base64 of the queue>:w:mailer-1")."""
    client = make_client([sq.name])
    with ThreadWorker(redis_url, sq.name, name="mailer-1"):
        wait_for(lambda: client.get("/", headers=JSON).json()["queues"][0]["workers"], what="worker listed")
        page = client.get(f"/queues/{sq.name}")
        data = client.get(f"/queues/{sq.name}", headers=JSON).json()
    assert [w["name"] for w in data["queue"]["workers"]] == ["mailer-1"]
    assert '<span class="mono">mailer-1</span>' in page.text


# Queue page ---------------------------------------------------------------------------------------------------


def test_queue_tabs_list_the_right_jobs(make_client: ClientFactory, redis_url: str, sq: SyncQueue) -> None:
    completed = [sq.add(f"c{i}", {}).id for i in range(3)]
    failed = [sq.add("f0", {"fail": "nope"}).id]
    process_all(redis_url, sq, completed=3, failed=1)
    client = make_client([sq.name])

    with ThreadWorker(redis_url, sq.name, name="tab-worker"):
        active = [sq.add("a0", {"hold": True}).id]
        wait_for(lambda: counts_of(sq)["active"] == 1, what="a job held active")
        waiting = [sq.add(f"w{i}", {}).id for i in range(2)]
        p5, p1a, p3, p1b = (sq.add(n, {}, priority=p).id for n, p in (("p5", 5), ("p1a", 1), ("p3", 3), ("p1b", 1)))
        d300, d60, d120 = (sq.add(n, {}, delay=s).id for n, s in (("d300", 300), ("d60", 60), ("d120", 120)))

        expected = {
            "prioritized": [p1a, p1b, p3, p5],  # run order
            "delayed": [d60, d120, d300],  # soonest first
            "active": active,
            "completed": completed[::-1],  # newest first
            "failed": failed,
        }
        counts = {"waiting": 2, "prioritized": 4, "delayed": 3, "active": 1, "completed": 3, "failed": 1}
        for state, ids in expected.items():
            page = client.get(f"/queues/{sq.name}", params={"state": state})
            assert page.status_code == 200, state
            assert job_ids_in(page.text, sq.name) == ids, state
            data = client.get(f"/queues/{sq.name}", params={"state": state}, headers=JSON).json()
            assert [j["id"] for j in data["jobs"]] == ids, state
            assert {j["state"] for j in data["jobs"]} == {state}
            assert data["total"] == len(ids)
        waiting_page = client.get(f"/queues/{sq.name}", params={"state": "waiting"})
        assert sorted(job_ids_in(waiting_page.text, sq.name)) == sorted(waiting)

        # Tabs carry their counts.
        tabs = tab_counts(waiting_page.text)
        assert {s: tabs[s] for s in counts} == counts
        assert tabs["waiting-children"] == 0
        assert 'aria-current="page"' in waiting_page.text

        # Latest: every job, newest added first.
        latest = client.get(f"/queues/{sq.name}", headers=JSON).json()
        every = completed + failed + active + waiting + [p5, p1a, p3, p1b, d300, d60, d120]
        assert sorted(j["id"] for j in latest["jobs"]) == sorted(every)
        added = [j["added_ms"] for j in latest["jobs"]]
        assert added == sorted(added, reverse=True)
        latest_page = client.get(f"/queues/{sq.name}")
        assert sorted(job_ids_in(latest_page.text, sq.name)) == sorted(every)

        # The active job shows who runs it; the queue page lists the connected worker.
        assert "tab-worker" in latest_page.text


def test_queue_pagination(make_client: ClientFactory, sq: SyncQueue, qname: str) -> None:
    ids = [j.id for j in sq.add_bulk([{"name": f"j{i}", "data": {"i": i}} for i in range(30)])]
    client = make_client([qname])

    seen: list[str] = []
    for page_no in (1, 2, 3):
        data = client.get(
            f"/queues/{qname}", params={"state": "waiting", "per_page": 10, "page": page_no}, headers=JSON
        ).json()
        assert (data["page"], data["per_page"], data["total"], data["pages"]) == (page_no, 10, 30, 3)
        assert len(data["jobs"]) == 10
        seen += [j["id"] for j in data["jobs"]]
    assert sorted(seen, key=int) == ids

    # HTML: the same rows, and a pager that links to the other pages.
    page2 = client.get(f"/queues/{qname}", params={"state": "waiting", "per_page": 10, "page": 2})
    assert page2.status_code == 200
    assert job_ids_in(page2.text, qname) == seen[10:20]
    assert '<span class="page current">2</span>' in page2.text
    assert "page=3" in page2.text and "page=1" in page2.text
    beyond = client.get(f"/queues/{qname}", params={"state": "waiting", "per_page": 10, "page": 4}, headers=JSON)
    assert beyond.status_code == 200 and beyond.json()["jobs"] == []

    for per_page in (10, 25, 50, 100):
        got = client.get(f"/queues/{qname}", params={"state": "waiting", "per_page": per_page}, headers=JSON).json()
        assert len(got["jobs"]) == min(30, per_page)

    bad = {
        "per_page=7": ("per_page", "expected one of (10, 25, 50, 100), got 7"),
        "per_page=1000": ("per_page", "got 1000"),
        "per_page=ten": ("per_page", "expected a whole number, got 'ten'"),
        "page=0": ("page", "must be between 1 and 1,000,000,000, got 0"),
        "page=-2": ("page", "must be between 1 and"),
        "page=two": ("page", "expected a whole number"),
        "state=zombie": ("state", "expected one of latest"),
    }
    for query, (name, reason) in bad.items():
        page = client.get(f"/queues/{qname}?{query}")
        assert page.status_code == 400, query
        assert name in page.text and reason in html.unescape(page.text), query
        data = client.get(f"/queues/{qname}?{query}", headers=JSON)
        assert data.status_code == 400
        assert reason in data.json()["error"], query


def test_large_payload_is_cut_on_the_list(make_client: ClientFactory, sq: SyncQueue, qname: str) -> None:
    blob = "x" * 100 * 1024
    job = sq.add("big", {"blob": blob})
    size = len(json.dumps({"blob": blob}, separators=(",", ":")))
    client = make_client([qname])

    for state in ("latest", "waiting"):
        page = client.get(f"/queues/{qname}", params={"state": state})
        assert page.status_code == 200
        assert job_ids_in(page.text, qname) == [job.id]
        assert "x" * 400 not in page.text  # only a preview
        assert len(page.content) < 20_000
        assert "100.0 KB" in page.text  # the full size
        data = client.get(f"/queues/{qname}", params={"state": state}, headers=JSON).json()
        row = data["jobs"][0]
        assert row["data_size"] == size
        assert len(row["data_preview"]) <= 300
        assert row["data_preview"].startswith('{"blob":"xxx')


def test_large_non_ascii_payload_renders(make_client: ClientFactory, sq: SyncQueue, qname: str) -> None:
    """A payload bigger than the page's cut, made of multi-byte characters: the cut (in bytes, inside Redis)
    may fall inside a character, and the pages must still render."""
    text = "a" + "é" * 40_000  # '{"t":"a' is 7 bytes, then 2-byte characters: the 64 KB cut splits one
    job = sq.add("accents", {"t": text})
    client = make_client([qname], client={"raise_server_exceptions": False})
    for url in (f"/queues/{qname}", f"/queues/{qname}?state=waiting", f"/queues/{qname}/jobs/{job.id}"):
        page = client.get(url)
        assert page.status_code == 200, url
        assert "ééé" in page.text, url
        assert client.get(url, headers=JSON).status_code == 200, url
    assert client.get(f"/queues/{qname}/jobs/{job.id}/raw/data").json() == {"t": text}


# Job page -----------------------------------------------------------------------------------------------------


def test_job_page_shows_everything(make_client: ClientFactory, redis_url: str, sq: SyncQueue, qname: str) -> None:
    logs = [f"log line {i:03d}" for i in range(120)]
    done = sq.add(
        "report",
        {"logs": logs, "progress": 42, "result": {"answer": 42, "pages": [1, 2]}, "customer": "ada"},
        attempts=3,
        backoff={"type": "exponential", "delay": 1},
    )
    broken = sq.add("crash", {"fail": "kaput"}, attempts=2)
    process_all(redis_url, sq, completed=1, failed=1, name="web-worker-1")
    client = make_client([qname])

    page = client.get(f"/queues/{qname}/jobs/{done.id}")
    assert page.status_code == 200
    text = page.text
    assert "report" in text and "badge state-completed" in text
    # Data and return value (JSON, pretty-printed and escaped), options.
    assert "&#34;customer&#34;: &#34;ada&#34;" in text
    assert "&#34;answer&#34;: 42" in text
    assert '"attempts": 3' in text and '"backoff"' in text and '"delay": 1000' in text
    # Progress, worker name, timeline.
    assert 'title="42.0%"' in text
    assert '<dt>Worker</dt><dd class="mono">web-worker-1</dd>' in text
    timeline = re.search(r'<ol class="timeline">(.*?)</ol>', text, re.S)
    assert timeline
    labels = re.findall(r"<span>([^<]+)</span>", timeline.group(1))
    assert labels == ["added", "attempt 1 started by web-worker-1", "completed"]
    # Logs: 50 a page, the total shown, a pager.
    assert 'Logs <span class="muted">120</span>' in text
    assert logs_of(text) == logs[:50]
    page2 = client.get(f"/queues/{qname}/jobs/{done.id}", params={"logs_page": 2}).text
    assert '<ol class="logs" start="51">' in page2
    assert logs_of(page2) == logs[50:100]
    page3 = client.get(f"/queues/{qname}/jobs/{done.id}", params={"logs_page": 3}).text
    assert logs_of(page3) == logs[100:]
    assert '<span class="page current">3</span>' in page3
    for bad in ("0", "x"):
        assert client.get(f"/queues/{qname}/jobs/{done.id}", params={"logs_page": bad}).status_code == 400

    data = client.get(f"/queues/{qname}/jobs/{done.id}", headers=JSON).json()
    assert data["state"] == "completed" and data["name"] == "report"
    assert data["data"]["value"]["customer"] == "ada"
    assert data["returnvalue"]["value"] == {"answer": 42, "pages": [1, 2]}
    assert data["opts"]["attempts"] == 3
    assert data["progress"] == 42 and data["processed_by"] == "web-worker-1"
    assert data["logs_total"] == 120 and data["logs"] == logs[:50]
    assert [label for _, label in data["timeline"]][-1] == "completed"

    # A failed job: its reason and one stack trace per attempt.
    failed = client.get(f"/queues/{qname}/jobs/{broken.id}")
    assert failed.status_code == 200
    assert "<strong>kaput #2</strong>" in failed.text
    traces = re.findall(r'<summary>Attempt (\d+)</summary><pre class="stack">(.*?)</pre>', failed.text, re.S)
    assert sorted(n for n, _ in traces) == ["1", "2"]
    for n, trace in traces:
        assert f"RuntimeError: kaput #{n}" in trace and "Traceback" in trace
    failed_data = client.get(f"/queues/{qname}/jobs/{broken.id}", headers=JSON).json()
    assert failed_data["failed_reason"] == "kaput #2"
    assert len(failed_data["stacktrace"]) == 2
    assert failed_data["attempts_made"] == 2 and failed_data["attempts_allowed"] == 2


def test_large_payload_is_folded_with_a_raw_link(
    make_client: ClientFactory, redis_url: str, sq: SyncQueue, qname: str
) -> None:
    blob = "y" * 100 * 1024
    data = {"blob": blob, "n": 1}
    job = sq.add("big", {"result": {"echo": blob}, **data})
    process_all(redis_url, sq, completed=1)
    client = make_client([qname])

    page = client.get(f"/queues/{qname}/jobs/{job.id}")
    assert page.status_code == 200
    assert blob not in page.text  # cut
    assert len(page.content) < 2 * 70 * 1024  # two fields of at most 64 KB shown each
    raw_data_url = f"/queues/{qname}/jobs/{job.id}/raw/data"
    raw_rv_url = f"/queues/{qname}/jobs/{job.id}/raw/returnvalue"
    assert f'href="{raw_data_url}"' in page.text and f'href="{raw_rv_url}"' in page.text
    folds = re.findall(r'<details class="fold"[^>]*>\s*<summary>([^<]*)', page.text)
    # The data (which carries the return value to give) is twice as big as the return value.
    assert [f.split(" — ")[0] for f in folds] == ["200.0 KB, first 64.0 KB shown", "100.0 KB, first 64.0 KB shown"]

    full = client.get(raw_data_url)
    assert full.status_code == 200 and full.headers["content-type"].startswith("application/json")
    assert full.json() == {"result": {"echo": blob}, **data}
    assert client.get(raw_rv_url).json() == {"echo": blob}
    assert client.get(f"/queues/{qname}/jobs/{job.id}/raw/opts").status_code == 404
    assert client.get(f"/queues/{qname}/jobs/nope/raw/data").status_code == 404


def test_redis_page(make_client: ClientFactory, raw: redis.Redis, qname: str) -> None:
    client = make_client([qname])
    info: dict[str, Any] = raw.info()
    page = client.get("/redis")
    assert page.status_code == 200
    assert "<dt>Version</dt><dd>" + str(info["redis_version"]) + "</dd>" in page.text
    assert "<dt>Port</dt>" in page.text
    data = client.get("/redis", headers=JSON).json()
    assert data["redis_version"] == info["redis_version"]
    assert "used_memory_human" in data


def test_find_by_id(make_client: ClientFactory, sync_queues: Any) -> None:
    one, two = sync_queues("one"), sync_queues("two")
    one.add("a", {}, job_id="only-here")
    one.add("a", {}, job_id="shared")
    two.add("b", {}, job_id="shared")
    client = make_client(["one", "two"], client={"follow_redirects": False})

    unique = client.get("/find", params={"id": "only-here"})
    assert unique.status_code == 303
    assert unique.headers["location"] == "/queues/one/jobs/only-here"
    assert client.get("/find", params={"id": "  only-here  "}).headers["location"] == "/queues/one/jobs/only-here"

    several = client.get("/find", params={"id": "shared"})
    assert several.status_code == 200
    assert 'href="/queues/one/jobs/shared"' in several.text and 'href="/queues/two/jobs/shared"' in several.text
    assert client.get("/find", params={"id": "shared"}, headers=JSON).json() == {
        "id": "shared",
        "queues": ["one", "two"],
    }
    in_two = client.get("/find", params={"id": "shared", "queue": "two"})
    assert in_two.status_code == 303 and in_two.headers["location"] == "/queues/two/jobs/shared"

    missing = client.get("/find", params={"id": "nowhere"})
    assert missing.status_code == 404 and "No queue you can see has a job with this id" in missing.text
    assert client.get("/find", params={"id": "nowhere"}, headers=JSON).json() == {"id": "nowhere", "queues": []}
    assert client.get("/find", params={"id": " "}).status_code == 400


def test_unknown_queue_and_job_are_404(make_client: ClientFactory, sq: SyncQueue, qname: str) -> None:
    job = sq.add("a", {})
    client = make_client([qname])
    for url in (
        "/queues/nope",
        "/queues/nope/jobs/1",
        f"/queues/{qname}/jobs/999",
        f"/queues/{qname}/jobs/999/raw/data",
        f"/queues/{qname}/jobs/{job.id}/raw/stacktrace",
        f"/queues/{qname}/jobs/999/edit",
    ):
        page = client.get(url)
        assert page.status_code == 404, url
        assert "<h1>Not found</h1>" in page.text and "<html" in page.text, url
        data = client.get(url, headers=JSON)
        assert data.status_code == 404 and "error" in data.json(), url
    assert client.get("/no/such/page").status_code == 404


def test_every_page_answers_json(make_client: ClientFactory, redis_url: str, sq: SyncQueue, qname: str) -> None:
    job = sq.add("j", {"a": 1, "result": [1]})
    process_all(redis_url, sq, completed=1)
    client = make_client([qname])
    pages = {
        "/": lambda d: [q["name"] for q in d["queues"]] == [qname],
        f"/queues/{qname}": lambda d: d["queue"]["name"] == qname and d["jobs"][0]["id"] == job.id,
        f"/queues/{qname}?state=completed": lambda d: d["total"] == 1,
        f"/queues/{qname}/jobs/{job.id}": lambda d: d["id"] == job.id and d["data"]["value"]["a"] == 1,
        f"/queues/{qname}/jobs/{job.id}/raw/data": lambda d: d == {"a": 1, "result": [1]},
        f"/queues/{qname}/jobs/{job.id}/raw/returnvalue": lambda d: d == [1],
        "/redis": lambda d: "redis_version" in d,
        f"/find?id={job.id}": lambda d: d == {"id": job.id, "queues": [qname]},
        f"/queues/{qname}/add": lambda d: d == {"queue": qname},
        f"/queues/{qname}/jobs/{job.id}/edit": lambda d: d == {"queue": qname, "id": job.id},
    }
    for url, check in pages.items():
        response = client.get(url, headers=JSON)
        assert response.status_code == 200, url
        assert response.headers["content-type"].startswith("application/json"), url
        assert check(response.json()), (url, response.json())
    # A browser's Accept (HTML listed) gets HTML.
    assert client.get("/", headers=HTML).headers["content-type"].startswith("text/html")


def test_htmx_fragments(make_client: ClientFactory, sq: SyncQueue, qname: str) -> None:
    job = sq.add("j", {})
    client = make_client([qname])
    for url, block in (
        ("/", '<div id="queues"'),
        (f"/queues/{qname}", '<div id="live"'),
        (f"/queues/{qname}?state=waiting", '<div id="live"'),
        (f"/queues/{qname}/jobs/{job.id}", '<div id="live"'),
    ):
        fragment = client.get(url, headers=HTMX)
        assert fragment.status_code == 200, url
        assert fragment.text.lstrip().startswith(block), url
        for outside in ("<html", "<head>", 'class="topbar"', "<footer"):
            assert outside not in fragment.text, (url, outside)
        assert fragment.text.count(block) == 1
        full = client.get(url)
        assert "<html" in full.text and block in full.text
        # History restores need the whole page.
        restore = client.get(url, headers={**HTMX, "HX-History-Restore-Request": "true"})
        assert "<html" in restore.text
    live = client.get(f"/queues/{qname}?state=waiting", headers=HTMX).text
    assert job_ids_in(live, qname) == [job.id]
    assert 'hx-get="/queues/' + qname + '?state=waiting"' in live


# Bad data -----------------------------------------------------------------------------------------------------


def test_malformed_hashes_render(make_client: ClientFactory, raw: redis.Redis, sq: SyncQueue, qname: str) -> None:
    good = sq.add("fine", {"ok": True})
    base = f"bull:{qname}:"
    raw.hset(base + "broken", mapping={"name": "broken", "data": '{"a": ', "opts": "{}", "timestamp": "1000"})
    raw.hset(base + "bare", mapping={"data": '{"only": "data"}'})
    raw.lpush(base + "wait", "broken", "bare")
    client = make_client([qname], client={"raise_server_exceptions": False})

    for state in ("latest", "waiting"):
        page = client.get(f"/queues/{qname}", params={"state": state})
        assert page.status_code == 200, state
        assert sorted(job_ids_in(page.text, qname)) == sorted(["bare", "broken", good.id])
        assert malformed_rows(page.text) == {"bare", "broken"}, state
        data = client.get(f"/queues/{qname}", params={"state": state}, headers=JSON)
        assert data.status_code == 200
        problems = {j["id"]: j["problems"] for j in data.json()["jobs"]}
        assert "data" in problems["broken"]
        assert {"name", "opts", "timestamp"} <= set(problems["bare"])
        assert problems[good.id] == {}

    for job_id, fields in (("broken", ["data"]), ("bare", ["name", "opts", "timestamp"])):
        page = client.get(f"/queues/{qname}/jobs/{job_id}")
        assert page.status_code == 200, job_id
        assert set(fields) <= warned_fields(page.text), job_id
        data = client.get(f"/queues/{qname}/jobs/{job_id}", headers=JSON)
        assert data.status_code == 200, job_id
        assert set(fields) <= set(data.json()["problems"])
    assert "{&#34;a&#34;: " in client.get(f"/queues/{qname}/jobs/broken").text  # shown as stored
    assert "&#34;only&#34;: &#34;data&#34;" in client.get(f"/queues/{qname}/jobs/bare").text
    # The raw view hands back what is stored.
    assert client.get(f"/queues/{qname}/jobs/broken/raw/data").text == '{"a": '
    # The overview still counts the queue.
    assert card_counts(card_of(client.get("/").text, qname))["waiting"] == 3


def test_binary_data_renders(
    make_client: ClientFactory, raw: redis.Redis, raw_bytes: redis.Redis, sq: SyncQueue, qname: str
) -> None:
    """A data field that is not UTF-8 (another program wrote bytes) is shown, marked, on every page."""
    good = sq.add("fine", {"ok": True})
    raw_bytes.hset(
        f"bull:{qname}:binary".encode(),
        mapping={b"name": b"binary", b"data": b"\xff\xfe\x00\x80binary", b"opts": b"{}", b"timestamp": b"2000"},
    )
    raw.lpush(f"bull:{qname}:wait", "binary")
    client = make_client([qname], client={"raise_server_exceptions": False})

    for state in ("latest", "waiting"):
        data = client.get(f"/queues/{qname}", params={"state": state}, headers=JSON)
        assert data.status_code == 200
        problems = {j["id"]: j["problems"] for j in data.json()["jobs"]}
        assert "data" in problems["binary"] and problems[good.id] == {}
        page = client.get(f"/queues/{qname}", params={"state": state})
        assert page.status_code == 200, state
        assert sorted(job_ids_in(page.text, qname)) == sorted(["binary", good.id])
        assert malformed_rows(page.text) == {"binary"}
    detail = client.get(f"/queues/{qname}/jobs/binary", headers=JSON)
    assert detail.status_code == 200 and "data" in detail.json()["problems"]
    page = client.get(f"/queues/{qname}/jobs/binary")
    assert page.status_code == 200
    assert "data" in warned_fields(page.text) and "binary" in page.text
    binary = client.get(f"/queues/{qname}/jobs/binary/raw/data")
    assert binary.status_code == 200 and binary.content.endswith(b"binary")


# Limits -------------------------------------------------------------------------------------------------------


def limits_line(page: str, queue: str) -> str:
    found = re.search(r'<p class="queue-limits muted">(.*?)</p>', card_of(page, queue), re.S)
    return re.sub(r"<[^>]+>", " ", found.group(1)) if found else ""


def test_rate_limit_is_said_in_human_terms(make_client: ClientFactory, sync_queues: Any, raw: redis.Redis) -> None:
    full, open_window = sync_queues("full"), sync_queues("open")
    full.set_global_concurrency(5)
    full.set_global_rate_limit(100, 60)
    # The window of the global limit is full for 26 more minutes.
    raw.set("bull:full:limiter", 100, px=26 * 60_000 + 5_000)
    # Open, with room left: workers still take jobs.
    open_window.set_global_rate_limit(100, 60)
    raw.set("bull:open:limiter", 3, px=30_000)
    # A manual rate limit (BullMQ's rateLimit(ms)) on a queue without a global limit.
    raw.set("bull:manual:limiter", 9007199254740991, px=90_000)
    sync_queues("calm").add("j", {})
    client = make_client(["full", "open", "manual", "calm"])

    overview = client.get("/").text
    assert "rate limited, 26 min left" in card_of(overview, "full")
    assert "rate limited, 1 min left" in card_of(overview, "manual")
    for quiet in ("open", "calm"):
        assert "rate limited" not in card_of(overview, quiet), quiet
    assert " ".join(limits_line(overview, "full").split()) == "concurrency 5 at most 100 per 1 min"
    assert limits_line(overview, "calm") == ""

    page = client.get("/queues/full").text
    assert "rate limited, 26 min left" in page
    assert "<dt>Global concurrency</dt><dd>5</dd>" in page
    assert "<dt>Global rate limit</dt><dd>100 per 1 min</dd>" in page
    calm_page = client.get("/queues/calm").text
    assert "<dt>Global concurrency</dt><dd>none</dd>" in calm_page and "rate limited" not in calm_page

    data = {q["name"]: q for q in client.get("/", headers=JSON).json()["queues"]}
    assert 25 * 60_000 < data["full"]["rate_limited_for_ms"] <= 26 * 60_000 + 5_000
    assert data["open"]["rate_limited_for_ms"] == 0 and data["calm"]["rate_limited_for_ms"] == 0
    assert (data["full"]["global_concurrency"], data["full"]["rate_limit_max"]) == (5, 100)
    assert data["full"]["rate_limit_duration_ms"] == 60_000


def test_limits_form_shows_the_current_limits(make_client: ClientFactory, sq: SyncQueue, qname: str) -> None:
    sq.set_global_concurrency(4)
    sq.set_global_rate_limit(10, 2.5)
    client = make_client([qname], auth=BasicAuth(USERS))
    page = client.get(f"/queues/{qname}/limits", headers=AS["admin"]).text
    values = {
        a["name"]: a.get("value") for tag, a in tags_of(page) if tag == "input" and a.get("id", "").startswith("limit-")
    }
    assert values == {"concurrency": "4", "max": "10", "duration": "2.5"}
    assert [f"/queues/{qname}/concurrency", f"/queues/{qname}/rate-limit"] == [
        f for f in post_forms(page) if not f.endswith("/logout")
    ]
    # The queue page has the same forms in its menu, for admins only.
    assert f"/queues/{qname}/concurrency" in post_forms(client.get(f"/queues/{qname}", headers=AS["admin"]).text)
    assert f"/queues/{qname}/concurrency" not in post_forms(client.get(f"/queues/{qname}", headers=AS["operator"]).text)
    assert client.get(f"/queues/{qname}/limits", headers=AS["operator"]).status_code == 403


# Flows --------------------------------------------------------------------------------------------------------


def flow_nodes(page: str) -> list[str]:
    """Each line of a job page's flow tree, as text, in page order (the parents, the job, its descendants)."""
    section = re.search(r'<ul class="flow-tree">(.*?)</section>', page, re.S)
    assert section, "no flow tree on the page"
    lines = re.split(r"<li[^>]*>", section.group(1))[1:]
    return [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", line)).split()) for line in lines]


def test_job_page_shows_the_whole_flow(make_client: ClientFactory, redis_url: str, sync_queues: Any) -> None:
    for name in ("billing", "images", "reports"):
        sync_queues(name)
    with SyncFlowProducer(redis_url) as flows:
        tree = flows.add(
            {
                "name": "invoice-batch",
                "queue_name": "billing",
                "children": [
                    {
                        "name": "render",
                        "queue_name": "images",
                        "children": [
                            {"name": "thumb", "queue_name": "images"},
                            {"name": "totals", "queue_name": "reports"},
                        ],
                    },
                    {
                        "name": "group",
                        "queue_name": "billing",
                        "children": [
                            {"name": f"line-{i:02}", "queue_name": "billing", "job_id": f"line-{i:02}"}
                            for i in range(25)
                        ],
                    },
                ],
            }
        )
    root, render, group = tree.job.id, tree.children[0].job.id, tree.children[1].job.id
    thumb = tree.children[0].children[0].job.id
    client = make_client(["billing", "images", "reports"])

    # From a grandchild: the chain up to the root, this job marked, each with state and queue.
    page = client.get(f"/queues/images/jobs/{thumb}").text
    lines = flow_nodes(page)
    assert lines[0].startswith(f"waiting-children #{root} invoice-batch in billing")
    assert "2 pending" in lines[0]
    assert lines[1].startswith(f"waiting-children #{render} render in images")
    assert f"waiting #{thumb} thumb this job, in images" in lines
    assert f'href="/queues/billing/jobs/{root}"' in page and f'href="/queues/images/jobs/{render}"' in page
    assert f'href="/queues/images/jobs/{thumb}"' not in page.split('class="flow-tree"')[1].split("</section>")[0]

    # From the root: children and grandchildren; a parent of 25 shows 20 and says how many more.
    top = client.get(f"/queues/billing/jobs/{root}").text
    shown = flow_nodes(top)
    assert sum("line-" in line for line in shown) == 20
    assert f"and 5 more ( see #{group} )" in shown
    assert any("totals in reports" in line for line in shown)

    data = client.get(f"/queues/billing/jobs/{root}", headers=JSON).json()
    flow = data["flow"]
    assert flow["id"] == root and flow["current"] and flow["counts"]["pending"] == 2
    by_name = {child["name"]: child for child in flow["children"]}
    assert by_name["group"]["counts"]["pending"] == 25 and by_name["group"]["more"] == 5
    assert len(by_name["group"]["children"]) == 20
    assert {c["queue"] for c in by_name["render"]["children"]} == {"images", "reports"}
    assert data["children_pending"] == 2 and {c["queue"] for c in data["children"]} == {"images", "billing"}


def test_flow_tree_is_bounded_in_depth(make_client: ClientFactory, redis_url: str, sq: SyncQueue, qname: str) -> None:
    node: dict[str, Any] = {"name": "level-12", "queue_name": qname, "job_id": "level-12"}
    for level in range(11, -1, -1):
        node = {"name": f"level-{level:02}", "queue_name": qname, "job_id": f"level-{level:02}", "children": [node]}
    with SyncFlowProducer(redis_url) as flows:
        flows.add(node)
    client = make_client([qname])
    # Four levels below the job.
    top = client.get(f"/queues/{qname}/jobs/level-00", headers=JSON).json()["flow"]
    depth, here = 0, top
    while here["children"]:
        here, depth = here["children"][0], depth + 1
    assert depth == 4 and here["id"] == "level-04" and here["more"] == 1
    assert "and 1 more ( see #level-04 )" in flow_nodes(client.get(f"/queues/{qname}/jobs/level-00").text)
    # Eight parents above it, and a word that there are more.
    deep = client.get(f"/queues/{qname}/jobs/level-12", headers=JSON).json()
    assert deep["flow"]["id"] == "level-04" and deep["flow_cut"] is True
    assert "more parents above" in client.get(f"/queues/{qname}/jobs/level-12").text


def test_job_list_shows_a_parents_children(make_client: ClientFactory, redis_url: str, sync_queues: Any) -> None:
    parents, kids = sync_queues("parents"), sync_queues("kids")
    with SyncFlowProducer(redis_url) as flows:
        tree = flows.add(
            {
                "name": "parent",
                "queue_name": "parents",
                "children": [
                    {"name": "a", "queue_name": "kids"},
                    {"name": "b", "queue_name": "kids"},
                    {"name": "c", "queue_name": "slow"},
                ],
            }
        )
    process_all(redis_url, kids, completed=2)
    client = make_client(["parents", "kids", "slow"])
    for state in ("waiting-children", "latest"):
        page = client.get(f"/queues/parents?state={state}").text
        assert job_ids_in(page, "parents") == [tree.job.id]
        assert "2 done, 1 pending</span>" in page, state
    rows = client.get("/queues/parents?state=waiting-children", headers=JSON).json()["jobs"]
    assert rows[0]["children_counts"] == {"pending": 1, "done": 2, "failed": 0, "ignored": 0, "total": 3}
    # A job with no children says nothing of them.
    assert client.get("/queues/slow?state=waiting", headers=JSON).json()["jobs"][0]["children_counts"] is None
    assert parents.get_job_state(tree.job.id) == "waiting-children"


# Deduplication and dead letters ----------------------------------------------------------------------------------


def test_deduplication_ids_show_on_their_jobs(make_client: ClientFactory, sq: SyncQueue, qname: str) -> None:
    job = sq.add("charge", {"order": 42}, deduplication={"id": "order-42"})
    plain = sq.add("plain", {})
    client = make_client([qname])
    page = client.get(f"/queues/{qname}").text
    rows = {m.group(1): m.group(2) for m in re.finditer(r'/jobs/([^"]+)">.*?</a></td>(.*?)</tr>', page, re.S)}
    assert 'dedup <span class="mono">order-42</span>' in rows[job.id]
    assert "dedup" not in rows[plain.id]
    assert 'dedup <span class="mono">order-42</span>' in client.get(f"/queues/{qname}/jobs/{job.id}").text
    assert client.get(f"/queues/{qname}/jobs/{job.id}", headers=JSON).json()["deduplication_id"] == "order-42"


def test_a_dead_letter_shows_where_it_came_from(
    make_client: ClientFactory, redis_url: str, sync_queues: Any, raw: redis.Redis
) -> None:
    email, dead = sync_queues("email"), sync_queues("email-dead")
    job = email.add("welcome", {"to": "ada@example.com", "fail": "bounced"}, attempts=2)
    process_all(redis_url, email, failed=1, dead_letter_queue="email-dead")
    wait_for(lambda: dead.get_job_counts("failed")["failed"] == 1, what="the dead letter")
    (letter_id,) = [str(i) for i in raw.zrange("bull:email-dead:failed", 0, -1)]
    client = make_client(["email", "email-dead"])

    page = client.get(f"/queues/email-dead/jobs/{letter_id}").text
    panel = re.search(r'<section class="panel dead-letter">(.*?)</section>', page, re.S)
    assert panel
    assert 'href="/queues/email">email</a>' in panel.group(1)
    assert f'href="/queues/email/jobs/{job.id}">#{job.id}</a>' in panel.group(1)
    assert "2 made there" in panel.group(1) and "<time" in panel.group(1)
    assert "Send back to email</button>" in page and f"/queues/email-dead/jobs/{letter_id}/retry" in post_forms(page)
    assert ">Retry</button>" not in page
    listing = client.get("/queues/email-dead?state=failed").text
    assert ">from email</span>" in listing
    data = client.get(f"/queues/email-dead/jobs/{letter_id}", headers=JSON).json()
    assert data["dead_letter"]["queue"] == "email" and data["dead_letter"]["job_id"] == job.id
    assert data["dead_letter"]["attempts_made"] == 2


# Live updates ---------------------------------------------------------------------------------------------------


def test_live_job_page_refreshes_its_header_buttons_and_result(
    make_client: ClientFactory, redis_url: str, sq: SyncQueue, qname: str
) -> None:
    job = sq.add("live-job", {"result": {"answer": 42}})
    client = make_client([qname])
    url = f"/queues/{qname}/jobs/{job.id}"
    before = client.get(url, headers=HTMX).text
    heading = re.search(r"<h1>(.*?)</h1>", before, re.S)
    assert heading and 'badge state-waiting">waiting<' in heading.group(1)
    assert "hx-trigger" in before and "Return value" not in before and ">Retry</button>" not in before
    process_all(redis_url, sq, completed=1)

    after = client.get(url, headers=HTMX).text
    heading = re.search(r"<h1>(.*?)</h1>", after, re.S)
    assert heading and 'badge state-completed">completed<' in heading.group(1)
    assert "Return value" in after and "&#34;answer&#34;: 42" in after
    assert ">Retry</button>" in after
    # Finished: the page stops polling.
    assert "hx-trigger" not in after


def test_live_queue_page_refreshes_its_header_and_buttons(
    make_client: ClientFactory, sq: SyncQueue, qname: str
) -> None:
    sq.add("j", {})
    client = make_client([qname])
    before = client.get(f"/queues/{qname}", headers=HTMX).text
    assert "badge-paused" not in before and ">Pause</button>" in before
    sq.pause()
    after = client.get(f"/queues/{qname}", headers=HTMX).text
    assert "badge-paused" in after and ">Resume</button>" in after and "Obliterate…" in after
