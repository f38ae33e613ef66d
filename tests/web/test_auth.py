from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.testclient import TestClient

from board import create_board
from board.web.auth import (
    AuthBackend,
    AuthFunction,
    BasicAuth,
    CallableAuth,
    FormLogin,
    NoAuth,
    TrustedHeader,
    as_backend,
)
from board.web.board import Board
from board.web.throttle import LoginThrottle
from board.web.users import ROLES, User, hash_password, verify_password
from tests.web.conftest import csrf_of

if TYPE_CHECKING:
    import httpx2 as httpx  # what the test client returns

SECRET = "s3cret-key-for-tests-0123456789"
JSON = {"Accept": "application/json"}
ClientFor = Callable[..., TestClient]
UserList = dict[str, tuple[str, str]]
HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


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


def basic(name: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()}


# Users, roles, visibility -------------------------------------------------------------------------------------


def test_roles_are_ordered() -> None:
    viewer, operator, admin = (User("u", role) for role in ROLES)
    assert viewer.can("viewer") and not viewer.can("operator") and not viewer.can("admin")
    assert operator.can("viewer") and operator.can("operator") and not operator.can("admin")
    assert admin.can("viewer") and admin.can("operator") and admin.can("admin")
    with pytest.raises(ValueError, match="unknown role 'root'"):
        admin.can("root")
    with pytest.raises(ValueError, match="unknown role 'root'"):
        User("u", "root")
    with pytest.raises(ValueError, match="non-empty"):
        User("", "viewer")


def test_queue_visibility() -> None:
    assert User("u", "viewer").sees("anything")
    user = User("u", "viewer", ["billing", "reports:*"])
    assert user.sees("billing") and user.sees("reports:daily")
    assert not user.sees("billing-eu") and not user.sees("Billing") and not user.sees("email")
    assert user.queues == ("billing", "reports:*")
    hash(user)  # a list of patterns does not make the user unhashable
    single = User("u", "viewer", "email")  # one pattern, not the letters e, m, a, i, l
    assert single.sees("email") and not single.sees("e")
    assert not User("u", "viewer", ()).sees("email")
    by_function = User("u", "viewer", lambda queue: queue.startswith("team-a:"))
    assert by_function.sees("team-a:mail") and not by_function.sees("team-b:mail")


# Passwords ----------------------------------------------------------------------------------------------------


def test_hash_password_format_and_verify() -> None:
    stored = hash_password("correct horse")
    algorithm, iterations, salt, digest = stored.split("$")
    assert (algorithm, iterations) == ("pbkdf2_sha256", "600000")
    assert len(base64.b64decode(salt)) == 16 and len(base64.b64decode(digest)) == 32
    assert verify_password("correct horse", stored)
    assert not verify_password("correct horsf", stored)
    assert hash_password("correct horse") != stored  # salted


def test_verify_password_plain_and_malformed() -> None:
    assert verify_password("pässwörd", "pässwörd")
    assert not verify_password("pässwörd", "passwörd")
    assert not verify_password("", "x")
    fast = hash_password("pässwörd", iterations=1000)
    assert fast.startswith("pbkdf2_sha256$1000$") and verify_password("pässwörd", fast)
    assert not verify_password("x", "pbkdf2_sha256$1000$not base64$!!")


# Construction checks ------------------------------------------------------------------------------------------


def test_configuration_errors() -> None:
    with pytest.raises(ValueError, match="empty"):
        BasicAuth({})
    with pytest.raises(ValueError, match="unknown role 'superuser'"):
        BasicAuth({"ada": ("pw", "superuser")})
    with pytest.raises(ValueError, match="contains ':'"):
        BasicAuth({"ada:lovelace": ("pw", "admin")})
    FormLogin({"ada:lovelace": ("pw", "admin")}, SECRET)  # only Basic cannot carry a ':' in a name
    with pytest.raises(ValueError, match="password is empty"):
        BasicAuth({"ada": ("", "admin")})
    with pytest.raises(ValueError, match="malformed password hash"):
        BasicAuth({"ada": ("pbkdf2_sha256$x$y$z", "admin")})
    with pytest.raises(ValueError, match="secret_key is too short"):
        FormLogin({"ada": ("pw", "admin")}, "short")
    with pytest.raises(ValueError, match="empty"):
        FormLogin({}, SECRET)
    with pytest.raises(ValueError, match="default_role"):
        TrustedHeader(default_role="owner")
    with pytest.raises(ValueError, match=r"roles\['ada'\]"):
        TrustedHeader(roles={"ada": "owner"})
    with pytest.raises(ValueError, match="trusted_proxies is empty"):
        TrustedHeader(trusted_proxies=())


