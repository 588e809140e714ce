"""search_paper: one index row per Vorlage for what a search matches, counts and ranks

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-04 17:10:00

A word found in nearly every Vorlage matched ~55,000 parts (``search_entry``) at a city's
14,000 Vorlagen, and grouping them per Vorlage cost most of the search's time
(``benchmarks/bench_search.py``). ``search_paper`` holds one row per indexed Vorlage: on
PostgreSQL every lexeme of the Vorlage without positions (GIN), the title's and the Vorlage's
own text's vectors for the rank; on SQLite an FTS5 table ``fts_paper`` of its stems (title,
own text, Anlagen), whose rows go with ``search_paper``'s (a trigger). The parts are now cut to
1,000 characters (``engine.search.CHUNK``; they only check phrases and give snippets), and
``search_entry.rank_vector`` goes (the rank is read from ``search_paper``).

Existing installations: ``search_paper`` is filled here from the parts already indexed, so
the search works at once; their larger parts stay until a Vorlage is indexed again
(``ratsflow search rebuild`` cuts them all anew, which makes phrase searches faster).
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0020'
down_revision: str | None = '0019'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    dialect = op.get_context().dialect.name
    op.create_table(
        'search_paper',
        sa.Column('paper_id', sa.Integer(), nullable=False),
        sa.Column('body_id', sa.Integer(), nullable=False),
        sa.Column('paper_type', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('paper_date', sa.Date(), nullable=True),
        *([sa.Column('document', postgresql.TSVECTOR(), nullable=True),
           sa.Column('rank_vector', postgresql.TSVECTOR(), nullable=True),
           sa.Column('text_vector', postgresql.TSVECTOR(), nullable=True)] if dialect == 'postgresql' else []),
        sa.ForeignKeyConstraint(['paper_id'], ['paper.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('paper_id', name='pk_search_paper'),
    )
    if dialect == 'postgresql':
        op.execute(_FILL_POSTGRESQL)
        op.create_index('ix_search_paper_document', 'search_paper', ['document'], unique=False,
                        postgresql_using='gin')
        op.drop_column('search_entry', 'rank_vector')
    else:
        op.execute("CREATE VIRTUAL TABLE fts_paper USING fts5(title, text, anlagen, "
                   "tokenize = 'unicode61 remove_diacritics 2')")
        op.execute("CREATE TRIGGER search_paper_gone AFTER DELETE ON search_paper BEGIN "
                   "DELETE FROM fts_paper WHERE rowid = old.paper_id; END")
        op.execute("INSERT INTO search_paper (paper_id, body_id, paper_type, paper_date) "
                   "SELECT paper_id, min(body_id), min(paper_type), min(paper_date) FROM search_entry "
                   "GROUP BY paper_id")
        op.execute(_FILL_SQLITE)


#: Every lexeme of a Vorlage's parts without positions; the title's vector; its own part's
#: (title and text) without positions – as ``engine.search._PG_INSERT_PAPER`` writes them.
_FILL_POSTGRESQL = """
INSERT INTO search_paper (paper_id, body_id, paper_type, paper_date, document, rank_vector, text_vector)
SELECT e.paper_id, min(e.body_id), min(e.paper_type), min(e.paper_date),
       array_to_tsvector(array_agg(DISTINCT u.lexeme)),
       (SELECT to_tsvector('german', min(h.title)) FROM search_entry h
         WHERE h.paper_id = e.paper_id AND h.file_id IS NULL),
       (SELECT strip(to_tsvector('german', min(h.title) || ' ' || string_agg(h.content, ' ' ORDER BY h.part)))
          FROM search_entry h WHERE h.paper_id = e.paper_id AND h.file_id IS NULL)
FROM search_entry e, unnest(e.document) u
GROUP BY e.paper_id
"""
#: The stems the parts' FTS5 rows hold, gathered per Vorlage.
_FILL_SQLITE = """
INSERT INTO fts_paper (rowid, title, text, anlagen)
SELECT e.paper_id,
       coalesce(max(CASE WHEN e.file_id IS NULL AND e.part = 0 THEN f.title END), ''),
       coalesce(group_concat(CASE WHEN e.file_id IS NULL THEN f.content END, ' '), ''),
       coalesce(group_concat(CASE WHEN e.file_id IS NOT NULL THEN f.content END, ' '), '')
FROM search_entry e JOIN fts_search f ON f.rowid = e.id
GROUP BY e.paper_id
"""


def downgrade() -> None:
    dialect = op.get_context().dialect.name
    if dialect != 'postgresql':
        op.execute("DROP TRIGGER IF EXISTS search_paper_gone")
        op.execute("DROP TABLE IF EXISTS fts_paper")
    else:
        op.add_column('search_entry', sa.Column('rank_vector', postgresql.TSVECTOR(), nullable=True))
        op.execute("UPDATE search_entry SET rank_vector = to_tsvector('german', title)")
    op.drop_table('search_paper')
