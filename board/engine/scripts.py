"""The Lua scripts, loaded from ``lua/`` beside this module.

Each script is sent with the shared helpers of ``_lib.lua`` in front of it, plus any helper file it
names on a ``--@include <name>`` line.
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
    parts.append("\n".join(body))
    source = "\n".join(parts)
    return Script(name, source, hashlib.sha1(source.encode()).hexdigest())


def all_scripts() -> list[Script]:
    return [script(path.stem) for path in sorted(LUA_DIR.glob("*.lua")) if not path.stem.startswith("_")]
