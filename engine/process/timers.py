"""BPMN timers as rows: the scheduler claims the due ones and wakes their instances.

``engine.process.procedures`` writes a row for every timer an instance waits for, in the same
transaction as the step that set it. :func:`fire_due` claims the waiting rows due by
``now`` (``FOR UPDATE SKIP LOCKED`` on PostgreSQL: a second scheduler or a restart never
fires a row twice) and advances each instance once under its version check. An instance
whose script or expression fails stops with an incident (audited, shown to an admin); the
others carry on.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from engine import audit
from engine.errors import Conflict
from engine.process import procedures
from engine.workflow.models import (
    INSTANCE_INCIDENT,
    INSTANCE_RUNNING,
    TIMER_WAITING,
    ProcessInstance,
    WorkflowTimer,
)
from engine.workflow.runtime import TaskFailed

log = logging.getLogger(__name__)


@dataclass
class TimerReport:
    fired: int = 0  # rows
    instances: int = 0
    incidents: list[str] = field(default_factory=list)
    conflicts: int = 0


def claim_due(session: Session, now: datetime, limit: int = 100) -> list[WorkflowTimer]:
    """Waiting timer rows of running instances due by ``now``, locked for this unit of work."""
    statement = (
        select(WorkflowTimer)
        .join(ProcessInstance, col(ProcessInstance.id) == WorkflowTimer.process_instance_id)
        .where(WorkflowTimer.status == TIMER_WAITING, col(WorkflowTimer.due_at) <= now,
               ProcessInstance.status == INSTANCE_RUNNING)
        .order_by(col(WorkflowTimer.due_at), col(WorkflowTimer.id)).limit(limit)
        .with_for_update(skip_locked=True, of=WorkflowTimer)
    )
    return list(session.exec(statement).all())


def fire_due(session: Session, now: datetime, limit: int = 100) -> TimerReport:
    """Fire the timers due by ``now`` (one batch): each instance advanced once, each in its
    own savepoint, so one failing model does not hold up the rest."""
    report = TimerReport()
    rows = claim_due(session, now, limit)
    for instance_id in dict.fromkeys(r.process_instance_id for r in rows):
        savepoint = session.begin_nested()
        try:
            procedures.advance(session, instance_id, now)
            savepoint.commit()
            report.instances += 1
        except TaskFailed as exc:
            savepoint.rollback()
            record_incident(session, instance_id, str(exc), now)
            report.incidents.append(f"Vorgang {instance_id}: {exc}")
        except Conflict:  # changed meanwhile by a request: the next sweep looks again
            savepoint.rollback()
            report.conflicts += 1
    report.fired = sum(1 for r in rows if r.status != TIMER_WAITING)
    session.flush()
    return report


def due_before(session: Session, moment: datetime) -> list[WorkflowTimer]:
    """The waiting rows of running instances due by ``moment``, earliest first (unlocked: for
    a replay in one unit of work, such as the demo's history)."""
    return list(session.exec(
        select(WorkflowTimer)
        .join(ProcessInstance, col(ProcessInstance.id) == WorkflowTimer.process_instance_id)
        .where(WorkflowTimer.status == TIMER_WAITING, col(WorkflowTimer.due_at) <= moment,
               ProcessInstance.status == INSTANCE_RUNNING)
        .order_by(col(WorkflowTimer.due_at), col(WorkflowTimer.id))))


def fire_at(session: Session, timer: WorkflowTimer) -> bool:
    """Fire one row at its own moment; whether it fired."""
    procedures.advance(session, timer.process_instance_id, timer.due_at + timedelta(microseconds=1))
    session.refresh(timer)
    return timer.status != TIMER_WAITING


def record_incident(session: Session, instance_id: int | None, reason: str, now: datetime,
                    paper_id: int | None = None) -> None:
    """The instance stops with an incident: shown to an admin, audited. (Without an instance,
    e.g. a start that failed and left none, the audit event alone records it.)"""
    instance = session.get(ProcessInstance, instance_id) if instance_id is not None else None
    if instance is not None:
        instance.status, instance.incident, instance.updated = INSTANCE_INCIDENT, reason, now
        instance.version += 1
        session.add(instance)
        session.flush()
        paper_id = instance.paper_id
    audit.record(session, "system", "Ablauf", "workflow.incident", paper_id=paper_id,
                 process_instance_id=instance.id if instance else None,
                 meeting_id=instance.meeting_id if instance else None, at=now, details={"reason": reason})
    log.warning("instance %s stopped with an incident: %s", instance_id, reason)


def resume(session: Session, actor_name: str, display_name: str, instance_id: int,
           now: datetime) -> ProcessInstance:
    """An admin lets an instance with an incident run again (after the cause was fixed): it
    advances at once."""
    instance = session.get(ProcessInstance, instance_id)
    if instance is None or instance.status != INSTANCE_INCIDENT:
        raise Conflict("Dieser Vorgang hat keine Störung.")
    old = instance.incident
    instance.status, instance.incident, instance.updated = INSTANCE_RUNNING, None, now
    instance.version += 1
    session.add(instance)
    session.flush()
    audit.record(session, actor_name, display_name, "workflow.resumed", paper_id=instance.paper_id,
                 process_instance_id=instance_id, meeting_id=instance.meeting_id, at=now,
                 details={"incident": old})
    try:  # what came due meanwhile happens now; failing again is the same incident again
        instance, _ = procedures.advance(session, instance_id, now)
    except TaskFailed as exc:
        exc.instance_id, exc.paper_id = instance_id, instance.paper_id
        raise
    return instance


def incidents(session: Session) -> list[ProcessInstance]:
    return list(session.exec(select(ProcessInstance).where(ProcessInstance.status == INSTANCE_INCIDENT)
                             .order_by(col(ProcessInstance.updated).desc())))


def next_due(session: Session) -> datetime | None:
    """When the earliest waiting timer is due (the scheduler sets a date job for it)."""
    return session.exec(select(WorkflowTimer.due_at).join(
        ProcessInstance, col(ProcessInstance.id) == WorkflowTimer.process_instance_id).where(
        WorkflowTimer.status == TIMER_WAITING, ProcessInstance.status == INSTANCE_RUNNING)
        .order_by(col(WorkflowTimer.due_at)).limit(1)).first()
