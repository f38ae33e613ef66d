"""The throughput charts: completed and failed jobs per minute, from the queues' metrics, as the templates
draw them (``_charts.html``): a queue page's charts of the last hour (and of the last day where the
workers keep that much), and a sparkline of the last hour per queue on the overview.

Every chart carries its text alternatives: a title and a description for the SVG, a summary in words
and a table of the numbers for screen readers (the hour by minute, the day by hour). Times in the
charts are relative ("12 min ago"), so they read the same in every time zone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ..adapters import MinuteCounts, QueueAdapter, Throughput
from .geometry import Bar, Box, bars, bucket_max, compact, nice_ceiling, paths, ticks, x_at, y_at
from .i18n import N_, _

__all__ = [
    "DAY",
    "HOUR",
    "Chart",
    "QueueCharts",
    "Row",
    "Spark",
    "build_queue_charts",
    "build_spark",
    "queue_charts",
]

HOUR = 60
DAY = 1440
MINUTE_MS = 60_000
# Minutes per column of the day's chart: 360 columns, each the busiest minute of its four.
DAY_BUCKET = 4
CHART_BOX = Box(640, 150, left=40, right=8, top=8, bottom=20)
SPARK_BOX = Box(120, 28, top=2, bottom=2)
KINDS = ("completed", "failed")
# What a reader is told to do when a queue keeps no metrics.
HOW_TO = 'Worker(..., metrics={"max_data_points": 1440})'
# The words of each chart, by kind and window: whole sentences, so that each reads well in every language.
TITLES = {
    ("completed", HOUR): N_("Jobs completed per minute, last hour"),
    ("failed", HOUR): N_("Jobs failed per minute, last hour"),
    ("completed", DAY): N_("Jobs completed per minute, last day"),
    ("failed", DAY): N_("Jobs failed per minute, last day"),
}
NONE_KEPT = {
    ("completed", HOUR): N_("No completed jobs kept for the last hour."),
    ("failed", HOUR): N_("No failed jobs kept for the last hour."),
    ("completed", DAY): N_("No completed jobs kept for the last day."),
    ("failed", DAY): N_("No failed jobs kept for the last day."),
}
NONE_DONE = {
    ("completed", HOUR): N_("No job completed in the last hour."),
    ("failed", HOUR): N_("No job failed in the last hour."),
    ("completed", DAY): N_("No job completed in the last day."),
    ("failed", DAY): N_("No job failed in the last day."),
}
DESCRIBED = {
    ("completed", HOUR): N_("%(total)s completed in the last hour; the busiest minute had %(peak)s, %(ago)s."),
    ("failed", HOUR): N_("%(total)s failed in the last hour; the busiest minute had %(peak)s, %(ago)s."),
    ("completed", DAY): N_("%(total)s completed in the last day; the busiest minute had %(peak)s, %(ago)s."),
    ("failed", DAY): N_("%(total)s failed in the last day; the busiest minute had %(peak)s, %(ago)s."),
}


@dataclass
class Chart:
    """One series over one window, ready to draw: bars (the hour) or an area (the day), the axes' ticks
    as (position, label), and the numbers its title and description say."""

    id: str
    kind: str
    window: int
    title: str
    description: str
    box: Box
    top: int
    bars: list[Bar] = field(default_factory=list)
    area: str = ""
    line: str = ""
    y_ticks: list[tuple[float, str]] = field(default_factory=list)
    x_ticks: list[tuple[float, str]] = field(default_factory=list)
    total: int = 0
    peak: int = 0


@dataclass
class Row:
    """A line of the charts' table: a period's start (ms), how long ago that is, and its counts."""

    start_ms: int
    ago: str
    completed: int | None
    failed: int | None


@dataclass
class QueueCharts:
    queue: str
    enabled: bool
    error: str | None = None
    summary: str = ""
    hour: list[Chart] = field(default_factory=list)
    day: list[Chart] = field(default_factory=list)
    hour_rows: list[Row] = field(default_factory=list)
    day_rows: list[Row] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=dict)
    kept: int = 0


@dataclass
class Spark:
    """A queue's last hour in a line per kind, on one scale, and the sums it shows."""

    enabled: bool
    error: str | None = None
    completed: str = ""
    failed: str = ""
    completed_area: str = ""
    completed_total: int = 0
    failed_total: int = 0
    label: str = ""
    box: Box = SPARK_BOX


def _ago(minutes: int) -> str:
    if minutes <= 0:
        return _("this minute")
    if minutes < 120:
        return _("%(minutes)s min ago", minutes=minutes)
    hours, rest = divmod(minutes, 60)
    if rest:
        return _("%(hours)s h %(minutes)s min ago", hours=hours, minutes=rest)
    return _("%(hours)s h ago", hours=hours)


def _period(back: int, step: int) -> str:
    """A table row's period: a minute ("12 min ago"), or an hour ("the last hour", "2 to 3 h ago")."""
    if step == 1:
        return _ago(back)
    first, last = back // step, back // step + 1
    return _("the last hour") if first == 0 else _("%(first)s to %(last)s h ago", first=first, last=last)


def _window(series: MinuteCounts | None, minutes: int) -> list[int]:
    return list(series.minutes[-minutes:]) if series is not None else []


