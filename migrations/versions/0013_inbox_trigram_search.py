"""inbox: trigram indexes for the text filter (PostgreSQL)

Revision ID: 0013
Revises: 0011
Create Date: 2026-12-04 08:30:00

The inbox's ``q=`` is a substring of ``human_task.search_text`` (casefolded Aktenzeichen and
Betreff, ``LIKE '%…%'``). On PostgreSQL a GIN index of its trigrams (``pg_trgm``, a trusted
extension: the database owner may create it) over the open tasks, and one over the completed
ones, answer it without reading every open task of the Gremien or every task a secretary has
completed; the LIKE stays, so the rows found are the same. SQLite has nothing of the kind and
keeps reading the tasks (a council's inbox on SQLite is small).
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0013'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: One for the open tasks (the inbox's views), one for the completed (the done view); each
#: task version is in at most one of them.
INDEXES = [('ix_human_task_open_search', 'bereit'), ('ix_human_task_done_search', 'erledigt')]


def upgrade() -> None:
    if op.get_context().dialect.name != 'postgresql':
        return
    op.execute('CREATE EXTENSION IF NOT EXISTS pg_trgm')
    for name, status in INDEXES:
        op.create_index(name, 'human_task', ['search_text'], unique=False, postgresql_using='gin',
                        postgresql_ops={'search_text': 'gin_trgm_ops'},
                        postgresql_where=f"status = '{status}'")


def downgrade() -> None:
    if op.get_context().dialect.name != 'postgresql':
        return
    for name, status in INDEXES:
        op.drop_index(name, table_name='human_task', postgresql_where=f"status = '{status}'")
