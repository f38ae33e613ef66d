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


# The overview's table: a column a state, in the order of the tabs.
STATE_COLUMNS = ["waiting", "prioritized", "delayed", "active", "waiting-children", "completed", "failed"]


def row_of(page: str, queue: str) -> str:
    """The overview's row of one queue."""
    # A row ends where the next begins, or with the table's body.
    match = re.search(rf'<tr data-queue="{re.escape(queue)}">(.*?)(?=<tr|\s*</tbody>)', page, re.S)
    assert match, f"no row for {queue!r} on the overview"
    return match.group(1)


def cells_of(row: str) -> list[str]:
    """The cells after a row's head: a state's count each, then the workers, then the last hour."""
    return re.split(r"<td>", row)[1:]


def row_counts(row: str) -> dict[str, int]:
    """A row's counts, by the state of their column; a count above 0 links to that tab of its queue."""
    counts = {}
    for cell, state in zip(cells_of(row), STATE_COLUMNS, strict=False):
        linked = re.fullmatch(r'<a href="[^"]*\?state=([a-z-]+)">([\d,]+)</a>', cell)
        if linked:
            assert linked.group(1) == state and linked.group(2) != "0", (state, cell)
            counts[state] = int(linked.group(2).replace(",", ""))
        else:
            assert cell == "0", (state, cell)
            counts[state] = 0
    assert len(counts) == len(STATE_COLUMNS), row
    return counts


def workers_in(row: str) -> int:
    return int(cells_of(row)[len(STATE_COLUMNS)].replace(",", ""))


def strip_counts(strip: str) -> dict[str, int]:
    pairs = re.findall(r'<span>([a-z-]+)</span><span class="num">([\d,]+)</span>', strip)
    return {state: int(n.replace(",", "")) for state, n in pairs}


def tab_counts(page: str) -> dict[str, int]:
    pairs = re.findall(r'class="tab state-([a-z-]+)[^"]*"[^>]*>\s*\1 <span class="count">([\d,]+)</span>', page)
    return {state: int(n.replace(",", "")) for state, n in pairs}


def row_order(page: str) -> list[str]:
    return re.findall(r'<tr data-queue="([^"]+)">', page)


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
        assert row_counts(row_of(page.text, name)) == counts, name
    by_name = {q["name"]: q for q in data["queues"]}
    assert list(by_name) == ["alpha", "beta", "gamma"]
    for name, counts in expected.items():
        assert {s: by_name[name]["counts"][s] for s in counts} == counts, name
    assert by_name["alpha"]["paused"] is True and by_name["beta"]["paused"] is False
    assert "badge-paused" in row_of(page.text, "alpha")
    assert "badge-paused" not in row_of(page.text, "beta")
    # Workers: gamma has one, the others none.
    assert len(by_name["gamma"]["workers"]) == 1
    assert by_name["gamma"]["workers"][0]["name"].endswith("overview-worker")
    assert by_name["alpha"]["workers"] == [] and by_name["beta"]["workers"] == []
    assert workers_in(row_of(page.text, "gamma")) == 1
    assert workers_in(row_of(page.text, "alpha")) == 0 and workers_in(row_of(page.text, "beta")) == 0
    # Once the worker is gone, so is its badge.
    wait_for(lambda: workers_in(row_of(client.get("/").text, "gamma")) == 0, what="worker gone")
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
    assert sorted(row_order(page.text)) == ["mail.digest", "mail.welcome"]
    data = client.get("/", params={"filter": "mail"}, headers=JSON).json()
    assert sorted(q["name"] for q in data["queues"]) == ["mail.digest", "mail.welcome"]
    none = client.get("/", params={"filter": "nothing-like-this"})
    assert row_order(none.text) == [] and "No queues match" in none.text

    # Sort: by name, or by a count (highest first, then by name).
    assert row_order(client.get("/", params={"group": "0"}).text) == sorted(names)
    by_waiting = client.get("/", params={"sort": "waiting", "group": "0"}).text
    assert row_order(by_waiting) == ["mail.welcome", "mail.digest", "billing", "sms.out"]
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
    assert row_order(page) == ["mail.a", "mail.b"]


