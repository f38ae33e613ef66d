"""``board demo``: the board on four demo queues that keep moving, with an embedded Redis if none is given.

Producers and workers of the engine run in this process: e-mails (fast, some retried), reports (slow,
with progress and logs, prioritized and delayed), billing (retries with exponential backoff, some final
failures), images (a paused queue that fills up).

A given Redis may hold real queues of the same names: the demo keeps to its own key prefix (its board's
own state beside it, under ``board:`` and that prefix), starts only on a Redis that holds nothing under
them (or deletes what is there when told to with ``--reset``), and deletes every key under them when it
stops. Ctrl-C or SIGTERM stops everything, and removes the embedded
Redis and its folder.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
import signal
import sys
from collections.abc import Iterator
from typing import Any

import redis.asyncio as aredis

from .engine import Job, Queue, RedisUnavailable, UnrecoverableError, Worker
from .engine.urls import shown_url
from .preflight import EXIT_ADDRESS, EXIT_REDIS, CliError, check_port_free, check_redis
from .redis_server import RedisServer

PREFIX = "board-demo"
# The demo's keys: its queues', and its board's own state (sessions, the audit log), which the board keeps
# beside the queues under board:<prefix>:.
PATTERNS = (f"{PREFIX}:*", f"board:{PREFIX}:*")
QUEUES = ("email", "reports", "billing", "images")
USERS = {"admin": ("demo", "admin"), "operator": ("demo", "operator"), "viewer": ("demo", "viewer")}


async def send_email(job: Job) -> dict[str, Any]:
    await asyncio.sleep(random.uniform(0.05, 0.3))
    if random.random() < 0.15:
        raise ConnectionError(f"SMTP server refused {job.data['to']}: 421 try again later")
    return {"delivered": True, "to": job.data["to"]}


async def build_report(job: Job) -> dict[str, Any]:
    pages = int(job.data.get("pages", 5))
    for page in range(1, pages + 1):
        await asyncio.sleep(random.uniform(0.2, 0.6))
        await job.update_progress(round(100 * page / pages))
        await job.log(f"rendered page {page}/{pages}")
    if random.random() < 0.1:
        raise RuntimeError("chart renderer crashed: font 'Inter' not found")
    return {"url": f"https://files.example.com/reports/{job.id}.pdf", "pages": pages}


async def charge(job: Job) -> dict[str, Any]:
    await asyncio.sleep(random.uniform(0.1, 0.4))
    if job.data.get("card") == "declined":
        raise UnrecoverableError("card declined by the issuer (do not retry)")
    if random.random() < 0.4:
        raise TimeoutError("payment gateway timed out after 10 s")
    return {"charged": job.data["amount"], "currency": "EUR"}


async def seed(queues: dict[str, Queue]) -> None:
    email, reports, billing, images = (queues[name] for name in QUEUES)
    await email.add_bulk(
        [{"name": "welcome", "data": {"to": f"user{i}@example.com", "api_token": "tok_demo"}} for i in range(40)]
    )
    await reports.add("monthly-summary", {"month": "2026-10", "pages": 8}, priority=1)
    await reports.add("audit-export", {"pages": 3}, priority=5)
    await reports.add("nightly-rollup", {"pages": 4}, delay=120)
    # A backlog, so that the prioritized tab has jobs waiting in the order they will run.
    await reports.add_bulk(
        [{"name": "customer-export", "data": {"pages": random.randint(3, 8)}, "priority": p} for p in range(2, 12)]
    )
    await billing.add("charge", {"amount": 49, "card": "declined"}, job_id="invoice-1001", attempts=3)
    for n in range(1002, 1010):
        await billing.add(
            "charge",
            {"amount": random.choice((9, 19, 49, 99))},
            job_id=f"invoice-{n}",
            attempts=4,
            backoff={"type": "exponential", "delay": 2},
        )
    await images.pause()
    await images.add_bulk(
        [{"name": "thumbnail", "data": {"image": f"photo-{i}.jpg", "sizes": [64, 256]}} for i in range(25)]
    )


async def produce(queues: dict[str, Queue], stop: asyncio.Event) -> None:
    n = 0
    while not stop.is_set():
        n += 1
        await queues["email"].add("welcome", {"to": f"user{1000 + n}@example.com"}, attempts=3, backoff=1)
        if n % 3 == 0 or (await queues["reports"].get_job_counts("prioritized"))["prioritized"] < 3:
            await queues["reports"].add("on-demand", {"pages": random.randint(2, 6)}, priority=random.randint(1, 10))
        if n % 5 == 0:
            await queues["billing"].add(
                "charge",
                {"amount": random.choice((9, 19, 49)), "password": "not-shown-on-the-board"},
                attempts=3,
                backoff={"type": "exponential", "delay": 1},
            )
        if n % 4 == 0:
            await queues["reports"].add("scheduled", {"pages": 2}, delay=random.randint(20, 90))
        if n % 2 == 0:
            await queues["images"].add("thumbnail", {"image": f"upload-{n}.png"})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.5)


@contextlib.contextmanager
def embedded_redis(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    server = RedisServer()
    server.start()
    try:
        yield server.url
    finally:
        server.close()


async def demo_keys(client: aredis.Redis) -> list[bytes]:
    return [key for pattern in PATTERNS async for key in client.scan_iter(match=pattern, count=1000)]


async def remove_demo_keys(client: aredis.Redis) -> int:
    """Deletes every key of the demo (its queues' and its board's); returns how many."""
    removed = 0
    # A later pass catches a write that was in flight during the one before; by the time the demo
    # sweeps, all of it has stopped, so none is expected.
    for _ in range(3):
        keys = await demo_keys(client)
        if not keys:
            break
        for start in range(0, len(keys), 1000):
            removed += int(await client.unlink(*keys[start : start + 1000]))
    return removed


async def claim_prefix(client: aredis.Redis, url: str, reset: bool) -> None:
    """Refuses a Redis that already holds keys under the demo's prefix, unless told to delete them."""

    left = await demo_keys(client)
    if left and not reset:
        raise CliError(
            f"Redis at {shown_url(url)} already holds {len(left)} keys under {PREFIX}: that this demo did not "
            "create (another demo running, or one that was killed): stop that one, or pass --reset "
            "(make demo RESET=1) to delete them"
        )
    if left:
        await remove_demo_keys(client)