# Basic ----------------------------------------------------------------------------------------------------------


def test_basic_auth(client_for: ClientFor) -> None:
    client = client_for(BasicAuth({"ada": ("pw-ada", "admin"), "bob": ("pw-bob", "viewer", ["email"])}))
    response = client.get("/", headers=basic("ada", "pw-ada"))
    assert response.status_code == 200 and response.json() == {"name": "ada", "role": "admin"}
    assert client.get("/", headers=basic("bob", "pw-bob")).json() == {"name": "bob", "role": "viewer"}

    for headers in (basic("ada", "wrong"), basic("eve", "pw-ada"), {}):
        response = client.get("/", headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == 'Basic realm="board", charset="UTF-8"'
        assert response.text == "authentication required"
    response = client.get("/", headers={**basic("ada", "wrong"), **JSON})
    assert response.status_code == 401 and response.json() == {"error": "authentication required"}
    assert "www-authenticate" in response.headers


@pytest.mark.parametrize(
    "authorization",
    [
        "Basic",
        "Basic !!!not-base64!!!",
        "Basic " + base64.b64encode(b"no-colon").decode(),
        "Basic " + base64.b64encode(b"ada:\xff\xfe").decode(),  # not UTF-8
        "Bearer " + base64.b64encode(b"ada:pw-ada").decode(),
        "ada:pw-ada",
    ],
)
def test_basic_auth_malformed_header(client_for: ClientFor, authorization: str) -> None:
    client = client_for(BasicAuth({"ada": ("pw-ada", "admin")}))
    assert client.get("/", headers={"Authorization": authorization}).status_code == 401


def test_basic_auth_hashed_and_unicode_passwords(client_for: ClientFor) -> None:
    users = {"ada": (hash_password("pässwörd", iterations=1000), "operator"), "bob": ("plain", "viewer")}
    client = client_for(BasicAuth(users, realm='ops "east"'))
    for _ in range(2):  # the second time from the cache of checked credentials
        assert client.get("/", headers=basic("ada", "pässwörd")).json() == {"name": "ada", "role": "operator"}
    response = client.get("/", headers=basic("ada", "passwörd"))
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Basic realm="ops \\"east\\"", charset="UTF-8"'
    assert client.get("/", headers=basic("nobody", "pässwörd")).status_code == 401
    # A changed password is checked afresh, even right after the old one was accepted.
    users["ada"] = (hash_password("new", iterations=1000), "operator")
    assert client.get("/", headers=basic("ada", "pässwörd")).status_code == 401
    assert client.get("/", headers=basic("ada", "new")).status_code == 200


# Form login ----------------------------------------------------------------------------------------------------


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


def test_form_challenge_redirects_browsers_and_refuses_json(client_for: ClientFor, users: UserList) -> None:
    client = client_for(FormLogin(users, SECRET), mount="/board")
    response = client.get("/board/queues/e%20mail?state=failed", headers=HTML)
    assert response.status_code == 303
    location = urlsplit(response.headers["location"])
    assert location.path == "/board/login"
    assert parse_qs(location.query) == {"next": ["/queues/e%20mail?state=failed"]}
    response = client.get("/board/queues/email", headers=JSON)
    assert response.status_code == 401 and response.json() == {"error": "authentication required"}
    # After a login a browser can only come back with a GET: a POST is sent to the login page plain.
    response = client.post("/board/queues/email", headers=HTML)
    assert response.status_code == 303 and response.headers["location"] == "/board/login"


def test_form_login_page(client_for: ClientFor, users: UserList) -> None:
    client = client_for(FormLogin(users, SECRET), mount="/board")
    response = client.get("/board/login?next=/queues/email")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    page = response.text
    assert 'action="/board/login?next=%2Fqueues%2Femail"' in page
    assert 'name="username"' in page and 'name="password"' in page
    assert 'name="next" value="/queues/email"' in page
    assert response.headers["cache-control"] == "no-store"
    hostile = client.get('/board/login?next="><script>alert(1)</script>').text
    assert "<script>alert" not in hostile


def test_form_login_flow(client_for: ClientFor, users: UserList) -> None:
    client = client_for(FormLogin(users, SECRET, max_age=3600), mount="/board")

    wrong = login(client, "ada", "nope")
    assert wrong.status_code == 401 and "Wrong user name or password." in wrong.text
    assert "set-cookie" not in wrong.headers
    unknown = login(client, "eve", "nope")
    assert unknown.status_code == 401 and unknown.text == wrong.text  # does not say whether the user exists
    assert client.get("/board/", headers=JSON).status_code == 401

    response = login(client, "ada", "pw-ada", next_path="/queues/email?state=failed")
    assert response.status_code == 303
    assert response.headers["location"] == "/board/queues/email?state=failed"
    cookie = cookie_attributes(response)
    assert cookie["path"] == "/board" and cookie["samesite"] == "lax" and cookie["max-age"] == "3600"
    assert "httponly" in cookie and "secure" not in cookie
    assert "ada" not in cookie["value"].split(".")[-1]  # the signature part

    assert client.get("/board/queues/email", headers=JSON).json() == {"name": "ada", "role": "admin"}

    response = logout(client)
    assert response.status_code == 303 and response.headers["location"] == "/board/login"
    cleared = cookie_attributes(response)
    assert cleared["value"] in ("", '""') and cleared["max-age"] == "0" and cleared["path"] == "/board"
    assert client.get("/board/", headers=JSON).status_code == 401


def test_form_login_at_the_root(client_for: ClientFor, users: UserList) -> None:
    client = client_for(FormLogin(users, SECRET))
    response = client.get("/queues/email", headers=HTML)
    assert response.headers["location"] == "/login?next=%2Fqueues%2Femail"
    response = login(client, "bob", "pw-bob", next_path="/queues/email", mount="")
    assert response.headers["location"] == "/queues/email"
    assert cookie_attributes(response)["path"] == "/"
    assert client.get("/", headers=JSON).json() == {"name": "bob", "role": "viewer"}
    assert login(client, "bob", "pw-bob", mount="").headers["location"] == "/"


@pytest.mark.parametrize(
    "next_path",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example/",
        "/\t/evil.example/",
        "javascript:alert(1)",
        "/../elsewhere",
        "/queues/%2e%2e/%2e%2e/elsewhere",
        "",
    ],
)
def test_form_login_refuses_open_redirects(client_for: ClientFor, users: UserList, next_path: str) -> None:
    for mount in ("", "/board"):
        client = client_for(FormLogin(users, SECRET), mount=mount)
        response = login(client, "ada", "pw-ada", next_path=next_path, mount=mount)
        assert response.status_code == 303 and response.headers["location"] == f"{mount}/"


