"""The audit log: every action taken through the board, in a capped Redis stream shared by its processes.

One entry per action: who (user and role), when, from which address, what (the action's name), on
which queue and jobs, and the outcome (done with the board's message, or refused with the reason).
Reading is newest first, filtered by user, queue and action, in bounded steps: a page never reads more
than ``SCAN_LIMIT`` entries, and says where to go on.
"""

from __future__ import annotations

import json
from collections.abc import Container
from dataclasses import asdict, dataclass, field
from typing import Any

from ..engine.connection import AsyncRunner, command

# Entries kept (approximately: Redis trims whole nodes of the stream).
KEPT = 100_000
STEP = 500
SCAN_LIMIT = 10_000
MAX_JOB_IDS = 100
MAX_TEXT = 2000


@dataclass(frozen=True)
class AuditEntry:
    user: str
    role: str
    address: str
    action: str
    queue: str = ""
    job_ids: tuple[str, ...] = ()
    ok: bool = True
    outcome: str = ""
    at_ms: int = 0
    # The stream entry's id, once stored: where a page of the log goes on from.
    id: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["job_ids"] = list(self.job_ids)
        return data


@dataclass(frozen=True)
class AuditPage:
    entries: list[AuditEntry]
    # The id to go on from (older entries), or None at the log's start.
    next_id: str | None
    scanned: int


def _clip(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + "…"


def _entry(entry_id: str, raw: Any) -> AuditEntry | None:
    fields = dict(zip(raw[::2], raw[1::2], strict=False)) if isinstance(raw, list) else dict(raw or {})
    try:
        data = json.loads(fields["e"])
        return AuditEntry(
            user=str(data["user"]),
            role=str(data["role"]),
            address=str(data.get("address", "")),
            action=str(data["action"]),
            queue=str(data.get("queue", "")),
            job_ids=tuple(str(i) for i in data.get("job_ids", [])),
            ok=bool(data.get("ok", True)),
            outcome=str(data.get("outcome", "")),
            at_ms=int(entry_id.split("-", 1)[0]),
            id=entry_id,
            details=data.get("details") if isinstance(data.get("details"), dict) else {},
        )
    except (KeyError, TypeError, ValueError):
        return None  # not an entry the board wrote


class AuditLog:
    def __init__(self, runner: AsyncRunner, prefix: str) -> None:
        self.runner = runner
        self.key = f"board:{prefix}:audit"

    async def record(self, entry: AuditEntry) -> str:
        data = {
            "user": entry.user,
            "role": entry.role,
            "address": entry.address,
            "action": entry.action,
            "queue": entry.queue,
            "job_ids": list(entry.job_ids[:MAX_JOB_IDS]),
            "ok": entry.ok,
            "outcome": _clip(entry.outcome),
            "details": entry.details,
        }
        reply = await self.runner.call(
            command("XADD", self.key, "MAXLEN", "~", KEPT, "*", "e", json.dumps(data, ensure_ascii=False))
        )
        return str(reply)

    async def page(
        self,
        *,
        before: str | None = None,
        user: str | None = None,
        queue: str | None = None,
        action: str | None = None,
        queues: Container[str] | None = None,
        limit: int = 50,
    ) -> AuditPage:
        """Up to ``limit`` entries older than ``before`` (newest first) that match every filter given;
        ``queues`` keeps only those entries whose queue is in it (entries with no queue kept): a set of
        names, or any container, such as one that asks a user's own rule of which queues they see."""
        found: list[AuditEntry] = []
        scanned = 0
        end = "+" if before is None else "(" + before
        while len(found) < limit and scanned < SCAN_LIMIT:
            batch = await self.runner.call(command("XREVRANGE", self.key, end, "-", "COUNT", STEP))
            if not batch:
                return AuditPage(found, None, scanned)
            for entry_id, raw in batch:
                scanned += 1
                end = "(" + str(entry_id)
                entry = _entry(str(entry_id), raw)
                if entry is None or not _matches(entry, user, queue, action, queues):
                    continue
                found.append(entry)
                if len(found) >= limit:
                    return AuditPage(found, entry.id, scanned)
            if len(batch) < STEP:
                return AuditPage(found, None, scanned)
        return AuditPage(found, end[1:], scanned)


def _matches(
    entry: AuditEntry, user: str | None, queue: str | None, action: str | None, queues: Container[str] | None
) -> bool:
    if user and entry.user != user:
        return False
    if queue and entry.queue != queue:
        return False
    if action and entry.action != action:
        return False
    return queues is None or not entry.queue or entry.queue in queues


__all__ = ["AuditEntry", "AuditLog", "AuditPage"]
