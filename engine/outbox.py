"""The e-mail outbox: every message is a row, written in the same unit of work as its cause.

Delivery (``notifications.delivery``) happens only after that commit: *claim* (pending rows
due by now, or ``sending`` rows whose lease ran out, are locked with ``FOR UPDATE SKIP
LOCKED`` and marked ``sending`` with a lease in one ``UPDATE … RETURNING``; one unit of work
per batch), *send* (outside any transaction, one message after the other), *settle* (each
message in its own transaction right after it was tried: ``sent``; back to ``pending`` with
an exponential backoff; ``failed`` after :data:`MAX_ATTEMPTS`, or at once when the message
cannot be built). A message the SMTP server accepted is recorded as sent before the next
one's content leaves (:class:`DispatchConnection`), so a later crash in the batch never sends
it again.

A row may be written ahead of its moment (``next_attempt_at`` in the future: a reminder
rendered in the scheduler's look-ahead window) and may carry its message already encoded
(``raw``: every header but ``From`` and the body, as the bytes that leave), so that at the
moment only bytes are sent. ``raw`` is dropped once the message is sent. A row written
ahead is withdrawn (deleted) while it still waits, when what it says changed
(``engine.calendar.reminders.withdraw``).

A process that dies between claim and settle leaves a ``sending`` row that is claimed again
when its lease has run out, with the same Message-ID, so a resend after a crash is
recognisable; a row left behind like that :data:`MAX_ATTEMPTS` times fails instead of
being claimed once more (nothing stays ``sending`` for ever).
"""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from select import select as select_sockets
from typing import Any

import psycopg
from sqlalchemy import (
    Column,
    Connection,
    Dialect,
    Engine,
    Index,
    LargeBinary,
    Text,
    and_,
    bindparam,
    case,
    null,
    or_,
    text,
    update,
)
from sqlalchemy import select as core_select
from sqlmodel import Field, Session, SQLModel, col, select

from engine.text import one_line
from engine.types import created_column, table_of, utc_column, utcnow

PENDING = "wartend"
SENDING = "im Versand"
SENT = "versandt"
FAILED = "fehlgeschlagen"
#: Taken back while its reminder is withdrawn (``engine.calendar.reminders.withdraw``); the
#: row is deleted in the same unit of work, so this status is never committed.
WITHDRAWN = "zurückgezogen"

MAX_ATTEMPTS = 8
LEASE = timedelta(seconds=60)
FIRST_RETRY = timedelta(seconds=30)
LONGEST_RETRY = timedelta(hours=1)

_WAITING = text(f"status IN ('{PENDING}', '{SENDING}')")


class OutboxMessage(SQLModel, table=True):
    __tablename__ = "outbox_message"
    __table_args__ = (
        Index("ix_outbox_waiting", "next_attempt_at", "id",
              postgresql_where=_WAITING, sqlite_where=_WAITING),
    )

    id: int | None = Field(default=None, primary_key=True)
    message_id: str = Field(max_length=200, unique=True)
    to_address: str = Field(max_length=320)
    to_name: str | None = Field(default=None, max_length=200)
    subject: str = Field(max_length=500)
    body_text: str = Field(sa_column=Column(Text, nullable=False))
    body_html: str | None = Field(default=None, sa_column=Column(Text))
    #: Ics attachment (an invitation carries the session as an iCalendar event).
    calendar: str | None = Field(default=None, sa_column=Column(Text))
    #: The one-click unsubscribe link of a reminder the member can switch off (``List-Unsubscribe``,
    #: RFC 2369 and 8058); None: the message has none.
    list_unsubscribe: str | None = Field(default=None, sa_column=Column(Text))
    #: The message as it leaves, without its ``From`` line (the transport adds its sender),
    #: encoded when the row was written; None: built from the fields when it is sent.
    raw: bytes | None = Field(default=None, sa_column=Column(LargeBinary))
    cause: str = Field(max_length=200)  # "reminder:17"
    status: str = Field(default=PENDING, max_length=20)
    attempts: int = 0
    next_attempt_at: dt.datetime = Field(sa_column=utc_column(nullable=False))
    lease_until: dt.datetime | None = Field(default=None, sa_column=utc_column())
    last_error: str | None = Field(default=None, max_length=1000)
    sent_at: dt.datetime | None = Field(default=None, sa_column=utc_column())
    created: dt.datetime | None = Field(default=None, sa_column=created_column())


