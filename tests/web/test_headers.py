"""Security headers (board/web/headers.py) on every response, pages, fragments, JSON, errors (a 500 too) and
static files alike; framing only by the origins named; and no inline script or style in any page, since
the Content-Security-Policy allows none."""

from __future__ import annotations

from typing import Any

import httpx2 as httpx
import pytest
import redis

from board import BasicAuth, SyncQueue, create_board

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
