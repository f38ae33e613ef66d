"""The Redis page's facts in a person's units (board/web/server_info.py), from INFO text as Redis writes it;
the page itself, over a real Redis, is in test_views.py."""

from __future__ import annotations

from board.web.server_info import hit_ratio, keyspace, memory_used, raw, sections

GB = 1024**3
MB = 1024**2
INFO = {
    "redis_version": "7.2.4",
    "redis_mode": "standalone",
    "tcp_port": "6379",
    "uptime_in_seconds": str(3 * 86400 + 4 * 3600 + 59),
    "aof_enabled": "0",
    "used_memory": str(512 * MB),
    "used_memory_human": "512.00M",
    "used_memory_peak": str(700 * MB),
    "maxmemory": str(2 * GB),
    "maxmemory_policy": "noeviction",
    "mem_fragmentation_ratio": "1.12",
    "connected_clients": "1234",
    "blocked_clients": "2",
    "keyspace_hits": "970",
    "keyspace_misses": "30",
    "db0": "keys=3,expires=1,avg_ttl=0",
    "db12": "keys=1500,expires=0,avg_ttl=0",
    "db2": "keys=7,expires=7,avg_ttl=100",
}


def as_dict(info: dict[str, str]) -> dict[str, dict[str, str]]:
    return {title: dict(rows) for title, rows in sections(info)}


def test_units_a_person_reads() -> None:
    shown = as_dict(INFO)
    assert shown["Server"]["Uptime"] == "3 d 4 h"
    assert shown["Server"]["Append-only file"] == "off"
    assert shown["Memory"]["Used"] == "512.0 MB of 2.0 GB, 25%"
    assert shown["Memory"]["Peak"] == "700.0 MB"
    assert shown["Memory"]["When full"] == "noeviction"
    assert shown["Clients and activity"]["Connected clients"] == "1,234"
    assert shown["Clients and activity"]["Hit ratio"] == "97% (970 hits, 30 misses)"


def test_memory_without_a_limit_and_small_shares() -> None:
    assert memory_used({"used_memory": str(3 * MB), "maxmemory": "0"}) == "3.0 MB, no limit"
    assert memory_used({"used_memory": str(3 * MB), "maxmemory": str(1024 * MB)}) == "3.0 MB of 1.0 GB, 0.3%"
    assert memory_used({"maxmemory": "0"}) is None


def test_keyspace_per_database_in_order() -> None:
    assert keyspace(INFO) == {
        "db0": {"keys": 3, "expires": 1, "avg_ttl": 0},
        "db2": {"keys": 7, "expires": 7, "avg_ttl": 100},
        "db12": {"keys": 1500, "expires": 0, "avg_ttl": 0},
    }


def test_hit_ratio_only_after_lookups() -> None:
    assert hit_ratio(INFO) == 0.97
    assert hit_ratio({"keyspace_hits": "0", "keyspace_misses": "0"}) is None
    assert "Hit ratio" not in as_dict({**INFO, "keyspace_hits": "0", "keyspace_misses": "0"})["Clients and activity"]


def test_odd_values_leave_their_rows_out() -> None:
    odd = {"redis_version": "7", "uptime_in_seconds": "soon", "used_memory": "lots", "connected_clients": ""}
    odd["db0"] = "x"
    assert sections(odd) == [("Server", [("Version", "7")])]
    assert keyspace(odd) == {}


def test_the_json_answer_keeps_what_redis_wrote() -> None:
    data = raw(INFO)
    assert data["used_memory"] == str(512 * MB) and data["uptime_in_seconds"] == INFO["uptime_in_seconds"]
    assert data["used_memory_human"] == "512.00M"
    assert data["keyspace"]["db12"]["keys"] == 1500
    assert data["hit_ratio"] == 0.97
    assert "db0" not in data  # said once, under "keyspace"
