"""``add_bulk`` adds a chunk of jobs per ``add_jobs`` call, and leaves Redis exactly as the same jobs added
one by one with ``add`` would: job hashes, state keys and their order, markers, counters, the events."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from board import Queue, SyncQueue
from board.engine import RedisRefused, ops
from board.engine.options import AddSpec, build_add
from tests.interop.nodejs import HELPER, INTEROP, NODE

# A fixed add time (the timestamp option), so that both ways of adding write the same hashes and scores.
T = 1_700_000_000.0


def events(raw: Any, key: str) -> list[dict[str, str]]:
    return [fields for _, fields in raw.xrange(key)]


def snapshot(raw: redis.Redis, qname: str) -> dict[str, Any]:
    """Every key of the queue, by its suffix, with its type and content; a stream's entries without their
    ids (they carry the time of writing), a key's ttl as whether it has one."""
    base = f"bull:{qname}:"
    out: dict[str, Any] = {}
    for key in sorted(raw.scan_iter(match=base + "*", count=1000)):
        kind = raw.type(key)
        content: Any
        if kind == "hash":
            content = raw.hgetall(key)
        elif kind == "list":
            content = raw.lrange(key, 0, -1)
        elif kind == "zset":
            content = raw.zrange(key, 0, -1, withscores=True)
        elif kind == "stream":
            content = events(raw, key)
        else:
            content = raw.get(key)
        ttl = raw.pttl(key)
        out[key[len(base) :]] = (kind, content, "ttl" if ttl > 0 else ttl)
    return out


async def prepare(queue: Queue, raw: redis.Redis, qname: str) -> None:
    """Jobs that the adds meet: an id taken, deduplication ids held by an active job (keepLastIfActive)
    and by delayed jobs (replace, reschedule)."""
    await queue.add("old", {"n": 0}, job_id="taken", timestamp=T)
    owner = await queue.add("owner", {}, deduplication={"id": "keep", "keep_last_if_active": True}, timestamp=T)
    # As a worker takes it: the owner is active.
    raw.lrem(f"bull:{qname}:wait", 1, owner.id)
    raw.lpush(f"bull:{qname}:active", owner.id)
    await queue.add("owner", {}, delay=50, deduplication={"id": "repl", "replace": True}, timestamp=T)
    await queue.add("owner", {}, delay=50, deduplication={"id": "resch", "reschedule": True}, timestamp=T)


