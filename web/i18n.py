"""German first, English available: message catalogue, language choice, date formats.

Source strings are the German texts; ``EN`` holds their English versions. The language
comes from ``?lang=``, then the ``lang`` cookie, then the browser's Accept-Language.
Dates are shown as 08.11.2024 and times in Europe/Berlin, in both languages.
"""

from __future__ import annotations

from datetime import date, datetime

from flask import Flask, g, request

from engine.council import RESULTS
from engine.settings import TIMEZONE

LANGUAGES = ("de", "en")

EN: dict[str, str] = {
    "Bürgerinformationssystem": "Council information system",
    "Anmelden": "Log in",
    "Abmelden": "Log out",
    "Benutzername": "User name",
    "Passwort": "Password",
    "Benutzername oder Passwort falsch.": "Wrong user name or password.",
    "Bitte melden Sie sich an.": "Please log in.",
    "Meine Aufgaben": "My tasks",
    "Aufgaben": "Tasks",
    "Keine offenen Aufgaben.": "No open tasks.",
    "Aufgabe": "Task",
    "Vorlage": "Paper",
    "Vorlagen": "Papers",
    "Gremium": "Committee",
    "Sitzung": "Session",
    "Sitzungen": "Sessions",
    "seit": "since",
    "Erledigen": "Complete",
    "Speichern": "Save",
    "Abbrechen": "Cancel",
    "Betreff": "Subject",
    "Status": "Status",
    "öffentlich": "public",
    "nichtöffentlich": "non-public",
    "Vorlage-Art": "Paper type",
    "Federführend": "Lead department",
    "Bearbeiter/-in": "Clerk",
    "Beratungsfolge": "Order of consultation",
    "Rolle": "Role",
    "Ergebnis": "Result",
    "Sachverhalt": "Facts",
    "Beschlussvorschlag": "Proposed resolution",
    "Beschlussempfehlung": "Recommended resolution",
    "Finanzielle Auswirkungen": "Financial impact",
    "Personelle Auswirkungen": "Staff impact",
    "Anlagen": "Attachments",
    "Anlage/n": "Attachment(s)",
    "Name": "Name",
    "Größe": "Size",
    "Stand": "Current state",
    "Aktueller Stand": "Where it stands",
    "Die Beratungsfolge ist abgeschlossen.": "The consultation has been completed.",
    "Die Vorlage wurde zurückgezogen.": "The paper has been withdrawn.",
    "Die Beratungsfolge ist noch nicht gestartet.": "The consultation has not started yet.",
    "wartet auf": "waiting for",
    "Neue Vorlage": "New paper",
    "Vorlage anlegen": "Create paper",
    "Vorlage anlegen und Beratungsfolge starten": "Create paper and start consultation",
    "Beratungsfolge starten": "Start consultation",
    "Aktenzeichen": "Reference",
    "Datum": "Date",
    "Uhrzeit": "Time",
    "Beginn": "Start",
    "Ende": "End",
    "Ort": "Location",
    "Neue Sitzung": "New session",
    "Sitzung anlegen": "Create session",
    "Nummer": "Number",
    "Beratung": "Consultation",
    "Weitere Beratung": "Another consultation",
    "Eingaben bitte prüfen.": "Please check your input.",
    "Revision": "Audit",
    "Prozesshistorie": "Process history",
    "Zeitpunkt": "Time",
    "Wer": "Who",
    "Was": "What",
    "Einzelheiten": "Details",
    "Kette geprüft": "Chain verified",
    "Ereignisse": "events",
    "Kette beschädigt": "Chain broken",
    "Verlauf": "History",
    "Die Aufgabe wurde erledigt.": "The task has been completed.",
    "Die Vorlage wurde angelegt.": "The paper has been created.",
    "Die Beratungsfolge wurde gestartet.": "The consultation has been started.",
    "Die Sitzung wurde angelegt.": "The session has been created.",
    "Seite nicht gefunden.": "Page not found.",
    "Keine Berechtigung.": "Not permitted.",
    "Konflikt": "Conflict",
    "Fehler": "Error",
    "Startseite": "Home",
    "Sprache": "Language",
    "Pflichtfeld": "required",
    "keine Auswahl": "no selection",
    "Datei nicht im Bestand.": "File not held.",
    "Sitzung offen": "session not yet chosen",
    "Zur Aufgabe": "Open task",
    "erledigt von": "completed by",
    "Entwurf": "Draft",
    "in Beratung": "in consultation",
    "abgeschlossen": "completed",
    "zurückgezogen": "withdrawn",
    "Zum Inhalt springen": "Skip to content",
    "Formular": "Form",
    "Bitte wählen": "Please choose",
    "ja": "yes",
    "nein": "no",
    "Stimmen": "Votes",
    "Ja": "For",
    "Nein": "Against",
    "Enthaltungen": "Abstentions",
    "Sitzungen meiner Gremien": "Sessions of my committees",
    "Keine Sitzungen.": "No sessions.",
    "Keine Vorlagen.": "No papers.",
    "Öffentliche Vorlagen": "Public papers",
    "Navigation": "Navigation",
    "Nr.": "No.",
    "Für dieses Gremium ist keine kommende Sitzung angelegt.":
        "No upcoming session of this committee exists yet.",
    "Anlage": "Attachment",
    "Überschrift des Beschlusstexts": "Heading of the resolution text",
    "Beschlusstext": "Resolution text",
    "bereit": "ready",
    "erledigt": "done",
    "abgebrochen": "cancelled",
    # Ergebnisse (engine.council.RESULTS)
    "zur Kenntnis genommen": "noted",
    "beschlossen": "adopted",
    "geändert beschlossen": "adopted with changes",
    "abgelehnt": "rejected",
    "vertagt": "postponed",
    "verwiesen": "referred",
}


def current_language() -> str:
    return getattr(g, "lang", "de")


def gettext(text: str) -> str:
    if current_language() == "en":
        return EN.get(text, text) or text
    return text


def _pick_language() -> None:
    asked = request.args.get("lang")
    if asked in LANGUAGES:
        g.lang, g.set_lang_cookie = asked, True
        return
    cookie = request.cookies.get("lang")
    if cookie in LANGUAGES:
        g.lang = cookie
        return
    g.lang = request.accept_languages.best_match(LANGUAGES, default="de") or "de"


def format_date(value: date | datetime | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.astimezone(TIMEZONE)
    return value.strftime("%d.%m.%Y")


def format_datetime(value: datetime | None) -> str:
    if value is None:
        return ""
    local = value.astimezone(TIMEZONE)
    suffix = " Uhr" if current_language() == "de" else ""
    return f"{local:%d.%m.%Y, %H:%M}{suffix}"


def format_time(value: datetime | None) -> str:
    return "" if value is None else value.astimezone(TIMEZONE).strftime("%H:%M")


def format_size(size: int) -> str:
    """As the BIS page shows it: "474 KB"."""
    if size >= 1024 * 1024 * 10:
        return f"{round(size / 1024 / 1024)} MB"
    return f"{max(1, round(size / 1024))} KB"


def init_app(app: Flask) -> None:
    app.before_request(_pick_language)

    @app.after_request
    def _remember(response):  # type: ignore[no-untyped-def]
        if getattr(g, "set_lang_cookie", False):
            response.set_cookie("lang", g.lang, max_age=365 * 24 * 3600, samesite="Lax")
        return response

    app.jinja_env.globals.update(_=gettext, current_language=current_language,
                                 result_label=lambda key: gettext(RESULTS.get(key, key)))
    app.jinja_env.filters.update(date=format_date, datetime=format_datetime, time=format_time,
                                 filesize=format_size)
