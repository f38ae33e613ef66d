"""Finishing and fetching jobs whose links another program wrote: a key of another type that a finish writes
(a parent's, a deduplication id's, the dead-letter queue's, the metrics'), or a link that names keys outside
the queue's prefix. Redis does not undo a script's earlier writes when it fails, so such a key must never
stop a script half-way: the job lands in completed or failed (with a reason naming the key), the other jobs
of the call are finished, and the call's fetch goes on."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
import redis

from board import FlowProducer, Job, OutcomeUnknown, Queue, UnrecoverableError, Worker
from board.engine.codes import Finished
from board.engine.keys import QueueKeys
from board.engine.scripts import all_scripts, script
from board.redis_server import RedisServer

from .helpers import running, until
from .proxy import CuttingProxy


def run(raw: redis.Redis, keys: QueueKeys, name: str, *args: Any) -> Any:
    return raw.eval(script(name).source, len(keys.script_keys), *keys.script_keys, keys.base, *args)


def now_ms() -> int:
    return int(time.time() * 1000)


def fetch(raw: redis.Redis, keys: QueueKeys, count: int, dead: str = "") -> Any:
    return run(raw, keys, "fetch_jobs", now_ms(), count, 30_000, "t", 1, "", 0, 0, dead)


def tokens(fetched: Sequence[Any]) -> dict[str, str]:
    return dict(zip(fetched[0::3], fetched[1::3], strict=True))


def completed(job_id: str, token: str, keep: int = -1) -> list[Any]:
    return [job_id, token, "c", '"ok"', keep, 0, "", ""]


def failed(job_id: str, token: str, reason: str = "boom", keep: int = -1) -> list[Any]:
    return [job_id, token, "f", reason, "[]", keep, 0, 1]


def finish(
    raw: redis.Redis, keys: QueueKeys, groups: list[list[Any]], fetch_count: int = 0, dead: str = "", metrics: int = 0
) -> tuple[list[int], Any]:
    flat = [value for group in groups for value in group]
    args = [now_ms(), fetch_count, 30_000, "t", 100, "", 0, 0, len(groups), *flat, dead, metrics]
    codes, fetched = run(raw, keys, "finish_jobs", *args)
    return [int(code) for code in codes], fetched


def state(raw: redis.Redis, keys: QueueKeys, job_id: str) -> list[str]:
    found = [name for name in ("wait", "active", "paused") if job_id in raw.lrange(keys.key(name), 0, -1)]
    for name in ("delayed", "prioritized", "waiting-children", "completed", "failed"):
        if raw.type(keys.key(name)) == "zset" and raw.zscore(keys.key(name), job_id) is not None:
            found.append(name)
    return found


def make_parent(raw: redis.Redis, parent_q: QueueKeys, child_keys: Sequence[str], parent_id: str = "p1") -> str:
    """A flow parent waiting in waiting-children for the given children, as BullMQ's FlowProducer leaves it."""
    key = parent_q.job(parent_id)
    raw.hset(key, mapping={"name": "parent", "data": "{}", "opts": "{}", "timestamp": 1})
    raw.zadd(parent_q.waiting_children, {parent_id: 1})
    if child_keys:
        raw.sadd(parent_q.dependencies(parent_id), *child_keys)
    return key


def link_child(raw: redis.Redis, keys: QueueKeys, child_id: str, parent_key: str, **flags: bool) -> None:
    queue_key, parent_id = parent_key.rsplit(":", 1)
    parent = json.dumps({"id": parent_id, "queueKey": queue_key, **flags})
    raw.hset(keys.job(child_id), mapping={"parentKey": parent_key, "parent": parent})


def collecting(worker: Worker) -> dict[str, list[Any]]:
    seen: dict[str, list[Any]] = {"error": [], "failed": [], "completed": []}
    worker.on("error", lambda exc, *_: seen["error"].append(exc))
    worker.on("failed", lambda job, exc: seen["failed"].append((job.id, exc)))
    worker.on("completed", lambda job, result: seen["completed"].append(job.id))
    return seen


async def succeed(job: Job) -> str:
    return "ok"


# One bad job in a batch


