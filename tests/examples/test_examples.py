"""The examples in examples/, run as a reader would run them, against the test Redis.

Web apps go through Starlette's TestClient (entered, so that one event loop serves the app and its Redis
pool); workers are real ``board worker`` processes started from the repository root, as the README says.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from board import SyncQueue
from tests.support import wait_for

REPO = Path(__file__).resolve().parents[2]
HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}
SECRET = "examples-test-secret-0123456789abcdef"


class WorkerProcess:
    """``python -m board worker SPEC --queue QUEUE ...`` from the repository root, output in a file."""

    def __init__(self, redis_url: str, spec: str, queue: str, *options: str, log: Path) -> None:
        self.log = log
        env = {k: v for k, v in os.environ.items() if not k.startswith("BOARD_")}
        env.update(REDIS_URL=redis_url, PYTHONUNBUFFERED="1")
        command = [sys.executable, "-m", "board", "worker", spec, "--queue", queue, *options]
        with log.open("wb") as out:
            self.proc = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def ready(self, timeout: float = 20) -> None:
        def started() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"the worker exited with {self.proc.returncode}:\n{self.output()}")
            return "worker for queue" in self.output()

        wait_for(started, timeout, "the worker to start")

    def stop(self, timeout: float = 20) -> int:
        """SIGTERM, as a process manager would send; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"the worker did not stop within {timeout} s of SIGTERM:\n{self.output()}") from None


StartWorker = Callable[..., WorkerProcess]


@pytest.fixture
def start_worker(redis_url: str, tmp_path: Path) -> Iterator[StartWorker]:
    started: list[WorkerProcess] = []

    def start(spec: str, queue: str, *options: str) -> WorkerProcess:
        worker = WorkerProcess(redis_url, spec, queue, *options, log=tmp_path / f"worker-{len(started)}.log")
        started.append(worker)
        worker.ready()
        return worker

    yield start
    for worker in started:
        if worker.proc.poll() is None:
            worker.proc.kill()
            worker.proc.wait()


# FastAPI signup ------------------------------------------------------------------------------------------------

ADMIN = {"email": "ops@example.com", "password": "ops-password-for-tests"}
API_KEY = "api-key-for-tests-0123456789"


@pytest.mark.timeout(60)
def test_fastapi_signup_enqueues_and_the_worker_sends(redis_url: str, start_worker: StartWorker) -> None:
    from examples.fastapi_signup.app import create_app

    app = create_app(
        redis_url,
        secret_key=SECRET,
        admin_email=ADMIN["email"],
        admin_password=ADMIN["password"],
        admin_api_key=API_KEY,
    )
    with TestClient(app, follow_redirects=False) as client, SyncQueue("email", redis_url) as emails:
        # Answered at once, with nothing processing the queue: the job waits for a worker.
        started = time.monotonic()
        response = client.post("/signup", json={"email": "Ada@Example.com", "name": "Ada Lovelace"})
        assert time.monotonic() - started < 2
        assert response.status_code == 201, response.text
        body = response.json()
        user, job_id = body["user"], body["job_id"]
        assert user["email"] == "ada@example.com" and user["name"] == "Ada Lovelace" and user["id"]
        assert job_id == f"welcome-{user['id']}"
        assert emails.get_job_state(job_id) == "waiting"
        job = emails.get_job(job_id)
        assert job is not None
        assert job.name == "welcome-email"
        assert job.data == {"user_id": user["id"], "to": "ada@example.com", "name": "Ada Lovelace"}
        assert job.opts["attempts"] == 5
        assert job.opts["backoff"] == {"type": "exponential", "delay": 2000}

        assert client.post("/signup", json={"email": "ada@example.com", "name": "Ada"}).status_code == 409
        assert client.post("/signup", json={"email": "not-an-email", "name": "X"}).status_code == 422
        assert client.post("/signup", json={"email": "x@example.com"}).status_code == 422
        assert emails.get_job_counts("waiting")["waiting"] == 1

        # The board, behind the app's own auth: nobody, a wrong key, the key, an admin session.
        assert client.get("/admin/queues/", headers=HTML).status_code == 401
        assert client.get("/admin/queues/static/board.css").status_code == 401
        wrong = {"Authorization": "Bearer not-the-key", **HTML}
        assert client.get("/admin/queues/", headers=wrong).status_code == 401
        page = client.get("/admin/queues/queues/email", headers={"Authorization": f"Bearer {API_KEY}", **HTML})
        assert page.status_code == 200
        assert job_id in page.text

        refused = client.post("/login", data={"email": ADMIN["email"], "password": "nope"})
        assert refused.status_code == 401
        assert client.get("/admin/queues/", headers=HTML).status_code == 401
        login = client.post("/login", data=ADMIN)
        assert login.status_code == 303
        assert login.headers["location"] == "/admin/queues/"
        overview = client.get("/admin/queues/", headers=HTML)
        assert overview.status_code == 200
        assert "/admin/queues/static/board.css" in overview.text
        assert client.get("/admin/queues/static/board.css").status_code == 200

        # A real worker process, as the README runs it, sends the mail; SIGTERM stops it cleanly.
        worker = start_worker("examples.fastapi_signup.worker:send_welcome", "email")
        wait_for(lambda: emails.get_job_state(job_id) == "completed", 20, "the welcome email to be sent")
        assert worker.stop() == 0
        output = worker.output()
        assert "welcome email sent to ada@example.com" in output
        assert "worker stopped" in output

        done = emails.get_job(job_id)
        assert done is not None
        assert done.returnvalue["to"] == "ada@example.com"
        assert done.returnvalue["message_id"].endswith("@mail.example.com>")
        assert done.progress == 100
        assert done.attempts_made == 1
        logs, _ = emails.get_job_logs(job_id)
        assert logs[0] == "rendering the welcome email for ada@example.com (attempt 1)"
        assert logs[-1].startswith("sent as <")
        shown = client.get(f"/admin/queues/queues/email/jobs/{job_id}", headers=HTML)
        assert shown.status_code == 200 and "message_id" in shown.text

        client.post("/logout")
        assert client.get("/admin/queues/", headers=HTML).status_code == 401


