"""Accounts kept by an admin (create, edit, grants, deactivate, set a password) and a user's own
password change. Every change is audited with its old and new values.

There is always one active admin: removing the last admin grant of an active account, or
deactivating the last active admin, is refused. The check runs after the change and after
``audit.record``, which locks the chain's head row: concurrent changes are serialised there, so
the recount sees what the other transaction committed (SQLite's write lock does the same).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from marshmallow import fields, validate
from sqlalchemy import func
from sqlmodel import Session, col, select

from engine import audit
from engine.accounts import (
    MIN_PASSWORD_LENGTH,
    Actor,
    change_password,
    grant_label,
    hash_password,
    require_admin,
)
from engine.council import (
    ROLE_ADMIN,
    ROLE_AUDITOR,
    ROLE_CLERK,
    ROLE_RELEASE,
    ROLE_SECRETARIAT,
    Account,
    Grant,
    Organization,
    Person,
)
from engine.errors import Conflict, Invalid, NotFound
from engine.identity import logins
from engine.schemas import MAX_ID, REQUIRED, _Base, _id, _name, load

_ADMIN_ONLY = "Nur die Administration pflegt Konten und Rollen."
#: The roles an admin grants, in the order the form offers them.
ROLES = (ROLE_ADMIN, ROLE_AUDITOR, ROLE_CLERK, ROLE_RELEASE, ROLE_SECRETARIAT)
USERNAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@-]*$"
LAST_ADMIN = "Es muss immer ein aktives Konto mit der Rolle Administration geben."


class AccountIn(_Base):
    display_name = _name("Der Name", required=True, max_length=200)
    email = fields.Email(load_default=None, validate=validate.Length(max=320),
                         error_messages={"invalid": "Bitte eine gültige E-Mail-Adresse angeben."})
    person_id = _id(required=False)


class NewAccountIn(AccountIn):
    username = fields.String(required=True, error_messages=REQUIRED, validate=[
        validate.Length(min=1, max=150, error="Zwischen 1 und 150 Zeichen."),
        validate.Regexp(USERNAME_PATTERN, error="Nur Buchstaben (ohne Umlaute), Ziffern und . _ @ -; "
                                                "am Anfang ein Buchstabe oder eine Ziffer.")])


class GrantIn(_Base):
    role = fields.String(required=True, validate=validate.OneOf(
        ROLES, error="Bitte eine der angebotenen Rollen wählen."), error_messages={
        **REQUIRED, "required": "Bitte eine Rolle wählen."})
    organization_id = _id(required=False)


# ----------------------------------------------------------------------------- reading

@dataclass(frozen=True)
class GrantRow:
    grant: Grant
    role: str
    organization: Organization | None

    @property
    def label(self) -> str:
        return grant_label(self.role, self.organization)


def grants_of(session: Session, account_ids: list[int]) -> dict[int, list[GrantRow]]:
    """Each account's grants with their Organization (one query), admin first."""
    if not account_ids:
        return {}
    found: dict[int, list[GrantRow]] = {i: [] for i in account_ids}
    for grant, org in session.exec(
            select(Grant, Organization).outerjoin(Organization, col(Organization.id) == Grant.organization_id)
            .where(col(Grant.account_id).in_(account_ids)).order_by(col(Grant.id))):
        found[grant.account_id].append(GrantRow(grant, grant.role, org))
    order = {role: i for i, role in enumerate(ROLES)}
    for rows in found.values():
        rows.sort(key=lambda r: (order.get(r.role, len(order)),
                                 r.organization.name if r.organization else ""))
    return found


def last_logins(session: Session) -> dict[int, datetime]:
    """The newest login (``LoginSession.created``) of each account."""
    account_id = col(logins.LoginSession.account_id)
    rows = session.exec(select(account_id, func.max(col(logins.LoginSession.created))).group_by(account_id))
    return {account: created for account, created in rows if created is not None}


def account_list(session: Session) -> list[dict[str, Any]]:
    accounts = list(session.exec(select(Account).order_by(func.lower(col(Account.username)))))
    ids = [a.id for a in accounts if a.id is not None]
    grants = grants_of(session, ids)
    persons = {p.id: p for p in session.exec(select(Person).where(
        col(Person.id).in_({a.person_id for a in accounts if a.person_id})))}
    last = last_logins(session)
    return [{"account": a, "grants": grants.get(a.id or 0, []), "person": persons.get(a.person_id),
             "last_login": last.get(a.id or 0)} for a in accounts]


def get_account(session: Session, account_id: int) -> Account:
    account = session.get(Account, account_id) if 0 < account_id <= MAX_ID else None
    if account is None:
        raise NotFound("Dieses Konto gibt es nicht.")
    return account


