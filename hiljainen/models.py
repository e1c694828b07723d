"""ORM tables. Text stored here is already redacted; the raw text is never stored."""

from __future__ import annotations

import datetime as dt
import enum
import secrets
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> dt.datetime:
    """The current time in UTC, timezone-aware."""
    return dt.datetime.now(dt.UTC)


def local_day(moment: dt.datetime, zone: dt.tzinfo) -> dt.date:
    """The day a stored moment (UTC; SQLite gives it back without a zone) falls on in `zone`."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).astimezone(zone).date()


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


class Role(enum.StrEnum):
    STAFF = "staff"
    LEADER = "leader"
    ADMIN = "admin"


class Source(enum.StrEnum):
    """Who wrote a note."""

    STAFF = "staff"
    CUSTOMER = "customer"
    RELATIVE = "relative"
    PARTNER = "partner"


class Status(enum.StrEnum):
    """Where a note or theme is in the response loop."""

    NEW = "new"
    SEEN = "seen"
    IN_PROGRESS = "in_progress"
    DONE = "done"


def _enum(kind: type[enum.Enum]) -> Enum:
    # Stored as plain strings so PostgreSQL and SQLite behave alike and adding a value is cheap.
    return Enum(kind, native_enum=False, length=20, values_callable=lambda k: [m.value for m in k])


class Unit(Base):
    __tablename__ = "units"
    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(60), unique=True)
    name_fi: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    # A retired unit stays on its notes but is no longer offered for new notes or accounts.
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())


class Touchpoint(Base):
    __tablename__ = "touchpoints"
    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(60), unique=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    name_fi: Mapped[str] = mapped_column(String(200))
    name_en: Mapped[str] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    unit: Mapped[Unit | None] = relationship()


def new_session_key() -> str:
    """A random key a user's login sessions are bound to (see hiljainen.accounts)."""
    return secrets.token_hex(16)