def test_form_login_next_from_the_page_url(client_for: ClientFor, users: UserList) -> None:
    client = client_for(FormLogin(users, SECRET), mount="/board")
    fields = {"username": "ada", "password": "pw-ada", "csrf_token": token_for(client)}
    response = client.post("/board/login?next=/queues/email", data=fields)
    assert response.headers["location"] == "/board/queues/email"
    # A failed attempt shows the form again, still pointing at the page asked for.
    response = client.post("/board/login?next=/queues/email", data={**fields, "password": "x"})
    assert 'action="/board/login?next=%2Fqueues%2Femail"' in response.text


def test_form_cookie_secure_over_https(client_for: ClientFor, users: UserList) -> None:
    client = client_for(FormLogin(users, SECRET), mount="/board", base_url="https://testserver")
    response = login(client, "ada", "pw-ada")
    assert "secure" in cookie_attributes(response)
    assert client.get("/board/", headers=JSON).json()["name"] == "ada"
    assert "secure" in cookie_attributes(logout(client))


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


def test_form_user_list_is_read_on_every_request(client_for: ClientFor, users: UserList) -> None:
    client = client_for(FormLogin(users, SECRET), mount="/board")
    login(client, "ada", "pw-ada")
    assert client.get("/board/", headers=JSON).json()["role"] == "admin"
    users["ada"] = ("pw-ada", "viewer")
    assert client.get("/board/", headers=JSON).json()["role"] == "viewer"
    del users["ada"]
    assert client.get("/board/", headers=JSON).status_code == 401


