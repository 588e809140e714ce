"""Dringlichkeitsentscheidung (GO NRW § 60) and Vertretung (stand-ins)

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-04 21:10:00

Issue 18, points 2 and 3: ``urgent_decision`` holds a Dringlichkeitsentscheidung of a Beratung
(who decided, why, what) and its Genehmigung in the Gremium's next session; ``stand_in`` a
period in which one account stands in for another. New tables only: nothing to fill in.
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0024'
down_revision: str | None = '0023'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'urgent_decision',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('consultation_id', sa.Integer(), nullable=False),
        sa.Column('paper_id', sa.Integer(), nullable=False),
        sa.Column('organization_id', sa.Integer(), nullable=False),
        sa.Column('head_id', sa.Integer(), nullable=False),
        sa.Column('head_name', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column('member_id', sa.Integer(), nullable=False),
        sa.Column('member_name', sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('result', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=False),
        sa.Column('resolution_text', sa.Text(), nullable=True),
        sa.Column('decided_on', sa.Date(), nullable=False),
        sa.Column('recorded_by', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column('approval', sqlmodel.sql.sqltypes.AutoString(length=30), nullable=True),
        sa.Column('approval_note', sa.Text(), nullable=True),
        sa.Column('approved_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['consultation_id'], ['consultation.id']),
        sa.ForeignKeyConstraint(['paper_id'], ['paper.id']),
        sa.ForeignKeyConstraint(['organization_id'], ['organization.id']),
        sa.ForeignKeyConstraint(['head_id'], ['person.id']),
        sa.ForeignKeyConstraint(['member_id'], ['person.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(op.f('ix_urgent_decision_consultation_id'), 'urgent_decision', ['consultation_id'],
                    unique=False)
    op.create_index(op.f('ix_urgent_decision_paper_id'), 'urgent_decision', ['paper_id'], unique=False)
    op.create_table(
        'stand_in',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('absent_id', sa.Integer(), nullable=False),
        sa.Column('substitute_id', sa.Integer(), nullable=False),
        sa.Column('starts', sa.Date(), nullable=False),
        sa.Column('ends', sa.Date(), nullable=False),
        sa.Column('note', sa.Text(), nullable=True),
        sa.Column('created', sa.DateTime(timezone=True), nullable=False),
        sa.Column('created_by', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('ended', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['absent_id'], ['account.id']),
        sa.ForeignKeyConstraint(['substitute_id'], ['account.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(op.f('ix_stand_in_absent_id'), 'stand_in', ['absent_id'], unique=False)
    op.create_index(op.f('ix_stand_in_substitute_id'), 'stand_in', ['substitute_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_stand_in_substitute_id'), table_name='stand_in')
    op.drop_index(op.f('ix_stand_in_absent_id'), table_name='stand_in')
    op.drop_table('stand_in')
    op.drop_index(op.f('ix_urgent_decision_paper_id'), table_name='urgent_decision')
    op.drop_index(op.f('ix_urgent_decision_consultation_id'), table_name='urgent_decision')
    op.drop_table('urgent_decision')
