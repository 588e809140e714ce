"""paper.released, file_text, search_entry: published Vorlagen and their German full-text index

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-05 09:00:00

A draft was public wherever ``paper.public`` was set (issue 20): now a Vorlage is published
once it is *released* (``paper.released``: the start of its Beratungsfolge; an imported one
was published by its source). Existing rows: every Vorlage past its Entwurf, and every
imported one, counts as released when it was last modified; a public draft that OParl served
so far gets a tombstone (mirrors remove it; ``engine.oparl.server``), together with its
Beratungen and Anlagen.

``file_text`` holds the text of each stored document (by SHA-512), read once;
``search_entry`` the index (``engine.search``): on PostgreSQL with a weighted ``tsvector``
(``german``) and a GIN index (and the title's vector, small, for ranking), on SQLite beside an FTS5 table ``fts_search`` of the stemmed
text whose rows go with theirs (a trigger). The index fills itself: the scheduler's ``search``
job (or ``ratsflow search update``) indexes every published Vorlage it finds missing.
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0017'
down_revision: str | None = '0016'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_DRAFTS = ("SELECT id FROM paper WHERE public AND released IS NULL")


def upgrade() -> None:
    dialect = op.get_context().dialect.name
    op.add_column('paper', sa.Column('released', sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE paper SET released = modified WHERE status <> 'Entwurf' OR id IN "
               "(SELECT object_id FROM oparl_origin WHERE object_type = 'paper' AND object_id IS NOT NULL)")
    now = "CURRENT_TIMESTAMP" if dialect == "postgresql" else "datetime('now')"
    for kind, table, condition in [("paper", "paper", f"id IN ({_DRAFTS})"),
                                   ("consultation", "consultation", f"paper_id IN ({_DRAFTS})"),
                                   ("file", "file", f"sha_512_checksum IS NOT NULL AND paper_id IN ({_DRAFTS})")]:
        op.execute(f"INSERT INTO oparl_tombstone (object_type, object_id, deleted_at) "
                   f"SELECT '{kind}', id, {now} FROM {table} WHERE {condition} AND NOT EXISTS "
                   f"(SELECT 1 FROM oparl_tombstone t WHERE t.object_type = '{kind}' AND t.object_id = {table}.id)")

    op.create_table(
        'file_text',
        sa.Column('sha_512_checksum', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column('status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('note', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
        sa.Column('extracted', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('sha_512_checksum', name='pk_file_text'),
    )
    op.create_table(
        'search_entry',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('paper_id', sa.Integer(), nullable=False),
        sa.Column('file_id', sa.Integer(), nullable=True),
        sa.Column('part', sa.Integer(), nullable=False),
        sa.Column('body_id', sa.Integer(), nullable=False),
        sa.Column('paper_type', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
        sa.Column('paper_date', sa.Date(), nullable=True),
        sa.Column('title', sa.Text(), nullable=False),
        sa.Column('content', sa.Text(), nullable=False),
        sa.Column('source_modified', sa.DateTime(timezone=True), nullable=False),
        *([sa.Column('document', postgresql.TSVECTOR(), nullable=True),
           sa.Column('rank_vector', postgresql.TSVECTOR(), nullable=True)] if dialect == 'postgresql' else []),
        sa.ForeignKeyConstraint(['paper_id'], ['paper.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['file_id'], ['file.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name='pk_search_entry'),
    )
    op.create_index(op.f('ix_search_entry_paper_id'), 'search_entry', ['paper_id'], unique=False)
    op.create_index(op.f('ix_search_entry_file_id'), 'search_entry', ['file_id'], unique=False)
    if dialect == 'postgresql':
        op.create_index('ix_search_entry_document', 'search_entry', ['document'], unique=False,
                        postgresql_using='gin')
    else:
        op.execute("CREATE VIRTUAL TABLE fts_search USING fts5(title, content, "
                   "tokenize = 'unicode61 remove_diacritics 2')")
        op.execute("CREATE TRIGGER search_entry_gone AFTER DELETE ON search_entry BEGIN "
                   "DELETE FROM fts_search WHERE rowid = old.id; END")


def downgrade() -> None:
    dialect = op.get_context().dialect.name
    if dialect != 'postgresql':
        op.execute("DROP TRIGGER IF EXISTS search_entry_gone")
        op.execute("DROP TABLE IF EXISTS fts_search")
    op.drop_table('search_entry')
    op.drop_table('file_text')
    with op.batch_alter_table('paper', schema=None) as batch_op:
        batch_op.drop_column('released')
