"""oparl_tombstone.created; outbox_message.list_unsubscribe

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-05 09:00:00

OParl 1.1 §2.8: a deleted object is served with ``id``, ``type``, ``created``, ``modified`` and
``deleted``; a tombstone keeps the ``created`` of its object (the object itself may be gone).
Tombstones written before: the ``created`` of their object where it still exists, else the
moment it was withdrawn (nothing better is known).

A reminder a member can switch off carries ``List-Unsubscribe`` (RFC 2369, one-click per RFC
8058): its signed link is kept with the message, so a message built again from its fields
(a retry after the admin's "erneut senden") still has it. Nullable, no default.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0018'
down_revision: str | None = '0017'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The tombstone's object type and the table of its objects.
_TABLES = {'paper': 'paper', 'consultation': 'consultation', 'file': 'file', 'agendaitem': 'agenda_item'}


def upgrade() -> None:
    op.add_column('oparl_tombstone', sa.Column('created', sa.DateTime(timezone=True), nullable=True))
    for kind, table in _TABLES.items():
        op.execute(f"UPDATE oparl_tombstone SET created = (SELECT o.created FROM {table} o "
                   f"WHERE o.id = oparl_tombstone.object_id) WHERE object_type = '{kind}'")
    op.execute("UPDATE oparl_tombstone SET created = deleted_at WHERE created IS NULL")
    with op.batch_alter_table('oparl_tombstone', schema=None) as batch_op:
        batch_op.alter_column('created', existing_type=sa.DateTime(timezone=True), nullable=False)
    op.add_column('outbox_message', sa.Column('list_unsubscribe', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('outbox_message', schema=None) as batch_op:
        batch_op.drop_column('list_unsubscribe')
    with op.batch_alter_table('oparl_tombstone', schema=None) as batch_op:
        batch_op.drop_column('created')
