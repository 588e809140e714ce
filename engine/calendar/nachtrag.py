"""Nachtrag: the members are told, by e-mail, what changed on the agenda of a Sitzung after its
invitation went out – a TOP added, set down, renumbered, moved into the other part, a Vorlage's
text changed, an Anlage added, withdrawn or replaced.

How it is found: the invitation notes the agenda as the members received it
(:func:`note_invitation`, a row ``agenda_notice``). The scheduler's sweep (:func:`detect`)
compares each invited Sitzung ahead with that note; a changed agenda waits :data:`QUIET`
unchanged (the Sekretariat usually changes several things in a row: one Nachtrag for all of
them), then every member gets one message (a ``Reminder`` of kind ``nachtrag``, its key
numbered by the batch: never twice) saying what changed, in words, and the note becomes the
new agenda. The messages leave through the outbox after the sweep's commit, like every other.

Nothing of this runs in a task completion (the statement budget stays as it is): whatever
changes an agenda, the sweep finds it (also an OParl import or a change of a Vorlage's text).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, Column, ForeignKey, Integer
from sqlalchemy import select as sa_select
from sqlmodel import Field, Session, SQLModel, col, select

from engine import audit
from engine.calendar import reminders
from engine.council import AgendaItem, Consultation, File, Meeting, Paper, top_key
from engine.settings import TIMEZONE
from engine.types import modified_column, utc_column

#: How long a changed agenda must stay unchanged before the Nachtrag goes out.
QUIET = timedelta(minutes=10)

Snapshot = list[dict[str, Any]]


class AgendaNotice(SQLModel, table=True):
    """What the members of a Sitzung were last told of its agenda (invitation or Nachtrag)."""

    __tablename__ = "agenda_notice"

    meeting_id: int = Field(sa_column=Column(Integer, ForeignKey("meeting.id"), primary_key=True,
                                             autoincrement=False))
    #: The agenda as last sent (:func:`snapshots`).
    sent: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    sent_at: datetime = Field(sa_column=utc_column(nullable=False))
    #: A changed agenda not yet told, and since when it stands so (the sweep waits :data:`QUIET`).
    pending: list[dict[str, Any]] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    pending_since: datetime | None = Field(default=None, sa_column=utc_column())
    #: How many Nachträge went out (the next one's number).
    batches: int = 0
    modified: datetime | None = Field(default=None, sa_column=modified_column())


def _text_hash(parts: Iterable[str | None]) -> str:
    """A Vorlage's name and text sections, hashed (a change of any is a change of the Vorlage)."""
    return hashlib.sha256("\x1f".join(p or "" for p in parts).encode("utf-8")).hexdigest()[:16]


def snapshots(session: Session, meeting_ids: Iterable[int]) -> dict[int, Snapshot]:
    """The agendas of these Sitzungen as the members see them (two statements): per TOP its id,
    number, name, part, Vorlage (reference and a hash of its text) and stored Anlagen."""
    ids = sorted(set(meeting_ids))
    found: dict[int, Snapshot] = {m: [] for m in ids}
    if not ids:
        return found
    rows = session.execute(
        sa_select(*[col(c) for c in (
            AgendaItem.id, AgendaItem.meeting_id, AgendaItem.number, AgendaItem.position, AgendaItem.name,
            AgendaItem.public, Paper.id, Paper.reference, Paper.name, Paper.facts, Paper.proposal_heading,
            Paper.proposal, Paper.financial_impact, Paper.personnel_impact)])
        .join(Consultation, col(Consultation.id) == AgendaItem.consultation_id, isouter=True)
        .join(Paper, col(Paper.id) == Consultation.paper_id, isouter=True)
        .where(col(AgendaItem.meeting_id).in_(ids))).all()
    paper_ids = {r[6] for r in rows if r[6] is not None}
    files: dict[int, list[list[Any]]] = {}
    if paper_ids:
        for f in session.exec(select(File.id, File.paper_id, File.name, File.sha_512_checksum)
                              .where(col(File.paper_id).in_(paper_ids))
                              .order_by(col(File.position), col(File.id))):
            files.setdefault(f[1], []).append([f[0], f[2], (f[3] or "")[:16]])

    def order(row: Any) -> tuple[Any, ...]:  # as engine.council.agenda_key, the public part first
        return (not row[5], row[3] is None, row[3] or 0, top_key(row[2]), row[0] or 0)

    for row in sorted(rows, key=order):
        paper = ({"id": row[6], "reference": row[7], "text": _text_hash(row[8:14])}
                 if row[6] is not None else None)
        found[row[1]].append({"id": row[0], "number": row[2], "name": row[8] if paper else row[4],
                              "public": bool(row[5]), "paper": paper,
                              "files": files.get(row[6], []) if paper else []})
    return found


def note_invitation(session: Session, meeting: Meeting, now: datetime) -> None:
    """The invitation went out with the agenda as it stands: later changes are a Nachtrag."""
    assert meeting.id is not None
    agenda = snapshots(session, [meeting.id])[meeting.id]
    notice = session.get(AgendaNotice, meeting.id)
    if notice is None:
        session.add(AgendaNotice(meeting_id=meeting.id, sent=agenda, sent_at=now))
    else:
        notice.sent, notice.sent_at, notice.pending, notice.pending_since = agenda, now, None, None
        session.add(notice)
    session.flush()


