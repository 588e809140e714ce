"""The Niederschrift as a signed document (issue 19, point 4), through HTTP on SQLite and
PostgreSQL: drafted from the session's records, edited by the Sekretariat, signed by the
Schriftführung and the Vorsitz (returned once with a remark), released as two PDF/UA files,
frozen, corrected only as a new version with a reason."""

from __future__ import annotations

import io
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from pypdf import PdfReader
from sqlmodel import col, select

from engine import minutes
from engine.audit import AuditEvent
from engine.audit_history import describe
from engine.council import AgendaItem, Meeting, Person
from engine.settings import TIMEZONE

from .conftest import text_of
from .test_seed_scenario import _complete, _task_link, _version

SECRET_TOP = "Grundstücksangelegenheit Hauptstraße 12"


def _committee(database) -> Meeting:  # type: ignore[no-untyped-def]
    with database.unit_of_work(write=False) as s:
        return s.exec(select(Meeting).where(Meeting.reference == "SI/2024/131")).one()  # type: ignore[no-any-return]


def _closed_top(database, meeting_id: int) -> int:  # type: ignore[no-untyped-def]
    """A non-public TOP with its result (a Grundstück: the public learns nothing of it)."""
    with database.unit_of_work() as s:
        item = AgendaItem(meeting_id=meeting_id, number="6", name=SECRET_TOP, public=False,
                          result="beschlossen", resolution_text="Dem Verkauf wird zugestimmt.",
                          votes_yes=1, votes_no=1, votes_abstain=0, vote_mode="gezaehlt")
        s.add(item)
        s.flush()
        assert item.id is not None
        return item.id


def _people(database) -> dict[str, int]:  # type: ignore[no-untyped-def]
    with database.unit_of_work(write=False) as s:
        return {p.family_name: p.id for p in s.exec(select(Person))}


def _rows(database, meeting_id: int) -> list[minutes.Minutes]:  # type: ignore[no-untyped-def]
    with database.unit_of_work(write=False) as s:
        return minutes.versions(s, meeting_id)


def _text(pdf: bytes) -> str:
    return " ".join((page.extract_text() or "") for page in PdfReader(io.BytesIO(pdf)).pages)


