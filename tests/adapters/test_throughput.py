"""Per-minute throughput from BullMQ's metrics (board/adapters/throughput.py): minutes lined up on the clock."""

from __future__ import annotations

import pytest
from redis.exceptions import ResponseError

from board.adapters.throughput import align, check_minutes, parse
from board.engine.metrics import Metrics

MINUTE = 60_000
NOW = 1_000_000 * MINUTE + 30_000  # half a minute into minute 1,000,000


def test_nothing_kept_is_no_series() -> None:
    assert align(Metrics(), 60, NOW) is None


def test_the_head_is_the_minute_before_the_last_rollover_and_the_count_since_is_its_minute() -> None:
    # Rollover three minutes ago; 4 jobs since then; the data list newest first.
    metrics = Metrics(count=100, prev_ts=NOW - 3 * MINUTE, prev_count=96, data=[7, 8, 9], points=3)
    series = align(metrics, 7, NOW)
    assert series is not None
    # Oldest first: 9, 8, 7 before the rollover's minute, its 4, then three minutes with no job at all
    # (the current one included): a job finishing then would have rolled the minute over.
    assert series.minutes == [9, 8, 7, 4, 0, 0, 0]
    assert series.end_ms == 1_000_000 * MINUTE and series.total == 100 and series.kept == 3


def test_minutes_older_than_the_list_are_left_out_not_zero() -> None:
    metrics = Metrics(count=5, prev_ts=NOW, prev_count=3, data=[1], points=1)
    series = align(metrics, 60, NOW)
    assert series is not None and series.minutes == [1, 2]


def test_a_rollover_long_ago_means_no_job_since() -> None:
    metrics = Metrics(count=9, prev_ts=NOW - 300 * MINUTE, prev_count=1, data=[5] * 10, points=10)
    series = align(metrics, 60, NOW)
    assert series is not None and series.minutes == [0] * 60


def test_a_worker_clock_ahead_of_the_board_moves_now_with_it() -> None:
    metrics = Metrics(count=3, prev_ts=NOW + 2 * MINUTE, prev_count=1, data=[4], points=1)
    series = align(metrics, 3, NOW)
    assert series is not None and series.minutes == [4, 2] and series.end_ms == (1_000_000 + 2) * MINUTE


def test_negative_numbers_another_program_wrote_count_as_zero() -> None:
    metrics = Metrics(count=-4, prev_ts=NOW, prev_count=10, data=[-3, 2], points=2)
    series = align(metrics, 3, NOW)
    assert series is not None and series.minutes == [2, 0, 0] and series.total == 0


def test_a_reply_redis_refused_makes_that_queue_unreadable_only() -> None:
    good = [[b"1", str(NOW).encode(), b"0"], [], 0]
    refused = [ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value"), [], 0]
    assert parse("a", good + good, 60, NOW).enabled
    broken = parse("b", good + refused, 60, NOW)
    assert broken.error == "unreadable" and not broken.enabled


@pytest.mark.parametrize("minutes", [0, 1441, -1, True, 2.5])
def test_the_window_is_bounded(minutes: object) -> None:
    with pytest.raises(ValueError, match="minutes"):
        check_minutes(minutes)  # type: ignore[arg-type]
