"""The Lua scripts' own rules: one operation per script, a header that says what each takes, returns and
writes to the events stream, return codes named once for Lua and Python alike, and helpers that work on
whichever queue they are given."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from board import Queue
from board.engine.codes import Code, Finished, error_for
from board.engine.errors import JobLockedError, JobNotFound, JobStateError, LockLostError, QueueStateError
from board.engine.keys import SCRIPT_KEY_SUFFIXES, QueueKeys
from board.engine.scripts import LUA_DIR, all_scripts, script

SCRIPTS = sorted(p for p in LUA_DIR.glob("*.lua") if not p.stem.startswith("_"))
HELPERS = sorted(p for p in LUA_DIR.glob("_*.lua"))


def _lua(name: str) -> str:
    return (LUA_DIR / f"{name}.lua").read_text(encoding="utf-8")


def _code_lines(text: str) -> str:
    """The text without its comments (block comments, then line comments)."""
    text = re.sub(r"--\[\[.*?\]\]", "", text, flags=re.S)
    return re.sub(r"--.*", "", text)


def lua_codes() -> dict[str, int]:
    """The named return codes of _lib.lua: the constants from its "Return codes" comment to the next
    blank line."""
    lines = _lua("_lib").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("-- Return codes"))
    codes: dict[str, int] = {}
    for line in lines[start:]:
        if not line.strip():
            break
        found = re.match(r"local ([A-Z][A-Z_]*) = (-?\d+)\b", line)
        if found:
            codes[found[1]] = int(found[2])
    return codes


def header(path: Any) -> str:
    found = re.match(r"--\[\[\n(.*?)\n\]\]", path.read_text(encoding="utf-8"), re.S)
    assert found, f"{path.name} has no header comment"
    return found[1]


def paragraph(text: str, label: str) -> str:
    """The header's ``label`` line and the lines that continue it (indented past the label)."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"  {label}"))
    out = [lines[start]]
    for line in lines[start + 1 :]:
        if not line.startswith("  ") or re.match(r"  (KEYS|ARGV|Returns|Events)\b", line):
            break
        out.append(line)
    return "\n".join(out)


# Codes


def test_the_lua_codes_are_the_python_ones() -> None:
    named = lua_codes()
    python = {c.name: int(c) for c in Code} | {f.name: int(f) for f in Finished}
    assert named == python
    assert len(set(named.values()) - {0, 1}) == len(named) - 2, "two names for one code"


def test_bullmq_numbers_are_kept_where_the_meaning_is_bullmqs() -> None:
    # enums/error-code.ts: JobNotExist, JobLockNotExist, JobNotInState, JobLockMismatch.
    assert (Code.JOB_NOT_FOUND, Code.JOB_LOCK_MISSING, Code.JOB_NOT_IN_STATE, Code.JOB_LOCK_MISMATCH) == (
        -1,
        -2,
        -3,
        -6,
    )
    # The board's own are out of BullMQ's range, which grows down from -1.
    assert all(c <= -101 for c in (Code.JOB_LOCKED, Code.QUEUE_NOT_PAUSED, Code.QUEUE_HAS_ACTIVE_JOBS))


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_no_script_returns_a_bare_code(path: Any) -> None:
    code = _code_lines(path.read_text(encoding="utf-8"))
    assert not re.findall(r"return\s+-\d|code\s*=\s*-?\d", code), f"{path.name}: use the names of _lib.lua"


