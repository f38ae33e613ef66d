"""Several board processes behind one address: ``board serve`` run for real, twice on two ports over one Redis,
and a client that goes from one to the other as a load balancer would send it (its cookies, like a
browser's, go to both: they do not depend on the port). One pair signs in with the login form (a configured
key); the other takes HTTP Basic with no key configured (the one kept in Redis) and runs alert rules. Then
``board serve --workers 2``: two processes on one port.

Whichever process answers, a session begun on one is used and ended on the other, a form served by one is
accepted by the other and its message shown there, failed passwords are counted across both, an action
taken on one is in the audit log read on the other, and an alert is delivered once: both processes ask for
the alert loop's lock (Redis's MONITOR shows it), and only its holder goes on to evaluate.
"""

from __future__ import annotations

import re
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2 as httpx
import pytest
import redis

from board import SyncQueue
from board.cli import main
from board.redis_server import RedisServer
from tests.test_cli import Board, clean_env, free_port
from tests.web.conftest import basic, csrf_of, flash_of, wait_for
from tests.web.test_alert_loop import Receiver

USERS = "ada:pw-ada:admin;eve:pw-eve:viewer"
KEY = "multiprocess-tests-key-0123456789"
ADA = basic("ada", "pw-ada")


class CommandLog:
    """The commands Redis runs (MONITOR) while it is open, as text, from a thread; scripts' own left out."""

    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url, decode_responses=True)
        self.commands: list[str] = []
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with self.client.monitor() as monitor:
            self._ready.set()
            while not self._stop.is_set():
                command = monitor.next_command()
                if command["client_type"] != "lua":
                    self.commands.append(command["command"])

    def __enter__(self) -> CommandLog:
        self._thread.start()
        assert self._ready.wait(5)
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.client.ping()  # a command to wake the reader with
        self._thread.join(5)
        self.client.close()


@dataclass
class Deployment:
    raw: redis.Redis
    # Base URLs of the two processes signing in with the login form, and of the two taking Basic auth.
    form: tuple[str, str]
    basic: tuple[str, str]
    boards: list[Board]
    receiver: Receiver
    # What Redis ran while the processes started and evaluated their first alert rounds.
    started: list[str]


class Served:
    """``board serve`` on a free port, started at once; ``ready()`` waits for it to answer."""

    def __init__(self, folder: Path, env: dict[str, str], *args: str) -> None:
        self.folder, self.env, self.args = folder, env, args
        self.tries = 0
        self._start()

    def _start(self) -> None:
        self.tries += 1
        port = free_port()
        folder = self.folder / f"try-{self.tries}"
        folder.mkdir(parents=True)
        self.board = Board(["serve", "--port", str(port), *self.args], self.env, folder)
        self.url = f"http://127.0.0.1:{port}"

    def ready(self) -> Served:
        while True:
            try:
                self.board.wait_http(self.url + "/healthz", timeout=25)
                return self
            except AssertionError:
                # The free port was taken before the board listened (exit 4): another port, once or twice.
                if self.board.proc.poll() != 4 or self.tries == 3:
                    raise
                self._start()


