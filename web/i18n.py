"""German first, English available: gettext catalogues through Flask-Babel, language, dates.

The source language is German: every ``msgid`` is the German text the page shows today, and
``web/translations/en/LC_MESSAGES/messages.po`` holds its English version. German needs no
catalogue (a missing translation shows the msgid, i.e. the German text).

How to add a string
-------------------
1. Mark it: ``_("Neuer Text")`` in a template, ``from .i18n import gettext as _`` in Python
   (``lazy_gettext`` for module-level constants, ``ngettext`` for plurals). A German word that
   reaches ``_()`` only as a *variable* (a status, an Ergebnis) goes into ``_DATA_STRINGS``
   below as ``N_("...")``; ``N_`` returns its argument and only tells the extractor.
   Keep ``_()`` out of f-strings: on Python 3.11 the extractor cannot see into them (the
   tests find such calls and fail; ``_IN_F_STRINGS`` lists the ones there are).
2. Extract and update the catalogue (from the repository root, ``babel.cfg`` lists the files)::

       .venv/bin/pybabel extract -F babel.cfg -k _ -k gettext -k lazy_gettext -k N_ \\
           --project=ratsflow -o web/translations/messages.pot .
       .venv/bin/pybabel update -i web/translations/messages.pot -d web/translations \\
           --no-fuzzy-matching

   (a new language: ``pybabel init -i web/translations/messages.pot -d web/translations -l fr``
   and add it to ``LANGUAGES``).
3. Translate: fill in the empty ``msgstr ""`` in ``web/translations/en/LC_MESSAGES/messages.po``
   and remove any ``#, fuzzy`` flag. ``tests/test_i18n.py`` fails while a msgid is missing,
   untranslated or fuzzy.
4. Nothing to compile by hand: ``init_app`` compiles each ``.po`` into a ``.mo`` under the
   instance folder (``<instance>/translations/en/LC_MESSAGES/messages.mo``) at start-up when
   it is missing or stale. ``.mo`` files are never committed (``.gitignore``).

Language: ``?lang=`` (and remembered in the ``lang`` cookie), then that cookie, then the
browser's Accept-Language, else German. Dates are shown as 08.11.2024 in both languages;
times in Europe/Berlin ("08.11.2024, 15:00 Uhr" in German, "08.11.2024, 15:00" in English).

In templates ``_`` is :func:`gettext` below: it returns a plain ``str`` that Jinja escapes,
so ``_(paper.status)`` is safe with any value (Flask-Babel's own newstyle ``gettext`` global,
also installed, returns Markup and is meant for literal strings and ``{% trans %}`` only).
"""

from __future__ import annotations

import functools
import os
import re
import tempfile
from datetime import UTC, date, datetime, time
from io import BytesIO
from pathlib import Path
from typing import Any

import flask_babel
from babel import dates as babel_dates
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import PoFileError, read_po
from flask import Flask, current_app, g, has_request_context, request
from flask_babel import Babel, lazy_gettext

from engine.council import PAPER_DONE, PAPER_DRAFT, PAPER_IN_CONSULTATION, PAPER_WITHDRAWN, RESULTS
from engine.settings import TIMEZONE
from engine.tasks import (
    DELEGATION_PENDING,
    DELEGATION_RESOLVED,
    TASK_CANCELLED,
    TASK_DONE,
    TASK_READY,
)

__all__ = [
    "LANGUAGES", "CatalogueError", "N_", "TRANSLATIONS_DIR", "compile_catalogues",
    "current_language", "format_date", "format_datetime", "format_size", "format_time",
    "gettext", "init_app", "lazy_gettext", "ngettext", "result_label",
]

LANGUAGES = ("de", "en")
DEFAULT_LANGUAGE = "de"
#: The catalogues kept in the repository (.pot and one .po per language).
TRANSLATIONS_DIR = Path(__file__).resolve().parent / "translations"
#: One year, as before.
_COOKIE_MAX_AGE = 365 * 24 * 3600


def N_(string: str) -> str:
    """Mark a data string for extraction; translated later by ``_(variable)``."""
    return string


