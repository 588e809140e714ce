"""agenda_item.position: a TOP's place in the agenda as the source gave it (OParl import)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 10:00:00

An imported agenda keeps its order: headings without a number ("ANTRÄGE", "ANFRAGEN") stand
where the source put them, not after every numbered TOP. NULL for TOPs made here (they go by
their number) and for TOPs imported before this revision (until their Sitzung changes at the
source). A nullable ADD COLUMN: no table rebuild on SQLite.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('agenda_item', sa.Column('position', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('agenda_item', schema=None) as batch_op:
        batch_op.drop_column('position')
