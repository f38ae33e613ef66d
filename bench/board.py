"""The board benchmark: the board's pages side by side with Bull Board 9.10's, on the same Redis, in one run.

    python bench/board.py [--only overview,page,browser,memory] [--queues 201,1000] [--jobs 200000]
                          [--requests 60] [--loads 5] [--clients 30] [--seconds 30] [--poll-every 5]
    python bench/board.py --quick   # 201 queues, 20,000 jobs, 30 requests, 3 loads, 10 s of load

Starts its own Redis (no persistence) on a free loopback port and fills it: ``max(--queues) - 1`` small
queues holding a few jobs in every state (active, completed and failed written directly, waiting,
delayed and prioritized added through ``Queue.add_bulk``), and one queue ``big`` holding ``--jobs``
completed jobs, written by a Lua script inside Redis (``--fill pipeline``: pipelined HSET/ZADD from
here instead, much slower). An overview of N queues shows ``big`` and the first N - 1 small ones.

Both dashboards serve the same queues from child processes on free loopback ports, with no login: the
board (uvicorn, ``create_board`` without auth) and Bull Board (``bench/bull_board.js``: Express,
@bull-board/express 9.10 over BullMQ 6.7 from tests/interop's node_modules; skipped, saying why, when
``node`` or those packages are missing: ``make interop`` installs them). The parts (``--only``):

* overview: the board's overview page (HTML) and its htmx poll (the ``#queues`` fragment), each against
  Bull Board's poll ``GET /api/queues?page=1&jobsPerPage=10``, at each ``--queues`` size;
* page: on the board of the first size, a page of ``--per-page`` completed jobs of ``big`` (the page,
  its htmx poll, and a deep page) against ``GET /api/queues?activeQueue=big&status=completed&...``, and
  one job's page against ``GET /api/queues/big/<id>``;
* browser: headless Chromium (Playwright, Debian's /usr/bin/chromium) loads each dashboard's overview
  and queue page ``--loads`` times, each load in a new context (cold: no cache) and in one kept context
  (warm); the time from navigation start to the content laid out in the page (every queue, every
  job row: counted on a first load) is taken inside the page, the same way for both;
* memory: fresh servers for the first size, ``--clients`` threads polling the overview (one request
  every ``--poll-every`` s each, 0: back to back) for ``--seconds`` s; the server process's RSS at the
  start, every 5 s and at the end, and the latency of the answers.

Requests go one at a time over one keep-alive HTTP/1.1 connection per dashboard (the board's cookies
kept, as a browser would), ``--warmup`` first, then ``--requests`` timed ones per side, in ``--rounds``
rounds that alternate between the two dashboards, so that both see the same noise. The figures:

* server p50/p95: time inside the app, measured the same way on both sides: a middleware around the ASGI
  app here, one in front of Bull Board's Express router there (to the response's last byte handed to
  the socket); the client, the HTTP parsing and the network are left out; client p50: the whole exchange
  as the client sees it;
* Redis commands: ``CONFIG RESETSTAT`` before each round, ``INFO commandstats`` after, summed and divided
  by the requests; this counts each EVALSHA and the commands run inside the script (``--breakdown``
  lists them per command). The board's Redis round trips (calls of ``AsyncRunner._exchange``, patched in
  its process) are listed below the table.

A board can also be served alone: ``python bench/board.py serve <redis-url> <port> <queue>[,<queue>...]``
(``GET /__bench/stats`` returns the samples recorded since the previous call, and forgets them);
``node bench/bull_board.js <redis-url> <port> <queue>[,<queue>...]`` does the same for Bull Board.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import http.client
import json
import logging
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from html import unescape
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
BULL_BOARD_JS = ROOT / "bench" / "bull_board.js"
INTEROP = ROOT / "tests" / "interop"
NODE_PACKAGES = ("bullmq", "express", "@bull-board/api", "@bull-board/express")
PARTS = ("overview", "page", "browser", "memory")
# Keep-alive connections outlive the pauses between rounds and parts (servers default to about 5 s).
KEEP_ALIVE_S = 120

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
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        timeout_keep_alive=KEEP_ALIVE_S,
    )
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


# Both servers


@dataclass
class Server:
    name: str  # "board" or "Bull Board"
    port: int
    process: subprocess.Popen[bytes]

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss_mb(self) -> float:
        """The process's resident set size, from /proc (Linux)."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError(f"no VmRSS for {self.name} (pid {self.process.pid})")


def bull_board_missing() -> str | None:
    """Why Bull Board cannot run here, or None when it can."""
    if shutil.which("node") is None:
        return "`node` is not on PATH"
    missing = [p for p in NODE_PACKAGES if not (INTEROP / "node_modules" / p / "package.json").is_file()]
    if missing:
        return f"tests/interop/node_modules lacks {', '.join(missing)} (run `make interop`)"
    return None


