"""Scale-out: two workers and two web processes share one Redis, one PostgreSQL and one Chroma.

Every process is a separate child configured by HILJAINEN_* environment variables only, each with
its own data folder, as on separate machines. The queue uses its own Redis database number so jobs
left by other tests in this session cannot reach these workers.
"""

from __future__ import annotations

import datetime as dt
import http.cookiejar
import json
import re
import sys
import threading
import time
import urllib.parse
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Collection, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from rq import Worker
from rq.job import Job
from rq.registry import FailedJobRegistry, FinishedJobRegistry, StartedJobRegistry
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hiljainen import db
from hiljainen.models import Observation, Source, Touchpoint, Unit
from hiljainen.services import ChildServer, free_port, web_server
from hiljainen.stores.queue import (
    PROCESS_JOB,
    QUEUE_NAME,
    REFRESH_JOB_ID,
    connect,
    enqueue_process,
    enqueue_refresh,
    queue,
)
from hiljainen.stores.vectors import VectorStore
from tests.conftest import redis_db

NOTE_COUNT = 400
BATCH = 16  # 25 jobs for 400 notes: enough turns for both workers
SECRET = "scale-out-shared-secret"
WAIT = 600.0

SUBJECTS = ["Ruoka", "Hissi", "Sauna", "Pesula", "Kahvio", "Piha", "Kirjasto", "Parkkipaikka",
            "The lift", "The canteen", "The laundry", "The garden", "The bus stop", "The library"]
PROBLEMS = ["oli taas myöhässä", "oli rikki koko viikon", "oli kylmä aamulla", "oli liian täynnä",
            "was late again", "was broken all week", "was cold in the morning", "was too crowded",
            "ei toiminut illalla", "did not work at night"]


@dataclass
class Cluster:
    """The shared servers and the two running workers."""

    env: dict[str, str]
    database_url: str
    redis_url: str
    chroma_url: str
    collection: str
    sessions: sessionmaker[Session]
    workers: dict[str, ChildServer]  # rq worker name -> its process
    folder: Path

    def conn(self) -> Any:
        return connect(self.redis_url)


def wait_for(check: Callable[[], bool], what: str, logs: Sequence[Path] = ()) -> None:
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    tails = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-2000:]}" for p in logs if p.exists())
    raise AssertionError(f"timed out waiting until {what}\n{tails}")


def registered(redis_url: str, child: ChildServer) -> Callable[[], bool]:
    """Ready once this very process has registered as an rq worker."""

    def ready() -> bool:
        pid = child.process.pid if child.process else None
        return any(w.pid == pid for w in Worker.all(connection=connect(redis_url)))

    return ready


@pytest.fixture(scope="module")
def cluster(
    tmp_path_factory: pytest.TempPathFactory,
    postgres_url: str,
    redis_srv: ChildServer,
    chroma_srv: ChildServer,
) -> Iterator[Cluster]:
    folder = tmp_path_factory.mktemp("scaleout")
    plain = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    db.upgrade(postgres_url)  # `hiljainen db upgrade`, once, before any web or worker starts
    redis_url = redis_db(redis_srv.url, 2)
    connect(redis_url).flushdb()
    collection = f"scaleout_{uuid.uuid4().hex[:10]}"
    env = {
        "HILJAINEN_DATABASE_URL": postgres_url,
        "HILJAINEN_REDIS_URL": redis_url,
        "HILJAINEN_CHROMA_URL": chroma_srv.url,
        "HILJAINEN_CHROMA_COLLECTION": collection,
        "HILJAINEN_BATCH_SIZE": str(BATCH),
        "HILJAINEN_SECRET_KEY": SECRET,
    }
    children: list[ChildServer] = []
    for name in ("worker-a", "worker-b"):
        data = folder / name
        child = ChildServer(
            name, [sys.executable, "-m", "workers"], redis_url, lambda: False,
            env={**env, "HILJAINEN_DATA_DIR": str(data)}, log_path=folder / f"{name}.log",
        )
        child.ready = registered(redis_url, child)
        children.append(child)
    try:
        # Started side by side, as two machines would be; each loads its models on its own.
        with ThreadPoolExecutor(2) as pool:
            for started in [pool.submit(c.start, 300) for c in children]:
                started.result()
        by_pid = {w.pid: w.name for w in Worker.all(connection=connect(redis_url))}
        yield Cluster(
            env, postgres_url, redis_url, chroma_srv.url, collection,
            db.make_sessionmaker(db.make_engine(postgres_url)),
            {by_pid[c.process.pid]: c for c in children if c.process}, folder,
        )
    finally:
        for child in children:
            child.stop()


