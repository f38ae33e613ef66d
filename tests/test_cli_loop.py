"""``--loop auto|asyncio|uvloop`` of ``board worker`` and ``board serve``: the loop chosen is the loop the
command runs on (the worker's jobs report it, the server's process has uvloop loaded or not), ``auto``
takes uvloop when it is installed, and asking for uvloop where it cannot be imported stops the command in
one line. Where uvloop is not installed (it comes with the ``test`` extra), the tests that need it are
skipped, saying so."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from board import SyncQueue
from board.cli import main, parser, serve_settings, worker_settings
from board.cli_loop import event_loop
from tests.support import wait_for

ROOT = Path(__file__).resolve().parent.parent
PROCESSOR = "tests.cli_fixtures.loops:loop_of"
LOOP_MODULES = {"uvloop": "uvloop", "asyncio": "asyncio.unix_events"}

try:
    import uvloop  # noqa: F401

    HAVE_UVLOOP = True
except ImportError:
    HAVE_UVLOOP = False
needs_uvloop = pytest.mark.skipif(not HAVE_UVLOOP, reason="uvloop is not installed (pip install '.[uvloop]')")


@pytest.fixture
def environ(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """This process's environment without REDIS_URL and BOARD_*, for calling the command here."""
    for name in list(os.environ):
        if name == "REDIS_URL" or name.startswith("BOARD_"):
            monkeypatch.delenv(name)
    return monkeypatch


@pytest.fixture
def no_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    """uvloop cannot be imported in this process, as where it is not installed."""
    monkeypatch.setitem(sys.modules, "uvloop", None)


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL" and not k.startswith("BOARD_")}
    env.update(extra)
    return env


def board_process(args: list[str], env: dict[str, str], out: Path) -> subprocess.Popen[bytes]:
    with out.open("wb") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "board", *args],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    """The processes a test starts, stopped at teardown if it left them running."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)


# Choosing the loop --------------------------------------------------------------------------------------------


@needs_uvloop
def test_auto_and_uvloop_take_uvloop_when_it_is_installed() -> None:
    assert event_loop("auto") == "uvloop"
    assert event_loop(" UVLOOP ") == "uvloop"
    assert event_loop("asyncio") == "asyncio"


@pytest.mark.usefixtures("no_uvloop")
def test_auto_falls_back_to_asyncio_without_uvloop() -> None:
    assert event_loop("auto") == "asyncio"
    assert event_loop("asyncio") == "asyncio"
    with pytest.raises(ValueError, match=r"uvloop is not installed: pip install 'board-queues\[uvloop\]'"):
        event_loop("uvloop")


def test_an_unknown_loop_is_refused() -> None:
    with pytest.raises(ValueError, match="expected one of auto, asyncio, uvloop, got 'tokio'"):
        event_loop("tokio")


WORKER = ["worker", PROCESSOR, "--queue", "q", "--redis-url", "redis://127.0.0.1:1"]
SERVE = ["serve", "--redis-url", "redis://127.0.0.1:1"]


@pytest.mark.parametrize("command", [WORKER, SERVE], ids=["worker", "serve"])
def test_the_flag_wins_over_the_variable(environ: pytest.MonkeyPatch, command: list[str]) -> None:
    settings_of = worker_settings if command[0] == "worker" else serve_settings
    environ.setenv("BOARD_LOOP", "uvloop" if HAVE_UVLOOP else "auto")
    assert settings_of(parser().parse_args([*command, "--loop", "asyncio"])).loop == "asyncio"
    environ.setenv("BOARD_LOOP", "asyncio")
    assert settings_of(parser().parse_args(command)).loop == "asyncio"
    environ.delenv("BOARD_LOOP")
    assert settings_of(parser().parse_args(command)).loop == ("uvloop" if HAVE_UVLOOP else "asyncio")


@pytest.mark.usefixtures("no_uvloop")
@pytest.mark.parametrize(
    ("args", "variables", "source"),
    [
        ([*WORKER, "--loop", "uvloop"], {}, "--loop"),
        (WORKER, {"BOARD_LOOP": "uvloop"}, "BOARD_LOOP"),
        ([*SERVE, "--loop", "uvloop"], {}, "--loop"),
    ],
)
def test_uvloop_asked_but_not_installed_stops_in_one_line(
    environ: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: list[str],
    variables: dict[str, str],
    source: str,
) -> None:
    for name, value in variables.items():
        environ.setenv(name, value)
    with pytest.raises(SystemExit) as stopped:
        main(args)
    out, err = capsys.readouterr()
    assert (stopped.value.code, out) == (2, ""), err
    expected = "uvloop is not installed: pip install 'board-queues[uvloop]', or pass auto or asyncio"
    assert err == f"board: error: {source}: {expected}\n"


@pytest.mark.parametrize("args", [[*WORKER, "--loop", "tokio"], [*SERVE, "--loop", "trio"]])
def test_a_bad_loop_stops_in_one_line(
    environ: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(args)
    assert stopped.value.code == 2
    assert "--loop: expected one of auto, asyncio, uvloop" in capsys.readouterr().err


# The loop the commands run on ---------------------------------------------------------------------------------


@pytest.mark.timeout(40)
@pytest.mark.parametrize(
    ("flag", "expected"),
    [
        (["--loop", "asyncio"], "asyncio"),
        pytest.param(["--loop", "uvloop"], "uvloop", marks=needs_uvloop),
        pytest.param([], "uvloop", marks=needs_uvloop, id="auto"),
    ],
)
def test_the_worker_runs_its_jobs_on_the_loop_chosen(
    processes: list[subprocess.Popen[bytes]],
    redis_url: str,
    raw: redis.Redis,
    qname: str,
    tmp_path: Path,
    flag: list[str],
    expected: str,
) -> None:
    with SyncQueue(qname, redis_url) as queue:
        queue.add("which", {})
    out = tmp_path / "worker.txt"
    proc = board_process(["worker", PROCESSOR, "--queue", qname, *flag], clean_env(REDIS_URL=redis_url), out)
    processes.append(proc)
    wait_for(lambda: raw.zcard(f"bull:{qname}:completed") == 1 or proc.poll() is not None, 20, "the job completed")
    assert proc.poll() is None, out.read_text()
    assert json.loads(raw.hget(f"bull:{qname}:1", "returnvalue") or "null") == LOOP_MODULES[expected]
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(15) == 0, out.read_text()
    assert f"(concurrency 1, loop {expected})" in out.read_text()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def uvloop_loaded(pid: int) -> bool:
    """Whether process ``pid`` has uvloop's compiled loop mapped in: imported, never by default."""
    return "/uvloop/loop." in Path(f"/proc/{pid}/maps").read_text()


@pytest.mark.timeout(40)
@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="reads the server's memory map in /proc")
@pytest.mark.parametrize("loop", ["asyncio", pytest.param("uvloop", marks=needs_uvloop)])
def test_serve_runs_on_the_loop_chosen(
    processes: list[subprocess.Popen[bytes]], redis_url: str, tmp_path: Path, loop: str
) -> None:
    port = free_port()
    out = tmp_path / "serve.txt"
    proc = board_process(["serve", "--port", str(port), "--loop", loop], clean_env(REDIS_URL=redis_url), out)
    processes.append(proc)
    wait_for(lambda: "Uvicorn running" in out.read_text() or proc.poll() is not None, 20, "the server started")
    assert proc.poll() is None, out.read_text()
    assert f"board serving on http://127.0.0.1:{port}/ (loop {loop})" in out.read_text()
    assert uvloop_loaded(proc.pid) == (loop == "uvloop")
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(15) == 0, out.read_text()