async def test_a_child_whose_parent_cannot_take_its_result_fails_alone_and_the_call_goes_on(
    queue: Queue, raw: redis.Redis, qname: str
) -> None:
    keys, parent_q = QueueKeys("bull", qname), QueueKeys("bull", qname + "-parents")
    a, b, c = [await queue.add(name, {}, attempts=1) for name in "abc"]
    parent_key = make_parent(raw, parent_q, [keys.job(b.id), "bull:elsewhere:1"])
    link_child(raw, keys, b.id, parent_key)
    raw.set(parent_q.processed("p1"), "written by another program")
    status, fetched, _, _ = fetch(raw, keys, 3)
    assert status == 0
    held = tokens(fetched)
    d = await queue.add("d", {})

    codes, (status, more, _, _) = finish(
        raw, keys, [completed(a.id, held[a.id]), completed(b.id, held[b.id]), failed(c.id, held[c.id])], 1
    )

    assert codes == [Finished.FINISHED, Finished.FINISHED_AS_FAILED, Finished.FINISHED]
    assert status == 0 and more[0] == d.id  # the call's fetch went on
    assert state(raw, keys, a.id) == ["completed"] and state(raw, keys, c.id) == ["failed"]
    assert state(raw, keys, b.id) == ["failed"]
    reason = raw.hget(keys.job(b.id), "failedReason") or ""
    assert reason == f"its result could not be saved: {parent_q.processed('p1')} is a string, not a hash"
    assert raw.hget(keys.job(b.id), "returnvalue") is None
    # The parent is left as it was: still waiting, with the child still pending for it.
    assert raw.zscore(parent_q.waiting_children, "p1") is not None
    assert raw.sismember(parent_q.dependencies("p1"), keys.job(b.id))
    assert raw.llen(keys.active) == 1 and raw.exists(keys.lock(b.id)) == 0


async def test_a_child_failed_instead_of_completed_is_reported_and_can_be_retried(
    queue: Queue, raw: redis.Redis, qname: str, redis_url: str
) -> None:
    async with FlowProducer(redis_url) as flows:
        node = await flows.add(
            {"name": "parent", "queue_name": qname, "children": [{"name": "child", "queue_name": qname}]}
        )
    parent, child = node.job, node.children[0].job
    keys = QueueKeys("bull", qname)
    raw.set(keys.processed(parent.id), "garbage")
    worker = Worker(qname, succeed, redis_url)
    seen = collecting(worker)
    async with running(worker):
        await until(lambda: raw.zscore(keys.failed, child.id), 5, "the child to fail")
    assert seen["error"] == [] and seen["completed"] == []
    ((job_id, error),) = seen["failed"]
    assert job_id == child.id and isinstance(error, UnrecoverableError)
    assert "its result could not be saved" in str(error)
    assert "is a string, not a hash" in (raw.hget(keys.job(child.id), "failedReason") or "")
    assert state(raw, keys, parent.id) == ["waiting-children"]

    # Once the key is put right, a retry completes the child and the parent runs.
    raw.delete(keys.processed(parent.id))
    await queue.retry_job(child.id)
    async with running(Worker(qname, succeed, redis_url)):
        await until(lambda: raw.zscore(keys.completed, parent.id), 5, "the parent to complete")
    assert raw.hget(keys.processed(parent.id), keys.job(child.id)) == '"ok"'


async def test_a_last_child_whose_parents_queue_is_broken_fails_and_the_parent_stays(
    queue: Queue, raw: redis.Redis, qname: str
) -> None:
    keys, parent_q = QueueKeys("bull", qname), QueueKeys("bull", qname + "-parents")
    child = await queue.add("child", {})
    parent_key = make_parent(raw, parent_q, [keys.job(child.id)])
    link_child(raw, keys, child.id, parent_key)
    raw.set(parent_q.wait, "not a list")
    _, fetched, _, _ = fetch(raw, keys, 1)
    codes, _ = finish(raw, keys, [completed(child.id, tokens(fetched)[child.id])])
    assert codes == [Finished.FINISHED_AS_FAILED]
    assert state(raw, keys, child.id) == ["failed"]
    assert f"{parent_q.wait} is a string, not a list" in (raw.hget(keys.job(child.id), "failedReason") or "")
    assert raw.zscore(parent_q.waiting_children, "p1") is not None  # not lost half-way to wait


