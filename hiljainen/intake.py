"""Taking a note in: validate, redact, store, then queue. Shared by forms, API, import and demo."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import secrets
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import redis
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from hiljainen.errors import ConfigError, InvalidInput, ServiceUnavailable
from hiljainen.models import Observation, Source, Touchpoint, Unit, User, utcnow
from hiljainen.stores import queue

if TYPE_CHECKING:
    from hiljainen.pipeline.redact import Redactor

log = logging.getLogger(__name__)

RECEIPT_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read aloud and typed on phones
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Unicode's direction overrides and isolates: they have no use in a note, and they reorder what a
# reader sees ("\u202e7654 321 040" shows a phone number that redaction did not recognise).
_DIRECTION_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")
# Hangul fillers: letters by category, yet they show nothing ("\u3164" alone looks like an empty note).
_FILLERS = frozenset("\u115f\u1160\u3164\uffa0")
# The longest stretch without a space a note may hold (a long web address fits): spaCy's tokenizer
# spent seconds on 5,000 punctuation marks in a row, in the web request and again in the worker.
MAX_UNBROKEN = 300
_UNBROKEN = re.compile(rf"\S{{{MAX_UNBROKEN + 1},}}")
MAX_TAGS = 10
TAG_CHARS = 40  # the longest tag kept
# How many years back a note's day may go (from 1 January). An older day is a typing mistake
# (0026 for 2026), and the weekly signals would count every week since it, for every theme.
OLDEST_YEARS = 10


def oldest_day(today: dt.date) -> dt.date:
    """The earliest day a note may be about."""
    return dt.date(today.year - OLDEST_YEARS, 1, 1)


@dataclass
class Draft:
    """A note as submitted, before validation. `day` defaults to today."""

    text: str
    source: Source
    unit: str | None = None
    touchpoint: str | None = None
    author: User | None = None
    anonymous: bool = False
    tags: Sequence[str] = ()
    contact: str | None = None
    day: dt.date | None = None
    import_key: str | None = None
    wants_receipt: bool = True
    wants_answer: bool = False  # the public form's "I want an answer" tick
    shareable: bool = False  # the writer lets other writers see the text as a similar note


@dataclass
class Stored:
    """The stored note and, for its writer only, the receipt code (shown once, kept as a hash)."""

    observation: Observation
    receipt: str | None
    queued: bool
    redacted: dict[str, int] = field(default_factory=dict)


def is_blank(text: str) -> bool:
    """True when nothing in the text shows: whitespace, format characters (zero-width spaces,
    joiners, soft hyphens, BOM, direction controls) and fillers only. Such a note or answer would
    reach its readers, and a receipt would be given for it, as an empty one."""
    return all(ch.isspace() or ch in _FILLERS or unicodedata.category(ch) == "Cf" for ch in text)


def clean_text(text: str, max_chars: int) -> str:
    """Normalised note text, or InvalidInput with a message that says what to change."""
    if _CONTROL.search(text):
        raise InvalidInput(_("The text contains invisible control characters; please remove them."))
    text = unicodedata.normalize("NFC", _DIRECTION_CONTROLS.sub("", text)).strip()
    if is_blank(text):
        raise InvalidInput(_("Write something before sending."))
    if "\ufffd" in text:
        raise InvalidInput(_("The text is not valid UTF-8; please copy it again."))
    if len(text) > max_chars:
        raise InvalidInput(
            _("The note is %(n)d characters; the limit is %(max)d.", n=len(text), max=max_chars)
        )
    if long := _UNBROKEN.search(text):
        raise InvalidInput(_("Part of the text runs %(n)d characters without a space (at most %(max)d); "
                             "please add spaces.", n=len(long.group()), max=MAX_UNBROKEN))
    return text


def clean_tags(tags: Sequence[str]) -> list[str]:
    """Lowercase, unique, short tags."""
    out: list[str] = []
    for tag in tags:
        tag = _strip_controls(tag).lower()[:TAG_CHARS]
        if not is_blank(tag) and tag not in out:
            out.append(tag)
    return out[:MAX_TAGS]


def _strip_controls(tag: str) -> str:
    """A tag without control characters (PostgreSQL cannot store NUL) or direction controls, dropped
    before redaction reads it: an override shows readers other characters than redaction read
    (U+202E before "7654 321 040" shows a phone number), and one inside a number hides it."""
    return _DIRECTION_CONTROLS.sub("", _CONTROL.sub("", tag)).strip()


def redact_tags(tags: Sequence[str], redactor: Redactor) -> tuple[list[str], Counter[str]]:
    """The tags clean_tags keeps, less any that holds personal data, and what those held. Such a
    tag is dropped whole, not kept with a marker: a tag is a label to filter and count notes by,
    and "[NIMI]" would put unrelated notes under one label while the words around the marker
    ("omainen [NIMI]") may still point at the person."""
    seen: list[str] = []
    kept: list[str] = []
    found: Counter[str] = Counter()
    for raw in tags:
        # Read as written (names are found more surely in their capitals), and past the characters
        # kept, so that a number cut off at the end is still recognised.
        tag = _strip_controls(raw)[: TAG_CHARS * 4]
        label = clean_tags([tag])
        if not label or label[0] in seen:
            continue
        seen.append(label[0])
        redaction = redactor.redact(tag)
        if redaction.found or redaction.uncertain:
            found.update(redaction.found)
        else:
            kept.append(label[0])
        if len(seen) == MAX_TAGS:  # the tags clean_tags would keep, each redacted once at most
            break
    return kept, found


def new_receipt() -> str:
    """A receipt code like K7QM-2XHD-P9TA (60 bits: not guessable)."""
    raw = "".join(secrets.choice(RECEIPT_ALPHABET) for _ in range(12))
    return "-".join(raw[i : i + 4] for i in range(0, 12, 4))


def receipt_hash(code: str) -> str:
    """The stored form of a receipt code (case and separators ignored)."""
    norm = re.sub(r"[^A-Z0-9]", "", code.upper())
    return hashlib.sha256(norm.encode()).hexdigest()


def store(
    db: Session, draft: Draft, redactor: Redactor, *, max_chars: int, today: dt.date | None = None
) -> Stored:
    """Validate, redact and add the note to the session (the caller commits, then queues). A note
    without a day is dated `today`: the deployment's date (Settings.today), else the server's."""
    text = clean_text(draft.text, max_chars)
    unit, touchpoint = _place(db, draft.unit, draft.touchpoint)
    redaction = redactor.redact(text)
    # Tags are shown in the API and exports as the text is: redacted as it is.
    tags, tag_found = redact_tags(draft.tags, redactor)
    found = Counter(redaction.found) + tag_found
    # Anonymous: no author, no exact time (the day is enough), nothing else that links a person.
    anonymous = draft.anonymous or draft.author is None
    receipt = new_receipt() if draft.wants_receipt else None
    contact = _CONTROL.sub("", draft.contact or "").strip()[:300] or None
    obs = Observation(
        text=redaction.text,
        redactions=dict(found),
        source=draft.source,
        unit_id=unit.id if unit else (touchpoint.unit_id if touchpoint else None),
        touchpoint_id=touchpoint.id if touchpoint else None,
        author_id=None if anonymous else draft.author.id,  # type: ignore[union-attr]
        anonymous=anonymous,
        # An uncertain redaction (a name-like word left in place) is never shown to others.
        shareable=draft.shareable and not redaction.uncertain,
        day=draft.day or today or dt.date.today(),
        created_at=None if anonymous else utcnow(),
        tags=tags,
        contact=contact,
        wants_answer=draft.wants_answer or contact is not None,  # a contact is given to get an answer
        receipt_hash=receipt_hash(receipt) if receipt else None,
        import_key=draft.import_key,
    )
    db.add(obs)
    db.flush()
    return Stored(obs, receipt, queued=False, redacted=dict(found))


def queue_processing(conn: redis.Redis | None, ids: Sequence[int], batch_size: int) -> bool:
    """Queue notes that are already committed; False (not an error) when the queue is down."""
    if conn is None or not ids:
        return False
    try:
        queue.enqueue_process(conn, len(ids), batch_size)
    except (ServiceUnavailable, ConfigError) as exc:
        log.warning("queue unavailable, %d notes wait for the sweeper: %s", len(ids), exc)
        return False
    return True


def _place(
    db: Session, unit_slug: str | None, touchpoint_slug: str | None
) -> tuple[Unit | None, Touchpoint | None]:
    unit = touchpoint = None
    for slug in (unit_slug, touchpoint_slug):
        if slug and (len(slug) > 60 or _CONTROL.search(slug)):
            raise InvalidInput(_("Unknown unit or touchpoint."))
    if unit_slug:
        unit = db.scalar(select(Unit).where(Unit.slug == unit_slug))
        if unit is None:
            raise InvalidInput(_("Unknown unit: %(slug)s", slug=unit_slug))
        # A retired place keeps its old notes; a new one naming it is refused with the reason.
        if not unit.active:
            raise InvalidInput(_("The unit %(slug)s is retired; it takes no new notes.", slug=unit_slug))
    if touchpoint_slug:
        touchpoint = db.scalar(select(Touchpoint).where(Touchpoint.slug == touchpoint_slug))
        if touchpoint is None:
            raise InvalidInput(_("Unknown touchpoint: %(slug)s", slug=touchpoint_slug))
        if not touchpoint.active:
            raise InvalidInput(
                _("The touchpoint %(slug)s is retired; it takes no new notes.", slug=touchpoint_slug)
            )
    # The note is counted under its unit: a touchpoint of another unit would put it in two places.
    # With no unit named, the note takes the touchpoint's (store).
    if unit and touchpoint and touchpoint.unit_id is not None and touchpoint.unit_id != unit.id:
        raise InvalidInput(_("The touchpoint %(touchpoint)s is not in the unit %(unit)s.",
                             touchpoint=touchpoint_slug, unit=unit_slug))
    return unit, touchpoint


def find_by_receipt(db: Session, code: str) -> Observation | None:
    """The note a receipt code belongs to, if any."""
    return db.scalar(select(Observation).where(Observation.receipt_hash == receipt_hash(code)))
