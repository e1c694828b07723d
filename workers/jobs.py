"""rq jobs: the only place that joins the stores with the pipeline stages.

Jobs take no note ids (a processing job finds its notes in SQL) and never ORM objects. Failures
raise, so rq records them and retries.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

import numpy as np
from rq import get_current_job
from sqlalchemy import func, select
from sqlalchemy.orm import object_session

from hiljainen import db, delivery, digest
from hiljainen.config import Settings
from hiljainen.errors import ServiceUnavailable
from hiljainen.models import Observation, Setting
from hiljainen.pipeline import fusion
from hiljainen.pipeline.language import detect
from hiljainen.pipeline.linguistics import Analysis, analyze
from hiljainen.pipeline.tone import Tone
from hiljainen.runtime import Runtime, vector_store
from hiljainen.stores import processing, queue
from hiljainen.stores.vectors import Hit, VectorStore
from workers import refresh

log = logging.getLogger(__name__)
_T = TypeVar("_T")


@functools.cache
def linguistics() -> ProcessPoolExecutor:
    """Language detection and spaCy in a process of their own, so they run beside the embedder.

    In a thread they slowed the embedding by 8 % (the GIL), in a process by 2 %
    (bench/results/worker.md). Spawned, never forked: a native model that has run in a process
    must not be forked. One per worker process; it holds no settings, so runtimes share it."""
    spawn = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(1, mp_context=spawn, initializer=_follow_parent, initargs=(os.getpid(),))


def _follow_parent(parent: int) -> None:
    """In the linguistics process: exit once the worker that started it is gone. A killed worker
    (SIGKILL, out of memory) cannot say goodbye, and the process would otherwise live on."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(0)

    threading.Thread(target=watch, daemon=True, name="follow-parent").start()


def _linguistics(task: Callable[[Sequence[str]], _T], texts: Sequence[str]) -> Future[_T]:
    """Start a task on texts in the linguistics process (tasks run in the order they are sent)."""
    try:
        return linguistics().submit(task, texts)
    except BrokenProcessPool:  # it died between jobs: nothing was sent yet, so start a new one
        linguistics.cache_clear()
        return linguistics().submit(task, texts)


def _analysed(pending: Future[tuple[list[str], list[Analysis]]]) -> tuple[list[str], list[Analysis]]:
    """The linguistics process's answer; if it died during the job, the job fails (rq retries it)
    and the next job starts a new process."""
    try:
        return pending.result()
    except BrokenProcessPool:
        linguistics.cache_clear()
        raise


@functools.cache
def runtime() -> Runtime:
    """The worker's runtime, built from the environment on first use."""
    return Runtime.from_settings(Settings.from_env())


def warm_up() -> None:
    """Load the models before taking the first job (and before any fork could happen)."""
    ctx = runtime()
    warming = _linguistics(_languages_and_lemmas, ["Ruoka oli kylmää.", "The meal was cold."])
    ctx.embedder().embed(["lämmittely"], kind="passage")
    ctx.tone()
    _analysed(warming)


def process(*_ids_from_earlier_versions: object) -> int:
    """Analyse, embed and index the notes waiting in SQL, up to a batch; returns how many.

    The job names no notes: a job record that held note ids beside rq's exact times would date an
    anonymous note to the second. (Jobs queued before an upgrade still carry ids; they are ignored.)
    When notes are left waiting, it makes sure a job follows."""
    ctx = runtime()
    # Jobs running at once on PostgreSQL each lock the rows they take and skip the rows another has
    # locked, so no note is processed twice; a killed job's rows are unlocked by its rollback.
    waiting = (
        select(Observation)
        .where(Observation.processed_at.is_(None))
        .order_by(Observation.id)
        .limit(ctx.settings.batch_size)
        .with_for_update(skip_locked=True)
    )
    with db.transaction(ctx.sessions) as session:
        notes = list(session.scalars(waiting))
        index_notes(ctx, notes)
    if notes:
        _follow_up(ctx)
    return len(notes)