async def test_a_parents_queue_whose_events_bound_is_not_a_count_still_takes_the_parent(
    queue: Queue, raw: redis.Redis, qname: str
) -> None:
    keys, parent_q = QueueKeys("bull", qname), QueueKeys("bull", qname + "-parents")
    child = await queue.add("child", {})
    parent_key = make_parent(raw, parent_q, [keys.job(child.id)])
    link_child(raw, keys, child.id, parent_key)
    raw.hset(parent_q.meta, "opts.maxLenEvents", "-5")
    _, fetched, _, _ = fetch(raw, keys, 1)
    codes, _ = finish(raw, keys, [completed(child.id, tokens(fetched)[child.id])])
    assert codes == [Finished.FINISHED] and state(raw, keys, child.id) == ["completed"]
    assert raw.lrange(parent_q.wait, 0, -1) == ["p1"]
    newest = raw.xrevrange(parent_q.events, count=1)
    assert newest and newest[0][1] == {"event": "waiting", "jobId": "p1", "prev": "waiting-children"}


async def test_a_failing_child_whose_parent_cannot_be_told_is_failed_with_a_note(
    queue: Queue, raw: redis.Redis, qname: str
) -> None:
    keys, parent_q = QueueKeys("bull", qname), QueueKeys("bull", qname + "-parents")
    child = await queue.add("child", {})
    parent_key = make_parent(raw, parent_q, [keys.job(child.id)])
    link_child(raw, keys, child.id, parent_key, fpof=True)
    raw.set(parent_key + ":unsuccessful", "garbage")
    _, fetched, _, _ = fetch(raw, keys, 1)
    codes, _ = finish(raw, keys, [failed(child.id, tokens(fetched)[child.id])])
    assert codes == [Finished.FINISHED]
    assert state(raw, keys, child.id) == ["failed"]
    assert raw.hget(keys.job(child.id), "failedReason") == (
        f"boom (parent {parent_key} not told: {parent_key}:unsuccessful is a string, not a zset)"
    )
    assert raw.zscore(parent_q.waiting_children, "p1") is not None and not raw.hexists(parent_key, "defa")


# Dead-letter queues


async def test_a_dead_letter_queue_with_a_broken_counter_leaves_the_job_failed_without_a_copy(
    queue: Queue, raw: redis.Redis, qname: str, redis_url: str
) -> None:
    dead = QueueKeys("bull", qname + "-dead")
    raw.set(dead.id, "not-a-number")
    doomed = await queue.add("x", {}, attempts=1)
    other = await queue.add("y", {})

    async def work(job: Job) -> str:
        if job.name == "x":
            raise UnrecoverableError("boom")
        return "ok"

    worker = Worker(qname, work, redis_url, dead_letter_queue=dead.name, concurrency=1)
    seen = collecting(worker)
    async with running(worker):
        await until(lambda: raw.zscore(f"bull:{qname}:completed", other.id), 5, "the other job")
    keys = QueueKeys("bull", qname)
    assert state(raw, keys, doomed.id) == ["failed"] and raw.exists(keys.lock(doomed.id)) == 0
    assert raw.hget(keys.job(doomed.id), "failedReason") == f"boom (no dead letter: {dead.id} is not an integer)"
    assert seen["error"] == [] and [job_id for job_id, _ in seen["failed"]] == [doomed.id]
    assert raw.get(dead.id) == "not-a-number" and raw.exists(dead.failed) == 0


async def test_a_deferred_failure_with_a_broken_dead_letter_queue_fails_alone_in_the_fetch(
    queue: Queue, raw: redis.Redis, qname: str
) -> None:
    keys, dead = QueueKeys("bull", qname), QueueKeys("bull", qname + "-dead")
    a, b, c = [await queue.add(name, {}) for name in "abc"]
    raw.hset(keys.job(b.id), "defa", "job stalled more than allowable limit")
    raw.set(dead.events, "not a stream")
    status, fetched, _, runs = fetch(raw, keys, 3, dead.base)
    assert status == 0 and sorted(tokens(fetched)) == sorted([a.id, c.id]) and runs == []
    assert sorted(raw.lrange(keys.active, 0, -1)) == sorted([a.id, c.id])
    assert state(raw, keys, b.id) == ["failed"]
    assert raw.hget(keys.job(b.id), "failedReason") == (
        f"job stalled more than allowable limit (no dead letter: {dead.events} is a string, not a stream)"
    )


# Deduplication keys


