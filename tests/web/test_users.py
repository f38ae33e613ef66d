"""Users (board/web/users.py): roles in order, the queues a user sees, password hashes, and the user list as
the auth backends read it (checked when given, read again at each look-up)."""

from __future__ import annotations

import base64
import re
from typing import Any

import pytest

from board.web.users import ROLES, User, UserTable, hash_password, verify_password

# Users, roles, visibility -------------------------------------------------------------------------------------


def test_roles_are_ordered() -> None:
    viewer, operator, admin = (User("u", role) for role in ROLES)
    assert viewer.can("viewer") and not viewer.can("operator") and not viewer.can("admin")
    assert operator.can("viewer") and operator.can("operator") and not operator.can("admin")
    assert admin.can("viewer") and admin.can("operator") and admin.can("admin")
    with pytest.raises(ValueError, match="unknown role 'root'"):
        admin.can("root")
    with pytest.raises(ValueError, match="unknown role 'root'"):
        User("u", "root")
    with pytest.raises(ValueError, match="non-empty"):
        User("", "viewer")


def test_queue_visibility() -> None:
    assert User("u", "viewer").sees("anything")
    user = User("u", "viewer", ["billing", "reports:*"])
    assert user.sees("billing") and user.sees("reports:daily")
    assert not user.sees("billing-eu") and not user.sees("Billing") and not user.sees("email")
    assert user.queues == ("billing", "reports:*")
    hash(user)  # a list of patterns does not make the user unhashable
    single = User("u", "viewer", "email")  # one pattern, not the letters e, m, a, i, l
    assert single.sees("email") and not single.sees("e")
    assert not User("u", "viewer", ()).sees("email")
    by_function = User("u", "viewer", lambda queue: queue.startswith("team-a:"))
    assert by_function.sees("team-a:mail") and not by_function.sees("team-b:mail")


# Passwords ----------------------------------------------------------------------------------------------------


def test_hash_password_format_and_verify() -> None:
    stored = hash_password("correct horse")
    algorithm, iterations, salt, digest = stored.split("$")
    assert (algorithm, iterations) == ("pbkdf2_sha256", "600000")
    assert len(base64.b64decode(salt)) == 16 and len(base64.b64decode(digest)) == 32
    assert verify_password("correct horse", stored)
    assert not verify_password("correct horsf", stored)
    assert hash_password("correct horse") != stored  # salted


def test_verify_password_plain_and_malformed() -> None:
    assert verify_password("pässwörd", "pässwörd")
    assert not verify_password("pässwörd", "passwörd")
    assert not verify_password("", "x")
    fast = hash_password("pässwörd", iterations=1000)
    assert fast.startswith("pbkdf2_sha256$1000$") and verify_password("pässwörd", fast)
    assert not verify_password("x", "pbkdf2_sha256$1000$not base64$!!")


# The user list ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("users", "basic", "message"),
    [
        ({}, False, "the user list is empty"),
        ({"": ("pw", "admin")}, False, "user name must be a non-empty string"),
        ({7: ("pw", "admin")}, False, "user name must be a non-empty string"),
        ({"ada:lovelace": ("pw", "admin")}, True, "contains ':'"),
        ({"ada": "pw"}, False, "expected (password, role) or (password, role, queues)"),
        ({"ada": ("pw",)}, False, "expected (password, role) or (password, role, queues)"),
        ({"ada": ("pw", "admin", None, "x")}, False, "expected (password, role) or (password, role, queues)"),
        ({"ada": ("", "admin")}, False, "the password is empty"),
        ({"ada": (None, "admin")}, False, "the password is empty"),
        ({"ada": ("pbkdf2_sha256$1000$!!$!!", "admin")}, False, "malformed password hash"),
        ({"ada": ("pw", "root")}, False, "unknown role 'root'"),
        ({"ada": ("pw", "admin", [1])}, False, "queue patterns must be strings"),
    ],
)
def test_the_user_list_is_checked_when_given(users: Any, basic: bool, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        UserTable(users, basic=basic)


def test_only_basic_auth_refuses_a_colon_in_a_name() -> None:
    assert UserTable({"ada:lovelace": ("pw", "admin")}, basic=False).get("ada:lovelace") == User(
        "ada:lovelace", "admin"
    )


async def test_the_user_list_is_read_again_at_each_look_up() -> None:
    users: dict[str, Any] = {"ada": (hash_password("pw-ada", iterations=1000), "admin"), "bob": ("pw-bob", "viewer")}
    table = UserTable(users, basic=True)
    assert await table.check("ada", "pw-ada") == User("ada", "admin")
    assert await table.check("ada", "pw-bob") is None
    assert await table.check("bob", "pw-bob") == User("bob", "viewer")
    assert await table.check("eve", "pw-ada") is None  # checked against a decoy, and refused
    assert table.stored("bob") == "pw-bob" and table.stored("eve") is None
    users["bob"] = ("pw-new", "operator", ["email"])
    assert table.get("bob") == User("bob", "operator", ("email",))
    assert await table.check("bob", "pw-bob") is None
    assert await table.check("bob", "pw-new") == User("bob", "operator", ("email",))
    del users["ada"]
    assert table.get("ada") is None and await table.check("ada", "pw-ada") is None
