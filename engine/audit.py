"""The append-only, hash-chained audit log.

Every event stores the hash of its predecessor; ``verify`` recomputes the chain, streaming
it in keyset batches (constant memory), from the start or from a verified event on, and
holds it against checkpoints an auditor kept outside (``checkpoint``). The head of the chain
is one row that each writer updates inside its transaction, so concurrent writers queue on
that row instead of forking the chain.

The table refuses UPDATE and DELETE (and TRUNCATE on PostgreSQL) by triggers on itself
(:data:`APPEND_ONLY`, installed by migration 0005); on PostgreSQL the app can additionally
run as a role without those rights (README, "Prozesshistorie"). Whoever disables the triggers
with database access is still caught by ``verify``: the chain and the checkpoints tell.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, Column, Connection, Index, Integer, Text, text, update
from sqlmodel import Field, Session, SQLModel, col, select

from engine.types import table_of, utc_column, utcnow

GENESIS = "0" * 64


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"
    __table_args__ = (
        # The auditors' search: one Vorlage's or one event type's events, newest first.
        Index("ix_audit_event_paper_seq", "paper_id", "seq"),
        Index("ix_audit_event_action_at", "action", "at"),
    )

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
    #: Which fields the hash covers (:func:`_digest`): 1 before migration 0011 (without
    #: ``actor_name``), :data:`HASH_VERSION` for every event written since.
    hash_version: int = Field(default=1, sa_column=Column(Integer, nullable=False, server_default="1"))


class AuditHead(SQLModel, table=True):
    """The one row naming the newest event of the chain."""

    __tablename__ = "audit_head"

    id: int = Field(default=1, primary_key=True)
    seq: int = 0
    hash: str = GENESIS


#: The hash formula of new events: version 2 covers ``actor_name`` too.
HASH_VERSION = 2


def _digest(prev_hash: str, seq: int, at: datetime, actor: str, action: str,
            paper_id: int | None, instance_id: int | None, details: dict[str, Any],
            actor_name: str | None = None, version: int = 1) -> str | None:
    """The hash of one event by the formula of its ``version`` (None for a version unknown).

    Version 1 (events written before migration 0011) leaves ``actor_name`` out, so a changed
    name still verified; version 2 covers it and names its version in what it hashes."""
    fields: list[Any] = [prev_hash, seq, at.isoformat(), actor, action, paper_id, instance_id, details]
    if version == 2:
        fields = [2, *fields, actor_name]
    elif version != 1:
        return None
    payload = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
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
    digest = _digest(prev_hash, seq, at, actor, action, paper_id, process_instance_id, details,
                     actor_name, HASH_VERSION)
    assert digest is not None
    event = AuditEvent(
        seq=seq, at=at, actor=actor, actor_name=actor_name, action=action, paper_id=paper_id,
        process_instance_id=process_instance_id, details=details, prev_hash=prev_hash, hash=digest,
        hash_version=HASH_VERSION,
    )
    session.add(event)
    session.execute(update(head).where(head.c.id == 1).values(hash=digest))
    return event


#: The triggers that make ``audit_event`` append-only, per dialect (migration 0005).
APPEND_ONLY: dict[str, list[str]] = {
    "sqlite": [
        "CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event BEGIN "
        "SELECT RAISE(ABORT, 'audit_event ist nur fortschreibbar: UPDATE verweigert'); END",
        "CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event BEGIN "
        "SELECT RAISE(ABORT, 'audit_event ist nur fortschreibbar: DELETE verweigert'); END",
    ],
    "postgresql": [
        "CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN RAISE EXCEPTION 'audit_event ist nur fortschreibbar: % verweigert', TG_OP; END $$",
        "CREATE TRIGGER audit_event_no_change BEFORE UPDATE OR DELETE ON audit_event "
        "FOR EACH ROW EXECUTE FUNCTION audit_event_append_only()",
        "CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_event_append_only()",
    ],
}
APPEND_ONLY_DROP: dict[str, list[str]] = {
    "sqlite": ["DROP TRIGGER IF EXISTS audit_event_no_update",
               "DROP TRIGGER IF EXISTS audit_event_no_delete"],
    "postgresql": ["DROP TRIGGER IF EXISTS audit_event_no_change ON audit_event",
                   "DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_event",
                   "DROP FUNCTION IF EXISTS audit_event_append_only()"],
}


_ROLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def app_role_grants(role: str) -> list[str]:
    """PostgreSQL: what a role for the app may do: everything it needs, but the audit table
    only SELECT and INSERT (no UPDATE, DELETE, TRUNCATE, even with the triggers disabled)."""
    if not _ROLE.match(role):
        raise ValueError(f"Rollenname {role!r}: nur Kleinbuchstaben, Ziffern, _")
    return [
        f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}",
        f"GRANT USAGE ON SCHEMA public TO {role}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
        f"REVOKE UPDATE, DELETE, TRUNCATE ON audit_event FROM {role}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}",
    ]


def install_append_only(conn: Connection) -> None:
    for statement in APPEND_ONLY[conn.dialect.name]:
        conn.execute(text(statement))


def drop_append_only(conn: Connection) -> None:
    for statement in APPEND_ONLY_DROP[conn.dialect.name]:
        conn.execute(text(statement))


@dataclass(frozen=True)
class Checkpoint:
    """The chain's head at a moment: sequence number, hash, time (kept outside by an auditor)."""

    seq: int
    hash: str
    at: str  # ISO 8601, UTC

    def to_json(self) -> str:
        return json.dumps({"seq": self.seq, "hash": self.hash, "at": self.at}, ensure_ascii=False)

    @classmethod
    def from_json(cls, raw: str, where: str = "Prüfpunkt") -> Checkpoint:
        try:
            data = json.loads(raw)
            seq, digest, at = int(data["seq"]), str(data["hash"]), str(data["at"])
        except (ValueError, KeyError, TypeError):
            raise ValueError(f"{where}: kein Prüfpunkt (JSON mit seq, hash, at erwartet)") from None
        if seq < 0 or len(digest) != 64:
            raise ValueError(f"{where}: kein Prüfpunkt (seq ≥ 0, hash mit 64 Zeichen)")
        return cls(seq, digest, at)


