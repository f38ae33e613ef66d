"""The engine on a real Redis Cluster (3 primaries, 3 replicas): queues named with a hash tag each live in
one slot, calls go to the node serving it, and what would spread a queue or a flow over slots is refused
before anything is written."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as aredis
import redis.cluster
from redis.asyncio.cluster import RedisCluster

from board import FlowProducer, Queue, QueueEvents, SyncQueue, Worker
from board.engine import ops
from board.engine.connection import command, script_call
from board.engine.errors import RedisRefused, RedisUnavailable
from board.engine.flows import add_flow, plan_flow
from board.engine.keys import QueueKeys
from board.engine.routing import ClusterRunner, route_of
from tests.interop.nodejs import INTEROP, require_node
from tests.servers import ClusterServers, Node
from tests.support import until, wait_for


def _client(cluster: ClusterServers) -> RedisCluster:
    nodes = [aredis.cluster.ClusterNode(host, port) for host, port in cluster.startup_nodes]
    return RedisCluster(startup_nodes=nodes, decode_responses=True)


@pytest.fixture
async def client(cluster: ClusterServers) -> AsyncIterator[RedisCluster]:
    c = _client(cluster)
    try:
        yield c
    finally:
        await c.aclose()


def _keys_on_every_node(cluster: ClusterServers) -> list[str]:
    found: list[str] = []
    for node in cluster.primaries():
        found.extend(str(k) for k in node.call("KEYS", "*"))
    return found


async def test_two_tagged_queues_live_on_different_primaries_and_serve_adds_and_reads(
    cluster: ClusterServers, client: RedisCluster
) -> None:
    email, sms = QueueKeys("bull", "{email}"), QueueKeys("bull", "{sms}")
    assert cluster.primary_for(email.wait).port != cluster.primary_for(sms.wait).port
    async with Queue("{email}", client) as q1, Queue("{sms}", client) as q2:
        job = await q1.add("send", {"to": "a@example.com"})
        await q1.add_bulk([{"name": "send", "data": {"i": i}} for i in range(5)])
        await q2.add("text", {"to": "+100"}, delay=60_000)
        assert (await q1.get_job(job.id)) is not None
        assert (await q1.get_job_counts())["wait"] == 6
        assert (await q2.get_job_counts())["delayed"] == 1
        assert len(await q1.get_jobs(["wait"], 0, 2)) == 3
    # Every key of a queue is on the primary of its slot.
    on_email = {str(k) for k in cluster.primary_for(email.wait).call("KEYS", "*")}
    assert email.wait in on_email and email.job(job.id) in on_email
    assert sms.delayed in {str(k) for k in cluster.primary_for(sms.wait).call("KEYS", "*")}


async def test_a_prefix_with_a_hash_tag_keeps_every_queue_of_it_in_one_slot(
    cluster: ClusterServers, client: RedisCluster
) -> None:
    async with Queue("email", client, prefix="{bull}") as q1, Queue("sms", client, prefix="{bull}") as q2:
        await q1.add("send", {})
        await q2.add("text", {})
        assert (await q1.get_job_counts())["wait"] == 1
        assert (await q2.get_job_counts())["wait"] == 1
    node = cluster.primary_for("{bull}")
    keys = {str(k) for k in node.call("KEYS", "*")}
    assert {"{bull}:email:wait", "{bull}:sms:wait"} <= keys


async def test_a_queue_whose_keys_would_spread_over_slots_is_refused_with_the_fix(
    cluster: ClusterServers, client: RedisCluster
) -> None:
    async def work(job: Any) -> None:
        return None

    for make in (
        lambda: Queue("email", client),
        lambda: Worker("email", work, client),
        lambda: FlowProducer(client),
    ):
        with pytest.raises(ValueError, match=r"'\{bull\}'.*'\{email\}'|hash slots") as info:
            obj = make()
            if isinstance(obj, FlowProducer):
                await obj.add({"name": "parent", "queue_name": "email", "children": []})
        assert "hash slots" in str(info.value)
    assert _keys_on_every_node(cluster) == []


async def test_a_worker_processes_jobs_of_two_queues_on_different_primaries(
    cluster: ClusterServers, client: RedisCluster
) -> None:
    done: Counter[str] = Counter()

    async def work(job: Any) -> str:
        done[job.queue.name] += 1
        return "ok"

    async with Queue("{email}", client) as q1, Queue("{sms}", client) as q2:
        await q1.add_bulk([{"name": "send", "data": {"i": i}} for i in range(20)])
        await q2.add_bulk([{"name": "text", "data": {"i": i}} for i in range(20)])
        w1 = Worker("{email}", work, client, concurrency=4)
        w2 = Worker("{sms}", work, client, concurrency=4)
        runs = [asyncio.create_task(w.run()) for w in (w1, w2)]
        try:
            await until(lambda: done["{email}"] == 20 and done["{sms}"] == 20, timeout=20, what="every job")
            await until(
                lambda: _completed(q1, q2),
                timeout=10,
                what="every result saved",
            )
            assert len(await q1.get_workers()) == 1
        finally:
            await asyncio.gather(w1.close(), w2.close())
            await asyncio.gather(*runs)


async def _completed(q1: Queue, q2: Queue) -> bool:
    counts = [await q.get_job_counts() for q in (q1, q2)]
    return all(c["completed"] == 20 and c["active"] == 0 and c["wait"] == 0 for c in counts)


async def test_a_flow_inside_one_slot_runs_children_then_parent(cluster: ClusterServers, client: RedisCluster) -> None:
    order: list[str] = []

    async def work(job: Any) -> str:
        order.append(job.name)
        return str(job.name)

    async with FlowProducer(client, prefix="{bull}") as flows, Queue("email", client, prefix="{bull}") as q:
        tree = await flows.add(
            {
                "name": "report",
                "queue_name": "email",
                "children": [{"name": "part-a", "queue_name": "sms"}, {"name": "part-b", "queue_name": "sms"}],
            }
        )
        workers = [Worker(name, work, client, prefix="{bull}") for name in ("email", "sms")]
        runs = [asyncio.create_task(w.run()) for w in workers]
        try:
            await until(lambda: len(order) == 3, timeout=20, what="the flow to run")
            parent = await until(lambda: _finished(q, tree.job.id), timeout=10, what="the parent to complete")
            assert parent.returnvalue == "report"
        finally:
            await asyncio.gather(*(w.close() for w in workers))
            await asyncio.gather(*runs)
    assert order[-1] == "report" and sorted(order[:2]) == ["part-a", "part-b"]


async def _finished(q: Queue, job_id: str) -> Any:
    job = await q.get_job(job_id)
    return job if job is not None and await job.get_state() == "completed" else None


async def test_a_flow_across_slots_is_refused_before_anything_is_written(
    cluster: ClusterServers, client: RedisCluster
) -> None:
    assert cluster.primary_for("{email}").port != cluster.primary_for("{sms}").port
    async with FlowProducer(client) as flows:
        with pytest.raises(ValueError, match="another hash slot") as info:
            await flows.add(
                {
                    "name": "report",
                    "queue_name": "{email}",
                    "children": [{"name": "part", "queue_name": "{email}"}, {"name": "text", "queue_name": "{sms}"}],
                }
            )
    assert "'text'" in str(info.value) and "'{sms}'" in str(info.value)
    assert _keys_on_every_node(cluster) == []


async def test_a_dead_letter_queue_in_another_slot_is_refused(cluster: ClusterServers, client: RedisCluster) -> None:
    async def work(job: Any) -> None:
        return None

    with pytest.raises(ValueError, match="another hash slot") as info:
        Worker("{email}", work, client, dead_letter_queue="{email-dead}")
    assert "'{email}-dead'" in str(info.value)
    worker = Worker("{email}", work, client, dead_letter_queue="{email}-dead")
    await worker.close()


async def test_queue_events_read_a_queue_on_its_node(cluster: ClusterServers, client: RedisCluster) -> None:
    async with Queue("{sms}", client) as q, QueueEvents("{sms}", client, block_timeout=0.2) as events:
        await events.read_position()
        job = await q.add("text", {})
        seen = await until(events.read, timeout=5, what="the added event")
        assert any(e.event == "added" and e.job_id == job.id for e in seen)


async def test_a_link_to_a_job_in_another_slot_is_not_followed(cluster: ClusterServers, client: RedisCluster) -> None:
    # Another program may have linked a job to a parent in another slot (BullMQ cannot write such a flow):
    # finishing the child must not reach for the parent's keys, which another primary serves.
    ran: list[str] = []

    async def work(job: Any) -> str:
        ran.append(job.id)
        if job.name == "fail":
            raise RuntimeError("boom")
        return "ok"

    async with Queue("{email}", client) as parents, Queue("{sms}", client) as children:
        parent = await parents.add("report", {})
        parent_key = parents.keys.job(parent.id)
        link = json.dumps({"id": parent.id, "queueKey": "bull:{email}", "fpof": True})
        ok = await children.add("ok", {})
        bad = await children.add("fail", {})
        for job in (ok, bad):
            await client.hset(children.keys.job(job.id), mapping={"parentKey": parent_key, "parent": link})
        await client.sadd(parent_key + ":dependencies", children.keys.job(ok.id), children.keys.job(bad.id))
        worker = Worker("{sms}", work, client)
        run = asyncio.create_task(worker.run())
        try:
            await until(lambda: _states(children, ok.id, bad.id), timeout=10, what="both children finished")
        finally:
            await worker.close()
            await run
        # A completion that cannot reach its parent fails the job, saying why, as for a parentKey that
        # names no job: the parent is not silently left waiting for a result that never comes.
        for job_id in (ok.id, bad.id):
            failed = await children.get_job(job_id)
            assert failed is not None and "another hash slot" in str(failed.failed_reason)
        # The parent was left as it was: both children still listed as pending.
        assert await client.scard(parent_key + ":dependencies") == 2
        assert sorted(ran) == sorted([ok.id, bad.id])


async def _states(q: Queue, ok_id: str, bad_id: str) -> bool:
    ok, bad = await q.get_job(ok_id), await q.get_job(bad_id)
    return ok is not None and bad is not None and await ok.get_state() == "failed" and await bad.get_state() == "failed"


async def test_a_worker_goes_on_by_itself_after_its_primary_fails_over(
    cluster: ClusterServers, client: RedisCluster
) -> None:
    total = 200
    runs: Counter[str] = Counter()
    active_at_kill: set[str] = set()
    running: set[str] = set()

    async def work(job: Any) -> None:
        running.add(job.id)
        runs[job.id] += 1
        await asyncio.sleep(0.01)
        running.discard(job.id)

    async with Queue("{email}", client) as q:
        ids = {job.id for job in await q.add_bulk([{"name": "send", "data": {"i": i}} for i in range(total)])}
        primary = cluster.primary_for(q.keys.wait)
        # Every acknowledged add is on the replica before the kill: what follows counts the worker alone.
        assert primary.call("WAIT", 1, 5000) == 1
        worker = Worker("{email}", work, client, concurrency=4, lock_duration=2000, stalled_interval=1000)
        errors: list[BaseException] = []
        worker.on("error", errors.append)
        events = QueueEvents("{email}", client, block_timeout=0.2)
        completed_after: set[str] = set()
        failed_over = asyncio.Event()

        def on_completed(event: Any) -> None:
            if failed_over.is_set():
                completed_after.add(event.job_id)

        events.on("completed", on_completed)
        await events.read_position()
        reader = asyncio.create_task(events.run())
        run = asyncio.create_task(worker.run())
        try:
            await until(lambda: len(runs) >= 40, timeout=10, what="some jobs done before the kill")
            active_at_kill.update(running)
            stopped = cluster.stop_primary(q.keys.wait)
            # In a thread: the worker keeps running through the outage.
            await asyncio.to_thread(cluster.wait_failover, stopped)
            failed_over.set()
            await until(lambda: _all_completed(q, total), timeout=30, what="every job completed after the failover")
            # The events reader found the new primary by itself too.
            await until(lambda: completed_after, timeout=10, what="events read after the failover")
        finally:
            await worker.close()
            await run
            await events.close()
            await reader
        counts = await q.get_job_counts()
    assert set(runs) == ids  # none lost
    assert counts["completed"] == total and counts["active"] == 0 and counts["wait"] == 0  # none stuck
    twice = {i for i, n in runs.items() if n > 1}
    # Only a job running at the kill, or finished just before it (its completion not yet on the replica),
    # may run again: a handful at most.
    assert len(twice) <= 4 * 2, (twice, active_at_kill)
    assert errors  # the worker saw the outage and went on by itself
    print(f"failover: {total} acknowledged, {counts['completed']} completed, {len(twice)} run twice, 0 stuck")
    assert {type(e) for e in errors} == {RedisUnavailable}, errors


async def _all_completed(q: Queue, total: int) -> bool:
    try:
        return (await q.get_job_counts())["completed"] == total
    except RedisUnavailable:
        return False


# BullMQ on the cluster through ioredis's Cluster client, with the prefix "{bull}" BullMQ's docs advise.
_NODE_SCRIPT = r"""
const { Queue, Worker } = require('bullmq');
const { Cluster } = require('ioredis');
const [nodes, command, queueName, count] = JSON.parse(process.argv[1]);
const connection = () => new Cluster(nodes, { redisOptions: { maxRetriesPerRequest: null } });
(async () => {
  const timer = setTimeout(() => { process.stderr.write('timed out\n'); process.exit(3); }, 20000);
  if (command === 'add') {
    const queue = new Queue(queueName, { connection: connection(), prefix: '{bull}' });
    const job = await queue.add('from-node', { by: 'node' });
    await queue.close();
    process.stdout.write(JSON.stringify(job.id));
  } else {
    const seen = [];
    await new Promise((resolve, reject) => {
      const worker = new Worker(queueName, async job => ({ by: 'node', name: job.name }),
        { connection: connection(), prefix: '{bull}' });
      worker.on('error', reject);
      worker.on('completed', job => {
        seen.push(job.id);
        if (seen.length >= count) worker.close().then(resolve, reject);
      });
    });
    process.stdout.write(JSON.stringify(seen));
  }
  clearTimeout(timer);
  process.exit(0);
})().catch(err => { process.stderr.write(String(err && err.stack || err)); process.exit(1); });
"""


async def _node(cluster: ClusterServers, *args: Any) -> Any:
    node = require_node("BullMQ on a cluster")
    nodes = [{"host": host, "port": port} for host, port in cluster.startup_nodes]
    proc = await asyncio.create_subprocess_exec(
        node,
        "-e",
        _NODE_SCRIPT,
        json.dumps([nodes, *args]),
        cwd=INTEROP,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    return json.loads(out)


async def test_bullmq_and_the_engine_share_queues_on_the_cluster(cluster: ClusterServers, client: RedisCluster) -> None:
    async with Queue("email", client, prefix="{bull}") as q:
        # A job added by BullMQ, processed by our worker.
        node_id = await _node(cluster, "add", "email", 1)
        done: list[str] = []

        async def work(job: Any) -> str:
            done.append(job.id)
            return "by python"

        worker = Worker("email", work, client, prefix="{bull}")
        run = asyncio.create_task(worker.run())
        try:
            await until(lambda: _finished(q, node_id), timeout=10, what="the Node job to complete")
        finally:
            await worker.close()
            await run
        assert done == [node_id]
        # A job added here, processed by BullMQ's worker.
        ours = await q.add("from-python", {"by": "python"})
        assert await _node(cluster, "work", "email", 1) == [ours.id]
        finished = await q.get_job(ours.id)
        assert finished is not None and finished.returnvalue == {"by": "node", "name": "from-python"}


def test_calls_are_routed_by_their_key() -> None:
    keys = QueueKeys("bull", "{email}")
    assert route_of(script_call("get_counts", keys)) == keys.wait
    assert route_of(command("HGET", keys.meta, "paused")) == keys.meta
    assert route_of(command("EVALSHA", "abc", 1, keys.id)) == keys.id
    assert route_of(command("EVAL", "return 1", 0)) is None
    assert route_of(command("CLIENT", "LIST")) is None
    assert route_of(command("CLIENT", "LIST", route=keys.meta)) == keys.meta
    assert route_of(command("PING")) is None


async def test_a_call_sent_to_a_node_that_no_longer_serves_its_slot_is_moved_and_run_once(
    cluster: ClusterServers, client: RedisCluster
) -> None:
    async with Queue("{email}", client) as q:
        await q.add("first", {})
        cluster_client = q.client
        manager = cluster_client.nodes_manager
        slot = q.keys.slot
        right = manager.slots_cache[slot][0]
        wrong = next(n for n in manager.nodes_cache.values() if n.server_type == "primary" and n is not right)
        # The client's map now says another primary serves the slot, as after a reshard it missed.
        manager.slots_cache[slot] = [wrong]
        # Not repeatable (the add of a job without an id): resent after MOVED all the same, never twice.
        await q.add("second", {})
        assert manager.slots_cache[slot][0].name == right.name
        assert (await q.get_job_counts())["wait"] == 2


async def test_calls_follow_a_slot_while_it_migrates_and_after(cluster: ClusterServers, client: RedisCluster) -> None:
    keys = QueueKeys("bull", "{sms}")
    source = cluster.primary_for(keys.wait)
    target = next(n for n in cluster.primaries() if n.port != source.port)
    ids = {n.port: n.call("CLUSTER", "MYID") for n in (source, target)}
    try:
        target.call("CLUSTER", "SETSLOT", keys.slot, "IMPORTING", ids[source.port])
        source.call("CLUSTER", "SETSLOT", keys.slot, "MIGRATING", ids[target.port])
        async with Queue("{sms}", client) as q:
            # A key the source does not hold: it answers ASK and the target runs the call.
            await q._runner.call(command("HSET", keys.meta, "opts.maxLenEvents", 100))
            assert _importing_has(target, keys.meta)
            assert source.call("CLUSTER", "COUNTKEYSINSLOT", keys.slot) == 0
            # A script over several keys, some not moved yet: TRYAGAIN, retried, then reported unavailable
            # with nothing written.
            with pytest.raises(RedisUnavailable, match="migrated"):
                await q.add("text", {})
            assert not _importing_has(target, keys.id)
            # The migration ends: the client's map still names the source, which answers MOVED.
            for node in (target, source):
                node.call("CLUSTER", "SETSLOT", keys.slot, "NODE", ids[target.port])
            job = await q.add("text", {})
            assert target.call("EXISTS", keys.job(job.id)) == 1
            assert (await q.get_job_counts())["wait"] == 1
    finally:
        # The slot goes back to its primary: the other tests expect {sms} and {email} on two primaries.
        target.call("FLUSHALL")
        for node in (source, target):
            node.call("CLUSTER", "SETSLOT", keys.slot, "NODE", ids[source.port])
        wait_for(lambda: cluster.primary_for(keys.wait).port == source.port, what="the slot back on its primary")


def _importing_has(node: Node, key: str) -> bool:
    """Whether a node importing the key's slot holds the key (it answers for that slot only after ASKING)."""
    with node.client() as c:
        c.execute_command("ASKING")
        return bool(c.execute_command("EXISTS", key))


