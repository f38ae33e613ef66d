"""The retry delays of board/engine/backoff.py, computed without Redis: the built-in strategies with their
jitter bounds, what a stored backoff that another program wrote badly comes to, and how custom strategies
are found and called. (The cases that tests/engine/test_options.py already covers are not repeated here.)"""

from __future__ import annotations

import math
import random
from datetime import timedelta
from typing import Any

import pytest

from board.engine.backoff import NoRetry, Strategies, backoff_delay
from board.engine.options import MAX_MS

ERROR = RuntimeError("boom")


class _Job:
    pass


def delay_of(backoff: Any, attempts_made: int = 1, strategies: Strategies | None = None) -> int:
    return backoff_delay(backoff, attempts_made, ERROR, strategies or Strategies(), _Job())


def random_returns(monkeypatch: pytest.MonkeyPatch, value: float) -> None:
    monkeypatch.setattr(random, "random", lambda: value)


# Built-in strategies ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("attempts_made", [0, 1, 2, 7, 50])
def test_a_fixed_backoff_waits_the_same_after_every_attempt(attempts_made: int) -> None:
    assert delay_of({"type": "fixed", "delay": 1500}, attempts_made) == 1500


@pytest.mark.parametrize(("attempts_made", "expected"), [(0, 100), (1, 100), (2, 200), (3, 400), (6, 3200)])
def test_an_exponential_backoff_doubles_from_the_second_attempt(attempts_made: int, expected: int) -> None:
    assert delay_of({"type": "exponential", "delay": 100}, attempts_made) == expected


@pytest.mark.parametrize("kind", ["fixed", "exponential"])
def test_a_built_in_delay_is_capped_at_the_longest_delay(kind: str) -> None:
    assert delay_of({"type": kind, "delay": MAX_MS * 10}, 3) == MAX_MS


@pytest.mark.parametrize(
    ("backoff", "attempts_made", "low", "high"),
    [
        ({"type": "fixed", "delay": 1000, "jitter": 0.5}, 1, 500, 1000),
        ({"type": "fixed", "delay": 1000, "jitter": 1}, 1, 0, 1000),
        ({"type": "exponential", "delay": 1000, "jitter": 0.25}, 3, 3000, 4000),
    ],
)
def test_jitter_draws_the_wait_between_its_bounds(
    monkeypatch: pytest.MonkeyPatch, backoff: dict[str, Any], attempts_made: int, low: int, high: int
) -> None:
    # The two ends of random.random()'s range give the two ends of the wait's.
    random_returns(monkeypatch, 0.0)
    assert delay_of(backoff, attempts_made) == low
    random_returns(monkeypatch, 0.999999)
    assert delay_of(backoff, attempts_made) == high - 1
    monkeypatch.undo()
    draws = {delay_of(backoff, attempts_made) for _ in range(300)}
    assert all(low <= d <= high for d in draws)
    assert len(draws) > 1


@pytest.mark.parametrize("jitter", [0, -0.5, 1.5, True, "0.5", None, math.nan])
def test_a_jitter_outside_0_to_1_is_ignored(monkeypatch: pytest.MonkeyPatch, jitter: Any) -> None:
    random_returns(monkeypatch, 0.0)
    assert delay_of({"type": "fixed", "delay": 1000, "jitter": jitter}) == 1000


@pytest.mark.parametrize("delay", [-5, "500", None, True, math.nan, math.inf, [500]])
def test_a_stored_delay_that_is_not_a_positive_number_counts_as_none(delay: Any) -> None:
    assert delay_of({"type": "fixed", "delay": delay}) == 0
    assert delay_of({"type": "exponential", "delay": delay}, 4) == 0


def test_a_built_in_backoff_without_a_delay_waits_nothing() -> None:
    assert delay_of({"type": "exponential"}, 5) == 0


