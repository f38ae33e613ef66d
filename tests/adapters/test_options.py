"""Job options between BullMQ's names and units and ``Queue.add``'s (board/adapters/options.py): what the
add form takes, and what it shows to copy a job."""

from __future__ import annotations

from typing import Any

import pytest

from board.adapters.options import form_options, from_bullmq


def test_bullmq_names_and_milliseconds_become_add_options() -> None:
    given = {
        "jobId": "order-42",
        "delay": 1500,
        "attempts": 3,
        "backoff": {"type": "exponential", "delay": 2000, "jitter": 0.5},
        "priority": 2,
        "removeOnComplete": {"age": 3600, "count": 10},
        "removeOnFail": True,
        "keepLogs": 5,
        "stackTraceLimit": 1,
        "deduplication": {"id": "d", "ttl": 30000, "keepLastIfActive": True},
    }
    assert from_bullmq(given) == {
        "job_id": "order-42",
        "delay": 1.5,
        "attempts": 3,
        "backoff": {"type": "exponential", "delay": 2.0, "jitter": 0.5},
        "priority": 2,
        # BullMQ's age is in seconds already.
        "remove_on_complete": {"age": 3600, "count": 10},
        "remove_on_fail": True,
        "keep_logs": 5,
        "stack_trace_limit": 1,
        "deduplication": {"id": "d", "ttl": 30.0, "keep_last_if_active": True},
    }
    assert from_bullmq({"backoff": 500}) == {"backoff": 0.5}
    assert from_bullmq({"job_id": "x", "lifo": True}) == {"job_id": "x", "lifo": True}


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ({"delay": -1}, "delay"),
        ({"delay": "10s"}, "delay"),
        ({"delay": True}, "delay"),
        ({"delay": 10**20}, "delay"),
        ({"backoff": {"type": "fixed", "delay": "x"}}, "backoff.delay"),
        ({"deduplication": {"id": "d", "ttl": -5}}, "deduplication.ttl"),
        ({"jobId": "a", "job_id": "b"}, "job_id"),
    ],
)
def test_wrong_values_name_their_option(given: dict[str, Any], named: str) -> None:
    with pytest.raises(ValueError, match=rf"^{named.split('.')[0]}"):
        from_bullmq(given)


def test_a_jobs_options_shown_to_copy_it() -> None:
    stored = {
        "attempts": 3,
        "delay": 0,
        "backoff": {"type": "fixed", "delay": 1000},
        "jobId": "order-42",
        "kl": 7,
        "de": {"id": "d"},
        "parent": {"id": "p", "queue": "bull:q"},
        "removeOnFail": {"count": 3},
        "timestamp": 1,
    }
    shown = form_options(stored)
    assert shown == {
        "attempts": 3,
        "backoff": {"type": "fixed", "delay": 1000},
        "keepLogs": 7,
        "removeOnFail": {"count": 3},
    }
    # What the form shows is what it takes back.
    assert from_bullmq(shown)["backoff"] == {"type": "fixed", "delay": 1.0}
