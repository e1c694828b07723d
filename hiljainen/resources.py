"""Per-application resources: settings, database sessions, queue, vector store, models.

Slow resources (models, connections) are created on first use and shared by all requests.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import redis
from flask import Flask, current_app, g
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from hiljainen import db, intake
from hiljainen.config import Settings
from hiljainen.errors import ConfigError
from hiljainen.services import prepare_data_dir

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from hiljainen.pipeline.embed import Embedder
    from hiljainen.pipeline.redact import Redaction, Redactor
    from hiljainen.stores.vectors import VectorStore


@dataclass
class Resources:
    """What one application instance shares between its requests."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    # Re-entrant: vectors() asks for embedder() while building the store.
    _lock: threading.RLock = field(default_factory=threading.RLock)
    # spaCy is not documented as thread-safe: every web-thread use of a pipeline (redaction,
    # query analysis) takes turns under this lock (a note takes ~5 ms).
    nlp_lock: threading.Lock = field(default_factory=threading.Lock)
    _cache: dict[str, Any] = field(default_factory=dict)

    def _once(self, key: str, make: Any) -> Any:
        with self._lock:
            if key not in self._cache:
                self._cache[key] = make()
            return self._cache[key]

    def redis(self) -> redis.Redis:
        """The queue's Redis connection (created lazily; it may be down)."""
        from hiljainen.stores.queue import connect

        if not self.settings.redis_url:
            raise ConfigError("HILJAINEN_REDIS_URL is not set (`hiljainen serve` sets it)")
        return self._once("redis", lambda: connect(self.settings.redis_url))  # type: ignore[no-any-return]

    def embedder(self) -> Embedder:
        """The configured embedding model, loaded once."""
        from hiljainen.pipeline.embed import load_embedder

        s = self.settings
        return self._once("embedder", lambda: load_embedder(s.embed_backend, s.embed_model))  # type: ignore[no-any-return]

    def vectors(self) -> VectorStore:
        """The Chroma collection; retried on the next call if the server was down."""
        from hiljainen.stores.vectors import VectorStore

        if not self.settings.chroma_url:
            raise ConfigError("HILJAINEN_CHROMA_URL is not set (`hiljainen serve` sets it)")
        return self._once(  # type: ignore[no-any-return]
            "vectors",
            lambda: VectorStore(
                self.settings.chroma_url, self.embedder().model_id, collection=self.settings.chroma_collection
            ),
        )

    def redactor(self) -> Redactor:
        """The personal-data redactor (spaCy pipelines loaded once), safe to share between threads."""
        from hiljainen.pipeline.redact import Redactor

        return self._once(  # type: ignore[no-any-return]
            "redactor", lambda: _LockedRedactor(Redactor(), self.nlp_lock)
        )


class _LockedRedactor:
    """The redactor, taking turns with other spaCy users (Resources.nlp_lock)."""

    def __init__(self, inner: Redactor, lock: threading.Lock) -> None:
        self._inner = inner
        self._lock = lock

    def redact(self, text: str, lang: str | None = None) -> Redaction:
        with self._lock:
            return self._inner.redact(text, lang)

    def redact_many(self, texts: Sequence[str], langs: Sequence[str] | None = None) -> list[Redaction]:
        with self._lock:
            return self._inner.redact_many(texts, langs)


def init_app(app: Flask, settings: Settings) -> None:
    """Attach settings, the database and lazy resources to the app."""
    prepare_data_dir(settings.data_dir)
    engine = db.make_engine(settings.sqlalchemy_url)
    if settings.sqlalchemy_url.startswith("sqlite") and not db.has_schema(engine):
        db.upgrade(settings.sqlalchemy_url)  # the embedded default migrates itself
    app.extensions["hiljainen"] = Resources(settings, engine, db.make_sessionmaker(engine))
    app.config.update(
        SECRET_KEY=settings.secret_key or _stored_secret(settings),
        MAX_CONTENT_LENGTH=8 * 1024 * 1024,
        MAX_NOTE_CHARS=settings.max_note_chars,
    )
    app.teardown_appcontext(_close_session)


def warm_up(app: Flask) -> threading.Thread:
    """Load the models a first note or search would wait for (redaction took 15 s on the first note
    after a start), in the background: the server answers meanwhile, and a request that needs
    a model still loading waits for it."""

    def load() -> None:
        with app.app_context():
            try:
                get().redactor().redact("Hoitaja Matti soitti eilen.", "fi")
                get().embedder().embed(["iltapala jäi syömättä"], kind="query")
            except Exception:  # the first request will report it
                log.warning("warming up the models failed", exc_info=True)

    thread = threading.Thread(target=load, name="warm-up", daemon=True)
    thread.start()
    return thread


def get() -> Resources:
    """The current application's resources."""
    return current_app.extensions["hiljainen"]  # type: ignore[no-any-return]


def session() -> Session:
    """The request's database session (closed at the end of the request)."""
    if "db" not in g:
        g.db = get().sessions()
    return g.db  # type: ignore[no-any-return]


def _close_session(_exc: BaseException | None) -> None:
    s = g.pop("db", None)
    if s is not None:
        s.close()


def _stored_secret(settings: Settings) -> str:
    """A signing key generated once and kept in the data folder (readable by the owner only)."""
    path = settings.data_dir / "secret_key"
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_hex(32))
    return path.read_text().strip()


def submit(draft: intake.Draft) -> intake.Stored:
    """Store a note from a web request, commit, then queue it: the note is safe if the queue is down."""
    res = get()
    db = session()
    stored = intake.store(db, draft, res.redactor(), max_chars=res.settings.max_note_chars)
    db.commit()
    try:
        conn = res.redis()
    except Exception:  # noqa: BLE001 - no queue configured: the sweeper picks the note up
        conn = None
    stored.queued = intake.queue_processing(conn, [stored.observation.id], res.settings.batch_size)
    return stored
