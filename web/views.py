"""Helpers the blueprints share: the unit of work of a request, loading display rows."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flask import current_app, g, request
from sqlmodel import Session, col, select

from engine import audit
from engine.council import AgendaItem, Consultation, Meeting, Organization, Paper, Person, UrgentDecision
from engine.errors import EngineError
from engine.settings import TIMEZONE
from engine.tasks import HumanTask
from engine.types import utcnow


def request_session() -> Session:
    """The session of this request's unit of work (opened on first use).

    GET requests only read: on SQLite their transaction starts deferred and reads
    alongside writers; every other method takes the write lock up front.
    """
    if "uow" not in g:
        database = current_app.extensions["ratsflow.db"]
        g.uow = database.begin(write=request.method not in {"GET", "HEAD", "OPTIONS"})
    return g.uow.session  # type: ignore[no-any-return]


def request_now() -> datetime:
    """The time of this request: the app's clock (``ratsflow.clock``; tests move it)."""
    if "now" not in g:
        g.now = current_app.extensions.get("ratsflow.clock", utcnow)()
    return g.now  # type: ignore[no-any-return]


def request_today() -> date:
    """Today in Europe/Berlin, by the request's clock."""
    return request_now().astimezone(TIMEZONE).date()


def form_values(*leave_out: str) -> dict[str, Any]:
    """The submitted form without its CSRF token (and ``leave_out``)."""
    skip = {"csrf_token", *leave_out}
    return {k: v for k, v in request.form.items() if k not in skip}


def rollback_request() -> None:
    """Undo this request's changes so far (after a refused input) and go on reading."""
    if "uow" in g:
        g.uow.rollback()


def beratungsfolge(session: Session, paper_id: int) -> list[dict[str, Any]]:
    """The ordered Beratungsfolge with Gremium, Sitzungen and Ergebnisse, for display."""
    consultations = list(session.exec(
        select(Consultation).where(Consultation.paper_id == paper_id).order_by(col(Consultation.position))))
    if not consultations:
        return []
    ids = [c.id for c in consultations]
    items = list(session.exec(select(AgendaItem, Meeting)
                              .join(Meeting, col(Meeting.id) == AgendaItem.meeting_id)
                              .where(col(AgendaItem.consultation_id).in_(ids))
                              .order_by(col(AgendaItem.id))))
    orgs = {o.id: o for o in session.exec(select(Organization).where(
        col(Organization.id).in_([c.organization_id for c in consultations])))}
    meeting_ids = {c.meeting_id for c in consultations if c.meeting_id}
    meetings = {m.id: m for m in session.exec(select(Meeting).where(
        col(Meeting.id).in_(meeting_ids)))} if meeting_ids else {}
    rows: list[dict[str, Any]] = []
    for c in consultations:
        sessions: list[dict[str, Any]] = [{"item": item, "meeting": meeting} for item, meeting in items
                                          if item.consultation_id == c.id]
        planned = meetings.get(c.meeting_id) if c.meeting_id else None
        conflict = False
        if planned is not None and not any(s["meeting"].id == planned.id for s in sessions):
            sessions.append({"item": None, "meeting": planned})
            # Order holds: a planned session before the previous Beratung's is flagged.
            before = rows[-1]["sessions"] if rows else []
            conflict = any(s["meeting"].start >= planned.start for s in before)
        rows.append({"consultation": c, "organization": orgs[c.organization_id], "sessions": sessions,
                     "conflict": conflict})
    return rows


def urgent_decisions(session: Session, paper_id: int) -> list[dict[str, Any]]:
    """The Vorlage's Dringlichkeitsentscheidungen with their Gremium, for display."""
    rows = session.exec(select(UrgentDecision, Organization)
                        .join(Organization, col(Organization.id) == UrgentDecision.organization_id)
                        .where(UrgentDecision.paper_id == paper_id).order_by(col(UrgentDecision.id))).all()
    return [{"decision": d, "organization": o} for d, o in rows]


def paper_header(session: Session, paper: Paper) -> dict[str, Any]:
    lead = session.get(Organization, paper.under_direction_of_id) if paper.under_direction_of_id else None
    clerk = session.get(Person, paper.clerk_id) if paper.clerk_id else None
    return {"lead": lead, "clerk": clerk}


def record_refusal(actor: Any, task_id: int, exc: EngineError) -> None:
    """A refused attempt on a task (403/409/422) is recorded in a unit of work of its own,
    after the refused one rolled back: the refusal is never lost, the refused change never
    half-written."""
    rollback_request()
    database = current_app.extensions["ratsflow.db"]
    with database.unit_of_work() as s:
        task = s.get(HumanTask, task_id)
        if task is None:
            return
        audit.record(s, actor.username, actor.display_name, "task.refused", paper_id=task.paper_id,
                     process_instance_id=task.process_instance_id, at=request_now(), details={
                         "task_id": task.id, "task_title": task.title, "status": exc.status,
                         "why": exc.message, "errors": exc.errors, "path": request.path})
