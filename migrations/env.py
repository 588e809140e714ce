"""Alembic environment: runs on the engine handed in by ``engine.db`` (or DATABASE_URL)."""

from alembic import context
from sqlmodel import SQLModel

import engine.allowance  # noqa: F401  (registers the tables on SQLModel.metadata)
import engine.attendance  # noqa: F401
import engine.audit  # noqa: F401
import engine.calendar.nachtrag  # noqa: F401
import engine.calendar.reminders  # noqa: F401
import engine.council  # noqa: F401
import engine.identity.logins  # noqa: F401
import engine.identity.tokens  # noqa: F401
import engine.minutes  # noqa: F401
import engine.oparl.importer  # noqa: F401
import engine.outbox  # noqa: F401
import engine.search  # noqa: F401
import engine.standins  # noqa: F401
import engine.tasks  # noqa: F401
import engine.workflow.models  # noqa: F401
from engine.db import exists_on, make_engine
from engine.settings import load_settings

target_metadata = SQLModel.metadata
config = context.config


def run_migrations_online() -> None:
    connectable = config.attributes.get("engine") or make_engine(load_settings().database_url)
    with connectable.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",  # SQLite ALTER via table copy
            compare_type=True,
            include_object=exists_on(connection.dialect.name),  # PostgreSQL-only indexes
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run against a database")
run_migrations_online()
