"""What the command and the demo check before they start, and how they stop when a check fails: one line
and an exit code (0 done, 1 failed while running, 2 bad usage or configuration, 3 Redis unreachable,
4 address already in use)."""

from __future__ import annotations

import errno
import socket

from .engine.connection import async_client, command, describe
from .engine.errors import RedisUnavailable
from .engine.routing import close_client, runner_for
from .engine.urls import shown_url

__all__ = [
    "EXIT_ADDRESS",
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_REDIS",
    "EXIT_USAGE",
    "CliError",
    "check_port_free",
    "check_redis",
]

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_REDIS, EXIT_ADDRESS = 0, 1, 2, 3, 4


class CliError(Exception):
    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.code = code


def check_port_free(host: str, port: int, how_to_change: str) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            reason = exc.strerror or str(exc)
            if exc.errno == errno.EADDRINUSE:
                raise CliError(
                    f"cannot listen on {host}:{port}: {reason}; pick another port with {how_to_change}", EXIT_ADDRESS
                ) from None
            raise CliError(f"cannot listen on {host}:{port}: {reason}") from None


async def check_redis(url: str) -> None:
    client = async_client(url, retries=0)
    try:
        # runner_for, not AsyncRunner: a cluster client needs the runner that routes calls to its nodes.
        await runner_for(client).call(command("PING"))
    except RedisUnavailable as exc:
        raise CliError(
            f"cannot reach Redis at {describe(client)} ({shown_url(url)}): {exc.__cause__ or exc}", EXIT_REDIS
        ) from None
    except Exception as exc:
        raise CliError(f"Redis at {shown_url(url)} refused the connection: {exc}", EXIT_REDIS) from None
    finally:
        await close_client(client)
