from __future__ import annotations

import json
import math
from datetime import timedelta

import pytest

from board.engine.backoff import NoRetry, Strategies, backoff_delay
from board.engine.options import MAX_MS, MAX_SECONDS, build_add, keep_policy, parse_limiter, to_ms, validate_job_id


def backoff_fn(attempt: int, error: BaseException) -> float:
    return attempt * 0.5


def opts_of(**options):
    return json.loads(build_add("job", {"a": 1}, options, 1_000).opts)


def test_plain_add_writes_bullmq_default_opts():
    spec = build_add("send", {"to": "x"}, {}, 1_700_000_000_000)
    assert json.loads(spec.opts) == {"attempts": 0}
    assert spec.data == '{"to":"x"}'
    assert (spec.timestamp, spec.delay, spec.priority, spec.lifo, spec.job_id) == (1_700_000_000_000, 0, 0, False, "")


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"delay": 5}, {"delay": 5000, "attempts": 0}),
        ({"delay": timedelta(milliseconds=250)}, {"delay": 250, "attempts": 0}),
        ({"priority": 3}, {"priority": 3, "attempts": 0}),
        ({"lifo": True}, {"lifo": True, "attempts": 0}),
        ({"job_id": "abc"}, {"jobId": "abc", "attempts": 0}),
        ({"attempts": 3, "backoff": 0.5}, {"attempts": 3, "backoff": {"type": "fixed", "delay": 500}}),
        (
            {"attempts": 3, "backoff": {"type": "exponential", "delay": 1, "jitter": 0.5}},
            {"attempts": 3, "backoff": {"type": "exponential", "delay": 1000, "jitter": 0.5}},
        ),
        (
            {"remove_on_complete": True, "remove_on_fail": 5},
            {"attempts": 0, "removeOnComplete": True, "removeOnFail": 5},
        ),
        (
            {"remove_on_complete": {"age": 3600, "count": 10}},
            {"attempts": 0, "removeOnComplete": {"age": 3600, "count": 10}},
        ),
        ({"keep_logs": 10}, {"attempts": 0, "kl": 10}),
        ({"stack_trace_limit": 2}, {"attempts": 0, "stackTraceLimit": 2}),
    ],
)
def test_options_are_written_in_bullmq_shape(options, expected):
    assert opts_of(**options) == expected


def test_a_custom_backoff_is_stored_by_name_in_bullmq_shape():
    def stored(backoff):
        return json.loads(build_add("job", {}, {"attempts": 2, "backoff": backoff}, 0, frozenset({"linear"})).opts)

    assert stored({"type": "linear", "delay": 0.5})["backoff"] == {"type": "linear", "delay": 500}
    assert stored({"type": "linear"})["backoff"] == {"type": "linear"}


@pytest.mark.parametrize(
    ("kind", "declared", "words"),
    [
        ("exponentail", (), ["'exponentail'", "did you mean 'exponential'", "backoff_types=['exponentail']"]),
        ("Fixed", (), ["'Fixed'", "did you mean 'fixed'"]),
        ("linaer", ("linear",), ["did you mean 'linear'", "this queue declares 'linear'"]),
        ("linear", (), ["backoff_types=['linear']", "backoff_strategies"]),
    ],
)
def test_an_undeclared_backoff_type_is_refused_at_add_with_a_hint(kind, declared, words):
    """A misspelled type used to be stored, and the job then failed at its first error with no retry."""
    with pytest.raises(ValueError, match=r"^backoff: unknown type") as refused:
        build_add("job", {}, {"attempts": 3, "backoff": {"type": kind, "delay": 2}}, 0, frozenset(declared))
    for word in words:
        assert word in str(refused.value)


@pytest.mark.parametrize("bad", ["linear", [""], ["fixed"], [3], 5])
def test_backoff_types_must_be_custom_names(bad):
    from board.engine.options import backoff_types_option

    with pytest.raises(ValueError, match="backoff_types"):
        backoff_types_option(bad)


