"""The board in a real browser: Debian's Chromium, driven by Playwright, against a board served by uvicorn
over a real Redis. Login, retry, pause and resume, live updates by polling, confirmation of destructive
actions, and times in the browser's time zone.

Screenshots of the overview and of a job page are kept in ``test-artifacts/``.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import redis

from board import SyncQueue

from .conftest import (
    ARTIFACTS,
    PASSWORD,
    USER,
    NewContext,
    ServeBoard,
    fail,
    log_in,
    skip_without_a_browser,
    work_until,
)

skip_without_a_browser()

from playwright.sync_api import Dialog, Page, Request, expect  # noqa: E402

# Chromium writes the hour marker after a narrow no-break space (ICU 72+); older ones after a plain space.
SPACES = str.maketrans({"\u202f": " ", "\xa0": " "})
# What static/board.js asks toLocaleString for, in en-US: "Jan 05, 2025, 09:03:07 PM".
LOCAL_FORMAT = "%b %d, %Y, %I:%M:%S %p"


def tab_count(page: Page, state: str) -> Any:
    return page.locator(f"#live nav.tabs a.tab.state-{state} .count")


def job_link(page: Page, job_id: str) -> Any:
    return page.locator("#live table.jobs td.mono a", has_text=re.compile(rf"^{re.escape(job_id)}$"))


def shown_in(zone: str, iso: str) -> str:
    moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    return moment.astimezone(ZoneInfo(zone)).strftime(LOCAL_FORMAT)


# 1. Login ------------------------------------------------------------------------------------------------------


def test_login_form_returns_to_the_page_asked_for(page: Page, serve_board: ServeBoard, sq: SyncQueue) -> None:
    sq.add("hello", {"n": 1})
    base = serve_board([sq.name])

    page.goto(f"{base}/queues/{sq.name}?state=waiting")
    expect(page).to_have_url(re.compile(re.escape(f"{base}/login?next=")))
    expect(page.get_by_role("heading", name="board")).to_be_visible()

    page.get_by_label("User name").fill(USER)
    page.get_by_label("Password").fill(PASSWORD + "-wrong")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong user name or password.")
    expect(page).to_have_url(re.compile(re.escape(f"{base}/login")))

    page.get_by_label("User name").fill(USER)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{base}/queues/{sq.name}?state=waiting")
    expect(page.locator("section.queue-header h1")).to_contain_text(sq.name)
    expect(page.locator("header.topbar .user")).to_contain_text(USER)
    expect(page.locator("header.topbar .user .role")).to_have_text("admin")
    expect(tab_count(page, "waiting")).to_have_text("1")
    # The static files sit behind the same login: they load once logged in.
    assert page.evaluate("typeof window.htmx") == "object"

    page.get_by_role("button", name="Log out").click()
    expect(page).to_have_url(f"{base}/login")
    page.goto(f"{base}/")
    expect(page).to_have_url(re.compile(re.escape(f"{base}/login")))


# 2. Retry a failed job -----------------------------------------------------------------------------------------


def test_retry_a_failed_job_from_the_failed_tab(
    page: Page, serve_board: ServeBoard, sq: SyncQueue, redis_url: str, raw: redis.Redis
) -> None:
    first = sq.add("charge", {"card": "4242"}, attempts=1)
    second = sq.add("charge", {"card": "0000"}, attempts=1)
    work_until(redis_url, sq.name, fail, failed=2)
    base = serve_board([sq.name])
    log_in(page, base, f"/queues/{sq.name}?state=failed")

    expect(tab_count(page, "failed")).to_have_text("2")
    expect(page.locator("#live table.jobs tbody tr")).to_have_count(2)
    job_link(page, first.id).click()

    expect(page).to_have_url(f"{base}/queues/{sq.name}/jobs/{first.id}")
    expect(page.locator(".job-header h1 .badge.state-failed")).to_have_text("failed")
    expect(page.get_by_text("card declined: 4242").first).to_be_visible()
    expect(page.locator("pre.stack").first).to_contain_text("RuntimeError: card declined: 4242")
    expect(page.locator("ol.logs")).to_contain_text("charging 4242")
    # board.js ran: the full time in the tooltip is in the browser's zone, no longer the server's UTC.
    expect(page.locator("ol.timeline time").first).not_to_have_attribute("title", re.compile(r"UTC$"))
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "job.png", full_page=True)

    page.get_by_role("button", name="Retry", exact=True).click()
    expect(page.locator(".flash.flash-ok")).to_be_visible()
    expect(page.locator(".job-header h1 .badge.state-waiting")).to_have_text("waiting")
    assert sq.get_job_state(first.id) == "waiting"
    assert first.id in raw.lrange(f"bull:{sq.name}:wait", 0, -1)
    assert raw.zscore(f"bull:{sq.name}:failed", first.id) is None

    # Back to the queue, then its failed tab: one failed job left, and not this one.
    page.get_by_role("link", name=f"← {sq.name}").click()
    expect(job_link(page, first.id)).to_be_visible()
    page.locator("#live nav.tabs a.tab.state-failed").click()
    expect(page).to_have_url(re.compile(r"\?state=failed"))
    expect(tab_count(page, "failed")).to_have_text("1")
    expect(tab_count(page, "waiting")).to_have_text("1")
    expect(job_link(page, first.id)).to_have_count(0)
    expect(job_link(page, second.id)).to_be_visible()


# 3. Pause and resume -------------------------------------------------------------------------------------------


def test_pause_and_resume_show_on_queue_page_and_overview(
    page: Page, serve_board: ServeBoard, sq: SyncQueue, redis_url: str, qname: str
) -> None:
    sq.add("resize", {"image": 1})
    sq.add("resize", {"image": 2})
    sq.add("resize", {"image": 3}, delay=3600)
    sq.add("resize", {"image": 4}, priority=5)
    with SyncQueue(f"mail.{qname}", redis_url) as mail:
        mail.add("welcome", {"to": "ada@example.com"})
    base = serve_board([sq.name, f"mail.{qname}"])
    log_in(page, base, f"/queues/{sq.name}")
    heading_badge = page.locator("section.queue-header h1 .badge-paused")
    row_badge = page.locator(f'tr[data-queue="{sq.name}"] .badge-paused')

    expect(heading_badge).to_have_count(0)
    page.get_by_role("button", name="Pause", exact=True).click()
    expect(heading_badge).to_have_text("paused")
    expect(page.get_by_role("button", name="Resume", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Pause", exact=True)).to_have_count(0)
    assert sq.is_paused()

    page.get_by_role("link", name="Queues").click()
    expect(page).to_have_url(f"{base}/")
    expect(row_badge).to_have_text("paused")
    expect(page.locator(f'tr[data-queue="mail.{qname}"] .badge-paused')).to_have_count(0)
    expect(page.locator(f'tr[data-queue="{sq.name}"] a[href$="state=waiting"]')).to_have_text("2")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / "overview.png", full_page=True)

    page.locator(f'tr[data-queue="{sq.name}"] th > a').click()
    expect(heading_badge).to_be_visible()
    page.get_by_role("button", name="Resume", exact=True).click()
    expect(heading_badge).to_have_count(0)
    expect(page.get_by_role("button", name="Pause", exact=True)).to_be_visible()
    assert not sq.is_paused()

    page.get_by_role("link", name="Queues").click()
    expect(page.locator(f'tr[data-queue="{sq.name}"]')).to_be_visible()
    expect(row_badge).to_have_count(0)


# 4. Live updates -----------------------------------------------------------------------------------------------


def test_queue_page_shows_new_jobs_by_polling_without_a_reload(
    page: Page, serve_board: ServeBoard, sq: SyncQueue
) -> None:
    first = sq.add("report", {"month": 1})
    base = serve_board([sq.name])
    log_in(page, base, f"/queues/{sq.name}?state=waiting")
    expect(tab_count(page, "waiting")).to_have_text("1")
    expect(job_link(page, first.id)).to_be_visible()

    navigations: list[str] = []
    page.on("framenavigated", lambda frame: navigations.append(frame.url))
    polls: list[Request] = []
    page.on("request", lambda request: polls.append(request) if request.headers.get("hx-request") else None)
    page.evaluate("window.__marker = 1")

    second = sq.add("report", {"month": 2})
    expect(job_link(page, second.id)).to_be_visible()
    expect(tab_count(page, "waiting")).to_have_text("2")
    expect(page.locator("#live table.jobs tbody tr")).to_have_count(2)

    assert page.evaluate("window.__marker") == 1, "the page was reloaded"
    assert navigations == [], f"the page navigated: {navigations}"
    assert polls, "no htmx request was seen"
    assert all(p.method == "GET" and f"/queues/{sq.name}?state=waiting" in p.url for p in polls)


def test_overview_polls_swap_nothing_until_a_count_changes(page: Page, serve_board: ServeBoard, sq: SyncQueue) -> None:
    sq.add("report", {"month": 1})
    base = serve_board([sq.name])
    log_in(page, base, "/")
    cell = page.locator(f'tr[data-queue="{sq.name}"] a[href$="state=waiting"]')
    expect(cell).to_have_text("1")
    answers: list[int] = []
    page.on("response", lambda r: answers.append(r.status) if r.request.headers.get("hx-request") else None)
    page.evaluate("document.getElementById('queues').setAttribute('data-old', '')")
    # Nothing changes: the polls are answered 204 and the table stays the one the page loaded.
    page.wait_for_timeout(2500)
    assert answers and set(answers) == {204}, answers
    expect(page.locator("#queues[data-old]")).to_have_count(1)

    sq.add("report", {"month": 2})
    expect(cell).to_have_text("2")
    expect(page.locator("#queues[data-old]")).to_have_count(0)  # swapped, once
    assert 200 in answers
    # The new fragment polls with what it shows now: 204 again.
    count = len(answers)
    page.wait_for_timeout(2500)
    assert answers[count:] and set(answers[count:]) == {204}, answers


# 5. Confirmation of destructive actions ------------------------------------------------------------------------


def test_remove_asks_first_and_does_nothing_when_dismissed(page: Page, serve_board: ServeBoard, sq: SyncQueue) -> None:
    doomed = sq.add("cleanup", {"path": "/tmp/x"})
    kept = sq.add("cleanup", {"path": "/tmp/y"})
    base = serve_board([sq.name])
    job_path = f"/queues/{sq.name}/jobs/{doomed.id}"
    log_in(page, base, job_path)

    dialogs: list[tuple[str, str]] = []
    posts: list[str] = []
    page.on("request", lambda request: posts.append(request.url) if request.method == "POST" else None)

    def answer(accept: bool) -> Any:
        def handle(dialog: Dialog) -> None:
            dialogs.append((dialog.type, dialog.message))
            if accept:
                dialog.accept()
            else:
                dialog.dismiss()

        return handle

    remove = page.get_by_role("button", name="Remove", exact=True)
    page.once("dialog", answer(False))
    remove.click()
    expect(remove).to_be_visible()
    assert dialogs == [("confirm", "Remove this job and its logs?")]
    expect(page).to_have_url(base + job_path)
    expect(page.locator(".flash")).to_have_count(0)
    assert posts == [], "a dismissed confirmation still posted the form"
    assert sq.get_job(doomed.id) is not None

    page.once("dialog", answer(True))
    remove.click()
    expect(page).to_have_url(f"{base}/queues/{sq.name}")
    expect(page.locator(".flash.flash-ok")).to_be_visible()
    expect(job_link(page, kept.id)).to_be_visible()
    expect(job_link(page, doomed.id)).to_have_count(0)
    assert len(dialogs) == 2
    assert posts == [f"{base}{job_path}/remove"]
    assert sq.get_job(doomed.id) is None
    assert sq.get_job(kept.id) is not None


# 6. Times in the browser's time zone ---------------------------------------------------------------------------


def test_times_show_in_the_browsers_time_zone(new_context: NewContext, serve_board: ServeBoard, sq: SyncQueue) -> None:
    job = sq.add("digest", {"day": 1})
    base = serve_board([sq.name])
    context = new_context(timezone_id="Asia/Tokyo")
    # Times in full, as the user's settings may ask (relative ones are the default).
    context.add_cookies([{"name": "board_settings", "value": "time=absolute", "url": base}])
    page = context.new_page()
    log_in(page, base, f"/queues/{sq.name}/jobs/{job.id}")
    assert page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone") == "Asia/Tokyo"

    added = page.locator("ol.timeline time").first
    expect(added).to_have_attribute("datetime", re.compile(r"Z$"))
    iso = added.get_attribute("datetime")
    assert iso is not None
    expect(added).to_have_attribute("title", iso)
    text = added.inner_text().translate(SPACES)
    assert text == shown_in("Asia/Tokyo", iso)
    assert text != shown_in("UTC", iso)

    # The queue page's table, first as loaded, then after a poll has replaced it (a new job changes what it
    # shows: a poll of an unchanged page swaps nothing).
    page.goto(f"{base}/queues/{sq.name}?state=waiting")
    cell = page.locator(f'#live table.jobs tbody tr:has(a[href$="/jobs/{job.id}"]) td.time time').first
    expect(cell).to_have_attribute("datetime", iso)
    expect(cell).to_have_attribute("title", iso)
    assert cell.inner_text().translate(SPACES) == shown_in("Asia/Tokyo", iso)
    page.evaluate("document.getElementById('live').dataset.old = '1'")
    sq.add("digest", {"day": 2})
    expect(page.locator("#live[data-old]")).to_have_count(0)  # swapped by the next poll
    expect(cell).to_have_attribute("title", iso)
    assert cell.inner_text().translate(SPACES) == shown_in("Asia/Tokyo", iso)
