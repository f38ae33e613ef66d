"""Who may use the board, and what they may do there.

A backend turns a request into a ``User`` (or ``None`` for nobody) and says how to answer an anonymous
request. Four are provided:

- ``BasicAuth``: HTTP Basic against a fixed user list; fine for a single operator or behind TLS.
- ``FormLogin``: a login page and a signed, expiring session cookie; the usual choice for a team.
- ``TrustedHeader``: a reverse proxy (oauth2-proxy, Authelia, Cloudflare Access, ...) has already
  authenticated the user and names them in a header.
- ``CallableAuth``: the host application's own function, for apps that already have sessions.

``NoAuth`` lets everybody in as an admin; the board uses it when given ``auth=None`` and warns at start-up.

Roles are ordered, viewer < operator < admin: each can do what the one below it can. A user can also be
limited to some queues.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import inspect
import ipaddress
import re
import secrets
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, Literal, Protocol, TypeAlias, overload, runtime_checkable
from urllib.parse import quote, unquote, urlencode

from itsdangerous import BadData, URLSafeTimedSerializer
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

__all__ = [
    "ROLES",
    "AuthBackend",
    "AuthFunction",
    "BasicAuth",
    "CallableAuth",
    "FormLogin",
    "LoginThrottle",
    "NoAuth",
    "QueueRule",
    "Role",
    "TrustedHeader",
    "User",
    "Users",
    "as_backend",
    "hash_password",
    "verify_password",
]

Role = Literal["viewer", "operator", "admin"]
ROLES: tuple[str, ...] = ("viewer", "operator", "admin")

QueueRule: TypeAlias = Collection[str] | Callable[[str], bool] | None
Users: TypeAlias = Mapping[str, tuple[str, str] | tuple[str, str, QueueRule]]


def _check_role(role: object, what: str) -> str:
    if not isinstance(role, str) or role not in ROLES:
        raise ValueError(f"{what}: unknown role {role!r}; expected one of {', '.join(ROLES)}")
    return role


@dataclass(frozen=True)
class User:
    name: str
    role: str
    queues: QueueRule = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"user name must be a non-empty string, not {self.name!r}")
        _check_role(self.role, f"user {self.name!r}")
        rule = self.queues
        # A bare string is a Collection[str] of its characters; it is surely meant as one pattern.
        # Patterns are kept as a tuple so that a User stays hashable whatever collection it was given.
        if isinstance(rule, str):
            object.__setattr__(self, "queues", (rule,))
        elif rule is not None and not callable(rule):
            patterns = tuple(rule)
            if not all(isinstance(p, str) for p in patterns):
                raise ValueError(f"user {self.name!r}: queue patterns must be strings, not {patterns!r}")
            object.__setattr__(self, "queues", patterns)

    def can(self, role: str) -> bool:
        """Whether this user has at least ``role``."""
        return ROLES.index(self.role) >= ROLES.index(_check_role(role, "can()"))

    def sees(self, queue: str) -> bool:
        """Whether this user may see ``queue`` (and so act on it, as far as the role allows)."""
        rule = self.queues
        if rule is None:
            return True
        if callable(rule):
            return bool(rule(queue))
        # Case-sensitive on every platform: queue names are Redis keys, and fnmatch() folds case on Windows.
        return any(fnmatchcase(queue, pattern) for pattern in rule)


AuthFunction: TypeAlias = Callable[[Request], User | Awaitable[User | None] | None]


@runtime_checkable
class AuthBackend(Protocol):
    routes: list[BaseRoute]

    async def authenticate(self, request: Request) -> User | None: ...

    def challenge(self, request: Request) -> Response: ...


# Passwords ----------------------------------------------------------------------------------------------------

_HASH_ALGORITHM = "pbkdf2_sha256"
_DEFAULT_ITERATIONS = 600_000  # OWASP's 2023 figure for PBKDF2-HMAC-SHA256


def hash_password(password: str, *, iterations: int = _DEFAULT_ITERATIONS) -> str:
    """A salted PBKDF2 hash to put in the user list instead of the password itself."""
    if iterations < 1:
        raise ValueError(f"iterations must be at least 1, not {iterations}")
    salt = secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return f"{_HASH_ALGORITHM}${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def _parse_hash(stored: str) -> tuple[int, bytes, bytes] | None:
    parts = stored.split("$")
    if len(parts) != 4 or parts[0] != _HASH_ALGORITHM or not parts[1].isdigit():
        return None
    try:
        salt = base64.b64decode(parts[2], validate=True)
        digest = base64.b64decode(parts[3], validate=True)
    except ValueError:
        return None
    iterations = int(parts[1])
    if iterations < 1 or not salt or not digest:
        return None
    return iterations, salt, digest


def _is_hash(stored: str) -> bool:
    return stored.startswith(_HASH_ALGORITHM + "$")


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches ``stored``: a ``hash_password`` hash, or else the password in clear."""
    if not _is_hash(stored):
        # Bytes, not str: compare_digest refuses non-ASCII strings.
        return hmac.compare_digest(password.encode(), stored.encode())
    parsed = _parse_hash(stored)
    if parsed is None:
        return False
    iterations, salt, expected = parsed
    actual = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations, dklen=len(expected))
    return hmac.compare_digest(actual, expected)


