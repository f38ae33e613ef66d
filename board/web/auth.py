"""Auth backends: who may use the board.

A backend turns a request into a ``User`` (or ``None`` for nobody) and says how to answer an anonymous
request. Four are provided:

- ``BasicAuth``: HTTP Basic against a fixed user list; fine for a single operator or behind TLS.
- ``FormLogin``: a login page and a session cookie that logout ends on the server; the usual choice.
- ``TrustedHeader``: a reverse proxy (oauth2-proxy, Authelia, Cloudflare Access, ...) has already
  authenticated the user and names them in a header.
- ``CallableAuth``: the host application's own function, for apps that already have sessions.

``NoAuth`` lets everybody in as an admin; the board uses it when given ``auth=None`` and warns.

A backend may refuse a request outright by raising ``AuthRefused`` (a header sent twice), ``Throttled``
(too many failed passwords) or ``SessionStoreError`` (the session store is down); the board answers
those with their status. ``secret_key`` is the key the board signs its CSRF tokens and messages with,
so that every process of a deployment agrees; ``None`` leaves it to ``create_board``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import inspect
import ipaddress
import logging
import re
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import TYPE_CHECKING, Any, Protocol, TypeAlias, overload, runtime_checkable
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from .bodies import BodyTooLarge, read_bounded
from .csrf import FIELD as CSRF_FIELD
from .i18n import N_, _, using
from .paths import mount_path, path_in_mount, safe_next
from .preferences import language_of
from .recorder import record_sign
from .render import wants_json
from .sessions import Sessions, SessionStore, SessionStoreError
from .throttle import LoginThrottle
from .users import ROLES, User, Users, UserTable, check_role

if TYPE_CHECKING:
    # The board imports the backends; a handler here only needs its type.
    from .board import Board

__all__ = [
    "AuthBackend",
    "AuthFunction",
    "AuthRefused",
    "BasicAuth",
    "CallableAuth",
    "FormLogin",
    "NoAuth",
    "TrustedHeader",
    "as_backend",
]

log = logging.getLogger("board.web")
# The login and logout forms hold a few short fields.
MAX_FORM = 16 * 1024

AuthFunction: TypeAlias = Callable[[Request], User | Awaitable[User | None] | None]


class AuthRefused(Exception):
    """A request refused before any user is considered, with the status to answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@runtime_checkable
class AuthBackend(Protocol):
    """What the board asks of an auth backend; implement it to plug in another way of signing in.

    ``routes`` are mounted under the board (a login form, a logout action; empty for most), before
    any route of the board's own. ``secret_key`` is the key to sign CSRF tokens and flash messages
    with, or None to leave it to ``create_board``.
    """

    routes: list[BaseRoute]
    secret_key: str | None

    async def authenticate(self, request: Request) -> User | None:
        """The user making the request, or None for nobody. Called on every request to the board
        (static files excepted). May raise ``AuthRefused``, ``Throttled`` or ``SessionStoreError``,
        which the board answers with their status."""
        ...

    def challenge(self, request: Request) -> Response:
        """The answer to a request from nobody: a 401 with ``WWW-Authenticate``, a redirect to a
        login page, ... It must not reveal whether any queue or job exists."""
        ...


def _refusal(request: Request, message: str, headers: Mapping[str, str] | None = None) -> Response:
    if wants_json(request):
        return JSONResponse({"error": message}, status_code=401, headers=headers)
    return PlainTextResponse(message, status_code=401, headers=headers)


def _client(request: Request) -> str | None:
    """The client, as the throttle counts it: an IPv6 client by its /64, which one host usually holds whole."""
    if request.client is None:
        return None
    host = request.client.host
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is None:
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return host


class BasicAuth(AuthBackend):
    """HTTP Basic auth against ``users``: ``{name: (password or hash_password(...), role[, queues])}``.

    Failed passwords are throttled like the login form's, per name and per client address.
    """

    def __init__(
        self,
        users: Users,
        realm: str = "board",
        *,
        secret_key: str | None = None,
        throttle: LoginThrottle | None = None,
    ) -> None:
        self.users = UserTable(users, basic=True)
        self.realm = realm
        self.secret_key = secret_key
        self.throttle = throttle or LoginThrottle()
        escaped = realm.replace("\\", "\\\\").replace('"', '\\"')
        self._www_authenticate = f'Basic realm="{escaped}", charset="UTF-8"'
        self.routes: list[BaseRoute] = []

    async def authenticate(self, request: Request) -> User | None:
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return None
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode()
        except ValueError:  # bad base64 or bad UTF-8
            return None
        name, colon, password = decoded.partition(":")
        if not colon:
            return None
        address = _client(request)
        await self.throttle.check(name, address)
        user = await self.users.check(name, password)
        if user is None:
            await self.throttle.failed(name, address)
        # A success does not clear the name's count: Basic auth succeeds on every request of the real user
        # (every poll), which would otherwise reset a guessing run spread over other addresses.
        return user

    def challenge(self, request: Request) -> Response:
        return _refusal(request, "authentication required", {"WWW-Authenticate": self._www_authenticate})


