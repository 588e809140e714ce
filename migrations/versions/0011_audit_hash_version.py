"""audit_event.hash_version: which fields an event's hash covers

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 06:30:00

Events written before this revision were hashed without ``actor_name`` (a changed name still
verified); they keep version 1 and verify by that formula. Every event written since carries
version 2, whose hash covers ``actor_name`` too (``engine.audit._digest``). An ADD COLUMN with
a default: no UPDATE of the append-only table, no table rebuild on SQLite. Downgrading would
leave version-2 events that verify by neither formula: do not downgrade past this revision
once events were written.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('audit_event', sa.Column('hash_version', sa.Integer(), nullable=False, server_default='1'))


def downgrade() -> None:
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.drop_column('hash_version')
