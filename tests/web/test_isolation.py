"""Across modules, every route at once: a user limited to some queues never reaches another queue's keys, nor
the queue's own non-job keys, whatever the id in the URL (guard, views, actions, the adapter's key checks);
links never name a queue the user cannot see (views, for flows across queues); every URL the board writes
is built from its routes with the parameters encoded (board, render, actions' redirect back)."""

from __future__ import annotations

import html
import json
from typing import Any
from urllib.parse import quote

import pytest
import redis

from board import BasicAuth, SyncFlowProducer, SyncQueue, create_board

from .conftest import HTML, JSON, ClientFactory, ThreadWorker, basic, csrf_of, keys_of, tags_of, wait_for

USERS: dict[str, Any] = {"billing": ("pw-b", "admin", ["billing"]), "root": ("pw-r", "admin")}
BILLING = basic("billing", "pw-b")
ROOT = basic("root", "pw-r")


def write_job(raw: redis.Redis, queue: str, job_id: str, state_key: str = "wait", **fields: Any) -> str:
    """A job hash as another program would write it, listed in ``state_key``."""
    key = f"bull:{queue}:{job_id}"
    data = json.dumps({"owner": queue})
    mapping: dict[Any, Any] = {"name": "raw", "data": data, "opts": "{}", "timestamp": "1", **fields}
    raw.hset(key, mapping=mapping)
    if state_key in ("completed", "failed", "delayed", "prioritized", "waiting-children"):
        raw.zadd(f"bull:{queue}:{state_key}", {job_id: 1})
    else:
        raw.lpush(f"bull:{queue}:{state_key}", job_id)
    return key


def every_key(raw: redis.Redis) -> dict[str, Any]:
    return {**keys_of(raw, "billing"), **keys_of(raw, "billing:eu")}


# Job ids that name other keys ----------------------------------------------------------------------------------


HOSTILE_IDS = [
    "eu:1",
    "eu:repeat:nightly",
    "eu:7:lock",
    "eu:metrics:completed",
    "meta",
    "wait",
    "events",
    "id",
    "1:lock",
    "1:logs",
    "stalled-check",
    "metrics:completed:data",
    "stray",
]


@pytest.mark.parametrize("job_id", HOSTILE_IDS)
def test_ids_never_reach_other_keys(
    make_client: ClientFactory, raw: redis.Redis, sync_queues: Any, job_id: str
) -> None:
    billing = sync_queues("billing")
    one = billing.add("invoice", {"n": 1})
    billing.add_job_log(one.id, "a log line")
    # Queue "billing:eu" (a name BullMQ refuses, written here by hand) holds job 1: its key is
    # bull:billing:eu:1, exactly what queue "billing" with job id "eu:1" would build.
    write_job(raw, "billing:eu", "1")
    raw.hset("bull:billing:eu:repeat:nightly", mapping={"name": "nightly", "every": "60000"})
    raw.set("bull:billing:eu:7:lock", "token")
    raw.lpush("bull:billing:eu:metrics:completed", "5")
    raw.lpush("bull:billing:metrics:completed:data", "3")
    raw.set(f"bull:billing:{one.id}:lock", "token")
    # Under this queue's base, but listed in none of its states: not this queue's to show or remove.
    raw.set("bull:billing:stray", "a string")
    client = make_client(["billing"], auth=BasicAuth(USERS), client={"raise_server_exceptions": False})
    before = every_key(raw)
    path = f"/queues/billing/jobs/{quote(job_id, safe='')}"
    for url in (path, f"{path}/raw/data", f"{path}/edit"):
        for headers in (HTML, JSON):
            response = client.get(url, headers={**BILLING, **headers})
            assert response.status_code == 404, (url, response.status_code)
            assert "owner" not in response.text and "billing:eu" not in response.text and "60000" not in response.text
    for action, body in (
        ("remove", {"confirm": True}),
        ("retry", {}),
        ("promote", {}),
        ("data", {"data": {"x": 1}}),
        ("priority", {"priority": 3}),
        ("duplicate", {}),
    ):
        response = client.post(f"{path}/{action}", json=body, headers={**BILLING, **JSON})
        assert response.status_code == 404, (action, response.status_code, response.text)
    assert every_key(raw) == before
    assert client.get(f"/find?id={quote(job_id)}", headers={**ROOT, **JSON}).json()["queues"] == []


