"""Deduplication (BullMQ 6.7's ``deduplication`` option): later adds with the same id are dropped while the
first job lives, or for a ttl; the extend, replace, keepLastIfActive and reschedule modes; the key's end."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
import redis

from board import Job, Queue, Worker

from .helpers import running, until


def events(raw: Any, qname: str, name: str) -> list[dict[str, str]]:
    return [fields for _, fields in raw.xrange(f"bull:{qname}:events") if fields["event"] == name]


async def test_a_simple_deduplication_drops_adds_while_the_job_lives(
    queue: Queue, raw: redis.Redis, qname: str, redis_url: str
) -> None:
    first = await queue.add("mail", {"n": 1}, deduplication={"id": "user-7"})
    again = await queue.add("mail", {"n": 2}, deduplication={"id": "user-7"})
    assert again.id == first.id and again.data == {"n": 1}
    assert first.deduplication_id == "user-7"
    assert raw.hget(f"bull:{qname}:{first.id}", "deid") == "user-7"
    assert json.loads(raw.hget(f"bull:{qname}:{first.id}", "opts") or "")["de"] == {"id": "user-7"}
    assert raw.get(f"bull:{qname}:de:user-7") == first.id and raw.pttl(f"bull:{qname}:de:user-7") == -1
    # The dropped add used up an id, as in BullMQ, and said so.
    assert raw.get(f"bull:{qname}:id") == "2"
    assert events(raw, qname, "deduplicated") == [
        {"event": "deduplicated", "jobId": first.id, "deduplicationId": "user-7", "deduplicatedJobId": "2"}
    ]
    assert raw.llen(f"bull:{qname}:wait") == 1
    assert await queue.get_deduplication_job_id("user-7") == first.id
    assert await queue.get_deduplication_job_id("nobody") is None

    # Once the job is done the id is free again.
    async def work(job: Job) -> str:
        return "sent"

    async with running(Worker(qname, work, redis_url)):
        await until(lambda: raw.zscore(f"bull:{qname}:completed", first.id), 5, "the job to complete")
    assert raw.exists(f"bull:{qname}:de:user-7") == 0
    third = await queue.add("mail", {"n": 3}, deduplication={"id": "user-7"})
    assert third.id == "3"


async def test_a_failed_or_removed_job_frees_its_id(queue: Queue, raw: redis.Redis, qname: str, redis_url: str) -> None:
    doomed = await queue.add("x", {}, deduplication={"id": "a"})

    async def work(job: Job) -> None:
        raise RuntimeError("no")

    async with running(Worker(qname, work, redis_url)):
        await until(lambda: raw.zscore(f"bull:{qname}:failed", doomed.id), 5, "the job to fail")
    assert await queue.get_deduplication_job_id("a") is None

    waiting = await queue.add("x", {}, deduplication={"id": "b"})
    assert await queue.remove(waiting.id) is True
    assert await queue.get_deduplication_job_id("b") is None

    held = await queue.add("x", {}, deduplication={"id": "c"})
    assert await queue.remove_deduplication_key("c") is True
    assert await queue.remove_deduplication_key("c") is False
    assert (await queue.add("x", {}, deduplication={"id": "c"})).id != held.id


async def test_a_ttl_drops_adds_for_its_length_even_after_the_job_is_done(
    queue: Queue, raw: redis.Redis, qname: str, redis_url: str
) -> None:
    first = await queue.add("x", {}, deduplication={"id": "t", "ttl": 1.5})
    assert 0 < raw.pttl(f"bull:{qname}:de:t") <= 1500

    async def work(job: Job) -> None:
        return None

    async with running(Worker(qname, work, redis_url)):
        await until(lambda: raw.zscore(f"bull:{qname}:completed", first.id), 5, "the job to complete")
    assert (await queue.add("x", {}, deduplication={"id": "t", "ttl": 1.5})).id == first.id
    await until(lambda: raw.exists(f"bull:{qname}:de:t") == 0, 5, "the ttl to run out")
    assert (await queue.add("x", {}, deduplication={"id": "t", "ttl": 1.5})).id != first.id


async def test_extend_starts_the_ttl_again_with_each_dropped_add(queue: Queue, raw: redis.Redis, qname: str) -> None:
    dedup = {"id": "e", "ttl": 5, "extend": True}
    first = await queue.add("x", {}, deduplication=dedup)
    raw.pexpire(f"bull:{qname}:de:e", 1_000)
    assert (await queue.add("x", {}, deduplication=dedup)).id == first.id
    assert raw.pttl(f"bull:{qname}:de:e") > 4_000
    assert len(events(raw, qname, "deduplicated")) == 1


async def test_replace_swaps_a_delayed_job_and_only_a_delayed_one(queue: Queue, raw: redis.Redis, qname: str) -> None:
    dedup = {"id": "r", "ttl": 10, "replace": True}
    first = await queue.add("x", {"v": 1}, delay=60, deduplication=dedup)
    raw.pexpire(f"bull:{qname}:de:r", 5_000)
    second = await queue.add("x", {"v": 2}, delay=60, deduplication=dedup)
    assert second.id != first.id
    assert raw.exists(f"bull:{qname}:{first.id}") == 0
    assert raw.zrange(f"bull:{qname}:delayed", 0, -1) == [second.id]
    assert raw.get(f"bull:{qname}:de:r") == second.id
    assert raw.pttl(f"bull:{qname}:de:r") <= 5_000  # the ttl goes on (no extend)
    assert {"event": "removed", "jobId": first.id, "prev": "delayed"} in events(raw, qname, "removed")
    assert events(raw, qname, "deduplicated") == [
        {"event": "deduplicated", "jobId": second.id, "deduplicationId": "r", "deduplicatedJobId": first.id}
    ]
    # Not delayed any more: the add is dropped, silently, as BullMQ does.
    await queue.promote_job(second.id)
    third = await queue.add("x", {"v": 3}, deduplication=dedup)
    assert third.id == second.id and len(events(raw, qname, "deduplicated")) == 1


async def test_reschedule_moves_a_delayed_job_to_the_new_delay(queue: Queue, raw: redis.Redis, qname: str) -> None:
    first = await queue.add("x", {}, delay=3600, deduplication={"id": "s"})
    before = int(time.time() * 1000)
    again = await queue.add("x", {}, delay=5, deduplication={"id": "s", "reschedule": True})
    assert again.id == first.id
    due = (raw.zscore(f"bull:{qname}:delayed", first.id) or 0) // 4096
    assert before + 5_000 <= due <= time.time() * 1000 + 5_000
    assert raw.hget(f"bull:{qname}:{first.id}", "delay") == "5000"


async def test_keep_last_if_active_runs_the_latest_add_after_the_active_job(
    queue: Queue, raw: redis.Redis, qname: str, redis_url: str
) -> None:
    dedup = {"id": "k", "keep_last_if_active": True}
    gate = asyncio.Event()
    seen: list[Any] = []

    async def work(job: Job) -> None:
        seen.append(job.data)
        if job.data == {"v": 1}:
            await gate.wait()

    first = await queue.add("x", {"v": 1}, deduplication=dedup)
    async with running(Worker(qname, work, redis_url)):
        await until(lambda: seen, 5, "the first job to start")
        assert (await queue.add("x", {"v": 2}, deduplication=dedup)).id == first.id
        assert (await queue.add("x", {"v": 3}, deduplication=dedup)).id == first.id
        assert raw.hget(f"bull:{qname}:dn:k", "data") == '{"v":3}'
        gate.set()
        await until(lambda: len(seen) == 2, 5, "the kept add to run")
    assert seen == [{"v": 1}, {"v": 3}]
    assert raw.exists(f"bull:{qname}:dn:k") == 0
    assert raw.zcard(f"bull:{qname}:completed") == 2
    assert len(events(raw, qname, "deduplicated")) == 2


async def test_a_stale_key_whose_job_is_gone_is_taken_over(queue: Queue, raw: redis.Redis, qname: str) -> None:
    raw.set(f"bull:{qname}:de:z", "lost-in-an-outage")
    job = await queue.add("x", {}, deduplication={"id": "z"})
    assert raw.get(f"bull:{qname}:de:z") == job.id


@pytest.mark.parametrize(
    ("dedup", "message"),
    [
        ("x", "expected a dict"),
        ({}, "deduplication.id"),
        ({"id": ""}, "deduplication.id"),
        ({"id": "a", "ttl": 0}, "deduplication.ttl"),
        ({"id": "a", "extend": 1}, "deduplication.extend: expected True or False"),
        ({"id": "a", "keepLastIfActive": True}, "unknown keys"),
    ],
)
async def test_bad_deduplication_options_are_refused(queue: Queue, raw: redis.Redis, dedup: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        await queue.add("x", {}, deduplication=dedup)
    assert raw.dbsize() == 0
