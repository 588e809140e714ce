"""Vertretung (stand-ins): a person names a stand-in for a period of absence.

During the period the tasks offered to the absent person are offered to the stand-in too:
those the absent person holds (``assignee``) and those of the absent person's candidate groups
(a lane's role for a Gremium, from their grants; never the Administration). Decided so – rather
than only the groups the absent person serves alone – because a Sekretariat's colleagues are not
known to be present either, and one rule is one a person can predict; the stand-in acts with
the absent person's task rights only, nowhere else.

Rules: nobody stands in for themselves; the period is valid (from ≤ until, not over, at most
a year); a stand-in cannot pass it on: whoever is absent in an overlapping period cannot
stand in, and whoever stands in cannot name their own stand-in for an overlapping period (no
chains) – and the borrowed rights are only ever one step deep. Ending a period stops it at
once. Every change is audited; a task done in Vertretung says for whom in its history event.

Cost: nothing on the ordinary completion. A completion that the actor's own rights do not
allow looks for the absent persons they stand in for (one statement); the inbox's page reads
them once (one statement).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Column, Text, bindparam
from sqlalchemy import select as sa_select
from sqlmodel import Field, Session, SQLModel, col, select

from engine import audit
from engine.council import ROLE_ADMIN, Account, Grant
from engine.db import remembered
from engine.errors import Forbidden, Invalid, NotFound
from engine.settings import TIMEZONE
from engine.types import table_of, utc_column, utcnow

#: The longest period one may name at once.
MAX_DAYS = 366


class StandIn(SQLModel, table=True):
    """One period of Vertretung: ``substitute`` stands in for ``absent`` from ``starts`` to
    ``ends`` (days in Europe/Berlin, both included), unless ``ended`` earlier."""

    __tablename__ = "stand_in"

    id: int | None = Field(default=None, primary_key=True)
    absent_id: int = Field(foreign_key="account.id", index=True)
    substitute_id: int = Field(foreign_key="account.id", index=True)
    starts: date
    ends: date
    note: str | None = Field(default=None, sa_column=Column(Text))
    created: datetime = Field(sa_column=utc_column(nullable=False))
    created_by: str
    #: When it was ended before ``ends`` (it stops at once); None: runs to its end.
    ended: datetime | None = Field(default=None, sa_column=utc_column())


@dataclass(frozen=True)
class Represented:
    """An absent person the actor stands in for now, with the task rights they lend."""

    account_id: int
    username: str
    display_name: str
    grants: frozenset[tuple[str, int | None]]

    def may_work_on(self, lane: str | None, organization_id: int | None) -> bool:
        return lane is not None and ((lane, None) in self.grants or (
            organization_id is not None and (lane, organization_id) in self.grants))


def _today(now: datetime) -> date:
    return now.astimezone(TIMEZONE).date()


@functools.cache
def _represented_query() -> Any:
    """The statement of :func:`represented`, built once (every inbox page runs it): the
    running stand-ins of ``:substitute`` on ``:today``, the absent accounts with their grants."""
    account, grant, stand_in = (table_of(t).c for t in (Account, Grant, StandIn))
    today = bindparam("today", type_=stand_in.starts.type)
    return (sa_select(account.id, account.username, account.display_name, grant.role, grant.organization_id)
            .select_from(table_of(Account).join(table_of(StandIn), stand_in.absent_id == account.id)
                         .outerjoin(table_of(Grant), grant.account_id == account.id))
            .where(stand_in.substitute_id == bindparam("substitute", type_=stand_in.substitute_id.type),
                   stand_in.starts <= today, stand_in.ends >= today, stand_in.ended.is_(None), account.active)
            .order_by(account.id))


def represented(session: Session, account_id: int, now: datetime | None = None) -> list[Represented]:
    """Whom the account stands in for now, with their task rights (one statement, once per
    unit of work)."""
    today = _today(now or utcnow())

    def read() -> list[Represented]:
        rows = session.execute(_represented_query(), {"substitute": account_id, "today": today}).all()
        found: dict[int, tuple[str, str, set[tuple[str, int | None]]]] = {}
        for absent_id, username, name, role, organization_id in rows:
            entry = found.setdefault(absent_id, (username, name, set()))
            if role is not None and role != ROLE_ADMIN:
                entry[2].add((role, organization_id))
        return [Represented(key, u, n, frozenset(g)) for key, (u, n, g) in found.items()]
    return remembered(session, ("represented", account_id, today), read)  # type: ignore[no-any-return]


def acting_for(session: Session, account_id: int, lane: str | None, organization_id: int | None,
               assignee: str | None, now: datetime | None = None,
               username: str | None = None) -> Represented | None:
    """The absent person whose rights let the account (``username``) work on a task (its lane,
    Gremium and holder), or None. Called only where the account's own rights do not suffice."""
    people = represented(session, account_id, now)
    for person in people:  # the holder first: a task the absent person took
        if assignee == person.username and person.may_work_on(lane, organization_id):
            return person
    if assignee is None or (username is not None and assignee == username):  # open, or taken in Vertretung
        for person in people:
            if person.may_work_on(lane, organization_id):
                return person
    return None


