"""Who may use the board that ``board serve`` runs: its users from ``BOARD_USERS`` (or the file named by
``BOARD_USERS_FILE``) and the auth backend that ``BOARD_AUTH`` names, configured from ``BOARD_*`` variables.

Users and secrets come from the environment or a file, never from a flag that would show in ``ps``.
"""

from __future__ import annotations

from typing import Any

from .cli_settings import env, secret
from .preflight import CliError


def parse_users(text: str, origin: str) -> dict[str, tuple[Any, ...]]:
    """One user a line (or separated by ';'): ``name:password-or-hash:role[:queue,queue]``."""
    users: dict[str, tuple[Any, ...]] = {}
    for number, line in enumerate(text.replace(";", "\n").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(":")
        # A pbkdf2 hash holds '$' but no ':', so the fields split cleanly.
        if len(parts) not in (3, 4) or not parts[0] or not parts[1]:
            raise CliError(f"{origin}, entry {number}: expected name:password:role[:queues], got {parts[0]!r}...")
        name, password, role = parts[0], parts[1], parts[2]
        if len(parts) == 4 and parts[3]:
            users[name] = (password, role, tuple(q.strip() for q in parts[3].split(",") if q.strip()))
        else:
            users[name] = (password, role)
    if not users:
        raise CliError(f"{origin}: no users given")
    return users


def load_users() -> dict[str, tuple[Any, ...]] | None:
    text = secret("BOARD_USERS")
    return None if text is None else parse_users(text, "BOARD_USERS" if env("BOARD_USERS") else "BOARD_USERS_FILE")


def build_auth(kind: str) -> Any:
    from .web.auth import BasicAuth, FormLogin, TrustedHeader

    kind = kind.lower()
    if kind == "none":
        return None
    try:
        if kind == "header":
            proxies = env("BOARD_TRUSTED_PROXIES", "127.0.0.1,::1") or ""
            return TrustedHeader(
                user_header=env("BOARD_USER_HEADER", "X-Forwarded-User") or "X-Forwarded-User",
                role_header=env("BOARD_ROLE_HEADER", "X-Forwarded-Role"),
                default_role=env("BOARD_DEFAULT_ROLE", "viewer") or "viewer",
                trusted_proxies=None if proxies == "*" else [p.strip() for p in proxies.split(",") if p.strip()],
            )
        if kind not in ("basic", "form"):
            raise CliError(f"BOARD_AUTH: expected basic, form, header or none, got {kind!r}")
        users = load_users()
        if users is None:
            raise CliError(f"BOARD_AUTH={kind} needs users: set BOARD_USERS or BOARD_USERS_FILE (name:password:role)")
        if kind == "basic":
            return BasicAuth(users)
        key = secret("BOARD_SECRET_KEY")
        if not key:
            raise CliError("BOARD_AUTH=form needs BOARD_SECRET_KEY (or BOARD_SECRET_KEY_FILE), 16+ characters")
        return FormLogin(users, key)
    except ValueError as exc:
        raise CliError(f"auth: {exc}") from None
