"""Sitzungsgeld: what each member and stand-in is paid for the sessions they attended, per
month, for the payroll office (issue 19, point 6).

The administration sets each Gremium's allowance per session (``AllowanceRate``: an amount
from a day on; a new rate from a later day keeps the old one for the sessions before). The
Sekretariat (or the administration) exports a month as CSV for German Excel (``;``, UTF-8 with
BOM, 08.11.2024, amounts as 25,00): one line per person and session attended, with the time
present; every export is audited.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, Session, SQLModel, col, select

from engine import attendance, audit
from engine.accounts import Actor
from engine.council import ROLE_ADMIN, ROLE_SECRETARIAT, Organization
from engine.errors import Forbidden, Invalid, NotFound
from engine.settings import TIMEZONE
from engine.types import utc_column, utcnow


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


_ADMIN_ONLY = "Das Sitzungsgeld setzt die Administration fest."


def _cents(text: str | None) -> int | None:
    """"25", "25,00", "25.5" → cents; None for what is no amount of money."""
    raw = (text or "").strip().replace("€", "").strip().replace(".", ",") if text else ""
    if raw.count(",") > 1 or not raw:
        return None
    try:
        amount = Decimal(raw.replace(",", "."))
    except InvalidOperation:
        return None
    if amount < 0 or amount > 10000 or amount != amount.quantize(Decimal("0.01")):
        return None
    return int(amount * 100)


def euro(cents: int) -> str:
    """1234 → "12,34" (German decimal comma, no thousands separator: what Excel reads)."""
    return f"{cents // 100},{cents % 100:02d}"


def set_rate(session: Session, actor: Actor, organization_id: int, data: dict[str, Any],
             now: datetime | None = None) -> AllowanceRate:
    """The administration sets a Gremium's Sitzungsgeld per session from a day on (audited,
    with the amount it replaces)."""
    now = now or utcnow()
    if not actor.is_admin:
        raise Forbidden(_ADMIN_ONLY)
    org = session.get(Organization, organization_id) if 0 < organization_id < 2**31 else None
    if org is None or org.organization_type != "Gremium":
        raise NotFound("Dieses Gremium gibt es nicht.")
    errors: dict[str, list[str]] = {}
    cents = _cents(data.get("amount"))
    if cents is None:
        errors["amount"] = ["Betrag in Euro, z. B. 25,00."]
    try:
        valid_from = datetime.strptime((data.get("valid_from") or "").strip(), "%d.%m.%Y").date()
    except ValueError:
        errors["valid_from"] = ["Datum bitte als TT.MM.JJJJ."]
    if errors:
        raise Invalid("Eingaben bitte prüfen.", errors)
    assert cents is not None and org.id is not None
    old = rate_on(session, org.id, valid_from)
    row = session.exec(select(AllowanceRate).where(AllowanceRate.organization_id == org.id,
                                                   AllowanceRate.valid_from == valid_from)).first()
    row = row or AllowanceRate(organization_id=org.id, valid_from=valid_from, amount_cents=cents,
                               set_by=actor.username, set_at=now)
    row.amount_cents, row.set_by, row.set_at = cents, actor.username, now
    session.add(row)
    session.flush()
    audit.record(session, actor.username, actor.display_name, "allowance.changed", at=now, details={
        "organization_id": org.id, "gremium": org.name, "amount": euro(cents),
        "valid_from": f"{valid_from:%d.%m.%Y}", **({"old": euro(old)} if old is not None else {})})
    return row


def rates_of(session: Session, organization_id: int) -> list[AllowanceRate]:
    return list(session.exec(select(AllowanceRate).where(AllowanceRate.organization_id == organization_id)
                             .order_by(col(AllowanceRate.valid_from).desc())))


def rate_on(session: Session, organization_id: int, day: date) -> int | None:
    """The Gremium's Sitzungsgeld (cents) for a session on ``day``; None: none set."""
    return session.exec(select(AllowanceRate.amount_cents).where(
        AllowanceRate.organization_id == organization_id, col(AllowanceRate.valid_from) <= day)
        .order_by(col(AllowanceRate.valid_from).desc())).first()


