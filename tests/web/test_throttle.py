"""Brute-force throttling of password checks (board/web/throttle.py): the count itself, on a fake clock; then
the login form and HTTP Basic auth locking a name, and an address (an IPv6 client by its /64), with a 429
and Retry-After."""

from __future__ import annotations

from typing import Any

import pytest

from board.web.auth import BasicAuth, FormLogin
from board.web.throttle import LoginThrottle

from .conftest import JSON, SECRET, ClientFor, UserList, basic, login

# The count, on a fake clock -----------------------------------------------------------------------------------


def test_login_throttle_timing() -> None:
    now = [1000.0]
    throttle = LoginThrottle(clock=lambda: now[0])
    for _ in range(4):
        throttle.failed("ada")
        now[0] += 80  # the first falls out of the 5-minute window before the fifth
    throttle.failed("ada")
    assert throttle.retry_after("ada") == 0
    throttle.failed("ada")
    assert throttle.retry_after("ada") == 60
    now[0] += 59
    assert throttle.retry_after("ada") == pytest.approx(1)
    now[0] += 1.5
    assert throttle.retry_after("ada") == 0
    throttle.failed("ada")  # a fresh count after the lockout
    assert throttle.retry_after("ada") == 0
    throttle.succeeded("ada")
    for _ in range(4):
        throttle.failed("ada")
    assert throttle.retry_after("ada") == 0


def test_login_throttle_memory_is_bounded() -> None:
    throttle = LoginThrottle(clock=lambda: 0.0, max_names=100)
    for i in range(1000):
        throttle.failed(f"user{i}")
    throttle.failed("x" * 10_000)
    assert len(throttle._names.failures) <= 100
    assert all(len(name) <= 256 for name in throttle._names.failures)


@pytest.mark.parametrize(
    "settings",
    [{"max_failures": 0}, {"max_address_failures": 0}, {"window": 0}, {"lockout": -1}],
)
def test_the_throttle_settings_are_checked(settings: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        LoginThrottle(**settings)


def test_an_address_is_counted_apart_from_names_and_kept_by_a_success() -> None:
    throttle = LoginThrottle(clock=lambda: 0.0, max_failures=100, max_address_failures=3)
    for name in ("n1", "n2"):
        throttle.failed(name, "203.0.113.7")
    throttle.succeeded("ada", "203.0.113.7")  # one good account does not wipe a run of guesses
    throttle.failed("n3", "203.0.113.7")
    assert throttle.retry_after("ada", "203.0.113.7") == 60
    assert throttle.retry_after("ada", "198.51.100.9") == 0 and throttle.retry_after("ada") == 0


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