def new_message_id(domain: str) -> str:
    return f"<{uuid.uuid4().hex}@{domain}>"


def enqueue(session: Session, *, to_address: str, subject: str, body_text: str, cause: str,
            domain: str, now: datetime, to_name: str | None = None, body_html: str | None = None,
            calendar: str | None = None, list_unsubscribe: str | None = None) -> OutboxMessage:
    """Queue one message; it leaves only after the caller's unit of work commits.

    Not flushed: a caller queuing many flushes once (one multi-row INSERT) and reads the ids
    afterwards."""
    message = OutboxMessage(message_id=new_message_id(domain), to_address=to_address, to_name=to_name,
                            subject=subject, body_text=body_text, body_html=body_html, calendar=calendar,
                            list_unsubscribe=list_unsubscribe, cause=cause, next_attempt_at=now)
    session.add(message)
    return message


@dataclass(slots=True)
class Claimed:
    """A row taken by :func:`claim`: its columns as they were right after the claim (no ORM
    object: a batch of hundreds is read in one ``UPDATE … RETURNING``)."""

    id: int
    message_id: str
    to_address: str
    to_name: str | None
    subject: str
    body_text: str
    body_html: str | None
    calendar: str | None
    list_unsubscribe: str | None
    raw: bytes | None
    cause: str
    status: str
    attempts: int
    next_attempt_at: dt.datetime
    lease_until: dt.datetime | None
    created: dt.datetime | None


_CLAIMED = tuple(Claimed.__slots__)
#: Read back only for a message not encoded yet (``raw`` carries them otherwise).
_ONLY_TO_BUILD = {"body_text", "body_html", "calendar", "list_unsubscribe"}


def _returned(column: Any, dialect: str) -> Any:
    # (SQLite 3.40 returns NULL for a column referenced only inside such a CASE in RETURNING.)
    if column.name not in _ONLY_TO_BUILD or dialect != "postgresql":
        return column
    table = table_of(OutboxMessage)
    return case((table.c.raw.is_(None), column), else_=null()).label(column.name)


#: For the claim's transaction on PostgreSQL (``SET LOCAL`` both, in one statement).
_INDEX_ORDER = ("SELECT set_config('enable_bitmapscan', 'off', true), "
                "set_config('enable_seqscan', 'off', true)")
_GAVE_UP = f"Versand {MAX_ATTEMPTS}-mal ohne Ergebnis abgebrochen."


@lru_cache(maxsize=4)
def _claim_statement(dialect: str) -> Any:
    """The claim for ``dialect``, its moment and batch size as parameters (``now``,
    ``lease_until``, ``limit``)."""
    table = table_of(OutboxMessage)
    now = bindparam("now", type_=table.c.next_attempt_at.type)
    lease_until = bindparam("lease_until", type_=table.c.lease_until.type)
    left_behind = and_(table.c.status == SENDING, table.c.lease_until <= now)
    given_up = and_(left_behind, table.c.attempts >= MAX_ATTEMPTS)
    claimable = (core_select(table.c.id)
                 .where(table.c.next_attempt_at <= now, or_(table.c.status == PENDING, left_behind))
                 .order_by(table.c.next_attempt_at, table.c.id).limit(bindparam("limit"))
                 .with_for_update(skip_locked=True))
    return (update(table).where(table.c.id.in_(claimable.scalar_subquery()))
            .values(status=case((given_up, FAILED), else_=SENDING),
                    lease_until=case((given_up, null()), else_=lease_until),
                    attempts=case((given_up, table.c.attempts), else_=table.c.attempts + 1),
                    last_error=case((given_up, _GAVE_UP), else_=table.c.last_error))
            .returning(*(_returned(table.c[name], dialect) for name in _CLAIMED)))


