"""A job as stored in its Redis hash (BullMQ's fields under Python names), and its methods.

Reading never fails because another program wrote a field badly: a field that does not decode keeps
its raw text and is named in ``Job.problems``, so that a page can show it and a worker can fail just
that one job with a clear reason. The same goes for JSON nested too deep to read, and for an id
listed in a state whose key is not a hash at all (``problems["key"]``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from .options import to_ms

if TYPE_CHECKING:
    from .events import QueueEvents
    from .queue import Queue
    from .sync_queue import SyncQueue

_TEXT, _INT, _JSON = 0, 1, 2
# Hash field -> (attribute, how it is stored).
_FIELDS: dict[str, tuple[str, int]] = {
    "name": ("name", _TEXT),
    "failedReason": ("failed_reason", _TEXT),
    "pb": ("processed_by", _TEXT),
    "parentKey": ("parent_key", _TEXT),
    "rjk": ("repeat_job_key", _TEXT),
    "deid": ("deduplication_id", _TEXT),
    "defa": ("deferred_failure", _TEXT),
    "timestamp": ("timestamp", _INT),
    "delay": ("delay", _INT),
    "priority": ("priority", _INT),
    "processedOn": ("processed_on", _INT),
    "finishedOn": ("finished_on", _INT),
    "atm": ("attempts_made", _INT),
    "ats": ("attempts_started", _INT),
    "stc": ("stalled_counter", _INT),
    "data": ("data", _JSON),
    "opts": ("opts", _JSON),
    "returnvalue": ("returnvalue", _JSON),
    "progress": ("progress", _JSON),
}
_REQUIRED = ("name", "data", "opts", "timestamp")
# Set by job_rows.lua in place of the fields when a listed id's key is not a hash: the key's type.
KEY_TYPE_FIELD = "board:keytype"
# Redis integers are 64-bit: a larger number in an integer field was not written by Redis or BullMQ.
_INT_LIMIT = 2**63


def key_type_problem(fields: Mapping[str, str]) -> str | None:
    kind = fields.get(KEY_TYPE_FIELD)
    return None if kind is None else f"stored key is a {kind}, not a job hash"


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text[:20]} is out of a float's range")
    return number


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# One decoder for every read: json.loads with options builds a new one per call.
_DECODER = json.JSONDecoder(parse_constant=_constant, parse_float=_finite)


def _loads(text: str) -> tuple[Any, str | None]:
    """The decoded JSON and None, or the text and why it does not decode. NaN, Infinity and numbers past a
    float's range are refused: no JSON writer could write them back."""
    try:
        if text.startswith("\ufeff"):
            # json.loads's own refusal, which the decoder alone does not make.
            return json.loads(text, parse_constant=_constant, parse_float=_finite), None
        return _DECODER.decode(text), None
    except ValueError as exc:
        return text, f"not valid JSON: {exc}"
    except RecursionError:
        return text, "nested too deep to read"


def _int(text: str) -> int | None:
    try:
        value = int(text)
    except ValueError:
        try:
            value = int(float(text))
        except (ValueError, OverflowError):
            return None
    return value if -_INT_LIMIT <= value < _INT_LIMIT else None


def _has_surrogates(text: str) -> bool:
    """Replies decode with surrogateescape: bytes that were not UTF-8 show up as lone surrogates."""
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _ms_to_datetime(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC)


