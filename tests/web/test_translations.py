"""Across modules: the board in German. Every message marked for translation (the web layer's, the templates'
and the adapter's action results) has a German translation that formats as its message does, an action
says what it did in the reader's language while scripts and the audit log keep English, and pages
rendered in German carry none of the English the catalog translates, nor English words of text never
marked. (That each shipped ``.mo`` is its ``.po`` compiled is checked in test_catalogs.py.)"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.pofile import read_po

from board import SyncQueue
from board.adapters.base import ActionResult
from board.web import catalogs
from board.web.auth import FormLogin
from board.web.forms import said
from board.web.i18n import using

from .conftest import HTML, JSON, SECRET, ClientFactory, ClientFor, csrf_of, flash_of, login, process_all

GERMAN = {**HTML, "Accept-Language": "de-DE,de;q=0.9"}
# Words of English that German never uses, to find text that was never marked for translation.
ENGLISH_WORDS = re.compile(r"the|and|with|this|every|from|not|are|were|has|have|your|you", re.IGNORECASE)
# Whole words: an identifier shown as it is (``retry_job``, ``waiting-children``) is not one.
WORD = re.compile(r"(?<![\w-])[A-Za-zÄÖÜäöüß]{3,}(?![\w-])")
# Words a German page may show in English: the board's name, a user's, code in a hint.
SHARED_WORDS = {"board", "anonymous", "metrics", "max_data_points"}
PLACEHOLDER = re.compile(r"%\((\w+)\)[-#0 +]*\d*(?:\.\d+)?[diouxXeEfFgGcrsa]")


@pytest.fixture(scope="module")
def extracted() -> Catalog:
    return catalogs.extract()


@pytest.fixture(scope="module")
def german() -> Catalog:
    po = next(p for p in catalogs.po_files() if p.parent.parent.name == "de")
    with Path(po).open("rb") as source:
        return read_po(source, locale="de")


def _forms(message: Message) -> list[tuple[str, str]]:
    """Each (English, German) pair of a message: one, or one per plural form."""
    ids = list(message.id) if isinstance(message.id, tuple | list) else [message.id]
    strings = list(message.string) if isinstance(message.string, tuple | list) else [message.string]
    return [(ids[min(i, len(ids) - 1)], str(text or "")) for i, text in enumerate(strings)]


def test_the_extractor_finds_every_kind_of_marked_message(extracted: Catalog) -> None:
    ids = {message.id if isinstance(message.id, str) else message.id[0] for message in extracted if message.id}
    assert "Job %(job)s promoted: it runs now." in ids  # the adapter's ActionResult.say
    assert "%(count)s failed job(s) older than %(grace)s s removed." in ids  # the adapter's N_()
    assert "jobs waiting: more than %(threshold)s" in ids  # N_() in the web layer
    assert "Wrong user name or password." in ids  # N_() kept English for the audit log
    assert "Search the jobs of %(queue)s" in ids and "%(num)s match on this page." in ids  # templates


def test_every_message_has_a_german_translation(extracted: Catalog, german: Catalog) -> None:
    missing, fuzzy = [], []
    for message in extracted:
        if not message.id:
            continue
        found = german.get(message.id)
        if found is None or not all(text for _english, text in _forms(found)):
            missing.append(message.id)
        elif found.fuzzy:
            fuzzy.append(message.id)
    assert missing == [], "untranslated: run make translations, then translate board/locale/de/.../messages.po"
    assert fuzzy == [], "fuzzy translations are left out of the .mo: check and unmark them"


def test_every_german_translation_formats_as_its_message_does(german: Catalog) -> None:
    # The templates format every text (newstyle gettext), with or without values: a stray "%" in a
    # translation would break its page, a lost placeholder would drop a value.
    for message in german:
        if not message.id:
            continue
        ids = message.id if isinstance(message.id, tuple | list) else (message.id,)
        names = {name for english in ids for name in PLACEHOLDER.findall(english)}
        values = dict.fromkeys(names, 1)
        for english, text in _forms(message):
            assert english % values, message.id
            if not text:
                continue  # untranslated: said by the test above
            assert set(PLACEHOLDER.findall(text)) == names, (message.id, text)
            assert "%(" not in text % values, (message.id, text)


def test_a_result_is_said_sentence_by_sentence_in_the_readers_language() -> None:
    result = ActionResult.say("Job %(job)s removed.", 1, "7", job="7").and_say(
        "Its parent %(parent)s now waits for %(more)s more.", parent="p", more=2
    )
    assert result.message == "Job 7 removed. Its parent p now waits for 2 more."
    assert (result.count, result.job_id) == (1, "7")
    with using("de"):
        assert said(result) == "Job 7 entfernt. Sein Elternjob p wartet jetzt noch auf 2 weitere."
        # An adapter written elsewhere gives its message alone: shown as it is.
        assert said(ActionResult("Done the other way.", 1)) == "Done the other way."
    with using("en"):
        assert said(result) == result.message


def test_an_action_says_in_german_what_it_did_and_scripts_keep_english(
    make_client: ClientFactory, sq: SyncQueue
) -> None:
    job = sq.add("mail", {}, delay=60)
    client = make_client([sq.name])
    token = csrf_of(client.get(f"/queues/{sq.name}/add", headers=GERMAN).text)
    done = client.post(
        f"/queues/{sq.name}/jobs/{job.id}/promote", data={"csrf_token": token}, headers=GERMAN, follow_redirects=False
    )
    assert done.status_code == 303
    flash = flash_of(client.get(done.headers["location"], headers=GERMAN).text)
    assert flash == f"Job {job.id} vorgezogen: Er läuft jetzt."
    audit = client.get("/audit?format=json").json()["entries"]
    assert audit[0]["outcome"] == f"Job {job.id} promoted: it runs now."
    again = sq.add("mail", {}, delay=60)
    answer = client.post(
        f"/queues/{sq.name}/jobs/{again.id}/promote", json={}, headers={**JSON, "Accept-Language": "de"}
    )
    assert answer.json()["message"] == f"Job {again.id} promoted: it runs now."


def test_the_login_form_answers_in_german_and_logs_in_english(client_for: ClientFor) -> None:
    client = client_for(FormLogin({"ada": ("pw-ada", "admin")}, SECRET), "/board", headers={"Accept-Language": "de"})
    page = client.get("/board/login").text
    assert '<html lang="de"' in page
    refused = login(client, "ada", "wrong")
    assert refused.status_code == 401 and "Falscher Benutzername oder falsches Passwort." in refused.text
    assert login(client, "ada", "pw-ada").status_code == 303
    entries = client.get("/board/audit?format=json").json()["entries"]
    assert [e["outcome"] for e in entries if e["action"] == "login"] == ["Signed in.", "Wrong user name or password."]


class _Visible(HTMLParser):
    """The text a reader sees (and the attributes read aloud or shown on hover), without what is shown as it
    is: scripts, code, machine text (``class="mono"``: ids, names; a JSON tree's keys and values) and options
    that are their value."""

    SAID = ("title", "placeholder", "aria-label", "data-confirm", "alt")
    AS_IS = ("script", "style", "code", "pre", "template", "textarea")
    DATA = {"mono", "jt-key", "jt-index", "jt-string", "jt-number", "jt-boolean", "jt-null"}
    VOID = ("area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr")

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._as_is: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        data = bool(self.DATA.intersection((named.get("class") or "").split()))
        if self._as_is or tag in self.AS_IS or data or (tag == "option" and "value" not in named):
            if tag not in self.VOID:
                self._as_is.append(tag)
        else:
            self.parts += [value for name, value in attrs if name in self.SAID and value]

    def handle_endtag(self, tag: str) -> None:
        if self._as_is and self._as_is[-1] == tag:
            self._as_is.pop()

    def handle_data(self, data: str) -> None:
        if not self._as_is:
            self.parts.append(data)


def _visible(page: str) -> str:
    parser = _Visible()
    parser.feed(page)
    return " ".join(" ".join(parser.parts).split())


def _english_sentences(german: Catalog) -> Iterator[str]:
    """The catalog's English texts of a few words or more that German says otherwise, as they read when shown."""
    for message in german:
        if not message.id or message.fuzzy:
            continue
        for english, text in _forms(message):
            literal = PLACEHOLDER.split(english)[::2]
            for piece in literal:
                piece = piece.replace("%%", "%").strip(" .,:;()")
                if len(piece.split()) >= 3 and piece not in text:
                    yield piece


def _english_only_words(german: Catalog) -> set[str]:
    """Words of the catalog's English that no German translation uses ("queues", "failed", "your")."""
    english: set[str] = set()
    used: set[str] = set()
    for message in german:
        for source, text in _forms(message) if message.id else ():
            english.update(w.lower() for w in WORD.findall(PLACEHOLDER.sub(" ", source)))
            used.update(w.lower() for w in WORD.findall(PLACEHOLDER.sub(" ", text)))
    return english - used - SHARED_WORDS


@pytest.fixture
def busy_queue(redis_url: str, sq: SyncQueue) -> SyncQueue:
    sq.add("welcome", {"an": "ana@beispiel.de"})
    sq.add("later", {}, delay=3600)
    sq.add("broken", {"fail": "boom"}, attempts=1)
    sq.upsert_job_scheduler("nightly", cron="0 3 * * *", name="report")
    process_all(redis_url, sq, failed=1)
    return sq


def test_pages_in_german_keep_no_english_sentence(
    make_client: ClientFactory, busy_queue: SyncQueue, german: Catalog
) -> None:
    name = busy_queue.name
    client = make_client([name])
    failed = busy_queue.get_jobs(["failed"])[0]
    english = sorted(set(_english_sentences(german)), key=len, reverse=True)
    english_only = _english_only_words(german)
    assert "Search the jobs of" in english  # the check has sentences to look for
    english_left: dict[str, list[str]] = {}
    token = csrf_of(client.get(f"/queues/{name}/add", headers=GERMAN).text)
    pages = [
        client.get(path, headers=GERMAN)
        for path in (
            "/",
            f"/queues/{name}",
            f"/queues/{name}?state=failed",
            f"/queues/{name}?state=delayed",
            f"/queues/{name}/jobs/{failed.id}",
            f"/queues/{name}/jobs/{failed.id}/edit",
            f"/queues/{name}/search?text=welcome",
            f"/queues/{name}/schedulers",
            f"/queues/{name}/schedulers/nightly",
            f"/queues/{name}/add",
            f"/queues/{name}/add?from={failed.id}",
            f"/queues/{name}/limits",
            f"/find?id={failed.id}",
            "/schedulers",
            "/alerts",
            "/audit",
            "/redis",
            "/settings",
            "/queues/no-such-queue",
        )
    ]
    # A confirmation, and the form again with its errors.
    pages.append(client.post(f"/queues/{name}/obliterate", data={"csrf_token": token}, headers=GERMAN))
    unnamed = {"csrf_token": token, "name": "", "data": "{}"}
    pages.append(client.post(f"/queues/{name}/add", data=unnamed, headers=GERMAN))
    for page in pages:
        path = f"{page.request.method} {page.request.url.path}?{page.request.url.query.decode()}"
        assert page.status_code in (200, 400, 404), path
        assert '<html lang="de"' in page.text, path
        text = _visible(html.unescape(page.text))
        left = [sentence for sentence in english if sentence in text]
        # Text never marked for translation is in no catalog: its English words give it away.
        left += sorted({w for w in WORD.findall(text) if w.lower() in english_only or ENGLISH_WORDS.fullmatch(w)})
        if left:
            english_left[path] = left
    assert english_left == {}, f"English in the German pages: {english_left}"
