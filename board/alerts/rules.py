"""Alert rules and where alerts go, from a Python structure or a TOML file, checked before anything runs.

A configuration holds ``rules`` and ``webhooks``::

    [[webhooks]]
    name = "ops"
    url = "https://hooks.slack.com/services/..."
    slack = true          # Slack's {"text": ...} body instead of the JSON alert
    timeout = 5           # seconds per attempt
    retries = 3           # attempts after the first, 1 s, 2 s, 4 s ... apart

    [[rules]]
    name = "email backlog"
    when = "waiting_above"   # waiting_above, failures_per_minute_above, no_workers,
                             # retries_exhausted, oldest_waiting_above
    queues = ["email"]       # names or shell patterns ("reports.*"); all queues when left out
    threshold = 1000         # jobs; failures a minute; seconds for oldest_waiting_above
    minutes = 10             # how long it must hold before the alert fires (0: at once)
    send_to = ["ops"]        # webhook names; every webhook when left out

A mistake anywhere raises ``ConfigError`` naming the entry and the field.
"""

from __future__ import annotations

import fnmatch
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

T = TypeVar("T")
KINDS = ("waiting_above", "failures_per_minute_above", "no_workers", "retries_exhausted", "oldest_waiting_above")
# Kinds whose threshold means something; no_workers and retries_exhausted take none.
THRESHOLDED = frozenset({"waiting_above", "failures_per_minute_above", "oldest_waiting_above"})
RULE_FIELDS = frozenset({"name", "when", "queues", "threshold", "minutes", "send_to"})
WEBHOOK_FIELDS = frozenset({"name", "url", "slack", "timeout", "retries", "headers"})


class ConfigError(ValueError):
    """The alert configuration cannot be used; the message names the entry and the field."""


@dataclass(frozen=True)
class Rule:
    name: str
    when: str
    queues: tuple[str, ...] = ()
    threshold: float = 0
    minutes: float = 0
    send_to: tuple[str, ...] = ()

    def watches(self, queue: str) -> bool:
        return not self.queues or any(fnmatch.fnmatchcase(queue, pattern) for pattern in self.queues)


@dataclass(frozen=True)
class Webhook:
    name: str
    url: str
    slack: bool = False
    timeout: float = 5
    retries: int = 3
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class AlertConfig:
    rules: tuple[Rule, ...] = ()
    webhooks: tuple[Webhook, ...] = ()


def _number(entry: Mapping[str, Any], key: str, where: str, default: float, *, minimum: float = 0) -> float:
    value = entry.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < minimum or value != value:
        raise ConfigError(f"{where}: {key} must be a number >= {minimum:g}, got {value!r}")
    return float(value)


def _names(entry: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = entry.get(key, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{where}: {key} must be a list of names, got {value!r}")
    return tuple(value)


def _entry(entry: Any, kind: str, index: int, fields: frozenset[str]) -> tuple[Mapping[str, Any], str, str]:
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{kind}[{index}]: expected a table of settings, got {entry!r}")
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{kind}[{index}]: give it a name")
    where = f"{kind[:-1]} {name!r}"
    unknown = sorted(set(entry) - fields)
    if unknown:
        raise ConfigError(f"{where}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(fields))}")
    return entry, name.strip(), where


def _rule(raw: Any, index: int, hooks: set[str]) -> Rule:
    entry, name, where = _entry(raw, "rules", index, RULE_FIELDS)
    when = entry.get("when")
    if when not in KINDS:
        raise ConfigError(f"{where}: when must be one of {', '.join(KINDS)}, got {when!r}")
    threshold = _number(entry, "threshold", where, 0)
    if when in THRESHOLDED and "threshold" not in entry:
        raise ConfigError(f"{where}: {when} needs a threshold")
    send_to = _names(entry, "send_to", where)
    missing = [hook for hook in send_to if hook not in hooks]
    if missing:
        raise ConfigError(f"{where}: send_to names no webhook {', '.join(missing)}")
    return Rule(name, when, _names(entry, "queues", where), threshold, _number(entry, "minutes", where, 0), send_to)


def _webhook(raw: Any, index: int) -> Webhook:
    entry, name, where = _entry(raw, "webhooks", index, WEBHOOK_FIELDS)
    url = entry.get("url")
    if not isinstance(url, str):
        raise ConfigError(f"{where}: url must be an http(s) URL, got {url!r}")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{where}: url must be an http(s) URL, got {url!r}")
    slack = entry.get("slack", False)
    if not isinstance(slack, bool):
        raise ConfigError(f"{where}: slack must be true or false, got {slack!r}")
    headers = entry.get("headers", {})
    if not isinstance(headers, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        raise ConfigError(f"{where}: headers must map names to strings")
    retries = _number(entry, "retries", where, 3)
    if retries != int(retries) or retries > 10:
        raise ConfigError(f"{where}: retries must be a whole number from 0 to 10, got {entry.get('retries')!r}")
    timeout = _number(entry, "timeout", where, 5, minimum=0.1)
    return Webhook(name, url, slack, timeout, int(retries), tuple(headers.items()))


def _unique(names: Sequence[str], what: str) -> None:
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise ConfigError(f"two {what} are named {name!r}")
        seen.add(name)


def load_config(data: Mapping[str, Any]) -> AlertConfig:
    """The configuration in ``data`` (``{"rules": [...], "webhooks": [...]}``), checked."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"expected a table with rules and webhooks, got {data!r}")
    unknown = sorted(set(data) - {"rules", "webhooks"})
    if unknown:
        raise ConfigError(f"unknown section(s) {', '.join(unknown)}; expected rules and webhooks")
    raw_hooks, raw_rules = data.get("webhooks", []), data.get("rules", [])
    if not isinstance(raw_hooks, list | tuple) or not isinstance(raw_rules, list | tuple):
        raise ConfigError("rules and webhooks must be lists of tables")
    webhooks = tuple(_webhook(entry, i) for i, entry in enumerate(raw_hooks))
    _unique([hook.name for hook in webhooks], "webhooks")
    rules = tuple(_rule(entry, i, {hook.name for hook in webhooks}) for i, entry in enumerate(raw_rules))
    _unique([rule.name for rule in rules], "rules")
    return AlertConfig(rules, webhooks)


def load_toml(path: str | Path, load: Callable[[dict[str, Any]], T], error: type[ValueError]) -> T:
    """``load`` of a TOML file's table; ``error`` naming the file for anything wrong with it."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise error(f"cannot read {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise error(f"{path} is not valid TOML: {exc}") from None
    try:
        return load(data)
    except error as exc:
        raise error(f"{path}: {exc}") from None


def load_file(path: str | Path) -> AlertConfig:
    """The configuration in a TOML file."""
    return load_toml(path, load_config, ConfigError)


__all__ = ["KINDS", "AlertConfig", "ConfigError", "Rule", "Webhook", "load_config", "load_file", "load_toml"]
