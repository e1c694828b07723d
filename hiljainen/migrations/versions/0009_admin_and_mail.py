"""administration and answers by e-mail (issue 21)

- units.active: a retired unit stays on its notes but is no longer offered for new ones.
- users.email, users.answers_by_email: a staff member's own address and their choice to get the
  answers to their notes by e-mail.
- outbox.recipient: the one address a personal message (an answer) goes to; the delivery clears it
  once the message is sent, so the outbox keeps no address longer than it needs it.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("units") as batch:
        batch.add_column(sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()))
    # On SQLite this rebuilds the table from its reflection, which forgets AUTOINCREMENT (0005):
    # say it again, or an erased account's id would be given to the next account.
    with op.batch_alter_table("users", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.add_column(sa.Column("email", sa.String(length=254), nullable=True))
        batch.add_column(
            sa.Column("answers_by_email", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("recipient", sa.String(length=300), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("recipient")
    with op.batch_alter_table("users", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.drop_column("answers_by_email")
        batch.drop_column("email")
    with op.batch_alter_table("units") as batch:
        batch.drop_column("active")