def test_minutes_drafted_returned_once_signed_by_both_released_and_corrected(  # type: ignore[no-untyped-def]
        demo, database, browser):
    meeting = _committee(database)
    assert meeting.id is not None
    secret = _closed_top(database, meeting.id)
    secretary = browser().login("hoffmann")
    people = _people(database)
    recorded = secretary.post(f"/sitzungen/{meeting.id}/anwesenheit", {
        "opened": "15:00", "closed": "17:10", f"status-{people['Becker']}": "anwesend",
        f"status-{people['Wagner']}": "anwesend", f"arrived-{people['Wagner']}": "15:35",
        f"status-{people['Yılmaz']}": "entschuldigt", "guest-name-0": "Aachener Zeitung",
        "guest-role-0": "Presse", f"called-{secret}": "16:00"})
    assert recorded.status_code == 302, text_of(recorded.get_data(as_text=True))
    _complete(secretary, "Ergebnis erfassen", {"ergebnis": "zur_kenntnis_genommen"})

    # The draft, from the records: attendance with the late arrival and the stand-in, the results.
    page = secretary.get(f"/sitzungen/{meeting.id}")
    assert "Niederschrift speichern" in page.get_data(as_text=True)
    draft = secretary.get(f"/sitzungen/{meeting.id}/niederschrift-entwurf.pdf")
    assert draft.status_code == 200 and draft.mimetype == "application/pdf"
    drafted = _text(draft.data)
    assert "Wagner, Thomas, ab 15:35 Uhr" in drafted and "Aachener Zeitung (Presse)" in drafted
    assert "Entschuldigt Yılmaz, Elif" in " ".join(drafted.split())
    assert SECRET_TOP not in drafted  # the public part only
    closed_draft = _text(secretary.get(
        f"/sitzungen/{meeting.id}/niederschrift-entwurf.pdf?teil=nichtoeffentlich").data)
    assert SECRET_TOP in closed_draft and "Stimmen gezählt: Ja 1, Nein 1, Enthaltungen 0" in closed_draft

    # Bad input: a remark for a TOP of another session is refused whole, nothing is written.
    refused = secretary.post(f"/sitzungen/{meeting.id}/niederschrift",
                             {"opening": "Die Vorsitzende eröffnet.", "remark-999999": "x"})
    assert refused.status_code == 422
    assert "Diesen Tagesordnungspunkt gibt es in der Sitzung nicht." in text_of(refused.get_data(as_text=True))
    assert _rows(database, meeting.id) == []
    saved = secretary.post(f"/sitzungen/{meeting.id}/niederschrift",
                           {"opening": "Die Vorsitzende eröffnet die Sitzung um 15:00 Uhr.",
                            f"remark-{secret}": "Die Beratung erfolgte ohne Gäste.", "closing": "Ende."})
    assert saved.status_code == 302

    _complete(secretary, "Niederschrift zur Zeichnung vorlegen", {})
    frozen_for_signing = secretary.post(f"/sitzungen/{meeting.id}/niederschrift", {"opening": "anders"})
    assert frozen_for_signing.status_code == 409
    assert "liegt zur Zeichnung vor" in text_of(frozen_for_signing.get_data(as_text=True))
    _complete(secretary, "Niederschrift zeichnen (Schriftführung)", {"entscheidung": "zeichnen"})

    # A member who does not chair the Gremium cannot sign for the Vorsitz.
    chair = browser().login("becker")
    url = _task_link(chair.get("/aufgaben/").get_data(as_text=True), "Niederschrift zeichnen (Vorsitz)")
    assert browser().login("hoffmann").get(url).status_code == 403
    # Returning without saying what to change is refused; with a remark it goes back to drafting.
    page = chair.get(url).get_data(as_text=True)
    no_remark = chair.post(url, {"entscheidung": "zurueckgeben", "version": _version(page)})
    assert no_remark.status_code == 422
    assert "Bitte angeben, was an der Niederschrift zu ändern ist." in text_of(no_remark.get_data(as_text=True))
    _complete(chair, "Niederschrift zeichnen (Vorsitz)",
              {"entscheidung": "zurueckgeben", "anmerkung": "Bitte die Uhrzeit des Schlusses ergänzen."})
    [returned] = _rows(database, meeting.id)
    assert (returned.state, returned.secretary_signed_at) == (minutes.DRAFT, None)
    shown = text_of(secretary.get(f"/sitzungen/{meeting.id}").get_data(as_text=True))
    assert "Zurückgegeben von Martina Becker (Vorsitz): Bitte die Uhrzeit des Schlusses ergänzen." in shown

    assert secretary.post(f"/sitzungen/{meeting.id}/niederschrift",
                          {"opening": "Die Vorsitzende eröffnet die Sitzung um 15:00 Uhr.",
                           f"remark-{secret}": "Die Beratung erfolgte ohne Gäste.",
                           "closing": "Die Vorsitzende schließt die Sitzung um 17:10 Uhr."}).status_code == 302
    _complete(secretary, "Niederschrift zur Zeichnung vorlegen", {})
    _complete(secretary, "Niederschrift zeichnen (Schriftführung)", {"entscheidung": "zeichnen"})
    _complete(chair, "Niederschrift zeichnen (Vorsitz)", {"entscheidung": "zeichnen"})

    [released] = _rows(database, meeting.id)
    assert released.state == minutes.RELEASED and released.released_at is not None
    assert (released.secretary_signed_by, released.chair_signed_by) == ("Lea Hoffmann", "Martina Becker")

    # The public part: for everyone, PDF/UA-1 (tagged, German, titled), without the closed TOP.
    anonymous = browser()
    public = anonymous.get(f"/sitzungen/{meeting.id}/niederschrift.pdf")
    assert public.status_code == 200 and public.mimetype == "application/pdf"
    reader = PdfReader(io.BytesIO(public.data))
    root = reader.trailer["/Root"]
    assert root["/Lang"] == "de" and root["/MarkInfo"]["/Marked"] and "/StructTreeRoot" in root
    assert root["/ViewerPreferences"]["/DisplayDocTitle"]
    day = f"{meeting.start.astimezone(TIMEZONE):%d.%m.%Y}"
    assert reader.metadata.title == f"Niederschrift SI/2024/131 vom {day} (öffentlicher Teil)"
    assert b"pdfuaid:part" in root["/Metadata"].get_data()
    text = _text(public.data)
    assert "Die Vorsitzende schließt die Sitzung um 17:10 Uhr." in text and SECRET_TOP not in text
    assert "Vorsitz: Martina Becker, gezeichnet am" in text
    assert "Schriftführung: Lea Hoffmann, gezeichnet am" in text
    # On the public session page, linked.
    assert f'href="/sitzungen/{meeting.id}/niederschrift.pdf"' in anonymous.get(
        f"/sitzungen/{meeting.id}").get_data(as_text=True)
    # In OParl: the Meeting's resultsProtocol, a File at its own URL, its accessUrl the public PDF.
    listed = anonymous.get(f"/oparl/v1.1/meeting/{meeting.id}").get_json()
    protocol = listed["resultsProtocol"]
    assert protocol["type"] == "https://schema.oparl.org/1.1/File" and protocol["mimeType"] == "application/pdf"
    assert protocol["accessUrl"].endswith(f"/sitzungen/{meeting.id}/niederschrift.pdf")
    assert protocol["size"] == len(public.data)
    own = anonymous.get(urlsplit(protocol["id"]).path).get_json()
    assert own == protocol
    assert anonymous.get(urlsplit(protocol["accessUrl"]).path).data == public.data
    # The non-public part: members of the Gremium and staff only.
    closed_url = f"/sitzungen/{meeting.id}/niederschrift-nichtoeffentlich.pdf"
    assert anonymous.get(closed_url).status_code == 302  # to the login
    assert browser().login("schmitz").get(closed_url).status_code == 403  # another Gremium's Sekretariat
    closed = chair.get(closed_url)
    assert closed.status_code == 200 and SECRET_TOP in _text(closed.data)
    assert "Die Beratung erfolgte ohne Gäste." in _text(closed.data)

    # Frozen: a change needs a reason; with one it is a new version, audited.
    no_reason = secretary.post(f"/sitzungen/{meeting.id}/niederschrift", {"opening": "Berichtigt."})
    assert no_reason.status_code == 422
    assert "bitte begründen, warum sie berichtigt wird" in text_of(no_reason.get_data(as_text=True))
    versions = [r.version for r in _rows(database, meeting.id)]
    assert versions == [1]
    corrected = secretary.post(f"/sitzungen/{meeting.id}/niederschrift", {
        "opening": "Die Vorsitzende eröffnet die Sitzung um 15:02 Uhr.", "closing": "Ende 17:10 Uhr.",
        "reason": "Uhrzeit der Eröffnung berichtigt"})
    assert corrected.status_code == 302
    states = [(r.version, r.state) for r in _rows(database, meeting.id)]
    assert states == [(2, minutes.RELEASED), (1, minutes.REPLACED)]
    text = _text(anonymous.get(f"/sitzungen/{meeting.id}/niederschrift.pdf").data)
    assert "Berichtigte Fassung (Version 2): Uhrzeit der Eröffnung berichtigt" in text and "15:02" in text
    with database.unit_of_work(write=False) as s:
        [event] = s.exec(select(AuditEvent).where(AuditEvent.action == "minutes.corrected")).all()
        described = describe(event)
        completions = [e.details["task"] for e in s.exec(select(AuditEvent).where(
            AuditEvent.action == "task.completed", AuditEvent.meeting_id == meeting.id)
            .order_by(col(AuditEvent.seq)))]
    assert "Version 2" in described and "Grund: Uhrzeit der Eröffnung berichtigt" in described
    assert completions[-6:] == ["Niederschrift_vorlegen", "Niederschrift_zeichnen_Schriftfuehrung",
                                "Niederschrift_zeichnen_Vorsitz"] * 2
    corrected_protocol = anonymous.get(f"/oparl/v1.1/meeting/{meeting.id}").get_json()["resultsProtocol"]
    assert corrected_protocol["fileName"].endswith("-v2.pdf")
    assert re.search(r"Version 2: freigegeben", text_of(secretary.get(f"/sitzungen/{meeting.id}")
                                                        .get_data(as_text=True)))