@pytest.fixture(scope="module")
def deployment(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    url = redis_server.start().url
    raw = redis.Redis.from_url(url, decode_responses=True)
    raw.flushall()
    for name in ("email", "reports", "alerted"):
        with SyncQueue(name, url) as queue:
            queue.add("waiting", {})  # what the alert rule on "alerted" fires on, from the first round
    receiver = Receiver()
    receiver.thread.start()
    folder = tmp_path_factory.mktemp("multiprocess")
    rules = folder / "alerts.toml"
    rules.write_text(
        f'[[webhooks]]\nname = "ops"\nurl = "{receiver.url}"\nretries = 0\n\n'
        '[[rules]]\nname = "backlog"\nwhen = "waiting_above"\nqueues = ["alerted"]\nthreshold = 0\n'
    )
    form_env = clean_env(
        REDIS_URL=url, BOARD_AUTH="form", BOARD_USERS=USERS, BOARD_SECRET_KEY=KEY, BOARD_QUEUES="email"
    )
    basic_env = clean_env(
        REDIS_URL=url,
        BOARD_AUTH="basic",
        BOARD_USERS=USERS,
        BOARD_QUEUES="reports,alerted",
        BOARD_ALERTS_FILE=str(rules),
    )
    started: list[Served] = []
    try:
        with CommandLog(url) as log:
            started += [Served(folder / f"form-{i}", form_env) for i in range(2)]
            started += [Served(folder / f"basic-{i}", basic_env) for i in range(2)]
            for served in started:
                served.ready()
            # Each process evaluates the rules as it starts.
            wait_for(lambda: receiver.bodies, what="the alert")
            time.sleep(0.5)
        urls = [served.url for served in started]
        boards = [served.board for served in started]
        yield Deployment(raw, (urls[0], urls[1]), (urls[2], urls[3]), boards, receiver, log.commands)
    finally:
        for served in started:
            served.board.kill()
        receiver.server.shutdown()
        receiver.server.server_close()
        raw.close()


def sign_in(http: httpx.Client, base: str, name: str, password: str) -> httpx.Response:
    token = csrf_of(http.get(base + "/login").text)
    return http.post(base + "/login", data={"username": name, "password": password, "csrf_token": token})


def test_a_session_begun_on_one_process_is_used_and_ended_on_the_other(deployment: Deployment) -> None:
    a, b = deployment.form
    with httpx.Client(follow_redirects=False) as http:
        # The login page (and its CSRF cookie) from one, the form posted to the other.
        token = csrf_of(http.get(a + "/login").text)
        signed_in = http.post(b + "/login", data={"username": "ada", "password": "pw-ada", "csrf_token": token})
        assert signed_in.status_code == 303, signed_in.text
        session = http.cookies["board_session"]
        for base in (a, b):
            assert http.get(base + "/queues/email").status_code == 200
        page = http.get(b + "/queues/email").text
        assert http.post(a + "/logout", data={"csrf_token": csrf_of(page)}).status_code == 303
    with httpx.Client(follow_redirects=False, cookies={"board_session": session}) as copied:
        # The copied cookie no longer works, on the process that did not see the logout either.
        for base in (b, a):
            answer = copied.get(base + "/queues/email")
            assert answer.status_code == 303 and "/login" in answer.headers["location"]


@pytest.mark.parametrize("pair", ["form", "basic"])
def test_a_form_from_one_process_is_accepted_by_the_other_and_its_message_shown_there(
    deployment: Deployment, pair: str
) -> None:
    (a, b), queue, headers = (deployment.form, "email", {}) if pair == "form" else (deployment.basic, "reports", ADA)
    with httpx.Client(follow_redirects=False, headers=headers) as http:
        if pair == "form":
            assert sign_in(http, a, "ada", "pw-ada").status_code == 303
        token = csrf_of(http.get(f"{a}/queues/{queue}").text)
        done = http.post(f"{b}/queues/{queue}/pause", data={"csrf_token": token})
        assert done.status_code == 303, done.text
        assert deployment.raw.hexists(f"bull:{queue}:meta", "paused")
        message = flash_of(http.get(a + done.headers["location"]).text)
        assert message is not None and "paused" in message.lower()
        assert flash_of(http.get(b + done.headers["location"]).text) is None  # shown once, wherever
        assert http.post(f"{a}/queues/{queue}/resume", data={"csrf_token": token}).status_code == 303
    assert not deployment.raw.hexists(f"bull:{queue}:meta", "paused")
    if pair == "basic":
        # No key configured: both use the one the first kept in Redis, and neither warned of a random one.
        assert len(deployment.raw.get("board:bull:secret") or "") >= 32
        assert not any("no secret key given" in board.stderr for board in deployment.boards)


def test_failed_logins_are_counted_across_processes(deployment: Deployment) -> None:
    a, b = deployment.form
    with httpx.Client(follow_redirects=False) as http:
        answers = [sign_in(http, base, "eve", "guess").status_code for base in (a, b, a, b, a)]
        assert answers == [401] * 5  # each process saw two or three: the five are counted together
        for base in (b, a):
            locked = sign_in(http, base, "eve", "pw-eve")  # even the right password, for now
            assert locked.status_code == 429 and "Too many failed attempts" in locked.text
            assert 0 < int(locked.headers["retry-after"]) <= 61
        assert sign_in(http, b, "ada", "pw-ada").status_code == 303  # another name is not locked
    assert deployment.raw.zrange("board:bull:throttle:name:eve", 0, -1) == ["locked"]


def test_an_action_on_one_process_is_in_the_audit_log_read_on_the_other(deployment: Deployment) -> None:
    a, b = deployment.basic
    with httpx.Client(follow_redirects=False, headers=ADA) as http:
        done = http.post(f"{b}/queues/reports/pause", json={}, headers={"Accept": "application/json"})
        assert done.status_code == 200, done.text
        http.post(f"{b}/queues/reports/resume", json={}, headers={"Accept": "application/json"})
        entries = http.get(f"{a}/audit?format=json&queue=reports&action=pause").json()["entries"]
    assert [(e["user"], e["action"], e["queue"], e["ok"]) for e in entries][:1] == [("ada", "pause", "reports", True)]


def test_an_alert_is_delivered_by_one_process(deployment: Deployment) -> None:
    time.sleep(0.5)  # more room for a second delivery, were there one
    (alert,) = deployment.receiver.bodies
    assert alert["rule"] == "backlog" and alert["queue"] == "alerted"
    assert deployment.raw.xlen("board:bull:alerts:deliveries") == 1
    # Both processes asked for the lock as they started (each its own owner); only the holder went on to
    # read the episodes, once a round.
    holder = deployment.raw.get("board:bull:alerts:lock")
    asked = [c.split()[-2] for c in deployment.started if c.startswith("EVAL ") and "board:bull:alerts:lock" in c]
    assert len(set(asked)) == 2 and holder in asked
    rounds = [c for c in deployment.started if c == "HGETALL board:bull:alerts:episodes"]
    assert len(rounds) == asked.count(holder) >= 1
    a, b = deployment.basic
    for base in (a, b):
        page = httpx.get(base + "/alerts", headers=ADA).text
        assert "backlog" in page and "loop is not running" not in page


def _children(pid: int) -> list[int]:
    """The board processes uvicorn started under ``pid`` (not multiprocessing's resource tracker)."""
    found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(c) for c in found if "resource_tracker" not in Path(f"/proc/{c}/cmdline").read_text()]


