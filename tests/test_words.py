"""Words, not codes (issue 20, point 4): reminder kinds, lead times, effects, elements,
models and states in words of the page's language, a Sitzung by its SI number; a Gremium's
name in the genitive in e-mails ("zur Sitzung des Ausschusses …"), stored and editable."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from engine import audit
from engine.calendar import meetings
from engine.council import Meeting, Organization
from engine.db import upgrade_schema
from engine.process import sessions, timers
from engine.settings import TIMEZONE
from engine.words import genitive
from engine.workflow.models import ProcessInstance
from notifications.delivery import SmtpTransport
from notifications.sweep import run_once

from .conftest import NOW, database_at, text_of

#: The codes of the reminder kinds, as they stand in ``Reminder.kind``: never on a page.
KIND_CODES = re.compile(r"\b(sitzung|tagesordnungsschluss|ladungsfrist|ladungsfrist_versaeumt|einladung|"
                        r"verlegt|abgesagt|aufgabe_ueberfaellig)\b")


def _meeting(s, reference: str) -> Meeting:  # type: ignore[no-untyped-def]
    return s.exec(select(Meeting).where(Meeting.reference == reference)).one()  # type: ignore[no-any-return]


def _section(page: str, heading: str) -> str:
    """The visible text from ``heading`` on (the section a check is about)."""
    assert heading in page, page
    return page[page.index(heading):]


# ----------------------------------------------------------------------------- reminders

@pytest.mark.sqlite_only
def test_a_sessions_reminders_are_named_in_words_in_both_languages(demo, database, browser):  # type: ignore[no-untyped-def]
    with database.unit_of_work() as s:  # the Ladungsfrist passed unsent: the Sekretariat is told at once
        assembly = _meeting(s, "SI/2024/128")
        meetings.flag_invitation_missed(s, assembly, NOW)
        meeting_id = assembly.id
    schmitz = browser().login("schmitz")
    german = _section(text_of(schmitz.get(f"/sitzungen/{meeting_id}").get_data(as_text=True)), "Erinnerungen Fällig")
    kinds = {"Sitzungserinnerung", "Ladungsfrist", "Ladungsfrist versäumt"}
    assert all(kind in german for kind in kinds), german
    assert not KIND_CODES.search(german), german
    english = _section(text_of(schmitz.get(f"/sitzungen/{meeting_id}?lang=en").get_data(as_text=True)),
                       "Reminders")
    assert "Session reminder" in english and "Invitation deadline missed" in english, english
    assert "Sitzungserinnerung" not in english and not KIND_CODES.search(english)


@pytest.mark.sqlite_only
def test_a_members_reminders_say_what_and_how_long_before(demo, browser):  # type: ignore[no-untyped-def]
    becker = browser().login("becker")
    german = _section(text_of(becker.get("/meine-sitzungen").get_data(as_text=True)), "Erinnerungen an mich")
    assert "Sitzungserinnerung (7 Tage vorher)" in german and "Sitzungserinnerung (1 Tag vorher)" in german
    assert not KIND_CODES.search(german), german
    english = text_of(becker.get("/meine-sitzungen?lang=en").get_data(as_text=True))
    assert "Session reminder (7 days before)" in english and "Session reminder (1 day before)" in english
    assert "7 days before" in english and "Tage" not in english


# ----------------------------------------------------------------------------- the auditor

def test_the_auditor_reads_sessions_elements_effects_and_models_by_name(  # type: ignore[no-untyped-def]
        demo, database, browser):
    with database.unit_of_work() as s:
        assembly = _meeting(s, "SI/2024/128")
        # What the scheduler records once a Sitzung's invitations went out: its id, not its number.
        audit.record(s, "system", "Scheduler", "reminders.sent", at=NOW, meeting_id=assembly.id,
                     details={"meeting_id": assembly.id, "kind": "einladung", "count": 4})
        closing = s.exec(select(audit.AuditEvent).where(audit.AuditEvent.action == "workflow.event")
                         .order_by(audit.AuditEvent.seq)).first()
        assert closing is not None and closing.details["event"] == "Tagesordnungsschluss"
    krueger = browser().login("krueger")
    german = text_of(krueger.get("/revision/").get_data(as_text=True))
    assert "4 × Einladung · SI/2024/128" in german
    assert "„Tagesordnungsschluss“ · Wirkung: Tagesordnung geschlossen · SI/2024/131" in german
    assert "Modell „Beratungsfolge“, Version 1" in german and "Modell „Sitzung“, Version 1" in german
    for code in ("Sitzung Nr.", "Element:", "closeAgenda", "einladung", "Modell beratungsfolge", "„sitzung“"):
        assert code not in german, code
    english = text_of(krueger.get("/revision/?lang=en").get_data(as_text=True))
    assert "4 × Invitation · SI/2024/128" in english
    assert "„Tagesordnungsschluss“ · Effect: agenda closed · SI/2024/131" in english
    assert "Model “Beratungsfolge”, version 1" in english and "Wirkung" not in english
    # The export says the same in German (a file for the records, not a page).
    export = krueger.get("/revision/export.csv").get_data(as_text=True)
    assert "4 × Einladung · SI/2024/128" in export and "Wirkung: Tagesordnung geschlossen" in export
    timeline = text_of(krueger.get(f"/revision/vorlagen/{demo.paper_id}?lang=de").get_data(as_text=True))
    assert "Wirkung: Tagesordnung geschlossen · SI/2024/131" in timeline and "Element:" not in timeline


@pytest.mark.sqlite_only
def test_the_diagrams_steps_are_named_as_in_the_model(demo, database, browser):  # type: ignore[no-untyped-def]
    with database.unit_of_work() as s:
        instance = s.exec(select(ProcessInstance).where(ProcessInstance.paper_id == demo.paper_id)).one()
    page = text_of(browser().login("krueger").get(f"/revision/vorgaenge/{instance.id}/diagramm")
                   .get_data(as_text=True))
    steps = _section(page, "Schritte")
    assert "Nächste Beratung aufrufen: erledigt" in steps and "Ergebnis erfassen: aktuell" in steps
    assert "Weitere Beratung?: erledigt" in steps and "Modell Beratungsfolge, Version 1" in page
    ids = [i for i in ("Naechste_Beratung", "Weitere_Beratung", "Beratungsfolge_gestartet", "Ergebnis_pruefen")
           if i in page]
    assert ids == []


def test_a_stopped_vorgang_names_its_vorlage_and_sitzung_by_number(demo, database, browser):  # type: ignore[no-untyped-def]
    with database.unit_of_work() as s:
        paper_case = s.exec(select(ProcessInstance).where(ProcessInstance.paper_id == demo.paper_id)).one()
        assembly = _meeting(s, "SI/2024/128")
        session_case = s.exec(select(ProcessInstance).where(ProcessInstance.meeting_id == assembly.id)).one()
        for case in (paper_case, session_case):
            timers.record_incident(s, case.id, "Skript zu langsam", NOW)
    page = text_of(browser().login("admin").get("/verwaltung/postausgang").get_data(as_text=True))
    assert f"{paper_case.id} (Vorlage 2024/063 )" in page
    assert f"{session_case.id} (Sitzung SI/2024/128 )" in page


# ----------------------------------------------------------------------------- the genitive

@pytest.mark.parametrize(("name", "expected"), [
    ("Ausschuss für (eu)regionale Wirtschaft, Strukturentwicklung und Gesundheit",
     "des Ausschusses für (eu)regionale Wirtschaft, Strukturentwicklung und Gesundheit"),
    ("Verbandsversammlung des Region Aachen Zweckverband", "der Verbandsversammlung des Region Aachen Zweckverband"),
    ("Rat", "des Rates"), ("Rat der Stadt Aachen", "des Rates der Stadt Aachen"), ("Kreistag", "des Kreistages"),
    ("Haupt- und Finanzausschuss", "des Haupt- und Finanzausschusses"),
    ("Ortschaftsrat Durlach", "des Ortschaftsrates Durlach"), ("Gestaltungsbeirat", "des Gestaltungsbeirates"),
    ("Bezirksvertretung Mitte", "der Bezirksvertretung Mitte"), ("Präsidium", "des Präsidiums"),
    ("Arbeitskreis Radverkehr", "des Arbeitskreises Radverkehr"), ("Magistrat", "des Magistrats"),
    # No head noun it knows, or an adjective first: a noun that always fits, the name quoted.
    ("KMK", "des Gremiums „KMK“"), ("Gemeinsamer Ausschuss", "des Gremiums „Gemeinsamer Ausschuss“"),
])
def test_a_gremiums_genitive_is_derived_from_its_head_noun(name: str, expected: str) -> None:
    assert genitive(name) == expected


def _body(message) -> str:  # type: ignore[no-untyped-def]
    return " ".join(message.get_body(preferencelist=("plain",)).get_content().split())


def test_mails_name_the_gremium_in_the_genitive(demo, database, actor, browser, smtp):  # type: ignore[no-untyped-def]
    transport = SmtpTransport(smtp.url, "Sitzungsdienst <sitzungsdienst@example.org>")
    admin = browser().login("admin")
    with database.unit_of_work() as s:
        assembly, committee = _meeting(s, "SI/2024/128"), _meeting(s, "SI/2024/140")
        vv = s.get(Organization, assembly.organization_id)
        awsg = s.get(Organization, committee.organization_id)
        form = {"name": vv.name, "short_name": vv.short_name, "classification": vv.classification}
    # The Verwaltung sees the derived form and may correct it; without its article it is refused.
    page = admin.get(f"/verwaltung/gremien/{vv.id}").get_data(as_text=True)
    assert 'value="der Verbandsversammlung des Region Aachen Zweckverband"' in page
    refused = admin.post(f"/verwaltung/gremien/{vv.id}", {**form, "name_genitive": "Verbandsversammlung"})
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert re.search(r'id="name_genitive-error">Bitte mit Artikel im Genitiv', html)
    assert 'value="Verbandsversammlung"' in html  # what was typed stays
    stored = "der Verbandsversammlung des Zweckverbands Region Aachen"
    assert admin.post(f"/verwaltung/gremien/{vv.id}", {**form, "name_genitive": stored}).status_code == 302
    # Saving the committee with the form as shown stores nothing: its form stays derived.
    assert admin.post(f"/verwaltung/gremien/{awsg.id}", {
        "name": awsg.name, "short_name": awsg.short_name, "classification": awsg.classification,
        "name_genitive": genitive(awsg.name)}).status_code == 302
    with database.unit_of_work() as s:
        assert s.get(Organization, vv.id).name_genitive == stored
        assert s.get(Organization, awsg.id).name_genitive is None

    schmitz, hoffmann = actor("schmitz"), actor("hoffmann")
    with database.unit_of_work() as s:
        sessions.send_invitation(s, schmitz, assembly.id, {}, now=NOW)
    with database.unit_of_work() as s:
        start = committee.start.astimezone(TIMEZONE) + timedelta(days=1)
        sessions.move(s, hoffmann, committee.id, {
            "date": f"{start:%d.%m.%Y}", "start_time": f"{start:%H:%M}", "reason": "Raum belegt"}, now=NOW)
    run_once(database, NOW + timedelta(minutes=1), transport)
    with database.unit_of_work() as s:
        sessions.cancel(s, hoffmann, committee.id, {"reason": "Beschlussunfähig"}, now=NOW)
    run_once(database, NOW + timedelta(minutes=2), transport)
    by_subject = {m["Subject"].split(":")[0]: _body(m) for m in smtp.inbox.to("martina.becker@example.org")}
    assert "hiermit lade ich Sie zur Sitzung der Verbandsversammlung des Zweckverbands Region Aachen ein." \
        in by_subject["Einladung"]
    committee_words = "die Sitzung des Ausschusses für (eu)regionale Wirtschaft, Strukturentwicklung und Gesundheit"
    assert f"{committee_words} wurde verlegt." in by_subject["Sitzung verlegt"]
    assert f"{committee_words} am " in by_subject["Sitzung abgesagt"]
    bodies = list(by_subject.values())
    assert [b for b in bodies if "Sitzung von" in b] == []


def test_the_genitive_column_comes_with_migration_0019(tmp_path, database_url):  # type: ignore[no-untyped-def]
    """Existing Gremien keep no stored form (the derived one applies); the column takes one."""
    with database_at(database_url, tmp_path, "0016") as engine:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO body (id, name, created, modified) "
                              "VALUES (1, 'Zweckverband', :at, :at)"), {"at": NOW})
            conn.execute(text("INSERT INTO organization (id, body_id, name, organization_type, created, "
                              "modified) VALUES (1, 1, 'Kreistag', 'Gremium', :at, :at)"), {"at": NOW})
        upgrade_schema(engine, "0019")
        with Session(engine) as s:
            org = s.get(Organization, 1)
            assert org is not None and org.name_genitive is None and org.genitive == "des Kreistages"
            org.name_genitive = "des Kreistages des Kreises Düren"
            s.add(org)
            s.commit()
            assert s.get(Organization, 1).genitive == "des Kreistages des Kreises Düren"


def test_no_page_says_sitzung_von(demo, database, browser) -> None:  # type: ignore[no-untyped-def]
    """A Beratung planned in another Gremium's Sitzung is refused in words of grammar."""
    with database.unit_of_work() as s:
        assembly = _meeting(s, "SI/2024/128")
        committee = s.get(Organization, _meeting(s, "SI/2024/131").organization_id)
        departments = s.exec(select(Organization).where(Organization.organization_type == "Verwaltungsbereich")).all()
    zierstedt = browser().login("zierstedt")
    response = zierstedt.post("/vorlagen/neu", {
        "reference": "2024/099", "name": "Test", "paper_type": "Standardvorlage",
        "under_direction_of_id": departments[0].id,
        "consultations-0-organization_id": committee.id, "consultations-0-role": "Kenntnisnahme",
        "consultations-0-meeting_id": assembly.id})
    assert response.status_code == 422
    page = text_of(response.get_data(as_text=True))
    assert "Sitzung von" not in page
    assert "keine kommende Sitzung des Ausschusses für (eu)regionale Wirtschaft" in page