def test_bullmq_scheduler_ids_with_colons_still_work(
    make_client: ClientFactory, raw: redis.Redis, sync_queues: Any
) -> None:
    sync_queues("billing").add("seed", {})
    job_id = "repeat:nightly:1767225600000"
    write_job(raw, "billing", job_id, "failed", failedReason="boom", finishedOn="2", attemptsMade="1")
    client = make_client(["billing"], auth=BasicAuth(USERS))
    detail = client.get(f"/queues/billing/jobs/{quote(job_id, safe='')}", headers={**BILLING, **JSON})
    assert detail.status_code == 200 and detail.json()["id"] == job_id and detail.json()["state"] == "failed"
    response = client.post(f"/queues/billing/jobs/{quote(job_id, safe='')}/retry", json={}, headers={**BILLING, **JSON})
    assert response.status_code == 200, response.text
    assert job_id in [str(i) for i in raw.lrange("bull:billing:wait", 0, -1)]
    response = client.post(
        f"/queues/billing/jobs/{quote(job_id, safe='')}/remove", json={"confirm": True}, headers={**BILLING, **JSON}
    )
    assert response.status_code == 200 and not raw.exists(f"bull:billing:{job_id}")


def test_queue_names_with_colons_are_not_served(raw: redis.Redis, redis_url: str, make_client: ClientFactory) -> None:
    with pytest.raises(ValueError, match="':'"):
        create_board(redis_url, queues=["billing:eu"])
    write_job(raw, "billing:eu", "1")
    raw.hset("bull:billing:eu:meta", "opts.maxLenEvents", "10000")
    raw.hset("bull:email:meta", "opts.maxLenEvents", "10000")
    client = make_client(None, discover=True)
    names = [q["name"] for q in client.get("/", headers=JSON).json()["queues"]]
    assert names == ["email"]
    assert client.get("/queues/billing:eu", headers=JSON).status_code == 404


def test_a_key_of_the_wrong_type_in_a_list_renders_malformed(
    make_client: ClientFactory, raw: redis.Redis, sq: SyncQueue, qname: str
) -> None:
    good = sq.add("good", {"ok": 1})
    raw.lpush(f"bull:{qname}:wait", "stray")
    raw.set(f"bull:{qname}:stray", "a string, not a hash")
    client = make_client([qname])
    for state in ("latest", "waiting"):
        page = client.get(f"/queues/{qname}?state={state}", headers=HTML)
        assert page.status_code == 200, state
        assert "malformed" in page.text and f">{good.id}<" in page.text
        rows = client.get(f"/queues/{qname}?state={state}", headers=JSON).json()["jobs"]
        stray = next(r for r in rows if r["id"] == "stray")
        assert stray["problems"], stray
    assert client.get(f"/queues/{qname}/jobs/stray", headers=JSON).status_code == 404
    assert raw.get(f"bull:{qname}:stray") == "a string, not a hash"


# Flows across queues ---------------------------------------------------------------------------------------------


def test_flow_links_never_name_a_hidden_queue(make_client: ClientFactory, raw: redis.Redis, sync_queues: Any) -> None:
    sync_queues("email").add("seed", {})
    sync_queues("billing").add("seed", {})
    parent = json.dumps({"id": "p1", "queueKey": "bull:billing"})
    write_job(raw, "email", "child", parentKey="bull:billing:p1", parent=parent)
    write_job(raw, "email", "parent", "waiting-children")
    raw.sadd("bull:email:parent:dependencies", "bull:billing:c1", "bull:email:child")
    users: dict[str, Any] = {"mailer": ("pw-m", "admin", ["email"]), "root": ("pw-r", "admin")}
    client = make_client(["email", "billing"], auth=BasicAuth(users))
    mailer = basic("mailer", "pw-m")

    child = client.get("/queues/email/jobs/child", headers=mailer).text
    assert "billing" not in child and "p1" not in child
    assert "a job in a queue you cannot see" in child
    child_json = client.get("/queues/email/jobs/child", headers={**mailer, **JSON}).json()
    assert child_json["parent_queue"] is None and child_json["parent_id"] is None and child_json["parent_hidden"]
    assert "billing" not in json.dumps(child_json)

    page = client.get("/queues/email/jobs/parent", headers=mailer).text
    assert "billing" not in page and "c1" not in page
    assert "/queues/email/jobs/child" in page and "1 in queues you cannot see" in page
    detail = client.get("/queues/email/jobs/parent", headers={**mailer, **JSON}).json()
    assert [c["queue"] for c in detail["children"]] == ["email"] and detail["children_hidden"] == 1

    # Someone who may see billing gets the links.
    root = basic("root", "pw-r")
    assert "/queues/billing/jobs/p1" in client.get("/queues/email/jobs/child", headers=root).text
    assert "/queues/billing/jobs/c1" in client.get("/queues/email/jobs/parent", headers=root).text


