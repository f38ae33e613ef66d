"""The ``board`` command: ``serve`` the dashboard, run a ``worker`` process, or run the ``demo``.

Every flag of ``serve`` and ``worker`` can also come from the environment (``REDIS_URL``, ``BOARD_*``).
Users and secrets come from the environment or a file, never from a flag that would show in ``ps``.

Exit codes: 0 done, 1 failed while running, 2 bad usage or configuration, 3 Redis unreachable,
4 address already in use.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import ipaddress
import logging
import os
import signal
import socket
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_REDIS, EXIT_ADDRESS = 0, 1, 2, 3, 4

log = logging.getLogger("board")


class CliError(Exception):
    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


def env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def env_flag(name: str) -> bool:
    return (env(name, "") or "").lower() in ("1", "true", "yes", "on")


def secret(name: str) -> str | None:
    """``NAME`` from the environment, or the contents of the file named by ``NAME_FILE``."""
    value = env(name)
    if value:
        return value
    path = env(f"{name}_FILE")
    if path:
        try:
            return Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise CliError(f"{name}_FILE: cannot read {path}: {exc.strerror}") from None
    return None


def parse_users(text: str, origin: str) -> dict[str, tuple[Any, ...]]:
    """One user a line (or separated by ';'): ``name:password-or-hash:role[:queue,queue]``."""
    users: dict[str, tuple[Any, ...]] = {}
    for number, line in enumerate(text.replace(";", "\n").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(":")
        # A pbkdf2 hash holds '$' but no ':', so the fields split cleanly.
        if len(parts) not in (3, 4) or not parts[0] or not parts[1]:
            raise CliError(f"{origin}, entry {number}: expected name:password:role[:queues], got {parts[0]!r}...")
        name, password, role = parts[0], parts[1], parts[2]
        if len(parts) == 4 and parts[3]:
            users[name] = (password, role, tuple(q.strip() for q in parts[3].split(",") if q.strip()))
        else:
            users[name] = (password, role)
    if not users:
        raise CliError(f"{origin}: no users given")
    return users


def load_users() -> dict[str, tuple[Any, ...]] | None:
    text = secret("BOARD_USERS")
    return None if text is None else parse_users(text, "BOARD_USERS" if env("BOARD_USERS") else "BOARD_USERS_FILE")


def build_auth(kind: str) -> Any:
    from .web.auth import BasicAuth, FormLogin, TrustedHeader

    kind = kind.lower()
    if kind == "none":
        return None
    if kind == "header":
        proxies = env("BOARD_TRUSTED_PROXIES", "127.0.0.1,::1") or ""
        return TrustedHeader(
            user_header=env("BOARD_USER_HEADER", "X-Forwarded-User") or "X-Forwarded-User",
            role_header=env("BOARD_ROLE_HEADER", "X-Forwarded-Role"),
            default_role=env("BOARD_DEFAULT_ROLE", "viewer") or "viewer",
            trusted_proxies=None if proxies == "*" else [p.strip() for p in proxies.split(",") if p.strip()],
        )
    users = load_users()
    if users is None:
        raise CliError(f"BOARD_AUTH={kind} needs users: set BOARD_USERS or BOARD_USERS_FILE (name:password:role)")
    try:
        if kind == "basic":
            return BasicAuth(users)
        if kind == "form":
            key = secret("BOARD_SECRET_KEY")
            if not key:
                raise CliError("BOARD_AUTH=form needs BOARD_SECRET_KEY (or BOARD_SECRET_KEY_FILE), 16+ characters")
            return FormLogin(users, key)
    except ValueError as exc:
        raise CliError(f"auth: {exc}") from None
    raise CliError(f"BOARD_AUTH: expected basic, form, header or none, got {kind!r}")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise CliError(f"cannot listen on {host}:{port}: {exc.strerror}", EXIT_ADDRESS) from None


async def check_redis(url: str) -> None:
    from .engine.connection import AsyncRunner, async_client, command, describe
    from .engine.errors import RedisUnavailable

    client = async_client(url, retries=0)
    try:
        await AsyncRunner(client).call(command("PING"))
    except RedisUnavailable as exc:
        raise CliError(
            f"cannot reach Redis at {describe(client)} ({url}): {exc.__cause__ or exc}", EXIT_REDIS
        ) from None
    except Exception as exc:
        raise CliError(f"Redis at {url} refused the connection: {exc}", EXIT_REDIS) from None
    finally:
        await client.aclose()


def redis_url(args: argparse.Namespace) -> str:
    url = args.redis_url or env("REDIS_URL") or env("BOARD_REDIS_URL")
    if not url:
        raise CliError("no Redis given: pass --redis-url or set REDIS_URL")
    if not url.startswith(("redis://", "rediss://", "unix://")):
        raise CliError(f"--redis-url: expected redis://host:port[/db], rediss:// or unix://, got {url!r}")
    return url


# serve


def serve_app(args: argparse.Namespace) -> tuple[Any, str]:
    """The ASGI app ``board serve`` runs, and the path it lives under."""
    from starlette.applications import Starlette
    from starlette.responses import RedirectResponse
    from starlette.routing import Mount, Route

    from .web.app import create_board

    queues = [q.strip() for q in (args.queues or env("BOARD_QUEUES", "") or "").split(",") if q.strip()]
    discover = args.discover or env_flag("BOARD_DISCOVER") or not queues
    auth = build_auth(args.auth or env("BOARD_AUTH", "none") or "none")
    host = args.host
    if auth is None and not is_loopback(host) and not (args.allow_no_auth or env_flag("BOARD_ALLOW_NO_AUTH")):
        raise CliError(
            f"refusing to serve without auth on {host}, which is not a loopback address: set BOARD_AUTH "
            "(basic, form or header) with BOARD_USERS, or pass --allow-no-auth if something in front guards it"
        )
    try:
        board = create_board(
            args.url,
            queues=queues or None,
            prefix=args.prefix,
            discover=discover,
            auth=auth,
            read_only=args.read_only or env_flag("BOARD_READ_ONLY"),
            title=args.title,
            poll_interval=args.poll_interval,
            secret_key=secret("BOARD_SECRET_KEY"),
            frame_ancestors=env("BOARD_FRAME_ANCESTORS") or None,
            redact_words=[w.strip() for w in (env("BOARD_REDACT_WORDS") or "").split(",") if w.strip()],
        )
    except ValueError as exc:
        raise CliError(str(exc)) from None
    base = "/" + args.base_path.strip("/") if args.base_path.strip("/") else ""
    if not base:
        return board, "/"

    async def to_board(request: Any) -> Any:
        return RedirectResponse(base + "/", status_code=307)

    app = Starlette(routes=[Route("/", to_board), Mount(base, app=board)])
    return app, base + "/"


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    args.url = redis_url(args)
    asyncio.run(check_redis(args.url))
    app, path = serve_app(args)
    check_port_free(args.host, args.port)
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(f"board serving on http://{shown}:{args.port}{path}", flush=True)
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        proxy_headers=args.proxy_headers,
        forwarded_allow_ips=env("FORWARDED_ALLOW_IPS", "127.0.0.1"),
        server_header=False,
    )
    server = uvicorn.Server(config)
    # uvicorn re-raises the signal that stopped it once it has shut down cleanly; with this handler in
    # place a SIGTERM (docker stop) ends in exit code 0 rather than death by signal.
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    server.run()
    return EXIT_OK if server.started else EXIT_FAILED


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
        max_jobs, seconds = text.split("/")
        return {"max": int(max_jobs), "duration": float(seconds)}
    except ValueError:
        raise CliError(f"--limiter: expected MAX/SECONDS such as 100/60, got {text!r}") from None


async def run_worker(args: argparse.Namespace, processor: Callable[..., Any]) -> int:
    from .engine.worker import Worker

    try:
        worker = Worker(
            args.queue,
            processor,
            args.url,
            prefix=args.prefix,
            concurrency=args.concurrency,
            limiter=parse_limiter(args.limiter) if args.limiter else None,
            lock_duration=args.lock_duration,
            stalled_interval=args.stalled_interval,
            name=args.name,
            shutdown_timeout=args.shutdown_timeout,
        )
    except ValueError as exc:
        raise CliError(str(exc)) from None
    worker.on("failed", lambda job, error: log.info("job %s failed: %s", job.id, error))
    worker.on("error", lambda error: log.warning("%s", error))
    print(f"worker for queue {args.queue!r} running {args.processor} (concurrency {args.concurrency})", flush=True)
    await worker.run()
    print("worker stopped", flush=True)
    return EXIT_OK


def cmd_worker(args: argparse.Namespace) -> int:
    args.url = redis_url(args)
    processor = import_processor(args.processor)
    asyncio.run(check_redis(args.url))
    return asyncio.run(run_worker(args, processor))


# health


def cmd_health(args: argparse.Namespace) -> int:
    import urllib.request

    url = (
        args.url
        or f"http://127.0.0.1:{env('BOARD_PORT', '8000')}{(env('BOARD_BASE_PATH', '') or '').rstrip('/')}/healthz"
    )
    # No proxy: a container's HTTP_PROXY must not carry a check meant for this very host.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=args.timeout) as response:
            ok = response.status == 200
    except OSError as exc:
        print(f"unhealthy: {url}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print("healthy" if ok else f"unhealthy: {url}", file=sys.stdout if ok else sys.stderr)
    return EXIT_OK if ok else EXIT_FAILED


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    return run_demo(args)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="board", description="Job queues on Redis in BullMQ's format, and their dashboard."
    )
    sub = top.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--redis-url", help="redis://host:port/db (env REDIS_URL)")
        p.add_argument(
            "--prefix", default=env("BOARD_PREFIX", "bull"), help="key prefix (env BOARD_PREFIX; default bull)"
        )
        p.add_argument(
            "--log-level", default=env("BOARD_LOG_LEVEL", "info"), choices=["debug", "info", "warning", "error"]
        )

    serve = sub.add_parser("serve", help="serve the dashboard", description="Serve the board on uvicorn.")
    common(serve)
    which = serve.add_mutually_exclusive_group()
    which.add_argument("--queues", help="comma-separated queue names (env BOARD_QUEUES)")
    which.add_argument("--discover", action="store_true", help="find every queue under the prefix (env BOARD_DISCOVER)")
    serve.add_argument("--host", default=env("BOARD_HOST", "127.0.0.1"), help="env BOARD_HOST; default 127.0.0.1")
    serve.add_argument("--port", type=int, default=int(env("BOARD_PORT", "8000") or 8000), help="env BOARD_PORT")
    serve.add_argument(
        "--base-path", default=env("BOARD_BASE_PATH", "") or "", help="e.g. /admin/queues (env BOARD_BASE_PATH)"
    )
    serve.add_argument("--read-only", action="store_true", help="no actions at all (env BOARD_READ_ONLY)")
    serve.add_argument("--title", default=env("BOARD_TITLE", "board") or "board", help="env BOARD_TITLE")
    serve.add_argument("--poll-interval", type=float, default=float(env("BOARD_POLL_INTERVAL", "5") or 5))
    serve.add_argument(
        "--auth", choices=["none", "basic", "form", "header"], help="env BOARD_AUTH; users from BOARD_USERS(_FILE)"
    )
    serve.add_argument("--allow-no-auth", action="store_true", help="serve without auth on a non-loopback address")
    serve.add_argument(
        "--proxy-headers",
        action="store_true",
        default=env_flag("BOARD_PROXY_HEADERS"),
        help="trust X-Forwarded-* from FORWARDED_ALLOW_IPS (env BOARD_PROXY_HEADERS)",
    )
    serve.set_defaults(run=cmd_serve)

    worker = sub.add_parser("worker", help="run a worker process", description="Run a worker until SIGTERM/SIGINT.")
    common(worker)
    worker.add_argument("processor", help="module:function that processes a job")
    worker.add_argument(
        "--queue", required=env("BOARD_QUEUE") is None, default=env("BOARD_QUEUE"), help="env BOARD_QUEUE"
    )
    worker.add_argument("--concurrency", type=int, default=int(env("BOARD_CONCURRENCY", "1") or 1))
    worker.add_argument("--limiter", default=env("BOARD_LIMITER"), help="MAX/SECONDS, e.g. 100/60 (env BOARD_LIMITER)")
    worker.add_argument("--name", default=env("BOARD_WORKER_NAME"), help="shown on the board (env BOARD_WORKER_NAME)")
    worker.add_argument("--lock-duration", type=float, default=30)
    worker.add_argument("--stalled-interval", type=float, default=30)
    worker.add_argument("--shutdown-timeout", type=float, default=30)
    worker.set_defaults(run=cmd_worker)

    demo = sub.add_parser("demo", help="the board on demo queues that keep moving")
    demo.add_argument("--redis-url", help="use this Redis instead of an embedded one (its demo queues are replaced)")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8000)
    demo.add_argument("--log-level", default="warning", choices=["debug", "info", "warning", "error"])
    demo.set_defaults(run=cmd_demo)

    health = sub.add_parser("health", help="check a running board (for container health checks)")
    health.add_argument("--url", help="default http://127.0.0.1:$BOARD_PORT$BOARD_BASE_PATH/healthz")
    health.add_argument("--timeout", type=float, default=3)
    health.set_defaults(run=cmd_health)
    return top


def fail(message: str, code: int) -> NoReturn:
    print(f"board: error: {message}", file=sys.stderr)
    raise SystemExit(code)


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=getattr(args, "log_level", "info").upper(), format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.run(args))
    except CliError as exc:
        fail(str(exc), exc.code)
    except KeyboardInterrupt:
        return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
