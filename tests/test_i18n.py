"""Translations through Flask-Babel: the catalogue is complete, pages switch language, dates
stay dd.mm.yyyy, and the .po is compiled into the instance folder at start-up."""

from __future__ import annotations

import ast
import gettext as stdlib_gettext
import os
import re
import threading
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from flask import Flask

from web import i18n

from .conftest import PROJECT, text_of

# The database does not matter here: SQLite only (tests/conftest.py, sqlite_only).
pytestmark = pytest.mark.sqlite_only

PO = i18n.TRANSLATIONS_DIR / "en" / "LC_MESSAGES" / "messages.po"
POT = i18n.TRANSLATIONS_DIR / "messages.pot"
UPDATE_HINT = "update the catalogue as the note at the top of web/i18n.py says"


def _catalogue(path: Path):  # type: ignore[no-untyped-def]
    with path.open("rb") as f:
        return read_po(f, abort_invalid=True)


def _singular(msgid: Any) -> str:
    return msgid[0] if isinstance(msgid, tuple) else msgid  # type: ignore[no-any-return]


def _extracted() -> set[str]:
    """Every msgid that ``pybabel extract -F babel.cfg`` finds, by Babel's own API."""
    with (PROJECT / "babel.cfg").open() as f:
        method_map, options_map = parse_mapping_cfg(f)
    keywords = {**DEFAULT_KEYWORDS, "lazy_gettext": None}
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
            str(PROJECT), method_map, options_map, keywords=keywords):
        found.add(message[0] if isinstance(message, tuple) else message)
    return {m for m in found if m}