def test_fastapi_signup_fails_bad_jobs_at_once(redis_url: str) -> None:
    """The processor refuses data that retrying cannot fix, without using up the attempts."""
    from board import Job, Queue, UnrecoverableError
    from examples.fastapi_signup.worker import send_welcome

    async def check() -> None:
        async with Queue("email", redis_url) as queue:
            added = await queue.add("welcome-email", {"to": "x@example.com"})
            job = await queue.get_job(added.id)
            assert isinstance(job, Job)
            with pytest.raises(UnrecoverableError, match="needs 'to' and 'name'"):
                await send_welcome(job)

    asyncio.run(check())


# Starlette + FormLogin --------------------------------------------------------------------------------------------


def test_starlette_form_login(redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from examples.starlette_login.app import create_app, parse_users

    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("BOARD_USERS", "alice:correct-horse:admin; bob:battery:viewer:mail*")
    monkeypatch.setenv("BOARD_SECRET_KEY", SECRET)
    assert parse_users("alice:pw:admin\n# a comment\nbob:pw:viewer:a,b") == {
        "alice": ("pw", "admin"),
        "bob": ("pw", "viewer", ("a", "b")),
    }
    with pytest.raises(ValueError, match="expected name:password:role"):
        parse_users("alice-without-password")

    with SyncQueue("mailers", redis_url) as mailers:
        mailers.add("digest", {"week": 12})

    with TestClient(create_app(), follow_redirects=False) as client:
        home = client.get("/")
        assert home.status_code == 200
        assert 'href="/admin/queues/"' in home.text

        # Anonymous: sent to the login page, which comes back to where the user was going.
        anonymous = client.get("/admin/queues/", headers=HTML)
        assert anonymous.status_code == 303
        assert anonymous.headers["location"] == "/admin/queues/login?next=%2F"
        login_page = client.get(anonymous.headers["location"])
        assert login_page.status_code == 200
        assert 'name="password"' in login_page.text

        token = re.search(r'name="csrf_token" value="([^"]+)"', login_page.text)
        assert token, "no CSRF token on the login form"
        fields = {"username": "alice", "password": "wrong", "next": "/", "csrf_token": token.group(1)}
        wrong = client.post("/admin/queues/login", data=fields)
        assert wrong.status_code == 401
        assert "Wrong user name or password." in wrong.text
        assert client.get("/admin/queues/", headers=HTML).status_code == 303

        right = client.post("/admin/queues/login", data={**fields, "password": "correct-horse"})
        assert right.status_code == 303
        assert right.headers["location"] == "/admin/queues/"
        board = client.get("/admin/queues/", headers=HTML)
        assert board.status_code == 200
        assert "mailers" in board.text
        assert "/admin/queues/static/board.css" in board.text
        css = client.get("/admin/queues/static/board.css")
        assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
        assert client.get("/admin/queues/queues/mailers", headers=HTML).status_code == 200

        assert client.post("/admin/queues/logout", data={"csrf_token": token.group(1)}).status_code == 303
        assert client.get("/admin/queues/", headers=HTML).status_code == 303


# Worker module + producer ---------------------------------------------------------------------------------------


@pytest.mark.timeout(60)
def test_worker_module_processes_delayed_prioritized_and_retried_jobs(
    redis_url: str, start_worker: StartWorker
) -> None:
    from examples.worker_module.produce import jobs, produce

    scale = 0.2  # delays of 1 s and 2 s; backoffs of 0.1 to 0.4 s
    ids = asyncio.run(produce(redis_url, "tasks", time_scale=scale))
    assert {kind: len(group) for kind, group in ids.items()} == {k: len(g) for k, g in jobs(scale).items()}
    total = sum(len(group) for group in ids.values())

    with SyncQueue("tasks", redis_url) as tasks:
        before = {job_id: tasks.get_job_state(job_id) for group in ids.values() for job_id in group}
        assert [before[i] for i in ids["delayed"]] == ["delayed", "delayed"]
        assert [before[i] for i in ids["prioritized"]] == ["prioritized"] * 3
        assert {before[i] for i in ids["plain"] + ids["retried"] + ids["exhausted"]} == {"waiting"}

        worker = start_worker("examples.worker_module.jobs:process", "tasks", "--concurrency", "5")
        wait_for(
            lambda: (c := tasks.get_job_counts("completed", "failed"))["completed"] + c["failed"] == total,
            30,
            f"all {total} jobs to finish",
        )
        assert worker.stop() == 0
        counts = tasks.get_job_counts("waiting", "active", "delayed", "prioritized", "completed", "failed")
        assert counts == {
            "waiting": 0,
            "active": 0,
            "delayed": 0,
            "prioritized": 0,
            "completed": total - 1,
            "failed": 1,
        }

        def job(job_id: str) -> Any:
            found = tasks.get_job(job_id)
            assert found is not None, job_id
            return found

        for job_id in ids["plain"]:
            plain = job(job_id)
            assert plain.progress == 100 and plain.attempts_made == 1
            assert plain.returnvalue["thumbnail"].startswith("thumbs/640/photo-")

        for job_id in ids["delayed"]:
            delayed = job(job_id)
            assert delayed.opts["delay"] in (1000, 2000)
            assert delayed.processed_on >= delayed.timestamp + delayed.opts["delay"]
            assert delayed.returnvalue["reminded"] in ("ada", "grace")

        # Added as 10, 5, 1: started as 1, 5, 10.
        reports = [job(job_id) for job_id in ids["prioritized"]]
        assert [r.priority for r in reports] == [10, 5, 1]
        assert reports[2].processed_on <= reports[1].processed_on <= reports[0].processed_on
        assert [r.returnvalue["priority"] for r in reports] == [10, 5, 1]

        twice, once = job(ids["retried"][0]), job(ids["retried"][1])
        assert twice.attempts_made == 3 and twice.returnvalue == {
            "order": "A-1001",
            "charged_cents": 4200,
            "attempt": 3,
        }
        assert len(twice.stacktrace) == 2 and "payment gateway timed out (attempt 2)" in twice.stacktrace[-1]
        # Backoffs of 0.2 s then 0.4 s (exponential) came between the attempts.
        assert twice.finished_on - twice.timestamp >= 600
        assert once.attempts_made == 2 and once.returnvalue["attempt"] == 2

        exhausted = job(ids["exhausted"][0])
        assert tasks.get_job_state(exhausted.id) == "failed"
        assert exhausted.attempts_made == 3
        assert exhausted.failed_reason == "payment gateway timed out (attempt 3)"
        assert len(exhausted.stacktrace) == 3
        assert f"job {exhausted.id} failed: payment gateway timed out (attempt 3)" in worker.output()
