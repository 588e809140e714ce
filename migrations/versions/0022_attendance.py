"""attendance, Befangenheit, roll-call votes, Sitzungsgeld; a session's opening and end, a TOP's time

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-04 17:00:00

Issue 19: who was at a Sitzung and when (``attendance``: members and stand-ins by person,
guests as free lines), who was excluded from a TOP for bias (``bias_declaration``), each
member's vote in a namentliche Abstimmung (``roll_call_vote``), each Gremium's Sitzungsgeld
(``allowance_rate``). ``meeting.opened``/``closed``: the session as it took place (NULL: its
attendance was not recorded – every existing Sitzung, whose results stay as they are);
``agenda_item.called_at``, ``repeat_call`` (GO NRW § 49 Abs. 2), ``vote_mode``. Nullable ADD
COLUMNs and new tables: no table rebuild on SQLite, nothing to fill in.
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0022'
down_revision: str | None = '0021'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('meeting', sa.Column('opened', sa.DateTime(timezone=True), nullable=True))
    op.add_column('meeting', sa.Column('closed', sa.DateTime(timezone=True), nullable=True))
    op.add_column('agenda_item', sa.Column('called_at', sa.DateTime(timezone=True), nullable=True))
    op.add_column('agenda_item', sa.Column('repeat_call', sqlmodel.sql.sqltypes.AutoString(length=500),
                                           nullable=True))
    op.add_column('agenda_item', sa.Column('vote_mode', sqlmodel.sql.sqltypes.AutoString(length=20),
                                           nullable=True))
    op.create_table(
        'attendance',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('meeting_id', sa.Integer(), nullable=False),
        sa.Column('person_id', sa.Integer(), nullable=True),
        sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column('arrived', sa.DateTime(timezone=True), nullable=True),
        sa.Column('left', sa.DateTime(timezone=True), nullable=True),
        sa.Column('stands_in_for_id', sa.Integer(), nullable=True),
        sa.Column('guest_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column('guest_role', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column('apology_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('apology_note', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column('modified', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['meeting_id'], ['meeting.id']),
        sa.ForeignKeyConstraint(['person_id'], ['person.id']),
        sa.ForeignKeyConstraint(['stands_in_for_id'], ['person.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('meeting_id', 'person_id'),
    )
    op.create_index(op.f('ix_attendance_meeting_id'), 'attendance', ['meeting_id'], unique=False)
    op.create_table(
        'bias_declaration',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('agenda_item_id', sa.Integer(), nullable=False),
        sa.Column('person_id', sa.Integer(), nullable=False),
        sa.Column('declared_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('declared_by', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column('by_member', sa.Boolean(), nullable=False),
        sa.Column('note', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.ForeignKeyConstraint(['agenda_item_id'], ['agenda_item.id']),
        sa.ForeignKeyConstraint(['person_id'], ['person.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('agenda_item_id', 'person_id'),
    )
    op.create_index(op.f('ix_bias_declaration_agenda_item_id'), 'bias_declaration', ['agenda_item_id'],
                    unique=False)
    op.create_table(
        'roll_call_vote',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('agenda_item_id', sa.Integer(), nullable=False),
        sa.Column('person_id', sa.Integer(), nullable=False),
        sa.Column('vote', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column('recorded', sa.DateTime(timezone=True), nullable=False),
        sa.Column('recorded_by', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.ForeignKeyConstraint(['agenda_item_id'], ['agenda_item.id']),
        sa.ForeignKeyConstraint(['person_id'], ['person.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('agenda_item_id', 'person_id'),
    )
    op.create_index(op.f('ix_roll_call_vote_agenda_item_id'), 'roll_call_vote', ['agenda_item_id'], unique=False)
    op.create_table(
        'allowance_rate',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('organization_id', sa.Integer(), nullable=False),
        sa.Column('valid_from', sa.Date(), nullable=False),
        sa.Column('amount_cents', sa.Integer(), nullable=False),
        sa.Column('set_by', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column('set_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['organization_id'], ['organization.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('organization_id', 'valid_from'),
    )
    op.create_index(op.f('ix_allowance_rate_organization_id'), 'allowance_rate', ['organization_id'],
                    unique=False)


def downgrade() -> None:
    for table in ('allowance_rate', 'roll_call_vote', 'bias_declaration', 'attendance'):
        op.drop_table(table)
    with op.batch_alter_table('agenda_item', schema=None) as batch_op:
        for column in ('vote_mode', 'repeat_call', 'called_at'):
            batch_op.drop_column(column)
    with op.batch_alter_table('meeting', schema=None) as batch_op:
        batch_op.drop_column('closed')
        batch_op.drop_column('opened')
