"""Verbs of a Sitzung: move it, cancel it, send its invitation; its agenda as members read it.

Each verb runs in the caller's unit of work and takes everything that hangs on the session
with it in that same transaction: the planned reminders (``engine.reminders``), the due
dates of the tasks that wait for it, the members' notices, the audit event with who and why.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from . import audit, deadlines, reminders, rules
from .accounts import Actor
from .council import MEETING_INVITED, ROLE_SECRETARIAT, AgendaItem, Consultation, Meeting, Organization, Paper
from .errors import Conflict, Forbidden, Invalid, NotFound
from .schemas import InvitationIn, MoveIn, ReasonIn, load
from .settings import TIMEZONE
from .tasks import TASK_READY, HumanTask
from .types import utcnow

#: No Ladungsfrist is longer (90 working days at most, ``engine.deadlines``): a session
#: further ahead cannot have missed it.
LONGEST_LADUNGSFRIST = timedelta(days=140)


def _ahead(session: Session, actor: Actor, meeting_id: int, now: datetime,
           cancelled: str) -> tuple[Meeting, Organization]:
    """The actor's Gremium's Sitzung, not cancelled (``cancelled`` says why it matters) and
    not begun: the three verbs below work only on such a session."""
    meeting = session.get(Meeting, meeting_id)
    if meeting is None:
        raise NotFound("Diese Sitzung gibt es nicht.")
    org = session.get(Organization, meeting.organization_id)
    assert org is not None
    if not actor.has_role(ROLE_SECRETARIAT, org.id):
        raise Forbidden(f"Sie betreuen das Gremium {org.name} nicht.")
    if meeting.cancelled:
        raise Conflict(cancelled)
    if meeting.start <= now:
        start = meeting.start.astimezone(TIMEZONE)
        raise Conflict(f"Die Sitzung hat schon begonnen ({start:%d.%m.%Y}, {start:%H:%M} Uhr).")
    return meeting, org


@dataclass(frozen=True)
class _Followed:
    plan: reminders.Plan
    members_told: int
    tasks_due_again: int


def _follow(session: Session, meeting: Meeting, kind: str, reason: str, now: datetime) -> _Followed:
    """After a move or cancellation: a new sequence, the reminders planned again, the members
    told, the waiting tasks due anew."""
    meeting.sequence += 1
    session.add(meeting)
    session.flush()
    plan = reminders.plan_meeting(session, meeting, now)
    told = reminders.notify_members(session, meeting, kind, now, note=reason)
    return _Followed(plan, told, _redue_tasks(session, meeting, now))


def move(session: Session, actor: Actor, meeting_id: int, data: dict[str, Any],
         now: datetime | None = None) -> Meeting:
    """New date, time or place, with a reason: reminders, due dates and members follow."""
    now = now or utcnow()
    values = load(MoveIn(), data)
    meeting, org = _ahead(session, actor, meeting_id, now,
                          "Die Sitzung ist abgesagt und kann nicht verlegt werden.")
    start = datetime.combine(values["date"], values["start_time"], TIMEZONE)
    if start <= now:
        raise Invalid("Eingaben bitte prüfen.", {"date": ["Die neue Zeit liegt in der Vergangenheit."]})
    end = datetime.combine(values["date"], values["end_time"], TIMEZONE) if values["end_time"] else None
    old = {"start": meeting.start.isoformat(), "location": meeting.location}
    meeting.start, meeting.end = start, end
    meeting.invitation_overdue = False  # the Ladungsfrist moved with it; the sweep flags anew
    if values["location"] is not None:
        meeting.location = values["location"]
    followed = _follow(session, meeting, reminders.KIND_MOVED, values["reason"], now)
    plan = followed.plan
    audit.record(session, actor.username, actor.display_name, "meeting.moved", at=now, details={
        "meeting_id": meeting.id, "gremium": org.name, "reason": values["reason"],
        "old": old, "new": {"start": start.isoformat(), "location": meeting.location},
        "reminders": {"planned": plan.planned, "moved": plan.moved, "cancelled": plan.cancelled},
        "members_told": followed.members_told, "tasks_due_again": followed.tasks_due_again})
    return meeting


def cancel(session: Session, actor: Actor, meeting_id: int, data: dict[str, Any],
           now: datetime | None = None) -> Meeting:
    """Cancel with a reason: its reminders are cancelled, members told, waiting tasks
    turn to the Gremium's next session."""
    now = now or utcnow()
    values = load(ReasonIn(), data)
    meeting, org = _ahead(session, actor, meeting_id, now, "Die Sitzung ist schon abgesagt.")
    meeting.cancelled = True
    followed = _follow(session, meeting, reminders.KIND_CANCELLED, values["reason"], now)
    audit.record(session, actor.username, actor.display_name, "meeting.cancelled", at=now, details={
        "meeting_id": meeting.id, "gremium": org.name, "reason": values["reason"],
        "start": meeting.start.isoformat(), "reminders_cancelled": followed.plan.cancelled,
        "members_told": followed.members_told, "tasks_due_again": followed.tasks_due_again})
    return meeting


