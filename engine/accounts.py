"""Local accounts: password hashing and who may do what.

Passwords are hashed with argon2id (argon2-cffi) at OWASP's parameters (19 MiB, 2 passes, 1 lane:
about 70 ms here). Hashes from before (scrypt) still verify and are replaced by argon2id at the
next successful login. An unknown or disabled user name costs the same time as a wrong password:
a dummy hash is verified instead, so the answer's timing tells nobody which accounts exist.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from engine.council import (
    ROLE_ADMIN,
    ROLE_AUDITOR,
    ROLE_CLERK,
    ROLE_SECRETARIAT,
    Account,
    Grant,
    Organization,
)
from engine.errors import Forbidden, Invalid

_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1, type=Type.ID)
#: Verified when there is no account (or no local password), so that case costs the same.
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))
#: Shortest password accepted when one is set or changed.
MIN_PASSWORD_LENGTH = 10


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def _verify_scrypt(password_hash: str, password: str) -> bool:
    """The hashes of before argon2id: ``scrypt$n$r$p$salt$digest``."""
    try:
        scheme, n, r, p, salt, digest = password_hash.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r),
                                p=int(p), dklen=len(expected), maxmem=64 * 1024 * 1024)
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


def verify_password(password_hash: str, password: str) -> bool:
    if password_hash.startswith("scrypt$"):
        return _verify_scrypt(password_hash, password)
    try:
        return _HASHER.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True for scrypt hashes and argon2 hashes with weaker parameters than today's."""
    if not password_hash.startswith("$argon2"):
        return True
    try:
        return _HASHER.check_needs_rehash(password_hash)
    except InvalidHashError:
        return True


@dataclass(frozen=True)
class Actor:
    """Who acts in a unit of work: an account and its grants, loaded once."""

    account_id: int
    username: str
    display_name: str
    grants: frozenset[tuple[str, int | None]]

    def has_role(self, role: str, organization_id: int | None = None) -> bool:
        if (ROLE_ADMIN, None) in self.grants:
            return True
        return (role, None) in self.grants or (
            organization_id is not None and (role, organization_id) in self.grants
        )

    def organizations_for(self, role: str) -> set[int]:
        return {org for r, org in self.grants if r == role and org is not None}

    @property
    def is_admin(self) -> bool:
        return (ROLE_ADMIN, None) in self.grants


#: The columns :func:`actor_of` reads, after whatever a query selects before them (joined
#: from ``account`` with ``grant`` outer-joined: one row per grant).
ACTOR_COLUMNS = (col(Account.id), col(Account.username), col(Account.display_name), col(Account.active),
                 col(Grant.role), col(Grant.organization_id))


def actor_of(rows: Sequence[Any]) -> Actor | None:
    """The actor from rows ending in :data:`ACTOR_COLUMNS`; None for an inactive account."""
    account_id, username, display_name, active = rows[0][-6:-2]
    if not active:
        return None
    grants = frozenset((row[-2], row[-1]) for row in rows if row[-2] is not None)
    return Actor(account_id, username, display_name, grants)


def load_actor(session: Session, account_id: int) -> Actor | None:
    """The active account with its grants, in one query."""
    rows = session.execute(
        sa_select(*ACTOR_COLUMNS).outerjoin(Grant, col(Grant.account_id) == Account.id)
        .where(col(Account.id) == account_id)
    ).all()
    return actor_of(rows) if rows else None


def authenticate(session: Session, username: str, password: str) -> Actor | None:
    """The actor if user name and password fit. Every refusal costs one hash verification;
    a scrypt hash (or a weaker argon2 one) is replaced on success."""
    account = session.exec(select(Account).where(Account.username == username)).first() \
        if 0 < len(username) <= 150 else None
    if account is None or not account.active or not account.password_hash:
        verify_password(_DUMMY_HASH, password)
        return None
    if not verify_password(account.password_hash, password):
        return None
    if needs_rehash(account.password_hash):
        account.password_hash = hash_password(password)
        session.add(account)
        session.flush()
    assert account.id is not None
    return load_actor(session, account.id)


def change_password(session: Session, account: Account, current: str, new: str, repeated: str) -> None:
    """A local account's own password change; refused with the field that is wrong."""
    errors: dict[str, list[str]] = {}
    if not account.password_hash or not verify_password(account.password_hash, current):
        errors["current"] = ["Das bisherige Passwort stimmt nicht."]
    if len(new) < MIN_PASSWORD_LENGTH:
        errors["new"] = [f"Mindestens {MIN_PASSWORD_LENGTH} Zeichen."]
    elif new != repeated:
        errors["repeated"] = ["Die Wiederholung stimmt nicht mit dem neuen Passwort überein."]
    elif new == current:
        errors["new"] = ["Das neue Passwort muss sich vom bisherigen unterscheiden."]
    if errors:
        raise Invalid("Das Passwort wurde nicht geändert.", errors)
    account.password_hash = hash_password(new)
    session.add(account)
    session.flush()


def grant_label(role: str, organization: Organization | None) -> str:
    """A grant in words: "Sekretariat: Ausschuss für …", "Sachbearbeitung (alle Bereiche)"."""
    if organization is not None:
        return f"{role}: {organization.name}"
    if role in (ROLE_CLERK, ROLE_SECRETARIAT):
        return f"{role} (alle Bereiche)"
    return role


def require_admin(actor: Actor, message: str) -> None:
    """Admin-only verbs refuse everyone else with ``message``."""
    if not actor.has_role(ROLE_ADMIN):
        raise Forbidden(message)


def privileged_account(session: Session, username: str) -> Account | None:
    """The account if it is an admin's or an auditor's (their logins are audited)."""
    if not username or len(username) > 200:
        return None
    return session.exec(select(Account).join(Grant, col(Grant.account_id) == Account.id).where(
        Account.username == username, col(Grant.role).in_([ROLE_ADMIN, ROLE_AUDITOR]))).first()


def create_account(
    session: Session,
    username: str,
    password: str,
    display_name: str,
    grants: Sequence[tuple[str, int | None]] = (),
    person_id: int | None = None,
    email: str | None = None,
) -> Account:
    account = Account(
        username=username,
        password_hash=hash_password(password) if password else "",
        display_name=display_name,
        person_id=person_id,
        email=email,
    )
    session.add(account)
    session.flush()
    assert account.id is not None
    for role, organization_id in grants:
        session.add(Grant(account_id=account.id, role=role, organization_id=organization_id))
    session.flush()
    return account
