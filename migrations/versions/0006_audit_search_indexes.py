"""audit search indexes

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01

The auditors' search at a million events: one Vorlage's events newest first
(paper_id, seq), one event type's within a period (action, at). Plain CREATE INDEX (no batch
mode: on SQLite a table rebuild would drop the append-only triggers).
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index('ix_audit_event_action_at', 'audit_event', ['action', 'at'], unique=False)
    op.create_index('ix_audit_event_paper_seq', 'audit_event', ['paper_id', 'seq'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_audit_event_paper_seq', table_name='audit_event')
    op.drop_index('ix_audit_event_action_at', table_name='audit_event')
