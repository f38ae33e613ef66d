"""Redis connection URLs, checked before use: a malformed one is refused with the reason, not guessed.

redis-py reads ``redis://`` as localhost and a database of ``abc`` as 0; a URL given to the engine (or the
``board`` command) names one Redis unambiguously or raises ``ValueError``.
"""

from __future__ import annotations

import re
import urllib.parse

import redis

__all__ = ["REDIS_URL_FORMS", "check_url", "shown_url"]

REDIS_URL_FORMS = "redis://host[:port][/db], rediss://host[:port][/db] or unix:///path/to/redis.sock"


def shown_url(url: str) -> str:
    """``url`` with its password, if any, replaced: error messages end up in logs."""
    return re.sub(r"^([a-z][a-z0-9+.-]*://[^/@:]*:)[^/@]*@", r"\1***@", url, flags=re.IGNORECASE)


def check_url(url: str) -> str:
    """``url`` if it names one Redis unambiguously; redis-py would otherwise guess (localhost, db 0) or
    fail later with a traceback."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError as exc:
        raise ValueError(f"{exc} in {shown_url(url)!r}; expected {REDIS_URL_FORMS}") from None
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"the port in {shown_url(url)!r} is not a number from 1 to 65535") from None
    scheme = parts.scheme.lower()
    if scheme not in ("redis", "rediss", "unix"):
        raise ValueError(f"expected {REDIS_URL_FORMS}, got {shown_url(url)!r}")
    query = urllib.parse.parse_qs(parts.query)
    databases = query.get("db", [])
    if scheme == "unix":
        if parts.hostname or not parts.path.strip("/"):
            raise ValueError(f"expected unix:///path/to/redis.sock, got {shown_url(url)!r}")
    else:
        if not parts.hostname:
            raise ValueError(f"no host in {shown_url(url)!r}; expected {REDIS_URL_FORMS}")
        if port == 0:
            raise ValueError(f"the port in {shown_url(url)!r} is not a number from 1 to 65535")
        if parts.path.strip("/"):
            databases.append(parts.path.strip("/"))
    for database in databases:
        if not (database.isascii() and database.isdigit()):
            raise ValueError(f"database {database!r} in {shown_url(url)!r} is not a number")
    try:
        redis.Redis.from_url(url)  # builds a pool only: nothing connects
    except (ValueError, TypeError) as exc:
        raise ValueError(f"{str(exc).rstrip('.')} in {shown_url(url)!r}") from None
    return url
