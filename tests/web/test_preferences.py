"""Each user's settings (board/web/preferences.py), read from a cookie nobody vouches for: every value checked,
the wrong ones left at their defaults; the cookie written back holds only what differs from them. The page
that writes it is in test_settings.py."""

from __future__ import annotations

import pytest

from board.web.preferences import Preferences, form_errors, from_cookie, parse, valid_zone


def test_nothing_means_the_defaults() -> None:
    assert from_cookie(None) == from_cookie("") == Preferences()
    prefs = Preferences()
    assert (prefs.poll, prefs.theme, prefs.tab, prefs.per_page) == (None, "system", "latest", 25)
    assert (prefs.time, prefs.zone, prefs.lang) == ("relative", "browser", "auto")
    assert prefs.poll_interval(5) == 5


def test_every_setting_is_read_back_from_what_encode_writes() -> None:
    prefs = Preferences(
        poll=0, theme="dark", tab="waiting-children", per_page=100, time="absolute", zone="Etc/GMT+5", lang="de"
    )
    assert from_cookie(prefs.encode()) == prefs
    assert prefs.poll_interval(5) == 0  # off, whatever the board's
    assert Preferences().encode() == ""
    assert Preferences(theme="light").encode() == "theme=light"


@pytest.mark.parametrize(
    ("raw", "kept"),
    [
        ("poll=3", {}),  # not one of the choices
        ("poll=-5", {}),
        ("poll=99999999999999999999", {}),
        ("poll=60", {"poll": 60}),
        ("poll=default", {}),
        ("per_page=1000", {}),
        ("per_page=10", {"per_page": 10}),
        ("theme=sepia", {}),
        ("tab=deleted", {}),
        ("tab=failed", {"tab": "failed"}),
        ("time=both", {}),
        ("zone=Europe/Berlin", {"zone": "Europe/Berlin"}),
        ("zone=../../etc/passwd", {}),
        ("zone=Europe%2FAtlantis", {}),
        ("zone=UTC", {"zone": "UTC"}),
        ("lang=de", {"lang": "de"}),
        ("lang=xx", {}),
        ("lang=de&lang=en", {"lang": "en"}),  # the last one, as a query string is read
        ("colour=red", {}),
        ("%%%", {}),
    ],
)
def test_each_value_is_checked_alone(raw: str, kept: dict[str, object]) -> None:
    assert from_cookie(raw) == Preferences(**kept)  # type: ignore[arg-type]


def test_a_cookie_too_long_is_not_read() -> None:
    assert from_cookie("theme=dark&zone=" + "x" * 2000) == Preferences()


def test_one_wrong_value_leaves_the_others() -> None:
    assert parse({"theme": "dark", "per_page": "7", "time": "absolute"}) == Preferences(theme="dark", time="absolute")


def test_form_errors_name_each_wrong_field() -> None:
    errors = form_errors({"theme": "sepia", "zone": "Mars/Base", "per_page": "50", "poll": "2"})
    assert set(errors) == {"theme", "zone"}
    assert "'Mars/Base' is not a time zone" in errors["zone"]
    assert "'sepia' is not one of the choices" in errors["theme"]
    assert form_errors({}) == {}


def test_time_zones_are_checked_against_the_zone_database() -> None:
    assert valid_zone("America/Argentina/Buenos_Aires") and valid_zone("browser") and valid_zone("UTC")
    assert not valid_zone("") and not valid_zone("Nowhere") and not valid_zone("/etc/localtime")
