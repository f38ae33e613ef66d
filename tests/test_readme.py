"""Every code block of README.md, run as a reader would run it, against the tests' Redis.

A block runs here through the one runner that recognises it: a web app through Starlette's TestClient,
a worker or a script as a process of its own, the ``curl`` calls against the README's own board served
by uvicorn. A block that cannot run here is marked on the line above it with
``<!-- not run: reason -->`` and checked as far as it can be without running it: shell syntax, the
``make`` targets, ``board`` flags and extras it names. A block neither run nor marked fails, so an edit
cannot leave a snippet that nobody runs.

The README's Redis, ``redis://localhost:6379``, becomes the tests' own; a runnable block that names any
other Redis fails rather than reach a server the suite did not start.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import importlib.util
import io
import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from starlette.routing import Mount
from starlette.testclient import TestClient

from board import Queue, SyncQueue, UnrecoverableError, Worker
from board.cli import parser
from tests.support import until, wait_for

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
README_REDIS = re.compile(r"redis://localhost:6379(?:/\d+)?")
README_BOARD = "http://localhost:8000"
JSON = {"Accept": "application/json"}


@dataclass(frozen=True)
class Block:
    line: int  # of the opening fence
    language: str
    code: str
    not_run: str | None  # the reason, for a block marked not to run

    @property
    def name(self) -> str:
        return f"README.md:{self.line} ({self.language or 'no language'})"


def read_blocks(text: str) -> list[Block]:
    lines = text.splitlines()
    blocks: list[Block] = []
    previous = ""  # the last line with text before the current one
    number = 0
    while number < len(lines):
        opening = re.fullmatch(r"```(\S*)\s*", lines[number])
        if opening is None:
            if lines[number].strip():
                previous = lines[number].strip()
            number += 1
            continue
        end = next((n for n in range(number + 1, len(lines)) if lines[n].rstrip() == "```"), None)
        assert end is not None, f"README.md:{number + 1}: this code block is never closed"
        marker = re.fullmatch(r"<!-- not run: (.*\S) -->", previous)
        code = "\n".join(lines[number + 1 : end]) + "\n"
        blocks.append(Block(number + 1, opening[1], code, marker[1] if marker else None))
        previous, number = "", end + 1
    return blocks


BLOCKS = read_blocks(README.read_text(encoding="utf-8"))


@dataclass
class Context:
    redis_url: str
    tmp: Path
    blocks: list[Block]

    def runnable(self, block: Block) -> str:
        """The block's code on the tests' Redis and nothing else."""
        code = README_REDIS.sub(self.redis_url, block.code)
        others = [url for url in re.findall(r"rediss?://[^\s\"')]+", code) if url != self.redis_url]
        assert not others, f"{block.name} names a Redis other than redis://localhost:6379: {others}"
        return code

    def only(self, runner: Runner) -> Block:
        found = [b for b in self.blocks if b.not_run is None and runner.matches(b)]
        assert len(found) == 1, f"expected one block for {runner.name}, found {[b.name for b in found]}"
        return found[0]


def load(code: str, path: Path) -> ModuleType:
    """Imports ``code`` as the module a reader would save it as."""
    path.write_text(code, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def close_connections(module: ModuleType, client: TestClient) -> None:
    """Closes, on the client's own event loop, the Redis connections the block opened: a mounted board's
    start-up and shut-down hooks never run, and the block's queues are its own to close."""
    portal = client.portal
    assert portal is not None, "only inside `with TestClient(...)`"
    for value in vars(module).values():
        if isinstance(value, Queue):
            portal.call(value.close)
    for route in getattr(getattr(module, "app", None), "routes", []):
        board = getattr(getattr(route.app, "state", None), "board", None) if isinstance(route, Mount) else None
        if board is not None:
            portal.call(board.adapter.close)


