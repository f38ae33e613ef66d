"""CSRF protection of form posts (board/web/csrf.py): a form post must carry this browser's own token, from a
page of the board, matching its signed SameSite=Strict cookie; a JSON post needs none."""

from __future__ import annotations

import html

import pytest
import redis
from starlette.applications import Starlette
from starlette.routing import Mount

from board import SyncQueue

from .conftest import JSON, ClientFactory, cookie_attributes, csrf_of, keys_of


def test_csrf(make_client: ClientFactory, sq: SyncQueue, qname: str, raw: redis.Redis) -> None:
    job = sq.add("j", {})
    client = make_client([qname], client={"follow_redirects": False})
    page = client.get(f"/queues/{qname}/jobs/{job.id}")
    token = csrf_of(page.text)
    assert "board_csrf" in client.cookies
    url = f"/queues/{qname}/pause"
    before = keys_of(raw, qname)

    # Another browser's valid token does not fit this browser's cookie.
    other = make_client([qname])
    other_token = csrf_of(other.get(f"/queues/{qname}/jobs/{job.id}").text)
    assert other_token != token

    for data in (
        {},
        {"csrf_token": ""},
        {"csrf_token": "forged"},
        {"csrf_token": token + "x"},
        {"csrf_token": other_token},
    ):
        response = client.post(url, data=data)
        assert response.status_code == 403, data
        assert "The form expired or came from elsewhere" in html.unescape(response.text)
    multipart = client.post(url, files={"csrf_token": (None, "forged")})
    assert multipart.status_code == 403
    # The right token, but no cookie (a cross-site post carries none: SameSite=Strict).
    client.cookies.clear()
    assert client.post(url, data={"csrf_token": token}).status_code == 403
    # A tampered cookie.
    client.cookies.set("board_csrf", "tampered.value")
    assert client.post(url, data={"csrf_token": token}).status_code == 403
    assert client.post(url, data={"csrf_token": "tampered.value"}).status_code == 403
    assert keys_of(raw, qname) == before

    # JSON needs no token (a cross-site page cannot send it without a preflight); the right token works.
    assert client.post(url, json={}, headers=JSON).json()["ok"] is True
    fresh = make_client([qname], client={"follow_redirects": False})
    fresh_token = csrf_of(fresh.get(f"/queues/{qname}/jobs/{job.id}").text)
    resumed = fresh.post(f"/queues/{qname}/resume", data={"csrf_token": fresh_token})
    assert resumed.status_code == 303
    header = fresh.post(f"/queues/{qname}/pause", headers={"X-CSRF-Token": fresh_token})
    assert header.status_code == 303
    assert raw.hget(f"bull:{qname}:meta", "paused") == "1"


@pytest.mark.parametrize(("mount", "scheme"), [("", "http"), ("/admin/queues", "https")])
def test_the_cookie_is_signed_strict_and_scoped_to_the_board(
    make_client: ClientFactory, qname: str, mount: str, scheme: str
) -> None:
    def wrap(board: Starlette) -> Starlette:
        return Starlette(routes=[Mount(mount, app=board)]) if mount else board

    client = make_client([qname], wrap=wrap, client={"base_url": f"{scheme}://testserver"})
    first = client.get(f"{mount}/queues/{qname}")
    token = csrf_of(first.text)
    cookie = cookie_attributes(first)
    # The cookie holds the page's token and its signature: a token alone, or a made-up one, is no cookie.
    assert cookie["value"].startswith(token + ".") and len(cookie["value"]) > len(token) + 1
    assert cookie["samesite"] == "strict" and "httponly" in cookie
    assert cookie["path"] == (mount or "/")
    assert ("secure" in cookie) is (scheme == "https")
    # Later pages of the same browser carry the same token and set no new cookie.
    again = client.get(f"{mount}/queues/{qname}")
    assert csrf_of(again.text) == token and "set-cookie" not in again.headers