@dataclass(frozen=True)
class Line:
    person: str
    gremium: str
    session: str
    day: date
    start: datetime
    end: datetime | None
    minutes: int | None
    role: str
    cents: int


def months_gremien(session: Session, actor: Actor) -> list[Organization]:
    """The Gremien whose Sitzungsgeld the actor may export: their Sekretariat's, or all (admin)."""
    query = select(Organization).where(Organization.organization_type == "Gremium")
    if not actor.has_role(ROLE_ADMIN):
        query = query.where(col(Organization.id).in_(actor.organizations_for(ROLE_SECRETARIAT) or {0}))
    return list(session.exec(query.order_by(col(Organization.name))))


def parse_month(text: str | None) -> date:
    """"2026-11" or "11.2026" → the first day of that month."""
    raw = (text or "").strip()
    for fmt in ("%Y-%m", "%m.%Y"):
        try:
            return datetime.strptime(raw, fmt).date().replace(day=1)
        except ValueError:
            continue
    raise Invalid("Eingaben bitte prüfen.", {"month": ["Monat bitte als MM.JJJJ (z. B. 11.2026)."]})


def report(session: Session, actor: Actor, organization_id: int,
           month: date) -> tuple[Organization, list[Line]]:
    """Per member and session of the month: attended from – to, minutes, the Sitzungsgeld."""
    org = session.get(Organization, organization_id) if 0 < organization_id < 2**31 else None
    if org is None or org.organization_type != "Gremium":
        raise NotFound("Dieses Gremium gibt es nicht.")
    if not actor.has_role(ROLE_SECRETARIAT, org.id):
        raise Forbidden(f"Sie betreuen das Gremium {org.name} nicht.")
    assert org.id is not None
    since = datetime.combine(month, time(0), TIMEZONE)
    until = datetime.combine((month + timedelta(days=32)).replace(day=1), time(0), TIMEZONE)
    lines = []
    for row, meeting, person in attendance.attended(session, [org.id], since, until):
        assert meeting.opened is not None
        start = max(row.arrived or meeting.opened, meeting.opened)
        end = row.left or meeting.closed
        minutes = round((end - start).total_seconds() / 60) if end is not None else None
        day = meeting.start.astimezone(TIMEZONE).date()
        lines.append(Line(person.name, org.name, meeting.reference or meeting.name, day, start, end, minutes,
                          row.kind, rate_on(session, org.id, day) or 0))
    return org, lines


CSV_HEADER = ["Monat", "Name", "Gremium", "Sitzung", "Datum", "anwesend von", "anwesend bis",
              "Dauer (Minuten)", "als", "Sitzungsgeld (EUR)"]


def csv_text(month: date, lines: list[Line]) -> str:
    """German Excel: UTF-8 with BOM, ``;``, 08.11.2024, 25,00; and a total per person."""
    from engine.audit_history import spreadsheet_cell

    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for li in lines:
        writer.writerow([spreadsheet_cell(c) for c in (
            f"{month:%m.%Y}", li.person, li.gremium, li.session, f"{li.day:%d.%m.%Y}",
            f"{li.start.astimezone(TIMEZONE):%H:%M}",
            f"{li.end.astimezone(TIMEZONE):%H:%M}" if li.end else "",
            li.minutes if li.minutes is not None else "", li.role, euro(li.cents))])
    return "\ufeff" + buffer.getvalue()


def export(session: Session, actor: Actor, organization_id: int, month: date,
           now: datetime | None = None) -> tuple[str, str]:
    """The month's CSV and its file name; the export is audited (who, which month, how much)."""
    org, lines = report(session, actor, organization_id, month)
    total = sum(li.cents for li in lines)
    audit.record(session, actor.username, actor.display_name, "allowance.exported", at=now or utcnow(),
                 details={
        "organization_id": org.id, "gremium": org.name, "month": f"{month:%m.%Y}", "rows": len(lines),
        "total": euro(total), "persons": len({li.person for li in lines})})
    name = f"sitzungsgeld-{org.short_name or org.id}-{month:%Y-%m}.csv"
    return csv_text(month, lines), name
