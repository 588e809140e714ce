"""Beschlusskontrolle (bpmn/vorlage.bpmn): the implementation list of a Gremium – the
Vorlagen it advised or decided whose implementation is open, overdue or done – and a report
on it put on a session's agenda.

The implementation step is found by its role in the model (``role=implementation``), never by
its id: each version of the lifecycle's model names its own element.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from engine.accounts import Actor
from engine.audit import AuditEvent
from engine.calendar import agenda, meetings
from engine.council import ROLE_SECRETARIAT, AgendaItem, Consultation, Meeting, Organization, Paper
from engine.errors import Forbidden, NotFound
from engine.process import rules
from engine.tasks import TASK_DONE, TASK_READY, HumanTask
from engine.workflow import runtime
from engine.workflow.models import ProcessModel

OPEN, OVERDUE, DONE = "offen", "überfällig", "erledigt"


@dataclass(frozen=True)
class Implementation:
    paper_id: int
    reference: str
    name: str
    lead: str | None
    state: str  # OPEN, OVERDUE, DONE
    due: dt.date | None
    completed: datetime | None
    completed_by: str | None
    note: str | None  # the Erledigungsvermerk


def implementation_steps(session: Session) -> set[str]:
    """The element ids that play the implementation step in the lifecycle's model versions."""
    found = set()
    for model in session.exec(select(ProcessModel).where(ProcessModel.process_id == rules.LIFECYCLE)):
        element = runtime.element_with_role(model.spec_json, model.spec_hash, rules.ROLE_IMPLEMENTATION)
        if element:
            found.add(element)
    return found


def implementation_list(session: Session, actor: Actor, organization_id: int,
                        today: dt.date) -> list[Implementation]:
    """The implementation list of a Gremium, for its Sekretariat: open and overdue first (by due
    day), then done (newest first)."""
    gremium = session.get(Organization, organization_id)
    if gremium is None or gremium.organization_type != "Gremium":
        raise NotFound("Dieses Gremium gibt es nicht.")
    if not actor.has_role(ROLE_SECRETARIAT, organization_id):
        raise Forbidden("Die Umsetzungsliste sieht das Sekretariat des Gremiums.")
    steps = implementation_steps(session)
    if not steps:
        return []
    rows = list(session.exec(
        select(HumanTask, Paper, Organization)
        .join(Paper, col(Paper.id) == HumanTask.paper_id)
        .join(Organization, col(Organization.id) == Paper.under_direction_of_id, isouter=True)
        .where(col(HumanTask.bpmn_id).in_(sorted(steps)), col(HumanTask.status).in_([TASK_READY, TASK_DONE]),
               col(HumanTask.paper_id).in_(select(Consultation.paper_id).where(
                   Consultation.organization_id == organization_id)))))
    notes = _notes(session, [task.id for task, _p, _o in rows if task.status == TASK_DONE and task.id])
    found = []
    for task, paper, lead in rows:
        state = DONE if task.status == TASK_DONE else (
            OVERDUE if task.due is not None and task.due < today else OPEN)
        found.append(Implementation(
            paper.id or 0, paper.reference, paper.name, lead.name if lead else None, state, task.due,
            task.completed, task.completed_by, notes.get(task.id or 0)))
    waiting = sorted((i for i in found if i.state != DONE), key=lambda i: (i.due or dt.date.max, i.reference))
    done = sorted((i for i in found if i.state == DONE),
                  key=lambda i: i.completed.timestamp() if i.completed else 0.0, reverse=True)
    return waiting + done


def _notes(session: Session, task_ids: list[int]) -> dict[int, str]:
    """The Erledigungsvermerk of each done task, from the history of its completion."""
    if not task_ids:
        return {}
    wanted = set(task_ids)
    notes: dict[int, str] = {}
    for details in session.exec(select(AuditEvent.details).where(
            AuditEvent.action == "task.completed",
            col(AuditEvent.paper_id).in_(select(HumanTask.paper_id).where(col(HumanTask.id).in_(task_ids))))):
        values: dict[str, Any] = (details or {}).get("values") or {}
        task_id = (details or {}).get("task_id")
        if task_id in wanted and values.get("erledigungsvermerk"):
            notes[task_id] = str(values["erledigungsvermerk"])
    return notes


REPORT_TITLE = "Bericht zur Umsetzung: {reference} {name}"


def put_report_on_agenda(session: Session, actor: Actor, meeting_id: int, paper_id: int, data: dict[str, Any],
                         now: datetime) -> AgendaItem:
    """A report on a Vorlage's implementation goes on a session's agenda as a TOP of its own
    (the Sekretariat of the session's Gremium; the agenda's rules as for any change)."""
    agenda.may_change(session, actor, meeting_id, data, now)
    meeting = session.get(Meeting, meeting_id)
    assert meeting is not None and meeting.organization_id is not None
    listed = {i.paper_id: i for i in implementation_list(
        session, actor, meeting.organization_id, now.date())}
    paper = session.get(Paper, paper_id) if paper_id in listed else None
    if paper is None:
        raise NotFound("Diese Vorlage steht nicht auf der Umsetzungsliste des Gremiums.")
    before = agenda.snapshot_of(session, meeting_id)
    item = AgendaItem(meeting_id=meeting_id, consultation_id=None,
                      number=meetings.next_top_number(session, meeting_id),
                      name=REPORT_TITLE.format(reference=paper.reference, name=paper.name),
                      public=paper.public and paper.released is not None, created=now, modified=now)
    session.add(item)
    session.flush()
    agenda.changed(session, actor, meeting, before, f"Bericht zur Umsetzung der Vorlage {paper.reference}",
                   data.get("reason") or None, now)
    return item
