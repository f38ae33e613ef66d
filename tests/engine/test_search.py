"""Job search: bounded steps, a cursor to go on from, and nothing read that is too large to read."""

from __future__ import annotations

import json
from typing import Any

import pytest
import redis

from board import Queue, SyncQueue
from board.engine import search
from board.engine.search import SearchCursor


async def test_finds_a_text_in_names_data_reasons_and_ids_in_the_states_asked(
    queue: Queue, raw: redis.Redis, qname: str
) -> None:
    await queue.add("send-invoice", {"to": "ada@example.com"}, job_id="order-77")
    await queue.add("resize", {"path": "/img/Invoice.png"}, delay=60)
    await queue.add("other", {"x": 1})
    raw.zadd(f"bull:{qname}:failed", {"f1": 1})
    raw.hset(f"bull:{qname}:f1", mapping={"name": "charge", "data": "{}", "failedReason": "INVOICE missing"})

    found = await queue.search_jobs("invoice")
    assert sorted(found.matches) == sorted([("order-77", "wait"), ("2", "delayed"), ("f1", "failed")])
    assert found.cursor is None and found.looked == 4

    only_names = await queue.search_jobs("invoice", fields=["name"])
    assert only_names.matches == [("order-77", "wait")]
    only_failed = await queue.search_jobs("invoice", states=["failed"])
    assert only_failed.matches == [("f1", "failed")]
    by_id = await queue.search_jobs("ORDER-7", fields=["id"], states=["waiting"])
    assert by_id.matches == [("order-77", "wait")]
    assert (await queue.search_jobs("nowhere")).matches == []


async def test_a_limit_stops_at_the_match_and_the_cursor_goes_on_without_loss_or_repeat(queue: Queue) -> None:
    await queue.add_bulk([{"name": "n", "data": {"i": i, "tag": "hit" if i % 3 == 0 else "miss"}} for i in range(30)])
    seen: list[str] = []
    cursor: SearchCursor | None = None
    steps = 0
    while True:
        page = await queue.search_jobs("hit", cursor=cursor, limit=4)
        assert len(page.matches) <= 4
        seen += [job_id for job_id, _ in page.matches]
        steps += 1
        if page.cursor is None:
            break
        cursor = SearchCursor.parse(str(page.cursor))
    expected = {str(i + 1) for i in range(30) if i % 3 == 0}
    assert sorted(seen) == sorted(expected) and len(seen) == len(expected)
    assert steps >= 3


def test_a_step_looks_at_one_chunk_at_most(monkeypatch: pytest.MonkeyPatch, redis_url: str, qname: str) -> None:
    monkeypatch.setattr(search, "CHUNK", 5)
    with SyncQueue(qname, redis_url) as queue:
        queue.add_bulk([{"name": "n", "data": {"i": i}} for i in range(12)])
        # A budget of 0 s: one step, then the cursor.
        first = queue.search_jobs("zzz", budget=0)
        assert first.looked == 5 and first.cursor == SearchCursor(0, 5)
        second = queue.search_jobs("zzz", cursor=first.cursor, budget=0)
        assert second.looked == 5 and second.cursor == SearchCursor(0, 10)
        rest = queue.search_jobs("zzz", cursor=second.cursor)
        assert rest.looked == 2 and rest.cursor is None


async def test_fields_over_the_bound_are_skipped_and_counted(
    monkeypatch: pytest.MonkeyPatch, queue: Queue, raw: redis.Redis, qname: str
) -> None:
    monkeypatch.setattr(search, "FIELD_BOUND", 100)
    await queue.add("big", {"blob": "needle" + "x" * 200})
    await queue.add("small", {"blob": "needle"})
    found = await queue.search_jobs("needle")
    assert found.matches == [("2", "wait")] and found.skipped == 1


async def test_keys_another_program_wrote_badly_are_passed_over(queue: Queue, raw: redis.Redis, qname: str) -> None:
    await queue.add("fine", {"k": "needle"})
    raw.lpush(f"bull:{qname}:wait", "stringy")
    raw.set(f"bull:{qname}:stringy", "needle")
    raw.delete(f"bull:{qname}:completed")
    raw.set(f"bull:{qname}:completed", "not a zset")
    found = await queue.search_jobs("needle")
    assert found.matches == [("1", "wait")] and found.cursor is None


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"text": "  "}, "text: give the text"),
        ({"text": "x" * 201}, "text: at most 200"),
        ({"text": "a", "fields": ["opts"]}, "fields: expected some of"),
        ({"text": "a", "states": ["finished"]}, "unknown state 'finished'"),
        ({"text": "a", "limit": 0}, "limit: expected an integer >= 1"),
    ],
)
async def test_bad_arguments_are_refused_with_the_option_named(
    queue: Queue, kwargs: dict[str, Any], error: str
) -> None:
    with pytest.raises(ValueError, match=error):
        await queue.search_jobs(**kwargs)


@pytest.mark.parametrize("text", ["", "1", "a.b", "1.", ".1", "-1.2"])
def test_a_cursor_is_only_what_a_search_gave(text: str) -> None:
    with pytest.raises(ValueError, match="cursor"):
        SearchCursor.parse(text)


async def test_finished_jobs_are_searched_newest_first_and_delayed_in_run_order(
    queue: Queue, raw: redis.Redis, qname: str
) -> None:
    for job_id, finished in (("old", 1000), ("newest", 3000), ("middle", 2000)):
        raw.zadd(f"bull:{qname}:completed", {job_id: finished})
        raw.hset(f"bull:{qname}:{job_id}", mapping={"name": "n", "data": json.dumps({"v": "needle"})})
    found = await queue.search_jobs("needle", states=["completed"], limit=1)
    assert found.matches == [("newest", "completed")] and found.cursor == SearchCursor(0, 1)
    rest = await queue.search_jobs("needle", states=["completed"], cursor=found.cursor)
    assert [job_id for job_id, _ in rest.matches] == ["middle", "old"]

    await queue.add("later", {"v": "needle"}, delay=120)
    await queue.add("sooner", {"v": "needle"}, delay=60)
    delayed = await queue.search_jobs("needle", states=["delayed"])
    assert [job_id for job_id, _ in delayed.matches] == ["2", "1"]
