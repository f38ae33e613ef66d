"""The polls of the overview and of a queue page (board/web/polls.py): each sends the digest of what its part
of the page shows, and the board answers 204 No Content while that is still what it would show, else the
fragment with its new digest; and the one read of every queue that serves the overview and its navigation."""

from __future__ import annotations

import re
from typing import Any

import redis

from .conftest import HTMX, JSON, ClientFactory
from .test_views import row_counts, row_of

SEEN = "Board-Seen"


def seen_of(page: str) -> str:
    """The digest a page's poll sends back."""
    match = re.search(r"""hx-headers='\{"Board-Seen": "([0-9a-f]+)"\}'""", page)
    assert match, "the overview does not poll with what it shows"
    return match.group(1)


def test_a_poll_of_an_unchanged_overview_gets_204_and_a_changed_one_the_fragment(
    make_client: ClientFactory, sync_queues: Any
) -> None:
    alpha = sync_queues("alpha")
    alpha.add("a", {})
    client = make_client(["alpha", "beta"])
    page = client.get("/")
    seen = seen_of(page.text)

    same = client.get("/", headers={**HTMX, SEEN: seen})
    assert same.status_code == 204 and same.content == b""

    alpha.add("b", {})
    changed = client.get("/", headers={**HTMX, SEEN: seen})
    assert changed.status_code == 200
    assert "<html" not in changed.text and 'id="queues"' in changed.text
    assert row_counts(row_of(changed.text, "alpha"))["waiting"] == 2
    now = seen_of(changed.text)
    assert now != seen
    # The new digest is what the page shows now: the next poll swaps nothing again.
    assert client.get("/", headers={**HTMX, SEEN: now}).status_code == 204
    # A poll that sends none, or another, gets the fragment; JSON is never a 204.
    assert client.get("/", headers=HTMX).status_code == 200
    assert client.get("/", headers={**HTMX, SEEN: "0" * 24}).status_code == 200
    assert client.get("/", headers={**JSON, SEEN: now}).json()["queues"][0]["counts"]["waiting"] == 2


def test_the_digest_follows_what_is_shown_not_the_rest(
    make_client: ClientFactory, sync_queues: Any, raw: redis.Redis
) -> None:
    alpha = sync_queues("alpha")
    alpha.add("a", {})
    client = make_client(["alpha"])
    seen = seen_of(client.get("/").text)
    # A queue paused: shown as a badge, so the poll brings the fragment.
    alpha.pause()
    paused = client.get("/", headers={**HTMX, SEEN: seen})
    assert paused.status_code == 200 and "badge-paused" in row_of(paused.text, "alpha")
    seen = seen_of(paused.text)
    # Another filter or language is another page: never answered with "unchanged".
    assert client.get("/?has=waiting", headers={**HTMX, SEEN: seen}).status_code == 200
    german = client.get("/", headers={**HTMX, SEEN: seen, "Accept-Language": "de"})
    assert german.status_code == 200 and "wartend" in german.text
    # What the page does not show (a key of its own, the queue's events) changes nothing.
    raw.xadd("bull:alpha:events", {"event": "noise"})
    assert client.get("/", headers={**HTMX, SEEN: seen}).status_code == 204


def test_one_read_serves_the_overview_and_its_navigation(make_client: ClientFactory, sync_queues: Any) -> None:
    for name in ("alpha", "beta", "gamma"):
        sync_queues(name).add("x", {})
    sync_queues("beta").pause()
    client = make_client(["alpha", "beta", "gamma"])
    runner = client.app.state.board.adapter.inspector.runner  # type: ignore[attr-defined]
    batches: list[int] = []
    batch = runner.batch

    async def counted(calls: list[Any]) -> Any:
        batches.append(len(calls))
        return await batch(calls)

    runner.batch = counted
    page = client.get("/", params={"filter": "gam"}).text
    # One round trip: the figures of every queue the user sees (one script call) and CLIENT LIST.
    assert batches == [2]
    # The table shows the queues the filter keeps; the navigation lists them all, with their marks.
    assert re.findall(r'<tr data-queue="([^"]+)">', page) == ["gamma"]
    nav = re.search(r'<ul class="nav-queues">(.*?)</ul>', page, re.S)
    assert nav
    assert re.findall(r'<li data-q="([^"]+)">', nav.group(1)) == ["alpha", "beta", "gamma"]
    assert "mk-paused" in nav.group(1).split('data-q="beta"')[1].split("<li")[0]


def test_a_queue_page_poll_gets_204_until_its_jobs_change(make_client: ClientFactory, sync_queues: Any) -> None:
    mail = sync_queues("mail")
    first = mail.add("welcome", {"to": "ada@example.com"})
    client = make_client(["mail"])
    page = client.get("/queues/mail?state=waiting")
    seen = seen_of(page.text)
    assert client.get("/queues/mail?state=waiting", headers={**HTMX, SEEN: seen}).status_code == 204
    # The same digest means nothing on another tab, nor on the overview.
    assert client.get("/queues/mail?state=latest", headers={**HTMX, SEEN: seen}).status_code == 200
    assert client.get("/", headers={**HTMX, SEEN: seen}).status_code == 200

    mail.add("digest", {"week": 3})
    changed = client.get("/queues/mail?state=waiting", headers={**HTMX, SEEN: seen})
    assert changed.status_code == 200 and 'id="live"' in changed.text and "<html" not in changed.text
    assert f"/jobs/{first.id}" in changed.text and "digest" in changed.text
    now = seen_of(changed.text)
    assert now != seen
    assert client.get("/queues/mail?state=waiting", headers={**HTMX, SEEN: now}).status_code == 204
    # A job's data edited: the row's preview changes, so does the digest.
    job = mail.get_job(first.id)
    assert job is not None
    job.update_data({"to": "grace@example.com"})
    edited = client.get("/queues/mail?state=waiting", headers={**HTMX, SEEN: now})
    assert edited.status_code == 200 and "grace@example.com" in edited.text
