"""Formatters: what the board shows of a job's data, return value, options and logs.

The default redacts values whose key looks secret (password, token, secret, ...) for every user. A
custom formatter is a function ``(value, user) -> value`` per field; it sees parsed JSON when the text
parsed, else the raw (possibly cut) text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from .auth import User

Formatter = Callable[[Any, User], Any]
FIELDS = ("name", "data", "returnvalue", "opts", "logs", "progress", "failed_reason")
SECRET_WORDS = (
    "password",
    "passwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "authorization",
    "credential",
    "private_key",
)
MASK = "***"


def _is_secret(key: str, words: tuple[str, ...]) -> bool:
    lowered = key.lower().replace("-", "_")
    return any(word in lowered for word in words)


def redact_value(value: Any, words: tuple[str, ...] = SECRET_WORDS) -> Any:
    """Parsed JSON with the values of secret-looking keys replaced, at any depth."""
    if isinstance(value, dict):
        return {k: (MASK if _is_secret(str(k), words) else redact_value(v, words)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_value(v, words) for v in value]
    return value


def _text_pattern(words: tuple[str, ...]) -> re.Pattern[str]:
    keys = "|".join(re.escape(w) for w in words)
    # "some_password": "value" (a string, possibly cut off) or a bare scalar, inside JSON-ish text.
    return re.compile(
        r'("[^"\\]*(?:' + keys + r')[^"\\]*"\s*:\s*)("(?:[^"\\]|\\.)*"?|[^,}\]\s]+)',
        re.IGNORECASE,
    )


_DEFAULT_PATTERN = _text_pattern(SECRET_WORDS)


def redact_text(text: str, words: tuple[str, ...] = SECRET_WORDS) -> str:
    """The same for text that is not whole JSON (a preview cut short, a log line)."""
    pattern = _DEFAULT_PATTERN if words == SECRET_WORDS else _text_pattern(words)
    text = pattern.sub(lambda m: m.group(1) + f'"{MASK}"', text)
    # key=value and key: value in log lines
    keys = "|".join(re.escape(w) for w in words)
    return re.sub(r"\b(\w*(?:" + keys + r")\w*)(\s*[=:]\s*)(\S+)", r"\1\2" + MASK, text, flags=re.IGNORECASE)


def default_formatter(value: Any, user: User) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    return redact_value(value)


class Formatters:
    def __init__(self, custom: Mapping[str, Formatter] | None = None, *, redact: bool = True) -> None:
        unknown = set(custom or {}) - set(FIELDS)
        if unknown:
            raise ValueError(f"formatters: unknown field(s) {sorted(unknown)}; expected some of {FIELDS}")
        self.custom = dict(custom or {})
        self.redact = redact

    def apply(self, field: str, value: Any, user: User) -> Any:
        if field in self.custom:
            return self.custom[field](value, user)
        if self.redact and field not in ("name", "progress"):
            return default_formatter(value, user)
        return value
