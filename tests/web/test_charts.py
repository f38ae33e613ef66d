"""The throughput charts (board/web/charts.py): what they say and draw, on the queue page and the overview, from
metrics real workers keep and from metrics another program wrote badly."""

from __future__ import annotations

import html
import re
import time
from typing import Any

import pytest
import redis

from board import SyncQueue
from board.adapters import MinuteCounts, Throughput
from board.web.charts import DAY, build_queue_charts, build_spark

from .conftest import HTMX, JSON, ClientFactory, process_all

MINUTE = 60_000


def clear_of_a_minutes_turn(seconds: float = 15) -> None:
    """Waits, if need be, until the next minute is at least ``seconds`` away: metrics written now must be
    read back in the same minute, or every point shifts by one."""
    into = time.time() % 60
    if into > 60 - seconds:
        time.sleep(60 - into + 0.05)


def write_metrics(raw: redis.Redis, queue: str, kind: str, data: list[Any], *, count: int, since: int = 0) -> None:
    """Metrics as a worker keeps them: a rollover now, ``since`` jobs in this minute, ``data`` newest first."""
    key = f"bull:{queue}:metrics:{kind}"
    raw.hset(key, mapping={"count": count, "prevTS": int(time.time() * 1000), "prevCount": count - since})
    if data:
        raw.rpush(key + ":data", *data)


def series(minutes: list[int], total: int = 0, kept: int | None = None) -> MinuteCounts:
    return MinuteCounts(total, minutes, 1_000 * MINUTE, len(minutes) - 1 if kept is None else kept)


# The charts' models ---------------------------------------------------------------------------------------------


def test_an_hour_of_minutes_makes_two_bar_charts_and_a_table() -> None:
    completed = [0] * 50 + [5, 80, 3] + [0] * 7
    charts = build_queue_charts(Throughput("q", series(completed, 900), series([1] * 60, 40)))
    done, failed = charts.hour
    assert (done.kind, done.total, done.peak, done.top) == ("completed", 88, 80, 100)
    assert done.description == "88 jobs completed in the last hour; the busiest minute had 80, 8 min ago."
    assert done.title == "Jobs completed per minute, last hour"
    assert len(done.bars) == 3 and len(failed.bars) == 60
    assert [label for _, label in done.y_ticks] == ["0", "50", "100"]
    assert [label for _, label in done.x_ticks][-1] == "now"
    assert charts.summary == "Last hour: 88 completed, 60 failed."
    assert charts.totals == {"completed": 900, "failed": 40}
    # The table, newest first, a row a minute.
    assert len(charts.hour_rows) == 60 and charts.hour_rows[0].ago == "this minute"
    assert (charts.hour_rows[8].completed, charts.hour_rows[8].failed) == (80, 1)
    assert charts.day == [] and charts.day_rows == []


def test_a_day_is_drawn_when_the_workers_keep_more_than_an_hour() -> None:
    day = [i % 50 for i in range(DAY)]
    charts = build_queue_charts(Throughput("q", series(day), series([0] * DAY)))
    done, failed = charts.day
    assert done.area.endswith("Z") and done.line and not done.bars
    assert done.peak == 49 and failed.description == "No job failed in the last day."
    assert len(charts.day_rows) == 24 and charts.day_rows[0].ago == "the last hour"
    assert charts.day_rows[1].ago == "1 to 2 h ago"
    assert sum(row.completed or 0 for row in charts.day_rows) == sum(day)
    assert "Last day:" in charts.summary


def test_a_queue_without_metrics_or_with_unreadable_ones_draws_nothing() -> None:
    assert build_queue_charts(Throughput("q")).hour == []
    assert not build_queue_charts(Throughput("q")).enabled
    assert build_queue_charts(Throughput("q", error="unreadable")).error == "unreadable"
    assert not build_spark(Throughput("q")).enabled


def test_a_spark_puts_both_kinds_on_one_scale() -> None:
    spark = build_spark(Throughput("q", series([10] * 60), series([0] * 59 + [10])))
    assert spark.completed_total == 600 and spark.failed_total == 10
    assert spark.completed and spark.failed and spark.completed_area.endswith("Z")
    # Both touch the top of the one scale: 10 jobs in a minute.
    assert spark.completed.startswith("M1,2L") and spark.failed.endswith("L119,2")
    assert spark.label.startswith("Last hour: 600 completed, 10 failed;")


def test_only_minutes_kept_are_in_the_table() -> None:
    charts = build_queue_charts(Throughput("q", series([4, 5], kept=1), None))
    assert [row.completed for row in charts.hour_rows] == [5, 4]
    assert [row.failed for row in charts.hour_rows] == [None, None]


# The pages ------------------------------------------------------------------------------------------------------


def svgs_of(page: str) -> list[str]:
    return re.findall(r"<svg class=\"chart-svg\".*?</svg>", page, re.S)


def test_the_queue_page_charts_what_real_workers_keep(
    make_client: ClientFactory, redis_url: str, sq: SyncQueue, qname: str
) -> None:
    sq.add_bulk([{"name": "n", "data": {}} for _ in range(3)] + [{"name": "n", "data": {"fail": "no"}}])
    process_all(redis_url, sq, completed=3, failed=1, metrics={"max_data_points": 60})
    client = make_client([qname])
    page = client.get(f"/queues/{qname}").text
    done, failed = svgs_of(page)
    # Text alternatives: the SVG is an image named by its title and described in words.
    assert 'role="img"' in done and '<title id="chart-60-completed-title">Jobs completed per minute' in done
    assert 'aria-labelledby="chart-60-completed-title chart-60-completed-desc"' in done
    assert "3 jobs completed in the last hour" in done and "1 job failed in the last hour" in failed
    # One bar a minute: the three may have finished either side of a minute's turn.
    assert done.count("<rect") in (1, 2) and failed.count("<rect") == 1
    assert "Last hour: 3 completed, 1 failed." in page
    assert "<caption>Completed and failed jobs per minute, the last hour, newest first</caption>" in page
    # Workers keeping an hour: no day chart, and a word on how to keep one.
    assert "The last day" not in page and "give them" in page
    # The poll refreshes the charts with the rest of the queue.
    assert len(svgs_of(client.get(f"/queues/{qname}", headers=HTMX).text)) == 2