#: German data values that templates translate as variables (``_(p.status)``,
#: ``result_label(key)``). Listed here so that ``pybabel extract`` puts them in the catalogue.
_DATA_STRINGS = (
    # What the scopes of an API token allow (engine.identity.tokens.SCOPES)
    N_("Vorlagen mit Beratungsfolge lesen"),
    N_("Den Lebenslauf einer Vorlage starten (Mitzeichnung, Freigabe, Beratungsfolge)"),
    N_("Sitzungen mit Tagesordnung, Gremien, Personen und Mitgliedschaften lesen"),
    N_("Aufgaben und Vorgänge lesen"),
    N_("Aufgaben übernehmen, zuweisen, kommentieren und erledigen"),
    N_("Die Prozesshistorie eines Vorgangs lesen (Revision)"),
    N_("Die eigenen Erinnerungen lesen"),
    N_("Prozessmodelle prüfen und bereitstellen (Administration)"),
    # Sitzung states (OParl meetingState) and reminder states (engine.calendar.reminders; their
    # kinds are named in engine.calendar.reminders.KIND_NAMES, extracted from engine/)
    N_("terminiert"), N_("eingeladen"), N_("durchgeführt"),
    N_("geplant"), N_("vorbereitet"), N_("versandt"), N_("storniert"), N_("entfallen"),
    # Ergebnisse (engine.council.RESULTS)
    N_("zur Kenntnis genommen"),
    N_("Beschlussempfehlung: zugestimmt"),
    N_("Beschlussempfehlung: geändert zugestimmt"),
    N_("Beschlussempfehlung: abgelehnt"),
    N_("beschlossen"),
    N_("geändert beschlossen"),
    N_("abgelehnt"),
    N_("vertagt"),
    N_("verwiesen"),
    N_("zurückgezogen"),
    N_("Dringlichkeitsentscheidung genehmigt"),
    N_("Dringlichkeitsentscheidung nicht genehmigt"),
    # What a refused Genehmigung means (engine.council.URGENT_REFUSED_MEANS)
    N_("Der Rat kann die Dringlichkeitsentscheidung aufheben, soweit nicht schon Rechte anderer durch die "
       "Ausführung des Beschlusses entstanden sind (§ 60 Abs. 1 Satz 4 GO NRW)."),
    # Vorlage status (engine.council.PAPER_*)
    N_("Entwurf"),
    N_("in Beratung"),
    N_("abgeschlossen"),
    # Task states (engine.tasks.TASK_*)
    N_("bereit"),
    N_("erledigt"),
    N_("abgebrochen"),
    # Delegation of a task (engine.tasks.DELEGATION_*)
    N_("delegiert"),
    N_("zurückgegeben"),
    # Inbox views (web.inbox.VIEW_LABELS)
    N_("Meine Aufgaben"),
    N_("Gruppe"),
    N_("Gremium"),
    N_("Erledigt"),
    # Paper.proposal_heading
    N_("Beschlussvorschlag"),
    N_("Beschlussempfehlung"),
    # Meeting state "abgesagt"; process instances and their timers (engine.workflow.models)
    N_("abgesagt"), N_("läuft"), N_("Störung"), N_("wartend"), N_("ausgelöst"),
    # Kinds of Gremium and membership roles (engine.schemas)
    N_("Ausschuss"), N_("Beirat"), N_("Fraktion"), N_("Hauptorgan"), N_("Rat"), N_("Kreistag"),
    N_("Verbandsversammlung"), N_("Bezirksvertretung"), N_("Arbeitsgruppe"), N_("Kommission"),
    N_("Vorsitz"), N_("stellvertretender Vorsitz"), N_("Mitglied"), N_("stellvertretendes Mitglied"),
    # Roles of an account (engine.council.ROLE_*)
    N_("Administration"), N_("Revision"), N_("Sachbearbeitung"), N_("Sekretariat"),
)
#: ``_()`` calls inside f-strings, which ``pybabel extract`` cannot see on Python 3.11 (the
#: f-string is one token there): listed here so that they reach the catalogue.
#: ``tests/test_i18n.py`` finds such calls with ``ast`` and fails if one is not translated.
_IN_F_STRINGS = (
    N_("Werktag"), N_("Werktage"), N_("Kalendertag"), N_("Kalendertage"),  # web/admin.py
    N_("vor der Ladungsfrist"), N_("nach der Sitzung"),
)
#: From the old hand-written dictionary, some unused by any page when it was replaced: kept in
#: the catalogue so that their English is at hand when a page uses them.
_RESERVED_STRINGS = (
    N_("Abbrechen"), N_("Speichern"), N_("Aufgaben"), N_("Zur Aufgabe"), N_("Formular"),
    N_("Anlage/n"), N_("Stand"), N_("Verlauf"), N_("Sprache"), N_("Uhrzeit"), N_("Stimmen"),
    N_("ja"), N_("nein"), N_("Konflikt"), N_("Keine Berechtigung."), N_("Datei nicht im Bestand."),
)
#: The engine's values that must appear in ``_DATA_STRINGS`` (checked by the tests).
DATA_VALUES = (*RESULTS.values(), PAPER_DRAFT, PAPER_IN_CONSULTATION, PAPER_DONE, PAPER_WITHDRAWN,
               TASK_READY, TASK_DONE, TASK_CANCELLED, DELEGATION_PENDING, DELEGATION_RESOLVED)


# --- translating -------------------------------------------------------------------------