def _follow_up(ctx: Runtime) -> None:
    """Queue a job for notes still waiting (sent while this job ran, or more than a batch).

    One waiting job is enough to carry on: the sweep and imports queue one per batch, so that a
    backlog is shared by the workers. Run outside rq (tests, tools) there is no queue to add to."""
    job = get_current_job()
    if job is None:
        return
    with ctx.sessions() as session:
        left = session.scalar(select(func.count()).where(Observation.processed_at.is_(None)))
    if left:
        try:
            queue.enqueue_process(job.connection, 1)
        except ServiceUnavailable as exc:  # the notes are safe in SQL: the sweep queues them
            log.warning("queue unavailable, waiting notes are left to the sweep: %s", exc)


def process_all() -> int:
    """Process every waiting note, batch after batch, without the queue (tools and tests)."""
    done = 0
    while count := process():
        done += count
    return done


def index_notes(ctx: Runtime, notes: Sequence[Observation], store: VectorStore | None = None) -> None:
    """Language, lemmas, keywords, vectors: fill the notes, upsert their vectors, link repeats."""
    if not notes:
        return
    texts = [n.text for n in notes]
    languages = _linguistics(_languages, texts)  # first: the vectors' metadata waits for them
    pending = _linguistics(_languages_and_lemmas, texts)
    try:
        vectors, nearest = _embed_and_store(ctx, notes, store or ctx.vectors(), languages)
    except BrokenProcessPool:  # the store thread waited for a linguistics process that died
        linguistics.cache_clear()
        raise
    except Exception:
        ctx.forget_vectors()
        raise
    langs, analyses = _analysed(pending)
    tone = ctx.tone()
    tones = tone.predict(vectors) if tone else [None] * len(notes)
    link_duplicates(notes, nearest)
    mark_processed(notes, langs, analyses, tones, ctx.embedder().model_id)
    session = object_session(notes[0])
    if session is not None:
        processing.new_batch(session)


# Notes embedded per step of a job: while one step's vectors go to Chroma, the next step embeds.
# Smaller steps would hide more of Chroma's time but embed slower (calls of 16: a fifth slower).
EMBED_STEP = 64


@functools.cache
def store_thread() -> ThreadPoolExecutor:
    """The worker process's one thread for Chroma calls. The encoders release the GIL, so an
    upsert and its duplicate lookup run while the next notes embed; with the int8 graph they took
    a fifth of a job's time when they ran after its embedding (bench/results/worker.md)."""
    return ThreadPoolExecutor(1, thread_name_prefix="vector-store")


def _embed_and_store(
    ctx: Runtime, notes: Sequence[Observation], store: VectorStore, languages: Future[list[str]]
) -> tuple[np.ndarray, list[list[Hit]]]:
    """Embed the notes a step at a time; the store thread upserts each step's vectors and looks
    them up among the stored ones while the next step embeds. The steps follow the notes' ids, so
    a note's earlier repeat in the same job is stored before the note is looked up."""
    order = sorted(range(len(notes)), key=lambda i: notes[i].id)
    steps: list[tuple[list[int], np.ndarray, Future[list[list[Hit]]]]] = []
    try:
        for start in range(0, len(order), EMBED_STEP):
            rows = order[start : start + EMBED_STEP]
            part = [notes[i] for i in rows]
            vectors = ctx.embedder().embed([n.text for n in part], kind="passage")
            fields = {n.id: note_fields(n) for n in part}
            stored = store_thread().submit(_store_step, store, vectors, fields, rows, languages)
            steps.append((rows, vectors, stored))
    finally:
        wait([future for *_, future in steps])
    vectors = np.empty((len(notes), steps[0][1].shape[1]), dtype=steps[0][1].dtype)
    nearest: list[list[Hit]] = [[] for _ in notes]
    for rows, step_vectors, future in steps:
        vectors[rows] = step_vectors
        for row, hits in zip(rows, future.result(), strict=True):
            nearest[row] = hits
    return vectors, nearest


