"""Read-only listings of the council's objects for the JSON API, in keyset pages.

Every list has a stable order (its key, then the id) and is cut by an opaque cursor that
names the last row's key (never OFFSET): a row that arrives meanwhile neither repeats nor
hides another. Who sees a non-public Vorlage is ``engine.visibility``'s rule (the same as
the pages'), and so is a Sitzung's non-public part (``visibility.sees_closed_part``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, or_, tuple_
from sqlalchemy import select as core_select
from sqlmodel import Session, col, select

from engine import cursors
from engine.accounts import Actor
from engine.audit import AuditEvent
from engine.calendar import reminders
from engine.council import (
    ROLE_ADMIN,
    ROLE_AUDITOR,
    ROLE_SECRETARIAT,
    Account,
    AgendaItem,
    Consultation,
    Meeting,
    Membership,
    Organization,
    Paper,
    Person,
)
from engine.errors import Invalid
from engine.settings import TIMEZONE
from engine.tasks import HumanTask
from engine.types import table_of
from engine.visibility import can_see_paper, sees_closed_part, visible_papers_clause
from engine.workflow.models import ProcessInstance, ProcessModel

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


# ----------------------------------------------------------------------------- visibility

def sees_contact_data(actor: Actor | None) -> bool:
    """E-mail addresses of persons: the Sekretariate and the administration."""
    return actor is not None and (actor.has_role(ROLE_ADMIN)
                                  or bool(actor.organizations_for(ROLE_SECRETARIAT)))


def person_of(session: Session, actor: Actor) -> int | None:
    account = session.get(Account, actor.account_id)
    return account.person_id if account else None


# ----------------------------------------------------------------------------- cursors

#: A cursor's integer keys fit a 64-bit column (a larger one overflows the database driver).
KEY_LIMIT = 2**63


def encode_cursor(kind: str, values: Sequence[Any]) -> str:
    return cursors.pack([kind, *[v.isoformat() if isinstance(v, date | datetime) else v for v in values]])


def decode_cursor(kind: str, cursor: str, types: Sequence[type]) -> tuple[Any, ...]:
    """The key values a page continues after; a cursor of another list or broken: 422."""
    try:
        raw = cursors.unpack(cursor)
        if not isinstance(raw, list) or len(raw) != len(types) + 1 or raw[0] != kind:
            raise ValueError("cursor of another list")
        values: list[Any] = []
        for value, kind_of in zip(raw[1:], types, strict=True):
            if kind_of is datetime:
                value = datetime.fromisoformat(value)
            elif not isinstance(value, kind_of) or isinstance(value, bool):
                raise ValueError("wrong type")
            elif isinstance(value, int) and not -KEY_LIMIT < value < KEY_LIMIT:
                raise ValueError("beyond the database's integers")
            values.append(value)
        return tuple(values)
    except (ValueError, TypeError, AttributeError):
        raise Invalid("Eingaben bitte prüfen.", {
            "cursor": ["Ungültiger Cursor: bitte die erste Seite neu laden."]}) from None


@dataclass
class Page:
    rows: list[Any] = field(default_factory=list)
    next: str | None = None


def _page(session: Session, kind: str, statement: Any, keys: list[Any], types: Sequence[type],
          cursor: str | None, limit: int, key_of: Any, descending: bool = False) -> Page:
    """One keyset page of ``statement`` ordered by ``keys`` (the last one unique)."""
    if cursor:
        after = decode_cursor(kind, cursor, types)
        statement = statement.where(tuple_(*keys) < tuple_(*after) if descending
                                    else tuple_(*keys) > tuple_(*after))
    order = [k.desc() for k in keys] if descending else keys
    rows = list(session.execute(statement.order_by(*order).limit(limit + 1)).all())
    if rows and len(rows[0]) == 1 and hasattr(rows[0][0], "__table__"):
        rows = [r[0] for r in rows]  # one entity selected: the entities
    page = Page(rows[:limit])
    if len(rows) > limit:
        page.next = encode_cursor(kind, key_of(page.rows[-1]))
    return page


# ----------------------------------------------------------------------------- Vorlagen

_PAPER_TEXTS = {"facts", "proposal", "financial_impact", "personnel_impact"}


@dataclass
class AgendaEntryOut:
    item: AgendaItem
    meeting: Meeting


@dataclass
class ConsultationOut:
    consultation: Any  # a row of Consultation's table
    organization: Organization
    meeting: Meeting | None
    agenda_items: list[AgendaEntryOut]


@dataclass
class PaperOut:
    paper: Any  # a Paper, or a row of its table without the texts (lists)
    consultations: list[ConsultationOut]


def beratungsfolgen(session: Session, papers: Sequence[Any], actor: Actor | None,
                    today: date) -> list[PaperOut]:
    """The Vorlagen with their ordered Beratungsfolge (Gremium, planned Sitzung, the TOPs with
    their results), in four queries for a whole page; a non-public TOP only for those who see
    its Sitzung's non-public part."""
    ids = [p.id for p in papers]
    if not ids:
        return []
    # Plain rows, not ORM objects: a page has a hundred Beratungen, and building SQLModel
    # instances cost more than the queries (see benchmarks/bench_api.py).
    table = table_of(Consultation)
    consultations: list[Any] = list(session.execute(
        core_select(table).where(table.c.paper_id.in_(ids)).order_by(table.c.paper_id, table.c.position)))
    c_ids = [c.id for c in consultations]
    items = list(session.exec(select(AgendaItem, Meeting)
                              .join(Meeting, col(Meeting.id) == AgendaItem.meeting_id)
                              .where(col(AgendaItem.consultation_id).in_(c_ids))
                              .order_by(col(Meeting.start), col(AgendaItem.id)))) if c_ids else []
    orgs = {o.id: o for o in session.exec(select(Organization).where(
        col(Organization.id).in_({c.organization_id for c in consultations})))} if consultations else {}
    m_ids = {c.meeting_id for c in consultations if c.meeting_id}
    meetings = {m.id: m for m in session.exec(select(Meeting).where(col(Meeting.id).in_(m_ids)))} \
        if m_ids else {}
    by_paper: dict[int | None, list[ConsultationOut]] = {i: [] for i in ids}
    closed: dict[int | None, bool] = {}

    def shows(item: AgendaItem, meeting: Meeting) -> bool:
        if item.public:
            return True
        if meeting.id not in closed:
            closed[meeting.id] = sees_closed_part(session, actor, meeting, today)
        return closed[meeting.id]

    for c in consultations:
        entries = [AgendaEntryOut(item, meeting) for item, meeting in items
                   if item.consultation_id == c.id and shows(item, meeting)]
        by_paper[c.paper_id].append(ConsultationOut(
            c, orgs[c.organization_id], meetings.get(c.meeting_id) if c.meeting_id else None, entries))
    return [PaperOut(p, by_paper[p.id]) for p in papers]


