"""Job search: a text in jobs' ids, names, data or failed reasons, found without blocking Redis.

Matching ignores the case of ASCII letters and compares the stored text as it is: data written with
``\\u`` escapes (Python's ``json.dumps`` default) matches only the escaped form of other letters.

A search walks the states it is given, one bounded script call at a time (``search_jobs.lua``: a chunk
of jobs, a byte budget), until it has enough matches or its time budget is spent, and hands back a
``SearchCursor`` to go on from. So a search of a queue of a million jobs answers within its budget
with what it found so far and how far it got, and Redis serves other clients between two steps.

Jobs that move between states while a search walks may be seen twice or not at all: a search is a
look through the queue as it goes, not a snapshot.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .connection import Op, script_call
from .keys import QueueKeys
from .states import RUN_ORDER, state_key

SEARCH_FIELDS = ("id", "name", "data", "failedReason")
# One step's bounds: jobs looked at, bytes of their fields read, and the largest field read at all.
CHUNK = 250
BYTE_BUDGET = 4 * 1024 * 1024
FIELD_BOUND = 1024 * 1024
MAX_TEXT = 200


@dataclass(frozen=True)
class SearchCursor:
    """Where a search goes on: the index of the state in its list of states, and the position in it."""

    state_index: int = 0
    position: int = 0

    def __str__(self) -> str:
        return f"{self.state_index}.{self.position}"

    @classmethod
    def parse(cls, text: str) -> SearchCursor:
        """The cursor ``str(cursor)`` gave; ValueError for anything else."""
        head, dot, tail = text.partition(".")
        if not dot or not head.isdigit() or not tail.isdigit():
            raise ValueError(f"cursor: expected <state>.<position> as a search returned it, got {text!r}")
        return cls(int(head), int(tail))


@dataclass
class SearchResult:
    """What one search call found: ``(job id, state)`` pairs, how far it looked, and where to go on."""

    matches: list[tuple[str, str]] = field(default_factory=list)
    looked: int = 0
    # Fields not searched because they are larger than the per-field bound.
    skipped: int = 0
    # None when every state was searched to its end.
    cursor: SearchCursor | None = None


def check_text(text: str) -> str:
    if not isinstance(text, str) or not text.strip():
        raise ValueError("text: give the text to search for")
    if len(text) > MAX_TEXT:
        raise ValueError(f"text: at most {MAX_TEXT} characters, got {len(text)}")
    # Lua lowers ASCII letters only: so must the text, or "É" would never match.
    return "".join(c.lower() if c.isascii() else c for c in text.strip())


def check_fields(fields: Sequence[str]) -> list[str]:
    unknown = [f for f in fields if f not in SEARCH_FIELDS]
    if unknown or not fields:
        raise ValueError(f"fields: expected some of {', '.join(SEARCH_FIELDS)}, got {list(fields)!r}")
    return list(fields)


def search(
    keys: QueueKeys,
    text: str,
    *,
    states: Sequence[str] = (),
    fields: Sequence[str] = SEARCH_FIELDS,
    cursor: SearchCursor | None = None,
    limit: int = 50,
    budget_s: float = 0.5,
    clock: Callable[[], float] = time.monotonic,
) -> Op[SearchResult]:
    """Searches ``states`` (all, in run order, when empty) from ``cursor`` until ``limit`` matches or
    ``budget_s`` seconds; at least one step is always taken, so every call makes progress."""
    needle = check_text(text)
    names = [state_key(s) for s in states] if states else [s.key for s in RUN_ORDER]
    wanted = check_fields(fields)
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ValueError(f"limit: expected an integer >= 1, got {limit!r}")
    at = cursor or SearchCursor()
    result = SearchResult()
    deadline = clock() + budget_s
    index, position = at.state_index, at.position
    while index < len(names):
        reply = yield script_call(
            "search_jobs",
            keys,
            names[index],
            position,
            CHUNK,
            BYTE_BUDGET,
            FIELD_BOUND,
            limit - len(result.matches),
            needle,
            *wanted,
        )
        ids, next_position, looked, skipped = reply
        result.matches += [(str(job_id), names[index]) for job_id in ids]
        result.looked += int(looked)
        result.skipped += int(skipped)
        if int(next_position) < 0:
            index, position = index + 1, 0
        else:
            position = int(next_position)
        if len(result.matches) >= limit or clock() >= deadline:
            break
    result.cursor = SearchCursor(index, position) if index < len(names) else None
    return result


__all__ = ["SEARCH_FIELDS", "SearchCursor", "SearchResult", "search"]
