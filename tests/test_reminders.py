"""Members' reminders, invitations, moved and cancelled sessions: rows, outbox, a real SMTP server.

The clock is moved (``run_once(database, moment)``), never waited for.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from icalendar import Calendar
from sqlmodel import col, select

from engine import audit, outbox
from engine.calendar import meetings, reminders
from engine.calendar.reminders import Reminder
from engine.council import Meeting, Organization, Paper, Person
from engine.errors import Conflict, Forbidden, Invalid
from engine.outbox import OutboxMessage
from engine.process import procedures, sessions, timers
from engine.settings import TIMEZONE
from engine.tasks import TASK_READY, HumanTask
from engine.workflow.models import ProcessInstance
from notifications.delivery import SmtpTransport
from notifications.messages import greeting
from notifications.sweep import run_once

from .conftest import NOW

ASSEMBLY_MEMBERS = {"martina.becker@example.org", "elif.yilmaz@example.org", "peter.jansen@example.org",
                    "katarzyna.nowak@example.org"}
COMMITTEE_MEMBERS = {"martina.becker@example.org", "thomas.wagner@example.org", "elif.yilmaz@example.org"}


def _meeting(s, reference: str) -> Meeting:  # type: ignore[no-untyped-def]
    return s.exec(select(Meeting).where(Meeting.reference == reference)).one()  # type: ignore[no-any-return]


def _addresses(messages) -> set[str]:  # type: ignore[no-untyped-def]
    return {m["To"].addresses[0].addr_spec for m in messages}


def _text(message) -> str:  # type: ignore[no-untyped-def]
    return message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[no-any-return]


def _put_seed_on_assembly_agenda(database, actor, demo) -> None:  # type: ignore[no-untyped-def]
    """The committee records its Kenntnisnahme; the assembly's secretary puts 2024/063 on SI/2024/128."""
    for username, data in [("hoffmann", {"ergebnis": "zur_kenntnis_genommen"}),
                           ("schmitz", None)]:
        who = actor(username)
        with database.unit_of_work() as s:
            task = s.exec(select(HumanTask).where(HumanTask.paper_id == demo.paper_id,
                                                  HumanTask.status == TASK_READY)).one()
            version = s.get(ProcessInstance, task.process_instance_id).version
            if data is None:
                data = {"meeting_id": _meeting(s, "SI/2024/128").id, "top_nummer": "3"}
            procedures.complete_task(s, who, task.id, data, version, now=NOW)


def _session_ics(message):  # type: ignore[no-untyped-def]
    """The one VEVENT of a message's .ics attachment."""
    [part] = [p for p in message.iter_attachments() if p.get_content_type() == "text/calendar"]
    [event] = Calendar.from_ical(part.get_content()).walk("VEVENT")
    return event


