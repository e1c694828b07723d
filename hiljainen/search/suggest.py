"""Suggestions under a note form and "me too" voices: which notes may be shown to which writer.

The rules are told in the package docstring (hiljainen.search, "Who sees what")."""

from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass

from flask import (
    current_app,
    session,
)
from sqlalchemy.orm import Session

from hiljainen import resources
from hiljainen.models import Observation, Source, Touchpoint, User
from hiljainen.rules import PUBLIC_ROLES, user_reporter_key
from hiljainen.search import sql
from hiljainen.search.engine import MIN_ANN_K, Item, make_item
from hiljainen.search.query import vector_where
from hiljainen.search.sql import Filters

SUGGEST_K = 3

SUGGEST_DAYS = 90

SUGGEST_MIN_CHARS = 15

SUGGEST_MAX_CHARS = 1000  # only the start of a long draft is compared (the model reads 512 tokens)

# Cosine floor for suggestions, on Turku paraphrase pairs (bench/search_quality.py): 98% of
# paraphrase pairs are above it, and 68% of lines' nearest unrelated line (so the best few are
# shown, ranked). 0.92 for the untaught multilingual-e5-small; 0.65 for the notes encoder, whose
# cosines spread wider. Other embedders need their own.
SUGGEST_MIN_SIMILARITY = 0.65

# What redaction may have missed, kept from other writers' eyes all the same: an "@", seven or
# more digits in a row however spaced or dashed ("040 - 765 4321", "0 4 0 7 6 5 4 3 2 1"; dots
# do not join them, so a date does not count), or a personal identity code written with dots.
_PERSONAL_LOOKING = re.compile(r"@|(?:\d[\s\-/_()]*){6}\d|\b\d{2}\.?\d{2}\.?\d{2}[-+A]?\d{3}[0-9A-Y]\b")


@dataclass(frozen=True)
class Audience:
    """Who is writing a note, which decides which existing notes may be suggested to them."""

    sources: tuple[Source, ...]
    unit_id: int | None = None
    touchpoint_id: int | None = None
    user_id: int | None = None  # a staff writer's own notes are not suggested back to them

    def filters(self, today: dt.date) -> Filters:
        """The filters of the notes this audience may see (sources are checked separately)."""
        since = today - dt.timedelta(days=SUGGEST_DAYS)
        if self.unit_id is not None:
            return Filters(since=since, unit_id=self.unit_id)
        return Filters(since=since, touchpoint_id=self.touchpoint_id)


def staff_audience(user: User) -> Audience:
    """Staff: colleagues' staff notes of the writer's unit (all units if the writer has none)."""
    return Audience((Source.STAFF,), unit_id=user.unit_id, user_id=user.id)


def public_audience(touchpoint: Touchpoint) -> Audience:
    """A public form: customers', relatives' and partners' notes of the touchpoint's unit."""
    if touchpoint.unit_id is not None:
        return Audience(PUBLIC_ROLES, unit_id=touchpoint.unit_id)
    return Audience(PUBLIC_ROLES, touchpoint_id=touchpoint.id)


def safe_to_suggest(note: Observation, audience: Audience, today: dt.date) -> bool:
    """True when this note may be shown to this audience under a note form (module docstring)."""
    f = audience.filters(today)
    return (
        note.shareable
        and note.processed_at is not None
        and note.duplicate_of_id is None
        and not any((note.redactions or {}).values())
        and not _PERSONAL_LOOKING.search(note.text)
        and note.source in audience.sources
        and (audience.user_id is None or note.author_id != audience.user_id)
        and note.day >= f.since  # type: ignore[operator]
        and note.day <= today
        and (f.unit_id is None or note.unit_id == f.unit_id)
        and (f.touchpoint_id is None or note.touchpoint_id == f.touchpoint_id)
    )


def suggestions(db: Session, text: str, audience: Audience, k: int = SUGGEST_K) -> list[Item]:
    """Recent notes that may say what the draft says, safe to show to this audience."""
    res = resources.get()
    today = res.settings.today()
    vector = res.embedder().embed([text[:SUGGEST_MAX_CHARS]], kind="passage")[0]
    f = audience.filters(today)
    where = vector_where(f, {"source": {"$in": [s.value for s in audience.sources]}})
    hits = [
        h
        for h in res.vectors().query(vector, MIN_ANN_K, where=where)
        if h.similarity >= SUGGEST_MIN_SIMILARITY
    ]
    notes = sql.load_notes(db, [h.id for h in hits])
    safe = [n for n in notes if safe_to_suggest(n, audience, today)][:k]
    sims = {h.id: h.similarity for h in hits}
    voices = sql.voice_counts(db, [n.id for n in safe])
    items = []
    for note in safe:
        item = make_item(note, width=280)
        item.similarity, item.voices = sims[note.id], voices.get(note.id, 0)
        items.append(item)
    return items


def reporter_key(user: User | None) -> str:
    """A stable key per reporter: a keyed hash of a user id, or a random per-browser id."""
    if user is not None:
        return user_reporter_key(str(current_app.secret_key), user.id)
    # Kept in the signed session cookie only; it links to no person and no address.
    if "reporter_key" not in session:
        session["reporter_key"] = "b:" + secrets.token_hex(16)
    return str(session["reporter_key"])