def test_each_code_becomes_its_exception() -> None:
    def err(code: int, **extra: str) -> Exception:
        return error_for(code, action="promote", queue="mail", job_id="7", **extra)

    assert isinstance(err(Code.JOB_NOT_FOUND), JobNotFound)
    assert str(err(Code.JOB_NOT_IN_STATE, state="delayed")) == "cannot promote job '7': it is not delayed"
    assert isinstance(err(Code.JOB_NOT_IN_STATE), JobStateError)
    assert isinstance(err(Code.JOB_LOCKED), JobLockedError)
    assert isinstance(err(Code.JOB_LOCK_MISSING), LockLostError)
    assert isinstance(err(Code.JOB_LOCK_MISMATCH), LockLostError)
    refused = error_for(Code.QUEUE_NOT_PAUSED, action="obliterate", queue="mail")
    assert isinstance(refused, QueueStateError) and str(refused) == "cannot obliterate queue 'mail': pause it first"
    assert isinstance(error_for(Code.QUEUE_HAS_ACTIVE_JOBS, action="obliterate", queue="mail"), QueueStateError)
    with pytest.raises(ValueError):
        error_for(-99, action="promote", queue="mail")


# Headers and layout


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: p.name)
def test_every_script_header_says_keys_argv_returns_and_events(path: Any) -> None:
    text = header(path)
    for label in (r"KEYS: ", r"ARGV\[1\b", r"Returns: ", r"Events: "):
        assert re.search(rf"^  {label}", text, re.M), f"{path.name}: no {label!r} line in its header"
    body = _code_lines(path.read_text(encoding="utf-8"))
    events = paragraph(text, "Events:")
    for event in re.findall(r'emit\(Q, "([a-z-]+)"', body):
        assert re.search(rf"\b{event}\b", events), f"{path.name} writes {event!r}, not listed in {events!r}"
    returns = paragraph(text, "Returns:")
    for name in set(re.findall(r"\b([A-Z][A-Z_]+)\b", body)) & set(lua_codes()):
        assert name in returns, f"{path.name} returns {name}, not listed in its header"


def test_one_operation_per_script() -> None:
    names = {p.stem for p in SCRIPTS}
    assert {"change_priority", "change_delay", "update_data", "update_progress", "add_log"} <= names
    assert {"promote_job", "promote_jobs", "pause", "resume"} <= names
    assert not {"change_job", "promote"} & names
    for path in SCRIPTS:
        # An argument that names an operation ("pause"/"resume", "priority"/"delay") is two scripts.
        assert not re.search(r'ARGV\[\d+\] == "(pause|resume|priority|delay|data|progress|log)"', path.read_text())


def test_helpers_are_given_the_queue_they_work_on() -> None:
    # Q (the current queue) is built after the helpers, so none can close over it.
    for path in HELPERS:
        if path.stem != "_queue":
            code = _code_lines(path.read_text(encoding="utf-8"))
            assert not re.search(r"\bQ\b|\bBASE\b|\bKEYS\b|\bARGV\b", code), f"{path.name} uses the current queue"
    parts = script("finish_jobs").source
    assert parts.index("local function fetchJobs(") < parts.index("local Q = ") < parts.index("local now = ")


def test_the_lua_queue_keys_are_keys_py_script_keys() -> None:
    found = re.search(r"local QUEUE_KEYS = \{(.*?)\n\}", _lua("_lib"), re.S)
    assert found
    assert tuple(re.findall(r'\{"\w+", "([a-z-]+)"\}', found[1])) == SCRIPT_KEY_SUFFIXES


def test_the_current_queue_takes_each_key_in_the_order_of_queue_keys() -> None:
    pairs = re.findall(r'\{"(\w+)", "[a-z-]+"\}', _lua("_lib"))[: len(SCRIPT_KEY_SUFFIXES)]
    constructor = re.search(r"local Q = \{(.*?)\n\}", _lua("_queue"), re.S)
    assert constructor
    built = dict(re.findall(r"(\w+) = KEYS\[(\d+)\]", constructor[1]))
    assert built == {name: str(i) for i, name in enumerate(pairs, start=1)}


