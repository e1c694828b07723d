"""topics and a leader's corrections (issue 19)

Themes gain their topic (the upper level a leader scans) and a computed phrase; every correction a
leader makes (rename, merge, split, move, not a new subject, watch, pin, undo) is kept, so that
every later refresh can honour it.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("themes") as batch:
        batch.add_column(sa.Column("phrase", sa.String(length=200), nullable=False, server_default=""))
        batch.add_column(sa.Column("topic_id", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("topic_name", sa.String(length=200), nullable=False, server_default=""))
        batch.add_column(sa.Column("watched", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_table(
        "theme_corrections",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("theme_id", sa.Integer(), sa.ForeignKey("themes.id", ondelete="CASCADE"), nullable=False),
        sa.Column("actor_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("undone", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_theme_corrections_theme_id", "theme_corrections", ["theme_id"])


def downgrade() -> None:
    op.drop_index("ix_theme_corrections_theme_id", table_name="theme_corrections")
    op.drop_table("theme_corrections")
    with op.batch_alter_table("themes") as batch:
        batch.drop_column("watched")
        batch.drop_column("topic_name")
        batch.drop_column("topic_id")
        batch.drop_column("phrase")
