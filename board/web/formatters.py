"""Formatters: what the board shows of a job's data, return value, options and logs.

The default redacts values whose key looks secret (password, token, secret, ...) for every user. A
custom formatter is a function ``(value, user) -> value`` per field; it sees parsed JSON when the text
parsed, else the raw (possibly cut) text.
"""

from __future__ import annotations

import json
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


def _key_pattern(words: tuple[str, ...]) -> re.Pattern[str]:
    keys = "|".join(re.escape(w) for w in words)
    # "some_password": <value>, inside JSON-ish text
    return re.compile(r'"[^"\\]*(?:' + keys + r')[^"\\]*"\s*:\s*', re.IGNORECASE)


_DEFAULT_KEYS = _key_pattern(SECRET_WORDS)


def _value_end(text: str, start: int) -> int:
    """Where the JSON value starting at ``start`` ends; the end of the text when it was cut short."""
    if start >= len(text):
        return start
    first = text[start]
    if first == '"':
        i = start + 1
        while i < len(text):
            if text[i] == "\\":
                i += 2
                continue
            if text[i] == '"':
                return i + 1
            i += 1
        return len(text)
    if first in "{[":
        depth, i, in_string = 0, start, False
        while i < len(text):
            c = text[i]
            if in_string:
                if c == "\\":
                    i += 1
                elif c == '"':
                    in_string = False
            elif c == '"':
                in_string = True
            elif c in "{[":
                depth += 1
            elif c in "}]":
                depth -= 1
                if depth == 0:
                    return i + 1
            i += 1
        return len(text)
    match = re.compile(r"[^,}\]\s]*").match(text, start)
    return match.end() if match else start


def redact_text(text: str, words: tuple[str, ...] = SECRET_WORDS) -> str:
    """The same for text that is not whole JSON (a preview cut short, a log line)."""
    try:
        return json.dumps(redact_value(json.loads(text), words), ensure_ascii=False, separators=(",", ":"))
    except ValueError:
        pass
    pattern = _DEFAULT_KEYS if words == SECRET_WORDS else _key_pattern(words)
    out, position = [], 0
    for match in pattern.finditer(text):
        if match.start() < position:
            continue
        out.append(text[position : match.end()])
        out.append(f'"{MASK}"')
        position = _value_end(text, match.end())
    out.append(text[position:])
    text = "".join(out)
    # key=value and key: value in log lines
    keys = "|".join(re.escape(w) for w in words)
    return re.sub(r"\b(\w*(?:" + keys + r")\w*)(\s*[=:]\s*)([^\s\"]+)", r"\1\2" + MASK, text, flags=re.IGNORECASE)


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
