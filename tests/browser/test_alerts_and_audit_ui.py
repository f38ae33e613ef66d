"""The alerts and audit pages in a real browser (Debian's Chromium, driven by Playwright), on a board served by
uvicorn with its lifespan, so that its alert loop runs as it does under ``board serve``: the navigation
reaches both pages, an alert fires and shows up there live, actions taken in the browser show up in the
audit log, and its filters narrow it.

Screenshots of both pages are kept in ``test-artifacts/``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from board import FormLogin, SyncQueue, create_board
from board.alerts import Alert

from .conftest import ARTIFACTS, SECRET, USER, USERS, LiveServer, log_in, skip_without_a_browser

skip_without_a_browser()

from playwright.sync_api import Page, expect  # noqa: E402

Serve = Callable[..., str]


@pytest.fixture
def serve_with_lifespan(redis_url: str) -> Iterator[Serve]:
    """``serve(queues, **create_board_options) -> base URL``: as ``serve_board``, with the app's lifespan on."""
    servers: list[LiveServer] = []

    def serve(queues: list[str], **options: Any) -> str:
        app = create_board(redis_url, queues=queues, auth=FormLogin(USERS, SECRET), poll_interval=1, **options)
        server = LiveServer(app)
        # The board's own lifespan runs its alert loop; the shared server leaves lifespans off.
        server.server.config.lifespan = "on"
        servers.append(server)
        return server.start().url

    yield serve
    for server in reversed(servers):
        server.stop()


def test_an_alert_fires_and_shows_on_the_alerts_page(page: Page, serve_with_lifespan: Serve, sq: SyncQueue) -> None:
    fired: list[Alert] = []
    alerts = {
        "rules": [
            {"name": "backlog", "when": "waiting_above", "queues": [sq.name], "threshold": 1},
            {"name": "long backlog", "when": "waiting_above", "threshold": 0, "minutes": 30},
        ]
    }
    base = serve_with_lifespan([sq.name], alerts=alerts, alert_callables={"memo": fired.append}, alert_interval=1)
    log_in(page, base)
    page.get_by_role("link", name="Alerts").click()
    expect(page).to_have_url(f"{base}/alerts")
    backlog = page.locator('tr[data-rule="backlog"]')
    expect(backlog).to_contain_text("jobs waiting: more than 1")
    expect(backlog).to_contain_text(sq.name)
    expect(backlog.locator(".badge")).to_have_text("ok")
    expect(page.locator(".alert-deliveries")).to_contain_text("Nothing sent yet.")

    # Two jobs waiting: the next round fires, and the page shows it by polling, without a reload.
    sq.add("a", {})
    sq.add("b", {})
    expect(backlog.locator(f'.episode[data-queue="{sq.name}"] .badge')).to_have_text("firing")
    expect(page.locator('tr[data-rule="long backlog"] .episode .badge')).to_have_text("pending")
    delivery = page.locator(".alert-deliveries tbody tr").first
    expect(delivery).to_contain_text("memo")
    expect(delivery).to_contain_text("backlog")
    expect(delivery.locator("td").nth(5)).to_have_text("ok")
    assert [(a.rule, a.queue, a.state) for a in fired] == [("backlog", sq.name, "firing")]
    expect(page.locator(".flash-warn")).to_have_count(0)  # the loop runs in this process
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "alerts.png", full_page=True)


def test_actions_in_the_browser_land_in_the_audit_log(
    page: Page, serve_with_lifespan: Serve, sq: SyncQueue, redis_url: str
) -> None:
    sq.add("resize", {"image": 1})
    base = serve_with_lifespan([sq.name])
    log_in(page, base, f"/queues/{sq.name}")
    page.get_by_role("button", name="Pause", exact=True).click()
    expect(page.get_by_role("button", name="Resume", exact=True)).to_be_visible()
    page.get_by_role("button", name="Resume", exact=True).click()
    expect(page.get_by_role("button", name="Pause", exact=True)).to_be_visible()

    page.get_by_role("link", name="Audit").click()
    expect(page).to_have_url(f"{base}/audit")
    rows = page.locator("table.audit tbody tr")
    # Newest first: resume, pause, then the sign-in that started it all.
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_contain_text("resume")
    expect(rows.nth(1)).to_contain_text("pause")
    expect(rows.nth(2)).to_contain_text("login")
    expect(rows.nth(1)).to_contain_text(USER)
    expect(rows.nth(1)).to_contain_text("127.0.0.1")
    expect(rows.nth(1).locator(".badge-ok")).to_have_text("done")
    expect(rows.nth(1)).to_contain_text("Queue paused.")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "audit.png", full_page=True)

    # The filters narrow it, from the form or from a value of an entry.
    page.get_by_label("Action").select_option("pause")
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("pause")
    page.get_by_label("User").fill("nobody")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("p.empty")).to_contain_text("No entries match these filters")
    page.goto(f"{base}/audit")
    rows.nth(0).get_by_role("link", name=sq.name).click()
    expect(rows).to_have_count(2)
    expect(page.get_by_label("Queue", exact=True)).to_have_value(sq.name)
