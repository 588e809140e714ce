"""Every Sitzung runs its own process: timers as rows, fired by the scheduler's pass at a moved
clock; invitation through its task; moved and cancelled with the session; incidents."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from pathlib import Path

import pytest
from sqlmodel import col, select

from engine import audit
from engine.calendar import deadlines
from engine.council import Meeting, Organization
from engine.errors import Conflict
from engine.process import procedures, sessions, timers
from engine.settings import TIMEZONE
from engine.tasks import TASK_CANCELLED, TASK_READY, HumanTask
from engine.workflow import runtime
from engine.workflow.models import (
    INSTANCE_CANCELLED,
    INSTANCE_COMPLETED,
    INSTANCE_INCIDENT,
    INSTANCE_RUNNING,
    TIMER_DROPPED,
    TIMER_FIRED,
    TIMER_WAITING,
    ProcessInstance,
    ProcessModel,
    WorkflowTimer,
)
from notifications.delivery import FolderTransport
from notifications.sweep import run_once

from .conftest import NOW

SITZUNG = Path(__file__).resolve().parent.parent / "bpmn" / "sitzung.bpmn"


def _meeting(s, reference: str) -> Meeting:  # type: ignore[no-untyped-def]
    return s.exec(select(Meeting).where(Meeting.reference == reference)).one()  # type: ignore[no-any-return]


def _timers(s, meeting_id: int) -> dict[str, tuple[str, datetime]]:  # type: ignore[no-untyped-def]
    """The session's timer rows by element: (status, due) of the newest row of each."""
    instance = sessions.process_of(s, meeting_id, running=False)
    rows = s.exec(select(WorkflowTimer).where(WorkflowTimer.process_instance_id == instance.id)
                  .order_by(col(WorkflowTimer.id))).all()
    return {r.bpmn_id: (r.status, r.due_at) for r in rows}


def _open(s, meeting_id: int) -> list[str]:  # type: ignore[no-untyped-def]
    instance = sessions.process_of(s, meeting_id, running=False)
    return [t.bpmn_id for t in s.exec(select(HumanTask).where(
        HumanTask.process_instance_id == instance.id, HumanTask.status == TASK_READY))]


def _transport(database):  # type: ignore[no-untyped-def]
    return FolderTransport(database.settings.mail_path, "sitzungsdienst@example.org")


def test_a_planned_session_waits_for_its_agenda_closing_ladungsfrist_and_start(demo, database, actor):  # type: ignore[no-untyped-def]
    who = actor("schmitz")
    with database.unit_of_work() as s:
        org = _meeting(s, "SI/2024/128").organization_id
        meeting = sessions.create_meeting(s, who, {
            "organization_id": org, "name": "Sondersitzung", "reference": "SI/2024/150",
            "date": "15.01.2027", "start_time": "17:00"}, now=NOW)
        meeting_id = meeting.id
        marks = deadlines.deadlines_for_meeting(s, meeting)
        closing = datetime.combine(marks.agenda_closing + timedelta(days=1), time(0), TIMEZONE)
        assert _timers(s, meeting_id) == {"Tagesordnungsschluss": (TIMER_WAITING, closing)}
        assert _open(s, meeting_id) == []

    transport = _transport(database)
    run_once(database, closing - timedelta(seconds=1), transport)
    with database.unit_of_work() as s:
        assert _open(s, meeting_id) == [] and s.get(Meeting, meeting_id).agenda_closed is None
    run_once(database, closing + timedelta(minutes=1), transport)
    ladungsfrist = datetime.combine(marks.invitation + timedelta(days=1), time(0), TIMEZONE)
    with database.unit_of_work() as s:
        assert s.get(Meeting, meeting_id).agenda_closed == closing + timedelta(minutes=1)
        assert _open(s, meeting_id) == ["Einladung_versenden"]
        task = s.exec(select(HumanTask).where(HumanTask.bpmn_id == "Einladung_versenden",
                                              HumanTask.meeting_id == meeting_id)).one()
        assert task.due == marks.invitation and task.paper_id is None and "si/2024/150" in task.search_text
        assert _timers(s, meeting_id) == {"Tagesordnungsschluss": (TIMER_FIRED, closing),
                                          "Ladungsfrist_verstrichen": (TIMER_WAITING, ladungsfrist)}
    # Running the same pass again changes nothing.
    assert run_once(database, closing + timedelta(minutes=1), transport).timers.fired == 0

    who = actor("schmitz")
    with database.unit_of_work() as s:
        sessions.send_invitation(s, who, meeting_id, {}, now=closing + timedelta(hours=9))
    start = datetime(2027, 1, 15, 17, 0, tzinfo=TIMEZONE)
    with database.unit_of_work() as s:
        assert s.get(Meeting, meeting_id).meeting_state == "eingeladen"
        assert _timers(s, meeting_id)["Ladungsfrist_verstrichen"][0] == TIMER_DROPPED
        assert _timers(s, meeting_id)["Sitzungsbeginn"] == (TIMER_WAITING, start)

    run_once(database, start + timedelta(minutes=1), transport)
    with database.unit_of_work() as s:
        assert s.get(Meeting, meeting_id).meeting_state == "durchgeführt"
        assert _open(s, meeting_id) == ["Niederschrift_vorlegen"]
        events = [e.details["event"] for e in s.exec(select(audit.AuditEvent).where(
            audit.AuditEvent.action == "workflow.event").order_by(col(audit.AuditEvent.seq)))
            if e.details.get("meeting_id") == meeting_id]
        assert events == ["Tagesordnungsschluss", "Sitzungsbeginn"]
        assert audit.verify(s).ok