def test_seed_members_get_their_reminders_at_the_right_moments(demo, database, actor, smtp):  # type: ignore[no-untyped-def]
    transport = SmtpTransport(smtp.url, "Sitzungsdienst <sitzungsdienst@example.org>")
    with database.unit_of_work() as s:
        assembly = _meeting(s, "SI/2024/128")
        later_committee = _meeting(s, "SI/2024/140")
        start, committee_start = assembly.start, later_committee.start
        paper = s.get(Paper, demo.paper_id)
    assert start > NOW

    assert run_once(database, NOW, transport).fired.fired == 0
    week_before = start - timedelta(days=7)
    run_once(database, week_before - timedelta(minutes=1), transport)
    # Only the secretary heard (the Ladungsfrist is near); no member yet. (The committee's
    # secretary hears of the seed's result step, overdue since 25.11.)
    overdue = [m for m in smtp.inbox.messages if m["Subject"].startswith("Überfällig")]
    assert _addresses(overdue) == {"lea.hoffmann@example.org"}
    assert _addresses([m for m in smtp.inbox.messages if m not in overdue]) == {"jonas.schmitz@example.org"}
    smtp.inbox.clear()

    # Before the 7-day reminder: the seed goes on the assembly's agenda, the invitation goes out.
    _put_seed_on_assembly_agenda(database, actor, demo)
    who = actor("schmitz")
    with database.unit_of_work() as s:
        sessions.send_invitation(s, who, assembly.id, {}, now=NOW)
    report = run_once(database, NOW + timedelta(minutes=1), transport)
    assert report.delivered.sent == len(ASSEMBLY_MEMBERS)
    invitations = list(smtp.inbox.messages)
    assert _addresses(invitations) == ASSEMBLY_MEMBERS
    day = start.astimezone(TIMEZONE)
    body = _text(invitations[0])
    assert invitations[0]["Subject"] == f"Einladung: {assembly.name} am {day:%d.%m.%Y}"
    assert f"{day:%d.%m.%Y}, 15:00 Uhr" in body and "Freitag" in body
    assert f"TOP 3  {paper.name} (Vorlage 2024/063)" in body
    assert f"/vorlagen/{paper.id}" in body
    ics = [p for p in invitations[0].iter_attachments() if p.get_content_type() == "text/calendar"]
    event = Calendar.from_ical(ics[0].get_content()).walk("VEVENT")[0]
    assert event.decoded("dtstart") == start
    smtp.inbox.clear()

    # The 7-day reminder, at its moment and only once.
    report = run_once(database, week_before + timedelta(seconds=30), transport)
    assert report.fired.fired == len(ASSEMBLY_MEMBERS)
    assert run_once(database, week_before + timedelta(minutes=5), transport).fired.fired == 0
    assert _addresses(smtp.inbox.messages) == ASSEMBLY_MEMBERS
    becker = smtp.inbox.to("martina.becker@example.org")[0]
    assert becker["Subject"] == f"Erinnerung: VV in 7 Tagen ({day:%d.%m.%Y}, 15:00 Uhr)"
    assert _session_ics(becker).decoded("dtstart") == start  # the session for the calendar
    text = _text(becker)
    assert text.startswith("Sehr geehrte Frau Becker,")
    assert "(7 Tage vorher)" in text and "wird noch bekannt gegeben" in text
    assert "TOP 3  " in text and "2024/063" in text
    assert "/meine-sitzungen" in text
    assert "<table>" in becker.get_body(preferencelist=("html",)).get_content()
    smtp.inbox.clear()

    # The day before: the 1-day reminder; the committee's members get theirs for SI/2024/140.
    run_once(database, start - timedelta(days=1), transport)
    assert _addresses(smtp.inbox.messages) == ASSEMBLY_MEMBERS
    assert all("(1 Tag vorher)" in _text(m) for m in smtp.inbox.messages)
    subjects = {m["Subject"] for m in smtp.inbox.messages}
    assert subjects == {f"Erinnerung: VV morgen ({day:%d.%m.%Y}, 15:00 Uhr)"}  # told apart from the 7-day one
    assert all(_session_ics(m).decoded("dtstart") == start for m in smtp.inbox.messages)
    smtp.inbox.clear()
    run_once(database, committee_start - timedelta(days=7), transport)
    committee_mails = [m for m in smtp.inbox.messages if m["Subject"].startswith("Erinnerung: AWSG")]
    assert _addresses(committee_mails) == COMMITTEE_MEMBERS

    with database.unit_of_work() as s:
        rows = s.exec(select(Reminder).where(Reminder.meeting_id == assembly.id,
                                             Reminder.kind == reminders.KIND_SESSION)).all()
        assert len(rows) == 2 * len(ASSEMBLY_MEMBERS)
        assert {r.status for r in rows} == {reminders.SENT}
        sent = s.exec(select(OutboxMessage).where(OutboxMessage.status == outbox.SENT)).all()
        assert len({m.message_id for m in sent}) == len(sent)