def test_a_script_carries_only_the_helpers_and_tables_it_uses() -> None:
    add = script("add_job").source
    # add_job checks no other queue's key types: neither the check nor its table is defined on its calls.
    assert "local function queueProblem(" not in add and "local QUEUE_KEY_TYPES = {" not in add
    assert "local QUEUE_KEYS = {" not in add
    # What it uses stays, and so does what those use in turn (isJobId reads QUEUE_KEY_NAMES).
    assert "local function storeJob(" in add and "local function emit(" in add
    assert "local QUEUE_KEY_NAMES = {" in add or "local function isJobId(" not in add
    # A script that may move a job into another queue (a dead letter) carries both, through deadLetter.
    finish = script("finish_jobs").source
    assert "local function deadLetter(" in finish
    assert "local function queueProblem(" in finish and "local QUEUE_KEY_TYPES = {" in finish


def test_every_script_loads(raw: redis.Redis) -> None:
    for loaded in all_scripts():
        assert raw.script_load(loaded.source) == loaded.sha


# Helpers on another queue's keys


@pytest.fixture
def small_stream_nodes(raw: redis.Redis) -> Iterator[None]:
    """One entry per stream node, so that XADD MAXLEN ~ n trims to exactly n."""
    before = str(raw.config_get("stream-node-max-entries")["stream-node-max-entries"])
    raw.config_set("stream-node-max-entries", 1)
    yield
    raw.config_set("stream-node-max-entries", before)


def run(raw: redis.Redis, keys: QueueKeys, name: str, *args: Any) -> Any:
    return raw.eval(script(name).source, len(keys.script_keys), *keys.script_keys, keys.base, *args)


@pytest.mark.usefixtures("small_stream_nodes")
@pytest.mark.parametrize("priority", [0, 3])
async def test_a_child_completed_releases_its_parent_in_the_parents_queue(
    queue: Queue, raw: redis.Redis, qname: str, priority: int
) -> None:
    child_q, parent_q = QueueKeys("bull", qname), QueueKeys("bull", qname + "-parents")
    child = await queue.add("child", {})
    parent_key = parent_q.job("p1")
    raw.hset(parent_key, mapping={"name": "parent", "data": "{}", "opts": "{}", "timestamp": 1, "priority": priority})
    raw.zadd(parent_q.waiting_children, {"p1": 1})
    raw.sadd(parent_q.dependencies("p1"), child_q.job(child.id))
    raw.hset(
        child_q.job(child.id),
        mapping={"parentKey": parent_key, "parent": json.dumps({"id": "p1", "queueKey": parent_q.queue_key})},
    )
    # Each queue trims its own stream to its own opts.maxLenEvents: the parent's to 2 here.
    raw.hset(parent_q.meta, "opts.maxLenEvents", 2)
    for i in range(5):
        raw.xadd(parent_q.events, {"event": "filler", "n": i})
    child_events = raw.xlen(child_q.events)

    status, fetched, _, _ = run(raw, child_q, "fetch_jobs", 1, 1, 30_000, "t", 1, "", 0, 0)
    assert status == 0 and fetched[0] == child.id
    finish = [2, 0, 30_000, "t", 2, "", 0, 0, 1, child.id, fetched[1], "c", '"ok"', -1, 0, "", ""]
    codes, _ = run(raw, child_q, "finish_jobs", *finish)
    assert codes == [Finished.FINISHED]

    assert raw.zcard(parent_q.waiting_children) == 0
    assert raw.hget(parent_q.processed("p1"), child_q.job(child.id)) == '"ok"'
    if priority:
        assert raw.zrange(parent_q.prioritized, 0, -1) == ["p1"] and raw.llen(parent_q.wait) == 0
        assert raw.get(parent_q.pc) == "1"
    else:
        assert raw.lrange(parent_q.wait, 0, -1) == ["p1"]
    assert raw.zrange(parent_q.marker, 0, -1, withscores=True) == [("0", 0.0)]
    newest = raw.xrevrange(parent_q.events, count=1)
    assert newest and newest[0][1] == {"event": "waiting", "jobId": "p1", "prev": "waiting-children"}
    assert raw.xlen(parent_q.events) == 2
    # The child's queue kept its own, larger bound: nothing of its stream was trimmed.
    assert raw.xlen(child_q.events) > child_events >= 2


