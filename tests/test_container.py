"""The Docker image, checked without a Docker engine.

The Dockerfile is parsed, and its final stage held to what an image for production needs. Then its two
stages are played out here: the builder's ``pip wheel --wheel-dir /wheels .`` on exactly the files its COPY
lines name, and the final stage's ``pip install --no-index --find-links=/wheels board-queues`` into a fresh
virtual environment (the distribution is board-queues: ``board`` on PyPI is another project). The
installed ``board`` then runs as the image runs it (ENTRYPOINT + CMD with the image's ENV, HEALTHCHECK's
command), with the host set to loopback for the test.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from base64 import b64encode
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

import pytest

from board import SyncQueue

REPO = Path(__file__).resolve().parent.parent
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
USERS = "alice:alice-password-for-tests:admin"
ALICE = {"Authorization": "Basic " + b64encode(b"alice:alice-password-for-tests").decode()}
HTML = {"Accept": "text/html"}
PACKAGING_HINT = (
    "the wheel must ship them: pyproject.toml [tool.setuptools] maps board.templates / board.static to "
    "templates/ and static/ (package-dir), lists them in packages, and [tool.setuptools.package-data] "
    "must match every file (e.g. 'vendor/*' for static/vendor/)"
)


# The Dockerfile ----------------------------------------------------------------------------------------------


@dataclass
class Instruction:
    keyword: str
    args: str

    def exec_form(self) -> list[str]:
        """The JSON array of ENTRYPOINT, CMD or HEALTHCHECK ... CMD."""
        text = self.args
        if self.keyword == "HEALTHCHECK":
            text = text.split(" CMD ", 1)[1] if " CMD " in f" {text}" else ""
            text = text.removeprefix("CMD ").strip()
        value = json.loads(text)
        assert isinstance(value, list) and all(isinstance(v, str) for v in value), text
        return value


def parse_dockerfile(text: str) -> list[list[Instruction]]:
    """The instructions of each stage; ARG defaults given before the first FROM are substituted in FROM."""
    logical: list[str] = []
    pending = ""
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue  # comments and parser directives, also inside a continued instruction
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        pending += line
        if pending.strip():
            logical.append(" ".join(pending.split()))
        pending = ""
    if pending.strip():
        logical.append(" ".join(pending.split()))

    global_args: dict[str, str] = {}
    stages: list[list[Instruction]] = []
    for entry in logical:
        keyword, _, args = entry.partition(" ")
        keyword = keyword.upper()
        if keyword == "ARG" and not stages:
            name, _, default = args.partition("=")
            global_args[name.strip()] = default.strip()
            continue
        if keyword == "FROM":
            args = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: global_args.get(m[1] or m[2], m[0]), args)
            stages.append([])
        assert stages, f"{entry!r} comes before the first FROM"
        stages[-1].append(Instruction(keyword, args))
    return stages


def env_of(stage: list[Instruction]) -> dict[str, str]:
    env: dict[str, str] = {}
    for instruction in stage:
        if instruction.keyword != "ENV":
            continue
        words = shlex.split(instruction.args)
        if words and "=" not in words[0]:  # the old "ENV NAME value" form
            env[words[0]] = " ".join(words[1:])
            continue
        for word in words:
            name, _, value = word.partition("=")
            env[name] = value
    return env


def only(stage: list[Instruction], keyword: str) -> list[Instruction]:
    return [i for i in stage if i.keyword == keyword]


@pytest.fixture(scope="module")
def stages() -> list[list[Instruction]]:
    return parse_dockerfile(DOCKERFILE.read_text())


def builder_copies(stages: list[list[Instruction]]) -> list[tuple[list[str], str]]:
    """(sources, destination) of each COPY of the builder stage, from the build context."""
    copies = []
    for instruction in only(stages[0], "COPY"):
        words = [w for w in shlex.split(instruction.args) if not w.startswith("--")]
        assert not instruction.args.startswith("--from"), instruction
        copies.append((words[:-1], words[-1]))
    return copies


def test_dockerfile_builds_wheels_then_installs_only_them(stages: list[list[Instruction]]) -> None:
    assert len(stages) == 2, "expected two stages: a builder and the final image"
    builder, final = stages
    assert re.fullmatch(r"python:3\.1[12]-slim AS builder", builder[0].args, re.IGNORECASE), builder[0]
    assert re.fullmatch(r"python:3\.1[12]-slim", final[0].args), final[0]
    builder_runs = " && ".join(i.args for i in only(builder, "RUN"))
    assert re.search(r"pip wheel --wheel-dir[ =]/wheels \.(\s|$)", builder_runs), builder_runs

    final_runs = " && ".join(i.args for i in only(final, "RUN"))
    assert re.search(r"pip install --no-index --find-links[ =]/wheels board-queues(\s|$)", final_runs), final_runs
    assert "from=builder" in final_runs and "/wheels" in final_runs
    for tool in ("gcc", "g++", "build-essential", "make ", "apt-get install", "apk add", "pip wheel"):
        assert tool not in final_runs, f"the final stage installs or runs {tool.strip()!r}: {final_runs}"
    # Nothing but wheels comes from outside: no source tree in the final image.
    assert not only(final, "ADD")
    assert all("--from=builder" in i.args for i in only(final, "COPY")), only(final, "COPY")


def test_dockerfile_final_stage_runs_board_as_a_non_root_user(stages: list[list[Instruction]]) -> None:
    final = stages[-1]
    keywords = [i.keyword for i in final]
    users = only(final, "USER")
    assert users, "the final stage has no USER: it would run as root"
    user = users[-1].args.split(":")[0]
    assert user not in ("root", "0"), users[-1]
    last_run = max(i for i, k in enumerate(keywords) if k == "RUN")
    assert keywords.index("USER") > last_run, "USER must come after the RUN steps that need root"

    assert only(final, "ENTRYPOINT")[-1].exec_form() == ["board"]
    assert only(final, "CMD")[-1].exec_form() == ["serve"]
    healthchecks = only(final, "HEALTHCHECK")
    assert healthchecks and healthchecks[-1].exec_form() == ["board", "health"]
    assert "8000" in only(final, "EXPOSE")[-1].args.split()
    env = env_of(final)
    assert env["BOARD_HOST"] == "0.0.0.0" and env["BOARD_PORT"] == "8000"


def test_dockerignore_keeps_the_context_small_but_complete(stages: list[list[Instruction]]) -> None:
    patterns = [
        line.strip() for line in DOCKERIGNORE.read_text().splitlines() if line.strip() and not line.startswith("#")
    ]
    for needed in (".git", ".venv", "**/node_modules", "**/__pycache__", ".mypy_cache", ".pytest_cache"):
        assert needed in patterns, f".dockerignore does not exclude {needed}"
    for sources, _ in builder_copies(stages):
        for source in sources:
            assert (REPO / source).exists(), f"COPY {source}: not in the repository"
            excluded = [p for p in patterns if not p.startswith("!") and fnmatch.fnmatch(source, p)]
            assert not excluded, f"COPY {source} is excluded from the build context by {excluded}"


# The image, played out in a virtual environment ------------------------------------------------------------------


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without anything that would point at the checkout or its virtual environment."""
    drop = ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "REDIS_URL")
    env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("BOARD_")}
    env.update(extra)
    return env