def test_form_login_lockout(client_for: ClientFor, users: UserList) -> None:
    client = client_for(FormLogin(users, SECRET), mount="/board")
    for _ in range(5):
        assert login(client, "ada", "guess").status_code == 401
    locked = login(client, "ada", "pw-ada")  # even the right password, for now
    assert locked.status_code == 429 and "Too many failed attempts" in locked.text
    assert 0 < int(locked.headers["retry-after"]) <= 61
    assert "set-cookie" not in locked.headers
    assert login(client, "bob", "pw-bob").status_code == 303  # other names are not affected
    # Names that do not exist are throttled alike, so a 429 does not tell either.
    for _ in range(5):
        login(client, "eve", "guess")
    assert login(client, "eve", "guess").status_code == 429


def test_login_throttle_timing() -> None:
    now = [1000.0]
    throttle = LoginThrottle(clock=lambda: now[0])
    for _ in range(4):
        throttle.failed("ada")
        now[0] += 80  # the first falls out of the 5-minute window before the fifth
    throttle.failed("ada")
    assert throttle.retry_after("ada") == 0
    throttle.failed("ada")
    assert throttle.retry_after("ada") == 60
    now[0] += 59
    assert throttle.retry_after("ada") == pytest.approx(1)
    now[0] += 1.5
    assert throttle.retry_after("ada") == 0
    throttle.failed("ada")  # a fresh count after the lockout
    assert throttle.retry_after("ada") == 0
    throttle.succeeded("ada")
    for _ in range(4):
        throttle.failed("ada")
    assert throttle.retry_after("ada") == 0


def test_login_throttle_memory_is_bounded() -> None:
    throttle = LoginThrottle(clock=lambda: 0.0, max_names=100)
    for i in range(1000):
        throttle.failed(f"user{i}")
    throttle.failed("x" * 10_000)
    assert len(throttle._names.failures) <= 100
    assert all(len(name) <= 256 for name in throttle._names.failures)


# Trusted header -------------------------------------------------------------------------------------------------


def test_trusted_header_from_a_trusted_proxy(client_for: ClientFor) -> None:
    client = client_for(TrustedHeader(trusted_proxies=("testclient",), roles={"ada": "admin"}))
    assert client.get("/", headers={"X-Forwarded-User": "bob"}).json() == {"name": "bob", "role": "viewer"}
    assert client.get("/", headers={"X-Forwarded-User": "ada"}).json() == {"name": "ada", "role": "admin"}
    by_header = client.get("/", headers={"X-Forwarded-User": "ada", "X-Forwarded-Role": "operator"})
    assert by_header.json() == {"name": "ada", "role": "operator"}  # the header wins over the mapping
    empty_role = client.get("/", headers={"X-Forwarded-User": "bob", "X-Forwarded-Role": ""})
    assert empty_role.json()["role"] == "viewer"
    assert client.get("/", headers={"X-Forwarded-User": "bob", "X-Forwarded-Role": "root"}).status_code == 401
    response = client.get("/", headers={"X-Forwarded-User": "  "})
    assert response.status_code == 401 and response.text == "authentication required by the proxy"
    response = client.get("/", headers=JSON)
    assert response.status_code == 401 and response.json() == {"error": "authentication required by the proxy"}


def test_trusted_header_from_an_untrusted_client(client_for: ClientFor) -> None:
    client = client_for(TrustedHeader())  # loopback only; the test client is "testclient"
    headers = {"X-Forwarded-User": "mallory", "X-Forwarded-Role": "admin"}
    assert client.get("/", headers=headers).status_code == 401
    anyone = client_for(TrustedHeader(trusted_proxies=None, role_header=None, default_role="operator"))
    assert anyone.get("/", headers=headers).json() == {"name": "mallory", "role": "operator"}


def test_trusted_header_networks(client_for: ClientFor) -> None:
    backend = TrustedHeader("Remote-User", "Remote-Groups", trusted_proxies=["10.0.0.0/8", "fd00::/8"])
    headers = {"Remote-User": "ada", "Remote-Groups": "admin"}
    for host, status in (("10.1.2.3", 200), ("::ffff:10.1.2.3", 200), ("fd00::5", 200), ("192.168.0.1", 401)):
        client = client_for(backend, client=(host, 40000))
        assert client.get("/", headers=headers).status_code == status, host


# Callable, none ---------------------------------------------------------------------------------------------------


