"""The one vocabulary of job states, and the wait/waiting alias in one place."""

from __future__ import annotations

import pytest

from board.adapters import COUNTED, TABS
from board.engine.keys import QueueKeys
from board.engine.states import ALL_STATES, RUN_ORDER, JobState, state_key


@pytest.mark.parametrize("name", ["wait", "waiting"])
def test_both_names_of_a_waiting_job_parse_to_one_state(name: str) -> None:
    assert JobState.parse(name) is JobState.WAITING
    assert state_key(name) == "wait"


def test_every_state_key_is_a_key_of_the_queue() -> None:
    keys = QueueKeys("q", "bull")
    for state in ALL_STATES:
        assert keys.base + state.key in keys.script_keys, state


def test_an_unknown_state_is_refused_with_the_names_it_could_have_been() -> None:
    with pytest.raises(ValueError, match=r"unknown state 'finished'; expected one of wait, waiting, prioritized"):
        JobState.parse("finished")


def test_the_board_tabs_follow_the_run_order() -> None:
    assert ("latest", *COUNTED) == TABS
    assert COUNTED == ("waiting", "prioritized", "delayed", "active", "waiting-children", "completed", "failed")
    assert [JobState(tab) for tab in COUNTED] == list(RUN_ORDER)
