"""What the board's job search needs around the engine's: its arguments checked (a cursor that a search
did not hand out is refused, not followed), how far a search has got, and the rows it shows.

A step's matches are read back in one call, their searched fields cut at a bound inside Redis: the
rows shown keep only previews, and the cut texts let the board check that the text is in what it shows
of a job, not only in a value it masks (a password, a token).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from ..engine.inspector import JobRow
from ..engine.search import MAX_TEXT, SearchCursor
from .base import COUNTED, SEARCH_FIELDS
from .errors import Invalid

# A cursor as the engine writes it: the state's index, a dot, the position in that state. The position's
# bound keeps it an exact number in Lua, far past any real queue.
_CURSOR = re.compile(r"(\d{1,3})\.(\d{1,12})", re.ASCII)
# The fields of a job hash that rows cut inside Redis (see job_rows.lua), and how the searched ones are named
# there.
_CUT_FIELDS = ("data", "returnvalue", "opts", "progress", "failedReason", "stacktrace")


def check_text(text: str) -> str:
    if not isinstance(text, str) or not text.strip():
        raise Invalid("text: give the text to search for", "text")
    if len(text) > MAX_TEXT:
        raise Invalid(f"text: at most {MAX_TEXT} characters, got {len(text)}", "text")
    return text


def check_states(states: Sequence[str]) -> list[str]:
    """The states to search, in run order without repeats; every state when none is given."""
    unknown = [s for s in states if s not in COUNTED]
    if unknown:
        raise Invalid(f"states: expected some of {', '.join(COUNTED)}, got {unknown[0]!r}", "states")
    return [s for s in COUNTED if s in states] if states else list(COUNTED)


def check_fields(fields: Sequence[str]) -> list[str]:
    """The fields to search, in their usual order; every one when none is given."""
    unknown = [f for f in fields if f not in SEARCH_FIELDS]
    if unknown:
        raise Invalid(f"fields: expected some of {', '.join(SEARCH_FIELDS)}, got {unknown[0]!r}", "fields")
    return [f for f in SEARCH_FIELDS if f in fields] if fields else list(SEARCH_FIELDS)


def parse_cursor(text: str | None, states: int) -> SearchCursor | None:
    """The cursor a search handed out for a list of ``states`` states; ``Invalid`` for anything else."""
    if text is None or text == "":
        return None
    found = _CURSOR.fullmatch(text)
    if found is None or int(found[1]) >= states:
        shown = text if len(text) <= 40 else text[:40] + "…"
        raise Invalid(
            f"cursor: {shown!r} is not where a search of these states stopped; start the search again", "cursor"
        )
    return SearchCursor(int(found[1]), int(found[2]))


def coverage(states: Sequence[str], counts: Mapping[str, int], cursor: SearchCursor | None) -> tuple[int, int]:
    """(jobs searched so far, jobs in ``states``): the states before the cursor's, and its position in its
    own. Jobs come and go while a search walks, so this is as near as a count taken now can say."""
    sizes = [max(0, counts.get(state, 0)) for state in states]
    total = sum(sizes)
    if cursor is None:
        return total, total
    index = min(cursor.state_index, len(sizes))
    done = sum(sizes[:index]) + (min(cursor.position, sizes[index]) if index < len(sizes) else 0)
    return done, total


def _cut(text: str, size: int) -> str:
    """``text`` cut at ``size`` bytes, as Redis cuts a field (a partial character at the end stays partial)."""
    raw = text.encode("utf-8", "surrogateescape")
    return raw[:size].decode("utf-8", "surrogateescape") if len(raw) > size else text


def preview_row(row: JobRow, size: int) -> JobRow:
    """A row read with larger fields, cut down to what a list shows, as if Redis had cut it at ``size``."""
    fields = dict(row.fields)
    sizes = dict(row.sizes)
    for name in _CUT_FIELDS:
        value = fields.get(name)
        if value is None:
            continue
        full = sizes.get(name, len(value.encode("utf-8", "surrogateescape")))
        if full > size:
            fields[name] = _cut(value, size)
            sizes[name] = full
    return JobRow(row.id, row.state, fields, sizes)


def searched_texts(row: JobRow, fields: Sequence[str]) -> tuple[dict[str, str], frozenset[str]]:
    """The searched fields of a row as stored (cut where the read cut them), and which were cut."""
    texts = {name: (row.id if name == "id" else row.fields.get(name, "")) for name in fields}
    return texts, frozenset(name for name in fields if name in row.sizes)


__all__ = [
    "check_fields",
    "check_states",
    "check_text",
    "coverage",
    "parse_cursor",
    "preview_row",
    "searched_texts",
]