MIX: list[dict[str, Any]] = [
    {"name": "plain", "data": {"i": 1}},
    {"name": "no-data"},
    {"name": "text", "data": "h\u00e9llo \u2713"},
    {"name": "exists", "data": {"i": 2}, "job_id": "taken"},
    {"name": "custom", "data": {"i": 3}, "job_id": "fresh"},
    {"name": "custom-again", "data": {"i": 4}, "job_id": "fresh"},
    {"name": "high", "priority": 1},
    {"name": "low", "priority": 7, "attempts": 3, "backoff": 2},
    {"name": "low-again", "priority": 7},
    {"name": "last", "lifo": True, "remove_on_complete": True},
    {"name": "later", "delay": 30},
    {"name": "later-same", "delay": 30},
    {"name": "sooner", "delay": 10, "remove_on_fail": {"count": 5}},
    {"name": "dedup", "deduplication": {"id": "simple"}},
    {"name": "dedup-dropped", "deduplication": {"id": "simple"}},
    {"name": "ttl", "deduplication": {"id": "ttl", "ttl": 100}},
    {"name": "ttl-dropped", "deduplication": {"id": "ttl", "ttl": 100}},
    {"name": "extend", "deduplication": {"id": "ext", "ttl": 100, "extend": True}},
    {"name": "extend-dropped", "deduplication": {"id": "ext", "ttl": 100, "extend": True}},
    {"name": "replacing", "delay": 40, "deduplication": {"id": "repl", "replace": True}},
    {"name": "kept", "deduplication": {"id": "keep", "keep_last_if_active": True}},
    {"name": "kept-later", "data": {"last": True}, "deduplication": {"id": "keep", "keep_last_if_active": True}},
    {"name": "rescheduling", "delay": 20, "deduplication": {"id": "resch", "reschedule": True}},
    {"name": "after", "data": [1, 2]},
]


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The size of each add_jobs call that add_bulk makes."""
    sizes: list[int] = []
    real = ops._add_bulk_call

    def counted(keys: Any, chunk: Any) -> Any:
        sizes.append(len(chunk))
        return real(keys, chunk)

    monkeypatch.setattr(ops, "_add_bulk_call", counted)
    yield sizes


@pytest.mark.parametrize(("per_call", "paused"), [(1000, False), (4, False), (1000, True), (3, True)])
async def test_add_bulk_writes_what_adds_one_by_one_write(
    redis_url: str,
    raw: redis.Redis,
    qname: str,
    monkeypatch: pytest.MonkeyPatch,
    calls: list[int],
    per_call: int,
    paused: bool,
) -> None:
    monkeypatch.setattr(ops, "BULK_JOBS", per_call)
    entries = [{**entry, "timestamp": T} for entry in MIX]
    one_name, bulk_name = qname + "one", qname + "bulk"
    async with Queue(one_name, redis_url) as one, Queue(bulk_name, redis_url) as bulk:
        for queue, name in ((one, one_name), (bulk, bulk_name)):
            if paused:
                await queue.pause()
            await prepare(queue, raw, name)
        singles = []
        for entry in entries:
            name, data, options = ops.split_bulk_entry(entry)
            singles.append(await one.add(name, data, **options))
        assert calls == []
        jobs = await bulk.add_bulk(entries)
    assert calls == [min(per_call, len(MIX) - i) for i in range(0, len(MIX), per_call)]
    assert snapshot(raw, bulk_name) == snapshot(raw, one_name)
    assert [(j.id, j.name, j.data, j.opts) for j in jobs] == [(j.id, j.name, j.data, j.opts) for j in singles]
    # The adds did what their options say (so the comparison above compares something).
    by_name = {entry["name"]: job.id for entry, job in zip(MIX, jobs, strict=True)}
    assert by_name["exists"] == "taken" and by_name["custom-again"] == "fresh"
    assert by_name["dedup-dropped"] == by_name["dedup"] and by_name["ttl-dropped"] == by_name["ttl"]
    kinds = [fields["event"] for fields in events(raw, f"bull:{bulk_name}:events")]
    for event in ("duplicated", "deduplicated", "removed", "delayed", "waiting", "added"):
        assert event in kinds
    assert raw.hget(f"bull:{bulk_name}:dn:keep", "name") == "kept-later"
    assert raw.exists(f"bull:{bulk_name}:marker") == (0 if paused else 1)
    # Every add moved the counter, even those that created nothing.
    assert raw.get(f"bull:{bulk_name}:id") == str(4 + len(MIX))


def test_a_sync_add_bulk_writes_what_adds_one_by_one_write(redis_url: str, raw: redis.Redis, qname: str) -> None:
    entries = [{**entry, "timestamp": T} for entry in MIX if "deduplication" not in entry]
    with SyncQueue(qname + "one", redis_url) as one, SyncQueue(qname + "bulk", redis_url) as bulk:
        for entry in entries:
            name, data, options = ops.split_bulk_entry(entry)
            one.add(name, data, **options)
        jobs = bulk.add_bulk(entries)
    assert snapshot(raw, qname + "bulk") == snapshot(raw, qname + "one")
    assert [j.id for j in jobs][:6] == ["1", "2", "3", "taken", "fresh", "fresh"]


def spec(data: str, job_id: str = "") -> AddSpec:
    return build_add("j", data, {"job_id": job_id} if job_id else {}, 0)


def test_chunks_hold_at_most_so_many_jobs_and_characters(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ops, "BULK_JOBS", 3)
    monkeypatch.setattr(ops, "BULK_CHARS", 100)
    small = [spec("x") for _ in range(7)]
    assert [len(c) for c in ops._bulk_chunks(small)] == [3, 3, 1]
    # A job weighs its name, data and opts: 1 + 40 (38 x in quotes) + 14 characters.
    big = spec("x" * 38)
    assert len(big.name) + len(big.data) + len(big.opts) == 55
    assert [len(c) for c in ops._bulk_chunks([small[0], big, big, small[0]])] == [2, 2]
    # A job larger than the budget goes alone.
    huge = spec("x" * 500)
    assert [len(c) for c in ops._bulk_chunks([small[0], huge, small[0], small[0]])] == [1, 1, 2]
    assert ops._bulk_chunks([]) == []


def test_a_chunk_may_be_sent_again_only_when_every_job_has_an_id(redis_url: str) -> None:
    keys = Queue("q", redis_url).keys
    assert ops._add_bulk_call(keys, [spec("1", "a"), spec("2", "b")]).repeatable
    assert not ops._add_bulk_call(keys, [spec("1", "a"), spec("2")]).repeatable


async def test_a_call_that_fails_keeps_the_adds_before_and_the_other_calls_run(
    queue: Queue, raw: redis.Redis, qname: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ops, "BULK_JOBS", 3)
    # Another program wrote a string where the wait list belongs: the first waiting job's LPUSH fails.
    raw.set(f"bull:{qname}:wait", "not a list")
    entries: list[dict[str, Any]] = [
        {"name": "a", "delay": 60},
        {"name": "b"},
        {"name": "c", "delay": 60},
        {"name": "d", "delay": 60},
    ]
    with pytest.raises(RedisRefused, match="WRONGTYPE"):
        await queue.add_bulk(entries)
    # First call: "a" is written, "b" failed after its hash was written (as add would), "c" never ran.
    assert raw.hget(f"bull:{qname}:2", "name") == "b"
    # The second call ran on its own: "d" took the next number, which "c" never took.
    assert raw.zrange(f"bull:{qname}:delayed", 0, -1) == ["1", "3"]
    assert raw.hget(f"bull:{qname}:3", "name") == "d"
    assert raw.get(f"bull:{qname}:id") == "3"


def node_work(redis_url: str, qname: str, completed: int) -> dict[str, Any]:
    """Node BullMQ's Worker (tests/interop/node_helper.js) until ``completed`` jobs have completed."""
    if NODE is None or not (INTEROP / "node_modules" / "bullmq").is_dir():
        pytest.skip("Node.js BullMQ is not installed (npm ci in tests/interop)")
    args = {"queue": qname, "until": {"completed": completed}, "timeout_ms": 19_000}
    out = subprocess.run(
        [NODE, str(HELPER), redis_url, "work", json.dumps(args)], cwd=INTEROP, capture_output=True, timeout=20
    )
    assert out.returncode == 0, out.stderr.decode(errors="replace")[-2000:]
    result: dict[str, Any] = json.loads(out.stdout.decode().strip().splitlines()[-1])
    return result