@pytest.mark.parametrize(("kind", "wrong"), [("de", "hash"), ("dn", "string")])
async def test_a_job_whose_deduplication_key_has_another_type_fails_with_the_reason(
    queue: Queue, raw: redis.Redis, qname: str, redis_url: str, kind: str, wrong: str
) -> None:
    keys = QueueKeys("bull", qname)
    job = await queue.add("x", {}, deduplication={"id": "d1"})
    key = keys.key(f"{kind}:d1")
    raw.delete(key)
    if wrong == "hash":
        raw.hset(key, "a", "b")
    else:
        raw.set(key, "str")
    worker = Worker(qname, succeed, redis_url)
    seen = collecting(worker)
    async with running(worker):
        await until(lambda: raw.zscore(keys.failed, job.id), 5, "the job to fail")
    want = "string" if kind == "de" else "hash"
    problem = f"{key} is a {wrong}, not a {want}"
    # Said once, though the failure could not release the id either.
    assert raw.hget(keys.job(job.id), "failedReason") == f"its result could not be saved: {problem}"
    assert seen["error"] == [] and raw.type(key) == wrong


async def test_a_failing_job_whose_deduplication_key_has_another_type_keeps_it(
    queue: Queue, raw: redis.Redis, qname: str
) -> None:
    keys = QueueKeys("bull", qname)
    job = await queue.add("x", {}, deduplication={"id": "d1"})
    raw.delete(keys.key("de:d1"))
    raw.rpush(keys.key("de:d1"), "a")
    _, fetched, _, _ = fetch(raw, keys, 1)
    codes, _ = finish(raw, keys, [failed(job.id, tokens(fetched)[job.id])])
    assert codes == [Finished.FINISHED] and state(raw, keys, job.id) == ["failed"]
    assert raw.hget(keys.job(job.id), "failedReason") == (
        f"boom (deduplication id d1 kept: {keys.key('de:d1')} is a list, not a string)"
    )


async def kept_add_runs(queue: Queue, raw: redis.Redis, qname: str, fields: dict[str, str]) -> str:
    """Completes the job holding deduplication id d1 with the kept add ``fields`` in dn:d1; the new job's id."""
    keys = QueueKeys("bull", qname)
    holder = await queue.add("x", {}, deduplication={"id": "d1", "keep_last_if_active": True})
    _, fetched, _, _ = fetch(raw, keys, 10)
    raw.hset(keys.key("dn:d1"), mapping={"name": "kept", "data": '{"kept":1}', "opts": "{}"})
    for field, value in fields.items():
        raw.hset(keys.key("dn:d1"), field, value)
    codes, _ = finish(raw, keys, [completed(holder.id, tokens(fetched)[holder.id])])
    assert codes == [Finished.FINISHED]
    assert raw.exists(keys.key("dn:d1")) == 0
    new_id = str(raw.get(keys.key("de:d1")))
    assert raw.hget(keys.job(new_id), "name") == "kept"
    return new_id


async def test_a_kept_add_with_an_id_that_names_a_queue_key_gets_a_new_one(
    queue: Queue, raw: redis.Redis, qname: str
) -> None:
    keys = QueueKeys("bull", qname)
    foreign = "otherprefix:othersvc:arbitrary"
    fields = {"jid": "meta", "pk": "otherprefix:othersvc:1", "pd": "{}", "pdk": foreign}
    new_id = await kept_add_runs(queue, raw, qname, fields)
    assert new_id == "2"  # the counter's next id: the stored one names the queue's meta hash
    assert set(raw.hgetall(keys.meta)) == {"opts.maxLenEvents", "version"}
    assert raw.exists(foreign) == 0 and not raw.hexists(keys.job(new_id), "parentKey")
    assert raw.lrange(keys.wait, 0, -1)[0] == new_id


async def test_a_kept_add_with_the_id_of_an_existing_job_does_not_overwrite_it(
    queue: Queue, raw: redis.Redis, qname: str
) -> None:
    keys = QueueKeys("bull", qname)
    victim = await queue.add("x", {"mine": True}, job_id="victim", delay=60)
    new_id = await kept_add_runs(queue, raw, qname, {"jid": "victim"})
    assert new_id != "victim"
    assert raw.hmget(keys.job("victim"), "name", "data") == ["x", '{"mine":true}']
    assert state(raw, keys, victim.id) == ["delayed"]