def checkpoint(session: Session) -> Checkpoint:
    """The newest event's sequence number and hash (GENESIS for an empty chain)."""
    row = session.execute(
        select(col(AuditEvent.seq), col(AuditEvent.hash), col(AuditEvent.at))
        .order_by(col(AuditEvent.seq).desc()).limit(1)).first()
    if row is None:
        return Checkpoint(0, GENESIS, utcnow().isoformat())
    return Checkpoint(row[0], row[1], row[2].astimezone(UTC).isoformat())


@dataclass
class VerifyReport:
    ok: bool
    events: int  # how many were checked
    problem: str | None = None
    #: The sequence number of the first event that does not fit (None: none, or truncation).
    first_bad: int | None = None
    last_seq: int = 0  # the last event that fitted
    last_hash: str = GENESIS


_COLUMNS = (AuditEvent.seq, AuditEvent.at, AuditEvent.actor, AuditEvent.action, AuditEvent.paper_id,
            AuditEvent.process_instance_id, AuditEvent.details, AuditEvent.prev_hash, AuditEvent.hash,
            AuditEvent.actor_name, AuditEvent.hash_version)


def _stream(session: Session, after: int, batch: int) -> Iterator[Any]:
    """The events after ``after`` in chain order, fetched in keyset batches."""
    while True:
        rows = session.execute(select(*[col(c) for c in _COLUMNS]).where(col(AuditEvent.seq) > after)
                               .order_by(col(AuditEvent.seq)).limit(batch)).all()
        yield from rows
        if len(rows) < batch:
            return
        after = rows[-1][0]


