"""How the ``board`` command reads a setting: from its flag, else its environment variable, else a default,
parsed and checked; and the settings that several commands share (Redis, key prefix, listen address).

Each value parser raises ValueError saying what it expected; ``setting`` turns that into a CliError naming
the flag or the variable the value came from.
"""

from __future__ import annotations

import argparse
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from .engine.urls import check_url
from .preflight import CliError

LOG_LEVELS = ("debug", "info", "warning", "error")

T = TypeVar("T")


def env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def port_number(text: str) -> int:
    value = text.strip()
    if not (value.isascii() and value.isdigit() and 1 <= int(value) <= 65535):
        raise ValueError(f"expected a port number from 1 to 65535, got {text!r}")
    return int(value)


def whole_number(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = text.strip()
        if not (value.isascii() and value.isdigit() and int(value) >= minimum):
            raise ValueError(f"expected a whole number of at least {minimum}, got {text!r}")
        return int(value)

    return parse


def seconds(*, allow_zero: bool) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
            bound = "0 or more" if allow_zero else "more than 0"
            raise ValueError(f"expected a number of seconds, {bound}, got {text!r}")
        return value

    return parse


def boolean(text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    # A typo must not quietly turn a setting like read-only off.
    raise ValueError(f"expected 1, true, yes, on or 0, false, no, off, got {text!r}")


def log_level(text: str) -> str:
    if text.strip().lower() not in LOG_LEVELS:
        raise ValueError(f"expected one of {', '.join(LOG_LEVELS)}, got {text!r}")
    return text.strip().lower()


def mount_path(text: str) -> str:
    """``""`` for the root, else ``/a/b`` without a trailing slash."""
    path = text.strip().strip("/")
    # Braces would become route parameters in Starlette; '?', '#' and blanks cannot be in a path at all.
    if re.search(r"[{}?#\s]", path):
        raise ValueError(f"expected a URL path such as /admin/queues, got {text!r}")
    return "/" + path if path else ""


def group_delimiter(text: str) -> str | None:
    """What splits a queue's name into its group and the rest; ``none`` for no groups."""
    value = text.strip()
    if value.lower() == "none":
        return None
    if not 1 <= len(value) <= 8 or any(ch.isspace() for ch in value) or ":" in value:
        raise ValueError(f"expected 1 to 8 characters without blanks or ':' (such as . or -), or none, got {text!r}")
    return value


def environment_name(text: str) -> str | None:
    """The environment's badge beside the title ("production"): short text, or nothing."""
    value = " ".join(text.split())
    if len(value) > 40 or not value.isprintable():
        raise ValueError(f"expected a short name such as production or staging (40 characters at most), got {text!r}")
    return value or None


def logo_url(text: str) -> str | None:
    """The logo before the title: a path on the board's own origin or a data: image (the board's
    Content-Security-Policy loads images from nowhere else)."""
    value = text.strip()
    if not value:
        return None
    blank = any(ch.isspace() or ch in '"<>' for ch in value)
    if blank or value.startswith("//") or not value.startswith(("/", "data:image/")):
        raise ValueError(f"expected a path on this origin such as /logo.svg, or a data:image URL, got {text!r}")
    return value


def flag_name(dest: str) -> str:
    return "--" + dest.replace("_", "-")


def setting(
    args: argparse.Namespace, dest: str | None, env_name: str | None, default: T, parse: Callable[[str], T]
) -> T:
    """The flag ``dest``, else the variable ``env_name``, else ``default``; parsed, or a CliError naming it."""
    given: str | None = None if dest is None else getattr(args, dest, None)
    source = "" if dest is None else flag_name(dest)
    if given is None and env_name is not None:
        given, source = env(env_name), env_name
    if given is None:
        return default
    try:
        return parse(given)
    except ValueError as exc:
        raise CliError(f"{source}: {exc}") from None


def switch(args: argparse.Namespace, dest: str, env_name: str) -> bool:
    """An on/off flag, else its variable."""
    return True if getattr(args, dest, None) else setting(args, None, env_name, False, boolean)


def secret(name: str) -> str | None:
    """``NAME`` from the environment, or the contents of the file named by ``NAME_FILE``."""
    value = env(name)
    if value:
        return value
    path = env(f"{name}_FILE")
    if path:
        try:
            return Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise CliError(f"{name}_FILE: cannot read {path}: {exc.strerror}") from None
    return None


def redis_url(args: argparse.Namespace, *, required: bool = True) -> str | None:
    url = setting(args, "redis_url", "REDIS_URL", None, check_url)
    if url is None:
        url = setting(args, None, "BOARD_REDIS_URL", None, check_url)
    if url is None and required:
        raise CliError("no Redis given: pass --redis-url or set REDIS_URL")
    return url


def common_settings(args: argparse.Namespace) -> tuple[str, str]:
    """The Redis URL and the key prefix that serve and worker share."""
    url = redis_url(args)
    assert url is not None
    prefix = setting(args, "prefix", "BOARD_PREFIX", "bull", str.strip)
    if not prefix or ":" in prefix:
        raise CliError(f"--prefix: expected a name without ':', got {prefix!r}")
    return url, prefix


@dataclass(frozen=True)
class Listen:
    host: str
    port: int
    base_path: str


def listen_settings(args: argparse.Namespace) -> Listen:
    """Where the board listens: shared by ``serve`` and ``health``, so that the check finds the board."""
    return Listen(
        host=setting(args, "host", "BOARD_HOST", "127.0.0.1", str.strip) or "127.0.0.1",
        port=setting(args, "port", "BOARD_PORT", 8000, port_number),
        base_path=setting(args, "base_path", "BOARD_BASE_PATH", "", mount_path),
    )