def _literal_calls_in_python() -> dict[str, str]:
    """Literal ``_("...")`` calls (and gettext, lazy_gettext, N_) found with ``ast``, which,
    unlike Babel's extractor on Python 3.11, also sees those inside f-strings."""
    names = {"_", "gettext", "lazy_gettext", "N_"}
    found = {}
    for folder in ("web", "notifications"):
        for path in sorted((PROJECT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if (isinstance(node, ast.Call) and node.args
                        and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
                        and (getattr(node.func, "id", None) in names or getattr(node.func, "attr", None) in names)):
                    found.setdefault(node.args[0].value, f"{path.relative_to(PROJECT)}:{node.lineno}")
    return found


# --- the catalogue -----------------------------------------------------------------------


def test_catalogue_has_no_untranslated_or_fuzzy_entries() -> None:
    catalogue = _catalogue(PO)
    untranslated = [m.id for m in catalogue if m.id and not (
        all(m.string) if isinstance(m.string, tuple) else m.string)]
    fuzzy = [m.id for m in catalogue if m.id and m.fuzzy]
    assert not untranslated, f"untranslated in {PO.name}: {untranslated}"
    assert not fuzzy, f"fuzzy in {PO.name}: {fuzzy}"
    assert len(catalogue) > 100


def test_every_extracted_msgid_is_translated_and_the_pot_is_current() -> None:
    extracted = _extracted()
    assert {"Beratungsfolge", "Seite nicht gefunden.", "zur Kenntnis genommen"} <= extracted
    # A plural's msgid is (singular, plural); the extractor names it by its singular.
    translated = {_singular(m.id) for m in _catalogue(PO) if m.id and m.string}
    missing = sorted(extracted - translated)
    assert not missing, f"not translated in {PO}: {missing}; {UPDATE_HINT}"
    pot = {_singular(m.id) for m in _catalogue(POT) if m.id}
    assert pot == extracted, (f"{POT.name} out of date: new {sorted(extracted - pot)}, "
                              f"gone {sorted(pot - extracted)}; {UPDATE_HINT}")


def test_calls_inside_f_strings_are_translated_too() -> None:
    translated = {m.id for m in _catalogue(PO) if m.id and m.string}
    missing = {msgid: where for msgid, where in _literal_calls_in_python().items() if msgid not in translated}
    assert not missing, (f"not in {PO.name}: {missing}; a _() inside an f-string is invisible to "
                         "pybabel extract: move it out, or list it in web/i18n.py's _IN_F_STRINGS")


def test_data_values_of_the_engine_are_marked_for_extraction() -> None:
    """Results, statuses and view names reach _() as variables; N_ puts them in the catalogue."""
    from web.inbox import VIEW_LABELS

    values = {*i18n.DATA_VALUES, *VIEW_LABELS.values()}
    assert values <= set(i18n._DATA_STRINGS)
    translated = {m.id for m in _catalogue(PO) if m.string}
    assert values <= translated


# --- language choice and pages -----------------------------------------------------------


def _lang_cookie(response) -> str:  # type: ignore[no-untyped-def]
    return next((c for c in response.headers.getlist("Set-Cookie") if c.startswith("lang=")), "")


def test_german_by_default_english_with_lang_and_remembered(demo, browser):  # type: ignore[no-untyped-def]
    client = browser()
    url = f"/vorlagen/{demo.paper_id}"
    german = client.get(url)
    html = german.get_data(as_text=True)
    assert '<html lang="de">' in html and not _lang_cookie(german)
    page = text_of(html)
    assert "Beratungsfolge" in page and "Federführend Wirtschaft und Raum" in page
    assert "Order of consultation" not in page

    english = client.get(f"{url}?lang=en")
    assert _lang_cookie(english).startswith("lang=en;")
    html = english.get_data(as_text=True)
    assert '<html lang="en">' in html
    page = text_of(html)
    for text in ("Order of consultation", "Where it stands", "Lead department Wirtschaft und Raum",
                 "Recommended resolution", "Attachments (2)", "Skip to content"):
        assert text in page, text
    assert "Beratungsfolge" not in page
    assert "Order of consultation" in text_of(client.get(url).get_data(as_text=True))  # cookie
    assert "Beratungsfolge" in text_of(client.get(f"{url}?lang=de").get_data(as_text=True))
    assert "Beratungsfolge" in text_of(client.get(url).get_data(as_text=True))


def test_accept_language_and_an_unknown_lang(demo, browser):  # type: ignore[no-untyped-def]
    url = f"/vorlagen/{demo.paper_id}"
    page = browser().get(url, headers={"Accept-Language": "en-GB,en;q=0.9,de;q=0.5"})
    assert "Order of consultation" in text_of(page.get_data(as_text=True))
    page = browser().get(f"{url}?lang=fr", headers={"Accept-Language": "fr, de;q=0.5"})
    assert "Beratungsfolge" in text_of(page.get_data(as_text=True))
    assert not _lang_cookie(page)


def test_dates_on_the_page_are_dd_mm_yyyy_in_english_too(demo, browser):  # type: ignore[no-untyped-def]
    url = f"/vorlagen/{demo.paper_id}"
    english = text_of(browser().get(f"{url}?lang=en").get_data(as_text=True))
    german = text_of(browser().get(url).get_data(as_text=True))
    meeting = demo.committee_meeting
    shown = f"{meeting.start.astimezone(i18n.TIMEZONE):%d.%m.%Y} {meeting.reference}"
    assert shown in english and shown in german
    # The open task's creation: date and time in Berlin; "Uhr" in German only.
    assert re.search(r"\(since \d\d\.\d\d\.\d{4}, \d\d:\d\d\)", english), english
    assert re.search(r"\(seit \d\d\.\d\d\.\d{4}, \d\d:\d\d Uhr\)", german), german


def test_not_found_page_is_translated(app):  # type: ignore[no-untyped-def]
    client = app.test_client()
    assert "Page not found." in client.get("/gibt-es-nicht?lang=en").get_data(as_text=True)
    assert "Seite nicht gefunden." in client.get("/gibt-es-nicht?lang=de").get_data(as_text=True)


def test_formatting_and_labels_per_language(app) -> None:  # type: ignore[no-untyped-def]
    winter = datetime(2024, 11, 8, 14, 0, tzinfo=UTC)
    summer = datetime(2024, 7, 1, 13, 0, tzinfo=UTC)
    late = datetime(2024, 11, 7, 23, 30, tzinfo=UTC)  # already the 8th in Berlin
    with app.test_request_context("/?lang=en"):
        assert i18n.current_language() == "en"
        assert i18n.format_date(date(2024, 11, 8)) == "08.11.2024"
        assert i18n.format_date(late) == "08.11.2024"
        assert i18n.format_datetime(winter) == "08.11.2024, 15:00"
        assert i18n.format_datetime(summer) == "01.07.2024, 15:00"
        assert i18n.format_time(winter) == "15:00"
        assert i18n.format_date(None) == i18n.format_datetime(None) == i18n.format_time(None) == ""
        assert i18n.result_label("geaendert_beschlossen") == "adopted with changes"
        assert i18n.result_label("unbekannt") == "unbekannt"
        assert i18n.gettext("in Beratung") == "in consultation"
        assert i18n.gettext("") == ""  # not the catalogue header
        assert str(i18n.lazy_gettext("Beratungsfolge")) == "Order of consultation"
        assert i18n.ngettext("Anlage", "Anlagen", 2) == "Anlagen"  # not in the catalogue
    with app.test_request_context("/", headers={"Accept-Language": "de-DE"}):
        assert i18n.current_language() == "de"
        assert i18n.format_date(date(2024, 11, 8)) == "08.11.2024"
        assert i18n.format_datetime(winter) == "08.11.2024, 15:00 Uhr"
        assert i18n.result_label("geaendert_beschlossen") == "geändert beschlossen"
    assert i18n.current_language() == "de"  # outside a request
    assert i18n.gettext("Beratungsfolge") == "Beratungsfolge"
    assert i18n.format_size(474 * 1024) == "474 KB" and i18n.format_size(20 * 1024 * 1024) == "20 MB"


def test_templates_translate_variables_escaped(app) -> None:  # type: ignore[no-untyped-def]
    with app.test_request_context("/?lang=en"):
        render = app.jinja_env.from_string
        assert render("{{ _(s) }}|{{ result_label('vertagt') }}").render(s="abgeschlossen") == \
            "completed|postponed"
        assert render("{{ _(s) }}").render(s="<b>") == "&lt;b&gt;"
        assert render("{{ d|date }} {{ d|datetime }} {{ d|time }}").render(
            d=datetime(2024, 11, 8, 14, tzinfo=UTC)) == "08.11.2024 08.11.2024, 15:00 15:00"


# --- compiling at start-up ---------------------------------------------------------------


def test_start_up_compiles_the_catalogue_into_the_instance_folder(app) -> None:  # type: ignore[no-untyped-def]
    mo = Path(app.instance_path) / "translations" / "en" / "LC_MESSAGES" / "messages.mo"
    assert mo.is_file()
    assert app.config["BABEL_TRANSLATION_DIRECTORIES"] == str(mo.parents[2])
    with mo.open("rb") as f:
        compiled = stdlib_gettext.GNUTranslations(f)
    assert compiled.gettext("Beratungsfolge") == "Order of consultation"
    assert mo.stat().st_mtime_ns == PO.stat().st_mtime_ns
    assert not list(mo.parent.glob("*.tmp"))


def _copy_catalogues(tmp_path: Path, text: str | None = None) -> tuple[Path, Path]:
    source = tmp_path / "translations"
    po = source / "en" / "LC_MESSAGES" / "messages.po"
    po.parent.mkdir(parents=True)
    po.write_text(PO.read_text(encoding="utf-8") if text is None else text, encoding="utf-8")
    return source, po


def test_mo_is_rewritten_only_when_the_po_changes(tmp_path: Path) -> None:
    source, po = _copy_catalogues(tmp_path)
    target = tmp_path / "instance" / "translations"
    mo = target / "en" / "LC_MESSAGES" / "messages.mo"
    assert i18n.compile_catalogues(source, target) == [mo]
    assert i18n.compile_catalogues(source, target) == []
    po.write_text(po.read_text(encoding="utf-8").replace(
        'msgstr "Order of consultation"', 'msgstr "Sequence of deliberation"'), encoding="utf-8")
    os.utime(po, ns=(po.stat().st_atime_ns, mo.stat().st_mtime_ns + 10**9))
    assert i18n.compile_catalogues(source, target) == [mo]
    with mo.open("rb") as f:
        assert stdlib_gettext.GNUTranslations(f).gettext("Beratungsfolge") == "Sequence of deliberation"


def test_workers_compiling_at_once_leave_a_whole_file(tmp_path: Path) -> None:
    source, _po = _copy_catalogues(tmp_path)
    target = tmp_path / "instance" / "translations"
    barrier, errors = threading.Barrier(4), []

    def worker() -> None:
        barrier.wait()
        try:
            i18n.compile_catalogues(source, target)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    mo_dir = target / "en" / "LC_MESSAGES"
    assert [p.name for p in mo_dir.iterdir()] == ["messages.mo"]
    with (mo_dir / "messages.mo").open("rb") as f:
        assert stdlib_gettext.GNUTranslations(f).gettext("Beratungsfolge") == "Order of consultation"


@pytest.mark.parametrize("broken, reason", [
    ('msgstr "Order of consultation', "quoted string"),            # closing quote missing
    ('msgstre "Order of consultation"', "quoted string"),          # misspelt keyword
    ('"Order of consultation"', "not in msgid, msgstr or msgctxt"),  # continuation, no keyword
])
def test_a_broken_po_stops_start_up_naming_file_and_line(tmp_path, monkeypatch, broken, reason):  # type: ignore[no-untyped-def]
    lines = PO.read_text(encoding="utf-8").splitlines()
    number = lines.index('msgstr "Order of consultation"') + 1
    if broken.startswith('"'):  # remove the msgstr keyword's line: a stray string after a comment
        lines[number - 2] = "# msgid removed"
    lines[number - 1] = broken
    source, po = _copy_catalogues(tmp_path, "\n".join(lines) + "\n")
    monkeypatch.setattr(i18n, "TRANSLATIONS_DIR", source)
    app = Flask(__name__, instance_path=str(tmp_path / "instance"))
    with pytest.raises(i18n.CatalogueError) as caught:
        i18n.init_app(app)
    message = str(caught.value)
    assert message.startswith(f"{po}, line {number}: "), message
    assert reason in message
    assert not (tmp_path / "instance" / "translations" / "en" / "LC_MESSAGES" / "messages.mo").exists()


def test_mismatched_placeholders_are_a_start_up_error(tmp_path: Path) -> None:
    text = PO.read_text(encoding="utf-8") + (
        '\n#, python-format\nmsgid "%(n)s Anlagen"\nmsgstr "%(count)s attachments"\n')
    source, po = _copy_catalogues(tmp_path, text)
    number = text.splitlines().index('msgid "%(n)s Anlagen"') + 1
    with pytest.raises(i18n.CatalogueError, match=rf"^{re.escape(str(po))}, line {number}: "):
        i18n.compile_catalogues(source, tmp_path / "out")
