"""The language runtime (board/web/i18n.py): the catalogs found, the language negotiated from the browser or
chosen in the settings, Python's ``_`` and the templates' in the request's language only (concurrent
requests each keep their own), and times said in that language."""

from __future__ import annotations

import asyncio
import random
import re
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from babel.dates import format_timedelta

from board.web import i18n
from board.web.i18n import _, absolute_time, negotiate, ngettext, relative_time, using

from .conftest import HTML, JSON, ClientFactory, csrf_of

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC).timestamp() * 1000


def test_english_and_every_compiled_catalog_are_available() -> None:
    assert i18n.available()[0] == "en"
    assert "de" in i18n.available()
    assert i18n.display_name("de") == "Deutsch" and i18n.display_name("en") == "English"


@pytest.mark.parametrize(
    ("header", "chosen"),
    [
        ("de-DE,de;q=0.9,en;q=0.8", "de"),
        ("de-CH", "de"),  # the language without its region
        ("fr-FR,de;q=0.5", "de"),
        ("en-US,de;q=0.9", "en"),
        ("de;q=0.2,en;q=0.9", "en"),  # by quality, not by order
        ("fr,es", "en"),
        ("de;q=0", "en"),
        ("", "en"),
        ("*", "en"),
        ("de;q=banana,en", "en"),
        ("x" * 10_000, "en"),
    ],
)
def test_the_browsers_languages_are_matched_to_the_available_ones(header: str, chosen: str) -> None:
    assert negotiate(header) == chosen


def test_messages_are_translated_only_inside_using() -> None:
    assert _("Settings saved.") == "Settings saved."
    with using("de"):
        assert i18n.current() == "de"
        assert _("Settings saved.") == "Einstellungen gespeichert."
        assert _("Not saved: %(reason)s.", reason="x") == "Nicht gespeichert: x."
        assert _("A message no catalog holds %(n)s", n=2) == "A message no catalog holds 2"
        assert ngettext("%(num)s job", "%(num)s jobs", 2) == "2 jobs"
    assert i18n.current() == "en"
    with using("xx"):  # not available: English
        assert i18n.current() == "en"


async def test_concurrent_tasks_keep_their_own_language() -> None:
    async def speak(lang: str) -> list[str]:
        said = []
        with using(lang):
            for _round in range(5):
                await asyncio.sleep(0)
                said.append(_("Settings saved."))
        return said

    results = await asyncio.gather(*(speak("de" if n % 2 else "en") for n in range(10)))
    for n, said in enumerate(results):
        assert set(said) == {"Einstellungen gespeichert." if n % 2 else "Settings saved."}


def test_relative_times_in_the_language() -> None:
    minute = 60_000
    assert relative_time(int(NOW - 3 * minute), NOW) == "3 min. ago"
    assert relative_time(int(NOW + 2 * 60 * minute), NOW) == "in 2 hr."
    assert relative_time(int(NOW + 200), NOW) == "now"
    assert relative_time(None, NOW) == "" and relative_time(0, NOW) == ""
    with using("de"):
        assert relative_time(int(NOW - 3 * minute), NOW) == "vor 3 Min."
        assert relative_time(int(NOW + 2 * 60 * minute), NOW) == "in 2 Std."
        assert relative_time(int(NOW), NOW) == "jetzt"


def test_relative_times_say_what_babel_says_for_every_span() -> None:
    # The words of each (unit, number, direction) are asked of Babel once; the unit and number are chosen
    # as Babel chooses them, at the edges of each unit too. Under a second is "now".
    now = 1_700_000_000_000.25
    edges = [
        s * k for s in (1, -1) for k in (1, 1.49, 1.5, 59.49, 59.6, 50.6 * 60, 51 * 60, 0.849 * 86400, 0.85 * 86400)
    ]
    spans = edges + [random.Random(7).uniform(-4e8, 4e8) for _ in range(2000)]
    for code in ("en", "de"):
        with using(code):
            for seconds in spans:
                ms = int(now + seconds * 1000)
                delta = timedelta(milliseconds=ms - now)
                babel = format_timedelta(delta, add_direction=True, format="short", locale=code)
                said = _("now") if abs(delta) < timedelta(seconds=1) else babel
                assert relative_time(ms, now) == said, (code, seconds)


def test_absolute_times_in_the_zone_and_the_language() -> None:
    ms = int(NOW)
    assert absolute_time(ms, "UTC") == "May 1, 2026, 12:00:00\u202fPM UTC"
    assert absolute_time(ms, "browser") == "May 1, 2026, 12:00:00\u202fPM UTC"  # localised by board.js
    assert absolute_time(ms, "Asia/Tokyo") == "May 1, 2026, 9:00:00\u202fPM"
    with using("de"):
        assert absolute_time(ms, "Europe/Berlin") == "01.05.2026, 14:00:00"
    assert absolute_time(None) == ""


# Over HTTP ----------------------------------------------------------------------------------------------------


def test_pages_follow_accept_language_until_the_settings_choose(make_client: ClientFactory) -> None:
    client = make_client(["email"])
    english = client.get("/settings", headers={**HTML, "Accept-Language": "en-GB"}).text
    german = client.get("/settings", headers={**HTML, "Accept-Language": "de-AT,en;q=0.5"}).text
    assert '<html lang="en"' in english and ">Settings</a>" in english
    assert '<html lang="de"' in german and ">Einstellungen</a>" in german
    assert '<option value="de">Deutsch</option>' in english  # each language named in itself
    token = csrf_of(english)
    client.post("/settings", data={"csrf_token": token, "lang": "de"})
    assert '<html lang="de"' in client.get("/settings", headers={**HTML, "Accept-Language": "en"}).text


def test_python_messages_follow_each_request_even_when_concurrent(make_client: ClientFactory) -> None:
    client = make_client(["email"])
    client.get("/settings")  # the CSRF cookie, so that a post without its token is refused with a message

    def refused(n: int) -> tuple[int, str]:
        lang = "de" if n % 2 else "en"
        answer = client.post("/settings", data={"theme": "dark"}, headers={**JSON, "Accept-Language": lang})
        assert answer.status_code == 403
        return n, answer.json()["error"]

    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(refused, range(40)))
    for n, message in answers:
        expected = (
            "Das Formular ist abgelaufen oder kam von anderswo: neu laden und noch einmal versuchen."
            if n % 2
            else "The form expired or came from elsewhere: reload and retry."
        )
        assert message == expected, n
    # And nothing stays behind for the next request, in this thread or another.
    assert _("Settings saved.") == "Settings saved."
    page = client.get("/settings", headers=HTML).text
    assert re.search(r"<h1>Settings</h1>", page)