def test_invitation_before_the_agenda_closes_closes_it(demo, database, actor):  # type: ignore[no-untyped-def]
    who = actor("schmitz")
    with database.unit_of_work() as s:
        assembly = _meeting(s, "SI/2024/128")
        assert assembly.agenda_closed is None and _open(s, assembly.id) == []
        sessions.send_invitation(s, who, assembly.id, {}, now=NOW)
    with database.unit_of_work() as s:
        assembly = _meeting(s, "SI/2024/128")
        assert assembly.agenda_closed == NOW and assembly.invited == NOW
        done = s.exec(select(HumanTask).where(HumanTask.meeting_id == assembly.id,
                                              HumanTask.bpmn_id == "Einladung_versenden")).one()
        assert (done.status, done.completed_by) == ("erledigt", "schmitz")
        rows = _timers(s, assembly.id)
        assert rows["Tagesordnungsschluss"][0] == TIMER_FIRED and rows["Sitzungsbeginn"][0] == TIMER_WAITING
        assert rows["Ladungsfrist_verstrichen"][0] == TIMER_DROPPED  # set and left in the same step


def test_a_moved_session_moves_its_timers_and_a_cancelled_one_ends_its_process(demo, database, actor):  # type: ignore[no-untyped-def]
    who = actor("schmitz")
    with database.unit_of_work() as s:
        assembly = _meeting(s, "SI/2024/128")
        meeting_id, old_closing = assembly.id, _timers(s, assembly.id)["Tagesordnungsschluss"][1]
        later = (assembly.start + timedelta(weeks=2)).astimezone(TIMEZONE)
        sessions.move(s, who, meeting_id, {"date": f"{later:%d.%m.%Y}", "start_time": "15:00",
                                           "reason": "Haushaltsberatung"}, now=NOW)
    with database.unit_of_work() as s:
        moved = s.get(Meeting, meeting_id)
        marks = deadlines.deadlines_for_meeting(s, moved)
        new_closing = datetime.combine(marks.agenda_closing + timedelta(days=1), time(0), TIMEZONE)
        assert new_closing > old_closing
        rows = s.exec(select(WorkflowTimer).where(WorkflowTimer.bpmn_id == "Tagesordnungsschluss",
                                                  WorkflowTimer.process_instance_id ==
                                                  sessions.process_of(s, meeting_id).id)).all()
        assert {(r.status, r.due_at) for r in rows} == {(TIMER_DROPPED, old_closing), (TIMER_WAITING, new_closing)}
    # The old moment passes: nothing happens.
    run_once(database, old_closing + timedelta(hours=1), _transport(database))
    with database.unit_of_work() as s:
        assert s.get(Meeting, meeting_id).agenda_closed is None

    who = actor("schmitz")
    with database.unit_of_work() as s:
        sessions.cancel(s, who, meeting_id, {"reason": "Beschlussunfähigkeit absehbar"}, now=NOW)
    with database.unit_of_work() as s:
        instance = sessions.process_of(s, meeting_id, running=False)
        assert instance.status == INSTANCE_CANCELLED
        assert {r.status for r in s.exec(select(WorkflowTimer).where(
            WorkflowTimer.process_instance_id == instance.id))} <= {TIMER_DROPPED, TIMER_FIRED}
        assert s.get(Meeting, meeting_id).meeting_state == "abgesagt"
        assert instance.id not in {r.process_instance_id for r in timers.claim_due(s, NOW + timedelta(days=60))}
        assert timers.due_before(s, NOW + timedelta(days=60))  # other sessions' timers still wait


