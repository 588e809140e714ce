"""The council's people and bodies, kept by an admin: Gremien, persons, memberships, and the
reminder rules of each Gremium. Every change is audited with its old and new values; a
change of members or rules re-plans the reminders of the Gremium's sessions ahead.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlmodel import Session, col, select

from engine import audit
from engine.accounts import Actor, require_admin
from engine.calendar import reminders
from engine.council import Body, Membership, Organization, Person
from engine.errors import Conflict, Invalid, NotFound
from engine.schemas import MAX_ID, EndMembershipIn, GremiumIn, MembershipIn, PersonIn, load
from engine.types import utcnow
from engine.words import genitive

_ADMIN_ONLY = "Nur die Administration pflegt Gremien, Personen und Mitgliedschaften."


def _body(session: Session, body_id: int) -> Body:
    body = session.get(Body, body_id)
    if body is None:
        raise Invalid("Eingaben bitte prüfen.", {"body_id": ["Unbekannte Körperschaft."]})
    return body


def _changes(row: Any, values: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Apply ``values`` to ``row``; return {field: {"old": …, "new": …}} of what changed."""
    changed = {}
    for key, value in values.items():
        old = getattr(row, key)
        if old != value:
            changed[key] = {"old": _plain(old), "new": _plain(value)}
            setattr(row, key, value)
    return changed


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def _gremium(session: Session, organization_id: int) -> Organization:
    org = session.get(Organization, organization_id) if 0 < organization_id <= MAX_ID else None
    if org is None or org.organization_type != "Gremium":
        raise NotFound("Dieses Gremium gibt es nicht.")
    return org


# ----------------------------------------------------------------------------- Gremien

def create_gremium(session: Session, actor: Actor, data: dict[str, Any]) -> Organization:
    require_admin(actor, _ADMIN_ONLY)
    values = load(GremiumIn(), data)
    _body(session, values["body_id"])
    if session.exec(select(Organization.id).where(Organization.body_id == values["body_id"],
                                                  Organization.name == values["name"])).first():
        raise Invalid("Eingaben bitte prüfen.", {"name": [f"Das Gremium {values['name']} gibt es schon."]})
    org = Organization(organization_type="Gremium", **values)
    session.add(org)
    session.flush()
    audit.record(session, actor.username, actor.display_name, "organization.created", details={
        "organization_id": org.id, **{k: _plain(v) for k, v in values.items()}})
    return org


def update_gremium(session: Session, actor: Actor, organization_id: int,
                   data: dict[str, Any]) -> Organization:
    require_admin(actor, _ADMIN_ONLY)
    org = _gremium(session, organization_id)
    if org.name_genitive is None and str(data.get("name_genitive") or "").strip() == genitive(org.name):
        data = {**data, "name_genitive": ""}  # the form showed the derived form: still derived
    _update(session, actor, org, GremiumIn(), data, "organization.changed", "organization_id")
    return org


def _update(session: Session, actor: Actor, row: Any, schema: Any, data: dict[str, Any], action: str,
            id_key: str) -> None:
    """Apply a form to a row of the body it belongs to; audit what changed (old → new)."""
    values = load(schema, {"body_id": row.body_id, **data})
    values.pop("body_id")
    changed = _changes(row, values)
    if changed:
        session.add(row)
        session.flush()
        audit.record(session, actor.username, actor.display_name, action, details={
            id_key: row.id, "changes": changed})


# ----------------------------------------------------------------------------- persons

def create_person(session: Session, actor: Actor, data: dict[str, Any]) -> Person:
    require_admin(actor, _ADMIN_ONLY)
    values = load(PersonIn(), data)
    _body(session, values["body_id"])
    person = Person(**values)
    session.add(person)
    session.flush()
    audit.record(session, actor.username, actor.display_name, "person.created", details={
        "person_id": person.id, **{k: _plain(v) for k, v in values.items()}})
    return person


def update_person(session: Session, actor: Actor, person_id: int, data: dict[str, Any]) -> Person:
    require_admin(actor, _ADMIN_ONLY)
    person = session.get(Person, person_id) if 0 < person_id <= MAX_ID else None
    if person is None:
        raise NotFound("Diese Person gibt es nicht.")
    _update(session, actor, person, PersonIn(), data, "person.changed", "person_id")
    return person


# ----------------------------------------------------------------------------- memberships

def add_membership(session: Session, actor: Actor, organization_id: int, data: dict[str, Any],
                   now: datetime | None = None) -> Membership:
    require_admin(actor, _ADMIN_ONLY)
    org = _gremium(session, organization_id)
    values = load(MembershipIn(), data)
    person = session.get(Person, values["person_id"])
    if person is None:
        raise Invalid("Eingaben bitte prüfen.", {"person_id": ["Unbekannte Person."]})
    overlapping = session.exec(select(Membership).where(
        Membership.person_id == person.id, Membership.organization_id == org.id,
        Membership.role == values["role"])).all()
    for other in overlapping:
        starts_before_other_ends = values["start_date"] is None or other.end_date is None \
            or other.end_date >= values["start_date"]
        ends_after_other_starts = values["end_date"] is None or other.start_date is None \
            or values["end_date"] >= other.start_date
        if starts_before_other_ends and ends_after_other_starts:
            raise Conflict(f"{person.name} ist in dieser Zeit schon {values['role']} in {org.name}.")
    assert org.id is not None
    membership = Membership(organization_id=org.id, **values)
    session.add(membership)
    session.flush()
    audit.record(session, actor.username, actor.display_name, "membership.created", details={
        "membership_id": membership.id, "gremium": org.name, "person": person.name,
        **{k: _plain(v) for k, v in values.items()}})
    reminders.plan_organization(session, org.id, now or utcnow())
    return membership


