from __future__ import annotations

import board


def test_the_public_surface_is_exactly_what_all_declares():
    exported = {name for name in dir(board) if not name.startswith("_") and name not in ("engine", "redis_server", "web", "adapters")}
    assert exported == set(board.__all__) - {"__version__"}
    assert board.__all__ == sorted(board.__all__, key=lambda n: (n.startswith("_"), n))


def test_errors_form_one_hierarchy():
    for name in ("JobNotFound", "JobStateError", "LockLostError", "QueueStateError", "RedisUnavailable"):
        assert issubclass(getattr(board, name), board.BoardError)
    assert issubclass(board.JobLockedError, board.JobStateError)
    assert issubclass(board.RedisUnavailable, ConnectionError)
    assert issubclass(board.WaitTimeoutError, TimeoutError)
