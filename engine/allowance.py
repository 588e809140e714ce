"""Sitzungsgeld: what each member and stand-in is paid for the sessions they attended, per
month, for the payroll office (issue 19, point 6).

The administration sets each Gremium's allowance per session (``AllowanceRate``: an amount
from a day on; a new rate from a later day keeps the old one for the sessions before). The
Sekretariat (or the administration) exports a month as CSV for German Excel (``;``, UTF-8 with
BOM, 08.11.2024, amounts as 25,00): one line per person and session attended, with the time
present; every export is audited.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from engine.types import utc_column


class AllowanceRate(SQLModel, table=True):
    """A Gremium's Sitzungsgeld per session attended, from ``valid_from`` on (in cents)."""

    __tablename__ = "allowance_rate"
    __table_args__ = (UniqueConstraint("organization_id", "valid_from"),)

    id: int | None = Field(default=None, primary_key=True)
    organization_id: int = Field(foreign_key="organization.id", index=True)
    valid_from: date
    amount_cents: int
    set_by: str = Field(max_length=100)
    set_at: datetime = Field(sa_column=utc_column(nullable=False))
