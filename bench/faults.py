"""The fault bench: how board's engine rides out Redis trouble and dying workers.

    python bench/faults.py [--rate 200] [--fault-seconds 5]

Starts its own Redis (append-only, so that a restart keeps the data) on a free loopback port. For each
fault it runs two worker processes (concurrency 10, 10 s locks, stalled checks every 2 s, jobs of 20 ms)
and a producer adding jobs at a steady rate; the producer sends an add again only when the engine says
it was not written (``RedisUnavailable``, ``RedisRefused``). Each worker writes a line when it starts
and when it completes a job, so that the bench sees every run of every job.

For each fault the table gives:

- resume: from the end of the fault to the first job a worker starts after it;
- all done: from the end of the fault until every add acknowledged by then is completed, its result
  saved (for a killed worker: until its jobs, recovered once their locks ran out, ran elsewhere);
- lost: acknowledged adds that no longer exist; stuck: ones that exist but did not complete;
- twice: jobs whose processor completed more than once;
- errors: errors the workers reported (their ``error`` hook), and what the producer was told.

A worker process alone: ``python bench/faults.py worker <redis-url> <queue> <log file>``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from board import Job, Queue, RedisUnavailable, Worker  # noqa: E402
from board.engine import OutcomeUnknown, RedisRefused  # noqa: E402
from board.redis_server import RedisServer  # noqa: E402

# Shorter than the 30 s default, so that recovering a killed worker's jobs fits in the run; still longer
# than the read-only spell, as a lock should be: a result whose lock runs out while Redis refuses to
# save it is lost, and its job runs again.
LOCK_SECONDS = 10
STALLED_SECONDS = 2
SETTLE_SECONDS = 25

# The worker process


async def worker_main(url: str, queue: str, log_path: str) -> None:
    fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def note(kind: str, what: str) -> None:
        # One write per line on an O_APPEND file: lines of both workers never mix.
        os.write(fd, f"{kind} {time.time():.4f} {what}\n".encode())

    async def process(job: Job) -> None:
        note("start", job.id)
        await asyncio.sleep(0.02)
        note("done", job.id)

    worker = Worker(queue, process, url, concurrency=10, lock_duration=LOCK_SECONDS, stalled_interval=STALLED_SECONDS)
    worker.on("error", lambda exc: note("error", type(exc).__name__))
    print("ready", flush=True)
    await worker.run()


# The bench side


@dataclass
class Producer:
    queue: Queue
    rate: float
    acked: list[str] = field(default_factory=list)
    unknown: list[int] = field(default_factory=list)
    told: Counter[str] = field(default_factory=Counter)
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        n = 0
        next_at = time.monotonic()
        while not self.stop.is_set():
            try:
                job = await self.queue.add("job", {"n": n})
            except (RedisUnavailable, RedisRefused) as exc:
                # Not written: the same add goes again.
                self.told[type(exc).__name__] += 1
                await asyncio.sleep(0.05)
                continue
            except OutcomeUnknown:
                # May or may not exist: not sent again, and not counted as acknowledged.
                self.told["OutcomeUnknown"] += 1
                self.unknown.append(n)
                n += 1
                continue
            self.acked.append(job.id)
            n += 1
            next_at += 1 / self.rate
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))


@dataclass
class Runs:
    starts: list[tuple[float, str]] = field(default_factory=list)
    done: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)


def read_runs(paths: list[Path]) -> Runs:
    runs = Runs()
    for path in paths:
        if not path.exists():
            continue
        for line in path.read_text().splitlines():
            kind, at, what = line.split(" ", 2)
            if kind == "start":
                runs.starts.append((float(at), what))
            elif kind == "done":
                runs.done[what] += 1
            else:
                runs.errors[what] += 1
    return runs


@dataclass
class Workers:
    url: str
    queue: str
    folder: Path
    procs: list[asyncio.subprocess.Process] = field(default_factory=list)
    logs: list[Path] = field(default_factory=list)

    async def start(self, count: int) -> None:
        for i in range(count):
            log = self.folder / f"{self.queue}-{i}.log"
            stderr = (self.folder / f"{self.queue}-{i}.err").open("wb")
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                __file__,
                "worker",
                self.url,
                self.queue,
                str(log),
                stdout=asyncio.subprocess.PIPE,
                stderr=stderr,
            )
            stderr.close()
            assert proc.stdout is not None
            line = await asyncio.wait_for(proc.stdout.readline(), 30)
            assert line.strip() == b"ready", line
            self.procs.append(proc)
            self.logs.append(log)

    async def stop(self) -> None:
        for proc in self.procs:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                await asyncio.wait_for(proc.wait(), 40)
            except TimeoutError:
                proc.kill()
                await proc.wait()


@dataclass
class Result:
    fault: str
    resume: float | None
    all_done: float | None
    acked: int
    lost: int
    stuck: int
    twice: int
    worker_errors: Counter[str]
    producer_told: Counter[str]
    note: str = ""


@dataclass
class Bench:
    server: RedisServer
    folder: Path
    rate: float
    fault_seconds: float
    raw: redis.Redis = field(init=False)

    def __post_init__(self) -> None:
        self.raw = redis.Redis(port=self.server.port, decode_responses=True)

    async def scenario(self, name: str, fault: Callable[[Workers], Awaitable[float]]) -> Result:
        qname = "faults-" + "-".join(name.split()).replace(".", "")
        workers = Workers(self.server.url, qname, self.folder)
        await workers.start(2)
        queue = Queue(qname, self.server.url)
        producer = Producer(queue, self.rate)
        producing = asyncio.create_task(producer.run())
        await asyncio.sleep(1.0)
        ended = await fault(workers)
        backlog = set(producer.acked)
        await asyncio.sleep(3.0)
        producer.stop.set()
        await producing
        acked = set(producer.acked)
        deadline = time.monotonic() + SETTLE_SECONDS
        while time.monotonic() < deadline:
            if acked <= set(self.raw.zrange(f"bull:{qname}:completed", 0, -1)):
                break
            await asyncio.sleep(0.05)
        runs = read_runs(workers.logs)
        # Saved, not just run: a result that waited for Redis counts from when it was saved.
        scored: list[tuple[str, float]] = self.raw.zrange(f"bull:{qname}:completed", 0, -1, withscores=True)  # type: ignore[assignment]
        saved = dict(scored)
        backlog_saved = [saved[job_id] / 1000 for job_id in backlog if job_id in saved]
        all_done = None
        if len(backlog_saved) == len(backlog):
            all_done = max(0.0, max(backlog_saved, default=ended) - ended)
        completed = set(self.raw.zrange(f"bull:{qname}:completed", 0, -1))
        missing = acked - completed
        lost = sum(1 for job_id in missing if not self.raw.exists(f"bull:{qname}:{job_id}"))
        after = [at for at, _ in runs.starts if at > ended]
        note = ""
        if producer.unknown:
            written = self.written(qname, set(producer.unknown))
            note = (
                f"{len(producer.unknown)} add(s) with an unknown outcome (sent as Redis went down): "
                f"{written} had been written and ran once, none was sent again"
            )
        if name == "bad job hash":
            reason = str(self.raw.hget(f"bull:{qname}:bad", "failedReason"))
            state = "failed" if self.raw.zscore(f"bull:{qname}:failed", "bad") is not None else "not failed"
            note = f"the bad job: {state} ({reason})"
        await workers.stop()
        await queue.pause()
        await queue.obliterate(force=True)
        await queue.close()
        return Result(
            fault=name,
            resume=(min(after) - ended) if after else None,
            all_done=all_done,
            acked=len(acked),
            lost=lost,
            stuck=len(missing) - lost,
            twice=sum(1 for count in runs.done.values() if count > 1),
            worker_errors=runs.errors,
            producer_told=producer.told,
            note=note,
        )

    def written(self, qname: str, payloads: set[int]) -> int:
        pipe = self.raw.pipeline(transaction=False)
        ids: list[str] = self.raw.zrange(f"bull:{qname}:completed", 0, -1)  # type: ignore[assignment]
        for job_id in ids:
            pipe.hget("bull:" + qname + ":" + job_id, "data")
        return sum(1 for data in pipe.execute() if data and json.loads(data)["n"] in payloads)

    # Faults: each returns the time (time.time()) at which it ended.

    async def restart(self, workers: Workers) -> float:
        await asyncio.to_thread(self.server.stop)
        await asyncio.sleep(1.0)
        await asyncio.to_thread(self.server.start)
        self.raw = redis.Redis(port=self.server.port, decode_responses=True)
        return time.time()

    async def out_of_memory(self, workers: Workers) -> float:
        self.raw.config_set("maxmemory-policy", "noeviction")
        self.raw.config_set("maxmemory", "1")
        await asyncio.sleep(self.fault_seconds)
        self.raw.config_set("maxmemory", "0")
        return time.time()

    async def read_only(self, workers: Workers) -> float:
        with RedisServer() as spare:
            other = redis.Redis(port=spare.port, decode_responses=True)
            self.raw.config_set("repl-diskless-sync-delay", 0)
            other.replicaof("127.0.0.1", self.server.port)
            await until_synced(other)
            # Writes wait while the spare catches up, so that the swap loses none of them.
            self.raw.execute_command("CLIENT", "PAUSE", 10_000, "WRITE")
            while other.info("replication")["master_repl_offset"] != self.raw.info("replication")["master_repl_offset"]:
                await asyncio.sleep(0.005)
            other.replicaof("NO", "ONE")
            self.raw.replicaof("127.0.0.1", spare.port)
            self.raw.execute_command("CLIENT", "UNPAUSE")
            await until_synced(self.raw)
            await asyncio.sleep(self.fault_seconds)
            self.raw.replicaof("NO", "ONE")
            ended = time.time()
            other.close()
        return ended

    async def kill_worker(self, workers: Workers) -> float:
        victim = workers.procs[0]
        victim.send_signal(signal.SIGKILL)
        await victim.wait()
        return time.time()

    async def bad_job(self, workers: Workers) -> float:
        key = f"bull:{workers.queue}:bad"
        self.raw.hset(
            key,
            mapping={
                "name": "bad",
                "data": "{}",
                "opts": '{"attempts":3}',
                "timestamp": int(time.time() * 1000),
                "delay": 0,
                "priority": 0,
                "ats": "abc",
            },
        )
        self.raw.rpush(f"bull:{workers.queue}:wait", "bad")
        self.raw.zadd(f"bull:{workers.queue}:marker", {"0": 0})
        return time.time()


async def until_synced(replica: redis.Redis) -> None:
    deadline = time.monotonic() + 10
    while replica.info("replication").get("master_link_status") != "up":
        if time.monotonic() > deadline:
            raise RuntimeError("the replica did not sync")
        await asyncio.sleep(0.01)


def _seconds(value: float | None) -> str:
    return "never" if value is None else f"{value:.2f} s"


def _counts(counter: Counter[str]) -> str:
    return ", ".join(f"{n} {name}" for name, n in counter.most_common()) or "none"


def print_table(results: list[Result], rate: float, fault_seconds: float) -> None:
    print(
        f"\nfaults: 2 worker processes (concurrency 10, {LOCK_SECONDS} s locks, stalled checks every "
        f"{STALLED_SECONDS} s, 20 ms jobs), a producer at {rate:g} adds/s; OOM and read-only last "
        f"{fault_seconds:g} s, the restart keeps Redis down 1 s\n"
    )
    header = ("fault", "resume", "all done", "acked", "lost", "twice", "stuck", "worker errors", "producer was told")
    rows = [
        (
            r.fault,
            _seconds(r.resume),
            _seconds(r.all_done),
            str(r.acked),
            str(r.lost),
            str(r.twice),
            str(r.stuck),
            _counts(r.worker_errors),
            _counts(r.producer_told),
        )
        for r in results
    ]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    for row in (header, tuple("-" * w for w in widths), *rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    for r in results:
        if r.note:
            print(f"\n{r.fault}: {r.note}")


async def bench(rate: float, fault_seconds: float) -> None:
    with tempfile.TemporaryDirectory(prefix="board-faults-") as tmp, RedisServer(appendonly=True) as server:
        b = Bench(server, Path(tmp), rate, fault_seconds)
        results = []
        for name, fault in (
            ("Redis restart", b.restart),
            (f"{fault_seconds:g} s out of memory", b.out_of_memory),
            (f"{fault_seconds:g} s read-only", b.read_only),
            ("worker SIGKILLed", b.kill_worker),
            ("bad job hash", b.bad_job),
        ):
            started = time.monotonic()
            results.append(await b.scenario(name, fault))
            print(f"{name}: measured in {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)
        print_table(results, rate, fault_seconds)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "worker":
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(worker_main(*sys.argv[2:5]))
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=200, help="adds per second")
    parser.add_argument("--fault-seconds", type=float, default=5, help="how long OOM and read-only last")
    args = parser.parse_args()
    asyncio.run(bench(args.rate, args.fault_seconds))


if __name__ == "__main__":
    main()