@lru_cache(maxsize=4)
def _claim_sql(dialect: Dialect) -> tuple[str, dict[str, Any]]:
    """The claim as psycopg takes it: its text and its constant parameters."""
    compiled = _claim_statement(dialect.name).compile(dialect=dialect)
    return compiled.string, dict(compiled.params)


def claim(session: Session | Connection, now: datetime, limit: int = 100) -> list[Claimed]:
    """Rows to send now, marked ``sending`` under a lease (commit right after), in due order.

    One statement takes them (on PostgreSQL ``FOR UPDATE SKIP LOCKED`` in its subquery, so
    dispatchers running at once take different rows). A ``sending`` row whose lease ran out
    was left behind by a dispatcher that died; after :data:`MAX_ATTEMPTS` of those the same
    statement fails it instead of claiming it once more (it is not returned).

    The rows are read in the order of ``ix_outbox_waiting`` up to ``now`` (a left-behind row
    was due before it was claimed), so a claim reads its batch and the rows other dispatchers
    hold, not every waiting row: on PostgreSQL the claim's transaction turns bitmap and
    sequential scans off, which the planner picks on statistics from before thousands of
    reminders were rendered ahead (and which then read and sort every waiting row per batch).
    There the rows come back in psycopg's binary format (the message's bytes as they are, not
    as twice as many hex digits to encode and decode: half the database's and the client's
    work per row)."""
    connection = session.connection() if isinstance(session, Session) else session
    params = {"now": now, "lease_until": now + LEASE, "limit": limit}
    if connection.dialect.name != "postgresql":
        taken = connection.execute(_claim_statement(connection.dialect.name), params).all()
        rows = [Claimed(*row) for row in taken if row.status == SENDING]
    else:
        connection.exec_driver_sql(_INDEX_ORDER)  # through SQLAlchemy: it begins the transaction
        rows = _claim_binary(connection, params)
    rows.sort(key=lambda r: (r.next_attempt_at, r.id))
    return rows


def _claim_binary(connection: Connection, params: dict[str, Any]) -> list[Claimed]:
    """The claim on PostgreSQL, on the driver's cursor, its rows in binary format."""
    sql, constants = _claim_sql(connection.dialect)
    cursor = connection.connection.driver_connection.cursor(binary=True)  # type: ignore[union-attr]
    try:
        cursor.execute(sql, {**constants, **params})
        return [_claimed(row) for row in cursor.fetchall() if row[_STATUS] == SENDING]
    finally:
        cursor.close()


_STATUS = _CLAIMED.index("status")
_MOMENTS = tuple(_CLAIMED.index(name) for name in ("next_attempt_at", "lease_until", "created"))


def _claimed(row: tuple[Any, ...]) -> Claimed:
    """A row as psycopg read it: its moments in UTC, as :class:`~engine.types.UTCDateTime` reads them."""
    values = list(row)
    for index in _MOMENTS:
        if values[index] is not None:
            values[index] = values[index].astimezone(dt.UTC)
    return Claimed(*values)


def backoff(attempts: int) -> timedelta:
    """30 s, 1 min, 2 min, 4 min … at most an hour."""
    delay: timedelta = FIRST_RETRY * (2 ** max(attempts - 1, 0))
    return min(delay, LONGEST_RETRY)


_SENT = (update(table_of(OutboxMessage))
         .where(and_(table_of(OutboxMessage).c.id == bindparam("sent_id"),
                     table_of(OutboxMessage).c.status == SENDING))
         .values(status=SENT, sent_at=bindparam("sent_at_now"), lease_until=None, last_error=None, raw=None))
