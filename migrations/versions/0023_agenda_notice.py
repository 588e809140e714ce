"""the agenda as the members were last told it (invitation or Nachtrag)

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-04 21:00:00

Issue 19 point 5: ``agenda_notice`` holds, per invited Sitzung, the agenda as its members
received it (``sent``) and a changed one waiting to be told (``pending`` since
``pending_since``); the scheduler's sweep sends the Nachtrag (``engine.calendar.nachtrag``).
A new table: Sitzungen invited before it get their row at the next sweep (told nothing).
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0023'
down_revision: str | None = '0022'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'agenda_notice',
        sa.Column('meeting_id', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('sent', sa.JSON(), nullable=False),
        sa.Column('sent_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('pending', sa.JSON(), nullable=True),
        sa.Column('pending_since', sa.DateTime(timezone=True), nullable=True),
        sa.Column('batches', sa.Integer(), nullable=False),
        sa.Column('modified', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['meeting_id'], ['meeting.id']),
        sa.PrimaryKeyConstraint('meeting_id'),
    )


def downgrade() -> None:
    op.drop_table('agenda_notice')