def _store_step(
    store: VectorStore,
    vectors: np.ndarray,
    fields: dict[int, dict[str, str | int | bool]],
    rows: Sequence[int],
    languages: Future[list[str]],
) -> list[list[Hit]]:
    """In the store thread: upsert one step's vectors (`fields` by note id, in the vectors' order,
    `rows` their places in the job, where `languages` gives each one's language), then find each
    one's nearest stored notes."""
    langs = languages.result()
    metadata = [{**f, "lang": langs[row]} for f, row in zip(fields.values(), rows, strict=True)]
    store.upsert(list(fields), vectors, metadata)
    return store.query_many(vectors, DUPLICATE_CANDIDATES)


def mark_processed(
    notes: Sequence[Observation],
    langs: Sequence[str],
    analyses: Sequence[Analysis],
    tones: Sequence[Tone | None],
    model_id: str,
) -> None:
    """Write what the stages found onto the notes and mark them processed (on a day, never at a
    moment: see hiljainen.stores.processing)."""
    today = dt.date.today()
    for note, lang, analysis, tone in zip(notes, langs, analyses, tones, strict=True):
        note.lang = lang
        note.tone = tone.label if tone else None
        note.tone_confidence = round(tone.confidence, 3) if tone else None
        note.lemmas = analysis.lemmas
        note.keywords = analysis.keywords
        note.vector_model = model_id
        # A reprocessed note (a rebuilt index) keeps its day; readers learn of the rebuild otherwise.
        note.processed_at = note.processed_at or processing.processed_stamp(note.day, today)


def _languages(texts: Sequence[str]) -> list[str]:
    return [detect(t).code for t in texts]


def _languages_and_lemmas(texts: Sequence[str]) -> tuple[list[str], list[Analysis]]:
    # Detected again (a fraction of a millisecond a note, in the linguistics process): the task
    # before it answered the store thread at once, without waiting for the job's spaCy.
    langs = _languages(texts)
    return langs, analyze(texts, langs, entities=False)


# Nearest stored notes looked at per new note when deciding whether it repeats an earlier one.
DUPLICATE_CANDIDATES = 6


def link_duplicates(notes: Sequence[Observation], nearest: Sequence[Sequence[Hit]]) -> None:
    """Mark notes that repeat an earlier note (same writer sending twice, a re-imported line)
    so indicators count them once; the rules are fusion.duplicate_of's."""
    session = object_session(notes[0]) if notes else None
    if session is None:
        return
    wanted = {h.id for hits in nearest for h in hits}
    known = {n.id: n for n in notes}
    missing = wanted - known.keys()
    if missing:
        found = session.scalars(select(Observation).where(Observation.id.in_(missing)))
        known.update((o.id, o) for o in found)
    for note, hits in zip(notes, nearest, strict=True):
        earlier = [(_key(known[h.id]), h.similarity) for h in hits if h.id in known and h.id < note.id]
        note.duplicate_of_id = fusion.duplicate_of(_key(note), earlier) if earlier else None


def _key(note: Observation) -> fusion.NoteKey:
    return fusion.NoteKey(
        id=note.id,
        text=note.text,
        day=note.day,
        source=note.source.value,
        author=note.author_id,
        unit=note.unit_id,
        touchpoint=note.touchpoint_id,
        duplicate_of=note.duplicate_of_id,
    )


def note_fields(note: Observation) -> dict[str, str | int | bool]:
    """Filterable fields stored beside each vector, but the language (Chroma wants scalars;
    -1 = none)."""
    return {
        "unit": note.unit_id or -1,
        "touchpoint": note.touchpoint_id or -1,
        "source": note.source.value,
        "day": int(note.day.strftime("%Y%m%d")),
        "anonymous": note.anonymous,
    }


