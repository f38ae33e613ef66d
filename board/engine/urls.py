"""Redis connection URLs, checked before use: a malformed one is refused with the reason, not guessed.

redis-py reads ``redis://`` as localhost and a database of ``abc`` as 0; a URL given to the engine (or the
``board`` command) names one Redis deployment unambiguously or raises ``ValueError``.

Besides one server (``redis://``, ``rediss://``, ``unix://``), two deployments of several servers:

- Sentinel, in the form of the Redis-Sentinel-Url package (also read by Prefect and redisvl):
  ``redis+sentinel://[user:pw@]h1[:26379],h2[:p2]/service[/db][?sentinel_password=..&opts]``. The user,
  password and options are those of the data nodes; ``sentinel_username`` and ``sentinel_password`` are
  asked by the Sentinels themselves.
- Redis Cluster, by analogy (no common form exists): ``redis+cluster://[user:pw@]h1:p1,h2:p2[/0][?opts]``,
  the hosts being startup nodes the client learns the others from; a cluster has database 0 only.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass, field
from typing import Literal

import redis

__all__ = ["REDIS_URL_FORMS", "RedisTarget", "check_url", "parse_url", "shown_url"]

REDIS_URL_FORMS = (
    "redis://host[:port][/db], rediss://host[:port][/db], unix:///path/to/redis.sock, "
    "redis+sentinel://host[:port],host2[:port]/service[/db] or redis+cluster://host:port,host2:port"
)
SENTINEL_PORT = 26379
Kind = Literal["redis", "unix", "sentinel", "cluster"]
_SENTINEL_OPTIONS = ("sentinel_username", "sentinel_password")
_SCHEMES: dict[str, tuple[Kind, bool]] = {
    "redis": ("redis", False),
    "rediss": ("redis", True),
    "unix": ("unix", False),
    "redis+sentinel": ("sentinel", False),
    "rediss+sentinel": ("sentinel", True),
    "redis+cluster": ("cluster", False),
    "rediss+cluster": ("cluster", True),
}


@dataclass(frozen=True)
class RedisTarget:
    """What a checked URL names. ``hosts`` are the server (redis), the Sentinels (sentinel) or the startup
    nodes (cluster); ``options`` the query's, ``sentinel_*`` and ``db`` taken out."""

    kind: Kind
    tls: bool
    hosts: tuple[tuple[str, int], ...]
    service: str | None
    db: int
    options: dict[str, str] = field(default_factory=dict)
    username: str | None = None
    password: str | None = None
    sentinel_username: str | None = None
    sentinel_password: str | None = None
    path: str | None = None

    def node_url(self, host: str, port: int) -> str:
        """A ``redis://`` URL for one data node of the deployment (its credentials, database and options):
        redis-py reads the options from it with their types, as for a plain URL."""
        auth = ""
        if self.username or self.password:
            user = urllib.parse.quote(self.username or "", safe="")
            auth = f"{user}:{urllib.parse.quote(self.password or '', safe='')}@"
        shown_host = f"[{host}]" if ":" in host else host
        query = urllib.parse.urlencode(self.options)
        scheme = "rediss" if self.tls else "redis"
        return f"{scheme}://{auth}{shown_host}:{port}/{self.db}" + (f"?{query}" if query else "")


def shown_url(url: str) -> str:
    """``url`` with every password in it replaced: error messages end up in logs."""
    masked = re.sub(r"^([a-z][a-z0-9+.-]*://[^/@:]*:)[^/@]*@", r"\1***@", url, flags=re.IGNORECASE)
    return re.sub(r"([?&](?:sentinel_)?password=)[^&#]*", r"\1***", masked, flags=re.IGNORECASE)


def _fail(url: str, problem: str) -> ValueError:
    return ValueError(f"{problem} in {shown_url(url)!r}")


def _hosts(url: str, netloc: str, kind: Kind) -> tuple[tuple[str, int], ...]:
    """The comma-separated ``host[:port]`` list after the credentials, IPv6 addresses in brackets."""
    hosts = []
    for item in netloc.split(","):
        if not item:
            raise _fail(url, "an empty host in the host list")
        try:
            parts = urllib.parse.urlsplit("//" + item)
            port = parts.port
        except ValueError:
            raise _fail(url, f"host {item!r} is not host[:port] with a port from 1 to 65535") from None
        if not parts.hostname:
            raise _fail(url, f"no host in {item!r}")
        if port == 0:
            raise _fail(url, f"host {item!r} is not host[:port] with a port from 1 to 65535")
        if port is None:
            if kind == "cluster":
                raise _fail(url, f"host {item!r} has no port: a cluster's startup nodes are host:port")
            port = SENTINEL_PORT if kind == "sentinel" else 6379
        hosts.append((parts.hostname, port))
    return tuple(hosts)


