"""inbox: holders, due dates, comments, saved filters, deadline rules

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25

Task holders (claim, assign, delegate), due and follow-up dates, the inbox's keyset
indexes, comments, saved filters; each Gremium's deadline rules and the Body's Bundesland;
the release of a non-public item's result.
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate emits sqlmodel.sql.sqltypes.AutoString)
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('deadline_rule',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('organization_id', sa.Integer(), nullable=False),
    sa.Column('invitation_days', sa.Integer(), nullable=False),
    sa.Column('working_days', sa.Boolean(), nullable=False),
    sa.Column('count_session_day', sa.Boolean(), nullable=False),
    sa.Column('agenda_days_before', sa.Integer(), nullable=False),
    sa.Column('result_working_days', sa.Integer(), nullable=False),
    sa.Column('modified', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organization.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('organization_id')
    )
    op.create_table('saved_filter',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('query', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('account_id', 'name')
    )
    with op.batch_alter_table('saved_filter', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_saved_filter_account_id'), ['account_id'], unique=False)

    op.create_table('task_comment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('task_id', sa.Integer(), nullable=False),
    sa.Column('paper_id', sa.Integer(), nullable=True),
    sa.Column('author', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('author_name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('created', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['paper_id'], ['paper.id'], ),
    sa.ForeignKeyConstraint(['task_id'], ['human_task.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('task_comment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_task_comment_paper_id'), ['paper_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_task_comment_task_id'), ['task_id'], unique=False)

    with op.batch_alter_table('agenda_item', schema=None) as batch_op:
        batch_op.add_column(sa.Column('result_released', sa.Boolean(), nullable=False, server_default=sa.false()))

    with op.batch_alter_table('body', schema=None) as batch_op:
        batch_op.add_column(sa.Column('state', sqlmodel.sql.sqltypes.AutoString(), nullable=True))

    with op.batch_alter_table('human_task', schema=None) as batch_op:
        batch_op.add_column(sa.Column('assignee', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column('owner', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column('delegation', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column('due', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('follow_up', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('search_text', sa.Text(), nullable=False, server_default=''))
        batch_op.create_index('ix_human_task_done_by', ['completed_by', 'completed', 'id'], unique=False)
        batch_op.create_index('ix_human_task_open_assignee_due', ['assignee', 'due', 'id'], unique=False, postgresql_where=sa.text("status = 'bereit'"), sqlite_where=sa.text("status = 'bereit'"))
        batch_op.create_index('ix_human_task_open_org_created', ['organization_id', 'created', 'id'], unique=False, postgresql_where=sa.text("status = 'bereit'"), sqlite_where=sa.text("status = 'bereit'"))
        batch_op.create_index('ix_human_task_open_due', ['due', 'id'], unique=False, postgresql_where=sa.text("status = 'bereit'"), sqlite_where=sa.text("status = 'bereit'"))
        batch_op.create_index('ix_human_task_open_meeting_due', ['meeting_id', 'due', 'id'], unique=False, postgresql_where=sa.text("status = 'bereit'"), sqlite_where=sa.text("status = 'bereit'"))
        batch_op.create_index('ix_human_task_open_org_due', ['organization_id', 'due', 'id'], unique=False, postgresql_where=sa.text("status = 'bereit'"), sqlite_where=sa.text("status = 'bereit'"))



def downgrade() -> None:
    with op.batch_alter_table('human_task', schema=None) as batch_op:
        batch_op.drop_index('ix_human_task_open_meeting_due', postgresql_where=sa.text("status = 'bereit'"), sqlite_where=sa.text("status = 'bereit'"))
        batch_op.drop_index('ix_human_task_open_due', postgresql_where=sa.text("status = 'bereit'"), sqlite_where=sa.text("status = 'bereit'"))
        batch_op.drop_index('ix_human_task_open_org_due', postgresql_where=sa.text("status = 'bereit'"), sqlite_where=sa.text("status = 'bereit'"))
        batch_op.drop_index('ix_human_task_open_org_created', postgresql_where=sa.text("status = 'bereit'"), sqlite_where=sa.text("status = 'bereit'"))
        batch_op.drop_index('ix_human_task_open_assignee_due', postgresql_where=sa.text("status = 'bereit'"), sqlite_where=sa.text("status = 'bereit'"))
        batch_op.drop_index('ix_human_task_done_by')
        batch_op.drop_column('search_text')
        batch_op.drop_column('follow_up')
        batch_op.drop_column('due')
        batch_op.drop_column('delegation')
        batch_op.drop_column('owner')
        batch_op.drop_column('assignee')

    with op.batch_alter_table('body', schema=None) as batch_op:
        batch_op.drop_column('state')

    with op.batch_alter_table('agenda_item', schema=None) as batch_op:
        batch_op.drop_column('result_released')

    with op.batch_alter_table('task_comment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_task_comment_task_id'))
        batch_op.drop_index(batch_op.f('ix_task_comment_paper_id'))

    op.drop_table('task_comment')
    with op.batch_alter_table('saved_filter', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_saved_filter_account_id'))

    op.drop_table('saved_filter')
    op.drop_table('deadline_rule')