def _describe(kind: str, values: Sequence[int], window: int) -> tuple[str, int, int]:
    """The chart's description in words, with the window's total and its busiest minute."""
    total, peak = sum(values), max(values, default=0)
    if not values:
        return _(NONE_KEPT[kind, window]), 0, 0
    if not total:
        return _(NONE_DONE[kind, window]), 0, 0
    # The most recent of the busiest minutes.
    ago = values[::-1].index(peak)
    jobs = _("1 job") if total == 1 else _("%(n)s jobs", n=format(total, ","))
    text = _(DESCRIBED[kind, window], total=jobs, peak=format(peak, ","), ago=_ago(ago))
    return text, total, peak


def _x_ticks(window: int, box: Box) -> list[tuple[float, str]]:
    marks = [(60, "-60 min"), (45, "-45"), (30, "-30"), (15, "-15")] if window == HOUR else []
    if window == DAY:
        marks = [(1440, "-24 h"), (1080, "-18 h"), (720, "-12 h"), (360, "-6 h")]
    return [(x_at(window - back, window, box), label) for back, label in marks] + [(box.width - box.right, _("now"))]


def _chart(kind: str, values: list[int], window: int, scope: str) -> Chart:
    """A chart of one kind: bars for the hour, an area of four-minute peaks for the day."""
    box = CHART_BOX
    description, total, peak = _describe(kind, values, window)
    top = nice_ceiling(peak)
    chart = Chart(
        id=f"{scope}-{window}-{kind}",
        kind=kind,
        window=window,
        title=_(TITLES[kind, window]),
        description=description,
        box=box,
        top=top,
        y_ticks=[(y_at(t, top, box), compact(t)) for t in ticks(top)],
        x_ticks=_x_ticks(window, box),
        total=total,
        peak=peak,
    )
    if window == HOUR:
        chart.bars = bars(values, top, box, window)
    else:
        # Buckets counted from "now", so that the newest column is a whole one.
        columns = bucket_max(values, DAY_BUCKET)
        chart.line, chart.area = paths(columns, top, box, window // DAY_BUCKET)
    return chart


def _rows(throughput: Throughput, window: int, step: int) -> list[Row]:
    """The table under the charts, newest first: each minute of the hour, or each hour of the day."""
    completed, failed = _window(throughput.completed, window), _window(throughput.failed, window)
    end_ms = next((s.end_ms for s in (throughput.completed, throughput.failed) if s is not None), 0)
    length = max(len(completed), len(failed))
    rows = []
    for back in range(0, length, step):

        def part(values: list[int], back: int = back) -> int | None:
            end = len(values) - back
            return sum(values[max(0, end - step) : end]) if end > 0 else None

        rows.append(Row(end_ms - (back + step - 1) * MINUTE_MS, _period(back, step), part(completed), part(failed)))
    return rows


def build_queue_charts(throughput: Throughput, scope: str = "chart") -> QueueCharts:
    """A queue page's charts from its last day of minutes (``throughput`` read over ``DAY``)."""
    charts = QueueCharts(throughput.queue, throughput.enabled, throughput.error)
    if not throughput.enabled:
        return charts
    series = {"completed": throughput.completed, "failed": throughput.failed}
    charts.totals = {kind: s.total if s is not None else 0 for kind, s in series.items()}
    charts.kept = max((s.kept for s in series.values() if s is not None), default=0)
    charts.hour = [_chart(kind, _window(series[kind], HOUR), HOUR, scope) for kind in KINDS]
    charts.hour_rows = _rows(throughput, HOUR, 1)
    done, failed = (chart.total for chart in charts.hour)
    charts.summary = _(
        "Last hour: %(completed)s completed, %(failed)s failed.",
        completed=format(done, ","),
        failed=format(failed, ","),
    )
    if charts.kept > HOUR:
        charts.day = [_chart(kind, _window(series[kind], DAY), DAY, scope) for kind in KINDS]
        charts.day_rows = _rows(throughput, DAY, HOUR)
        done, failed = (chart.total for chart in charts.day)
        day = _(
            "Last day: %(completed)s completed, %(failed)s failed.",
            completed=format(done, ","),
            failed=format(failed, ","),
        )
        charts.summary += " " + day
    return charts


def build_spark(throughput: Throughput) -> Spark:
    """An overview row's sparkline of the last hour (``throughput`` read over ``HOUR``)."""
    spark = Spark(throughput.enabled, throughput.error)
    if not throughput.enabled:
        return spark
    completed, failed = _window(throughput.completed, HOUR), _window(throughput.failed, HOUR)
    top = nice_ceiling(max([*completed, *failed], default=0))
    spark.completed, spark.completed_area = paths(completed, top, SPARK_BOX, HOUR)
    spark.failed = paths(failed, top, SPARK_BOX, HOUR)[0]
    spark.completed_total, spark.failed_total = sum(completed), sum(failed)
    spark.label = _(
        "Last hour: %(completed)s completed, %(failed)s failed; at most %(most_completed)s completed and "
        "%(most_failed)s failed in a minute.",
        completed=format(spark.completed_total, ","),
        failed=format(spark.failed_total, ","),
        most_completed=format(max(completed, default=0), ","),
        most_failed=format(max(failed, default=0), ","),
    )
    return spark


async def queue_charts(adapter: QueueAdapter, queue: str) -> QueueCharts | None:
    """One queue's charts: its last day of minutes, in one round trip. None from an adapter written
    before charts were (``create_board(adapter=...)``): its pages still work, without them."""
    if not hasattr(adapter, "throughput"):
        return None
    (throughput,) = await adapter.throughput([queue], DAY)
    return build_queue_charts(throughput)
