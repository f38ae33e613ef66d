"""Building the translation catalogs, a step for whoever changes the text of the board (not run at start-up).

``python -m board.web.catalogs`` (or ``make translations``) extracts every marked message, ``_("...")``,
``N_("...")`` and ``ngettext(...)`` in ``board/web``, the action results of ``board/adapters``
(``ActionResult.say("...")``, ``N_("...")``) and ``{{ _("...") }}`` in the templates, into
``board/locale/messages.pot``; brings each language's ``messages.po`` up to date with it (new messages
untranslated, gone ones kept as obsolete); and compiles each ``.po`` into the ``messages.mo`` the board
loads (``i18n.py``). Each step alone: ``extract``, ``update``, ``compile``.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterable
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from .i18n import LOCALE_DIR
from .render import asset_dir

WEB_DIR = Path(__file__).resolve().parent
ADAPTERS_DIR = WEB_DIR.parent / "adapters"
# The adapters say what an action did as a template the board translates (adapters/base.py).
KEYWORDS = {**DEFAULT_KEYWORDS, "say": None, "and_say": None}
POT = LOCALE_DIR / "messages.pot"
# The templates' extension, and the newstyle gettext the Renderer installs.
JINJA_OPTIONS = {"extensions": "jinja2.ext.i18n", "newstyle_gettext": "true", "trimmed": "true"}


def extract() -> Catalog:
    """Every marked message of the web layer, the adapters and the templates, with where it is used."""
    catalog = Catalog(project="board", msgid_bugs_address="", charset="utf-8")
    sources: Iterable[tuple[Path, list[tuple[str, str]], dict[str, dict[str, str]]]] = (
        (WEB_DIR, [("**.py", "python")], {}),
        (ADAPTERS_DIR, [("**.py", "python")], {}),
        (asset_dir("templates"), [("**.html", "jinja2.ext:babel_extract")], {"**.html": JINJA_OPTIONS}),
    )
    for folder, methods, options in sources:
        found = extract_from_dir(folder, methods, options, keywords=KEYWORDS, strip_comment_tags=True)
        for filename, lineno, message, comments, context in found:
            location = f"{folder.name}/{filename}"
            catalog.add(message, None, [(location, lineno)], auto_comments=comments, context=context)
    return catalog


def po_files() -> list[Path]:
    return sorted(LOCALE_DIR.glob("*/LC_MESSAGES/messages.po"))


def compiled(po: Path) -> bytes:
    """The ``.mo`` a ``.po`` compiles to (fuzzy translations left out, as gettext does)."""
    with po.open("rb") as source:
        catalog = read_po(source, locale=po.parent.parent.name)
    out = io.BytesIO()
    write_mo(out, catalog)
    return out.getvalue()


def write_pot(template: Catalog) -> None:
    POT.parent.mkdir(parents=True, exist_ok=True)
    with POT.open("wb") as out:
        write_po(out, template, width=100, sort_output=True, include_lineno=False)


def update(template: Catalog) -> None:
    for po in po_files():
        with po.open("rb") as source:
            catalog = read_po(source, locale=po.parent.parent.name)
        catalog.update(template, no_fuzzy_matching=True, update_creation_date=False)
        with po.open("wb") as out:
            write_po(out, catalog, width=100, sort_output=True, include_lineno=False)


def compile_all() -> list[Path]:
    written = []
    for po in po_files():
        mo = po.with_suffix(".mo")
        mo.write_bytes(compiled(po))
        written.append(mo)
    return written


def main(argv: list[str] | None = None) -> int:
    steps = (argv if argv is not None else sys.argv[1:]) or ["extract", "update", "compile"]
    unknown = [step for step in steps if step not in ("extract", "update", "compile")]
    if unknown:
        print(f"unknown step(s) {', '.join(unknown)}: use extract, update and/or compile", file=sys.stderr)
        return 2
    if "extract" in steps or "update" in steps:
        template = extract()
        write_pot(template)
        print(f"{POT}: {len(template)} messages")
        if "update" in steps:
            update(template)
    if "compile" in steps:
        for mo in compile_all():
            print(f"{mo}: compiled")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
