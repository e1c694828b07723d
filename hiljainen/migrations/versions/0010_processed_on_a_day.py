"""observations.processed_at holds a day (issue 22)

The worker finished a note seconds after it arrived and wrote that moment, which dated an anonymous
note almost to the second. New notes get midnight of a day (hiljainen.stores.processing); this
rewrites the moments stored before, by the same rule. Nothing can bring the moments back, so the
downgrade leaves the days.

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from alembic import op

from hiljainen.stores.processing import processed_stamp

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

BATCH = 5000

observations = sa.table(
    "observations",
    sa.column("id", sa.Integer),
    sa.column("day", sa.Date),
    sa.column("processed_at", sa.DateTime(timezone=True)),
)


def _local_day(moment: dt.datetime) -> dt.date:
    """The day, on this machine's clock, of a stored moment (SQLite gives it back without a zone)."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return aware.astimezone().date()


def upgrade() -> None:
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(observations.c.id, observations.c.day, observations.c.processed_at).where(
            observations.c.processed_at.is_not(None)
        )
    ).all()
    changes = [
        {"note": note_id, "stamp": processed_stamp(day, _local_day(moment))}
        for note_id, day, moment in rows
    ]
    update = (
        observations.update()
        .where(observations.c.id == sa.bindparam("note"))
        .values(processed_at=sa.bindparam("stamp"))
    )
    for start in range(0, len(changes), BATCH):
        conn.execute(update, changes[start : start + BATCH])


def downgrade() -> None:
    pass
