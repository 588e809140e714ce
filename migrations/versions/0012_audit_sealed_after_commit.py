"""audit chain sealed after commit: writers append, one sealer hashes

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 08:30:00

Writers no longer lock ``audit_head``: an event is appended with its number and no hash
(PostgreSQL: ``audit_next_seq()``, a sequence started after the newest event), and
``engine.audit.seal`` hashes it into the chain after the commit. So ``prev_hash`` and ``hash``
may be NULL (not yet sealed), ``prev_seq`` names the event a sealed one follows (a gap left by
a rolled-back number is not a removed event), and the head keeps the sealer's horizon for a
gap (``horizon_seq``, ``horizon_xmax``). The append-only triggers let exactly the seal through
(an event without hash gets its hashes; nothing it was written with changes). On SQLite the
table is rebuilt to drop NOT NULL (batch mode), and the triggers are installed again after it.
The auditors' search of a period gets its indexes with the sequence number in them:
(action, at, seq) and (at, seq) replace (action, at) and (at).
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401
from alembic import op

from engine.audit import APPEND_ONLY_0005, APPEND_ONLY_DROP, NEXT_SEQ_PG
from engine.audit import APPEND_ONLY_0012 as APPEND_ONLY

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _run(statements: list[str]) -> None:
    for statement in statements:
        op.execute(statement)


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    _run(APPEND_ONLY_DROP[dialect])
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('prev_seq', sa.Integer(), nullable=True))
        batch_op.alter_column('prev_hash', existing_type=sqlmodel.sql.sqltypes.AutoString(), nullable=True)
        batch_op.alter_column('hash', existing_type=sqlmodel.sql.sqltypes.AutoString(), nullable=True)
    op.add_column('audit_head', sa.Column('horizon_seq', sa.Integer(), nullable=True))
    op.add_column('audit_head', sa.Column('horizon_xmax', sa.BigInteger(), nullable=True))
    if dialect == 'postgresql':
        op.execute("CREATE SEQUENCE audit_event_seq AS integer OWNED BY audit_event.seq")
        op.execute("SELECT setval('audit_event_seq', COALESCE((SELECT max(seq) FROM audit_event), 0) + 1, false)")
        op.execute(NEXT_SEQ_PG)
        op.execute("ALTER TABLE audit_event ALTER COLUMN seq SET DEFAULT audit_next_seq()")
    _run(APPEND_ONLY[dialect])
    # The auditors' search of a period: the numbers in the index (engine.audit_history.page_query).
    op.drop_index('ix_audit_event_action_at', table_name='audit_event')
    op.create_index('ix_audit_event_action_at_seq', 'audit_event', ['action', 'at', 'seq'], unique=False)
    op.drop_index('ix_audit_event_at', table_name='audit_event')
    op.create_index('ix_audit_event_at_seq', 'audit_event', ['at', 'seq'], unique=False)


def downgrade() -> None:
    """Only before any event was appended unsealed: the old schema has no room for one."""
    dialect = op.get_bind().dialect.name
    op.drop_index('ix_audit_event_at_seq', table_name='audit_event')
    op.create_index('ix_audit_event_at', 'audit_event', ['at'], unique=False)
    op.drop_index('ix_audit_event_action_at_seq', table_name='audit_event')
    op.create_index('ix_audit_event_action_at', 'audit_event', ['action', 'at'], unique=False)
    _run(APPEND_ONLY_DROP[dialect])
    if dialect == 'postgresql':
        op.execute("ALTER TABLE audit_event ALTER COLUMN seq DROP DEFAULT")
        op.execute("DROP FUNCTION IF EXISTS audit_next_seq()")
        op.execute("DROP SEQUENCE IF EXISTS audit_event_seq")
    op.drop_column('audit_head', 'horizon_xmax')
    op.drop_column('audit_head', 'horizon_seq')
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.alter_column('hash', existing_type=sqlmodel.sql.sqltypes.AutoString(), nullable=False)
        batch_op.alter_column('prev_hash', existing_type=sqlmodel.sql.sqltypes.AutoString(), nullable=False)
        batch_op.drop_column('prev_seq')
    _run(APPEND_ONLY_0005[dialect])