class _UserTable:
    """The configured users, read again at each look-up so that edits to the mapping take effect at once."""

    _CACHE_SIZE = 1024

    def __init__(self, users: Users, *, basic: bool) -> None:
        if not users:
            raise ValueError("the user list is empty: nobody could log in")
        self._users = users
        self._basic = basic
        hashed = None
        for name, entry in users.items():
            stored, _ = self._parse(name, entry)
            if hashed is None and _is_hash(stored):
                hashed = _parse_hash(stored)
        # Unknown names are checked against a decoy of the same cost, so that the time taken does not tell
        # which names exist.
        if hashed is None:
            self._decoy = secrets.token_urlsafe(16)
        else:
            fake = base64.b64encode(secrets.token_bytes(32)).decode()
            self._decoy = f"{_HASH_ALGORITHM}${hashed[0]}${fake}${fake}"
        # Basic auth sends the password with every request, and 600,000 PBKDF2 rounds take a good part of a
        # second: successful checks are remembered under a keyed digest, which includes the stored hash so
        # that a changed password is checked afresh.
        self._cache_key = secrets.token_bytes(32)
        self._verified: OrderedDict[bytes, None] = OrderedDict()

    def _parse(self, name: object, entry: object) -> tuple[str, User]:
        if not isinstance(name, str) or not name:
            raise ValueError(f"user name must be a non-empty string, not {name!r}")
        if self._basic and ":" in name:
            raise ValueError(f"user name {name!r} contains ':', which HTTP Basic auth cannot carry")
        if not isinstance(entry, tuple | list) or len(entry) not in (2, 3):
            raise ValueError(f"user {name!r}: expected (password, role) or (password, role, queues), not {entry!r}")
        stored, role = entry[0], entry[1]
        queues = entry[2] if len(entry) == 3 else None
        if not isinstance(stored, str) or not stored:
            raise ValueError(f"user {name!r}: the password is empty")
        if _is_hash(stored) and _parse_hash(stored) is None:
            raise ValueError(f"user {name!r}: malformed password hash (expected the output of hash_password)")
        return stored, User(name, _check_role(role, f"user {name!r}"), queues)

    def get(self, name: str) -> User | None:
        entry = self._users.get(name)
        return None if entry is None else self._parse(name, entry)[1]

    async def check(self, name: str, password: str) -> User | None:
        """The user if ``password`` is theirs, else ``None``."""
        entry = self._users.get(name)
        if entry is None:
            await self._verify(password, self._decoy)
            return None
        stored, user = self._parse(name, entry)
        if not _is_hash(stored):
            return user if verify_password(password, stored) else None
        key = hmac.new(self._cache_key, "\0".join((name, password, stored)).encode(), hashlib.sha256).digest()
        if key in self._verified:
            self._verified.move_to_end(key)
            return user
        if not await self._verify(password, stored):
            return None
        self._verified[key] = None
        if len(self._verified) > self._CACHE_SIZE:
            self._verified.popitem(last=False)
        return user

    @staticmethod
    async def _verify(password: str, stored: str) -> bool:
        if not _is_hash(stored):
            return verify_password(password, stored)
        # PBKDF2 releases the GIL: in a thread it does not stall every other request.
        return await run_in_threadpool(verify_password, password, stored)


# Answers to anonymous requests ----------------------------------------------------------------------------------


def _wants_json(request: Request) -> bool:
    """Whether the client prefers JSON to HTML (a browser asks for HTML; fetch() and API clients do not)."""
    json_q = html_q = 0.0
    for part in request.headers.get("accept", "").split(","):
        media, *params = (piece.strip().lower() for piece in part.split(";"))
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if media == "application/json" or (media.startswith("application/") and media.endswith("+json")):
            json_q = max(json_q, q)
        elif media == "text/html":
            html_q = max(html_q, q)
    return json_q > html_q


def _refusal(request: Request, message: str, headers: Mapping[str, str] | None = None) -> Response:
    if _wants_json(request):
        return JSONResponse({"error": message}, status_code=401, headers=headers)
    return PlainTextResponse(message, status_code=401, headers=headers)


