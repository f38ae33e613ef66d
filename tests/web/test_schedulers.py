"""Job schedulers (board/web/schedulers.py) over HTTP: one queue's page, the page across queues, one scheduler's
page, and its actions (run now, a new schedule, remove), each checked in Redis; the links to schedulers from
the jobs they made, and the refusal to remove a scheduler's next run."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import pytest
import redis

from board import BasicAuth, SyncQueue

from .conftest import (
    AS,
    HTML,
    HTMX,
    JSON,
    MODES,
    USERS,
    ClientFactory,
    act,
    csrf_of,
    keys_of,
    post_forms,
    refused,
    tags_of,
    token,
)

DAY_MS = 86_400_000


def rows_of(page: str) -> list[str]:
    """The scheduler ids of a schedulers table, in page order."""
    return [html.unescape(i) for i in re.findall(r'<tr data-scheduler="([^"]*)">', page)]


def field_error(page: str, name: str) -> str | None:
    """The error shown under a field of the edit form, if any."""
    found = re.search(rf'<p class="field-error" id="scheduler-{name}-error">(.*?)</p>', page, re.S)
    return html.unescape(found.group(1)) if found else None


def schedulers_of(raw: redis.Redis, queue: str) -> list[str]:
    return [str(member) for member in raw.zrange(f"bull:{queue}:repeat", 0, -1)]


@pytest.fixture
def nightly(sq: SyncQueue) -> Any:
    return sq.upsert_job_scheduler(
        "nightly", cron="0 3 * * *", tz="Europe/Berlin", name="rollup", data={"report": "rollup", "api_key": "k-123"}
    )


# Pages --------------------------------------------------------------------------------------------------------


def test_queue_page_links_its_schedulers_with_their_count(
    make_client: ClientFactory, sq: SyncQueue, qname: str, nightly: Any
) -> None:
    sq.upsert_job_scheduler("tick", every=600, name="refresh")
    client = make_client([qname])
    page = client.get(f"/queues/{qname}").text
    assert f'href="/queues/{qname}/schedulers">2</a>' in page
    assert client.get(f"/queues/{qname}", headers=JSON).json()["queue"]["schedulers"] == 2
    overview = client.get("/").text
    assert f'href="/queues/{qname}/schedulers">2 schedulers</a>' in overview


def test_schedulers_page_lists_each_schedule(
    make_client: ClientFactory, sq: SyncQueue, qname: str, nightly: Any
) -> None:
    end = datetime.now(UTC) + timedelta(days=30)
    tick = sq.upsert_job_scheduler("tick", every=600, name="refresh", limit=50, end=end)
    client = make_client([qname])
    page = client.get(f"/queues/{qname}/schedulers").text

    # Soonest next run first: "tick" runs within 10 minutes, "nightly" at the next 03:00 in Berlin.
    assert rows_of(page) == ["tick", "nightly"]
    row = re.search(r'<tr data-scheduler="nightly">(.*?)</tr>', page, re.S)
    assert row
    cells = row.group(1)
    assert "<code>0 3 * * *</code>" in cells and "Europe/Berlin" in cells and "rollup" in cells
    assert (
        f'datetime="{datetime.fromtimestamp(nightly.next_run_ms / 1000, UTC).isoformat(timespec="milliseconds")}'[:-6]
        in cells
    )
    assert "in " in cells  # the next run, relative
    assert f'href="/queues/{qname}/jobs/{quote(nightly.next_job_id, safe="")}"' in cells
    tick_row = re.search(r'<tr data-scheduler="tick">(.*?)</tr>', page, re.S)
    assert tick_row and "every 10 min" in tick_row.group(1) and "1 of 50" in tick_row.group(1)
    assert "<time" in tick_row.group(1).split("1 of 50")[1]  # its end

    data = client.get(f"/queues/{qname}/schedulers", headers=JSON).json()
    assert data["total"] == 2 and [s["id"] for s in data["schedulers"]] == ["tick", "nightly"]
    one = data["schedulers"][1]
    assert (one["pattern"], one["tz"], one["every_ms"], one["name"]) == ("0 3 * * *", "Europe/Berlin", None, "rollup")
    assert data["schedulers"][0]["end_ms"] == tick.end_ms and data["schedulers"][0]["limit"] == 50
    # Template data goes through the redaction of job data.
    assert one["data"]["value"] == {"report": "rollup", "api_key": "***"} and "k-123" not in str(data)


def test_schedulers_page_is_paged(make_client: ClientFactory, sq: SyncQueue, qname: str) -> None:
    for i in range(12):
        sq.upsert_job_scheduler(f"s{i:02}", every=60 * (i + 1))
    client = make_client([qname])
    first = client.get(f"/queues/{qname}/schedulers?per_page=10").text
    second = client.get(f"/queues/{qname}/schedulers?per_page=10&page=2").text
    assert rows_of(first) == [f"s{i:02}" for i in range(10)]
    assert rows_of(second) == ["s10", "s11"]
    assert client.get(f"/queues/{qname}/schedulers?per_page=7").status_code == 400
    assert client.get(f"/queues/{qname}/schedulers?page=0").status_code == 400


def test_page_across_queues_shows_the_first_of_each_visible_queue(make_client: ClientFactory, sync_queues: Any) -> None:
    many, few, quiet = sync_queues("many"), sync_queues("few"), sync_queues("quiet")
    for i in range(25):
        many.upsert_job_scheduler(f"m{i:02}", every=60 * (i + 1))
    few.upsert_job_scheduler("only", cron="*/5 * * * *")
    quiet.add("no schedulers here", {})
    client = make_client(["many", "few", "quiet"])
    page = client.get("/schedulers").text
    assert rows_of(page) == [f"m{i:02}" for i in range(20)] + ["only"]
    assert 'href="/queues/many/schedulers">and 5 more in many</a>' in page
    # Named nowhere but in the top bar and the queue navigation.
    assert "quiet" not in re.sub(r"<header.*?</header>|<details class=\"sidenav\".*?</details>", "", page, flags=re.S)
    data = client.get("/schedulers", headers=JSON).json()
    assert [(q["queue"], q["total"], len(q["schedulers"])) for q in data["queues"]] == [("many", 25, 20), ("few", 1, 1)]


def test_scheduler_page_shows_its_template_redacted(
    make_client: ClientFactory, sq: SyncQueue, qname: str, nightly: Any
) -> None:
    client = make_client([qname])
    page = client.get(f"/queues/{qname}/schedulers/nightly").text
    assert "rollup" in page and "Europe/Berlin" in page and nightly.next_job_id in page
    assert "k-123" not in page and '"api_key": "***"' in html.unescape(page)
    # The edit form holds the schedule as it is.
    inputs = {a["name"]: a.get("value", "") for tag, a in tags_of(page) if tag == "input" and "name" in a}
    assert (inputs["cron"], inputs["tz"], inputs["every"], inputs["limit"]) == ("0 3 * * *", "Europe/Berlin", "", "")
    assert client.get(f"/queues/{qname}/schedulers/nope").status_code == 404
    assert client.get(f"/queues/{qname}/schedulers/{'x' * 1001}").status_code == 404
    # Its live part polls alone, without the edit form.
    fragment = client.get(f"/queues/{qname}/schedulers/nightly", headers=HTMX).text
    assert fragment.lstrip().startswith('<div id="live"') and "<form" not in fragment and "Runs so far" in fragment


def test_a_scheduler_written_badly_still_renders(
    make_client: ClientFactory, sq: SyncQueue, qname: str, raw: redis.Redis
) -> None:
    sq.upsert_job_scheduler("good", every=60)
    raw.zadd(f"bull:{qname}:repeat", {"broken": 1, "stringly": 2})
    raw.hset(f"bull:{qname}:repeat:broken", mapping={"name": "<b>x</b>", "every": "soon", "data": "{not json"})
    raw.set(f"bull:{qname}:repeat:stringly", "a string")
    client = make_client([qname])
    page = client.get(f"/queues/{qname}/schedulers")
    assert page.status_code == 200 and rows_of(page.text) == ["broken", "stringly", "good"]
    assert page.text.count(">malformed</span>") == 2 and "<b>x</b>" not in page.text
    one = client.get(f"/queues/{qname}/schedulers/broken")
    assert one.status_code == 200 and "{not json" in html.unescape(one.text) and "every" in one.text


# Jobs made by a scheduler ---------------------------------------------------------------------------------------


def test_jobs_link_the_scheduler_that_made_them(
    make_client: ClientFactory, sq: SyncQueue, qname: str, nightly: Any
) -> None:
    client = make_client([qname])
    link = f'href="/queues/{qname}/schedulers/nightly"'
    listing = client.get(f"/queues/{qname}?state=delayed").text
    assert link in listing and "scheduler <span" in listing
    job = client.get(f"/queues/{qname}/jobs/{quote(nightly.next_job_id, safe='')}")
    assert job.status_code == 200 and link in job.text
    assert (
        client.get(f"/queues/{qname}/jobs/{quote(nightly.next_job_id, safe='')}", headers=JSON).json()["scheduler_id"]
        == "nightly"
    )


@pytest.mark.parametrize("mode", MODES)
def test_removing_a_next_run_points_to_its_scheduler(
    make_client: ClientFactory, sq: SyncQueue, qname: str, raw: redis.Redis, nightly: Any, mode: str
) -> None:
    client = make_client([qname])
    before = keys_of(raw, qname)
    url = f"/queues/{qname}/jobs/{quote(nightly.next_job_id, safe='')}/remove"
    response = refused(client, mode, url, qname, {"confirm": True})
    assert response.status_code == 409
    scheduler_url = f"/queues/{qname}/schedulers/nightly"
    if mode == "form":
        assert "job scheduler" in response.text and f'href="{scheduler_url}"' in response.text
    else:
        assert "job scheduler" in response.json()["error"] and response.json()["see"] == scheduler_url
    assert keys_of(raw, qname) == before


# Actions -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_run_now_promotes_the_next_run(
    make_client: ClientFactory, sq: SyncQueue, qname: str, raw: redis.Redis, nightly: Any, mode: str
) -> None:
    client = make_client([qname])
    page = client.get(f"/queues/{qname}/schedulers").text
    assert f"/queues/{qname}/schedulers/nightly/run" in post_forms(page)
    message = act(client, mode, f"/queues/{qname}/schedulers/nightly/run", qname)
    assert message == f"Job scheduler nightly: its next run, job {nightly.next_job_id}, runs now."
    assert sq.get_job_state(nightly.next_job_id) == "waiting"
    # Already due: nothing to run now.
    again = refused(client, mode, f"/queues/{qname}/schedulers/nightly/run", qname)
    assert again.status_code == 409
    assert refused(client, mode, f"/queues/{qname}/schedulers/nope/run", qname).status_code == 404


@pytest.mark.parametrize("mode", MODES)
def test_a_new_schedule_is_saved(
    make_client: ClientFactory, sq: SyncQueue, qname: str, raw: redis.Redis, nightly: Any, mode: str
) -> None:
    client = make_client([qname])
    end = (datetime.now(UTC) + timedelta(days=90)).replace(second=0, microsecond=0)
    fields = {
        "kind": "cron",
        "cron": "30 4 * * 1",
        "tz": "America/New_York",
        "limit": "12",
        "end": end.strftime("%Y-%m-%dT%H:%M"),
    }
    message = act(client, mode, f"/queues/{qname}/schedulers/nightly/update", qname, fields)
    assert message == "Job scheduler nightly saved: its next run follows the new schedule."
    saved = sq.get_job_scheduler("nightly")
    assert saved is not None
    assert (saved.pattern, saved.tz, saved.limit, saved.end_ms) == (
        "30 4 * * 1",
        "America/New_York",
        12,
        end.timestamp() * 1000,
    )
    # The template is kept as it was; the old next run is gone, the new one is on the new schedule.
    assert (saved.name, saved.data) == ("rollup", {"report": "rollup", "api_key": "k-123"})
    assert not raw.exists(f"bull:{qname}:{nightly.next_job_id}")
    assert sq.get_job_state(str(saved.next_job_id)) == "delayed"
    # Then as an interval.
    act(client, mode, f"/queues/{qname}/schedulers/nightly/update", qname, {"kind": "every", "every": "90"})
    again = sq.get_job_scheduler("nightly")
    assert again is not None and (again.every_ms, again.pattern, again.limit, again.end_ms) == (
        90_000,
        None,
        None,
        None,
    )


@pytest.mark.parametrize(
    ("fields", "field", "says"),
    [
        ({"kind": "cron", "cron": "61 * * * *"}, "cron", "cron"),
        ({"kind": "cron", "cron": "not a pattern"}, "cron", "cron"),
        ({"kind": "cron", "cron": ""}, "cron", "Give a cron pattern"),
        ({"kind": "cron", "cron": "0 3 * * *", "tz": "Mars/Olympus"}, "tz", "time zone"),
        ({"kind": "every", "every": "0"}, "every", "seconds"),
        ({"kind": "every", "every": "soon"}, "every", "seconds"),
        ({"kind": "cron", "cron": "0 3 * * *", "limit": "-1"}, "limit", "whole number"),
        ({"kind": "cron", "cron": "0 3 * * *", "end": "2001-01-01T00:00"}, "end", "future"),
        ({"kind": "cron", "cron": "0 3 * * *", "end": "someday"}, "end", "date"),
    ],
)
def test_a_refused_schedule_is_said_on_its_field_and_nothing_is_saved(
    make_client: ClientFactory,
    qname: str,
    raw: redis.Redis,
    nightly: Any,
    fields: dict[str, str],
    field: str,
    says: str,
) -> None:
    client = make_client([qname])
    before = keys_of(raw, qname)
    form = {"csrf_token": token(client, qname), **fields}
    response = client.post(f"/queues/{qname}/schedulers/nightly/update", data=form, follow_redirects=False)
    assert response.status_code == 400
    error = field_error(response.text, field)
    assert error and says in error, (error, response.text[-3000:])
    (bad,) = [a for tag, a in tags_of(response.text) if tag == "input" and a.get("name") == field]
    assert bad.get("aria-invalid") == "true"
    # What was typed is kept in the form; the rest of the page is there.
    assert bad.get("value", "") == fields.get(field, "")
    assert "Runs so far" in response.text and "rollup" in response.text
    as_json = client.post(f"/queues/{qname}/schedulers/nightly/update", json=fields, headers=JSON)
    assert as_json.status_code == 400 and field in as_json.json()["fields"]
    assert keys_of(raw, qname) == before


def test_a_template_the_board_cannot_carry_over_is_not_edited(
    make_client: ClientFactory, sq: SyncQueue, qname: str, raw: redis.Redis
) -> None:
    sq.upsert_job_scheduler("custom", every=60)
    raw.hset(f"bull:{qname}:repeat:custom", "opts", '{"attempts": 3, "telemetry": {"x": 1}}')
    client = make_client([qname])
    before = keys_of(raw, qname)
    response = client.post(
        f"/queues/{qname}/schedulers/custom/update", json={"kind": "every", "every": 30}, headers=JSON
    )
    assert response.status_code == 409 and "telemetry" in response.json()["error"]
    assert keys_of(raw, qname) == before


@pytest.mark.parametrize("mode", MODES)
def test_remove_a_scheduler_after_confirmation(
    make_client: ClientFactory, sq: SyncQueue, qname: str, raw: redis.Redis, nightly: Any, mode: str
) -> None:
    client = make_client([qname])
    url = f"/queues/{qname}/schedulers/nightly/remove"
    asked = refused(client, mode, url, qname)
    if mode == "form":
        assert asked.status_code == 200 and "Please confirm" in asked.text
        assert f'href="/queues/{qname}/schedulers/nightly"' in asked.text  # Cancel
    else:
        assert asked.status_code == 400 and "confirm" in asked.json()["error"]
    assert "nightly" in schedulers_of(raw, qname)
    message = act(client, mode, url, qname, {"confirm": True})
    assert message == "Job scheduler nightly removed, with its next run."
    assert schedulers_of(raw, qname) == [] and not raw.exists(f"bull:{qname}:repeat:nightly")
    assert not raw.exists(f"bull:{qname}:{nightly.next_job_id}")
    assert refused(client, mode, url, qname, {"confirm": True}).status_code == 404


def test_roles(make_client: ClientFactory, sq: SyncQueue, qname: str, raw: redis.Redis, nightly: Any) -> None:
    client = make_client([qname], auth=BasicAuth(USERS))
    viewer_page = client.get(f"/queues/{qname}/schedulers", headers=AS["viewer"]).text
    assert rows_of(viewer_page) == ["nightly"] and post_forms(viewer_page) == []
    operator_page = client.get(f"/queues/{qname}/schedulers/nightly", headers=AS["operator"]).text
    assert [f for f in post_forms(operator_page) if "/schedulers/" in f] == [f"/queues/{qname}/schedulers/nightly/run"]
    assert 'id="edit"' not in operator_page
    before = keys_of(raw, qname)
    for who, action, status in (
        ("viewer", "run", 403),
        ("operator", "update", 403),
        ("operator", "remove", 403),
    ):
        body = {"kind": "every", "every": 5, "confirm": True}
        response = client.post(f"/queues/{qname}/schedulers/nightly/{action}", json=body, headers={**AS[who], **JSON})
        assert response.status_code == status, (who, action, response.text)
    assert keys_of(raw, qname) == before
    # Forms need their CSRF token.
    admin = AS["admin"]
    no_token = client.post(f"/queues/{qname}/schedulers/nightly/remove", data={"confirm": "1"}, headers=admin)
    assert no_token.status_code == 403 and keys_of(raw, qname) == before
    page = client.get(f"/queues/{qname}/schedulers/nightly", headers=admin).text
    ok = client.post(
        f"/queues/{qname}/schedulers/nightly/remove",
        data={"confirm": "1", "csrf_token": csrf_of(page)},
        headers=admin,
        follow_redirects=False,
    )
    assert ok.status_code == 303 and ok.headers["location"] == f"/queues/{qname}/schedulers"


def test_read_only_board_shows_no_scheduler_actions(
    make_client: ClientFactory, sq: SyncQueue, qname: str, raw: redis.Redis, nightly: Any
) -> None:
    client = make_client([qname], read_only=True)
    for url in (f"/queues/{qname}/schedulers", f"/queues/{qname}/schedulers/nightly", "/schedulers"):
        assert post_forms(client.get(url, headers=HTML).text) == []
    response = client.post(f"/queues/{qname}/schedulers/nightly/run", json={}, headers=JSON)
    assert response.status_code == 403 and sq.get_job_state(nightly.next_job_id) == "delayed"


def test_scheduler_ids_with_url_characters(
    make_client: ClientFactory, sq: SyncQueue, qname: str, raw: redis.Redis
) -> None:
    tricky = "a/b?c#d %e"
    made = sq.upsert_job_scheduler(tricky, cron="0 3 * * *")
    client = make_client([qname])
    encoded = f"/queues/{qname}/schedulers/{quote(tricky, safe='')}"
    listing = client.get(f"/queues/{qname}/schedulers").text
    assert f'href="{encoded}"' in listing and f"{encoded}/run" in post_forms(listing)
    assert client.get(encoded, headers=JSON).json()["id"] == tricky
    assert act(client, "json", f"{encoded}/run", qname).endswith("runs now.")
    assert sq.get_job_state(str(made.next_job_id)) == "waiting"
    assert act(client, "json", f"{encoded}/remove", qname, {"confirm": True}).startswith(
        f"Job scheduler {tricky} removed"
    )