class JobRecord:
    """The fields of one job hash. Times are epoch milliseconds, as stored."""

    __slots__ = (
        "attempts_made",
        "attempts_started",
        "data",
        "deduplication_id",
        "deferred_failure",
        "delay",
        "failed_reason",
        "finished_on",
        "id",
        "name",
        "opts",
        "parent",
        "parent_key",
        "priority",
        "problems",
        "processed_by",
        "processed_on",
        "progress",
        "queue_name",
        "raw",
        "repeat_job_key",
        "returnvalue",
        "stacktrace",
        "stalled_counter",
        "timestamp",
    )

    def __init__(
        self, queue_name: str, job_id: str, fields: Mapping[str, str], known: Mapping[str, Any] | None = None
    ) -> None:
        self.queue_name = queue_name
        self.id = job_id
        self.raw: dict[str, str] = dict(fields)
        self.problems: dict[str, str] = {}
        self.name = ""
        self.data: Any = None
        self.opts: dict[str, Any] = {}
        self.timestamp = 0
        self.delay = 0
        self.priority = 0
        self.processed_on: int | None = None
        self.finished_on: int | None = None
        self.attempts_made = 0
        self.attempts_started = 0
        self.stalled_counter = 0
        self.returnvalue: Any = None
        self.progress: Any = 0
        self.failed_reason: str | None = None
        self.processed_by: str | None = None
        self.parent_key: str | None = None
        self.repeat_job_key: str | None = None
        self.deduplication_id: str | None = None
        self.deferred_failure: str | None = None
        self.parent: dict[str, Any] | None = None
        self.stacktrace: list[str] = []
        if known is None:
            self._parse(fields)
        else:
            # Values the caller already holds (a fresh add): no need to decode what was just encoded.
            for attr, value in known.items():
                setattr(self, attr, value)

    def _parse(self, fields: Mapping[str, str]) -> None:
        wrong_type = key_type_problem(fields)
        if wrong_type is not None:
            self.problems["key"] = wrong_type
        for required in _REQUIRED:
            if required not in fields:
                self.problems[required] = "missing"
        self._read_fields(fields)
        if not isinstance(self.opts, dict):
            self.problems.setdefault("opts", "not a JSON object")
            self.opts = {}
        stack = fields.get("stacktrace")
        if stack:
            self._read_stacktrace(stack)
        parent = fields.get("parent")
        if parent:
            self._read_parent(parent)

    def _read_fields(self, fields: Mapping[str, str]) -> None:
        """The fields of ``_FIELDS``, each read by its kind, in one loop: a worker reads a hash per job."""
        problems = self.problems
        for raw_name, value in fields.items():
            spec = _FIELDS.get(raw_name)
            if spec is None:
                continue
            attr, kind = spec
            if kind == _INT:
                if value == "":
                    continue
                number = _int(value)
                if number is None:
                    problems[raw_name] = f"not a number: {value[:40]!r}"
                else:
                    setattr(self, attr, number)
            elif kind == _JSON:
                self._read_json(raw_name, value, attr)
            else:
                if _has_surrogates(value):
                    problems[raw_name] = "not valid UTF-8"
                setattr(self, attr, value)

    def _read_json(self, raw_name: str, value: str, attr: str) -> None:
        if _has_surrogates(value):
            # Decoding would carry the stray bytes on inside strings; the raw text at least shows them.
            self.problems[raw_name] = "binary data, not valid UTF-8"
            setattr(self, attr, value)
            return
        decoded, problem = _loads(value)
        if problem is not None:
            self.problems[raw_name] = problem
        setattr(self, attr, decoded)

    def _read_stacktrace(self, stack: str) -> None:
        parsed, problem = _loads(stack)
        if problem is None:
            try:
                self.stacktrace = [str(s) for s in parsed] if isinstance(parsed, list) else [str(parsed)]
            except RecursionError:
                # Printing a nested frame recurses as decoding does, and may hit the limit decoding just missed.
                problem = "nested too deep to read"
        if problem is not None:
            self.problems["stacktrace"] = problem
            self.stacktrace = [stack]

    def _read_parent(self, parent: str) -> None:
        decoded, problem = _loads(parent)
        if problem is None:
            self.parent = decoded if isinstance(decoded, dict) else None
        else:
            self.problems["parent"] = problem

    # Derived views
    @property
    def attempts(self) -> int:
        """Attempts allowed by the job's options (BullMQ's ``opts.attempts``, at least 1)."""
        value = self.opts.get("attempts", 0)
        return max(1, value) if isinstance(value, int) else 1

    @property
    def added_at(self) -> datetime | None:
        return _ms_to_datetime(self.timestamp or None)

    @property
    def processed_at(self) -> datetime | None:
        return _ms_to_datetime(self.processed_on)

    @property
    def finished_at(self) -> datetime | None:
        return _ms_to_datetime(self.finished_on)

    @property
    def parent_id(self) -> str | None:
        return None if self.parent is None else str(self.parent.get("id"))

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.queue_name}:{self.id} name={self.name!r}>"


def _seconds_to_ms(value: float | timedelta) -> int:
    return to_ms(value, "delay")


