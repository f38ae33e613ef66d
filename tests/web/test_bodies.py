"""Request bodies read with a bound (board/web/bodies.py): ``read_bounded`` on its own, then the bounds the board
puts on an action's body (16 MB, in guard.py) and on the login form's (16 KB, in auth.py)."""

from __future__ import annotations

import json

import pytest
import redis
from starlette.requests import Request
from starlette.types import Message

from board import SyncQueue
from board.web.auth import FormLogin
from board.web.bodies import BodyTooLarge, read_bounded

from .conftest import JSON_POST, SECRET, ClientFactory, ClientFor, UserList, keys_of, token_for


class Upload:
    """A request whose body arrives in ``chunks``; ``asked`` counts the chunks the app took."""

    def __init__(self, chunks: list[bytes], headers: dict[str, str] | None = None) -> None:
        self.chunks = chunks
        self.asked = 0
        raw = [(name.lower().encode(), value.encode()) for name, value in (headers or {}).items()]
        scope = {"type": "http", "method": "POST", "path": "/", "headers": raw, "query_string": b""}
        self.request = Request(scope, self.receive)

    async def receive(self) -> Message:
        assert self.asked < len(self.chunks), "read past the end of the body"
        self.asked += 1
        return {"type": "http.request", "body": self.chunks[self.asked - 1], "more_body": self.asked < len(self.chunks)}


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.mark.parametrize("declared", [None, "7", "not a number"])
async def test_a_body_up_to_the_limit_is_read_whole_and_kept_for_parsing(declared: str | None) -> None:
    headers = FORM if declared is None else {**FORM, "Content-Length": declared}
    upload = Upload([b"a=1&", b"b=", b"2"], headers)
    assert await read_bounded(upload.request, 7) == b"a=1&b=2"
    # The stream is spent: the body and the form are parsed from what was kept.
    assert await upload.request.body() == b"a=1&b=2"
    assert dict(await upload.request.form()) == {"a": "1", "b": "2"}
    assert upload.asked == 3


async def test_an_empty_body() -> None:
    assert await read_bounded(Upload([b""]).request, 0) == b""


async def test_a_declared_length_over_the_limit_is_refused_unread() -> None:
    upload = Upload([b"x" * 8], {"Content-Length": "8"})
    with pytest.raises(BodyTooLarge, match="larger than 7 bytes") as refused:
        await read_bounded(upload.request, 7)
    assert refused.value.limit == 7 and upload.asked == 0


@pytest.mark.parametrize("declared", [None, "10"])
async def test_a_longer_stream_is_refused_as_soon_as_it_passes_the_limit(declared: str | None) -> None:
    """With no length given, or one that understates: the rest of the body is never asked for."""
    upload = Upload([b"x" * 6] * 1000, {} if declared is None else {"Content-Length": declared})
    with pytest.raises(BodyTooLarge):
        await read_bounded(upload.request, 10)
    assert upload.asked == 2


async def test_a_large_limit_is_written_with_separators() -> None:
    with pytest.raises(BodyTooLarge, match="larger than 16,777,216 bytes"):
        await read_bounded(Upload([b""], {"Content-Length": str(16 * 1024 * 1024 + 1)}).request, 16 * 1024 * 1024)


# Through the board --------------------------------------------------------------------------------------------


def test_action_bodies_are_bounded(make_client: ClientFactory, sq: SyncQueue, qname: str, raw: redis.Redis) -> None:
    sq.add("j", {})
    client = make_client([qname])
    before = keys_of(raw, qname)
    huge = json.dumps({"name": "x", "data": {"blob": "z" * (17 * 1024 * 1024)}})
    response = client.post(f"/queues/{qname}/add", content=huge, headers=JSON_POST)
    assert response.status_code == 413 and "larger than" in response.json()["error"]
    assert keys_of(raw, qname) == before


def test_login_bodies_are_bounded(client_for: ClientFor, users: UserList) -> None:
    client = client_for(FormLogin(users, SECRET), mount="/board")
    fields = {"username": "ada", "password": "x" * 100_000, "csrf_token": token_for(client)}
    assert client.post("/board/login", data=fields).status_code == 413
