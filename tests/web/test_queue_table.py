"""The overview's rows of queues (board/web/queue_table.py): names, display names and descriptions escaped and
intact, a count linked to its tab only when there is something to see, and the paused, rate-limited,
unreadable and read-only badges only where they hold; on the overview and written directly."""

from __future__ import annotations

import html
import re
from typing import Any

import redis
from markupsafe import escape

from board.adapters import QueueInfo
from board.web.charts import Spark
from board.web.queue_config import load_queue_config
from board.web.queue_table import QueueTable

from .conftest import ClientFactory, tags_of
from .test_views import STATE_COLUMNS, cells_of, row_of

NOT_UTF8 = b"caf\xe9".decode("utf-8", "surrogateescape")
HOSTILE = '<img src=x onerror="alert(1)">&q'
HOSTILE_PATH = "/queues/%3Cimg%20src%3Dx%20onerror%3D%22alert%281%29%22%3E%26q"


def badges_of(row: str) -> set[str]:
    return set(re.findall(r'<span class="badge badge-([a-z]+)"', row))


def head_of(row: str) -> tuple[str, str | None]:
    """The text of a row's link and of the raw name beside a display name (None without one)."""
    link = re.search(r"<th><a [^>]*>(.*?)</a>", row, re.S)
    beside = re.search(r'<span class="mono muted queue-name">(.*?)</span>', row, re.S)
    assert link
    return html.unescape(link.group(1)), html.unescape(beside.group(1)) if beside else None


def linked_counts(row: str) -> dict[str, str]:
    """The counts that link somewhere: their state column to the link."""
    found = {}
    for state, cell in zip(STATE_COLUMNS, cells_of(row), strict=False):
        links = [attrs["href"] for tag, attrs in tags_of(cell) if tag == "a"]
        if links:
            found[state] = links[0]
    return found


def test_rows_show_names_escaped_and_link_counts_only_when_there_are_jobs(
    make_client: ClientFactory, sync_queues: Any
) -> None:
    hostile = sync_queues(HOSTILE)
    hostile.add("a", {})
    hostile.add("b", {})
    hostile.add("later", {}, delay=3_600_000)
    sync_queues("plain").add("x", {})
    settings = {HOSTILE: {"display_name": 'Mail <b>"out"</b> & co', "description": "<script>x()</script> & more"}}
    client = make_client([HOSTILE, "plain", "empty"], queue_config=settings)

    page = client.get("/").text
    assert "<img src=x" not in page and "<script>x()" not in page and "<b>" not in page
    shown = [html.unescape(found) for found in re.findall(r'<tr data-queue="([^"]*)">', page)]
    assert shown == [HOSTILE, "empty", "plain"]  # by name
    row = row_of(page, str(escape(HOSTILE)))
    # The display name is the link; the queue's own name stands beside it, as stored.
    assert head_of(row) == ('Mail <b>"out"</b> & co', HOSTILE)
    assert next(a["href"] for t, a in tags_of(row) if t == "a") == HOSTILE_PATH
    desc = re.search(r'<p class="queue-desc muted">(.*?)</p>', row, re.S)
    assert desc and html.unescape(desc.group(1)) == "<script>x()</script> & more"
    assert head_of(row_of(page, "plain")) == ("plain", None)

    assert linked_counts(row) == {
        "waiting": f"{HOSTILE_PATH}?state=waiting",
        "delayed": f"{HOSTILE_PATH}?state=delayed",
    }
    assert linked_counts(row_of(page, "plain")) == {"waiting": "/queues/plain?state=waiting"}
    assert linked_counts(row_of(page, "empty")) == {}
    # A count's link leads to that tab of its queue, listing those jobs.
    waiting = client.get(f"{HOSTILE_PATH}?state=waiting")
    assert waiting.status_code == 200 and waiting.text.count('<input type="checkbox" name="ids"') == 2


def test_badges_appear_only_where_they_hold(make_client: ClientFactory, sync_queues: Any, raw: redis.Redis) -> None:
    for name in ("calm", "paused", "limited", "locked"):
        sync_queues(name).add("x", {})
    sync_queues("paused").pause()
    # A limiter window open and full, and a global concurrency and rate limit said beside the name.
    raw.hset("bull:limited:meta", mapping={"max": 2, "duration": 90_000, "concurrency": 3})
    raw.set("bull:limited:limiter", 2, px=60_000)
    settings = {"locked": {"read_only": True}}
    queues = ["calm", "paused", "limited", "locked"]
    page = make_client(queues, queue_config=settings).get("/").text

    assert {name: badges_of(row_of(page, name)) for name in queues} == {
        "calm": set(),
        "paused": {"paused"},
        "limited": {"warn"},
        "locked": {"muted"},
    }
    limited = row_of(page, "limited")
    assert re.search(r"rate limited, \d+ s left", limited)
    said = re.search(r'<p class="queue-limits muted">(.*?)</p>', limited, re.S)
    assert said and re.sub(r"<[^>]+>", "|", said.group(1)) == "|concurrency 3||at most 2 per 1 min 30 s|"
    assert "queue-limits" not in row_of(page, "calm")
    # On a board that is read-only as a whole, no queue is singled out as read-only.
    whole = make_client(queues, queue_config=settings, read_only=True).get("/").text
    assert "badge-muted" not in row_of(whole, "locked")


def test_written_directly_every_value_is_escaped() -> None:
    table = QueueTable(
        queue_path="/board/queues/",
        config=load_queue_config({NOT_UTF8: {"display_name": "Caf\u00e9 & <co>"}}),
        read_only=False,
        sparks={"broken": Spark(enabled=False, error="<boom>"), "off": Spark(enabled=False)},
    )
    rows = str(
        table.rows(
            [
                QueueInfo(NOT_UTF8, counts={"failed": 1_234}, schedulers=2),
                QueueInfo("broken", error='<b>WRONGTYPE</b> "meta"'),
                QueueInfo("off"),
            ]
        )
    )
    assert "<co>" not in rows and "<b>WRONGTYPE" not in rows
    first, broken, off = re.split(r"(?=<tr )", rows)[1:]
    assert first.startswith('<tr data-queue="caf\\xe9">')
    assert head_of(first) == ("Caf\u00e9 & <co>", "caf\\xe9")
    # The link carries the bytes Redis holds.
    assert linked_counts(first) == {"failed": "/board/queues/caf%E9?state=failed"}
    assert ">1,234</a>" in first
    assert '<a href="/board/queues/caf%E9/schedulers">2 schedulers</a>' in first
    # An unreadable queue says so, with Redis' words (escaped) in its title.
    ((_, error),) = [(t, a) for t, a in tags_of(broken) if t == "span" and "badge-error" in a.get("class", "")]
    assert error["title"] == '<b>WRONGTYPE</b> "meta"'
    assert broken.endswith("<td>0<td>Metrics could not be read.")
    assert off.endswith("<td>0<td>No metrics")
    # A queue with no sparkline (none asked for) ends with an empty cell.
    assert first.endswith("<td>0<td>")