def test_secretary_is_reminded_of_agenda_closing_and_a_missed_ladungsfrist(demo, database, actor, smtp):  # type: ignore[no-untyped-def]
    transport = SmtpTransport(smtp.url, "sitzungsdienst@example.org")
    with database.unit_of_work() as s:
        assembly = _meeting(s, "SI/2024/128")
        from engine.calendar import deadlines

        marks = deadlines.deadlines_for_meeting(s, assembly)
    run_once(database, NOW, transport)
    run_once(database, assembly.start - timedelta(days=2), transport)  # past the Ladungsfrist
    subjects = [m["Subject"] for m in smtp.inbox.to("jonas.schmitz@example.org")]
    assert any(f"Ladungsfrist abgelaufen ({marks.invitation:%d.%m.%Y})" in x for x in subjects), subjects
    with database.unit_of_work() as s:
        assert _meeting(s, "SI/2024/128").invitation_overdue
        actions = [e.action for e in s.exec(select(audit.AuditEvent))]
        assert actions.count("meeting.invitation_overdue") == 1
    # Moved three weeks on, its Ladungsfrist lies ahead again: no longer flagged.
    who = actor("schmitz")
    later = (assembly.start + timedelta(weeks=3)).astimezone(TIMEZONE)
    with database.unit_of_work() as s:
        sessions.move(s, who, assembly.id, {"date": f"{later:%d.%m.%Y}", "start_time": "15:00",
                                            "reason": "Einladung versäumt"}, now=assembly.start - timedelta(days=2))
    run_once(database, assembly.start - timedelta(days=1), transport)
    with database.unit_of_work() as s:
        assert not _meeting(s, "SI/2024/128").invitation_overdue


def test_escalation_of_a_missed_ladungsfrist_survives_planning(demo, database):  # type: ignore[no-untyped-def]
    with database.unit_of_work() as s:
        assembly = _meeting(s, "SI/2024/128")
    late = assembly.start - timedelta(days=2)
    with database.unit_of_work() as s:
        # The session process's boundary timer at the Ladungsfrist fires (with the agenda closing).
        assert timers.fire_due(s, late).instances >= 1
        assert _meeting(s, "SI/2024/128").invitation_overdue
        reminders.plan_meeting(s, _meeting(s, "SI/2024/128"), late)  # e.g. a member joined meanwhile
        escalation = s.exec(select(Reminder).where(Reminder.kind == reminders.KIND_INVITATION_MISSED)).one()
        assert escalation.status == reminders.PENDING and escalation.due_at == late
        assert timers.fire_due(s, late).fired == 0  # flagged once
        assert meetings.flag_invitation_missed(s, _meeting(s, "SI/2024/128"), late) == 0


def test_late_invitation_needs_a_reason_and_is_flagged(demo, database, actor):  # type: ignore[no-untyped-def]
    with database.unit_of_work() as s:
        assembly = _meeting(s, "SI/2024/128")
    late = assembly.start - timedelta(days=3)
    who = actor("schmitz")
    with database.unit_of_work() as s, pytest.raises(Invalid) as refused:
        sessions.send_invitation(s, who, assembly.id, {}, now=late)
    assert "reason" in refused.value.errors
    who = actor("hoffmann")
    with database.unit_of_work() as s, pytest.raises(Forbidden):
        sessions.send_invitation(s, who, assembly.id, {"reason": "x"}, now=late)
    who = actor("schmitz")
    with database.unit_of_work() as s:
        sessions.send_invitation(s, who, assembly.id,
                                 {"reason": "Haushaltsberatung kurzfristig ergänzt"}, now=late)
    with database.unit_of_work() as s:
        m = _meeting(s, "SI/2024/128")
        assert (m.meeting_state, m.late_invitation_reason) == ("eingeladen", "Haushaltsberatung kurzfristig ergänzt")
        [event] = [e for e in s.exec(select(audit.AuditEvent).where(
            audit.AuditEvent.action == "meeting.invitation_sent")) if e.details["meeting_id"] == m.id]
        assert event.details["late"] is True and event.details["reason"]
        with pytest.raises(Conflict):
            sessions.send_invitation(s, who, m.id, {"reason": "noch einmal"}, now=late)


