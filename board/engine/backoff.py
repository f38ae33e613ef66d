"""How long a failed attempt waits before the next one, from the job's ``opts.backoff``.

The built-in strategies compute what BullMQ computes, so a job retries on the same schedule whichever
worker runs it: fixed waits ``delay``; exponential waits ``delay * 2^(attemptsMade - 1)``; a jitter j
draws the wait uniformly from ``[w * (1 - j), w]``.

Any other type is a name that the worker resolves among the strategies it was given, as BullMQ's
``settings.backoffStrategy``. Stored data only ever names a strategy: nothing it says is imported or
called (an old ``fn`` field is ignored).
"""

from __future__ import annotations

import inspect
import math
import random
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from .options import BUILTIN_BACKOFFS, MAX_MS, MAX_SECONDS

BackoffResult = float | int | timedelta | None
# (attempts made, error[, backoff type[, job]]) -> seconds, or None / a negative number to stop retrying.
BackoffStrategy = Callable[..., BackoffResult]
# 2**62 times any delay is already past MAX_MS: a larger exponent only costs time.
_MAX_EXPONENT = 62


class NoRetry(Exception):
    """A custom strategy asked not to retry."""


class Strategies:
    """The custom strategies of one worker, by backoff type, with how many arguments each takes."""

    def __init__(
        self, fallback: BackoffStrategy | None = None, named: Mapping[str, BackoffStrategy] | None = None
    ) -> None:
        self.fallback = None if fallback is None else _Bound(fallback, "backoff_strategy")
        self.named: dict[str, _Bound] = {}
        if named is not None and not isinstance(named, Mapping):
            raise ValueError(f"backoff_strategies: expected a dict of name -> function, got {named!r}")
        for name, fn in (named or {}).items():
            if not isinstance(name, str) or not name:
                raise ValueError(f"backoff_strategies: a name must be a non-empty string, got {name!r}")
            if name in BUILTIN_BACKOFFS:
                # BullMQ runs the built-in first: a strategy under that name would never be called.
                raise ValueError(f"backoff_strategies: {name!r} is a built-in backoff type and cannot be replaced")
            self.named[name] = _Bound(fn, f"backoff_strategies[{name!r}]")

    def find(self, kind: str) -> _Bound:
        found = self.named.get(kind, self.fallback)
        if found is None:
            known = ", ".join(repr(n) for n in (*BUILTIN_BACKOFFS, *sorted(self.named)))
            raise ValueError(
                f"backoff type {kind!r} is unknown to this worker, which knows {known}; "
                f"give the Worker backoff_strategies={{{kind!r}: fn}}"
            )
        return found


class _Bound:
    """A strategy and the number of leading arguments it takes (1 to 4), found once, not per failure."""

    def __init__(self, fn: BackoffStrategy, option: str) -> None:
        if not callable(fn):
            raise ValueError(f"{option}: expected a function, got {fn!r}")
        try:
            params = list(inspect.signature(fn).parameters.values())
        except (TypeError, ValueError):
            # No signature to read (some builtins): the two arguments every strategy takes.
            arity = 2
        else:
            if any(p.kind is p.VAR_POSITIONAL for p in params):
                arity = 4
            else:
                arity = sum(1 for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD))
        if arity < 1:
            raise ValueError(f"{option}: the function must take at least the number of attempts made")
        self.fn = fn
        self.arity = min(arity, 4)

    def __call__(self, attempts_made: int, error: BaseException, kind: str, job: Any) -> Any:
        result = self.fn(*(attempts_made, error, kind, job)[: self.arity])
        if inspect.iscoroutine(result):
            result.close()
            raise ValueError(f"backoff strategy for type {kind!r} is async; it must return seconds directly")
        return result


def _seconds_to_ms(value: Any, kind: str) -> int:
    if value is None:
        raise NoRetry
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise ValueError(f"backoff strategy for type {kind!r} returned {value!r}, not seconds")
    if math.isnan(seconds):
        raise ValueError(f"backoff strategy for type {kind!r} returned NaN, not seconds")
    if seconds < 0:
        raise NoRetry
    if seconds > MAX_SECONDS:
        raise ValueError(f"backoff strategy for type {kind!r} returned {value!r}: more than 100 years")
    return round(seconds * 1000)


def _jittered(wait: float, jitter: Any) -> int:
    wait = min(wait, MAX_MS)
    if isinstance(jitter, int | float) and not isinstance(jitter, bool) and 0 < jitter <= 1:
        return int(random.random() * wait * jitter + wait * (1 - jitter))
    return round(wait)


def _number(value: Any) -> float:
    """A stored delay: another program may have written anything there."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value > 0:
        return float(value)
    return 0.0


def backoff_delay(backoff: Any, attempts_made: int, error: BaseException, strategies: Strategies, job: Any) -> int:
    """Milliseconds to wait; raises ``NoRetry`` when a custom strategy says stop, ``ValueError`` when
    the backoff is malformed or names a strategy this worker does not have."""
    if backoff is None:
        return 0
    if isinstance(backoff, int | float) and not isinstance(backoff, bool):
        return round(min(_number(backoff), MAX_MS))
    if not isinstance(backoff, dict) or not isinstance(backoff.get("type"), str) or not backoff["type"]:
        raise ValueError(f"malformed backoff {backoff!r}: expected milliseconds or {{'type': name, 'delay': ms}}")
    kind = backoff["type"]
    delay = _number(backoff.get("delay", 0))
    if kind == "fixed":
        return _jittered(delay, backoff.get("jitter"))
    if kind == "exponential":
        exponent = min(max(0, attempts_made - 1), _MAX_EXPONENT)
        return _jittered(2**exponent * delay, backoff.get("jitter"))
    return _seconds_to_ms(strategies.find(kind)(attempts_made, error, kind, job), kind)
