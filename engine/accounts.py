"""Local accounts: password hashing and who may do what."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from sqlmodel import Session, col, select

from .council import ROLE_ADMIN, ROLE_AUDITOR, Account, Grant
from .errors import Forbidden

_N, _R, _P = 2**14, 8, 1


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${_N}${_R}${_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password_hash: str, password: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = password_hash.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    expected = base64.b64decode(digest)
    actual = hashlib.scrypt(
        password.encode(), salt=base64.b64decode(salt), n=int(n), r=int(r), p=int(p),
        dklen=len(expected),
    )
    return hmac.compare_digest(actual, expected)


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


def load_actor(session: Session, account_id: int) -> Actor | None:
    """The active account with its grants, in one query."""
    rows = session.exec(
        select(Account, Grant.role, Grant.organization_id)
        .outerjoin(Grant, col(Grant.account_id) == Account.id)
        .where(Account.id == account_id, Account.active == True)  # noqa: E712
    ).all()
    if not rows:
        return None
    account = rows[0][0]
    grants = frozenset((role, org) for _, role, org in rows if role is not None)
    assert account.id is not None
    return Actor(account.id, account.username, account.display_name, grants)


def authenticate(session: Session, username: str, password: str) -> Actor | None:
    account = session.exec(select(Account).where(Account.username == username)).first()
    if account is None or not account.active or not verify_password(account.password_hash, password):
        return None
    assert account.id is not None
    return load_actor(session, account.id)


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
        password_hash=hash_password(password),
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
