"""Reading an action's fields (board/web/forms.py): numbers, intervals and times from forms and JSON, refused
with a reason rather than guessed. How actions answer (redirects, confirmation, the form again) is checked
through the actions themselves in test_actions.py and test_schedulers.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from board.web.forms import blank, flag, moment, seconds, whole


@pytest.mark.parametrize(("value", "expected"), [("5", 5), (" 12 ", 12), (7, 7), (3.0, 3), ("1000", 1000)])
def test_whole_numbers(value: Any, expected: int) -> None:
    assert whole(value, 1000) == expected


@pytest.mark.parametrize("value", ["0", "-1", "1001", "2.5", 2.5, "ten", "", None, True, "1e3", "9" * 40, [1]])
def test_whole_numbers_refused(value: Any) -> None:
    with pytest.raises(ValueError, match="whole number"):
        whole(value, 1000)


@pytest.mark.parametrize(("value", "expected"), [("60", 60.0), ("0.5", 0.5), (90, 90.0), (" 1.25 ", 1.25)])
def test_seconds(value: Any, expected: float) -> None:
    assert seconds(value, 3600) == expected


@pytest.mark.parametrize("value", ["0", "-3", "3601", "nan", "inf", "soon", "", None, True, {}])
def test_seconds_refused(value: Any) -> None:
    with pytest.raises(ValueError, match="seconds"):
        seconds(value, 3600)


def test_moments() -> None:
    # A form's datetime-local has no zone: read as UTC, as the form says.
    assert moment("2030-05-01T18:00") == datetime(2030, 5, 1, 18, 0, tzinfo=UTC)
    assert moment("2030-05-01T18:00:30Z") == datetime(2030, 5, 1, 18, 0, 30, tzinfo=UTC)
    berlin = moment("2030-05-01T18:00+02:00")
    assert berlin.utcoffset() == timedelta(hours=2) and berlin == datetime(2030, 5, 1, 16, tzinfo=UTC)
    assert moment(1_900_000_000_000) == datetime.fromtimestamp(1_900_000_000, UTC)


@pytest.mark.parametrize("value", ["someday", "", "2030-13-01", None, True, [2030], float("nan"), 10**30])
def test_moments_refused(value: Any) -> None:
    with pytest.raises(ValueError, match="date and time"):
        moment(value)


def test_blank_and_flags() -> None:
    assert blank(None) and blank("") and blank("  ") and not blank("0") and not blank(0)
    assert flag({"confirm": True}, "confirm") and flag({"confirm": "1"}, "confirm") and flag({"x": "on"}, "x")
    assert not flag({}, "confirm") and not flag({"confirm": "0"}, "confirm") and not flag({"confirm": False}, "confirm")
