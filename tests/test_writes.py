"""engine.writes: a unit of work's writes sent together (one statement on PostgreSQL)."""

from __future__ import annotations

import pytest
from sqlmodel import select

from engine.council import Body, Organization
from engine.db import count_statements
from engine.errors import Conflict
from engine.types import table_of
from engine.writes import Writes


def test_writes_go_out_together_return_their_keys_and_refuse_a_stale_match(database) -> None:  # type: ignore[no-untyped-def]
    organizations = table_of(Organization)
    with database.unit_of_work() as s:
        body = Body(name="Testkreis")
        s.add(body)
        s.flush()
        body_id = body.id
    with database.unit_of_work() as s:
        writes = Writes()
        writes.insert(organizations, [{"body_id": body_id, "name": name, "organization_type": "Gremium",
                                       "classification": None} for name in ("Rat", "Hauptausschuss")],
                      key="name")
        with count_statements(database.engine) as seen:
            written = [row for rows in writes.send(s) for row in rows]
        inserts = [q for q in seen if "INSERT" in q]
        # PostgreSQL: one statement for both; SQLite: one each (after the unit of work's BEGIN)
        assert len(inserts) == (2 if database.settings.is_sqlite else 1)
        assert inserts == seen[-len(inserts):]
        ids = {key: row_id for row_id, key in written}
    with database.unit_of_work() as s:
        names = {o.id: o.name for o in s.exec(select(Organization).where(Organization.body_id == body_id))}
        assert names == {ids["Rat"]: "Rat", ids["Hauptausschuss"]: "Hauptausschuss"}

    # Two updates: one matches (classification IS NULL), one is stale: the unit of work is
    # refused whole, nothing of it stays.
    with pytest.raises(Conflict, match="veraltet"):
        with database.unit_of_work() as s:
            writes = Writes()
            writes.update(organizations, {"id": ids["Rat"], "classification": None}, {"short_name": "R"}, expect=1)
            writes.update(organizations, {"id": ids["Hauptausschuss"], "name": "Kreistag"}, {"short_name": "H"},
                          expect=1, refusal=Conflict("veraltet"))
            writes.send(s)
    with database.unit_of_work() as s:
        short_names = {o.short_name for o in s.exec(select(Organization).where(Organization.body_id == body_id))}
        assert short_names == {None}