def test_a_session_moved_away_and_back_waits_again_for_its_first_moments(demo, database, actor):  # type: ignore[no-untyped-def]
    """Moved to another day and back to the first: its timers wait again for the first day's
    moments (the dropped rows are taken up again; before, the move back failed with a
    duplicate key, seen under load in tests/test_under_load.py)."""
    who = actor("schmitz")
    with database.unit_of_work() as s:
        assembly = _meeting(s, "SI/2024/128")
        meeting_id, first = assembly.id, assembly.start.astimezone(TIMEZONE)
        before = _timers(s, meeting_id)
    for day in (first + timedelta(weeks=2), first):
        with database.unit_of_work() as s:
            sessions.move(s, who, meeting_id, {"date": f"{day:%d.%m.%Y}", "start_time": f"{first:%H:%M}",
                                               "reason": "Raum belegt"}, now=NOW)
    with database.unit_of_work() as s:
        assert s.get(Meeting, meeting_id).sequence == 2
        instance = sessions.process_of(s, meeting_id)
        rows = s.exec(select(WorkflowTimer).where(WorkflowTimer.process_instance_id == instance.id,
                                                  WorkflowTimer.status == TIMER_WAITING)).all()
        waiting = {r.bpmn_id: r.due_at for r in rows}
    assert len(rows) == len(waiting)  # one waiting row per timer
    assert waiting == {bpmn_id: due for bpmn_id, (status, due) in before.items() if status == TIMER_WAITING}


def test_the_minutes_wait_for_every_result(demo, database, actor):  # type: ignore[no-untyped-def]
    """SI/2024/131 was held; TOP 5 (2024/063) has no result yet: its minutes cannot be released."""
    with database.unit_of_work() as s:
        committee = _meeting(s, "SI/2024/131")
        task = s.exec(select(HumanTask).where(HumanTask.meeting_id == committee.id,
                                              HumanTask.bpmn_id == "Niederschrift_vorlegen")).one()
        assert procedures.completion_blocked(s, task, NOW) == "Es fehlen noch Ergebnisse der Tagesordnung: TOP 5."
        version = s.get(ProcessInstance, task.process_instance_id).version
        task_id = task.id
    who = actor("hoffmann")
    with database.unit_of_work() as s, pytest.raises(Conflict):
        procedures.complete_task(s, who, task_id, {}, version, now=NOW)
    with database.unit_of_work() as s:
        assert _meeting(s, "SI/2024/131").minutes_released is None


def _variant(tmp_path: Path, old: str, new: str) -> Path:
    text = SITZUNG.read_text()
    assert old in text
    path = tmp_path / "sitzung.bpmn"
    path.write_text(text.replace(old, new))
    (tmp_path / "forms").mkdir(exist_ok=True)
    for form in (SITZUNG.parent / "forms").glob("*.json"):
        (tmp_path / "forms" / form.name).write_text(form.read_text())
    return path


def _renamed(tmp_path: Path, *renames: tuple[str, str]) -> Path:
    """A copy of the session model with every occurrence of each old text replaced."""
    path = _variant(tmp_path, renames[0][0], renames[0][1])
    text = path.read_text()
    for old, new in renames[1:]:
        assert old in text
        text = text.replace(old, new)
    path.write_text(text)
    return path