#: :data:`_SENT` as a statement prepared on the PostgreSQL session for one batch (``PREPARE
#: <name> AS …``), executed by libpq's asynchronous calls (:class:`DispatchConnection`): the dispatcher
#: runs it after every message.
_SENT_PREPARE = ("(timestamptz, bigint) AS UPDATE outbox_message "
                 f"SET status = '{SENT}', sent_at = $1, lease_until = NULL, last_error = NULL, raw = NULL "
                 f"WHERE id = $2 AND status = '{SENDING}'")
#: Names of those statements: one per batch, dropped at its end (psycopg drops every prepared
#: statement of its session after a rollback, so a name kept for the session could vanish).
_SENT_NAMES = itertools.count(1)


def settle_sent(session: Session | Connection, message_ids: list[int], now: datetime) -> None:
    """Accepted messages, in one statement (no ORM sync: nothing holds them)."""
    if message_ids:
        session.execute(update(table_of(OutboxMessage)).where(
            and_(table_of(OutboxMessage).c.id.in_(message_ids),
                 table_of(OutboxMessage).c.status == SENDING))
            .values(status=SENT, sent_at=now, lease_until=None, last_error=None, raw=None))


class DispatchConnection:
    """One dispatcher's database connection for a pass (:func:`dispatching`): it claims the
    batches (:meth:`claim`) and records each accepted message as sent (:meth:`sent`);
    :meth:`wait` returns once every mark asked for is committed. The transport calls it before
    the next message's content leaves, so a message the server accepted is recorded as sent
    before the next one can be accepted.

    On PostgreSQL the connection runs in autocommit, each claim and each mark a transaction
    of its own, whose commit does not wait for the disk (``synchronous_commit = off`` for this
    connection's session, set back by :meth:`close` before the pool gets it again, like the
    planner settings of :func:`claim`): a dispatcher that dies right after a mark still has it
    recorded; only a crash of the database server itself within a fraction of a second could
    lose one, and then the message goes once more, with its Message-ID (a claim lost that
    way is only taken again). :meth:`sent` only sends the mark (a statement prepared for the
    pass, through libpq's asynchronous calls: its round trip runs while the next message's
    envelope goes to the SMTP server), :meth:`wait` reads its result. On SQLite each claim
    and each mark is a short write transaction (WAL), the mark done in :meth:`sent`."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._pgconn: Any = None
        self._statement = ""
        self._pending = False
        if connection.dialect.name == "postgresql":
            self.connection = connection.execution_options(isolation_level="AUTOCOMMIT")
            self.connection.exec_driver_sql(_FOR_THE_PASS)
            self._statement = f"ratsflow_outbox_sent_{next(_SENT_NAMES)}"
            self.connection.exec_driver_sql(f"PREPARE {self._statement} {_SENT_PREPARE}")
            self._pgconn = self.connection.connection.driver_connection.pgconn  # type: ignore[union-attr]

    def claim(self, now: datetime, limit: int) -> list[Claimed]:
        """:func:`claim`, committed."""
        if self._pgconn is None:
            rows = claim(self.connection, now, limit)
            self.connection.commit()
            return rows
        self.wait()
        rows = _claim_binary(self.connection, {"now": now, "lease_until": now + LEASE, "limit": limit})
        rows.sort(key=lambda r: (r.next_attempt_at, r.id))
        return rows

    def sent(self, message_id: int, now: datetime) -> None:
        """Record ``message_id`` as sent; on PostgreSQL the statement is sent, not waited for."""
        if self._pgconn is None:
            self.connection.execute(_SENT, {"sent_id": message_id, "sent_at_now": now})
            self.connection.commit()
            return
        self.wait()  # one statement at a time on a connection
        pgconn = self._pgconn
        pgconn.send_query_prepared(self._statement.encode(),
                                   [now.astimezone(dt.UTC).isoformat().encode(), str(message_id).encode()])
        self._pending = True
        while pgconn.flush():  # the rest of the statement, once the socket takes it
            select_sockets([], [pgconn.socket], [])

    def wait(self) -> None:
        """Every mark asked for is committed (raises what the database answered otherwise)."""
        if not self._pending:
            return
        pgconn = self._pgconn
        pgconn.consume_input()
        while pgconn.is_busy():
            select_sockets([pgconn.socket], [], [])  # without the interpreter lock
            pgconn.consume_input()
        self._pending = False
        error = None
        while (result := pgconn.get_result()) is not None:
            if result.status != psycopg.pq.ExecStatus.COMMAND_OK and error is None:
                error = psycopg.errors.error_from_result(result, encoding="utf-8")
        if error is not None:
            raise error

    def close(self) -> None:
        if self._pgconn is not None:
            self.wait()
            self.connection.exec_driver_sql(f"DEALLOCATE {self._statement}")
            self.connection.exec_driver_sql(_AFTER_THE_PASS)


#: A dispatcher's session settings for its pass, and back (one statement each).
_PASS_SETTINGS = ("synchronous_commit", "enable_bitmapscan", "enable_seqscan")
_FOR_THE_PASS = "SELECT " + ", ".join(f"set_config('{name}', 'off', false)" for name in _PASS_SETTINGS)
_AFTER_THE_PASS = ("SELECT set_config(name, reset_val, false) FROM pg_settings WHERE name IN ("
                   + ", ".join(f"'{name}'" for name in _PASS_SETTINGS) + ")")


@contextmanager
def dispatching(engine: Engine) -> Iterator[DispatchConnection]:
    """A :class:`DispatchConnection` from ``engine``'s pool, closed (and given back) after."""
    with engine.connect() as connection:
        dispatcher = DispatchConnection(connection)
        try:
            yield dispatcher
        finally:
            try:
                dispatcher.close()
            except BaseException:
                # Its settings for the pass (no waiting for the disk, no sequential scans) and
                # its prepared mark were not taken back: the pool must not hand it out again.
                connection.invalidate()
                raise