def test_the_blocking_twins_run_on_the_cluster(cluster: ClusterServers) -> None:
    nodes = [redis.cluster.ClusterNode(host, port) for host, port in cluster.startup_nodes]
    sync = redis.cluster.RedisCluster(startup_nodes=nodes, decode_responses=True)
    try:
        with SyncQueue("{email}", sync) as q1, SyncQueue("{sms}", sync) as q2:
            job = q1.add("send", {})
            q2.add_bulk([{"name": "text", "data": {"i": i}} for i in range(3)])
            assert q1.get_job_counts()["wait"] == 1 and q2.get_job_counts()["wait"] == 3
            fetched = q1.get_job(job.id)
            assert fetched is not None and fetched.name == "send"
        with pytest.raises(ValueError, match="hash slots"):
            SyncQueue("email", sync)
    finally:
        sync.close()


async def test_a_worker_with_a_plain_function_runs_on_the_cluster(
    cluster: ClusterServers, client: RedisCluster
) -> None:
    def work(job: Any) -> str:
        job.update_progress(50)
        return "done"

    async with Queue("{sms}", client) as q:
        jobs = await q.add_bulk([{"name": "text", "data": {"i": i}} for i in range(5)])
        worker = Worker("{sms}", work, client, concurrency=2)
        run = asyncio.create_task(worker.run())
        try:
            await until(lambda: _count(q, "completed", 5), timeout=10, what="every job completed")
        finally:
            await worker.close()
            await run
        finished = await q.get_job(jobs[0].id)
        assert finished is not None and finished.returnvalue == "done" and finished.progress == 50