async def test_a_kept_adds_parent_link_is_kept_only_when_it_is_consistent(
    queue: Queue, raw: redis.Redis, qname: str
) -> None:
    keys, parent_q = QueueKeys("bull", qname), QueueKeys("bull", qname + "-parents")
    parent_key = make_parent(raw, parent_q, [])
    parent_field = json.dumps({"id": "p1", "queueKey": parent_q.queue_key})
    linked = await kept_add_runs(
        queue, raw, qname, {"jid": "k1", "pk": parent_key, "pd": parent_field, "pdk": parent_key + ":dependencies"}
    )
    assert linked == "k1" and raw.hget(keys.job("k1"), "parentKey") == parent_key
    assert raw.smembers(parent_q.dependencies("p1")) == {keys.job("k1")}
    raw.delete(keys.key("de:d1"))
    elsewhere = f"bull:{qname}:elsewhere"
    unlinked = await kept_add_runs(
        queue, raw, qname, {"jid": "k2", "pk": parent_key, "pd": parent_field, "pdk": elsewhere}
    )
    assert unlinked == "k2" and not raw.hexists(keys.job("k2"), "parentKey")
    assert raw.exists(elsewhere) == 0 and raw.smembers(parent_q.dependencies("p1")) == {keys.job("k1")}


# Links that leave the prefix


async def test_a_parent_key_outside_the_prefix_is_never_followed(queue: Queue, raw: redis.Redis, qname: str) -> None:
    keys = QueueKeys("bull", qname)
    foreign = "otherapp:billing:1"
    raw.hset(foreign, "name", "invoice")
    raw.sadd(foreign + ":dependencies", "x")
    done, dropped, failing = [await queue.add(name, {}) for name in ("done", "dropped", "failing")]
    for job in (done, dropped, failing):
        raw.sadd(foreign + ":dependencies", keys.job(job.id))
        link_child(raw, keys, job.id, foreign, fpof=True)
    before = raw.smembers(foreign + ":dependencies")
    _, fetched, _, _ = fetch(raw, keys, 3)
    held = tokens(fetched)
    codes, _ = finish(
        raw,
        keys,
        [
            completed(done.id, held[done.id]),
            failed(dropped.id, held[dropped.id], keep=0),
            failed(failing.id, held[failing.id]),
        ],
    )
    assert codes == [Finished.FINISHED_AS_FAILED, Finished.FINISHED, Finished.FINISHED]
    assert raw.hget(keys.job(done.id), "failedReason") == (
        f"its result could not be saved: its parentKey {foreign} names no job of a queue under this prefix "
        "(its parent field names no job of a queue under this prefix: parent not told)"
    )
    assert raw.exists(keys.job(dropped.id)) == 0
    assert raw.smembers(foreign + ":dependencies") == before
    assert sorted(raw.keys("otherapp:*")) == [foreign, foreign + ":dependencies"]


async def test_a_dead_letter_naming_a_queue_that_does_not_exist_is_retried_where_it_is(
    queue: Queue, raw: redis.Redis, qname: str, redis_url: str
) -> None:
    dead = QueueKeys("bull", qname + "-dead")
    for job_id, origin in (("1", "nosuchqueue"), ("2", dead.name), ("3", qname)):
        mark = {"queue": origin, "jobId": "7", "attemptsMade": 1, "failedOn": 1}
        raw.hset(dead.job(job_id), mapping={"name": "x", "data": "{}", "opts": json.dumps({"deadLetter": mark})})
        raw.zadd(dead.failed, {job_id: 1})
    await queue.add("makes-the-queue-exist", {})
    async with Queue(dead.name, redis_url) as dead_queue:
        assert await dead_queue.retry_jobs("failed") == 3
    # Only the queue that exists takes its dead letter back; the others are retried in the dead-letter queue.
    assert sorted(raw.lrange(dead.wait, 0, -1)) == ["1", "2"]
    assert raw.hget(f"bull:{qname}:7", "name") == "x"
    assert raw.keys("bull:nosuchqueue:*") == []


# Metrics


