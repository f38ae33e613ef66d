"""Fixtures for the browser tests: a real board served by uvicorn on loopback, Debian's Chromium driven
by Playwright's sync API, and workers that fill the queues.

Nothing here imports Playwright at module level: ``test_board_ui.py`` skips itself when Playwright or
Chromium is missing, and this file must still import then.

Playwright's sync API marks its own event loop as running in the main thread between calls, so nothing
here calls ``asyncio.run`` in the main thread: the server and the workers each run their event loop in
a thread of their own.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import uvicorn

from board import FormLogin, Job, Queue, SyncQueue, Worker, create_board
from board.redis_server import free_port

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

SECRET = "board-browser-tests-secret-0123456789"
USER, PASSWORD = "ada", "correct horse battery staple"
# A clear-text password: a PBKDF2 hash would cost most of a second per login.
USERS = {USER: (PASSWORD, "admin")}
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
# Expectations wait this long (ms): polling is every second, so a few polls fit in.
TIMEOUT_MS = 5_000
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def find_chromium() -> str | None:
    """Debian's Chromium: /usr/bin/chromium, else ``chromium`` on the PATH."""
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    return shutil.which("chromium")


def skip_without_a_browser() -> None:
    """Skips the calling test module, with the reason, when Playwright or Chromium is missing."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"Playwright is not installed ({exc}): pip install playwright", allow_module_level=True)
    if find_chromium() is None:
        pytest.skip(
            "no Chromium: neither /usr/bin/chromium nor `chromium` on the PATH "
            "(apt install chromium, or `make browser`)",
            allow_module_level=True,
        )


# The server ---------------------------------------------------------------------------------------------------


class LiveServer:
    """A board app served by uvicorn on a free loopback port, its event loop in a thread."""

    def __init__(self, app: Any, closing: list[Callable[[], Awaitable[None]]] | None = None) -> None:
        self.app = app
        # What to close on the server's loop when it stops: by default the board's Redis client.
        self.closing = closing if closing is not None else [app.state.board.adapter.close]
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            loop="asyncio",
            http="h11",
            ws="none",
            lifespan="off",
            log_config=None,  # leave the test run's logging alone
            log_level="warning",
            access_log=False,
        )
        self.server = uvicorn.Server(config)
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"board-{self.port}", daemon=True)

    def _run(self) -> None:
        async def main() -> None:
            try:
                await self.server.serve()
            finally:
                # The board's Redis client is bound to this loop: close it here, before the loop goes.
                for close in self.closing:
                    await close()

        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(main())
        except BaseException as exc:  # SystemExit when the port is taken, say
            self.error = exc
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def start(self, timeout: float = 10) -> LiveServer:
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive():
                raise RuntimeError(f"the board server did not start: {self.error!r}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the board server did not answer within {timeout} s")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(15)
        assert not self._thread.is_alive(), "the board server did not stop"
        if self.error is not None:
            raise self.error


ServeBoard = Callable[..., str]


@pytest.fixture
def serve_board(redis_url: str) -> Iterator[ServeBoard]:
    """``serve_board(queues, **create_board_options) -> base URL``: a board behind FormLogin, polling
    every second, served until the test ends."""
    servers: list[LiveServer] = []

    def serve(queues: list[str], **options: Any) -> str:
        options.setdefault("auth", FormLogin(USERS, SECRET))
        options.setdefault("poll_interval", 1)
        app = create_board(redis_url, queues=queues, **options)
        server = LiveServer(app)
        servers.append(server)
        return server.start().url

    yield serve
    for server in reversed(servers):
        server.stop()


# Queues and workers -------------------------------------------------------------------------------------------


@pytest.fixture
def sq(redis_url: str, qname: str) -> Iterator[SyncQueue]:
    with SyncQueue(qname, redis_url) as q:
        yield q


async def fail(job: Job) -> Any:
    """A processor that logs a line and fails: the job ends in ``failed`` with a stack trace."""
    await job.log(f"charging {job.data.get('card', '?')}")
    raise RuntimeError(f"card declined: {job.data.get('card', '?')}")


def work_until(
    url: str,
    queue: str,
    processor: Callable[[Job], Awaitable[Any]],
    *,
    failed: int = 0,
    completed: int = 0,
    timeout: float = 15,
) -> None:
    """Runs a board.Worker, on its own event loop in a thread, until ``queue`` holds that many failed and
    completed jobs; then closes it, so that nothing else is taken from the queue."""

    async def main() -> None:
        worker = Worker(queue, processor, url, handle_signals=False, block_timeout=1)
        task = asyncio.create_task(worker.run())
        watch = Queue(queue, url)
        try:
            deadline = time.monotonic() + timeout
            while True:
                counts = await watch.get_job_counts("failed", "completed")
                if counts["failed"] >= failed and counts["completed"] >= completed:
                    return
                if task.done():
                    await task
                    raise AssertionError("the worker stopped early")
                if time.monotonic() > deadline:
                    raise AssertionError(f"{failed} failed and {completed} completed not reached: {counts}")
                await asyncio.sleep(0.01)
        finally:
            await worker.close(timeout=5)
            await task
            await watch.close()

    def in_thread() -> None:
        loop = asyncio.new_event_loop()
        try:
            loop.run_until_complete(main())
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    with ThreadPoolExecutor(1, thread_name_prefix=f"worker-{queue}") as pool:
        pool.submit(in_thread).result(timeout + 20)


# The browser --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, headless; Playwright never downloads a browser of its own."""
    from playwright.sync_api import sync_playwright

    executable = find_chromium()
    assert executable, "no chromium (the test module should have skipped)"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


NewContext = Callable[..., "BrowserContext"]


@pytest.fixture
def new_context(browser: Browser) -> Iterator[NewContext]:
    """``new_context(**options)``: a fresh context (cookies, time zone, ...), closed at teardown."""
    contexts: list[BrowserContext] = []

    def make(**options: Any) -> BrowserContext:
        options.setdefault("locale", "en-US")
        options.setdefault("viewport", {"width": 1280, "height": 900})
        context = browser.new_context(**options)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


def log_in(page: Page, base_url: str, path: str = "/") -> None:
    """Logs in through the login form, starting from ``path`` (which the form returns to)."""
    from playwright.sync_api import expect

    page.goto(base_url + path)
    expect(page).to_have_url(re.compile(re.escape(f"{base_url}/login?next=")))
    page.get_by_label("User name").fill(USER)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(base_url + path)
    expect(page.locator("header.topbar .user")).to_contain_text(USER)
    # The page's scripts (deferred) have run: a click now gets board.js's confirmations.
    page.wait_for_load_state("domcontentloaded")


@pytest.fixture
def page(new_context: NewContext) -> Page:
    """A page in a fresh context (not logged in yet)."""
    return new_context().new_page()