async def test_a_paused_parent_queue_gets_no_marker(queue: Queue, raw: redis.Redis, qname: str) -> None:
    child_q, parent_q = QueueKeys("bull", qname), QueueKeys("bull", qname + "-parents")
    child = await queue.add("child", {})
    raw.hset(parent_q.job("p1"), mapping={"name": "parent", "data": "{}", "opts": "{}", "timestamp": 1})
    raw.hset(parent_q.meta, "paused", 1)
    raw.zadd(parent_q.waiting_children, {"p1": 1})
    raw.sadd(parent_q.dependencies("p1"), child_q.job(child.id))
    raw.hset(
        child_q.job(child.id),
        mapping={"parentKey": parent_q.job("p1"), "parent": json.dumps({"id": "p1", "queueKey": parent_q.queue_key})},
    )
    _, fetched, _, _ = run(raw, child_q, "fetch_jobs", 1, 1, 30_000, "t", 1, "", 0, 0)
    finish = [2, 0, 30_000, "t", 2, "", 0, 0, 1, child.id, fetched[1], "c", "1", -1, 0, "", ""]
    assert run(raw, child_q, "finish_jobs", *finish)[0] == [Finished.FINISHED]
    assert raw.lrange(parent_q.wait, 0, -1) == ["p1"] and raw.exists(parent_q.marker) == 0


# Codes, end to end


async def test_refusals_come_back_as_the_engine_exceptions(queue: Queue, raw: redis.Redis, qname: str) -> None:
    keys = QueueKeys("bull", qname)
    job = await queue.add("a", {})
    with pytest.raises(JobNotFound):
        await queue.promote_job("nope")
    with pytest.raises(JobStateError, match="it is not delayed"):
        await queue.promote_job(job.id)
    assert run(raw, keys, "change_delay", job.id, 5, 0) == Code.JOB_NOT_IN_STATE
    assert run(raw, keys, "update_data", "nope", "{}") == Code.JOB_NOT_FOUND
    raw.set(keys.lock(job.id), "someone")
    with pytest.raises(JobLockedError):
        await queue.remove(job.id)
    assert run(raw, keys, "remove_job", job.id) == Code.JOB_LOCKED
    with pytest.raises(QueueStateError, match="pause it first"):
        await queue.obliterate()
    raw.rpush(keys.active, job.id)
    await queue.pause()
    with pytest.raises(QueueStateError, match="active jobs"):
        await queue.obliterate()
    assert run(raw, keys, "obliterate", "0", 10) == Code.QUEUE_HAS_ACTIVE_JOBS


async def test_finish_codes_name_what_became_of_each_job(queue: Queue, raw: redis.Redis, qname: str) -> None:
    keys = QueueKeys("bull", qname)
    a, b, c = [await queue.add(n, {}) for n in "abc"]
    status, fetched, _, _ = run(raw, keys, "fetch_jobs", 1, 3, 30_000, "t", 1, "", 0, 0)
    assert status == 0
    tokens = dict(zip(fetched[0::3], fetched[1::3], strict=True))
    raw.delete(keys.lock(b.id))
    raw.delete(keys.job(c.id))

    def finish(*jobs: tuple[str, str]) -> list[int]:
        groups = [v for job_id, token in jobs for v in (job_id, token, "c", "1", -1, 0, "", "")]
        codes, _ = run(raw, keys, "finish_jobs", 2, 0, 30_000, "t", 9, "", 0, 0, len(jobs), *groups)
        return [int(code) for code in codes]

    assert finish((a.id, "wrong"), (b.id, tokens[b.id]), (c.id, tokens[c.id])) == [
        Code.JOB_LOCK_MISMATCH,
        Code.JOB_LOCK_MISSING,
        Code.JOB_NOT_FOUND,
    ]
    assert finish((a.id, tokens[a.id])) == [Finished.FINISHED]
    assert finish((a.id, tokens[a.id])) == [Finished.FINISHED_EARLIER]