def worker_logs(cluster: Cluster) -> list[Path]:
    return [c.log_path for c in cluster.workers.values() if c.log_path]


def store_notes(cluster: Cluster, count: int, tag: str) -> list[int]:
    """Notes committed to PostgreSQL, not yet queued (as the web or an import leaves them)."""
    with db.transaction(cluster.sessions) as s:
        rows = [
            Observation(
                text=f"{SUBJECTS[i % len(SUBJECTS)]} {PROBLEMS[(i // len(SUBJECTS)) % len(PROBLEMS)]}, "
                f"{tag} {i // (len(SUBJECTS) * len(PROBLEMS)) + 1}.",
                source=Source.STAFF,
                day=dt.date(2026, 11, 2) + dt.timedelta(days=i % 21),
            )
            for i in range(count)
        ]
        s.add_all(rows)
        s.flush()
        return [r.id for r in rows]


def all_processed(cluster: Cluster, ids: list[int]) -> Callable[[], bool]:
    def check() -> bool:
        with cluster.sessions() as s:
            done = s.scalars(
                select(Observation.id).where(Observation.id.in_(ids), Observation.processed_at.is_not(None))
            ).all()
        return len(done) == len(ids)

    return check


def queue_idle(cluster: Cluster) -> Callable[[], bool]:
    """Nothing waiting and nothing running (a job's SQL commit comes before rq records its end)."""
    conn = cluster.conn()

    def check() -> bool:
        q = queue(conn)
        return q.count == 0 and StartedJobRegistry(queue=q).count == 0

    return check


def finished_process_jobs(cluster: Cluster, before: Collection[str] = ()) -> list[Job]:
    """Finished `process` jobs, except those whose ids are in `before` (jobs name no notes, so a
    test tells its own jobs by when they ran)."""
    conn = cluster.conn()
    job_ids = [i for i in FinishedJobRegistry(queue=queue(conn)).get_job_ids() if i not in before]
    return [
        job for job in Job.fetch_many(job_ids, connection=conn)
        if job is not None and job.func_name == PROCESS_JOB
    ]


def finished_job_ids(cluster: Cluster) -> set[str]:
    return set(FinishedJobRegistry(queue=queue(cluster.conn())).get_job_ids())


def processed_per_job(found: list[Job]) -> list[tuple[str | None, int]]:
    """(worker, notes processed) for each job: process() returns how many notes it processed."""
    return [(job.worker_name, int(job.return_value() or 0)) for job in found]


def failed_jobs(cluster: Cluster) -> list[str]:
    conn = cluster.conn()
    out = []
    for job in Job.fetch_many(FailedJobRegistry(queue=queue(conn)).get_job_ids(), connection=conn):
        if job is not None:
            result = job.latest_result()
            out.append(f"{job.func_name}: {(result.exc_string or '')[-600:] if result else ''}")
    return out


def index_ids(cluster: Cluster, model_id: str) -> list[int]:
    store = VectorStore(cluster.chroma_url, model_id, collection=cluster.collection)
    return [int(i) for i in store.collection.get(include=[])["ids"]]


class ProcessedTwice(AssertionError):
    """A note was processed by more than one job."""