@contextlib.contextmanager
def process(argv: list[str], cwd: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# Runners: each recognises one block of the README and runs it ---------------------------------------------------


@dataclass(frozen=True)
class Runner:
    name: str
    matches: Callable[[Block], bool]
    run: Callable[[Block, Context], None]


def run_signup_app(block: Block, ctx: Context) -> None:
    module = load(ctx.runnable(block), ctx.tmp / "signup.py")
    with TestClient(module.app) as client:
        try:
            reply = client.post("/signup", json={"email": "ada@example.com"})
        finally:
            close_connections(module, client)
    assert reply.status_code == 201, reply.text
    with SyncQueue("email", ctx.redis_url) as emails:
        job = emails.get_job(reply.json()["queued"])
        assert job is not None and emails.get_job_state(job.id) == "waiting"
    assert job.data == {"to": "ada@example.com"}


@contextlib.contextmanager
def worker_script(ctx: Context) -> Iterator[subprocess.Popen[bytes]]:
    """The README's worker, run as it says: ``python worker.py``."""
    (ctx.tmp / "worker.py").write_text(ctx.runnable(ctx.only(WORKER)), encoding="utf-8")
    with process([sys.executable, "worker.py"], ctx.tmp, ctx.tmp / "worker.log") as proc:
        yield proc


def run_worker_script(block: Block, ctx: Context) -> None:
    with SyncQueue("email", ctx.redis_url) as emails:
        job = emails.add("welcome-email", {"to": "ada@example.com"})
        with worker_script(ctx) as worker:
            output = ctx.tmp / "worker.log"
            wait_for(
                lambda: worker.poll() is not None or emails.get_job_state(job.id) == "completed",
                20,
                "the worker to complete the job",
            )
            assert worker.poll() is None, output.read_text()
            worker.send_signal(signal.SIGTERM)
            assert worker.wait(20) == 0, output.read_text()
        assert emails.get_job_state(job.id) == "completed"


def run_queue_events_script(block: Block, ctx: Context) -> None:
    (ctx.tmp / "wait.py").write_text(ctx.runnable(block), encoding="utf-8")
    with worker_script(ctx):
        waited = subprocess.run(
            [sys.executable, "wait.py"], cwd=ctx.tmp, capture_output=True, text=True, timeout=45, check=False
        )
    assert waited.returncode == 0, f"{waited.stdout}\n{waited.stderr}"
    with SyncQueue("email", ctx.redis_url) as emails:
        # It returned only once the job had finished, so the job is there, completed.
        done = emails.get_jobs("completed")
    assert len(done) == 1, done
    # The snippet prints the job's return value: the worker snippet's {'sent': True}.
    assert waited.stdout.strip() == repr(done[0].returnvalue) == "{'sent': True}", waited.stdout


def run_sync_queue_script(block: Block, ctx: Context) -> None:
    exec(compile(ctx.runnable(block), block.name, "exec"), {"__name__": "__main__"})
    with SyncQueue("email", ctx.redis_url) as emails:
        assert emails.get_job_counts("waiting") == {"waiting": 1}


def board_mount(module: ModuleType) -> str:
    mounts = [
        r.path for r in module.app.routes if isinstance(r, Mount) and hasattr(getattr(r.app, "state", None), "board")
    ]
    assert len(mounts) == 1, f"expected the block to mount one board, found {mounts}"
    return str(mounts[0])


def run_board_app(block: Block, ctx: Context) -> None:
    module = load(ctx.runnable(block), ctx.tmp / "with_board.py")
    mount = board_mount(module)
    with TestClient(module.app) as client:
        try:
            health = client.get(f"{mount}/healthz")
            anonymous = client.get(f"{mount}/", headers=JSON)
        finally:
            close_connections(module, client)
    assert health.status_code == 200, health.text
    assert anonymous.status_code == 401, "the README's board is open to anyone"


def run_alerts_app(block: Block, ctx: Context) -> None:
    """The host app runs the board's lifespan, so its alert loop runs; the rules and the callable are there."""
    module = load(ctx.runnable(block), ctx.tmp / "with_alerts.py")
    mount = board_mount(module)
    loop = module.board_app.state.board.alerts
    with TestClient(module.app) as client:
        try:
            running = loop.running
            page = client.get(f"{mount}/alerts", headers={**JSON, "Authorization": "Basic YWxpY2U6czNjcmV0"})
        finally:
            assert client.portal is not None
            client.portal.call(loop.stop)
            close_connections(module, client)
    assert running and page.status_code == 200, page.text
    assert [rule["name"] for rule in page.json()["rules"]] == [rule.name for rule in loop.config.rules]
    assert set(loop.runner.callables) == {"on-call"} and page.json()["running"] is True


def make_failed_jobs(url: str, wanted: dict[str, set[str]]) -> None:
    """Failed jobs with these ids, failed by a real worker, for the calls that act on them. A custom id
    cannot be a number: the queue's own ids are, so a number is reached by adding that many jobs."""

    async def refuse(job: Any) -> None:
        raise UnrecoverableError("failed on purpose, for the README's curl calls")

    async def fail_all(queue: Queue, total: int) -> None:
        worker = Worker(queue.name, refuse, url, handle_signals=False, concurrency=10)
        running = asyncio.create_task(worker.run())

        async def all_failed() -> bool:
            return (await queue.get_job_counts("failed"))["failed"] == total

        await until(all_failed, 10, f"the {total} jobs of {queue.name!r} to fail")
        await worker.close()
        await running

    async def make() -> None:
        for queue_name, ids in wanted.items():
            numbered = max((int(i) for i in ids if i.isdigit()), default=0)
            custom = [{"name": "readme", "data": {}, "job_id": i} for i in sorted(ids) if not i.isdigit()]
            async with Queue(queue_name, url) as queue:
                added = await queue.add_bulk([{"name": "readme", "data": {}}] * numbered + custom)
                assert {i for i in ids} <= {job.id for job in added}, (ids, [job.id for job in added])
                await fail_all(queue, len(added))

    asyncio.run(make())


def shell_commands(code: str) -> list[str]:
    """Each command of a shell block, continuation lines joined."""
    return [c.strip() for c in code.replace("\\\n", " ").splitlines() if c.strip() and not c.strip().startswith("#")]


def run_curl_calls(block: Block, ctx: Context) -> None:
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    (ctx.tmp / "with_board.py").write_text(ctx.runnable(ctx.only(BOARD_APP)), encoding="utf-8")
    wanted: dict[str, set[str]] = {}
    for queue_name, job_id in re.findall(r"/queues/([^/?\s']+)/jobs/([^/?\s']+)", block.code):
        wanted.setdefault(queue_name, set()).add(job_id)
    make_failed_jobs(ctx.redis_url, wanted)

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    script = block.code.replace(README_BOARD, base)
    assert "localhost:8000" not in script, f"{block.name} calls a board other than {README_BOARD}"
    calls = sum(1 for c in shell_commands(block.code) if c.startswith("curl "))
    argv = [sys.executable, "-m", "uvicorn", "with_board:app", "--host", "127.0.0.1", "--port", str(port)]
    with process(argv, ctx.tmp, ctx.tmp / "uvicorn.log") as server:

        def serving() -> bool:
            assert server.poll() is None, (ctx.tmp / "uvicorn.log").read_text()
            with contextlib.suppress(OSError):
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                connection.request("GET", "/")
                connection.getresponse().read()
                connection.close()
                return True
            return False

        wait_for(serving, 20, "uvicorn to serve the README's board")
        # Each call must succeed (2xx) and print its JSON answer on a line of its own.
        prelude = 'set -euo pipefail\ncurl() { command curl --silent --show-error --fail-with-body "$@"; echo; }\n'
        result = subprocess.run(
            ["bash", "-c", prelude + script], capture_output=True, text=True, timeout=60, check=False
        )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}\n{(ctx.tmp / 'uvicorn.log').read_text()}"
    answers = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    assert len(answers) == calls, result.stdout
    assert all(isinstance(a, dict) and "error" not in a for a in answers), answers


