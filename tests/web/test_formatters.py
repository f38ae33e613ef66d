"""Redaction and custom formatters (board/web/formatters.py). First as pure functions: which keys are secret,
what parsed JSON and free text look like masked, how deep values are bounded, how an edited copy gets its
masked secrets back, and what each field shows. Then through the pages: no page, fragment, JSON answer or
raw view shows what redaction or a custom formatter hides."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis

from board import BasicAuth, User
from board.adapters.payload import MAX_DEPTH
from board.web.formatters import (
    MASK,
    SECRET_WORDS,
    TOO_DEEP,
    Formatters,
    is_secret_key,
    redact_text,
    redact_value,
    restore_masked,
)

from .conftest import AS, HTML, JSON, USERS, ClientFactory, job_ids_in, process_all

# Formatters pass the user through untouched; nothing here looks at it.
NOBODY: Any = None


# Keys ---------------------------------------------------------------------------------------------------------

SECRET_KEYS = [
    "password",
    "DB_PASSWORD",
    "userPassword",
    "passwd",
    "pwd",
    "MYSQL_PWD",
    "pass",
    "PASS",
    "smtp_pass",
    "passPhrase",
    "secret",
    "client_secret",
    "clientSecret",
    "secretKey",
    "token",
    "refresh_token",
    "sessionToken",
    "csrf-token",
    "apikey",
    "api_key",
    "api-key",
    "apiKey",
    "API Key",
    "X-Api-Key",
    "x-api-key",
    "authorization",
    "Proxy-Authorization",
    "auth",
    "basic_auth",
    "authHeader",
    "credential",
    "credentials",
    "privateKey",
    "PRIVATE-KEY",
    "private_key",
    "private.key",
    "accessKeyId",
    "access_key",
    "aws_secret_access_key",
    "cookie",
    "Set-Cookie",
    "session",
    "sessionid",
    "session_id",
    "dsn",
    "SENTRY_DSN",
    "signature",
    "X-Hub-Signature-256",
    "cvv",
    "cvv2",
    "cvc",
    "cardNumber",
    "card_number",
    "ssn",
    "customer_ssn",
    "jwt",
    "idJwt",
    "bearer",
    "otp",
    "otpCode",
    "pin",
    "PIN",
]

HARMLESS_KEYS = [
    "passenger",
    "passengers",
    "compass",
    "bypass",
    "passage",
    "author",
    "authors",
    "oauth_provider",
    "spinner",
    "pinned",
    "shipping",
    "className",
    "user",
    "name",
    "id",
    "jobId",
    "attempts",
    "repeatJobKey",
    "removeOnComplete",
    "description",
    "keyboard",
    "email",
    "",
]


@pytest.mark.parametrize("key", SECRET_KEYS)
def test_secret_keys(key: str) -> None:
    assert is_secret_key(key), key


@pytest.mark.parametrize("key", HARMLESS_KEYS)
def test_harmless_keys(key: str) -> None:
    assert not is_secret_key(key), key


def test_extra_words_add_to_the_defaults() -> None:
    formatters = Formatters(words=["IBAN", "customer-ref", "iban"])
    assert formatters.words == (*SECRET_WORDS, "iban", "customerref")
    assert Formatters().words == SECRET_WORDS
    # Four letters or fewer: whole key or whole part; longer: anywhere.
    data = {"iban": "x", "payerIban": "x", "vibrant": "x", "CustomerRef": "x", "old_customer_reference": "x"}
    assert formatters.apply("data", data, NOBODY) == {
        "iban": MASK,
        "payerIban": MASK,
        "vibrant": "x",
        "CustomerRef": MASK,
        "old_customer_reference": MASK,
    }
    assert is_secret_key("payerIban", formatters.words) and not is_secret_key("payerIban")


@pytest.mark.parametrize("words", [[""], ["--"], [" "], ["ok", 7], [None], "token", None, 42])
def test_bad_words_are_refused(words: Any) -> None:
    with pytest.raises(ValueError, match="redaction words"):
        Formatters(words=words)
    with pytest.raises(ValueError, match="redaction words"):
        redact_text("password=x", words)


# Parsed values ------------------------------------------------------------------------------------------------

VALUE_CASES = [
    (
        {"password": "hunter2", "nested": {"api_token": "abc"}, "user": "ada"},
        {"password": MASK, "nested": {"api_token": MASK}, "user": "ada"},
    ),
    (
        {"credentials": {"user": "ada", "pin": "4321"}, "tokens": ["t-one", "t-two"]},
        {"credentials": MASK, "tokens": MASK},
    ),
    (
        [{"privateKey": "-----BEGIN"}, [{"PRIVATE-KEY": 1}, {"x": {"accessKeyId": None}}]],
        [{"privateKey": MASK}, [{"PRIVATE-KEY": MASK}, {"x": {"accessKeyId": MASK}}]],
    ),
    (
        {"passenger": "Ada", "author": "Bob", "compass": 270, "pass": "x", "seats": [1, 2], "ok": True},
        {"passenger": "Ada", "author": "Bob", "compass": 270, "pass": MASK, "seats": [1, 2], "ok": True},
    ),
    # Text inside a harmless key is redacted as text.
    (
        {"url": "redis://app:s3cret@db:6379/0", "cmd": "curl -H 'Authorization: Bearer abc' x", "n": "a: b"},
        {"url": "redis://app:***@db:6379/0", "cmd": "curl -H 'Authorization: Bearer ***' x", "n": "a: b"},
    ),
    ("password=hunter2", "password=***"),
    (42, 42),
    (None, None),
    ([], []),
]


@pytest.mark.parametrize(("value", "shown"), VALUE_CASES)
def test_redact_value(value: Any, shown: Any) -> None:
    assert redact_value(value) == shown


def test_redact_value_leaves_its_input_alone() -> None:
    value = {"password": "hunter2", "list": [{"token": "abc"}]}
    redact_value(value)
    assert value == {"password": "hunter2", "list": [{"token": "abc"}]}


def nested(levels: int, leaf: Any) -> Any:
    """``levels`` containers, alternating lists and objects; each object also holds a password."""
    value = leaf
    for level in range(levels):
        value = {"password": "hunter2", "down": value} if level % 2 else [value]
    return value


def path_down(value: Any) -> list[Any]:
    """Every container on the way to the leaf, walked without recursion (== and repr would recurse)."""
    seen = []
    while isinstance(value, dict | list):
        seen.append(value)
        value = value["down"] if isinstance(value, dict) else value[0]
    return [*seen, value]


@pytest.mark.parametrize("levels", [900, 100_000])
def test_deep_values_are_cut_at_the_bound(levels: int) -> None:
    original = nested(levels, "leaf")
    shown = redact_value(original)
    path = path_down(shown)
    assert len(path) == MAX_DEPTH + 1 and path[-1] == TOO_DEEP
    assert all(level["password"] == MASK for level in path[:-1] if isinstance(level, dict))

    # Saved back unchanged, the edit restores every mask and the part that was cut.
    restored = restore_masked(shown, original)
    before, after = path_down(original), path_down(restored)
    assert len(after) == len(before) == levels + 1 and after[-1] == "leaf"
    assert all(level["password"] == "hunter2" for level in after[:-1] if isinstance(level, dict))
    assert after[MAX_DEPTH] is before[MAX_DEPTH]


def test_values_at_the_bound_are_kept() -> None:
    assert path_down(redact_value(nested(MAX_DEPTH, "leaf")))[-1] == "leaf"
    assert path_down(redact_value(nested(MAX_DEPTH + 1, "leaf")))[-1] == TOO_DEEP


# Text ---------------------------------------------------------------------------------------------------------

TEXT_CASES = [
    # JSON cut short inside Redis.
    ('{"user":{"apiKey":"abc12', '{"user":{"apiKey":"***"'),
    ('{"a":1,"private-key":"-----BEGIN', '{"a":1,"private-key":"***"'),
    ('{"password": "hunter2", "user": "ada"}', '{"password": "***", "user": "ada"}'),
    ('{"password":"a\\"b","user":"ada"}', '{"password":"***","user":"ada"}'),
    ('{"pin": 1234, "n": 5}', '{"pin": "***", "n": 5}'),
    ('{"otp":null}', '{"otp":"***"}'),
    ('{"credentials": {"user": "ada", "pin": "4321"}, "n": 1}', '{"credentials": "***", "n": 1}'),
    ('{"tokens": ["t-one", "t-]-two"], "n": 1}', '{"tokens": "***", "n": 1}'),
    ('{"secret": {"a": [1, {"b": "}', '{"secret": "***"'),
    ('{"pass\\u0077ord": "x"}', '{"pass\\u0077ord": "***"}'),
    ('{"passenger": "Ada", "password":\n  "x"}', '{"passenger": "Ada", "password":\n  "***"}'),
    # A Python repr, and JSON encoded inside a JSON string.
    ("{'password': 'x', 'pin': 1234}", "{'password': '***', 'pin': ***}"),
    ('{"msg": "{\\"token\\":\\"a\\\\\\"b\\",\\"x\\":1}"}', '{"msg": "{\\"token\\":\\"***\\",\\"x\\":1}"}'),
    # key=value and key: value.
    ("x-api-key=abc", "x-api-key=***"),
    ("API-KEY: abc", "API-KEY: ***"),
    ("password=hunter2&user=x", "password=***&user=x"),
    ("password=hunter2;user=x, token=t y", "password=***;user=x, token=*** y"),
    ('token: "abc"', 'token: "***"'),
    ("token: 'a b'", "token: '***'"),
    ("connecting with password=hunter2 token: abc", "connecting with password=*** token: ***"),
    ("--password=abc --user=ada", "--password=*** --user=ada"),
    ("export AWS_SECRET_ACCESS_KEY=abc", "export AWS_SECRET_ACCESS_KEY=***"),
    ("spring.datasource.password = abc", "spring.datasource.password = ***"),
    ("User{name=ada, password=abc}", "User{name=ada, password=***"),
    ('opts = {password => "x"}', 'opts = {password => "***"}'),
    ("Your API Key: abc123", "Your API Key: ***"),
    ("Private Key: -----BEGIN", "Private Key: ***"),
    ("Session ID: 42", "Session ID: ***"),
    ('msg="login" sessionToken=abc', 'msg="login" sessionToken=***'),
    ('{"log": "password=abc"}', '{"log": "password=***"}'),
    # HTTP auth, cookies, bearer tokens.
    ("Authorization: Bearer X", "Authorization: Bearer ***"),
    ("authorization: basic dXNlcjpwYXNz\nAccept: */*", "authorization: basic ***\nAccept: */*"),
    ("Authorization: sk_live_abc", "Authorization: ***"),
    ('Proxy-Authorization: Digest username="a", response="b"', "Proxy-Authorization: Digest ***"),
    ('{"log":"Authorization: Bearer abc","x":1}', '{"log":"Authorization: Bearer ***","x":1}'),
    ("authorization=Bearer abc&x=1", "authorization=Bearer ***&x=1"),
    ("Cookie: a=b; c=d\nHost: x", "Cookie: ***\nHost: x"),
    ("Set-Cookie: sid=abc; Path=/; HttpOnly", "Set-Cookie: ***"),
    ('{"h":"Cookie: a=b","x":1}', '{"h":"Cookie: ***","x":1}'),
    ("sent Bearer eyJhbGciOi.eyJzdWIi.sig_- to x", "sent Bearer *** to x"),
    ("Bearer abc==", "Bearer ***"),
    ("bearer token: abc", "bearer ***: ***"),
    # Credentials in URLs.
    ("redis://user:pass@host:6379/0", "redis://user:***@host:6379/0"),
    ("https://u:p@x", "https://u:***@x"),
    ("redis://:p@ss@host", "redis://:***@host"),
    ("https://ghp_abc@github.com/o/r.git", "https://***@github.com/o/r.git"),
    ("see https://example.com/cb?token=abc&x=1.", "see https://example.com/cb?token=***&x=1."),
    ("db=postgres://app:pw@db/prod?sslmode=require", "db=postgres://app:***@db/prod?sslmode=require"),
]


@pytest.mark.parametrize(("text", "shown"), TEXT_CASES)
def test_redact_text(text: str, shown: str) -> None:
    assert redact_text(text) == shown


UNCHANGED_TEXTS = [
    '{"passenger": "Ada", "author": "Bob", "compass": 270}',
    '{\n  "user": "ada",\n  "seats": [1, 2],\n  "note": "time is 10:30"\n}',
    "job 7 failed: connection refused (ECONNREFUSED 127.0.0.1:6379)",
    "TokenExpiredError: jwt expired\n    at verify (/app/node_modules/jsonwebtoken/verify.js:190:21)",
    "Traceback (most recent call last):\n  File \"/app/auth.py\", line 12, in login\nKeyError: 'user'",
    "at com.example.Auth.login(Auth.java:42)",
    "GET /api/session user=ada 200",
    "http://localhost:8080/queues?state=failed&page=2",
    "ssh://example.com/repo",
    "Note: token rotation finished",
    "ünïcödé: ✓, password reset emailed",
    "",
    "a = b, c: d; e=f",
]


@pytest.mark.parametrize("text", UNCHANGED_TEXTS)
def test_harmless_text_is_kept_byte_for_byte(text: str) -> None:
    assert redact_text(text) == text


def test_a_megabyte_of_adversarial_text() -> None:
    """Quotes, backslashes, colons and brackets that would make a backtracking pattern take hours."""
    noise = [
        '"' * 999,
        '\\"' * 500,
        ":" * 1000,
        "\\" * 1000,
        '"a":' * 250,
        "'" * 999,
        "a " * 500,
        "[{" * 500,
        "://" * 333,
        "= " * 500,
        '\\"a\\":' * 160,
        "x" * 1000,
    ]
    block = "".join(f"{part} password=hunter2 " for part in noise)
    text = block * (1_000_000 // len(block) + 1)
    assert len(text) > 1_000_000
    assert redact_text(text) == text.replace("password=hunter2", "password=***")

    # A secret value that runs to the end of a cut preview, through a megabyte of the same.
    cut = '{"data": [1], "token": "' + '\\"[{:' * 250_000
    assert redact_text(cut) == '{"data": [1], "token": "***"'
    cut = '{"token": ' + "[" * 1_000_000
    assert redact_text(cut) == '{"token": "***"'


# Restoring an edited copy -------------------------------------------------------------------------------------

ORIGINAL = {
    "to": "ada@example.com",
    "password": "hunter2",
    "smtp": {"host": "mail.example", "apiKey": "key-123", "privateKey": "-----BEGIN"},
    "tokens": [{"refresh_token": "r-1"}, {"note": "plain"}],
    "url": "redis://app:s3cret@db/0",
}

RESTORE_CASES = [
    # Saved as shown: everything comes back.
    (redact_value(ORIGINAL), ORIGINAL),
    # An edit beside the masks keeps them; a typed value replaces one.
    (
        {**redact_value(ORIGINAL), "to": "grace@example.com", "password": "new-pw"},
        {**ORIGINAL, "to": "grace@example.com", "password": "new-pw"},
    ),
    # A mask under a key the original lacks, or a harmless key, is taken as typed.
    ({"apiKey": MASK, "note": MASK}, {"apiKey": MASK, "note": MASK}),
    # Masks inside a list are matched by index; a list that got shorter or longer is followed as it is.
    (
        {"tokens": [{"refresh_token": MASK}, {"refresh_token": MASK}]},
        {"tokens": [{"refresh_token": "r-1"}, {"refresh_token": MASK}]},
    ),
    # A string with a masked part comes back whole only when unchanged; an edited one is kept.
    ({"url": "redis://app:***@db/0"}, {"url": "redis://app:s3cret@db/0"}),
    ({"url": "redis://app:***@db/1"}, {"url": "redis://app:***@db/1"}),
    # A type change is the operator's.
    ({"smtp": ["apiKey", MASK]}, {"smtp": ["apiKey", MASK]}),
    ({"password": {"v": MASK}}, {"password": {"v": MASK}}),
]


@pytest.mark.parametrize(("submitted", "saved"), RESTORE_CASES)
def test_restore_masked(submitted: Any, saved: Any) -> None:
    assert restore_masked(submitted, ORIGINAL) == saved


def test_restore_masked_with_the_boards_words() -> None:
    formatters = Formatters(words=["iban"])
    original = {"iban": "DE89", "password": "x"}
    shown = formatters.apply("data", original, NOBODY)
    assert shown == {"iban": MASK, "password": MASK}
    assert formatters.restore_masked(shown, original) == original
    assert restore_masked(shown, original) == {"iban": MASK, "password": "x"}
    # With redaction off the form showed everything: a literal mask is what the operator typed.
    assert Formatters(redact=False).restore_masked({"password": MASK}, original) == {"password": MASK}


# Fields -------------------------------------------------------------------------------------------------------

FIELD_CASES = [
    ("name", "password=hunter2", "password=hunter2"),
    ("data", {"password": "x", "n": 1}, {"password": MASK, "n": 1}),
    ("data", '{"password":"x', '{"password":"***"'),
    ("returnvalue", [{"token": "t"}], [{"token": MASK}]),
    (
        "opts",
        {"attempts": 3, "jobId": "j1", "repeat": {"key": "k"}},
        {"attempts": 3, "jobId": "j1", "repeat": {"key": "k"}},
    ),
    ("logs", "login ok, token: abc", "login ok, token: ***"),
    ("progress", 42, 42),
    ("progress", {"step": 2, "session": "s"}, {"step": 2, "session": MASK}),
    ("progress", "fetching https://u:p@x", "fetching https://u:***@x"),
    ("failed_reason", "Error: login failed: password=hunter2", "Error: login failed: password=***"),
    # A secret-looking key hides its whole value.
    ("failed_reason", "Error: bad credentials: user=ada", "Error: bad credentials: ***"),
]


@pytest.mark.parametrize(("field", "value", "shown"), FIELD_CASES)
def test_fields_are_redacted_but_the_name(field: str, value: Any, shown: Any) -> None:
    assert Formatters().apply(field, value, NOBODY) == shown
    assert Formatters(redact=False).apply(field, value, NOBODY) == value


def test_a_custom_formatter_replaces_redaction_for_its_field() -> None:
    seen = []

    def upper(value: Any, user: Any) -> Any:
        seen.append(user)
        return str(value).upper()

    user: Any = object()
    formatters = Formatters({"name": upper, "logs": upper})
    assert formatters.apply("name", "mail", user) == "MAIL"
    assert formatters.apply("logs", "token=abc", user) == "TOKEN=ABC"
    assert formatters.apply("data", {"token": "abc"}, user) == {"token": MASK}
    assert seen == [user, user]


@pytest.mark.parametrize(
    ("custom", "message"),
    [({"colour": str}, "unknown field"), ({"data": "not a function"}, "not callable")],
)
def test_bad_custom_formatters_are_refused(custom: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Formatters(custom)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("password := hunter2", "password := ***"),
        ("password -> hunter2 then", "password -> *** then"),
        ("x -> y", "x -> y"),
        ("Auth::login failed", "Auth::login failed"),
    ],
)
def test_assignment_and_arrow_separators(text: str, expected: str) -> None:
    assert redact_text(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # No password to hide: the URL stays as it was, with no mask standing in for nothing.
        ("redis://user:@host/0", "redis://user:@host/0"),
        ("https://@example.com", "https://@example.com"),
        # A harmless quoted key is searched inside too.
        ('{"see https://u:p@x": 1}', '{"see https://u:***@x": 1}'),
        # A secret quoted key is itself redacted as text, then its value masked.
        ('{"password=abc": 1}', '{"password=***": "***"}'),
        # A JSON key is judged by what its escapes spell.
        ('{"tok\\u0065n": "x"}', '{"tok\\u0065n": "***"}'),
        ('{"api\\u005fkey": 5}', '{"api\\u005fkey": "***"}'),
    ],
)
def test_keys_and_urls_that_need_a_second_look(text: str, expected: str) -> None:
    assert redact_text(text) == expected


# Through the pages --------------------------------------------------------------------------------------------


SECRET_DATA = {"password": "hunter2", "nested": {"api_token": "abc"}, "user": "ada"}


def test_secrets_are_redacted_everywhere(make_client: ClientFactory, redis_url: str, sync_queues: Any) -> None:
    vault = sync_queues("vault")
    done = vault.add("login", {**SECRET_DATA, "result": SECRET_DATA})
    process_all(redis_url, vault, completed=1)
    waiting = vault.add("login", SECRET_DATA)
    vault.add_job_log(waiting.id, "connecting with password=hunter2 token: abc")
    client = make_client(["vault"])

    def clean(text: str, where: str) -> None:
        assert "hunter2" not in text, where
        assert "abc" not in text, where

    pages = [
        "/",
        "/queues/vault",
        "/queues/vault?state=waiting",
        "/queues/vault?state=completed",
        f"/queues/vault/jobs/{done.id}",
        f"/queues/vault/jobs/{waiting.id}",
        f"/queues/vault/jobs/{done.id}/raw/data",
        f"/queues/vault/jobs/{done.id}/raw/returnvalue",
        f"/queues/vault/jobs/{waiting.id}/raw/data",
    ]
    for url in pages:
        for headers in (HTML, JSON):
            response = client.get(url, headers=headers)
            assert response.status_code == 200, url
            clean(response.text, f"{url} {headers}")
    # What is kept: the shape, the other values, a mask.
    detail = client.get(f"/queues/vault/jobs/{waiting.id}", headers=JSON).json()
    assert detail["data"]["value"] == {"password": "***", "nested": {"api_token": "***"}, "user": "ada"}
    assert detail["logs"] == ["connecting with password=*** token: ***"]
    assert client.get(f"/queues/vault/jobs/{waiting.id}/raw/data").json()["password"] == "***"
    assert "ada" in client.get("/queues/vault?state=waiting").text


def test_secrets_under_a_secret_key_are_redacted_in_list_previews(make_client: ClientFactory, sync_queues: Any) -> None:
    """The job page masks the whole value of a secret-looking key, an object or a list included; the list
    page's preview must not show what the job page hides."""
    vault = sync_queues("vault")
    job = vault.add("login", {"credentials": {"user": "ada", "pin": "4321"}, "tokens": ["t-one", "t-two"]})
    client = make_client(["vault"])
    detail = client.get(f"/queues/vault/jobs/{job.id}", headers=JSON).json()
    assert detail["data"]["value"] == {"credentials": "***", "tokens": "***"}
    for state in ("latest", "waiting"):
        for headers in (HTML, JSON):
            text = client.get(f"/queues/vault?state={state}", headers=headers).text
            for secret in ("4321", "t-one", "t-two"):
                assert secret not in text, (state, headers, secret)


