"""The job search's arguments, progress and rows (board/adapters/job_search.py)."""

from __future__ import annotations

import pytest

from board.adapters import COUNTED, Invalid
from board.adapters.job_search import (
    check_fields,
    check_states,
    check_text,
    coverage,
    parse_cursor,
    preview_row,
    searched_texts,
)
from board.engine.inspector import JobRow
from board.engine.search import SearchCursor


@pytest.mark.parametrize("text", ["", "   ", "x" * 201])
def test_text_is_required_and_bounded(text: str) -> None:
    with pytest.raises(Invalid) as refused:
        check_text(text)
    assert refused.value.field == "text"


def test_states_and_fields_default_to_all_in_their_order() -> None:
    assert check_states([]) == list(COUNTED)
    assert check_states(["failed", "waiting", "failed"]) == ["waiting", "failed"]
    assert check_fields(["data", "id"]) == ["id", "data"]
    with pytest.raises(Invalid, match="states: expected some of"):
        check_states(["wait"])  # the engine's key, not the board's state
    with pytest.raises(Invalid, match="fields: expected some of"):
        check_fields(["opts"])


@pytest.mark.parametrize(
    "cursor",
    ["x", "1", "1.", ".5", "-1.0", "0.-1", "7.0", "1.5.2", "0.1234567890123", "\u0661.\u0662", "1e3.0", " 0.1"],
)
def test_a_cursor_no_search_handed_out_is_refused(cursor: str) -> None:
    with pytest.raises(Invalid) as refused:
        parse_cursor(cursor, 7)
    assert refused.value.field == "cursor"


def test_a_cursor_a_search_handed_out_is_followed() -> None:
    assert parse_cursor(None, 7) is None and parse_cursor("", 7) is None
    assert parse_cursor(str(SearchCursor(6, 250)), 7) == SearchCursor(6, 250)
    with pytest.raises(Invalid):
        parse_cursor("1.0", 1)  # a cursor for more states than this search has


def test_coverage_counts_the_states_done_and_the_position_in_the_current_one() -> None:
    counts = {"waiting": 10, "completed": 1000, "failed": 5}
    states = ["waiting", "completed", "failed"]
    assert coverage(states, counts, SearchCursor(0, 0)) == (0, 1015)
    assert coverage(states, counts, SearchCursor(1, 250)) == (260, 1015)
    # Jobs left the state since the step: never past what it holds.
    assert coverage(states, counts, SearchCursor(2, 99)) == (1015, 1015)
    assert coverage(states, counts, None) == (1015, 1015)


def test_a_preview_row_is_cut_as_redis_cuts_and_the_searched_texts_say_what_was_cut() -> None:
    data = '{"note": "' + "é" * 400 + '"}'
    row = JobRow("7", "wait", {"name": "n", "data": data, "failedReason": "short"}, {})
    small = preview_row(row, 300)
    assert len(small.fields["data"].encode("utf-8", "surrogateescape")) == 300
    assert small.sizes == {"data": len(data.encode())}
    assert small.fields["failedReason"] == "short"
    cut_row = JobRow("7", "wait", {"name": "n", "data": data[:100]}, {"data": 5000})
    texts, cut = searched_texts(cut_row, ["id", "name", "data"])
    assert texts == {"id": "7", "name": "n", "data": data[:100]} and cut == {"data"}
    assert preview_row(cut_row, 300).sizes == {"data": 5000}
