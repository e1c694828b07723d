"""the writer's choice to let other writers see a note as a similar one

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Notes written before the choice existed were never offered it: they stay private.
    with op.batch_alter_table("observations") as batch:
        batch.add_column(sa.Column("shareable", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("observations") as batch:
        batch.drop_column("shareable")
