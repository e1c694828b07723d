"""One runtime for the web app, the worker and the CLI: settings, the database, and the slow
resources (embedder, vector store, queue connection, redactor, tone model, search engine).

Slow resources are made on first use, once, and shared by every request or job of the process;
`Runtime.from_settings(settings, embedder=..., search=...)` lets a test (or a tool) hand in a
loaded model or its own search engine.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import redis
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from hiljainen import db
from hiljainen.config import TONE_MODEL_DIR, Settings
from hiljainen.errors import ConfigError, HiljainenError

if TYPE_CHECKING:
    from hiljainen.pipeline.embed import Embedder
    from hiljainen.pipeline.redact import Redaction, Redactor
    from hiljainen.pipeline.tone import ToneModel
    from hiljainen.search.engine import SearchEngine
    from hiljainen.stores.vectors import VectorStore

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """What one process (web app, worker, CLI command) shares between its requests or jobs."""

    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    # Re-entrant: vectors() asks for embedder() while building the store.
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    # spaCy is not documented as thread-safe: every web-thread use of a pipeline (redaction,
    # query analysis) takes turns under this lock (a note takes ~5 ms).
    nlp_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _cache: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_settings(
        cls, settings: Settings, embedder: Embedder | None = None, search: SearchEngine | None = None
    ) -> Runtime:
        """A runtime for these settings; `embedder` (already loaded) is used instead of loading one,
        `search` instead of making one."""
        engine = db.make_engine(settings.sqlalchemy_url)
        runtime = cls(settings, engine, db.make_sessionmaker(engine))
        if embedder is not None:
            runtime._cache["embedder"] = embedder
        if search is not None:
            runtime._cache["search"] = search
        return runtime

    def _once(self, key: str, make: Callable[[], Any]) -> Any:
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
        """The note vectors; opened on first use, and again on the next call if Chroma was down."""
        return self._once("vectors", lambda: vector_store(self.settings, self.embedder().model_id))  # type: ignore[no-any-return]

    def forget_vectors(self) -> None:
        """Drop the vector store client after a failure, so the next use reconnects (e.g. to a
        restarted Chroma server)."""
        with self._lock:
            self._cache.pop("vectors", None)

    def search(self) -> SearchEngine:
        """The retrieval engine: its keyword index and query caches live as long as the process."""
        from hiljainen.search.engine import SearchEngine

        return self._once("search", lambda: SearchEngine(self.embedder, self.vectors))  # type: ignore[no-any-return]

    def redactor(self) -> Redactor:
        """The personal-data redactor (spaCy pipelines loaded once), safe to share between threads."""
        from hiljainen.pipeline.redact import Redactor

        return self._once(  # type: ignore[no-any-return]
            "redactor", lambda: _LockedRedactor(Redactor(), self.nlp_lock)
        )

    def tone(self) -> ToneModel | None:
        """The tone classifier for this embedder; None (tone left empty) if it was trained for another."""
        return self._once("tone", self._load_tone)  # type: ignore[no-any-return]

    def _load_tone(self) -> ToneModel | None:
        from hiljainen.pipeline.tone import ToneModel

        try:
            return ToneModel.load(TONE_MODEL_DIR, model_id=self.embedder().model_id)
        except HiljainenError as exc:  # tone is an extra: notes are processed without it
            log.warning("tone is not estimated: %s", exc)
            return None


def vector_store(settings: Settings, model_id: str, *, reset: bool = False) -> VectorStore:
    """A client of the configured collection of vectors made by `model_id` (reset: emptied first)."""
    from hiljainen.stores.vectors import VectorStore

    if not settings.chroma_url:
        raise ConfigError("HILJAINEN_CHROMA_URL is not set (`hiljainen serve` sets it)")
    return VectorStore(settings.chroma_url, model_id, collection=settings.chroma_collection, reset=reset)


class _LockedRedactor:
    """The redactor, taking turns with other spaCy users (Runtime.nlp_lock)."""

    def __init__(self, inner: Redactor, lock: threading.Lock) -> None:
        self._inner = inner
        self._lock = lock

    def redact(self, text: str, lang: str | None = None) -> Redaction:
        with self._lock:
            return self._inner.redact(text, lang)

    def redact_many(self, texts: Sequence[str], langs: Sequence[str] | None = None) -> list[Redaction]:
        with self._lock:
            return self._inner.redact_many(texts, langs)