def is_oidc(account: Account) -> bool:
    return bool(account.identity_issuer)


# ----------------------------------------------------------------------------- helpers

def _person_id(session: Session, values: dict[str, Any]) -> None:
    person_id = values.get("person_id")
    if person_id is not None and session.get(Person, person_id) is None:
        raise Invalid("Eingaben bitte prüfen.", {"person_id": ["Unbekannte Person."]})


def _password_errors(password: str, repeated: str | None) -> dict[str, list[str]]:
    if len(password) < MIN_PASSWORD_LENGTH:
        return {"password": [f"Mindestens {MIN_PASSWORD_LENGTH} Zeichen."]}
    if len(password) > 1000:
        return {"password": ["Höchstens 1000 Zeichen."]}
    if repeated is not None and password != repeated:
        return {"repeated": ["Die Wiederholung stimmt nicht mit dem Passwort überein."]}
    return {}


def _labels(session: Session, account_id: int) -> list[str]:
    return [r.label for r in grants_of(session, [account_id])[account_id]]


def _check_an_admin_remains(session: Session) -> None:
    """Refuse (the caller's unit of work rolls back) when no active account is admin any more."""
    remaining = session.exec(select(func.count()).select_from(Grant).join(
        Account, col(Account.id) == Grant.account_id).where(
        Grant.role == ROLE_ADMIN, col(Grant.organization_id).is_(None), Account.active == True)).one()  # noqa: E712
    if not remaining:
        raise Conflict(LAST_ADMIN)


def _record(session: Session, actor: Actor, action: str, account: Account, at: datetime | None,
            **details: Any) -> None:
    audit.record(session, actor.username, actor.display_name, action, at=at, details={
        "account_id": account.id, "username": account.username, **details})


# ----------------------------------------------------------------------------- verbs

def create(session: Session, actor: Actor, data: dict[str, Any], now: datetime | None = None) -> Account:
    """A local account with an initial password (no grants yet)."""
    require_admin(actor, _ADMIN_ONLY)
    errors: dict[str, list[str]] = {}
    try:
        values = load(NewAccountIn(), data)
    except Invalid as exc:
        errors, values = dict(exc.errors), {}
    errors.update(_password_errors(str(data.get("password", "")), str(data.get("repeated", ""))))
    if "username" in values and session.exec(select(Account.id).where(
            func.lower(col(Account.username)) == values["username"].lower())).first() is not None:
        errors["username"] = [f"Den Benutzernamen {values['username']} gibt es schon."]
    if errors:
        raise Invalid("Eingaben bitte prüfen.", errors)
    _person_id(session, values)
    account = Account(username=values["username"], display_name=values["display_name"], email=values["email"],
                      person_id=values["person_id"], password_hash=hash_password(str(data["password"])))
    session.add(account)
    session.flush()
    _record(session, actor, "account.created", account, now, name=account.display_name,
            email=account.email, person_id=account.person_id)
    return account


def update(session: Session, actor: Actor, account_id: int, data: dict[str, Any],
           now: datetime | None = None) -> Account:
    """Name, e-mail and person of an account; audited field by field (old → new)."""
    require_admin(actor, _ADMIN_ONLY)
    account = get_account(session, account_id)
    values = load(AccountIn(), data)
    _person_id(session, values)
    changes = {}
    for key, value in values.items():
        old = getattr(account, key)
        if old != value:
            changes[key] = {"old": old, "new": value}
            setattr(account, key, value)
    if changes:
        session.add(account)
        session.flush()
        _record(session, actor, "account.changed", account, now, changes=changes)
    return account


