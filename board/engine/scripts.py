"""The Lua scripts, loaded from ``lua/`` beside this module: one operation per script.

Each script is sent as ``_lib.lua`` (the shared helpers and the named return codes), then any helper file
it names on a ``--@include <name>`` line, then ``_queue.lua`` (the current queue's keys, ``Q``), then the
script itself. Helpers come before ``Q`` exists, so each takes the keys of the queue it works on as an
argument and none can close over the current queue.

Of the helper functions and tables, a script carries only those it uses, directly or through another:
Redis runs a script's whole text on every call, and defining the helpers and tables it never uses cost
nearly half of an add's time in Redis (``bench/script_cost.py``).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

LUA_DIR = Path(__file__).with_name("lua")
# A helper function, from its first line to the "end" that closes it, alone at the start of a line; or a
# table written over several lines, from "local NAME = {" ending its line to a "}" alone on one.
_DEFINITION = re.compile(r"^local function (\w+)\(.*?^end\n|^local (\w+) = \{\n.*?^\}\n", re.MULTILINE | re.DOTALL)
# Comments, and the string literals that may hold "--" (kept, so a name in one counts as used).
_COMMENT_OR_STRING = re.compile(r"--\[\[.*?\]\]|--[^\n]*|\"(?:[^\"\\\n]|\\.)*\"|'(?:[^'\\\n]|\\.)*'", re.DOTALL)
_NAME = re.compile(r"[A-Za-z_]\w*")


@dataclass(frozen=True)
class Script:
    name: str
    source: str
    sha: str


def _read(name: str) -> str:
    return (LUA_DIR / f"{name}.lua").read_text(encoding="utf-8")


def _names(code: str) -> set[str]:
    text = _COMMENT_OR_STRING.sub(lambda m: m.group(0) if m.group(0)[0] in "\"'" else " ", code)
    return set(_NAME.findall(text))


def _defined(match: re.Match[str]) -> str:
    return match.group(1) or match.group(2)


def _used_only(helpers: str, body: str) -> str:
    """``helpers`` without the functions and tables that neither ``body``, the rest of ``helpers`` nor a
    definition kept names; a name merely mentioned keeps its definition, so nothing used is left out."""
    definitions = {_defined(m): m.group(0) for m in _DEFINITION.finditer(helpers)}
    kept: set[str] = set()
    wanted = list(_names(_DEFINITION.sub("", helpers) + body) & definitions.keys())
    while wanted:
        name = wanted.pop()
        if name not in kept:
            kept.add(name)
            wanted += _names(definitions[name]) & definitions.keys()
    return _DEFINITION.sub(lambda m: m.group(0) if _defined(m) in kept else "", helpers)


@cache
def script(name: str) -> Script:
    parts = [_read("_lib")]
    body: list[str] = []
    for line in _read(name).splitlines():
        if line.startswith("--@include "):
            parts.append(_read(line.split(maxsplit=1)[1].strip()))
        else:
            body.append(line)
    own = _read("_queue") + "\n" + "\n".join(body)
    source = _used_only("\n".join(parts), own) + "\n" + own
    return Script(name, source, hashlib.sha1(source.encode()).hexdigest())


def all_scripts() -> list[Script]:
    return [script(path.stem) for path in sorted(LUA_DIR.glob("*.lua")) if not path.stem.startswith("_")]