@pytest.mark.parametrize("fn", [backoff_fn, lambda a, e: 1, print])
def test_a_function_backoff_is_refused_and_says_to_register_it_on_the_worker(fn):
    with pytest.raises(ValueError, match=r"backoff: .*register it on the Worker.*\{'type': '<name>', 'delay'"):
        build_add("job", {}, {"backoff": fn}, 0)


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"dealy": 5}, "dealy"),
        ({"delay": -1}, "delay"),
        ({"delay": math.nan}, "delay"),
        ({"delay": "5"}, "delay"),
        ({"priority": 2**21}, "priority"),
        ({"priority": 1.5}, "priority"),
        ({"priority": -1}, "priority"),
        ({"attempts": -1}, "attempts"),
        ({"attempts": True}, "attempts"),
        ({"backoff": {"type": "fixed"}}, "backoff"),
        ({"backoff": {"type": "fixed", "delay": 1, "jitter": 2}}, "backoff.jitter"),
        ({"backoff": {"type": "fixed", "delay": 1, "extra": 1}}, "backoff"),
        ({"remove_on_complete": "yes"}, "remove_on_complete"),
        ({"remove_on_fail": {"ages": 5}}, "remove_on_fail"),
        ({"remove_on_fail": -3}, "remove_on_fail"),
        ({"job_id": "12"}, "job_id"),
        ({"job_id": "a:b"}, "job_id"),
        ({"job_id": ""}, "job_id"),
        ({"lifo": "yes"}, "lifo"),
        ({"lifo": True, "priority": 2}, "lifo"),
        ({"keep_logs": 0}, "keep_logs"),
        ({"timestamp": -5}, "timestamp"),
    ],
)
def test_a_wrong_option_raises_value_error_naming_it(options, named):
    with pytest.raises(ValueError, match=named):
        build_add("job", {}, options, 0)


def test_a_job_needs_a_name():
    with pytest.raises(ValueError, match="name"):
        build_add("", {}, {}, 0)


@pytest.mark.parametrize("data", [{"when": object()}, {1, 2}, b"bytes", {"x": math.inf}])
def test_data_that_is_not_json_raises_type_error(data):
    with pytest.raises(TypeError, match="not JSON-serialisable"):
        build_add("job", data, {}, 0)


def test_seconds_and_timedeltas_become_milliseconds():
    assert to_ms(1.5, "x") == 1500
    assert to_ms(timedelta(minutes=1), "x") == 60_000
    with pytest.raises(ValueError, match="x"):
        to_ms(0, "x", allow_zero=False)


@pytest.mark.parametrize(
    "value",
    [1e308, MAX_SECONDS + 1, timedelta.max, 10**400, 10**5000, math.inf, -math.inf, math.nan],
    ids=["1e308", "max+1", "timedelta.max", "10**400", "10**5000", "inf", "-inf", "nan"],
)
def test_a_duration_past_100_years_or_not_finite_is_refused_by_name(value):
    with pytest.raises(ValueError, match=r"^delay: must be"):
        to_ms(value, "delay")


def test_the_longest_duration_keeps_due_times_exact_in_redis_and_javascript():
    assert to_ms(MAX_SECONDS, "delay") == MAX_MS
    # A due time is now + delay; Lua and JavaScript numbers are exact integers up to 2**53.
    assert 253_402_300_799_000 + MAX_MS < 2**53


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"delay": 1e308}, "delay"),
        ({"backoff": 1e308}, "backoff"),
        ({"backoff": {"type": "fixed", "delay": 1e308}}, "backoff.delay"),
        ({"remove_on_complete": {"age": 1e308}}, "remove_on_complete.age"),
        ({"timestamp": 1e308}, "timestamp"),
        ({"timestamp": math.inf}, "timestamp"),
        ({"timestamp": math.nan}, "timestamp"),
        ({"timestamp": 10**5000}, "timestamp"),
    ],
)
def test_huge_numbers_are_a_value_error_naming_the_option_not_an_overflow(options, named):
    with pytest.raises(ValueError, match=f"^{named}"):
        build_add("job", {}, options, 0)


def test_a_limiter_window_past_100_years_is_refused():
    with pytest.raises(ValueError, match=r"limiter\.duration"):
        parse_limiter({"max": 1, "duration": 1e308})


def test_data_nested_too_deep_to_serialise_is_a_type_error():
    deep: list[object] = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(TypeError, match="nested too deep"):
        build_add("job", deep, {}, 0)


def test_keep_policies():
    assert keep_policy(True, "o") is True
    assert keep_policy(10, "o") == 10
    assert keep_policy({"age": timedelta(hours=1)}, "o") == {"age": 3600}


def test_limiter_takes_max_and_duration_in_seconds():
    assert parse_limiter({"max": 100, "duration": 60}) == (100, 60_000)
    assert parse_limiter(None) == (0, 0)
    for bad in ({"max": 0, "duration": 1}, {"max": 1}, {"max": 1, "duration": 0}, [1, 2]):
        with pytest.raises(ValueError, match="limiter"):
            parse_limiter(bad)