def list_papers(session: Session, actor: Actor | None, today: date, *, status: str | None = None,
                paper_type: str | None = None, cursor: str | None = None,
                limit: int = DEFAULT_LIMIT) -> tuple[list[PaperOut], str | None]:
    """Vorlagen by id (without their texts), with their Beratungsfolge; non-public ones only
    for those who may."""
    table = table_of(Paper)
    statement: Any = core_select(*[c for c in table.c if c.name not in _PAPER_TEXTS])
    statement = statement.where(visible_papers_clause(actor, today))
    if status is not None:
        statement = statement.where(table.c.status == status)
    if paper_type is not None:
        statement = statement.where(table.c.paper_type == paper_type)
    page = _page(session, "papers", statement, [table.c.id], [int], cursor, limit, lambda p: [p.id])
    return beratungsfolgen(session, page.rows, actor, today), page.next


def paper(session: Session, actor: Actor | None, paper_id: int, today: date) -> PaperOut | None:
    found = session.get(Paper, paper_id)
    if not can_see_paper(session, actor, found, today):
        return None
    return beratungsfolgen(session, [found], actor, today)[0]


# ----------------------------------------------------------------------------- Sitzungen

@dataclass
class MeetingOut:
    meeting: Meeting
    organization: Organization
    agenda: list[Any] | None = None  # engine.calendar.meetings.AgendaEntry


def list_meetings(session: Session, *, organization_id: int | None = None, since: date | None = None,
                  until: date | None = None, cursor: str | None = None,
                  limit: int = DEFAULT_LIMIT) -> tuple[list[MeetingOut], str | None]:
    """Sitzungen by start (then id), optionally of one Gremium and within days (Europe/Berlin)."""
    statement = select(Meeting, Organization).join(Organization,
                                                   col(Organization.id) == Meeting.organization_id)
    if organization_id is not None:
        statement = statement.where(Meeting.organization_id == organization_id)
    if since is not None:
        statement = statement.where(col(Meeting.start) >= datetime.combine(since, time(0), TIMEZONE))
    if until is not None:
        statement = statement.where(col(Meeting.start) < datetime.combine(until + timedelta(days=1), time(0),
                                                                          TIMEZONE))
    page = _page(session, "meetings", statement, [col(Meeting.start), col(Meeting.id)], [datetime, int],
                 cursor, limit, lambda r: [r[0].start, r[0].id])
    return [MeetingOut(m, o) for m, o in page.rows], page.next