def refresh_themes(today: str | None = None) -> dict[str, int]:
    """Recompute themes, signals and indicators as of `today` (ISO date; default today).

    Progress is kept in the rq job's meta so a page can show it."""
    ctx = runtime()
    job = get_current_job()

    def progress(step: str, fraction: float) -> None:
        if job is not None:
            job.meta.update(step=step, progress=fraction)
            job.save_meta()

    day = dt.date.fromisoformat(today) if today else ctx.settings.today()
    with db.transaction(ctx.sessions) as session:
        # Read before the notes: every note of this batch key is among those the run sees.
        seen = processing.read(session, processing.PROCESSED_KEY).get(processing.PROCESSED_KEY)
        if seen is not None:
            session.merge(Setting(key=processing.REFRESHED_KEY, value=seen))
        run = refresh.themes(session, ctx.vectors(), ctx.embedder().model_id, day, progress,
                             ctx.settings.default_locale)
        summary = {"run": run.id, "notes": run.notes, "themes": run.themes, "unassigned": run.unassigned}
    progress("indicators", 0.9)
    with db.transaction(ctx.sessions) as session:
        refresh.indicators(session, day, ctx.settings.min_group_size, zone=ctx.settings.zone)
    progress("done", 1.0)
    return summary


def maybe_refresh() -> bool:
    """Queue a theme refresh when notes were processed since the last run and none wait.

    "Since" is told by the batch key the last run saw, not by times: processed_at holds a day."""
    ctx = runtime()
    with ctx.sessions() as session:
        keys = processing.read(session, processing.PROCESSED_KEY, processing.REFRESHED_KEY)
        waiting = session.scalar(select(func.count()).where(Observation.processed_at.is_(None)))
    processed = keys.get(processing.PROCESSED_KEY)
    if processed is None or processed == keys.get(processing.REFRESHED_KEY) or waiting:
        return False
    queue.enqueue_refresh(queue.connect(ctx.settings.redis_url))
    return True


def deliver_outbox() -> int:
    """Send what the outbox holds (alerts, digests) by e-mail and/or webhook as configured (files in
    development); failures stay queued with a backoff."""
    ctx = runtime()
    with ctx.sessions() as session:
        result = digest.deliver_outbox(session, delivery.make_sender(ctx.settings, session))
    return len(result.sent)


DIGEST_LOCK = "hiljainen:lock:weekly-digest"


def weekly_digest() -> bool:
    """On Mondays, put last week's digest in the outbox (once per week, however often called)."""
    ctx = runtime()
    today = ctx.settings.today()
    if today.weekday() != 0:
        return False
    # Every worker's timer calls this: the lock makes check-then-insert one step across workers.
    with queue.connect(ctx.settings.redis_url).lock(DIGEST_LOCK, timeout=120, blocking_timeout=120):
        with db.transaction(ctx.sessions) as session:
            digest.queue_digest(session, today, ctx.settings.min_group_size, ctx.settings.public_url)
    return True


def sweep() -> int:
    """Queue jobs for every stored but unprocessed note (after a queue outage or a lost job);
    returns how many notes wait."""
    ctx = runtime()
    with ctx.sessions() as session:
        waiting = session.scalar(select(func.count()).where(Observation.processed_at.is_(None))) or 0
    if waiting:
        queue.enqueue_process(queue.connect(ctx.settings.redis_url), waiting, ctx.settings.batch_size)
    return waiting


def reindex(progress: Callable[[int], Callable[[int], Any]] | None = None) -> int:
    """Rebuild the vector index from the database with the configured model."""
    ctx = runtime()
    store = vector_store(ctx.settings, ctx.embedder().model_id, reset=True)
    with ctx.sessions() as session:
        ids = list(session.scalars(select(Observation.id).order_by(Observation.id)))
    advance = progress(len(ids)) if progress else (lambda _n: None)
    size = max(ctx.settings.batch_size, 256)
    for start in range(0, len(ids), size):
        with db.transaction(ctx.sessions) as session:
            notes = session.scalars(
                select(Observation)
                .where(Observation.id.in_(ids[start : start + size]))
                .order_by(Observation.id)
            ).all()
            index_notes(ctx, notes, store)
        advance(len(notes))
    with db.transaction(ctx.sessions) as session:
        session.merge(Setting(key="vector_model", value=ctx.embedder().model_id))
        session.merge(Setting(key=processing.REINDEXED_KEY, value=dt.datetime.now(dt.UTC).isoformat()))
    return len(ids)