@pytest.mark.parametrize("broken", ["a string", "a prevTS that is not a number", "a data key that is not a list"])
async def test_broken_metrics_keys_skip_the_count_not_the_finish(
    queue: Queue, raw: redis.Redis, qname: str, broken: str
) -> None:
    keys = QueueKeys("bull", qname)
    metrics = keys.key("metrics:completed")
    if broken == "a string":
        raw.set(metrics, "x")
    elif broken == "a data key that is not a list":
        raw.set(metrics + ":data", "x")
    else:
        raw.hset(metrics, mapping={"count": "1", "prevTS": "garbage"})
    before = {key: raw.dump(key) for key in (metrics, metrics + ":data")}
    first, second = await queue.add("a", {}), await queue.add("b", {})
    _, fetched, _, _ = fetch(raw, keys, 1)
    codes, (status, more, _, _) = finish(raw, keys, [completed(first.id, tokens(fetched)[first.id])], 1, metrics=10)
    assert codes == [Finished.FINISHED] and state(raw, keys, first.id) == ["completed"]
    assert status == 0 and more[0] == second.id
    assert {key: raw.dump(key) for key in (metrics, metrics + ":data")} == before


async def test_counters_redis_cannot_count_on_fail_the_job_alone(queue: Queue, raw: redis.Redis, qname: str) -> None:
    keys = QueueKeys("bull", qname)
    bad, good = await queue.add("bad", {}), await queue.add("good", {})
    raw.hset(keys.job(bad.id), "ats", "007")  # digits, but no integer to INCR and HINCRBY
    status, fetched, _, _ = fetch(raw, keys, 2)
    assert status == 0 and list(tokens(fetched)) == [good.id]
    assert raw.hget(keys.job(bad.id), "failedReason") == "job hash is malformed (ats is not an integer: '007')"


# Job schedulers


async def test_a_scheduler_run_failed_in_the_fetch_still_gets_its_next_run(
    queue: Queue, raw: redis.Redis, qname: str, redis_url: str
) -> None:
    keys = QueueKeys("bull", qname)
    scheduler = await queue.upsert_job_scheduler("tick", every=0.2)
    first = scheduler.next_job_id
    assert first
    raw.hset(keys.job(first), "defa", "job stalled more than allowable limit")
    runs: list[str] = []

    async def work(job: Job) -> None:
        runs.append(job.id)

    async with running(Worker(qname, work, redis_url)):
        await until(lambda: runs, 5, "a later run of the scheduler")
    assert state(raw, keys, first) == ["failed"] and first not in runs
    assert all(run.startswith("repeat:tick:") for run in runs)


async def test_the_fetch_reply_names_the_scheduler_runs_it_failed(queue: Queue, raw: redis.Redis, qname: str) -> None:
    keys = QueueKeys("bull", qname)
    scheduler = await queue.upsert_job_scheduler("tick", every=60)
    run_id = scheduler.next_job_id
    assert run_id
    raw.hset(keys.job(run_id), "defa", "job stalled more than allowable limit")
    status, fetched, _, runs = fetch(raw, keys, 1)
    assert status == 2 and fetched == []
    assert runs[0] == run_id
    fields = dict(zip(runs[1][0::2], runs[1][1::2], strict=True))
    assert fields["rjk"] == "tick" and json.loads(fields["opts"])["repeat"]["every"] == 60_000


# Flows sent once


@pytest.fixture
def proxy(redis_server: RedisServer, raw: redis.Redis) -> Iterator[CuttingProxy]:
    # Loaded first, so that the reply cut is the call's own, never a NOSCRIPT answer before it ran.
    for loaded in all_scripts():
        raw.script_load(loaded.source)
    with CuttingProxy(redis_server.port) as p:
        yield p


async def test_a_flow_whose_reply_is_lost_is_not_sent_again(proxy: CuttingProxy, raw: redis.Redis, qname: str) -> None:
    tree = {"name": "parent", "queue_name": qname, "children": [{"name": "child", "queue_name": qname}]}
    async with FlowProducer(proxy.url) as flows:
        await flows.add(tree)  # loads the connection: the next add runs at once
        proxy.cut_reply_to(script("add_flow").sha.encode())
        with pytest.raises(OutcomeUnknown, match="may or may not have been written") as caught:
            await flows.add(tree)
    assert proxy.cuts == 1 and "Look for the root job" in str(caught.value)
    # Redis added it, once: two flows of two jobs each, the second not sent twice.
    assert raw.zcard(f"bull:{qname}:waiting-children") == 2 and raw.llen(f"bull:{qname}:wait") == 2
