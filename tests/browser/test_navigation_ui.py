"""The queue navigation and the overview in a real browser: the sidebar's paused and rate-limited marks and
its current queue, "/" focusing the queue filter, the filter narrowing the sidebar and the cards as one
types, the sidebar folded into a menu on a narrow screen, and a 400 px wide screen without sideways
scrolling on the overview and a queue page.
"""

from __future__ import annotations

import redis

from board import SyncQueue

from .conftest import NewContext, ServeBoard, log_in, skip_without_a_browser

skip_without_a_browser()

from playwright.sync_api import Page, expect  # noqa: E402

NAMES = ["mail.welcome", "mail.digest", "sms.out", "billing"]


def fill_queues(redis_url: str) -> None:
    for name in NAMES:
        with SyncQueue(name, redis_url) as q:
            for i in range(3):
                q.add(f"job-{i}", {"n": i})
            if name == "sms.out":
                q.pause()
    # An open and full limiter window: billing is rate limited for the next minute.
    client = redis.Redis.from_url(redis_url)
    client.hset("bull:billing:meta", mapping={"max": 1, "duration": 60_000})
    client.set("bull:billing:limiter", 1, px=60_000)
    client.close()


def nav_item(page: Page, queue: str) -> object:
    return page.locator(f'.nav-queues li[data-q^="{queue}"]')


def test_sidebar_marks_and_the_current_queue(new_context: NewContext, serve_board: ServeBoard, redis_url: str) -> None:
    fill_queues(redis_url)
    base = serve_board(NAMES, queue_config={"billing": {"display_name": "Card charges"}})
    page = new_context().new_page()
    log_in(page, base, "/queues/sms.out")
    sidebar = page.locator("#sidenav")
    expect(sidebar).to_be_visible()
    expect(page.locator('.nav-queues li[data-q="sms.out"] .mk-paused')).to_be_visible()
    expect(page.locator('.nav-queues li[data-q="mail.welcome"] .mk')).to_have_count(0)
    expect(page.locator(".nav-queues li[data-q^='billing'] .mk-limited")).to_be_visible()
    expect(page.locator(".nav-queues a.current")).to_have_text("sms.out")
    # The display name is what the sidebar shows; a click goes to that queue, now the current one.
    page.locator(".nav-queues a", has_text="Card charges").click()
    expect(page).to_have_url(base + "/queues/billing")
    expect(page.locator(".nav-queues a.current")).to_have_text("Card charges")


def test_slash_focuses_the_filter_which_applies_as_one_types(
    new_context: NewContext, serve_board: ServeBoard, redis_url: str
) -> None:
    fill_queues(redis_url)
    base = serve_board(NAMES, poll_interval=0)
    page = new_context().new_page()
    log_in(page, base, "/queues/billing")

    # On a queue page "/" goes to the sidebar's filter.
    page.locator("body").click(position={"x": 600, "y": 400})
    page.keyboard.press("/")
    expect(page.locator("#nav-filter")).to_be_focused()
    page.keyboard.type("mail")
    expect(page.locator('.nav-queues li[data-q="mail.welcome"]')).to_be_visible()
    expect(page.locator('.nav-queues li[data-q="sms.out"]')).to_be_hidden()
    expect(page.locator('.nav-queues li[data-q="billing"]')).to_be_hidden()
    # Enter asks the server: the overview, filtered the same way, works without JavaScript too.
    page.keyboard.press("Enter")
    expect(page).to_have_url(base + "/?filter=mail")
    expect(page.locator("table.queues tr[data-queue]")).to_have_count(2)

    # On the overview "/" goes to its own filter, which narrows the cards, the groups and the sidebar.
    page.goto(base + "/")
    page.keyboard.press("/")
    expect(page.locator("#filter")).to_be_focused()
    page.keyboard.type("SMS")
    expect(page.locator('tr[data-queue="sms.out"]')).to_be_visible()
    expect(page.locator('tr[data-queue="mail.welcome"]')).to_be_hidden()
    expect(page.locator('details.group[data-group="mail"]')).to_be_hidden()
    expect(page.locator('.nav-queues li[data-q="mail.digest"]')).to_be_hidden()
    # "/" typed into a field is text, not the shortcut.
    page.keyboard.press("/")
    expect(page.locator("#filter")).to_have_value("SMS/")
    page.locator("#filter").fill("")
    expect(page.locator("table.queues tr[data-queue]")).to_have_count(4)
    expect(page.locator('tr[data-queue="mail.welcome"]')).to_be_visible()


def test_a_narrow_screen_folds_the_sidebar_into_a_menu(
    new_context: NewContext, serve_board: ServeBoard, redis_url: str
) -> None:
    fill_queues(redis_url)
    base = serve_board(NAMES)
    page = new_context(viewport={"width": 400, "height": 800}).new_page()
    log_in(page, base, "/")
    expect(page.locator("#sidenav")).not_to_have_attribute("open", "")
    expect(page.locator(".nav-queues")).to_be_hidden()
    page.locator("#sidenav > summary").click()
    expect(page.locator('.nav-queues li[data-q="sms.out"]')).to_be_visible()


def test_400_px_wide_without_sideways_scrolling(
    new_context: NewContext, serve_board: ServeBoard, redis_url: str
) -> None:
    fill_queues(redis_url)
    base = serve_board(
        NAMES,
        environment="production",
        queue_config={"mail.*": {"description": "Welcome and digest mail, sent by the mailer service"}},
    )
    page = new_context(viewport={"width": 400, "height": 800}).new_page()
    log_in(page, base, "/")
    for path in ("/", "/queues/mail.welcome", "/queues/mail.welcome?state=waiting", "/?has=waiting"):
        page.goto(base + path)
        page.wait_for_load_state("domcontentloaded")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 400, f"{path} is {width} px wide"
        # With the menu open too.
        page.locator("#sidenav > summary").click()
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 400, f"{path} with the menu open is {width} px wide"