def meeting(session: Session, actor: Actor | None, meeting_id: int, today: date) -> MeetingOut | None:
    """A Sitzung with its agenda (the non-public part only for those who may see it)."""
    from engine.calendar.meetings import agenda

    found = session.get(Meeting, meeting_id)
    if found is None:
        return None
    org = session.get(Organization, found.organization_id)
    assert org is not None
    closed = sees_closed_part(session, actor, found, today)
    return MeetingOut(found, org, agenda(session, meeting_id, public_only=not closed))


# ----------------------------------------------------------------------------- Gremien, Personen

def list_organizations(session: Session, *, organization_type: str | None = None, cursor: str | None = None,
                       limit: int = DEFAULT_LIMIT) -> tuple[list[Organization], str | None]:
    statement = select(Organization)
    if organization_type is not None:
        statement = statement.where(Organization.organization_type == organization_type)
    page = _page(session, "organizations", statement, [col(Organization.id)], [int], cursor, limit,
                 lambda o: [o.id])
    return page.rows, page.next


def list_persons(session: Session, *, cursor: str | None = None,
                 limit: int = DEFAULT_LIMIT) -> tuple[list[Person], str | None]:
    page = _page(session, "persons", select(Person), [col(Person.id)], [int], cursor, limit, lambda p: [p.id])
    return page.rows, page.next


@dataclass
class MembershipOut:
    membership: Membership
    person: Person
    organization: Organization


def list_memberships(session: Session, *, organization_id: int | None = None, person_id: int | None = None,
                     on: date | None = None, cursor: str | None = None,
                     limit: int = DEFAULT_LIMIT) -> tuple[list[MembershipOut], str | None]:
    """Mitgliedschaften by id; ``on``: only those current that day."""
    statement = (select(Membership, Person, Organization)
                 .join(Person, col(Person.id) == Membership.person_id)
                 .join(Organization, col(Organization.id) == Membership.organization_id))
    if organization_id is not None:
        statement = statement.where(Membership.organization_id == organization_id)
    if person_id is not None:
        statement = statement.where(Membership.person_id == person_id)
    if on is not None:
        statement = statement.where(or_(col(Membership.start_date).is_(None),
                                        col(Membership.start_date) <= on),
                                    or_(col(Membership.end_date).is_(None), col(Membership.end_date) >= on))
    page = _page(session, "memberships", statement, [col(Membership.id)], [int], cursor, limit,
                 lambda r: [r[0].id])
    return [MembershipOut(*r) for r in page.rows], page.next


def memberships_of_person(session: Session, person_id: int) -> list[MembershipOut]:
    return list_memberships(session, person_id=person_id, limit=MAX_LIMIT)[0]


def memberships_of_organization(session: Session, organization_id: int) -> list[MembershipOut]:
    return list_memberships(session, organization_id=organization_id, limit=MAX_LIMIT)[0]


# ----------------------------------------------------------------------------- Vorgänge

@dataclass
class InstanceOut:
    instance: ProcessInstance
    model: ProcessModel
    open_tasks: list[HumanTask]


def may_read_instance(actor: Actor, instance: ProcessInstance, session: Session) -> bool:
    """Revision and admin read every Vorgang; others one with a task in their candidate groups."""
    if actor.has_role(ROLE_AUDITOR):
        return True
    from engine.tasks import may_work_on

    tasks = session.exec(select(HumanTask).where(HumanTask.process_instance_id == instance.id)).all()
    return any(may_work_on(actor, t) for t in tasks)


def process_instance(session: Session, instance_id: int) -> InstanceOut | None:
    from engine.tasks import TASK_READY

    instance = session.get(ProcessInstance, instance_id)
    if instance is None:
        return None
    model = session.get(ProcessModel, instance.model_id)
    assert model is not None
    open_tasks = list(session.exec(select(HumanTask).where(HumanTask.process_instance_id == instance_id,
                                                           HumanTask.status == TASK_READY)
                                   .order_by(col(HumanTask.id))))
    return InstanceOut(instance, model, open_tasks)