def totals_of(page: str) -> dict[str, int]:
    strip = re.search(r'<ul class="totals-strip">(.*?)</ul>', page, re.S)
    assert strip, "no totals on the overview"
    return strip_counts(strip.group(1))


def test_overview_totals_and_the_state_filter(make_client: ClientFactory, redis_url: str, sync_queues: Any) -> None:
    alpha, beta, gamma = sync_queues("alpha"), sync_queues("beta"), sync_queues("gamma")
    alpha.add("a", {})
    alpha.add("later", {}, delay=3600_000)
    beta.add("b", {})
    beta.add("bad", {"fail": "no"})
    process_all(redis_url, beta, completed=1, failed=1)
    gamma.add("g", {})
    client = make_client(["alpha", "beta", "gamma"], group_delimiter="-")

    page = client.get("/").text
    totals = totals_of(page)
    assert (totals["waiting"], totals["delayed"], totals["completed"], totals["failed"]) == (2, 1, 1, 1)
    assert client.get("/", headers=JSON).json()["totals"] == totals

    # Only the queues with failed jobs, and the totals are theirs.
    failing = client.get("/", params={"has": "failed"})
    assert row_order(failing.text) == ["beta"]
    assert totals_of(failing.text)["waiting"] == 0 and totals_of(failing.text)["failed"] == 1
    data = client.get("/", params={"has": "delayed"}, headers=JSON).json()
    assert [q["name"] for q in data["queues"]] == ["alpha"] and data["totals"]["delayed"] == 1
    # The filter and the state filter together.
    assert row_order(client.get("/", params={"has": "waiting", "filter": "gam"}).text) == ["gamma"]
    assert "No queues match." in client.get("/", params={"has": "active"}).text
    bad = client.get("/", params={"has": "broken"}, headers=JSON)
    assert bad.status_code == 400 and bad.json()["error"].startswith("has: expected one of waiting")


def test_overview_groups_by_the_boards_delimiter(make_client: ClientFactory, sync_queues: Any) -> None:
    names = ["mail-welcome", "mail-digest", "mail.other"]
    for n in names:
        sync_queues(n).add("x", {})
    page = make_client(names, group_delimiter="-").get("/").text
    titles = re.findall(r'<summary class="group-title">([^<]+) <span class="count">(\d+)</span>', page)
    assert titles == [("mail", "2")]
    assert page.index('data-queue="mail.other"') < page.index('data-group="mail"')


def test_every_whole_page_has_the_queue_navigation(
    make_client: ClientFactory, sync_queues: Any, raw: redis.Redis
) -> None:
    sync_queues("alpha").add("a", {})
    beta = sync_queues("beta")
    beta.add("b", {})
    beta.pause()
    # A limiter window open and full: "gamma" is rate limited.
    sync_queues("gamma").add("g", {})
    raw.hset("bull:gamma:meta", mapping={"max": 1, "duration": 60_000})
    raw.set("bull:gamma:limiter", 1, px=60_000)
    client = make_client(["alpha", "beta", "gamma"])

    page = client.get("/queues/beta").text
    nav = re.search(r'<ul class="nav-queues">(.*?)</ul>', page, re.S)
    assert nav, "no navigation on the queue page"
    items = dict(re.findall(r'<li data-q="([^"]+)">(.*?)(?=<li|$)', nav.group(1), re.S))
    assert list(items) == ["alpha", "beta", "gamma"]
    assert 'class="current" aria-current="page"' in items["beta"] and "current" not in items["alpha"]
    assert "mk-paused" in items["beta"] and "mk-paused" not in items["alpha"]
    assert "mk-limited" in items["gamma"] and "mk-limited" not in items["beta"]
    for url in ("/", "/redis", "/queues/alpha?state=failed"):
        assert 'class="nav-queues"' in client.get(url).text, url
    # Not in what a poll swaps in, nor in JSON.
    assert "nav-queues" not in client.get("/queues/beta", headers=HTMX).text
    assert "nav-queues" not in client.get("/", headers=HTMX).text


