"""One pass of the scheduler: fire due BPMN timers, fire due reminders, send the outbox.

``fire_due`` claims due reminder rows in batches (``engine.calendar.reminders.claim_due``); each
batch is one unit of work that renders every message into the outbox and marks its row, so
a reminder is either still pending or fired with exactly one outbox row. ``run_once`` is
what ``ratsflow scheduler --once [--now T]`` and every sweep of the scheduler process do.

Rendering ahead: a sweep also takes the reminders due within :data:`LOOKAHEAD` and renders
them now, the message encoded to its bytes (``OutboxMessage.raw``) and waiting in the outbox
for its moment (``next_attempt_at = due_at``; the reminder ``vorbereitet``). At the moment
the dispatchers only send bytes; the sweep after it marks those reminders ``versandt``
(:func:`finish_prepared`). A change to what such a message says withdraws it
(``engine.calendar.reminders.withdraw``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import case, update
from sqlmodel import Session, col, select

from engine import audit, outbox
from engine.calendar import deadlines, meetings, nachtrag, reminders
from engine.calendar.reminders import Reminder
from engine.council import Account, Meeting, Organization, Person
from engine.db import Database
from engine.process import timers
from engine.settings import TIMEZONE, Settings
from engine.tasks import TASK_READY, HumanTask
from engine.types import table_of

from . import calendar, messages
from .delivery import DispatchReport, Producing, Transport, dispatch, prebuild, transport_for

log = logging.getLogger(__name__)

#: Reminders due this soon are rendered into the outbox ahead of their moment. Long enough
#: for a sweep (every few seconds) to render thousands before they are due; short, because a
#: change within it means rendering again.
LOOKAHEAD = timedelta(minutes=5)

#: Messages that carry the Sitzung as an .ics attachment (the calendar entry it belongs in; a
#: cancellation's says ``STATUS:CANCELLED`` with the raised SEQUENCE, so calendars remove it).
_WITH_CALENDAR = {reminders.KIND_INVITATION, reminders.KIND_MOVED, reminders.KIND_SESSION,
                  reminders.KIND_CANCELLED}
#: Kinds that make no sense once the session has begun (a late sweep drops them).
_BEFORE_SESSION = {reminders.KIND_SESSION, reminders.KIND_AGENDA_CLOSING, reminders.KIND_INVITATION_DUE,
                   reminders.KIND_INVITATION_MISSED,
                   reminders.KIND_INVITATION, reminders.KIND_MOVED, reminders.KIND_NACHTRAG}


@dataclass
class FireReport:
    fired: int = 0
    #: Rendered ahead, waiting in the outbox for their moment.
    prepared: int = 0
    skipped: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


@dataclass
class _MeetingFacts:
    meeting: Meeting
    organization: Organization
    agenda: list[meetings.AgendaEntry]
    deadlines: deadlines.MeetingDeadlines
    _ics: str | None = None
    _leads: set[int] | None = None

    def session_leads(self, session: Session) -> set[int]:
        """How long before the Sitzung its session reminders go (minutes), read when a batch
        fires one of them (one statement per Sitzung and batch)."""
        if self._leads is None:
            self._leads = {lead for lead in session.exec(
                select(Reminder.lead_minutes).where(
                    Reminder.meeting_id == self.meeting.id, Reminder.kind == reminders.KIND_SESSION,
                    Reminder.status != reminders.CANCELLED).distinct()) if lead}
        return self._leads

    def ics(self, settings: Settings) -> str:
        """The session as an .ics attachment, built when a message of the batch needs it."""
        if self._ics is None:
            self._ics = calendar.single(self.meeting, self.organization, settings.base_url,
                                        settings.mail_from, settings.mail_domain, self.agenda)
        return self._ics


class _Firing:
    """One batch: what it needs of each Sitzung, recipient and preference is read once."""

    def __init__(self, session: Session, settings: Settings, now: datetime, rows: list[Reminder]) -> None:
        self.session, self.settings, self.now = session, settings, now
        self._facts: dict[int, _MeetingFacts] = {}
        self.queued: list[tuple[Reminder, outbox.OutboxMessage]] = []
        account_ids = {r.account_id for r in rows if r.account_id is not None}
        self.accounts = {a.id: a for a in session.exec(
            select(Account).where(col(Account.id).in_(account_ids)))} if account_ids else {}
        person_ids = {r.person_id for r in rows if r.person_id is not None} | {
            a.person_id for a in self.accounts.values() if a.person_id is not None}
        self.persons = {p.id: p for p in session.exec(
            select(Person).where(col(Person.id).in_(person_ids)))} if person_ids else {}
        self.opted_out = reminders.opted_out(session, person_ids)
        self._signing_key: str | None = None

    def unsubscribe_url(self, row: Reminder) -> str | None:
        """The one-click link of a reminder the member can switch off (a session reminder of a
        lead time), for ``List-Unsubscribe``; None for every other message."""
        if row.kind != reminders.KIND_SESSION or row.person_id is None or not row.lead_minutes:
            return None
        if self._signing_key is None:
            self._signing_key = self.settings.signing_key()
        token = reminders.unsubscribe_token(self._signing_key, row.person_id, row.lead_minutes)
        return f"{self.settings.base_url}{reminders.UNSUBSCRIBE_PATH}{token}"

    def facts(self, meeting_id: int) -> _MeetingFacts:
        if meeting_id not in self._facts:
            meeting = self.session.get(Meeting, meeting_id)
            assert meeting is not None
            organization = self.session.get(Organization, meeting.organization_id)
            assert organization is not None
            self._facts[meeting_id] = _MeetingFacts(
                meeting, organization, meetings.agenda(self.session, meeting_id),
                deadlines.deadlines_for_meeting(self.session, meeting))
        return self._facts[meeting_id]

    def why_not(self, row: Reminder, facts: _MeetingFacts) -> str | None:
        meeting = facts.meeting
        today = max(row.due_at, self.now).astimezone(TIMEZONE).date()
        if meeting.cancelled and row.kind != reminders.KIND_CANCELLED:
            return "Sitzung abgesagt"
        if row.kind in _BEFORE_SESSION and meeting.start <= self.now:
            return "Sitzung hat schon begonnen"
        if row.kind in (reminders.KIND_INVITATION_DUE, reminders.KIND_INVITATION_MISSED) \
                and meeting.invited is not None:
            return "Einladung ist versandt"
        if row.kind == reminders.KIND_AGENDA_CLOSING and facts.deadlines.agenda_closing < today:
            return "Tagesordnung schon geschlossen"
        if row.kind == reminders.KIND_SESSION and (row.person_id, row.lead_minutes) in self.opted_out:
            return "abbestellt"
        if row.kind == reminders.KIND_SESSION and row.lead_minutes:
            left = (meeting.start - max(row.due_at, self.now)).total_seconds() / 60
            closer = [lead for lead in facts.session_leads(self.session) if left <= lead < row.lead_minutes]
            if closer:  # e.g. the 7-day reminder, fired late, after the 1-day one's moment
                return f"überholt von der Erinnerung {reminders.lead_label(min(closer))} vorher"
        if row.kind == reminders.KIND_TASK_OVERDUE:
            task = self.session.get(HumanTask, row.task_id) if row.task_id else None
            if task is None or task.status != TASK_READY:
                return "Aufgabe erledigt"
        return None

    def recipient(self, row: Reminder) -> tuple[str | None, str, str]:
        """(address, name, greeting line)."""
        if row.person_id is not None:
            member = self.persons[row.person_id]
            return (member.email, f"{member.given_name} {member.family_name}",
                    messages.greeting(member.form_of_address, member.given_name, member.family_name))
        account = self.accounts[row.account_id]
        person = self.persons.get(account.person_id) if account.person_id else None
        if person is not None:
            return (account.email or person.email, account.display_name,
                    messages.greeting(person.form_of_address, person.given_name, person.family_name))
        return account.email, account.display_name, messages.greeting(None, account.display_name, None)

    def fire(self, row: Reminder) -> str | None:
        """Render into the outbox and mark the row; the reason when it is skipped instead.

        A row due later (within the look-ahead) is rendered as of its moment and its message
        waits in the outbox until then, encoded to its bytes."""
        facts = self.facts(row.meeting_id)
        reason = self.why_not(row, facts)
        address, name, greeting_line = self.recipient(row)
        if reason is None and not address:
            reason = "keine E-Mail-Adresse"
        if reason is not None:
            reminders.mark(row, reminders.SKIPPED, self.now, note=reason)
            return reason
        assert address is not None
        moment = max(row.due_at, self.now)
        rendered = messages.render(
            row.kind, meeting=facts.meeting, organization=facts.organization, agenda=facts.agenda,
            deadlines=facts.deadlines, greeting_line=greeting_line, base_url=self.settings.base_url,
            lead=reminders.lead_label(row.lead_minutes) if row.lead_minutes else "", note=row.note,
            preferences_url=f"{self.settings.base_url}/meine-sitzungen" if row.person_id else None,
            today=moment.astimezone(TIMEZONE).date(),
            task=self.session.get(HumanTask, row.task_id) if row.task_id else None)
        message = outbox.enqueue(
            self.session, to_address=address, to_name=name, subject=rendered.subject,
            body_text=rendered.text, body_html=rendered.html, cause=f"reminder:{row.id}",
            domain=self.settings.mail_domain, now=moment,
            calendar=facts.ics(self.settings) if row.kind in _WITH_CALENDAR else None,
            list_unsubscribe=self.unsubscribe_url(row))
        message.raw = prebuild(message)
        self.queued.append((row, message))
        return None

    def settle(self) -> None:
        """The batch's messages in one INSERT, then each reminder marked with its message; the
        history records what went out, one event per Sitzung and kind (not one per member)."""
        self.session.flush()
        sent: dict[tuple[int, str], list[int]] = {}
        ahead: dict[int, datetime] = {}
        for row, message in self.queued:
            if row.due_at > self.now:  # waits for its moment; recorded when it comes
                reminders.mark(row, reminders.PREPARED, row.due_at, outbox_id=message.id)
                ahead[row.meeting_id] = max(row.due_at, ahead.get(row.meeting_id, row.due_at))
                continue
            reminders.mark(row, reminders.SENT, self.now, outbox_id=message.id)
            sent.setdefault((row.meeting_id, row.kind), []).append(row.id or 0)
        self.session.flush()
        meetings_table = table_of(Meeting)
        for meeting_id, until in ahead.items():  # a change to the Sitzung before then withdraws them
            self.session.execute(update(meetings_table).where(meetings_table.c.id == meeting_id).values(
                rendered_ahead_until=case(
                    (meetings_table.c.rendered_ahead_until > until, meetings_table.c.rendered_ahead_until),
                    else_=until),
                modified=meetings_table.c.modified))  # not a change of the Sitzung itself
        _record_sent(self.session, sent, self.now)


def _record_sent(session: Session, sent: dict[tuple[int, str], list[int]], now: datetime) -> None:
    """The history records what went out, one event per Sitzung and kind (not per member)."""
    for (meeting_id, kind), ids in sorted(sent.items()):
        audit.record(session, "system", "Scheduler", "reminders.sent", at=now, meeting_id=meeting_id,
                     details={"meeting_id": meeting_id, "kind": kind, "count": len(ids),
                              "reminders": ids[:500]})


def finish_prepared(database: Database, now: datetime) -> int:
    """Reminders rendered ahead whose moment has come: ``versandt`` (their messages are in the
    outbox's hands now, like those fired at their moment), recorded in the history."""
    with database.unit_of_work() as s:
        rows = s.exec(select(Reminder.id, Reminder.meeting_id, Reminder.kind).where(
            Reminder.status == reminders.PREPARED, col(Reminder.due_at) <= now)
            .with_for_update(skip_locked=True)).all()
        if not rows:
            return 0
        ids = [r[0] for r in rows]
        for start in range(0, len(ids), 1000):
            s.execute(update(Reminder).where(col(Reminder.id).in_(ids[start:start + 1000]),
                                             col(Reminder.status) == reminders.PREPARED)
                      .values(status=reminders.SENT), execution_options={"synchronize_session": False})
        sent: dict[tuple[int, str], list[int]] = {}
        for reminder_id, meeting_id, kind in rows:
            sent.setdefault((meeting_id, kind), []).append(reminder_id or 0)
        _record_sent(s, sent, now)
        return len(ids)


def fire_due(database: Database, now: datetime, batch: int = 200,
             committed: Callable[[], None] | None = None, ahead: timedelta = timedelta(0)) -> FireReport:
    """Fire every reminder due by ``now``, and render those due by ``now + ahead`` into the
    outbox for their moment; each batch commits with its outbox rows (and then calls
    ``committed``, so delivery can start on it)."""
    report = FireReport()
    settings = database.settings
    while True:
        with database.unit_of_work() as s:
            rows = reminders.claim_due(s, now + ahead, batch)
            if not rows:
                break
            firing = _Firing(s, settings, now, rows)
            for row in rows:
                reason = firing.fire(row)
                if reason is None and row.due_at > now:
                    report.prepared += 1
                elif reason is None:
                    report.fired += 1
                else:
                    report.skipped += 1
                    report.reasons[reason] = report.reasons.get(reason, 0) + 1
            firing.settle()
        if committed is not None:
            committed()
    return report


def fire_timers(database: Database, now: datetime, batch: int = 100) -> timers.TimerReport:
    """Fire every BPMN timer due by ``now`` (the session processes' Tagesordnungsschluss,
    Ladungsfrist, Sitzungsbeginn …), one unit of work per batch, before the reminders, so a
    reminder the firing writes goes out in this same pass."""
    total = timers.TimerReport()
    while True:
        with database.unit_of_work() as s:
            report = timers.fire_due(s, now, batch)
        total.fired += report.fired
        total.instances += report.instances
        total.incidents += report.incidents
        total.conflicts += report.conflicts
        if report.instances + len(report.incidents) == 0:
            return total


@dataclass
class PassReport:
    timers: timers.TimerReport
    fired: FireReport
    delivered: DispatchReport

    def summary(self) -> str:
        skipped = ", ".join(f"{k}: {v}" for k, v in sorted(self.fired.reasons.items()))
        ahead = f", {self.fired.prepared} im Voraus vorbereitet" if self.fired.prepared else ""
        return (f"{self.fired.fired} Erinnerungen ausgelöst{ahead}, {self.fired.skipped} entfallen"
                f"{f' ({skipped})' if skipped else ''}; {self.delivered.sent} E-Mails versandt, "
                f"{self.delivered.retried} zurückgestellt, {self.delivered.failed} fehlgeschlagen; "
                f"{self.timers.fired} Zeitereignisse in {self.timers.instances} Abläufen"
                f"{f', {len(self.timers.incidents)} Störungen' if self.timers.incidents else ''}")


def run_once(database: Database, now: datetime | Callable[[], datetime],
             transport: Transport | None = None, workers: int = 1,
             lookahead: timedelta = LOOKAHEAD) -> PassReport:
    """Everything due by ``now``: timers, reminders, the outbox (delivery finished on return);
    reminders due within ``lookahead`` rendered into the outbox for their moment.

    Delivery starts at once (messages rendered ahead for this moment wait for nothing) and
    runs beside the firing: each committed batch of messages is sent while the next batch of
    reminders is rendered, so the first members do not wait for the last.
    """
    clock: Callable[[], datetime] = now if callable(now) else (lambda: now)
    at = clock()
    producing = Producing()
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="delivery") as pool:
        # What waits in the outbox (rendered ahead for this moment) leaves at once; what the
        # timers and the reminders write follows as each unit of work commits.
        delivering = pool.submit(dispatch, database, transport or transport_for(database.settings), clock,
                                 workers=workers, producing=producing)
        try:
            fired_timers = fire_timers(database, at)
            with database.unit_of_work() as s:
                reminders.plan_overdue_tasks(s, at)
                nachtrag.detect(s, at)  # agendas changed after their invitation: the members are told
            producing.added()
            fired = fire_due(database, at, committed=producing.added, ahead=lookahead)
        finally:
            producing.close()
        delivered = delivering.result()
    finish_prepared(database, clock())
    report = PassReport(fired_timers, fired, delivered)
    with database.unit_of_work() as s:  # events whose own commit's seal gave way or failed
        audit.seal(s, wait=False)
    if fired.fired or delivered.sent or delivered.retried or delivered.failed or fired_timers.fired:
        log.info("sweep at %s: %s", at.isoformat(), report.summary())
    return report
