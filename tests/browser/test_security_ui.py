"""The board against a hostile site, in a real browser: Debian's Chromium, driven by Playwright.

A page on another origin tries to frame the board, to post a login (under the attacker's account) and a
logout; job fields carry script. None of it may work.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from urllib.parse import quote, urlencode

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from board import FormLogin, SyncQueue

from .conftest import (
    SECRET,
    USER,
    USERS,
    LiveServer,
    NewContext,
    ServeBoard,
    fail,
    log_in,
    skip_without_a_browser,
    work_until,
)

skip_without_a_browser()

from playwright.sync_api import ConsoleMessage, Dialog, Page, expect  # noqa: E402

XSS = '<img src=x onerror="window.__xss = 1"><script>window.__xss = 2</script>'


def _auto_post(action: str, fields: dict[str, str]) -> str:
    inputs = "".join(f'<input name="{html.escape(k)}" value="{html.escape(v)}">' for k, v in fields.items())
    return (
        f'<!doctype html><body onload="document.forms[0].submit()">'
        f'<form method="post" action="{html.escape(action)}">{inputs}</form></body>'
    )


@pytest.fixture
def evil() -> Iterator[str]:
    """Another site: served on ``localhost`` where the board is on 127.0.0.1, so another origin and, for
    cookies, another site. ``/frame?src=URL`` frames a URL; ``/post?action=URL&field=value`` posts a form
    to it as soon as it loads."""

    async def frame(request: Request) -> HTMLResponse:
        src = html.escape(request.query_params["src"])
        return HTMLResponse(f'<!doctype html><h1>evil</h1><iframe id="f" src="{src}"></iframe>')

    async def post(request: Request) -> HTMLResponse:
        fields = {k: v for k, v in request.query_params.items() if k != "action"}
        return HTMLResponse(_auto_post(request.query_params["action"], fields))

    server = LiveServer(Starlette(routes=[Route("/frame", frame), Route("/post", post)]), closing=[]).start()
    yield server.url.replace("127.0.0.1", "localhost")
    server.stop()


def test_board_cannot_be_framed(page: Page, serve_board: ServeBoard, sq: SyncQueue, evil: str) -> None:
    base = serve_board([sq.name])
    page.goto(f"{evil}/frame?{urlencode({'src': base + '/login'})}")
    page.wait_for_load_state("load")
    expect(page.locator("h1")).to_have_text("evil")
    # Chromium refuses to show a page whose CSP says frame-ancestors 'none': no login form in the frame.
    expect(page.frame_locator("#f").get_by_label("User name")).to_have_count(0)
    assert not page.frames[1].url.startswith(base), page.frames[1].url


def test_board_framed_by_an_allowed_origin(page: Page, serve_board: ServeBoard, sq: SyncQueue, evil: str) -> None:
    base = serve_board([sq.name], frame_ancestors=[evil])
    page.goto(f"{evil}/frame?{urlencode({'src': base + '/login'})}")
    expect(page.frame_locator("#f").get_by_label("User name")).to_be_visible()


def test_cross_site_login_and_logout_are_refused(
    new_context: NewContext, serve_board: ServeBoard, sq: SyncQueue, evil: str
) -> None:
    users = {**USERS, "mallory": ("mallory-pw", "viewer")}
    base = serve_board([sq.name], auth=FormLogin(users, SECRET))
    page = new_context().new_page()
    # The victim has visited the board before (so holds its CSRF cookie), then lands on the attacker's page,
    # which posts a login under the attacker's own account.
    page.goto(f"{base}/login")
    with page.expect_response(re.compile(re.escape(f"{base}/login"))) as answer:
        fields = {"action": f"{base}/login", "username": "mallory", "password": "mallory-pw"}
        page.goto(f"{evil}/post?{urlencode(fields)}")
    assert answer.value.status == 403
    page.wait_for_url(f"{base}/login")
    page.wait_for_load_state("load")
    page.goto(f"{base}/")
    expect(page).to_have_url(re.compile(re.escape(f"{base}/login")))  # not logged in as mallory

    # Logged in for real, a cross-site logout post leaves the session alone.
    log_in(page, base)
    with page.expect_response(re.compile(re.escape(f"{base}/logout"))) as answer:
        page.goto(f"{evil}/post?{urlencode({'action': f'{base}/logout'})}")
    assert answer.value.status == 403
    page.wait_for_url(f"{base}/logout")
    page.wait_for_load_state("load")
    page.goto(f"{base}/")
    expect(page.locator("header.topbar .user")).to_contain_text(USER)


def test_script_in_job_fields_never_runs(page: Page, serve_board: ServeBoard, sq: SyncQueue, redis_url: str) -> None:
    job = sq.add(XSS, {"card": XSS, "note": XSS})
    work_until(redis_url, sq.name, fail, failed=1)
    sq.add_job_log(job.id, XSS)
    waiting = sq.add(XSS, {"x": XSS}, job_id="x<script>window.__xss=3</script>")
    dialogs: list[str] = []
    violations: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    def on_console(message: ConsoleMessage) -> None:
        if "Content Security" in message.text:
            violations.append(message.text)

    page.on("dialog", on_dialog)
    page.on("console", on_console)
    base = serve_board([sq.name])
    log_in(page, base)
    for path in (
        f"/queues/{sq.name}",
        f"/queues/{sq.name}?state=failed",
        f"/queues/{sq.name}/jobs/{job.id}",
        f"/queues/{sq.name}/jobs/{quote(waiting.id, safe='')}",
    ):
        page.goto(base + path)
        expect(page.locator("main")).to_be_visible()
        page.wait_for_timeout(200)
        assert page.evaluate("window.__xss") is None, path
    expect(page.locator("h1")).to_contain_text("<script>")  # shown as text
    assert dialogs == []
    # Nothing of the board's own was blocked either: the pages need no inline script or style.
    assert violations == []