def test_a_moved_session_takes_its_reminders_and_due_dates_along(demo, database, actor, smtp):  # type: ignore[no-untyped-def]
    transport = SmtpTransport(smtp.url, "sitzungsdienst@example.org")
    _put_seed_on_assembly_agenda(database, actor, demo)
    with database.unit_of_work() as s:
        assembly = _meeting(s, "SI/2024/128")
        old_start = assembly.start
        new_start = old_start + timedelta(days=7)
        before = {r.key: r.due_at for r in s.exec(select(Reminder).where(
            Reminder.meeting_id == assembly.id, Reminder.status == reminders.PENDING))}
    who = actor("schmitz")
    with database.unit_of_work() as s, pytest.raises(Invalid) as refused:
        sessions.move(s, who, assembly.id, {"date": f"{new_start.astimezone(TIMEZONE):%d.%m.%Y}",
                                                         "start_time": "15:00"}, now=NOW)
    assert list(refused.value.errors) == ["reason"]
    who = actor("schmitz")
    with database.unit_of_work() as s:
        sessions.move(s, who, assembly.id, {
            "date": f"{new_start.astimezone(TIMEZONE):%d.%m.%Y}", "start_time": "15:00",
            "location": "Sitzungssaal, Dennewartstraße 25, Aachen", "reason": "Terminkollision mit dem Kreistag"},
            now=NOW)
    with database.unit_of_work() as s:
        m = _meeting(s, "SI/2024/128")
        assert (m.start, m.sequence) == (new_start, 1)
        rows = s.exec(select(Reminder).where(Reminder.meeting_id == m.id)).all()
        old = [r for r in rows if r.key in before]
        assert old and {r.status for r in old} == {reminders.CANCELLED}
        planned = [r for r in rows if r.status == reminders.PENDING and r.kind == reminders.KIND_SESSION]
        assert {r.due_at for r in planned} == {new_start - timedelta(days=7), new_start - timedelta(days=1)}
        event = s.exec(select(audit.AuditEvent).where(audit.AuditEvent.action == "meeting.moved")).one()
        assert (event.actor, event.details["reason"]) == ("schmitz", "Terminkollision mit dem Kreistag")
        assert event.details["old"]["start"] == old_start.isoformat()
    run_once(database, NOW + timedelta(minutes=1), transport)
    moved = list(smtp.inbox.messages)
    assert _addresses(moved) == ASSEMBLY_MEMBERS
    assert "Grund: Terminkollision mit dem Kreistag" in _text(moved[0])
    assert "Dennewartstraße 25" in _text(moved[0])
    smtp.inbox.clear()
    # The old date's moments pass without a word; the new ones bring the reminders.
    run_once(database, old_start - timedelta(days=1), transport)
    assert not _addresses(smtp.inbox.messages) & ASSEMBLY_MEMBERS
    run_once(database, new_start - timedelta(days=1), transport)
    reminded = [m for m in smtp.inbox.messages if m["Subject"].startswith("Erinnerung: VV")]
    assert _addresses(reminded) == ASSEMBLY_MEMBERS
    assert all(f"{new_start.astimezone(TIMEZONE):%d.%m.%Y}" in m["Subject"] for m in reminded)
    # The result step that waits for the session is due after its new date.
    from engine.calendar import deadlines

    with database.unit_of_work() as s:
        m = _meeting(s, "SI/2024/128")
        task = s.exec(select(HumanTask).where(HumanTask.paper_id == demo.paper_id,
                                              HumanTask.status == TASK_READY)).one()
        expected = deadlines.result_due(new_start.astimezone(TIMEZONE).date(),
                                        deadlines.rules_for(s, m.organization_id), "NW")
        assert (task.meeting_id, task.due) == (m.id, expected)
        assert task.due > old_start.astimezone(TIMEZONE).date() + timedelta(days=7)


