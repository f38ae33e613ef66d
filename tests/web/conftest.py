"""Fixtures for the board's HTTP tests: a board over the test Redis, driven by Starlette's TestClient.

Every client is entered as a context manager, so that one event loop serves all its requests (the
board's Redis pool binds to it), and is closed at teardown after the board's Redis client. Queues are
built with the engine itself (``SyncQueue``, and ``Worker`` on its own event loop in a thread).

Helpers shared by several test modules live here, not in a test module: users with each role (``USERS``,
``AS``), what a queue holds in Redis (``keys_of``), and a board with a given auth backend whose ``/`` says
who is asking (``client_for``, with ``login``/``logout`` for the login form).
"""

from __future__ import annotations

import asyncio
import base64
import html
import json
import re
import threading
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any

import pytest
import redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from board import Job, SyncQueue, Worker, create_board
from board.web.auth import AuthBackend
from board.web.board import Board
from board.web.users import User
from tests.support import wait_for as wait_for

if TYPE_CHECKING:
    import httpx2 as httpx  # what the test client returns

HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
JSON = {"Accept": "application/json"}
JSON_POST = {"Accept": "application/json", "Content-Type": "application/json"}
HTMX = {"HX-Request": "true"}
SECRET = "board-web-tests-secret-0123456789"
STATES = ("waiting", "active", "delayed", "prioritized", "completed", "failed")

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def basic(name: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()}


def csrf_of(page: str) -> str:
    """The CSRF token of the first form on a page."""
    match = _CSRF.search(page)
    assert match, "no csrf_token field on the page"
    return match.group(1)


def job_ids_in(page: str, queue: str) -> list[str]:
    """The job ids linked from a job table, in page order."""
    return re.findall(rf'<td class="mono"><a href="[^"]*/queues/{re.escape(queue)}/jobs/([^"]+)">', page)


# Workers ------------------------------------------------------------------------------------------------------


async def scripted(job: Job, release: threading.Event | None = None) -> Any:
    """A processor driven by the job's data: logs, progress, hold (until released), fail, result."""
    data = job.data if isinstance(job.data, dict) else {}
    for line in data.get("logs", []):
        await job.log(line)
    if "progress" in data:
        await job.update_progress(data["progress"])
    if data.get("hold"):
        assert release is not None
        while not release.is_set():
            await asyncio.sleep(0.01)
    # Finish times then differ by at least a millisecond, so "newest first" has one answer.
    await asyncio.sleep(0.003)
    if data.get("fail"):
        raise RuntimeError(f"{data['fail']} #{job.attempts_made + 1}")
    return data.get("result", {"ok": True})


class ThreadWorker:
    """A board.Worker with its own event loop in a thread, so that sync tests can keep using TestClient."""

    def __init__(self, url: str, queue: str, **options: Any) -> None:
        self.url = url
        self.queue = queue
        self.options = options
        self.release = threading.Event()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.worker: Worker | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name=f"worker-{queue}", daemon=True)

    def _run(self) -> None:
        loop = self.loop = asyncio.new_event_loop()
        try:

            async def process(job: Job) -> Any:
                return await scripted(job, self.release)

            self.worker = Worker(self.queue, process, self.url, **self.options)
            self._ready.set()
            loop.run_until_complete(self.worker.run())
        except BaseException as exc:
            self._error = exc
            self._ready.set()
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def __enter__(self) -> ThreadWorker:
        self._thread.start()
        assert self._ready.wait(10), "the worker did not start"
        if self._error is not None:
            raise self._error
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        assert self.loop is not None and self.worker is not None
        asyncio.run_coroutine_threadsafe(self.worker.close(timeout=5), self.loop).result(20)
        self._thread.join(20)
        assert not self._thread.is_alive(), "the worker thread did not stop"
        if self._error is not None:
            raise self._error


def counts_of(sq: SyncQueue) -> dict[str, int]:
    return sq.get_job_counts(*STATES)


def in_wait(raw: redis.Redis, queue: str) -> list[str]:
    """The ids waiting in ``queue``, next to run last."""
    return [str(job_id) for job_id in raw.lrange(f"bull:{queue}:wait", 0, -1)]


def flow(redis_url: str, parent_queue: str, child_queue: str, children: int) -> tuple[str, list[str]]:
    """A parent (``p7``) in one queue waiting for ``children`` jobs (``c0``, ``c1``...) in another."""
    from board import SyncFlowProducer

    with SyncFlowProducer(redis_url) as flows:
        tree = flows.add(
            {
                "name": "parent",
                "queue_name": parent_queue,
                "job_id": "p7",
                "children": [{"name": f"c{i}", "queue_name": child_queue, "job_id": f"c{i}"} for i in range(children)],
            }
        )
    return tree.job.id, [child.job.id for child in tree.children]