def launch(name: str, command: list[str]) -> Server:
    port = free_port()
    process = subprocess.Popen([part.replace("{port}", str(port)) for part in command], stdout=subprocess.DEVNULL)
    return Server(name, port, process)


def wait_ready(server: Server, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited at start ({server.process.returncode})")
        try:
            probe = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
            probe.request("GET", "/healthz")
            status = probe.getresponse().status
            probe.close()
            if status == 200:
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{server.name} did not answer on port {server.port} within {timeout:g} s")
        time.sleep(0.05)


def stop(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@contextlib.contextmanager
def serving(url: str, queues: list[str], bull: bool, connections: str = "shared") -> Iterator[list[Server]]:
    """The board, and Bull Board when ``bull``, serving ``queues``: started side by side, stopped at the end."""
    names = ",".join(queues)
    commands = [("board", [sys.executable, str(Path(__file__).resolve()), "serve", url, "{port}", names])]
    if bull:
        commands.append(("Bull Board", ["node", str(BULL_BOARD_JS), url, "{port}", names, connections]))
    servers: list[Server] = []
    try:
        for name, command in commands:
            servers.append(launch(name, command))
        for server in servers:
            wait_ready(server)
        yield servers
    finally:
        for server in servers:
            stop(server)


# Client side


class Client:
    """One keep-alive HTTP/1.1 connection that keeps the cookies the server sets, as a browser does."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.cookies: dict[str, str] = {}
        self.headers: http.client.HTTPMessage | None = None  # the last response's

    def _exchange(self, path: str, headers: dict[str, str]) -> tuple[http.client.HTTPResponse, bytes]:
        self.conn.request("GET", path, headers=headers)
        response = self.conn.getresponse()
        return response, response.read()

    def get(self, path: str, headers: dict[str, str]) -> tuple[int, bytes, float]:
        sent = dict(headers)
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        start = time.perf_counter()
        try:
            response, body = self._exchange(path, sent)
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            # The server closed the idle connection: again on a new one, as a browser would.
            self.conn.close()
            start = time.perf_counter()
            response, body = self._exchange(path, sent)
        ms = (time.perf_counter() - start) * 1000
        self.headers = response.headers
        for header in response.headers.get_all("set-cookie") or []:
            jar: SimpleCookie = SimpleCookie()
            jar.load(header)
            for morsel in jar.values():
                self.cookies[morsel.key] = morsel.value
        return response.status, body, ms

    def samples(self) -> list[list[Any]]:
        """The server's samples since the previous call: [path, ms, status, (round trips, calls)]."""
        status, body, _ = self.get(STATS_PATH, {"Accept": JSON})
        if status != 200:
            raise RuntimeError(f"{STATS_PATH} answered {status}")
        return [s for s in json.loads(body) if s[0] != STATS_PATH]

    def close(self) -> None:
        self.conn.close()


Check = Callable[[Client], "str | None"]
Prepare = Callable[[Client], dict[str, str]]


@dataclass
class Target:
    """One request, as one dashboard is asked it."""

    server: Server
    path: str
    headers: dict[str, str]
    check: Check | None = None  # run once after the warm-up: what is wrong, or None
    prepare: Prepare | None = None  # run once before the warm-up: headers to add
    statuses: tuple[int, ...] = (200,)  # the answers expected


@dataclass
class Measured:
    server_ms: list[float] = field(default_factory=list)
    client_ms: list[float] = field(default_factory=list)
    size: int = 0
    requests: int = 0
    round_trips: int = 0  # the board's only
    calls: int = 0  # the board's only: top-level calls, each pipelined command or EVALSHA counts one
    commands: collections.Counter[str] = field(default_factory=collections.Counter)
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)

    def per_request(self, total: float) -> float:
        return total / self.requests if self.requests else 0.0


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


def expect(path: str, accept: str, found: Callable[[Any], Any], want: Any, what: str) -> Check:
    """A check: the JSON answer to ``path`` holds ``want`` where ``found`` looks."""

    def check(client: Client) -> str | None:
        status, body, _ = client.get(path, {"Accept": accept})
        if status != 200:
            return f"{path}: HTTP {status}"
        got = found(json.loads(body))
        return None if got == want else f"{path}: expected {want!r} {what}, got {got!r}"

    return check


class Runner:
    """The clients of one set of servers, and the interleaved measurement of requests across them."""

    def __init__(self, stats: redis.Redis, warmup: int, rounds: int) -> None:
        self.stats = stats
        self.warmup = warmup
        self.rounds = rounds
        self.clients: dict[int, Client] = {}

    def client(self, server: Server) -> Client:
        if server.port not in self.clients:
            self.clients[server.port] = Client(server.port)
        return self.clients[server.port]

    def close(self) -> None:
        for client in self.clients.values():
            client.close()

    def warm(self, target: Target) -> None:
        client = self.client(target.server)
        if target.prepare is not None:
            target.headers = {**target.headers, **target.prepare(client)}
        for _ in range(max(1, self.warmup)):
            status, body, _ = client.get(target.path, target.headers)
            if status not in target.statuses:
                raise RuntimeError(f"{target.server.name} {target.path}: HTTP {status}: {body[:300]!r}")
        problem = target.check(client) if target.check else None
        if problem:
            raise RuntimeError(f"{target.server.name} {problem}")

    def run(self, target: Target, requests: int, into: Measured) -> None:
        client = self.client(target.server)
        client.samples()  # forget what came before
        self.stats.config_resetstat()
        for _ in range(requests):
            status, body, ms = client.get(target.path, target.headers)
            if status not in target.statuses:
                raise RuntimeError(f"{target.server.name} {target.path}: HTTP {status}")
            into.statuses[status] += 1
            into.client_ms.append(ms)
            into.size += len(body)
        into.commands.update(command_calls(self.stats))
        samples = client.samples()
        if len(samples) != requests:
            raise RuntimeError(f"{target.server.name} recorded {len(samples)} requests, expected {requests}")
        into.requests += requests
        into.server_ms.extend(float(s[1]) for s in samples)
        into.round_trips += sum(int(s[3]) for s in samples if len(s) > 3)
        into.calls += sum(int(s[4]) for s in samples if len(s) > 4)

    def compare(self, targets: list[Target], requests: int) -> list[Measured]:
        """``requests`` timed requests per target, in rounds alternating between the targets."""
        for target in targets:
            self.warm(target)
        results = [Measured() for _ in targets]
        rounds = max(1, min(self.rounds, requests))
        for r in range(rounds):
            for target, result in zip(targets, results, strict=True):
                self.run(target, requests // rounds + (r < requests % rounds), result)
        return results


# The table


@dataclass
class Figure:
    label: str
    board: float | None
    bull: float | None
    digits: int = 1


@dataclass
class Report:
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def section(self, title: str) -> None:
        self.figures.append(Figure(title, None, None, -1))

    def requests(self, label: str, measured: list[Measured], breakdown: bool) -> None:
        """The rows of one request pair: the board's answer first, Bull Board's second (when it ran)."""
        ours, theirs = measured[0], (measured[1] if len(measured) > 1 else None)

        def both(value: Callable[[Measured], float], what: str, digits: int = 1) -> None:
            bull = value(theirs) if theirs is not None else None
            self.figures.append(Figure(f"{label}: {what}", value(ours), bull, digits))

        both(lambda m: percentile(m.server_ms, 50), "server p50, ms", 2)
        both(lambda m: percentile(m.server_ms, 95), "server p95, ms", 2)
        both(lambda m: percentile(m.client_ms, 50), "client p50, ms", 2)
        both(lambda m: m.per_request(sum(m.commands.values())), "Redis commands/req")
        both(lambda m: m.per_request(m.size) / 1024, "response KB")
        answers = "; ".join(
            f"{who} answered " + ", ".join(f"{code} x{n}" for code, n in sorted(m.statuses.items()))
            for who, m in (("board", ours), ("Bull Board", theirs))
            if m is not None and set(m.statuses) != {200}
        )
        self.notes.append(
            f"{label}: the board made {ours.per_request(ours.round_trips):g} Redis round trips "
            f"({ours.per_request(ours.calls):g} top-level calls) per request" + (f"; {answers}" if answers else "")
        )
        if breakdown:
            for who, m in (("board", ours), ("Bull Board", theirs)):
                if m is not None:
                    parts = ", ".join(f"{k} {m.per_request(v):g}" for k, v in m.commands.most_common())
                    self.notes.append(f"  {who}: {parts}")

    def print(self) -> None:
        width = max((len(f.label) for f in self.figures if f.digits >= 0), default=10) + 2
        header = f"{'figure':{width}}{'board':>12}{'Bull Board':>12}{'board/Bull Board':>18}"
        print(header)
        print("-" * len(header))
        for f in self.figures:
            if f.digits < 0:
                print(f"{f.label}")
                continue
            ratio = f"{f.board / f.bull:.2f}" if f.board is not None and f.bull else "-"
            print(f"{f.label:{width}}{show(f.board, f.digits):>12}{show(f.bull, f.digits):>12}{ratio:>18}")
        print()
        for note in self.notes:
            print(note)


def show(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


# The parts


@dataclass
class Settings:
    sizes: list[int]
    jobs: int
    requests: int
    warmup: int
    rounds: int
    per_page: int
    deep_page: int
    loads: int
    clients: int
    seconds: float
    poll_every: float
    memory_poll: str  # "changed": whole answers; "unchanged": the headers of a poll after one
    breakdown: bool
    bull: bool  # whether Bull Board runs
    connections: str  # Bull Board's queues: "shared" connection or one "per-queue"

    @property
    def job_id(self) -> str:
        return str(self.jobs // 2)

    def requests_at(self, queues: int) -> int:
        """Fewer requests for the bigger overviews: each costs about as much as its queues."""
        return min(self.requests, max(20, self.requests * 250 // queues))


def page_of(settings: Settings, page: int = 1) -> tuple[str, str]:
    """The board's and Bull Board's URLs of one page of completed jobs of the big queue."""
    per_page = settings.per_page
    ours = f"/queues/{BIG}?state=completed&per_page={per_page}" + (f"&page={page}" if page > 1 else "")
    theirs = f"/api/queues?activeQueue={BIG}&status=completed&page={page}&jobsPerPage={per_page}"
    return ours, theirs


BULL_OVERVIEW = "/api/queues?page=1&jobsPerPage=10"


def htmx(path: str, target: str) -> dict[str, str]:
    """The headers of htmx's poll of ``target`` on page ``path``, as the browser sends them."""
    return {"Accept": "*/*", "HX-Request": "true", "HX-Current-URL": path, "HX-Target": target, "HX-Trigger": target}


def bull_jobs(doc: Any) -> int:
    return next((len(q["jobs"]) for q in doc["queues"] if q["name"] == BIG), -1)


def seen_headers(page: str, target: str) -> Prepare:
    """What htmx adds to its poll of ``#target``: the element's hx-headers on the page at ``page`` (the board
    then answers 204 while what the page shows is unchanged); nothing when it has none."""

    def prepare(client: Client) -> dict[str, str]:
        status, body, _ = client.get(page, {"Accept": HTML})
        tag = re.search(rf"<[^>]*\sid=\"{re.escape(target)}\"[^>]*>", body.decode()) if status == 200 else None
        if tag is None:
            raise RuntimeError(f"board {page}: HTTP {status}, no element #{target} to poll")
        found = re.search(r"hx-headers=(?:'([^']*)'|\"([^\"]*)\")", tag.group(0))
        if found is None:
            return {}
        return {str(k): str(v) for k, v in json.loads(unescape(found.group(1) or found.group(2))).items()}

    return prepare


def etag_of(path: str) -> Prepare:
    """What a browser adds to its next poll of ``path``: If-None-Match with the ETag of the last answer."""

    def prepare(client: Client) -> dict[str, str]:
        client.get(path, {"Accept": JSON})
        etag = client.headers.get("etag") if client.headers is not None else None
        return {"If-None-Match": etag} if etag else {}

    return prepare


def polls(ours: Target, theirs: list[Target], target: str) -> list[tuple[str, list[Target]]]:
    """The two polls of a page: after a change (the whole answer) and when nothing changed, where the
    board is sent the page's hx-headers (204 when it can tell) and Bull Board the ETag (304, as the
    browser gets it: it computes the whole answer all the same)."""
    changed = [Target(ours.server, ours.path, htmx(ours.path, target)), *theirs]
    same = [
        Target(ours.server, ours.path, htmx(ours.path, target), None, seen_headers(ours.path, target), (200, 204)),
        *(Target(t.server, t.path, t.headers, None, etag_of(t.path), (200, 304)) for t in theirs),
    ]
    return [("htmx poll, changed", changed), ("htmx poll, unchanged", same)]


def overview_part(runner: Runner, servers: list[Server], n: int, settings: Settings, report: Report) -> None:
    count_queues = expect("/", JSON, lambda doc: len(doc["queues"]), n, "queues")
    count_theirs = expect(BULL_OVERVIEW, JSON, lambda d: len(d["queues"]), n, "queues")
    ours = Target(servers[0], "/", {"Accept": HTML}, count_queues)
    bull = [Target(b, BULL_OVERVIEW, {"Accept": JSON}, count_theirs) for b in servers[1:]]
    requests = settings.requests_at(n)
    report.section(f"overview, {n:,} queues ({requests} requests a side); Bull Board: GET {BULL_OVERVIEW}")
    report.requests(f"overview {n:,} q, page (HTML)", runner.compare([ours, *bull], requests), settings.breakdown)
    for label, pair in polls(ours, bull, "queues"):
        report.requests(f"overview {n:,} q, {label}", runner.compare(pair, requests), settings.breakdown)


def assets_kb(client: Client, path: str) -> tuple[float, float]:
    """The JS and the CSS the entry page at ``path`` names, in KB (loopback only: others are left out)."""
    from urllib.parse import urljoin

    status, body, _ = client.get(path, {"Accept": HTML})
    if status != 200:
        raise RuntimeError(f"{path}: HTTP {status}")
    html = body.decode()
    base_href = re.search(r"<base\s[^>]*href=\"([^\"]*)\"", html)
    base = urljoin(path, base_href.group(1)) if base_href else path
    scripts = re.findall(r"<script\b[^>]*\ssrc=\"([^\"]+)\"", html)
    sheets = [
        href.group(1)
        for tag in re.findall(r"<link\b[^>]*>", html)
        if re.search(r"rel=\"stylesheet\"", tag) and (href := re.search(r"href=\"([^\"]+)\"", tag))
    ]
    sizes = []
    for urls in (scripts, sheets):
        total = 0
        for url in urls:
            if re.match(r"^[a-z]+:", url):
                continue  # not served by the dashboard
            status, data, _ = client.get(urljoin(base, url), {"Accept": "*/*"})
            total += len(data) if status == 200 else 0
        sizes.append(total / 1024)
    return sizes[0], sizes[1]


def assets_part(runner: Runner, servers: list[Server], report: Report) -> None:
    found = [assets_kb(runner.client(s), "/") for s in servers]
    bull = found[1] if len(found) > 1 else (None, None)
    report.figures.append(Figure("entry page's JS (script src), KB", found[0][0], bull[0]))
    report.figures.append(Figure("entry page's CSS (stylesheets), KB", found[0][1], bull[1]))


def page_part(runner: Runner, servers: list[Server], settings: Settings, report: Report) -> None:
    ours, bull = servers[0], servers[1:]
    per_page, jobs = settings.per_page, settings.jobs
    deep = max(2, min(settings.deep_page, jobs // per_page))
    report.section(f"queue '{BIG}' ({jobs:,} completed jobs), {per_page} a page ({settings.requests} requests a side)")
    for label, page in ((f"page 1 of {per_page}", 1), (f"page {deep:,} of {per_page}", deep)):
        path, theirs = page_of(settings, page)
        count = expect(path, JSON, lambda doc: len(doc["jobs"]), per_page, "jobs")
        bull_count = expect(theirs, JSON, bull_jobs, per_page, "jobs")
        them = [Target(b, theirs, {"Accept": JSON}, bull_count) for b in bull]
        page_target = Target(ours, path, {"Accept": HTML}, count)
        measured = runner.compare([page_target, *them], settings.requests)
        report.requests(f"{label}, page (HTML)", measured, settings.breakdown)
        for poll, pair in polls(page_target, them, "live") if page == 1 else []:
            report.requests(f"{label}, {poll}", runner.compare(pair, settings.requests), settings.breakdown)
    job = settings.job_id
    ours_job, theirs_job = f"/queues/{BIG}/jobs/{job}", f"/api/queues/{BIG}/{job}"
    check = expect(ours_job, JSON, lambda doc: str(doc.get("id")), job, "id")
    bull_check = expect(theirs_job, JSON, lambda doc: str(doc.get("job", {}).get("id")), job, "id")
    them = [Target(b, theirs_job, {"Accept": JSON}, bull_check) for b in bull]
    measured = runner.compare([Target(ours, ours_job, {"Accept": HTML}, check), *them], settings.requests)
    report.requests(f"job {job}, page (HTML) / Bull Board's job JSON", measured, settings.breakdown)


# Browser


# Records, inside the page, when `want` elements matching `sel` are in the document and laid out (a box on
# the screen): performance.now() counts from the navigation's start, so the time holds the request, the
# scripts, the data and the rendering alike, measured the same way for both dashboards.
CONTENT_JS = """
(() => {
  const sel = %s, want = %d;
  let observer;
  const check = () => {
    const found = document.querySelectorAll(sel);
    if (found.length >= want && found[0].getClientRects().length > 0) {
      window.__benchContent = performance.now();
      observer.disconnect();
    }
  };
  observer = new MutationObserver(check);
  observer.observe(document, { childList: true, subtree: true });
})();
"""
# What a page loaded (decoded bytes, by initiator): the document, scripts, stylesheets, data.
WEIGHT_JS = """
() => {
  const out = { document: performance.getEntriesByType('navigation')[0].decodedBodySize };
  for (const e of performance.getEntriesByType('resource')) {
    out[e.initiatorType] = (out[e.initiatorType] || 0) + e.decodedBodySize;
  }
  return out;
}
"""
# Nothing leaves the machine: Bull Board's page names a web font on fonts.googleapis.com.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]


def find_chromium() -> str | None:
    """Debian's Chromium, as tests/browser finds it."""
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    return shutil.which("chromium")


@dataclass
class View:
    """One page of one dashboard, and the elements that show its content has arrived."""

    server: Server
    path: str
    selector: str
    want: int = 1
    settings_js: str = ""  # run before the page's own scripts (Bull Board keeps its settings in localStorage)


def views(servers: list[Server], per_page: int) -> dict[str, list[View]]:
    ours, bull = servers[0], servers[1:]
    # Bull Board's page size is the browser's setting, persisted by zustand under "board-settings".
    setting = json.dumps({"state": {"jobsPerPage": per_page}, "version": 2})
    settings_js = f"localStorage.setItem('board-settings', {json.dumps(setting)});"
    page = f"/queues/{BIG}?state=completed&per_page={per_page}"
    return {
        "overview": [
            View(ours, "/", "#queues [data-queue]"),
            *(View(b, "/", 'main [class*="queueCard-"]') for b in bull),
        ],
        f"queue page ({per_page} rows)": [
            View(ours, page, "table.jobs tbody tr"),
            *(View(b, f"/queue/{BIG}?status=completed", 'main [class*="jobId-"]', 1, settings_js) for b in bull),
        ],
    }


def new_context(browser: Any, view: View, with_content: bool) -> Any:
    context = browser.new_context(locale="en-US", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    if view.settings_js:
        context.add_init_script(view.settings_js)
    if with_content:
        context.add_init_script(CONTENT_JS % (json.dumps(view.selector), view.want))
    return context


def first_load(browser: Any, view: View) -> dict[str, int]:
    """Loads the page once, lets it settle, and sets ``view.want`` to the elements it then shows."""
    context = new_context(browser, view, with_content=False)
    try:
        page = context.new_page()
        page.goto(view.server.base + view.path)
        page.wait_for_selector(view.selector, state="visible")
        page.wait_for_timeout(1500)  # the SPA's lazy chunks and its second poll
        view.want = page.locator(view.selector).count()
        return {str(k): int(v) for k, v in page.evaluate(WEIGHT_JS).items()}
    finally:
        context.close()


def timed_load(context: Any, view: View) -> float:
    page = context.new_page()
    try:
        page.goto(view.server.base + view.path, wait_until="commit")
        page.wait_for_function("() => window.__benchContent !== undefined")
        return float(page.evaluate("window.__benchContent"))
    finally:
        page.close()


def load_times(browser: Any, pair: list[View], loads: int, cold: bool) -> list[list[float]]:
    """``loads`` timed loads of each view, alternating; cold: each in a new context (no cache)."""
    times: list[list[float]] = [[] for _ in pair]
    kept = [] if cold else [new_context(browser, view, with_content=True) for view in pair]
    try:
        for context, view in zip(kept, pair, strict=False):
            timed_load(context, view)  # fills the cache
        for _ in range(loads):
            for i, view in enumerate(pair):
                if cold:
                    context = new_context(browser, view, with_content=True)
                    try:
                        times[i].append(timed_load(context, view))
                    finally:
                        context.close()
                else:
                    times[i].append(timed_load(kept[i], view))
    finally:
        for context in kept:
            context.close()
    return times


def browser_page(browser: Any, name: str, pair: list[View], loads: int, report: Report) -> None:
    weights = [first_load(browser, view) for view in pair]
    for cold in (True, False):
        medians = [statistics.median(t) for t in load_times(browser, pair, loads, cold)]
        label = f"{name}, {'cold (new context)' if cold else 'warm (cached)'}: to content, ms"
        report.figures.append(Figure(label, medians[0], medians[1] if len(medians) > 1 else None, 0))
    kb = [sum(w.values()) / 1024 for w in weights]
    js = [w.get("script", 0) / 1024 for w in weights]
    bull = (kb[1], js[1]) if len(kb) > 1 else (None, None)
    report.figures.append(Figure(f"{name}: bytes loaded (decoded), KB", kb[0], bull[0]))
    report.figures.append(Figure(f"{name}: of which JS, KB", js[0], bull[1]))
    shown = "; ".join(f"{v.server.name} {v.want} x {v.selector}" for v in pair)
    report.notes.append(f"browser, {name}: content = {shown}")


def browser_part(servers: list[Server], settings: Settings, report: Report) -> None:
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        report.notes.append(f"browser: skipped, Playwright is not installed ({exc})")
        return
    executable = find_chromium()
    if executable is None:
        report.notes.append("browser: skipped, no Chromium (/usr/bin/chromium or `chromium` on the PATH)")
        return
    report.section(f"browser: navigation start to content laid out, median of {settings.loads} loads")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            for name, pair in views(servers, settings.per_page).items():
                print(f"browser: {name}", file=sys.stderr)
                try:
                    browser_page(browser, name, pair, settings.loads, report)
                except PlaywrightError as exc:  # a page whose content never shows: say so, go on
                    first = str(exc).splitlines()[0]
                    report.notes.append(
                        f"browser, {name}: not measured ({first}; selectors: {[v.selector for v in pair]})"
                    )
        finally:
            browser.close()


# Memory under load


@dataclass
class Load:
    rss: list[tuple[float, float]] = field(default_factory=list)  # (s since the start, MB)
    fresh_mb: float = 0.0  # before any request
    client_ms: list[float] = field(default_factory=list)
    server_ms: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0


def poller(
    port: int, path: str, headers: dict[str, str], first: float, every: float, done: threading.Event, into: Load
) -> None:
    """One client: a request every ``every`` s (back to back when 0), from ``first`` until ``done``."""
    client = Client(port)
    next_at = first
    try:
        while not done.is_set():
            delay = next_at - time.monotonic()
            if delay > 0 and done.wait(delay):
                break
            try:
                status, _, ms = client.get(path, headers)
            except OSError as exc:
                into.errors.append(repr(exc))
                client.close()
                client = Client(port)
                continue
            if status in (200, 204, 304):
                into.client_ms.append(ms)
            else:
                into.errors.append(f"HTTP {status}")
            next_at = max(next_at + every, time.monotonic())
    finally:
        client.close()


def poll_load(server: Server, path: str, headers: dict[str, str], settings: Settings) -> Load:
    load = Load(fresh_mb=server.rss_mb())
    warm = Client(server.port)
    for _ in range(max(1, settings.warmup)):
        warm.get(path, headers)
    warm.samples()
    done = threading.Event()
    start = time.monotonic()
    threads = [
        threading.Thread(
            target=poller,
            args=(
                server.port,
                path,
                headers,
                start + settings.poll_every * i / settings.clients,
                settings.poll_every,
                done,
                load,
            ),
            daemon=True,
        )
        for i in range(settings.clients)
    ]
    load.rss.append((0.0, server.rss_mb()))
    for thread in threads:
        thread.start()
    while (elapsed := time.monotonic() - start) < settings.seconds:
        time.sleep(min(5.0 - elapsed % 5.0, settings.seconds - elapsed))
        if (at := time.monotonic() - start) < settings.seconds - 0.5:  # the last one comes after the load
            load.rss.append((at, server.rss_mb()))
    done.set()
    for thread in threads:
        thread.join(130)
    load.seconds = time.monotonic() - start
    load.rss.append((load.seconds, server.rss_mb()))
    load.server_ms = [float(s[1]) for s in warm.samples()]
    warm.close()
    return load


def memory_part(servers: list[Server], n: int, settings: Settings, report: Report) -> None:
    every = f"a poll every {settings.poll_every:g} s each" if settings.poll_every else "back to back"
    report.section(
        f"memory: {settings.clients} clients polling the {n:,}-queue overview for {settings.seconds:g} s, {every}"
        f" (htmx poll, {settings.memory_poll})"
    )
    loads: list[Load] = []
    polls = [
        ("/", htmx("/", "queues"), seen_headers("/", "queues")),
        (BULL_OVERVIEW, {"Accept": JSON}, etag_of(BULL_OVERVIEW)),
    ]
    for server, (path, headers, prepare) in zip(servers, polls, strict=False):
        print(f"memory: {server.name}", file=sys.stderr)
        if settings.memory_poll == "unchanged":
            client = Client(server.port)
            headers = {**headers, **prepare(client)}
            client.close()
        loads.append(poll_load(server, path, headers, settings))

    def both(value: Callable[[Load], float], label: str, digits: int = 1) -> None:
        bull = value(loads[1]) if len(loads) > 1 else None
        report.figures.append(Figure(label, value(loads[0]), bull, digits))

    both(lambda m: m.fresh_mb, "RSS fresh (before any request), MB")
    both(lambda m: m.rss[0][1], "RSS at the start of the load, MB")
    both(lambda m: max(mb for _, mb in m.rss), "RSS max (every 5 s), MB")
    both(lambda m: m.rss[-1][1], "RSS at the end, MB")
    both(lambda m: len(m.client_ms) / m.seconds, "answers/s")
    both(lambda m: percentile(m.client_ms, 50), "answer p50 (client), ms")
    both(lambda m: percentile(m.client_ms, 99), "answer p99 (client), ms")
    both(lambda m: percentile(m.server_ms, 99), "server p99, ms")
    for server, m in zip(servers, loads, strict=False):
        series = ", ".join(f"{t:.0f} s {mb:.1f}" for t, mb in m.rss)
        errors = f"; {len(m.errors)} errors, first: {m.errors[0]}" if m.errors else ""
        report.notes.append(f"memory, {server.name}: RSS MB at {series}{errors}")


# Main


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(PARTS), help=f"parts to run, comma-separated: {','.join(PARTS)}")
    parser.add_argument("--quick", action="store_true", help="201 queues, 20,000 jobs, 30 requests, 3 loads, 10 s")
    parser.add_argument("--queues", help="overview sizes, counting 'big', comma-separated (default 201,1000)")
    parser.add_argument("--jobs", type=int, help="completed jobs in the big queue (default 200,000)")
    parser.add_argument("--requests", type=int, help="timed requests per side and request (default 60)")
    parser.add_argument("--warmup", type=int, default=10, help="untimed requests before each request's rounds")
    parser.add_argument("--rounds", type=int, default=5, help="rounds alternating between the dashboards")
    parser.add_argument("--per-page", type=int, default=50, choices=(10, 25, 50, 100))
    parser.add_argument("--deep-page", type=int, default=2_000, help="capped at the last page")
    parser.add_argument("--loads", type=int, help="browser loads per page and cache state (default 5)")
    parser.add_argument("--clients", type=int, default=30, help="concurrent clients of the memory part")
    parser.add_argument("--seconds", type=float, help="length of the memory part's load (default 30)")
    parser.add_argument(
        "--poll-every",
        type=float,
        default=5.0,
        help="seconds between a client's polls in the memory part (default 5, both dashboards' default; 0: none)",
    )
    parser.add_argument(
        "--memory-poll",
        choices=("changed", "unchanged"),
        default="changed",
        help="the memory part's polls: whole answers (default, queues that keep moving), or nothing changed",
    )
    parser.add_argument("--fill", choices=("lua", "pipeline"), default="lua", help="how to write the big queue")
    parser.add_argument("--no-bull-board", action="store_true", help="measure the board alone")
    parser.add_argument(
        "--bull-board-connections",
        choices=("shared", "per-queue"),
        default="shared",
        help="Bull Board's queues on one shared Redis connection (default: Bull Board at its fastest), or each "
        "opening its own, as BullMQ's and Bull Board's examples set them up",
    )
    parser.add_argument("--breakdown", action="store_true", help="also list the Redis commands of each request")
    return parser.parse_args()


def settings_of(args: argparse.Namespace, bull: bool) -> Settings:
    quick = args.quick
    return Settings(
        sizes=[int(n) for n in (args.queues or ("201" if quick else "201,1000")).split(",")],
        jobs=args.jobs or (20_000 if quick else 200_000),
        requests=args.requests or (30 if quick else 60),
        warmup=args.warmup,
        rounds=args.rounds,
        per_page=args.per_page,
        deep_page=args.deep_page,
        loads=args.loads or (3 if quick else 5),
        clients=args.clients,
        seconds=args.seconds or (10 if quick else 30),
        poll_every=args.poll_every,
        memory_poll=args.memory_poll,
        breakdown=args.breakdown,
        bull=bull,
        connections=args.bull_board_connections,
    )


def fill(url: str, stats: redis.Redis, queues: int, settings: Settings, how: str, report: Report) -> list[str]:
    """Fills Redis with ``queues`` - 1 small queues and the big one; returns the small queues' names."""
    small = [f"queue-{i:03d}" for i in range(queues - 1)]
    print(f"filling {len(small)} small queues and {settings.jobs:,} completed jobs ...", file=sys.stderr)
    started = time.perf_counter()
    fill_small(url, small)
    small_s = time.perf_counter() - started
    fill_s = fill_big(url, settings.jobs, how)
    report.notes.insert(
        0,
        f"filled: {len(small)} small queues (17 jobs each) in {small_s:.1f} s; queue '{BIG}': {settings.jobs:,} "
        f"completed jobs in {fill_s:.1f} s ({how}); Redis memory {stats.info('memory')['used_memory_human']}",
    )
    return small


def run(url: str, stats: redis.Redis, parts: set[str], settings: Settings, report: Report, how: str) -> None:
    # Only the overview part goes past the first size.
    most = max(settings.sizes) if "overview" in parts else settings.sizes[0]
    small = fill(url, stats, most, settings, how, report)

    def queues(n: int) -> list[str]:
        return [*small[: n - 1], BIG]

    first = settings.sizes[0]
    for n in settings.sizes if "overview" in parts else settings.sizes[:1]:
        if not parts & {"overview", "page"}:
            break
        with serving(url, queues(n), settings.bull, settings.connections) as servers:
            runner = Runner(stats, settings.warmup, settings.rounds)
            try:
                if "overview" in parts:
                    overview_part(runner, servers, n, settings, report)
                    if n == first:
                        assets_part(runner, servers, report)
                if "page" in parts and n == first:
                    page_part(runner, servers, settings, report)
            finally:
                runner.close()
    if "browser" in parts:
        with serving(url, queues(first), settings.bull, settings.connections) as servers:
            browser_part(servers, settings, report)
    if "memory" in parts:
        with serving(url, queues(first), settings.bull, settings.connections) as servers:
            memory_part(servers, first, settings, report)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "serve":
        url, port, names = sys.argv[2], int(sys.argv[3]), sys.argv[4]
        serve(url, port, [n for n in names.split(",") if n])
        return
    args = parse_args()
    parts = {p.strip() for p in args.only.split(",") if p.strip()}
    if parts - set(PARTS):
        raise SystemExit(f"--only: unknown part(s) {', '.join(sorted(parts - set(PARTS)))}; known: {', '.join(PARTS)}")
    missing = "--no-bull-board" if args.no_bull_board else bull_board_missing()
    settings = settings_of(args, bull=missing is None)
    report = Report()
    if missing:
        report.notes.append(f"Bull Board: not run ({missing}); the board alone")
    with RedisServer() as server:
        stats = redis.Redis.from_url(server.url, decode_responses=True)
        version = str(stats.info("server")["redis_version"])
        try:
            run(server.url, stats, parts, settings, report, args.fill)
        finally:
            stats.close()
    anchor = ""
    if settings.bull:
        node = subprocess.run(["node", "--version"], capture_output=True, text=True).stdout.strip()
        anchor = f", Node {node} (Express 5, @bull-board/express 9.10, BullMQ 6.7; {settings.connections} connections)"
    print(
        f"Redis {version}, Python {platform.python_version()} (uvicorn, h11){anchor}, {os.cpu_count()} CPUs; "
        f"{settings.warmup} warm-up requests, then timed ones in {settings.rounds} rounds alternating between the "
        "dashboards, one keep-alive connection each"
    )
    print()
    report.print()


if __name__ == "__main__":
    main()