class Job(JobRecord):
    """A job read through an asyncio ``Queue``; its methods act on Redis."""

    __slots__ = ("_queue",)

    def __init__(
        self, queue: Queue, job_id: str, fields: Mapping[str, str], known: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(queue.name, job_id, fields, known)
        self._queue = queue

    @property
    def queue(self) -> Queue:
        return self._queue

    async def get_state(self) -> str:
        return await self._queue.get_job_state(self.id)

    async def retry(self, state: str = "failed", *, reset_attempts: bool = False) -> None:
        await self._queue.retry_job(self.id, state, reset_attempts=reset_attempts)

    async def promote(self) -> None:
        await self._queue.promote_job(self.id)

    async def remove(self, *, remove_children: bool = True) -> None:
        await self._queue.remove(self.id, remove_children=remove_children)

    async def update_data(self, data: Any) -> None:
        await self._queue.update_job_data(self.id, data)
        self.data = data

    async def update_progress(self, progress: int | float | Mapping[str, Any] | Sequence[Any]) -> None:
        await self._queue.update_job_progress(self.id, progress)
        self.progress = progress

    async def log(self, line: str) -> int:
        keep = self.opts.get("kl", 0)
        return await self._queue.add_job_log(self.id, line, keep=keep if isinstance(keep, int) else 0)

    async def change_priority(self, priority: int, *, lifo: bool = False) -> None:
        await self._queue.change_job_priority(self.id, priority, lifo=lifo)
        self.priority = priority

    async def change_delay(self, delay: float | timedelta) -> None:
        await self._queue.change_job_delay(self.id, delay)
        self.delay = _seconds_to_ms(delay)

    async def get_logs(self, start: int = 0, end: int = -1) -> tuple[list[str], int]:
        return await self._queue.get_job_logs(self.id, start, end)

    async def wait_until_finished(self, events: QueueEvents, timeout: float | None = None) -> Any:
        return await events.wait_for_job(self.id, timeout)

    # A flow parent's children
    async def get_children_values(self) -> dict[str, Any]:
        """Completed children: child key (``<prefix>:<queue>:<id>``) -> its return value (BullMQ's
        ``getChildrenValues``)."""
        return await self._queue.get_children_values(self.id)

    async def get_ignored_children_failures(self) -> dict[str, str]:
        """Children that failed with ``ignore_dependency_on_failure``: child key -> failed reason."""
        return await self._queue.get_ignored_children_failures(self.id)

    async def get_dependencies_count(self) -> dict[str, int]:
        """Children by outcome: ``processed`` (completed), ``unprocessed`` (pending), ``ignored`` (failed,
        ignored or continued past) and ``failed`` (failed with ``fail_parent_on_failure``)."""
        return await self._queue.get_dependencies_count(self.id)


class SyncJob(JobRecord):
    """A job read through a blocking ``SyncQueue``."""

    __slots__ = ("_queue",)

    def __init__(
        self, queue: SyncQueue, job_id: str, fields: Mapping[str, str], known: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(queue.name, job_id, fields, known)
        self._queue = queue

    @property
    def queue(self) -> SyncQueue:
        return self._queue

    def get_state(self) -> str:
        return self._queue.get_job_state(self.id)

    def retry(self, state: str = "failed", *, reset_attempts: bool = False) -> None:
        self._queue.retry_job(self.id, state, reset_attempts=reset_attempts)

    def promote(self) -> None:
        self._queue.promote_job(self.id)

    def remove(self, *, remove_children: bool = True) -> None:
        self._queue.remove(self.id, remove_children=remove_children)

    def update_data(self, data: Any) -> None:
        self._queue.update_job_data(self.id, data)
        self.data = data

    def update_progress(self, progress: int | float | Mapping[str, Any] | Sequence[Any]) -> None:
        self._queue.update_job_progress(self.id, progress)
        self.progress = progress

    def log(self, line: str) -> int:
        keep = self.opts.get("kl", 0)
        return self._queue.add_job_log(self.id, line, keep=keep if isinstance(keep, int) else 0)

    def change_priority(self, priority: int, *, lifo: bool = False) -> None:
        self._queue.change_job_priority(self.id, priority, lifo=lifo)
        self.priority = priority

    def change_delay(self, delay: float | timedelta) -> None:
        self._queue.change_job_delay(self.id, delay)
        self.delay = _seconds_to_ms(delay)

    def get_logs(self, start: int = 0, end: int = -1) -> tuple[list[str], int]:
        return self._queue.get_job_logs(self.id, start, end)

    def get_children_values(self) -> dict[str, Any]:
        return self._queue.get_children_values(self.id)

    def get_ignored_children_failures(self) -> dict[str, str]:
        return self._queue.get_ignored_children_failures(self.id)

    def get_dependencies_count(self) -> dict[str, int]:
        return self._queue.get_dependencies_count(self.id)
