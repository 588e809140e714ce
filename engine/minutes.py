"""The Niederschrift as a document (issue 19, point 4).

ratsflow drafts it from what the session recorded: the agenda, the attendance (present,
excused, absent; late arrivals and early leaves; stand-ins; guests), each TOP's result with
its votes (counts, einstimmig/mehrheitlich, the roll call by name), who was excluded for
Befangenheit (named) and the decided texts. The Sekretariat edits only the free parts
(opening, closing, a remark per TOP); everything else is read again whenever it is shown, so
the draft never disagrees with the attendance sheet.

The session model (``bpmn/sitzung.bpmn``) carries the sign-off: the Sekretariat submits the
draft (effect ``submitMinutes``), the Schriftführung and the Vorsitz of the Gremium sign it
(``signMinutesAsSecretary``, ``signMinutesAsChair``; either may return it with a remark, back
to drafting), and the event after both signatures releases it (``releaseMinutes``): the two
PDFs (public and non-public part, PDF/UA-1 by WeasyPrint) are rendered then and stored as
bytes with the version; released, the version is frozen. A later change is a new version with
a reason (:func:`correct`), audited, released at once and shown with its reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
from sqlalchemy import JSON, Column, LargeBinary, Text, UniqueConstraint, func
from sqlalchemy import select as sa_select
from sqlalchemy.orm import defer
from sqlmodel import Field, Session, SQLModel, col, select

from engine import attendance, audit
from engine.accounts import Actor
from engine.council import MEETING_HELD, RESULTS, Account, AgendaItem, Meeting, Membership, Organization
from engine.errors import Conflict, Invalid
from engine.settings import TIMEZONE
from engine.types import utc_column
from engine.words import N_

DRAFT = N_("entwurf")
SIGNING = N_("zur Zeichnung")
RELEASED = N_("freigegeben")
REPLACED = N_("ersetzt")

#: The membership role that signs as Vorsitz (the chair of the Gremium on the session day).
CHAIR_ROLE = "Vorsitz"
#: The lane of the Vorsitz's task in the session model: the chair signs, not a grant.
CHAIR_LANE = "Vorsitz"

MAX_TEXT = 20000
MAX_REASON = 500

VOTE_WORDS = {"ja": "Ja", "nein": "Nein", "enthaltung": "Enthaltung"}
MODE_WORDS = {"einstimmig": "einstimmig", "mehrheitlich": "mehrheitlich", "gezaehlt": "Stimmen gezählt",
              "namentlich": "namentliche Abstimmung"}


class Minutes(SQLModel, table=True):
    """One version of a Sitzung's Niederschrift."""

    __tablename__ = "minutes"
    __table_args__ = (UniqueConstraint("meeting_id", "version"),)

    id: int | None = Field(default=None, primary_key=True)
    meeting_id: int = Field(foreign_key="meeting.id", index=True)
    version: int = 1
    state: str = Field(default=DRAFT, max_length=20)
    opening: str = Field(default="", sa_column=Column(Text, nullable=False))
    closing: str = Field(default="", sa_column=Column(Text, nullable=False))
    #: The secretary's remark per TOP: agenda item id (as text) → remark.
    remarks: dict[str, str] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    reason: str | None = Field(default=None, max_length=500)  # why a released version was corrected
    returned_remark: str | None = Field(default=None, max_length=1000)
    returned_by: str | None = Field(default=None, max_length=200)
    secretary_signed_by: str | None = Field(default=None, max_length=200)
    secretary_signed_at: datetime | None = Field(default=None, sa_column=utc_column())
    chair_signed_by: str | None = Field(default=None, max_length=200)
    chair_signed_at: datetime | None = Field(default=None, sa_column=utc_column())
    released_at: datetime | None = Field(default=None, sa_column=utc_column())
    public_pdf: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    nonpublic_pdf: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    created: datetime = Field(sa_column=utc_column(nullable=False))
    created_by: str = Field(max_length=100)
    modified: datetime = Field(sa_column=utc_column(nullable=False))


# ----------------------------------------------------------------------------- reading

#: The PDFs are read only when they are served (a page lists versions without their bytes).
_WITHOUT_PDFS = tuple(defer(getattr(Minutes, name)) for name in ("public_pdf", "nonpublic_pdf"))