def end_membership(session: Session, actor: Actor, membership_id: int, data: dict[str, Any],
                   now: datetime | None = None) -> Membership:
    require_admin(actor, _ADMIN_ONLY)
    membership = session.get(Membership, membership_id) if 0 < membership_id <= MAX_ID else None
    if membership is None:
        raise NotFound("Diese Mitgliedschaft gibt es nicht.")
    values = load(EndMembershipIn(), data)
    if membership.start_date is not None and values["end_date"] < membership.start_date:
        raise Invalid("Eingaben bitte prüfen.", {"end_date": ["Das Ende liegt vor dem Beginn."]})
    old = membership.end_date
    membership.end_date = values["end_date"]
    session.add(membership)
    session.flush()
    org = session.get(Organization, membership.organization_id)
    person = session.get(Person, membership.person_id)
    audit.record(session, actor.username, actor.display_name, "membership.ended", details={
        "membership_id": membership.id, "gremium": org.name if org else None,
        "person": person.name if person else None,
        "changes": {"end_date": {"old": _plain(old), "new": _plain(values["end_date"])}}})
    reminders.plan_organization(session, membership.organization_id, now or utcnow())
    return membership


def memberships_of(session: Session, organization_id: int) -> list[tuple[Membership, Person]]:
    return [(m, p) for m, p in session.exec(
        select(Membership, Person).join(Person, col(Person.id) == Membership.person_id)
        .where(Membership.organization_id == organization_id)
        .order_by(col(Membership.end_date).is_not(None), col(Person.family_name), col(Person.given_name)))]


# ----------------------------------------------------------------------------- reminder rules

_ANCHORS = {reminders.AUDIENCE_MEMBERS: {reminders.KIND_SESSION},
            reminders.AUDIENCE_SECRETARIAT: {reminders.KIND_AGENDA_CLOSING, reminders.KIND_INVITATION_DUE}}
MAX_LEAD_DAYS = 90


def set_reminder_rules(session: Session, actor: Actor, organization_id: int | None,
                       rules: list[dict[str, Any]], now: datetime | None = None) -> list[reminders.Rule]:
    """The reminder lead times of one Gremium (``None``: the default of all Gremien without
    rules of their own). Each rule: audience, anchor, lead in days (whole or half days) or hours."""
    require_admin(actor, _ADMIN_ONLY)
    org = _gremium(session, organization_id) if organization_id is not None else None
    errors: dict[str, list[str]] = {}
    new: list[reminders.Rule] = []
    for i, rule in enumerate(rules):
        audience, anchor = rule.get("audience"), rule.get("anchor")
        if audience not in _ANCHORS or anchor not in _ANCHORS[audience]:
            errors[f"rules.{i}.anchor"] = ["Unbekannte Art der Erinnerung."]
            continue
        try:
            minutes = round(float(str(rule.get("days", "")).replace(",", ".")) * reminders.DAY)
        except ValueError:
            errors[f"rules.{i}.days"] = ["Bitte eine Zahl von Tagen angeben (z. B. 7 oder 0,5)."]
            continue
        if not 60 <= minutes <= MAX_LEAD_DAYS * reminders.DAY:
            errors[f"rules.{i}.days"] = [f"Zwischen einer Stunde und {MAX_LEAD_DAYS} Tagen."]
            continue
        one = reminders.Rule(audience, anchor, minutes)
        if one not in new:
            new.append(one)
    if errors:
        raise Invalid("Eingaben bitte prüfen.", errors)
    old = reminders.rules_for(session, organization_id) if organization_id is not None else \
        _stored_defaults(session)
    condition = (col(reminders.ReminderRule.organization_id) == organization_id if organization_id is not None
                 else col(reminders.ReminderRule.organization_id).is_(None))
    for row in session.exec(select(reminders.ReminderRule).where(condition)):
        session.delete(row)
    session.flush()
    for one in new:
        session.add(reminders.ReminderRule(organization_id=organization_id, audience=one.audience,
                                           anchor=one.anchor, lead_minutes=one.lead_minutes))
    session.flush()
    audit.record(session, actor.username, actor.display_name, "reminder_rules.changed", details={
        "organization_id": organization_id, "gremium": org.name if org else "alle (Vorgabe)",
        "old": [_rule_label(r) for r in old], "new": [_rule_label(r) for r in new]})
    at = now or utcnow()
    targets = [organization_id] if organization_id is not None else [
        o for o in session.exec(select(Organization.id).where(Organization.organization_type == "Gremium"))
        if o is not None]
    for target in targets:
        reminders.plan_organization(session, target, at)
    return new


def _stored_defaults(session: Session) -> list[reminders.Rule]:
    rows = session.exec(select(reminders.ReminderRule).where(
        col(reminders.ReminderRule.organization_id).is_(None))).all()
    stored = [reminders.Rule(r.audience, r.anchor, r.lead_minutes) for r in rows]
    return stored or list(reminders.DEFAULT_RULES)


def own_rules(session: Session, organization_id: int) -> bool:
    return session.exec(select(reminders.ReminderRule.id).where(
        reminders.ReminderRule.organization_id == organization_id)).first() is not None


def _rule_label(rule: reminders.Rule) -> str:
    """In words: "Mitglieder: 7 Tage vor der Sitzung"."""
    audience = reminders.AUDIENCE_NAMES.get(rule.audience, rule.audience)
    anchor = reminders.ANCHOR_NAMES.get(rule.anchor, rule.anchor)
    return f"{audience}: {reminders.lead_label(rule.lead_minutes)} {anchor}"