def send_invitation(session: Session, actor: Actor, meeting_id: int, data: dict[str, Any],
                    now: datetime | None = None) -> Meeting:
    """The secretary sends the invitation: every member gets it with the agenda.

    After the Ladungsfrist only with a reason; the late invitation is flagged on the session
    and in the history.
    """
    now = now or utcnow()
    values = load(InvitationIn(), data)
    meeting, org = _ahead(session, actor, meeting_id, now, "Die Sitzung ist abgesagt.")
    if meeting.invited is not None:
        raise Conflict(f"Die Einladung wurde schon am "
                       f"{meeting.invited.astimezone(TIMEZONE):%d.%m.%Y} versandt.")
    marks = deadlines.deadlines_for_meeting(session, meeting)
    late = now.astimezone(TIMEZONE).date() > marks.invitation
    if late and not values["reason"]:
        raise Invalid("Die Ladungsfrist ist abgelaufen.", {"reason": [
            f"Die Ladungsfrist endete am {marks.invitation:%d.%m.%Y}: bitte begründen, "
            "warum die Einladung verspätet versandt wird."]})
    meeting.invited = now
    meeting.meeting_state = MEETING_INVITED
    meeting.late_invitation_reason = values["reason"] if late else None
    session.add(meeting)
    session.flush()
    reminders.plan_meeting(session, meeting, now)  # the Ladungsfrist reminder is no longer due
    notified = reminders.notify_members(session, meeting, reminders.KIND_INVITATION, now,
                                        note=values["reason"] if late else None)
    audit.record(session, actor.username, actor.display_name, "meeting.invitation_sent", at=now, details={
        "meeting_id": meeting.id, "gremium": org.name, "members": notified,
        "ladungsfrist": marks.invitation.isoformat(), "late": late,
        **({"reason": values["reason"]} if late else {})})
    return meeting


def flag_overdue_invitations(session: Session, now: datetime | None = None) -> list[Meeting]:
    """Sessions whose Ladungsfrist passed uninvited are flagged once (and audited)."""
    now = now or utcnow()
    today = now.astimezone(TIMEZONE).date()
    flagged = []
    for meeting in session.exec(select(Meeting).where(
            Meeting.cancelled == False, Meeting.invitation_overdue == False,  # noqa: E712
            col(Meeting.invited).is_(None), col(Meeting.start) > now,
            col(Meeting.start) <= now + LONGEST_LADUNGSFRIST)):
        if today > deadlines.deadlines_for_meeting(session, meeting).invitation:
            meeting.invitation_overdue = True
            session.add(meeting)
            told = reminders.escalate_invitation(session, meeting, now)
            audit.record(session, "system", "Scheduler", "meeting.invitation_overdue", at=now,
                         details={"meeting_id": meeting.id, "start": meeting.start.isoformat(),
                                  "secretariat_told": told})
            flagged.append(meeting)
    session.flush()
    return flagged


def _redue_tasks(session: Session, meeting: Meeting, now: datetime) -> int:
    """Ready tasks that wait for this session get their due date (and session) anew."""
    count = 0
    for task in session.exec(select(HumanTask).where(HumanTask.meeting_id == meeting.id,
                                                     HumanTask.status == TASK_READY)):
        rule = task.context.get("due_rule")
        if rule not in rules.DUE_RULES:
            continue
        consultation = session.get(Consultation, task.consultation_id) if task.consultation_id else None
        due = rules.DUE_RULES[rule](session, task.organization_id, consultation, now)
        task.due = due.due
        task.meeting_id = due.meeting.id if due.meeting else None
        session.add(task)
        count += 1
    session.flush()
    return count


# ----------------------------------------------------------------------------- the agenda

@dataclass(frozen=True)
class AgendaEntry:
    number: str | None
    name: str
    public: bool
    paper_id: int | None
    reference: str | None


def _top_key(number: str | None) -> tuple[Any, ...]:
    """TOP "2.10" after "2.9"; items without a number last."""
    if not number:
        return (1,)
    parts: list[Any] = []
    for part in number.split("."):
        parts.append((0, int(part), "") if part.isdigit() else (1, 0, part))
    return (0, *parts)


def agendas(session: Session, meeting_ids: Iterable[int], *,
            public_only: bool = False) -> dict[int, list[AgendaEntry]]:
    """The agendas of several Sitzungen in TOP order, with their Vorlagen (one query)."""
    ids = sorted(set(meeting_ids))
    found: dict[int, list[AgendaEntry]] = {m: [] for m in ids}
    if not ids:
        return found
    rows = session.exec(
        select(AgendaItem, Paper).join(Consultation, col(Consultation.id) == AgendaItem.consultation_id,
                                       isouter=True)
        .join(Paper, col(Paper.id) == Consultation.paper_id, isouter=True)
        .where(col(AgendaItem.meeting_id).in_(ids))).all()
    for item, paper in rows:
        public = item.public and (paper is None or paper.public)
        if public_only and not public:
            continue
        found[item.meeting_id].append(AgendaEntry(
            item.number, paper.name if paper else item.name, public,
            paper.id if paper else None, paper.reference if paper else None))
    for entries in found.values():
        entries.sort(key=lambda e: (not e.public, _top_key(e.number)))
    return found


def agenda(session: Session, meeting_id: int, *, public_only: bool = False) -> list[AgendaEntry]:
    """One Sitzung's agenda (see :func:`agendas`)."""
    return agendas(session, [meeting_id], public_only=public_only)[meeting_id]


def upcoming_for_person(session: Session, person_id: int, now: datetime) -> list[Meeting]:
    """The Sitzungen of the member's Gremien from now on (cancelled ones included, marked)."""
    orgs = [o.id for o in reminders.gremien_of(session, person_id, now.astimezone(TIMEZONE).date())]
    if not orgs:
        return []
    return list(session.exec(select(Meeting).where(col(Meeting.organization_id).in_(orgs),
                                                   col(Meeting.start) >= now)
                             .order_by(col(Meeting.start))).all())
