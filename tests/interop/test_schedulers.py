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
from board.engine.cron import check_pattern, check_tz, next_fire_ms
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


async def test_node_schedulers_only_cron_parser_read_before_go_on_under_our_worker(
    redis_url: str, qname: str, raw: Any
) -> None:
    schedulers = {
        "daily": {"pattern": "@daily", "tz": "europe/berlin"},
        "last-friday": {"pattern": "0 12 * * 5L", "tz": "utc"},
        "second-monday": {"pattern": "0 9 * * 1#2", "tz": "UTC+2"},
        "offset": {"pattern": "0 9 * * *", "tz": "UTC-05:30"},
        "hashed": {"pattern": "H 12 * * *"},  # a random minute on each Node worker: not followed here
    }
    for scheduler_id, repeat in schedulers.items():
        # immediately: the first run is due now, for our worker to take.
        await node(redis_url, "upsert", queue=qname, id=scheduler_id, repeat={**repeat, "immediately": True})
    errors: list[BaseException] = []
    taken: dict[str, int] = {}

    async def work(job: Job) -> None:
        taken[job.repeat_job_key or ""] = millis(job.id)

    worker = Worker(qname, work, redis_url, concurrency=5)
    worker.on("error", errors.append)
    async with Queue(qname, redis_url) as queue, running(worker):
        await until(lambda: len(taken) == 5 and errors, timeout=10, what="5 runs and the error")
        await until(lambda: raw.zcard(f"bull:{qname}:delayed") == 4, timeout=5, what="4 next runs")
        mine = {s.id: s for s in await queue.get_job_schedulers()}
    followed = [k for k in schedulers if k != "hashed"]
    cases = [{"pattern": schedulers[k]["pattern"], "tz": schedulers[k]["tz"], "from": taken[k]} for k in followed]
    theirs = await node(redis_url, "next", cases=cases)
    assert [mine[k].next_run_ms for k in followed] == theirs
    assert all(mine[k].problems == {} for k in followed)
    # What is still refused is said, not silently dropped: on the worker's error hook, and on the scheduler.
    assert "scheduler 'hashed' gets no next run from this worker" in str(errors[0])
    assert "stops when one takes its run" in mine["hashed"].problems["pattern"]


async def ran_then_limited(redis_url: str, name: str) -> None:
    """A Node scheduler that ran 6 times on Node, then upserted again by Node with a limit of 3."""
    await node(redis_url, "upsert", queue=name, id="s", repeat={"every": 100}, template={"name": "t"})
    await node(redis_url, "work", queue=name, until_runs=6)
    # Node's upsert starts the runs' count again at 1; the hash's ic keeps counting.
    await node(redis_url, "upsert", queue=name, id="s", repeat={"every": 100, "limit": 3}, template={"name": "t"})


async def test_a_limit_from_a_later_upsert_counts_as_on_node(redis_url: str, qname: str) -> None:
    await ran_then_limited(redis_url, f"{qname}-node")
    on_node = await node(redis_url, "work", queue=f"{qname}-node", duration_ms=1200)
    await ran_then_limited(redis_url, f"{qname}-python")
    ours: list[str] = []

    async def work(job: Job) -> None:
        ours.append(job.id)

    async with running(Worker(f"{qname}-python", work, redis_url)):
        await asyncio.sleep(1.2)
    assert len(on_node["processed"]) == len(ours) == 3


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


