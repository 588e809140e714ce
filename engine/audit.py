"""The append-only, hash-chained audit log.

Every event stores the hash of its predecessor; ``verify`` recomputes the chain. The head
of the chain is one row that each writer updates inside its transaction, so concurrent
writers queue on that row instead of forking the chain.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, update
from sqlmodel import Field, Session, SQLModel, col, select

from .types import table_of, utc_column, utcnow

GENESIS = "0" * 64


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"

    id: int | None = Field(default=None, primary_key=True)
    seq: int = Field(unique=True)  # position in the chain, 1, 2, …
    at: datetime = Field(sa_column=utc_column(nullable=False, index=True))
    actor: str  # account username, or "system"
    actor_name: str
    action: str  # e.g. "task.completed", "procedure.started"
    paper_id: int | None = Field(default=None, index=True)
    process_instance_id: int | None = Field(default=None, index=True)
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    prev_hash: str
    hash: str


class AuditHead(SQLModel, table=True):
    """The one row naming the newest event of the chain."""

    __tablename__ = "audit_head"

    id: int = Field(default=1, primary_key=True)
    seq: int = 0
    hash: str = GENESIS


def _digest(prev_hash: str, seq: int, at: datetime, actor: str, action: str,
            paper_id: int | None, instance_id: int | None, details: dict[str, Any]) -> str:
    payload = json.dumps(
        [prev_hash, seq, at.isoformat(), actor, action, paper_id, instance_id, details],
        sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def record(
    session: Session,
    actor: str,
    actor_name: str,
    action: str,
    *,
    paper_id: int | None = None,
    process_instance_id: int | None = None,
    details: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditEvent:
    """Append one event to the chain (flushes; the caller's unit of work commits)."""
    details = details or {}
    at = (at or utcnow()).astimezone(UTC)
    # Lock the head row: the UPDATE takes the row lock on PostgreSQL, the write lock on SQLite.
    # Core statements on the tables: the ORM's bulk-DML layer adds nothing here but time.
    head = table_of(AuditHead)
    seq, prev_hash = session.execute(
        update(head).where(head.c.id == 1).values(seq=head.c.seq + 1)
        .returning(head.c.seq, head.c.hash)
    ).one()
    digest = _digest(prev_hash, seq, at, actor, action, paper_id, process_instance_id, details)
    event = AuditEvent(
        seq=seq, at=at, actor=actor, actor_name=actor_name, action=action, paper_id=paper_id,
        process_instance_id=process_instance_id, details=details, prev_hash=prev_hash, hash=digest,
    )
    session.add(event)
    session.execute(update(head).where(head.c.id == 1).values(hash=digest))
    return event


@dataclass
class VerifyReport:
    ok: bool
    events: int
    problem: str | None = None


def verify(session: Session) -> VerifyReport:
    """Recompute the whole chain; name the first event that does not fit."""
    prev = GENESIS
    count = 0
    for event in session.exec(select(AuditEvent).order_by(col(AuditEvent.seq))):
        count += 1
        if event.seq != count:
            return VerifyReport(False, count, f"Ereignis {count} fehlt (gefunden: {event.seq})")
        if event.prev_hash != prev:
            return VerifyReport(False, count, f"Ereignis {event.seq}: Verkettung unterbrochen")
        expected = _digest(prev, event.seq, event.at, event.actor, event.action, event.paper_id,
                           event.process_instance_id, event.details)
        if expected != event.hash:
            return VerifyReport(False, count, f"Ereignis {event.seq}: Inhalt verändert")
        prev = event.hash
    head = session.get(AuditHead, 1)
    if head is not None and (head.seq != count or head.hash != prev):
        return VerifyReport(False, count, "Kettenkopf passt nicht zum letzten Ereignis")
    return VerifyReport(True, count)


def events_for_paper(session: Session, paper_id: int) -> list[AuditEvent]:
    return list(session.exec(
        select(AuditEvent).where(AuditEvent.paper_id == paper_id).order_by(col(AuditEvent.seq))
    ))
