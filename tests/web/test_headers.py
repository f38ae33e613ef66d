"""Security headers on every response, no inline script or style in any page, and one signing key for
every process of a deployment (two boards behind one address, over real HTTP)."""

from __future__ import annotations

import itertools
import logging
import re
from typing import Any

import httpx2 as httpx
import pytest
import redis
from starlette.types import Receive, Scope, Send

from board import BasicAuth, SyncQueue, create_board
from tests.browser.conftest import LiveServer

from .conftest import HTML, HTMX, JSON, ClientFactory, basic, csrf_of, tags_of

USERS: dict[str, Any] = {"ada": ("pw-ada", "admin")}
ADA = basic("ada", "pw-ada")


def check_headers(response: httpx.Response, where: str, *, cached: bool = False) -> None:
    headers = response.headers
    policy = headers["content-security-policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["script-src"] == "'self'", where  # no 'unsafe-inline', no 'unsafe-eval'
    assert directives["style-src"] == "'self'", where
    assert directives["frame-ancestors"] == "'none'", where
    assert directives["default-src"] == "'none'", where
    assert headers["x-frame-options"] == "DENY", where
    assert headers["x-content-type-options"] == "nosniff", where
    assert headers["referrer-policy"] == "same-origin", where
    vary = {v.strip().lower() for v in headers["vary"].split(",")}
    assert {"accept", "hx-request"} <= vary, where
    if cached:
        assert headers["cache-control"] == "private, max-age=3600", where
    else:
        assert headers["cache-control"] == "no-store", where


def test_every_response_carries_the_security_headers(make_client: ClientFactory, sq: SyncQueue, qname: str) -> None:
    job = sq.add("j", {"a": 1})
    client = make_client([qname], auth=BasicAuth(USERS), client={"follow_redirects": False})
    answers = {
        "overview": client.get("/", headers=ADA),
        "overview json": client.get("/", headers={**ADA, **JSON}),
        "fragment": client.get(f"/queues/{qname}", headers={**ADA, **HTMX}),
        "job": client.get(f"/queues/{qname}/jobs/{job.id}", headers=ADA),
        "raw": client.get(f"/queues/{qname}/jobs/{job.id}/raw/data", headers=ADA),
        "missing queue": client.get("/queues/nosuch", headers=ADA),
        "no route": client.get("/no/such/page", headers=ADA),
        "challenge": client.get("/", headers=HTML),
        "challenge json": client.get("/", headers=JSON),
        "static without auth": client.get("/static/board.css"),
        "bad form": client.post(f"/queues/{qname}/pause", data={}, headers=ADA),
    }
    for where, response in answers.items():
        check_headers(response, where)
    assert answers["missing queue"].status_code == 404 and answers["challenge"].status_code == 401
    check_headers(client.get("/static/board.css", headers=ADA), "static", cached=True)


def test_framing_by_named_origins(make_client: ClientFactory, qname: str) -> None:
    client = make_client([qname], frame_ancestors=["https://intranet.example.com", "'self'"])
    response = client.get("/")
    assert "frame-ancestors https://intranet.example.com 'self'" in response.headers["content-security-policy"]
    # X-Frame-Options cannot name origins: with origins given, the CSP alone decides.
    assert "x-frame-options" not in response.headers
    for bad in (["intranet.example.com"], ["https://x.example/path"], ["*"], ["https://a.example; script-src *"]):
        with pytest.raises(ValueError, match="frame_ancestors"):
            create_board("redis://127.0.0.1:1", queues=["q"], frame_ancestors=bad)


def _inline_code(page: str) -> list[str]:
    """Everything in a page that a CSP without 'unsafe-inline' would block."""
    found = []
    for tag, attrs in tags_of(page):
        if tag == "script" and "src" not in attrs:
            found.append("inline <script>")
        if tag == "style":
            found.append("<style> element")
        for name, value in attrs.items():
            if name == "style":
                found.append(f"style attribute on <{tag}>")
            if name.startswith("on"):
                found.append(f"{name} handler on <{tag}>")
            if name in ("href", "action", "src") and value.strip().lower().startswith("javascript:"):
                found.append(f"javascript: URL in <{tag} {name}>")
    return found


def test_pages_hold_no_inline_script_or_style(
    make_client: ClientFactory, redis_url: str, sq: SyncQueue, qname: str, raw: redis.Redis
) -> None:
    from .conftest import process_all

    failed = sq.add("bad", {"fail": "boom", "progress": 40})
    process_all(redis_url, sq, failed=1)
    waiting = sq.add("now", {"a": 1})
    client = make_client([qname])
    pages = [
        "/",
        f"/queues/{qname}",
        f"/queues/{qname}?state=failed",
        f"/queues/{qname}/jobs/{failed.id}",
        f"/queues/{qname}/jobs/{waiting.id}/edit",
        f"/queues/{qname}/add",
        "/redis",
        "/find?id=nothing",
    ]
    for url in pages:
        response = client.get(url, headers=HTML)
        assert response.status_code in (200, 404), url
        assert _inline_code(response.text) == [], url
    # The no-JavaScript confirmation page too (its Cancel was a javascript: link once).
    token = csrf_of(client.get(f"/queues/{qname}").text)
    confirm = client.post(f"/queues/{qname}/jobs/{waiting.id}/remove", data={"csrf_token": token})
    assert "Please confirm" in confirm.text and _inline_code(confirm.text) == []


class RoundRobin:
    """Two apps behind one address, taking requests in turn, as a load balancer would."""

    def __init__(self, *apps: Any) -> None:
        self._next = itertools.cycle(apps)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await next(self._next)(scope, receive, send)


def _serve_two(redis_url: str, qname: str, **options: Any) -> tuple[LiveServer, Any, Any]:
    first = create_board(redis_url, queues=[qname], **options)
    second = create_board(redis_url, queues=[qname], **options)
    server = LiveServer(RoundRobin(first, second), [first.state.board.adapter.close, second.state.board.adapter.close])
    return server.start(), first, second


def _pause_through(server: LiveServer, qname: str) -> httpx.Response:
    with httpx.Client(base_url=server.url, follow_redirects=False) as http:
        page = http.get(f"/queues/{qname}", headers=HTML)  # served by one process
        assert page.status_code == 200
        # ... and the form posted to the other.
        return http.post(f"/queues/{qname}/pause", data={"csrf_token": csrf_of(page.text)}, headers=HTML)


def test_one_key_for_every_process(
    redis_url: str, sq: SyncQueue, qname: str, raw: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BOARD_SECRET_KEY", "deployment-wide-key-0123456789")
    server, _, _ = _serve_two(redis_url, qname)
    try:
        response = _pause_through(server, qname)
        assert response.status_code == 303, response.text
        assert raw.hexists(f"bull:{qname}:meta", "paused")
    finally:
        server.stop()


def test_random_keys_warn_and_do_not_agree(
    redis_url: str, sq: SyncQueue, qname: str, raw: redis.Redis, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    monkeypatch.delenv("BOARD_SECRET_KEY", raising=False)
    with caplog.at_level(logging.WARNING, logger="board.web"):
        server, _, _ = _serve_two(redis_url, qname)
    assert any("no secret key given" in r.getMessage() for r in caplog.records)
    try:
        response = _pause_through(server, qname)
        assert response.status_code == 403 and "came from elsewhere" in response.text
        assert not raw.hexists(f"bull:{qname}:meta", "paused")
    finally:
        server.stop()


def test_secret_key_sources(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from board import FormLogin

    monkeypatch.setenv("BOARD_SECRET_KEY", "from-the-environment-0123")
    backend = FormLogin({"ada": ("pw", "admin")}, "from-the-backend-0123456")

    def key_of(app: Any) -> str:
        return str(app.state.board.csrf.signer.secret_keys[-1].decode())

    assert key_of(create_board(redis_url, queues=["q"], auth=backend)) == "from-the-backend-0123456"
    given = create_board(redis_url, queues=["q"], auth=backend, secret_key="given-to-create-board-01")
    assert key_of(given) == "given-to-create-board-01"
    assert key_of(create_board(redis_url, queues=["q"])) == "from-the-environment-0123"
    with pytest.raises(ValueError, match="too short"):
        create_board(redis_url, queues=["q"], secret_key="short")
    assert re.fullmatch(r"[\w-]+", key_of(create_board(redis_url, queues=["q"])))


def _broken_formatter(value: Any, user: Any) -> Any:
    raise RuntimeError("formatter exploded with secret s3cr3t")


def test_an_unexpected_error_keeps_the_headers_and_says_nothing_inside(
    make_client: ClientFactory, sq: SyncQueue, qname: str
) -> None:
    sq.add("j", {})
    client = make_client([qname], formatters={"name": _broken_formatter}, client={"raise_server_exceptions": False})
    for headers in (HTML, JSON):
        response = client.get(f"/queues/{qname}", headers=headers)
        assert response.status_code == 500
        check_headers(response, f"500 {headers}")
        assert "Something went wrong on the board" in response.text
        assert "s3cr3t" not in response.text and "Traceback" not in response.text
