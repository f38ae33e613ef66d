"""Building the translation catalogs (board/web/catalogs.py): the marked text of the web layer and the
templates is extracted, each shipped ``messages.mo`` is what its ``messages.po`` compiles to (a .po changed
without ``make translations`` fails here), and the steps run on a copy of the catalogs."""

from __future__ import annotations

import io
import re
import shutil
from pathlib import Path

import pytest
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

from board.web import catalogs, i18n


def test_every_shipped_catalog_is_compiled_from_its_po() -> None:
    found = catalogs.po_files()
    assert found, "no catalogs under board/locale"
    for po in found:
        mo = po.with_suffix(".mo")
        assert mo.is_file(), f"{mo} is missing: run make translations"
        # Compared message by message: the header's dates may be those of the day it was compiled.
        assert _messages(mo.read_bytes()) == _messages(catalogs.compiled(po)), (
            f"{mo} differs from {po.name}: run make translations"
        )


def _messages(mo: bytes) -> dict[object, object]:
    catalog = read_mo(io.BytesIO(mo))
    # A plural message's forms come back as lists.
    return {_plain(message.id): _plain(message.string) for message in catalog if message.id}


def _plain(value: object) -> object:
    return tuple(value) if isinstance(value, list) else value


def test_every_translation_keeps_the_placeholders_of_its_message() -> None:
    for po in catalogs.po_files():
        with po.open("rb") as source:
            catalog = read_po(source)
        for message in catalog:
            if message.id and message.string and isinstance(message.id, str):
                assert sorted(_placeholders(message.id)) == sorted(_placeholders(str(message.string))), message.id


def _placeholders(text: str) -> list[str]:
    return re.findall(r"%\([a-z_]+\)[sdrf]", text)


def test_extract_finds_python_and_template_messages() -> None:
    template = catalogs.extract()
    ids = {message.id for message in template if message.id}
    # Python (newstyle, with placeholders), a template's _() and one inside a macro.
    assert "%(value)r is not one of the choices" in ids
    assert "Save settings" in ids and "Log in" in ids and "Update pages every" in ids
    locations = {loc for message in template if message.id == "Save settings" for loc, _line in message.locations}
    assert locations == {"templates/settings.html"}


def test_the_steps_update_and_compile_a_catalog(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copytree(i18n.LOCALE_DIR, tmp_path / "locale")
    monkeypatch.setattr(catalogs, "LOCALE_DIR", tmp_path / "locale")
    monkeypatch.setattr(catalogs, "POT", tmp_path / "locale" / "messages.pot")
    po = tmp_path / "locale" / "de" / "LC_MESSAGES" / "messages.po"
    (po.with_suffix(".mo")).unlink()
    assert catalogs.main(["extract", "update", "compile"]) == 0
    with (tmp_path / "locale" / "messages.pot").open("rb") as source:
        assert "Save settings" in {m.id for m in read_po(source)}
    with po.open("rb") as source:
        updated = read_po(source)
    # Kept what was translated, and gained every marked message (untranslated until someone does).
    assert updated["Save settings"].string == "Einstellungen speichern"
    assert updated["Update pages every"] is not None
    with po.with_suffix(".mo").open("rb") as source:
        assert read_mo(source)["Settings saved."].string == "Einstellungen gespeichert."
    assert catalogs.main(["bogus"]) == 2
