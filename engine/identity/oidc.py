"""Accounts of an OpenID provider: found by (issuer, subject), created at the first login, their
roles and Gremium grants mapped from the provider's groups claim at every login.

The groups a provider sends (``RATSFLOW_OIDC_<NAME>_ROLES_CLAIM``, default ``groups``):

==========================  =====================================================================
``admin``                   Administration
``revision``                Revision
``sekretariat:<Kurzname>``  Sekretariat of the Gremium with that short name (case-insensitive)
``sachbearbeitung``         Sachbearbeitung (every Verwaltungsbereich, as the demo's local clerk)
``sachbearbeitung:<Name>``  Sachbearbeitung of one Verwaltungsbereich (short name, else its name)
==========================  =====================================================================

Anything else (an unknown group, an unknown Kurzname, ``mitglied:…``) grants nothing and is
logged. Members are Persons with Memberships (with dates and voting right) kept in the Gremium
pages, not rights: a member's account is linked to her Person by a verified e-mail address.

The mapped set *replaces* the account's grants, so a group removed at the provider loses its
rights at the next login; each change is audited with the old and the new set.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from engine import audit
from engine.accounts import grant_label
from engine.council import (
    ROLE_ADMIN,
    ROLE_AUDITOR,
    ROLE_CLERK,
    ROLE_SECRETARIAT,
    Account,
    Grant,
    Organization,
    Person,
)

log = logging.getLogger(__name__)

GREMIUM = "Gremium"
VERWALTUNGSBEREICH = "Verwaltungsbereich"


class IdentityRefused(Exception):
    """The provider's answer names nobody this app can log in (no subject, a disabled account)."""


@dataclass(frozen=True)
class Identity:
    """What the validated ID token (and userinfo) say about the user."""

    issuer: str
    subject: str
    username: str | None
    display_name: str | None
    email: str | None
    email_verified: bool
    groups: tuple[str, ...]


@dataclass(frozen=True)
class SignIn:
    account: Account
    created: bool
    #: The grants before and after this login, as audited ("Sekretariat: AWSG").
    old_grants: tuple[str, ...]
    new_grants: tuple[str, ...]
    ignored_groups: tuple[str, ...]


def claim_values(claims: Mapping[str, Any], path: str) -> tuple[str, ...]:
    """The strings under ``path`` (``groups``, or ``realm_access.roles``): a list or one string.

    A Keycloak group with "full path" on arrives as ``/sekretariat:AWSG``: the slash is dropped.
    """
    value: Any = claims
    for part in path.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return ()
    return tuple(v.strip().lstrip("/") for v in value if isinstance(v, str) and v.strip())


def identity_from_claims(issuer: str, claims: Mapping[str, Any], roles_claim: str) -> Identity:
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject or len(subject) > 255:
        raise IdentityRefused("the ID token has no usable subject (sub)")

    def text(key: str) -> str | None:
        value = claims.get(key)
        return value.strip()[:200] if isinstance(value, str) and value.strip() else None

    return Identity(issuer=issuer, subject=subject, username=text("preferred_username"),
                    display_name=text("name"), email=text("email"),
                    email_verified=claims.get("email_verified") is True,
                    groups=claim_values(claims, roles_claim))


def map_groups(session: Session, groups: Iterable[str]) -> tuple[set[tuple[str, int | None]], list[str]]:
    """The grants the groups confer, and the groups that conferred nothing."""
    organizations = session.exec(select(Organization)).all()

    def find(key: str, kind: str) -> Organization | None:
        key = key.strip().casefold()
        matches = [o for o in organizations if o.organization_type == kind
                   and (o.short_name or "").casefold() == key]
        if not matches and kind == VERWALTUNGSBEREICH:  # the demo's departments have no short name
            matches = [o for o in organizations if o.organization_type == kind and o.name.casefold() == key]
        return matches[0] if len(matches) == 1 else None

    grants: set[tuple[str, int | None]] = set()
    ignored: list[str] = []
    for group in groups:
        kind, _, key = group.partition(":")
        kind = kind.strip().casefold()
        org: Organization | None = None
        if not key and kind == "admin":
            grants.add((ROLE_ADMIN, None))
        elif not key and kind == "revision":
            grants.add((ROLE_AUDITOR, None))
        elif not key and kind == "sachbearbeitung":
            grants.add((ROLE_CLERK, None))
        elif key and kind == "sekretariat" and (org := find(key, GREMIUM)) is not None:
            grants.add((ROLE_SECRETARIAT, org.id))
        elif key and kind == "sachbearbeitung" and (org := find(key, VERWALTUNGSBEREICH)) is not None:
            grants.add((ROLE_CLERK, org.id))
        else:
            ignored.append(group)
    return grants, ignored