def add_grant(session: Session, actor: Actor, account_id: int, data: dict[str, Any],
              now: datetime | None = None) -> Grant:
    """Administration and Revision for everything; Sachbearbeitung for one Verwaltungsbereich
    or all; Sekretariat for one Gremium (required)."""
    require_admin(actor, _ADMIN_ONLY)
    account = get_account(session, account_id)
    values = load(GrantIn(), data)
    role, org_id = values["role"], values["organization_id"]
    org = session.get(Organization, org_id) if org_id is not None else None
    if org_id is not None and org is None:
        raise Invalid("Eingaben bitte prüfen.", {"organization_id": ["Unbekannter Eintrag."]})
    if role in (ROLE_ADMIN, ROLE_AUDITOR) and org is not None:
        raise Invalid("Eingaben bitte prüfen.", {"organization_id": [
            f"{role} gilt für alles: bitte keinen Bereich wählen."]})
    if role == ROLE_CLERK and org is not None and org.organization_type != "Verwaltungsbereich":
        raise Invalid("Eingaben bitte prüfen.", {"organization_id": [
            "Sachbearbeitung gilt für einen Verwaltungsbereich (oder alle)."]})
    if role == ROLE_SECRETARIAT and (org is None or org.organization_type != "Gremium"):
        raise Invalid("Eingaben bitte prüfen.", {"organization_id": [
            "Das Sekretariat gehört zu einem Gremium: bitte das Gremium wählen."]})
    condition = (col(Grant.organization_id) == org_id if org_id is not None
                 else col(Grant.organization_id).is_(None))
    if session.exec(select(Grant.id).where(Grant.account_id == account.id, Grant.role == role,
                                           condition)).first() is not None:
        raise Invalid("Eingaben bitte prüfen.", {"role": [
            f"Das Konto hat die Rolle {grant_label(role, org)} schon."]})
    old = _labels(session, account_id)
    assert account.id is not None
    grant = Grant(account_id=account.id, role=role, organization_id=org_id)
    session.add(grant)
    session.flush()
    _record(session, actor, "grant.added", account, now, grant=grant_label(role, org), old=old,
            new=_labels(session, account_id))
    return grant


def remove_grant(session: Session, actor: Actor, grant_id: int, now: datetime | None = None) -> Account:
    require_admin(actor, _ADMIN_ONLY)
    grant = session.get(Grant, grant_id) if 0 < grant_id <= MAX_ID else None
    if grant is None:
        raise NotFound("Diese Rolle gibt es nicht.")
    account = get_account(session, grant.account_id)
    org = session.get(Organization, grant.organization_id) if grant.organization_id else None
    old = _labels(session, account.id or 0)
    session.delete(grant)
    session.flush()
    _record(session, actor, "grant.removed", account, now, grant=grant_label(grant.role, org), old=old,
            new=_labels(session, account.id or 0))
    _check_an_admin_remains(session)
    return account


def set_active(session: Session, actor: Actor, account_id: int, active: bool, now: datetime) -> int:
    """Deactivate (its sessions end at once) or activate an account; returns the sessions ended.
    Nobody deactivates their own account, and the last active admin stays."""
    require_admin(actor, _ADMIN_ONLY)
    account = get_account(session, account_id)
    if account.active == active:
        return 0
    if not active and account.id == actor.account_id:
        raise Conflict("Das eigene Konto kann nicht deaktiviert werden.")
    account.active = active
    session.add(account)
    session.flush()
    ended = 0 if active else logins.end_all(session, account_id, now, logins.ENDED_DISABLED)
    _record(session, actor, "account.enabled" if active else "account.disabled", account, now,
            changes={"active": {"old": not active, "new": active}}, sessions=ended)
    if not active:
        _check_an_admin_remains(session)
    return ended


def set_password(session: Session, actor: Actor, account_id: int, data: dict[str, Any], now: datetime,
                 keep: int | None = None) -> int:
    """An admin sets a new password for a local account; its sessions end (but ``keep``)."""
    require_admin(actor, _ADMIN_ONLY)
    account = get_account(session, account_id)
    if is_oidc(account):
        raise Invalid("Eingaben bitte prüfen.", {"password": [
            "Dieses Konto meldet sich über den OpenID-Anbieter an; es hat kein eigenes Passwort."]})
    password = str(data.get("password", ""))
    errors = _password_errors(password, str(data.get("repeated", "")))
    if errors:
        raise Invalid("Eingaben bitte prüfen.", errors)
    account.password_hash = hash_password(password)
    session.add(account)
    session.flush()
    ended = logins.end_all(session, account_id, now, logins.ENDED_PASSWORD, keep=keep)
    _record(session, actor, "account.password_set", account, now, sessions=ended)
    return ended


def change_own_password(session: Session, actor: Actor, data: dict[str, Any], now: datetime,
                        keep: int | None) -> int:
    """A user's own password change: the current password, the new one twice. Every other session
    of the account ends (``keep``: this one); returns how many."""
    account = get_account(session, actor.account_id)
    if not account.password_hash:
        raise Invalid("Das Passwort wurde nicht geändert.", {"current": [
            "Dieses Konto meldet sich über den OpenID-Anbieter an; es hat kein eigenes Passwort."]})
    new = str(data.get("new", ""))
    if len(new) > 1000:
        raise Invalid("Das Passwort wurde nicht geändert.", {"new": ["Höchstens 1000 Zeichen."]})
    change_password(session, account, str(data.get("current", "")), new, str(data.get("repeated", "")))
    ended = logins.end_all(session, actor.account_id, now, logins.ENDED_PASSWORD, keep=keep)
    _record(session, actor, "account.password_changed", account, now, sessions=ended)
    return ended
