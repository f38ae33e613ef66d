"""JSON that another program wrote, or a user typed, read without trusting its shape.

Python's JSON parser and printer recurse once per level of nesting: a payload nested a few thousand
levels deep raises RecursionError (not ValueError) when read, and one a few hundred deep can still
exhaust the stack when printed or redacted inside a request. Anything deeper than ``MAX_DEPTH`` is
treated as text, never as a structure.
"""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["MAX_DEPTH", "deeper_than", "loads_bounded", "nested_deeper_than"]

MAX_DEPTH = 100


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text[:20]} is out of a float's range")
    return number


def deeper_than(text: str, limit: int = MAX_DEPTH) -> bool:
    """Whether JSON ``text`` nests arrays and objects more than ``limit`` deep (scanned, not parsed)."""
    depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


def nested_deeper_than(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether parsed ``value`` nests lists and dicts more than ``limit`` deep (walked without recursion)."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth >= limit:
                return True
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return False


def loads_bounded(text: str, limit: int = MAX_DEPTH) -> Any:
    """``json.loads`` that raises ValueError, with the reason, for anything it should not build: text that
    is not JSON, ``NaN``, ``Infinity`` or a number past a float's range, or nesting deeper than ``limit``."""
    # Counting is done in C; the scan in Python only when there are enough brackets to be that deep.
    if text.count("[") + text.count("{") > limit and deeper_than(text, limit):
        raise ValueError(f"nested deeper than {limit} levels")
    try:
        return json.loads(text, parse_constant=_refuse_constant, parse_float=_finite)
    except RecursionError:
        raise ValueError(f"nested deeper than {limit} levels") from None