class FormLogin(AuthBackend):
    """A login page and a session cookie, signed and expiring after ``max_age`` seconds.

    The cookie holds the user's name, a random session id and the user's session generation; each request
    checks the last two against the session store (Redis, given by the board), so that logout ends the
    session everywhere and ``revoke_sessions(name)`` ends all of a user's sessions. The user list is read
    again on each request: removing a user or changing their role takes effect at once.
    """

    def __init__(
        self,
        users: Users,
        secret_key: str,
        *,
        max_age: float = 8 * 3600,
        cookie_name: str = "board_session",
        login_path: str = "/login",
        logout_path: str = "/logout",
        throttle: LoginThrottle | None = None,
        session_store: SessionStore | None = None,
    ) -> None:
        if len(secret_key) < 16:
            raise ValueError("secret_key is too short: use at least 16 characters, e.g. secrets.token_urlsafe(32)")
        if max_age <= 0:
            raise ValueError(f"max_age must be positive, not {max_age}")
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", cookie_name):
            raise ValueError(f"cookie_name {cookie_name!r} is not a valid cookie name")
        for what, path in (("login_path", login_path), ("logout_path", logout_path)):
            if not path.startswith("/"):
                raise ValueError(f"{what} must start with '/', not {path!r}")
        self.users = UserTable(users, basic=False)
        self.secret_key: str | None = secret_key
        self.sessions = Sessions(secret_key, max_age, session_store)
        # The board puts its shared (Redis) store in place of the in-memory default it was not given one.
        self.session_store_given = session_store is not None
        self.max_age = max_age
        self.cookie_name = cookie_name
        self.login_path = login_path
        self.logout_path = logout_path
        self.throttle = throttle or LoginThrottle()
        self.routes: list[BaseRoute] = [
            Route(login_path, self._in_language(self._login), methods=["GET", "POST"], name="login"),
            Route(logout_path, self._in_language(self._logout), methods=["POST"], name="logout"),
        ]

    async def authenticate(self, request: Request) -> User | None:
        token = request.cookies.get(self.cookie_name)
        if not token:
            return None
        name = await self.sessions.check(token, self._password_mark)
        return self.users.get(name) if name is not None else None

    def _password_mark(self, name: str) -> str | None:
        """A keyed digest of the user's configured password: a session bound to it ends when it changes."""
        stored = self.users.stored(name)
        if stored is None or self.secret_key is None:
            return None
        return hmac.new(self.secret_key.encode(), stored.encode(), hashlib.sha256).hexdigest()[:32]

    async def revoke_sessions(self, name: str) -> None:
        """End every session of user ``name``, in every process."""
        await self.sessions.revoke_user(name)

    def challenge(self, request: Request) -> Response:
        if wants_json(request):
            return JSONResponse({"error": "authentication required"}, status_code=401)
        url = mount_path(request) + self.login_path
        # The browser follows `next` with a GET, so only a GET is worth coming back to.
        if request.method in ("GET", "HEAD"):
            path = quote(path_in_mount(request))
            if request.url.query:
                path += "?" + request.url.query
            if path != self.login_path:
                url += "?" + urlencode({"next": path})
        return RedirectResponse(url, status_code=303)

    def render_login(self, request: Request, error: str | None, status: int = 200) -> Response:
        """The login page, from the board's ``login.html``; override to draw another."""
        board: Board = request.app.state.board
        action = mount_path(request) + self.login_path
        next_path = safe_next(request.query_params.get("next")) or "/"
        if next_path != "/":
            action += "?" + urlencode({"next": next_path})
        context = {"error": error, "action": action, "next_path": next_path, "csrf_token": board.csrf.token(request)}
        response = board.renderer.page(request, "login.html", context, status=status, html_only=True)
        return board.finish(request, response)

    @staticmethod
    def _in_language(answer: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
        """The login form's answers speak the reader's language, as the guarded pages do."""

        async def endpoint(request: Request) -> Response:
            with using(language_of(request)):
                return await answer(request)

        return endpoint

    async def _login(self, request: Request) -> Response:
        if request.method != "POST":
            return self.render_login(request, None)
        board: Board = request.app.state.board
        try:
            await read_bounded(request, MAX_FORM)
        except BodyTooLarge as exc:
            return self.render_login(request, _("Not sent: %(reason)s.", reason=exc), 413)
        form = await request.form()
        fields = {key: value if isinstance(value, str) else "" for key, value in form.items()}
        # A page elsewhere must not log a browser in under the attacker's account.
        if not await board.csrf.check(request, fields.get(CSRF_FIELD), allow_json=False):
            return self.render_login(request, _("The form expired or came from elsewhere: reload and retry."), 403)
        name, password = fields.get("username", ""), fields.get("password", "")
        address = _client(request)
        wait = await self.throttle.retry_after(name, address)
        if wait:
            seconds = int(wait) + 1
            response = self.render_login(request, _("Too many failed attempts; try again in %(n)s s.", n=seconds), 429)
            response.headers["Retry-After"] = str(seconds)
            return response
        user = await self.users.check(name, password)
        if user is None:
            await self.throttle.failed(name, address)
            # The same words whether or not the name exists.
            return await self._refuse(request, name, N_("Wrong user name or password."), 401)
        await self.throttle.succeeded(name, address)
        next_path = safe_next(fields.get("next") or request.query_params.get("next")) or "/"
        response = RedirectResponse(mount_path(request) + next_path, status_code=303)
        try:
            token = await self.sessions.issue(user.name, self._password_mark(user.name) or "")
        except SessionStoreError as exc:
            log.warning("board: the session store is unavailable: %s", exc)
            return await self._refuse(
                request, name, N_("Sign-in is unavailable: Redis cannot be reached; try again shortly."), 503
            )
        response.set_cookie(self.cookie_name, token, max_age=self.sessions.max_age, **self._cookie_flags(request))
        await record_sign(board.adapter, request, user.name, user.role, "login", "Signed in.", response.status_code)
        return response

    async def _refuse(self, request: Request, name: str, message: str, status: int) -> Response:
        """The login page again with ``message`` (translated; the audit log keeps it in English); the refused
        sign-in goes to the audit log under the name
        typed (no role: whether that user exists is not said there either). Only attempts the throttle
        counts get here: a form from elsewhere or a throttled one is not recorded, so that nobody can fill
        the log faster than the throttle lets them try passwords."""
        board: Board = request.app.state.board
        await record_sign(board.adapter, request, name or "(no name)", "", "login", message, status)
        return self.render_login(request, _(message), status)

    async def _logout(self, request: Request) -> Response:
        board: Board = request.app.state.board
        try:
            await read_bounded(request, MAX_FORM)
        except BodyTooLarge as exc:
            return board.error(request, 413, _("Not sent: %(reason)s.", reason=exc))
        form = await request.form()
        token_field = form.get(CSRF_FIELD)
        who = await self._signed_in(request)
        if not await board.csrf.check(request, token_field if isinstance(token_field, str) else None):
            message = "The form expired or came from elsewhere: reload and retry."
            if who is not None:
                await record_sign(board.adapter, request, who.name, who.role, "logout", message, 403)
            return board.error(request, 403, _(message))
        token = request.cookies.get(self.cookie_name)
        if token:
            try:
                await self.sessions.end(token)
            except SessionStoreError as exc:
                # Not logged out on the server: say so rather than pretend.
                log.warning("board: the session store is unavailable: %s", exc)
                return board.error(
                    request, 503, _("Logout could not be recorded: Redis is unavailable; try again shortly.")
                )
        response = RedirectResponse(mount_path(request) + self.login_path, status_code=303)
        response.delete_cookie(self.cookie_name, **self._cookie_flags(request))
        if who is not None:
            await record_sign(board.adapter, request, who.name, who.role, "logout", "Signed out.", 303)
        return response

    async def _signed_in(self, request: Request) -> User | None:
        """Who is signing out, for the audit log; None when the session is over already or cannot be read."""
        try:
            return await self.authenticate(request)
        except SessionStoreError:
            return None

    @staticmethod
    def _cookie_flags(request: Request) -> dict[str, Any]:
        return {
            "path": mount_path(request) or "/",
            # Behind a TLS-terminating proxy the scheme is right only if the server trusts its
            # X-Forwarded-Proto (uvicorn --proxy-headers --forwarded-allow-ips=...).
            "secure": request.url.scheme == "https",
            "httponly": True,
            "samesite": "lax",
        }


class TrustedHeader(AuthBackend):
    """The user named by a reverse proxy that has already authenticated them.

    The header is believed only from ``trusted_proxies`` (addresses, networks such as "10.0.0.0/8", or
    names); ``None`` believes any client, which is safe only if nothing but the proxy can reach the board:
    anyone who can send a request straight to it can then name themselves admin. The proxy must also
    set, or strip, both headers on every request it forwards, or a client could send its own; a request
    carrying either header twice is refused, since a proxy that appends instead of replacing would
    otherwise let the client's copy through.

    When the server rewrites the client address from X-Forwarded-For (uvicorn --proxy-headers), the address
    seen here is the end user's, not the proxy's: list the networks users come from, or run the board
    without that rewriting.
    """

    def __init__(
        self,
        user_header: str = "X-Forwarded-User",
        role_header: str | None = "X-Forwarded-Role",
        default_role: str = "viewer",
        roles: Mapping[str, str] | None = None,
        trusted_proxies: Collection[str] | None = ("127.0.0.1", "::1"),
        *,
        secret_key: str | None = None,
    ) -> None:
        if not user_header:
            raise ValueError("user_header is empty")
        self.user_header = user_header
        self.role_header = role_header or None
        self.default_role = check_role(default_role, "default_role")
        self.roles = {name: check_role(role, f"roles[{name!r}]") for name, role in (roles or {}).items()}
        self.secret_key = secret_key
        self._networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        self._names: set[str] = set()
        self._trust_all = trusted_proxies is None
        if trusted_proxies is not None:
            if isinstance(trusted_proxies, str):
                trusted_proxies = (trusted_proxies,)
            if not trusted_proxies:
                raise ValueError("trusted_proxies is empty: no request could be trusted (None trusts every client)")
            for proxy in trusted_proxies:
                try:
                    self._networks.append(ipaddress.ip_network(proxy, strict=False))
                except ValueError:
                    self._names.add(proxy)
        self.routes: list[BaseRoute] = []

    def _trusted(self, request: Request) -> bool:
        if self._trust_all:
            return True
        if request.client is None:
            return False
        host = request.client.host
        if host in self._names:
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        return any(address in network for network in self._networks)

    def _single(self, request: Request, header: str) -> str:
        values = request.headers.getlist(header)
        if len(values) > 1:
            log.warning("board: refused a request carrying %s %d times", header, len(values))
            raise AuthRefused(400, _("The %(header)s header was sent more than once.", header=header))
        return values[0].strip() if values else ""

    async def authenticate(self, request: Request) -> User | None:
        if not self._trusted(request):
            return None
        name = self._single(request, self.user_header)
        role = self._single(request, self.role_header) if self.role_header else ""
        if not name:
            return None
        if role and role not in ROLES:
            return None  # a proxy sending a role we do not know is misconfigured: let nobody in
        return User(name, role or self.roles.get(name, self.default_role))

    def challenge(self, request: Request) -> Response:
        return _refusal(request, "authentication required by the proxy")


class CallableAuth(AuthBackend):
    """The host application's own check: ``fn(request)`` returns a ``User`` or ``None``, or an awaitable."""

    def __init__(self, fn: AuthFunction, *, secret_key: str | None = None) -> None:
        self.fn = fn
        self.secret_key = secret_key
        self.routes: list[BaseRoute] = []

    async def authenticate(self, request: Request) -> User | None:
        result = self.fn(request)
        if inspect.isawaitable(result):
            result = await result
        if result is not None and not isinstance(result, User):
            raise TypeError(f"the auth function must return a User or None, not {type(result).__name__}")
        return result

    def challenge(self, request: Request) -> Response:
        return _refusal(request, "authentication required")


class NoAuth(AuthBackend):
    """Everybody is an admin named "anonymous": for a board reachable only by trusted people."""

    warns = True

    def __init__(self) -> None:
        self.routes: list[BaseRoute] = []
        self.secret_key: str | None = None

    async def authenticate(self, request: Request) -> User | None:
        return User("anonymous", "admin")

    def challenge(self, request: Request) -> Response:
        return _refusal(request, "authentication required")


@overload
def as_backend(auth: None) -> None: ...
@overload
def as_backend(auth: AuthBackend | AuthFunction) -> AuthBackend: ...
def as_backend(auth: AuthBackend | AuthFunction | None) -> AuthBackend | None:
    """The backend for the board's ``auth=`` argument: a plain function becomes a ``CallableAuth``."""
    if auth is None or isinstance(auth, AuthBackend):
        return auth
    if callable(auth):
        return CallableAuth(auth)
    raise TypeError(
        f"auth must be an AuthBackend (with routes, secret_key, authenticate and challenge), a function of the "
        f"request, or None, not {type(auth).__name__}"
    )
