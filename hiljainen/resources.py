"""The web app's hold on the runtime (hiljainen.runtime): attached to the app at start, read by
requests through get() and session() (one database session per request, closed at its end)."""

from __future__ import annotations

import logging
import secrets
import threading

from flask import Flask, current_app, g
from sqlalchemy.orm import Session

from hiljainen import db, intake, privacy
from hiljainen.config import Settings
from hiljainen.runtime import Runtime
from hiljainen.services import prepare_data_dir

log = logging.getLogger(__name__)


def init_app(app: Flask, settings: Settings, runtime: Runtime | None = None) -> None:
    """Attach the runtime (settings, database, lazy models and stores) to the app."""
    prepare_data_dir(settings.data_dir)
    runtime = runtime or Runtime.from_settings(settings)
    if settings.sqlalchemy_url.startswith("sqlite") and not db.has_schema(runtime.engine):
        db.upgrade(settings.sqlalchemy_url)  # the embedded default migrates itself
    app.extensions["hiljainen"] = runtime
    app.config.update(
        SECRET_KEY=app_secret(settings),
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


def get() -> Runtime:
    """The current application's runtime."""
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


def app_secret(settings: Settings) -> str:
    """The web app's signing key (privacy.app_secret), generated into the data folder on first use
    (readable by the owner only). It also keys the CSV import keys (csv_import.py)."""
    path = settings.data_dir / "secret_key"
    if not settings.secret_key and not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_hex(32))
    return privacy.app_secret(settings)


def submit(draft: intake.Draft) -> intake.Stored:
    """Store a note from a web request, commit, then queue it: the note is safe if the queue is down."""
    res = get()
    db = session()
    stored = intake.store(db, draft, res.redactor(), max_chars=res.settings.max_note_chars,
                          today=res.settings.today())
    db.commit()
    try:
        conn = res.redis()
    except Exception:  # noqa: BLE001 - no queue configured: the sweeper picks the note up
        conn = None
    stored.queued = intake.queue_processing(conn, [stored.observation.id], res.settings.batch_size)
    return stored