def _from_token(request: Request) -> User | None:
    return User("ada", "operator") if request.headers.get("x-token") == "t0k3n" else None


async def _from_token_async(request: Request) -> User | None:
    return _from_token(request)


@pytest.mark.parametrize("fn", [_from_token, _from_token_async])
def test_callable_auth(client_for: ClientFor, fn: AuthFunction) -> None:
    backend = as_backend(fn)
    assert isinstance(backend, CallableAuth) and backend.routes == []
    client = client_for(backend)
    assert client.get("/", headers={"x-token": "t0k3n"}).json() == {"name": "ada", "role": "operator"}
    response = client.get("/", headers={"x-token": "nope", **JSON})
    assert response.status_code == 401 and response.json() == {"error": "authentication required"}


def test_callable_auth_wrong_return_type(client_for: ClientFor) -> None:
    client = client_for(CallableAuth(lambda request: "ada"))  # type: ignore[arg-type, return-value]
    with pytest.raises(TypeError, match="must return a User or None"):
        client.get("/")


def test_as_backend_and_no_auth(client_for: ClientFor) -> None:
    assert as_backend(None) is None
    basic_auth = BasicAuth({"ada": ("pw", "admin")})
    assert as_backend(basic_auth) is basic_auth
    with pytest.raises(TypeError):
        as_backend(42)  # type: ignore[call-overload]
    no_auth = NoAuth()
    assert no_auth.warns and isinstance(no_auth, AuthBackend) and no_auth.routes == []
    assert client_for(no_auth).get("/").json() == {"name": "anonymous", "role": "admin"}


# Sessions end on the server --------------------------------------------------------------------------------------


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


# CSRF on the login and logout forms ------------------------------------------------------------------------------


