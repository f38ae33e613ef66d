"""The board benchmark: what one dashboard page costs, in server time and in Redis work, next to Bull Board.

    python bench/board.py [--queues 10,200] [--jobs 1000000] [--requests 200] [--warmup 20] [--fill lua]
    python bench/board.py --quick        # 1 and 20 queues, 100,000 jobs, 50 requests

Starts its own Redis (no persistence) on a free loopback port and fills it: small queues holding a few
jobs in every state (active, completed and failed written directly, waiting, delayed and prioritized
added through ``Queue.add_bulk``), and one queue ``big`` holding ``--jobs`` completed jobs, written by a
Lua script inside Redis (``--fill pipeline``: pipelined HSET/ZADD from here instead, much slower).

Each board (one per overview size, one for the big queue) runs in a child process, served by uvicorn on
a free loopback port. The client sends its requests one at a time over one keep-alive HTTP/1.1
connection, keeping the cookies the board sets, as a browser would: ``--warmup`` requests, then
``--requests`` timed ones. The figures per request:

* server p50/p95: time inside the ASGI app (a middleware around the board), so the client, the HTTP
  parsing and the network are left out; client p50: the whole exchange as the client sees it;
* round trips: calls of ``AsyncRunner._exchange`` in the server, through which every Redis round trip
  of the engine goes (patched in the child process);
* Redis commands: ``CONFIG RESETSTAT`` before the timed requests, ``INFO commandstats`` after, summed
  and divided by the requests. Like Bull Board's figures, this counts each EVALSHA and the commands run
  inside the script (``--breakdown`` lists them per command).

A board can also be served alone: ``python bench/board.py serve <redis-url> <port> <queue>[,<queue>...]``
(``GET /__bench/stats`` returns the samples recorded since the previous call, and forgets them).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import logging
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# This file is named like the package: put the checkout first, so that ``import board`` finds the package.
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

from board.redis_server import RedisServer, free_port  # noqa: E402

STATS_PATH = "/__bench/stats"
JSON = "application/json"
HTML = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
BIG = "big"
CHUNK = 50_000  # jobs written per Lua call (or per pipeline) when filling the big queue

# Writes `count` jobs with ids first..first+count-1 in one state, the way BullMQ 6 leaves them there.
# A private Redis, not a cluster: the script builds its key names from the queue's key base.
SEED_LUA = """
local base, state = ARGV[1], ARGV[2]
local first, count, now = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local rcall = redis.call
local batch = {}
local function flush()
  if #batch > 0 then
    rcall("ZADD", base .. state, unpack(batch))
    batch = {}
  end
