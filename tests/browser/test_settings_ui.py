"""The settings page in a real browser: polling turned off stops the page's requests, the theme chosen
wins over the system's, the language switch, and times in the browser's zone; screenshots of the overview,
a queue page and a job page in the light and the dark theme are kept in ``test-artifacts/``.
"""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from board import SyncQueue

from .conftest import ARTIFACTS, NewContext, ServeBoard, fail, log_in, skip_without_a_browser, work_until

skip_without_a_browser()

from playwright.sync_api import Page, Request, expect  # noqa: E402


def choose(page: Page, base: str, **settings: str) -> None:
    """Saves settings through the form, as a user does (labels as in English)."""
    page.goto(f"{base}/settings")
    labels = {
        "poll": "Update pages every",
        "theme": "Theme",
        "lang": "Language",
        "tab": "First tab",
        "per_page": "Jobs per page",
        "time": "Show times as",
    }
    for name, value in settings.items():
        if name == "zone":
            page.get_by_label("Time zone").fill(value)
        else:
            page.get_by_label(labels[name]).select_option(value)
    page.get_by_role("button", name=re.compile("Save settings|Einstellungen speichern")).click()
    expect(page.locator(".flash.flash-ok")).to_be_visible()


def background(page: Page) -> str:
    return str(page.evaluate("getComputedStyle(document.body).backgroundColor"))


def polls_of(page: Page, url: str, seconds: float) -> int:
    """How many times the page asks for ``url`` again (htmx's polls) in that many seconds."""
    seen: list[Request] = []

    def listen(request: Request) -> None:
        if request.url == url and request.headers.get("hx-request"):
            seen.append(request)

    page.on("request", listen)
    page.wait_for_timeout(seconds * 1000)
    page.remove_listener("request", listen)
    return len(seen)


def test_polling_off_stops_the_pages_requests(page: Page, serve_board: ServeBoard, sq: SyncQueue) -> None:
    sq.add("mail", {})
    base = serve_board([sq.name], poll_interval=1)
    url = f"{base}/queues/{sq.name}"
    log_in(page, base, f"/queues/{sq.name}")
    assert polls_of(page, url, 3.5) >= 2, "the board's 1 s polling did not run"

    choose(page, base, poll="0")
    page.goto(url)
    expect(page.locator("#live")).to_be_visible()
    assert page.locator("#live").get_attribute("hx-trigger") is None
    assert polls_of(page, url, 3.5) == 0

    choose(page, base, poll="default")
    page.goto(url)
    assert polls_of(page, url, 3.5) >= 2


def test_the_theme_chosen_wins_over_the_systems(new_context: NewContext, serve_board: ServeBoard) -> None:
    base = serve_board(["email"])
    page = new_context(color_scheme="light").new_page()
    log_in(page, base, "/settings")
    system_light = background(page)
    choose(page, base, theme="dark")
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    dark = background(page)
    assert dark != system_light
    assert page.evaluate("getComputedStyle(document.documentElement).colorScheme") == "dark"

    # The other way round: a dark system, the light theme chosen.
    dark_page = new_context(color_scheme="dark").new_page()
    log_in(dark_page, base, "/settings")
    assert background(dark_page) == dark  # "system" follows the system
    choose(dark_page, base, theme="light")
    assert background(dark_page) == system_light


def test_screenshots_in_both_themes(
    new_context: NewContext, serve_board: ServeBoard, sq: SyncQueue, redis_url: str
) -> None:
    for n in range(4):
        sq.add("charge", {"card": f"4242-{n}", "amount": 100 + n}, attempts=1)
    work_until(redis_url, sq.name, fail, failed=4)
    for n in range(3):
        sq.add("receipt", {"order": n}, delay=3_600_000 * (n + 1))
    failed = sq.get_jobs(["failed"], 0, 0)[0]
    base = serve_board([sq.name], poll_interval=0)
    page = new_context().new_page()
    log_in(page, base, "/")
    ARTIFACTS.mkdir(exist_ok=True)
    for theme in ("light", "dark"):
        choose(page, base, theme=theme)
        for name, path in (
            ("overview", "/"),
            ("queue", f"/queues/{sq.name}?state=failed"),
            ("job", f"/queues/{sq.name}/jobs/{failed.id}"),
            ("settings", "/settings"),
        ):
            page.goto(base + path)
            expect(page.locator("html")).to_have_attribute("data-theme", theme)
            shot = ARTIFACTS / f"{name}-{theme}.png"
            page.screenshot(path=shot, full_page=True)
            assert shot.stat().st_size > 10_000
    assert background(page) != "rgb(246, 248, 250)"  # the dark page, not the light one


def test_the_language_switch(page: Page, serve_board: ServeBoard, sq: SyncQueue) -> None:
    job = sq.add("mail", {})
    base = serve_board([sq.name])
    log_in(page, base, "/settings")
    expect(page.get_by_role("heading", name="Settings")).to_be_visible()
    choose(page, base, lang="de")
    expect(page.get_by_role("heading", name="Einstellungen")).to_be_visible()
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.locator(".flash.flash-ok")).to_have_text("Einstellungen gespeichert.")
    page.goto(f"{base}/queues/{sq.name}/jobs/{job.id}")
    expect(page.locator("ol.timeline time").first).to_have_text(re.compile(r"^vor \d+ (Sek|Min)\.$"))
    # Back to the browser's language (English here), from the German form.
    page.goto(f"{base}/settings")
    page.get_by_label("Sprache").select_option("auto")
    page.get_by_role("button", name="Einstellungen speichern").click()
    expect(page.get_by_role("heading", name="Settings")).to_be_visible()


def test_times_in_full_in_the_browsers_zone_and_relative_ones_kept_current(
    new_context: NewContext, serve_board: ServeBoard, sq: SyncQueue
) -> None:
    job = sq.add("digest", {})
    base = serve_board([sq.name])
    page = new_context(timezone_id="Asia/Tokyo").new_page()
    log_in(page, base, f"/queues/{sq.name}/jobs/{job.id}")
    added = page.locator("ol.timeline time").first
    iso = added.get_attribute("datetime")
    assert iso is not None
    moment = datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(ZoneInfo("Asia/Tokyo"))
    # Relative, with the full time, in the browser's zone, in the tooltip.
    expect(added).to_have_text(re.compile(r"(sec\.|min\.|seconds?|minutes?) ago$|^now$"))
    expect(added).to_have_attribute("title", re.compile(re.escape(moment.strftime("%I:%M:%S").lstrip("0"))))

    choose(page, base, time="absolute")
    page.goto(f"{base}/queues/{sq.name}/jobs/{job.id}")
    expect(added).to_have_attribute("title", iso)
    text = added.inner_text().replace("\u202f", " ").replace("\xa0", " ")
    assert text == moment.strftime("%b %d, %Y, %I:%M:%S %p")

    # With polling off, board.js alone keeps relative times current (every 15 s): a minute on, it says so.
    choose(page, base, time="relative", poll="0")
    page.clock.install()
    page.goto(f"{base}/queues/{sq.name}/jobs/{job.id}")
    expect(added).to_have_text(re.compile(r"sec\. ago$|^now$"))
    page.clock.fast_forward(75_000)
    expect(added).to_have_text(re.compile(r"^1 min\. ago$"))