def test_login_needs_the_forms_csrf_token(client_for: ClientFor, users: UserList) -> None:
    client = client_for(FormLogin(users, SECRET), mount="/board")
    # A page elsewhere posting the victim's browser into the attacker's account: no token, or a made-up one.
    for fields in ({}, {"csrf_token": "made-up"}):
        response = client.post("/board/login", data={"username": "ada", "password": "pw-ada", **fields})
        assert response.status_code == 403 and "came from elsewhere" in response.text
        assert "board_session" not in response.headers.get("set-cookie", "")
    # A token from another browser does not fit this browser's cookie either.
    stranger = client_for(FormLogin(users, SECRET), mount="/board")
    foreign = token_for(stranger)
    token_for(client)
    response = client.post("/board/login", data={"username": "ada", "password": "pw-ada", "csrf_token": foreign})
    assert response.status_code == 403
    # JSON is no way around it: the login form takes forms only.
    response = client.post(
        "/board/login", json={"username": "ada", "password": "pw-ada"}, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 403
    assert login(client, "ada", "pw-ada").status_code == 303


def test_logout_needs_the_forms_csrf_token(client_for: ClientFor, users: UserList) -> None:
    client = client_for(FormLogin(users, SECRET), mount="/board")
    login(client, "ada", "pw-ada")
    response = client.post("/board/logout", data={}, headers=HTML)
    assert response.status_code == 403
    assert client.get("/board/", headers=JSON).json()["name"] == "ada"  # still logged in
    assert logout(client).status_code == 303
    assert client.get("/board/", headers=JSON).status_code == 401


def test_login_page_is_the_boards(client_for: ClientFor, users: UserList) -> None:
    client = client_for(FormLogin(users, SECRET), mount="/board")
    page = client.get("/board/login").text
    assert "<title>Log in · board</title>" in page
    assert 'href="/board/static/board.css"' in page  # styled like the board
    assert "<style>" not in page and "<script>" not in page  # nothing inline: the CSP allows none
    assert 'name="csrf_token"' in page


# Basic auth throttling -----------------------------------------------------------------------------------------------


def test_basic_auth_is_throttled_per_name(client_for: ClientFor) -> None:
    client = client_for(BasicAuth({"ada": ("pw-ada", "admin"), "bob": ("pw-bob", "viewer")}))
    for _ in range(5):
        assert client.get("/", headers=basic("ada", "guess")).status_code == 401
    locked = client.get("/", headers={**basic("ada", "pw-ada"), **JSON})  # even the right password, for now
    assert locked.status_code == 429 and "Too many failed attempts" in locked.json()["error"]
    assert 0 < int(locked.headers["retry-after"]) <= 61
    assert client.get("/", headers=basic("bob", "pw-bob")).status_code == 200  # other names go on
    # A name that does not exist is counted and locked exactly like one that does.
    answers = [client.get("/", headers=basic("eve", "guess")) for _ in range(6)]
    assert [r.status_code for r in answers] == [401] * 5 + [429]
    assert int(answers[-1].headers["retry-after"]) > 0 and "Too many failed attempts" in answers[-1].text


def test_basic_auth_is_throttled_per_address(client_for: ClientFor) -> None:
    backend = BasicAuth({"ada": ("pw-ada", "admin")}, throttle=LoginThrottle(max_failures=100, max_address_failures=3))
    guesser = client_for(backend, client=("203.0.113.7", 5000))
    for name in ("n1", "n2", "n3"):
        assert guesser.get("/", headers=basic(name, "guess")).status_code == 401
    # One guess per name does not get round it: the address itself is now refused, for every name.
    response = guesser.get("/", headers=basic("ada", "pw-ada"))
    assert response.status_code == 429 and int(response.headers["retry-after"]) > 0
    elsewhere = client_for(backend, client=("198.51.100.9", 5000))
    assert elsewhere.get("/", headers=basic("ada", "pw-ada")).status_code == 200


def test_login_form_is_throttled_per_address(client_for: ClientFor, users: UserList) -> None:
    backend = FormLogin(users, SECRET, throttle=LoginThrottle(max_failures=100, max_address_failures=3))
    client = client_for(backend, mount="/board")
    for name in ("n1", "n2", "n3"):
        assert login(client, name, "guess").status_code == 401
    response = login(client, "ada", "pw-ada")
    assert response.status_code == 429 and response.headers["retry-after"]


# Trusted header sent twice -----------------------------------------------------------------------------------------


def test_trusted_header_sent_twice_is_refused(client_for: ClientFor) -> None:
    client = client_for(TrustedHeader(trusted_proxies=("testclient",), roles={"ada": "admin"}))
    for headers in (
        [("X-Forwarded-User", "bob"), ("X-Forwarded-User", "ada")],
        [("X-Forwarded-User", "bob"), ("X-Forwarded-Role", "viewer"), ("X-Forwarded-Role", "admin")],
    ):
        response = client.get("/", headers=[*headers, ("Accept", "application/json")])
        assert response.status_code == 400 and "more than once" in response.json()["error"]
    assert client.get("/", headers={"X-Forwarded-User": "ada"}).json()["role"] == "admin"


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


def test_basic_successes_do_not_reset_a_guessing_run(client_for: ClientFor) -> None:
    client = client_for(BasicAuth({"ada": ("pw-ada", "admin")}))
    for _ in range(4):
        assert client.get("/", headers=basic("ada", "guess")).status_code == 401
    # The real user's browser keeps polling with the right password meanwhile.
    assert client.get("/", headers=basic("ada", "pw-ada")).status_code == 200
    assert client.get("/", headers=basic("ada", "guess")).status_code == 401
    assert client.get("/", headers=basic("ada", "pw-ada")).status_code == 429


def test_ipv6_clients_are_counted_by_their_64(client_for: ClientFor) -> None:
    backend = BasicAuth({"ada": ("pw-ada", "admin")}, throttle=LoginThrottle(max_failures=100, max_address_failures=3))
    for host in ("2001:db8:1:2::10", "2001:db8:1:2::11", "2001:db8:1:2:ffff::1"):
        guesser = client_for(backend, client=(host, 5000))
        assert guesser.get("/", headers=basic(f"n-{host}", "guess")).status_code == 401
    same_64 = client_for(backend, client=("2001:db8:1:2::99", 5000))
    assert same_64.get("/", headers=basic("ada", "pw-ada")).status_code == 429
    other_64 = client_for(backend, client=("2001:db8:1:3::1", 5000))
    assert other_64.get("/", headers=basic("ada", "pw-ada")).status_code == 200


def test_login_bodies_are_bounded(client_for: ClientFor, users: UserList) -> None:
    client = client_for(FormLogin(users, SECRET), mount="/board")
    fields = {"username": "ada", "password": "x" * 100_000, "csrf_token": token_for(client)}
    assert client.post("/board/login", data=fields).status_code == 413