def current(session: Session, meeting_id: int | None) -> Minutes | None:
    """The newest version (None: nothing drafted yet), without its PDFs' bytes."""
    if meeting_id is None:
        return None
    return session.exec(select(Minutes).where(Minutes.meeting_id == meeting_id).options(*_WITHOUT_PDFS)
                        .order_by(col(Minutes.version).desc()).limit(1)).first()


@dataclass(frozen=True)
class Published:
    """The released version in force, as a page shows it: no bytes, their sizes."""

    version: int
    public_size: int | None
    nonpublic_size: int | None


def published(session: Session, meeting_id: int) -> Published | None:
    """The released version's sizes (one query, not the PDFs)."""
    row = session.execute(sa_select(
        col(Minutes.version), func.length(col(Minutes.public_pdf)), func.length(col(Minutes.nonpublic_pdf)))
        .where(col(Minutes.meeting_id) == meeting_id, col(Minutes.state) == RELEASED)
        .order_by(col(Minutes.version).desc()).limit(1)).first()
    return Published(row[0], row[1], row[2]) if row is not None else None


def released(session: Session, meeting_id: int | None) -> Minutes | None:
    """The version in force (released, not replaced)."""
    if meeting_id is None:
        return None
    return session.exec(select(Minutes).where(Minutes.meeting_id == meeting_id, Minutes.state == RELEASED)
                        .order_by(col(Minutes.version).desc()).limit(1)).first()


@dataclass
class Entry:
    """One TOP as the Niederschrift reports it."""

    item_id: int
    label: str
    name: str
    public: bool
    result: str | None
    votes: str | None
    quorum: str | None
    excluded: list[str]
    roll_call: list[str]
    text: str | None
    remark: str


@dataclass
class Document:
    """Everything the Niederschrift says (both parts), drafted from the session's records."""

    gremium: str
    title: str
    reference: str
    day: str
    place: str
    opened: str
    closed: str
    present: list[str]
    excused: list[str]
    absent: list[str]
    guests: list[str]
    entries: list[Entry]
    opening: str
    closing: str
    chair: str | None
    version: int = 1
    state: str = DRAFT
    reason: str | None = None
    signatures: list[str] = field(default_factory=list)

    def part(self, public: bool) -> list[Entry]:
        return [e for e in self.entries if e.public == public]


def _clock(at: datetime | None) -> str:
    return f"{at.astimezone(TIMEZONE):%H:%M}" if at is not None else ""


def _presence(line: attendance.Line, sheet: attendance.Sheet) -> str:
    text = line.name
    if line.kind == attendance.STANDIN and line.stands_in_for is not None:
        text += f" (in Vertretung für {sheet.name(line.stands_in_for)})"
    elif line.role and line.role not in ("Mitglied",):
        text += f" ({line.role})"
    times = []
    if line.arrived is not None and sheet.opened is not None and line.arrived > sheet.opened:
        times.append(f"ab {_clock(line.arrived)} Uhr")
    if line.left is not None:
        times.append(f"bis {_clock(line.left)} Uhr")
    return text + (", " + ", ".join(times) if times else "")


def chair_of(sheet: attendance.Sheet) -> str | None:
    """The Vorsitz of the Gremium on the session day (from the memberships)."""
    return next((li.name for li in sheet.lines if li.listed and li.role == CHAIR_ROLE), None)


