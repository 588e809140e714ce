"""What the co-signing departments said (Mitzeichnung, bpmn/vorlage.bpmn): the remarks and
the reasons of returns, by round, from the history of the completed steps. Shown to everyone
inside the procedure once given; never to the public."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from engine.audit import AuditEvent
from engine.council import Organization
from engine.tasks import HumanTask
from engine.words import N_

#: The answers of the Mitzeichnung form that carry a text (its field ``anmerkung``).
_WITH_TEXT = {"mit_anmerkung": N_("mitgezeichnet mit Anmerkung"), "zurueck": N_("zurück an die Federführung")}


@dataclass(frozen=True)
class Remark:
    at: datetime
    department: str
    answer: str  # in words
    text: str
    by: str


def remarks(session: Session, paper_id: int) -> list[Remark]:
    """The co-signers' remarks and returns of a Vorlage, oldest first."""
    events = list(session.exec(select(AuditEvent).where(
        AuditEvent.paper_id == paper_id, AuditEvent.action == "task.completed")
        .order_by(col(AuditEvent.seq))))
    wanted: list[tuple[AuditEvent, dict[str, Any]]] = []
    for event in events:
        values = (event.details or {}).get("values") or {}
        if values.get("mitzeichnung") in _WITH_TEXT and values.get("anmerkung"):
            wanted.append((event, values))
    if not wanted:
        return []
    task_ids = [e.details.get("task_id") for e, _v in wanted]
    ids = [i for i in task_ids if isinstance(i, int)]
    orgs = dict(session.exec(select(HumanTask.id, Organization.name)
                             .join(Organization, col(Organization.id) == HumanTask.organization_id)
                             .where(col(HumanTask.id).in_(ids))).all())
    return [Remark(event.at, orgs.get(event.details.get("task_id"), ""), _WITH_TEXT[values["mitzeichnung"]],
                   str(values["anmerkung"]), event.actor_name or event.actor)
            for event, values in wanted]
