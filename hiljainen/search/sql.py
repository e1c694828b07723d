"""SQL queries for search: filters, lemma rows for the keyword index, visibility, voices."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from hiljainen.models import Observation, Source, Voice
from hiljainen.pipeline.tone import UNSURE_BELOW
from hiljainen.rules import public_id_shape

# SQL engines limit bound parameters (SQLite 32,766, PostgreSQL 65,535): id lists go in chunks.
ID_CHUNK = 5000


@dataclass(frozen=True)
class Filters:
    """What a search may return: the user's filters plus the viewer's scope (author_id for staff)."""

    since: dt.date | None = None
    until: dt.date | None = None
    unit_id: int | None = None
    touchpoint_id: int | None = None
    source: Source | None = None
    lang: str | None = None
    theme_id: int | None = None
    tone: str | None = None  # as the note shows it: a label, or "uncertain" (rules.SHOWN_TONES)
    author_id: int | None = None  # staff see their own signed notes only

    @property
    def any(self) -> bool:
        """True when anything narrows the search."""
        return any(v is not None for v in self.__dict__.values())

    @property
    def sql_only(self) -> bool:
        """True when a filter is not among the vector metadata (theme, tone, author)."""
        return any(v is not None for v in (self.theme_id, self.tone, self.author_id))


def searchable(query: Select[Any], f: Filters) -> Select[Any]:
    """Restrict a select over Observation to processed, non-duplicate notes passing the filters."""
    o = Observation
    query = query.where(o.processed_at.is_not(None), o.duplicate_of_id.is_(None))
    conditions = [
        (f.since, lambda v: o.day >= v),
        (f.until, lambda v: o.day <= v),
        (f.unit_id, lambda v: o.unit_id == v),
        (f.touchpoint_id, lambda v: o.touchpoint_id == v),
        (f.source, lambda v: o.source == v),
        (f.lang, lambda v: o.lang == v),
        (f.theme_id, lambda v: o.theme_id == v),
        (f.tone, shows_tone),
        (f.author_id, lambda v: o.author_id == v),
    ]
    for value, condition in conditions:
        if value is not None:
            query = query.where(condition(value))
    return query


def shows_tone(tone: str) -> ColumnElement[bool]:
    """Notes whose tone shows as `tone` (pipeline.tone.shown_tone): "uncertain" for a label the
    model is unsure of, else the label, so a filter finds exactly the notes that show it."""
    o = Observation
    if tone == "uncertain":
        return and_(o.tone.is_not(None), o.tone_confidence < UNSURE_BELOW)
    return and_(o.tone == tone, or_(o.tone_confidence.is_(None), o.tone_confidence >= UNSURE_BELOW))


def count_matching(session: Session, f: Filters, cap: int | None = None) -> int:
    """How many searchable notes pass the filters (counting stops at `cap`, which is cheaper)."""
    if cap is None:
        return session.scalar(searchable(select(func.count(Observation.id)), f)) or 0
    capped = searchable(select(Observation.id), f).limit(cap).subquery()
    return session.scalar(select(func.count()).select_from(capped)) or 0


def matching_ids(session: Session, f: Filters, limit: int) -> list[int]:
    """Ids of searchable notes passing the filters, newest first, at most `limit`."""
    query = searchable(select(Observation.id), f).order_by(Observation.id.desc()).limit(limit)
    return list(session.scalars(query))


def listing_order() -> tuple[Any, ...]:
    """How every list of notes shown to people is ordered: newest day first, then by public id.
    Never by the integer id: its order is the submission order, which would place an anonymous
    note among the same writer's signed notes of that day."""
    return Observation.day.desc(), Observation.public_id


def by_public_id(session: Session, public_id: str) -> Observation | None:
    """The note a link or an API call names; None for an unknown or malformed id."""
    if not public_id_shape(public_id):
        return None
    return session.scalar(select(Observation).where(Observation.public_id == public_id))


def public_ids(session: Session, ids: Sequence[int]) -> dict[int, str]:
    """Internal id -> public id, for pages that link to notes known by their internal ids."""
    out: dict[int, str] = {}
    for chunk in _chunks(ids):
        query = select(Observation.id, Observation.public_id).where(Observation.id.in_(chunk))
        out.update(session.execute(query).tuples().all())
    return out