def test_an_unreadable_queue_leaves_the_navigation_up(
    make_client: ClientFactory, sync_queues: Any, raw: redis.Redis
) -> None:
    sync_queues("alpha").add("a", {})
    raw.set("bull:broken:meta", "not a hash")
    client = make_client(["alpha", "broken"])
    page = client.get("/queues/alpha")
    assert page.status_code == 200
    nav = re.search(r'<ul class="nav-queues">(.*?)</ul>', page.text, re.S)
    assert nav and 'data-q="broken"' in nav.group(1) and "mk-" not in nav.group(1)


def test_the_navigation_lists_only_the_queues_a_user_may_see(make_client: ClientFactory, sync_queues: Any) -> None:
    for n in ("email", "secret"):
        sync_queues(n).add("x", {})
    client = make_client(["email", "secret"], auth=BasicAuth(USERS))
    page = client.get("/queues/email", headers=AS["emailer"]).text
    assert 'data-q="email"' in page and "secret" not in page


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
    assert 'title="42%"' in text and '<span class="progress-pct" aria-hidden="true">42%</span>' in text
    assert '<dt>Worker</dt><dd class="mono">web-worker-1</dd>' in text
    timeline = re.search(r'<ol class="timeline">(.*?)</ol>', text, re.S)
    assert timeline
    labels = re.findall(r"<span>([^<]+)</span>", timeline.group(1))
    assert labels == ["added", "attempt 1 started by web-worker-1", "completed"]
    # Logs: 50 a page, the total shown, a pager.
    assert 'Logs <span class="muted">120</span>' in text
    assert logs_of(text) == logs[:50]
    page2 = client.get(f"/queues/{qname}/jobs/{done.id}", params={"logs_page": 2}).text
    assert '<ol class="logs" start="51"' in page2
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
    traces = re.findall(r'<summary>Attempt (\d+)</summary><pre class="stack"[^>]*>(.*?)</pre>', failed.text, re.S)
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
    assert not copy_targets(page.text)[1:3], "copy offered for a value cut short"
    folds = re.findall(r'<details class="fold"[^>]*>\s*<summary>([^<]*)', page.text)
    # The data (which carries the return value to give) is twice as big as the return value.
    assert [f.split(" — ")[0] for f in folds] == ["200.0 KB, first 64.0 KB shown", "100.0 KB, first 64.0 KB shown"]

    full = client.get(raw_data_url)
    assert full.status_code == 200 and full.headers["content-type"].startswith("application/json")
    assert full.json() == {"result": {"echo": blob}, **data}
    assert client.get(raw_rv_url).json() == {"echo": blob}
    assert client.get(f"/queues/{qname}/jobs/{job.id}/raw/opts").status_code == 404
    assert client.get(f"/queues/{qname}/jobs/nope/raw/data").status_code == 404


def copy_targets(page: str) -> list[str]:
    """The ids that a page's copy buttons copy from, in page order."""
    return re.findall(r'<button type="button" class="[^"]*\bcopy\b[^"]*" data-copy-target="([^"]+)"', page)


def tree_of(page: str, field: str) -> str:
    pane = re.search(rf'<div class="view-tree-pane"><ul class="json-tree" id="tree-{field}">(.*?)</div>', page, re.S)
    assert pane, f"no tree of {field} on the page"
    return pane.group(1)


