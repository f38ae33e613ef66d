from __future__ import annotations

import re
from pathlib import Path

import pytest
from redis.crc import key_slot

from board import Queue, QueueEvents, SyncQueue, Worker
from board.engine.inspector import Inspector
from board.engine.keys import (
    SCRIPT_KEY_SUFFIXES,
    QueueKeys,
    check_cluster_queue,
    check_job_id,
    hash_tag,
    queue_name_from_meta_key,
    same_slot,
)


async def _work(job):
    return None


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
    assert queue_name_from_meta_key("bull:email:wait", "bull") is None
    assert queue_name_from_meta_key("other:email:meta", "bull") is None


def test_a_meta_key_whose_queue_name_holds_a_colon_is_not_a_queue():
    assert queue_name_from_meta_key("bull:billing:eu:meta", "bull") is None
    assert queue_name_from_meta_key("{t}:billing:eu:meta", "{t}") is None


@pytest.mark.parametrize("make", [Queue, SyncQueue, QueueEvents, lambda n, url: Worker(n, _work, url)])
def test_every_engine_object_refuses_a_queue_name_with_a_colon(make):
    with pytest.raises(ValueError, match="queue name: must not contain ':'"):
        make("billing:eu", "redis://127.0.0.1:1")


async def test_the_inspector_refuses_a_queue_name_with_a_colon():
    inspector = Inspector("redis://127.0.0.1:1")
    try:
        with pytest.raises(ValueError, match="queue name"):
            inspector.status_call("billing:eu")
    finally:
        await inspector.close()


async def test_discovery_skips_keys_whose_queue_name_holds_a_colon(raw, redis_url):
    raw.hset("bull:email:meta", "version", "bullmq:6")
    raw.hset("bull:billing:eu:meta", "version", "other")
    raw.set("bull:billing:us:id", 3)
    raw.set("bull:reports:id", 3)
    inspector = Inspector(redis_url)
    try:
        assert await inspector.discover() == ["email", "reports"]
    finally:
        await inspector.close()


@pytest.mark.parametrize(
    ("job_id", "expected"),
    [
        ("1", "1"),
        (42, "42"),
        ("order-12345", "order-12345"),
        ("locks", "locks"),
        ("repeat:3f2a9c:1700000000000", "repeat:3f2a9c:1700000000000"),
    ],
)
def test_ids_bullmq_can_write_are_accepted(job_id, expected):
    assert check_job_id(job_id) == expected


QUEUE_LEVEL = sorted({*SCRIPT_KEY_SUFFIXES, "repeat", "metrics", "de", "dn", "priority"})


@pytest.mark.parametrize("job_id", QUEUE_LEVEL)
def test_an_id_naming_a_queue_key_is_refused(job_id):
    with pytest.raises(ValueError, match="queue's own keys"):
        check_job_id(job_id)


@pytest.mark.parametrize(
    ("job_id", "words"),
    [
        ("1:lock", "not a job id"),
        ("1:logs", "not a job id"),
        ("a:b", "not a job id"),
        ("a:b:c:d", "not a job id"),
        (":", "not a job id"),
        ("metrics:completed:data", "metrics:"),
        ("de:order:1", "de:"),
        ("dn:order:1", "dn:"),
        ("repeat:every:minute", "repeat:<key>:<millis>"),
        ("a:b:c", "repeat:<key>:<millis>"),
        ("eu:repeat:nightly", "repeat:<key>:<millis>"),
        ("eu:7:lock", "repeat:<key>:<millis>"),
        ("repeat::17", "repeat:<key>:<millis>"),
        ("", "non-empty"),
        (None, "non-empty"),
        (True, "non-empty"),
        (b"1", "non-empty"),
    ],
)
def test_ids_that_reach_other_keys_are_refused(job_id, words):
    with pytest.raises(ValueError, match=words):
        check_job_id(job_id)


def test_the_queue_level_names_include_every_key_bullmq_itself_lists():
    source = Path(__file__).parents[1] / "interop/node_modules/bullmq/dist/cjs/classes/queue-keys.js"
    if not source.exists():
        pytest.skip("bullmq is not installed under tests/interop")
    text = source.read_text()
    listed = text[text.index("[", text.index("getKeys")) : text.index("].forEach")]
    names = re.findall(r"'([^']*)'", listed)
    assert "meta" in names and len(names) > 10
    for name in names:
        with pytest.raises(ValueError):
            check_job_id(name)


@pytest.mark.parametrize(
    ("key", "tag"),
    [
        ("{bull}:email:", "bull"),
        ("bull:{email}:", "email"),
        ("bull:{email}:{x}", "email"),
        ("{}:email:", None),
        ("bull{:email:", None),
        ("bull:email:", None),
        ("a{}b{c}", None),  # Redis hashes the whole key when the first braces are empty
        ("a{b}}", "b"),
    ],
)
def test_hash_tags_follow_redis_rule(key, tag):
    assert hash_tag(key) == tag


def test_a_queue_with_a_hash_tag_keeps_every_key_in_its_slot():
    for keys in (QueueKeys("{bull}", "email"), QueueKeys("bull", "{email}")):
        slots = {key_slot(k.encode()) for k in (*keys.script_keys, keys.job("7"), keys.lock("7"), keys.repeat)}
        assert slots == {keys.slot}
    assert same_slot(QueueKeys("{bull}", "email"), QueueKeys("{bull}", "sms"))
    assert not same_slot(QueueKeys("bull", "{email}"), QueueKeys("bull", "{sms}"))


def test_a_queue_that_would_spread_over_slots_is_refused_with_the_fix():
    assert check_cluster_queue("{bull}", "email").base == "{bull}:email:"
    assert check_cluster_queue("bull", "{email}").base == "bull:{email}:"
    with pytest.raises(ValueError) as info:
        check_cluster_queue("bull", "email")
    message = str(info.value)
    assert "'{bull}'" in message and "'{email}'" in message and "hash slots" in message
