"""The queue navigation's lines (board/web/nav.py): each queue's name, display name and link escaped and intact,
the current queue marked, and the paused and rate-limited marks only where they hold; written directly and on
the board's pages."""

from __future__ import annotations

import html
import re
from typing import Any

import redis

from board.adapters import QueueMark
from board.web.board import Navigation
from board.web.nav import nav_items
from board.web.queue_config import load_queue_config

from .conftest import ClientFactory, tags_of

# Bytes that are not UTF-8, as a reply decoded with surrogateescape hands them over.
NOT_UTF8 = b"caf\xe9".decode("utf-8", "surrogateescape")
SCRIPT = "<script>alert(1)</script>"
QUOTED = "a\"b'&c"


def lines_of(written: str) -> dict[str, str]:
    """Each ``<li>`` by its ``data-q`` (as a browser reads the attribute), up to the next one."""
    parts = re.findall(r'<li data-q="([^"]*)">(.*?)(?=<li |$)', written, re.S)
    return {html.unescape(found): rest for found, rest in parts}


def link_of(line: str) -> tuple[dict[str, str], str]:
    """A line's link: its attributes and its text, as a browser reads them."""
    (attrs,) = [a for t, a in tags_of(line) if t == "a"]
    text = re.search(r"<a [^>]*>(.*?)</a>", line, re.S)
    assert text
    return attrs, html.unescape(text.group(1))


def nav_of(page: str) -> dict[str, str]:
    nav = re.search(r'<ul class="nav-queues">(.*?)</ul>', page, re.S)
    assert nav, "no queue navigation on the page"
    return lines_of(nav.group(1).strip())


def test_hostile_names_come_out_escaped_and_intact() -> None:
    labels = load_queue_config({QUOTED: {"display_name": '<b>Bills</b> & "co"'}})
    nav = Navigation([QueueMark(SCRIPT), QueueMark(QUOTED), QueueMark(NOT_UTF8), QueueMark("x?y#z%")])
    written = str(nav_items(nav, queues_path="/board/queues/", current=None, labels=labels))

    assert "<script>" not in written and "<b>" not in written
    lines = lines_of(written)
    # The filter matches a display name too: both are in data-q.
    assert list(lines) == [SCRIPT, f'{QUOTED} <b>Bills</b> & "co"', "caf\\xe9", "x?y#z%"]
    expected = {
        SCRIPT: ("/board/queues/%3Cscript%3Ealert%281%29%3C%2Fscript%3E", SCRIPT),
        f'{QUOTED} <b>Bills</b> & "co"': ("/board/queues/a%22b%27%26c", '<b>Bills</b> & "co"'),
        # The link carries the bytes Redis holds; the text shows them as escapes.
        "caf\\xe9": ("/board/queues/caf%E9", "caf\\xe9"),
        "x?y#z%": ("/board/queues/x%3Fy%23z%25", "x?y#z%"),
    }
    for found, (href, text) in expected.items():
        attrs, shown = link_of(lines[found])
        assert (attrs["href"], shown) == (href, text), found


def test_only_the_current_queue_is_marked_and_only_marks_that_hold_are_shown() -> None:
    nav = Navigation(
        [QueueMark("alpha"), QueueMark("beta", paused=True), QueueMark("gamma", rate_limited=True)],
        more=4,
    )
    labels = load_queue_config(None)
    lines = lines_of(str(nav_items(nav, queues_path="/queues/", current="beta", labels=labels)))
    assert list(lines) == ["alpha", "beta", "gamma"]
    for name, line in lines.items():
        attrs, _ = link_of(line)
        assert (attrs.get("aria-current"), "current" in attrs.get("class", "")) == (
            ("page", True) if name == "beta" else (None, False)
        ), name
    assert ["mk-paused" in lines[n] for n in lines] == [False, True, False]
    assert ["mk-limited" in lines[n] for n in lines] == [False, False, True]
    # No queue is current on a page of none (the overview), whatever was current on the page before.
    again = str(nav_items(nav, queues_path="/queues/", current=None, labels=labels))
    assert "aria-current" not in again and again.count("<li ") == 3


def test_a_queue_pages_navigation_links_every_queue_and_marks_what_holds(
    make_client: ClientFactory, sync_queues: Any, raw: redis.Redis
) -> None:
    hostile = '<img src=x onerror="alert(1)">&q'
    for name in ("alpha", hostile, "limited"):
        sync_queues(name).add("x", {})
    sync_queues(hostile).pause()
    # A limiter window open and full.
    raw.hset("bull:limited:meta", mapping={"max": 1, "duration": 60_000})
    raw.set("bull:limited:limiter", 1, px=60_000)
    settings = {"alpha": {"display_name": "Alpha <mail> & co"}}
    client = make_client(["alpha", hostile, "limited"], queue_config=settings)

    page = client.get("/queues/" + "%3Cimg%20src%3Dx%20onerror%3D%22alert%281%29%22%3E%26q")
    assert page.status_code == 200
    assert "<img src=x" not in page.text
    lines = nav_of(page.text)
    assert list(lines) == ["alpha Alpha <mail> & co", hostile, "limited"]
    current = [name for name, line in lines.items() if link_of(line)[0].get("aria-current") == "page"]
    assert current == [hostile]
    assert [("mk-paused" in line, "mk-limited" in line) for line in lines.values()] == [
        (False, False),
        (True, False),
        (False, True),
    ]
    assert link_of(lines["alpha Alpha <mail> & co"])[1] == "Alpha <mail> & co"
    # Each link leads to its own queue's page, where that queue is the current one.
    for name, line in lines.items():
        followed = client.get(link_of(line)[0]["href"])
        assert followed.status_code == 200, name
        (marked,) = [n for n, other in nav_of(followed.text).items() if 'aria-current="page"' in other]
        assert marked == name
    # The overview is no queue's page.
    assert "aria-current" not in "".join(nav_of(client.get("/").text).values())


def test_a_queue_whose_name_is_not_utf8_is_listed_with_its_bytes_escaped(
    make_client: ClientFactory, sync_queues: Any, raw_bytes: redis.Redis
) -> None:
    sync_queues("good").add("x", {})
    # Another program's queue, found by discovery, whose name holds a byte that is not UTF-8.
    raw_bytes.hset(b"bull:caf\xe9:meta", mapping={b"paused": b"1"})
    raw_bytes.set(b"bull:caf\xe9:id", b"3")
    client = make_client(None, discover=True)

    page = client.get("/queues/good")
    assert page.status_code == 200
    lines = nav_of(page.text)
    assert list(lines) == ["caf\\xe9", "good"]
    assert link_of(lines["caf\\xe9"]) == ({"href": "/queues/caf%E9"}, "caf\\xe9")
    assert "mk-paused" in lines["caf\\xe9"] and "mk-paused" not in lines["good"]
