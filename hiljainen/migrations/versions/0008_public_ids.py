"""public ids for notes (issue 22)

Note ids are given in submission order, so a list that showed them placed an anonymous note
between its writer's signed notes. Every note now also has a random public id, the only id users,
links and the API see; the integer id stays inside the service.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from hiljainen.models import new_public_id

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # On SQLite each batch rebuilds the table from its reflection, which forgets AUTOINCREMENT
    # (0005): say it again, or an erased note's id would be given to the next note.
    with op.batch_alter_table("observations", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.add_column(sa.Column("public_id", sa.String(length=24), nullable=True))
    bind = op.get_bind()
    notes = sa.table("observations", sa.column("id", sa.Integer), sa.column("public_id", sa.String))
    # Drawn at random per row (not derived from the id), or the order would show through again.
    for (note_id,) in bind.execute(sa.select(notes.c.id)).all():
        bind.execute(notes.update().where(notes.c.id == note_id).values(public_id=new_public_id()))
    with op.batch_alter_table("observations", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.alter_column("public_id", existing_type=sa.String(length=24), nullable=False)
        batch.create_index(batch.f("ix_observations_public_id"), ["public_id"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("observations", table_kwargs={"sqlite_autoincrement": True}) as batch:
        batch.drop_index(batch.f("ix_observations_public_id"))
        batch.drop_column("public_id")
