"""session process and timers

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01

Every Sitzung runs its own process (``bpmn/sitzung.bpmn``): an instance names its meeting,
and stops with an incident when a model fails; every BPMN timer an instance waits for is a
row (``workflow_timer``); a Sitzung knows when its agenda closed and its minutes were released;
a reminder may be about a task (the holder of an overdue task).
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate emits sqlmodel.sql.sqltypes.AutoString)
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('workflow_timer',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('process_instance_id', sa.Integer(), nullable=False),
    sa.Column('spiff_task_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('bpmn_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('fired_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['process_instance_id'], ['process_instance.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('process_instance_id', 'spiff_task_id', 'due_at')
    )
    with op.batch_alter_table('workflow_timer', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_workflow_timer_process_instance_id'), ['process_instance_id'], unique=False)
        batch_op.create_index('ix_workflow_timer_waiting_due', ['due_at'], unique=False, sqlite_where=sa.text("status = 'wartend'"), postgresql_where=sa.text("status = 'wartend'"))

    with op.batch_alter_table('meeting', schema=None) as batch_op:
        batch_op.add_column(sa.Column('agenda_closed', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('minutes_released', sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table('process_instance', schema=None) as batch_op:
        batch_op.add_column(sa.Column('meeting_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('incident', sa.Text(), nullable=True))
        batch_op.create_index(batch_op.f('ix_process_instance_meeting_id'), ['meeting_id'], unique=False)
        batch_op.create_foreign_key('fk_process_instance_meeting_id', 'meeting', ['meeting_id'], ['id'])

    with op.batch_alter_table('reminder', schema=None) as batch_op:
        batch_op.add_column(sa.Column('task_id', sa.Integer(), nullable=True))
        batch_op.create_foreign_key('fk_reminder_task_id', 'human_task', ['task_id'], ['id'])



def downgrade() -> None:
    with op.batch_alter_table('reminder', schema=None) as batch_op:
        batch_op.drop_constraint('fk_reminder_task_id', type_='foreignkey')
        batch_op.drop_column('task_id')

    with op.batch_alter_table('process_instance', schema=None) as batch_op:
        batch_op.drop_constraint('fk_process_instance_meeting_id', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_process_instance_meeting_id'))
        batch_op.drop_column('incident')
        batch_op.drop_column('meeting_id')

    with op.batch_alter_table('meeting', schema=None) as batch_op:
        batch_op.drop_column('minutes_released')
        batch_op.drop_column('agenda_closed')

    with op.batch_alter_table('workflow_timer', schema=None) as batch_op:
        batch_op.drop_index('ix_workflow_timer_waiting_due', sqlite_where=sa.text("status = 'wartend'"), postgresql_where=sa.text("status = 'wartend'"))
        batch_op.drop_index(batch_op.f('ix_workflow_timer_process_instance_id'))

    op.drop_table('workflow_timer')