def gettext(string: str, **variables: Any) -> str:
    """The current request's translation of ``string`` (German outside a request)."""
    if not string:
        # gettext("") would return the catalogue's header; an empty value stays empty.
        return string
    if not has_request_context():
        return flask_babel.gettext(string, **variables)  # type: ignore[no-any-return]
    # A page asks for the same few strings once per row: each Flask-Babel lookup walks four
    # context locals, so the app keeps what it has translated, per language (the language is
    # fixed for the request, the catalogues for the app: compiled at start-up), the request
    # holds its language's table, and the variables are filled in here, as Flask-Babel does
    # (``translation % variables``).
    cache: dict[str, str] | None = g.get("_ratsflow_gettext")
    if cache is None:
        tables: dict[str, dict[str, str]] = current_app.extensions["ratsflow.gettext"]
        cache = g._ratsflow_gettext = tables.setdefault(current_language(), {})
    found = cache.get(string)
    if found is None:
        found = cache[string] = flask_babel.get_translations().ugettext(string)
    return found % variables if variables else found


def format_number(value: int) -> str:
    """A count as the reader writes it: 14.000 (German), 14,000 (English)."""
    return flask_babel.format_decimal(value)  # type: ignore[no-any-return]


def ngettext(singular: str, plural: str, num: int, **variables: Any) -> str:
    """Plural-aware translation; ``%(num)d`` is available in both forms."""
    return flask_babel.ngettext(singular, plural, num, **variables)  # type: ignore[no-any-return]


def result_label(key: str) -> str:
    """The translated label of an Ergebnis (a key of ``engine.council.RESULTS``)."""
    return gettext(RESULTS.get(key, key))


def current_language() -> str:
    """"de" or "en": the language of the current request, German outside one."""
    if not has_request_context():
        return DEFAULT_LANGUAGE
    language: str | None = g.get("_ratsflow_language")
    if language is None:
        locale = flask_babel.get_locale()
        language = g._ratsflow_language = locale.language if locale is not None else DEFAULT_LANGUAGE
    return language


def _select_locale() -> str:
    """Flask-Babel's locale selector: ?lang=, then the cookie, then Accept-Language."""
    if not has_request_context():
        return DEFAULT_LANGUAGE
    asked = request.args.get("lang")
    if asked in LANGUAGES:
        return asked
    cookie = request.cookies.get("lang")
    if cookie in LANGUAGES:
        return cookie
    return request.accept_languages.best_match(LANGUAGES, default=DEFAULT_LANGUAGE) or DEFAULT_LANGUAGE


def _select_timezone() -> str:
    return TIMEZONE.key  # "Europe/Berlin"; Flask-Babel wants a name (it uses pytz)


# --- dates, times, sizes -----------------------------------------------------------------

_DATE = "dd.MM.yyyy"  # 08.11.2024, in English too: the council's users expect it
_DATETIME = {"de": "dd.MM.yyyy, HH:mm 'Uhr'", "en": "dd.MM.yyyy, HH:mm"}
_TIME = "HH:mm"


def _aware(value: datetime) -> datetime:
    """Stored datetimes are aware; a naive one is UTC by construction (engine.types)."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def format_date(value: date | datetime | None) -> str:
    """08.11.2024; a datetime is first converted to Europe/Berlin. Digits only, the same in
    every language of :data:`LANGUAGES`: formatted without asking for the page's language (a
    list formats a date on every row)."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return _babel_datetime(_aware(value), _DATE, DEFAULT_LANGUAGE)
    return _babel_date(value, _DATE, DEFAULT_LANGUAGE)


def format_month(value: date) -> str:
    """November 2024 (the month's name in the reader's language)."""
    return _babel_date(value, "LLLL y", current_language())


def format_datetime(value: datetime | None) -> str:
    """08.11.2024, 15:00 Uhr (German) or 08.11.2024, 15:00 (English), Europe/Berlin."""
    if value is None:
        return ""
    locale = current_language()
    pattern = _DATETIME.get(locale, _DATETIME[DEFAULT_LANGUAGE])
    return _babel_datetime(_aware(value), pattern, locale)


def format_time(value: datetime | time | None) -> str:
    """15:00, Europe/Berlin."""
    if value is None:
        return ""
    locale = current_language()
    if isinstance(value, datetime):
        return _babel_datetime(_aware(value), _TIME, locale)
    return babel_dates.format_time(value, _TIME, locale=locale)


# A list shows the same few session times and due dates on many rows, and Babel parses the
# pattern and converts the zone on every call (about 60 µs): the results are kept.
@functools.lru_cache(maxsize=4096)
def _babel_datetime(value: datetime, pattern: str, locale: str) -> str:
    return babel_dates.format_datetime(value, pattern, tzinfo=TIMEZONE, locale=locale)