def compose(session: Session, meeting: Meeting, row: Minutes | None) -> Document:
    """The Niederschrift of ``meeting`` with the free parts of ``row`` (two queries)."""
    sheet = attendance.read_sheet(session, meeting)
    org = session.get(Organization, meeting.organization_id)
    texts = dict(session.exec(select(AgendaItem.id, AgendaItem.resolution_text)
                              .where(AgendaItem.meeting_id == meeting.id)).all())
    remarks = row.remarks if row is not None else {}
    entries = []
    for top in sheet.ordered_tops():
        state = sheet.at_top(top.item_id) if sheet.recorded else None
        votes = None
        if top.votes_yes is not None or top.votes_no is not None or top.votes_abstain is not None:
            votes = (f"Ja {top.votes_yes or 0}, Nein {top.votes_no or 0}, "
                     f"Enthaltungen {top.votes_abstain or 0}")
            if top.vote_mode:
                votes = f"{MODE_WORDS.get(top.vote_mode, top.vote_mode)}: {votes}"
        quorum = None
        if state is not None and state.at is not None:
            q = state.quorum
            quorum = (f"{q.present} von {q.seats} stimmberechtigten Mitgliedern anwesend, "
                      + ("beschlussfähig" if q.ok else "nicht beschlussfähig")
                      + (" (erneute Einberufung, § 49 Abs. 2 GO NRW)" if q.repeat_call else ""))
        cast = sheet.votes.get(top.item_id, {})
        roll = [f"{sheet.name(p)}: {VOTE_WORDS.get(v, v)}"
                for p, v in sorted(cast.items(), key=lambda pv: sheet.name(pv[0]))]
        excluded = sorted(sheet.name(p) for p in sheet.bias.get(top.item_id, {}))
        entries.append(Entry(top.item_id, top.label, top.name, top.public,
                             RESULTS.get(top.result, top.result) if top.result else None, votes, quorum,
                             excluded, roll, texts.get(top.item_id), remarks.get(str(top.item_id), "")))
    people = [li for li in sheet.lines if li.kind != attendance.GUEST]
    start = meeting.start.astimezone(TIMEZONE)
    signatures = []
    if row is not None and row.secretary_signed_at is not None:
        signatures.append(f"Schriftführung: {row.secretary_signed_by}, gezeichnet am "
                          f"{row.secretary_signed_at.astimezone(TIMEZONE):%d.%m.%Y}")
    if row is not None and row.chair_signed_at is not None:
        signatures.append(f"Vorsitz: {row.chair_signed_by}, gezeichnet am "
                          f"{row.chair_signed_at.astimezone(TIMEZONE):%d.%m.%Y}")
    return Document(
        gremium=org.name if org else "", title=meeting.name, reference=meeting.reference or "",
        day=f"{start:%d.%m.%Y}", place=meeting.location or "", opened=_clock(meeting.opened),
        closed=_clock(meeting.closed),
        present=[_presence(li, sheet) for li in people if li.status == attendance.PRESENT],
        excused=[li.name for li in people if li.status == attendance.EXCUSED],
        absent=[li.name for li in people if li.listed and li.voting
                and li.status in (None, attendance.ABSENT)],
        guests=[f"{g.name} ({g.guest_role})" if g.guest_role else g.name for g in sheet.guests],
        entries=entries, opening=row.opening if row else "", closing=row.closing if row else "",
        chair=chair_of(sheet), version=row.version if row else 1, state=row.state if row else DRAFT,
        reason=row.reason if row else None, signatures=signatures)


# ----------------------------------------------------------------------------- rendering

#: The Niederschrift's HTML (``engine/niederschrift.html``), rendered to PDF by WeasyPrint.
_TEMPLATE = jinja2.Environment(autoescape=True, trim_blocks=True, lstrip_blocks=True).from_string(
    (Path(__file__).parent / "niederschrift.html").read_text(encoding="utf-8"))


def title_of(doc: Document, public: bool) -> str:
    part = "öffentlicher Teil" if public else "nichtöffentlicher Teil"
    return f"Niederschrift {doc.reference or doc.title} vom {doc.day} ({part})"


def render_html(doc: Document, public: bool) -> str:
    return _TEMPLATE.render(doc=doc, public=public, entries=doc.part(public), title=title_of(doc, public))


def render_pdf(doc: Document, public: bool) -> bytes:
    """The part as an accessible PDF: PDF/UA-1 (tagged, language ``de``, title shown)."""
    import weasyprint  # loads Pango on first use, not at import of the engine

    html = weasyprint.HTML(string=render_html(doc, public))
    pdf = html.write_pdf(pdf_variant="pdf/ua-1")  # the language: <html lang="de">
    assert pdf is not None
    return bytes(pdf)


# ----------------------------------------------------------------------------- the Sekretariat's edits

def _free_parts(data: dict[str, Any], item_ids: set[int]) -> tuple[str, str, dict[str, str]]:
    errors: dict[str, list[str]] = {}
    opening = str(data.get("opening") or "").strip()
    closing = str(data.get("closing") or "").strip()
    for name, text in (("opening", opening), ("closing", closing)):
        if len(text) > MAX_TEXT:
            errors[name] = [f"Höchstens {MAX_TEXT} Zeichen."]
    remarks: dict[str, str] = {}
    for key, value in (data.get("remarks") or {}).items():
        text = str(value or "").strip()
        if not str(key).isdigit() or int(key) not in item_ids:
            errors["remarks"] = ["Diesen Tagesordnungspunkt gibt es in der Sitzung nicht."]
        elif len(text) > MAX_TEXT:
            errors[f"remark-{key}"] = [f"Höchstens {MAX_TEXT} Zeichen."]
        elif text:
            remarks[str(key)] = text
    if errors:
        raise Invalid("Eingaben bitte prüfen.", errors)
    return opening, closing, remarks