def test_board_serve_workers_runs_processes_that_agree(redis_server: RedisServer, tmp_path: Path) -> None:
    url = redis_server.start().url
    env = clean_env(REDIS_URL=url, BOARD_AUTH="basic", BOARD_USERS=USERS, BOARD_QUEUES="reports")
    served = Served(tmp_path / "workers", env, "--workers", "2")
    try:
        board, base = served.ready().board, served.url
        assert re.search(r"board serving on http://\S+ \(loop \w+, 2 processes\)", board.stdout)
        wait_for(lambda: len(_children(board.pid)) == 2, what="two processes")
        # A connection each: the kernel hands them to either process.
        for _ in range(6):
            with httpx.Client(follow_redirects=False, headers=ADA) as page_client:
                page = page_client.get(f"{base}/queues/reports")
            with httpx.Client(follow_redirects=False, headers=ADA, cookies=page.cookies) as post_client:
                done = post_client.post(f"{base}/queues/reports/pause", data={"csrf_token": csrf_of(page.text)})
            assert done.status_code == 303, done.text
        processes = _children(board.pid)
        assert board.signal(signal.SIGTERM) == 0
        assert not any(Path(f"/proc/{pid}").exists() for pid in processes)
    finally:
        served.board.kill()


@pytest.mark.parametrize(
    ("given", "env", "named"),
    [
        (["--workers", "0"], {}, "--workers: expected a whole number of at least 1, got '0'"),
        ([], {"BOARD_WORKERS": "two"}, "BOARD_WORKERS"),
    ],
)
def test_a_bad_number_of_processes_stops_the_command(
    given: list[str],
    env: dict[str, str],
    named: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as stopped:
        main(["serve", "--redis-url", "redis://127.0.0.1:1", *given])
    assert stopped.value.code == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert named in line