def test_job_page_copy_buttons_and_json_tree(
    make_client: ClientFactory, redis_url: str, sq: SyncQueue, qname: str
) -> None:
    hostile = '<script>alert("key")</script>'
    rows = [{"id": i, "tags": ["a", "b"]} for i in range(10)]
    data = {hostile: "<img src=x onerror=alert(1)>", "password": "hunter2", "rows": rows, "logs": ["one"]}
    job = sq.add("tree", {**data, "result": {"answer": 42}})
    broken = sq.add("crash", {"fail": "kaput"}, attempts=2)
    process_all(redis_url, sq, completed=1, failed=1)
    client = make_client([qname])

    text = client.get(f"/queues/{qname}/jobs/{job.id}").text
    # A button for each of logs, data, return value and options, each copying an element that is there.
    assert copy_targets(text) == ["logs-list", "text-data", "text-returnvalue", "text-opts"]
    assert all(f'id="{target}"' in text for target in copy_targets(text))
    # Hidden until board.js shows it: without a script there is no clipboard to reach.
    assert 'class="btn-small copy needs-js right"' in text

    tree = tree_of(text, "data")
    assert '<span class="jt-key">&lt;script&gt;alert(&#34;key&#34;)&lt;/script&gt;</span>' in tree
    assert '<span class="jt-string">&#34;&lt;img src=x onerror=alert(1)&gt;&#34;</span>' in tree
    assert "<script>" not in text and "<img" not in text
    # What the formatters mask stays masked in the tree (and everywhere else on the page).
    assert '<span class="jt-key">password</span><span class="jt-string">&#34;***&#34;</span>' in tree
    assert "hunter2" not in text
    # "rows" (10 items) is open, each row (depth 2) folded, saying what it holds.
    assert '<summary><span class="jt-key">rows</span><span class="jt-array">10 items</span></summary>' in tree
    assert tree.count('<details><summary><span class="jt-index">') == 10
    assert '<span class="jt-object">2 keys</span>' in tree
    # Tree or text: a larger value opens as a tree, a small one as text; both are on the page.
    assert 'id="view-data-tree" checked' in text and 'id="view-returnvalue-text" checked' in text
    assert "&#34;password&#34;: &#34;***&#34;" in text
    assert '<span class="jt-key">answer</span><span class="jt-number">42</span>' in tree_of(text, "returnvalue")
    assert client.get(f"/queues/{qname}/jobs/{job.id}", headers=JSON).json()["data"]["value"]["password"] == "***"

    failed = client.get(f"/queues/{qname}/jobs/{broken.id}").text
    assert copy_targets(failed)[:2] == ["stack-2", "stack-1"]
    assert 'id="stack-2">Traceback' in failed


def test_large_values_offer_the_raw_link_not_copy(
    make_client: ClientFactory, redis_url: str, sq: SyncQueue, qname: str
) -> None:
    blob = "z" * 100 * 1024
    many = {"rows": [{"i": i} for i in range(3000)]}
    job = sq.add("big", {"blob": blob, "result": many})
    process_all(redis_url, sq, completed=1)
    client = make_client([qname])

    text = client.get(f"/queues/{qname}/jobs/{job.id}").text
    # The data was cut to fit the page: no copy of a part, the raw link instead.
    assert "text-data" not in copy_targets(text) and "tree-data" not in text
    assert f'href="/queues/{qname}/jobs/{job.id}/raw/data"' in text
    # The return value is whole on the page but past the tree's budget: the tree shows its start and says so.
    assert "text-returnvalue" in copy_targets(text)
    tree = tree_of(text, "returnvalue")
    assert tree.count("<li") < 2100
    assert '<li class="jt-more">' in tree
    assert "The tree shows the first 2,000 values; the text view has them all." in text


def test_job_page_logs_filter(make_client: ClientFactory, raw: redis.Redis, sq: SyncQueue, qname: str) -> None:
    lines = [f"step {i:03d} {'ERROR' if i % 7 == 0 else 'ok'}" for i in range(600)] + ["token=s3cret-value error"]
    job = sq.add("noisy", {})
    raw.rpush(f"bull:{qname}:{job.id}:logs", *lines)
    client = make_client([qname])
    url = f"/queues/{qname}/jobs/{job.id}"

    page = client.get(url).text
    # The form works without a script; with one, typing filters the lines shown.
    assert '<input type="search" name="logs_q" value=""' in page and 'data-filter-list="logs-list"' in page
    assert len(logs_of(page)) == 50

    # The server filters a longer stretch than a page (500 lines), whatever the case.
    first = client.get(url, params={"logs_q": "error"}).text
    expected = [line for line in lines[:500] if "error" in line.lower()]
    assert logs_of(first) == expected and len(expected) == 72
    assert "72 of lines 1\u2013500 match" in first
    assert '<a class="page" href="?logs_q=error&amp;logs_page=2">2</a>' in first
    assert f'<a href="{url}">Clear</a>' in first
    second = client.get(url, params={"logs_q": "error", "logs_page": 2}).text
    # The redacted line matches by what is shown, never by the secret.
    assert logs_of(second) == [line for line in lines[500:600] if "ERROR" in line] + ["token=*** error"]
    assert "15 of lines 501\u2013601 match" in second
    secret = client.get(url, params={"logs_q": "s3cret", "logs_page": 2}).text
    assert '<ol class="logs"' not in secret and "No line here contains “s3cret”." in secret
    assert client.get(url, params={"logs_q": "s3cret", "logs_page": 2}, headers=JSON).json()["logs"] == []

    data = client.get(url, params={"logs_q": "step 00"}, headers=JSON).json()
    assert data["logs"] == lines[:10] and data["logs_total"] == 601
    bad = client.get(url, params={"logs_q": "x" * 201}, headers=JSON)
    assert bad.status_code == 400 and bad.json()["error"].startswith("logs_q: at most 200 characters")