def _mount_path(request: Request) -> str:
    """Where the board is mounted, without a trailing slash ("" at the root).

    Meant to be called at the board's own level (its middleware, or a route on its own router), where
    ``root_path`` is the board's mount path and not that of some sub-mount inside it.
    """
    return str(request.scope.get("root_path", "")).rstrip("/")


def _path_in_mount(request: Request) -> str:
    path: str = request.scope["path"]
    root = _mount_path(request)
    if root and path.startswith(root):
        path = path[len(root) :]
    return path or "/"


# Control characters and spaces are dropped by browsers inside URLs, and a backslash counts as "/", so each
# could turn "/x" into "//host"; a dot segment could climb out of the mount.
_UNSAFE_IN_NEXT = re.compile(r"[\x00-\x20\x7f\\]")


def _safe_next(value: str | None) -> str:
    """``value`` if it is a path inside the board, else "/": the login page must not redirect elsewhere."""
    if not value or not value.startswith("/") or value.startswith("//") or _UNSAFE_IN_NEXT.search(value):
        return "/"
    path = value.split("?", 1)[0].split("#", 1)[0]
    if any(segment in (".", "..") for segment in unquote(path).split("/")):
        return "/"
    return value


# Backends ---------------------------------------------------------------------------------------------------


class BasicAuth(AuthBackend):
    """HTTP Basic auth against ``users``: ``{name: (password or hash_password(...), role[, queues])}``."""

    def __init__(self, users: Users, realm: str = "board") -> None:
        self.users = _UserTable(users, basic=True)
        self.realm = realm
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
        return await self.users.check(name, password)

    def challenge(self, request: Request) -> Response:
        return _refusal(request, "authentication required", {"WWW-Authenticate": self._www_authenticate})


class LoginThrottle:
    """Failed logins per user name: after ``max_failures`` within ``window`` seconds, refuse for ``lockout``.

    Kept by name rather than by address, so that spreading a guessing run over many addresses does not help;
    the flip side is that anyone can lock a name out for ``lockout`` seconds. In memory, for one process.
    """

    def __init__(
        self,
        max_failures: int = 5,
        window: float = 300.0,
        lockout: float = 60.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_names: int = 10_000,
    ) -> None:
        self.max_failures = max_failures
        self.window = window
        self.lockout = lockout
        self.clock = clock
        self.max_names = max_names
        self._failures: dict[str, list[float]] = {}
        self._locked: dict[str, float] = {}

    @staticmethod
    def _key(name: str) -> str:
        # Names come from the form: a bound on their length bounds the memory held for them.
        return name[:256]

    def retry_after(self, name: str) -> float:
        """Seconds until ``name`` may try again; 0 if it may now."""
        key = self._key(name)
        until = self._locked.get(key)
        if until is None:
            return 0.0
        remaining = until - self.clock()
        if remaining <= 0:
            del self._locked[key]
            return 0.0
        return remaining

    def failed(self, name: str) -> None:
        key = self._key(name)
        now = self.clock()
        recent = [t for t in self._failures.pop(key, []) if t > now - self.window]
        recent.append(now)
        if len(recent) >= self.max_failures:
            self._locked[key] = now + self.lockout
        else:
            self._failures[key] = recent  # re-inserted last: the dict stays ordered by latest failure
        self._prune(now)

    def succeeded(self, name: str) -> None:
        self._failures.pop(self._key(name), None)

    def _prune(self, now: float) -> None:
        if len(self._failures) > self.max_names:
            self._failures = {k: v for k, v in self._failures.items() if v[-1] > now - self.window}
            while len(self._failures) > self.max_names:
                del self._failures[next(iter(self._failures))]
        if len(self._locked) > self.max_names:
            self._locked = {k: v for k, v in self._locked.items() if v > now}
            while len(self._locked) > self.max_names:
                del self._locked[next(iter(self._locked))]


