"""answers to a theme, consent to be reached, delivery (issue 21)

The public form's "I want an answer" tick is kept on the note (before, only a contact typed with
it was kept, and a tick without one was lost). Theme answers and delivery need no schema: each
note records its own answer, and the recipients per role live in the settings table.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # On SQLite this rebuilds the table from its reflection, which forgets AUTOINCREMENT (0005):
    # say it again, or an erased note's id would be given to the next note.
    with op.batch_alter_table("observations", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.add_column(sa.Column("wants_answer", sa.Boolean(), server_default=sa.false(), nullable=False))
    # A contact was only ever kept when the writer ticked "I want an answer".
    ticked = sa.text("UPDATE observations SET wants_answer = :yes WHERE contact IS NOT NULL")
    op.execute(ticked.bindparams(yes=True))


def downgrade() -> None:
    with op.batch_alter_table("observations", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.drop_column("wants_answer")
