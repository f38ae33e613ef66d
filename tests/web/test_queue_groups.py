"""Group and all-queues actions (board/web/queue_groups.py) over HTTP: pause, resume and retry failed on a
group or on every queue, only on the queues the user may see and that are not read-only, confirmed first,
counted in the answer; and the overview's groups with their totals and buttons."""

from __future__ import annotations

import re
from typing import Any

import redis

from board import BasicAuth

from .conftest import AS, JSON, USERS, ClientFactory, basic, csrf_of, dead_letter, flash_of, keys_of, process_all

NAMES = ["mail.welcome", "mail.digest", "sms.out", "billing"]


def paused(raw: redis.Redis, queue: str) -> bool:
    return raw.hget(f"bull:{queue}:meta", "paused") == "1"


def make_queues(sync_queues: Any) -> dict[str, Any]:
    queues = {name: sync_queues(name) for name in NAMES}
    for q in queues.values():
        q.add("j", {})
    return queues


def test_pause_and_resume_a_group_touch_only_its_queues(
    make_client: ClientFactory, sync_queues: Any, raw: redis.Redis
) -> None:
    make_queues(sync_queues)
    client = make_client(NAMES)

    unconfirmed = client.post("/groups/pause", json={"group": "mail"}, headers=JSON)
    assert unconfirmed.status_code == 400 and "confirm=true" in unconfirmed.json()["error"]
    assert not paused(raw, "mail.welcome")

    answer = client.post("/groups/pause", json={"group": "mail", "confirm": True}, headers=JSON).json()
    assert answer["done"] == ["mail.digest", "mail.welcome"] and answer["count"] == 2
    assert answer["message"] == "Group mail: paused 2 queue(s)."
    assert paused(raw, "mail.welcome") and paused(raw, "mail.digest")
    assert not paused(raw, "sms.out") and not paused(raw, "billing")

    # Again: nothing to do, and said so.
    again = client.post("/groups/pause", json={"group": "mail", "confirm": True}, headers=JSON).json()
    assert again["done"] == [] and again["unchanged"] == ["mail.digest", "mail.welcome"]

    resumed = client.post("/groups/resume", json={"group": "mail", "confirm": True}, headers=JSON).json()
    assert resumed["done"] == ["mail.digest", "mail.welcome"]
    assert not paused(raw, "mail.welcome") and not paused(raw, "mail.digest")


def test_all_queues_from_the_overview_form_with_a_message(
    make_client: ClientFactory, sync_queues: Any, raw: redis.Redis
) -> None:
    make_queues(sync_queues)
    client = make_client(NAMES)
    page = client.get("/").text
    assert 'action="/groups/pause"' in page and 'action="/groups/retry"' in page
    token = csrf_of(page)

    # Without JavaScript the server asks first, on a page that posts the same fields again.
    asking = client.post("/groups/pause", data={"csrf_token": token, "next": "/"})
    assert asking.status_code == 200 and "Please confirm" in asking.text and "Pause every queue" in asking.text
    assert not any(paused(raw, q) for q in NAMES)

    done = client.post("/groups/pause", data={"csrf_token": token, "confirm": "1", "next": "/"}, follow_redirects=False)
    assert done.status_code == 303 and done.headers["location"] == "/"
    assert all(paused(raw, q) for q in NAMES)
    assert flash_of(client.get("/").text) == "All queues: paused 4 queue(s)."


def test_no_csrf_token_no_action(make_client: ClientFactory, sync_queues: Any, raw: redis.Redis) -> None:
    make_queues(sync_queues)
    client = make_client(NAMES)
    refused = client.post("/groups/pause", data={"confirm": "1"})
    assert refused.status_code == 403
    assert not any(paused(raw, q) for q in NAMES)


def test_read_only_queues_are_skipped_and_counted(
    make_client: ClientFactory, sync_queues: Any, raw: redis.Redis
) -> None:
    make_queues(sync_queues)
    client = make_client(NAMES, queue_config={"mail.digest": {"read_only": True}})
    before = keys_of(raw, "mail.digest")
    answer = client.post("/groups/pause", json={"confirm": True}, headers=JSON).json()
    assert answer["skipped"] == ["mail.digest"]
    assert sorted(answer["done"]) == ["billing", "mail.welcome", "sms.out"]
    assert "1 skipped" in answer["message"]
    assert keys_of(raw, "mail.digest") == before


