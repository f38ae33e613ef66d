"""The settings page (board/web/settings.py) over HTTP: the form, saving it into the browser's cookie, and
what each setting changes on the pages: polling, theme, the queue page's first tab and size, times and
language. Settings are the browser's own: a viewer saves them on a read-only board, the CSRF token is still
needed, and nothing reaches the audit log."""

from __future__ import annotations

import re
import time
from typing import Any

import redis
from starlette.testclient import TestClient

from board import BasicAuth, SyncQueue
from board.web.preferences import COOKIE

from .conftest import AS, HTML, HTMX, JSON, JSON_POST, USERS, ClientFactory, csrf_of, job_ids_in, tags_of


def save(client: TestClient, headers: dict[str, str] | None = None, **fields: str) -> Any:
    """Posts the settings form as a browser does, with the token of the page it came from."""
    page = client.get("/settings", headers=headers or {})
    form = {"csrf_token": csrf_of(page.text), **fields}
    return client.post("/settings", data=form, headers=headers or {}, follow_redirects=False)


def html_attrs(page: str) -> dict[str, str]:
    return next(attrs for tag, attrs in tags_of(page) if tag == "html")


def selected(page: str, name: str) -> str:
    select = re.search(rf'<select id="setting-{name}" name="{name}"[^>]*>(.*?)</select>', page, re.S)
    assert select, f"no select for {name}"
    (value,) = re.findall(r'<option value="([^"]*)" selected>', select.group(1))
    return str(value)


def test_the_form_shows_the_defaults_and_works_without_javascript(make_client: ClientFactory) -> None:
    client = make_client(["email"], poll_interval=5)
    page = client.get("/settings", headers=HTML)
    assert page.status_code == 200
    assert "<h1>Settings</h1>" in page.text
    assert selected(page.text, "poll") == "default" and "The board&#39;s (5 s)" in page.text
    assert selected(page.text, "theme") == "system"
    assert selected(page.text, "tab") == "latest"
    assert selected(page.text, "per_page") == "25"
    assert selected(page.text, "time") == "relative"
    assert selected(page.text, "lang") == "auto"
    assert 'name="zone" list="zones" value="browser"' in page.text
    assert '<option value="Europe/Berlin">' in page.text
    forms = [attrs for tag, attrs in tags_of(page.text) if tag == "form" and attrs.get("method") == "post"]
    assert {"method": "post", "action": "/settings"} in forms
    # The top bar links to it from every page.
    assert 'href="/settings"' in client.get("/", headers=HTML).text
    assert client.get("/settings", headers=JSON).json()["settings"]["theme"] == "system"


