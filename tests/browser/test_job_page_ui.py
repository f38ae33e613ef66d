"""The job page in a real browser: the JSON tree folds and unfolds (and stays as left across polls), the
tree | text switch (with and without JavaScript), copy buttons that put the text on the clipboard, and the
logs filter as you type and as a search the server answers."""

from __future__ import annotations

import json
import re
from typing import Any

import redis

from board import SyncQueue

from .conftest import NewContext, ServeBoard, log_in, skip_without_a_browser

skip_without_a_browser()

from playwright.sync_api import Page, expect  # noqa: E402

DATA: dict[str, Any] = {
    "customer": {"name": "ada", "address": {"city": "Paris", "zip": "75001"}},
    "items": [{"sku": f"s{i}", "qty": i} for i in range(5)],
    "api_token": "t0ps3cret",
    "note": "<b>not bold</b>",
}
LOGS = ["fetching page 1", "fetching page 2", "retrying after a timeout", "fetching page 3", "done"]


def waiting_job(sq: SyncQueue, raw: redis.Redis) -> str:
    """A job nobody takes: its page keeps polling, which the folds and the switch must survive."""
    job = sq.add("export", DATA)
    assert job.id is not None
    raw.rpush(f"bull:{sq.name}:{job.id}:logs", *LOGS)
    return job.id


def next_poll(page: Page) -> None:
    """Waits until the live region has been fetched and swapped once more."""
    with page.expect_response(lambda r: "/jobs/" in r.url and r.request.headers.get("hx-request") == "true"):
        pass
    page.wait_for_timeout(200)  # the swap and board.js's settle handlers


def test_the_tree_folds_unfolds_and_stays_as_left(
    page: Page, serve_board: ServeBoard, sq: SyncQueue, raw: redis.Redis
) -> None:
    job_id = waiting_job(sq, raw)
    base = serve_board([sq.name])
    log_in(page, base, f"/queues/{sq.name}/jobs/{job_id}")

    tree = page.locator("#tree-data")
    expect(tree).to_be_visible()
    expect(page.locator("#text-data")).to_be_hidden()
    # Depth 2 starts folded: the city is in the page but not shown until its object is opened.
    city = tree.get_by_text('"Paris"')
    expect(city).to_be_hidden()
    address = tree.locator("summary", has_text="address")
    address.click()
    expect(city).to_be_visible()
    # Redacted in the tree as everywhere, and markup in a value is text.
    expect(tree.get_by_text('"***"')).to_be_visible()
    expect(tree.get_by_text('"<b>not bold</b>"')).to_be_visible()
    assert "t0ps3cret" not in page.content()

    next_poll(page)
    expect(city).to_be_visible()
    address.click()
    expect(city).to_be_hidden()
    # The whole value folds from its root too.
    tree.locator("summary").first.click()
    expect(tree.locator("summary", has_text="customer")).to_be_hidden()


def test_the_switch_between_tree_and_text(page: Page, serve_board: ServeBoard, sq: SyncQueue, raw: redis.Redis) -> None:
    job_id = waiting_job(sq, raw)
    base = serve_board([sq.name])
    log_in(page, base, f"/queues/{sq.name}/jobs/{job_id}")

    switch = page.locator(".payload", has=page.locator("#tree-data")).locator(".view-switch")
    switch.get_by_text("Text", exact=True).click()
    expect(page.locator("#text-data")).to_be_visible()
    expect(page.locator("#tree-data")).to_be_hidden()
    next_poll(page)
    expect(page.locator("#text-data")).to_be_visible()
    switch.get_by_text("Tree", exact=True).click()
    expect(page.locator("#tree-data")).to_be_visible()


def test_without_javascript_the_switch_works_and_copy_is_not_offered(
    new_context: NewContext, serve_board: ServeBoard, sq: SyncQueue, raw: redis.Redis
) -> None:
    job_id = waiting_job(sq, raw)
    base = serve_board([sq.name])
    page = new_context(java_script_enabled=False).new_page()
    log_in(page, base, f"/queues/{sq.name}/jobs/{job_id}")

    expect(page.locator("[data-copy-target]").first).to_be_attached()
    expect(page.locator("[data-copy-target]:visible")).to_have_count(0)
    page.get_by_text("Text", exact=True).first.click()
    expect(page.locator("#text-data")).to_be_visible()
    # The logs filter is a form: sending it asks the server.
    page.get_by_placeholder("Filter lines").fill("FETCHING")
    page.get_by_role("button", name="Filter").click()
    expect(page).to_have_url(re.compile(r"\?logs_q=FETCHING$"))
    expect(page.locator("ol.logs li")).to_have_count(3)


def test_copy_puts_the_text_on_the_clipboard(
    new_context: NewContext, serve_board: ServeBoard, sq: SyncQueue, raw: redis.Redis
) -> None:
    job_id = waiting_job(sq, raw)
    base = serve_board([sq.name])
    context = new_context()
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    page = context.new_page()
    log_in(page, base, f"/queues/{sq.name}/jobs/{job_id}")

    data_copy = page.locator('[data-copy-target="text-data"]')
    expect(data_copy).to_be_visible()
    data_copy.click()
    expect(data_copy).to_have_text("Copied")
    copied = json.loads(page.evaluate("navigator.clipboard.readText()"))
    assert copied == {**DATA, "api_token": "***"}

    page.locator('[data-copy-target="text-opts"]').click()
    options = json.loads(page.evaluate("navigator.clipboard.readText()"))
    assert options == json.loads(page.locator("#text-opts").text_content() or "") and "attempts" in options

    # The logs copy as lines; once filtered, only the lines shown.
    logs_copy = page.locator('[data-copy-target="logs-list"]')
    logs_copy.click()
    assert page.evaluate("navigator.clipboard.readText()") == "\n".join(LOGS)
    page.get_by_placeholder("Filter lines").fill("fetching")
    logs_copy.click()
    assert page.evaluate("navigator.clipboard.readText()") == "\n".join(line for line in LOGS if "fetching" in line)


def test_the_logs_filter_hides_lines_as_you_type(
    page: Page, serve_board: ServeBoard, sq: SyncQueue, raw: redis.Redis
) -> None:
    job_id = waiting_job(sq, raw)
    base = serve_board([sq.name])
    log_in(page, base, f"/queues/{sq.name}/jobs/{job_id}")

    lines = page.locator("ol.logs li")
    expect(lines).to_have_count(5)
    field = page.get_by_placeholder("Filter lines")
    field.fill("RETRY")
    expect(lines.filter(visible=True)).to_have_text(["retrying after a timeout"])
    expect(page.locator("[data-filter-count]")).to_have_text("1 of 5 lines shown")
    field.fill("page")
    expect(lines.filter(visible=True)).to_have_count(3)
    field.fill("")
    expect(lines.filter(visible=True)).to_have_count(5)
    expect(page.locator("[data-filter-count]")).to_have_text("")

    # Enter asks the server, which reads beyond the page; the same text then keeps filtering as typed.
    field.fill("fetching")
    field.press("Enter")
    expect(page).to_have_url(re.compile(r"\?logs_q=fetching$"))
    expect(lines).to_have_count(3)
    expect(page.locator("[data-filter-count]")).to_have_text("3 of lines 1\u20135 match")
    page.get_by_role("link", name="Clear").click()
    expect(lines).to_have_count(5)
