"""Formatters: what the board shows of a job's name, data, return value, options, progress, logs and failed
reason (stack traces included).

A custom formatter is a function ``(value, user) -> value`` per field; it sees parsed JSON when the text
parsed, else the raw (possibly cut) text. Without one, every field but the name is redacted for every user.

Which keys are secret. A key is normalised (lowercased, everything but letters and digits dropped: ``X-Api-Key``,
``x_api_key`` and ``xApiKey`` all become ``xapikey``). A word of five letters or more is secret wherever it
occurs in the normalised key; a word of four letters or fewer only when it is the whole key or one whole part
of it, parts being split at separators and camelCase humps. So ``DB_PASSWORD``, ``sessionToken`` and
``pass`` are secret, ``passenger``, ``author`` and ``compass`` are not. Over-masking a harmless key
(``tokenizer``, ``session_count``) is the accepted price of never leaking a real one.

Parsed values (``redact_value``): the value of a secret key becomes ``MASK``, whatever it is, at any depth;
strings elsewhere are also run through ``redact_text``, so a URL with a password or a logged header inside a
payload is masked too. The walk is iterative and bounded: a container nested more than ``MAX_DEPTH`` levels
deep is shown as the string ``TOO_DEEP``, which also keeps what the pages later serialise shallow.

Text (``redact_text``): previews cut short inside Redis, log lines, failed reasons. Masked are the values of
``"key": value`` pairs (JSON, a Python repr, JSON encoded inside a JSON string), of ``key=value`` and
``key: value``, HTTP ``Authorization`` (the scheme word is kept) and ``Cookie`` headers, a bare
``Bearer <token>``, and the password in ``scheme://user:password@host``. Everything else is kept byte for
byte. The scan is one left-to-right pass whose regular expressions cannot backtrack, so its time is linear
in the length of the text.

``restore_masked`` undoes the masking of an edited copy: the edit form shows redacted data, and a value the
operator left exactly as shown gets its original back.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any, NamedTuple

from ..adapters.payload import MAX_DEPTH

if TYPE_CHECKING:
    from .users import User

Formatter = Callable[[Any, "User"], Any]
FIELDS = ("name", "data", "returnvalue", "opts", "logs", "progress", "failed_reason")
MASK = "***"
TOO_DEEP = "[nested too deep to show]"
SHORT_WORD = 4
SECRET_WORDS = (
    "password",
    "passwd",
    "passphrase",
    "passcode",
    "secret",
    "token",
    "bearer",
    "apikey",
    "authorization",
    "credential",
    "privatekey",
    "privkey",
    "accesskey",
    "signingkey",
    "encryptionkey",
    "masterkey",
    "cookie",
    "session",
    "signature",
    "connectionstring",
    "cardnumber",
    "creditcard",
    "socialsecurity",
    # SHORT_WORD letters or fewer: a whole key or a whole part of one ("pass", not "passenger").
    "pass",
    "pwd",
    "auth",
    "otp",
    "totp",
    "pin",
    "cvv",
    "cvc",
    "ssn",
    "jwt",
    "dsn",
    "sid",
    "hmac",
)

_NOT_ALNUM = re.compile(r"[\W_]+")
_HUMP = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])|(?<=[A-Za-z])(?=[0-9])|(?<=[0-9])(?=[A-Za-z])")


def _normalise(key: str) -> str:
    return _NOT_ALNUM.sub("", key).lower()


def _parts(key: str) -> list[str]:
    return [part.lower() for part in _NOT_ALNUM.split(_HUMP.sub(" ", key)) if part]


def _clean_words(words: Iterable[str]) -> tuple[str, ...]:
    if isinstance(words, str) or not isinstance(words, Iterable):
        raise ValueError(f"redaction words: expected a list of words, got {words!r}")
    cleaned: list[str] = []
    for word in words:
        if not isinstance(word, str) or not _normalise(word):
            raise ValueError(f"redaction words: each must be a non-empty string with a letter or digit, got {word!r}")
        cleaned.append(_normalise(word))
    return tuple(dict.fromkeys(cleaned))


class _Secrets:
    """Whether a key is secret under one word list; answers are remembered, since keys repeat across jobs."""

    _CACHE_KEYS = 4096
    _CACHE_KEY_LENGTH = 128

    def __init__(self, words: tuple[str, ...]) -> None:
        # Longest first, so the alternation reports the most specific word; only the yes/no matters here.
        anywhere = sorted((w for w in words if len(w) > SHORT_WORD), key=len, reverse=True)
        self._anywhere = re.compile("|".join(map(re.escape, anywhere))) if anywhere else None
        self._whole = frozenset(w for w in words if len(w) <= SHORT_WORD)
        self._known: dict[str, bool] = {}

    def __call__(self, key: str) -> bool:
        known = self._known.get(key)
        if known is None:
            known = self._decide(key)
            if len(key) <= self._CACHE_KEY_LENGTH:
                if len(self._known) >= self._CACHE_KEYS:
                    self._known.clear()
                self._known[key] = known
        return known

    def _decide(self, key: str) -> bool:
        normalised = _normalise(key)
        if not normalised:
            return False
        if self._anywhere is not None and self._anywhere.search(normalised):
            return True
        return bool(self._whole) and (normalised in self._whole or not self._whole.isdisjoint(_parts(key)))


@lru_cache(maxsize=32)
def _secrets_for(words: tuple[str, ...]) -> _Secrets:
    return _Secrets(words)


def _secrets(words: Iterable[str]) -> _Secrets:
    return _secrets_for(_clean_words(words))


def is_secret_key(key: str, words: Iterable[str] = SECRET_WORDS) -> bool:
    """Whether the value under ``key`` is masked."""
    return _secrets(words)(key)


# Text ---------------------------------------------------------------------------------------------------------

# Every pattern below either has no nested repetition or makes it possessive (``*+``, ``++``), and each
# match attempt stops at the next quote, separator or word end: no input can make one backtrack at length.
_SEP = r"[ \t]*+(?:=++>?|:=|:(?!:)|->)"
_SCAN = re.compile(
    # A quoted key: JSON (escapes allowed, but not \" - else every quote of `\"\"\"...` would rescan the rest),
    # a Python repr, or JSON encoded inside a JSON string.
    r'(?P<dq>"(?:[^"\\\n]|\\u[0-9A-Fa-f]{4}|\\[\\/bfnrt])++")(?P<dqsep>' + _SEP + r"\s*+)"
    r"|(?P<sq>'[^'\\\n]++')(?P<sqsep>" + _SEP + r"\s*+)"
    r'|(?P<eq>\\"[^"\\\n]++\\")(?P<eqsep>' + _SEP + r"\s*+)"
    # An unquoted key; the look-behind makes a word start the only place an attempt begins.
    r"|(?<![\w.\-])(?P<key>[\w.\-]++)(?P<sep>" + _SEP + r"[ \t]*+)"
    r"|(?<!\w)(?i:bearer)[ \t]++(?P<token>[^\s\"',;&<>\\:]++)"
    # The last @ before the host ends the user info, since people paste passwords with a raw @ in them.
    r"|://(?P<userinfo>[^\s/?#\"'<>\\]*)@"
)
_TRIGGER = re.compile(r"[:=]|->|(?i:bearer)")
_SEP_AFTER = re.compile(_SEP + r"[ \t]*+")
_DQ_VALUE = re.compile(r'"(?:[^"\\\n]|\\.)*+"?')
_SQ_VALUE = re.compile(r"'(?:[^'\\\n]|\\.)*+'?")
# A string inside an encoded JSON string: \\ is an escaped backslash, so \\\" is a quote inside the value.
_EQ_VALUE = re.compile(r'\\"(?:[^\\"\n]|\\[^\\"\n]|\\\\(?:\\.|[^\\"\n]))*+(?:\\")?')
_BARE = re.compile(r"""(?:[^\s&;,"'\\]|\\(?!["']))*+""")
_JSON_BARE = re.compile(r"""(?:[^\s&;,"'\\}\]]|\\(?!["']))*+""")
# A header runs to the end of its line, or to a quote that closes the string it sits in; a quote right after
# '=' opens a parameter (Digest's response="...", a quoted cookie) and is part of the value.
_HEADER = re.compile(r"""(?:[^\r\n"'\\]|\\(?!["'nr])|(?<==)"[^"\r\n]*+"?|(?<==)\\"[^"\\\r\n]*+(?:\\")?)*+""")
_STRUCTURE = re.compile(r""""(?:[^"\\]|\\.)*+"?|'(?:[^'\\]|\\.)*+'?|\\.|[{}\[\]]""", re.DOTALL)
_SCHEME = re.compile(
    r"(?i:basic|bearer|digest|negotiate|ntlm|token|apikey|oauth|hoba|mutual|vapid|dpop|gnap|hawk|mac"
    r"|aws4-hmac-sha256|scram-sha-1|scram-sha-256)[ \t]++"
)
# Read backwards from a key: up to two words before it on the same line ("API Key: ...", "Session ID: ...").
_WORDS_BEFORE = re.compile(
    r"[ \t]{1,8}([\w.\-]{1,64})(?=[\s\"'(\[{,;]|\Z)(?:[ \t]{1,8}([\w.\-]{1,64})(?=[\s\"'(\[{,;]|\Z))?"
)
# "TokenExpiredError: jwt expired" and "at login (/app/auth.js:12:5)" name an error or a place, not a secret.
_NOT_A_KEY = re.compile(r"(?i:error|exception|warning)\Z")
_SOURCE_FILE = re.compile(
    r"(?i)\.(?:[cm]?js|jsx|tsx?|py|rb|go|java|kt|php|cs|rs|scala|exs?|lua|c|cc|cpp|h|hpp|swift)\Z"
)


class _Span(NamedTuple):
    start: int
    end: int
    replacement: str


def _end(pattern: re.Pattern[str], text: str, at: int) -> int:
    found = pattern.match(text, at)
    return found.end() if found else at


def _bracket_end(text: str, start: int) -> int:
    """Where the object or array at ``start`` closes; the end of the text when it was cut short."""
    depth = 0
    for token in _STRUCTURE.finditer(text, start):
        bracket = token.group()
        if bracket in ("{", "["):
            depth += 1
        elif bracket in ("}", "]"):
            depth -= 1
            if depth <= 0:
                return token.end()
    return len(text)


def _masked_value(text: str, start: int, key_quote: str, header: bool, auth: bool) -> _Span | None:
    """The secret value at ``start`` and its replacement; None when there is nothing to hide."""
    scheme = _SCHEME.match(text, start) if auth else None
    at = scheme.end() if scheme else start
    if at >= len(text):
        return None
    # A JSON-quoted key gets a JSON string back, so a masked number or object still reads as JSON.
    as_json = key_quote == '"' and scheme is None
    if text.startswith('\\"', at):
        return _Span(at, _end(_EQ_VALUE, text, at), f'\\"{MASK}\\"')
    first = text[at]
    if first == '"':
        return _Span(at, _end(_DQ_VALUE, text, at), f'"{MASK}"')
    if first == "'":
        return _Span(at, _end(_SQ_VALUE, text, at), f"'{MASK}'")
    if first in "{[":
        return _Span(at, _bracket_end(text, at), f'"{MASK}"' if as_json else MASK)
    end = _end(_HEADER if header else _JSON_BARE if key_quote else _BARE, text, at)
    if end == at:
        return None
    return _Span(at, end, f'"{MASK}"' if as_json else MASK)


def _header_kinds(label: str, sep: str) -> tuple[bool, bool]:
    """(runs to the end of the line, keeps an auth scheme word) for the value under ``label``."""
    normalised = _normalise(label)
    auth = "authorization" in normalised or normalised == "auth"
    return ":" in sep and (auth or "cookie" in normalised), auth


def _unquoted_label(text: str, found: re.Match[str], secrets: _Secrets) -> str | None:
    """The secret key (with the words before it that made it one) of an unquoted key match, else None."""
    key = found.group("key")
    sep = found.group("sep")
    if _NOT_A_KEY.search(key):
        return None
    if _SOURCE_FILE.search(key) and ":" in sep and text[found.end() : found.end() + 1].isdigit():
        return None
    if secrets(key):
        return key
    if ":" not in sep:
        return None
    start = found.start("key")
    before = _WORDS_BEFORE.match(text[max(0, start - 160) : start][::-1])
    if before is None:
        return None
    words = [word[::-1] for word in reversed(before.groups()) if word]
    label = " ".join([*words, key])
    return label if secrets(label) else None


def _decoded_key(content: str) -> str:
    if "\\" not in content:
        return content
    try:
        decoded = json.loads(f'"{content}"')
    except ValueError:
        return content
    return decoded if isinstance(decoded, str) else content


# What one match of _SCAN masks, and where the scan goes on from.
_Step = tuple[list[_Span], int]
_QUOTES = {"dq": '"', "sq": "'", "eq": '\\"'}


def _value_step(text: str, at: int, key_quote: str, header: bool, auth: bool) -> _Step:
    value = _masked_value(text, at, key_quote, header, auth)
    return ([], at) if value is None else ([value], value.end)


def _userinfo_step(text: str, found: re.Match[str]) -> _Step:
    start, end = found.span("userinfo")
    # The user name stays readable; user info without a ':' is a token on its own (https://ghp_...@github.com).
    colon = text.find(":", start, end)
    if colon >= 0:
        start = colon + 1
    return ([_Span(start, end, MASK)] if end > start else []), found.end()


def _bearer_step(text: str, found: re.Match[str]) -> _Step:
    token = _Span(found.start("token"), found.end("token"), MASK)
    # "bearer token: abc" is a key after all; its value goes too.
    after = _SEP_AFTER.match(text, found.end())
    value = _masked_value(text, after.end(), "", False, False) if after else None
    return ([token], found.end()) if value is None else ([token, value], value.end)


def _unquoted_key_step(text: str, found: re.Match[str], secrets: _Secrets) -> _Step:
    label = _unquoted_label(text, found, secrets)
    if label is None:
        # Not past the separator: the ':' of "https://" may start a URL.
        return [], found.end("key")
    header, auth = _header_kinds(label, found.group("sep"))
    return _value_step(text, found.end(), "", header, auth)


def _quoted_key_step(text: str, found: re.Match[str], secrets: _Secrets) -> _Step:
    group = next(name for name in _QUOTES if found.group(name) is not None)
    quote = _QUOTES[group]
    content_start, content_end = found.start(group) + len(quote), found.end(group) - len(quote)
    content = text[content_start:content_end]
    if not secrets(_decoded_key(content) if group == "dq" else content):
        # Rescan the inside: quotes that paired up wrongly in free text may hold a key or a URL.
        return [], content_start
    # The content cannot hold its own quote, so this recursion ends within three levels.
    key = _Span(content_start, content_end, _scan(content, secrets))
    header, auth = _header_kinds(content, found.group(group + "sep"))
    values, pos = _value_step(text, found.end(), quote, header, auth)
    return [key, *values], pos


def _step(text: str, found: re.Match[str], secrets: _Secrets) -> _Step:
    if found.group("userinfo") is not None:
        return _userinfo_step(text, found)
    if found.group("token") is not None:
        return _bearer_step(text, found)
    if found.group("key") is not None:
        return _unquoted_key_step(text, found, secrets)
    return _quoted_key_step(text, found, secrets)


def _scan(text: str, secrets: _Secrets) -> str:
    if not _TRIGGER.search(text):
        return text
    out: list[str] = []
    done = pos = 0
    while (found := _SCAN.search(text, pos)) is not None:
        spans, pos = _step(text, found, secrets)
        for start, end, replacement in spans:
            out.append(text[done:start])
            out.append(replacement)
            done = end
    out.append(text[done:])
    return "".join(out)


def redact_text(text: str, words: Iterable[str] = SECRET_WORDS) -> str:
    """``text`` with the values of secret keys, auth headers, bearer tokens and URL passwords masked."""
    return _scan(text, _secrets(words))


# Parsed values ------------------------------------------------------------------------------------------------


def _is_container(value: Any) -> bool:
    return isinstance(value, dict | list | tuple)


def _items(value: Any) -> Iterable[tuple[Any, Any]]:
    return value.items() if isinstance(value, dict) else enumerate(value)


def _shell(value: Any) -> dict[Any, Any] | list[Any]:
    return {} if isinstance(value, dict) else []


def _put(target: dict[Any, Any] | list[Any], key: Any, value: Any) -> None:
    if isinstance(target, dict):
        target[key] = value
    else:
        target.append(value)


def _redact_value(value: Any, secrets: _Secrets) -> Any:
    if isinstance(value, str):
        return _scan(value, secrets)
    if not _is_container(value):
        return value
    root = _shell(value)
    # Each child container is put in place empty before it is filled, which keeps key and item order.
    stack: list[tuple[Any, dict[Any, Any] | list[Any], int]] = [(value, root, 1)]
    while stack:
        source, target, level = stack.pop()
        is_dict = isinstance(source, dict)
        for key, child in _items(source):
            if is_dict and secrets(str(key)):
                shown: Any = MASK
            elif _is_container(child):
                if level >= MAX_DEPTH:
                    shown = TOO_DEEP
                else:
                    shown = _shell(child)
                    stack.append((child, shown, level + 1))
            elif isinstance(child, str):
                shown = _scan(child, secrets)
            else:
                shown = child
            _put(target, key, shown)
    return root


def redact_value(value: Any, words: Iterable[str] = SECRET_WORDS) -> Any:
    """A copy of parsed JSON with secret keys' values masked at any depth (see the module's notes); a string
    on its own is redacted as text."""
    return _redact_value(value, _secrets(words))


def _was_masked(shown: Any, original: Any, secret_key: bool, level: int, secrets: _Secrets) -> bool:
    """Whether ``shown``, a child of a container at ``level``, is what redaction made of ``original``."""
    if not isinstance(shown, str):
        return False
    if secret_key and shown == MASK:
        return True
    if shown == TOO_DEEP and level >= MAX_DEPTH and _is_container(original):
        return True
    return isinstance(original, str) and shown != original and _scan(original, secrets) == shown


def _same_kind(a: Any, b: Any) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict)
    return isinstance(a, list | tuple) and isinstance(b, list | tuple)


def _lookup(container: Any, key: Any) -> tuple[bool, Any]:
    if isinstance(container, dict):
        return (key in container, container.get(key))
    return (key < len(container), container[key] if key < len(container) else None)


def restore_masked(submitted: Any, original: Any, words: Iterable[str] = SECRET_WORDS) -> Any:
    """``submitted`` (an edited copy of redacted data) with every value still exactly as redaction showed it
    put back to the original: the mask under a secret key that the original has at the same path (dict keys,
    list indexes), ``TOO_DEEP`` where the original was cut, a string with a masked part. A value the operator
    typed is kept. The walk is iterative and stops where redaction stopped, at ``MAX_DEPTH``."""
    secrets = _secrets(words)
    if _was_masked(submitted, original, False, 0, secrets):
        return original
    if not _is_container(submitted) or not _same_kind(submitted, original):
        return submitted
    root = _shell(submitted)
    stack: list[tuple[Any, Any, dict[Any, Any] | list[Any], int]] = [(submitted, original, root, 1)]
    while stack:
        shown_parent, original_parent, target, level = stack.pop()
        is_dict = isinstance(shown_parent, dict)
        for key, shown in _items(shown_parent):
            present, before = _lookup(original_parent, key)
            value = shown
            if present:
                secret_key = is_dict and secrets(str(key))
                if _was_masked(shown, before, secret_key, level, secrets):
                    value = before
                elif level < MAX_DEPTH and _is_container(shown) and _same_kind(shown, before):
                    value = _shell(shown)
                    stack.append((shown, before, value, level + 1))
            _put(target, key, value)
    return root


# Formatters ---------------------------------------------------------------------------------------------------


class Formatters:
    """The formatter of each field: a custom one if given, else redaction (unless turned off), with the
    default ``SECRET_WORDS`` plus ``words``."""

    def __init__(
        self, custom: Mapping[str, Formatter] | None = None, *, redact: bool = True, words: Iterable[str] = ()
    ) -> None:
        unknown = set(custom or {}) - set(FIELDS)
        if unknown:
            raise ValueError(f"formatters: unknown field(s) {sorted(unknown)}; expected some of {FIELDS}")
        for field, formatter in (custom or {}).items():
            if not callable(formatter):
                raise ValueError(f"formatters: the formatter for {field!r} is not callable: {formatter!r}")
        self.custom = dict(custom or {})
        self.redact = redact
        self.words: tuple[str, ...] = tuple(dict.fromkeys(SECRET_WORDS + _clean_words(words)))
        self._secrets = _secrets_for(self.words)

    def apply(self, field: str, value: Any, user: User) -> Any:
        if field in self.custom:
            return self.custom[field](value, user)
        if self.redact and field != "name":
            return _redact_value(value, self._secrets)
        return value

    def restore_masked(self, submitted: Any, original: Any) -> Any:
        """``restore_masked`` with this board's words; nothing was masked when redaction is off."""
        return restore_masked(submitted, original, self.words) if self.redact else submitted