def history(session: Session, instance_id: int, *, cursor: str | None = None,
            limit: int = DEFAULT_LIMIT) -> tuple[list[AuditEvent], str | None]:
    """The audit events of one Vorgang in chain order (by sequence number)."""
    statement = select(AuditEvent).where(AuditEvent.process_instance_id == instance_id)
    page = _page(session, f"history:{instance_id}", statement, [col(AuditEvent.seq)], [int], cursor, limit,
                 lambda e: [e.seq])
    return page.rows, page.next


# ----------------------------------------------------------------------------- Erinnerungen

def my_reminders(session: Session, actor: Actor, *, cursor: str | None = None,
                 limit: int = DEFAULT_LIMIT) -> tuple[list[tuple[reminders.Reminder, Meeting]], str | None]:
    """The reminders to the actor (as a member, through their person, and as a Sekretariat,
    through their account), newest due first."""
    person_id = person_of(session, actor)
    who = [col(reminders.Reminder.account_id) == actor.account_id]
    if person_id is not None:
        who.append(col(reminders.Reminder.person_id) == person_id)
    reminder = reminders.Reminder
    statement = (select(reminder, Meeting).join(Meeting, col(Meeting.id) == reminder.meeting_id)
                 .where(or_(*who)))
    page = _page(session, "reminders", statement, [col(reminder.due_at), col(reminder.id)],
                 [datetime, int], cursor, limit, lambda r: [r[0].due_at, r[0].id], descending=True)
    return [(r, m) for r, m in page.rows], page.next


# ----------------------------------------------------------------------------- the public calendar

@dataclass
class CalendarPage:
    rows: list[MeetingOut]
    total: int
    next: str | None


def calendar_page(session: Session, now: datetime, *, organization_ids: Sequence[int] | None = None,
                  upcoming: bool = True, cursor: str | None = None,
                  limit: int = DEFAULT_LIMIT) -> CalendarPage:
    """The Sitzungen from ``now`` on (soonest first) or before it (latest first), of some
    Gremien or all, a keyset page of them and how many there are in all."""
    conditions: list[Any] = [col(Meeting.start) >= now if upcoming else col(Meeting.start) < now]
    if organization_ids is not None:
        conditions.append(col(Meeting.organization_id).in_(sorted(organization_ids)))
    statement = (select(Meeting, Organization)
                 .join(Organization, col(Organization.id) == Meeting.organization_id).where(*conditions))
    total = session.exec(select(func.count()).select_from(Meeting).where(*conditions)).one()
    page = _page(session, "calendar" if upcoming else "calendar-past", statement,
                 [col(Meeting.start), col(Meeting.id)], [datetime, int], cursor, limit,
                 lambda r: [r[0].start, r[0].id], descending=not upcoming)
    return CalendarPage([MeetingOut(m, o) for m, o in page.rows], int(total), page.next)


def calendar_month(session: Session, first: date, *,
                   organization_ids: Sequence[int] | None = None) -> list[MeetingOut]:
    """The Sitzungen of the month that begins on ``first`` (Europe/Berlin), in their order."""
    following = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    conditions: list[Any] = [col(Meeting.start) >= datetime.combine(first, time(0), TIMEZONE),
                             col(Meeting.start) < datetime.combine(following, time(0), TIMEZONE)]
    if organization_ids is not None:
        conditions.append(col(Meeting.organization_id).in_(sorted(organization_ids)))
    rows = session.exec(select(Meeting, Organization)
                        .join(Organization, col(Organization.id) == Meeting.organization_id)
                        .where(*conditions).order_by(col(Meeting.start), col(Meeting.id)))
    return [MeetingOut(m, o) for m, o in rows]


def paper_list(session: Session, actor: Actor | None, today: date, *, cursor: str | None = None,
               limit: int = DEFAULT_LIMIT) -> tuple[list[Any], int, str | None]:
    """The Vorlagen ``actor`` sees (anonymous: the published ones), newest Aktenzeichen first,
    a keyset page without their texts, and how many there are."""
    table = table_of(Paper)
    visible = visible_papers_clause(actor, today)
    statement: Any = core_select(table.c.id, table.c.reference, table.c.name, table.c.paper_type,
                                 table.c.status, table.c.public, table.c.date).where(visible)
    total = session.execute(core_select(func.count()).select_from(table).where(visible)).scalar_one()
    page = _page(session, "paper-list", statement, [table.c.reference, table.c.id], [str, int], cursor, limit,
                 lambda p: [p.reference, p.id], descending=True)
    return page.rows, int(total), page.next