# Schedulers, flows and dead letters of a hidden queue --------------------------------------------------------------

# Sees billing and its dead letters; payroll is another team's.
TEAM: dict[str, Any] = {"team": ("pw-t", "admin", ["billing", "billing-dead"]), "root": ("pw-r", "admin")}
AS_TEAM = basic("team", "pw-t")


def test_a_hidden_queues_schedulers_are_out_of_reach(
    make_client: ClientFactory, raw: redis.Redis, sync_queues: Any
) -> None:
    billing, payroll = sync_queues("billing"), sync_queues("payroll")
    billing.upsert_job_scheduler("invoices", cron="0 6 * * *")
    secret = payroll.upsert_job_scheduler("salaries", cron="0 9 25 * *", name="pay-everyone", data={"total": 1})
    client = make_client(["billing", "payroll"], auth=BasicAuth(TEAM))
    before = {**keys_of(raw, "billing"), **keys_of(raw, "payroll")}
    for base in ("/queues/payroll/schedulers", "/queues/payroll/schedulers/salaries"):
        for headers in (HTML, JSON):
            response = client.get(base, headers={**AS_TEAM, **headers})
            assert response.status_code == 404, base
            assert "salaries" not in response.text and "pay-everyone" not in response.text
    for action in ("run", "update", "remove"):
        body = {"confirm": True, "kind": "every", "every": 5}
        response = client.post(f"/queues/payroll/schedulers/salaries/{action}", json=body, headers={**AS_TEAM, **JSON})
        assert response.status_code == 404, action
    # Nor through the queue it may see, whatever the id.
    for scheduler_id in ("../../payroll/schedulers/salaries", "salaries", "../salaries"):
        url = f"/queues/billing/schedulers/{quote(scheduler_id, safe='')}"
        assert client.get(url, headers={**AS_TEAM, **JSON}).status_code == 404, scheduler_id
        response = client.post(f"{url}/remove", json={"confirm": True}, headers={**AS_TEAM, **JSON})
        assert response.status_code == 404, scheduler_id
    assert {**keys_of(raw, "billing"), **keys_of(raw, "payroll")} == before
    across = client.get("/schedulers", headers=AS_TEAM)
    assert "invoices" in across.text and "salaries" not in across.text and "payroll" not in across.text
    assert [q["queue"] for q in client.get("/schedulers", headers={**AS_TEAM, **JSON}).json()["queues"]] == ["billing"]
    # The job its scheduler made is out of reach too.
    run = f"/queues/payroll/jobs/{quote(str(secret.next_job_id), safe='')}"
    assert client.get(run, headers=AS_TEAM).status_code == 404
    assert "salaries" in client.get("/schedulers", headers=basic("root", "pw-r")).text


def test_a_flows_jobs_in_hidden_queues_are_never_named(
    make_client: ClientFactory, redis_url: str, sync_queues: Any
) -> None:
    sync_queues("billing"), sync_queues("payroll")
    with SyncFlowProducer(redis_url) as flows:
        tree = flows.add(
            {
                "name": "payroll-run",
                "queue_name": "payroll",
                "job_id": "secret-root",
                "children": [
                    {
                        "name": "invoice-batch",
                        "queue_name": "billing",
                        "job_id": "batch",
                        "children": [
                            {"name": "invoice", "queue_name": "billing", "job_id": "inv-1"},
                            {"name": "salary-slip", "queue_name": "payroll", "job_id": "secret-slip"},
                        ],
                    },
                    {"name": "bonus", "queue_name": "payroll", "job_id": "secret-bonus"},
                ],
            }
        )
    assert tree.job.id == "secret-root"
    client = make_client(["billing", "payroll"], auth=BasicAuth(TEAM))
    hidden = ("payroll", "secret-", "salary-slip", "payroll-run", "bonus")

    page = client.get("/queues/billing/jobs/batch", headers=AS_TEAM).text
    for word in hidden:
        assert word not in page, word
    tree_text = page.split('<ul class="flow-tree">')[1].split("</section>")[0]
    assert "a job in a queue you cannot see" in tree_text  # the parent
    assert "1 in queues you cannot see" in tree_text  # one of its children
    assert 'href="/queues/billing/jobs/inv-1"' in tree_text
    detail = client.get("/queues/billing/jobs/batch", headers={**AS_TEAM, **JSON})
    for word in hidden:
        assert word not in detail.text, word
    root = detail.json()["flow"]
    assert root["hidden"] and root["queue"] is None and root["id"] is None and root["name"] == ""
    assert root["counts"]["total"] == 0 and [c["id"] for c in root["children"]] == ["batch"]
    # The list of the queue it may see shows counts, never the hidden jobs.
    listing = client.get("/queues/billing?state=waiting-children", headers={**AS_TEAM, **JSON})
    for word in hidden:
        assert word not in listing.text, word
    # Someone who may see payroll gets it all.
    everything = client.get("/queues/billing/jobs/batch", headers=basic("root", "pw-r")).text
    assert 'href="/queues/payroll/jobs/secret-root"' in everything and "salary-slip" in everything


