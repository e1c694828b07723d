"""accounts, sessions and trust (issue 22)

- users.session_key: a random key every login session is bound to; logout, a password or role
  change and disabling the account replace it, which ends every session of that account.
- users and observations never reuse an id on SQLite (AUTOINCREMENT): an erased account's old
  cookie or token must not point at the next account created, nor an erased note's id at a new note.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("session_key", sa.String(length=64), nullable=False, server_default=""))
    bind = op.get_bind()
    users = sa.table("users", sa.column("id", sa.Integer), sa.column("session_key", sa.String))
    for (user_id,) in bind.execute(sa.select(users.c.id)).all():
        bind.execute(users.update().where(users.c.id == user_id).values(session_key=secrets.token_hex(16)))
    if bind.dialect.name == "sqlite":
        # Rebuilt with AUTOINCREMENT: SQLite then never hands out an id that was used before.
        for name in ("users", "observations"):
            with op.batch_alter_table(name, recreate="always", table_kwargs={"sqlite_autoincrement": True}):
                pass


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("session_key")
