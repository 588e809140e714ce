"""Personal API tokens: shown once, stored as a hash, with scopes, expiry and last use.

A token is ``rf_`` and 256 random bits (``secrets.token_urlsafe(32)``); only its SHA-256 is
stored (a fast hash suffices for that much randomness), with its first characters so a user
can tell tokens apart. A token acts as its account, never as more: each API route needs one
scope, and the account's roles apply on top. Creating and revoking a token is audited.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy import select as sa_select
from sqlmodel import Field, Session, SQLModel, col, select

from engine import audit
from engine.accounts import ACTOR_COLUMNS, Actor, actor_of, load_actor
from engine.council import ROLE_ADMIN, Account, Grant
from engine.errors import Forbidden, Invalid, NotFound
from engine.types import created_column, utc_column, utcnow

#: The scopes a token can carry, each with what it allows (the API's routes name one each).
SCOPES: dict[str, str] = {
    "papers:read": "Vorlagen mit Beratungsfolge lesen",
    "papers:write": "Den Lebenslauf einer Vorlage starten (Mitzeichnung, Freigabe, Beratungsfolge)",
    "meetings:read": "Sitzungen mit Tagesordnung, Gremien, Personen und Mitgliedschaften lesen",
    "tasks:read": "Aufgaben und Vorgänge lesen",
    "tasks:write": "Aufgaben übernehmen, zuweisen, kommentieren und erledigen",
    "audit:read": "Die Prozesshistorie eines Vorgangs lesen (Revision)",
    "reminders:read": "Die eigenen Erinnerungen lesen",
    "models:write": "Prozessmodelle prüfen und bereitstellen (Administration)",
}
PREFIX = "rf_"
#: How often ``last_used`` is written at most (a busy client does not write on every call).
LAST_USED_GRANULARITY = dt.timedelta(minutes=1)
MAX_DAYS = 3650
_EXPIRY = re.compile(r"^([0-9]{1,4})d?$")  # ASCII: int() reads "١" as 1


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_token"

    id: int | None = Field(default=None, primary_key=True)
    account_id: int = Field(foreign_key="account.id", index=True)
    name: str = Field(max_length=200)
    #: SHA-256 of the token (tokens are 256 random bits: a fast hash is enough).
    token_hash: str = Field(unique=True, max_length=64)
    #: The first characters, so a user can tell tokens apart ("rf_3kX9…").
    prefix: str = Field(max_length=20)
    #: Space-separated scopes: "tasks:read tasks:write".
    scopes: str = Field(max_length=500)
    created_by: str = Field(max_length=150)
    created: dt.datetime | None = Field(default=None, sa_column=created_column())
    expires: dt.datetime | None = Field(default=None, sa_column=utc_column())
    last_used: dt.datetime | None = Field(default=None, sa_column=utc_column())
    revoked: dt.datetime | None = Field(default=None, sa_column=utc_column())

    @property
    def scope_list(self) -> list[str]:
        return self.scopes.split()


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def parse_expiry(value: str | int | None, now: dt.datetime) -> dt.datetime | None:
    """``90d`` (or 90) days from now; None or "" or "0": never expires."""
    if value in (None, "", "0", 0):
        return None
    text = f"{value}d" if isinstance(value, int) else str(value).strip()
    match = _EXPIRY.match(text)
    if not match or not 0 < int(match.group(1)) <= MAX_DAYS:
        raise Invalid("Eingaben bitte prüfen.", {"expires": [
            f"Gültigkeit in Tagen angeben, z. B. 90d (höchstens {MAX_DAYS})."]})
    return now + dt.timedelta(days=int(match.group(1)))


def _check_scopes(scopes: Iterable[str]) -> list[str]:
    chosen = sorted(set(scopes))
    unknown = [s for s in chosen if s not in SCOPES]
    if unknown or not chosen:
        raise Invalid("Eingaben bitte prüfen.", {"scopes": [
            "Mindestens einen Bereich wählen: " + ", ".join(SCOPES) + "."
            + (f" Unbekannt: {', '.join(unknown)}." if unknown else "")]})
    return chosen


def _may_manage(actor: Actor, account_id: int) -> None:
    if actor.account_id != account_id and not actor.has_role(ROLE_ADMIN):
        raise Forbidden("Nur die Administration verwaltet die Zugänge anderer Konten.")


@dataclass(frozen=True)
class Created:
    token: ApiToken
    #: The token itself: shown once, never stored.
    plain: str


def create(session: Session, actor: Actor, account_id: int, name: str, scopes: Iterable[str],
           expires: dt.datetime | None, now: dt.datetime | None = None) -> Created:
    """A new token for ``account_id`` (one's own; an admin's for any account)."""
    now = now or utcnow()
    _may_manage(actor, account_id)
    account = session.get(Account, account_id)
    if account is None or not account.active:
        raise NotFound("Konto nicht gefunden.")
    name = (name or "").strip()
    if not name or len(name) > 200 or any(ord(c) < 32 for c in name):
        raise Invalid("Eingaben bitte prüfen.", {
            "name": ["Bitte einen Namen angeben (höchstens 200 Zeichen)."]})
    chosen = _check_scopes(scopes)
    if expires is not None and expires <= now:
        raise Invalid("Eingaben bitte prüfen.", {"expires": ["Das Ablaufdatum liegt in der Vergangenheit."]})
    plain = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(account_id=account_id, name=name, token_hash=_hash(plain), prefix=plain[:10],
                     scopes=" ".join(chosen), created_by=actor.username, created=now, expires=expires)
    session.add(token)
    session.flush()
    audit.record(session, actor.username, actor.display_name, "api_token.created", at=now, details={
        "token_id": token.id, "name": name, "account": account.username, "scopes": chosen,
        "expires": expires.isoformat() if expires else None, "prefix": token.prefix})
    return Created(token, plain)


def revoke(session: Session, actor: Actor, token_id: int, now: dt.datetime | None = None) -> ApiToken:
    """Revoke a token (one's own; an admin any). Revoking twice changes nothing more."""
    now = now or utcnow()
    token = session.get(ApiToken, token_id) if 0 < token_id < 2**31 else None
    if token is None:
        raise NotFound("Zugang nicht gefunden.")
    _may_manage(actor, token.account_id)
    if token.revoked is None:
        token.revoked = now
        session.add(token)
        account = session.get(Account, token.account_id)
        audit.record(session, actor.username, actor.display_name, "api_token.revoked", at=now, details={
            "token_id": token.id, "name": token.name, "account": account.username if account else None,
            "prefix": token.prefix})
    return token


def list_for(session: Session, account_id: int) -> list[ApiToken]:
    """An account's tokens, newest first (revoked and expired ones included, marked)."""
    return list(session.exec(select(ApiToken).where(ApiToken.account_id == account_id)
                             .order_by(col(ApiToken.id).desc())))


def list_all(session: Session) -> list[tuple[ApiToken, str]]:
    """Every account's tokens with the account's username (the admin's view)."""
    return [(t, u) for t, u in session.exec(
        select(ApiToken, Account.username).join(Account, col(Account.id) == ApiToken.account_id)
        .order_by(col(ApiToken.id).desc()))]


def is_valid(token: ApiToken, now: dt.datetime) -> bool:
    return token.revoked is None and (token.expires is None or token.expires > now)


def find(session: Session, plain: str) -> ApiToken | None:
    """The token row for a presented token, valid or not (None: unknown)."""
    if not plain.startswith(PREFIX) or len(plain) > 200:
        return None
    return session.exec(select(ApiToken).where(ApiToken.token_hash == _hash(plain))).first()


#: :func:`find_with_actor`'s statement, built once: the token, its account and its grants.
_TOKEN_QUERY = (
    sa_select(ApiToken, *ACTOR_COLUMNS)
    .join(Account, col(Account.id) == ApiToken.account_id)
    .outerjoin(Grant, col(Grant.account_id) == Account.id)
    .where(col(ApiToken.token_hash) == bindparam("token_hash"))
)


def plausible(plain: str) -> bool:
    """Whether ``plain`` may be a token at all (else it is refused unread)."""
    return plain.startswith(PREFIX) and len(plain) <= 200


def token_hash(plain: str) -> str:
    """What a token is stored as."""
    return _hash(plain)


def find_with_actor(session: Session, plain: str, rows: Sequence[Any] | None = None,
                    ) -> tuple[ApiToken | None, Actor | None]:
    """:func:`find` and the token's active account with its grants, in one query (the actor
    is None for an inactive account; ``rows``: that query's rows, read with something else:
    ``procedures.load_task_with_token``)."""
    if not plausible(plain):
        return None, None
    if rows is None:
        rows = session.execute(_TOKEN_QUERY, {"token_hash": _hash(plain)}).all()
    if not rows:
        return None, None
    return rows[0][0], actor_of(rows)


def needs_touch(token: ApiToken, now: dt.datetime) -> bool:
    return token.last_used is None or now - token.last_used >= LAST_USED_GRANULARITY


def record_use(session: Session, token_id: int, now: dt.datetime) -> None:
    """Record a use (at most once a minute; a reading request does it in a unit of work of
    its own, so its own transaction stays read-only)."""
    token = session.get(ApiToken, token_id)
    if token is not None and needs_touch(token, now):
        token.last_used = now
        session.add(token)
        session.flush()


def check(session: Session, plain: str, now: dt.datetime | None = None) -> tuple[ApiToken, Actor] | None:
    """The valid token and its account's actor; None: unknown, expired, revoked, or its
    account inactive. Does not write (see :func:`record_use`)."""
    now = now or utcnow()
    token = find(session, plain)
    if token is None or not is_valid(token, now):
        return None
    actor = load_actor(session, token.account_id)
    if actor is None:
        return None
    return token, actor