def _items(session: Session, meeting_id: int) -> set[int]:
    return {i for i in session.exec(select(AgendaItem.id).where(AgendaItem.meeting_id == meeting_id)).all()
            if i is not None}


def save(session: Session, actor: Actor, meeting: Meeting, data: dict[str, Any], now: datetime) -> Minutes:
    """The Sekretariat edits the free parts of the draft (a first version is created)."""
    assert meeting.id is not None
    row = current(session, meeting.id)
    if row is not None and row.state == SIGNING:
        raise Conflict("Die Niederschrift liegt zur Zeichnung vor; ändern lässt sie sich erst, "
                       "wenn sie zurückgegeben wird.")
    if row is not None and row.state in (RELEASED, REPLACED):
        raise Conflict("Die Niederschrift ist freigegeben; eine Änderung ist nur als Berichtigung "
                       "mit Begründung möglich.")
    opening, closing, remarks = _free_parts(data, _items(session, meeting.id))
    if row is None:
        row = Minutes(meeting_id=meeting.id, created=now, created_by=actor.username, modified=now)
    row.opening, row.closing, row.remarks, row.modified = opening, closing, remarks, now
    session.add(row)
    session.flush()
    audit.record(session, actor.username, actor.display_name, "minutes.saved", meeting_id=meeting.id, at=now,
                 details={"version": row.version, "sitzung": meeting.reference or meeting.name})
    return row


def correct(session: Session, actor: Actor, meeting: Meeting, data: dict[str, Any], reason: str | None,
            now: datetime) -> Minutes:
    """A change after the release: a new version with its reason, released at once (the
    version before it stays stored, ``ersetzt``); audited."""
    assert meeting.id is not None
    before = released(session, meeting.id)
    if before is None:
        raise Conflict("Die Niederschrift ist noch nicht freigegeben; bitte den Entwurf bearbeiten.")
    why = (reason or "").strip()
    if not why:
        raise Invalid("Eingaben bitte prüfen.", {"reason": [
            "Die Niederschrift ist freigegeben: bitte begründen, warum sie berichtigt wird."]})
    if len(why) > MAX_REASON:
        raise Invalid("Eingaben bitte prüfen.", {"reason": [f"Höchstens {MAX_REASON} Zeichen."]})
    opening, closing, remarks = _free_parts(data, _items(session, meeting.id))
    row = Minutes(meeting_id=meeting.id, version=before.version + 1, state=RELEASED, opening=opening,
                  closing=closing, remarks=remarks, reason=why,
                  secretary_signed_by=before.secretary_signed_by,
                  secretary_signed_at=before.secretary_signed_at,
                  chair_signed_by=before.chair_signed_by, chair_signed_at=before.chair_signed_at,
                  released_at=now, created=now, created_by=actor.username, modified=now)
    before.state, before.modified = REPLACED, now
    meeting.modified = now  # OParl clients asking with modified_since see the new resultsProtocol
    session.add_all([before, meeting])
    session.add(row)
    session.flush()
    _render(session, meeting, row)
    audit.record(session, actor.username, actor.display_name, "minutes.corrected", meeting_id=meeting.id,
                 at=now, details={"version": row.version, "reason": why,
                                  "sitzung": meeting.reference or meeting.name})
    return row


def _render(session: Session, meeting: Meeting, row: Minutes) -> None:
    doc = compose(session, meeting, row)
    row.public_pdf = render_pdf(doc, public=True)
    row.nonpublic_pdf = render_pdf(doc, public=False) if doc.part(public=False) else None
    session.add(row)
    session.flush()


# ----------------------------------------------------------------------------- the model's effects

def submit(session: Session, meeting: Meeting, username: str, now: datetime) -> dict[str, Any]:
    """The Sekretariat hands the draft over for signing (a first version if none was edited)."""
    assert meeting.id is not None
    row = current(session, meeting.id)
    if row is None or row.state in (RELEASED, REPLACED):
        row = Minutes(meeting_id=meeting.id, version=row.version + 1 if row else 1,
                      opening=row.opening if row else "", closing=row.closing if row else "",
                      remarks=dict(row.remarks) if row else {}, created=now, created_by=username,
                      modified=now)
    row.state, row.modified = SIGNING, now
    row.secretary_signed_by = row.secretary_signed_at = row.chair_signed_by = row.chair_signed_at = None
    session.add(row)
    session.flush()
    return {"minutes_version": row.version}


