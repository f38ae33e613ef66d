"""The Redis page's facts in a person's units ("3 d 4 h", "512.0 MB of 2.0 GB, 25%"), from the text of
Redis' INFO; the JSON answer keeps INFO's own values.

INFO may come from any Redis-compatible server: a field that is missing or not a number leaves its row out
instead of failing the page. A Redis Cluster shows each primary under its address, with its own panels.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from ..adapters.base import ServerNode
from .i18n import _
from .render import remaining, size

Rows = list[tuple[str, str]]
# INFO's fields the JSON answer carries, as Redis wrote them.
RAW_FIELDS = (
    "redis_version",
    "redis_mode",
    "os",
    "tcp_port",
    "uptime_in_seconds",
    "connected_clients",
    "blocked_clients",
    "used_memory",
    "used_memory_human",
    "used_memory_peak",
    "used_memory_peak_human",
    "maxmemory",
    "maxmemory_human",
    "maxmemory_policy",
    "mem_fragmentation_ratio",
    "total_system_memory",
    "total_system_memory_human",
    "instantaneous_ops_per_sec",
    "keyspace_hits",
    "keyspace_misses",
    "evicted_keys",
    "aof_enabled",
)
_DB = re.compile(r"db(\d+)\Z")


def _int(info: Mapping[str, str], key: str) -> int | None:
    try:
        return int(info[key])
    except (KeyError, ValueError):
        return None


def _count(n: int) -> str:
    return f"{n:,}"


def _percent(part: float, whole: float) -> str:
    share = 100 * part / whole
    return f"{share:.0f}%" if share >= 10 or share == 0 else f"{share:.1f}%"


def memory_used(info: Mapping[str, str]) -> str | None:
    """ "512.0 MB of 2.0 GB, 25%", or "512.0 MB, no limit" when maxmemory is 0."""
    used = _int(info, "used_memory")
    if used is None:
        return None
    limit = _int(info, "maxmemory")
    if not limit:
        return _("%(used)s, no limit", used=size(used))
    return _("%(used)s of %(limit)s, %(percent)s", used=size(used), limit=size(limit), percent=_percent(used, limit))


def hit_ratio(info: Mapping[str, str]) -> float | None:
    """The share of key lookups that found their key, None before any lookup."""
    hits, misses = _int(info, "keyspace_hits"), _int(info, "keyspace_misses")
    if hits is None or misses is None or hits + misses == 0:
        return None
    return hits / (hits + misses)


def keyspace(info: Mapping[str, str]) -> dict[str, dict[str, int]]:
    """Each database's keys and keys with a time to live: INFO writes ``db0:keys=3,expires=1,avg_ttl=0``."""
    found: dict[str, dict[str, int]] = {}
    for key, value in info.items():
        if not _DB.match(key):
            continue
        numbers: dict[str, int] = {}
        for part in value.split(","):
            name, _sep, number = part.partition("=")
            if number.isascii() and number.isdigit():
                numbers[name] = int(number)
        if "keys" in numbers:
            found[key] = numbers
    return dict(sorted(found.items(), key=lambda item: int(item[0][2:])))


def _plain(info: Mapping[str, str], rows: list[tuple[str, str]]) -> Rows:
    return [(label, info[key]) for key, label in rows if info.get(key)]


def _server(info: Mapping[str, str]) -> Rows:
    out = _plain(info, [("redis_version", _("Version")), ("redis_mode", _("Mode")), ("os", _("OS"))])
    out += _plain(info, [("tcp_port", _("Port"))])
    uptime = _int(info, "uptime_in_seconds")
    if uptime is not None:
        out.append((_("Uptime"), remaining(uptime * 1000)))
    aof = info.get("aof_enabled")
    if aof in ("0", "1"):
        out.append((_("Append-only file"), _("on") if aof == "1" else _("off")))
    return out


def _memory(info: Mapping[str, str]) -> Rows:
    out: Rows = []
    used = memory_used(info)
    if used is not None:
        out.append((_("Used"), used))
    for key, label in (("used_memory_peak", _("Peak")), ("total_system_memory", _("System memory"))):
        n = _int(info, key)
        if n:
            out.append((label, size(n)))
    return out + _plain(
        info, [("mem_fragmentation_ratio", _("Fragmentation ratio")), ("maxmemory_policy", _("When full"))]
    )


def _activity(info: Mapping[str, str]) -> Rows:
    out: Rows = []
    for key, label in (
        ("connected_clients", _("Connected clients")),
        ("blocked_clients", _("Blocked clients")),
        ("instantaneous_ops_per_sec", _("Commands per second")),
        ("evicted_keys", _("Evicted keys")),
    ):
        n = _int(info, key)
        if n is not None:
            out.append((label, _count(n)))
    ratio = hit_ratio(info)
    if ratio is not None:
        hits, misses = _int(info, "keyspace_hits") or 0, _int(info, "keyspace_misses") or 0
        out.append(
            (
                _("Hit ratio"),
                _(
                    "%(percent)s (%(hits)s hits, %(misses)s misses)",
                    percent=_percent(hits, hits + misses),
                    hits=_count(hits),
                    misses=_count(misses),
                ),
            )
        )
    return out


def sections(info: Mapping[str, str]) -> list[tuple[str, Rows]]:
    """The page's panels, each a title and its rows; an empty panel is left out."""
    found = [(_("Server"), _server(info)), (_("Memory"), _memory(info)), (_("Clients and activity"), _activity(info))]
    return [(title, rows) for title, rows in found if rows]


def raw(info: Mapping[str, str]) -> dict[str, Any]:
    """The JSON answer: INFO's values as Redis wrote them, the keyspace and the hit ratio as numbers."""
    data: dict[str, Any] = {key: info[key] for key in RAW_FIELDS if key in info}
    data["keyspace"] = keyspace(info)
    data["hit_ratio"] = hit_ratio(info)
    return data


class NodePanels(NamedTuple):
    """One server's part of the page: its address, panels and keyspace, or the error it answered."""

    name: str
    sections: list[tuple[str, Rows]]
    keyspace: dict[str, dict[str, int]]
    error: str | None


def is_cluster(nodes: Sequence[ServerNode]) -> bool:
    """Whether the page names each server: several of them, or one that says it is a cluster node."""
    return len(nodes) > 1 or any(node.info.get("redis_mode") == "cluster" for node in nodes)


def page(nodes: Sequence[ServerNode]) -> dict[str, Any]:
    """The page's context: each server's panels (``nodes``), and ``cluster`` when they are named."""
    panels = [NodePanels(n.name, sections(n.info), keyspace(n.info), n.error) for n in nodes]
    return {"nodes": panels, "cluster": is_cluster(nodes)}


def answer(nodes: Sequence[ServerNode]) -> dict[str, Any]:
    """The JSON answer: a single Redis's ``raw`` facts; a cluster's ``{"nodes": [...]}``, each with its
    address as ``node`` and its ``raw`` facts or its ``error``."""
    if not is_cluster(nodes):
        (node,) = nodes
        return raw(node.info) if node.error is None else {**raw(node.info), "error": node.error}
    shown = [{"node": n.name, **raw(n.info)} if n.error is None else {"node": n.name, "error": n.error} for n in nodes]
    return {"nodes": shown}