async def _count(q: Queue, state: str, n: int) -> bool:
    return (await q.get_job_counts())[state] == n


async def test_dead_letters_in_the_slot_of_their_queue_go_back_and_forth(
    cluster: ClusterServers, client: RedisCluster
) -> None:
    async def work(job: Any) -> None:
        raise RuntimeError("broken")

    async with Queue("{email}", client) as q, Queue("{email}-dead", client) as dead:
        job = await q.add("mail", {}, attempts=1)
        worker = Worker("{email}", work, client, dead_letter_queue="{email}-dead")
        run = asyncio.create_task(worker.run())
        try:
            await until(lambda: _count(dead, "failed", 1), timeout=10, what="the dead letter")
        finally:
            await worker.close()
            await run
        assert await dead.retry_jobs() == 1
        assert (await q.get_job_counts())["wait"] == 1
        back = await q.get_job(job.id)
        assert back is not None and back.name == "mail"


async def test_a_dead_letter_whose_origin_is_in_another_slot_is_not_sent_there(
    cluster: ClusterServers, client: RedisCluster
) -> None:
    # Written as another program could: a dead letter in {sms} naming an origin queue {email}, which
    # another primary serves. Sending it back would need that primary's keys.
    async with Queue("{email}", client) as origin, Queue("{sms}", client) as q:
        await origin.add("mail", {})  # the origin queue exists (its meta key)
        key = q.keys.job("7")
        mark = {"attempts": 1, "deadLetter": {"queue": "{email}", "jobId": "7", "attemptsMade": 1, "failedOn": 1}}
        await client.hset(key, mapping={"name": "mail", "data": "{}", "opts": json.dumps(mark), "timestamp": 1})
        await client.zadd(q.keys.failed, {"7": 1})
        # Its origin is out of reach: it is retried where it is, as a dead letter whose origin is unknown.
        assert await q.retry_jobs(send_back_to=["{email}"]) == 1
        assert (await q.get_job_counts())["wait"] == 1
        assert (await origin.get_job_counts())["wait"] == 1  # the origin's own job only