def _database(url: str, text: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise ValueError(f"database {text!r} in {shown_url(url)!r} is not a number")
    return int(text)


def _credentials(userinfo: str) -> tuple[str | None, str | None]:
    user, colon, secret = userinfo.partition(":")
    return urllib.parse.unquote(user) or None, urllib.parse.unquote(secret) if colon else None


def _options(url: str, query_text: str) -> dict[str, str]:
    try:
        query = urllib.parse.parse_qs(query_text, keep_blank_values=True, strict_parsing=bool(query_text))
    except ValueError:
        raise _fail(url, "a query that is not name=value&...") from None
    options: dict[str, str] = {}
    for name, values in query.items():
        if len(values) > 1:
            raise _fail(url, f"option {name!r} given {len(values)} times")
        options[name] = values[0]
    return options


def _one_database(url: str, databases: list[str]) -> int:
    db = 0
    for text in databases:
        db = _database(url, text)
    if len(set(databases)) > 1:
        raise _fail(url, f"two databases ({' and '.join(databases)})")
    return db


def parse_url(url: str) -> RedisTarget:
    """What ``url`` names, checked as ``check_url`` does."""
    if not isinstance(url, str):
        raise ValueError(f"expected a Redis URL ({REDIS_URL_FORMS}), got {url!r}")
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() not in _SCHEMES:
        raise ValueError(f"expected {REDIS_URL_FORMS}, got {shown_url(url)!r}")
    kind, tls = _SCHEMES[scheme.lower()]
    if kind in ("redis", "unix"):
        return _single(url, kind, tls)
    rest, _, query_text = rest.partition("?")
    netloc, _, path = rest.split("#", 1)[0].partition("/")
    userinfo, at, host_list = netloc.rpartition("@")
    username, password = _credentials(userinfo) if at else (None, None)
    if not host_list:
        raise _fail(url, "no host")
    hosts = _hosts(url, host_list, kind)
    options = _options(url, query_text)
    segments = [urllib.parse.unquote(s) for s in path.split("/")] if path else []
    if segments and segments[-1] == "":
        segments.pop()
    service = None
    if kind == "sentinel":
        if not segments or not segments[0]:
            raise _fail(url, "no service name: expected redis+sentinel://host[:port],.../service[/db]")
        service = segments.pop(0)
    elif any(k in options for k in _SENTINEL_OPTIONS):
        raise _fail(url, "sentinel_* options outside a redis+sentinel:// URL")
    if len(segments) > 1:
        raise _fail(url, f"path {'/' + path!r} has more parts than [/service]/db")
    db = _one_database(url, [*segments, *([options.pop("db")] if "db" in options else [])])
    if kind == "cluster" and db != 0:
        raise _fail(url, f"database {db}: a Redis Cluster has database 0 only")
    sentinel_username = options.pop("sentinel_username", None)
    sentinel_password = options.pop("sentinel_password", None)
    target = RedisTarget(
        kind, tls, hosts, service, db, options, username, password, sentinel_username, sentinel_password
    )
    for host, port in hosts:
        # The data nodes' options, read by redis-py (its casts name the option it could not read).
        try:
            redis.Redis.from_url(target.node_url(host, port))  # builds a pool only: nothing connects
        except (ValueError, TypeError) as exc:
            raise _fail(url, str(exc).rstrip(".")) from None
    return target


def _single(url: str, kind: Kind, tls: bool) -> RedisTarget:
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError as exc:
        raise ValueError(f"{exc} in {shown_url(url)!r}; expected {REDIS_URL_FORMS}") from None
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"the port in {shown_url(url)!r} is not a number from 1 to 65535") from None
    query = urllib.parse.parse_qs(parts.query)
    databases = query.get("db", [])
    if kind == "unix":
        if parts.hostname or not parts.path.strip("/"):
            raise ValueError(f"expected unix:///path/to/redis.sock, got {shown_url(url)!r}")
    else:
        if not parts.hostname:
            raise ValueError(f"no host in {shown_url(url)!r}; expected {REDIS_URL_FORMS}")
        if port == 0:
            raise ValueError(f"the port in {shown_url(url)!r} is not a number from 1 to 65535")
        if parts.path.strip("/"):
            databases.append(parts.path.strip("/"))
    db = 0
    for database in databases:
        db = _database(url, database)
    try:
        redis.Redis.from_url(url)  # builds a pool only: nothing connects
    except (ValueError, TypeError) as exc:
        raise _fail(url, str(exc).rstrip(".")) from None
    hosts = () if kind == "unix" else ((parts.hostname or "", port or 6379),)
    return RedisTarget(
        kind=kind,
        tls=tls,
        hosts=hosts,
        service=None,
        db=db,
        options={k: v[-1] for k, v in query.items() if k != "db"},
        username=urllib.parse.unquote(parts.username) if parts.username else None,
        password=urllib.parse.unquote(parts.password) if parts.password is not None else None,
        path=parts.path if kind == "unix" else None,
    )


def check_url(url: str) -> str:
    """``url`` if it names one Redis deployment unambiguously; redis-py would otherwise guess (localhost,
    db 0) or fail later with a traceback."""
    parse_url(url)
    return url
