"""Auth backends (board/web/auth.py): HTTP Basic, the login form (its page, the flow, where it sends a browser
back to, its cookie, the CSRF token its forms need), a trusted proxy's header, the host application's own
function, and none. Sessions, throttling and the user list have test modules of their own."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlsplit

import pytest
import redis
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Mount

from board import SyncQueue
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
from board.web.users import User, hash_password

from .conftest import (
    HTML,
    JSON,
    SECRET,
    USERS,
    ClientFactory,
    ClientFor,
    UserList,
    basic,
    cookie_attributes,
    csrf_of,
    flash_of,
    login,
    logout,
    post_forms,
    tags_of,
    token_for,
)

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


@pytest.mark.parametrize("mount", ["", "/admin/queues"])
def test_form_login_flow_on_the_boards_pages(
    make_client: ClientFactory, sq: SyncQueue, qname: str, raw: redis.Redis, mount: str
) -> None:
    job = sq.add("later", {}, delay=600)

    def wrap(board: Starlette) -> Starlette:
        return Starlette(routes=[Mount(mount, app=board)]) if mount else board

    client = make_client([qname], auth=FormLogin(USERS, SECRET), wrap=wrap, client={"follow_redirects": False})
    target = f"{mount}/queues/{qname}"

    # Anonymous: sent to the login page, which remembers where to come back.
    first = client.get(target, headers=HTML)
    assert first.status_code == 303
    assert first.headers["location"] == f"{mount}/login?next=%2Fqueues%2F{qname}"
    assert client.get(target, headers=JSON).status_code == 401
    login = client.get(first.headers["location"])
    assert login.status_code == 200
    form = next(attrs for tag, attrs in tags_of(login.text) if tag == "form")
    assert form["action"] == f"{mount}/login?next=%2Fqueues%2F{qname}"

    fields = {"username": "admin", "password": "nope", "next": f"/queues/{qname}", "csrf_token": csrf_of(login.text)}
    wrong = client.post(form["action"], data=fields)
    assert wrong.status_code == 401 and "Wrong user name or password." in wrong.text
    assert "board_session" not in client.cookies

    ok = client.post(form["action"], data={**fields, "password": "admin-pw"})
    assert ok.status_code == 303 and ok.headers["location"] == target
    assert "board_session" in client.cookies

    page = client.get(target)
    assert page.status_code == 200
    assert 'class="user">admin' in page.text
    logout = [a for a in post_forms(page.text) if a.endswith("/logout")]
    assert logout == [f"{mount}/logout"]
    # Logged in, the actions work (with the CSRF token of the page).
    job_page = client.get(f"{mount}/queues/{qname}/jobs/{job.id}")
    done = client.post(f"{mount}/queues/{qname}/jobs/{job.id}/promote", data={"csrf_token": csrf_of(job_page.text)})
    assert done.status_code == 303
    assert flash_of(client.get(done.headers["location"]).text) == f"Job {job.id} promoted: it runs now."
    assert raw.lrange(f"bull:{qname}:wait", 0, -1) == [job.id]

    out = client.post(logout[0], data={"csrf_token": csrf_of(page.text)})
    assert out.status_code == 303 and out.headers["location"] == f"{mount}/login"
    assert "board_session" not in client.cookies
    again = client.get(target)
    assert again.status_code == 303 and again.headers["location"].startswith(f"{mount}/login")


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


def test_form_user_list_is_read_on_every_request(client_for: ClientFor, users: UserList) -> None:
    client = client_for(FormLogin(users, SECRET), mount="/board")
    login(client, "ada", "pw-ada")
    assert client.get("/board/", headers=JSON).json()["role"] == "admin"
    users["ada"] = ("pw-ada", "viewer")
    assert client.get("/board/", headers=JSON).json()["role"] == "viewer"
    del users["ada"]
    assert client.get("/board/", headers=JSON).status_code == 401


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
