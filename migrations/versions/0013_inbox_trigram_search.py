"""inbox: trigram index for the text filter (PostgreSQL)

Revision ID: 0013
Revises: 0011
Create Date: 2026-12-04 08:30:00

The inbox's ``q=`` is a substring of ``human_task.search_text`` (casefolded Aktenzeichen and
Betreff, ``LIKE '%…%'``). On PostgreSQL a GIN index of its trigrams (``pg_trgm``, a trusted
extension: the database owner may create it) over the open tasks answers it without reading
every open task of the Gremien; the LIKE stays, so the rows found are the same. SQLite has
nothing of the kind and keeps reading the open tasks (a council's inbox on SQLite is small).
"""
from collections.abc import Sequence

from alembic import op

revision: str = '0013'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_context().dialect.name != 'postgresql':
        return
    op.execute('CREATE EXTENSION IF NOT EXISTS pg_trgm')
    op.create_index('ix_human_task_open_search', 'human_task', ['search_text'], unique=False,
                    postgresql_using='gin', postgresql_ops={'search_text': 'gin_trgm_ops'},
                    postgresql_where="status = 'bereit'")


def downgrade() -> None:
    if op.get_context().dialect.name != 'postgresql':
        return
    op.drop_index('ix_human_task_open_search', table_name='human_task',
                  postgresql_where="status = 'bereit'")
