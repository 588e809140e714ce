"""A Sitzung as it took place: who was there and when, whether the Gremium could decide, who
was excluded for bias, how each member voted by name (issue 19).

* **Anwesenheit**: every member and stand-in of the Gremium from the memberships valid on the
  session day, each anwesend (with arrival and leaving time: late arrival, early leave),
  entschuldigt or abwesend; guests (Verwaltung, Presse) as free lines. A member apologises in
  advance (``apologise``); the Sekretariat records the list in the session (``record``).
* **Beschlussfähigkeit** (GO NRW § 49 Abs. 1): more than half of the Gremium's voting members
  present – at the opening and at each TOP (its time: ``AgendaItem.called_at``, else the
  time of the TOP before it, else the opening). A stand-in present fills the seat of the
  member they stand in for. A TOP on which the Gremium was called again after it could not
  decide (§ 49 Abs. 2) is quorate regardless (``AgendaItem.repeat_call``).
* **Befangenheit** (GO NRW § 31, § 43 Abs. 2): declared for one TOP by the member in advance or by
  the Sekretariat in the session; the member is excluded from that TOP's count.
* **Namentliche Abstimmung**: each voting member's vote at one TOP.

The result step of the Beratungsfolge checks its votes here (:func:`check_result`: one query).
Every change is audited in words; once the Niederschrift is released, a change of the
attendance needs a reason.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import Integer, String, UniqueConstraint, bindparam, literal, null, or_, union_all
from sqlalchemy import cast as sa_cast
from sqlalchemy import select as sa_select
from sqlmodel import Field, Session, SQLModel, col, delete, select

from engine import audit
from engine.accounts import Account, Actor
from engine.council import (
    ROLE_SECRETARIAT,
    AgendaItem,
    Consultation,
    Meeting,
    Membership,
    Organization,
    Person,
    agenda_key,
)
from engine.errors import Conflict, Forbidden, Invalid, NotFound
from engine.settings import TIMEZONE
from engine.types import UTCDateTime, ascii_int, utc_column, utcnow
from engine.words import N_

PRESENT = "anwesend"
EXCUSED = "entschuldigt"
ABSENT = "abwesend"
STATUSES = (PRESENT, EXCUSED, ABSENT)
STATUS_NAMES = {PRESENT: N_("anwesend"), EXCUSED: N_("entschuldigt"), ABSENT: N_("abwesend")}

MEMBER = "Mitglied"
STANDIN = "Stellvertretung"
GUEST = "Gast"

YES, NO, ABSTAIN = "ja", "nein", "enthaltung"
VOTES = {YES: N_("Ja"), NO: N_("Nein"), ABSTAIN: N_("Enthaltung")}

#: How a result was voted (the result form's ``abstimmung``).
UNANIMOUS, MAJORITY, COUNTED, ROLL_CALL = "einstimmig", "mehrheitlich", "gezaehlt", "namentlich"
VOTE_MODES = {UNANIMOUS: N_("einstimmig"), MAJORITY: N_("mehrheitlich"), COUNTED: N_("Stimmen gezählt"),
              ROLL_CALL: N_("namentlich")}

#: Results that are decisions of the Gremium: they need a vote, and a quorate Gremium.
VOTED_RESULTS = frozenset({"empfohlen", "geaendert_empfohlen", "nicht_empfohlen", "beschlossen",
                           "geaendert_beschlossen", "abgelehnt"})
#: Of those, the ones that say the motion was carried (more Ja than Nein, GO NRW § 50 Abs. 1).
CARRIED = frozenset({"empfohlen", "geaendert_empfohlen", "beschlossen", "geaendert_beschlossen"})

MAX_GUESTS = 30
_TIME = re.compile(r"^(\d{1,2})[:.](\d{2})$")


class Attendance(SQLModel, table=True):
    """One line of a Sitzung's attendance: a member or stand-in (``person_id``) or a guest."""

    __tablename__ = "attendance"
    __table_args__ = (UniqueConstraint("meeting_id", "person_id"),)

    id: int | None = Field(default=None, primary_key=True)
    meeting_id: int = Field(foreign_key="meeting.id", index=True)
    person_id: int | None = Field(default=None, foreign_key="person.id")  # None: a guest
    kind: str = Field(default=MEMBER, max_length=20)  # Mitglied | Stellvertretung | Gast
    status: str = Field(default=ABSENT, max_length=20)  # anwesend | entschuldigt | abwesend
    #: Present from / until (None: from the opening / until the end).
    arrived: datetime | None = Field(default=None, sa_column=utc_column())
    left: datetime | None = Field(default=None, sa_column=utc_column())
    #: A stand-in present fills this voting member's seat.
    stands_in_for_id: int | None = Field(default=None, foreign_key="person.id")
    guest_name: str | None = Field(default=None, max_length=200)
    guest_role: str | None = Field(default=None, max_length=200)  # "Verwaltung", "Presse" …
    #: The member's own apology, sent in advance from "Meine Sitzungen".
    apology_at: datetime | None = Field(default=None, sa_column=utc_column())
    apology_note: str | None = Field(default=None, max_length=500)
    modified: datetime | None = Field(default=None, sa_column=utc_column())


class BiasDeclaration(SQLModel, table=True):
    """Befangenheit: the member takes no part in this TOP (GO NRW § 31, § 43 Abs. 2)."""

    __tablename__ = "bias_declaration"
    __table_args__ = (UniqueConstraint("agenda_item_id", "person_id"),)

    id: int | None = Field(default=None, primary_key=True)
    agenda_item_id: int = Field(foreign_key="agenda_item.id", index=True)
    person_id: int = Field(foreign_key="person.id")
    declared_at: datetime = Field(sa_column=utc_column(nullable=False))
    declared_by: str = Field(max_length=100)  # the account's username
    by_member: bool = False  # the member's own declaration (else the Sekretariat's)
    note: str | None = Field(default=None, max_length=500)


class RollCallVote(SQLModel, table=True):
    """One member's vote in a namentliche Abstimmung on a TOP."""

    __tablename__ = "roll_call_vote"
    __table_args__ = (UniqueConstraint("agenda_item_id", "person_id"),)

    id: int | None = Field(default=None, primary_key=True)
    agenda_item_id: int = Field(foreign_key="agenda_item.id", index=True)
    person_id: int = Field(foreign_key="person.id")
    vote: str = Field(max_length=20)  # ja | nein | enthaltung
    recorded: datetime = Field(sa_column=utc_column(nullable=False))
    recorded_by: str = Field(max_length=100)