def run(
    command: Sequence[str | Path], timeout: float, *, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(c) for c in command], capture_output=True, text=True, timeout=timeout, check=False, cwd=cwd, env=env
    )


@dataclass
class Image:
    root: Path  # an empty folder to run in, as the image's WORKDIR
    bin: Path
    package: Path  # the installed board package
    stages: list[list[Instruction]]

    def command(self, argv: list[str]) -> list[str]:
        """An exec-form command of the image, with ``board`` resolved to the virtual environment's."""
        assert argv[0] == "board", argv
        return [str(self.bin / "board"), *argv[1:]]

    def env(self, **extra: str) -> dict[str, str]:
        return clean_env(**{**env_of(self.stages[-1]), **extra})


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Image:
    stages = parse_dockerfile(DOCKERFILE.read_text())
    tmp = tmp_path_factory.mktemp("image")

    # The builder stage, on the files its COPY lines name (not the working tree: no build/ left there).
    context = tmp / "src"
    context.mkdir()
    for sources, destination in builder_copies(stages):
        for source in sources:
            origin = REPO / source
            target = context / destination
            if destination.endswith("/") or len(sources) > 1:
                target = target / origin.name
            if origin.is_dir():
                shutil.copytree(origin, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, target)
    wheels = tmp / "wheels"
    built = run([sys.executable, "-m", "pip", "wheel", "--wheel-dir", wheels, "."], 240, cwd=context, env=clean_env())
    assert built.returncode == 0, f"pip wheel failed:\n{built.stdout}\n{built.stderr}"
    assert any(wheels.glob("board_queues-*.whl")), sorted(p.name for p in wheels.iterdir())

    # The final stage: a fresh environment, installed from the wheels alone.
    venv = tmp / "venv"
    made = run([sys.executable, "-m", "venv", venv], 120, env=clean_env())
    assert made.returncode == 0, made.stderr
    installed = run(
        [venv / "bin" / "python", "-m", "pip", "install", "--no-index", f"--find-links={wheels}", "board-queues"],
        240,
        env=clean_env(),
    )
    assert installed.returncode == 0, f"pip install failed:\n{installed.stdout}\n{installed.stderr}"

    root = tmp / "app"
    root.mkdir()
    where = run(
        [venv / "bin" / "python", "-c", "import board, pathlib; print(pathlib.Path(board.__file__).parent)"],
        60,
        cwd=root,
        env=clean_env(),
    )
    assert where.returncode == 0, where.stderr
    package = Path(where.stdout.strip())
    assert venv in package.parents, f"board imported from {package}, not from the fresh environment"
    return Image(root=root, bin=venv / "bin", package=package, stages=stages)


