"""The writes of a unit of work's hot path, sent together.

A task completion ends with a handful of independent writes: the instance's version-checked
UPDATE, the completed task's row, the rows of the steps it made ready, a TOP, the audit event.
Each through the ORM's unit of work costs a statement and the ORM's bookkeeping; here they are
Core statements collected in a :class:`Writes` and sent by :meth:`Writes.send`:

* on PostgreSQL as **one** statement, each write a data-modifying CTE
  (``WITH w0 AS (UPDATE … RETURNING id), w1 AS (INSERT … RETURNING id) SELECT …``): all run
  exactly once, on the same snapshot, and the answer carries each write's returned keys;
* elsewhere (SQLite: no network, a statement costs microseconds) one after the other.

The writes must be independent: none may read or change a row another of them writes (one
snapshot; PostgreSQL does not order them). A write that must hit exactly ``expect`` rows (the
version check) raises its ``refusal`` otherwise, before the unit of work commits (it rolls
back whole).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Insert, Integer, String, Update, cast, literal, select, union_all
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session

from engine.errors import EngineError


@dataclass
class _Write:
    statement: Insert | Update
    key: ColumnElement[Any] | None  # a second column returned with the id (to tell rows apart)
    expect: int | None
    refusal: EngineError | None


class Writes:
    """Independent INSERT/UPDATE statements, sent together (see the module doc)."""

    def __init__(self) -> None:
        self._writes: list[_Write] = []

    def add(self, statement: Insert | Update, *, key: ColumnElement[Any] | None = None,
            expect: int | None = None, refusal: EngineError | None = None) -> int:
        """Queue a write (its table must have an ``id`` column); returns its number."""
        self._writes.append(_Write(statement, key, expect, refusal))
        return len(self._writes) - 1

    def send(self, session: Session) -> list[list[tuple[int, str | None]]]:
        """Run the writes; per write, the (id, key) of each row it wrote."""
        if not self._writes:
            return []
        if session.get_bind().dialect.name == "postgresql":
            results = self._send_as_one(session)
        else:
            results = [self._send_one(session, w) for w in self._writes]
        for write, rows in zip(self._writes, results, strict=True):
            if write.expect is not None and len(rows) != write.expect:
                raise write.refusal or RuntimeError(f"{len(rows)} rows written, {write.expect} expected")
        self._writes = []
        return results

    @staticmethod
    def _returning(write: _Write) -> Sequence[ColumnElement[Any]]:
        table = write.statement.table
        key = write.key if write.key is not None else literal(None, String)
        return [table.c.id, cast(key, String).label("k")]

    def _send_one(self, session: Session, write: _Write) -> list[tuple[int, str | None]]:
        result = session.execute(write.statement.returning(*self._returning(write)))
        return [(row[0], row[1]) for row in result]

    def _send_as_one(self, session: Session) -> list[list[tuple[int, str | None]]]:
        parts = []
        for n, write in enumerate(self._writes):
            cte = write.statement.returning(*self._returning(write)).cte(f"w{n}")
            parts.append(select(literal(n, Integer).label("n"), cte.c.id, cte.c.k))
        results: list[list[tuple[int, str | None]]] = [[] for _ in self._writes]
        for n, row_id, key in session.execute(union_all(*parts)):
            results[n].append((row_id, key))
        return results