end
local last = first + count - 1
for id = first, last do
  local finished = now - (last - id) * 3
  local processed = finished - 20
  local added = processed - 50
  local data = string.format(
    '{"user":%d,"email":"user%d@example.com","template":"welcome-email","locale":"en-GB"}', id, id)
  local key = base .. id
  if state == "completed" then
    rcall("HSET", key, "name", "send-email", "data", data, "opts", '{"attempts":0}',
      "timestamp", string.format("%d", added), "delay", 0, "priority", 0,
      "processedOn", string.format("%d", processed), "finishedOn", string.format("%d", finished),
      "atm", 1, "ats", 1, "returnvalue", string.format('{"sent":true,"messageId":"m-%d"}', id))
  elseif state == "failed" then
    rcall("HSET", key, "name", "send-email", "data", data, "opts", '{"attempts":1}',
      "timestamp", string.format("%d", added), "delay", 0, "priority", 0,
      "processedOn", string.format("%d", processed), "finishedOn", string.format("%d", finished),
      "atm", 1, "ats", 1, "failedReason", "SMTP 451: try again later",
      "stacktrace", '["Error: SMTP 451: try again later\\\\n    at send (mailer.py:42)"]')
  else -- active
    rcall("HSET", key, "name", "send-email", "data", data, "opts", '{"attempts":3}',
      "timestamp", string.format("%d", added), "delay", 0, "priority", 0,
      "processedOn", string.format("%d", processed), "ats", 1)
    rcall("LPUSH", base .. "active", id)
  end
  if state ~= "active" then
    batch[#batch + 1] = string.format("%d", finished)
    batch[#batch + 1] = id
    if #batch >= 2000 then flush() end
  end
end
flush()
if tonumber(rcall("GET", base .. "id") or "0") < last then rcall("SET", base .. "id", last) end
rcall("HSETNX", base .. "meta", "opts.maxLenEvents", 10000)
return count
"""


# Server side (the child process)


@dataclass
class Counter:
    round_trips: int = 0
    calls: int = 0  # top-level calls: each pipelined command or EVALSHA counts one


def count_round_trips(counter: Counter) -> None:
    """Counts every Redis round trip of the engine: they all go through ``AsyncRunner._exchange``."""
    from board.engine.connection import AsyncRunner

    original = AsyncRunner._exchange

    async def counted(self: AsyncRunner, data: bytes, replies: int) -> list[Any]:
        counter.round_trips += 1
        counter.calls += replies
        return await original(self, data, replies)

    AsyncRunner._exchange = counted  # type: ignore[method-assign]


class Recorder:
    """ASGI middleware: the time spent inside the app and the round trips of each request."""

    def __init__(self, app: Any, counter: Counter) -> None:
        self.app = app
        self.counter = counter
        self.samples: list[tuple[str, float, int, int, int]] = []  # path, ms, status, round trips, calls

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == STATS_PATH:
            body = json.dumps(self.samples).encode()
            self.samples = []
            headers = [(b"content-type", JSON.encode()), (b"content-length", str(len(body)).encode())]
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        status = 0

        async def send_status(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        trips, calls = self.counter.round_trips, self.counter.calls
        start = time.perf_counter()
        await self.app(scope, receive, send_status)
        ms = (time.perf_counter() - start) * 1000
        self.samples.append((scope["path"], ms, status, self.counter.round_trips - trips, self.counter.calls - calls))


def serve(url: str, port: int, queues: list[str]) -> None:
    import uvicorn

    from board.web.app import create_board

    counter = Counter()
    count_round_trips(counter)
    logging.getLogger("board.web").setLevel(logging.ERROR)  # the "no auth configured" warning
    app = Recorder(create_board(url, queues=queues), counter)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="off")
    uvicorn.Server(config).run()


# Filling Redis


def seed(client: redis.Redis, queue: str, state: str, first: int, count: int, now_ms: int) -> None:
    client.eval(SEED_LUA, 0, f"bull:{queue}:", state, first, count, now_ms)


def fill_small(url: str, names: list[str]) -> None:
    """Per queue: 2 active, 5 completed, 3 failed, then 3 waiting, 2 delayed and 2 prioritized jobs."""
    import asyncio

    from board.engine import Queue  # not `from board`: mypy may take this file for the package

    client = redis.Redis.from_url(url)
    now = int(time.time() * 1000)
    for name in names:
        seed(client, name, "active", 1, 2, now)
        seed(client, name, "completed", 3, 5, now)
        seed(client, name, "failed", 8, 3, now)
    client.close()

    async def add(name: str) -> None:
        async with Queue(name, url) as q:
            data = {"to": "ada@example.com", "template": "welcome"}
            await q.add_bulk(
                [{"name": "send-email", "data": data} for _ in range(3)]
                + [{"name": "send-email", "data": data, "delay": 3600} for _ in range(2)]
                + [{"name": "send-email", "data": data, "priority": 5} for _ in range(2)]
            )

    async def add_all() -> None:
        for name in names:
            await add(name)

    asyncio.run(add_all())


def fill_big(url: str, jobs: int, how: str) -> float:
    """``jobs`` completed jobs in queue ``big``; returns the seconds it took."""
    client = redis.Redis.from_url(url)
    now = int(time.time() * 1000)
    start = time.perf_counter()
    if how == "lua":
        for first in range(1, jobs + 1, CHUNK):
            seed(client, BIG, "completed", first, min(CHUNK, jobs - first + 1), now)
    else:
        base = f"bull:{BIG}:"
        for first in range(1, jobs + 1, CHUNK):
            pipe = client.pipeline(transaction=False)
            scores: dict[str, int] = {}
            for i in range(first, min(jobs, first + CHUNK - 1) + 1):
                finished = now - (jobs - i) * 3
                pipe.hset(
                    f"{base}{i}",
                    mapping={
                        "name": "send-email",
                        "data": f'{{"user":{i},"email":"user{i}@example.com","template":"welcome-email",'
                        '"locale":"en-GB"}',
                        "opts": '{"attempts":0}',
                        "timestamp": finished - 70,
                        "delay": 0,
                        "priority": 0,
                        "processedOn": finished - 20,
                        "finishedOn": finished,
                        "atm": 1,
                        "ats": 1,
                        "returnvalue": f'{{"sent":true,"messageId":"m-{i}"}}',
                    },
                )
                scores[str(i)] = finished
            pipe.zadd(f"{base}completed", scores)
            pipe.execute()
        client.set(f"{base}id", jobs)
        client.hsetnx(f"{base}meta", "opts.maxLenEvents", 10000)
    seconds = time.perf_counter() - start
    client.close()
    return seconds


# Client side


class Client:
    """One keep-alive HTTP/1.1 connection that keeps the cookies the board sets, as a browser does."""

    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.cookies: dict[str, str] = {}

    def get(self, path: str, accept: str) -> tuple[int, bytes, float]:
        headers = {"Accept": accept}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        start = time.perf_counter()
        self.conn.request("GET", path, headers=headers)
        response = self.conn.getresponse()
        body = response.read()
        ms = (time.perf_counter() - start) * 1000
        for header in response.headers.get_all("set-cookie") or []:
            jar: SimpleCookie = SimpleCookie()
            jar.load(header)
            for morsel in jar.values():
                self.cookies[morsel.key] = morsel.value
        return response.status, body, ms

    def samples(self) -> list[list[Any]]:
        status, body, _ = self.get(STATS_PATH, JSON)
        if status != 200:
            raise RuntimeError(f"{STATS_PATH} answered {status}")
        return list(json.loads(body))

    def close(self) -> None:
        self.conn.close()


@contextlib.contextmanager
def board_server(url: str, queues: list[str]) -> Any:
    port = free_port()
    cmd = [sys.executable, str(Path(__file__).resolve()), "serve", url, str(port), ",".join(queues)]
    process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the board server exited at start ({process.returncode})")
            try:
                probe = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                probe.request("GET", "/healthz")
                probe.getresponse().read()
                probe.close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the board server did not answer on port {port} within 30 s") from None
                time.sleep(0.05)
        client = Client(port)
        try:
            yield client
        finally:
            client.close()
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class Case:
    request: str
    size: str
    path: str
    accept: str
    anchor: str = ""
    check: Callable[[Any], str | None] | None = None  # the parsed JSON -> what is wrong, or None


@dataclass
class Row:
    case: Case
    server_p50: float
    server_p95: float
    client_p50: float
    round_trips: float
    calls: float
    commands: float
    kbytes: float
    breakdown: dict[str, float] = field(default_factory=dict)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    rank = max(1, round(p / 100 * len(ordered) + 0.5))  # nearest rank, as bench/engine.py
    return ordered[min(rank, len(ordered)) - 1]


def command_calls(stats: redis.Redis) -> dict[str, int]:
    info: dict[str, Any] = stats.info("commandstats")
    calls: dict[str, int] = {}
    for key, value in info.items():
        name = key.removeprefix("cmdstat_")
        if name.split("|")[0] not in ("config", "info"):  # the bench's own CONFIG RESETSTAT and INFO
            calls[name] = int(value["calls"])
    return calls


def measure(client: Client, stats: redis.Redis, case: Case, warmup: int, requests: int) -> Row:
    for i in range(max(1, warmup)):
        status, body, _ = client.get(case.path, case.accept)
        if status != 200:
            raise RuntimeError(f"{case.request} {case.path}: HTTP {status}: {body[:300]!r}")
        if i == 0 and case.accept == JSON and case.check is not None:
            problem = case.check(json.loads(body))
            if problem:
                raise RuntimeError(f"{case.request} {case.path}: {problem}")
    client.samples()  # forget the warm-up
    stats.config_resetstat()
    client_ms: list[float] = []
    size = 0
    for _ in range(requests):
        status, body, ms = client.get(case.path, case.accept)
        if status != 200:
            raise RuntimeError(f"{case.request} {case.path}: HTTP {status}")
        client_ms.append(ms)
        size += len(body)
    calls = command_calls(stats)
    samples = [s for s in client.samples() if s[0] != STATS_PATH]
    if len(samples) != requests:
        raise RuntimeError(f"{case.request}: the server recorded {len(samples)} requests, expected {requests}")
    server_ms = [float(s[1]) for s in samples]
    return Row(
        case,
        server_p50=percentile(server_ms, 50),
        server_p95=percentile(server_ms, 95),
        client_p50=percentile(client_ms, 50),
        round_trips=sum(int(s[3]) for s in samples) / requests,
        calls=sum(int(s[4]) for s in samples) / requests,
        commands=sum(calls.values()) / requests,
        kbytes=size / requests / 1024,
        breakdown={k: v / requests for k, v in sorted(calls.items(), key=lambda kv: -kv[1])},
    )


def expect_queues(n: int) -> Callable[[Any], str | None]:
    def check(doc: Any) -> str | None:
        found = len(doc.get("queues", []))
        return None if found == n else f"expected {n} queues, got {found}"

    return check


def expect_jobs(n: int) -> Callable[[Any], str | None]:
    def check(doc: Any) -> str | None:
        found = len(doc.get("jobs", []))
        return None if found == n else f"expected {n} jobs, got {found}"

    return check


def expect_job(job_id: str) -> Callable[[Any], str | None]:
    def check(doc: Any) -> str | None:
        return None if str(doc.get("id")) == job_id else f"expected job {job_id}, got {doc.get('id')!r}"

    return check


def overview_anchor(queues: int) -> str:
    return f"5 q: 4.5 ms, 80 cmd, 30 rt; at {queues} q ≈{16 * queues:,} cmd, {6 * queues:,} rt"


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        url, port, names = sys.argv[2], int(sys.argv[3]), sys.argv[4]
        serve(url, port, [n for n in names.split(",") if n])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1 and 20 queues, 100,000 jobs, 50 requests")
    parser.add_argument("--queues", help="overview sizes, comma-separated (default 10,200)")
    parser.add_argument("--jobs", type=int, help="completed jobs in the big queue (default 1,000,000)")
    parser.add_argument("--requests", type=int, help="timed requests per row (default 200)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed requests before each row")
    parser.add_argument("--per-page", type=int, default=50, choices=(10, 25, 50, 100))
    parser.add_argument("--deep-page", type=int, default=20_000, help="capped at the last page")
    parser.add_argument("--fill", choices=("lua", "pipeline"), default="lua", help="how to write the big queue")
    parser.add_argument("--breakdown", action="store_true", help="also list the Redis commands of each row")
    args = parser.parse_args()
    sizes = [int(n) for n in (args.queues or ("1,20" if args.quick else "10,200")).split(",")]
    jobs = args.jobs or (100_000 if args.quick else 1_000_000)
    requests = args.requests or (50 if args.quick else 200)
    per_page = args.per_page
    deep = max(1, min(args.deep_page, jobs // per_page))
    job_id = str(jobs // 2)
    small = [f"queue-{i:03d}" for i in range(max(sizes))]

    rows: list[Row] = []
    with RedisServer() as server:
        stats = redis.Redis.from_url(server.url, decode_responses=True)
        version = str(stats.info("server")["redis_version"])
        print(f"filling {len(small)} small queues and {jobs:,} completed jobs ...", file=sys.stderr)
        started = time.perf_counter()
        fill_small(server.url, small)
        small_s = time.perf_counter() - started
        fill_s = fill_big(server.url, jobs, args.fill)
        memory = str(stats.info("memory")["used_memory_human"])

        for n in sizes:
            with board_server(server.url, small[:n]) as client:
                for kind, accept in (("JSON", JSON), ("HTML", HTML)):
                    case = Case(
                        f"overview {kind}",
                        f"{n} queue" + "s" * (n != 1),
                        "/",
                        accept,
                        overview_anchor(n),
                        expect_queues(n),
                    )
                    rows.append(measure(client, stats, case, args.warmup, requests))
                    print(f"done: {case.request}, {case.size}", file=sys.stderr)

        with board_server(server.url, [BIG]) as client:
            pages = [
                ("queue page", 1, f"10/page: 4.4 ms, 102 cmd, 41 rt; {per_page}/page: see ²"),
                ("deep page", deep, "page 5000: 4.5 ms, 102 cmd, 41 rt (10/page)"),
            ]
            for label, page, anchor in pages:
                path = f"/queues/{BIG}?state=completed&per_page={per_page}" + (f"&page={page}" if page > 1 else "")
                for kind, accept in (("JSON", JSON), ("HTML", HTML)):
                    request = f"{label} {kind}" + (f" p.{page:,}" if page > 1 else "")
                    case = Case(request, f"{per_page} of {jobs:,}", path, accept, anchor, expect_jobs(per_page))
                    rows.append(measure(client, stats, case, args.warmup, requests))
                    print(f"done: {case.request}", file=sys.stderr)
            for kind, accept in (("JSON", JSON), ("HTML", HTML)):
                case = Case(
                    f"job page {kind}",
                    f"job {job_id}",
                    f"/queues/{BIG}/jobs/{job_id}",
                    accept,
                    "1.7 ms, 4 cmd, 2 rt",
                    expect_job(job_id),
                )
                rows.append(measure(client, stats, case, args.warmup, requests))
                print(f"done: {case.request}", file=sys.stderr)
        stats.close()

    print(
        f"Redis {version}, Python {platform.python_version()}, uvicorn (h11, asyncio loop), {os.cpu_count()} CPUs; "
        f"{args.warmup} warm-up + {requests} timed requests per row, one keep-alive connection"
    )
    print(
        f"filled: {len(small)} small queue{'s' * (len(small) != 1)} (17 jobs each) in {small_s:.1f} s; "
        f"queue '{BIG}': {jobs:,} completed jobs in {fill_s:.1f} s ({jobs / fill_s:,.0f} jobs/s, {args.fill}); "
        f"Redis memory {memory}"
    )
    print()
    header = (
        f"{'request':24}{'size':>20}{'server p50':>12}{'server p95':>12}{'client p50':>12}"
        f"{'rt/req':>8}{'cmd/req':>9}{'KB':>7}   Bull Board 9.10 (anchor)¹"
    )
    print(header)
    print("-" * (len(header) + 40))
    for row in rows:
        print(
            f"{row.case.request:24}{row.case.size:>20}{row.server_p50:12.2f}{row.server_p95:12.2f}"
            f"{row.client_p50:12.2f}{row.round_trips:8.1f}{row.commands:9.1f}{row.kbytes:7.1f}   {row.case.anchor}"
        )
    print()
    print("times in ms; rt = Redis round trips (AsyncRunner._exchange calls); cmd = Redis commands from INFO")
    print("commandstats, counting each EVALSHA and the commands inside it; KB = response body size.")
    print("¹ Bull Board over BullMQ 6.7, 5 queues, one with 100k completed + 20k failed jobs (anchors/bull-board.md):")
    print("  its times are curl totals with a new connection per request, so compare them with client p50.")
    print("  Overview: 16 commands and 6 round trips per queue (CLIENT LIST once per queue); at 5 queues, 80 and 30.")
    print("  Its queue page request also recomputes every queue's counts (the overview's 80 commands).")
    print(
        "² Bull Board at 50/page: 7.1 ms median; its formula (16·Q + 1 + 2·P commands, 6·Q + 1 + P round trips)"
        " gives 181 commands and 81 round trips at Q=5, P=50."
    )
    if args.breakdown:
        print()
        for row in rows:
            parts = ", ".join(f"{name} {n:g}" for name, n in row.breakdown.items())
            print(f"{row.case.request} ({row.case.size}): top-level calls {row.calls:g}/req; commands/req: {parts}")


if __name__ == "__main__":
    main()
