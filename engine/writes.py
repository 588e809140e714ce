"""The writes of a unit of work's hot path, sent together.

A task completion ends with a handful of independent writes: the instance's version-checked
UPDATE, the completed task's row, the rows of the steps it made ready, a TOP, the Beratung's
session. Through the ORM's unit of work each costs a statement plus the ORM's bookkeeping, and
building a Core statement anew costs more than running it (~0.2–0.6 ms for an UPDATE or an
INSERT of 20 columns, against ~0.08 ms for the same statement built once). So a write here is
described by its *shape* — table, the columns it sets, the columns it matches (one row each)
— and its values; a statement is built once per shape, with bound parameters, and kept:

* on PostgreSQL all writes of a unit of work are **one** statement, each write a
  data-modifying CTE (``WITH w0 AS (UPDATE … RETURNING id), w1 AS (INSERT … RETURNING id)
  SELECT …``): all run exactly once, on the same snapshot, and the answer carries each
  write's returned keys;
* on SQLite (no network: a statement costs microseconds in the database) one after the other.

The writes must be independent: none may read or change a row another of them writes (one
snapshot; PostgreSQL does not order them). A write that must hit exactly ``expect`` rows (the
version check) raises its ``refusal`` otherwise, before the unit of work commits (it then
rolls back whole).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Integer,
    String,
    Table,
    and_,
    bindparam,
    cast,
    insert,
    literal,
    select,
    union_all,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.sql import Executable
from sqlmodel import Session

from engine.db import forget
from engine.errors import EngineError

#: (table name, columns set, columns matched – ``column:null`` for IS NULL –, key column)
Shape = tuple[str, tuple[str, ...], tuple[str, ...], str | None]


@dataclass
class _Write:
    table: Table
    shape: Shape
    params: dict[str, Any]
    expect: int | None
    refusal: EngineError | None


class Writes:
    """Independent INSERTs and UPDATEs by plain values, sent together (see the module doc)."""

    def __init__(self) -> None:
        self._writes: list[_Write] = []

    def insert(self, table: Table, rows: list[dict[str, Any]], *, key: str | None = None) -> None:
        """Queue rows (same columns each; ``key``: a column returned with each new id)."""
        if not rows:
            return
        # One write per row: a multi-row VALUES has no cache key in SQLAlchemy (it would be
        # compiled anew each time, and with it the whole PostgreSQL statement around it).
        for row in rows:
            row = {**row, **python_defaults(table, row)}
            params = {f"{c}_0": value for c, value in row.items()}
            self._writes.append(_Write(table, (table.name, tuple(row), (), key), params, None, None))

    def update(self, table: Table, match: dict[str, Any], values: dict[str, Any], *,
               expect: int | None = None, refusal: EngineError | None = None) -> None:
        """Queue ``UPDATE table SET values WHERE`` every column of ``match`` equals its value
        (``None``: IS NULL)."""
        values = {**values, **python_defaults(table, values, "onupdate")}
        params = {**{f"{c}_0": v for c, v in values.items()},
                  **{f"m_{c}": v for c, v in match.items() if v is not None}}
        matched = tuple(c if v is not None else f"{c}:null" for c, v in match.items())
        self._writes.append(_Write(table, (table.name, tuple(values), matched, None), params,
                                   expect, refusal))

    def send(self, session: Session) -> list[list[tuple[int, str | None]]]:
        """Run the writes; per write, the (id, key) of each row it wrote."""
        if not self._writes:
            return []
        # On the session's connection, past the ORM's execute path (it adds nothing to these
        # statements but time); what the unit of work remembered is stale from here on.
        forget(session)
        connection = session.connection()
        if connection.dialect.name == "postgresql":
            results = self._send_as_one(connection)
        else:
            results = [[(row[0], row[1]) for row in connection.execute(
                _statement(w.table, w.shape), w.params)] for w in self._writes]
        for write, rows in zip(self._writes, results, strict=True):
            if write.expect is not None and len(rows) != write.expect:
                raise write.refusal or RuntimeError(
                    f"{len(rows)} Zeilen geschrieben, {write.expect} erwartet")
        self._writes = []
        return results

    def _send_as_one(self, connection: Connection) -> list[list[tuple[int, str | None]]]:
        statement = _combined(tuple((w.table, w.shape) for w in self._writes))
        params = {f"w{n}_{name}": value
                  for n, w in enumerate(self._writes) for name, value in w.params.items()}
        results: list[list[tuple[int, str | None]]] = [[] for _ in self._writes]
        for n, row_id, key in connection.execute(statement, params):
            results[n].append((row_id, key))
        return results


def python_defaults(table: Table, given: dict[str, Any], kind: str = "default") -> dict[str, Any]:
    """The values of the table's Python-side column defaults (``kind="onupdate"``: of its
    ``onupdate``) for the columns ``given`` leaves out, as an INSERT/UPDATE would fill them in.

    Set here for writes that bypass SQLAlchemy's own filling: several writes in one combined
    statement (SQLAlchemy would name their parameters alike) and bulk loads (COPY)."""
    found = {}
    for column in table.c:
        default = getattr(column, kind)
        if column.name in given or default is None:
            continue
        if default.is_scalar:
            found[column.name] = default.arg
        elif default.is_callable:
            found[column.name] = default.arg(None)
    return found


@lru_cache(maxsize=256)
def _statement(table: Table, shape: Shape, prefix: str = "") -> Any:
    """The statement of a write's shape with bound parameters ``{prefix}{column}_0``
    (matches: ``{prefix}m_{column}``), returning the id and the key (as text)."""
    _, columns, matched, key = shape
    if matched:
        statement: Any = update(table).where(and_(*(
            table.c[c.removesuffix(":null")].is_(None) if c.endswith(":null")
            else table.c[c] == bindparam(f"{prefix}m_{c}", type_=table.c[c].type) for c in matched
        ))).values({c: bindparam(f"{prefix}{c}_0", type_=table.c[c].type) for c in columns})
    else:
        statement = insert(table).values(
            {c: bindparam(f"{prefix}{c}_0", type_=table.c[c].type) for c in columns})
    returned = cast(table.c[key], String) if key is not None else literal(None, String)
    return statement.returning(table.c.id, returned.label("k"))


@lru_cache(maxsize=256)
def _combined(writes: tuple[tuple[Table, Shape], ...]) -> Executable:
    """All writes as one statement (PostgreSQL): a data-modifying CTE each."""
    parts = []
    for n, (table, shape) in enumerate(writes):
        cte = _statement(table, shape, f"w{n}_").cte(f"w{n}")
        parts.append(select(literal(n, Integer).label("n"), cte.c.id, cte.c.k))
    return union_all(*parts)