def test_custom_ids_that_bullmq_would_refuse_are_refused():
    assert validate_job_id("order-12345") == "order-12345"
    for bad in ("7", "-7", "x:y", "a:b:c", 7):
        with pytest.raises(ValueError, match="job_id"):
            validate_job_id(bad)


@pytest.mark.parametrize("name", ["meta", "events", "wait", "id", "repeat", "metrics", "de"])
def test_a_custom_id_naming_a_queue_key_is_refused(name):
    with pytest.raises(ValueError, match=r"job_id: .*queue's own keys"):
        validate_job_id(name)


class _Job:
    pass


def _strategies(**named):
    return Strategies(None, named)


def test_built_in_backoffs_compute_what_bullmq_computes():
    none = _strategies()
    err = RuntimeError("x")
    assert backoff_delay({"type": "fixed", "delay": 300}, 4, err, none, _Job()) == 300
    assert backoff_delay({"type": "exponential", "delay": 100}, 3, err, none, _Job()) == 400
    assert backoff_delay(250, 1, err, none, _Job()) == 250
    assert backoff_delay(None, 1, err, none, _Job()) == 0


def test_an_exponential_backoff_after_countless_attempts_stops_at_the_longest_delay():
    # attempts_made comes from Redis: a huge count must neither overflow nor compute 2**huge.
    delay = backoff_delay({"type": "exponential", "delay": 1000}, 10**4000, RuntimeError("x"), _strategies(), _Job())
    assert delay == MAX_MS


def test_a_custom_type_is_looked_up_by_name_and_an_old_fn_field_is_ignored():
    seen = []

    def linear(attempts_made, error, kind, job):
        seen.append((attempts_made, str(error), kind, job))
        return 0.25 * attempts_made

    job = _Job()
    strategies = _strategies(linear=linear)
    backoff = {"type": "linear", "delay": 9, "fn": "os:_exit"}
    assert backoff_delay(backoff, 2, RuntimeError("x"), strategies, job) == 500
    assert seen == [(2, "x", "linear", job)]


@pytest.mark.parametrize(
    ("fn", "expected"),
    [
        (lambda attempts: attempts, 3000),
        (lambda attempts, error: len(str(error)), 4000),
        (lambda attempts, error, kind: len(kind), 6000),
        (lambda *args: len(args), 4000),
    ],
)
def test_a_strategy_gets_as_many_leading_arguments_as_it_takes(fn, expected):
    assert backoff_delay({"type": "custom"}, 3, RuntimeError("oops"), Strategies(fn), _Job()) == expected


def test_a_strategy_may_stop_the_retries():
    with pytest.raises(NoRetry):
        backoff_delay({"type": "custom"}, 1, RuntimeError("x"), Strategies(lambda a: None), _Job())
    with pytest.raises(NoRetry):
        backoff_delay({"type": "custom"}, 1, RuntimeError("x"), Strategies(lambda a: -1), _Job())


@pytest.mark.parametrize("result", [math.nan, math.inf, 1e308, "soon"])
def test_a_strategy_returning_no_usable_seconds_is_an_error_naming_its_type(result):
    with pytest.raises(ValueError, match="'custom'"):
        backoff_delay({"type": "custom"}, 1, RuntimeError("x"), Strategies(lambda a: result), _Job())


def test_an_unknown_type_names_itself_and_what_the_worker_knows():
    known = r"'custom' is unknown to this worker, which knows 'fixed', 'exponential', 'linear'"
    with pytest.raises(ValueError, match=known):
        backoff_delay({"type": "custom", "fn": "os:_exit"}, 1, RuntimeError("x"), _strategies(linear=print), _Job())


@pytest.mark.parametrize("backoff", ["soon", [1, 2], {"delay": 5}, {"type": 3}, {"type": ""}])
def test_a_malformed_stored_backoff_is_an_error(backoff):
    with pytest.raises(ValueError, match="malformed backoff"):
        backoff_delay(backoff, 1, RuntimeError("x"), _strategies(), _Job())


@pytest.mark.parametrize(
    ("fallback", "named", "words"),
    [
        (None, {"fixed": print}, "built-in"),
        (None, {"": print}, "non-empty"),
        (None, {"linear": "not callable"}, r"backoff_strategies\['linear'\]"),
        (None, [("linear", print)], "dict"),
        ("not callable", None, "backoff_strategy"),
        (lambda: 1, None, "number of attempts"),
    ],
)
def test_strategies_given_to_a_worker_are_checked(fallback, named, words):
    with pytest.raises(ValueError, match=words):
        Strategies(fallback, named)