def test_a_dead_letters_hidden_origin_is_never_named_nor_written_to(
    make_client: ClientFactory, redis_url: str, raw: redis.Redis, sync_queues: Any
) -> None:
    payroll, dead = sync_queues("payroll"), sync_queues("billing-dead")
    payroll.add("pay", {"fail": "bank down"}, job_id="secret-pay")
    with ThreadWorker(redis_url, "payroll", dead_letter_queue="billing-dead"):
        wait_for(lambda: dead.get_job_counts("failed")["failed"] == 1, what="the dead letter")
    (letter,) = [str(i) for i in raw.zrange("bull:billing-dead:failed", 0, -1)]
    client = make_client(["billing-dead", "payroll"], auth=BasicAuth(TEAM))
    before = {**keys_of(raw, "billing-dead"), **keys_of(raw, "payroll")}

    for url in (f"/queues/billing-dead/jobs/{letter}", "/queues/billing-dead?state=failed", "/queues/billing-dead"):
        for headers in (HTML, JSON):
            response = client.get(url, headers={**AS_TEAM, **headers})
            assert response.status_code == 200
            # (The dead letter keeps its id from there, as its own: that says nothing of the queue.)
            assert "payroll" not in response.text, (url, headers)
    page = client.get(f"/queues/billing-dead/jobs/{letter}", headers=AS_TEAM).text
    assert "a queue you cannot see" in page and "Send back" not in page
    assert '"jobId"' not in html.unescape(page)
    assert "from a queue you cannot see" in client.get("/queues/billing-dead?state=failed", headers=AS_TEAM).text
    response = client.post(f"/queues/billing-dead/jobs/{letter}/retry", json={}, headers={**AS_TEAM, **JSON})
    assert response.status_code == 403 and "payroll" not in response.text
    assert {**keys_of(raw, "billing-dead"), **keys_of(raw, "payroll")} == before
    # Someone who may see payroll can send it back.
    root = basic("root", "pw-r")
    assert "Send back to payroll" in client.get(f"/queues/billing-dead/jobs/{letter}", headers=root).text


# URLs the board writes ---------------------------------------------------------------------------------------------


def test_confirmation_posts_to_the_encoded_path(
    make_client: ClientFactory, sq: SyncQueue, qname: str, raw: redis.Redis
) -> None:
    other = sq.add("other", {}, job_id="other")
    tricky = sq.add("tricky", {}, job_id="a/../../../other")
    client = make_client([qname])
    token = csrf_of(client.get(f"/queues/{qname}").text)
    encoded = f"/queues/{qname}/jobs/{quote(tricky.id, safe='')}"
    confirm = client.post(f"{encoded}/remove", data={"csrf_token": token}, headers=HTML)
    assert confirm.status_code == 200 and "Please confirm" in confirm.text
    (form,) = [attrs for tag, attrs in tags_of(confirm.text) if tag == "form" and attrs.get("method") == "post"][-1:]
    assert form["action"] == f"{encoded}/remove"
    cancel = [attrs["href"] for tag, attrs in tags_of(confirm.text) if tag == "a" and attrs.get("class") == "btn"]
    assert cancel == [encoded]
    # Confirming removes exactly that job.
    response = client.post(form["action"], data={"csrf_token": token, "confirm": "1"}, follow_redirects=False)
    assert response.status_code == 303
    assert not raw.exists(f"bull:{qname}:{tricky.id}") and raw.exists(f"bull:{qname}:{other.id}")


