"""Column types shared by all tables."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

from sqlalchemy import Column, DateTime, Dialect, Table
from sqlalchemy.types import TypeDecorator
from sqlmodel import SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


def ascii_int(text: str | None, max_digits: int = 10) -> int | None:
    """``text`` as a whole number when it is 1 to ``max_digits`` ASCII digits, else None.

    ``int()`` reads any Unicode decimal ("١" is 1, "１２" is 12) and raises on more than
    4,300 digits; ``str.isdigit`` is true for "²", which ``int()`` refuses."""
    if text is None or not 0 < len(text) <= max_digits or not text.isascii() or not text.isdigit():
        return None
    return int(text)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetimes, stored as UTC on every backend.

    SQLite has no time zone type; a naive value read back is UTC by construction.
    A naive value handed in is refused: that is how an hour gets lost (ARCHITECTURE.md).
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: store timezone-aware values only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def utc_column(nullable: bool = True, index: bool = False) -> Column[datetime]:
    return Column(UTCDateTime(), nullable=nullable, index=index)


def created_column() -> Column[datetime]:
    return Column(UTCDateTime(), nullable=False, default=utcnow)


def modified_column() -> Column[datetime]:
    return Column(UTCDateTime(), nullable=False, default=utcnow, onupdate=utcnow)


def table_of(model: type[SQLModel]) -> Table:
    """The Core table of a table model, for Core statements (``update(table_of(Paper))``).

    SQLAlchemy's declarative mapping sets ``__table__`` on the class at run time; SQLModel does
    not declare it, so this is the one place that states its type.
    """
    return cast(Table, model.__table__)  # type: ignore[attr-defined]