def is_standin(role: str | None) -> bool:
    """"stellvertretendes Mitglied", "Stellvertreterin" …: not a seat of its own ("stellv.
    Vorsitz" is a member who chairs in the chair's absence: a seat)."""
    low = (role or "").strip().lower()
    return low.startswith("stellvertret")


# ----------------------------------------------------------------------------- the sheet

@dataclass
class Line:
    """A person (or guest) on the attendance sheet, as recorded or as listed."""

    person_id: int | None
    name: str
    kind: str
    role: str
    voting: bool  # holds a voting seat of the Gremium
    status: str | None = None  # None: not recorded yet
    arrived: datetime | None = None
    left: datetime | None = None
    stands_in_for: int | None = None
    guest_role: str | None = None
    apology_at: datetime | None = None
    apology_note: str | None = None
    row_id: int | None = None
    listed: bool = True  # from a membership valid on the day (else only recorded)

    @property
    def key(self) -> str:
        return str(self.person_id) if self.person_id is not None else f"g{self.row_id}"


@dataclass
class Top:
    item_id: int
    number: str | None
    name: str
    public: bool
    position: int | None
    consultation_id: int | None
    called_at: datetime | None
    result: str | None
    repeat_call: str | None
    vote_mode: str | None
    votes_yes: int | None
    votes_no: int | None
    votes_abstain: int | None

    @property
    def label(self) -> str:
        return f"TOP {self.number}" if self.number else f"„{self.name}“"


@dataclass(frozen=True)
class Quorum:
    """Beschlussfähigkeit at one moment: ``present`` of ``seats`` voting members, ``needed``
    (more than half); ``repeat_call``: quorate regardless (§ 49 Abs. 2)."""

    seats: int
    present: int
    needed: int
    repeat_call: bool = False

    @property
    def ok(self) -> bool:
        return self.repeat_call or (self.seats > 0 and self.present >= self.needed)


