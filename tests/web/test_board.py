"""``Board`` (board/web/board.py), what every handler shares: the board's own URLs (right when it is mounted in
a parent app, behind a root path, beside a parent's routes of the same names, and for ids that hold URL
syntax), the status each adapter refusal is answered with, and flash messages, signed, shown once."""

from __future__ import annotations

import html
import json
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
import redis
from itsdangerous import URLSafeTimedSerializer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from board import SyncQueue, create_board
from board.adapters import AdapterError, Conflict, Invalid, NotFound, TooLarge, Unavailable
from board.web.board import STATUS_OF

from .conftest import JSON, SECRET, ClientFactory, csrf_of, flash_of, urls_of

# The board's own URLs -----------------------------------------------------------------------------------------


def home(request: Request) -> Response:
    return PlainTextResponse("the parent app")


def _board_urls(client: Any, prefix: str, qname: str, job_id: str) -> list[str]:
    urls: list[str] = []
    for path in ("/", f"/queues/{qname}", f"/queues/{qname}?state=delayed", f"/queues/{qname}/jobs/{job_id}"):
        page = client.get(prefix + path)
        assert page.status_code == 200, path
        urls += urls_of(page.text)
    return urls


def test_mounted_in_a_parent_app(make_client: ClientFactory, sq: SyncQueue, qname: str, raw: redis.Redis) -> None:
    job = sq.add("later", {}, delay=3600)

    def parent(board: Starlette) -> Starlette:
        return Starlette(routes=[Route("/", home), Mount("/admin/queues", app=board)])

    client = make_client([qname], wrap=parent)
    assert client.get("/").text == "the parent app"
    urls = _board_urls(client, "/admin/queues", qname, job.id)
    assert urls and all(u.startswith("/admin/queues/") for u in urls), [
        u for u in urls if not u.startswith("/admin/queues/")
    ]
    assert f"/admin/queues/queues/{qname}/jobs/{job.id}/promote" in urls
    assert "/admin/queues/static/board.css" in urls
    assert client.get("/admin/queues/static/board.css").status_code == 200

    # A form post inside the mount: redirected back inside it, with the message.
    page = client.get(f"/admin/queues/queues/{qname}/jobs/{job.id}")
    done = client.post(
        f"/admin/queues/queues/{qname}/jobs/{job.id}/promote",
        data={"csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert done.headers["location"] == f"/admin/queues/queues/{qname}/jobs/{job.id}"
    assert flash_of(client.get(done.headers["location"]).text) == f"Job {job.id} promoted: it runs now."
    assert raw.lrange(f"bull:{qname}:wait", 0, -1) == [job.id]
    found = client.get("/admin/queues/find", params={"id": job.id}, follow_redirects=False)
    assert found.headers["location"] == f"/admin/queues/queues/{qname}/jobs/{job.id}"


def test_mounted_next_to_parent_routes_of_the_same_names(make_client: ClientFactory, sq: SyncQueue, qname: str) -> None:
    """A parent app with its own "static" mount and "overview" route (a common sight): the board's links
    must still point at the board's own pages and files."""
    job = sq.add("j", {})
    assets = Path(tempfile.mkdtemp())
    (assets / "board.css").write_text("/* the parent's own stylesheet */")

    def parent(board: Starlette) -> Starlette:
        return Starlette(
            routes=[
                Route("/", home, name="overview"),
                Mount("/static", app=StaticFiles(directory=str(assets)), name="static"),
                Mount("/admin/queues", app=board),
            ]
        )

    client = make_client([qname], wrap=parent)
    urls = _board_urls(client, "/admin/queues", qname, job.id)
    outside = sorted({u for u in urls if not u.startswith("/admin/queues/")})
    assert outside == [], f"links that leave the board: {outside}"


def test_behind_a_root_path(make_client: ClientFactory, sq: SyncQueue, qname: str, raw: redis.Redis) -> None:
    job = sq.add("later", {}, delay=3600)
    client = make_client([qname], client={"root_path": "/proxy"})
    urls = _board_urls(client, "/proxy", qname, job.id)
    assert urls and all(u.startswith("/proxy/") for u in urls), [u for u in urls if not u.startswith("/proxy/")]
    assert client.get("/proxy/static/board.css").status_code == 200

    page = client.get(f"/proxy/queues/{qname}/jobs/{job.id}")
    done = client.post(
        f"/proxy/queues/{qname}/jobs/{job.id}/promote",
        data={"csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert done.headers["location"] == f"/proxy/queues/{qname}/jobs/{job.id}"
    assert flash_of(client.get(done.headers["location"]).text) == f"Job {job.id} promoted: it runs now."
    assert raw.zcard(f"bull:{qname}:delayed") == 0
    found = client.get("/proxy/find", params={"id": job.id}, follow_redirects=False)
    assert found.headers["location"] == f"/proxy/queues/{qname}/jobs/{job.id}"


# Not "x%41": Starlette's TestClient unquotes a path that httpx has already unquoted, so a '%' in an
# id cannot travel through it (a real server decodes once; the browser tests cover real requests).
@pytest.mark.parametrize("job_id", ["order/42", "what?now", "tag#1", "with space"])
def test_custom_job_ids_are_linked_right(make_client: ClientFactory, sq: SyncQueue, qname: str, job_id: str) -> None:
    """Custom ids may hold characters that are special in a URL; the links to them must still work."""
    sq.add("custom", {"id": job_id}, job_id=job_id)
    client = make_client([qname], client={"raise_server_exceptions": False})
    page = client.get(f"/queues/{qname}")
    assert page.status_code == 200
    link = re.search(rf'<a href="([^"]+)">{re.escape(html.escape(job_id))}</a>', page.text)
    assert link, "no link to the job"
    href = html.unescape(link.group(1))
    job = client.get(href, headers=JSON)
    assert job.status_code == 200, href
    assert job.json()["id"] == job_id
    found = client.get("/find", params={"id": job_id}, headers=JSON)
    assert found.json()["queues"] == [qname]
    redirect = client.get("/find", params={"id": job_id}, follow_redirects=False)
    assert client.get(redirect.headers["location"], headers=JSON).json()["id"] == job_id


# Refusals -----------------------------------------------------------------------------------------------------


class Unforeseen(AdapterError):
    """A refusal of a kind the board has no status for."""


class Gone(NotFound):
    """A more particular refusal of a kind the board knows."""


REFUSALS: list[tuple[AdapterError, int]] = [
    (NotFound("There is no job '7' in queue 'email'."), 404),
    (Conflict("Job 7 is active: it cannot be removed."), 409),
    (Invalid("priority: must be between 0 and 2,097,152", field="priority"), 400),
    (TooLarge("The data is more than 1 MB."), 413),
    (Unavailable("Redis is unavailable right now; try again shortly."), 503),
    (Gone("Job 7 was removed meanwhile."), 404),
    (Unforeseen("Something no status fits."), 500),
    (AdapterError("A refusal of no particular kind."), 500),
]


def test_every_mapped_refusal_is_checked() -> None:
    assert set(STATUS_OF) <= {type(error) for error, _ in REFUSALS}


@pytest.mark.parametrize(("error", "status"), REFUSALS, ids=[type(e).__name__ for e, _ in REFUSALS])
def test_a_refusal_is_answered_with_the_status_of_its_class(redis_url: str, error: AdapterError, status: int) -> None:
    board = create_board(redis_url, queues=["q"], secret_key=SECRET).state.board
    headers = [(b"accept", b"application/json")]
    request = Request({"type": "http", "method": "POST", "path": "/", "headers": headers, "query_string": b""})
    response = board.refused(request, error)
    assert response.status_code == status
    assert json.loads(bytes(response.body)) == {"error": str(error)}


# Flash messages -----------------------------------------------------------------------------------------------


def test_a_flash_message_must_be_the_boards_own(make_client: ClientFactory, qname: str) -> None:
    client = make_client([qname])
    forged = URLSafeTimedSerializer("not-the-boards-key-0123456789", salt="board-flash").dumps(["ok", "Forged!"])
    client.cookies.set("board_flash", forged)
    page = client.get(f"/queues/{qname}")
    assert page.status_code == 200 and flash_of(page.text) is None and "Forged!" not in page.text
    (cleared,) = [c for c in page.headers.get_list("set-cookie") if c.startswith("board_flash=")]
    assert "max-age=0" in cleared.lower()  # the browser drops it

    genuine = URLSafeTimedSerializer(SECRET, salt="board-flash").dumps(["ok", "Queue paused."])
    client.cookies.set("board_flash", genuine)
    assert flash_of(client.get(f"/queues/{qname}").text) == "Queue paused."