def verify(session: Session, since: tuple[int, str] | None = None,
           checkpoints: Sequence[Checkpoint] = (), batch: int = 5000) -> VerifyReport:
    """Recompute the chain (from ``since`` = (seq, hash) of a verified event on, else from the
    start); hold it against ``checkpoints``; name the first event that does not fit."""
    prev_seq, prev_hash = since or (0, GENESIS)
    marks = {c.seq: c for c in checkpoints}
    count = 0
    for seq, at, actor, action, paper_id, instance_id, details, stored_prev, stored_hash, actor_name, \
            version in _stream(session, prev_seq, batch):
        count += 1
        problem = None
        if seq != prev_seq + 1:
            problem, bad = (f"Ereignis {prev_seq + 1} fehlt (danach folgt Ereignis {seq})", prev_seq + 1)
        elif stored_prev != prev_hash:
            problem = f"Ereignis {seq}: Verkettung unterbrochen (passt nicht auf Ereignis {prev_seq})"
            bad = seq
        elif _digest(prev_hash, seq, at, actor, action, paper_id, instance_id, details, actor_name,
                     version) != stored_hash:
            problem, bad = f"Ereignis {seq}: Inhalt verändert", seq
        elif seq in marks and marks[seq].hash != stored_hash:
            problem, bad = f"Ereignis {seq} weicht vom Prüfpunkt vom {marks[seq].at} ab", seq
        if problem is not None:
            return VerifyReport(False, count, problem, bad, prev_seq, prev_hash)
        prev_seq, prev_hash = seq, stored_hash
    beyond = sorted(c for c in marks if c > prev_seq)
    if beyond:
        mark = marks[beyond[-1]]
        problem = (f"Ereignisse nach {prev_seq} fehlen: der Prüfpunkt vom {mark.at} nennt Ereignis "
                   f"{mark.seq} (die Kette wurde abgeschnitten)")
        return VerifyReport(False, count, problem, None, prev_seq, prev_hash)
    head = session.get(AuditHead, 1)
    if head is not None and (head.seq != prev_seq or head.hash != prev_hash):
        problem = f"Kettenkopf ({head.seq}) passt nicht zum letzten Ereignis ({prev_seq})"
        return VerifyReport(False, count, problem, None, prev_seq, prev_hash)
    return VerifyReport(True, count, None, None, prev_seq, prev_hash)


class AuditVerification(SQLModel, table=True):
    """One verification run's result (the scheduler's, incrementally; or a full one)."""

    __tablename__ = "audit_verification"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_column=utc_column(nullable=False, index=True))
    from_seq: int  # checked the events after this one
    to_seq: int  # up to this one (the last that fitted)
    last_hash: str
    events: int
    ok: bool
    problem: str | None = Field(default=None, sa_column=Column(Text))
    first_bad: int | None = None
    seconds: float = 0.0


def last_verification(session: Session) -> AuditVerification | None:
    return session.exec(select(AuditVerification).order_by(col(AuditVerification.id).desc())).first()


def _changed_since(session: Session, good: AuditVerification) -> VerifyReport | None:
    """The event a run last found in order must still be what it was (content and hash)."""
    if good.to_seq == 0:
        return None
    row = session.execute(select(*[col(c) for c in _COLUMNS])
                          .where(col(AuditEvent.seq) == good.to_seq)).first()
    if row is not None:
        seq, at, actor, action, paper_id, instance_id, details, prev, digest, actor_name, version = row
        if digest == good.last_hash and _digest(prev, seq, at, actor, action, paper_id, instance_id,
                                                details, actor_name, version) == digest:
            return None
    problem = f"Ereignis {good.to_seq}: seit der Prüfung vom {good.at.isoformat()} verändert oder entfernt"
    return VerifyReport(False, 0, problem, good.to_seq, good.to_seq - 1, GENESIS)


def verify_incrementally(session: Session, now: datetime | None = None) -> AuditVerification:
    """Verify from the last event a run found in order on; keep the result; a new finding is
    itself recorded in the chain (and shown to every auditor and admin)."""
    now = now or utcnow()
    good = session.exec(select(AuditVerification).where(AuditVerification.ok == True)  # noqa: E712
                        .order_by(col(AuditVerification.id).desc())).first()
    since = (good.to_seq, good.last_hash) if good is not None else None
    started = time.perf_counter()
    changed = _changed_since(session, good) if good is not None else None
    report = changed or verify(session, since)
    previous = last_verification(session)
    row = AuditVerification(at=now, from_seq=since[0] if since else 0, to_seq=report.last_seq,
                            last_hash=report.last_hash, events=report.events, ok=report.ok,
                            problem=report.problem, first_bad=report.first_bad,
                            seconds=round(time.perf_counter() - started, 3))
    session.add(row)
    session.flush()
    if not report.ok and (previous is None or previous.problem != report.problem):
        record(session, "system", "Prüfung", "audit.finding", at=now,
               details={"problem": report.problem, "first_bad": report.first_bad})
    return row


def events_for_paper(session: Session, paper_id: int) -> list[AuditEvent]:
    return list(session.exec(
        select(AuditEvent).where(AuditEvent.paper_id == paper_id).order_by(col(AuditEvent.seq))
    ))
