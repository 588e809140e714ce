"""oparl tombstones; created and modified of consultation and membership

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 10:00:00

The OParl server (engine/oparl/server.py) lists objects that left the public as ``deleted: true``
(tombstones) and filters every list by ``created``/``modified``: Beratungen and
Mitgliedschaften get those two columns. Plain ADD COLUMN (no table rebuild on SQLite): a
constant server default for the rows already there, then the values of their Vorlage or
person.
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate emits sqlmodel.sql.sqltypes.AutoString)
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_EPOCH = sa.text("'2000-01-01 00:00:00'")


def upgrade() -> None:
    op.create_table('oparl_tombstone',
    sa.Column('object_type', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('object_id', sa.Integer(), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('object_type', 'object_id', name='pk_oparl_tombstone')
    )
    op.create_index(op.f('ix_oparl_tombstone_deleted_at'), 'oparl_tombstone', ['deleted_at'], unique=False)

    for table in ('consultation', 'membership'):
        op.add_column(table, sa.Column('created', sa.DateTime(timezone=True), nullable=False,
                                       server_default=_EPOCH))
        op.add_column(table, sa.Column('modified', sa.DateTime(timezone=True), nullable=False,
                                       server_default=_EPOCH))
    op.execute("UPDATE consultation SET created = (SELECT p.created FROM paper p WHERE p.id = consultation.paper_id), "
               "modified = (SELECT p.modified FROM paper p WHERE p.id = consultation.paper_id)")
    op.execute("UPDATE membership SET created = (SELECT p.created FROM person p WHERE p.id = membership.person_id), "
               "modified = (SELECT p.modified FROM person p WHERE p.id = membership.person_id)")


def downgrade() -> None:
    for table in ('membership', 'consultation'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column('modified')
            batch_op.drop_column('created')
    op.drop_index(op.f('ix_oparl_tombstone_deleted_at'), table_name='oparl_tombstone')
    op.drop_table('oparl_tombstone')