# What cron-parser takes: Node's macros, L and #, names, ?, 7 for Sunday, padded fields, zones in any case and
# fixed offsets; and days whose midnight daylight saving skips or repeats.
NODE_PATTERNS = [
    "@daily",
    "@hourly",
    "@weekly",
    "@monthly",
    "@yearly",
    "@weekdays",
    "@weekends",
    "0 12 * * 5L",
    "0 12 * * 1,5L",
    "0 12 * * 5#2",
    "0 12 * * sun#1",
    "0 12 * * 7",
    "0 12 * * 5-7",
    "0 12 * * 5/2",
    "0 12 L * *",
    "0 12 15,L * *",
    "0 12 13 * 5",
    "0 12 1 * 5L",
    "0 12 ? * MON",
    "0 12 * JAN-MAR,jul Mon-Fri",
    "0 12 */1 * 1",
    "0 12 13 * 0-6",
    "30 8 29 2 *",
    "0 5/15 * * * *",
    "* * *",
    "5",
]
MIDNIGHT_ZONES = ["America/Santiago", "America/Havana", "Asia/Beirut", "Atlantic/Azores", "Africa/Cairo"]
MIDNIGHT_PATTERNS = [
    "0 0 * * *",
    "30 0 * * *",
    "0 0,12 * * *",
    "0 23,0 * * *",
    "0 0 * * 0",
    "0 0 1 * *",
    "0 0 1 11 *",
    "0 * * * *",
    "*/20 * * * *",
    "30 23 * * *",
]
# Just before each of those zones' 2025 and 2026 changes.
MIDNIGHT_AROUND = [
    "2025-03-08T12:00:00Z",
    "2025-03-29T12:00:00Z",
    "2025-04-04T12:00:00Z",
    "2025-04-24T12:00:00Z",
    "2025-09-06T12:00:00Z",
    "2025-10-25T12:00:00Z",
    "2025-10-30T12:00:00Z",
    "2025-11-01T12:00:00Z",
    "2026-03-07T12:00:00Z",
    "2026-09-05T12:00:00Z",
    "2026-10-24T12:00:00Z",
    "2026-10-31T12:00:00Z",
]


def ours_or_none(pattern: str, tz: str | None, after: int) -> int | None:
    """Our next time as a worker works it out for a run Node made; None where we refuse the run."""
    try:
        check_pattern(pattern, any_fields=True)
        if tz is not None:
            check_tz(tz, host=True)
    except ValueError:
        return None
    return next_fire_ms(pattern, after, tz)


async def compare_with_cron_parser(redis_url: str, grid: list[tuple[str, str | None, int]]) -> None:
    theirs = await node(redis_url, "next", cases=[{"pattern": p, "tz": z, "from": t} for p, z, t in grid], timeout=90)
    ours = [ours_or_none(p, z, t) for p, z, t in grid]
    differ = [(case, t, o) for case, t, o in zip(grid, theirs, ours, strict=True) if t != o]
    assert not differ, f"{len(differ)} of {len(grid)} differ, e.g. {differ[:3]}"


async def test_what_cron_parser_takes_fires_as_cron_parser_fires_it(redis_url: str) -> None:
    starts = [round(datetime(2025, 1, 1, tzinfo=UTC).timestamp() * 1000) + i * 7_777_777_777 // 10 for i in range(8)]
    zones: list[str | None] = [None, "utc", "europe/berlin", "AMERICA/NEW_YORK", "UTC+2", "UTC-05:30", "local"]
    grid = [(p, z, t) for p in NODE_PATTERNS for z in zones for t in starts]
    # And what both refuse.
    grid += [(p, "UTC", starts[0]) for p in ("0 12 * * L", "0 12 * * 0,7", "0 12 15W * *", "0 0 30 2 *", "@DAILY")]
    grid += [("0 9 * * *", z, starts[0]) for z in ("Mars/Olympus", "GMT+2", "+02:00", "UTC+02:5")]
    await compare_with_cron_parser(redis_url, grid)


async def test_days_whose_midnight_daylight_saving_moves_fire_as_cron_parser_fires_them(redis_url: str) -> None:
    starts = []
    for text in MIDNIGHT_AROUND:
        base = datetime.fromisoformat(text.replace("Z", "+00:00"))
        starts += [round((base + timedelta(minutes=53 * i)).timestamp() * 1000) for i in range(0, 40)]
    grid: list[tuple[str, str | None, int]] = [
        (p, z, t) for p in MIDNIGHT_PATTERNS for z in MIDNIGHT_ZONES for t in starts
    ]
    await compare_with_cron_parser(redis_url, grid)
