"""outbox_message.raw, meeting.rendered_ahead_until: messages encoded ahead of their moment

Revision ID: 0015
Revises: 0011
Create Date: 2026-12-04 08:30:00

The scheduler renders reminders due within its look-ahead window into the outbox before
their moment, each message encoded to the bytes that leave (every header but ``From``);
at the moment the dispatchers only send them. Nullable, no default: rows written before
are built from their fields when sent, as until now. ``meeting.rendered_ahead_until`` says
until when such messages of the Sitzung may wait, so that a change to it (an agenda item
added during a completion) looks for them only then, without a query otherwise.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0015'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('outbox_message', sa.Column('raw', sa.LargeBinary(), nullable=True))
    op.add_column('meeting', sa.Column('rendered_ahead_until', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.drop_column('raw')
    with op.batch_alter_table('meeting', schema=None) as batch_op:
        batch_op.drop_column('rendered_ahead_until')
