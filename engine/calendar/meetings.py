"""What happens to a Sitzung itself: its invitation sent, a missed Ladungsfrist flagged, its
agenda as members read it. The verbs a secretary calls (``engine.process.sessions``) and the session
process's effects (``engine.process.effects``) stand on these.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam
from sqlmodel import Session, col, select

from engine import audit
from engine.calendar import deadlines, nachtrag, reminders
from engine.council import (
    MEETING_INVITED,
    AgendaItem,
    Consultation,
    File,
    Meeting,
    Organization,
    Paper,
    agenda_key,
)
from engine.db import UNIT_KEYS, memo, remembered
from engine.errors import Conflict, Invalid
from engine.settings import TIMEZONE
from engine.types import ascii_int
from engine.visibility import is_published


def meeting_label(meeting: Meeting) -> str:
    start = meeting.start.astimezone(TIMEZONE)
    label = f"{start:%d.%m.%Y, %H:%M} Uhr – "
    if meeting.reference:
        label += f"{meeting.reference} "
    return label + meeting.name


@dataclass(frozen=True)
class Invitation:
    members: int
    late: bool


def dispatch_invitation(session: Session, username: str, display_name: str, meeting: Meeting,
                        reason: str | None, now: datetime) -> Invitation:
    """Every member gets the invitation with the agenda (the session process's
    "Einladung versenden"). After the Ladungsfrist only with a reason; the late invitation
    is flagged on the session and in the history."""
    if meeting.cancelled:
        raise Conflict("Die Sitzung ist abgesagt.")
    if meeting.invited is not None:
        raise Conflict(f"Die Einladung wurde schon am "
                       f"{meeting.invited.astimezone(TIMEZONE):%d.%m.%Y} versandt.")
    if meeting.start <= now:
        start = meeting.start.astimezone(TIMEZONE)
        raise Conflict(f"Die Sitzung hat schon begonnen ({start:%d.%m.%Y}, {start:%H:%M} Uhr).")
    marks = deadlines.deadlines_for_meeting(session, meeting)
    late = now.astimezone(TIMEZONE).date() > marks.invitation
    reason = (reason or "").strip() or None
    if late and not reason:
        raise Invalid("Die Ladungsfrist ist abgelaufen.", {"reason": [
            f"Die Ladungsfrist endete am {marks.invitation:%d.%m.%Y}: bitte begründen, "
            "warum die Einladung verspätet versandt wird."]})
    meeting.invited = now
    meeting.meeting_state = MEETING_INVITED
    meeting.late_invitation_reason = reason if late else None
    session.add(meeting)
    session.flush()
    reminders.plan_meeting(session, meeting, now)  # the Ladungsfrist reminder is no longer due
    nachtrag.note_invitation(session, meeting, now)  # later changes of the agenda: a Nachtrag
    notified = reminders.notify_members(session, meeting, reminders.KIND_INVITATION, now,
                                        note=reason if late else None)
    org = session.get(Organization, meeting.organization_id)
    audit.record(session, username, display_name, "meeting.invitation_sent", at=now, meeting_id=meeting.id,
                 details={"meeting_id": meeting.id, "reference": meeting.reference,
                          "gremium": org.name if org else None, "members": notified,
        "ladungsfrist": marks.invitation.isoformat(), "late": late,
        **({"reason": reason} if late else {})})
    return Invitation(notified, late)


def flag_invitation_missed(session: Session, meeting: Meeting, now: datetime) -> int:
    """The Ladungsfrist passed with the invitation unsent: the session is flagged once, the
    Sekretariat told at once (audited). Returns how many secretaries were told."""
    if meeting.invitation_overdue or meeting.invited is not None or meeting.cancelled:
        return 0
    meeting.invitation_overdue = True
    session.add(meeting)
    told = reminders.escalate_invitation(session, meeting, now)
    audit.record(session, "system", "Scheduler", "meeting.invitation_overdue", at=now, meeting_id=meeting.id,
                 details={"meeting_id": meeting.id, "reference": meeting.reference,
                          "start": meeting.start.isoformat(),
                          "secretariat_told": told})
    session.flush()
    return told


_NUMBERS_KEY = "agenda_numbers"
_AGENDA_NUMBERS = select(AgendaItem.number).where(AgendaItem.meeting_id == bindparam("meeting_id"))


def note_agenda_numbers(session: Session, meeting_id: int | None, numbers: list[str]) -> None:
    """A session's TOP numbers as read with it, held until the unit of work's next write."""
    memo(session)[(_NUMBERS_KEY, meeting_id)] = numbers


def agenda_numbers(session: Session, meeting_id: int | None) -> list[str]:
    """A session's TOP numbers (read with its Gremium's sessions, or now)."""
    def read() -> list[str]:
        return [n for n in session.exec(_AGENDA_NUMBERS, params={"meeting_id": meeting_id}).all() if n]
    return remembered(session, (_NUMBERS_KEY, meeting_id), read)  # type: ignore[no-any-return]


def next_top_number(session: Session, meeting_id: int | None) -> str:
    """The next free top-level TOP number of a session's agenda ("1", "2", …)."""
    numbers = agenda_numbers(session, meeting_id)
    tops = [ascii_int(n.split(".")[0], 9) for n in numbers if n]
    return str(max((t for t in tops if t is not None), default=0) + 1)