def test_redaction_can_be_turned_off(make_client: ClientFactory, sync_queues: Any) -> None:
    vault = sync_queues("vault")
    job = vault.add("login", SECRET_DATA)
    client = make_client(["vault"], redact=False)
    assert "hunter2" in client.get("/queues/vault").text
    assert client.get(f"/queues/vault/jobs/{job.id}/raw/data").json() == SECRET_DATA


def _drop_ssn(value: Any, user: User) -> Any:
    """Drops every "ssn" key, at any depth."""
    if isinstance(value, dict):
        return {k: _drop_ssn(v, user) for k, v in value.items() if k != "ssn"}
    if isinstance(value, list):
        return [_drop_ssn(v, user) for v in value]
    return value


def test_custom_formatters(make_client: ClientFactory, redis_url: str, sync_queues: Any) -> None:
    people = sync_queues("people")
    job = people.add("enrol", {"who": "ada", "ssn": "078-05-1120", "result": {"id": 7, "ssn": "078-05-1120"}})
    process_all(redis_url, people, completed=1)

    formatters = {
        "name": lambda value, user: f"{value.upper()} (for {user.role})",
        "data": _drop_ssn,
        "returnvalue": _drop_ssn,
        "progress": lambda value, user: "n/a",
    }
    client = make_client(["people"], auth=BasicAuth(USERS), formatters=formatters)
    viewer = AS["viewer"]

    listing = client.get("/queues/people?state=completed", headers={**viewer, **JSON}).json()
    assert listing["jobs"][0]["name"] == "ENROL (for viewer)"
    assert "ENROL (for viewer)" in client.get("/queues/people", headers=viewer).text
    page = client.get(f"/queues/people/jobs/{job.id}", headers=viewer).text
    assert "ENROL (for viewer)" in page and "078-05-1120" not in page
    detail = client.get(f"/queues/people/jobs/{job.id}", headers={**AS["admin"], **JSON}).json()
    assert detail["name"] == "ENROL (for admin)"
    assert detail["data"]["value"] == {"who": "ada", "result": {"id": 7}}
    assert detail["returnvalue"]["value"] == {"id": 7}
    assert detail["progress"] == "n/a"
    assert client.get(f"/queues/people/jobs/{job.id}/raw/returnvalue", headers=viewer).json() == {"id": 7}
    assert "ssn" not in client.get(f"/queues/people/jobs/{job.id}/raw/data", headers=viewer).json()
    with pytest.raises(ValueError, match="unknown field"):
        make_client(["people"], formatters={"colour": _drop_ssn})


