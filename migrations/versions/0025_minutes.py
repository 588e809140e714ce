"""the Niederschrift as a document: versions, free parts, signatures, the released PDFs

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-04 21:00:00

Issue 19, point 4: ``minutes`` holds one row per version of a Sitzung's Niederschrift: the
secretary's free parts (opening, closing, a remark per TOP), its state (``entwurf`` →
``zur Zeichnung`` → ``freigegeben``; a released version is ``ersetzt`` by a correction), who
signed it (Schriftführung and Vorsitz) and when, the last return with its remark, the reason of
a correction, and the released PDFs (public and non-public part, frozen bytes). A new table:
nothing to fill in, existing Sitzungen keep ``meeting.minutes_released`` as it is.
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0025'
down_revision: str | None = '0024'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'minutes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('meeting_id', sa.Integer(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column('opening', sa.Text(), nullable=False),
        sa.Column('closing', sa.Text(), nullable=False),
        sa.Column('remarks', sa.JSON(), nullable=False),
        sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column('returned_remark', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=True),
        sa.Column('returned_by', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column('secretary_signed_by', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column('secretary_signed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('chair_signed_by', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column('chair_signed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('released_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('public_pdf', sa.LargeBinary(), nullable=True),
        sa.Column('nonpublic_pdf', sa.LargeBinary(), nullable=True),
        sa.Column('created', sa.DateTime(timezone=True), nullable=False),
        sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column('modified', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['meeting_id'], ['meeting.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('meeting_id', 'version'),
    )
    op.create_index(op.f('ix_minutes_meeting_id'), 'minutes', ['meeting_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_minutes_meeting_id'), table_name='minutes')
    op.drop_table('minutes')
