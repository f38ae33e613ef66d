"""The overview's read of many queues (BullMQAdapter.overview_and_throughput, queue_marks: queue_summaries.lua
through Inspector): every figure the per-queue commands gave, one reply per few hundred queues, and data
another program wrote badly failing only its own queue."""

from __future__ import annotations

import time

import pytest
import redis

from board import Queue
from board.adapters.bullmq import UNREADABLE, BullMQAdapter
from board.engine import inspector as inspector_module
from board.engine.inspector import Inspector

MINUTE = 60_000


async def test_figures_of_each_queue_as_the_counts_script_reads_them(redis_url: str, raw: redis.Redis) -> None:
    async with Queue("mail", redis_url) as mail:
        await mail.add("a", {})
        await mail.add("b", {}, delay=60_000)
        await mail.add("c", {}, priority=3)
        await mail.pause()
    raw.hset("bull:mail:meta", mapping={"concurrency": 4, "max": 10, "duration": 1000})
    raw.set("bull:mail:limiter", 10, px=30_000)
    raw.zadd("bull:mail:repeat", {"nightly": 1})
    raw.zadd("bull:sms:completed", {"1": 1, "2": 2})
    adapter = BullMQAdapter(redis_url, queues=["mail", "sms", "none"])
    try:
        infos, through = await adapter.overview_and_throughput(["mail", "sms", "none"], 60)
    finally:
        await adapter.close()
    mail_info, sms_info, none_info = infos
    assert mail_info.counts == {
        "waiting": 1,
        "prioritized": 1,
        "delayed": 1,
        "active": 0,
        "waiting-children": 0,
        "completed": 0,
        "failed": 0,
    }
    assert mail_info.paused and mail_info.global_concurrency == 4 and mail_info.schedulers == 1
    assert (mail_info.rate_limit_max, mail_info.rate_limit_duration_ms) == (10, 1000)
    # Ten started in an open window of ten: limited for the window's time left.
    assert 0 < mail_info.rate_limited_for_ms <= 30_000
    assert sms_info.counts["completed"] == 2 and sms_info.exists and not sms_info.paused
    assert not none_info.exists and none_info.total == 0
    assert [t.queue for t in through] == ["mail", "sms", "none"]
    assert not any(t.enabled or t.error for t in through)


async def test_metrics_come_with_the_figures(redis_url: str, raw: redis.Redis) -> None:
    now = int(time.time() * 1000)
    raw.hset("bull:busy:meta", "opts.maxLenEvents", 10)
    raw.hset("bull:busy:metrics:completed", mapping={"count": 12, "prevTS": now - now % MINUTE, "prevCount": 10})
    raw.rpush("bull:busy:metrics:completed:data", 5, 4, 3)
    adapter = BullMQAdapter(redis_url, queues=["busy"])
    try:
        _infos, (busy,) = await adapter.overview_and_throughput(["busy"], 60)
    finally:
        await adapter.close()
    assert busy.enabled and busy.failed is None and busy.completed is not None
    # The current minute's 2 (12 - 10), after the list's 5, 4 and 3, newest last.
    assert busy.completed.minutes[-4:] == [3, 4, 5, 2] and busy.completed.total == 12


async def test_a_key_of_another_type_fails_only_its_queue(redis_url: str, raw: redis.Redis) -> None:
    raw.rpush("bull:good:wait", "1")
    raw.set("bull:broken:wait", "not a list")
    raw.rpush("bull:charts:wait", "1")
    raw.set("bull:charts:metrics:failed", "not a hash")
    adapter = BullMQAdapter(redis_url, queues=["good", "broken", "charts"])
    try:
        (good, broken, charts), (_, broken_t, charts_t) = await adapter.overview_and_throughput(
            ["good", "broken", "charts"], 60
        )
        marks = await adapter.queue_marks(["good", "broken"])
    finally:
        await adapter.close()
    assert good.counts["waiting"] == 1 and good.error is None
    assert broken.error == UNREADABLE and broken_t.error == UNREADABLE
    # Metrics written badly lose the sparkline only.
    assert charts.error is None and charts.counts["waiting"] == 1 and charts_t.error == UNREADABLE
    assert [(m.name, m.paused, m.rate_limited) for m in marks] == [("good", False, False), ("broken", False, False)]


async def test_many_queues_in_a_few_calls_in_one_round_trip(
    redis_url: str, raw: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = [f"q{i:02}" for i in range(25)]
    for i, name in enumerate(names):
        raw.rpush(f"bull:{name}:wait", *range(i + 1))
    raw.hset("bull:q07:meta", "paused", 1)
    ins = Inspector(redis_url)
    monkeypatch.setattr(inspector_module, "SUMMARY_CHUNK", 10)
    try:
        assert len(ins.summaries_calls(names)) == 3
        statuses = await ins.statuses(names)
        marks = await ins.marks(names)
    finally:
        await ins.close()
    assert [s.counts["wait"] for s in statuses] == list(range(1, 26))
    assert [m.name for m in marks if m.paused] == ["q07"] and not any(m.rate_limited for m in marks)


async def test_queues_of_other_hash_slots_go_in_calls_of_their_own(redis_url: str) -> None:
    ins = Inspector(redis_url, prefix="{eu}")
    other = Inspector(redis_url)
    try:
        # One prefix's hash tag: one slot, one call. Names with tags of their own: one call each.
        assert len(ins.summaries_calls(["a", "b", "c"])) == 1
        assert len(other.summaries_calls(["{a}", "{b}", "c", "d"])) == 3
        statuses = await other.statuses(["{a}", "{b}", "c", "d"])
    finally:
        await ins.close()
        await other.close()
    assert [s.name for s in statuses] == ["{a}", "{b}", "c", "d"]
