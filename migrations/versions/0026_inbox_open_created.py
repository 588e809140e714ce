"""the inbox's "Neueste zuerst" over all of an actor's Gremien: open tasks by creation

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-05 01:00:00

Issue 16, point 7: ``sort=created`` for an actor whose tasks are those of several Gremien or
lanes (the Vorsitz's own tasks come by a membership, not a grant) found no index in its order:
PostgreSQL read every open task and sorted them (66 ms p95 at 100,000 open). A partial index
``(created, id)`` over the open tasks lets it read in order and stop after a page, as the due
order does with ``ix_human_task_open_due``. An index only: no data changes.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0026'
down_revision: str | None = '0025'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OPEN = sa.text("status = 'bereit'")


def upgrade() -> None:
    with op.batch_alter_table('human_task', schema=None) as batch_op:
        batch_op.create_index('ix_human_task_open_created', ['created', 'id'], unique=False,
                              postgresql_where=_OPEN, sqlite_where=_OPEN)


def downgrade() -> None:
    with op.batch_alter_table('human_task', schema=None) as batch_op:
        batch_op.drop_index('ix_human_task_open_created', postgresql_where=_OPEN, sqlite_where=_OPEN)