def progress_of(page: str) -> str | None:
    found = re.search(r"<dt>Progress</dt><dd>(.*?)</dd>", page, re.S)
    return found.group(1) if found else None


def test_progress_shows_its_number_only_when_reported(
    make_client: ClientFactory, redis_url: str, sq: SyncQueue, qname: str
) -> None:
    part = sq.add("part", {"progress": 42.5})
    steps = sq.add("steps", {"progress": {"step": "<b>2</b>"}})
    never = sq.add("never", {})
    process_all(redis_url, sq, completed=3)
    client = make_client([qname])

    shown = progress_of(client.get(f"/queues/{qname}/jobs/{part.id}").text)
    assert shown is not None and 'value="42.5"' in shown
    assert '<span class="progress-pct" aria-hidden="true">42.5%</span>' in shown
    as_json = progress_of(client.get(f"/queues/{qname}/jobs/{steps.id}").text)
    assert as_json is not None and "step" in as_json and "<b>" not in as_json and "<progress" not in as_json
    assert progress_of(client.get(f"/queues/{qname}/jobs/{never.id}").text) is None
    # The list says the same: a number for the one that reported it, nothing for the one that never did.
    rows = client.get(f"/queues/{qname}", params={"state": "completed"}).text
    assert rows.count('class="progress-pct"') == 1 and "42.5%" in rows


def test_redis_page(make_client: ClientFactory, raw: redis.Redis, qname: str) -> None:
    raw.set("plain", "v")
    raw.set("fading", "v", ex=600)
    client = make_client([qname])
    info: dict[str, Any] = raw.info()
    page = client.get("/redis")
    assert page.status_code == 200
    text = page.text
    assert "<dt>Version</dt><dd>" + str(info["redis_version"]) + "</dd>" in text
    assert f"<dt>Port</dt><dd>{info['tcp_port']}</dd>" in text
    uptime = re.search(r"<dt>Uptime</dt><dd>([^<]+)</dd>", text)
    assert uptime and re.fullmatch(r"under a second|\d+ s|\d+ min|\d+ h( \d+ min)?|\d+ d( \d+ h)?", uptime.group(1))
    assert re.search(r"<dt>Used</dt><dd>[\d.]+ (B|KB|MB), no limit</dd>", text)
    assert re.search(r"<dt>Peak</dt><dd>[\d.]+ (KB|MB)</dd>", text)
    assert re.search(r"<dt>Connected clients</dt><dd>\d+</dd>", text)
    assert '<th scope="row" class="mono">db0</th><td class="right">2</td><td class="right">1</td>' in text

    limit = raw.config_get("maxmemory")["maxmemory"]
    raw.config_set("maxmemory", str(1024**3))
    try:
        assert re.search(r"<dt>Used</dt><dd>[\d.]+ (KB|MB) of 1.0 GB, [\d.]+%</dd>", client.get("/redis").text)
    finally:
        raw.config_set("maxmemory", str(limit))

    data = client.get("/redis", headers=JSON).json()
    assert data["redis_version"] == info["redis_version"]
    assert data["used_memory"].isdigit() and data["uptime_in_seconds"].isdigit() and "used_memory_human" in data
    assert data["keyspace"]["db0"]["keys"] == 2 and data["keyspace"]["db0"]["expires"] == 1


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
    assert row_counts(row_of(client.get("/").text, qname))["waiting"] == 3


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
    found = re.search(r'<p class="queue-limits muted">(.*?)</p>', row_of(page, queue), re.S)
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
    assert "rate limited, 26 min left" in row_of(overview, "full")
    assert "rate limited, 1 min left" in row_of(overview, "manual")
    for quiet in ("open", "calm"):
        assert "rate limited" not in row_of(overview, quiet), quiet
    assert " ".join(limits_line(overview, "full").split()) == "concurrency 5 at most 100 per 1 min"
    assert limits_line(overview, "calm") == ""

    page = client.get("/queues/full").text
    assert "rate limited, 26 min left" in page
    assert "<dt>Global concurrency</dt><dd>5</dd>" in page
    assert "<dt>Global rate limit</dt><dd>100 per 1 min</dd>" in page
    # The page itself, not the navigation (which marks the other queues that are rate limited).
    calm_page = client.get("/queues/calm").text.split("<main", 1)[1]
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