async def test_a_keyless_call_runs_on_every_primary(cluster: ClusterServers, client: RedisCluster) -> None:
    async with Queue("{email}", client) as q:
        await q.add("send", {})
        sizes = await q._runner.on_nodes(command("DBSIZE"))
        found = await q._runner.on_nodes(command("SCAN", 0, "MATCH", "bull:*:meta", "COUNT", 1000))
        home = _name(cluster.primary_for(q.keys.wait))
        # A cursor goes on on its own node.
        runner = q._runner
        assert isinstance(runner, ClusterRunner)
        rest = await runner.on_node(home, command("SCAN", found[home][0], "COUNT", 1000))
    assert sorted(sizes) == sorted(_name(n) for n in cluster.primaries())
    assert sizes[home] > 0 and all(size == 0 for name, size in sizes.items() if name != home)
    assert [name for name, (_, keys) in found.items() if q.keys.meta in keys] == [home]
    assert rest[0] == "0"


def _name(node: Node) -> str:
    host, port = node.address
    return f"{host}:{port}"


async def test_the_flow_script_refuses_a_job_in_another_slot_before_writing(
    cluster: ClusterServers, client: RedisCluster
) -> None:
    # What FlowProducer refuses, sent to the script all the same: it answers CROSSSLOT and writes nothing.
    now = ops.now_ms()
    tree = {"name": "report", "queue_name": "{email}", "children": [{"name": "text", "queue_name": "{sms}"}]}
    async with Queue("{email}", client) as q:
        with pytest.raises(RedisRefused, match="CROSSSLOT flow job 2"):
            await q._runner.run(add_flow(plan_flow(tree, "bull", now), now))
    assert _keys_on_every_node(cluster) == []
