"""Redis URLs: each accepted form read into what it names, each malformed one refused with what is wrong,
and passwords never shown."""

from __future__ import annotations

import pytest

from board.engine.urls import SENTINEL_PORT, RedisTarget, check_url, parse_url, shown_url


def test_a_single_server_url_names_its_host_port_and_database() -> None:
    target = parse_url("redis://user:p%40ss@cache.example:6380/3?socket_timeout=2")
    assert target == RedisTarget(
        "redis", False, (("cache.example", 6380),), None, 3, {"socket_timeout": "2"}, "user", "p@ss"
    )
    assert parse_url("rediss://h").tls and parse_url("rediss://h").hosts == (("h", 6379),)
    unix = parse_url("unix:///run/redis.sock?db=2")
    assert (unix.kind, unix.path, unix.db, unix.hosts) == ("unix", "/run/redis.sock", 2, ())


def test_a_sentinel_url_names_the_sentinels_the_service_and_both_passwords() -> None:
    url = "redis+sentinel://app:data%2Fpw@s1,s2:26380,[::1]:5000/mymaster/2?sentinel_password=spw&socket_timeout=1"
    target = parse_url(url)
    assert target.kind == "sentinel" and not target.tls
    assert target.hosts == (("s1", SENTINEL_PORT), ("s2", 26380), ("::1", 5000))
    assert (target.service, target.db) == ("mymaster", 2)
    assert (target.username, target.password) == ("app", "data/pw")
    assert (target.sentinel_username, target.sentinel_password) == (None, "spw")
    # The Sentinels' own settings are not the data nodes'.
    assert target.options == {"socket_timeout": "1"}
    assert target.node_url("10.0.0.7", 6379) == "redis://app:data%2Fpw@10.0.0.7:6379/2?socket_timeout=1"
    assert target.node_url("::1", 6379).startswith("redis://app:data%2Fpw@[::1]:6379/")
    assert check_url(url) == url
    assert parse_url("redis+sentinel://s/svc").db == 0
    assert parse_url("redis+sentinel://s/svc?db=4").db == 4
    assert parse_url("rediss+sentinel://s/svc?sentinel_username=watch").sentinel_username == "watch"
    assert parse_url("rediss+sentinel://s/svc").tls


def test_a_cluster_url_names_its_startup_nodes() -> None:
    target = parse_url("redis+cluster://:pw@10.0.0.1:7000,10.0.0.2:7001/0?socket_timeout=3")
    assert target.kind == "cluster" and target.hosts == (("10.0.0.1", 7000), ("10.0.0.2", 7001))
    assert (target.password, target.db, target.options) == ("pw", 0, {"socket_timeout": "3"})
    assert parse_url("rediss+cluster://n:1").tls
    assert parse_url("redis+cluster://n:1/").db == 0


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://h", "expected redis://"),
        ("redis+sentinel://s1,s2", "no service name"),
        ("redis+sentinel://s1/", "no service name"),
        ("redis+sentinel:///svc", "no host"),
        ("redis+sentinel://s1,,s2/svc", "an empty host"),
        ("redis+sentinel://s1:0/svc", "port from 1 to 65535"),
        ("redis+sentinel://s1:99999/svc", "port from 1 to 65535"),
        ("redis+sentinel://s1:x/svc", "port from 1 to 65535"),
        ("redis+sentinel://s1/svc/one", "database 'one' in"),
        ("redis+sentinel://s1/svc/1/2", "more parts than"),
        ("redis+sentinel://s1/svc/1?db=2", "two databases"),
        ("redis+sentinel://s1/svc?socket_timeout=soon", "socket_timeout"),
        ("redis+sentinel://s1/svc?db=1&db=2", "given 2 times"),
        ("redis+cluster://n1:7000/1", "database 0 only"),
        ("redis+cluster://n1", "has no port"),
        ("redis+cluster://n1:7000?sentinel_password=x", "outside a redis+sentinel"),
        ("redis://h:0", "port"),
        ("redis://h/abc", "database 'abc' in"),
        ("redis://", "no host"),
        ("unix://", "unix:///path"),
    ],
)
def test_a_malformed_url_is_refused_naming_what_is_wrong(url: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem.replace("?", r"\?").replace("+", r"\+")):
        check_url(url)


def test_no_password_is_shown() -> None:
    shown = shown_url("redis+sentinel://app:data-pw@s1,s2/mymaster?sentinel_password=s-pw&password=x-pw")
    assert "data-pw" not in shown and "s-pw" not in shown and "x-pw" not in shown
    assert shown == "redis+sentinel://app:***@s1,s2/mymaster?sentinel_password=***&password=***"
    assert shown_url("redis://:pw@h:1/0") == "redis://:***@h:1/0"
    assert shown_url("redis://h:1/0?socket_timeout=1") == "redis://h:1/0?socket_timeout=1"
    with pytest.raises(ValueError) as refused:
        check_url("redis+sentinel://:data-pw@s1/svc?sentinel_password=s-pw&socket_timeout=soon")
    assert "data-pw" not in str(refused.value) and "s-pw" not in str(refused.value)