async def test_jobs_added_in_several_calls_are_processed_by_node_bullmq(
    queue: Queue, redis_url: str, monkeypatch: pytest.MonkeyPatch, calls: list[int]
) -> None:
    monkeypatch.setattr(ops, "BULK_JOBS", 2)
    entries: list[dict[str, Any]] = [
        {"name": "first", "data": {"n": 1}},
        {"name": "urgent", "data": {"n": 2}, "priority": 1},
        {"name": "second", "data": {"n": 3}},
        {"name": "jump", "data": {"n": 4}, "lifo": True},
        {"name": "soon", "data": {"n": 5}, "delay": 0.2},
        {"name": "once", "data": {"n": 6}, "deduplication": {"id": "d"}},
        {"name": "dropped", "data": {"n": 7}, "deduplication": {"id": "d"}},
    ]
    jobs = await queue.add_bulk(entries)
    assert calls == [2, 2, 2, 1]
    created = [job.id for job in jobs[:6]]
    assert jobs[6].id == jobs[5].id
    result = node_work(redis_url, queue.name, completed=len(created))
    assert result["errors"] == [] and result["done"] is True
    assert sorted(c["id"] for c in result["completed"]) == sorted(created)
    assert all(c["returnvalue"] == {"by": "node", "id": c["id"]} for c in result["completed"])
    # BullMQ's order: the wait list (lifo at its head), then by priority, then the delayed job once due.
    order = [c["id"] for c in result["completed"]]
    assert order[:4] == [jobs[3].id, jobs[0].id, jobs[2].id, jobs[5].id]
    assert set(order[4:]) == {jobs[1].id, jobs[4].id}
    for job in jobs[:6]:
        assert await queue.get_job_state(job.id) == "completed"