SIGNUP_APP = Runner(
    "the Starlette app that enqueues",
    lambda b: b.language == "python" and "Starlette(" in b.code and "Worker(" not in b.code,
    run_signup_app,
)
WORKER = Runner(
    "the worker script",
    lambda b: b.language == "python" and "Worker(" in b.code and ".run()" in b.code,
    run_worker_script,
)
QUEUE_EVENTS = Runner(
    "the script that waits for a result",
    lambda b: b.language == "python" and "QueueEvents(" in b.code,
    run_queue_events_script,
)
SYNC_QUEUE = Runner(
    "the blocking SyncQueue script",
    lambda b: b.language == "python" and "SyncQueue(" in b.code,
    run_sync_queue_script,
)
BOARD_APP = Runner(
    "the app that mounts the board",
    lambda b: b.language == "python" and "create_board(" in b.code and "alerts=" not in b.code,
    run_board_app,
)
ALERTS_APP = Runner(
    "the board with alert rules",
    lambda b: b.language == "python" and "create_board(" in b.code and "alerts=" in b.code,
    run_alerts_app,
)
CURL_CALLS = Runner(
    "the curl calls of the JSON API",
    lambda b: b.language == "bash" and "curl " in b.code and README_BOARD in b.code,
    run_curl_calls,
)
RUNNERS = (SIGNUP_APP, WORKER, QUEUE_EVENTS, SYNC_QUEUE, BOARD_APP, ALERTS_APP, CURL_CALLS)


def runner_for(block: Block) -> Runner:
    found = [r for r in RUNNERS if r.matches(block)]
    if len(found) != 1:
        what = "no runner runs it" if not found else f"several runners match it: {[r.name for r in found]}"
        pytest.fail(
            f"{block.name}: {what}. Run it in tests/test_readme.py, or mark it on the line above with "
            "<!-- not run: reason -->"
        )
    return found[0]


# Blocks marked not to run: checked without running them ---------------------------------------------------------


def makefile_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    return {name for name in re.findall(r"^([A-Za-z][\w.-]*)\s*:(?!=)", text, re.MULTILINE)}