# ----------------------------------------------------------------------------- in words

def _top(item: dict[str, Any]) -> str:
    label = f"TOP {item['number'] or '–'} „{item['name']}“"
    return label + (f" (Vorlage {item['paper']['reference']})" if item["paper"] else "")


def changes(before: Snapshot, after: Snapshot) -> list[str]:
    """What changed from ``before`` to ``after``, one sentence each, in agenda order."""
    old = {i["id"]: i for i in before}
    new = {i["id"]: i for i in after}
    said: list[str] = []
    for item in after:
        was = old.get(item["id"])
        part = "öffentlichen" if item["public"] else "nichtöffentlichen"
        if was is None:
            said.append(f"Neu auf der Tagesordnung ({part} Teil): {_top(item)}.")
            said.extend(f"Anlage dazu: {name}." for _id, name, _sha in item["files"])
            continue
        if was["number"] != item["number"]:
            said.append(f"{_top(was)} ist jetzt TOP {item['number'] or '–'}.")
        if was["public"] != item["public"]:
            said.append(f"{_top(item)} wird jetzt im {part} Teil beraten.")
        if was["name"] != item["name"] and not item["paper"]:
            said.append(f"TOP {item['number'] or '–'} heißt jetzt „{item['name']}“ (bisher „{was['name']}“).")
        if item["paper"] and was["paper"] and was["paper"]["text"] != item["paper"]["text"]:
            said.append(f"Die Vorlage {item['paper']['reference']} zu TOP {item['number'] or '–'} "
                        "wurde geändert.")
        files_before = {f[0]: f for f in was["files"]}
        files_after = {f[0]: f for f in item["files"]}
        for file_id, name, sha in item["files"]:
            if file_id not in files_before:
                said.append(f"Neue Anlage zu {_top(item)}: {name}.")
            elif files_before[file_id][2] != sha or files_before[file_id][1] != name:
                said.append(f"Anlage zu {_top(item)} ersetzt: {name}.")
        said.extend(f"Anlage zu {_top(item)} zurückgezogen: {f[1]}." for file_id, f in files_before.items()
                    if file_id not in files_after)
    said.extend(f"Von der Tagesordnung abgesetzt: {_top(item)}." for item in before if item["id"] not in new)
    return said


# ----------------------------------------------------------------------------- the sweep

def detect(session: Session, now: datetime) -> int:
    """Every invited Sitzung ahead whose agenda changed since the members were last told, and has
    stood unchanged for :data:`QUIET` (or begins within it): one Nachtrag per member, noted.
    Sitzungen invited before this was built get their note now (told nothing). Returns how many
    messages were written. Three statements when nothing changed (the Sitzungen, their agendas,
    their Anlagen)."""
    rows = session.exec(
        select(Meeting, AgendaNotice)
        .join(AgendaNotice, col(AgendaNotice.meeting_id) == Meeting.id, isouter=True)
        .where(col(Meeting.invited).is_not(None), Meeting.cancelled == False,  # noqa: E712
               col(Meeting.start) > now)).all()
    if not rows:
        return 0
    current = snapshots(session, [m.id for m, _n in rows if m.id is not None])
    written = 0
    for meeting, notice in rows:
        assert meeting.id is not None
        agenda = current[meeting.id]
        if notice is None:
            session.add(AgendaNotice(meeting_id=meeting.id, sent=agenda, sent_at=now))
            continue
        if agenda == notice.sent:
            if notice.pending is not None:  # changed and changed back: nothing to tell
                notice.pending, notice.pending_since = None, None
                session.add(notice)
            continue
        if agenda != notice.pending or notice.pending_since is None:
            notice.pending, notice.pending_since = agenda, now
            session.add(notice)
            if meeting.start - now > QUIET:
                continue
        elif now - notice.pending_since < QUIET and meeting.start - now > QUIET:
            continue
        written += _send(session, meeting, notice, agenda, now)
    session.flush()
    return written


def _send(session: Session, meeting: Meeting, notice: AgendaNotice, agenda: Snapshot, now: datetime) -> int:
    said = changes(notice.sent, agenda)
    notice.batches += 1
    notice.sent, notice.sent_at, notice.pending, notice.pending_since = agenda, now, None, None
    session.add(notice)
    if not said:  # e.g. only an Anlage known by name changed its order: nothing in words
        return 0
    day = meeting.start.astimezone(TIMEZONE).date()
    assert meeting.id is not None
    have = set(session.exec(select(reminders.Reminder.key).where(
        reminders.Reminder.meeting_id == meeting.id,
        reminders.Reminder.kind == reminders.KIND_NACHTRAG)).all())
    written = 0
    note = "\n".join(said)
    for person in reminders.members_of(session, meeting.organization_id, day):
        key = f"{reminders.KIND_NACHTRAG}/{meeting.id}/p{person.id}/{notice.batches}/s{meeting.sequence}"
        if key in have:
            continue
        session.add(reminders.Reminder(key=key, kind=reminders.KIND_NACHTRAG, meeting_id=meeting.id,
                                       person_id=person.id, due_at=now, note=note))
        written += 1
    audit.record(session, "system", "Scheduler", "agenda.supplement_sent", at=now, meeting_id=meeting.id,
                 details={"meeting_id": meeting.id, "reference": meeting.reference,
                          "nachtrag": notice.batches, "changes": said, "members": written})
    return written

