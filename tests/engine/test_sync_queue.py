from __future__ import annotations

import json

import pytest

from board import JobStateError, SyncQueue


def test_the_blocking_queue_writes_the_same_format(redis_url, raw, qname):
    with SyncQueue(qname, redis_url) as queue:
        job = queue.add("send", {"to": "x"}, attempts=2, delay=60)
        assert job.id == "1" and job.opts == {"attempts": 2, "delay": 60000}
        jobs = queue.add_bulk([{"name": "a", "data": 1}, {"name": "b", "data": 2, "job_id": "custom"}])
        assert [j.id for j in jobs] == ["2", "custom"]
        assert queue.add("again", 3, job_id="custom").data == 2
        assert json.loads(raw.hget(f"bull:{qname}:1", "opts")) == {"attempts": 2, "delay": 60000}
        assert queue.get_job_counts("wait", "delayed") == {"wait": 2, "delayed": 1}
        assert [j.id for j in queue.get_jobs("wait")] == ["custom", "2"]
        assert queue.get_job_state("1") == "delayed"


def test_blocking_job_methods(redis_url, raw, qname):
    with SyncQueue(qname, redis_url) as queue:
        job = queue.add("a", {"v": 1}, delay=60)
        job.update_data({"v": 2})
        job.update_progress(10)
        assert job.log("line") == 1
        assert queue.get_job_logs(job.id) == (["line"], 1)
        job.promote()
        assert job.get_state() == "waiting"
        with pytest.raises(JobStateError):
            job.promote()
        fetched = queue.get_job(job.id)
        assert fetched is not None and fetched.data == {"v": 2} and fetched.progress == 10
        assert queue.pause() and queue.is_paused()
        assert queue.resume() and not queue.is_paused()
        assert queue.promote_jobs() == 0
        queue.drain()
        assert raw.llen(f"bull:{qname}:wait") == 0
        assert queue.remove(job.id) is False


def test_bad_input_is_refused_before_writing(redis_url, raw, qname):
    with SyncQueue(qname, redis_url) as queue:
        with pytest.raises(ValueError, match="priority"):
            queue.add("a", {}, priority=-1)
        with pytest.raises(TypeError):
            queue.add("a", {"x": {1, 2}})
    assert raw.keys("*") == []