def dead_letter(redis_url: str, origin: SyncQueue, dead: SyncQueue) -> str:
    """The id, in ``dead``, of the dead letter of job ``p1`` that failed for good in ``origin``."""
    origin.add("pay", {"fail": "bank down"}, job_id="p1")
    with ThreadWorker(redis_url, origin.name, dead_letter_queue=dead.name):
        wait_for(lambda: dead.get_job_counts("failed")["failed"] == 1, what="the dead letter")
    (letter,) = dead.get_jobs(["failed"])
    return str(letter.id)


def process_all(url: str, sq: SyncQueue, *, completed: int = 0, failed: int = 0, **options: Any) -> None:
    """Runs a worker until the queue holds that many completed and failed jobs."""
    with ThreadWorker(url, sq.name, **options):
        wait_for(
            lambda: (c := counts_of(sq))["completed"] >= completed and c["failed"] >= failed and c,
            what=f"{completed} completed and {failed} failed",
        )


# Fixtures -----------------------------------------------------------------------------------------------------

ClientFactory = Callable[..., TestClient]


@pytest.fixture
def make_client(redis_url: str) -> Iterator[ClientFactory]:
    """``make_client(queues, wrap=None, client={...}, **create_board_options)``: an entered TestClient.

    ``wrap(board_app)`` builds the app served (a parent app mounting the board, say); ``client`` holds
    TestClient arguments (``root_path``, ``follow_redirects``, ...).
    """
    opened: list[tuple[TestClient, Starlette]] = []

    def make(
        queues: list[str] | None = None,
        *,
        wrap: Callable[[Starlette], Any] | None = None,
        client: dict[str, Any] | None = None,
        **options: Any,
    ) -> TestClient:
        options.setdefault("secret_key", SECRET)
        if queues is not None:
            options["queues"] = queues
        board_app = create_board(redis_url, **options)
        served = wrap(board_app) if wrap is not None else board_app
        test_client = TestClient(served, **(client or {}))
        test_client.__enter__()
        opened.append((test_client, board_app))
        return test_client

    yield make
    for test_client, board_app in reversed(opened):
        try:
            assert test_client.portal is not None
            test_client.portal.call(board_app.state.board.adapter.close)
        finally:
            test_client.__exit__(None, None, None)


@pytest.fixture
def sq(redis_url: str, qname: str) -> Iterator[SyncQueue]:
    with SyncQueue(qname, redis_url) as q:
        yield q


@pytest.fixture
def sync_queues(redis_url: str) -> Iterator[Callable[[str], SyncQueue]]:
    """More queues by name, closed at teardown."""
    made: list[SyncQueue] = []

    def make(name: str) -> SyncQueue:
        q = SyncQueue(name, redis_url)
        made.append(q)
        return q

    yield make
    for q in made:
        q.close()


@pytest.fixture
def raw_bytes(redis_url: str) -> Iterator[redis.Redis]:
    """A client that does not decode, to write and read binary fields."""
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))


def tags_of(page: str) -> list[tuple[str, dict[str, str]]]:
    """Every start tag of a page with its attributes, as a browser's parser would read them."""
    parser = _Tags()
    parser.feed(page)
    parser.close()
    return parser.tags


def urls_of(page: str) -> list[str]:
    """Every URL a page links to, posts to or loads (href, action, src, hx-get); not those relative to the
    page itself ("?page=2", "#top")."""
    return [
        attrs[name]
        for _, attrs in tags_of(page)
        for name in ("href", "action", "src", "hx-get")
        if name in attrs and not attrs[name].startswith(("javascript:", "#", "?"))
    ]


def flash_of(page: str) -> str | None:
    match = re.search(r'<div class="flash flash-ok" role="status">(.*?)</div>', page, re.S)
    return html.unescape(match.group(1)) if match else None


# Redis --------------------------------------------------------------------------------------------------------


def keys_of(raw: redis.Redis, queue: str) -> dict[str, Any]:
    """Every key of a queue with its content, to show that nothing changed."""
    out: dict[str, Any] = {}
    for key in sorted(str(k) for k in raw.keys(f"bull:{queue}:*")):
        kind = raw.type(key)
        if kind == "hash":
            out[key] = raw.hgetall(key)
        elif kind == "list":
            out[key] = raw.lrange(key, 0, -1)
        elif kind == "zset":
            out[key] = raw.zrange(key, 0, -1, withscores=True)
        elif kind == "string":
            out[key] = raw.get(key)
        else:
            out[key] = kind
    return out


# Users with each role, as BasicAuth takes them ----------------------------------------------------------------