@dataclass
class Sheet:
    """Everything about a Sitzung's attendance (read in one query: :func:`read_sheet`)."""

    meeting: Meeting
    lines: list[Line]
    tops: list[Top]
    bias: dict[int, dict[int, BiasDeclaration]] = field(default_factory=dict)
    votes: dict[int, dict[int, str]] = field(default_factory=dict)

    @property
    def opened(self) -> datetime | None:
        return self.meeting.opened

    @property
    def recorded(self) -> bool:
        return self.meeting.opened is not None

    def line(self, person_id: int | None) -> Line | None:
        return next((li for li in self.lines if li.person_id == person_id and person_id is not None), None)

    def name(self, person_id: int | None) -> str:
        found = self.line(person_id)
        return found.name if found else f"Person {person_id}"

    @property
    def seats(self) -> list[Line]:
        """The Gremium's voting members on the session day (its legal number of members)."""
        return [li for li in self.lines if li.voting and li.listed]

    @property
    def guests(self) -> list[Line]:
        return [li for li in self.lines if li.kind == GUEST]

    def present_at(self, line: Line, at: datetime) -> bool:
        if line.status != PRESENT or self.opened is None:
            return False
        arrived = line.arrived or self.opened
        return arrived <= at and (line.left is None or line.left > at)

    def moment(self, item_id: int) -> datetime | None:
        """When a TOP was dealt with: its own time, else the last time of a TOP before it in
        the order of the session (public part first), else the opening."""
        at = self.opened
        for top in self.ordered_tops():
            if top.called_at is not None:
                at = top.called_at
            if top.item_id == item_id:
                return at
        return at

    def ordered_tops(self) -> list[Top]:
        def key(t: Top) -> tuple[Any, ...]:
            item = AgendaItem(id=t.item_id, meeting_id=0, number=t.number, position=t.position, name=t.name)
            return (not t.public, agenda_key(item))
        return sorted(self.tops, key=key)

    def top(self, item_id: int) -> Top | None:
        return next((t for t in self.tops if t.item_id == item_id), None)

    def voters_at(self, at: datetime, excluded: Iterable[int] = ()) -> list[Line]:
        """Who holds a voting seat at ``at``: each voting member present, or else the stand-in
        present for them; without the ``excluded`` (Befangenheit)."""
        left_out = set(excluded)
        voters = []
        for seat in self.seats:
            holder: Line | None = seat if self.present_at(seat, at) else next(
                (li for li in self.lines if li.kind == STANDIN and li.stands_in_for == seat.person_id
                 and self.present_at(li, at)), None)
            if holder is not None and holder.person_id not in left_out:
                voters.append(holder)
        return voters

    def quorum_at(self, at: datetime | None, excluded: Iterable[int] = (),
                  repeat_call: bool = False) -> Quorum:
        seats = len(self.seats)
        present = len(self.voters_at(at, excluded)) if at is not None else 0
        return Quorum(seats, present, seats // 2 + 1, repeat_call)

    def at_top(self, item_id: int) -> TopState:
        top = self.top(item_id)
        assert top is not None
        at = self.moment(item_id)
        excluded = sorted(self.bias.get(item_id, {}))
        voters = self.voters_at(at, excluded) if at is not None else []
        return TopState(top, at, voters, [self.name(p) for p in excluded],
                        self.quorum_at(at, excluded, bool(top.repeat_call)), self.votes.get(item_id, {}))


@dataclass(frozen=True)
class TopState:
    """A TOP in the session: when, who could vote, who was excluded, quorate or not."""

    top: Top
    at: datetime | None
    voters: list[Line]
    excluded: list[str]
    quorum: Quorum
    votes: dict[int, str]

    @property
    def tally(self) -> dict[str, int]:
        return {v: sum(1 for cast in self.votes.values() if cast == v) for v in VOTES}


_KINDS = ("k", "id", "p", "r", "i1", "i2", "i3", "i4", "s1", "s2", "s3", "s4", "s5", "t1", "t2", "t3")


def _part(kind: str, **columns: Any) -> Any:
    """One SELECT of the sheet's UNION: every part has the same columns (missing ones NULL)."""
    typed: dict[str, Any] = {**{t: UTCDateTime() for t in ("t1", "t2", "t3")},
                             **{i: Integer() for i in ("i1", "i2", "i3", "i4", "id", "p", "r")}}
    cells = [literal(kind, String()).label("k")]
    for name in _KINDS[1:]:
        value = columns.get(name)
        cells.append((value if value is not None else sa_cast(null(), typed.get(name, String()))).label(name))
    return sa_select(*cells)


def _sheet_query(focus: bool) -> Any:
    """Memberships valid on the day, attendance lines, TOPs, Befangenheit, roll-call votes of one
    Sitzung: one statement. ``focus``: Befangenheit and votes of one TOP only (the result step)."""
    m, a, ai = col(Membership.organization_id), Attendance, AgendaItem
    person_name = Person.family_name + ", " + Person.given_name
    on: Any = bindparam("day")
    memberships = _part(
        "m", id=col(Membership.id), p=col(Membership.person_id),
        i1=sa_cast(col(Membership.voting_right), Integer), s1=col(Membership.role), s2=person_name).join_from(
        Membership, Person, col(Person.id) == Membership.person_id).where(
        m == bindparam("org"), or_(col(Membership.start_date).is_(None), col(Membership.start_date) <= on),
        or_(col(Membership.end_date).is_(None), col(Membership.end_date) >= on))
    lines = _part(
        "a", id=col(a.id), p=col(a.person_id), r=col(a.stands_in_for_id), s1=col(a.status), s2=col(a.kind),
        s3=col(a.guest_name), s4=col(a.guest_role), s5=col(a.apology_note), t1=col(a.arrived), t2=col(a.left),
        t3=col(a.apology_at)).where(col(a.meeting_id) == bindparam("meeting"))
    names = _part("n", p=col(Person.id), s2=person_name).where(col(Person.id).in_(
        sa_select(col(a.person_id)).where(col(a.meeting_id) == bindparam("meeting"))))
    tops = _part(
        "t", id=col(ai.id), r=col(ai.consultation_id), i1=sa_cast(col(ai.public), Integer),
        i2=col(ai.position),
        i3=col(ai.votes_yes), i4=col(ai.votes_no), p=col(ai.votes_abstain), s1=col(ai.number),
        s2=col(ai.name), s3=col(ai.result), s4=col(ai.repeat_call), s5=col(ai.vote_mode),
        t1=col(ai.called_at)).where(
        col(ai.meeting_id) == bindparam("meeting"))
    items = sa_select(col(ai.id)).where(col(ai.meeting_id) == bindparam("meeting"))
    if focus:
        items = items.where(col(ai.consultation_id) == bindparam("consultation"))
    b = BiasDeclaration
    bias = _part("b", id=col(b.id), p=col(b.person_id), r=col(b.agenda_item_id),
                 i1=sa_cast(col(b.by_member), Integer), s1=col(b.declared_by), s2=col(b.note),
                 t1=col(b.declared_at)).where(
        col(b.agenda_item_id).in_(items))
    v = RollCallVote
    votes = _part("v", id=col(v.id), p=col(v.person_id), r=col(v.agenda_item_id), s1=col(v.vote)).where(
        col(v.agenda_item_id).in_(items))
    return union_all(lines, memberships, names, tops, bias, votes)


_QUERIES: dict[bool, Any] = {}


def read_sheet(session: Session, meeting: Meeting, consultation_id: int | None = None) -> Sheet:
    """The Sitzung's sheet in one statement (with ``consultation_id``: Befangenheit and votes of
    that Beratung's TOP only)."""
    focus = consultation_id is not None
    query = _QUERIES.get(focus)
    if query is None:
        query = _QUERIES[focus] = _sheet_query(focus)
    params: dict[str, Any] = {"org": meeting.organization_id, "meeting": meeting.id,
                              "day": meeting.start.astimezone(TIMEZONE).date()}
    if focus:
        params["consultation"] = consultation_id
    rows = session.execute(query, params).all()
    return _sheet(meeting, rows)


def _sheet(meeting: Meeting, rows: Iterable[Any]) -> Sheet:
    memberships: dict[int, list[Any]] = {}
    recorded: list[Any] = []
    names: dict[int, str] = {}
    tops: list[Top] = []
    bias: dict[int, dict[int, BiasDeclaration]] = {}
    votes: dict[int, dict[int, str]] = {}
    for row in rows:
        k = row.k
        if k == "m":
            memberships.setdefault(row.p, []).append(row)
            names[row.p] = row.s2
        elif k == "a":
            recorded.append(row)
        elif k == "n":
            names.setdefault(row.p, row.s2)
        elif k == "t":
            tops.append(Top(row.id, row.s1, row.s2, bool(row.i1), row.i2, row.r, row.t1, row.s3, row.s4,
                            row.s5, row.i3, row.i4, row.p))
        elif k == "b":
            bias.setdefault(row.r, {})[row.p] = BiasDeclaration(
                id=row.id, agenda_item_id=row.r, person_id=row.p, declared_at=row.t1, declared_by=row.s1,
                by_member=bool(row.i1), note=row.s2)
        elif k == "v":
            votes.setdefault(row.r, {})[row.p] = row.s1
    lines: dict[int, Line] = {}
    for person_id, held in memberships.items():
        seat = next((h for h in held if not is_standin(h.s1) and h.i1), None)
        member = next((h for h in held if not is_standin(h.s1)), None)
        shown = seat or member or held[0]
        lines[person_id] = Line(person_id, names[person_id], MEMBER if member is not None else STANDIN,
                                shown.s1, seat is not None)
    guests: list[Line] = []
    for row in recorded:
        if row.p is None:
            guests.append(Line(None, row.s3 or "", GUEST, row.s4 or "", False, row.s1, row.t1, row.t2,
                               guest_role=row.s4, row_id=row.id))
            continue
        line = lines.get(row.p)
        if line is None:  # recorded, but no membership on that day (any more)
            line = lines[row.p] = Line(row.p, names.get(row.p, f"Person {row.p}"), row.s2, row.s2, False,
                                       listed=False)
        line.status, line.arrived, line.left, line.stands_in_for = row.s1, row.t1, row.t2, row.r
        line.apology_at, line.apology_note, line.row_id = row.t3, row.s5, row.id
    order = {MEMBER: 0, STANDIN: 1}
    listed = sorted(lines.values(), key=lambda li: (order.get(li.kind, 2), li.name.casefold()))
    return Sheet(meeting, listed + sorted(guests, key=lambda g: g.row_id or 0), tops, bias, votes)


# ----------------------------------------------------------------------------- helpers

def _meeting(session: Session, meeting_id: int, lock: bool = False) -> Meeting:
    meeting = session.get(Meeting, meeting_id, with_for_update={"key_share": True} if lock else None,
                          populate_existing=lock) if 0 < meeting_id < 2**31 else None
    if meeting is None:
        raise NotFound("Diese Sitzung gibt es nicht.")
    return meeting


def _secretary(session: Session, actor: Actor, meeting: Meeting) -> Organization:
    org = session.get(Organization, meeting.organization_id)
    assert org is not None
    if not actor.has_role(ROLE_SECRETARIAT, org.id):
        raise Forbidden(f"Sie betreuen das Gremium {org.name} nicht.")
    return org


def _person_of(session: Session, actor: Actor) -> Person | None:
    account = session.get(Account, actor.account_id)
    return session.get(Person, account.person_id) if account is not None and account.person_id else None


def _paper_of(session: Session, consultation_id: int | None) -> int | None:
    """The Vorlage of a TOP: its events belong to that Vorlage's history (not to every Vorlage
    of the Sitzung)."""
    if consultation_id is None:
        return None
    return session.exec(select(Consultation.paper_id).where(Consultation.id == consultation_id)).first()


def _label(meeting: Meeting) -> str:
    start = meeting.start.astimezone(TIMEZONE)
    return meeting.reference or f"{meeting.name}, {start:%d.%m.%Y}"


def _clock(at: datetime | None) -> str:
    return f"{at.astimezone(TIMEZONE):%H:%M}" if at is not None else ""


def parse_time(meeting: Meeting, text: str | None, after: datetime | None = None) -> datetime | None:
    """"18:05" on the session day (Europe/Berlin); earlier than ``after`` (the opening): the
    day after (a session past midnight). Raises ValueError for what is no time."""
    text = (text or "").strip()
    if not text:
        return None
    found = _TIME.match(text)
    if not found:
        raise ValueError(text)
    hour, minute = ascii_int(found.group(1), 2), ascii_int(found.group(2), 2)
    if hour is None or minute is None or hour > 23 or minute > 59:
        raise ValueError(text)
    day: date = meeting.start.astimezone(TIMEZONE).date()
    at = datetime.combine(day, time(hour, minute), TIMEZONE)
    if after is not None and at < after and after - at > timedelta(hours=12):
        at += timedelta(days=1)
    return at


def describe_line(line: Line) -> str:
    """"anwesend 18:20–20:05", "entschuldigt", "anwesend (vertritt Wagner, Thomas)" – for the history."""
    if line.status is None:
        return "–"
    text = line.status
    if line.status == PRESENT and (line.arrived or line.left):
        text += f" {_clock(line.arrived) or 'ab Beginn'}–{_clock(line.left) or 'Ende'}"
    return text


def _needs_reason(meeting: Meeting, reason: str | None) -> str | None:
    """After the Niederschrift is released, attendance changes only with a reason."""
    reason = (reason or "").strip() or None
    if meeting.minutes_released is not None and reason is None:
        released = meeting.minutes_released.astimezone(TIMEZONE)
        raise Invalid("Die Niederschrift ist freigegeben.", {"reason": [
            f"Die Niederschrift wurde am {released:%d.%m.%Y} freigegeben: bitte begründen, warum die "
            "Anwesenheit nachträglich geändert wird."]})
    return reason


# ----------------------------------------------------------------------------- the member

def apologise(session: Session, actor: Actor, meeting_id: int, note: str | None, withdraw: bool = False,
              now: datetime | None = None) -> Attendance:
    """A member sends (or withdraws) their apology for a Sitzung ahead; the Sekretariat sees it."""
    now = now or utcnow()
    meeting = _meeting(session, meeting_id, lock=True)  # with the Sekretariat's recording: one at a time
    person = _person_of(session, actor)
    sheet = read_sheet(session, meeting)
    line = sheet.line(person.id) if person is not None else None
    if person is None or line is None or not line.listed:
        raise Forbidden("Sie gehören diesem Gremium am Tag der Sitzung nicht an.")
    if meeting.cancelled:
        raise Conflict("Die Sitzung ist abgesagt.")
    if meeting.start <= now or meeting.opened is not None:
        raise Conflict("Die Sitzung hat schon begonnen: bitte wenden Sie sich an das Sekretariat.")
    note = (note or "").strip()[:500] or None
    row = session.get(Attendance, line.row_id) if line.row_id else None
    if withdraw:
        if row is None or row.apology_at is None:
            raise Conflict("Sie haben sich für diese Sitzung nicht entschuldigt.")
        row.status, row.apology_at, row.apology_note, row.modified = ABSENT, None, None, now
        action = "attendance.apology_withdrawn"
    else:
        if row is not None and row.apology_at is not None:
            raise Conflict(f"Sie haben sich schon am {row.apology_at.astimezone(TIMEZONE):%d.%m.%Y} "
                           "entschuldigt.")
        row = row or Attendance(meeting_id=meeting.id or 0, person_id=person.id, kind=line.kind)
        row.status, row.apology_at, row.apology_note, row.modified = EXCUSED, now, note, now
        row.arrived = row.left = None
        action = "attendance.apologised"
    session.add(row)
    session.flush()
    audit.record(session, actor.username, actor.display_name, action, at=now, meeting_id=meeting.id, details={
        "meeting_id": meeting.id, "reference": meeting.reference, "person": person.name,
        **({"note": note} if note and not withdraw else {})})
    return row


def declare_bias(session: Session, actor: Actor, item_id: int, person_id: int | None, note: str | None,
                 withdraw: bool = False, now: datetime | None = None) -> None:
    """Befangenheit for one TOP: the member for themselves before the session, the Sekretariat
    for any member in it (``person_id``); withdrawn the same way. Not once the TOP has its result."""
    now = now or utcnow()
    item = session.get(AgendaItem, item_id) if 0 < item_id < 2**31 else None
    if item is None:
        raise NotFound("Diesen Tagesordnungspunkt gibt es nicht.")
    meeting = _meeting(session, item.meeting_id, lock=True)
    secretary = actor.has_role(ROLE_SECRETARIAT, meeting.organization_id)
    own = _person_of(session, actor)
    for_self = person_id is None or not secretary
    if for_self:
        if own is None:
            raise Forbidden("Ihr Konto ist keinem Mitglied zugeordnet.")
        if person_id not in (None, own.id):
            raise Forbidden("Befangenheit anderer erklärt das Sekretariat.")
        person_id = own.id
    assert person_id is not None
    sheet = read_sheet(session, meeting)
    line = sheet.line(person_id)
    if (line is None or not line.listed) and for_self:
        raise Forbidden("Sie gehören diesem Gremium am Tag der Sitzung nicht an.")
    if line is None or line.kind == GUEST:
        raise Invalid("Eingaben bitte prüfen.", {"person_id": ["Diese Person gehört dem Gremium nicht an."]})
    by_member = for_self
    if by_member and (meeting.start <= now or meeting.opened is not None):
        raise Conflict("Die Sitzung hat begonnen: Befangenheit erklären Sie jetzt in der Sitzung; "
                       "das Sekretariat vermerkt sie.")
    if meeting.cancelled:
        raise Conflict("Die Sitzung ist abgesagt.")
    top = sheet.top(item_id)
    assert top is not None
    if top.result is not None:
        raise Conflict(f"Das Ergebnis von {top.label} ist schon erfasst.")
    existing = sheet.bias.get(item_id, {}).get(person_id)
    note = (note or "").strip()[:500] or None
    if withdraw:
        if existing is None:
            raise Conflict(f"Für {line.name} ist bei {top.label} keine Befangenheit erklärt.")
        session.execute(delete(BiasDeclaration).where(col(BiasDeclaration.id) == existing.id))
        action = "bias.withdrawn"
    else:
        if existing is not None:
            raise Conflict(f"{line.name} ist bei {top.label} schon als befangen vermerkt.")
        if sheet.votes.get(item_id, {}).get(person_id):
            raise Conflict(f"{line.name} hat bei {top.label} schon namentlich abgestimmt.")
        session.add(BiasDeclaration(agenda_item_id=item_id, person_id=person_id, declared_at=now,
                                    declared_by=actor.username, by_member=by_member, note=note))
        action = "bias.declared"
    session.flush()
    audit.record(session, actor.username, actor.display_name, action, at=now, meeting_id=meeting.id,
                 paper_id=_paper_of(session, item.consultation_id), details={
        "meeting_id": meeting.id, "reference": meeting.reference, "agenda_item_id": item_id,
        "top": top.label, "person": line.name, "by_member": by_member, **({"note": note} if note else {})})


# ----------------------------------------------------------------------------- the Sekretariat

def _begun(meeting: Meeting, now: datetime) -> None:
    if meeting.cancelled:
        raise Conflict("Die Sitzung ist abgesagt.")
    if meeting.start.astimezone(TIMEZONE).date() > now.astimezone(TIMEZONE).date():
        raise Conflict("Die Anwesenheit wird ab dem Sitzungstag erfasst; vorher können sich Mitglieder "
                       "entschuldigen.")


def record(session: Session, actor: Actor, meeting_id: int, data: dict[str, Any],
           now: datetime | None = None) -> Sheet:
    """The Sekretariat records the attendance: opening and end, each member's and stand-in's
    status with times (``status-<person>``, ``arrived-<person>``, ``left-<person>``,
    ``for-<person>``), guests (``guest-name-N``, ``guest-role-N``), the TOPs' times
    (``called-<item>``); after the Niederschrift's release with a ``reason``.

    Refused whole when anything does not fit; and when the new attendance would leave a TOP's
    recorded votes above those present then (named)."""
    now = now or utcnow()
    meeting = _meeting(session, meeting_id, lock=True)
    org = _secretary(session, actor, meeting)
    _begun(meeting, now)
    reason = _needs_reason(meeting, data.get("reason"))
    before = read_sheet(session, meeting)
    errors: dict[str, list[str]] = {}

    def at(name: str, after: datetime | None = None) -> datetime | None:
        try:
            return parse_time(meeting, data.get(name), after)
        except ValueError:
            errors[name] = ["Uhrzeit bitte als HH:MM (z. B. 18:05)."]
            return None

    opened = at("opened")
    if opened is None and "opened" not in errors:
        errors["opened"] = ["Bitte den Beginn der Sitzung angeben (HH:MM)."]
    closed = at("closed", opened)
    if opened and closed and closed <= opened:
        errors["closed"] = ["Das Ende liegt vor dem Beginn."]

    def inside(name: str, value: datetime | None) -> None:
        if value is None or opened is None or name in errors:
            return
        if value < opened or (closed is not None and value > closed):
            errors[name] = [f"Die Zeit liegt außerhalb der Sitzung ({_clock(opened)}–"
                            f"{_clock(closed) or '…'})."]

    members = [li for li in before.lines if li.kind != GUEST]
    new: dict[int, Line] = {}
    for li in members:
        assert li.person_id is not None
        key = str(li.person_id)
        status = (data.get(f"status-{key}") or "").strip()
        if not status and not li.listed:
            continue  # recorded before, no longer listed and not sent again: kept as it was
        if status not in STATUSES:
            errors[f"status-{key}"] = [f"{li.name}: bitte anwesend, entschuldigt oder abwesend wählen."]
            continue
        arrived, left = at(f"arrived-{key}", opened), at(f"left-{key}", opened)
        stands_in = (data.get(f"for-{key}") or "").strip()
        stands_for = ascii_int(stands_in) if stands_in else None
        if status != PRESENT and (arrived or left):
            errors[f"status-{key}"] = [f"{li.name} kann nicht zugleich {status} sein und Kommen- oder "
                                       "Gehenszeiten haben."]
        if status != PRESENT and stands_for:
            errors[f"for-{key}"] = [f"{li.name} vertritt nur, wer anwesend ist."]
        inside(f"arrived-{key}", arrived)
        inside(f"left-{key}", left)
        if arrived and left and left <= arrived:
            errors[f"left-{key}"] = [f"{li.name}: das Gehen liegt vor dem Kommen."]
        if stands_in and (li.kind != STANDIN or stands_for is None or before.line(stands_for) is None
                          or not before.line(stands_for).voting):  # type: ignore[union-attr]
            errors[f"for-{key}"] = [f"{li.name} kann nur ein stimmberechtigtes Mitglied vertreten."]
            stands_for = None
        new[li.person_id] = Line(li.person_id, li.name, li.kind, li.role, li.voting, status, arrived, left,
                                 stands_for if status == PRESENT else None, apology_at=li.apology_at,
                                 apology_note=li.apology_note, row_id=li.row_id, listed=li.listed)
    # A seat is filled by one person at a time: the member, or one stand-in.
    opened_at = opened or meeting.start
    for stand_in in [li for li in new.values() if li.stands_in_for is not None]:
        holder = new.get(stand_in.stands_in_for or 0) or before.line(stand_in.stands_in_for)
        others = [holder] + [li for li in new.values() if li is not stand_in
                             and li.stands_in_for == stand_in.stands_in_for]
        for other in others:
            if other is not None and other.status == PRESENT and _overlap(stand_in, other, opened_at, closed):
                errors[f"for-{stand_in.person_id}"] = [
                    f"{stand_in.name} kann {before.name(stand_in.stands_in_for)} nicht vertreten, solange "
                    f"{'dieses Mitglied selbst' if other is holder else other.name} anwesend ist."]
                break
    guests: list[tuple[str, str]] = []
    for i in range(MAX_GUESTS):
        name = (data.get(f"guest-name-{i}") or "").strip()
        role = (data.get(f"guest-role-{i}") or "").strip()
        if not name and not role:
            continue
        if not name:
            errors[f"guest-name-{i}"] = ["Bitte den Namen des Gastes angeben."]
        elif len(name) > 200 or len(role) > 200:
            errors[f"guest-name-{i}"] = ["Höchstens 200 Zeichen."]
        guests.append((name, role))
    times: dict[int, datetime | None] = {}
    for top in before.tops:
        name = f"called-{top.item_id}"
        if name in data:
            times[top.item_id] = at(name, opened)
            inside(name, times[top.item_id])
    if errors:
        raise Invalid("Eingaben bitte prüfen.", errors)
    assert opened is not None

    # What changes, in words, for the history.
    changes: list[dict[str, str]] = []
    if meeting.opened != opened or meeting.closed != closed:
        changes.append({"person": "Sitzung",
                        "old": f"{_clock(meeting.opened) or '–'}–{_clock(meeting.closed)}",
                        "new": f"{_clock(opened)}–{_clock(closed)}"})
    old_lines = {li.person_id: li for li in members}
    for person_id, li in new.items():
        old = old_lines[person_id]
        before_text = describe_line(old) + (f" (vertritt {before.name(old.stands_in_for)})"
                                            if old.stands_in_for else "")
        after_text = describe_line(li) + (f" (vertritt {before.name(li.stands_in_for)})"
                                          if li.stands_in_for else "")
        if before_text != after_text:
            changes.append({"person": li.name, "old": before_text, "new": after_text})
    old_guests = [(g.name, g.guest_role or "") for g in before.guests]
    if old_guests != guests:
        changes.append({"person": "Gäste", "old": ", ".join(_guest(g) for g in old_guests) or "–",
                        "new": ", ".join(_guest(g) for g in guests) or "–"})
    for item_id, value in times.items():
        known = before.top(item_id)
        assert known is not None
        if known.called_at != value:
            changes.append({"person": known.label, "old": _clock(known.called_at) or "–",
                            "new": _clock(value) or "–"})

    # The sheet as it will be: checked against the votes already recorded.
    after = Sheet(meeting, list(new.values()) + [li for li in before.lines if li.kind != GUEST
                                                 and li.person_id not in new], before.tops, before.bias,
                  before.votes)
    after.meeting = Meeting(**{**meeting.model_dump(), "opened": opened, "closed": closed})
    for top in after.tops:
        if top.item_id in times:
            top.called_at = times[top.item_id]
    _still_fits(after)

    meeting.opened, meeting.closed = opened, closed
    session.add(meeting)
    for person_id, li in new.items():
        row = session.get(Attendance, li.row_id) if li.row_id else None
        if row is None:
            row = Attendance(meeting_id=meeting.id or 0, person_id=person_id, kind=li.kind)
        row.status, row.arrived, row.left, row.stands_in_for_id = li.status or ABSENT, li.arrived, li.left, \
            li.stands_in_for
        row.modified = now
        session.add(row)
    if old_guests != guests:
        session.execute(delete(Attendance).where(col(Attendance.meeting_id) == meeting.id,
                                                 col(Attendance.person_id).is_(None)))
        for name, role in guests:
            session.add(Attendance(meeting_id=meeting.id or 0, kind=GUEST, status=PRESENT, guest_name=name,
                                   guest_role=role or None, modified=now))
    for item_id, value in times.items():
        item = session.get(AgendaItem, item_id)
        if item is not None and item.called_at != value:
            item.called_at = value
            session.add(item)
    session.flush()
    if changes:
        opening = after.quorum_at(opened)
        audit.record(session, actor.username, actor.display_name, "attendance.recorded", at=now,
                     meeting_id=meeting.id, details={
                         "meeting_id": meeting.id, "reference": meeting.reference, "gremium": org.name,
                         "changes": changes, "present": opening.present, "seats": opening.seats,
                         "quorate": opening.ok, **({"reason": reason} if reason else {})})
    return read_sheet(session, meeting)


def _guest(guest: tuple[str, str]) -> str:
    return f"{guest[0]} ({guest[1]})" if guest[1] else guest[0]


def _overlap(one: Line, other: Line, opened: datetime, closed: datetime | None) -> bool:
    far = closed or (opened + timedelta(days=2))
    start_a, end_a = one.arrived or opened, one.left or far
    start_b, end_b = other.arrived or opened, other.left or far
    return start_a < end_b and start_b < end_a


def _still_fits(sheet: Sheet) -> None:
    """Recorded results and roll-call votes must still fit who was there (else: which TOP, why)."""
    problems = []
    for top in sheet.ordered_tops():
        state = sheet.at_top(top.item_id)
        voters = {li.person_id for li in state.voters}
        counted = sum(v or 0 for v in (top.votes_yes, top.votes_no, top.votes_abstain))
        if top.result is not None and counted > len(voters):
            problems.append(f"{top.label}: {counted} Stimmen erfasst, aber nur {len(voters)} "
                            "stimmberechtigte Anwesende")
        strangers = [sheet.name(p) for p in state.votes if p not in voters]
        if strangers:
            problems.append(f"{top.label}: namentliche Stimme von {', '.join(strangers)}, "
                            "die dann nicht stimmberechtigt anwesend wären")
    if problems:
        raise Conflict("Diese Anwesenheit passt nicht zu den erfassten Abstimmungen – "
                       + "; ".join(problems) + ".")


def record_roll_call(session: Session, actor: Actor, item_id: int, data: dict[str, Any],
                     now: datetime | None = None) -> TopState:
    """A namentliche Abstimmung on a TOP: ``vote-<person>`` = ja | nein | enthaltung (empty: did
    not vote). Only voting members present then, never one excluded for bias (named)."""
    now = now or utcnow()
    item = session.get(AgendaItem, item_id) if 0 < item_id < 2**31 else None
    if item is None:
        raise NotFound("Diesen Tagesordnungspunkt gibt es nicht.")
    meeting = _meeting(session, item.meeting_id, lock=True)
    _secretary(session, actor, meeting)
    _begun(meeting, now)
    sheet = read_sheet(session, meeting)
    if not sheet.recorded:
        raise Conflict("Bitte zuerst die Anwesenheit erfassen.")
    state = sheet.at_top(item_id)
    if state.top.result is not None:
        raise Conflict(f"Das Ergebnis von {state.top.label} ist schon erfasst.")
    voters = {li.person_id for li in state.voters}
    excluded = set(sheet.bias.get(item_id, {}))
    errors: dict[str, list[str]] = {}
    cast: dict[int, str] = {}
    for key, value in data.items():
        if not key.startswith("vote-") or not str(value).strip():
            continue
        person_id = ascii_int(key[5:])
        vote = str(value).strip()
        if person_id is None or vote not in VOTES:
            errors[key] = ["Bitte Ja, Nein oder Enthaltung wählen."]
        elif person_id in excluded:
            errors[key] = [f"{sheet.name(person_id)} ist bei {state.top.label} befangen und stimmt "
                           "nicht mit ab."]
        elif person_id not in voters:
            errors[key] = [f"{sheet.name(person_id)} ist bei {state.top.label} nicht stimmberechtigt "
                           "anwesend."]
        else:
            cast[person_id] = vote
    if errors:
        raise Invalid("Eingaben bitte prüfen.", errors)
    if not cast:
        raise Invalid("Eingaben bitte prüfen.", {"votes": ["Bitte mindestens eine Stimme erfassen."]})
    session.execute(delete(RollCallVote).where(col(RollCallVote.agenda_item_id) == item_id))
    for person_id, vote in cast.items():
        session.add(RollCallVote(agenda_item_id=item_id, person_id=person_id, vote=vote, recorded=now,
                                 recorded_by=actor.username))
    session.flush()
    tally = {v: sum(1 for c in cast.values() if c == v) for v in VOTES}
    audit.record(session, actor.username, actor.display_name, "roll_call.recorded", at=now,
                 paper_id=_paper_of(session, item.consultation_id),
                 meeting_id=meeting.id, details={
                     "meeting_id": meeting.id, "reference": meeting.reference, "agenda_item_id": item_id,
                     "top": state.top.label,
                          "votes": [f"{sheet.name(p)}: {VOTES[v]}" for p, v in
                                    sorted(cast.items(), key=lambda pv: sheet.name(pv[0]).casefold())],
                          "ja": tally[YES], "nein": tally[NO], "enthaltungen": tally[ABSTAIN]})
    return read_sheet(session, meeting).at_top(item_id)


def record_repeat_call(session: Session, actor: Actor, item_id: int, note: str | None, clear: bool = False,
                       now: datetime | None = None) -> None:
    """GO NRW § 49 Abs. 2: the Gremium was called again for this matter after it could not
    decide, and is quorate regardless; ``note`` names the earlier session (required)."""
    now = now or utcnow()
    item = session.get(AgendaItem, item_id) if 0 < item_id < 2**31 else None
    if item is None:
        raise NotFound("Diesen Tagesordnungspunkt gibt es nicht.")
    meeting = _meeting(session, item.meeting_id)
    _secretary(session, actor, meeting)
    if item.result is not None:
        raise Conflict("Das Ergebnis dieses Tagesordnungspunkts ist schon erfasst.")
    note = (note or "").strip()[:500] or None
    if not clear and note is None:
        raise Invalid("Eingaben bitte prüfen.", {"repeat_call": [
            "Bitte angeben, in welcher Sitzung die Angelegenheit wegen Beschlussunfähigkeit zurückgestellt "
            "wurde (die Ladung muss auf § 49 Abs. 2 GO NRW hinweisen)."]})
    old = item.repeat_call
    item.repeat_call = None if clear else note
    session.add(item)
    session.flush()
    audit.record(session, actor.username, actor.display_name, "agenda_item.repeat_call", at=now,
                 paper_id=_paper_of(session, item.consultation_id),
                 meeting_id=meeting.id, details={
                     "meeting_id": meeting.id, "reference": meeting.reference, "agenda_item_id": item_id,
                     "top": f"TOP {item.number}" if item.number else item.name,
                     "changes": {"repeat_call": {"old": old, "new": item.repeat_call}}})


# ----------------------------------------------------------------------------- the result step

def _count(values: dict[str, Any], key: str) -> int | None:
    value = values.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def check_result(session: Session, meeting_id: int | None, consultation_id: int | None,
                 values: dict[str, Any]) -> dict[str, Any]:
    """The result step's votes against the session (one query, only when the step records a
    decision or a way of voting): quorate at that TOP, Ja + Nein + Enthaltung within the voting
    members present then, "einstimmig"/"mehrheitlich" fill the counts, "namentlich" takes
    them from the roll call. ``values`` get the counts; refused with the figures (``Invalid``).

    A Sitzung whose attendance was never recorded (imported, worked on paper) keeps the old
    way: the counts as given, nothing to hold them against."""
    mode = values.get("abstimmung") or None
    result = values.get("ergebnis")
    voted = result in VOTED_RESULTS
    counts = [_count(values, k) for k in ("ja", "nein", "enthaltungen")]
    if meeting_id is None or consultation_id is None or (not voted and mode is None and counts == [None] * 3):
        return {}
    # Read with the task (``procedures.load_task`` holds it in the identity map): no query.
    meeting = session.get(Meeting, meeting_id)
    if meeting is None:
        return {}
    if meeting.opened is None:
        if mode in (UNANIMOUS, MAJORITY, ROLL_CALL):
            raise Invalid("Eingaben bitte prüfen.", {"abstimmung": [
                f"„{VOTE_MODES[mode]}“ braucht die Anwesenheit: bitte zuerst auf der Seite der Sitzung "
                f"{_label(meeting)} die Anwesenheit erfassen – oder die Stimmen gezählt eintragen."]})
        return {}
    sheet = read_sheet(session, meeting, consultation_id)
    top = next((t for t in sheet.tops if t.consultation_id == consultation_id and t.result is None), None)
    if top is None:
        return {}  # the effect's write refuses it (not on exactly one open agenda)
    state = sheet.at_top(top.item_id)
    present = len(state.voters)
    if voted and not state.quorum.ok:
        q = state.quorum
        raise Invalid("Die Sitzung ist nicht beschlussfähig.", {"ergebnis": [
            f"Bei {top.label} ({_clock(state.at)} Uhr) waren {q.present} von {q.seats} stimmberechtigten "
            f"Mitgliedern anwesend{_excluded(state)}; beschlussfähig ist das Gremium mit mindestens "
            f"{q.needed} (mehr als die Hälfte, § 49 Abs. 1 GO NRW). Ohne Beschlussfähigkeit bitte „vertagt“ "
            "erfassen – oder auf der Seite der Sitzung vermerken, dass das Gremium nach § 49 Abs. 2 GO NRW "
            "erneut einberufen wurde."]})
    yes, no, abstain = counts
    if mode == ROLL_CALL:
        if not state.votes:
            raise Invalid("Eingaben bitte prüfen.", {"abstimmung": [
                f"Für {top.label} ist keine namentliche Abstimmung erfasst (Seite der Sitzung)."]})
        voters = {li.person_id for li in state.voters}
        strangers = [sheet.name(p) for p in state.votes if p not in voters]
        if strangers:
            raise Invalid("Eingaben bitte prüfen.", {"abstimmung": [
                f"Namentliche Stimmen von {', '.join(strangers)} zählen nicht: bei {top.label} nicht "
                "stimmberechtigt anwesend oder befangen."]})
        tally = state.tally
        given = {"ja": yes, "nein": no, "enthaltungen": abstain}
        taken = {"ja": tally[YES], "nein": tally[NO], "enthaltungen": tally[ABSTAIN]}
        differ = [k for k, v in given.items() if v is not None and v != taken[k]]
        if differ:
            raise Invalid("Eingaben bitte prüfen.", {k: [
                f"Die namentliche Abstimmung ergab {taken[k]}, nicht {given[k]}."] for k in differ})
        yes, no, abstain = taken["ja"], taken["nein"], taken["enthaltungen"]
    elif mode == UNANIMOUS:
        if no:
            raise Invalid("Eingaben bitte prüfen.", {"nein": [
                "„Einstimmig“ heißt ohne Gegenstimme: bitte „mehrheitlich“ wählen oder die Nein-Stimmen "
                "leeren."]})
        abstain = abstain or 0
        yes, no = present - abstain, 0
        if yes <= 0:
            raise Invalid("Eingaben bitte prüfen.", {"enthaltungen": [
                f"Bei {present} stimmberechtigten Anwesenden bleibt keine Ja-Stimme."]})
    elif mode == MAJORITY:
        if yes is None and no is None:
            raise Invalid("Eingaben bitte prüfen.", {"nein": [
                "Bei „mehrheitlich“ bitte die Nein-Stimmen (oder die Ja-Stimmen) und die Enthaltungen "
                f"angeben; der Rest ergibt sich aus den {present} stimmberechtigten Anwesenden."]})
        abstain = abstain or 0
        if yes is None:
            yes = present - (no or 0) - abstain
        elif no is None:
            no = present - yes - abstain
    total = sum(v or 0 for v in (yes, no, abstain))
    if total > present:
        raise Invalid("Mehr Stimmen als Anwesende.", {"ja": [
            f"Ja, Nein und Enthaltungen zusammen ({total}) sind mehr als die {present} stimmberechtigten "
            f"Anwesenden bei {top.label}{_excluded(state)}."]})
    if min(v if v is not None else 0 for v in (yes, no, abstain)) < 0:
        raise Invalid("Mehr Stimmen als Anwesende.", {"nein": [
            f"Das sind mehr Stimmen als die {present} stimmberechtigten Anwesenden bei {top.label}."]})
    if voted and yes is not None and no is not None:
        if result in CARRIED and yes <= no:
            raise Invalid("Eingaben bitte prüfen.", {"ergebnis": [
                f"Mit {yes} Ja- gegen {no} Nein-Stimmen ist der Antrag nicht angenommen (bei "
                "Stimmengleichheit gilt er als abgelehnt, § 50 Abs. 1 GO NRW)."]})
    values.update({"ja": yes, "nein": no, "enthaltungen": abstain})
    return {"anwesend": present, "befangen": state.excluded} if state.excluded else {"anwesend": present}


def _excluded(state: TopState) -> str:
    if not state.excluded:
        return ""
    return f"; wegen Befangenheit ausgeschlossen: {', '.join(state.excluded)}"


# ----------------------------------------------------------------------------- for the pages

def sheets_for_person(session: Session, person_id: int, meetings: list[Meeting]) -> dict[int, Sheet]:
    """The sheets of a member's Sitzungen ahead (for "Meine Sitzungen")."""
    return {m.id: read_sheet(session, m) for m in meetings if m.id is not None}


def attended(session: Session, organization_ids: list[int], since: datetime, until: datetime) -> list[Any]:
    """Attendance lines of members and stand-ins present at the Gremien's Sitzungen in
    [since, until) whose attendance was recorded, with the session (for the Sitzungsgeld)."""
    if not organization_ids:
        return []
    return list(session.exec(
        select(Attendance, Meeting, Person).join(Meeting, col(Meeting.id) == Attendance.meeting_id)
        .join(Person, col(Person.id) == Attendance.person_id)
        .where(col(Meeting.organization_id).in_(organization_ids), col(Meeting.start) >= since,
               col(Meeting.start) < until, col(Meeting.opened).is_not(None),
               col(Meeting.cancelled).is_(False), Attendance.status == PRESENT)
        .order_by(col(Person.family_name), col(Person.given_name), col(Meeting.start))).all())