def languages(session: Session, ids: Sequence[int]) -> dict[int, str | None]:
    """Internal id -> the note's detected language (None before the pipeline has seen it)."""
    out: dict[int, str | None] = {}
    for chunk in _chunks(ids):
        query = select(Observation.id, Observation.lang).where(Observation.id.in_(chunk))
        out.update(session.execute(query).tuples().all())
    return out


def keep_matching(session: Session, ids: Sequence[int], f: Filters) -> list[int]:
    """The ids that are searchable and pass the filters, in the given order."""
    ok: set[int] = set()
    for chunk in _chunks(ids):
        ok.update(session.scalars(searchable(select(Observation.id), f).where(Observation.id.in_(chunk))))
    return [i for i in ids if i in ok]


def load_notes(session: Session, ids: Sequence[int]) -> list[Observation]:
    """Notes by id with unit and touchpoint loaded, in the given order (missing ids skipped)."""
    rows: dict[int, Observation] = {}
    for chunk in _chunks(ids):
        query = (
            select(Observation)
            .where(Observation.id.in_(chunk))
            .options(selectinload(Observation.unit), selectinload(Observation.touchpoint))
        )
        rows.update((o.id, o) for o in session.scalars(query))
    return [rows[i] for i in ids if i in rows]


def lemma_rows(
    session: Session, ids: Sequence[int] | None = None, *, batch: int = 5000
) -> Iterator[tuple[int, list[str]]]:
    """(id, lemmas) of the processed notes, or of those among `ids`."""
    o = Observation
    query = select(o.id, o.lemmas).where(o.processed_at.is_not(None))
    parts: Iterable[Sequence[int] | None] = [None] if ids is None else _chunks(ids)
    for part in parts:
        chosen = query if part is None else query.where(o.id.in_(part))
        for row in session.execute(chosen.execution_options(yield_per=batch)):
            yield row[0], list(row[1] or [])


def last_id(session: Session) -> int | None:
    """The highest note id (read from the primary key's end, whatever the table's size)."""
    return session.scalar(select(func.max(Observation.id)))


def processed_ids(session: Session, since: dt.datetime) -> list[int]:
    """The ids of the notes whose processed_at is `since` or later (processed_at is indexed)."""
    o = Observation
    return list(session.scalars(select(o.id).where(o.processed_at >= since)))


def voice_counts(session: Session, ids: Sequence[int]) -> dict[int, int]:
    """How many "me too" voices each note has (notes without voices are left out)."""
    out: dict[int, int] = {}
    for chunk in _chunks(ids):
        query = (
            select(Voice.observation_id, func.count(Voice.id))
            .where(Voice.observation_id.in_(chunk))
            .group_by(Voice.observation_id)
        )
        out.update((int(i), int(n)) for i, n in session.execute(query))
    return out


def add_voice(
    session: Session,
    observation_id: int,
    reporter_key: str,
    source: Source,
    unit_id: int | None,
    day: dt.date,
) -> bool:
    """Record one more reporter for a note; False if this reporter had already joined it."""
    exists = session.scalar(
        select(Voice.id).where(Voice.observation_id == observation_id, Voice.reporter_key == reporter_key)
    )
    if exists is not None:
        return False
    try:
        with session.begin_nested():  # a concurrent double click hits the unique constraint
            session.add(
                Voice(
                    observation_id=observation_id,
                    reporter_key=reporter_key,
                    source=source,
                    unit_id=unit_id,
                    day=day,
                )
            )
    except IntegrityError:
        return False
    return True


def duplicates_of(session: Session, observation_id: int) -> list[int]:
    """Ids of notes linked as duplicates of this one."""
    query = (
        select(Observation.id).where(Observation.duplicate_of_id == observation_id).order_by(Observation.id)
    )
    return list(session.scalars(query))


def _chunks(ids: Sequence[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), ID_CHUNK):
        yield list(ids[start : start + ID_CHUNK])
