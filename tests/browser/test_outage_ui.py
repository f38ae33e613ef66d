"""The board in Chromium when Redis goes away, and its layout at a common laptop width: a page left open
says its numbers are stale (and since when) and recovers by itself; tables and count tiles fit."""

from __future__ import annotations

import re

import redis

from board import SyncQueue
from board.redis_server import RedisServer

from .conftest import ARTIFACTS, ServeBoard, fail, log_in, skip_without_a_browser, work_until

skip_without_a_browser()

from playwright.sync_api import Page, expect  # noqa: E402


def test_a_page_left_open_shows_stale_data_and_recovers(
    page: Page, serve_board: ServeBoard, sq: SyncQueue, redis_server: RedisServer
) -> None:
    sq.add("first", {"n": 1})
    base = serve_board([sq.name])
    log_in(page, base, f"/queues/{sq.name}?state=waiting")
    stale = page.locator("#stale")
    expect(stale).to_be_hidden()
    redis_server.stop()
    try:
        expect(stale).to_be_visible()
        expect(stale).to_contain_text(re.compile(r"Not updated since .+: Redis is unavailable"))
        # The last numbers stay on the page, dimmed.
        expect(page.locator("#live nav.tabs a.tab.state-waiting .count")).to_have_text("1")
        expect(page.locator("body")).to_have_class(re.compile("is-stale"))
    finally:
        redis_server.start()
    # The test Redis keeps nothing across a restart: the queue comes back with new jobs.
    sq.add("again", {"n": 2})
    sq.add("and again", {"n": 3})
    expect(stale).to_be_hidden()
    expect(page.locator("#live nav.tabs a.tab.state-waiting .count")).to_have_text("2")
    expect(page.locator("body")).not_to_have_class(re.compile("is-stale"))


def test_tables_and_tiles_fit_at_1400_pixels(
    page: Page, serve_board: ServeBoard, sq: SyncQueue, raw: redis.Redis, redis_url: str
) -> None:
    long_text = "lorem ipsum dolor sit amet " * 40
    for i in range(5):
        sq.add(f"report-with-a-fairly-long-name-{i}", {"text": long_text, "card": f"4242-{i}", "progress": 50})
    # Failed jobs fill every column: times, durations, attempts, a failed reason.
    work_until(redis_url, sq.name, fail, failed=5)
    # A hundred thousand completed jobs, for the overview's tiles (the ids alone are enough to count).
    raw.eval("for i = 1, 100000 do redis.call('ZADD', KEYS[1], i, 'c' .. i) end", 1, f"bull:{sq.name}:completed")
    base = serve_board([sq.name])
    page.set_viewport_size({"width": 1400, "height": 900})
    log_in(page, base, f"/queues/{sq.name}?state=failed")
    table = page.locator("table.jobs")
    expect(table).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "jobs-at-1400px.png"), full_page=True)
    fits = page.evaluate(
        """() => {
            const table = document.querySelector("table.jobs");
            const data = document.querySelector("table.jobs td.data");
            return {
                table: table.getBoundingClientRect().right,
                page: document.documentElement.clientWidth,
                scroll: document.documentElement.scrollWidth,
                data: data.getBoundingClientRect().width,
            };
        }"""
    )
    assert fits["table"] <= fits["page"] and fits["scroll"] <= fits["page"], fits
    assert fits["data"] >= 140, fits  # the data column is there, cut with an ellipsis, not pushed off
    # Waiting has its colour, like the other states.
    colour = page.locator("a.tab.state-waiting").evaluate("el => getComputedStyle(el).getPropertyValue('--sfg')")
    assert colour.strip(), "the waiting tab has no state colour"

    page.goto(f"{base}/")
    cell = page.locator(f'tr[data-queue="{sq.name}"] a[href$="state=completed"]')
    expect(cell).to_have_text("100,000")
    overflow = cell.evaluate("el => el.scrollWidth - el.clientWidth")
    assert overflow <= 0, f"the count overflows its cell by {overflow}px"
