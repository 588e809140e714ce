"""Attendance, quorum, Befangenheit and roll-call votes (issue 19): the engine's verbs and the
result step's check, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import col, select

from engine import attendance
from engine.accounts import Account, load_actor
from engine.audit import AuditEvent
from engine.audit_history import describe
from engine.council import AgendaItem, Consultation, Meeting, Membership, Person
from engine.db import count_statements
from engine.errors import Conflict, Forbidden, Invalid
from engine.process import procedures
from engine.settings import TIMEZONE
from engine.tasks import TASK_READY, HumanTask
from engine.workflow.models import ProcessInstance

from .conftest import NOW


def reading_actor(database):  # type: ignore[no-untyped-def]
    """As conftest's ``actor``, read-only: callable inside a writing unit of work (SQLite's write lock)."""
    def get(username: str):  # type: ignore[no-untyped-def]
        with database.unit_of_work(write=False) as s:
            account = s.exec(select(Account).where(Account.username == username)).one()
            return load_actor(s, account.id)
    return get


@pytest.fixture
def actor(database):  # type: ignore[no-untyped-def]
    return reading_actor(database)


def committee_session(database) -> Meeting:  # type: ignore[no-untyped-def]
    with database.unit_of_work(write=False) as s:
        return s.exec(select(Meeting).where(Meeting.reference == "SI/2024/131")).one()


def person_id(database, family: str) -> int:  # type: ignore[no-untyped-def]
    with database.unit_of_work(write=False) as s:  # read-only: callable inside a writing one
        return s.exec(select(Person.id).where(Person.family_name == family)).one()  # type: ignore[no-any-return]


def with_standin(database) -> int:  # type: ignore[no-untyped-def]
    """Peter Jansen, stand-in of the committee (the demo's committee: Becker, Wagner, Yılmaz)."""
    meeting = committee_session(database)
    jansen = person_id(database, "Jansen")
    with database.unit_of_work() as s:
        s.add(Membership(person_id=jansen, organization_id=meeting.organization_id,
                         role="stellvertretendes Mitglied"))
    return jansen


def decision_on_agenda(database, actor, draft, reference: str, top: str) -> int:  # type: ignore[no-untyped-def]
    """A Vorlage the committee decides (Entscheidung), on SI/2024/131 as TOP ``top``: its
    result step is open. Returns the task id."""
    paper_id = draft(reference, f"Beschluss {reference}")
    meeting = committee_session(database)
    with database.unit_of_work() as s:
        consultation = s.exec(select(Consultation).where(Consultation.paper_id == paper_id)).one()
        consultation.role = "Entscheidung"
        s.add(consultation)
    with database.unit_of_work() as s:
        procedures.start_beratungsfolge(s, actor("zierstedt"), paper_id, now=meeting.start - timedelta(weeks=3))
    with database.unit_of_work() as s:
        task = s.exec(select(HumanTask).where(HumanTask.paper_id == paper_id, HumanTask.status == TASK_READY)).one()
        version = s.get(ProcessInstance, task.process_instance_id).version
        procedures.complete_task(s, actor("hoffmann"), task.id, {"meeting_id": meeting.id, "top_nummer": top},
                                 version, now=meeting.start - timedelta(days=10))
    with database.unit_of_work() as s:
        return s.exec(select(HumanTask.id).where(HumanTask.paper_id == paper_id,  # type: ignore[no-any-return]
                                                 HumanTask.status == TASK_READY)).one()


def item_of(database, number: str) -> int:  # type: ignore[no-untyped-def]
    meeting = committee_session(database)
    with database.unit_of_work(write=False) as s:
        return s.exec(select(AgendaItem.id).where(AgendaItem.meeting_id == meeting.id,  # type: ignore[no-any-return]
                                                  AgendaItem.number == number)).one()


def complete_result(database, actor, task_id: int, data: dict[str, Any]) -> Any:  # type: ignore[no-untyped-def]
    with database.unit_of_work() as s:
        task = s.get(HumanTask, task_id)
        version = s.get(ProcessInstance, task.process_instance_id).version
        return procedures.complete_task(s, actor("hoffmann"), task_id, data, version, now=NOW)


def sheet_form(database, opened: str = "15:00", closed: str = "17:30", **people: str) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """The attendance form: ``Becker="anwesend"``, ``Yilmaz="anwesend 15:40"`` (arrived),
    ``Wagner="anwesend -16:10"`` (left), ``Jansen="anwesend for=Wagner"``."""
    data = {"opened": opened, "closed": closed}
    for family, what in people.items():
        pid = person_id(database, "Yılmaz" if family == "Yilmaz" else family)
        parts = what.split()
        data[f"status-{pid}"] = parts[0]
        for part in parts[1:]:
            if part.startswith("for="):
                data[f"for-{pid}"] = str(person_id(database, "Yılmaz" if part[4:] == "Yilmaz" else part[4:]))
            elif part.startswith("-"):
                data[f"left-{pid}"] = part[1:]
            else:
                data[f"arrived-{pid}"] = part
    return data


def events(database, action: str) -> list[AuditEvent]:  # type: ignore[no-untyped-def]
    with database.unit_of_work() as s:
        return list(s.exec(select(AuditEvent).where(AuditEvent.action == action).order_by(col(AuditEvent.seq))))


def at(meeting: Meeting, clock: str) -> datetime:
    hour, minute = map(int, clock.split(":"))
    return meeting.start.astimezone(TIMEZONE).replace(hour=hour, minute=minute)


# ----------------------------------------------------------------------------- attendance

def test_an_apology_in_advance_shows_on_the_sheet_and_ends_with_the_session_start(database, demo, actor):  # type: ignore[no-untyped-def]
    later = None
    with database.unit_of_work() as s:
        later = s.exec(select(Meeting).where(Meeting.reference == "SI/2024/140")).one()
    with database.unit_of_work() as s:
        attendance.apologise(s, actor("becker"), later.id, "Dienstreise", now=NOW)
    with database.unit_of_work() as s:
        sheet = attendance.read_sheet(s, s.get(Meeting, later.id))
        becker = sheet.line(person_id(database, "Becker"))
    assert becker is not None and becker.status == attendance.EXCUSED and becker.apology_note == "Dienstreise"
    with database.unit_of_work() as s, pytest.raises(Conflict, match="schon am"):
        attendance.apologise(s, actor("becker"), later.id, None, now=NOW)
    with database.unit_of_work() as s, pytest.raises(Conflict, match="begonnen"):
        attendance.apologise(s, actor("becker"), later.id, None, now=later.start + timedelta(minutes=1))
    with database.unit_of_work() as s, pytest.raises(Forbidden):
        attendance.apologise(s, actor("hoffmann"), later.id, None, now=NOW)  # no member of it
    described = [describe(e) for e in events(database, "attendance.apologised")]
    assert described == ["SI/2024/140 · Becker, Martina hat sich entschuldigt · Hinweis: Dienstreise"]
    with database.unit_of_work() as s:
        attendance.apologise(s, actor("becker"), later.id, None, withdraw=True, now=NOW)
    with database.unit_of_work() as s:
        assert attendance.read_sheet(s, s.get(Meeting, later.id)).line(
            person_id(database, "Becker")).status == attendance.ABSENT  # type: ignore[union-attr]


def test_the_secretary_records_attendance_with_a_late_arrival_and_the_quorum_follows(database, demo, actor):  # type: ignore[no-untyped-def]
    jansen = with_standin(database)
    meeting = committee_session(database)
    with database.unit_of_work() as s:
        sheet = attendance.read_sheet(s, s.get(Meeting, meeting.id))
    lines = [(li.name, li.kind, li.voting) for li in sheet.lines]
    assert lines == [
        ("Becker, Martina", "Mitglied", True), ("Wagner, Thomas", "Mitglied", True),
        ("Yılmaz, Elif", "Mitglied", True), ("Jansen, Peter", "Stellvertretung", False)]
    # Excused with an arrival time: present and excused at once is refused.
    wrong = sheet_form(database, Becker="anwesend", Wagner="entschuldigt 15:20", Yilmaz="anwesend",
                       Jansen="abwesend")
    with database.unit_of_work() as s, pytest.raises(Invalid) as refused:
        attendance.record(s, actor("hoffmann"), meeting.id, wrong, now=NOW)
    wagner = person_id(database, "Wagner")
    assert "zugleich entschuldigt" in refused.value.errors[f"status-{wagner}"][0]
    # The stand-in cannot fill a seat whose member is there.
    wrong = sheet_form(database, Becker="anwesend", Wagner="anwesend", Yilmaz="anwesend", Jansen="anwesend for=Wagner")
    with database.unit_of_work() as s, pytest.raises(Invalid) as refused:
        attendance.record(s, actor("hoffmann"), meeting.id, wrong, now=NOW)
    assert "solange dieses Mitglied selbst anwesend ist" in refused.value.errors[f"for-{jansen}"][0]

    data = sheet_form(database, Becker="anwesend", Wagner="entschuldigt", Yilmaz="anwesend 15:40",
                      Jansen="anwesend for=Wagner")
    data["guest-name-0"], data["guest-role-0"] = "Dr. Klaus Meyer", "Verwaltung"
    data["guest-name-1"], data["guest-role-1"] = "Aachener Zeitung", "Presse"
    with database.unit_of_work() as s:
        sheet = attendance.record(s, actor("hoffmann"), meeting.id, data, now=NOW)
        start = sheet.quorum_at(sheet.opened)
        later = sheet.quorum_at(at(meeting, "16:00"))
    assert (start.present, start.seats, start.needed, start.ok) == (2, 3, 2, True)  # Becker, Jansen for Wagner
    assert (later.present, later.ok) == (3, True)
    guests = [g.name for g in sheet.guests]
    assert guests == ["Dr. Klaus Meyer", "Aachener Zeitung"]
    described = describe(events(database, "attendance.recorded")[-1])
    assert "Yılmaz, Elif: – → anwesend 15:40–Ende" in described
    assert "Jansen, Peter: – → anwesend (vertritt Wagner, Thomas)" in described
    assert "Gäste: – → Dr. Klaus Meyer (Verwaltung), Aachener Zeitung (Presse)" in described


def test_attendance_after_the_released_minutes_needs_a_reason(database, demo, actor):  # type: ignore[no-untyped-def]
    meeting = committee_session(database)
    data = sheet_form(database, Becker="anwesend", Wagner="anwesend", Yilmaz="anwesend")
    with database.unit_of_work() as s:
        attendance.record(s, actor("hoffmann"), meeting.id, data, now=NOW)
        s.get(Meeting, meeting.id).minutes_released = NOW
    data = sheet_form(database, Becker="anwesend", Wagner="anwesend -16:00", Yilmaz="anwesend")
    with database.unit_of_work() as s, pytest.raises(Invalid) as refused:
        attendance.record(s, actor("hoffmann"), meeting.id, data, now=NOW)
    assert "nachträglich" in refused.value.errors["reason"][0]
    with database.unit_of_work() as s:
        attendance.record(s, actor("hoffmann"), meeting.id, {**data, "reason": "Hinweis von Herrn Wagner"}, now=NOW)
    assert "Grund: Hinweis von Herrn Wagner" in describe(events(database, "attendance.recorded")[-1])
    with database.unit_of_work() as s, pytest.raises(Forbidden):
        attendance.record(s, actor("schmitz"), meeting.id, data, now=NOW)


# ----------------------------------------------------------------------------- the result step

def test_votes_above_those_present_are_refused_with_the_figures(database, demo, actor, draft):  # type: ignore[no-untyped-def]
    task = decision_on_agenda(database, actor, draft, "2024/201", "6")
    meeting = committee_session(database)
    with database.unit_of_work() as s:
        attendance.record(s, actor("hoffmann"), meeting.id, sheet_form(
            database, Becker="anwesend", Wagner="anwesend -15:30", Yilmaz="anwesend"), now=NOW)
        attendance.record(s, actor("hoffmann"), meeting.id, {**sheet_form(
            database, Becker="anwesend", Wagner="anwesend -15:30", Yilmaz="anwesend"),
            f"called-{item_of(database, '6')}": "16:00"}, now=NOW)
    with pytest.raises(Invalid) as refused:
        complete_result(database, actor, task, {"ergebnis": "beschlossen", "ja": 3, "nein": 0})
    assert refused.value.errors["ja"] == [
        "Ja, Nein und Enthaltungen zusammen (3) sind mehr als die 2 stimmberechtigten Anwesenden bei TOP 6."]
    with pytest.raises(Invalid) as refused:
        complete_result(database, actor, task, {"ergebnis": "beschlossen", "ja": 1, "nein": 1})
    assert "Stimmengleichheit" in refused.value.errors["ergebnis"][0]
    done = complete_result(database, actor, task, {"ergebnis": "beschlossen", "abstimmung": "einstimmig"})
    assert done.task.status == "erledigt"
    with database.unit_of_work() as s:
        item = s.get(AgendaItem, item_of(database, "6"))
        assert (item.votes_yes, item.votes_no, item.votes_abstain, item.vote_mode) == (2, 0, 0, "einstimmig")


def test_without_quorum_a_decision_is_refused_unless_the_second_call_is_recorded(database, demo, actor, draft):  # type: ignore[no-untyped-def]
    task = decision_on_agenda(database, actor, draft, "2024/202", "7")
    meeting = committee_session(database)
    with database.unit_of_work() as s:
        attendance.record(s, actor("hoffmann"), meeting.id, sheet_form(
            database, Becker="anwesend", Wagner="entschuldigt", Yilmaz="abwesend"), now=NOW)
    with pytest.raises(Invalid) as refused:
        complete_result(database, actor, task, {"ergebnis": "beschlossen", "ja": 1})
    assert refused.value.message == "Die Sitzung ist nicht beschlussfähig."
    assert "waren 1 von 3 stimmberechtigten Mitgliedern anwesend" in refused.value.errors["ergebnis"][0]
    assert "mindestens 2 (mehr als die Hälfte, § 49 Abs. 1 GO NRW)" in refused.value.errors["ergebnis"][0]
    with database.unit_of_work() as s, pytest.raises(Invalid):
        attendance.record_repeat_call(s, actor("hoffmann"), item_of(database, "7"), "", now=NOW)
    with database.unit_of_work() as s:
        attendance.record_repeat_call(s, actor("hoffmann"), item_of(database, "7"),
                                      "zurückgestellt in SI/2024/120", now=NOW)
    complete_result(database, actor, task, {"ergebnis": "beschlossen", "ja": 1})
    assert "zurückgestellt in SI/2024/120" in describe(events(database, "agenda_item.repeat_call")[-1])


def test_befangenheit_excludes_from_the_count_and_a_roll_call_takes_each_vote(database, demo, actor, draft):  # type: ignore[no-untyped-def]
    task = decision_on_agenda(database, actor, draft, "2024/203", "8")
    meeting = committee_session(database)
    item = item_of(database, "8")
    becker, wagner, yilmaz = (person_id(database, n) for n in ("Becker", "Wagner", "Yılmaz"))
    with database.unit_of_work() as s:  # the member in advance …
        attendance.declare_bias(s, actor("becker"), item, None, "Vorstand eines Clusters",
                                now=meeting.start - timedelta(days=1))
    with database.unit_of_work() as s, pytest.raises(Conflict, match="begonnen"):
        attendance.declare_bias(s, actor("becker"), item, None, None, withdraw=True, now=NOW)
    with database.unit_of_work() as s:
        attendance.record(s, actor("hoffmann"), meeting.id, sheet_form(
            database, Becker="anwesend", Wagner="anwesend", Yilmaz="anwesend"), now=NOW)
    with database.unit_of_work() as s, pytest.raises(Invalid) as refused:
        attendance.record_roll_call(s, actor("hoffmann"), item, {
            f"vote-{becker}": "ja", f"vote-{wagner}": "ja", f"vote-{yilmaz}": "nein"}, now=NOW)
    assert refused.value.errors[f"vote-{becker}"] == ["Becker, Martina ist bei TOP 8 befangen und stimmt nicht mit ab."]
    with database.unit_of_work() as s:
        state = attendance.record_roll_call(s, actor("hoffmann"), item, {
            f"vote-{wagner}": "ja", f"vote-{yilmaz}": "enthaltung"}, now=NOW)
    assert state.tally == {"ja": 1, "nein": 0, "enthaltung": 1} and state.excluded == ["Becker, Martina"]
    with pytest.raises(Invalid) as refused:
        complete_result(database, actor, task, {"ergebnis": "beschlossen", "abstimmung": "namentlich", "ja": 2})
    assert refused.value.errors["ja"] == ["Die namentliche Abstimmung ergab 1, nicht 2."]
    with pytest.raises(Invalid) as refused:
        complete_result(database, actor, task, {"ergebnis": "beschlossen", "ja": 2, "nein": 0, "enthaltungen": 1})
    assert "wegen Befangenheit ausgeschlossen: Becker, Martina" in refused.value.errors["ja"][0]
    complete_result(database, actor, task, {"ergebnis": "beschlossen", "abstimmung": "namentlich"})
    with database.unit_of_work() as s:
        row = s.get(AgendaItem, item)
        assert (row.votes_yes, row.votes_no, row.votes_abstain) == (1, 0, 1)
    described = describe(events(database, "roll_call.recorded")[-1])
    assert "Wagner, Thomas: Ja" in described and "Yılmaz, Elif: Enthaltung" in described
    declared = events(database, "bias.declared")[-1]
    assert "Becker, Martina befangen (selbst erklärt)" in describe(declared)
    with database.unit_of_work(write=False) as s:  # in that Vorlage's history, not every one of the session
        assert declared.paper_id == s.exec(select(Consultation.paper_id).join(
            AgendaItem, col(AgendaItem.consultation_id) == Consultation.id).where(AgendaItem.id == item)).one()
    with database.unit_of_work() as s, pytest.raises(Conflict, match="schon erfasst"):
        attendance.declare_bias(s, actor("hoffmann"), item, wagner, None, now=NOW)


def test_majority_fills_yes_from_those_present_and_a_shortcut_needs_the_attendance(database, demo, actor, draft):  # type: ignore[no-untyped-def]
    task = decision_on_agenda(database, actor, draft, "2024/204", "9")
    with pytest.raises(Invalid) as refused:
        complete_result(database, actor, task, {"ergebnis": "beschlossen", "abstimmung": "mehrheitlich", "nein": 1})
    assert "bitte zuerst auf der Seite der Sitzung SI/2024/131 die Anwesenheit erfassen" in \
        refused.value.errors["abstimmung"][0]
    meeting = committee_session(database)
    with database.unit_of_work() as s:
        attendance.record(s, actor("hoffmann"), meeting.id, sheet_form(
            database, Becker="anwesend", Wagner="anwesend", Yilmaz="anwesend"), now=NOW)
    complete_result(database, actor, task, {"ergebnis": "beschlossen", "abstimmung": "mehrheitlich", "nein": 1})
    with database.unit_of_work() as s:
        row = s.get(AgendaItem, item_of(database, "9"))
        assert (row.votes_yes, row.votes_no, row.votes_abstain, row.vote_mode) == (2, 1, 0, "mehrheitlich")
    # Attendance that would leave the recorded votes above those present is refused, naming the TOP.
    with database.unit_of_work() as s, pytest.raises(Conflict) as refused:
        attendance.record(s, actor("hoffmann"), meeting.id, sheet_form(
            database, Becker="anwesend", Wagner="entschuldigt", Yilmaz="anwesend"), now=NOW)
    assert "TOP 9: 3 Stimmen erfasst, aber nur 2 stimmberechtigte Anwesende" in refused.value.message
    with database.unit_of_work(write=False) as s:  # nothing of the refused change was written
        wagner = attendance.read_sheet(s, s.get(Meeting, meeting.id)).line(person_id(database, "Wagner"))
        assert wagner is not None and wagner.status == attendance.PRESENT
    assert len(events(database, "attendance.recorded")) == 1


def test_the_check_costs_one_statement_and_none_for_a_kenntnisnahme(database, demo, actor, draft):  # type: ignore[no-untyped-def]
    task = decision_on_agenda(database, actor, draft, "2024/205", "10")
    meeting = committee_session(database)
    with database.unit_of_work() as s:
        attendance.record(s, actor("hoffmann"), meeting.id, sheet_form(
            database, Becker="anwesend", Wagner="anwesend", Yilmaz="anwesend"), now=NOW)
    with database.unit_of_work() as s:
        kept = s.get(Meeting, meeting.id)  # in the identity map, as a task's completion holds it
        held = kept.id
        consultation_id = s.exec(select(AgendaItem.consultation_id).where(AgendaItem.number == "10",
                                                                          AgendaItem.meeting_id == meeting.id)).one()
        with count_statements(database.engine) as seen:
            attendance.check_result(s, held, consultation_id, {"ergebnis": "beschlossen", "ja": 3})
        counted = len(seen)
        with count_statements(database.engine) as seen:
            attendance.check_result(s, held, consultation_id, {"ergebnis": "zur_kenntnis_genommen"})
        assert (counted, len(seen)) == (1, 0)
    with database.unit_of_work() as s:
        assert s.exec(select(func.count()).select_from(attendance.RollCallVote)).one() == 0
    del task


# ----------------------------------------------------------------------------- Sitzungsgeld

def test_the_sitzungsgeld_of_a_month_adds_up_and_its_export_is_audited(database, demo, actor):  # type: ignore[no-untyped-def]
    from engine import allowance

    jansen = with_standin(database)
    meeting = committee_session(database)
    committee = meeting.organization_id
    day = meeting.start.astimezone(TIMEZONE).date()
    with database.unit_of_work() as s, pytest.raises(Forbidden):
        allowance.set_rate(s, actor("hoffmann"), committee, {"amount": "25,00", "valid_from": "01.01.2024"})
    with database.unit_of_work() as s, pytest.raises(Invalid) as refused:
        allowance.set_rate(s, actor("admin"), committee, {"amount": "25,001", "valid_from": "1.1.24x"})
    assert set(refused.value.errors) == {"amount", "valid_from"}
    with database.unit_of_work() as s:
        allowance.set_rate(s, actor("admin"), committee, {"amount": "25,00", "valid_from": "01.01.2024"}, now=NOW)
        # A new rate from the day after the session does not change what the session earned.
        allowance.set_rate(s, actor("admin"), committee, {"amount": "40", "valid_from": f"{day + timedelta(days=1):%d.%m.%Y}"},
                           now=NOW)
        attendance.record(s, actor("hoffmann"), meeting.id, sheet_form(
            database, opened="15:00", closed="17:30", Becker="anwesend", Wagner="anwesend 15:45",
            Yilmaz="entschuldigt", Jansen="anwesend -16:30 for=Yilmaz"), now=NOW)
    with database.unit_of_work() as s:
        text, name = allowance.export(s, actor("hoffmann"), committee, day.replace(day=1), now=NOW)
    assert text.startswith("\ufeffMonat;Name;Gremium;Sitzung;Datum;anwesend von;anwesend bis;Dauer (Minuten);als;")
    rows = [line.split(";") for line in text.lstrip("\ufeff").splitlines()[1:]]
    people = [(r[1], r[5], r[6], r[7], r[8], r[9]) for r in rows]
    assert people == [("Becker, Martina", "15:00", "17:30", "150", "Mitglied", "25,00"),
                      ("Jansen, Peter", "15:00", "16:30", "90", "Stellvertretung", "25,00"),
                      ("Wagner, Thomas", "15:45", "17:30", "105", "Mitglied", "25,00")]
    total = sum(int(r[9].replace(",", "")) for r in rows)
    assert total == 3 * 2500 and name == f"sitzungsgeld-AWSG-{day:%Y-%m}.csv"
    described = describe(events(database, "allowance.exported")[-1])
    assert f"Monat {day:%m.%Y}" in described and "3 Sitzungsteilnahmen, zusammen 75,00 €" in described
    assert "40,00 € je Sitzung ab" in describe(events(database, "allowance.changed")[-1])
    with database.unit_of_work() as s, pytest.raises(Forbidden):
        allowance.export(s, actor("schmitz"), committee, day.replace(day=1), now=NOW)
    del jansen


def test_a_decision_on_the_hot_path_costs_one_statement_more_once_attendance_is_recorded(  # type: ignore[no-untyped-def]
        app, database, demo, actor, draft, browser):
    """Over ``POST /api/v1/tasks/<id>/complete`` (as tests/test_statement_budget.py counts): a
    decision in a Sitzung without recorded attendance costs what it did; with it, one statement
    more (the sheet of its TOP). A Kenntnisnahme costs nothing more either way."""
    first = decision_on_agenda(database, actor, draft, "2024/206", "11")
    second = decision_on_agenda(database, actor, draft, "2024/207", "12")
    meeting = committee_session(database)
    client = browser().login("hoffmann").client
    engine = app.extensions["ratsflow.db"].engine

    def complete(task_id: int) -> int:
        version = client.get(f"/api/v1/tasks/{task_id}").get_json()["version"]
        with count_statements(engine) as seen:
            response = client.post(f"/api/v1/tasks/{task_id}/complete", json={
                "data": {"ergebnis": "beschlossen", "ja": 2, "nein": 0}, "expected_version": version})
        assert response.status_code == 200, response.get_data(as_text=True)
        return len(seen)

    without = complete(first)
    form = sheet_form(database, Becker="anwesend", Wagner="anwesend", Yilmaz="anwesend")
    with database.unit_of_work() as s:
        attendance.record(s, actor("hoffmann"), meeting.id, form, now=NOW)
    with_attendance = complete(second)
    assert with_attendance - without == 1


def test_migration_0022_leaves_existing_sessions_unrecorded_and_takes_attendance(tmp_path, database_url):  # type: ignore[no-untyped-def]
    """A Sitzung and its TOP from before 0022 keep their results, with no attendance recorded
    (their votes stay unchecked); the new tables take lines, bias and votes."""
    from sqlalchemy import text
    from sqlmodel import Session

    from engine.db import upgrade_schema

    from .conftest import database_at

    with database_at(database_url, tmp_path, "0021") as engine:
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO body (id, name, created, modified) VALUES (1, 'Zweckverband', :at, :at)"),
                         {"at": NOW})
            conn.execute(text("INSERT INTO organization (id, body_id, name, organization_type, created, modified) "
                              "VALUES (1, 1, 'Kreistag', 'Gremium', :at, :at)"), {"at": NOW})
            conn.execute(text("INSERT INTO person (id, body_id, family_name, given_name, created, modified) "
                              "VALUES (1, 1, 'Becker', 'Martina', :at, :at)"), {"at": NOW})
            conn.execute(text(
                "INSERT INTO meeting (id, organization_id, name, start, meeting_state, cancelled, sequence, "
                "invitation_overdue, created, modified) VALUES (1, 1, 'Sitzung', :at, 'durchgeführt', false, 0, "
                "false, :at, :at)"), {"at": NOW})
            conn.execute(text(
                "INSERT INTO agenda_item (id, meeting_id, number, name, public, result, votes_yes, result_released, "
                "created, modified) VALUES (1, 1, '1', 'TOP', true, 'beschlossen', 40, false, :at, :at)"), {"at": NOW})
        upgrade_schema(engine, "0022")
        with Session(engine) as s:
            meeting, item = s.get(Meeting, 1), s.get(AgendaItem, 1)
            assert meeting is not None and item is not None
            assert (meeting.opened, meeting.closed, item.called_at, item.repeat_call, item.vote_mode) == (
                None, None, None, None, None)
            assert (item.result, item.votes_yes) == ("beschlossen", 40)
            s.add(attendance.Attendance(meeting_id=1, person_id=1, status=attendance.PRESENT, arrived=NOW))
            s.add(attendance.Attendance(meeting_id=1, kind=attendance.GUEST, status=attendance.PRESENT,
                                        guest_name="Presse"))
            s.add(attendance.BiasDeclaration(agenda_item_id=1, person_id=1, declared_at=NOW, declared_by="x"))
            s.add(attendance.RollCallVote(agenda_item_id=1, person_id=1, vote="ja", recorded=NOW, recorded_by="x"))
            s.commit()
            sheet = attendance.read_sheet(s, meeting)
            lines = [(li.name, li.status) for li in sheet.lines]
            assert lines == [("Becker, Martina", "anwesend"), ("Presse", "anwesend")]
            assert sheet.votes == {1: {1: "ja"}} and list(sheet.bias[1]) == [1]
