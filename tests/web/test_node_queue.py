"""Across modules: the board over a queue that Node.js BullMQ built and worked (tests/interop/node_helper.js).
The overview, every tab of the queue page and the job page, in HTML and JSON (views, render, the adapter),
must show the counts, job lists and job details Node itself reports."""

from __future__ import annotations

import json
import subprocess
from typing import Any

from tests.interop.nodejs import HELPER, INTEROP, require_node

from .conftest import JSON, ClientFactory, job_ids_in

NODE = require_node("board over a Node BullMQ queue")

STATES = ["waiting", "active", "delayed", "prioritized", "completed", "failed", "waiting-children"]
ASCENDING = {"prioritized", "delayed"}  # the board lists these next-to-run first


def node(redis_url: str, command: str, queue: str, **args: Any) -> Any:
    payload = json.dumps({"queue": queue, "timeout_ms": 20_000, **args})
    done = subprocess.run(
        [NODE, str(HELPER), redis_url, command, payload],
        cwd=INTEROP,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, f"node {command} exited with {done.returncode}: {done.stderr[-3000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_board_reads_a_node_queue(make_client: ClientFactory, redis_url: str, qname: str) -> None:
    finished = [
        {"name": "done-a", "data": {"logs": ["hello from node"], "progress": [50, 100], "result": {"n": 1}}},
        {"name": "done-b", "data": {}},
        {"name": "broken", "data": {"fail_until": 9, "fail_message": "node says no"}, "opts": {"attempts": 1}},
    ]
    later = [
        {"name": "wait-a", "data": {"i": 1}},
        {"name": "wait-b", "data": {"i": 2}},
        {"name": "wait-c", "data": {"i": 3}},
        {"name": "delay-long", "data": {}, "opts": {"delay": 900_000}},
        {"name": "delay-short", "data": {}, "opts": {"delay": 300_000}},
        {"name": "prio-low", "data": {}, "opts": {"priority": 9}},
        {"name": "prio-high", "data": {}, "opts": {"priority": 1}},
        {"name": "prio-high-2", "data": {}, "opts": {"priority": 1}},
    ]
    calls: list[list[Any]] = [
        ["add", {"jobs": finished}],
        ["work", {"until": {"completed": 2, "failed": 1}, "name": "node-worker", "drain_delay": 1}],
        ["add", {"jobs": later}],
        ["counts", {"types": STATES}],
        *(["jobs", {"types": [state], "start": 0, "end": -1, "asc": state in ASCENDING}] for state in STATES),
    ]
    results = node(redis_url, "batch", qname, calls=calls)
    first_ids = results[0]["ids"]
    assert results[1]["done"] is True, results[1]
    node_counts: dict[str, int] = results[3]
    node_lists = {state: [job["id"] for job in jobs] for state, jobs in zip(STATES, results[4:], strict=True)}
    assert node_counts["waiting"] == 3 and node_counts["completed"] == 2 and node_counts["failed"] == 1
    assert node_counts["delayed"] == 2 and node_counts["prioritized"] == 3

    client = make_client([qname])

    overview = client.get("/", headers=JSON).json()["queues"][0]
    assert overview["name"] == qname
    assert {state: overview["counts"][state] for state in STATES} == {s: node_counts[s] for s in STATES}
    page = client.get("/").text
    for state in ("waiting", "delayed", "prioritized", "completed", "failed"):
        assert f'<span>{state}</span><span class="num">{node_counts[state]}</span>' in page, state

    for state in STATES:
        listed = client.get(f"/queues/{qname}", params={"state": state}, headers=JSON).json()
        assert [job["id"] for job in listed["jobs"]] == node_lists[state], state
        assert listed["total"] == node_counts[state]
        html_page = client.get(f"/queues/{qname}", params={"state": state})
        assert html_page.status_code == 200
        assert job_ids_in(html_page.text, qname) == node_lists[state], state
        assert all(job["problems"] == {} for job in listed["jobs"]), state

    latest = client.get(f"/queues/{qname}", headers=JSON).json()
    assert sorted(job["id"] for job in latest["jobs"]) == sorted(i for ids in node_lists.values() for i in ids)

    # A job Node completed and one it failed, in full.
    done_id, _, failed_id = first_ids
    detail = client.get(f"/queues/{qname}/jobs/{done_id}", headers=JSON).json()
    node_job = node(redis_url, "job", qname, id=done_id)
    assert detail["state"] == node_job["state"] == "completed"
    assert detail["returnvalue"]["value"] == node_job["returnvalue"] == {"n": 1}
    assert detail["logs"] == node_job["logs"]["logs"] == ["hello from node"]
    assert detail["progress"] == node_job["progress"] == 100
    assert detail["processed_by"] == node_job["processedBy"]
    assert detail["added_ms"] == node_job["timestamp"] and detail["finished_ms"] == node_job["finishedOn"]
    page = client.get(f"/queues/{qname}/jobs/{done_id}").text
    assert "hello from node" in page and "badge state-completed" in page
    failed = client.get(f"/queues/{qname}/jobs/{failed_id}", headers=JSON).json()
    assert failed["failed_reason"] == "node says no #1"
    assert len(failed["stacktrace"]) == 1 and "node says no #1" in failed["stacktrace"][0]
    assert "<strong>node says no #1</strong>" in client.get(f"/queues/{qname}/jobs/{failed_id}").text