def settle_failed(session: Session, message_id: int, now: datetime, error: str,
                  permanent: bool = False) -> str:
    """Back to waiting with a backoff, or failed for good after the last attempt (at once when
    ``permanent``: the message cannot be built, another attempt would fail the same way)."""
    row = session.get(OutboxMessage, message_id)
    if row is None or row.status != SENDING:
        return row.status if row else FAILED
    row.last_error = error[:1000]
    row.lease_until = None
    if permanent or row.attempts >= MAX_ATTEMPTS:
        row.status = FAILED
    else:
        row.status = PENDING
        row.next_attempt_at = now + backoff(row.attempts)
    session.add(row)
    session.flush()
    return row.status


def release(session: Session, message_ids: list[int]) -> None:
    """Claimed rows that were not tried (the batch stopped before them): waiting again at
    once, the claim's attempt not counted."""
    if message_ids:
        table = table_of(OutboxMessage)
        session.execute(update(table).where(and_(table.c.id.in_(message_ids), table.c.status == SENDING))
                        .values(status=PENDING, lease_until=None, attempts=table.c.attempts - 1))


def retry(session: Session, message_id: int, now: datetime | None = None) -> OutboxMessage | None:
    """An administrator sends a failed message once more (a fresh series of attempts).

    The admin has seen why it failed: a recipient name or subject that could not go into a
    header (a line break, a control character) is sent with those replaced by spaces."""
    row = session.get(OutboxMessage, message_id)
    if row is None or row.status != FAILED:
        return None
    if row.to_name:
        row.to_name = one_line(row.to_name)
    row.subject = one_line(row.subject)
    row.raw = None  # encoded from the fields as they are now
    row.status, row.attempts, row.next_attempt_at = PENDING, 0, now or utcnow()
    session.add(row)
    session.flush()
    return row


def next_attempt(session: Session) -> datetime | None:
    return session.exec(select(OutboxMessage.next_attempt_at)
                        .where(OutboxMessage.status == PENDING)
                        .order_by(col(OutboxMessage.next_attempt_at)).limit(1)).first()
