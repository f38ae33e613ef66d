"""The charts' geometry (board/web/geometry.py): scales, labels, bars and paths, whatever the numbers."""

from __future__ import annotations

import re

import pytest

from board.web.geometry import Box, bars, bucket_max, compact, line_path, nice_ceiling, ticks, x_at, y_at

BOX = Box(100, 50, left=10, right=0, top=5, bottom=5)


def points_of(path: str) -> list[tuple[float, float]]:
    return [(float(x), float(y)) for x, y in re.findall(r"(-?[\d.]+),(-?[\d.]+)", path)]


def test_coordinates_are_short() -> None:
    assert line_path([0, 1], 1, Box(4, 4), 2) == "M1,4L3,0"
    assert "." not in line_path(list(range(60)), 60, Box(120, 60), 60).replace(".5", "")


@pytest.mark.parametrize(
    ("peak", "top"),
    [(-3, 1), (0, 1), (1, 1), (2, 2), (3, 5), (7, 10), (10, 10), (11, 20), (99, 100), (101, 200), (250, 500)],
)
def test_the_scale_tops_at_one_two_or_five_times_a_power_of_ten(peak: int, top: int) -> None:
    assert nice_ceiling(peak) == top


def test_a_scale_for_a_value_no_float_holds_is_exact() -> None:
    huge = 10**400 + 1
    assert nice_ceiling(huge) == 2 * 10**400
    assert y_at(huge, nice_ceiling(huge), BOX) == pytest.approx(BOX.baseline - BOX.plot_height / 2)
    assert compact(huge) == "1e400"


def test_ticks_are_whole_numbers() -> None:
    assert ticks(1) == [0, 1]
    assert ticks(10) == [0, 5, 10]
    assert ticks(5) == [0, 5]
    assert all(isinstance(t, int) for t in ticks(2 * 10**30))


@pytest.mark.parametrize(
    ("value", "label"),
    [
        (0, "0"),
        (999, "999"),
        (1000, "1k"),
        (1290, "1.2k"),
        (12_345, "12k"),
        (999_999, "999k"),
        (3_456_789, "3.4M"),
        (5 * 10**9, "5B"),
        (75 * 10**11, "7.5T"),
        (12 * 10**14, "1.2e15"),
        (-1500, "-1.5k"),
    ],
)
def test_compact_labels(value: int, label: str) -> None:
    assert compact(value) == label


def test_values_map_onto_the_plot_and_never_out_of_it() -> None:
    assert y_at(0, 10, BOX) == BOX.baseline == 45
    assert y_at(10, 10, BOX) == BOX.top == 5
    # Another program's numbers: below zero draws as zero, above the scale at its top.
    assert y_at(-50, 10, BOX) == BOX.baseline
    assert y_at(50, 10, BOX) == BOX.top
    assert x_at(0, 60, BOX) == BOX.left and x_at(60, 60, BOX) == BOX.width


def test_empty_data_draws_nothing() -> None:
    assert line_path([], 1, BOX, 60) == ""
    assert line_path([], 1, BOX, 60, area=True) == ""
    assert bars([], 1, BOX, 60) == []
    assert bucket_max([], 4) == []


def test_a_single_point_is_a_visible_stroke_in_the_last_slot() -> None:
    path = line_path([7], 10, BOX, 60)
    (x1, y1), (x2, y2) = points_of(path)
    assert y1 == y2 == pytest.approx(y_at(7, 10, BOX), abs=0.05)
    slot = BOX.plot_width / 60
    assert x1 == pytest.approx(BOX.width - slot, abs=0.05) and x2 == pytest.approx(BOX.width)
    (bar,) = bars([7], 10, BOX, 60)
    assert bar.x > BOX.width - slot and bar.x + bar.width < BOX.width and bar.height > 0


def test_a_short_series_ends_at_now() -> None:
    # Three minutes kept of an hour's window: they sit in the last three slots.
    path = points_of(line_path([1, 2, 3], 3, BOX, 60))
    slot = BOX.plot_width / 60
    assert [x for x, _ in path] == pytest.approx([BOX.width - slot * (3 - i) + slot / 2 for i in range(3)], abs=0.05)


def test_an_area_closes_on_the_baseline_and_stays_in_the_box() -> None:
    path = line_path([0, 5, 10**12, -4], 10**12, BOX, 4, area=True)
    assert path.endswith("Z")
    points = points_of(path)
    assert points[-1][1] == points[-2][1] == BOX.baseline
    assert all(BOX.left <= x <= BOX.width and BOX.top <= y <= BOX.baseline for x, y in points)


def test_bars_skip_zeros_and_keep_inside_their_slots() -> None:
    drawn = bars([0, 3, 6, -2], 6, BOX, 4)
    assert len(drawn) == 2
    slot = BOX.plot_width / 4
    for bar, index in zip(drawn, (1, 2), strict=True):
        assert BOX.left + slot * index < bar.x < bar.x + bar.width < BOX.left + slot * (index + 1)
        assert bar.y + bar.height == pytest.approx(BOX.baseline)
    assert drawn[1].height == pytest.approx(BOX.plot_height)


def test_buckets_keep_the_peaks_and_end_with_a_whole_bucket() -> None:
    assert bucket_max([1, 9, 2, 3, 4, 5, 6, 0, 7], 4) == [1, 9, 7]
    assert bucket_max([3, -1], 1) == [3, 0]
    day = [i % 97 for i in range(1440)]
    assert len(bucket_max(day, 4)) == 360 and max(bucket_max(day, 4)) == 96
