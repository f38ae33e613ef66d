"""The geometry of the board's charts: scales, tick labels, bars and paths in an SVG view box.

Pure functions of numbers, no markup: the templates write the SVG. Values are whole counts from Redis,
which another program may have written, so nothing here trusts them: a negative value draws as zero, a
value of any size (beyond what a float holds) still scales, and no data draws nothing.

A series may be shorter than its window (minutes older than the store keeps): it is drawn against the
window's right edge, where "now" is, and the slots before it stay empty.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "Bar",
    "Box",
    "bars",
    "bucket_max",
    "compact",
    "line_path",
    "nice_ceiling",
    "paths",
    "ticks",
    "x_at",
    "y_at",
]


@dataclass(frozen=True)
class Box:
    """A view box ``width`` x ``height`` with margins around the plot (room for the axis labels)."""

    width: float
    height: float
    left: float = 0
    right: float = 0
    top: float = 0
    bottom: float = 0

    @property
    def plot_width(self) -> float:
        return max(0.0, self.width - self.left - self.right)

    @property
    def plot_height(self) -> float:
        return max(0.0, self.height - self.top - self.bottom)

    @property
    def baseline(self) -> float:
        return self.height - self.bottom


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float


_SUFFIXES = {3: "k", 6: "M", 9: "B", 12: "T"}


def _num(value: float) -> str:
    """A coordinate to a tenth of a unit (finer than a view box of a few hundred units shows), without
    a ".0": a day's path has hundreds of them."""
    return f"{value:.1f}".removesuffix(".0")


def nice_ceiling(peak: int) -> int:
    """The smallest 1, 2 or 5 times a power of ten at or above ``peak``; 1 for nothing (an empty chart
    still has a scale). Whole-number arithmetic: exact for values past a float's range."""
    if peak <= 1:
        return 1
    magnitude: int = 10 ** (len(str(peak)) - 1)
    return next(step * magnitude for step in (1, 2, 5, 10) if step * magnitude >= peak)


def ticks(top: int) -> list[int]:
    """The values labelled on the y axis: zero, the middle when it is whole, and the top."""
    if top <= 1:
        return [0, 1]
    return [0, top // 2, top] if top % 2 == 0 else [0, top]


def compact(value: int) -> str:
    """A count in a few characters, rounded down: 950, 1.2k, 12k, 3.4M, 5B, 7.5T, then 1.2e15 and up."""
    if value < 0:
        return "-" + compact(-value)
    if value < 1000:
        return str(value)
    digits = str(value)
    if value < 10**15:
        exponent = (len(digits) - 1) // 3 * 3
        unit = 10**exponent
        whole, rest = divmod(value, unit)
        tenth = rest * 10 // unit
        suffix = _SUFFIXES[exponent]
        return f"{whole}.{tenth}{suffix}" if whole < 10 and tenth else f"{whole}{suffix}"
    tenth = f".{digits[1]}" if digits[1] != "0" else ""
    return f"{digits[0]}{tenth}e{len(digits) - 1}"


def bucket_max(values: Sequence[int], size: int) -> list[int]:
    """Every ``size`` values (from the newest end, so that the last bucket is whole) as their largest:
    a day of minutes fits a chart's width and its peaks stay visible."""
    if size <= 1:
        return [max(0, v) for v in values]
    out: list[int] = []
    end = len(values)
    while end > 0:
        start = max(0, end - size)
        out.append(max(0, *values[start:end]))
        end = start
    out.reverse()
    return out


def _slot(index: int, count: int, slots: int) -> int:
    """The slot of a series' ``index``: a short series ends at the window's last slot."""
    return max(slots, count) - count + index


def x_at(slot: float, slots: int, box: Box) -> float:
    """The left edge of ``slot`` among ``slots`` equal columns."""
    return box.left + box.plot_width * slot / max(1, slots)


def y_at(value: int, top: int, box: Box) -> float:
    """Where ``value`` sits on a scale from 0 (the baseline) to ``top`` (the plot's top edge)."""
    value = min(max(0, value), top)
    # Python divides two integers of any size into a correctly rounded float: no overflow, as value <= top.
    share = value / top if top > 0 else 0.0
    return box.baseline - box.plot_height * share


def bars(values: Sequence[int], top: int, box: Box, slots: int, gap: float = 0.2) -> list[Bar]:
    """One bar per value (none for a zero), each in its slot with a ``gap`` share of it left empty."""
    width = box.plot_width / max(1, slots, len(values))
    out = []
    for index, value in enumerate(values):
        if value <= 0:
            continue
        y = y_at(value, top, box)
        x = x_at(_slot(index, len(values), slots), max(slots, len(values)), box)
        out.append(Bar(x + width * gap / 2, y, width * (1 - gap), box.baseline - y))
    return out


def _heights(values: Sequence[int], top: int, box: Box) -> list[float]:
    """The y of each value, in one pass (the charts draw thousands of points a page)."""
    baseline, height = box.baseline, box.plot_height
    if top <= 0:
        return [baseline] * len(values)
    # Python divides two integers of any size into a correctly rounded float: no overflow, as v <= top.
    return [baseline - height * (min(v, top) / top) if v > 0 else baseline for v in values]


def paths(values: Sequence[int], top: int, box: Box, slots: int) -> tuple[str, str]:
    """SVG paths through the middle of each value's slot: the line, and the area under it down to the
    baseline. A single value is a short level stroke across its slot, so that it shows; no values, no path."""
    if not values:
        return "", ""
    count, slots = len(values), max(slots, len(values))
    width = box.plot_width / max(1, slots)
    first = box.left + width * (slots - count) + width / 2
    xs = [first + width * i for i in range(count)]
    ys = _heights(values, top, box)
    if count == 1:
        xs, ys = [xs[0] - width / 2, xs[0] + width / 2], ys * 2
    line = "M" + "L".join(f"{_num(x)},{_num(y)}" for x, y in zip(xs, ys, strict=True))
    base = _num(box.baseline)
    return line, f"{line}L{_num(xs[-1])},{base}L{_num(xs[0])},{base}Z"


def line_path(values: Sequence[int], top: int, box: Box, slots: int, *, area: bool = False) -> str:
    """``paths``' line, or with ``area`` the area under it."""
    return paths(values, top, box, slots)[1 if area else 0]
