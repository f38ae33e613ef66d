"""Job schedulers across implementations: a scheduler Node BullMQ made runs on our Worker with the next-run
times Node would give it, ours runs on Node's Worker, each reads the other's, and our cron times are
cron-parser's (which Node BullMQ uses) across daylight-saving changes in several time zones."""

from __future__ import annotations

import asyncio
import itertools
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from board import Job, Queue, Worker
from board.engine.cron import next_fire_ms
from tests.engine.helpers import running
from tests.interop.nodejs import INTEROP, require_node
from tests.support import until

NODE = require_node("Node.js scheduler interop tests")
SCRIPT = Path(__file__).with_name("node_schedulers.js")


async def node(redis_url: str, command: str, *, timeout: float = 20, **args: Any) -> Any:
    """Runs one node_schedulers.js command and returns its JSON result; fails the test on any error."""
    args = {"timeout_ms": int(timeout * 1000) - 1000, **args}
    proc = await asyncio.create_subprocess_exec(
        NODE,
        str(SCRIPT),
        redis_url,
        command,
        "-",
        cwd=INTEROP,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(json.dumps(args).encode()), timeout + 5)
    assert proc.returncode == 0, f"node {command}: {err.decode(errors='replace')[-3000:]}"
    return json.loads(out.decode().strip().splitlines()[-1])


def millis(job_id: str) -> int:
    return int(job_id.rsplit(":", 1)[1])


def runs_of(ids: list[str], scheduler_id: str) -> list[int]:
    return sorted(millis(i) for i in ids if i.startswith(f"repeat:{scheduler_id}:"))


async def cron_parser_chain(redis_url: str, pattern: str, tz: str, times: list[int]) -> list[int]:
    """For each run time, the next time cron-parser gives."""
    cases = [{"pattern": pattern, "tz": tz, "from": t} for t in times]
    found: list[int] = await node(redis_url, "next", cases=cases)
    return found


async def test_a_node_scheduler_runs_on_our_worker_with_nodes_times(redis_url: str, qname: str) -> None:
    await node(
        redis_url,
        "upsert",
        queue=qname,
        id="cron",
        repeat={"pattern": "*/1 * * * * *", "tz": "America/New_York"},
        template={"name": "c", "data": {"from": "node"}, "opts": {"attempts": 2}},
    )
    await node(redis_url, "upsert", queue=qname, id="every", repeat={"every": 300}, template={"name": "e"})
    seen: list[Job] = []

    async def work(job: Job) -> None:
        seen.append(job)

    async with Queue(qname, redis_url) as queue:
        async with running(Worker(qname, work, redis_url, concurrency=2)):
            await until(lambda: len([j for j in seen if j.name == "c"]) >= 3, timeout=10, what="3 cron runs")
        mine = {s.id: s for s in await queue.get_job_schedulers()}
    ids = [j.id for j in seen]
    assert len(ids) == len(set(ids))
    assert all(j.data == {"from": "node"} and j.opts["attempts"] == 2 for j in seen if j.name == "c")
    cron_runs = runs_of(ids, "cron")
    assert cron_runs[1:] == (await cron_parser_chain(redis_url, "*/1 * * * * *", "America/New_York", cron_runs))[:-1]
    every_runs = runs_of(ids, "every")
    # On Node's grid: a run taken late is followed by the next slot of the grid, never off it.
    assert len(every_runs) >= 4 and all((b - a) % 300 == 0 for a, b in itertools.pairwise(every_runs))
    assert mine["cron"].problems == {} and mine["cron"].tz == "America/New_York"
    assert mine["every"].every_ms == 300 and mine["every"].problems == {}
    # Node reads back what our worker left: one next run each, counted.
    theirs = {s["key"]: s for s in await node(redis_url, "schedulers", queue=qname)}
    next_cron = mine["cron"].next_run_ms
    assert next_cron is not None and theirs["cron"]["next"] == next_cron > cron_runs[-1]
    assert theirs["every"]["iterationCount"] == mine["every"].iteration_count == len(every_runs) + 1


