"""Readiness checks: settings read strictly, the specific over the general, and each failure said."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from board.adapters import QueueHealth
from board.web.readiness import ChecksError, evaluate, limits_for, load_checks, load_checks_file


def test_an_exact_name_wins_over_a_pattern_whatever_the_order() -> None:
    checks = load_checks({"email": {"max_waiting": 10}, "*": {"max_waiting": 100, "min_workers": 1}})
    assert limits_for(checks, "email") == {"max_waiting": 10, "min_workers": 1}
    assert limits_for(checks, "sms") == {"max_waiting": 100, "min_workers": 1}
    assert limits_for(load_checks({"reports.*": {"min_workers": 2}}), "email") == {}


def test_evaluate_says_each_failure_and_skips_unchecked_queues() -> None:
    checks = load_checks({"email": {"min_workers": 1, "max_waiting": 10, "max_oldest_waiting_s": 60}})
    ok, report = evaluate(
        checks, [QueueHealth("email", waiting=11, workers=0, oldest_waiting_s=90.4), QueueHealth("x")]
    )
    assert not ok and list(report) == ["email"]
    assert report["email"]["failed"] == [
        "0 worker(s), fewer than 1",
        "11 waiting, more than 10",
        "the next job has waited 90 s, longer than 60 s",
    ]
    ok, report = evaluate(checks, [QueueHealth("email", waiting=10, workers=1, oldest_waiting_s=60)])
    assert ok and report["email"]["failed"] == []
    ok, report = evaluate(checks, [QueueHealth("email", workers=3, error="unreadable")])
    assert not ok and report["email"]["failed"] == ["unreadable: unreadable"]


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"email": {"min_worker": 1}}, "email: unknown setting(s) min_worker"),
        ({"email": {"max_waiting": -1}}, "email: max_waiting must be a number >= 0"),
        ({"email": {"max_waiting": True}}, "email: max_waiting must be a number >= 0"),
        ({"email": 5}, "email: expected a table of settings"),
    ],
)
def test_bad_settings_are_named(data: dict[str, Any], error: str) -> None:
    with pytest.raises(ChecksError) as caught:
        load_checks(data)
    assert error in str(caught.value)


def test_from_a_toml_file(tmp_path: Path) -> None:
    path = tmp_path / "checks.toml"
    path.write_text('[email]\nmin_workers = 2\n\n["reports.*"]\nmax_oldest_waiting_s = 30.5\n', encoding="utf-8")
    checks = load_checks_file(path)
    assert limits_for(checks, "reports.daily") == {"max_oldest_waiting_s": 30.5}
    path.write_text("[email\n", encoding="utf-8")
    with pytest.raises(ChecksError, match="is not valid TOML"):
        load_checks_file(path)