def help_of(command: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        parser().parse_args([command, "--help"])
    return out.getvalue()


def check_requirement(requirement: str, where: str) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    match = re.fullmatch(r"([^\[\]]+)(?:\[([\w,-]+)\])?", requirement)
    assert match, f"{where}: cannot read the requirement {requirement!r}"
    name, extras = match[1], (match[2] or "").split(",") if match[2] else []
    assert name in (".", project["name"]), f"{where}: installs {name!r}; the distribution is {project['name']!r}"
    unknown = set(extras) - set(project.get("optional-dependencies", {}))
    assert not unknown, f"{where}: no extra {sorted(unknown)} in pyproject.toml"


def check_not_run(block: Block) -> None:
    if block.language == "python":
        compile(block.code, block.name, "exec")
        return
    if block.language == "text":
        # A picture (the architecture): words, nothing to run or check.
        return
    if block.language == "toml":
        # A configuration file: the board's own loader must take it as it is (alerts or checks).
        from board.alerts import load_config
        from board.web.readiness import load_checks

        data = tomllib.loads(block.code)
        if "rules" in data or "webhooks" in data:
            load_config(data)
        else:
            load_checks(data)
        return
    assert block.language == "bash", f"{block.name}: a {block.language or 'plain'} block; check it here"
    syntax = subprocess.run(["bash", "-n"], input=block.code, capture_output=True, text=True, timeout=10, check=False)
    assert syntax.returncode == 0, f"{block.name}: {syntax.stderr}"
    for command in shell_commands(block.code):
        command = re.sub(r"\s#.*$", "", command)
        words = command.split()
        if words[0] == "make":
            targets = [w for w in words[1:] if "=" not in w and not w.startswith("-")]
            missing = set(targets) - makefile_targets()
            assert not missing, f"{block.name}: `{command}` names no target of the Makefile: {sorted(missing)}"
        elif words[0] == "board":
            shown = help_of(words[1])
            for flag in re.findall(r"(?<![\w-])--[a-z][a-z-]*", command):
                assert re.search(rf"(?<![\w-]){flag}(?![\w-])", shown), f"{block.name}: board {words[1]} has no {flag}"
        elif words[:2] == ["pip", "install"]:
            for requirement in words[2:]:
                if not requirement.startswith("-"):
                    check_requirement(requirement.strip("'\""), block.name)
        elif words[:2] == ["docker", "build"]:
            assert (ROOT / "Dockerfile").is_file(), f"{block.name}: no Dockerfile to build"


# Tests -----------------------------------------------------------------------------------------------------------


@pytest.mark.timeout(90)
@pytest.mark.parametrize("block", BLOCKS, ids=[b.name for b in BLOCKS])
def test_readme_block(block: Block, redis_url: str, tmp_path: Path) -> None:
    if block.not_run is not None:
        check_not_run(block)
        return
    runner_for(block).run(block, Context(redis_url, tmp_path, BLOCKS))


def test_the_readme_runs_its_examples() -> None:
    """A README whose blocks were all marked, or not found, would pass the test above without running one."""
    runs = {r.name for b in BLOCKS if b.not_run is None for r in RUNNERS if r.matches(b)}
    assert {SIGNUP_APP.name, WORKER.name, QUEUE_EVENTS.name} <= runs, runs


def test_a_block_neither_run_nor_marked_fails() -> None:
    text = (
        "Start it:\n\n```bash\nrm -rf /tmp/nothing-here\n```\n\n<!-- not run: a synopsis -->\n```bash\nmake demo\n```\n"
    )
    unmarked, marked = read_blocks(text)
    assert (unmarked.not_run, marked.not_run) == (None, "a synopsis")
    with pytest.raises(pytest.fail.Exception, match="no runner runs it"):
        runner_for(unmarked)
    check_not_run(marked)
    with pytest.raises(AssertionError, match="names no target"):
        check_not_run(read_blocks("<!-- not run: x -->\n```bash\nmake no-such-target\n```\n")[0])
    with pytest.raises(AssertionError, match="has no --colour"):
        check_not_run(read_blocks("<!-- not run: x -->\n```bash\nboard serve --colour\n```\n")[0])
    with pytest.raises(AssertionError, match="the distribution is 'board-queues'"):
        check_not_run(read_blocks("<!-- not run: x -->\n```bash\npip install 'board[embedded]'\n```\n")[0])


def test_every_variable_the_readme_names_is_read_by_the_code() -> None:
    source = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "board").rglob("*.py"))
    named = set(re.findall(r"\b(?:BOARD_[A-Z_]+|REDIS_URL)\b", README.read_text(encoding="utf-8")))
    # NAME_FILE is read for each secret NAME, by one helper.
    unread = sorted(n for n in named if f'"{n}"' not in source and f'"{n.removesuffix("_FILE")}"' not in source)
    assert not unread, f"the README names variables nothing reads: {unread}"