def test_a_cancelled_session_cancels_its_reminders_and_tells_the_members(demo, database, actor, smtp, app):  # type: ignore[no-untyped-def]
    transport = SmtpTransport(smtp.url, "sitzungsdienst@example.org")
    with database.unit_of_work() as s:
        later = _meeting(s, "SI/2024/140")
    who = actor("hoffmann")
    with database.unit_of_work() as s:
        sessions.cancel(s, who, later.id, {"reason": "Keine beratungsreifen Vorlagen"}, now=NOW)
    with database.unit_of_work() as s:
        rows = s.exec(select(Reminder).where(Reminder.meeting_id == later.id)).all()
        assert {r.status for r in rows if r.kind == reminders.KIND_SESSION} == {reminders.CANCELLED}
        with pytest.raises(Conflict):
            sessions.cancel(s, who, later.id, {"reason": "noch einmal"}, now=NOW)
    run_once(database, NOW + timedelta(minutes=1), transport)
    assert _addresses(smtp.inbox.messages) == COMMITTEE_MEMBERS
    assert all(m["Subject"].startswith("Sitzung abgesagt: AWSG") for m in smtp.inbox.messages)
    smtp.inbox.clear()
    run_once(database, later.start - timedelta(days=1), transport)
    # Nothing about the cancelled session (only the seed's overdue steps, to their secretaries).
    assert [m for m in smtp.inbox.messages if not m["Subject"].startswith("Überfällig")] == []

    feed = app.test_client().get(f"/kalender/{later.organization_id}.ics")
    assert feed.status_code == 200 and feed.mimetype == "text/calendar"
    events = {str(e["uid"]): e for e in Calendar.from_ical(feed.data).walk("VEVENT")}
    cancelled = events[f"sitzung-{later.id}@ratsflow.invalid"]
    assert (str(cancelled["status"]), int(cancelled["sequence"])) == ("CANCELLED", 1)


def test_smtp_down_loses_nothing(demo, database, actor, smtp):  # type: ignore[no-untyped-def]
    transport = SmtpTransport(smtp.url, "sitzungsdienst@example.org")
    who = actor("schmitz")
    with database.unit_of_work() as s:
        assembly = _meeting(s, "SI/2024/128")
        sessions.send_invitation(s, who, assembly.id, {}, now=NOW)
    smtp.stop()
    report = run_once(database, NOW, transport)
    assert (report.fired.fired, report.delivered.sent, report.delivered.retried) == (4, 0, 4)
    again = run_once(database, NOW + timedelta(seconds=10), transport)  # still backing off: not tried
    assert again.delivered.retried == 0
    with database.unit_of_work() as s:
        rows = s.exec(select(OutboxMessage)).all()
        assert {(r.status, r.attempts) for r in rows} == {(outbox.PENDING, 1)}
        assert all("SMTP nicht erreichbar" in (r.last_error or "") for r in rows)
    run_once(database, NOW + timedelta(minutes=1), transport)  # down again: second attempt
    smtp.start()
    run_once(database, NOW + timedelta(minutes=5), transport)
    assert _addresses(smtp.inbox.messages) == ASSEMBLY_MEMBERS and len(smtp.inbox.messages) == 4
    with database.unit_of_work() as s:
        assert {(r.status, r.attempts) for r in s.exec(select(OutboxMessage))} == {(outbox.SENT, 3)}