def test_migration_0025_keeps_released_minutes_and_stores_versions(tmp_path, database_url):  # type: ignore[no-untyped-def]
    """A Sitzung released before 0025 keeps its release (no document: it was a button then);
    the new table takes versions, one per (Sitzung, version), with the PDF's bytes."""
    from datetime import timedelta

    import sqlalchemy
    from sqlalchemy import text
    from sqlmodel import Session

    from engine.db import upgrade_schema

    from .conftest import NOW, database_at

    with database_at(database_url, tmp_path, "0024") as engine:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO body (id, name, created, modified) VALUES (1, 'Zweckverband', :at, :at)"),
                         {"at": NOW})
            conn.execute(text("INSERT INTO organization (id, body_id, name, organization_type, created, modified) "
                              "VALUES (1, 1, 'Kreistag', 'Gremium', :at, :at)"), {"at": NOW})
            conn.execute(text(
                "INSERT INTO meeting (id, organization_id, name, start, meeting_state, cancelled, sequence, "
                "invitation_overdue, minutes_released, created, modified) VALUES (1, 1, 'Sitzung', :at, "
                "'durchgeführt', false, 0, false, :at, :at, :at)"), {"at": NOW})
        upgrade_schema(engine, "0025")
        with Session(engine) as s:
            meeting = s.get(Meeting, 1)
            assert meeting is not None and meeting.minutes_released == NOW
            assert minutes.released(s, 1) is None and minutes.versions(s, 1) == []
            s.add(minutes.Minutes(meeting_id=1, state=minutes.RELEASED, remarks={"1": "Anmerkung"},
                                  public_pdf=b"%PDF-1.7 \x00\xff", released_at=NOW, created=NOW,
                                  created_by="hoffmann", modified=NOW))
            s.commit()
            found = minutes.released(s, 1)
            assert found is not None and found.public_pdf == b"%PDF-1.7 \x00\xff" and found.remarks == {"1": "Anmerkung"}
            s.add(minutes.Minutes(meeting_id=1, version=1, created=NOW + timedelta(days=1), created_by="x",
                                  modified=NOW))
            try:
                s.commit()
                twice = True
            except sqlalchemy.exc.IntegrityError:
                s.rollback()
                twice = False
            assert not twice  # one row per version of a Sitzung


