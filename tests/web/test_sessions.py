"""Login sessions that the server can end (board/web/sessions.py), through the login form: a session cookie
that was tampered with, forged or has expired lets nobody in; logout and ``revoke_sessions`` end sessions in
every process; a changed password ends them; and while the session store is down nobody is let in, and
signing in or out says so (503)."""

from __future__ import annotations

import time
from typing import Any

from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from board.web.auth import FormLogin
from board.web.sessions import MemorySessionStore

from .conftest import JSON, SECRET, ClientFor, UserList, cookie_attributes, login, logout, token_for

# Cookies that let nobody in -----------------------------------------------------------------------------------


def test_form_cookie_tampered_or_foreign(client_for: ClientFor, users: UserList) -> None:
    backend = FormLogin(users, SECRET)
    client = client_for(backend, mount="/board")
    token = cookie_attributes(login(client, "bob", "pw-bob"))["value"]
    client.cookies.clear()

    def status(value: str) -> int:
        return client.get("/board/", headers={**JSON, "Cookie": f"board_session={value}"}).status_code

    assert status(token) == 200
    payload, _, signature = token.rpartition(".")
    assert status(f"{payload}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}") == 401
    # Claiming to be someone else with the same signature.
    forged = URLSafeTimedSerializer("another-secret-key-0123456789", salt=backend.sessions.serializer.salt)
    assert status(forged.dumps({"u": "ada", "s": "x", "g": 0})) == 401
    assert status("garbage") == 401
    assert status("") == 401


class _OldSigner(TimestampSigner):
    def get_timestamp(self) -> int:
        return int(time.time()) - 3600


def test_form_cookie_expires(client_for: ClientFor, users: UserList) -> None:
    backend = FormLogin(users, SECRET, max_age=60)
    client = client_for(backend, mount="/board")
    token = cookie_attributes(login(client, "ada", "pw-ada"))["value"]
    client.cookies.clear()
    payload = backend.sessions.serializer.loads(token)
    old = URLSafeTimedSerializer(SECRET, salt=backend.sessions.serializer.salt, signer=_OldSigner).dumps(payload)
    assert client.get("/board/", headers={**JSON, "Cookie": f"board_session={token}"}).status_code == 200
    assert client.get("/board/", headers={**JSON, "Cookie": f"board_session={old}"}).status_code == 401


# Sessions end on the server -----------------------------------------------------------------------------------


def test_logout_ends_a_copied_session_cookie(client_for: ClientFor, users: UserList, redis_url: str) -> None:
    client = client_for(FormLogin(users, SECRET), mount="/board")
    token = cookie_attributes(login(client, "ada", "pw-ada"))["value"]
    copied = {**JSON, "Cookie": f"board_session={token}"}
    other = client_for(FormLogin(users, SECRET), mount="/board")  # another process of the same deployment
    assert other.get("/board/", headers=copied).json()["name"] == "ada"
    assert logout(client).status_code == 303
    # The cookie is still signed and unexpired, but the server has ended the session, in every process.
    assert client.get("/board/", headers=copied).status_code == 401
    assert other.get("/board/", headers=copied).status_code == 401
    # A new login is a new session and works.
    login(client, "ada", "pw-ada")
    assert client.get("/board/", headers=JSON).json()["name"] == "ada"


def test_revoke_sessions_of_a_user(client_for: ClientFor, users: UserList) -> None:
    backend = FormLogin(users, SECRET)
    client = client_for(backend, mount="/board")

    def session_of(name: str, password: str) -> dict[str, str]:
        client.cookies.clear()
        token = cookie_attributes(login(client, name, password))["value"]
        return {**JSON, "Cookie": f"board_session={token}"}

    laptop, phone, bob = session_of("ada", "pw-ada"), session_of("ada", "pw-ada"), session_of("bob", "pw-bob")
    client.cookies.clear()
    assert client.get("/board/", headers=laptop).json()["name"] == "ada"
    assert client.portal is not None
    client.portal.call(backend.revoke_sessions, "ada")
    assert client.get("/board/", headers=laptop).status_code == 401
    assert client.get("/board/", headers=phone).status_code == 401
    assert client.get("/board/", headers=bob).json()["name"] == "bob"  # only ada's sessions ended
    assert client.get("/board/", headers=session_of("ada", "pw-ada")).json()["name"] == "ada"


def test_a_changed_password_ends_the_users_sessions(client_for: ClientFor, users: UserList) -> None:
    client = client_for(FormLogin(users, SECRET), mount="/board")
    login(client, "ada", "pw-ada")
    never_logged_in = client_for(FormLogin(users, SECRET), mount="/board")
    assert client.get("/board/", headers=JSON).json()["name"] == "ada"
    users["ada"] = ("new-password", "admin")
    assert client.get("/board/", headers=JSON).status_code == 401
    users["ada"] = ("pw-ada", "admin")  # the old one back: the old session is valid again, as it should be
    assert client.get("/board/", headers=JSON).json()["name"] == "ada"
    assert never_logged_in.get("/board/", headers=JSON).status_code == 401


async def test_the_in_memory_store_holds_a_revocation_until_the_session_would_have_expired() -> None:
    now = [1000.0]
    store = MemorySessionStore(clock=lambda: now[0])
    assert await store.session_state("ada", "s1") == (0, False)
    await store.revoke_session("s1", 60)
    assert await store.session_state("ada", "s1") == (0, True)
    assert await store.session_state("ada", "s2") == (0, False)  # only that session
    now[0] += 59
    assert await store.session_state("ada", "s1") == (0, True)
    now[0] += 2
    assert await store.session_state("ada", "s1") == (0, False)  # its cookie has expired by now anyway
    # Revoking a user moves their generation on: every session issued before it is out of date.
    assert await store.revoke_user("ada") == 1 and await store.revoke_user("ada") == 2
    assert await store.session_state("ada", "s3") == (2, False) and await store.session_state("bob", "s3") == (0, False)


# The session store down ---------------------------------------------------------------------------------------


def test_session_store_down_answers_503(client_for: ClientFor, users: UserList, redis_server: Any) -> None:
    client = client_for(FormLogin(users, SECRET), mount="/board")
    login(client, "ada", "pw-ada")
    redis_server.stop()
    try:
        response = client.get("/board/", headers=JSON)
        assert response.status_code == 503 and "Redis is unavailable" in response.json()["error"]
        assert "Connection" not in response.text  # Redis's own words stay in the log
    finally:
        redis_server.start()
    assert client.get("/board/", headers=JSON).json()["name"] == "ada"


def test_login_and_logout_answer_503_when_the_store_is_down(
    client_for: ClientFor, users: UserList, redis_server: Any
) -> None:
    client = client_for(FormLogin(users, SECRET), mount="/board")
    login(client, "ada", "pw-ada")
    token = token_for(client)
    redis_server.stop()
    try:
        out = client.post("/board/logout", data={"csrf_token": token})
        assert out.status_code == 503 and "Logout could not be recorded" in out.text
        fields = {"username": "bob", "password": "pw-bob", "csrf_token": token}
        response = client.post("/board/login", data=fields)
        assert response.status_code == 503 and "Sign-in is unavailable" in response.text
        assert "board_session" not in response.headers.get("set-cookie", "")
    finally:
        redis_server.start()
