"""Personal API tokens: shown once, stored as a hash, with scopes, expiry and last use."""

from __future__ import annotations

import datetime as dt

from sqlmodel import Field, SQLModel

from .types import created_column, utc_column


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
