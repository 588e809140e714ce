"""OParl import: the sources imported from, each imported object's origin URL and original JSON;
the original text of a Beratung's role and a TOP's result next to their normalised values.

Revision ID: 0009
Revises: 0008 (the OParl server's tombstones)
Create Date: 2026-12-01 14:52:32.530609
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate emits sqlmodel.sql.sqltypes.AutoString)
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('oparl_source',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('url', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('last_started', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_success', sa.DateTime(timezone=True), nullable=True),
    sa.Column('filters_ignored', sa.Boolean(), nullable=False),
    sa.Column('resume', sa.Text(), nullable=False),
    sa.Column('retry', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('url')
    )
    op.create_table('oparl_origin',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=False),
    sa.Column('object_type', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('object_id', sa.Integer(), nullable=True),
    sa.Column('origin_url', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('original', sa.Text(), nullable=False),
    sa.Column('modified', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['source_id'], ['oparl_source.id'], name='fk_oparl_origin_source_id'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('origin_url')
    )
    op.create_index('ix_oparl_origin_object', 'oparl_origin', ['object_type', 'object_id'], unique=False)
    op.create_index('ix_oparl_origin_source_id', 'oparl_origin', ['source_id'], unique=False)
    # Nullable columns: SQLite adds them without rebuilding the tables.
    op.add_column('agenda_item', sa.Column('result_text', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
    op.add_column('consultation', sa.Column('role_text', sqlmodel.sql.sqltypes.AutoString(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('consultation', schema=None) as batch_op:
        batch_op.drop_column('role_text')
    with op.batch_alter_table('agenda_item', schema=None) as batch_op:
        batch_op.drop_column('result_text')
    op.drop_index('ix_oparl_origin_source_id', table_name='oparl_origin')
    op.drop_index('ix_oparl_origin_object', table_name='oparl_origin')
    op.drop_table('oparl_origin')
    op.drop_table('oparl_source')
