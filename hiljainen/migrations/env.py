"""Alembic environment: migrations run against the URL set by hiljainen.db.alembic_config."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from hiljainen.models import Base

url = context.config.get_main_option("sqlalchemy.url")
assert url, "hiljainen.db.alembic_config sets sqlalchemy.url"

if context.is_offline_mode():
    context.configure(url=url, target_metadata=Base.metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    with create_engine(url).connect() as conn:
        # SQLite cannot ALTER most things in place: batch mode rebuilds tables instead.
        context.configure(
            connection=conn,
            target_metadata=Base.metadata,
            render_as_batch=conn.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
