"""outbox_message.raw: a message encoded ahead of its moment

Revision ID: 0015
Revises: 0011
Create Date: 2026-12-04 08:30:00

The scheduler renders reminders due within its look-ahead window into the outbox before
their moment, each message encoded to the bytes that leave (every header but ``From``);
at the moment the dispatchers only send them. Nullable, no default: rows written before
are built from their fields when sent, as until now.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0015'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('outbox_message', sa.Column('raw', sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.drop_column('raw')
