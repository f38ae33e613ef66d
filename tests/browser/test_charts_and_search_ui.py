"""Charts and search in a real browser: the throughput charts drawn and readable in the light and the dark
theme (the system's, as Chromium emulates it), and a search whose next steps load as the table scrolls
into view and stop at the page's cap.

Screenshots of the charts in both themes and of a search are kept in ``test-artifacts/``.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
import redis

from board import SyncQueue
from board.web import search

from .conftest import ARTIFACTS, NewContext, ServeBoard, log_in, skip_without_a_browser

skip_without_a_browser()

from playwright.sync_api import Page, Request, expect  # noqa: E402


def rgb(css: str) -> tuple[float, ...]:
    """``rgb(r, g, b)`` or ``rgba(...)`` as numbers."""
    return tuple(float(n) for n in re.findall(r"[\d.]+", css)[:3])


def luminance(color: tuple[float, ...]) -> float:
    def channel(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in color)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def resolved(page: Page, variable: str) -> str:
    """What a theme variable resolves to here, as the browser computes a colour."""
    return str(
        page.evaluate(
            """(name) => {
                const probe = document.createElement("span");
                probe.style.color = `var(${name})`;
                document.body.appendChild(probe);
                const value = getComputedStyle(probe).color;
                probe.remove();
                return value;
            }""",
            variable,
        )
    )


def style_of(locator: Any, prop: str) -> str:
    return str(locator.evaluate(f"(el) => getComputedStyle(el).{prop}"))


# 1. Charts in both themes --------------------------------------------------------------------------------------


def test_the_charts_draw_in_the_theme_and_read_in_both(
    new_context: NewContext, serve_board: ServeBoard, sq: SyncQueue, raw: redis.Redis
) -> None:
    sq.add("n", {})
    now = int(time.time() * 1000)
    for kind, data in (("completed", [(i * 37) % 91 for i in range(1440)]), ("failed", [i % 3 for i in range(1440)])):
        raw.hset(f"bull:{sq.name}:metrics:{kind}", mapping={"count": 10**6, "prevTS": now, "prevCount": 10**6 - 4})
        raw.rpush(f"bull:{sq.name}:metrics:{kind}:data", *data)
    base = serve_board([sq.name])
    ARTIFACTS.mkdir(exist_ok=True)
    fills: dict[str, str] = {}
    for scheme in ("light", "dark"):
        page = new_context(color_scheme=scheme).new_page()
        log_in(page, base, f"/queues/{sq.name}")
        panel = page.locator("#throughput")
        completed = page.get_by_role("img", name="Jobs completed per minute, last hour")
        expect(completed).to_be_visible()
        expect(page.get_by_role("img", name="Jobs failed per minute, last hour")).to_be_visible()
        # The series take the theme's state colours.
        bar = panel.locator(".chart-completed rect.bar").first
        fills[scheme] = style_of(bar, "fill")
        assert fills[scheme] == resolved(page, "--c-completed")
        assert style_of(panel.locator(".chart-failed rect.bar").first, "fill") == resolved(page, "--c-failed")
        # Labels and bars stand out from the panel behind them.
        surface = rgb(style_of(panel, "backgroundColor"))
        label = panel.locator(".chart-completed .tick-y").first
        assert contrast(rgb(style_of(label, "fill")), surface) >= 4.5, scheme
        assert contrast(rgb(fills[scheme]), surface) >= 3, scheme
        # The day, folded, opens; the numbers are there for a screen reader.
        page.locator("#chart-day > summary").click()
        expect(page.get_by_role("img", name="Jobs completed per minute, last day")).to_be_visible()
        expect(panel.locator(".chart-summary")).to_contain_text("Last hour:")
        panel.screenshot(path=ARTIFACTS / f"charts-{scheme}.png")
        page.locator("#chart-numbers > summary").click()
        numbers = page.get_by_role("table", name=re.compile("per minute, the last hour"))
        expect(numbers).to_be_visible()
        expect(numbers.get_by_role("row")).to_have_count(61)
        # The overview's sparkline, in the same theme.
        page.goto(f"{base}/")
        spark = page.locator(f'tr[data-queue="{sq.name}"] .spark-svg')
        expect(spark).to_be_visible()
        assert style_of(spark.locator(".spark-completed"), "stroke") == resolved(page, "--c-completed")
    assert fills["light"] != fills["dark"]


def test_a_poll_keeps_the_day_open(page: Page, serve_board: ServeBoard, sq: SyncQueue, raw: redis.Redis) -> None:
    sq.add("n", {})
    raw.hset(f"bull:{sq.name}:metrics:completed", mapping={"count": 5, "prevTS": int(time.time() * 1000)})
    raw.rpush(f"bull:{sq.name}:metrics:completed:data", *([1] * 200))
    base = serve_board([sq.name])
    log_in(page, base, f"/queues/{sq.name}")
    page.locator("#chart-day > summary").click()
    polled: list[Request] = []
    page.on("requestfinished", lambda r: polled.append(r) if r.headers.get("hx-request") else None)
    deadline = time.monotonic() + 5
    while len(polled) < 2 and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert len(polled) >= 2, "the page did not poll"
    expect(page.get_by_role("img", name="Jobs completed per minute, last day")).to_be_visible()


# 2. Search, step after step -------------------------------------------------------------------------------------


def test_search_loads_its_next_steps_as_they_scroll_into_view(
    page: Page, serve_board: ServeBoard, sq: SyncQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 600 jobs, one in three a match: steps of 25 matches, a page of 100.
    sq.add_bulk([{"name": "n", "data": {"i": i, "tag": "hit" if i % 3 == 0 else "miss"}} for i in range(600)])
    monkeypatch.setattr(search, "STEP_LIMIT", 25)
    monkeypatch.setattr(search, "PAGE_CAP", 100)
    base = serve_board([sq.name])
    log_in(page, base, f"/queues/{sq.name}")
    steps: list[str] = []
    page.on("request", lambda r: steps.append(r.url) if "/search" in r.url and r.headers.get("hx-request") else None)

    page.get_by_label("Search jobs").fill("hit")
    page.get_by_role("button", name="Search", exact=True).click()
    expect(page).to_have_url(re.compile(r"/search\?text=hit"))
    rows = page.locator("table.search-results tbody tr:not(.search-note) td.mono a")
    expect(rows).to_have_count(25)
    summary = page.locator("#search-summary")
    expect(summary).to_contain_text("25 matches on this page.")
    expect(summary).to_contain_text("Searching further")
    # Nothing more loads while the end of the table is out of sight.
    page.wait_for_timeout(800)
    assert steps == [] and rows.count() == 25

    for expected in (50, 75, 100):
        page.locator("tbody.search-more").scroll_into_view_if_needed()
        expect(rows).to_have_count(expected)
        expect(summary).to_contain_text(f"{expected} matches on this page.")
    # The cap: the search waits for a click, which starts a page of its own.
    expect(page.locator("tbody.search-more")).to_have_count(0)
    further = page.get_by_role("link", name="Search further")
    expect(further).to_be_visible()
    expect(summary).not_to_contain_text("Searching further")
    assert len(steps) == 3 and all("shown=" in url and "cursor=" in url for url in steps)
    # One summary, swapped out of band at each step; ids all different, newest first.
    expect(page.locator("#search-summary")).to_have_count(1)
    ids = [int(t) for t in rows.all_inner_texts()]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 100
    ARTIFACTS.mkdir(exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=ARTIFACTS / "search.png")

    further.click()
    expect(rows).to_have_count(25)
    assert set(int(t) for t in rows.all_inner_texts()).isdisjoint(ids)