@pytest.mark.parametrize(("stored", "expected"), [(250.4, 250), (-10, 0), (math.nan, 0), (MAX_MS * 3, MAX_MS)])
def test_a_bare_stored_number_is_a_fixed_delay_in_milliseconds(stored: float, expected: int) -> None:
    assert delay_of(stored, 9) == expected


def test_a_stored_boolean_is_a_malformed_backoff_not_one_millisecond() -> None:
    with pytest.raises(ValueError, match="malformed backoff True"):
        delay_of(True)


def test_built_in_types_never_reach_a_custom_strategy() -> None:
    def fallback(attempts_made: int) -> float:
        raise AssertionError("called")

    assert delay_of({"type": "fixed", "delay": 10}, 1, Strategies(fallback)) == 10


# Custom strategies --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("result", "expected"),
    [(timedelta(seconds=1.5), 1500), (0, 0), (0.0004, 0), (2, 2000), (timedelta(0), 0)],
)
def test_a_strategy_answers_in_seconds_or_a_timedelta(result: Any, expected: int) -> None:
    assert delay_of({"type": "custom"}, 1, Strategies(lambda attempts: result)) == expected


def test_a_negative_timedelta_stops_the_retries() -> None:
    with pytest.raises(NoRetry):
        delay_of({"type": "custom"}, 1, Strategies(lambda attempts: timedelta(seconds=-1)))


@pytest.mark.parametrize("result", [True, [1], "1"])
def test_a_strategy_answering_something_else_is_an_error(result: Any) -> None:
    with pytest.raises(ValueError, match=r"type 'custom' returned .*not seconds"):
        delay_of({"type": "custom"}, 1, Strategies(lambda attempts: result))


def test_an_async_strategy_is_refused_and_its_coroutine_closed() -> None:
    ran = []

    async def later(attempts_made: int) -> float:
        ran.append(attempts_made)
        return 1.0

    # The type checker refuses it too; the worker has to for callers it does not check.
    strategy: Any = later

    # Unclosed, the coroutine would warn "never awaited", which this suite turns into an error.
    with pytest.raises(ValueError, match="'custom' is async"):
        delay_of({"type": "custom"}, 1, Strategies(strategy))
    assert ran == []


def test_a_named_strategy_wins_over_the_fallback() -> None:
    strategies = Strategies(lambda attempts: 9, {"linear": lambda attempts: attempts})
    assert delay_of({"type": "linear"}, 3, strategies) == 3000
    assert delay_of({"type": "anything-else"}, 3, strategies) == 9000


def test_keyword_only_parameters_are_not_passed() -> None:
    seen = []

    def strategy(attempts_made: int, *, scale: float = 2.0) -> float:
        seen.append(scale)
        return attempts_made * scale

    assert delay_of({"type": "custom"}, 2, Strategies(strategy)) == 4000
    assert seen == [2.0]


def test_a_strategy_gets_at_most_four_arguments() -> None:
    seen: list[tuple[Any, ...]] = []

    def strategy(a: int, b: Any, c: Any, d: Any, e: Any = "default") -> float:
        seen.append((a, c, e))
        return 1

    assert delay_of({"type": "custom"}, 5, Strategies(strategy)) == 1000
    assert seen == [(5, "custom", "default")]


def test_a_strategy_without_a_readable_signature_gets_attempts_and_error() -> None:
    class Unreadable:
        # inspect.signature() refuses an object whose __signature__ is not a Signature.
        __signature__ = "not a signature"

        def __init__(self) -> None:
            self.args: tuple[Any, ...] = ()

        def __call__(self, *args: Any) -> float:
            self.args = args
            return 0.5

    strategy = Unreadable()
    assert delay_of({"type": "custom"}, 3, Strategies(strategy)) == 500
    assert strategy.args == (3, ERROR)


def test_the_exponential_type_cannot_be_replaced_either() -> None:
    with pytest.raises(ValueError, match="'exponential' is a built-in backoff type"):
        Strategies(None, {"exponential": lambda attempts: 1})
