"""Who sees a non-public Vorlage: the one rule every page, list, count and API answer uses.

A published Vorlage (public *and* released: never a draft, ``Paper.released``) is seen by
everyone; it alone reaches the public pages, the search index, the feeds and OParl
(:func:`published_clause`). A draft, public or not, is seen as a non-public Vorlage is.
A non-public one by the clerks of its lead department
(a Sachbearbeitung grant on ``under_direction_of_id``) and its head (Freigabe), the clerks of
the departments asked to co-sign it (a Mitzeichnung step of theirs), the members and Sekretariate of the
Gremien of its Beratungsfolge, Revision and the administration. Everyone else (anonymous
visitors included) is told it does not exist: 404, never 403.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import and_, or_, true
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from engine.accounts import Actor
from engine.council import (
    ROLE_AUDITOR,
    ROLE_CLERK,
    ROLE_RELEASE,
    ROLE_SECRETARIAT,
    Account,
    Consultation,
    Meeting,
    Membership,
    Paper,
)
from engine.tasks import HumanTask


def sees_everything(actor: Actor | None) -> bool:
    """Revision and the administration see every Vorlage."""
    return actor is not None and (actor.is_admin or actor.has_role(ROLE_AUDITOR))


def is_clerk(actor: Actor | None) -> bool:
    """Sachbearbeitung of some department (or of all: a grant without one)."""
    return actor is not None and (actor.is_admin or any(role == ROLE_CLERK for role, _ in actor.grants))


def leads(actor: Actor | None, department_id: int | None) -> bool:
    """A clerk of ``department_id`` (the lead department of a Vorlage)."""
    return actor is not None and department_id is not None and actor.has_role(ROLE_CLERK, department_id)


def published_clause() -> ColumnElement[bool]:
    """The SQL condition on ``Paper`` for what the public sees: public and released."""
    return and_(col(Paper.public).is_(True), col(Paper.released).is_not(None))


def is_published(paper: Paper) -> bool:
    return paper.public and paper.released is not None


def visible_papers_clause(actor: Actor | None, today: dt.date) -> ColumnElement[bool]:
    """The SQL condition on ``Paper`` for the Vorlagen ``actor`` may see (lists, counts)."""
    if sees_everything(actor):
        return true()
    conditions: list[ColumnElement[bool]] = [published_clause()]
    if actor is None:
        return conditions[0]
    if (ROLE_CLERK, None) in actor.grants:
        return true()
    departments = actor.organizations_for(ROLE_CLERK)
    if departments:
        conditions.append(col(Paper.under_direction_of_id).in_(sorted(departments)))
        # Co-signing departments (Mitzeichnung, bpmn/vorlage.bpmn) see what they are asked about.
        conditions.append(col(Paper.id).in_(select(HumanTask.paper_id).where(
            HumanTask.lane == ROLE_CLERK, col(HumanTask.organization_id).in_(sorted(departments)))))
    heads = actor.organizations_for(ROLE_RELEASE)
    if heads:
        conditions.append(col(Paper.under_direction_of_id).in_(sorted(heads)))
    secretariats = actor.organizations_for(ROLE_SECRETARIAT)
    if secretariats:
        conditions.append(col(Paper.id).in_(select(Consultation.paper_id).where(
            col(Consultation.organization_id).in_(sorted(secretariats)))))
    member_of = _gremien_of(actor, today)
    conditions.append(col(Paper.id).in_(select(Consultation.paper_id).where(
        col(Consultation.organization_id).in_(member_of))))
    return or_(*conditions)


def _gremien_of(actor: Actor, today: dt.date) -> SelectOfScalar[int]:
    """The Gremien ``actor``'s person is a member of today (a subquery)."""
    return (select(Membership.organization_id)
            .join(Account, col(Account.person_id) == Membership.person_id)
            .where(Account.id == actor.account_id,
                   or_(col(Membership.start_date).is_(None), col(Membership.start_date) <= today),
                   or_(col(Membership.end_date).is_(None), col(Membership.end_date) >= today)))


def sees_closed_part(session: Session, actor: Actor | None, meeting: Meeting, today: dt.date) -> bool:
    """A Sitzung's non-public part: its Gremium's members and Sekretariat, Revision, admin."""
    if actor is None:
        return False
    if sees_everything(actor) or actor.has_role(ROLE_SECRETARIAT, meeting.organization_id):
        return True
    gremien = _gremien_of(actor, today).where(Membership.organization_id == meeting.organization_id)
    return session.exec(gremien).first() is not None


def can_see_paper(session: Session, actor: Actor | None, paper: Paper | None, today: dt.date) -> bool:
    """Whether ``actor`` (None: anonymous) may know that ``paper`` exists."""
    if paper is None:
        return False
    if is_published(paper) or sees_everything(actor):
        return True
    if actor is None:
        return False
    return session.exec(select(Paper.id).where(
        Paper.id == paper.id, visible_papers_clause(actor, today))).first() is not None
