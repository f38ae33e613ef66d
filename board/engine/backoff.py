"""How long a failed attempt waits before the next one, from the job's ``opts.backoff``.

The built-in strategies compute what BullMQ computes, so a job retries on the same schedule whichever
worker runs it: fixed waits ``delay``; exponential waits ``delay * 2^(attemptsMade - 1)``; a jitter j
draws the wait uniformly from ``[w * (1 - j), w]``.
"""

from __future__ import annotations

import inspect
import random
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from .options import resolve_backoff_fn

# (attempts made, error) -> seconds, or None / a negative number to stop retrying.
BackoffStrategy = Callable[[int, BaseException], "float | int | timedelta | None"]


class NoRetry(Exception):
    """A custom strategy asked not to retry."""


def _seconds_to_ms(value: float | int | timedelta | None) -> int:
    if value is None:
        raise NoRetry
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if seconds < 0:
        raise NoRetry
    return round(seconds * 1000)


def _jittered(wait: float, jitter: Any) -> int:
    if isinstance(jitter, int | float) and 0 < jitter <= 1:
        return int(random.random() * wait * jitter + wait * (1 - jitter))
    return round(wait)


def _custom(attempts_made: int, error: BaseException, fn: Callable[..., Any]) -> int:
    if len(inspect.signature(fn).parameters) >= 2:
        return _seconds_to_ms(fn(attempts_made, error))
    return _seconds_to_ms(fn(attempts_made))


def backoff_delay(backoff: Any, attempts_made: int, error: BaseException, strategy: BackoffStrategy | None) -> int:
    """Milliseconds to wait; raises ``NoRetry`` when a custom strategy says stop, ``ValueError`` when
    the job names a strategy this worker does not have."""
    if backoff is None:
        return 0
    if isinstance(backoff, int | float) and not isinstance(backoff, bool):
        return max(0, round(backoff))
    if not isinstance(backoff, dict):
        raise ValueError(f"unknown backoff {backoff!r}")
    kind = backoff.get("type")
    delay = backoff.get("delay", 0)
    delay = delay if isinstance(delay, int | float) and not isinstance(delay, bool) else 0
    if kind == "fixed":
        return _jittered(delay, backoff.get("jitter"))
    if kind == "exponential":
        return _jittered(2 ** max(0, attempts_made - 1) * delay, backoff.get("jitter"))
    path = backoff.get("fn")
    if isinstance(path, str):
        fn = resolve_backoff_fn(path)
        if fn is None:
            raise ValueError(f"backoff function {path!r} cannot be imported by this worker")
        return _custom(attempts_made, error, fn)
    if strategy is not None:
        return _custom(attempts_made, error, strategy)
    raise ValueError(f"backoff type {kind!r} needs a backoff_strategy on the worker")
