"""The Lua scripts, loaded from ``lua/`` beside this module: one operation per script.

Each script is sent as ``_lib.lua`` (the shared helpers and the named return codes), then any helper file
it names on a ``--@include <name>`` line, then ``_queue.lua`` (the current queue's keys, ``Q``), then the
script itself. Helpers come before ``Q`` exists, so each takes the keys of the queue it works on as an
argument and none can close over the current queue.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

LUA_DIR = Path(__file__).with_name("lua")


@dataclass(frozen=True)
class Script:
    name: str
    source: str
    sha: str


def _read(name: str) -> str:
    return (LUA_DIR / f"{name}.lua").read_text(encoding="utf-8")


@cache
def script(name: str) -> Script:
    parts = [_read("_lib")]
    body: list[str] = []
    for line in _read(name).splitlines():
        if line.startswith("--@include "):
            parts.append(_read(line.split(maxsplit=1)[1].strip()))
        else:
            body.append(line)
    parts.append(_read("_queue"))
    parts.append("\n".join(body))
    source = "\n".join(parts)
    return Script(name, source, hashlib.sha1(source.encode()).hexdigest())


def all_scripts() -> list[Script]:
    return [script(path.stem) for path in sorted(LUA_DIR.glob("*.lua")) if not path.stem.startswith("_")]
