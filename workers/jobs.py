"""rq jobs: the only place that joins the stores with the pipeline stages.

Jobs take note ids, never ORM objects. Failures raise, so rq records them and retries.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rq import get_current_job
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from hiljainen import db, digest
from hiljainen.config import TONE_MODEL_DIR, Settings
from hiljainen.errors import HiljainenError
from hiljainen.models import Observation, Setting, ThemeRun, utcnow
from hiljainen.pipeline.embed import Embedder, load_embedder
from hiljainen.pipeline.language import detect
from hiljainen.pipeline.linguistics import analyze
from hiljainen.pipeline.tone import ToneModel
from hiljainen.stores import queue
from hiljainen.stores.vectors import VectorStore
from workers import refresh

log = logging.getLogger(__name__)


@dataclass
class Context:
    """What a worker process loads once and reuses for every job."""

    settings: Settings
    sessions: sessionmaker[Session]

    @functools.cached_property
    def embedder(self) -> Embedder:
        return load_embedder(self.settings.embed_backend, self.settings.embed_model)

    @functools.cached_property
    def tone(self) -> ToneModel | None:
        """The tone classifier for this embedder; None (tone left empty) if it was trained for another."""
        try:
            return ToneModel.load(TONE_MODEL_DIR, model_id=self.embedder.model_id)
        except HiljainenError as exc:  # tone is an extra: notes are processed without it
            log.warning("tone is not estimated: %s", exc)
            return None

    def vectors(self) -> VectorStore:
        """The vector store; reopened per call so a restarted Chroma server is picked up."""
        return VectorStore(
            self.settings.chroma_url, self.embedder.model_id, collection=self.settings.chroma_collection
        )


@functools.cache
def context() -> Context:
    """The worker's context, built from the environment on first use."""
    settings = Settings.from_env()
    return Context(settings, db.make_sessionmaker(db.make_engine(settings.sqlalchemy_url)))


def warm_up() -> None:
    """Load the models before taking the first job (and before any fork could happen)."""
    ctx = context()
    ctx.embedder.embed(["lämmittely"], kind="passage")
    _ = ctx.tone
    analyze(["Ruoka oli kylmää.", "The meal was cold."], ["fi", "en"])


def process(ids: Sequence[int]) -> int:
    """Analyse, embed and index these notes; returns how many were processed now."""
    ctx = context()
    with db.transaction(ctx.sessions) as session:
        notes = session.scalars(
            select(Observation)
            .where(Observation.id.in_(list(ids)), Observation.processed_at.is_(None))
            .order_by(Observation.id)
        ).all()
        if not notes:
            return 0
        index_notes(ctx, notes)
        return len(notes)


def index_notes(ctx: Context, notes: Sequence[Observation], store: VectorStore | None = None) -> None:
    """Language, lemmas, keywords, vectors: fill the notes and upsert their vectors."""
    texts = [n.text for n in notes]
    langs = [detect(t).code for t in texts]
    analyses = analyze(texts, langs)
    vectors = ctx.embedder.embed(texts, kind="passage")
    tones = ctx.tone.predict(vectors) if ctx.tone else [None] * len(notes)
    metadata = [vector_metadata(n, lang) for n, lang in zip(notes, langs, strict=True)]
    (store or ctx.vectors()).upsert([n.id for n in notes], vectors, metadata)
    now = utcnow()
    for note, lang, analysis, tone in zip(notes, langs, analyses, tones, strict=True):
        note.lang = lang
        note.tone = tone.label if tone else None
        note.tone_confidence = round(tone.confidence, 3) if tone else None
        note.lemmas = analysis.lemmas
        note.keywords = analysis.keywords
        note.vector_model = ctx.embedder.model_id
        note.processed_at = now


def vector_metadata(note: Observation, lang: str) -> dict[str, str | int | bool]:
    """Filterable fields stored beside each vector (Chroma wants scalars; -1 = none)."""
    return {
        "unit": note.unit_id or -1,
        "touchpoint": note.touchpoint_id or -1,
        "source": note.source.value,
        "lang": lang,
        "day": int(note.day.strftime("%Y%m%d")),
        "anonymous": note.anonymous,
    }


def refresh_themes(today: str | None = None) -> dict[str, int]:
    """Recompute themes, signals and indicators as of `today` (ISO date; default today).

    Progress is kept in the rq job's meta so a page can show it."""
    ctx = context()
    job = get_current_job()

    def progress(step: str, fraction: float) -> None:
        if job is not None:
            job.meta.update(step=step, progress=fraction)
            job.save_meta()

    day = dt.date.fromisoformat(today) if today else dt.date.today()
    with db.transaction(ctx.sessions) as session:
        run = refresh.themes(session, ctx.vectors(), ctx.embedder.model_id, day, progress)
        summary = {"run": run.id, "notes": run.notes, "themes": run.themes, "unassigned": run.unassigned}
    progress("indicators", 0.9)
    with db.transaction(ctx.sessions) as session:
        refresh.indicators(session, day, ctx.settings.min_group_size)
    progress("done", 1.0)
    return summary


def maybe_refresh() -> bool:
    """Queue a theme refresh when notes were processed since the last run and none wait."""
    ctx = context()
    with ctx.sessions() as session:
        last = session.scalar(select(func.max(ThemeRun.started_at)))
        processed = select(func.count()).where(Observation.processed_at.is_not(None))
        newer = session.scalar(processed.where(Observation.processed_at > last) if last else processed)
        waiting = session.scalar(select(func.count()).where(Observation.processed_at.is_(None)))
    if not newer or waiting:
        return False
    queue.enqueue_refresh(queue.connect(ctx.settings.redis_url))
    return True


def deliver_outbox() -> int:
    """Send what the outbox holds (alerts, digests); failures stay queued with a backoff."""
    ctx = context()
    with ctx.sessions() as session:
        result = digest.deliver_outbox(session, digest.file_sender(ctx.settings.data_dir / "outbox"))
    return len(result.sent)


def weekly_digest() -> bool:
    """On Mondays, put last week's digest in the outbox (once per week, however often called)."""
    ctx = context()
    today = dt.date.today()
    if today.weekday() != 0:
        return False
    with db.transaction(ctx.sessions) as session:
        digest.queue_digest(session, today, ctx.settings.min_group_size, ctx.settings.public_url)
    return True


def sweep() -> int:
    """Queue every stored but unprocessed note (after a queue outage or a lost job)."""
    ctx = context()
    with ctx.sessions() as session:
        ids = list(session.scalars(select(Observation.id).where(Observation.processed_at.is_(None))))
    if ids:
        queue.enqueue_process(queue.connect(ctx.settings.redis_url), ids, ctx.settings.batch_size)
    return len(ids)


def reindex(progress: Callable[[int], Callable[[int], Any]] | None = None) -> int:
    """Rebuild the vector index from the database with the configured model."""
    ctx = context()
    store = VectorStore(
        ctx.settings.chroma_url, ctx.embedder.model_id, collection=ctx.settings.chroma_collection, reset=True
    )
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
        session.merge(Setting(key="vector_model", value=ctx.embedder.model_id))
        session.merge(Setting(key="reindexed_at", value=dt.datetime.now(dt.UTC).isoformat()))
    return len(ids)
