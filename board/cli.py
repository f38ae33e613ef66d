"""The ``board`` command: ``serve`` the dashboard, run a ``worker`` process, run the ``demo``, or check a
board's ``health``.

Every flag can also come from the environment (``REDIS_URL``, ``BOARD_*``); a flag wins over its variable.
Values are read and checked only once the command line is parsed, so a bad variable never breaks
``--help``, and a bad value of either kind ends in one line on stderr naming it. Users and secrets come
from the environment or a file, never from a flag that would show in ``ps``.

Exit codes: 0 done, 1 failed while running (or unhealthy), 2 bad usage or configuration, 3 Redis
unreachable, 4 address already in use.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import ipaddress
import json
import logging
import os
import signal
import sys
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, NoReturn

from .alerts import AlertConfig, ConfigError, load_file
from .cli_auth import build_auth
from .cli_loop import LOOP_CHOICES, event_loop, loop_factory, loop_name
from .cli_settings import (
    LOG_LEVELS,
    Listen,
    common_settings,
    env,
    environment_name,
    group_delimiter,
    listen_settings,
    log_level,
    logo_url,
    port_number,
    redis_url,
    seconds,
    secret,
    setting,
    switch,
    whole_number,
)
from .demo import run_demo
from .engine.urls import REDIS_URL_FORMS
from .preflight import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    CliError,
    check_port_free,
    check_redis,
)
from .web.queue_config import QueueConfigError, QueueConfigs, load_queue_config

log = logging.getLogger("board")
LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"
# Queues are grouped by their name up to the first dot unless told otherwise.
GROUP_DELIMITER: str | None = "."


class Parser(argparse.ArgumentParser):
    """argparse, with its errors in one line like every other error of the command."""

    def error(self, message: str) -> NoReturn:
        fail(f"{message} (see {self.prog} --help)", EXIT_USAGE)


# serve


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ServeSettings:
    url: str
    prefix: str
    queues: list[str]
    discover: bool
    listen: Listen
    read_only: bool
    title: str
    poll_interval: float
    auth: str
    allow_no_auth: bool
    proxy_headers: bool
    log_level: str
    checks: str | None = None
    alerts: AlertConfig | None = None
    group_delimiter: str | None = GROUP_DELIMITER
    environment: str | None = None
    logo_url: str | None = None
    queue_config: QueueConfigs | None = None
    loop: str = "asyncio"
    workers: int = 1


def alert_rules(path: str) -> AlertConfig:
    """The alert rules and webhooks of the TOML file at ``path``, read before anything starts so that a
    mistake stops the command in one line naming it."""
    try:
        return load_file(path.strip())
    except ConfigError as exc:
        raise ValueError(" ".join(str(exc).split())) from None


def queue_settings(path: str) -> QueueConfigs:
    """The queue settings of the TOML file at ``path``, read before anything starts, like the alert rules."""
    try:
        return load_queue_config(path.strip())
    except QueueConfigError as exc:
        raise ValueError(" ".join(str(exc).split())) from None


def chosen_loop(args: argparse.Namespace) -> str:
    """``asyncio`` or ``uvloop``, from ``--loop`` or ``BOARD_LOOP`` (default auto: uvloop if installed)."""
    return setting(args, "loop", "BOARD_LOOP", None, event_loop) or event_loop("auto")


def serve_settings(args: argparse.Namespace) -> ServeSettings:
    url, prefix = common_settings(args)
    queues = [q.strip() for q in setting(args, "queues", "BOARD_QUEUES", "", str).split(",") if q.strip()]
    return ServeSettings(
        url=url,
        prefix=prefix,
        queues=queues,
        discover=switch(args, "discover", "BOARD_DISCOVER") or not queues,
        listen=listen_settings(args),
        read_only=switch(args, "read_only", "BOARD_READ_ONLY"),
        title=setting(args, "title", "BOARD_TITLE", "board", str),
        poll_interval=setting(args, "poll_interval", "BOARD_POLL_INTERVAL", 5.0, seconds(allow_zero=True)),
        auth=setting(args, "auth", "BOARD_AUTH", "none", str),
        allow_no_auth=switch(args, "allow_no_auth", "BOARD_ALLOW_NO_AUTH"),
        proxy_headers=switch(args, "proxy_headers", "BOARD_PROXY_HEADERS"),
        log_level=setting(args, "log_level", "BOARD_LOG_LEVEL", "info", log_level),
        checks=setting(args, "checks", "BOARD_CHECKS_FILE", None, str.strip) or None,
        alerts=setting(args, "alerts", "BOARD_ALERTS_FILE", None, alert_rules),
        group_delimiter=setting(args, "group_delimiter", "BOARD_GROUP_DELIMITER", GROUP_DELIMITER, group_delimiter),
        environment=setting(args, "environment", "BOARD_ENVIRONMENT", None, environment_name),
        logo_url=setting(args, "logo_url", "BOARD_LOGO_URL", None, logo_url),
        queue_config=setting(args, "queue_config", "BOARD_QUEUE_CONFIG", None, queue_settings),
        loop=chosen_loop(args),
        workers=setting(args, "workers", "BOARD_WORKERS", 1, whole_number(1)),
    )


def serve_auth(settings: ServeSettings) -> Any:
    """The auth backend, or None where serving without one is allowed."""
    auth = build_auth(settings.auth)
    host = settings.listen.host
    if auth is None and not is_loopback(host) and not settings.allow_no_auth:
        raise CliError(
            f"refusing to serve without auth on {host}, which is not a loopback address: set BOARD_AUTH "
            "(basic, form or header) with BOARD_USERS, or pass --allow-no-auth if something in front guards it"
        )
    return auth


def serve_app(settings: ServeSettings, auth: Any) -> tuple[Any, str]:
    """The ASGI app ``board serve`` runs, and the path it lives under."""
    from starlette.applications import Starlette
    from starlette.responses import RedirectResponse
    from starlette.routing import Mount, Route

    from .web.app import create_board

    try:
        board = create_board(
            settings.url,
            queues=settings.queues or None,
            prefix=settings.prefix,
            discover=settings.discover,
            auth=auth,
            read_only=settings.read_only,
            title=settings.title,
            poll_interval=settings.poll_interval,
            secret_key=secret("BOARD_SECRET_KEY"),
            frame_ancestors=env("BOARD_FRAME_ANCESTORS") or None,
            redact_words=[w.strip() for w in (env("BOARD_REDACT_WORDS") or "").split(",") if w.strip()],
            checks=settings.checks,
            alerts=settings.alerts,
            group_delimiter=settings.group_delimiter,
            environment=settings.environment,
            logo_url=settings.logo_url,
            queue_config=settings.queue_config,
        )
    except ValueError as exc:
        raise CliError(str(exc)) from None
    base = settings.listen.base_path
    if not base:
        return board, "/"

    async def to_board(request: Any) -> Any:
        return RedirectResponse(base + "/", status_code=307)

    # A mounted app's lifespan runs only through its host's: the board's runs its alert loop.
    app = Starlette(routes=[Route("/", to_board), Mount(base, app=board)], lifespan=board.router.lifespan_context)
    return app, base + "/"


def worker_app(settings: ServeSettings) -> Any:
    """The app of one process of ``board serve --workers N``, built in that process from its parent's settings
    (uvicorn's app factory; the users and secrets come from the environment, which the process inherits)."""
    logging.basicConfig(level=settings.log_level.upper(), format=LOG_FORMAT)
    app, _ = serve_app(settings, serve_auth(settings))
    return app


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = serve_settings(args)
    asyncio.run(check_redis(settings.url))
    auth = serve_auth(settings)
    host, port = settings.listen.host, settings.listen.port
    # Before the board is built, so that its start-up warnings do not bury this error.
    check_port_free(host, port, "--port N or BOARD_PORT=N")
    # Built here in any case: a mistake in the settings stops the command before any process starts, and
    # the signing key the processes share (when none is configured) is made once, here.
    app, path = serve_app(settings, auth)
    shown = f"[{host}]" if ":" in host else host
    processes = f", {settings.workers} processes" if settings.workers > 1 else ""
    print(f"board serving on http://{shown}:{port}{path} (loop {settings.loop}{processes})", flush=True)
    config = uvicorn.Config(
        app if settings.workers == 1 else partial(worker_app, settings),
        host=host,
        port=port,
        log_level=settings.log_level,
        proxy_headers=settings.proxy_headers,
        forwarded_allow_ips=env("FORWARDED_ALLOW_IPS", "127.0.0.1"),
        server_header=False,
        loop=settings.loop,
        # Given always, so that uvicorn does not take another number from WEB_CONCURRENCY.
        workers=settings.workers,
        factory=settings.workers > 1,
    )
    if settings.workers > 1:
        return serve_processes(config)
    server = uvicorn.Server(config)
    # uvicorn re-raises the signal that stopped it once it has shut down cleanly; with this handler in
    # place a SIGTERM (docker stop) ends in exit code 0 rather than death by signal.
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    server.run()
    return EXIT_OK if server.started else EXIT_FAILED


def serve_processes(config: Any) -> int:
    """``config.workers`` processes on one socket, bound here: uvicorn's supervisor starts them (each builds
    its app with ``worker_app``), replaces one that dies, and stops them all on SIGTERM or SIGINT."""
    from uvicorn.config import STARTUP_FAILURE
    from uvicorn.supervisors import Multiprocess

    supervisor = Multiprocess(config, sockets=[config.bind_socket()])
    supervisor.run()
    # The supervisor gives up when a process fails before it serves: each would fail the same way.
    failed = any(process.exitcode == STARTUP_FAILURE for process in supervisor.processes)
    return EXIT_FAILED if failed else EXIT_OK


# worker


def import_processor(spec: str) -> Callable[..., Any]:
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise CliError(f"processor: expected module:function, got {spec!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise CliError(f"cannot import module {module_name!r}: {exc}") from None
    except Exception as exc:
        raise CliError(f"importing {module_name!r} failed: {type(exc).__name__}: {exc}") from None
    target: Any = module
    for part in attr.split("."):
        target = getattr(target, part, None)
        if target is None:
            raise CliError(f"module {module_name!r} has no {attr!r}")
    if not callable(target):
        raise CliError(f"{spec} is not a function")
    return target  # type: ignore[no-any-return]


def parse_limiter(text: str) -> dict[str, float]:
    try:
        max_jobs, duration = text.split("/")
        return {"max": int(max_jobs), "duration": float(duration)}
    except ValueError:
        raise ValueError(f"expected MAX/SECONDS such as 100/60, got {text!r}") from None


@dataclass(frozen=True)
class WorkerSettings:
    url: str
    prefix: str
    processor: str
    queue: str
    concurrency: int
    limiter: dict[str, float] | None
    name: str | None
    lock_duration: float
    stalled_interval: float
    shutdown_timeout: float
    log_level: str
    metrics_port: int | None = None
    loop: str = "asyncio"


def worker_settings(args: argparse.Namespace) -> WorkerSettings:
    url, prefix = common_settings(args)
    queue = setting(args, "queue", "BOARD_QUEUE", "", str.strip)
    if not queue:
        raise CliError("no queue given: pass --queue NAME or set BOARD_QUEUE")
    return WorkerSettings(
        url=url,
        prefix=prefix,
        processor=args.processor,
        queue=queue,
        concurrency=setting(args, "concurrency", "BOARD_CONCURRENCY", 1, whole_number(1)),
        limiter=setting(args, "limiter", "BOARD_LIMITER", None, parse_limiter),
        name=setting(args, "name", "BOARD_WORKER_NAME", None, str),
        lock_duration=setting(args, "lock_duration", "BOARD_LOCK_DURATION", 30.0, seconds(allow_zero=False)),
        stalled_interval=setting(args, "stalled_interval", "BOARD_STALLED_INTERVAL", 30.0, seconds(allow_zero=False)),
        shutdown_timeout=setting(args, "shutdown_timeout", "BOARD_SHUTDOWN_TIMEOUT", 30.0, seconds(allow_zero=True)),
        log_level=setting(args, "log_level", "BOARD_LOG_LEVEL", "info", log_level),
        metrics_port=setting(args, "metrics_port", "BOARD_WORKER_METRICS_PORT", None, port_number),
        loop=chosen_loop(args),
    )


async def run_worker(settings: WorkerSettings, processor: Callable[..., Any]) -> int:
    from .engine.worker import Worker

    try:
        worker = Worker(
            settings.queue,
            processor,
            settings.url,
            prefix=settings.prefix,
            concurrency=settings.concurrency,
            limiter=settings.limiter,
            lock_duration=settings.lock_duration,
            stalled_interval=settings.stalled_interval,
            name=settings.name,
            shutdown_timeout=settings.shutdown_timeout,
        )
    except ValueError as exc:
        raise CliError(str(exc)) from None
    worker.on("failed", lambda job, error: log.info("job %s failed: %s", job.id, error))
    worker.on("error", lambda error: log.warning("%s", error))
    if settings.metrics_port is not None:
        from .worker_metrics import WorkerMetrics

        metrics = WorkerMetrics()
        metrics.watch(worker)
        check_port_free("0.0.0.0", settings.metrics_port, "--metrics-port N or BOARD_WORKER_METRICS_PORT=N")
        metrics.serve(settings.metrics_port)
        print(f"worker metrics on http://0.0.0.0:{settings.metrics_port}/metrics", flush=True)
    # The loop it runs on, as found, not as asked: what a reader of the log needs to know.
    running_on = loop_name(asyncio.get_running_loop())
    print(
        f"worker for queue {settings.queue!r} running {settings.processor} "
        f"(concurrency {settings.concurrency}, loop {running_on})",
        flush=True,
    )
    await worker.run()
    print("worker stopped", flush=True)
    return EXIT_OK


def cmd_worker(args: argparse.Namespace) -> int:
    settings = worker_settings(args)
    processor = import_processor(settings.processor)
    with asyncio.Runner(loop_factory=loop_factory(settings.loop)) as runner:
        runner.run(check_redis(settings.url))
        return runner.run(run_worker(settings, processor))


# health


def health_url(args: argparse.Namespace) -> str:
    url = setting(args, "url", None, None, str.strip)
    if url is not None:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise CliError(f"--url: expected http://host:port/path/healthz, got {url!r}")
        return url
    listen = listen_settings(args)
    # The address a server listens on for every interface is not one to connect to everywhere.
    host = {"0.0.0.0": "127.0.0.1", "::": "::1", "[::]": "::1"}.get(listen.host, listen.host)
    shown = f"[{host}]" if ":" in host and not host.startswith("[") else host
    probe = "readyz" if getattr(args, "ready", False) else "healthz"
    return f"http://{shown}:{listen.port}{listen.base_path}/{probe}"


def one_line(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _failed_queues(report: Any) -> list[str]:
    """``/readyz``'s failed checks, one per queue."""
    if not isinstance(report, dict):
        return []
    return [
        f"{name}: {', '.join(str(f) for f in entry['failed'])}"
        for name, entry in report.items()
        if isinstance(entry, dict) and isinstance(entry.get("failed"), list) and entry["failed"]
    ]


def unhealthy_reason(status: int, body: bytes) -> str:
    """What the board's answer says is wrong: its failed checks, else its body, else the status."""
    try:
        answer = json.loads(body)
    except ValueError:
        answer = None
    if isinstance(answer, dict):
        checks = answer.get("checks")
        failed = (
            [f"{name}: {state}" for name, state in checks.items() if state != "ok" and name != "queues"]
            if isinstance(checks, dict)
            else []
        )
        failed += _failed_queues(checks.get("queues") if isinstance(checks, dict) else None)
        if failed:
            return "; ".join(failed)
        if answer.get("status"):
            return str(answer["status"])
    text = body.decode("utf-8", "replace").strip()
    if status == 404:
        return "not found (does --base-path or BOARD_BASE_PATH match the board's?)"
    return text if text and "<" not in text else f"HTTP {status}"


def cmd_health(args: argparse.Namespace) -> int:
    import urllib.error
    import urllib.request

    url = health_url(args)
    timeout = setting(args, "timeout", None, 3.0, seconds(allow_zero=False))
    # No proxy: a container's HTTP_PROXY must not carry a check meant for this very host.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(url)
    token = env("BOARD_METRICS_TOKEN")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with opener.open(request, timeout=timeout) as response:
            status, body = response.status, response.read(65536)
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read(65536)
    except (OSError, urllib.error.URLError) as exc:
        reason = getattr(exc, "reason", None) or exc
        if isinstance(reason, TimeoutError):
            reason = f"no answer within {timeout:g} s"
        print(f"unhealthy: cannot connect to {url}: {one_line(str(reason))}", file=sys.stderr)
        return EXIT_FAILED
    if status == 200:
        print("ready" if url.endswith("/readyz") else "healthy")
        return EXIT_OK
    print(f"unhealthy: {url} answered {status}: {one_line(unhealthy_reason(status, body))}", file=sys.stderr)
    return EXIT_FAILED


# demo


def cmd_demo(args: argparse.Namespace) -> int:
    return run_demo(
        redis_url(args, required=False),
        host=setting(args, "host", None, "127.0.0.1", str.strip) or "127.0.0.1",
        port=setting(args, "port", "BOARD_PORT", 8000, port_number),
        reset=bool(args.reset),
        log_level=setting(args, "log_level", "BOARD_LOG_LEVEL", "warning", log_level),
    )


def parser() -> argparse.ArgumentParser:
    """The command line. Defaults are described, not computed: nothing here reads the environment."""
    top = Parser(prog="board", description="Job queues on Redis in BullMQ's format, and their dashboard.")
    sub = top.add_subparsers(dest="command", required=True)

    def redis_flags(p: argparse.ArgumentParser) -> None:
        p.add_argument("--redis-url", help=f"{REDIS_URL_FORMS} (env REDIS_URL)")
        p.add_argument("--prefix", help="key prefix (env BOARD_PREFIX; default bull)")
        p.add_argument("--log-level", help=f"{', '.join(LOG_LEVELS)} (env BOARD_LOG_LEVEL; default info)")

    def listen_flags(p: argparse.ArgumentParser) -> None:
        p.add_argument("--host", help="env BOARD_HOST; default 127.0.0.1")
        p.add_argument("--port", help="env BOARD_PORT; default 8000")
        p.add_argument("--base-path", help="e.g. /admin/queues (env BOARD_BASE_PATH; default /)")

    def loop_flag(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--loop",
            help=f"{'|'.join(LOOP_CHOICES)}: the event loop (env BOARD_LOOP; default auto, uvloop if installed)",
        )

    serve = sub.add_parser("serve", help="serve the dashboard", description="Serve the board on uvicorn.")
    redis_flags(serve)
    which = serve.add_mutually_exclusive_group()
    which.add_argument("--queues", help="comma-separated queue names (env BOARD_QUEUES)")
    which.add_argument(
        "--discover", action="store_true", default=None, help="find every queue under the prefix (env BOARD_DISCOVER)"
    )
    listen_flags(serve)
    serve.add_argument("--read-only", action="store_true", default=None, help="no actions at all (env BOARD_READ_ONLY)")
    serve.add_argument("--title", help="env BOARD_TITLE; default board")
    serve.add_argument("--checks", help="TOML file of per-queue readiness checks for /readyz (env BOARD_CHECKS_FILE)")
    serve.add_argument("--alerts", help="TOML file of alert rules and webhooks (env BOARD_ALERTS_FILE)")
    serve.add_argument(
        "--queue-config",
        help="TOML file of per-queue display names, descriptions, read-only and allow_retries (env BOARD_QUEUE_CONFIG)",
    )
    serve.add_argument(
        "--group-delimiter",
        help="groups queues by their name up to it; none for no groups (env BOARD_GROUP_DELIMITER; .)",
    )
    serve.add_argument("--environment", help="a badge beside the title, e.g. production (env BOARD_ENVIRONMENT)")
    serve.add_argument("--logo-url", help="a logo before the title: /path or data:image URL (env BOARD_LOGO_URL)")
    serve.add_argument("--poll-interval", help="seconds between refreshes, 0 for none (env BOARD_POLL_INTERVAL; 5)")
    serve.add_argument(
        "--auth", choices=["none", "basic", "form", "header"], help="env BOARD_AUTH; users from BOARD_USERS(_FILE)"
    )
    serve.add_argument(
        "--allow-no-auth",
        action="store_true",
        default=None,
        help="serve without auth on a non-loopback address (env BOARD_ALLOW_NO_AUTH)",
    )
    serve.add_argument(
        "--proxy-headers",
        action="store_true",
        default=None,
        help="trust X-Forwarded-* from FORWARDED_ALLOW_IPS (env BOARD_PROXY_HEADERS)",
    )
    serve.add_argument("--workers", help="processes serving the port, sharing one Redis (env BOARD_WORKERS; default 1)")
    loop_flag(serve)
    serve.set_defaults(run=cmd_serve)

    worker = sub.add_parser("worker", help="run a worker process", description="Run a worker until SIGTERM/SIGINT.")
    redis_flags(worker)
    worker.add_argument("processor", help="module:function that processes a job")
    worker.add_argument("--queue", help="env BOARD_QUEUE")
    worker.add_argument("--concurrency", help="jobs at once (env BOARD_CONCURRENCY; default 1)")
    worker.add_argument("--limiter", help="MAX/SECONDS, e.g. 100/60 (env BOARD_LIMITER)")
    worker.add_argument("--name", help="shown on the board (env BOARD_WORKER_NAME)")
    worker.add_argument("--lock-duration", help="seconds (env BOARD_LOCK_DURATION; default 30)")
    worker.add_argument("--stalled-interval", help="seconds (env BOARD_STALLED_INTERVAL; default 30)")
    worker.add_argument("--shutdown-timeout", help="seconds (env BOARD_SHUTDOWN_TIMEOUT; default 30)")
    worker.add_argument(
        "--metrics-port", help="serve Prometheus metrics of this worker on this port (env BOARD_WORKER_METRICS_PORT)"
    )
    loop_flag(worker)
    worker.set_defaults(run=cmd_worker)

    demo = sub.add_parser(
        "demo",
        help="the board on demo queues that keep moving",
        description="Demo queues under the key prefix board-demo, removed on exit, and the board on them.",
    )
    demo.add_argument("--redis-url", help="use this Redis instead of an embedded one (env REDIS_URL is not read)")
    demo.add_argument("--host", help="default 127.0.0.1")
    demo.add_argument("--port", help="env BOARD_PORT; default 8000")
    demo.add_argument(
        "--reset", action="store_true", help="delete keys under board-demo: that an earlier demo left behind"
    )
    demo.add_argument("--log-level", help=f"{', '.join(LOG_LEVELS)} (env BOARD_LOG_LEVEL; default warning)")
    demo.set_defaults(run=cmd_demo)

    health = sub.add_parser(
        "health",
        help="check a running board (for container health checks)",
        description="Exit 0 if the board answers its /healthz with 200, 1 if not (Redis down, nothing listening).",
    )
    health.add_argument("--url", help="the /healthz to ask; default from the settings below, as for serve")
    listen_flags(health)
    health.add_argument("--timeout", help="seconds (default 3)")
    health.add_argument(
        "--ready",
        action="store_true",
        help="ask /readyz: the queues' checks too (with BOARD_METRICS_TOKEN, their details)",
    )
    health.set_defaults(run=cmd_health)
    return top


def fail(message: str, code: int) -> NoReturn:
    print(f"board: error: {message}", file=sys.stderr)
    raise SystemExit(code)


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if hasattr(args, "log_level"):
            default = "warning" if args.command == "demo" else "info"
            level = setting(args, "log_level", "BOARD_LOG_LEVEL", default, log_level)
            logging.basicConfig(level=level.upper(), format=LOG_FORMAT)
        return int(args.run(args))
    except CliError as exc:
        fail(str(exc), exc.code)
    except KeyboardInterrupt:
        return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