def test_saving_sets_the_cookie_and_the_form_shows_what_was_saved(make_client: ClientFactory) -> None:
    client = make_client(["email"])
    answer = save(
        client, poll="0", theme="dark", tab="failed", per_page="50", time="absolute", zone="Asia/Tokyo", lang="de"
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/settings"
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith(COOKIE + "="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Max-Age=34560000" in cookie
    page = client.get("/settings", headers=HTML).text
    assert selected(page, "poll") == "0"
    assert selected(page, "theme") == "dark"
    assert selected(page, "tab") == "failed"
    assert selected(page, "per_page") == "50"
    assert selected(page, "time") == "absolute"
    assert selected(page, "lang") == "de"
    assert 'value="Asia/Tokyo"' in page
    # The message after the redirect is in the language just chosen.
    assert "Einstellungen gespeichert." in page


def test_reset_goes_back_to_the_defaults_and_drops_the_cookie(make_client: ClientFactory) -> None:
    client = make_client(["email"])
    save(client, theme="dark", per_page="100")
    assert client.cookies.get(COOKIE)
    answer = save(client, reset="1", theme="light")
    assert answer.status_code == 303
    assert not client.cookies.get(COOKIE)
    assert selected(client.get("/settings").text, "theme") == "system"


def test_a_wrong_value_is_named_and_nothing_is_lost(make_client: ClientFactory) -> None:
    client = make_client(["email"])
    save(client, theme="dark")
    before = client.cookies.get(COOKIE)
    answer = save(client, theme="light", zone="Mars/Olympus_Mons", per_page="7")
    assert answer.status_code == 400
    assert "&#39;Mars/Olympus_Mons&#39; is not a time zone" in answer.text
    assert '<p class="field-error" id="setting-zone-error">' in answer.text
    assert '<p class="field-error" id="setting-per_page-error">' in answer.text
    # The form keeps what was typed; the cookie keeps what was saved before.
    assert 'value="Mars/Olympus_Mons"' in answer.text and selected(answer.text, "theme") == "light"
    assert client.cookies.get(COOKIE) == before
    by_script = client.post("/settings", json={"zone": "Nowhere"}, headers=JSON_POST)
    assert by_script.status_code == 400 and set(by_script.json()["fields"]) == {"zone"}


def test_json_changes_only_the_settings_sent(make_client: ClientFactory) -> None:
    client = make_client(["email"])
    save(client, theme="dark", per_page="50")
    answer = client.post("/settings", json={"time": "absolute"}, headers=JSON_POST)
    assert answer.status_code == 200
    body = answer.json()
    assert body["ok"] is True and body["settings"]["time"] == "absolute"
    assert body["settings"]["theme"] == "dark" and body["settings"]["per_page"] == 50


def test_a_form_without_its_token_changes_nothing(make_client: ClientFactory) -> None:
    client = make_client(["email"])
    client.get("/settings")  # the CSRF cookie is set
    answer = client.post("/settings", data={"theme": "dark"}, follow_redirects=False)
    assert answer.status_code == 403
    assert not client.cookies.get(COOKIE)


def test_a_viewer_saves_settings_on_a_read_only_board_and_the_audit_log_stays_empty(
    make_client: ClientFactory, redis_url: str
) -> None:
    client = make_client(["email"], read_only=True, auth=BasicAuth(USERS))
    refused = client.post("/queues/email/pause", json={}, headers={**JSON_POST, **AS["admin"]})
    assert refused.status_code == 403  # an action: refused on a read-only board, and audited
    raw = redis.Redis.from_url(redis_url)
    try:
        assert raw.xlen("board:bull:audit") == 1
        answer = save(client, AS["viewer"], theme="dark")
        assert answer.status_code == 303
        assert client.post("/settings", json={"per_page": 50}, headers={**JSON_POST, **AS["viewer"]}).status_code == 200
        assert raw.xlen("board:bull:audit") == 1
    finally:
        raw.close()
    assert html_attrs(client.get("/", headers=AS["viewer"]).text)["data-theme"] == "dark"
    assert client.get("/settings").status_code == 401  # still signed-in users only


def test_a_tampered_cookie_falls_back_to_the_defaults_value_by_value(make_client: ClientFactory) -> None:
    client = make_client(["email"], poll_interval=5)
    client.cookies.set(COOKIE, "theme=dark&per_page=7&poll=3&zone=..%2Fetc&lang=xx&tab=%3Cscript%3E&time=absolute")
    page = client.get("/settings", headers=HTML).text
    assert selected(page, "theme") == "dark" and selected(page, "time") == "absolute"
    assert selected(page, "per_page") == "25" and selected(page, "poll") == "default"
    assert selected(page, "lang") == "auto" and selected(page, "tab") == "latest"
    assert 'value="browser"' in page and "<script>" not in page
    client.cookies.set(COOKIE, "x" * 5000)
    assert client.get("/", headers=HTML).status_code == 200


# What each setting changes ------------------------------------------------------------------------------------


def test_polling_follows_the_setting_and_off_renders_no_trigger(make_client: ClientFactory, sq: SyncQueue) -> None:
    client = make_client([sq.name], poll_interval=5)
    assert 'hx-trigger="every 5s"' in client.get(f"/queues/{sq.name}").text
    save(client, poll="30")
    assert 'hx-trigger="every 30s"' in client.get(f"/queues/{sq.name}").text
    save(client, poll="0")
    for path in ("/", f"/queues/{sq.name}"):
        page = client.get(path).text
        assert "hx-trigger" not in page and "hx-get" not in page, path


def test_the_theme_is_on_the_html_element(make_client: ClientFactory) -> None:
    client = make_client(["email"])
    assert html_attrs(client.get("/").text)["data-theme"] == "system"
    save(client, theme="light")
    page = client.get("/").text
    assert html_attrs(page)["data-theme"] == "light"
    assert '<meta name="color-scheme" content="light">' in page


def test_the_queue_page_opens_on_the_chosen_tab_and_size(make_client: ClientFactory, sq: SyncQueue) -> None:
    for n in range(12):
        sq.add("mail", {"n": n}, delay=60_000 if n % 2 else 0)
    client = make_client([sq.name])
    assert len(job_ids_in(client.get(f"/queues/{sq.name}").text, sq.name)) == 12
    save(client, tab="delayed", per_page="10")
    page = client.get(f"/queues/{sq.name}").text
    shown = job_ids_in(page, sq.name)
    assert len(shown) == 6 and all((job := sq.get_job(i)) is not None and job.get_state() == "delayed" for i in shown)
    # The query still wins over the settings.
    assert len(job_ids_in(client.get(f"/queues/{sq.name}?state=waiting&per_page=25").text, sq.name)) == 6
    save(client, tab="latest")
    assert len(job_ids_in(client.get(f"/queues/{sq.name}").text, sq.name)) == 10


def test_times_are_relative_with_the_full_time_in_the_tooltip(make_client: ClientFactory, sq: SyncQueue) -> None:
    job = sq.add("mail", {})
    client = make_client([sq.name])
    time.sleep(1.2)
    page = client.get(f"/queues/{sq.name}/jobs/{job.id}").text
    stamp = re.search(r'<time datetime="([^"]+)" title="([^"]+)" data-relative>([^<]+)</time>', page)
    assert stamp, "no relative time on the job page"
    assert stamp.group(3) in ("1 sec. ago", "2 sec. ago")
    assert stamp.group(2).endswith(" UTC")  # the browser's zone: board.js localises it
    save(client, time="absolute", zone="Asia/Kolkata")
    page = client.get(f"/queues/{sq.name}/jobs/{job.id}").text
    stamp = re.search(r'<time datetime="([^"]+)" title="([^"]+)">([^<]+)</time>', page)
    assert stamp and stamp.group(2) == stamp.group(3)
    # India is 5:30 ahead of UTC: the minutes differ by 30 from the ISO time's.
    iso_minutes = int(stamp.group(1)[14:16])
    shown_minutes = int(re.search(r"\d{1,2}:(\d{2}):\d{2}", stamp.group(3)).group(1))  # type: ignore[union-attr]
    assert shown_minutes == (iso_minutes + 30) % 60
    assert html_attrs(page)["data-zone"] == "Asia/Kolkata"


def test_the_language_setting_beats_the_browsers_and_reaches_htmx_fragments(
    make_client: ClientFactory, sq: SyncQueue
) -> None:
    job = sq.add("mail", {})
    client = make_client([sq.name])
    german_browser = {**HTML, "Accept-Language": "de-DE,de;q=0.9,en;q=0.5"}
    page = client.get("/settings", headers=german_browser).text
    assert html_attrs(page)["lang"] == "de" and "<h1>Einstellungen</h1>" in page
    save(client, lang="en")
    page = client.get("/settings", headers=german_browser).text
    assert html_attrs(page)["lang"] == "en" and "<h1>Settings</h1>" in page
    save(client, lang="de")
    time.sleep(1.1)
    fragment = client.get(f"/queues/{sq.name}/jobs/{job.id}", headers={**HTMX, "Accept-Language": "en"}).text
    assert "<html" not in fragment and re.search(r"data-relative>vor \d+ Sek\.</time>", fragment)