def test_failed_for_good_after_the_last_attempt_and_retried_by_an_admin(demo, database, actor, smtp):  # type: ignore[no-untyped-def]
    transport = SmtpTransport(smtp.url, "sitzungsdienst@example.org")
    who = actor("schmitz")
    with database.unit_of_work() as s:
        sessions.send_invitation(s, who, _meeting(s, "SI/2024/128").id, {}, now=NOW)
    smtp.stop()
    moment = NOW
    for _ in range(outbox.MAX_ATTEMPTS):
        run_once(database, moment, transport)
        moment += outbox.LONGEST_RETRY
    with database.unit_of_work() as s:
        rows = s.exec(select(OutboxMessage)).all()
        assert {(r.status, r.attempts) for r in rows} == {(outbox.FAILED, outbox.MAX_ATTEMPTS)}
        assert outbox.retry(s, rows[0].id, moment) is not None
    smtp.start()
    run_once(database, moment, transport)
    assert len(smtp.inbox.messages) == 1


def test_planning_is_idempotent_and_follows_members(demo, database):  # type: ignore[no-untyped-def]
    with database.unit_of_work() as s:
        assembly = _meeting(s, "SI/2024/128")
        first = reminders.plan_meeting(s, assembly, NOW)
        assert (first.planned, first.moved, first.cancelled) == (0, 0, 0)
        jansen = s.exec(select(Person).where(Person.family_name == "Jansen")).one()
        from engine.council import Membership

        membership = s.exec(select(Membership).where(Membership.person_id == jansen.id,
                                                     Membership.organization_id == assembly.organization_id)).one()
        membership.end_date = NOW.date()
        s.add(membership)
        s.flush()
        left = reminders.plan_meeting(s, assembly, NOW)
        assert left.cancelled == 2  # his 7-day and 1-day reminders
        # The Gremium's other upcoming session (SI/2024/141) follows; a second pass changes nothing.
        assert reminders.plan_organization(s, assembly.organization_id, NOW).cancelled == 2
        again = reminders.plan_organization(s, assembly.organization_id, NOW)
        assert (again.planned, again.moved, again.cancelled) == (0, 0, 0)


def test_preferences_and_greetings(demo, database):  # type: ignore[no-untyped-def]
    assert greeting("Frau", "Martina", "Becker") == "Sehr geehrte Frau Becker,"
    assert greeting("Herr Dr.", "Thomas", "Wagner") == "Sehr geehrter Herr Dr. Wagner,"
    assert greeting(None, "Kim", "Jansen") == "Guten Tag Kim Jansen,"
    assert outbox.backoff(1) == timedelta(seconds=30) and outbox.backoff(30) == timedelta(hours=1)
    with database.unit_of_work() as s:
        becker = s.exec(select(Person).where(Person.family_name == "Becker")).one()
        reminders.set_preferences(s, becker.id, {7 * reminders.DAY: False})
        assembly = _meeting(s, "SI/2024/128")
    report = run_once(database, assembly.start - timedelta(days=7), SmtpTransport("smtp://127.0.0.1:9", "x@y"))
    assert report.fired.reasons["abbestellt"] == 1  # (the past sessions' invitations of the demo drop out)
    assert set(report.fired.reasons) <= {"abbestellt", "Sitzung hat schon begonnen"}
    with database.unit_of_work() as s:
        orgs = s.exec(select(Organization).where(Organization.organization_type == "Gremium")).all()
        assert reminders.member_leads(s, [o.id for o in orgs]) == [7 * reminders.DAY, reminders.DAY]