def _account(session: Session, username: Any) -> Account:
    if not isinstance(username, str) or not username.strip() or "\x00" in username or len(username) > 200:
        raise Invalid("Eingaben bitte prüfen.", {"vertretung": ["Bitte das Konto der Vertretung angeben."]})
    account = session.exec(select(Account).where(Account.username == username.strip())).first()
    if account is None or not account.active:
        raise Invalid("Eingaben bitte prüfen.", {"vertretung": [f"Kein aktives Konto „{username.strip()}“."]})
    return account


def _day(value: Any, name: str) -> date:
    if isinstance(value, date):
        return value
    text = str(value).strip()  # 2026-12-04 (a date field) or 04.12.2026 (as the page writes it)
    for read in (date.fromisoformat, lambda t: datetime.strptime(t, "%d.%m.%Y").date()):
        try:
            return read(text)
        except ValueError:
            continue
    raise Invalid("Eingaben bitte prüfen.", {name: ["Bitte ein Datum angeben (TT.MM.JJJJ)."]})


def _overlapping(starts: date, ends: date) -> Any:
    return (col(StandIn.starts) <= ends) & (col(StandIn.ends) >= starts) & col(StandIn.ended).is_(None)


def name_stand_in(session: Session, actor: Any, absent_id: int, substitute: Any, starts: Any, ends: Any,
                  now: datetime | None = None, note: str | None = None) -> StandIn:
    """Name a stand-in for ``absent_id`` (the actor themselves, or anyone for an admin)."""
    now = now or utcnow()
    if actor.account_id != absent_id and not actor.is_admin:
        raise Forbidden("Eine Vertretung benennt die abwesende Person selbst oder die Administration.")
    absent = session.get(Account, absent_id)
    if absent is None:
        raise NotFound("Konto nicht gefunden.")
    first, last = _day(starts, "von"), _day(ends, "bis")
    deputy = _account(session, substitute)
    errors: dict[str, list[str]] = {}
    if deputy.id == absent.id:
        errors["vertretung"] = ["Niemand kann sich selbst vertreten."]
    if last < first:
        errors["bis"] = ["Das Ende liegt vor dem Beginn."]
    elif last < _today(now):
        errors["bis"] = ["Der Zeitraum ist schon vorbei."]
    elif (last - first).days >= MAX_DAYS:
        errors["bis"] = [f"Höchstens {MAX_DAYS} Tage auf einmal."]
    if note is not None and len(note) > 1000:
        errors["anmerkung"] = ["Höchstens 1000 Zeichen."]
    if errors:
        raise Invalid("Eingaben bitte prüfen.", errors)
    # No chains: the stand-in is not away themselves then, the absent person stands in for nobody then.
    clashes = session.exec(select(StandIn).where(_overlapping(first, last), (
        (col(StandIn.absent_id) == deputy.id) | (col(StandIn.substitute_id) == absent.id) | (
            (col(StandIn.absent_id) == absent.id) & (col(StandIn.substitute_id) == deputy.id))))).all()
    for clash in clashes:
        span = f"vom {clash.starts:%d.%m.%Y} bis {clash.ends:%d.%m.%Y}"
        if clash.absent_id == deputy.id:
            errors.setdefault("vertretung", []).append(
                f"{deputy.display_name} ist {span} selbst abwesend und vertreten: eine Vertretung wird "
                "nicht weitergegeben.")
        elif clash.substitute_id == absent.id:
            errors.setdefault("vertretung", []).append(
                f"{absent.display_name} vertritt {span} selbst jemanden: eine Vertretung wird nicht "
                "weitergegeben.")
        else:
            errors.setdefault("von", []).append(f"{deputy.display_name} vertritt schon {span}.")
    if errors:
        raise Invalid("Eingaben bitte prüfen.", errors)
    assert absent.id is not None and deputy.id is not None
    row = StandIn(absent_id=absent.id, substitute_id=deputy.id, starts=first, ends=last, note=note or None,
                  created=now, created_by=actor.username)
    session.add(row)
    session.flush()
    audit.record(session, actor.username, actor.display_name, "standin.named", at=now, details={
        "stand_in_id": row.id, "absent": absent.username, "absent_name": absent.display_name,
        "substitute": deputy.username, "substitute_name": deputy.display_name,
        "from": first.isoformat(), "until": last.isoformat()})
    return row