class User(Base):
    __tablename__ = "users"
    # Never reuse an id on SQLite: an erased account's cookie or token must not become another's.
    __table_args__ = {"sqlite_autoincrement": True}
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(300))
    role: Mapped[Role] = mapped_column(_enum(Role))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Every login session carries this key; replacing it ends them all (logout, password or role
    # change, disabling the account).
    session_key: Mapped[str] = mapped_column(String(64), default=new_session_key, server_default="")
    # The user's own address and choice: answers to their notes also come by e-mail.
    email: Mapped[str | None] = mapped_column(String(254))
    answers_by_email: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    unit: Mapped[Unit | None] = relationship()


class ApiToken(Base):
    """A bearer token; only its SHA-256 is stored."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[Role] = mapped_column(_enum(Role))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)


PUBLIC_ID_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read out without doubt
PUBLIC_ID_LENGTH = 12  # 31**12, about 2**59: not guessable, not in submission order


def new_public_id() -> str:
    """The id a note is shown and addressed by: random, so neighbouring notes say nothing of
    who wrote them or in which order (the integer id stays inside the service)."""
    return "".join(secrets.choice(PUBLIC_ID_ALPHABET) for _ in range(PUBLIC_ID_LENGTH))


class Observation(Base):
    """One note. Anonymous notes keep no author, no address and only the day."""

    __tablename__ = "observations"
    __table_args__ = {"sqlite_autoincrement": True}  # an erased note's id is never given again
    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(24), unique=True, index=True, default=new_public_id)
    text: Mapped[str] = mapped_column(Text)
    source: Mapped[Source] = mapped_column(_enum(Source), index=True)
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"), index=True)
    touchpoint_id: Mapped[int | None] = mapped_column(ForeignKey("touchpoints.id"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    # The writer's choice: other writers may be shown this text as a similar note (never who wrote
    # it). Without that choice a note is never suggested to anyone.
    shareable: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    day: Mapped[dt.date] = mapped_column(Date, index=True)
    created_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    tags: Mapped[list[Any]] = mapped_column(default=list)
    # Hash of the receipt code: the only link between an anonymous writer and their note.
    receipt_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    # The public form's "I want an answer" tick, and the contact the writer typed beside it (never
    # in the text; shown only in triage, deleted when the note is closed).
    wants_answer: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    contact: Mapped[str | None] = mapped_column(String(300))
    import_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    redactions: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[Status] = mapped_column(_enum(Status), default=Status.NEW, index=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    acknowledged_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    # Filled by the worker.
    lang: Mapped[str | None] = mapped_column(String(8))
    lemmas: Mapped[list[Any]] = mapped_column(default=list)
    keywords: Mapped[list[Any]] = mapped_column(default=list)
    tone: Mapped[str | None] = mapped_column(String(10))
    tone_confidence: Mapped[float | None] = mapped_column(Float)
    # Midnight of a day, never the moment: the worker finishes a note seconds after it arrives, so
    # the moment would date an anonymous note (hiljainen.stores.processing).
    processed_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    vector_model: Mapped[str | None] = mapped_column(String(120))
    theme_id: Mapped[int | None] = mapped_column(ForeignKey("themes.id"), index=True)
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("observations.id"))

    unit: Mapped[Unit | None] = relationship()
    touchpoint: Mapped[Touchpoint | None] = relationship()
    author: Mapped[User | None] = relationship(foreign_keys=[author_id])


class Voice(Base):
    """'This is what I mean too': one more independent reporter for an observation."""

    __tablename__ = "voices"
    __table_args__ = (UniqueConstraint("observation_id", "reporter_key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    observation_id: Mapped[int] = mapped_column(ForeignKey("observations.id", ondelete="CASCADE"))
    # A user id, or a random per-browser key for customers; never an address.
    reporter_key: Mapped[str] = mapped_column(String(64))
    source: Mapped[Source] = mapped_column(_enum(Source))
    unit_id: Mapped[int | None] = mapped_column(ForeignKey("units.id"))
    day: Mapped[dt.date] = mapped_column(Date)


class Response(Base):
    """A step in the response loop: an answer to the writer, a writer's reply, or an action."""

    __tablename__ = "responses"
    id: Mapped[int] = mapped_column(primary_key=True)
    observation_id: Mapped[int] = mapped_column(ForeignKey("observations.id", ondelete="CASCADE"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(20))  # answer | reply | action
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class AuditEvent(Base):
    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(60))
    target: Mapped[str] = mapped_column(String(60))
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Theme(Base):
    """A group of notes with an identity that survives recomputation."""

    __tablename__ = "themes"
    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(String(200))
    custom_name: Mapped[str | None] = mapped_column(String(200))
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    keywords: Mapped[list[Any]] = mapped_column(default=list)
    representatives: Mapped[list[Any]] = mapped_column(default=list)
    centroid: Mapped[list[Any]] = mapped_column(default=list)
    size: Mapped[int] = mapped_column(Integer, default=0)
    first_seen: Mapped[dt.date | None] = mapped_column(Date)
    last_seen: Mapped[dt.date | None] = mapped_column(Date)
    signal: Mapped[str] = mapped_column(String(20), default="noise")
    emergence: Mapped[float] = mapped_column(Float, default=0.0)
    confidence: Mapped[str] = mapped_column(String(20), default="low")
    status: Mapped[Status] = mapped_column(_enum(Status), default=Status.NEW)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    # The computed name in people's words (label keeps the keywords, shown as secondary text).
    phrase: Mapped[str] = mapped_column(String(200), default="", server_default="")
    # The upper level: a topic's id is the id of its largest theme, its name that theme's phrase.
    topic_id: Mapped[int | None] = mapped_column(Integer)
    topic_name: Mapped[str] = mapped_column(String(200), default="", server_default="")
    # "Watch this": a small candidate a leader wants kept together and followed.
    watched: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    @property
    def name(self) -> str:
        """The leader's name for the theme if given, else the computed phrase, else the keywords."""
        return self.custom_name or self.phrase or self.label

    @property
    def held(self) -> bool:
        """Pinned or watched: a refresh never takes this theme's notes away."""
        return self.pinned or self.watched


class CorrectionKind(enum.StrEnum):
    """What a leader changed about a theme."""

    RENAME = "rename"
    MERGE = "merge"
    SPLIT = "split"
    MOVE = "move"
    NOT_NEW = "not_new"
    WATCH = "watch"
    PIN = "pin"
    UNDO = "undo"


class ThemeCorrection(Base):
    """One correction by a leader (who, when, what); refreshes turn the ones not undone into
    constraints on the grouping. `payload` holds the note ids and the state before, for undo."""

    __tablename__ = "theme_corrections"
    id: Mapped[int] = mapped_column(primary_key=True)
    theme_id: Mapped[int] = mapped_column(ForeignKey("themes.id", ondelete="CASCADE"), index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[CorrectionKind] = mapped_column(_enum(CorrectionKind))
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    undone: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    actor: Mapped[User | None] = relationship()


class ThemeRun(Base):
    """One recomputation of themes, written in one transaction."""

    __tablename__ = "theme_runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    notes: Mapped[int] = mapped_column(Integer, default=0)
    themes: Mapped[int] = mapped_column(Integer, default=0)
    unassigned: Mapped[int] = mapped_column(Integer, default=0)
    model_id: Mapped[str] = mapped_column(String(120), default="")


class ThemeEvent(Base):
    """Born, grew, merged, split, faded: the history of a theme."""

    __tablename__ = "theme_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("theme_runs.id", ondelete="CASCADE"))
    theme_id: Mapped[int] = mapped_column(ForeignKey("themes.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    other_theme_id: Mapped[int | None] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(Integer, default=0)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ThemePeriod(Base):
    """Signal measures of a theme in one week or month."""

    __tablename__ = "theme_periods"
    __table_args__ = (UniqueConstraint("theme_id", "period"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    theme_id: Mapped[int] = mapped_column(ForeignKey("themes.id", ondelete="CASCADE"))
    period: Mapped[str] = mapped_column(String(10))  # 2026-W07 or 2026-02
    start: Mapped[dt.date] = mapped_column(Date)
    count: Mapped[int] = mapped_column(Integer, default=0)
    measures: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Interpretation(Base):
    """What leadership made of a signal: meaning, decision, owner, review date."""

    __tablename__ = "interpretations"
    id: Mapped[int] = mapped_column(primary_key=True)
    theme_id: Mapped[int] = mapped_column(ForeignKey("themes.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    meaning: Mapped[str] = mapped_column(Text)
    decision: Mapped[str] = mapped_column(Text, default="")
    owner: Mapped[str] = mapped_column(String(200), default="")
    review_on: Mapped[dt.date | None] = mapped_column(Date)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Indicator(Base):
    """A theme, a theme's whole topic, or a saved search a leader tracks, with a target or threshold."""

    __tablename__ = "indicators"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    theme_id: Mapped[int | None] = mapped_column(ForeignKey("themes.id", ondelete="SET NULL"))
    # Count the notes of every theme in the tracked theme's topic, whichever themes it holds then.
    whole_topic: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    query: Mapped[str | None] = mapped_column(String(500))
    threshold: Mapped[float | None] = mapped_column(Float)
    target: Mapped[float | None] = mapped_column(Float)
    owner: Mapped[str] = mapped_column(String(200), default="")
    review_on: Mapped[dt.date | None] = mapped_column(Date)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class IndicatorValue(Base):
    __tablename__ = "indicator_values"
    __table_args__ = (UniqueConstraint("indicator_id", "period"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    indicator_id: Mapped[int] = mapped_column(ForeignKey("indicators.id", ondelete="CASCADE"))
    period: Mapped[str] = mapped_column(String(10))
    value: Mapped[float] = mapped_column(Float)


class Alert(Base):
    __tablename__ = "alerts"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(30))  # signal | burst | threshold
    theme_id: Mapped[int | None] = mapped_column(ForeignKey("themes.id", ondelete="SET NULL"))
    indicator_id: Mapped[int | None] = mapped_column(ForeignKey("indicators.id", ondelete="SET NULL"))
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    seen: Mapped[bool] = mapped_column(Boolean, default=False)
    signal: Mapped[str | None] = mapped_column(String(20))  # kind "signal": weak or strong


class OutboxMessage(Base):
    """An outgoing message kept until a deployment's sender delivers it."""

    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(30))  # email | webhook | digest
    subject: Mapped[str] = mapped_column(String(300))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str | None] = mapped_column(Text)
    # The one address of a personal message (an answer); cleared once the message is sent.
    recipient: Mapped[str | None] = mapped_column(String(300))


class Snapshot(Base):
    """Dashboard indicators precomputed by the workers for one scope ("all", "unit:<slug>", ...)."""

    __tablename__ = "snapshots"
    scope: Mapped[str] = mapped_column(String(120), primary_key=True)
    computed_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Setting(Base):
    """Small facts the service keeps about itself, e.g. which model built the vector index."""

    __tablename__ = "settings"
    key: Mapped[str] = mapped_column(String(60), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
