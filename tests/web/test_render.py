"""Responses (board/web/render.py): first its pure helpers, without a board or Redis (content negotiation,
htmx fragments, the template filters, text that was not UTF-8, JSON-ready values and query strings); then
escaping through the pages, where names, data and reflected input never become markup or script."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
from markupsafe import Markup
from starlette.requests import Request

from board import SyncQueue
from board.adapters import QueueInfo
from board.web.render import (
    asset_dir,
    clean_text,
    duration,
    interval,
    is_fragment,
    iso,
    limit_values,
    pretty,
    printable,
    query,
    relative,
    remaining,
    size,
    to_json,
    wants_json,
)

from .conftest import ClientFactory, csrf_of, process_all, tags_of

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"


def request(headers: dict[str, str] | None = None, query_string: str = "") -> Request:
    raw = [(name.lower().encode(), value.encode()) for name, value in (headers or {}).items()]
    scope = {"type": "http", "method": "GET", "path": "/", "headers": raw, "query_string": query_string.encode()}
    return Request(scope)


# Content negotiation ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "accept",
    [
        "application/json",
        "APPLICATION/JSON",
        "application/json; charset=utf-8",
        "application/vnd.api+json",
        "application/problem+json, text/html;q=0.9",
        "text/html;q=0.5, application/json",
        "application/json; q=0.8, text/html; q=0.7",
        "text/html;q=0, application/json;q=0.1",
    ],
)
def test_json_is_chosen_when_ranked_above_html(accept: str) -> None:
    assert wants_json(request({"Accept": accept}))


@pytest.mark.parametrize(
    "accept",
    [
        "",
        BROWSER,
        "*/*",
        "text/html",
        # A tie goes to HTML.
        "application/json, text/html",
        "application/json;q=0.9, text/html",
        "application/json;q=0",
        # A q that is not a number ranks the type last.
        "application/json;q=high",
        "text/json",
        "application/jsonp",
        "application/x-ndjson",
        "application/json+xml",
    ],
)
def test_html_is_chosen_otherwise(accept: str) -> None:
    assert not wants_json(request({"Accept": accept}))


def test_no_accept_header_means_html() -> None:
    assert not wants_json(request())


@pytest.mark.parametrize(
    ("headers", "fragment"),
    [
        ({"HX-Request": "true"}, True),
        ({"HX-Request": "true", "HX-History-Restore-Request": "true"}, False),
        ({"HX-Request": "True"}, False),
        ({"HX-Request": "false"}, False),
        ({}, False),
    ],
)
def test_only_an_htmx_request_that_restores_no_history_gets_a_fragment(headers: dict[str, str], fragment: bool) -> None:
    assert is_fragment(request(headers)) is fragment


# Filters ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ms", "shown"),
    [(None, ""), (0, ""), (1_700_000_000_123, "2023-11-14T22:13:20.123Z"), (1, "1970-01-01T00:00:00.001Z")],
)
def test_iso(ms: int | None, shown: str) -> None:
    assert iso(ms) == shown


@pytest.mark.parametrize(
    ("ms", "shown"),
    [
        (None, ""),
        (0, "0 ms"),
        (999, "999 ms"),
        (1000, "1.0 s"),
        (12_340, "12.3 s"),
        (60_000, "1 min 0 s"),
        (3_599_000, "59 min 59 s"),
        (3_600_000, "1 h 0 min"),
        (47 * 3_600_000 + 59 * 60_000, "47 h 59 min"),
        (48 * 3_600_000, "2 d 0 h"),
        (75 * 3_600_000, "3 d 3 h"),
    ],
)
def test_duration(ms: float | None, shown: str) -> None:
    assert duration(ms) == shown


@pytest.mark.parametrize(
    ("ms", "shown"),
    [
        (None, ""),
        (400, "under a second"),
        (1_000, "1 s"),
        (59_999, "59 s"),
        (26 * 60_000 + 5_000, "26 min"),
        (3 * 3_600_000, "3 h"),
        (3 * 3_600_000 + 5 * 60_000, "3 h 5 min"),
        (50 * 3_600_000, "2 d 2 h"),
        (48 * 3_600_000, "2 d"),
    ],
)
def test_remaining(ms: float | None, shown: str) -> None:
    assert remaining(ms) == shown


@pytest.mark.parametrize(
    ("ms", "shown"),
    [
        (None, ""),
        (250, "250 ms"),
        (1_500, "1.5 s"),
        (60_000, "1 min"),
        (600_000, "10 min"),
        (5_400_000, "1 h 30 min"),
        (86_400_000 + 1_000, "1 d 1 s"),
    ],
)
def test_interval(ms: float | None, shown: str) -> None:
    assert interval(ms) == shown


def test_relative() -> None:
    now = 1_800_000_000_000
    assert relative(now + 11 * 3_600_000 + 3 * 60_000, now) == "in 11 h 3 min"
    assert relative(now - 4 * 60_000, now) == "4 min ago"
    assert relative(now + 200, now) == "now"
    assert relative(None, now) == relative(0, now) == ""


def test_limit_values_fill_the_limits_form() -> None:
    set_ = QueueInfo("q", global_concurrency=3, rate_limit_max=10, rate_limit_duration_ms=2500)
    assert limit_values(set_) == {"concurrency": "3", "max": "10", "duration": "2.5"}
    # No limit: empty fields, a minute offered as the window.
    assert limit_values(QueueInfo("q")) == {"concurrency": "", "max": "", "duration": "60"}


@pytest.mark.parametrize(
    ("n", "shown"),
    [
        (None, ""),
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KB"),
        (1536, "1.5 KB"),
        (5 * 1024**2, "5.0 MB"),
        (1024**3, "1.0 GB"),
        (3 * 1024**4, "3.0 TB"),
        # No unit past TB.
        (1024**5, "1024.0 TB"),
    ],
)
def test_size(n: int | None, shown: str) -> None:
    assert size(n) == shown


# Text that was not UTF-8 --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain", "plain"),
        ("ünïcödé ✓", "ünïcödé ✓"),
        # Bytes that were not UTF-8, as surrogateescape decoded them.
        (b"caf\xe9".decode("utf-8", "surrogateescape"), "caf\\xe9"),
        ("é" + b"\xff".decode("utf-8", "surrogateescape"), "é\\xff"),
        # A lone surrogate of another origin shows the bytes that encode it.
        ("a\ud800b", "a\\xed\\xa0\\x80b"),
    ],
)
def test_clean_text(text: str, shown: str) -> None:
    assert clean_text(text) == shown


def test_printable_cleans_text_and_keeps_markup_safe() -> None:
    bad = b"\xff".decode("utf-8", "surrogateescape")
    shown = printable(Markup(f"<b>{bad}</b>"))
    assert isinstance(shown, Markup) and shown == Markup("<b>\\xff</b>")
    assert printable(bad) == "\\xff"
    assert printable(42) == 42
    assert printable(None) is None


# JSON-ready values --------------------------------------------------------------------------------------------


@dataclasses.dataclass
class _Page:
    items: list[Any]
    per_page: int

    @property
    def total(self) -> int:
        return len(self.items)

    @property
    def unlisted(self) -> str:
        return "not shown"


def test_to_json_expands_dataclasses_with_their_listed_properties() -> None:
    bad = b"\xfe".decode("utf-8", "surrogateescape")
    value = {1: _Page(items=[("a", bad)], per_page=10), "when": None}
    assert to_json(value) == {"1": {"items": [["a", "\\xfe"]], "per_page": 10, "total": 1}, "when": None}


def test_to_json_leaves_a_dataclass_type_and_other_values_alone() -> None:
    when = datetime(2024, 1, 1, tzinfo=UTC)
    assert to_json(_Page) is _Page
    assert to_json(when) is when
    assert to_json(1.5) == 1.5


# Query strings and JSON text ----------------------------------------------------------------------------------


def test_query_changes_some_parameters_and_keeps_the_rest_in_order() -> None:
    current = request(query_string="state=failed&page=2&sort=asc")
    assert query(current, page=3) == "?state=failed&page=3&sort=asc"
    assert query(current, page=None) == "?state=failed&sort=asc"
    assert query(current, search="a b&c") == "?state=failed&page=2&sort=asc&search=a+b%26c"
    assert query(current, state=None, page=None, sort=None) == ""
    assert query(request(), page=None) == ""


def test_pretty_keeps_key_order_and_text_and_shows_the_rest_as_strings() -> None:
    when = datetime(2024, 1, 1, tzinfo=UTC)
    assert pretty({"b": "ü", "a": when}) == '{\n  "b": "ü",\n  "a": "2024-01-01 00:00:00+00:00"\n}'


def test_asset_dir_finds_the_packaged_folders_or_says_where_it_looked() -> None:
    assert (asset_dir("templates") / "base.html").is_file()
    assert (asset_dir("static") / "board.css").is_file()
    with pytest.raises(RuntimeError, match="board's no-such-folder folder is missing"):
        asset_dir("no-such-folder")


# Escaping, through the pages ----------------------------------------------------------------------------------


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


def test_the_time_filters_and_macro_speak_the_request_language() -> None:
    """``ago`` and ``absolute`` (from i18n.py) and the ``time`` macro, in the language and zone asked for."""
    from board.web.i18n import using
    from board.web.preferences import Preferences
    from board.web.render import Renderer

    env = Renderer(title="t", poll_interval=5).templates.env
    moment = int((datetime.now(UTC).timestamp() - 180) * 1000)
    macro = env.from_string('{% from "_macros.html" import time with context %}{{ time(ms) }}')
    with using("de"):
        assert env.from_string("{{ ms|ago }}").render(ms=moment) == "vor 3 Min."
        assert env.from_string('{{ ms|absolute("Asia/Tokyo") }}').render(ms=1_700_000_000_123) == "15.11.2023, 07:13:20"
        relative = macro.render(ms=moment, prefs=Preferences())
        absolute = macro.render(ms=1_700_000_000_123, prefs=Preferences(time="absolute", zone="Asia/Tokyo"))
    assert relative.startswith('<time datetime="') and relative.endswith(' UTC" data-relative>vor 3 Min.</time>')
    assert absolute == (
        '<time datetime="2023-11-14T22:13:20.123Z" title="15.11.2023, 07:13:20">15.11.2023, 07:13:20</time>'
    )
    assert macro.render(ms=None, prefs=Preferences()) == '<span class="muted">—</span>'
