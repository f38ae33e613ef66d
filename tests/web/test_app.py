"""``create_board`` (board/web/app.py): the options it checks and passes on, the warning it gives without auth,
the session store it hands a login form, and the key it signs with: one for every process of a deployment
(two boards behind one address, over real HTTP)."""

from __future__ import annotations

import itertools
import logging
import re
import socket
from typing import Any

import httpx2 as httpx
import pytest
import redis
from starlette.types import Receive, Scope, Send

from board import BasicAuth, FormLogin, SyncQueue, create_board
from board.adapters import BullMQAdapter
from board.web.sessions import MemorySessionStore
from tests.browser.conftest import LiveServer

from .conftest import HTML, SECRET, USERS, ClientFactory, csrf_of


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"poll_interval": -1}, "poll_interval: must be >= 0"),
        ({"group_delimiter": ""}, "group_delimiter: expected a non-empty string or None"),
        ({"group_delimiter": 5}, "group_delimiter: expected a non-empty string or None"),
        ({"secret_key": "fifteen-chars.."}, "too short"),
    ],
)
def test_options_are_checked(redis_url: str, options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        create_board(redis_url, queues=["q"], **options)


def test_the_title_and_the_poll_interval_reach_the_pages(make_client: ClientFactory, qname: str) -> None:
    page = make_client([qname], title="Ops queues", poll_interval=2.5).get(f"/queues/{qname}").text
    assert '<a class="brand" href="/">Ops queues</a>' in page
    assert 'hx-trigger="every 2.5s"' in page
    quiet = make_client([qname], poll_interval=0).get(f"/queues/{qname}").text
    assert 'hx-trigger="every' not in quiet  # 0 turns polling off


def test_a_board_without_auth_warns_when_it_is_built(redis_url: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="board.web"):
        create_board(redis_url, queues=["q"], secret_key=SECRET, auth=BasicAuth(USERS))
    assert not [r for r in caplog.records if "no auth configured" in r.getMessage()]
    with caplog.at_level(logging.WARNING, logger="board.web"):
        create_board(redis_url, queues=["q"], secret_key=SECRET)
    assert [r for r in caplog.records if "no auth configured" in r.getMessage()]


def test_a_login_form_is_given_the_boards_shared_session_store(redis_url: str) -> None:
    backend = FormLogin(USERS, SECRET)
    assert isinstance(backend.sessions.store, MemorySessionStore)  # good for one process only
    create_board(redis_url, queues=["q"], auth=backend)
    assert not isinstance(backend.sessions.store, MemorySessionStore)
    own = MemorySessionStore()
    given = FormLogin(USERS, SECRET, session_store=own)
    create_board(redis_url, queues=["q"], auth=given)
    assert given.sessions.store is own  # a store the application chose is kept


# One signing key for every process ----------------------------------------------------------------------------


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


def test_without_a_key_the_processes_share_one_kept_in_redis(
    redis_url: str, sq: SyncQueue, qname: str, raw: redis.Redis, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    monkeypatch.delenv("BOARD_SECRET_KEY", raising=False)
    with caplog.at_level(logging.WARNING, logger="board.web"):
        server, first, second = _serve_two(redis_url, qname)
    assert not any("no secret key given" in r.getMessage() for r in caplog.records)
    kept = str(raw.get("board:bull:secret"))
    assert len(kept) >= 32
    assert first.state.board.csrf.signer.secret_keys == second.state.board.csrf.signer.secret_keys == [kept.encode()]
    try:
        response = _pause_through(server, qname)
        assert response.status_code == 303, response.text
        assert raw.hexists(f"bull:{qname}:meta", "paused")
    finally:
        server.stop()


def test_random_keys_warn_and_do_not_agree(
    redis_url: str, sq: SyncQueue, qname: str, raw: redis.Redis, monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    # An adapter of the application's own: the board knows of no Redis to keep a key in.
    monkeypatch.delenv("BOARD_SECRET_KEY", raising=False)
    with caplog.at_level(logging.WARNING, logger="board.web"):
        first, second = (create_board(adapter=BullMQAdapter(redis_url, queues=[qname])) for _ in range(2))
    server = LiveServer(RoundRobin(first, second), [first.state.board.adapter.close, second.state.board.adapter.close])
    server.start()
    assert any("no secret key given" in r.getMessage() for r in caplog.records)
    assert raw.get("board:bull:secret") is None
    try:
        response = _pause_through(server, qname)
        assert response.status_code == 403 and "came from elsewhere" in response.text
        assert not raw.hexists(f"bull:{qname}:meta", "paused")
    finally:
        server.stop()


def test_a_board_built_while_redis_is_down_warns_and_signs_with_its_own_key(
    monkeypatch: pytest.MonkeyPatch, caplog: Any
) -> None:
    monkeypatch.delenv("BOARD_SECRET_KEY", raising=False)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"redis://127.0.0.1:{sock.getsockname()[1]}"  # nothing listens there
    with caplog.at_level(logging.WARNING, logger="board.web"):
        app = create_board(closed, queues=["q"])
    (warning,) = [r.getMessage() for r in caplog.records if "no secret key given" in r.getMessage()]
    assert "could not be read from Redis" in warning
    assert len(app.state.board.csrf.signer.secret_keys[-1]) >= 32


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
