"""Database engine and sessions (SQLAlchemy 2.x), and schema migrations (Alembic)."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from hiljainen.errors import ConfigError

MIGRATIONS = Path(__file__).parent / "migrations"
# What the driver raises when the database is down, restarting or out of disk space.
OUTAGE_ERRORS = (OperationalError, InterfaceError)
log = logging.getLogger(__name__)


def make_engine(url: str) -> Engine:
    """Create an engine; SQLite gets WAL and foreign keys so web and workers can share it.

    Its errors never carry the statement's values: an outage logged while a note was being stored
    would otherwise put the note's text (and a contact) into the log."""
    if url.startswith("sqlite"):
        _private_file(url)
        engine = create_engine(url, connect_args={"timeout": 30}, hide_parameters=True)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            # Deleted rows are overwritten, not just unlinked: erased text does not stay in free pages.
            cur.execute("PRAGMA secure_delete=ON")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, hide_parameters=True)


def _private_file(url: str) -> None:
    """Create the SQLite file readable by its owner only (its WAL and journal inherit the mode),
    and take group and world access away from an existing one."""
    path = make_url(url).database
    if not path or path == ":memory:" or path.startswith("file:"):
        return
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        os.close(fd)
        if os.stat(path).st_mode & 0o077:
            os.chmod(path, 0o600)
            log.warning("the database file was readable by others; now by its owner only")
    except OSError as exc:  # e.g. a missing folder: SQLite reports it on connect
        log.debug("database file permissions not set: %s", exc)


def checkpoint(session: Session) -> None:
    """After an erasure on SQLite: copy the write-ahead log into the database file and truncate it,
    so the erased text is neither in the log nor (with secure_delete) in the file's free pages."""
    if session.get_bind().dialect.name == "sqlite":
        busy = session.execute(text("PRAGMA wal_checkpoint(TRUNCATE)")).first()
        session.commit()
        if busy and busy[0]:
            log.warning("the write-ahead log could not be checkpointed now (a reader is busy)")


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """A session factory whose objects stay readable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    with factory() as session, session.begin():
        yield session


def alembic_config(url: str) -> AlembicConfig:
    """An Alembic configuration pointing at the packaged migrations."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str) -> None:
    """Bring the schema at `url` to the newest migration."""
    try:
        command.upgrade(alembic_config(url), "head")
    except OperationalError as exc:
        raise ConfigError(f"cannot use the database {_safe(url)}: {exc.orig}") from None


def has_schema(engine: Engine) -> bool:
    """True when the migrations have been applied at least once."""
    return inspect(engine).has_table("alembic_version")


def _safe(url: str) -> str:
    """The URL without its password, for error messages."""
    return make_url(url).render_as_string(hide_password=True)


def outage(exc: BaseException) -> Literal["full", "down"] | None:
    """'full' when the database's disk is full, 'down' when it cannot be reached right now,
    None when the error is a bug (e.g. a missing table) that must not pass as an outage."""
    if not isinstance(exc, OUTAGE_ERRORS):
        return None
    orig = getattr(exc, "orig", None)
    message = str(orig).lower()
    if getattr(orig, "sqlstate", None) == "53100" or "disk is full" in message or "no space left" in message:
        return "full"
    if type(orig).__module__.startswith("sqlite3"):
        # SQLite reports schema and SQL mistakes as OperationalError too; only these are outages.
        return "down" if any(w in message for w in ("locked", "unable to open", "disk i/o")) else None
    return "down"
