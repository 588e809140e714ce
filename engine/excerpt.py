"""Beschlussauszug: what the lead department receives after the last body decided
(bpmn/vorlage.bpmn, Beschlussausfertigung): the final result with its decided text, the
body, the session and the TOP. The web layer renders it as a PDF (WeasyPrint)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from engine.council import RESULTS, AgendaItem, Consultation, Meeting, Organization, Paper
from engine.errors import Conflict


@dataclass(frozen=True)
class Excerpt:
    reference: str
    name: str
    lead: str | None
    body: str  # the Gremium that decided last
    meeting: str  # its Sitzung's reference (or name)
    meeting_name: str
    start: datetime
    top: str | None
    result: str  # in words
    text: str  # the decided text: the TOP's resolution text, else the Vorlage's proposal
    votes: tuple[int | None, int | None, int | None]


def resolution_excerpt(session: Session, paper: Paper) -> Excerpt:
    """The Beschlussauszug of ``paper``: its last Beratung with a result (Conflict: none yet)."""
    row = session.exec(
        select(AgendaItem, Meeting, Organization)
        .join(Consultation, col(Consultation.id) == AgendaItem.consultation_id)
        .join(Meeting, col(Meeting.id) == AgendaItem.meeting_id)
        .join(Organization, col(Organization.id) == Meeting.organization_id)
        .where(Consultation.paper_id == paper.id, col(AgendaItem.result).is_not(None),
               AgendaItem.result != "vertagt")
        .order_by(col(Consultation.position).desc(), col(Meeting.start).desc())).first()
    if row is None:
        raise Conflict(f"Für die Vorlage {paper.reference} ist noch kein Ergebnis erfasst.")
    item, meeting, body = row
    lead = session.get(Organization, paper.under_direction_of_id) if paper.under_direction_of_id else None
    text = (item.resolution_text or "").strip() or (paper.proposal or "").strip()
    return Excerpt(paper.reference, paper.name, lead.name if lead else None, body.name,
                   meeting.reference or meeting.name, meeting.name, meeting.start, item.number,
                   RESULTS.get(item.result or "", item.result_text or item.result or ""), text,
                   (item.votes_yes, item.votes_no, item.votes_abstain))