def describe(session: Session, grants: Iterable[tuple[str, int | None]]) -> tuple[str, ...]:
    """Grants in words, as the admin page records them (``accounts.grant_label``)."""
    grants = list(grants)
    ids = {org for _, org in grants if org is not None}
    orgs = {o.id: o for o in session.exec(select(Organization).where(col(Organization.id).in_(ids)))} \
        if ids else {}
    return tuple(sorted(grant_label(role, orgs.get(org)) for role, org in grants))


def _unique_username(session: Session, wanted: str) -> str:
    base = re.sub(r"[^\w.@-]+", "-", wanted).strip("-")[:80] or "benutzer"
    taken = {u.casefold() for u in session.exec(
        select(Account.username).where(func.lower(col(Account.username)).startswith(base.casefold())))}
    candidate, n = base, 1
    while candidate.casefold() in taken:
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def _person_by_email(session: Session, email: str) -> int | None:
    """The one Person with this address that no account is linked to yet."""
    people = session.exec(select(Person.id).where(func.lower(col(Person.email)) == email.casefold())).all()
    if len(people) != 1:
        return None
    linked = session.exec(select(Account.id).where(Account.person_id == people[0])).first()
    return None if linked is not None else people[0]


def find_account(session: Session, issuer: str, subject: str) -> Account | None:
    return session.exec(select(Account).where(
        Account.identity_issuer == issuer, Account.identity_subject == subject)).first()


def sign_in(session: Session, identity: Identity, provider: str) -> SignIn:
    """The provider's user as an account with freshly mapped grants (created at the first login).

    Raises :class:`IdentityRefused` for a deactivated account (its grants stay as they are).
    """
    account = find_account(session, identity.issuer, identity.subject)
    created = account is None
    if account is None:
        wanted = identity.username or (identity.email or "").split("@")[0] or identity.subject
        account = Account(username=_unique_username(session, wanted), password_hash="",
                          identity_issuer=identity.issuer, identity_subject=identity.subject,
                          display_name=identity.display_name or identity.username or wanted,
                          email=identity.email)
        session.add(account)
        session.flush()
    elif not account.active:
        raise IdentityRefused(f"account {account.username!r} is deactivated")
    else:
        account.display_name = identity.display_name or account.display_name
        account.email = identity.email or account.email
    if account.person_id is None and identity.email and identity.email_verified:
        account.person_id = _person_by_email(session, identity.email)
    session.add(account)
    assert account.id is not None

    wanted_grants, ignored = map_groups(session, identity.groups)
    if ignored:
        log.warning("OpenID-Anmeldung %s (%s): Gruppen ohne Zuordnung ignoriert: %s",
                    account.username, provider, ", ".join(ignored))
    rows = session.exec(select(Grant).where(Grant.account_id == account.id)).all()
    current = {(g.role, g.organization_id) for g in rows}
    for row in rows:
        if (row.role, row.organization_id) not in wanted_grants:
            session.delete(row)
    for role, org in sorted(wanted_grants - current, key=lambda g: (g[0], g[1] or 0)):
        session.add(Grant(account_id=account.id, role=role, organization_id=org))
    session.flush()
    old, new = describe(session, current), describe(session, wanted_grants)
    if created or old != new:
        audit.record(session, account.username, account.display_name,
                     "account.created" if created else "account.grants_changed",
                     details={"provider": provider, "issuer": identity.issuer, "subject": identity.subject,
                              "old": list(old), "new": list(new), "ignored": ignored})
    return SignIn(account, created, old, new, tuple(ignored))
