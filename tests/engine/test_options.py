from __future__ import annotations

import json
import math
from datetime import timedelta

import pytest

from board.engine.options import build_add, keep_policy, parse_limiter, to_ms, validate_job_id


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


def test_a_module_level_function_is_a_custom_backoff_workers_can_import():
    assert opts_of(attempts=2, backoff=backoff_fn)["backoff"] == {
        "type": "custom",
        "fn": "tests.engine.test_options:backoff_fn",
    }


def test_a_lambda_backoff_is_refused_with_the_option_named():
    with pytest.raises(ValueError, match="backoff"):
        build_add("job", {}, {"backoff": lambda a, e: 1}, 0)


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
    for bad in ("7", "-7", "x:y", 7):
        with pytest.raises(ValueError, match="job_id"):
            validate_job_id(bad)