# The add form prefilled from a job ------------------------------------------------------------------------------


def test_add_form_prefilled_from_a_job(make_client: ClientFactory, sq: SyncQueue, qname: str) -> None:
    original = sq.add(
        "mail",
        {"to": "ada@example.com", "password": "hunter2"},
        attempts=3,
        backoff={"type": "exponential", "delay": 2},
        priority=4,
        job_id="order-42",
        remove_on_complete=10,
    )
    client = make_client([qname])
    page = client.get(f"/queues/{qname}/add?from={original.id}")
    assert page.status_code == 200
    fields = {
        m.group(1): html.unescape(m.group(2))
        for m in re.finditer(r'<textarea id="(\w+)" name="\w+"[^>]*>(.*?)</textarea>', page.text, re.S)
    }
    name = next(attrs["value"] for tag, attrs in tags_of(page.text) if tag == "input" and attrs.get("name") == "name")
    assert name == "mail"
    assert json.loads(fields["data"]) == {"to": "ada@example.com", "password": "***"}
    # In BullMQ's names and units, without what was the original's alone (its id).
    assert json.loads(fields["options"]) == {
        "attempts": 3,
        "backoff": {"type": "exponential", "delay": 2000},
        "priority": 4,
        "removeOnComplete": 10,
    }
    assert "hunter2" not in page.text
    assert f'name="from" value="{original.id}"' in page.text

    assert client.get(f"/queues/{qname}/add?from=nope").status_code == 404
    assert client.get(f"/queues/{qname}/add", headers=JSON).json() == {"queue": qname}


def test_add_form_copies_nothing_a_custom_formatter_hides(
    make_client: ClientFactory, sq: SyncQueue, qname: str
) -> None:
    job = sq.add("sync password=hunter2", {"a": 1})
    client = make_client([qname], formatters={"name": lambda value, user: "a sync"})
    assert "hunter2" not in client.get(f"/queues/{qname}/jobs/{job.id}").text
    copy = client.get(f"/queues/{qname}/add?from={job.id}", headers=JSON)
    assert copy.status_code == 409 and "hunter2" not in copy.text


def test_add_form_copies_no_data_too_large_for_a_form(
    make_client: ClientFactory, sq: SyncQueue, qname: str, raw: redis.Redis
) -> None:
    big = sq.add("big", {"blob": "x" * (1024 * 1024 + 10)})
    client = make_client([qname])
    page = client.get(f"/queues/{qname}/add?from={big.id}")
    assert page.status_code == 409 and "cannot be copied into the form" in page.text
    # The job page then offers the copy as a direct action instead of a link to the form.
    job_page = client.get(f"/queues/{qname}/jobs/{big.id}").text
    assert f"/queues/{qname}/jobs/{big.id}/duplicate" in post_forms(job_page)
    assert f"add?from={big.id}" not in job_page