_PUT_NOW = "ratsflow_put_on_agenda"
UNIT_KEYS.add(_PUT_NOW)


def put_on_agenda_now(session: Session, consultation_id: int | None, meeting_id: int, number: str) -> None:
    """Note a TOP put on an agenda in this unit of work whose row may not be written yet."""
    session.info.setdefault(_PUT_NOW, {})[(consultation_id, meeting_id)] = number


def note_top_number(session: Session, consultation_id: int | None, meeting_id: int,
                    number: str | None) -> None:
    """Note a Beratung's TOP number in a session as read with it (None: not on that agenda)."""
    session.info.setdefault(_PUT_NOW, {}).setdefault((consultation_id, meeting_id), number or "")


def top_number(session: Session, consultation_id: int | None, meeting_id: int | None) -> str | None:
    """A Beratung's TOP number in a session: put there or read in this unit of work, or read."""
    noted = session.info.get(_PUT_NOW, {}).get((consultation_id, meeting_id))
    if noted is not None:
        return noted or None
    return session.exec(select(AgendaItem.number).where(
        AgendaItem.consultation_id == consultation_id, AgendaItem.meeting_id == meeting_id)).first()


# ----------------------------------------------------------------------------- the agenda

@dataclass(frozen=True)
class AgendaEntry:
    number: str | None
    name: str
    public: bool
    paper_id: int | None
    reference: str | None
    item_id: int | None = None
    result: str | None = None


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
    for item, paper in sorted(rows, key=lambda r: agenda_key(r[0])):
        public = item.public and (paper is None or is_published(paper))
        if public_only and not public:
            continue
        found[item.meeting_id].append(AgendaEntry(
            item.number, paper.name if paper else item.name, public,
            paper.id if paper else None, paper.reference if paper else None, item.id, item.result))
    for entries in found.values():
        entries.sort(key=lambda e: not e.public)  # stable: agenda order within each part
    return found


def agenda(session: Session, meeting_id: int, *, public_only: bool = False) -> list[AgendaEntry]:
    """One Sitzung's agenda (see :func:`agendas`)."""
    return agendas(session, [meeting_id], public_only=public_only)[meeting_id]


def agenda_items(session: Session, meeting_id: int) -> list[AgendaEntry]:
    """The whole agenda as its Sekretariat manages it (both parts, with the items' ids)."""
    return agendas(session, [meeting_id])[meeting_id]


def upcoming_for_person(session: Session, person_id: int, now: datetime) -> list[Meeting]:
    """The Sitzungen of the member's Gremien from now on (cancelled ones included, marked)."""
    orgs = [o.id for o in reminders.gremien_of(session, person_id, now.astimezone(TIMEZONE).date())]
    if not orgs:
        return []
    return list(session.exec(select(Meeting).where(col(Meeting.organization_id).in_(orgs),
                                                   col(Meeting.start) >= now)
                             .order_by(col(Meeting.start))).all())


# ----------------------------------------------------------------------------- for the public

@dataclass(frozen=True)
class MinutesDocument:
    """The released Niederschrift's public part (``engine.minutes``): its name, version, size."""

    name: str
    version: int
    size: int


@dataclass(frozen=True)
class Minutes:
    """What the public learns of a Sitzung's Niederschrift: whether and when it was released,
    and its public part as a document (None: released before it was one, or not yet)."""

    released: datetime | None
    document: MinutesDocument | None = None


def minutes_of(meeting: Meeting, document: MinutesDocument | None = None) -> Minutes:
    return Minutes(meeting.minutes_released, document)


def documents_of(session: Session, paper_ids: Iterable[int | None]) -> dict[int, list[File]]:
    """The Anlagen with stored content of these Vorlagen, in their order (one query)."""
    ids = sorted({i for i in paper_ids if i is not None})
    found: dict[int, list[File]] = {i: [] for i in ids}
    if ids:
        for f in session.exec(select(File).where(col(File.paper_id).in_(ids),
                                                 col(File.sha_512_checksum).is_not(None))
                              .order_by(col(File.paper_id), col(File.position), col(File.id))):
            found[f.paper_id].append(f)
    return found
