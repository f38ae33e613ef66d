from __future__ import annotations

import pytest

from board.engine.keys import SCRIPT_KEY_SUFFIXES, QueueKeys, queue_name_from_meta_key


def test_queue_and_job_keys_follow_bullmq_naming():
    keys = QueueKeys("bull", "email")
    assert keys.wait == "bull:email:wait"
    assert keys.waiting_children == "bull:email:waiting-children"
    assert keys.stalled_check == "bull:email:stalled-check"
    assert keys.job("42") == "bull:email:42"
    assert keys.lock("42") == "bull:email:42:lock"
    assert keys.logs("order-1") == "bull:email:order-1:logs"
    assert keys.queue_key == "bull:email"


def test_scripts_receive_every_queue_key_in_a_fixed_order():
    keys = QueueKeys("app", "q")
    assert keys.script_keys == tuple(f"app:q:{s}" for s in SCRIPT_KEY_SUFFIXES)
    assert keys.script_keys[0] == "app:q:wait" and keys.script_keys[-1] == "app:q:limiter"


def test_worker_client_names_are_the_ones_bullmq_lists_as_workers():
    keys = QueueKeys("bull", "q1")
    assert keys.client_name() == "bull:cTE="
    assert keys.client_name("w1") == "bull:cTE=:w:w1"


def test_bad_names_are_refused():
    with pytest.raises(ValueError, match="queue name"):
        QueueKeys("bull", "")
    with pytest.raises(ValueError, match="prefix"):
        QueueKeys("a:b", "q")
    assert QueueKeys("{tenant}", "q").wait == "{tenant}:q:wait"


def test_queue_names_are_recovered_from_meta_keys():
    assert queue_name_from_meta_key("bull:email:meta", "bull") == "email"
    assert queue_name_from_meta_key("bull:a:b:meta", "bull") == "a:b"
    assert queue_name_from_meta_key("bull:email:wait", "bull") is None
    assert queue_name_from_meta_key("other:email:meta", "bull") is None