@pytest.mark.slow
def test_notes_swept_by_both_sweepers_and_taken_by_both_workers_are_processed_once(
    cluster: Cluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    from workers import jobs

    # First in this module: later tests process notes, after which each worker's timer queues a
    # theme refresh that could keep one worker busy while the two sweeps are taken.
    wait_for(queue_idle(cluster), "the queue is idle", worker_logs(cluster))
    wait_for(
        lambda: sorted(w.get_state() for w in Worker.all(connection=cluster.conn())) == ["idle", "idle"],
        "both workers wait for work",
        worker_logs(cluster),
    )
    ids = store_notes(cluster, BATCH - 4, "jäi jonosta")  # a few notes stored while the queue was down
    before = finished_job_ids(cluster)
    for key, value in {**cluster.env, "HILJAINEN_DATA_DIR": str(cluster.folder / "sweeper")}.items():
        monkeypatch.setenv(key, value)
    jobs.runtime.cache_clear()
    try:
        # Each worker's sweeper runs this at start and every five minutes: both find the notes.
        assert jobs.sweep() == len(ids)
        assert jobs.sweep() == len(ids)
    finally:
        jobs.runtime.cache_clear()
    # Jobs name no notes: each takes what waits. Two at once (as when a note comes in while a job
    # runs): each worker takes one, and PostgreSQL's row locks keep them off each other's notes.
    enqueue_process(cluster.conn(), 2 * BATCH, BATCH)
    wait_for(all_processed(cluster, ids), "the swept notes are processed", worker_logs(cluster))
    wait_for(queue_idle(cluster), "the queue is idle", worker_logs(cluster))

    swept = finished_process_jobs(cluster, before)
    assert len(swept) >= 2
    assert {job.worker_name for job in swept} == set(cluster.workers), "each worker took a job"
    assert failed_jobs(cluster) == []
    counts = processed_per_job(swept)
    if sum(n for _, n in counts) != len(ids):
        raise ProcessedTwice(f"{len(ids)} notes, processed per job: {counts}")


@pytest.mark.slow
def test_two_workers_share_the_work_each_note_once(cluster: Cluster) -> None:
    ids = store_notes(cluster, NOTE_COUNT, "erä")
    before = finished_job_ids(cluster)
    jobs_queued = enqueue_process(cluster.conn(), len(ids), BATCH)
    assert jobs_queued == NOTE_COUNT // BATCH, "a job per batch, so that both workers take some"

    wait_for(all_processed(cluster, ids), "both workers processed every note", worker_logs(cluster))
    wait_for(queue_idle(cluster), "the queue is idle", worker_logs(cluster))

    jobs = finished_process_jobs(cluster, before)
    # A job that leaves notes waiting (another job's, still in flight) queues one more, which may
    # find nothing left.
    assert len(jobs) >= jobs_queued, "every job finished"
    notes_by_worker: Counter[str] = Counter()
    for worker_name, count in processed_per_job(jobs):
        assert worker_name in cluster.workers, worker_name
        notes_by_worker[worker_name] += count
    assert set(notes_by_worker) == set(cluster.workers), f"both workers took jobs: {notes_by_worker}"
    assert all(n > 0 for n in notes_by_worker.values()), notes_by_worker
    # process() returns how many notes it processed now: a note done twice would be counted twice.
    assert sum(notes_by_worker.values()) == NOTE_COUNT, notes_by_worker
    assert failed_jobs(cluster) == []

    with cluster.sessions() as s:
        models = set(s.scalars(select(Observation.vector_model)))
        every_note = set(s.scalars(select(Observation.id)))  # with any stored by earlier tests
    assert len(models) == 1 and None not in models
    in_index = index_ids(cluster, models.pop())
    assert len(in_index) == len(set(in_index)), "no duplicate vector ids"
    assert set(in_index) == every_note, "one vector per note: vector count == note count"


def open_form(opener: urllib.request.OpenerDirector, url: str) -> str:
    with opener.open(url, timeout=60) as resp:
        page = resp.read().decode()
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, page[:500]
    return found.group(1)


@pytest.mark.slow
def test_web_processes_configured_by_environment_take_a_note_a_worker_indexes(cluster: Cluster) -> None:
    with db.transaction(cluster.sessions) as s:
        unit = Unit(slug="scale-unit", name_fi="Palvelutalo", name_en="Service house")
        s.add(unit)
        s.flush()
        touchpoint = Touchpoint(slug="scale-lobby", name_fi="Aula", name_en="Lobby", unit_id=unit.id)
        s.add(touchpoint)
        s.flush()
        touchpoint_id = touchpoint.id
    webs = []
    for name in ("web-a", "web-b"):
        port = free_port()
        env = {**cluster.env, "HILJAINEN_DATA_DIR": str(cluster.folder / name),
               "HILJAINEN_HOST": "127.0.0.1", "HILJAINEN_PORT": str(port)}
        webs.append(web_server("127.0.0.1", port, env, cluster.folder / f"{name}.log"))
    logs = worker_logs(cluster) + [w.log_path for w in webs if w.log_path]
    try:
        for web in webs:
            web.start(timeout=180)
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        # The form comes from one web host, the post goes to the other (as behind a load balancer):
        # it is accepted only because both sign sessions with the same HILJAINEN_SECRET_KEY.
        token = open_form(opener, f"{webs[0].url}/t/scale-lobby")
        before = finished_job_ids(cluster)
        body = urllib.parse.urlencode(
            {"csrf_token": token, "role": "customer", "text": "Aulan ovi jää auki ja tuulee sisään."}
        ).encode()
        with opener.open(f"{webs[1].url}/t/scale-lobby", data=body, timeout=120) as resp:
            assert resp.status == 201
        with cluster.sessions() as s:
            note_id = s.scalar(select(Observation.id).where(Observation.touchpoint_id == touchpoint_id))
        assert note_id is not None
        wait_for(all_processed(cluster, [note_id]), "a worker indexed the web's note", logs)
        wait_for(queue_idle(cluster), "the queue is idle", logs)

        done = [(worker, n) for worker, n in processed_per_job(finished_process_jobs(cluster, before)) if n]
        assert len(done) == 1 and done[0][0] in cluster.workers and done[0][1] == 1, done
        with cluster.sessions() as s:
            note = s.get(Observation, note_id)
            assert note is not None and note.lang == "fi" and note.vector_model
            model_id = note.vector_model
        assert note_id in index_ids(cluster, model_id)

        with urllib.request.urlopen(f"{webs[1].url}/healthz/details", timeout=60) as resp:
            health = json.loads(resp.read())
        assert health["database"]["ok"] and health["redis"]["ok"] and health["chroma"]["ok"], health
        assert health["workers"]["count"] == 2, health
        assert health["chroma"]["vectors"] == len(index_ids(cluster, model_id))
    finally:
        for web in webs:
            web.stop()
    assert failed_jobs(cluster) == []


def test_a_theme_refresh_asked_for_at_once_by_many_is_queued_once(redis_srv: ChildServer) -> None:
    """Every worker's timer and the web's button ask for refreshes; only one may be queued."""
    url = redis_db(redis_srv.url, 3)  # no worker listens here: the queue stays as left
    connect(url).flushdb()
    callers = 8
    conns = [connect(url) for _ in range(callers)]
    for conn in conns:
        conn.ping()
    start = threading.Barrier(callers)
    answers: list[str] = []

    def ask(conn: Any) -> None:
        start.wait()
        answers.append(enqueue_refresh(conn))

    threads = [threading.Thread(target=ask, args=(conn,)) for conn in conns]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers == [REFRESH_JOB_ID] * callers
    queued = connect(url).lrange(f"rq:queue:{QUEUE_NAME}", 0, -1)
    assert queued == [REFRESH_JOB_ID.encode()], queued