@functools.lru_cache(maxsize=4096)
def _babel_date(value: date, pattern: str, locale: str) -> str:
    return babel_dates.format_date(value, pattern, locale=locale)


def format_size(size: int) -> str:
    """As the BIS page shows it: "474 KB"."""
    if size >= 1024 * 1024 * 10:
        return f"{round(size / 1024 / 1024)} MB"
    return f"{max(1, round(size / 1024))} KB"


# --- compiling the catalogues at start-up ------------------------------------------------


class CatalogueError(RuntimeError):
    """A .po file that cannot be compiled; the message names the file and the line."""


_QUOTED = r'"(?:[^"\\]|\\.)*"'
_PO_LINE = re.compile(rf"(?:(?:msgctxt|msgid|msgid_plural|msgstr|msgstr\[\d+\])\s+)?{_QUOTED}")


def _read_catalogue(po: Path) -> Catalog:
    """Parse ``po`` strictly: Babel's reader alone accepts e.g. a missing closing quote."""
    data = po.read_bytes()
    for number, raw in enumerate(data.splitlines(), start=1):
        try:
            line = raw.decode("utf-8").strip()
        except UnicodeDecodeError as exc:
            raise CatalogueError(f"{po}, line {number}: not UTF-8 ({exc.reason})") from None
        if line.startswith("#~"):
            line = line[2:].strip()
        elif line.startswith("#"):
            continue
        if line and not _PO_LINE.fullmatch(line):
            raise CatalogueError(f"{po}, line {number}: not a keyword with a quoted string: {line!r}")
    try:
        catalog = read_po(BytesIO(data), locale=po.parent.parent.name, abort_invalid=True)
    except PoFileError as exc:
        reason = str(exc).rsplit(" on ", 1)[0]
        raise CatalogueError(f"{po}, line {exc.lineno + 1}: {reason}: {exc.line!r}") from None
    except ValueError as exc:  # e.g. an unparsable header field
        raise CatalogueError(f"{po}: {exc}") from None
    for message, errors in catalog.check():
        raise CatalogueError(f"{po}, line {message.lineno}: {errors[0]} (msgid {message.id!r})")
    return catalog


def compile_catalogues(source: Path, target: Path) -> list[Path]:
    """Compile each ``source/<lang>/LC_MESSAGES/<domain>.po`` into the same place under ``target``.

    A ``.mo`` is written when missing or when its modification time differs from its ``.po``'s
    (it is given the ``.po``'s time, so an edited or reverted ``.po`` is noticed). It is written
    to a temporary file and renamed over, so a worker starting at the same time reads either
    the old or the new file, never half of one. Returns the ``.mo`` files written.
    """
    written: list[Path] = []
    for po in sorted(source.glob("*/LC_MESSAGES/*.po")):
        mo = target / po.relative_to(source).with_suffix(".mo")
        po_mtime = po.stat().st_mtime_ns
        try:
            if mo.stat().st_mtime_ns == po_mtime:
                continue
        except FileNotFoundError:
            pass
        catalog = _read_catalogue(po)
        mo.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=mo.parent, prefix=f".{mo.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                write_mo(out, catalog)  # fuzzy entries are left out
            os.chmod(tmp, 0o644)
            os.utime(tmp, ns=(po_mtime, po_mtime))
            os.replace(tmp, mo)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        written.append(mo)
    return written


# --- the app -----------------------------------------------------------------------------


def init_app(app: Flask) -> None:
    """Compile the catalogues into the instance folder and set up Flask-Babel and Jinja."""
    compiled = Path(app.instance_path) / "translations"
    compile_catalogues(TRANSLATIONS_DIR, compiled)
    app.config.update(
        BABEL_TRANSLATION_DIRECTORIES=str(compiled),
        BABEL_DEFAULT_LOCALE=DEFAULT_LANGUAGE,
        BABEL_DEFAULT_TIMEZONE=TIMEZONE.key,
    )
    Babel(app, locale_selector=_select_locale, timezone_selector=_select_timezone)

    # Flask-Babel caches the locale in ``g``, which a test client's outer app context
    # shares between requests: choose afresh for each request.
    app.before_request(flask_babel.refresh)

    @app.after_request
    def _remember_language(response):  # type: ignore[no-untyped-def]
        asked = request.args.get("lang")
        if asked in LANGUAGES:
            response.set_cookie("lang", asked, max_age=_COOKIE_MAX_AGE, samesite="Lax")
        return response

    app.extensions["ratsflow.gettext"] = {}  # language → msgid → translation (see gettext)
    app.jinja_env.globals.update(_=gettext, ngettext=ngettext, current_language=current_language,
                                 result_label=result_label)
    app.jinja_env.filters.update(date=format_date, datetime=format_datetime, time=format_time,
                                 filesize=format_size, number=format_number,
                                 month=format_month)
