"""The audit log: what is written, and pages filtered and bounded, newest first."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import redis

from board.adapters import audit
from board.adapters.audit import AuditEntry, AuditLog
from board.engine.inspector import Inspector


@pytest.fixture
async def log(redis_url: str) -> AsyncIterator[AuditLog]:
    inspector = Inspector(redis_url)
    yield AuditLog(inspector.runner, "bull")
    await inspector.close()


def entry(n: int, **kw: object) -> AuditEntry:
    base = {"user": "ada", "role": "admin", "address": "10.0.0.1", "action": "retry_job", "queue": "email"}
    return AuditEntry(**{**base, "job_ids": (str(n),), "outcome": f"job {n} retried", **kw})  # type: ignore[arg-type]


async def test_entries_come_back_newest_first_with_everything_said(log: AuditLog) -> None:
    first = await log.record(entry(1))
    await log.record(entry(2, user="bob", role="operator", ok=False, outcome="refused: locked"))
    page = await log.page()
    assert [e.job_ids for e in page.entries] == [("2",), ("1",)] and page.next_id is None
    newest = page.entries[0]
    assert (newest.user, newest.role, newest.ok, newest.outcome, newest.address) == (
        "bob",
        "operator",
        False,
        "refused: locked",
        "10.0.0.1",
    )
    assert page.entries[1].id == first and page.entries[1].at_ms == int(first.split("-")[0])


async def test_filters_and_paging(log: AuditLog) -> None:
    for n in range(10):
        await log.record(entry(n, user="ada" if n % 2 else "bob", queue="email" if n < 5 else "sms"))
    page = await log.page(user="ada", limit=2)
    assert [e.job_ids[0] for e in page.entries] == ["9", "7"] and page.next_id is not None
    rest = await log.page(user="ada", before=page.next_id)
    assert [e.job_ids[0] for e in rest.entries] == ["5", "3", "1"] and rest.next_id is None
    assert [e.job_ids[0] for e in (await log.page(queue="email", action="retry_job")).entries] == [
        "4",
        "3",
        "2",
        "1",
        "0",
    ]
    assert (await log.page(action="pause")).entries == []
    # A user limited to some queues sees only theirs (and board-wide entries).
    await log.record(entry(99, queue="", action="logout"))
    seen = await log.page(queues={"sms"})
    assert {e.queue for e in seen.entries} == {"sms", ""}


async def test_a_page_scans_a_bounded_number_of_entries(log: AuditLog, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(audit, "STEP", 3)
    monkeypatch.setattr(audit, "SCAN_LIMIT", 6)
    for n in range(10):
        await log.record(entry(n))
    page = await log.page(user="nobody")
    assert page.entries == [] and page.scanned == 6 and page.next_id is not None
    rest = await log.page(user="nobody", before=page.next_id)
    assert rest.scanned == 4 and rest.next_id is None


async def test_entries_another_program_wrote_are_skipped(log: AuditLog, raw: redis.Redis) -> None:
    await log.record(entry(1))
    raw.xadd("board:bull:audit", {"e": "not json"})
    raw.xadd("board:bull:audit", {"other": "x"})
    assert [e.job_ids for e in (await log.page()).entries] == [("1",)]
