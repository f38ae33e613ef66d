"""``board serve``, ``board worker`` and ``board health`` as real processes on a Sentinel URL and on a
cluster URL: the worker runs a job added here, the board answers, and health says so."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from board.engine.queue import Queue
from board.redis_server import free_port
from tests.support import until

ROOT = Path(__file__).resolve().parent.parent.parent


def _board(*args: str, env: dict[str, str], folder: Path) -> subprocess.Popen[bytes]:
    with (folder / "out.txt").open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "board", *args],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


async def _result(queue: Queue, job_id: str) -> bool:
    job = await queue.get_job(job_id)
    return job is not None and isinstance(job.returnvalue, dict) and job.returnvalue.get("n") == 7


# Three Python processes start (board serve, board worker, board health): slow on a loaded machine.
@pytest.mark.timeout(240)
@pytest.mark.parametrize("kind", ["sentinel", "cluster"])
async def test_board_serve_worker_and_health_take_the_url(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    servers = request.getfixturevalue(kind)
    url = str(servers.cluster_url() if kind == "cluster" else servers.url)
    # A cluster wants a queue's keys in one hash slot: the name carries the tag.
    name = "{email}" if kind == "cluster" else "email"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL" and not k.startswith("BOARD_")}
    env["REDIS_URL"] = url
    serve = _board("serve", "--port", str(port), "--queues", name, env=env, folder=tmp_path)
    (tmp_path / "worker").mkdir()
    worker = _board(
        "worker", "tests.cli_fixtures.processors:process", "--queue", name, env=env, folder=tmp_path / "worker"
    )
    try:
        async with Queue(name, connection=url) as queue:
            job = await queue.add("one", {"n": 7})
            await until(lambda: _result(queue, job.id), timeout=60, what="the board worker process to run the job")
        await until(lambda: asyncio.to_thread(_healthy, port), timeout=60, what="board serve to answer /healthz")
        health = subprocess.run(
            [sys.executable, "-m", "board", "health"],
            cwd=ROOT,
            env={**env, "BOARD_PORT": str(port)},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert health.returncode == 0 and health.stdout.strip() == "healthy", health.stderr
    finally:
        for process in (serve, worker):
            process.send_signal(signal.SIGTERM)
            process.wait(30)