def test_custom_data_formatter_applies_to_list_previews(make_client: ClientFactory, sync_queues: Any) -> None:
    """A data formatter sees parsed JSON "when the text parsed": a whole (uncut) preview parses, so the
    list page must show the formatted data too, not the stored text."""
    people = sync_queues("people")
    people.add("enrol", {"who": "ada", "ssn": "078-05-1120"})
    client = make_client(["people"], formatters={"data": _drop_ssn})
    for headers in (HTML, JSON):
        listing = client.get("/queues/people", headers=headers)
        assert listing.status_code == 200
        assert "078-05-1120" not in listing.text
    assert job_ids_in(client.get("/queues/people").text, "people") == ["1"]
    assert json.loads(client.get("/queues/people/jobs/1/raw/data").text) == {"who": "ada"}


def test_secrets_in_stored_problems_and_deferred_failures_are_masked(
    make_client: ClientFactory, sync_queues: Any, raw: redis.Redis
) -> None:
    vault = sync_queues("vault")
    job = vault.add("login", {})
    key = f"bull:vault:{job.id}"
    raw.hset(key, mapping={"timestamp": "password=SUPERSECRET2", "defa": "token=SUPERSECRET1 expired"})
    client = make_client(["vault"])
    for url in ("/queues/vault", "/queues/vault?state=waiting", f"/queues/vault/jobs/{job.id}"):
        for headers in (HTML, JSON):
            text = client.get(url, headers=headers).text
            assert "SUPERSECRET" not in text, (url, headers)
    detail = client.get(f"/queues/vault/jobs/{job.id}", headers=JSON).json()
    assert "timestamp" in detail["problems"] and detail["deferred_failure"]