@pytest.mark.parametrize("moved", [False, True], ids=["stays", "refused-onto-the-new-version"])
def test_a_session_on_the_model_before_the_signatures_releases_its_draft_or_moves_on(  # type: ignore[no-untyped-def]
        tmp_path, demo, database, actor, moved):
    """A Sitzung whose process began on the model version with one step "Niederschrift
    freigeben": that step releases the secretary's draft (rendered, frozen). Moved onto the new
    version while it waits there, SpiffWorkflow takes the step for the one in its place
    ("vorlegen"): the signatures follow as in a new Sitzung."""
    from datetime import datetime, timedelta

    from engine.errors import Conflict
    from engine.process import procedures, sessions
    from engine.tasks import TASK_READY, HumanTask
    from engine.workflow.models import ProcessInstance
    from notifications.delivery import FolderTransport
    from notifications.sweep import run_once

    from .conftest import NOW

    old = tmp_path / "sitzung.bpmn"
    old.write_text((Path(__file__).parent / "models" / "sitzung-vor-issue19-punkt4.bpmn").read_text())
    (tmp_path / "forms").mkdir()
    for form in (Path(__file__).parent.parent / "bpmn" / "forms").glob("*.json"):
        (tmp_path / "forms" / form.name).write_text(form.read_text())
    with database.unit_of_work() as s:
        model, new = procedures.deploy(s, old, "admin")
        assert new and model.version == 2
    schmitz, admin = actor("schmitz"), actor("admin")
    with database.unit_of_work() as s:
        org = s.exec(select(Meeting).where(Meeting.reference == "SI/2024/128")).one().organization_id
        meeting_id = sessions.create_meeting(s, schmitz, {
            "organization_id": org, "name": "Sondersitzung", "reference": "SI/2024/152",
            "date": "15.01.2027", "start_time": "17:00"}, now=NOW).id
    with database.unit_of_work() as s:
        sessions.send_invitation(s, schmitz, meeting_id, {}, now=NOW)
    start = datetime(2027, 1, 15, 17, 0, tzinfo=TIMEZONE)
    run_once(database, start + timedelta(minutes=1),
             FolderTransport(database.settings.mail_path, "sitzungsdienst@example.org"))

    with database.unit_of_work(write=False) as s:
        instance_id = sessions.process_of(s, meeting_id).id

    def open_task() -> tuple[HumanTask, int]:
        with database.unit_of_work(write=False) as s:
            task = s.exec(select(HumanTask).where(HumanTask.process_instance_id == instance_id,
                                                  HumanTask.status == TASK_READY)).one()
            return task, s.get(ProcessInstance, task.process_instance_id).version

    with database.unit_of_work() as s:
        minutes.save(s, schmitz, s.get(Meeting, meeting_id),
                     {"opening": "Eröffnet um 17:00 Uhr.", "closing": "", "remarks": {}}, start + timedelta(hours=3))
    task, version = open_task()
    assert task.bpmn_id == "Niederschrift_freigeben"
    later = start + timedelta(days=1)
    if moved:
        with database.unit_of_work(write=False) as s:
            preview = procedures.migration_preview(s, task.process_instance_id, 1, now=later)
        assert not preview.safe  # the preview says what the move would say
        assert preview.problems == ["der offene Schritt „Niederschrift freigeben“ hätte dort keine Aufgabe mehr"]
        with database.unit_of_work() as s, pytest.raises(Conflict) as refused:
            procedures.migrate_instance(s, admin, task.process_instance_id, 1, version, now=later)
        assert "der offene Schritt „Niederschrift freigeben“ hätte dort keine Aufgabe mehr" in str(refused.value)
        assert open_task() == (task, version)  # nothing written
    steps = [("Niederschrift_freigeben", schmitz, {})]
    for bpmn_id, who, data in steps:
        task, version = open_task()
        assert task.bpmn_id == bpmn_id
        with database.unit_of_work() as s:
            procedures.complete_task(s, who, task.id, data, version, now=later)
    with database.unit_of_work(write=False) as s:
        [row] = minutes.versions(s, meeting_id)
        meeting = s.get(Meeting, meeting_id)
        assert row.state == minutes.RELEASED and meeting.minutes_released == later
        assert "Eröffnet um 17:00 Uhr." in _text(row.public_pdf or b"") and row.nonpublic_pdf is None
        assert row.chair_signed_by is None