def test_a_user_limited_to_some_queues_never_touches_the_others(
    make_client: ClientFactory, sync_queues: Any, raw: redis.Redis
) -> None:
    make_queues(sync_queues)
    users = {**USERS, "mailer": ("mailer-pw", "admin", ["mail.*"])}
    client = make_client(NAMES, auth=BasicAuth(users))
    mailer = basic("mailer", "mailer-pw")
    before = {q: keys_of(raw, q) for q in ("sms.out", "billing")}
    answer = client.post("/groups/pause", json={"confirm": True}, headers={**JSON, **mailer}).json()
    assert answer["done"] == ["mail.digest", "mail.welcome"]
    # The queues the user may not see are neither done nor named as skipped.
    assert "sms.out" not in str(answer) and "billing" not in str(answer)
    assert {q: keys_of(raw, q) for q in before} == before
    # A group the user sees nothing of is answered as one that does not exist.
    missing = client.post("/groups/pause", json={"group": "sms", "confirm": True}, headers={**JSON, **mailer})
    assert missing.status_code == 404 and "no group named 'sms'" in missing.json()["error"]
    assert not paused(raw, "sms.out")


def test_only_admins_act_on_groups(make_client: ClientFactory, sync_queues: Any, raw: redis.Redis) -> None:
    make_queues(sync_queues)
    client = make_client(NAMES, auth=BasicAuth(USERS))
    refused = client.post("/groups/pause", json={"confirm": True}, headers={**JSON, **AS["operator"]})
    assert refused.status_code == 403
    assert not any(paused(raw, q) for q in NAMES)
    # Nor are the buttons shown to them.
    assert 'action="/groups/pause"' not in client.get("/", headers=AS["operator"]).text


def test_retry_failed_in_a_group(make_client: ClientFactory, redis_url: str, sync_queues: Any) -> None:
    queues = {name: sync_queues(name) for name in ("mail.a", "mail.b", "sms.c")}
    for q in queues.values():
        q.add("bad", {"fail": "no"})
        q.add("bad", {"fail": "no"})
        process_all(redis_url, q, failed=2)
    client = make_client(list(queues), queue_config={"mail.b": {"allow_retries": False}})
    answer = client.post("/groups/retry", json={"group": "mail", "confirm": True}, headers=JSON).json()
    assert answer["done"] == ["mail.a"] and answer["jobs"] == 2 and answer["skipped"] == ["mail.b"]
    assert queues["mail.a"].get_job_counts("failed", "waiting") == {"failed": 0, "waiting": 2}
    assert queues["mail.b"].get_job_counts("failed")["failed"] == 2
    assert queues["sms.c"].get_job_counts("failed")["failed"] == 2


def test_bad_group_input_names_the_field(make_client: ClientFactory, sync_queues: Any) -> None:
    make_queues(sync_queues)
    client = make_client(NAMES)
    wrong = client.post("/groups/pause", json={"group": 3, "confirm": True}, headers=JSON)
    assert wrong.status_code == 400 and wrong.json()["error"].startswith("group:")
    flat = make_client(NAMES, group_delimiter=None)
    ungrouped = flat.post("/groups/pause", json={"group": "mail", "confirm": True}, headers=JSON)
    assert ungrouped.status_code == 400 and "does not group" in ungrouped.json()["error"]


def test_a_read_only_board_refuses(make_client: ClientFactory, sync_queues: Any, raw: redis.Redis) -> None:
    make_queues(sync_queues)
    client = make_client(NAMES, read_only=True)
    assert client.post("/groups/pause", json={"confirm": True}, headers=JSON).status_code == 403
    assert not any(paused(raw, q) for q in NAMES)
    assert "/groups/" not in client.get("/").text


def test_overview_groups_show_their_totals_and_buttons(make_client: ClientFactory, sync_queues: Any) -> None:
    queues = make_queues(sync_queues)
    queues["mail.digest"].add("later", {}, delay=60_000)
    client = make_client(NAMES)
    page = client.get("/").text
    mail = re.search(r'<details class="group"[^>]*data-group="mail".*?</details>', page, re.S)
    assert mail
    footer = re.search(r'<tr class="group-totals">.*?</tr>', mail.group(0), re.S)
    assert footer, "no totals under the group's queues"
    totals = dict(re.findall(r'<td class="state-([a-z-]+)[^"]*">([\d,]+)</td>', footer.group(0)))
    assert totals["waiting"] == "2" and totals["delayed"] == "1" and totals["failed"] == "0"
    assert 'name="group" value="mail"' in mail.group(0)


def test_a_group_retry_keeps_dead_letters_of_queues_the_user_may_not_change(
    make_client: ClientFactory, redis_url: str, sync_queues: Any, raw: redis.Redis
) -> None:
    payroll, dead = sync_queues("payroll"), sync_queues("payroll-dead")
    letter = dead_letter(redis_url, payroll, dead)
    users = {**USERS, "team": ("team-pw", "admin", ["payroll-dead"])}
    client = make_client(["payroll-dead", "payroll"], auth=BasicAuth(users))
    before = keys_of(raw, "payroll")
    answer = client.post("/groups/retry", json={"confirm": True}, headers={**basic("team", "team-pw"), **JSON})
    assert answer.status_code == 200
    assert keys_of(raw, "payroll") == before and raw.zrange("bull:payroll-dead:failed", 0, -1) == [letter]