def test_the_holder_of_an_overdue_task_is_reminded_once(demo, database, actor, smtp):  # type: ignore[no-untyped-def]
    """The seed's result step was due 25.11.2026: nobody holds it, so the committee's
    Sekretariat hears the morning after; once it is claimed, the holder alone (next due date)."""
    transport = SmtpTransport(smtp.url, "sitzungsdienst@example.org")
    run_once(database, NOW, transport)  # 24.11.: nothing overdue yet
    assert not [m for m in smtp.inbox.messages if m["Subject"].startswith("Überfällig")]
    morning = NOW + timedelta(days=2)
    run_once(database, morning, transport)
    overdue = [m for m in smtp.inbox.messages if m["Subject"].startswith("Überfällig")]
    subjects = sorted(m["Subject"] for m in overdue)
    assert subjects == ["Überfällig seit 25.11.2026: Ergebnis erfassen – Vorlage 2024/063",
                        "Überfällig seit 25.11.2026: Niederschrift zur Zeichnung vorlegen – SI/2024/131"]
    assert _addresses(overdue) == {"lea.hoffmann@example.org"}
    body = _text(next(m for m in overdue if "2024/063" in m["Subject"]))
    assert "Niemand hat sie übernommen" in body and "/aufgaben/" in body
    smtp.inbox.clear()
    run_once(database, morning + timedelta(hours=1), transport)  # once per task and due date
    assert not [m for m in smtp.inbox.messages if m["Subject"].startswith("Überfällig")]
    with database.unit_of_work() as s:
        rows = s.exec(select(Reminder).where(Reminder.kind == reminders.KIND_TASK_OVERDUE)).all()
        assert len(rows) == 2 and {r.status for r in rows} == {reminders.SENT}
        # The history says what went out: one event per Sitzung and kind.
        sent = [e.details for e in s.exec(select(audit.AuditEvent).where(
            audit.AuditEvent.action == "reminders.sent")) if e.details["kind"] == reminders.KIND_TASK_OVERDUE]
        assert sum(d["count"] for d in sent) == 2 and sorted(sum((d["reminders"] for d in sent), [])) == \
            sorted(r.id for r in rows)
        # Due again later (its session moved), and that date passed too: reminded once more.
        seed = s.exec(select(HumanTask).where(HumanTask.paper_id == demo.paper_id,
                                              HumanTask.status == TASK_READY)).one()
        seed.due = (morning + timedelta(days=1)).date()
        s.add(seed)
        later = morning + timedelta(days=3)
        reminders.plan_overdue_tasks(s, later)
        assert reminders.plan_overdue_tasks(s, later) == 0  # once
        for_seed = s.exec(select(Reminder).where(Reminder.task_id == seed.id).order_by(col(Reminder.id))).all()
        assert len(for_seed) == 2 and for_seed[-1].note == f"Ergebnis erfassen (fällig am {seed.due:%d.%m.%Y})"


def test_an_unheld_overdue_task_reminds_whom_its_lane_names_else_the_sekretariat(demo, database):  # type: ignore[no-untyped-def]
    """The clerks of a department for a Sachbearbeitung step (a Beschlusskontrolle); for the
    Vorsitz's step, which no grant names (the chair comes from the memberships), the Gremium's
    Sekretariat, who chase it."""
    from engine.council import Account, Grant

    def reminded(lane: str, organization_id: int | None = None) -> list[str]:
        with database.unit_of_work() as s:
            task = s.exec(select(HumanTask).where(HumanTask.paper_id == demo.paper_id,
                                                  HumanTask.status == TASK_READY)).one()
            task.lane, task.due = lane, (NOW - timedelta(days=3)).astimezone(TIMEZONE).date()
            task.organization_id = organization_id or task.organization_id
            s.add(task)
            s.flush()
            reminders.plan_overdue_tasks(s, NOW)
            rows = s.exec(select(Reminder).where(Reminder.kind == reminders.KIND_TASK_OVERDUE,
                                                 Reminder.task_id == task.id)).all()
            names = sorted(s.get(Account, r.account_id).username for r in rows)  # type: ignore[union-attr]
            s.rollback()
            return names

    with database.unit_of_work(write=False) as s:
        department = s.exec(select(Grant.organization_id).join(Account, col(Account.id) == Grant.account_id)
                            .where(Account.username == "zierstedt", Grant.role == "Sachbearbeitung")).first()
    chased = reminded("Vorsitz")
    assert chased == ["hoffmann"]  # the committee's Sekretariat in the seed
    clerks = reminded("Sachbearbeitung", department)
    assert clerks == ["zierstedt"]
