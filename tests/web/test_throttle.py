"""Brute-force throttling of password checks (board/web/throttle.py): the count in memory, on a fake clock; the
count in Redis (board/adapters/store.py, login_failed.lua) shared by two throttles as by two processes, and
what each does while Redis is down; then the login form and HTTP Basic auth locking a name, and an address
(an IPv6 client by its /64), with a 429 and Retry-After, also while Redis is down. Processes proper:
tests/web/test_multiprocess.py."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis
from starlette.testclient import TestClient

from board.adapters.store import RedisThrottleStore
from board.engine.connection import AsyncRunner, async_client
from board.web.auth import BasicAuth, FormLogin
from board.web.throttle import STORE_RETRY_S, LoginThrottle, Throttled

from .conftest import JSON, SECRET, ClientFor, UserList, basic, login, make_app

# The count in memory, on a fake clock -------------------------------------------------------------------------


async def test_login_throttle_timing() -> None:
    now = [1000.0]
    throttle = LoginThrottle(clock=lambda: now[0])
    for _ in range(4):
        await throttle.failed("ada")
        now[0] += 80  # the first falls out of the 5-minute window before the fifth
    await throttle.failed("ada")
    assert await throttle.retry_after("ada") == 0
    await throttle.failed("ada")
    assert await throttle.retry_after("ada") == 60
    now[0] += 59
    assert await throttle.retry_after("ada") == pytest.approx(1)
    now[0] += 1.5
    assert await throttle.retry_after("ada") == 0
    await throttle.failed("ada")  # a fresh count after the lockout
    assert await throttle.retry_after("ada") == 0
    await throttle.succeeded("ada")
    for _ in range(4):
        await throttle.failed("ada")
    assert await throttle.retry_after("ada") == 0


async def test_login_throttle_memory_is_bounded() -> None:
    throttle = LoginThrottle(clock=lambda: 0.0, max_names=100)
    for i in range(1000):
        await throttle.failed(f"user{i}", f"10.0.{i // 256}.{i % 256}")
    await throttle.failed("x" * 10_000)
    for counter in throttle.local.counters.values():
        assert len(counter.failures) <= 100
        assert all(len(name) <= 256 for name in counter.failures)


@pytest.mark.parametrize(
    "settings",
    [{"max_failures": 0}, {"max_address_failures": 0}, {"window": 0}, {"lockout": -1}],
)
def test_the_throttle_settings_are_checked(settings: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        LoginThrottle(**settings)


async def test_an_address_is_counted_apart_from_names_and_kept_by_a_success() -> None:
    throttle = LoginThrottle(clock=lambda: 0.0, max_failures=100, max_address_failures=3)
    for name in ("n1", "n2"):
        await throttle.failed(name, "203.0.113.7")
    await throttle.succeeded("ada", "203.0.113.7")  # one good account does not wipe a run of guesses
    await throttle.failed("n3", "203.0.113.7")
    assert await throttle.retry_after("ada", "203.0.113.7") == 60
    assert await throttle.retry_after("ada", "198.51.100.9") == 0 and await throttle.retry_after("ada") == 0


# The count in Redis, shared by every process ------------------------------------------------------------------


@pytest.fixture
async def shared(redis_url: str) -> AsyncIterator[RedisThrottleStore]:
    client = async_client(redis_url)
    runner = AsyncRunner(client)
    yield RedisThrottleStore(runner, "bull")
    await runner.aclose()
    await client.aclose()


async def test_two_processes_count_the_same_failures(shared: RedisThrottleStore, raw: redis.Redis) -> None:
    # Two throttles, as two processes of the board have: one store between them.
    one, other = (LoginThrottle(max_failures=5, lockout=60, store=shared) for _ in range(2))
    for throttle in (one, other, one, other):
        await throttle.failed("ada", "203.0.113.7")
    assert await one.retry_after("ada") == 0 and await other.retry_after("ada") == 0
    assert raw.zcard("board:bull:throttle:name:ada") == 4
    await other.failed("ada", "203.0.113.7")
    for throttle in (one, other):
        assert 59 < await throttle.retry_after("ada") <= 60
        with pytest.raises(Throttled) as refused:
            await throttle.check("ada")
        assert refused.value.retry_after in (60, 61)  # whole seconds, one more
    # Locked: one member and the lockout as its TTL, whatever more is tried.
    await one.failed("ada")
    assert raw.zrange("board:bull:throttle:name:ada", 0, -1) == ["locked"]
    assert 59_000 < raw.pttl("board:bull:throttle:name:ada") <= 60_000
    # The address has its own count, which other names do not touch.
    assert raw.zcard("board:bull:throttle:address:203.0.113.7") == 5
    assert await one.retry_after("bob") == 0 and await one.retry_after("bob", "203.0.113.7") == 0
    # Nothing counted in memory while the store answers.
    assert not any(c.failures or c.locked for t in (one, other) for c in t.local.counters.values())


async def test_the_shared_count_slides_and_starts_again_after_a_lockout(
    shared: RedisThrottleStore, raw: redis.Redis
) -> None:
    throttle = LoginThrottle(max_failures=3, window=0.6, lockout=0.3, store=shared)
    await throttle.failed("ada")
    await asyncio.sleep(0.65)  # that one falls out of the window
    await throttle.failed("ada")
    await throttle.failed("ada")
    assert await throttle.retry_after("ada") == 0
    key = "board:bull:throttle:name:ada"
    assert raw.zcard(key) == 2 and 0 < raw.pttl(key) <= 600  # gone a window after the last failure
    await throttle.failed("ada")
    assert 0 < await throttle.retry_after("ada") <= 0.3
    await asyncio.sleep(0.35)
    assert await throttle.retry_after("ada") == 0 and raw.exists(key) == 0
    await throttle.failed("ada")  # a fresh count
    assert await throttle.retry_after("ada") == 0 and raw.zcard(key) == 1


async def test_a_success_forgets_the_names_failures_but_not_its_lockout(
    shared: RedisThrottleStore, raw: redis.Redis
) -> None:
    throttle = LoginThrottle(max_failures=3, store=shared)
    await throttle.failed("ada", "203.0.113.7")
    await throttle.failed("ada", "203.0.113.7")
    await throttle.succeeded("ada", "203.0.113.7")
    assert raw.exists("board:bull:throttle:name:ada") == 0
    assert raw.zcard("board:bull:throttle:address:203.0.113.7") == 2  # kept, as in memory
    for _ in range(3):
        await throttle.failed("bob")
    await throttle.succeeded("bob")
    assert await throttle.retry_after("bob") > 59


async def test_redis_keeps_little_for_each_name(shared: RedisThrottleStore, raw: redis.Redis) -> None:
    throttle = LoginThrottle(max_failures=5, window=300, lockout=60, store=shared)
    for i in range(40):
        name = f"user{i}" + "x" * 10_000 * (i % 2)
        for _ in range(4 + i % 4):  # 4 failures, up to 3 more than locks the name out
            await throttle.failed(name)
    keys = raw.keys("board:bull:throttle:*")
    assert len(keys) == 40 and max(len(k) for k in keys) < 300  # names cut at 256 characters
    counting = [k for k in keys if raw.zscore(k, "locked") is None]
    assert len(counting) == 10 and all(raw.zcard(k) == 4 and 0 < raw.pttl(k) <= 300_000 for k in counting)
    locked = set(keys) - set(counting)
    assert all(raw.zcard(k) == 1 and 0 < raw.pttl(k) <= 60_000 for k in locked)


async def test_without_redis_each_process_counts_alone_and_asks_again_later(caplog: Any) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"redis://127.0.0.1:{sock.getsockname()[1]}"  # nothing listens there
    client = async_client(closed)
    runner = AsyncRunner(client)
    now = [1000.0]
    throttle = LoginThrottle(max_failures=2, clock=lambda: now[0], store=RedisThrottleStore(runner, "bull"))
    try:
        with caplog.at_level(logging.INFO, logger="board.web"):
            assert await throttle.retry_after("ada") == 0  # the store did not answer: nobody locked out by it
            await throttle.failed("ada")
            await throttle.failed("ada")
            assert await throttle.retry_after("ada") == 60  # held to the limits, in memory
        warnings = [r.getMessage() for r in caplog.records if "login throttle" in r.getMessage()]
        assert len(warnings) == 1 and "counted in this process" in warnings[0]
        assert throttle.local.counters["name"].locked
        assert throttle._ask_store_at == 1000 + STORE_RETRY_S  # the attempts since did not ask it again
        now[0] += STORE_RETRY_S  # then the store is asked again (and still fails)
        assert await throttle.retry_after("ada") == pytest.approx(60 - STORE_RETRY_S)
        assert throttle._ask_store_at == 1000 + 2 * STORE_RETRY_S
    finally:
        await runner.aclose()
        await client.aclose()


# The login form -----------------------------------------------------------------------------------------------


def test_form_login_lockout(client_for: ClientFor, users: UserList) -> None:
    client = client_for(FormLogin(users, SECRET), mount="/board")
    for _ in range(5):
        assert login(client, "ada", "guess").status_code == 401
    locked = login(client, "ada", "pw-ada")  # even the right password, for now
    assert locked.status_code == 429 and "Too many failed attempts" in locked.text
    assert 0 < int(locked.headers["retry-after"]) <= 61
    assert "set-cookie" not in locked.headers
    assert login(client, "bob", "pw-bob").status_code == 303  # other names are not affected
    # Names that do not exist are throttled alike, so a 429 does not tell either.
    for _ in range(5):
        login(client, "eve", "guess")
    assert login(client, "eve", "guess").status_code == 429


def test_login_form_is_throttled_per_address(client_for: ClientFor, users: UserList) -> None:
    backend = FormLogin(users, SECRET, throttle=LoginThrottle(max_failures=100, max_address_failures=3))
    client = client_for(backend, mount="/board")
    for name in ("n1", "n2", "n3"):
        assert login(client, name, "guess").status_code == 401
    response = login(client, "ada", "pw-ada")
    assert response.status_code == 429 and response.headers["retry-after"]


def test_the_login_form_answers_while_redis_is_down(users: UserList) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"redis://127.0.0.1:{sock.getsockname()[1]}"  # nothing listens there
    backend = FormLogin(users, SECRET, throttle=LoginThrottle(max_failures=2))
    with TestClient(make_app(closed, backend, "/board"), follow_redirects=False) as client:
        # Counted in this process's memory: never a 500, and still locked out after the limit.
        assert [login(client, "ada", "guess").status_code for _ in range(3)] == [401, 401, 429]


# Basic auth ---------------------------------------------------------------------------------------------------


def test_basic_auth_is_throttled_per_name(client_for: ClientFor) -> None:
    client = client_for(BasicAuth({"ada": ("pw-ada", "admin"), "bob": ("pw-bob", "viewer")}))
    for _ in range(5):
        assert client.get("/", headers=basic("ada", "guess")).status_code == 401
    locked = client.get("/", headers={**basic("ada", "pw-ada"), **JSON})  # even the right password, for now
    assert locked.status_code == 429 and "Too many failed attempts" in locked.json()["error"]
    assert 0 < int(locked.headers["retry-after"]) <= 61
    assert client.get("/", headers=basic("bob", "pw-bob")).status_code == 200  # other names go on
    # A name that does not exist is counted and locked exactly like one that does.
    answers = [client.get("/", headers=basic("eve", "guess")) for _ in range(6)]
    assert [r.status_code for r in answers] == [401] * 5 + [429]
    assert int(answers[-1].headers["retry-after"]) > 0 and "Too many failed attempts" in answers[-1].text


def test_basic_auth_is_throttled_per_address(client_for: ClientFor) -> None:
    backend = BasicAuth({"ada": ("pw-ada", "admin")}, throttle=LoginThrottle(max_failures=100, max_address_failures=3))
    guesser = client_for(backend, client=("203.0.113.7", 5000))
    for name in ("n1", "n2", "n3"):
        assert guesser.get("/", headers=basic(name, "guess")).status_code == 401
    # One guess per name does not get round it: the address itself is now refused, for every name.
    response = guesser.get("/", headers=basic("ada", "pw-ada"))
    assert response.status_code == 429 and int(response.headers["retry-after"]) > 0
    elsewhere = client_for(backend, client=("198.51.100.9", 5000))
    assert elsewhere.get("/", headers=basic("ada", "pw-ada")).status_code == 200


def test_basic_successes_do_not_reset_a_guessing_run(client_for: ClientFor) -> None:
    client = client_for(BasicAuth({"ada": ("pw-ada", "admin")}))
    for _ in range(4):
        assert client.get("/", headers=basic("ada", "guess")).status_code == 401
    # The real user's browser keeps polling with the right password meanwhile.
    assert client.get("/", headers=basic("ada", "pw-ada")).status_code == 200
    assert client.get("/", headers=basic("ada", "guess")).status_code == 401
    assert client.get("/", headers=basic("ada", "pw-ada")).status_code == 429


def test_ipv6_clients_are_counted_by_their_64(client_for: ClientFor) -> None:
    backend = BasicAuth({"ada": ("pw-ada", "admin")}, throttle=LoginThrottle(max_failures=100, max_address_failures=3))
    for host in ("2001:db8:1:2::10", "2001:db8:1:2::11", "2001:db8:1:2:ffff::1"):
        guesser = client_for(backend, client=(host, 5000))
        assert guesser.get("/", headers=basic(f"n-{host}", "guess")).status_code == 401
    same_64 = client_for(backend, client=("2001:db8:1:2::99", 5000))
    assert same_64.get("/", headers=basic("ada", "pw-ada")).status_code == 429
    other_64 = client_for(backend, client=("2001:db8:1:3::1", 5000))
    assert other_64.get("/", headers=basic("ada", "pw-ada")).status_code == 200