USERS: dict[str, Any] = {
    "viewer": ("viewer-pw", "viewer"),
    "operator": ("operator-pw", "operator"),
    "admin": ("admin-pw", "admin"),
    "emailer": ("emailer-pw", "admin", ["email"]),
}
AS = {name: basic(name, entry[0]) for name, entry in USERS.items()}


# Posting actions as a browser's form or a script's JSON -------------------------------------------------------

MODES = ["form", "json"]


def token(client: TestClient, queue: str) -> str:
    return csrf_of(client.get(f"/queues/{queue}/add").text)


def _form_value(value: Any) -> str:
    if value is True:
        return "1"
    return value if isinstance(value, str) else json.dumps(value)


def act(client: TestClient, mode: str, url: str, queue: str, fields: dict[str, Any] | None = None) -> str:
    """Posts an action and returns the message it answered with, after checking the answer's shape."""
    fields = fields or {}
    if mode == "form":
        form = {"csrf_token": token(client, queue), **{k: _form_value(v) for k, v in fields.items()}}
        response = client.post(url, data=form, follow_redirects=False)
        assert response.status_code == 303, (response.status_code, response.text[-2000:])
        location = response.headers["location"]
        assert location.startswith("/")
        page = client.get(location)
        assert page.status_code == 200
        message = flash_of(page.text)
        assert message, "no flash message after the redirect"
        assert flash_of(client.get(location).text) is None, "the flash message is shown only once"
        return message
    response = client.post(url, json=fields, headers=JSON)
    assert response.status_code == 200, (response.status_code, response.text)
    body = response.json()
    assert body["ok"] is True and isinstance(body["message"], str)
    return str(body["message"])


def refused(client: TestClient, mode: str, url: str, queue: str, fields: dict[str, Any] | None = None) -> Any:
    """Posts an action that must be refused; returns the response."""
    fields = fields or {}
    if mode == "form":
        form = {"csrf_token": token(client, queue), **{k: _form_value(v) for k, v in fields.items()}}
        return client.post(url, data=form, follow_redirects=False)
    return client.post(url, json=fields, headers=JSON)


def post_forms(page: str) -> list[str]:
    """The actions of the POST forms on a page."""
    return [attrs.get("action", "") for tag, attrs in tags_of(page) if tag == "form" and attrs.get("method") == "post"]


# Auth backends on their own: a board whose pages say who is asking --------------------------------------------


ClientFor = Callable[..., TestClient]
UserList = dict[str, tuple[str, str]]


def make_app(redis_url: str, backend: AuthBackend, mount: str = "") -> Starlette:
    """The board with this backend, plus a page that says who the board thinks is asking."""
    board_app = create_board(redis_url, queues=["email"], auth=backend, secret_key=SECRET)
    board: Board = board_app.state.board

    async def whoami(request: Request) -> Response:
        user = await board.identify(request)
        if not isinstance(user, User):
            return user
        return JSONResponse({"name": user.name, "role": user.role})

    board_app.router.routes[0:0] = [Route("/", whoami), Route("/queues/{name}", whoami, methods=["GET", "POST"])]
    return Starlette(routes=[Mount(mount, app=board_app)]) if mount else board_app


@pytest.fixture
def client_for(redis_url: str) -> Iterator[ClientFor]:
    clients: list[TestClient] = []

    def make(backend: AuthBackend, mount: str = "", **kwargs: Any) -> TestClient:
        client = TestClient(make_app(redis_url, backend, mount), follow_redirects=False, **kwargs)
        client.__enter__()
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.__exit__(None, None, None)


def token_for(client: TestClient, mount: str = "/board") -> str:
    """The CSRF token a browser would find on the login page (its cookie is kept by the client)."""
    return csrf_of(client.get(f"{mount}/login").text)


def login(
    client: TestClient, name: str, password: str, next_path: str | None = None, mount: str = "/board"
) -> httpx.Response:
    data = {"username": name, "password": password, "csrf_token": token_for(client, mount)}
    if next_path is not None:
        data["next"] = next_path
    return client.post(f"{mount}/login", data=data)


def logout(client: TestClient, mount: str = "/board") -> httpx.Response:
    return client.post(f"{mount}/logout", data={"csrf_token": token_for(client, mount)})


def cookie_attributes(response: httpx.Response) -> dict[str, str]:
    (header,) = response.headers.get_list("set-cookie")
    value, *attributes = (part.strip() for part in header.split(";"))
    parsed = {"value": value.partition("=")[2]}
    for attribute in attributes:
        key, _, val = attribute.partition("=")
        parsed[key.lower()] = val
    return parsed


@pytest.fixture
def users() -> UserList:
    return {"ada": ("pw-ada", "admin"), "bob": ("pw-bob", "viewer")}