class FormLogin(AuthBackend):
    """A login page and a session cookie, signed and expiring after ``max_age`` seconds.

    The cookie holds only the user's name (and a random id per login): the user list is read again on each
    request, so removing a user or changing their role takes effect at once.
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
        self.users = _UserTable(users, basic=False)
        self.serializer = URLSafeTimedSerializer(secret_key, salt="board.web.auth.session")
        self.max_age = max_age
        # Signatures carry whole seconds.
        self._max_age_s = max(1, int(max_age))
        self.cookie_name = cookie_name
        self.login_path = login_path
        self.logout_path = logout_path
        self.throttle = LoginThrottle()
        self.routes: list[BaseRoute] = [
            Route(login_path, self._login, methods=["GET", "POST"], name="login"),
            Route(logout_path, self._logout, methods=["POST"], name="logout"),
        ]

    async def authenticate(self, request: Request) -> User | None:
        token = request.cookies.get(self.cookie_name)
        if not token:
            return None
        try:
            payload: Any = self.serializer.loads(token, max_age=self._max_age_s)
        except BadData:  # bad signature, expired, or not our format
            return None
        name = payload.get("u") if isinstance(payload, dict) else None
        return self.users.get(name) if isinstance(name, str) else None

    def challenge(self, request: Request) -> Response:
        if _wants_json(request):
            return JSONResponse({"error": "authentication required"}, status_code=401)
        url = _mount_path(request) + self.login_path
        # The browser follows `next` with a GET, so only a GET is worth coming back to.
        if request.method in ("GET", "HEAD"):
            path = quote(_path_in_mount(request))
            if request.url.query:
                path += "?" + request.url.query
            if path != self.login_path:
                url += "?" + urlencode({"next": path})
        return RedirectResponse(url, status_code=303)

    def render_login(self, request: Request, error: str | None) -> Response:
        """The login page; the caller sets the status code. Override to use the board's templates."""
        action = _mount_path(request) + self.login_path
        next_path = _safe_next(request.query_params.get("next"))
        if next_path != "/":
            action += "?" + urlencode({"next": next_path})
        message = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
        page = f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Log in · board</title>
<style>
body {{ font-family: system-ui, sans-serif; display: grid; place-items: center; min-height: 90vh; margin: 0; }}
form {{ display: grid; gap: .75rem; width: 18rem; }}
input, button {{ font: inherit; padding: .4rem; }}
.error {{ color: #b00020; margin: 0; }}
</style>
</head>
<body>
<form method="post" action="{html.escape(action)}">
<h1>board</h1>
{message}
<label>User name <input name="username" autocomplete="username" required autofocus></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<input type="hidden" name="next" value="{html.escape(next_path)}">
<button type="submit">Log in</button>
</form>
</body>
</html>
"""
        return HTMLResponse(page, headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY"})

    async def _login(self, request: Request) -> Response:
        if request.method != "POST":
            response = self.render_login(request, None)
            response.status_code = 200
            return response
        form = await request.form()
        fields = {key: value if isinstance(value, str) else "" for key, value in form.items()}
        name, password = fields.get("username", ""), fields.get("password", "")
        wait = self.throttle.retry_after(name)
        if wait:
            seconds = int(wait) + 1
            response = self.render_login(request, f"Too many failed attempts; try again in {seconds} s.")
            response.status_code = 429
            response.headers["Retry-After"] = str(seconds)
            return response
        user = await self.users.check(name, password)
        if user is None:
            self.throttle.failed(name)
            # The same words whether or not the name exists.
            response = self.render_login(request, "Wrong user name or password.")
            response.status_code = 401
            return response
        self.throttle.succeeded(name)
        next_path = _safe_next(fields.get("next") or request.query_params.get("next"))
        response = RedirectResponse(_mount_path(request) + next_path, status_code=303)
        token = self.serializer.dumps({"u": user.name, "s": secrets.token_urlsafe(16)})
        response.set_cookie(self.cookie_name, token, max_age=self._max_age_s, **self._cookie_flags(request))
        return response

    async def _logout(self, request: Request) -> Response:
        response = RedirectResponse(_mount_path(request) + self.login_path, status_code=303)
        response.delete_cookie(self.cookie_name, **self._cookie_flags(request))
        return response

    @staticmethod
    def _cookie_flags(request: Request) -> dict[str, Any]:
        return {
            "path": _mount_path(request) or "/",
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
    set, or strip, both headers on every request it forwards, or a client could send its own.

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
    ) -> None:
        if not user_header:
            raise ValueError("user_header is empty")
        self.user_header = user_header
        self.role_header = role_header or None
        self.default_role = _check_role(default_role, "default_role")
        self.roles = {name: _check_role(role, f"roles[{name!r}]") for name, role in (roles or {}).items()}
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

    async def authenticate(self, request: Request) -> User | None:
        if not self._trusted(request):
            return None
        name = request.headers.get(self.user_header, "").strip()
        if not name:
            return None
        role = request.headers.get(self.role_header, "").strip() if self.role_header else ""
        if role and role not in ROLES:
            return None  # a proxy sending a role we do not know is misconfigured: let nobody in
        return User(name, role or self.roles.get(name, self.default_role))

    def challenge(self, request: Request) -> Response:
        return _refusal(request, "authentication required by the proxy")


class CallableAuth(AuthBackend):
    """The host application's own check: ``fn(request)`` returns a ``User`` or ``None``, or an awaitable."""

    def __init__(self, fn: AuthFunction) -> None:
        self.fn = fn
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
    raise TypeError(f"auth must be an AuthBackend, a function of the request, or None, not {type(auth).__name__}")