def test_a_queue_without_metrics_says_how_to_keep_them(make_client: ClientFactory, sq: SyncQueue, qname: str) -> None:
    sq.add("n", {})
    client = make_client([qname])
    page = html.unescape(client.get(f"/queues/{qname}").text)
    assert "This queue keeps no metrics" in page
    assert 'Worker(..., metrics={"max_data_points": 1440})' in page
    assert svgs_of(page) == []
    assert "No metrics" in html.unescape(client.get("/").text)


def test_a_day_kept_shows_the_day_and_its_hourly_table(
    make_client: ClientFactory, raw: redis.Redis, sq: SyncQueue, qname: str
) -> None:
    sq.add("n", {})
    write_metrics(raw, qname, "completed", [i % 30 for i in range(DAY)], count=10**6, since=7)
    write_metrics(raw, qname, "failed", [1] * DAY, count=DAY, since=0)
    page = make_client([qname]).get(f"/queues/{qname}").text
    assert len(svgs_of(page)) == 4
    assert 'id="chart-day"' in page and "Jobs completed per minute, last day" in page
    assert "<caption>Completed and failed jobs per hour, the last day, newest first</caption>" in page
    assert "Since the metrics began: 1,000,000 completed, 1,440 failed." in page


@pytest.mark.parametrize(
    "damage",
    [
        lambda raw, q: raw.set(f"bull:{q}:metrics:completed", "not a hash"),
        lambda raw, q: raw.set(f"bull:{q}:metrics:failed:data", "not a list"),
    ],
)
def test_metrics_of_the_wrong_type_never_fail_a_page(
    make_client: ClientFactory, raw: redis.Redis, sq: SyncQueue, qname: str, damage: Any
) -> None:
    sq.add("n", {})
    write_metrics(raw, qname, "failed", [1], count=2)
    damage(raw, qname)
    client = make_client([qname])
    page = client.get(f"/queues/{qname}")
    assert page.status_code == 200 and "The metrics of this queue could not be read: unreadable." in page.text
    overview = client.get("/")
    assert overview.status_code == 200 and "Metrics could not be read." in overview.text


def test_values_another_program_wrote_badly_are_drawn_as_numbers_or_zero(
    make_client: ClientFactory, raw: redis.Redis, sq: SyncQueue, qname: str
) -> None:
    sq.add("n", {})
    write_metrics(raw, qname, "completed", ["abc", "-5", "1e9", "<script>", "9" * 40, ""], count=3)
    raw.hset(f"bull:{qname}:metrics:failed", mapping={"count": "lots", "prevTS": "<b>", "prevCount": "x"})
    client = make_client([qname])
    page = client.get(f"/queues/{qname}")
    assert page.status_code == 200 and "<script>" not in page.text
    done = svgs_of(page.text)[0]
    # The one number that parsed is the peak, and the scale goes up to it.
    assert f"the busiest minute had {int('9' * 40):,}" in done and ">1e40<" in done
    assert client.get("/").status_code == 200


def test_the_overview_reads_every_queues_sparkline_in_one_round_trip(
    make_client: ClientFactory, raw: redis.Redis, redis_url: str
) -> None:
    names = [f"q{i:03}" for i in range(200)]
    clear_of_a_minutes_turn()
    for name in names:
        raw.hset(f"bull:{name}:meta", "opts.maxLenEvents", 10_000)
        write_metrics(raw, name, "completed", list(range(DAY)), count=10**9, since=3)
    client = make_client(names)
    runner = client.app.state.board.adapter.inspector.runner  # type: ignore[attr-defined]
    batches: list[int] = []
    batch = runner.batch

    async def counted(calls: list[Any]) -> Any:
        batches.append(len(calls))
        return await batch(calls)

    runner.batch = counted
    page = client.get("/", headers=HTMX).text
    # The counts and the sparklines (60 points of two kinds a queue) of all 200 queues in one round trip: one
    # script call, and CLIENT LIST for the workers.
    assert batches == [2]
    assert page.count('class="spark-svg"') == 200
    assert page.count("3 completed</span>") == 0  # the sums are of the last hour: 3 + 59 minutes of data
    assert f"{3 + sum(range(59)):,} completed</span>" in page
    assert client.get("/", headers=JSON).status_code == 200


class _Older:
    """An adapter written before charts and search: everything but ``throughput`` and ``search``."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        if name in ("throughput", "search"):
            raise AttributeError(name)
        return getattr(self._inner, name)


def test_an_adapter_without_metrics_still_serves_its_pages(
    make_client: ClientFactory, redis_url: str, sq: SyncQueue, qname: str
) -> None:
    from board.adapters import BullMQAdapter

    sq.add("n", {})
    client = make_client(None, adapter=_Older(BullMQAdapter(redis_url, queues=[qname])))
    page = client.get(f"/queues/{qname}")
    assert page.status_code == 200 and 'id="throughput"' not in page.text
    assert client.get("/").status_code == 200
    refused = client.get(f"/queues/{qname}/search?text=n", headers=JSON)
    assert refused.status_code == 404 and refused.json()["error"] == "This board's queue engine offers no job search."
