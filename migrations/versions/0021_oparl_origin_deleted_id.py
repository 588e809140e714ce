"""oparl_origin.deleted_id: the local id of an object its OParl source deleted

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-04 17:30:00

The importer removes an object the source marks ``deleted: true`` (OParl 1.1 §2.8) and our
OParl server serves a tombstone for it. An object the source un-deletes comes back under the id
it had, so that tombstone goes and its URL stays the same: the origin row keeps that id here.
NULL for every existing row (objects deleted before come back under a new id). A nullable ADD
COLUMN: no table rebuild on SQLite.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0021'
down_revision: str | None = '0020'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('oparl_origin', sa.Column('deleted_id', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('oparl_origin', schema=None) as batch_op:
        batch_op.drop_column('deleted_id')
