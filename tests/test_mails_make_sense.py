"""Mails that make sense (issue 22): a task never due before it arose (due "sofort", why, one
notice); a late 7-day reminder lapses behind the 1-day one; no subject starts with a blank.
A real SMTP server on loopback; the clock is moved, never waited for."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import col, select

from engine.calendar import reminders
from engine.calendar.reminders import Reminder
from engine.council import Meeting
from engine.process import procedures
from engine.settings import TIMEZONE
from engine.tasks import TASK_READY, HumanTask
from engine.workflow.models import ProcessInstance
from notifications.delivery import SmtpTransport
from notifications.sweep import run_once

from .conftest import NOW, text_of

SENDER = "Sitzungsdienst <sitzungsdienst@example.org>"


def _open_task(s, paper_id: int) -> HumanTask:  # type: ignore[no-untyped-def]
    return s.exec(select(HumanTask).where(HumanTask.paper_id == paper_id,  # type: ignore[no-any-return]
                                          HumanTask.status == TASK_READY)).one()


def _take_note(database, actor, demo, at) -> HumanTask:  # type: ignore[no-untyped-def]
    """The committee's Kenntnisnahme of 2024/063 at ``at``: the assembly's agenda step arises."""
    with database.unit_of_work() as s:
        task = _open_task(s, demo.paper_id)
        version = s.get(ProcessInstance, task.process_instance_id).version
    with database.unit_of_work() as s:
        procedures.complete_task(s, actor("hoffmann"), task.id, {"ergebnis": "zur_kenntnis_genommen"},
                                 version, now=at)
    with database.unit_of_work() as s:
        return _open_task(s, demo.paper_id)


def test_a_task_whose_deadline_had_passed_is_due_at_once_with_one_notice(  # type: ignore[no-untyped-def]
        demo, database, actor, browser, smtp):
    # A week before the assembly's SI/2024/128: its Tagesordnungsschluss has passed already.
    with database.unit_of_work() as s:
        assembly = s.exec(select(Meeting).where(Meeting.reference == "SI/2024/128")).one()
        at = assembly.start - timedelta(days=7)
    step = _take_note(database, actor, demo, at)
    today = at.astimezone(TIMEZONE).date()
    assert step.title == "Auf die Tagesordnung setzen"
    assert step.due == today  # not before the day it arose
    assert step.context["sofort"].startswith("Der Tagesordnungsschluss (") and "schon vorbei" in step.context["sofort"]
    page = text_of(browser().login("schmitz").get(f"/aufgaben/{step.id}").get_data(as_text=True))
    assert f"sofort ({today:%d.%m.%Y}; Der Tagesordnungsschluss" in page

    transport = SmtpTransport(smtp.url, SENDER)
    for day in (1, 2, 3):  # the mornings after: one notice, not one a day
        run_once(database, at + timedelta(days=day), transport)
    notices = [m for m in smtp.inbox.messages if "Auf die Tagesordnung setzen" in m["Subject"]]
    subjects = {m["Subject"] for m in notices}
    assert subjects == {f"Sofort fällig seit {today:%d.%m.%Y}: Auf die Tagesordnung setzen – Vorlage 2024/063"}
    assert {m["To"].addresses[0].addr_spec for m in notices} == {"jonas.schmitz@example.org"}
    text = notices[0].get_body(preferencelist=("plain",)).get_content()
    assert f"war sofort fällig, als sie am {today:%d.%m.%Y} entstand (Der Tagesordnungsschluss" in text
    assert not [m for m in smtp.inbox.messages if m["Subject"].startswith("Überfällig")
                and "Auf die Tagesordnung setzen" in m["Subject"]]


def test_a_task_due_in_time_keeps_its_date(demo, database, actor):  # type: ignore[no-untyped-def]
    """Three weeks ahead of the assembly, its Tagesordnungsschluss lies ahead: that is the date."""
    with database.unit_of_work() as s:
        assembly = s.exec(select(Meeting).where(Meeting.reference == "SI/2024/128")).one()
        committee = s.exec(select(Meeting).where(Meeting.reference == "SI/2024/131")).one()
        at = committee.start + timedelta(hours=2)
        assert assembly.start - at > timedelta(days=13)
    step = _take_note(database, actor, demo, at)
    assert step.due is not None and step.due > at.astimezone(TIMEZONE).date()
    assert "sofort" not in step.context


def test_a_7_day_reminder_fired_after_the_1_day_moment_lapses(demo, database, smtp):  # type: ignore[no-untyped-def]
    """The scheduler was down: at its first sweep 20 hours before the session both reminders
    are due; only the 1-day one goes out, the 7-day one lapses with the reason."""
    with database.unit_of_work() as s:
        assembly = s.exec(select(Meeting).where(Meeting.reference == "SI/2024/128")).one()
        start, meeting_id = assembly.start, assembly.id
    transport = SmtpTransport(smtp.url, SENDER)
    run_once(database, start - timedelta(hours=20), transport)
    day = start.astimezone(TIMEZONE)
    reminded = [m for m in smtp.inbox.messages if m["Subject"].startswith("Erinnerung: VV")]
    reminded_subjects = {m["Subject"] for m in reminded}
    assert reminded_subjects == {f"Erinnerung: VV morgen ({day:%d.%m.%Y}, 15:00 Uhr)"}
    with database.unit_of_work() as s:
        rows = s.exec(select(Reminder).where(Reminder.meeting_id == meeting_id,
                                             Reminder.kind == reminders.KIND_SESSION)).all()
        week = [r for r in rows if r.lead_minutes == 7 * 24 * 60]
        assert week and {(r.status, r.note) for r in week} == {
            (reminders.SKIPPED, "überholt von der Erinnerung 1 Tag vorher")}
        assert {r.status for r in rows if r.lead_minutes == 24 * 60} == {reminders.SENT}


def test_no_subject_starts_with_a_blank(demo, database, actor, smtp):  # type: ignore[no-untyped-def]
    """Every message of the demo's weeks, as the receiving side parses it."""
    _take_note(database, actor, demo, NOW)
    transport = SmtpTransport(smtp.url, SENDER)
    for day in range(0, 30):
        run_once(database, NOW + timedelta(days=day), transport)
    subjects = [str(m["Subject"]) for m in smtp.inbox.messages]
    assert len(subjects) > 20
    blank = [s for s in subjects if not s or s[0].isspace() or "  " in s]
    assert blank == []
    with database.unit_of_work() as s:
        kinds = set(s.exec(select(Reminder.kind).where(col(Reminder.status) == reminders.SENT)))
    assert {reminders.KIND_SESSION, reminders.KIND_TASK_OVERDUE} <= kinds