async def demo(url: str, host: str, port: int, reset: bool, log_level: str) -> None:

    client = aredis.Redis.from_url(url)
    try:
        await claim_prefix(client, url, reset)
        # From here on, every key under the prefix is this demo's own: all of them go when it stops.
        try:
            await run(url, host, port, log_level)
        finally:
            try:
                removed = await remove_demo_keys(client)
                print(f"board demo: removed its {removed} keys under {PREFIX}:", flush=True)
            except Exception as exc:
                print(
                    f"board demo: could not remove its keys under {PREFIX}: in {shown_url(url)}: {exc}; "
                    "`board demo --reset` removes them",
                    file=sys.stderr,
                    flush=True,
                )
    finally:
        await client.aclose()


async def run(url: str, host: str, port: int, log_level: str) -> None:
    """Seeds the queues, runs producers, workers and the board until SIGINT or SIGTERM, then stops them."""
    import uvicorn

    from .web.app import create_board
    from .web.auth import FormLogin

    queues = {name: Queue(name, url, prefix=PREFIX) for name in QUEUES}
    processors = {"email": send_email, "reports": build_report, "billing": charge, "images": send_email}
    names = {"email": "mailer-1", "reports": "reporter-1", "billing": "billing-1", "images": "thumbnailer-1"}
    concurrency = {"email": 5, "reports": 2, "billing": 2, "images": 1}
    workers = [
        # The demo stops its workers itself, after the web server.
        Worker(
            name,
            processors[name],
            url,
            prefix=PREFIX,
            concurrency=concurrency[name],
            name=names[name],
            handle_signals=False,
            # A day of per-minute counts, for the board's throughput charts.
            metrics={"max_data_points": 1440},
        )
        for name in QUEUES
    ]
    app = create_board(
        url, queues=list(QUEUES), prefix=PREFIX, auth=FormLogin(USERS, secrets.token_urlsafe(32)), title="board demo"
    )
    server = _Server(uvicorn.Config(app, host=host, port=port, log_level=log_level))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def shut_down() -> None:
        stop.set()
        server.should_exit = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, shut_down)
    tasks: list[asyncio.Task[Any]] = []
    try:
        await seed(queues)
        tasks = [asyncio.create_task(w.run()) for w in workers]
        tasks.append(asyncio.create_task(produce(queues, stop)))
        shown = f"[{host}]" if ":" in host else host
        print(f"board demo: http://{shown}:{port}/", flush=True)
        print("log in as admin / demo (also operator / demo and viewer / demo)", flush=True)
        print(f"demo queues under the key prefix {PREFIX}: (removed on exit); Ctrl-C stops it all.", flush=True)
        if not stop.is_set():
            await server.serve()
            if not server.started:
                raise CliError(f"could not serve on {host}:{port}", EXIT_ADDRESS)
    finally:
        stop.set()
        for w in workers:
            # Its keys are deleted right after: a running job has nothing to finish for.
            await w.close(timeout=1)
        await asyncio.gather(*tasks, return_exceptions=True)
        for q in queues.values():
            await q.close()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


class _Server:
    """uvicorn's server without its own signal handling: the demo stops its workers first."""

    def __init__(self, config: Any) -> None:
        import uvicorn

        class Quiet(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self) -> Iterator[None]:
                yield

        self._server = Quiet(config)

    @property
    def started(self) -> bool:
        return bool(self._server.started)

    @property
    def should_exit(self) -> bool:
        return bool(self._server.should_exit)

    @should_exit.setter
    def should_exit(self, value: bool) -> None:
        self._server.should_exit = value

    async def serve(self) -> None:
        await self._server.serve()


def run_demo(url: str | None, *, host: str, port: int, reset: bool, log_level: str) -> int:

    check_port_free(host, port, "--port N (or BOARD_PORT=N, or make demo PORT=N)")
    if url:
        asyncio.run(check_redis(url))
    with embedded_redis(url) as used:
        try:
            asyncio.run(demo(used, host, port, reset, log_level))
        except RedisUnavailable as exc:
            raise CliError(f"the demo lost Redis: {exc}", EXIT_REDIS) from None
    print("board demo stopped", flush=True)
    return 0