def test_send_invitation_now_follows_the_declared_roles_not_the_ids(tmp_path, demo, database, actor):  # type: ignore[no-untyped-def]
    """Renamed elements keep "Einladung jetzt versenden" working: Python looks for the roles."""
    path = _renamed(tmp_path, ("Einladung_versenden", "Mitglieder_laden"), ('"Tagesordnungsschluss"', '"TO_zu"'),
                    (">Tagesordnungsschluss<", ">TO_zu<"))
    text = path.read_text()
    assert "Einladung_versenden" not in text and "Tagesordnungsschluss<" not in text
    assert 'id="Tagesordnungsschluss"' not in text
    with database.unit_of_work() as s:
        model, new = procedures.deploy(s, path, "admin")
        assert new and model.version == 2
    who = actor("schmitz")
    with database.unit_of_work() as s:
        org = _meeting(s, "SI/2024/128").organization_id
        meeting_id = sessions.create_meeting(s, who, {
            "organization_id": org, "name": "Sondersitzung", "reference": "SI/2024/151",
            "date": "15.01.2027", "start_time": "17:00"}, now=NOW).id
        assert sessions.process_of(s, meeting_id).model_id == model.id
        assert set(_timers(s, meeting_id)) == {"TO_zu"} and _open(s, meeting_id) == []
    with database.unit_of_work() as s:
        sessions.send_invitation(s, who, meeting_id, {}, now=NOW)
    with database.unit_of_work() as s:
        meeting = s.get(Meeting, meeting_id)
        assert meeting.agenda_closed == NOW and meeting.invited == NOW
        done = s.exec(select(HumanTask).where(HumanTask.meeting_id == meeting_id)).one()
        assert (done.bpmn_id, done.status, done.completed_by) == ("Mitglieder_laden", "erledigt", "schmitz")
        assert _timers(s, meeting_id)["TO_zu"][0] == TIMER_FIRED


ROLE_INVITATION = '<spiffworkflow:property name="role" value="invitation" />'
ROLE_CLOSING = '<spiffworkflow:property name="role" value="agendaClosing" />'
MINUTES_EFFECT = '<spiffworkflow:property name="effect" value="submitMinutes" />'


@pytest.mark.parametrize("old, new, expected", [
    pytest.param(ROLE_INVITATION, "", r"^sitzung.bpmn: kein Element erklärt role='invitation' "
                 r"\(eine Benutzeraufgabe\); ein Modell des Prozesses 'sitzung' braucht es$", id="no-invitation"),
    pytest.param(ROLE_CLOSING, "", r"^sitzung.bpmn: kein Element erklärt role='agendaClosing' "
                 r"\(ein Zeitereignis\)", id="no-agenda-closing"),
    pytest.param(MINUTES_EFFECT, MINUTES_EFFECT + ROLE_INVITATION,
                 r"^sitzung.bpmn: role='invitation' ist mehrfach erklärt \(Einladung_versenden "
                 r"\(Einladung versenden\), Niederschrift_vorlegen \(Niederschrift zur Zeichnung vorlegen\)\)",
                 id="invitation-twice"),
    pytest.param(ROLE_CLOSING, ROLE_INVITATION, r"^sitzung.bpmn, Element Tagesordnungsschluss "
                 r"\(Tagesordnungsschluss\): role='invitation' gehört an eine Benutzeraufgabe$", id="wrong-kind"),
    pytest.param(ROLE_INVITATION, ROLE_INVITATION.replace("invitation", "einladung"),
                 r"role='einladung' ist unbekannt \(bekannt: agendaClosing, implementation, invitation\)", id="unknown-role"),
])
def test_deploy_refuses_a_session_model_without_the_roles_python_relies_on(  # type: ignore[no-untyped-def]
        tmp_path, database, old, new, expected):
    path = _variant(tmp_path, old, new)
    with database.unit_of_work() as s, pytest.raises(runtime.ModelError, match=expected):
        procedures.deploy(s, path, "admin")
    with database.unit_of_work() as s:
        assert s.exec(select(ProcessModel).where(ProcessModel.process_id == "sitzung")).all() == []


