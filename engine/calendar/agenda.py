"""A Sitzung's agenda as its Sekretariat manages it: order, TOP numbers (1, 2, 2.1 …), the
public and the non-public part.

The agenda is ordered by its TOP numbers within each part (public first), as members read it
(``engine.calendar.meetings.agendas``). Moving an item swaps its number with its neighbour's; the
numbering can be made continuous again (sub-items keep their place under their TOP); a
whole new order (dragged) is numbered afresh. Once the agenda has closed, every change needs
a reason. Every change is audited with the agenda before and after.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from engine import audit
from engine.accounts import Actor
from engine.calendar import reminders
from engine.council import ROLE_SECRETARIAT, AgendaItem, Consultation, Meeting, Paper, top_key
from engine.errors import Conflict, Forbidden, Invalid, NotFound
from engine.oparl import server as oparl_out
from engine.schemas import OptionalReasonIn, load
from engine.settings import TIMEZONE
from engine.tasks import TASK_READY, HumanTask
from engine.types import utcnow

UP, DOWN = "up", "down"


def _items(session: Session, meeting_id: int) -> list[tuple[AgendaItem, Paper | None]]:
    rows = session.exec(
        select(AgendaItem, Paper)
        .join(Consultation, col(Consultation.id) == AgendaItem.consultation_id, isouter=True)
        .join(Paper, col(Paper.id) == Consultation.paper_id, isouter=True)
        .where(AgendaItem.meeting_id == meeting_id)).all()
    return sorted(rows, key=lambda r: (not r[0].public, top_key(r[0].number), r[0].id or 0))


def _snapshot(items: list[tuple[AgendaItem, Paper | None]]) -> list[str]:
    return [f"{'' if item.public else 'N '}{item.number or '–'} {paper.reference if paper else item.name}"
            for item, paper in items]


def may_change(session: Session, actor: Actor, meeting_id: int, data: dict[str, Any],
               now: datetime | None = None) -> None:
    """The checks every change of the agenda passes first (404, 403, 409, a closed agenda's
    reason): who may not change it learns that before any fault of the input."""
    _guard(session, actor, meeting_id, data, now or utcnow())


def _guard(session: Session, actor: Actor, meeting_id: int, data: dict[str, Any],
           now: datetime) -> tuple[Meeting, str | None]:
    meeting = session.get(Meeting, meeting_id) if 0 < meeting_id < 2**31 else None
    if meeting is None:
        raise NotFound("Diese Sitzung gibt es nicht.")
    if not actor.has_role(ROLE_SECRETARIAT, meeting.organization_id):
        raise Forbidden("Sie betreuen das Gremium dieser Sitzung nicht.")
    if meeting.cancelled:
        raise Conflict("Die Sitzung ist abgesagt.")
    if meeting.start <= now:
        raise Conflict("Die Sitzung hat schon begonnen; die Tagesordnung steht.")
    reason = load(OptionalReasonIn(), {"reason": data.get("reason", "")})["reason"]
    if meeting.agenda_closed is not None and not reason:
        closed = meeting.agenda_closed.astimezone(TIMEZONE)
        raise Invalid("Die Tagesordnung ist geschlossen.", {"reason": [
            f"Die Tagesordnung wurde am {closed:%d.%m.%Y} geschlossen: Änderungen bitte begründen."]})
    return meeting, reason


def snapshot_of(session: Session, meeting_id: int) -> list[str]:
    """The agenda as the history records it (before a change made elsewhere)."""
    return _snapshot(_items(session, meeting_id))


def changed(session: Session, actor: Actor, meeting: Meeting, before: list[str], what: str,
            reason: str | None, now: datetime) -> list[str]:
    """Record a change of the agenda made elsewhere (a report put on it): as every change here."""
    return _done(session, actor, meeting, before, what, reason, now)


def _find(items: list[tuple[AgendaItem, Paper | None]], item_id: int) -> int:
    """Where an item stands in the agenda (404 when it is not on this session's agenda)."""
    for index, (item, _paper) in enumerate(items):
        if item.id == item_id:
            return index
    raise NotFound("Dieser Tagesordnungspunkt steht nicht auf dieser Sitzung.")


def _renumber(items: list[tuple[AgendaItem, Paper | None]]) -> None:
    """1, 2, 3 … in the given order; an item numbered "n.k" stays a sub-item of the TOP before it."""
    top, sub = 0, 0
    for item, _paper in items:
        if item.number and "." in item.number and top > 0:
            sub += 1
            item.number = f"{top}.{sub}"
        else:
            top, sub = top + 1, 0
            item.number = str(top)


def _done(session: Session, actor: Actor, meeting: Meeting, before: list[str], what: str,
          reason: str | None, now: datetime) -> list[str]:
    items = _items(session, meeting.id or 0)
    for item, _paper in items:
        item.modified = now
        session.add(item)
    meeting.modified = now  # its agenda is part of it (OParl embeds the TOPs: mirrors read it again)
    session.add(meeting)
    session.flush()
    after = _snapshot(_items(session, meeting.id or 0))
    _retitle_tasks(session, items)
    reminders.withdraw_for(session, meeting, now)  # a message rendered ahead names the old agenda
    audit.record(session, actor.username, actor.display_name, "agenda.changed", at=now, meeting_id=meeting.id,
                 details={"meeting_id": meeting.id, "reference": meeting.reference, "change": what,
                          "before": before, "after": after, **({"reason": reason} if reason else {}),
                          "after_closing": meeting.agenda_closed is not None})
    return after


def _retitle_tasks(session: Session, items: list[tuple[AgendaItem, Paper | None]]) -> None:
    """Open tasks that name a TOP (the Beratung's result step) show its new number."""
    numbers: dict[int | None, str | None] = {item.consultation_id: item.number for item, _ in items
                                             if item.consultation_id}
    if not numbers:
        return
    for task in session.exec(select(HumanTask).where(col(HumanTask.consultation_id).in_(list(numbers)),
                                                     HumanTask.status == TASK_READY)):
        if task.context.get("top") not in (None, numbers[task.consultation_id]):
            task.context = {**task.context, "top": numbers[task.consultation_id]}
            session.add(task)


def move(session: Session, actor: Actor, meeting_id: int, item_id: int, direction: str,
         data: dict[str, Any], now: datetime | None = None) -> list[str]:
    """One place up or down within its part (the two items swap their TOP numbers)."""
    now = now or utcnow()
    meeting, reason = _guard(session, actor, meeting_id, data, now)
    items = _items(session, meeting_id)
    before = _snapshot(items)
    index = _find(items, item_id)
    other = index - 1 if direction == UP else index + 1
    if not 0 <= other < len(items) or items[other][0].public != items[index][0].public:
        where = "Anfang" if direction == UP else "Ende"
        raise Conflict(f"Der Punkt steht schon am {where} seines Teils.")
    a, b = items[index][0], items[other][0]
    a.number, b.number = b.number, a.number
    return _done(session, actor, meeting, before, f"TOP {b.number} → {a.number}", reason, now)


def set_part(session: Session, actor: Actor, meeting_id: int, item_id: int, public: bool,
             data: dict[str, Any], now: datetime | None = None) -> list[str]:
    """Into the public or the non-public part (a non-public Vorlage stays non-public)."""
    now = now or utcnow()
    meeting, reason = _guard(session, actor, meeting_id, data, now)
    items = _items(session, meeting_id)
    before = _snapshot(items)
    item, paper = items[_find(items, item_id)]
    if public and paper is not None and not paper.public:
        raise Conflict(f"Die Vorlage {paper.reference} ist nichtöffentlich; "
                       "ihr TOP bleibt im nichtöffentlichen Teil.")
    if item.public == public:
        return before
    assert item.id is not None
    if public:
        oparl_out.restore(session, [("agendaitem", item.id)], now)
    elif paper is None or paper.public:  # it was served: mirrors learn that it is gone
        oparl_out.withdraw(session, [("agendaitem", item.id)], now)
    item.public = public
    moved = sorted(items, key=lambda r: (not r[0].public, top_key(r[0].number), r[0].id or 0))
    _renumber(moved)
    return _done(session, actor, meeting, before, "öffentlich" if public else "nichtöffentlich", reason, now)


def renumber(session: Session, actor: Actor, meeting_id: int, data: dict[str, Any],
             now: datetime | None = None) -> list[str]:
    """Continuous TOP numbers in the present order (sub-items stay under their TOP)."""
    now = now or utcnow()
    meeting, reason = _guard(session, actor, meeting_id, data, now)
    items = _items(session, meeting_id)
    before = _snapshot(items)
    _renumber(items)
    return _done(session, actor, meeting, before, "neu nummeriert", reason, now)


def set_order(session: Session, actor: Actor, meeting_id: int, item_ids: list[int], data: dict[str, Any],
              now: datetime | None = None) -> list[str]:
    """A whole new order (dragged into place), numbered afresh; each part keeps its items."""
    now = now or utcnow()
    meeting, reason = _guard(session, actor, meeting_id, data, now)
    items = _items(session, meeting_id)
    before = _snapshot(items)
    by_id = {item.id or 0: (item, paper) for item, paper in items}
    if sorted(item_ids) != sorted(by_id) or len(set(item_ids)) != len(item_ids):
        raise Invalid("Eingaben bitte prüfen.", {"order": [
            "Die Reihenfolge muss jeden Punkt dieser Tagesordnung genau einmal nennen."]})
    ordered = [by_id[i] for i in item_ids]
    ordered.sort(key=lambda r: not r[0].public)  # stable: the public part first, each in the new order
    _renumber(ordered)
    return _done(session, actor, meeting, before, "neue Reihenfolge", reason, now)


def indent(session: Session, actor: Actor, meeting_id: int, item_id: int, sub: bool,
           data: dict[str, Any], now: datetime | None = None) -> list[str]:
    """Make a TOP a sub-item of the TOP before it (2 → 1.1), or a TOP of its own again."""
    now = now or utcnow()
    meeting, reason = _guard(session, actor, meeting_id, data, now)
    items = _items(session, meeting_id)
    before = _snapshot(items)
    index = _find(items, item_id)
    item = items[index][0]
    if sub and (index == 0 or items[index - 1][0].public != item.public):
        raise Conflict("Der erste Punkt eines Teils kann kein Unterpunkt sein.")
    item.number = "0.1" if sub else "0"  # what _renumber reads: dotted is a sub-item
    _renumber(items)  # the order stays as it is
    return _done(session, actor, meeting, before, "Unterpunkt" if sub else "eigener TOP", reason, now)
