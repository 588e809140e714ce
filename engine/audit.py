"""The append-only, hash-chained audit log.

Every event stores the hash of its predecessor; ``verify`` recomputes the chain, streaming
it in keyset batches (constant memory), from the start or from a verified event on, and
holds it against checkpoints an auditor kept outside (``checkpoint``).

Writers only append (:func:`record`: one INSERT, no lock): the event gets its sequence number
at once (a PostgreSQL sequence, or the next number on SQLite, where writers queue anyway)
and no hash yet. :func:`seal` hashes the appended events in sequence order after their
commit (right after the writer's commit or by the scheduler's sealer, setting ``audit_seal``;
and before ``verify``, ``checkpoint`` and the export read), holding the head row only for
that moment. A number
whose transaction rolled back leaves a gap; the sealer passes a gap only once every
transaction that could still commit that number has ended (:func:`seal`), and each sealed
event names the event it follows (``prev_seq``), so a gap left by a rollback and a removed
event tell apart. docs/architecture.md, "Audit chain", has the figures behind this choice.

The table refuses DELETE (and TRUNCATE on PostgreSQL) and every UPDATE but the seal's by
triggers on itself (:data:`APPEND_ONLY`, migrations 0005 and 0012); on PostgreSQL the app can additionally
run as a role without those rights (README, "Prozesshistorie"). Whoever disables the triggers
with database access is still caught by ``verify``: the chain and the checkpoints tell.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Connection,
    Engine,
    FetchedValue,
    Index,
    Integer,
    Text,
    bindparam,
    false,
    func,
    insert,
    literal_column,
    text,
    true,
    update,
)
from sqlalchemy import select as sa_select
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Field, Session, SQLModel, col, select

from engine.db import after_commit, before_commit, pending_before_commit
from engine.types import table_of, utc_column, utcnow
from engine.writes import Writes

log = logging.getLogger(__name__)

GENESIS = "0" * 64


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_event"
    __table_args__ = (
        # The auditors' search: one Vorlage's or one event type's events, newest first.
        Index("ix_audit_event_paper_seq", "paper_id", "seq"),
        # A period's events, with their numbers in the index (migration 0012: the search
        # takes the newest numbers of a period from the index alone).
        Index("ix_audit_event_action_at_seq", "action", "at", "seq"),
        Index("ix_audit_event_at_seq", "at", "seq"),
        # A Sitzung's events (migration 0016): the session filter and a Vorlage's sessions.
        Index("ix_audit_event_meeting_seq", "meeting_id", "seq"),
    )

    id: int | None = Field(default=None, primary_key=True)
    #: Position in the chain, 1, 2, … given at the INSERT (PostgreSQL: ``audit_next_seq()``;
    #: a rolled-back transaction leaves its number unused).
    seq: int = Field(sa_column=Column(Integer, FetchedValue(), unique=True, nullable=False))
    at: datetime = Field(sa_column=utc_column(nullable=False))
    actor: str  # account username, or "system"
    actor_name: str
    action: str  # e.g. "task.completed", "procedure.started"
    paper_id: int | None = Field(default=None, index=True)
    process_instance_id: int | None = Field(default=None, index=True)
    #: The Sitzung the event is about (moved, invited, its agenda, a TOP's step in it), or
    #: None. Covered by the hash from version 3 on; before, it is the details' ``meeting_id``.
    meeting_id: int | None = None
    details: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    #: Set by :func:`seal` (None until then): the event this one follows, its hash, this one's.
    prev_seq: int | None = None
    prev_hash: str | None = None
    hash: str | None = None
    #: Which fields the hash covers (:func:`_digest`): 1 before migration 0011 (without
    #: ``actor_name``), :data:`HASH_VERSION` for every event written since.
    hash_version: int = Field(default=1, sa_column=Column(Integer, nullable=False, server_default="1"))


class AuditHead(SQLModel, table=True):
    """The one row naming the newest sealed event of the chain (only :func:`seal` writes it)."""

    __tablename__ = "audit_head"

    id: int = Field(default=1, primary_key=True)
    seq: int = 0
    hash: str = GENESIS
    #: PostgreSQL: a gap the sealer met waits here: numbers missing below ``horizon_seq`` are
    #: final once every transaction older than ``horizon_xmax`` (the sealer's id) has ended.
    horizon_seq: int | None = None
    horizon_xmax: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))


#: The hash formula of new events: version 2 covers ``actor_name`` too, version 3 ``meeting_id``.
HASH_VERSION = 3


def legacy_meeting_id(details: dict[str, Any] | None) -> int | None:
    """The Sitzung of an event written before version 3: its details' ``meeting_id`` (what
    migration 0016 filled the column with; :func:`verify` holds the column to it)."""
    value = (details or {}).get("meeting_id")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _digest(prev_hash: str, seq: int, at: datetime, actor: str, action: str,
            paper_id: int | None, instance_id: int | None, details: dict[str, Any],
            actor_name: str | None = None, version: int = 1, meeting_id: int | None = None) -> str | None:
    """The hash of one event by the formula of its ``version`` (None for a version unknown,
    or for an event whose Sitzung its version cannot account for).

    Version 1 (events written before migration 0011) leaves ``actor_name`` out, so a changed
    name still verified; version 2 covers it and names its version in what it hashes;
    version 3 (migration 0016) covers the event's Sitzung too. An event of version 1 or 2
    whose ``meeting_id`` is not its details' (:func:`legacy_meeting_id`) does not verify."""
    fields: list[Any] = [prev_hash, seq, at.isoformat(), actor, action, paper_id, instance_id, details]
    if version == 3:
        fields = [3, *fields, actor_name, meeting_id]
    elif version in (1, 2) and meeting_id != legacy_meeting_id(details):
        return None  # the column was changed afterwards: no hash fits
    elif version == 2:
        fields = [2, *fields, actor_name]
    elif version != 1:
        return None
    payload = json.dumps(fields, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(payload.encode()).hexdigest()


class Appended(NamedTuple):
    """An event just appended: its row and its place in the chain (sealed after the commit)."""

    id: int
    seq: int


@functools.cache
def _append(dialect: str) -> Any:
    """The one INSERT of :func:`record`, built once per dialect (its values are parameters)."""
    table = table_of(AuditEvent)
    statement = insert(table)
    if dialect != "postgresql":
        # SQLite: the writer holds the database's write lock (BEGIN IMMEDIATE): the next number.
        following = select(func.coalesce(func.max(table.c.seq), 0) + 1).scalar_subquery()
        statement = statement.values(seq=following)
    return statement.returning(table.c.id, table.c.seq)


def record(
    session: Session,
    actor: str,
    actor_name: str,
    action: str,
    *,
    paper_id: int | None = None,
    process_instance_id: int | None = None,
    meeting_id: int | None = None,
    details: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> Appended:
    """Append one event (one INSERT, no lock held; the caller's unit of work commits); it is
    hashed into the chain by :func:`seal` with that commit (setting ``audit_seal``:
    ``commit``; :func:`_seal_with_commit`) or by the scheduler's sealer (``scheduler``)."""
    appended = _record(session, None, actor, actor_name, action, paper_id, process_instance_id, meeting_id,
                       details, at)
    assert appended is not None
    return appended


def record_with(writes: Writes, session: Session, actor: str, actor_name: str, action: str, *,
                paper_id: int | None = None, process_instance_id: int | None = None,
                meeting_id: int | None = None, details: dict[str, Any] | None = None,
                at: datetime | None = None) -> None:
    """:func:`record`, on PostgreSQL queued in ``writes``: the INSERT goes out with the unit
    of work's other writes, in their one statement (:meth:`engine.writes.Writes.send`); on
    SQLite (one statement after the other anyway) appended at once."""
    _record(session, writes, actor, actor_name, action, paper_id, process_instance_id, meeting_id,
            details, at)


def _record(session: Session, writes: Writes | None, actor: str, actor_name: str, action: str,
            paper_id: int | None, process_instance_id: int | None, meeting_id: int | None,
            details: dict[str, Any] | None, at: datetime | None) -> Appended | None:
    values: dict[str, Any] = {
        "at": (at or utcnow()).astimezone(UTC), "actor": actor, "actor_name": actor_name, "action": action,
        "paper_id": paper_id, "process_instance_id": process_instance_id, "meeting_id": meeting_id,
        "details": details or {}, "hash_version": HASH_VERSION}
    bind = session.get_bind()
    dialect = bind.dialect.name
    if writes is not None and dialect == "postgresql":
        # Sent with the unit of work's other writes, in their one statement.
        writes.insert(table_of(AuditEvent), [values], key="seq")
        appended = None
    else:
        # On the session's connection: the ORM's execute path adds nothing here but time.
        event_id, seq = session.connection().execute(_append(dialect), values).one()
        appended = Appended(event_id, seq)
    if session.info.get("audit_seal_after_commit", True):
        _seal_with_commit(session, bind, dialect)
    return appended


def _seal_with_commit(session: Session, bind: Any, dialect: str) -> None:
    """Setting ``audit_seal=commit``: the writer seals inside its own transaction, as its last
    statements just before the commit (:class:`_SealBeforeCommit`)."""
    if not any(isinstance(c, _SealBeforeCommit) for c in pending_before_commit(session)):
        before_commit(session, _SealBeforeCommit(session))


class _SealBeforeCommit:
    """Seal in the writer's own transaction, as its last statements before the commit.

    SQLite: the writer holds the database's only write lock from ``BEGIN IMMEDIATE`` on
    anyway. PostgreSQL: the head row is taken ``SKIP LOCKED`` and held only from here to the
    commit; a writer never waits for it: if another writer is sealing, this one's events are
    left to the next seal (the next commit's, or the scheduler's sealer, which runs in both
    modes). No transaction of its own: two statements, no BEGIN/COMMIT more."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def __call__(self) -> None:
        bind = self.session.get_bind()
        if bind.dialect.name == "postgresql":
            # A failed statement ends a PostgreSQL transaction: a seal that fails here fails
            # the unit of work, which rolls back whole (a savepoint would cost two statements
            # on every commit for a case that needs a broken database).
            if _seal(self.session, False, SEAL_BATCH, in_writer=True)[1]:
                after_commit(self.session, _SealAfterCommit(bind))
            return
        try:
            seal(self.session, wait=False)
        except SQLAlchemyError:
            # The events commit unsealed; the next seal (the next commit, the scheduler's
            # sweep, verify) takes them: the writer's own work must not fail here.
            log.warning("sealing the audit chain before commit failed; the next seal takes it", exc_info=True)


class _SealAfterCommit:
    """What a writer's own seal left (another sealer held the head, or a gap: PostgreSQL),
    sealed right after its commit in a short transaction of its own; never waits for a
    sealer already at work (it takes ours too, or the next one does)."""

    def __init__(self, bind: Any) -> None:
        self.engine: Engine = bind.engine if isinstance(bind, Connection) else bind

    def __call__(self) -> None:
        try:
            with Session(self.engine, expire_on_commit=False) as s:
                seal(s, wait=False)
                s.commit()
        except SQLAlchemyError:
            # The events are committed; they stay unsealed until the next seal (the next
            # commit, the scheduler's sweep, verify): the writer's own work must not fail here.
            log.warning("sealing the audit chain after commit failed; the next seal takes it", exc_info=True)


#: Events hashed per statement batch of :func:`seal`.
SEAL_BATCH = 5000

_HEAD_PG = text(
    "SELECT seq, hash, horizon_seq, horizon_xmax IS NOT NULL AND "
    "pg_snapshot_xmin(pg_current_snapshot())::text::bigint >= horizon_xmax "
    "FROM audit_head WHERE id = 1 FOR UPDATE")
#: The horizon: the sealer's own transaction id (or the snapshot's xmax, if higher). Its id was
#: given when it locked the head, after the highest number it saw had committed, so after every
#: writer holding a smaller number took its id (``audit_next_seq()``: id first, then number).
#: The snapshot's xmax alone ("one past the last ended id") may lie at or below such a writer's
#: id when an older transaction took the later number and ended first.
_SET_HORIZON_PG = text(
    "UPDATE audit_head SET horizon_seq = :s, "
    "horizon_xmax = greatest(pg_current_xact_id()::text::bigint, "
    "pg_snapshot_xmax(pg_current_snapshot())::text::bigint) WHERE id = 1")

_CLEAR_HORIZON = text("UPDATE audit_head SET horizon_seq = NULL, horizon_xmax = NULL WHERE id = 1")


def seal(session: Session, *, wait: bool = True, limit: int = SEAL_BATCH) -> int:
    """Hash the appended events into the chain in sequence order; how many were sealed.

    One sealer at a time (it locks the head row; ``wait=False``: give way to one at work).
    A gap in the numbers is passed only when final: on SQLite at once (the sealer holds the
    write lock, so no writer is in flight); on PostgreSQL the first meeting notes the highest
    number seen and its own transaction id (``horizon``); once every transaction older than
    that has ended, no number below it can still commit, and the gap is passed.
    (``audit_next_seq()`` gives a writer its transaction id before its number, so whoever
    holds a missing number was running when the horizon was taken.)

    Two statements a round where it can (the seal after each commit): the head read with the
    events behind it, and the events' hashes written with the new head (PostgreSQL: one
    statement; SQLite: the events, then the head).
    """
    return _seal(session, wait, limit)[0]


def _seal(session: Session, wait: bool, limit: int, in_writer: bool = False) -> tuple[int, bool]:
    """:func:`seal`, and whether something is left for a seal after the commit: ``in_writer``
    (inside a writer's transaction, :class:`_SealBeforeCommit`) a head held by another
    sealer, or a gap, is left to a seal in a transaction of its own after the commit (the
    horizon must be taken after the writer's commit: inside it, the snapshot's ``xmax`` may
    lie below a transaction still holding a missing number)."""
    postgres = session.get_bind().dialect.name == "postgresql"
    sealed = 0
    while True:
        found = _head_and_tail(session, postgres, wait, limit)
        if found is None:
            return sealed, True  # another sealer is at work
        (last, last_hash, horizon_seq, horizon_passed), rows = found
        updates: list[dict[str, Any]] = []
        gap = False
        for seq, at, actor, action, paper_id, instance_id, details, _, stored_hash, actor_name, version, _l, \
                meeting_id in rows:
            if stored_hash is not None:
                break  # hashed by someone else than the sealer: verify names it
            if seq != last + 1 and postgres and not (horizon_passed and seq <= (horizon_seq or 0)):
                gap = True
                break
            digest = _digest(last_hash, seq, at, actor, action, paper_id, instance_id, details, actor_name,
                             version, meeting_id)
            if digest is None:
                break
            updates.append({"s": seq, "ps": last, "ph": last_hash, "h": digest})
            last, last_hash = seq, digest
        clear = postgres and not gap and horizon_seq is not None and (horizon_passed or bool(updates))
        if updates:
            _write_seal(session, postgres, updates, last, last_hash, clear)
        elif clear:
            session.execute(_CLEAR_HORIZON)
        if postgres and gap and (horizon_seq is None or horizon_passed):
            if in_writer:
                return sealed + len(updates), True
            session.execute(_SET_HORIZON_PG, {"s": rows[-1][0]})
        sealed += len(updates)
        if len(rows) < limit or not updates or len(updates) < len(rows):
            return sealed, False


Head = tuple[int, str, int | None, bool]


def _head_and_tail(session: Session, postgres: bool, wait: bool,
                   limit: int) -> tuple[Head, list[Any]] | None:
    """The head (seq, hash, horizon, whether the horizon has passed) and up to ``limit``
    events behind it in order; None if another sealer holds the head (``wait=False``)."""
    if postgres and wait:
        # Waiting for another sealer: its head is read again once it has committed (a row
        # lock's re-check), the events behind it only by a statement after that.
        head_row = session.execute(_HEAD_PG).first()
        assert head_row is not None
        head: Head = tuple(head_row)
        return head, _tail(session, head[0], limit)
    joined = session.connection().execute(_head_with_tail(postgres), {"limit": limit}).all()
    if not joined:
        return None  # PostgreSQL: SKIP LOCKED, another sealer is at work
    first = joined[0]
    head = (first[0], first[1], first[2], bool(first[3]))
    rows = [r[4:] for r in joined if r[4] is not None]
    if rows and rows[0][0] <= head[0]:
        # A sealer committed between this statement's snapshot and its lock on the head
        # (PostgreSQL): the events behind the new head are read once more.
        rows = _tail(session, head[0], limit)
    return head, rows


def _tail(session: Session, after: int, limit: int) -> list[Any]:
    return list(session.execute(select(*[col(c) for c in _COLUMNS]).where(col(AuditEvent.seq) > after)
                                .order_by(col(AuditEvent.seq)).limit(limit)).all())


@functools.cache
def _head_with_tail(postgres: bool) -> Any:
    """The head row (locked ``SKIP LOCKED`` on PostgreSQL) with the events behind it, one row
    each (one row with NULL event columns when none waits): one statement."""
    head, events = table_of(AuditHead), table_of(AuditEvent)
    behind = (sa_select(*[col(c) for c in _COLUMNS])
              .where(events.c.seq > sa_select(head.c.seq).where(head.c.id == 1).scalar_subquery())
              .order_by(events.c.seq).limit(bindparam("limit")).subquery("behind"))
    passed: Any = literal_column(
        "audit_head.horizon_xmax IS NOT NULL AND "
        "pg_snapshot_xmin(pg_current_snapshot())::text::bigint >= audit_head.horizon_xmax"
    ) if postgres else false()
    statement = (sa_select(head.c.seq, head.c.hash, head.c.horizon_seq, passed, *behind.c)
                 .select_from(head.outerjoin(behind, true())).where(head.c.id == 1)
                 .order_by(behind.c.seq))
    if postgres:
        statement = statement.with_for_update(of=head, skip_locked=True)
    return statement


def _write_seal(session: Session, postgres: bool, updates: list[dict[str, Any]], last: int, last_hash: str,
                clear_horizon: bool) -> None:
    """The events' hashes and the new head (clearing a horizon passed)."""
    connection = session.connection()  # the ORM's execute path adds nothing here but time
    if postgres:
        connection.execute(_SEAL_PG_CLEAR if clear_horizon else _SEAL_PG, {
            "s": [u["s"] for u in updates], "ps": [u["ps"] for u in updates],
            "ph": [u["ph"] for u in updates], "h": [u["h"] for u in updates],
            "seq": last, "hash": last_hash})
        return
    events, head = _seal_sqlite()
    connection.execute(events, updates)
    connection.execute(head, {"seq": last, "hash": last_hash})


@functools.cache
def _seal_sqlite() -> tuple[Any, Any]:
    """:func:`_write_seal`'s two statements on SQLite, built once."""
    table, head = table_of(AuditEvent), table_of(AuditHead)
    return (update(table).where(table.c.seq == bindparam("s"), table.c.hash.is_(None))
            .values(prev_seq=bindparam("ps"), prev_hash=bindparam("ph"), hash=bindparam("h")),
            update(head).where(head.c.id == 1).values(seq=bindparam("seq"), hash=bindparam("hash")))


_SEAL_PG_TEXT = (
    "WITH v AS (SELECT * FROM unnest(CAST(:s AS integer[]), CAST(:ps AS integer[]), CAST(:ph AS text[]), "
    "CAST(:h AS text[])) AS v(s, ps, ph, h)), "
    "e AS (UPDATE audit_event SET prev_seq = v.ps, prev_hash = v.ph, hash = v.h FROM v "
    "WHERE audit_event.seq = v.s AND audit_event.hash IS NULL RETURNING 1) "
    "UPDATE audit_head SET seq = :seq, hash = :hash{clear} WHERE id = 1")
_SEAL_PG = text(_SEAL_PG_TEXT.format(clear=""))
_SEAL_PG_CLEAR = text(_SEAL_PG_TEXT.format(clear=", horizon_seq = NULL, horizon_xmax = NULL"))


#: The triggers of migration 0005 (kept as they were: that migration installs these).
APPEND_ONLY_0005: dict[str, list[str]] = {
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

#: The columns an event is written with; the seal may set none of them (``meeting_id`` since
#: migration 0016; migration 0012 installed the triggers without it).
_WRITTEN_0012 = ("id", "seq", "at", "actor", "actor_name", "action", "paper_id", "process_instance_id",
                 "details", "hash_version")
_WRITTEN = (*_WRITTEN_0012, "meeting_id")


def _append_only(written: tuple[str, ...]) -> dict[str, list[str]]:
    """The triggers that make ``audit_event`` append-only, per dialect: no DELETE (no TRUNCATE
    on PostgreSQL), and no UPDATE but the seal's: an event without a hash gets its
    ``prev_seq``, ``prev_hash`` and ``hash``, every column it was written with unchanged."""
    return {
        "sqlite": [
            "CREATE TRIGGER audit_event_no_update BEFORE UPDATE ON audit_event WHEN NOT (OLD.hash IS NULL "
            "AND NEW.hash IS NOT NULL AND " + " AND ".join(f"NEW.{c} IS OLD.{c}" for c in written)
            + ") BEGIN "
            "SELECT RAISE(ABORT, 'audit_event ist nur fortschreibbar: UPDATE verweigert'); END",
            "CREATE TRIGGER audit_event_no_delete BEFORE DELETE ON audit_event BEGIN "
            "SELECT RAISE(ABORT, 'audit_event ist nur fortschreibbar: DELETE verweigert'); END",
        ],
        "postgresql": [
            "CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN IF TG_OP = 'UPDATE' THEN "
            "IF OLD.hash IS NULL AND NEW.hash IS NOT NULL AND ("
            + ", ".join(f"NEW.{c}" + ("::text" if c == "details" else "") for c in written)
            + ") IS NOT DISTINCT FROM ("
            + ", ".join(f"OLD.{c}" + ("::text" if c == "details" else "") for c in written)
            + ") THEN RETURN NEW; END IF; END IF; "
            "RAISE EXCEPTION 'audit_event ist nur fortschreibbar: % verweigert', TG_OP; END $$",
            "CREATE TRIGGER audit_event_no_change BEFORE UPDATE OR DELETE ON audit_event "
            "FOR EACH ROW EXECUTE FUNCTION audit_event_append_only()",
            "CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_event_append_only()",
        ],
    }


#: As migration 0012 installed them, and as they are now (migration 0016).
APPEND_ONLY_0012 = _append_only(_WRITTEN_0012)
APPEND_ONLY = _append_only(_WRITTEN)
APPEND_ONLY_DROP: dict[str, list[str]] = {
    "sqlite": ["DROP TRIGGER IF EXISTS audit_event_no_update",
               "DROP TRIGGER IF EXISTS audit_event_no_delete"],
    "postgresql": ["DROP TRIGGER IF EXISTS audit_event_no_change ON audit_event",
                   "DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_event",
                   "DROP FUNCTION IF EXISTS audit_event_append_only()"],
}

#: PostgreSQL: the writer's number (migration 0012). Its transaction id first, so a sealer's
#: horizon covers every writer holding a number; a number taken by a row written with its
#: own number (a restore, a test) is skipped.
NEXT_SEQ_PG = (
    "CREATE OR REPLACE FUNCTION audit_next_seq() RETURNS integer LANGUAGE plpgsql AS $$ "
    "DECLARE n integer; BEGIN PERFORM pg_current_xact_id(); "
    "LOOP n := nextval('audit_event_seq'); "
    "EXIT WHEN NOT EXISTS (SELECT 1 FROM audit_event WHERE seq = n); END LOOP; RETURN n; END $$")


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
        f"GRANT UPDATE (prev_seq, prev_hash, hash) ON audit_event TO {role}",  # the seal only
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
    """The newest sealed event's sequence number and hash (GENESIS for an empty chain)."""
    row = session.execute(
        select(col(AuditEvent.seq), col(AuditEvent.hash), col(AuditEvent.at))
        .where(col(AuditEvent.hash).is_not(None)).order_by(col(AuditEvent.seq).desc()).limit(1)).first()
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
    #: Events appended after the sealed part and not yet hashed into it (not verified).
    unsealed: int = 0


_COLUMNS = (AuditEvent.seq, AuditEvent.at, AuditEvent.actor, AuditEvent.action, AuditEvent.paper_id,
            AuditEvent.process_instance_id, AuditEvent.details, AuditEvent.prev_hash, AuditEvent.hash,
            AuditEvent.actor_name, AuditEvent.hash_version, AuditEvent.prev_seq, AuditEvent.meeting_id)


def _stream(session: Session, after: int, batch: int) -> Iterator[Any]:
    """The events after ``after`` in chain order, fetched in keyset batches."""
    while True:
        rows = session.execute(select(*_STREAMED).where(col(AuditEvent.seq) > after)
                               .order_by(col(AuditEvent.seq)).limit(batch)).all()
        yield from rows
        if len(rows) < batch:
            return
        after = rows[-1][0]


_STREAMED = [col(c) for c in _COLUMNS]


def _head(session: Session) -> tuple[int, str]:
    head = table_of(AuditHead)
    row = session.execute(select(head.c.seq, head.c.hash).where(head.c.id == 1)).first()
    return (row[0], row[1]) if row is not None else (0, GENESIS)


def verify(session: Session, since: tuple[int, str] | None = None,
           checkpoints: Sequence[Checkpoint] = (), batch: int = 5000) -> VerifyReport:
    """Recompute the sealed chain (from ``since`` = (seq, hash) of a verified event on, else
    from the start); hold it against ``checkpoints``; name the first event that does not fit.
    Events appended after the sealed part are counted (``unsealed``), not verified: seal first
    (:func:`seal`) to verify them too."""
    prev_seq, prev_hash = since or (0, GENESIS)
    marks = {c.seq: c for c in checkpoints}
    count = 0

    def broken(problem: str, bad: int | None) -> VerifyReport:
        return VerifyReport(False, count, problem, bad, prev_seq, prev_hash)

    for _round in range(10):  # a sealer at work meanwhile: go on to the head it reached
        first_unsealed = None
        walked = count
        for seq, at, actor, action, paper_id, instance_id, details, stored_prev, stored_hash, actor_name, \
                version, link, meeting_id in _stream(session, prev_seq, batch):
            if stored_hash is None:
                first_unsealed = seq
                break
            count += 1
            dense = link is None  # sealed before migration 0012: numbers without gaps
            link = seq - 1 if link is None else link
            problem = None
            if link >= seq or link < prev_seq:
                problem = f"Ereignis {seq}: Verkettung unterbrochen (passt nicht auf Ereignis {prev_seq})"
                bad = seq
            elif link > prev_seq:
                missing = prev_seq + 1 if dense else link
                problem, bad = f"Ereignis {missing} fehlt (danach folgt Ereignis {seq})", missing
            elif stored_prev != prev_hash:
                problem = f"Ereignis {seq}: Verkettung unterbrochen (passt nicht auf Ereignis {prev_seq})"
                bad = seq
            elif _digest(prev_hash, seq, at, actor, action, paper_id, instance_id, details, actor_name,
                         version, meeting_id) != stored_hash:
                problem, bad = f"Ereignis {seq}: Inhalt verändert", seq
            elif seq in marks and marks[seq].hash != stored_hash:
                problem, bad = f"Ereignis {seq} weicht vom Prüfpunkt vom {marks[seq].at} ab", seq
            if problem is not None:
                return broken(problem, bad)
            prev_seq, prev_hash = seq, stored_hash
        sealed_after = None
        if first_unsealed is not None:  # read before the head: a seal committed since shows in it
            sealed_after = session.execute(
                select(func.min(col(AuditEvent.seq))).where(col(AuditEvent.seq) > first_unsealed,
                                                             col(AuditEvent.hash).is_not(None))).scalar()
        head_seq, head_hash = _head(session)
        if head_seq > prev_seq and count > walked:
            continue
        break
    if first_unsealed is not None and first_unsealed < head_seq:
        return broken(f"Ereignis {first_unsealed}: ohne Hash vor dem Kettenkopf ({head_seq}), "
                      "nach der Versiegelung eingefügt", first_unsealed)
    if sealed_after is not None and sealed_after > head_seq:
        return broken(f"Ereignis {sealed_after}: mit Hash hinter dem Kettenkopf ({head_seq}), "
                      "nicht vom Versiegeln", sealed_after)
    beyond = sorted(c for c in marks if c > prev_seq)
    if beyond:
        mark = marks[beyond[-1]]
        problem = (f"Ereignisse nach {prev_seq} fehlen: der Prüfpunkt vom {mark.at} nennt Ereignis "
                   f"{mark.seq} (die Kette wurde abgeschnitten)")
        return broken(problem, None)
    if head_seq != prev_seq or head_hash != prev_hash:
        return broken(f"Kettenkopf ({head_seq}) passt nicht zum letzten Ereignis ({prev_seq})", None)
    unsealed = session.execute(select(func.count()).select_from(table_of(AuditEvent))
                               .where(col(AuditEvent.seq) > prev_seq)).scalar_one()
    return VerifyReport(True, count, None, None, prev_seq, prev_hash, unsealed)


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
        seq, at, actor, action, paper_id, instance_id, details, prev, digest, actor_name, version, _l, \
            meeting = row
        if digest == good.last_hash and _digest(prev, seq, at, actor, action, paper_id, instance_id,
                                                details, actor_name, version, meeting) == digest:
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
    seal(session)
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