async def test_our_scheduler_runs_on_nodes_worker(redis_url: str, qname: str) -> None:
    tz = "Europe/Berlin"
    async with Queue(qname, redis_url) as queue:
        await queue.upsert_job_scheduler(
            "cron", cron="*/1 * * * * *", tz=tz, name="c", data={"from": "python"}, options={"attempts": 2}
        )
        # Starting once Node's worker is up: a run taken late is followed by the next slot, not by a backlog.
        start = datetime.now(UTC) + timedelta(seconds=1.2)
        await queue.upsert_job_scheduler("every", every=0.3, name="e", limit=4, start=start)
        theirs = {s["key"]: s for s in await node(redis_url, "schedulers", queue=qname)}
        assert theirs["cron"]["pattern"] == "*/1 * * * * *" and theirs["cron"]["tz"] == tz
        assert theirs["cron"]["template"] == {"data": {"from": "python"}, "opts": {"attempts": 2}}
        assert theirs["every"]["every"] == 300 and theirs["every"]["limit"] == 4
        result = await node(redis_url, "work", queue=qname, duration_ms=3200, timeout=20)
        mine = {s.id: s for s in await queue.get_job_schedulers()}
    assert result["errors"] == []
    ids = [p["id"] for p in result["processed"]]
    assert len(ids) == len(set(ids))
    every_runs = runs_of(ids, "every")
    assert len(every_runs) == 4 and all((b - a) % 300 == 0 for a, b in itertools.pairwise(every_runs))
    cron_runs = runs_of(ids, "cron")
    assert len(cron_runs) >= 2
    assert [next_fire_ms("*/1 * * * * *", t, tz) for t in cron_runs[:-1]] == cron_runs[1:]
    assert mine["cron"].next_run_ms == next_fire_ms("*/1 * * * * *", cron_runs[-1], tz)
    assert all(p["data"] == {"from": "python"} for p in result["processed"] if p["name"] == "c")
    assert mine["every"].iteration_count == 4


async def test_schedulers_read_and_removed_across_implementations(redis_url: str, qname: str) -> None:
    await node(redis_url, "upsert", queue=qname, id="n", repeat={"pattern": "0 9 * * *", "tz": "Asia/Tokyo"})
    async with Queue(qname, redis_url) as queue:
        # Node removes a next run from delayed only: start later, so that it waits there.
        await queue.upsert_job_scheduler("p", every=60, data={"x": 1}, start=datetime.now(UTC) + timedelta(hours=1))
        node_made = await queue.get_job_scheduler("n")
        assert node_made is not None and node_made.pattern == "0 9 * * *" and node_made.problems == {}
        due = node_made.next_run_ms
        assert due is not None and due == next_fire_ms("0 9 * * *", due - 86_400_000, "Asia/Tokyo")
        assert await queue.remove_job_scheduler("n") is True
        assert (await node(redis_url, "remove", queue=qname, id="p"))["removed"] is True
        assert await queue.count_job_schedulers() == 0
        assert await queue.get_job_counts("delayed", "wait") == {"delayed": 0, "wait": 0}


# Cron times, compared with cron-parser ------------------------------------------------------------------------

PATTERNS = [
    "0 2 * * *",
    "30 2 * * *",
    "0 3 * * *",
    "15 1,2,3 * * *",
    "0 * * * *",
    "*/30 * * * *",
    "0 9 * * 1-5",
    "0 0 1 * *",
    "*/20 * * * * *",
]
ZONES = ["Europe/Berlin", "America/New_York", "Europe/London", "Asia/Kolkata", "UTC"]
# Just before the 2025 changes of those zones, and an ordinary day.
AROUND = ["2025-03-08T22:00:00Z", "2025-03-29T22:00:00Z", "2025-10-25T21:00:00Z", "2025-11-01T22:00:00Z"]


async def test_cron_times_are_cron_parsers_across_daylight_saving(redis_url: str) -> None:
    starts = []
    for text in AROUND:
        base = datetime.fromisoformat(text.replace("Z", "+00:00"))
        starts += [round((base + timedelta(minutes=17 * i)).timestamp() * 1000) for i in range(0, 40)]
    starts.append(round(datetime(2025, 6, 1, 12, 0, 7, 500000, tzinfo=UTC).timestamp() * 1000))
    grid = [(p, z, t) for p in PATTERNS for z in ZONES for t in starts]
    theirs = await node(redis_url, "next", cases=[{"pattern": p, "tz": z, "from": t} for p, z, t in grid], timeout=60)
    ours = [next_fire_ms(p, t, z) for p, z, t in grid]
    differ = [(case, t, o) for case, t, o in zip(grid, theirs, ours, strict=True) if t != o]
    assert not differ, f"{len(differ)} of {len(grid)} differ, e.g. {differ[:3]}"
