from __future__ import annotations

from types import ModuleType

import board


def test_the_public_surface_is_exactly_what_all_declares():
    # The package's own modules, imported by whatever ran before (the command, the demo), are not exports.
    exported = {
        name for name in dir(board) if not name.startswith("_") and not isinstance(getattr(board, name), ModuleType)
    }
    assert {"engine", "web", "adapters"} <= set(dir(board))
    assert exported == set(board.__all__) - {"__version__"}
    names = [n for n in board.__all__ if not n.startswith("_")]
    assert names == sorted(names, key=lambda n: (n[0].islower(), n))


def test_errors_form_one_hierarchy():
    for name in ("JobNotFound", "JobStateError", "LockLostError", "QueueStateError", "RedisUnavailable"):
        assert issubclass(getattr(board, name), board.BoardError)
    assert issubclass(board.JobLockedError, board.JobStateError)
    assert issubclass(board.RedisUnavailable, ConnectionError)
    assert issubclass(board.WaitTimeoutError, TimeoutError)


def test_job_schedulers_are_on_both_queues():
    assert "JobScheduler" in board.__all__
    calls = ("upsert_job_scheduler", "get_job_scheduler", "get_job_schedulers", "count_job_schedulers")
    for name in (*calls, "remove_job_scheduler"):
        assert callable(getattr(board.Queue, name)) and callable(getattr(board.SyncQueue, name)), name


def test_flows_deduplication_and_removal_are_on_both_queues():
    assert {"FlowProducer", "SyncFlowProducer", "JobNode"} <= set(board.__all__)
    calls = ("remove_count", "get_deduplication_job_id", "remove_deduplication_key", "get_children_values")
    for name in (*calls, "get_dependencies_count", "get_ignored_children_failures"):
        assert callable(getattr(board.Queue, name)) and callable(getattr(board.SyncQueue, name)), name
