"""Reminders are rows: who is told what about which Sitzung, and when (``due_at``).

The engine writes them in the same unit of work as their cause (a Sitzung planned, moved,
cancelled, its invitation sent, a membership changed); ``notifications`` fires the due ones
(renders the message into the outbox and marks the row) and never decides *whether* a
reminder exists. Every row has a ``key`` that is unique, so planning twice writes nothing
new, and a claimed row (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, the write lock on SQLite)
is fired by exactly one process.

Kinds (``Reminder.kind``):

* ``sitzung`` — a member, ``lead_minutes`` before the session (rules: 7 days and 1 day);
* ``tagesordnungsschluss`` — the Gremium's Sekretariat, before its agenda closes;
* ``ladungsfrist`` — the Sekretariat, before the Ladungsfrist, only while not invited;
* ``ladungsfrist_versaeumt`` — the Sekretariat, at once when the Ladungsfrist passed uninvited
  (not a planned lead time: planning leaves it alone);
* ``einladung`` — a member, the invitation (due when the secretary sends it);
* ``verlegt`` / ``abgesagt`` — a member, told at once that the session moved or was cancelled.

Planning keys carry the Sitzung's ``sequence`` (raised by every move), so the reminders of
a moved session are planned afresh for its new date while those already sent stay sent.

The scheduler renders a reminder into the outbox a little ahead of its moment (status
``vorbereitet``, the message waiting there for ``due_at``). Whatever changes what such a
message says withdraws it first (:func:`withdraw`): planning a Sitzung again (moved,
cancelled, invited, members or rules changed), its agenda changed, a member's preferences.
The row is ``geplant`` again and is rendered anew (or cancelled by the planning).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from itsdangerous import BadData, URLSafeSerializer
from sqlalchemy import Index, UniqueConstraint, and_, delete, or_, text, update
from sqlmodel import Field, Session, SQLModel, col, select

from engine import audit
from engine.calendar import deadlines
from engine.council import (
    MEETING_PLANNED,
    ROLE_SECRETARIAT,
    Account,
    Grant,
    Meeting,
    Membership,
    Organization,
    Person,
)
from engine.outbox import PENDING as MESSAGE_WAITING
from engine.outbox import WITHDRAWN, OutboxMessage
from engine.settings import TIMEZONE
from engine.tasks import TASK_READY, HumanTask
from engine.types import created_column, table_of, utc_column, utcnow
from engine.words import N_

PENDING = "geplant"
#: Rendered ahead into the outbox (its message waits there for ``due_at``); becomes
#: ``versandt`` at its moment, or ``geplant`` again when withdrawn (:func:`withdraw`).
PREPARED = "vorbereitet"
SENT = "versandt"
CANCELLED = "storniert"
SKIPPED = "entfallen"  # fired too late to matter, or the member does not want it

KIND_SESSION = "sitzung"
KIND_AGENDA_CLOSING = "tagesordnungsschluss"
KIND_INVITATION_DUE = "ladungsfrist"
KIND_INVITATION_MISSED = "ladungsfrist_versaeumt"
KIND_INVITATION = "einladung"
KIND_MOVED = "verlegt"
KIND_CANCELLED = "abgesagt"
#: The agenda changed after the invitation: the members are told what (``engine.calendar.nachtrag``).
KIND_NACHTRAG = "nachtrag"
#: A task is overdue: its holder (or, unclaimed, its Gremium's Sekretariat) is told once per
#: due date, on the morning after it passed.
KIND_TASK_OVERDUE = "aufgabe_ueberfaellig"
KINDS = (KIND_SESSION, KIND_AGENDA_CLOSING, KIND_INVITATION_DUE, KIND_INVITATION_MISSED,
         KIND_INVITATION, KIND_MOVED, KIND_CANCELLED, KIND_NACHTRAG)
#: What a kind is called where people read it (the history, pages).
KIND_NAMES = {KIND_SESSION: N_("Sitzungserinnerung"), KIND_AGENDA_CLOSING: N_("Tagesordnungsschluss"),
              KIND_INVITATION_DUE: N_("Ladungsfrist"), KIND_INVITATION_MISSED: N_("Ladungsfrist versäumt"),
              KIND_INVITATION: N_("Einladung"), KIND_MOVED: N_("Verlegung"), KIND_CANCELLED: N_("Absage"),
              KIND_TASK_OVERDUE: N_("Aufgabe überfällig"), KIND_NACHTRAG: N_("Nachtrag zur Tagesordnung")}
#: What a reminder rule's lead time counts back from, in words ("7 Tage vor der Sitzung").
ANCHOR_NAMES = {KIND_SESSION: N_("vor der Sitzung"), KIND_AGENDA_CLOSING: N_("vor dem Tagesordnungsschluss"),
                KIND_INVITATION_DUE: N_("vor Ablauf der Ladungsfrist")}

AUDIENCE_MEMBERS = "mitglieder"
AUDIENCE_SECRETARIAT = "sekretariat"
#: Who a reminder rule is for, in words.
AUDIENCE_NAMES = {AUDIENCE_MEMBERS: N_("Mitglieder"), AUDIENCE_SECRETARIAT: N_("Sekretariat")}

#: Membership roles that receive the members' reminders and the invitation.
MEMBER_ROLES = ("Vorsitz", "Mitglied", "stellvertretendes Mitglied", "stellv. Vorsitz")

_OPEN = text(f"status = '{PENDING}'")


class Reminder(SQLModel, table=True):
    """One message to one recipient about one Sitzung, due at ``due_at``."""

    __table_args__ = (
        UniqueConstraint("key", name="uq_reminder_key"),
        # The sweep: pending rows in due order (a partial index stays small).
        Index("ix_reminder_pending_due", "due_at", "id",
              postgresql_where=_OPEN, sqlite_where=_OPEN),
    )

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=200)
    kind: str = Field(max_length=40)
    meeting_id: int = Field(foreign_key="meeting.id", index=True)
    person_id: int | None = Field(default=None, foreign_key="person.id", index=True)
    account_id: int | None = Field(default=None, foreign_key="account.id")
    lead_minutes: int = 0
    due_at: dt.datetime = Field(sa_column=utc_column(nullable=False))
    status: str = Field(default=PENDING, max_length=20)
    note: str | None = None  # why it was cancelled or skipped; the reason of a move
    fired_at: dt.datetime | None = Field(default=None, sa_column=utc_column())
    outbox_id: int | None = Field(default=None, foreign_key="outbox_message.id")
    #: The task an overdue reminder is about (``KIND_TASK_OVERDUE``).
    task_id: int | None = Field(default=None, foreign_key="human_task.id")
    created: dt.datetime | None = Field(default=None, sa_column=created_column())


class ReminderRule(SQLModel, table=True):
    """A lead time of a Gremium's reminders (``organization_id`` None: every Gremium's default).

    ``anchor`` is what the lead time counts back from: ``sitzung`` (the session's start),
    ``tagesordnungsschluss`` (the agenda closing), ``ladungsfrist`` (the invitation deadline).
    """

    __tablename__ = "reminder_rule"
    __table_args__ = (UniqueConstraint("organization_id", "audience", "anchor", "lead_minutes"),)

    id: int | None = Field(default=None, primary_key=True)
    organization_id: int | None = Field(default=None, foreign_key="organization.id")
    audience: str = Field(max_length=20)
    anchor: str = Field(max_length=40)
    lead_minutes: int


class ReminderPreference(SQLModel, table=True):
    """A member's choice per lead time: no e-mail for it (the calendar alarm stays)."""

    __tablename__ = "reminder_preference"
    __table_args__ = (UniqueConstraint("person_id", "lead_minutes"),)

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id")
    lead_minutes: int
    email: bool = False


class CalendarToken(SQLModel, table=True):
    """The secret of a member's personal iCalendar feed; only its SHA-256 is stored."""

    __tablename__ = "calendar_token"

    id: int | None = Field(default=None, primary_key=True)
    person_id: int = Field(foreign_key="person.id", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    created: dt.datetime | None = Field(default=None, sa_column=created_column())
    revoked: dt.datetime | None = Field(default=None, sa_column=utc_column())


@dataclass(frozen=True)
class Rule:
    audience: str
    anchor: str
    lead_minutes: int


DAY = 24 * 60
DEADLINE_MORNING = dt.time(8, 0)
#: Used while no row of ``reminder_rule`` says otherwise.
DEFAULT_RULES: tuple[Rule, ...] = (
    Rule(AUDIENCE_MEMBERS, KIND_SESSION, 7 * DAY),
    Rule(AUDIENCE_MEMBERS, KIND_SESSION, 1 * DAY),
    Rule(AUDIENCE_SECRETARIAT, KIND_AGENDA_CLOSING, 1 * DAY),
    Rule(AUDIENCE_SECRETARIAT, KIND_INVITATION_DUE, 2 * DAY),
)


def rules_for(session: Session, organization_id: int) -> list[Rule]:
    """The Gremium's own rules, else the defaults stored for all, else :data:`DEFAULT_RULES`."""
    for org in (organization_id, None):
        condition = (col(ReminderRule.organization_id) == org if org is not None
                     else col(ReminderRule.organization_id).is_(None))
        rows = session.exec(select(ReminderRule).where(condition)
                            .order_by(col(ReminderRule.lead_minutes).desc())).all()
        if rows:
            return [Rule(r.audience, r.anchor, r.lead_minutes) for r in rows]
    return list(DEFAULT_RULES)


def lead_label(minutes: int) -> str:
    """German: "7 Tage", "1 Tag", "3 Stunden"."""
    if minutes % DAY == 0:
        days = minutes // DAY
        return f"{days} Tag" if days == 1 else f"{days} Tage"
    hours = round(minutes / 60)
    return f"{hours} Stunde" if hours == 1 else f"{hours} Stunden"


# ----------------------------------------------------------------------------- recipients

def members_of(session: Session, organization_id: int, on: dt.date) -> list[Person]:
    """Persons with a member's role in the Gremium on that day (from/until honoured)."""
    return list(session.exec(
        select(Person).join(Membership, col(Membership.person_id) == Person.id)
        .where(Membership.organization_id == organization_id, col(Membership.role).in_(MEMBER_ROLES),
               or_(col(Membership.start_date).is_(None), col(Membership.start_date) <= on),
               or_(col(Membership.end_date).is_(None), col(Membership.end_date) >= on))
        .order_by(col(Person.family_name), col(Person.given_name)).distinct()
    ).all())


def secretariat_of(session: Session, organization_id: int) -> list[Account]:
    """Active accounts holding the Sekretariat of the Gremium."""
    return candidates_of(session, ROLE_SECRETARIAT, organization_id)


# ----------------------------------------------------------------------------- planning

def _key(kind: str, meeting: Meeting, person_id: int | None, account_id: int | None,
         lead: int, sequence: int) -> str:
    who = f"p{person_id}" if person_id is not None else f"a{account_id}"
    return f"{kind}/{meeting.id}/{who}/{lead}/s{sequence}"


@dataclass
class Plan:
    """What one planning pass did (for the caller's audit details and the tests)."""

    planned: int = 0
    moved: int = 0
    cancelled: int = 0


def plan_meeting(session: Session, meeting: Meeting, now: datetime | None = None) -> Plan:
    """Bring the Sitzung's pending reminders in line with its date, members and rules.

    Idempotent: rows that exist keep their id; rows whose moment has passed at planning
    time are not written (the next shorter lead time still comes); pending rows no longer
    wanted (a member left, a rule removed, an older date) are cancelled.
    """
    now = now or utcnow()
    plan = Plan()
    assert meeting.id is not None
    withdraw_for(session, meeting, now)
    wanted: dict[str, Reminder] = {}
    if not meeting.cancelled and meeting.start > now:
        start = meeting.start
        day = start.astimezone(TIMEZONE).date()
        marks = deadlines.deadlines_for_meeting(session, meeting)
        anchors = {
            KIND_SESSION: start,
            # The deadlines are days: their reminders count back from that morning.
            KIND_AGENDA_CLOSING: datetime.combine(marks.agenda_closing, DEADLINE_MORNING, TIMEZONE),
            KIND_INVITATION_DUE: datetime.combine(marks.invitation, DEADLINE_MORNING, TIMEZONE),
        }
        members = members_of(session, meeting.organization_id, day)
        secretaries = secretariat_of(session, meeting.organization_id)
        for rule in rules_for(session, meeting.organization_id):
            due = anchors[rule.anchor] - timedelta(minutes=rule.lead_minutes)
            if due <= now:
                continue
            if rule.anchor == KIND_INVITATION_DUE and meeting.meeting_state != MEETING_PLANNED:
                continue
            if rule.audience == AUDIENCE_MEMBERS:
                for person in members:
                    key = _key(rule.anchor, meeting, person.id, None, rule.lead_minutes, meeting.sequence)
                    wanted[key] = Reminder(key=key, kind=rule.anchor, meeting_id=meeting.id,
                                           person_id=person.id, lead_minutes=rule.lead_minutes, due_at=due)
            else:
                for account in secretaries:
                    key = _key(rule.anchor, meeting, None, account.id, rule.lead_minutes, meeting.sequence)
                    wanted[key] = Reminder(key=key, kind=rule.anchor, meeting_id=meeting.id,
                                           account_id=account.id, lead_minutes=rule.lead_minutes,
                                           due_at=due)
    planned_kinds = (KIND_SESSION, KIND_AGENDA_CLOSING, KIND_INVITATION_DUE)
    existing = {r.key: r for r in session.exec(
        select(Reminder).where(Reminder.meeting_id == meeting.id, col(Reminder.kind).in_(planned_kinds))
        .execution_options(populate_existing=True))}
    for key, row in wanted.items():
        have = existing.get(key)
        if have is None:
            session.add(row)
            plan.planned += 1
        elif have.status == PENDING and have.due_at != row.due_at:
            have.due_at = row.due_at
            session.add(have)
            plan.moved += 1
    for key, have in existing.items():
        if key not in wanted and have.status == PENDING:
            have.status = CANCELLED
            have.note = "Sitzung abgesagt" if meeting.cancelled else "nicht mehr geplant"
            session.add(have)
            plan.cancelled += 1
    session.flush()
    return plan


def plan_organization(session: Session, organization_id: int, now: datetime | None = None) -> Plan:
    """Re-plan every upcoming Sitzung of a Gremium (its members or rules changed)."""
    now = now or utcnow()
    total = Plan()
    for meeting in session.exec(select(Meeting).where(
            Meeting.organization_id == organization_id, Meeting.cancelled == False,  # noqa: E712
            col(Meeting.start) > now)):
        one = plan_meeting(session, meeting, now)
        total.planned += one.planned
        total.moved += one.moved
        total.cancelled += one.cancelled
    return total


def notify_members(session: Session, meeting: Meeting, kind: str, now: datetime,
                   note: str | None = None) -> int:
    """One message of ``kind`` (invitation, moved, cancelled) to every member, due now."""
    assert kind in (KIND_INVITATION, KIND_MOVED, KIND_CANCELLED) and meeting.id is not None
    day = meeting.start.astimezone(TIMEZONE).date()
    have = _keys_of(session, meeting.id, kind)
    written = 0
    for person in members_of(session, meeting.organization_id, day):
        key = _key(kind, meeting, person.id, None, 0, meeting.sequence)
        if key not in have:
            session.add(Reminder(key=key, kind=kind, meeting_id=meeting.id, person_id=person.id,
                                 due_at=now, note=note))
            written += 1
    session.flush()
    return written


def _keys_of(session: Session, meeting_id: int, kind: str) -> set[str]:
    """The keys this Sitzung already has for ``kind`` (one query, not one per recipient)."""
    return set(session.exec(select(Reminder.key).where(Reminder.meeting_id == meeting_id,
                                                       Reminder.kind == kind)).all())


def escalate_invitation(session: Session, meeting: Meeting, now: datetime) -> int:
    """The Ladungsfrist passed with the invitation unsent: the Sekretariat is told at once."""
    assert meeting.id is not None
    have = _keys_of(session, meeting.id, KIND_INVITATION_MISSED)
    written = 0
    for account in secretariat_of(session, meeting.organization_id):
        key = _key(KIND_INVITATION_MISSED, meeting, None, account.id, 0, meeting.sequence)
        if key not in have:
            session.add(Reminder(key=key, kind=KIND_INVITATION_MISSED, meeting_id=meeting.id,
                                 account_id=account.id, due_at=now, note="Ladungsfrist abgelaufen"))
            written += 1
    session.flush()
    return written


def candidates_of(session: Session, role: str, organization_id: int) -> list[Account]:
    """Active accounts holding ``role`` for the organization (a task's lane and its Gremium or
    department: the Sekretariat of a Gremium, the clerks of a department, its Freigabe)."""
    return list(session.exec(
        select(Account).join(Grant, col(Grant.account_id) == Account.id)
        .where(Grant.role == role, Grant.organization_id == organization_id,
               Account.active == True)  # noqa: E712
        .order_by(col(Account.username)).distinct()
    ).all())


def plan_overdue_tasks(session: Session, now: datetime, horizon_days: int = 60) -> int:
    """Every ready task whose due date has passed (within ``horizon_days``): one reminder to
    its holder, or, while nobody holds it, to each account its lane names for its Gremium or
    department (the Sekretariat of a result step, the clerks of a Beschlusskontrolle; where
    no grant names the lane, as the Vorsitz's, the Gremium's Sekretariat); once
    per task and due date (a task due again later is reminded again). Returns how many were
    written. A task without a Sitzung (Mitzeichnung, Freigabe) is not reminded: a reminder
    belongs to a Sitzung (``Reminder.meeting_id``)."""
    today = now.astimezone(TIMEZONE).date()
    # Only tasks not yet reminded of this due date: a reminder planned after the date passed
    # is due later than it, so the sweep (every few seconds) reads almost nothing.
    reminded = select(Reminder.id).where(Reminder.task_id == HumanTask.id, Reminder.kind == KIND_TASK_OVERDUE,
                                         col(Reminder.due_at) > col(HumanTask.due)).exists()
    overdue = session.exec(select(HumanTask).where(
        HumanTask.status == TASK_READY, col(HumanTask.due) < today,
        col(HumanTask.due) >= today - dt.timedelta(days=horizon_days),
        col(HumanTask.meeting_id).is_not(None), ~reminded)).all()
    if not overdue:
        return 0
    have = set(session.exec(select(Reminder.key).where(
        Reminder.kind == KIND_TASK_OVERDUE, col(Reminder.task_id).in_([t.id for t in overdue]))).all())
    holders = {a.username: a for a in session.exec(select(Account).where(
        col(Account.username).in_({t.assignee for t in overdue if t.assignee}), Account.active == True))}  # noqa: E712
    written = 0
    candidates: dict[tuple[str, int], list[Account]] = {}  # per lane and Gremium, read once per pass
    for task in overdue:
        assert task.meeting_id is not None
        if task.assignee:
            accounts = [holders[task.assignee]] if task.assignee in holders else []
        elif task.organization_id:
            lane = (task.lane or ROLE_SECRETARIAT, task.organization_id)
            if lane not in candidates:
                # A lane no grant names (the Vorsitz: from the memberships) falls to the
                # Gremium's Sekretariat, who chase it.
                candidates[lane] = (candidates_of(session, *lane)
                                    or secretariat_of(session, task.organization_id))
            accounts = candidates[lane]
        else:
            accounts = []
        for account in accounts:
            key = f"{KIND_TASK_OVERDUE}/t{task.id}/{task.due}/a{account.id}"
            if key in have:
                continue
            session.add(Reminder(key=key, kind=KIND_TASK_OVERDUE, meeting_id=task.meeting_id,
                                 account_id=account.id, task_id=task.id, due_at=now,
                                 note=f"{task.title} (fällig am {task.due:%d.%m.%Y})"))
            have.add(key)
            written += 1
    session.flush()
    return written


def withdraw_for(session: Session, meeting: Meeting, now: datetime) -> int:
    """:func:`withdraw` for a Sitzung that changed, only if it may have messages rendered
    ahead (``Meeting.rendered_ahead_until``): no statement otherwise (a completion that puts a
    Vorlage on the agenda stays within its statement budget)."""
    if meeting.id is None or meeting.rendered_ahead_until is None or meeting.rendered_ahead_until <= now:
        return 0
    return withdraw(session, meeting_id=meeting.id)


def withdraw(session: Session, *, meeting_id: int | None = None, person_id: int | None = None) -> int:
    """Reminders of the Sitzung (or the member) rendered ahead whose message still waits:
    the message deleted, the row ``geplant`` again (the next sweep renders it anew, unless
    the caller's planning cancels it). Returns how many.

    A message a dispatcher has already claimed is left alone (it is leaving now, at its
    moment, and its reminder becomes ``versandt``). The outbox rows are taken first (their
    status changed in one UPDATE, which a claiming dispatcher skips or waits for), so no
    message is both withdrawn and sent."""
    assert meeting_id is not None or person_id is not None
    table = table_of(OutboxMessage)
    which = select(Reminder.outbox_id).where(Reminder.status == PREPARED)
    if meeting_id is not None:
        which = which.where(Reminder.meeting_id == meeting_id)
    if person_id is not None:
        which = which.where(Reminder.person_id == person_id)
    taken = list(session.execute(
        update(table).where(table.c.id.in_(which.scalar_subquery()), table.c.status == MESSAGE_WAITING)
        .values(status=WITHDRAWN).returning(table.c.id)).scalars())
    if not taken:
        return 0
    sync = {"synchronize_session": "fetch"}
    reset = [i for i in session.execute(
        update(Reminder).where(col(Reminder.outbox_id).in_(taken), col(Reminder.status) == PREPARED)
        .values(status=PENDING, fired_at=None).returning(table_of(Reminder).c.outbox_id),
        execution_options=sync).scalars() if i is not None]
    if reset:
        session.execute(update(Reminder).where(col(Reminder.outbox_id).in_(reset)).values(outbox_id=None),
                        execution_options=sync)
        session.execute(delete(table).where(table.c.id.in_(reset)))
    kept = sorted(set(taken) - set(reset))  # became versandt meanwhile: its message goes out
    if kept:
        session.execute(update(table).where(table.c.id.in_(kept)).values(status=MESSAGE_WAITING))
    return len(reset)


# ----------------------------------------------------------------------------- firing

def claim_due(session: Session, now: datetime, limit: int = 200) -> list[Reminder]:
    """Pending rows due by ``now``, locked for this unit of work (skipped by any other)."""
    statement = (select(Reminder).where(Reminder.status == PENDING, col(Reminder.due_at) <= now)
                 .order_by(col(Reminder.due_at), col(Reminder.id)).limit(limit)
                 .with_for_update(skip_locked=True))
    return list(session.exec(statement).all())


def mark(reminder: Reminder, status: str, now: datetime, outbox_id: int | None = None,
         note: str | None = None) -> None:
    """Record what firing did on a row claimed by :func:`claim_due` (the unit of work that
    claimed it holds its lock, so it is the row's only writer; the flush writes it)."""
    assert reminder.status == PENDING, f"reminder {reminder.id} is {reminder.status}"
    reminder.status, reminder.fired_at, reminder.outbox_id = status, now, outbox_id
    if note:
        reminder.note = note


def next_due(session: Session) -> datetime | None:
    """When the earliest pending reminder is due (the scheduler sets a date job for it)."""
    return session.exec(select(Reminder.due_at).where(Reminder.status == PENDING)
                        .order_by(col(Reminder.due_at)).limit(1)).first()


def of_person(session: Session, person_id: int, limit: int = 50) -> Sequence[Reminder]:
    """The member's reminders, newest first (what was sent and what is planned)."""
    return session.exec(select(Reminder).where(Reminder.person_id == person_id)
                        .order_by(col(Reminder.due_at).desc()).limit(limit)).all()


# ----------------------------------------------------------------------------- preferences

def opted_out(session: Session, person_ids: Iterable[int]) -> set[tuple[int, int]]:
    """(person, lead time) pairs that want no e-mail, for many members in one query."""
    ids = sorted(set(person_ids))
    if not ids:
        return set()
    return {(p, lead) for p, lead in session.exec(
        select(ReminderPreference.person_id, ReminderPreference.lead_minutes)
        .where(col(ReminderPreference.person_id).in_(ids), ReminderPreference.email == False))}  # noqa: E712


def set_preferences(session: Session, person_id: int, choices: dict[int, bool]) -> None:
    """Per lead time: e-mail or not (the default is e-mail). A reminder of the member's
    already rendered ahead is withdrawn and rendered again under the new choice."""
    withdraw(session, person_id=person_id)
    for lead, email in choices.items():
        row = session.exec(select(ReminderPreference).where(
            ReminderPreference.person_id == person_id,
            ReminderPreference.lead_minutes == lead)).first()
        if row is None:
            row = ReminderPreference(person_id=person_id, lead_minutes=lead, email=email)
        row.email = email
        session.add(row)
    session.flush()


#: What the unsubscribe links of the reminders are signed for (itsdangerous's salt): a token
#: signed for anything else with the same key is no unsubscribe token.
UNSUBSCRIBE_SALT = "ratsflow.reminders.unsubscribe"
#: Where the unsubscribe link leads (``web.meetings.unsubscribe``), after ``RATSFLOW_BASE_URL``.
UNSUBSCRIBE_PATH = "/erinnerungen/abbestellen/"


def unsubscribe_token(signing_key: str, person_id: int, lead_minutes: int) -> str:
    """The signed part of a reminder's unsubscribe link (RFC 8058): who, which lead time. It
    does not expire; it can do one thing only, which the member can undo under "Meine Sitzungen"."""
    return str(URLSafeSerializer(signing_key, salt=UNSUBSCRIBE_SALT).dumps([person_id, lead_minutes]))


def read_unsubscribe_token(signing_key: str | bytes, token: str) -> tuple[int, int] | None:
    """(person, lead time) of a token this system signed; None for anything else."""
    if not token or len(token) > 200:
        return None
    try:
        value = URLSafeSerializer(signing_key, salt=UNSUBSCRIBE_SALT).loads(token)
    except BadData:
        return None
    if not (isinstance(value, list) and len(value) == 2 and all(type(v) is int and v > 0 for v in value)):
        return None
    return value[0], value[1]


def wants_email(session: Session, person_id: int, lead_minutes: int) -> bool:
    return (person_id, lead_minutes) not in opted_out(session, [person_id])


def unsubscribe(session: Session, person_id: int, lead_minutes: int, now: datetime) -> bool:
    """The member's reminders ``lead_minutes`` before a session no longer come by e-mail (the
    one-click link of such a reminder, without login); audited like a change of one's account.
    False: nothing to change (already off, or the person is gone)."""
    person = session.get(Person, person_id)
    if person is None or not wants_email(session, person_id, lead_minutes):
        return False
    set_preferences(session, person_id, {lead_minutes: False})
    account = session.exec(select(Account).where(Account.person_id == person_id)
                           .order_by(col(Account.id))).first()
    name = f"{person.given_name} {person.family_name}"
    audit.record(session, account.username if account else f"person:{person_id}",
                 account.display_name if account else name, "reminders.unsubscribed", at=now,
                 details={"person_id": person_id, "name": name, "lead_minutes": lead_minutes,
                          "lead": lead_label(lead_minutes), "via": "Link in der E-Mail"})
    return True


def member_leads(session: Session, organization_ids: Iterable[int]) -> list[int]:
    """The members' lead times of these Gremien (for the preference form and the alarms)."""
    leads: set[int] = set()
    for org in organization_ids:
        leads |= {r.lead_minutes for r in rules_for(session, org)
                  if r.audience == AUDIENCE_MEMBERS and r.anchor == KIND_SESSION}
    return sorted(leads, reverse=True)


def gremien_of(session: Session, person_id: int, on: dt.date) -> list[Organization]:
    return list(session.exec(
        select(Organization).join(Membership, col(Membership.organization_id) == Organization.id)
        .where(Membership.person_id == person_id,
               or_(col(Membership.end_date).is_(None), col(Membership.end_date) >= on))
        .order_by(col(Organization.name)).distinct()).all())


# ----------------------------------------------------------------------------- calendar tokens

def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_calendar_token(session: Session, person_id: int, now: datetime | None = None) -> str:
    """A fresh secret for the member's feed; the old one stops working at once."""
    revoke_calendar_tokens(session, person_id, now)
    token = secrets.token_urlsafe(24)
    session.add(CalendarToken(person_id=person_id, token_hash=_hash(token)))
    session.flush()
    return token


def revoke_calendar_tokens(session: Session, person_id: int, now: datetime | None = None) -> None:
    session.execute(update(CalendarToken).where(
        and_(col(CalendarToken.person_id) == person_id, col(CalendarToken.revoked).is_(None)))
        .values(revoked=now or utcnow()))


def person_of_token(session: Session, token: str) -> int | None:
    if not token or len(token) > 100:
        return None
    return session.exec(select(CalendarToken.person_id).where(
        CalendarToken.token_hash == _hash(token), col(CalendarToken.revoked).is_(None))).first()


def has_calendar_token(session: Session, person_id: int) -> bool:
    return session.exec(select(CalendarToken.id).where(
        CalendarToken.person_id == person_id, col(CalendarToken.revoked).is_(None))).first() is not None
