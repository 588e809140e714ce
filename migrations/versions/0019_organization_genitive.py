"""organization.name_genitive: a Gremium's name with article in the genitive

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-04 15:00:00

E-mails and pages say "die Sitzung des Ausschusses für …", "der Verbandsversammlung …", not
"die Sitzung von Ausschuss für …". The Verwaltung can set the form; NULL (every existing row)
means the form derived from the name (``engine.words.genitive``). A nullable ADD COLUMN: no
table rebuild on SQLite.
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0019'
down_revision: str | None = '0018'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('organization', sa.Column('name_genitive', sqlmodel.sql.sqltypes.AutoString(length=300),
                                            nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('organization', schema=None) as batch_op:
        batch_op.drop_column('name_genitive')