def test_polling_urls_are_encoded(make_client: ClientFactory, sq: SyncQueue, qname: str) -> None:
    job = sq.add("tricky", {}, job_id="x/../y?z=1#w")
    client = make_client([qname])
    encoded = f"/queues/{qname}/jobs/{quote(job.id, safe='')}"
    page = client.get(f"{encoded}?logs_page=1", headers=HTML).text
    (live,) = [attrs for tag, attrs in tags_of(page) if attrs.get("id") == "live"]
    assert live["hx-get"] == f"{encoded}?logs_page=1"
    queue_page = client.get(f"/queues/{qname}?state=waiting&per_page=10", headers=HTML).text
    (live,) = [attrs for tag, attrs in tags_of(queue_page) if attrs.get("id") == "live"]
    assert live["hx-get"] == f"/queues/{qname}?state=waiting&per_page=10"
    fragment = client.get(live["hx-get"], headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and html.escape(job.id) in fragment.text


def test_redirect_back_stays_inside_the_board(make_client: ClientFactory, sq: SyncQueue, qname: str) -> None:
    sq.add("j", {})
    client = make_client([qname])
    token = csrf_of(client.get(f"/queues/{qname}").text)
    for target in ("//evil.example/", "/../outside", f"/queues/{qname}/%2e%2e/%2e%2e/x", "https://evil.example/"):
        response = client.post(
            f"/queues/{qname}/pause", data={"csrf_token": token, "next": target}, follow_redirects=False
        )
        assert response.status_code == 303 and response.headers["location"] == f"/queues/{qname}", target
        client.post(f"/queues/{qname}/resume", data={"csrf_token": token}, follow_redirects=False)


def test_a_scheduler_id_counts_only_when_listed_in_the_queue(
    make_client: ClientFactory, raw: redis.Redis, sync_queues: Any
) -> None:
    """``repeat:x:123`` of queue ``billing`` is also job ``123`` of a queue ``billing:repeat:x``, which
    another program could write: the board takes it as billing's only when billing lists it."""
    sync_queues("billing").add("seed", {})
    write_job(raw, "billing:repeat:x", "123")
    client = make_client(["billing"], auth=BasicAuth(USERS), client={"raise_server_exceptions": False})
    before = every_key(raw) | keys_of(raw, "billing:repeat:x")
    path = "/queues/billing/jobs/" + quote("repeat:x:123", safe="")
    for url in (path, f"{path}/raw/data", f"{path}/edit"):
        assert client.get(url, headers={**BILLING, **JSON}).status_code == 404, url
    for action, body in (("remove", {"confirm": True}), ("data", {"data": {}}), ("retry", {})):
        response = client.post(f"{path}/{action}", json=body, headers={**BILLING, **JSON})
        assert response.status_code == 404, (action, response.text)
    assert every_key(raw) | keys_of(raw, "billing:repeat:x") == before


def test_a_state_key_of_the_wrong_type_leaves_the_queue_readable(
    make_client: ClientFactory, raw: redis.Redis, sq: SyncQueue, qname: str
) -> None:
    job = sq.add("good", {"ok": 1})
    raw.set(f"bull:{qname}:completed", "not a sorted set")
    client = make_client([qname], client={"raise_server_exceptions": False})
    for state in ("latest", "waiting", "completed"):
        assert client.get(f"/queues/{qname}?state={state}", headers=HTML).status_code == 200, state
        assert client.get(f"/queues/{qname}?state={state}", headers=JSON).status_code == 200, state
    detail = client.get(f"/queues/{qname}/jobs/{job.id}", headers=JSON)
    assert detail.status_code == 200 and detail.json()["state"] == "waiting"
    assert client.get("/", headers=JSON).status_code == 200


def test_bulk_actions_never_delete_queue_keys_for_foreign_ids(
    make_client: ClientFactory, raw: redis.Redis, sq: SyncQueue, qname: str
) -> None:
    sq.add("j", {})
    raw.hset(f"bull:{qname}:meta", "opts.maxLenEvents", "10000")
    # Another program listed ids that name the queue's own keys, and another queue's job, as failed.
    raw.zadd(f"bull:{qname}:failed", {"meta": 1, "events": 2, "eu:1": 3})
    write_job(raw, f"{qname}:eu", "1")
    client = make_client([qname])
    body = {"state": "failed", "grace": 0, "limit": 100, "confirm": True}
    assert client.post(f"/queues/{qname}/clean", json=body, headers=JSON).status_code == 200
    assert raw.zcard(f"bull:{qname}:failed") == 0  # the ids left the list...
    assert raw.exists(f"bull:{qname}:meta") and raw.exists(f"bull:{qname}:eu:1")  # ...their "keys" stay
    assert raw.exists(f"bull:{qname}:id")