def test_the_installed_package_ships_templates_static_files_and_scripts(image: Image) -> None:
    expected = {
        **{f"templates/{p.relative_to(REPO / 'templates')}": p for p in (REPO / "templates").rglob("*")},
        **{f"static/{p.relative_to(REPO / 'static')}": p for p in (REPO / "static").rglob("*")},
        **{f"engine/lua/{p.name}": p for p in (REPO / "board" / "engine" / "lua").glob("*.lua")},
        "py.typed": REPO / "board" / "py.typed",
    }
    files = {name: path for name, path in expected.items() if path.is_file()}
    missing = sorted(name for name in files if not (image.package / name).is_file())
    assert not missing, f"missing from the installed package {image.package}: {missing}; {PACKAGING_HINT}"
    differing = sorted(name for name, path in files.items() if (image.package / name).read_bytes() != path.read_bytes())
    assert not differing, f"installed files differ from the checkout: {differing}"

    # The board finds them in the package, not in some checkout.
    found = run(
        [
            image.bin / "python",
            "-c",
            "from board.web.render import asset_dir; print(asset_dir('templates')); print(asset_dir('static'))",
        ],
        60,
        cwd=image.root,
        env=clean_env(),
    )
    assert found.returncode == 0, found.stderr
    assert found.stdout.split() == [str(image.package / "templates"), str(image.package / "static")]


