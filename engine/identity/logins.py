"""Login sessions kept on the server: a session cookie is only a key to one of these rows.

A logged-out (or timed-out, or "everywhere" ended) session is dead however often its cookie is
replayed: the row says so. Only a hash of the key is stored, so the table gives nobody a login.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Text, bindparam, update
from sqlalchemy import select as sa_select
from sqlmodel import Field, Session, SQLModel, col, select

from engine.accounts import ACTOR_COLUMNS, Actor, actor_of
from engine.council import Account, Grant
from engine.types import created_column, table_of, utc_column

#: Why a session ended (shown on the account page).
ENDED_LOGOUT = "abgemeldet"
ENDED_EVERYWHERE = "überall abgemeldet"
ENDED_IDLE = "Zeitüberschreitung (inaktiv)"
ENDED_ABSOLUTE = "Zeitüberschreitung (Höchstdauer)"
ENDED_PASSWORD = "Passwort geändert"
ENDED_DISABLED = "Konto deaktiviert"


class LoginSession(SQLModel, table=True):
    __tablename__ = "login_session"

    id: int | None = Field(default=None, primary_key=True)
    key_hash: str = Field(unique=True, max_length=64)
    account_id: int = Field(foreign_key="account.id", index=True)
    #: "Passwort" or "OpenID Connect (<provider>)".
    method: str = Field(max_length=200)
    provider: str | None = Field(default=None, max_length=100)
    #: The provider's ID token, sent back as ``id_token_hint`` at RP-initiated logout.
    id_token: str | None = Field(default=None, sa_column=Column(Text))
    address: str = Field(default="", max_length=100)
    user_agent: str = Field(default="", max_length=300)
    created: dt.datetime | None = Field(default=None, sa_column=created_column())
    last_seen: dt.datetime = Field(sa_column=utc_column(nullable=False))
    ended: dt.datetime | None = Field(default=None, sa_column=utc_column())
    ended_reason: str | None = Field(default=None, max_length=100)


@dataclass(frozen=True)
class Timeouts:
    idle: dt.timedelta
    absolute: dt.timedelta


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def begin(session: Session, account_id: int, method: str, now: dt.datetime, *, provider: str | None = None,
          id_token: str | None = None, address: str = "", user_agent: str = "") -> str:
    """A new session; returns the key for the cookie (never stored)."""
    key = secrets.token_urlsafe(32)
    session.add(LoginSession(key_hash=_hash(key), account_id=account_id, method=method, provider=provider,
                             id_token=id_token, address=address[:100], user_agent=user_agent[:300],
                             created=now, last_seen=now))
    session.flush()
    return key


def find(session: Session, key: str) -> LoginSession | None:
    if not key or len(key) > 100:
        return None
    return session.exec(select(LoginSession).where(LoginSession.key_hash == _hash(key))).first()


def check(session: Session, key: str, now: dt.datetime, timeouts: Timeouts,
          touch_after: dt.timedelta = dt.timedelta(minutes=1)) -> LoginSession | None:
    """The live session of ``key``, or None (ended, unknown or timed out: then it is ended now).

    ``last_seen`` is written at most once a minute, so reading pages does not write on every request.
    """
    found = find(session, key)
    return check_row(session, found, now, timeouts, touch_after) if found is not None else None


def check_row(session: Session, row: LoginSession, now: dt.datetime, timeouts: Timeouts,
              touch_after: dt.timedelta = dt.timedelta(minutes=1)) -> LoginSession | None:
    """:func:`check` of a row already read."""
    if row.ended is not None:
        return None
    assert row.created is not None
    reason = None
    if now - row.created >= timeouts.absolute:
        reason = ENDED_ABSOLUTE
    elif now - row.last_seen >= timeouts.idle:
        reason = ENDED_IDLE
    if reason is not None:
        end(session, row, now, reason)
        return None
    if now - row.last_seen >= touch_after:
        row.last_seen = now
        session.add(row)
    return row


#: The longest key a cookie may carry (longer ones are refused unread).
MAX_KEY = 100


def key_hash(key: str) -> str:
    """What a login session's key is stored as."""
    return _hash(key)


@functools.cache
def _login_query() -> Any:
    """The statement of :func:`check_with_actor`, built once."""
    return (
        sa_select(LoginSession, *ACTOR_COLUMNS)
        .join(Account, col(Account.id) == LoginSession.account_id)
        .outerjoin(Grant, col(Grant.account_id) == Account.id)
        .where(col(LoginSession.key_hash) == bindparam("key_hash"))
    )


def check_with_actor(session: Session, key: str, now: dt.datetime, timeouts: Timeouts,
                     touch_after: dt.timedelta = dt.timedelta(minutes=1), rows: Sequence[Any] | None = None,
                     ) -> tuple[LoginSession | None, Actor | None]:
    """:func:`check` and the session's account with its grants, in one query (``rows``: that
    query's rows, read with something else: ``procedures.load_task_with_login``).

    The actor is None when the account is disabled (the login is then still returned, so
    the caller can end it)."""
    if not key or len(key) > MAX_KEY:
        return None, None
    if rows is None:
        rows = session.execute(_login_query(), {"key_hash": _hash(key)}).all()
    if not rows:
        return None, None
    row = check_row(session, rows[0][0], now, timeouts, touch_after)
    if row is None:
        return None, None
    return row, actor_of(rows)


def end(session: Session, row: LoginSession, now: dt.datetime, reason: str) -> None:
    row.ended, row.ended_reason = now, reason
    session.add(row)
    session.flush()


def end_all(session: Session, account_id: int, now: dt.datetime, reason: str,
            keep: int | None = None) -> int:
    """End every live session of an account (but ``keep``); returns how many."""
    stmt = (update(table_of(LoginSession))
            .where(col(LoginSession.account_id) == account_id, col(LoginSession.ended).is_(None))
            .values(ended=now, ended_reason=reason))
    if keep is not None:
        stmt = stmt.where(col(LoginSession.id) != keep)
    result = session.execute(stmt)
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def live(session: Session, account_id: int) -> list[LoginSession]:
    return list(session.exec(select(LoginSession).where(
        LoginSession.account_id == account_id, col(LoginSession.ended).is_(None))
        .order_by(col(LoginSession.created).desc())))