def test_deploy_refuses_an_unknown_effect(tmp_path: Path) -> None:
    from engine.process import effects

    path = _variant(tmp_path, 'value="meetingHeld"', 'value="sitzungFeiern"')
    with pytest.raises(runtime.ModelError, match=r"Element Sitzungsbeginn.*effect='sitzungFeiern' ist unbekannt"):
        runtime.parse_model(path, declarable=effects.DECLARABLE)


@pytest.mark.parametrize("expression, reason", [
    ("'x' * 10**10", "Ergebnis zu groß"),
    ("10**10**8", "Ergebnis zu groß"),
    ("termine['ladungsfrist_verstrichen'] if max(x * y for x in range(10**6) for y in range(10**6)) else ''",
     "Zeitlimit"),
    # Froze the whole scheduler before (issue 14): huge or endless arithmetic in one timer expression.
    pytest.param("pow(10, 10**8)", "Ergebnis zu groß", id="pow-builtin"),
    pytest.param("termine['ladungsfrist_verstrichen'] if pow(3, 2**100000 - 1, 2**100000 + 1) else ''",
                 "Zeitlimit", id="long-computation"),
])
def test_a_runaway_timer_expression_stops_its_instance_with_an_incident(  # type: ignore[no-untyped-def]
        tmp_path, demo, database, actor, expression, reason):
    path = _variant(tmp_path, "termine['ladungsfrist_verstrichen']", expression)
    with database.unit_of_work() as s:
        procedures.deploy(s, path, "admin")
    who = actor("schmitz")
    with database.unit_of_work() as s:
        org = _meeting(s, "SI/2024/128").organization_id
        meeting_id = sessions.create_meeting(s, who, {
            "organization_id": org, "name": "Sondersitzung", "date": "15.01.2027", "start_time": "17:00"},
            now=NOW).id
        closing = _timers(s, meeting_id)["Tagesordnungsschluss"][1]
        assembly = _meeting(s, "SI/2024/128")
        assembly_closing = _timers(s, assembly.id)["Tagesordnungsschluss"][1]
    # One pass after both agenda closings: the broken instance stops, the other goes on.
    report = run_once(database, max(closing, assembly_closing) + timedelta(hours=1), _transport(database))
    assert len(report.timers.incidents) == 1 and reason in report.timers.incidents[0]
    with database.unit_of_work() as s:
        broken = sessions.process_of(s, meeting_id, running=False)
        assert broken.status == INSTANCE_INCIDENT
        assert "Ladungsfrist_verstrichen" in broken.incident and reason in broken.incident
        assert s.get(Meeting, meeting_id).agenda_closed is None  # its step was not half-written
        assert _open(s, _meeting(s, "SI/2024/128").id) == ["Einladung_versenden"]  # the other went on
        incident = s.exec(select(audit.AuditEvent).where(audit.AuditEvent.action == "workflow.incident")).one()
        assert incident.process_instance_id == broken.id
    # The next pass leaves it alone (no endless retry); an admin can let it run again.
    assert run_once(database, closing + timedelta(hours=2), _transport(database)).timers.incidents == []
    admin = actor("admin")
    with database.unit_of_work() as s:
        timers.resume(s, admin.username, admin.display_name, broken.id, NOW)
        assert s.get(ProcessInstance, broken.id).status == INSTANCE_RUNNING


def test_the_seed_sessions_processes_after_the_demo(demo, database):  # type: ignore[no-untyped-def]
    with database.unit_of_work() as s:
        states = {}
        for meeting in s.exec(select(Meeting)):
            instance = sessions.process_of(s, meeting.id, running=False)
            assert instance is not None, meeting.reference
            states[meeting.reference] = (meeting.meeting_state, instance.status, _open(s, meeting.id))
        assert states["SI/2024/131"] == ("durchgeführt", INSTANCE_RUNNING, ["Niederschrift_vorlegen"])
        assert states["SI/2024/128"][0] == "terminiert" and states["SI/2024/128"][2] == []
        org = s.get(Organization, _meeting(s, "SI/2024/131").organization_id)
        assert org.short_name == "AWSG"
        assert INSTANCE_COMPLETED not in {v[1] for v in states.values()}
        assert all(t.status != TASK_CANCELLED for t in s.exec(select(HumanTask).where(
            col(HumanTask.paper_id).is_(None))))
