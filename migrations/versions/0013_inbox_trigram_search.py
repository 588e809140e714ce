"""inbox: trigram indexes for the text filter (PostgreSQL)

Revision ID: 0013
Revises: 0011
Create Date: 2026-12-04 08:30:00

The inbox's ``q=`` is a substring of ``human_task.search_text`` (casefolded Aktenzeichen and
Betreff, ``LIKE '%…%'``). On PostgreSQL GIN indexes of its trigrams (``pg_trgm``) answer it
without reading every open task of the Gremien or every task a secretary has completed: one
over the open tasks that holds the Gremium too (``btree_gin``: "Gremium 3 and '%radweg%'" is
one index scan, not a trigram scan of all Gremien ANDed with a scan of the Gremium's 90,000
tasks of all time), one over the completed ones. The LIKE stays, so the rows found are the
same. Both extensions ship with PostgreSQL (contrib) and are trusted: the database owner may
create them. SQLite has nothing of the kind and keeps reading the tasks (a council's inbox on
SQLite is small).
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: One for the open tasks (the inbox's views), one for the completed (the done view); each
#: task version is in at most one of them.
INDEXES = [('ix_human_task_open_search', ['organization_id', 'search_text'], 'bereit'),
           ('ix_human_task_done_search', ['search_text'], 'erledigt')]


def upgrade() -> None:
    if op.get_context().dialect.name != 'postgresql':
        return
    op.execute('CREATE EXTENSION IF NOT EXISTS pg_trgm')
    op.execute('CREATE EXTENSION IF NOT EXISTS btree_gin')
    for name, columns, status in INDEXES:
        op.create_index(name, 'human_task', columns, unique=False, postgresql_using='gin',
                        postgresql_ops={'search_text': 'gin_trgm_ops'},
                        postgresql_where=f"status = '{status}'")


def downgrade() -> None:
    if op.get_context().dialect.name != 'postgresql':
        return
    for name, _columns, status in INDEXES:
        op.drop_index(name, table_name='human_task', postgresql_where=f"status = '{status}'")
