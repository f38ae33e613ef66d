"""Users and passwords: who a request is, what role they have, which queues they see.

Roles are ordered, viewer < operator < admin: each can do what the one below it can. A user can also be
limited to some queues. Passwords are kept as salted PBKDF2 hashes (``hash_password``), or in clear for
a quick local set-up.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections import OrderedDict
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Literal, TypeAlias

from starlette.concurrency import run_in_threadpool

__all__ = [
    "ROLES",
    "QueueRule",
    "Role",
    "User",
    "UserTable",
    "Users",
    "check_role",
    "hash_password",
    "verify_password",
]

Role = Literal["viewer", "operator", "admin"]
ROLES: tuple[str, ...] = ("viewer", "operator", "admin")

QueueRule: TypeAlias = Collection[str] | Callable[[str], bool] | None
Users: TypeAlias = Mapping[str, tuple[str, str] | tuple[str, str, QueueRule]]


def check_role(role: object, what: str) -> str:
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
        check_role(self.role, f"user {self.name!r}")
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
        return ROLES.index(self.role) >= ROLES.index(check_role(role, "can()"))

    def sees(self, queue: str) -> bool:
        """Whether this user may see ``queue`` (and so act on it, as far as the role allows)."""
        rule = self.queues
        if rule is None:
            return True
        if callable(rule):
            return bool(rule(queue))
        # Case-sensitive on every platform: queue names are Redis keys, and fnmatch() folds case on Windows.
        return any(queue == pattern or fnmatchcase(queue, pattern) for pattern in rule)


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
    if len(parts) != 4 or parts[0] != _HASH_ALGORITHM or not (parts[1].isascii() and parts[1].isdigit()):
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


class UserTable:
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
        return stored, User(name, check_role(role, f"user {name!r}"), queues)

    def get(self, name: str) -> User | None:
        entry = self._users.get(name)
        return None if entry is None else self._parse(name, entry)[1]

    def stored(self, name: str) -> str | None:
        """The user's password as configured (a hash, or clear text); None for no such user."""
        entry = self._users.get(name)
        return None if entry is None else self._parse(name, entry)[0]

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