def test_the_distribution_is_board_queues_and_its_hints_say_so(image: Image) -> None:
    """``board`` on PyPI is an unrelated project: what is installed, and what a user is told to install,
    is board-queues; the package and the command keep the name board."""
    python = str(image.bin / "python")
    shown = run(
        [
            python,
            "-c",
            "import importlib.metadata as m; d = m.distribution('board-queues'); print(d.metadata['Name']); "
            "print([e.value for e in d.entry_points if e.group == 'console_scripts' and e.name == 'board'])",
        ],
        60,
        cwd=image.root,
        env=clean_env(),
    )
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines() == ["board-queues", "['board.cli:main']"]
    other = run([python, "-c", "import importlib.metadata as m; m.distribution('board')"], 60, cwd=image.root)
    assert other.returncode == 1 and "PackageNotFoundError" in other.stderr, other

    # No redis-server on this PATH and no embedded extra in this environment: the hint names what to install.
    hint = run(
        [python, "-c", "from board.redis_server import find_redis_server; find_redis_server()"],
        60,
        cwd=image.root,
        env=clean_env(PATH=str(image.bin)),
    )
    assert hint.returncode == 1, hint
    assert "pip install 'board-queues[embedded]'" in hint.stderr.splitlines()[-1], hint.stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, Message, bytes]:
    """Status, headers (case-insensitive) and body; straight to the server, whatever proxy is set."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with _NO_PROXY.open(request, timeout=10) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


@pytest.fixture
def served(image: Image, redis_url: str, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int, Path]]:
    """``board serve`` as the image starts it: ENTRYPOINT + CMD with the image's ENV, on loopback."""
    with SyncQueue("mailers", redis_url) as mailers:
        mailers.add("digest", {"week": 12})
    port = free_port()
    final = image.stages[-1]
    argv = only(final, "ENTRYPOINT")[-1].exec_form() + only(final, "CMD")[-1].exec_form()
    env = image.env(
        BOARD_HOST="127.0.0.1", BOARD_PORT=str(port), REDIS_URL=redis_url, BOARD_AUTH="basic", BOARD_USERS=USERS
    )
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(image.command(argv), cwd=image.root, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc, port, log
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def health(image: Image, port: int) -> subprocess.CompletedProcess[str]:
    """The image's HEALTHCHECK command, with the image's ENV and the test's port."""
    argv = only(image.stages[-1], "HEALTHCHECK")[-1].exec_form()
    return run(image.command(argv), 30, cwd=image.root, env=image.env(BOARD_PORT=str(port)))


@pytest.mark.timeout(180)
def test_board_serve_and_its_health_check_as_the_image_runs_them(
    image: Image, served: tuple[subprocess.Popen[bytes], int, Path]
) -> None:
    proc, port, log = served
    base = f"http://127.0.0.1:{port}"

    def output() -> str:
        return log.read_text(errors="replace")

    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"board serve exited with {proc.returncode}:\n{output()}")
        check = health(image, port)
        if check.returncode == 0:
            break
        assert check.returncode == 1, f"board health: exit {check.returncode}: {check.stderr}"
        assert time.monotonic() < deadline, f"never healthy: {check.stderr}\n{output()}"
        time.sleep(0.2)
    assert check.stdout.strip() == "healthy"
    assert f"board serving on {base}/" in output()

    status, headers, _ = get(f"{base}/", HTML)
    assert status == 401
    assert headers.get("WWW-Authenticate", "").startswith('Basic realm="board"')
    assert get(f"{base}/", {**HTML, "Authorization": "Basic " + b64encode(b"alice:wrong").decode()})[0] == 401
    assert get(f"{base}/static/board.css")[0] == 401

    status, headers, body = get(f"{base}/", {**HTML, **ALICE})
    assert status == 200, body[:500]
    page = body.decode()
    assert "mailers" in page
    assert '<link rel="stylesheet" href="/static/board.css">' in page, f"no stylesheet link; {PACKAGING_HINT}"
    scripts = re.findall(r'<script src="(/static/[^"]+)"', page)
    assert "/static/board.js" in scripts and any(s.startswith("/static/vendor/") for s in scripts), scripts
    status, headers, css = get(f"{base}/static/board.css", ALICE)
    assert status == 200, f"/static/board.css: {status}; {PACKAGING_HINT}"
    assert headers.get("Content-Type", "").startswith("text/css")
    assert css == (REPO / "static" / "board.css").read_bytes()
    for script in scripts:
        assert get(base + script, ALICE)[0] == 200, f"{script}; {PACKAGING_HINT}"

    # `docker stop` sends SIGTERM: the server shuts down cleanly, and the health check then fails. After a
    # graceful shutdown uvicorn raises the signal again, so the process ends by SIGTERM (143 in a container).
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) in (0, -signal.SIGTERM), output()
    assert "Application shutdown complete." in output()
    down = health(image, port)
    assert down.returncode == 1 and down.stderr.startswith("unhealthy"), down


def test_board_serve_refuses_the_image_address_without_auth(image: Image, redis_url: str) -> None:
    """With the image's BOARD_HOST=0.0.0.0 and no BOARD_AUTH, ``board serve`` stops before listening."""
    final = image.stages[-1]
    argv = only(final, "ENTRYPOINT")[-1].exec_form() + only(final, "CMD")[-1].exec_form()
    refused = run(image.command(argv), 60, cwd=image.root, env=image.env(REDIS_URL=redis_url))
    assert refused.returncode == 2, refused
    assert "refusing to serve without auth on 0.0.0.0" in refused.stderr
    assert "BOARD_AUTH" in refused.stderr
