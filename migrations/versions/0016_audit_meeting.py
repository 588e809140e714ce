"""audit_event.meeting_id: the Sitzung an event is about, covered by the hash (version 3)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04 11:00:00

A moved Sitzung belongs in the history of every Vorlage on it, and the auditors' session
filter must find exactly that Sitzung's events (issue 22). Events written from now on name
their Sitzung in ``meeting_id`` and their hash covers it (``engine.audit``, hash version 3).
Events written before keep their hash; their column is filled here from their details'
``meeting_id`` (the only value ``verify`` accepts for them), under the triggers dropped for
that moment and installed again with ``meeting_id`` among the columns no UPDATE may change.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from engine.audit import APPEND_ONLY, APPEND_ONLY_0012, APPEND_ONLY_DROP

revision: str = '0016'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FILL = {
    "postgresql": "UPDATE audit_event SET meeting_id = (details->>'meeting_id')::integer "
                  "WHERE json_typeof(details->'meeting_id') = 'number' "
                  "AND (details->>'meeting_id') ~ '^[0-9]{1,9}$'",
    "sqlite": "UPDATE audit_event SET meeting_id = json_extract(details, '$.meeting_id') "
              "WHERE json_type(details, '$.meeting_id') = 'integer'",
}


def _run(statements: list[str]) -> None:
    for statement in statements:
        op.execute(statement)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    _run(APPEND_ONLY_DROP[dialect])
    op.add_column('audit_event', sa.Column('meeting_id', sa.Integer(), nullable=True))
    op.execute(_FILL[dialect])
    op.create_index('ix_audit_event_meeting_seq', 'audit_event', ['meeting_id', 'seq'], unique=False)
    _run(APPEND_ONLY[dialect])


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    _run(APPEND_ONLY_DROP[dialect])
    op.drop_index('ix_audit_event_meeting_seq', table_name='audit_event')
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.drop_column('meeting_id')
    _run(APPEND_ONLY_0012[dialect])
