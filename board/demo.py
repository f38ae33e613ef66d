"""``board demo``: the board on four demo queues that keep moving, with an embedded Redis if none is given.

Producers and workers of the engine run in this process: e-mails (fast, some retried), reports (slow,
with progress and logs, prioritized and delayed), billing (retries with exponential backoff, some final
failures), images (a paused queue that fills up). Ctrl-C stops everything and removes the embedded
Redis and its folder.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import secrets
import signal
from collections.abc import Iterator
from typing import Any

from .engine import Job, Queue, UnrecoverableError, Worker
from .redis_server import RedisServer

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


async def demo(url: str, host: str, port: int, log_level: str) -> None:
    import uvicorn

    from .web.app import create_board
    from .web.auth import FormLogin

    queues = {name: Queue(name, url) for name in QUEUES}
    for q in queues.values():
        # Start from a clean slate, so the demo looks the same every time.
        await q.pause()
        await q.obliterate(force=True)
    await seed(queues)
    workers = [
        # The demo stops its workers itself on Ctrl-C, after the web server.
        Worker("email", send_email, url, concurrency=5, name="mailer-1", handle_signals=False),
        Worker("reports", build_report, url, concurrency=2, name="reporter-1", handle_signals=False),
        Worker("billing", charge, url, concurrency=2, name="billing-1", handle_signals=False),
        Worker("images", send_email, url, name="thumbnailer-1", handle_signals=False),
    ]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(w.run()) for w in workers]
    producer = asyncio.create_task(produce(queues, stop))

    app = create_board(url, queues=list(QUEUES), auth=FormLogin(USERS, secrets.token_urlsafe(32)), title="board demo")
    server = _Server(uvicorn.Config(app, host=host, port=port, log_level=log_level))
    loop = asyncio.get_running_loop()

    def shut_down() -> None:
        stop.set()
        server.should_exit = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, shut_down)
    print(f"board demo: http://{host}:{port}/", flush=True)
    print("log in as admin / demo (also operator / demo and viewer / demo)", flush=True)
    print("Ctrl-C stops it all.", flush=True)
    try:
        await server.serve()
        if not server.started:
            raise OSError(f"could not serve on {host}:{port}")
    finally:
        stop.set()
        await producer
        for w in workers:
            await w.close(timeout=5)
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


def run_demo(args: argparse.Namespace) -> int:
    from .cli import EXIT_ADDRESS, CliError, check_port_free

    check_port_free(args.host, args.port)
    with embedded_redis(args.redis_url) as url:
        try:
            asyncio.run(demo(url, args.host, args.port, args.log_level))
        except OSError as exc:
            raise CliError(str(exc), EXIT_ADDRESS) from None
    print("board demo stopped", flush=True)
    return 0