def end_stand_in(session: Session, actor: Any, stand_in_id: int, now: datetime | None = None) -> StandIn:
    """End a period at once (the absent person, the stand-in or an admin)."""
    now = now or utcnow()
    row = session.get(StandIn, stand_in_id)
    if row is None:
        raise NotFound("Vertretung nicht gefunden.")
    if actor.account_id not in (row.absent_id, row.substitute_id) and not actor.is_admin:
        raise Forbidden("Diese Vertretung beenden die Beteiligten oder die Administration.")
    if row.ended is not None or row.ends < _today(now):
        return row
    row.ended = now
    session.add(row)
    session.flush()
    absent, deputy = session.get(Account, row.absent_id), session.get(Account, row.substitute_id)
    audit.record(session, actor.username, actor.display_name, "standin.ended", at=now, details={
        "stand_in_id": row.id, "absent": absent.username if absent else None,
        "absent_name": absent.display_name if absent else None,
        "substitute": deputy.username if deputy else None,
        "substitute_name": deputy.display_name if deputy else None})
    return row


@dataclass(frozen=True)
class Period:
    """A period for a page: who for whom, when, whether it runs now or is over."""

    id: int
    absent_name: str
    substitute_name: str
    starts: date
    ends: date
    running: bool
    over: bool


def periods_of(session: Session, account_id: int, now: datetime | None = None) -> list[Period]:
    """The account's periods (absent or standing in), newest first, over ones of the last 90 days."""
    today = _today(now or utcnow())
    absent, deputy = Account.__table__.alias("absent"), Account.__table__.alias("deputy")  # type: ignore[attr-defined]
    rows = session.execute(
        sa_select(StandIn, absent.c.display_name, deputy.c.display_name)
        .join(absent, absent.c.id == StandIn.absent_id).join(deputy, deputy.c.id == StandIn.substitute_id)
        .where((col(StandIn.absent_id) == account_id) | (col(StandIn.substitute_id) == account_id),
               col(StandIn.ends) >= today - timedelta(days=90))
        .order_by(col(StandIn.starts).desc(), col(StandIn.id).desc())).all()
    return [Period(s.id, a, d, s.starts, s.ends,
                   running=s.ended is None and s.starts <= today <= s.ends,
                   over=s.ended is not None or s.ends < today) for s, a, d in rows]