def _signing(session: Session, meeting: Meeting) -> Minutes:
    row = current(session, meeting.id)
    if row is None or row.state != SIGNING:
        raise Conflict("Die Niederschrift liegt nicht zur Zeichnung vor.")
    return row


RETURN = "zurueckgeben"


def sign(session: Session, meeting: Meeting, as_chair: bool, display_name: str, values: dict[str, Any],
         now: datetime) -> dict[str, Any]:
    """Schriftführung or Vorsitz signs, or returns the draft with a remark (back to drafting)."""
    row = _signing(session, meeting)
    who = "Vorsitz" if as_chair else "Schriftführung"
    if values.get("entscheidung") == RETURN:
        remark = str(values.get("anmerkung") or "").strip()
        if not remark:
            raise Invalid("Eingaben bitte prüfen.", {"anmerkung": [
                "Bitte angeben, was an der Niederschrift zu ändern ist."]})
        row.state, row.returned_remark, row.returned_by, row.modified = DRAFT, remark[:1000], \
            f"{display_name} ({who})", now
        row.secretary_signed_by = row.secretary_signed_at = row.chair_signed_by = row.chair_signed_at = None
        session.add(row)
        session.flush()
        return {"minutes_version": row.version, "returned": remark, "by": who}
    if as_chair:
        row.chair_signed_by, row.chair_signed_at = display_name, now
    else:
        row.secretary_signed_by, row.secretary_signed_at = display_name, now
    row.modified = now
    session.add(row)
    session.flush()
    return {"minutes_version": row.version, "signed": who}


def release(session: Session, meeting: Meeting, now: datetime) -> dict[str, Any]:
    """Released: the signed version is rendered and frozen; the Sitzung's release is set. A
    model version without signing (one task "Niederschrift freigeben") releases the draft."""
    row = current(session, meeting.id)
    if row is not None and row.state in (DRAFT, SIGNING):
        row.state, row.released_at, row.modified = RELEASED, now, now
        session.add(row)
        session.flush()
        _render(session, meeting, row)
    meeting.minutes_released = now
    session.add(meeting)
    session.flush()
    return {"minutes_version": row.version if row is not None else None}


def is_chair(session: Session, actor: Actor, organization_id: int | None, meeting: Meeting | None) -> bool:
    """Whether the actor's person is the Vorsitz of the Gremium on the session day."""
    if organization_id is None or meeting is None:
        return False
    day = meeting.start.astimezone(TIMEZONE).date()
    found = session.exec(
        select(Membership.id).join(Account, col(Account.person_id) == Membership.person_id)
        .where(Account.id == actor.account_id, Membership.organization_id == organization_id,
               Membership.role == CHAIR_ROLE,
               (col(Membership.start_date).is_(None)) | (col(Membership.start_date) <= day),
               (col(Membership.end_date).is_(None)) | (col(Membership.end_date) >= day))).first()
    return found is not None


# ----------------------------------------------------------------------------- for the Sitzung's page

def edit(session: Session, actor: Actor, meeting_id: int, values: dict[str, Any], now: datetime) -> Minutes:
    """The Sekretariat's form on the Sitzung's page: the free parts (``opening``, ``closing``,
    ``remark-<TOP id>``); after the release a correction with ``reason`` (a new version)."""
    meeting = attendance._meeting(session, meeting_id, lock=True)
    attendance._secretary(session, actor, meeting)
    if meeting.cancelled:
        raise Conflict("Die Sitzung ist abgesagt; sie hat keine Niederschrift.")
    if meeting.meeting_state != MEETING_HELD:
        raise Conflict("Die Niederschrift entsteht, wenn die Sitzung begonnen hat.")
    data = {"opening": values.get("opening"), "closing": values.get("closing"),
            "remarks": {key.removeprefix("remark-"): value for key, value in values.items()
                        if key.startswith("remark-")}}
    if released(session, meeting_id) is not None:
        return correct(session, actor, meeting, data, values.get("reason"), now)
    return save(session, actor, meeting, data, now)


def versions(session: Session, meeting_id: int) -> list[Minutes]:
    """Every version, newest first (the page lists the corrections with their reasons)."""
    return list(session.exec(select(Minutes).where(Minutes.meeting_id == meeting_id).options(*_WITHOUT_PDFS)
                             .order_by(col(Minutes.version).desc())).all())
