"""CSV import: validate the whole file, store the valid rows in one transaction, report the rest.

Columns (header row, any order, only `text` required): text, source, unit, touchpoint, day,
tags, anonymous, or the interface's Finnish words for them (teksti, kirjoittaja, yksikkö,
kohtaamispiste, päivä, tunnisteet, nimetön). Cells speak the interface's words too: a unit or
touchpoint by its short name or by the name the interface shows in Finnish or English
("Kotihoito", "Home care"), the writer as "asiakas", "omainen", "henkilöstö", "customer"..., the
day as 2026-12-06 or as Finns write it (6.12.2026, with or without a time). Comma, semicolon or
tab separated; UTF-8 with or without a BOM. A line that is not UTF-8 is reported with its
number; the other rows still import. Each row gets an import key (an HMAC, keyed with the web
app's secret key, of a SHA-256 of its normalised content and how many identical rows came before it
in the file), so importing the same file again skips the rows already imported, while two identical
notes in one file both count; a row that names a place or writer by its shown name is the same row
as one that uses the short name. The content is the text before redaction: a plain hash of it could
be brute-forced back to the redacted parts by anyone who reads the database, a keyed one cannot.
Rows imported before keys were keyed (a bare SHA-256) are rekeyed by the next import.
Imported notes have no author: they are stored as anonymous, without receipts.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import functools
import hashlib
import hmac
import io
import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, cast

from flask_babel import gettext as _
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from hiljainen import intake
from hiljainen.errors import InvalidInput
from hiljainen.models import AuditEvent, Observation, Source, Touchpoint, Unit
from hiljainen.rules import SLUG_MAX

if TYPE_CHECKING:
    from hiljainen.pipeline.redact import Redaction, Redactor

COLUMNS = ("text", "source", "unit", "touchpoint", "day", "tags", "anonymous")
# The interface's words for the columns (its Finnish labels and their everyday variants).
COLUMN_ALIASES = {
    "teksti": "text",
    "huomio": "text",
    "note": "text",
    "kirjoittaja": "source",
    "lähde": "source",
    "writer": "source",
    "yksikkö": "unit",
    "kohtaamispiste": "touchpoint",
    "päivä": "day",
    "päivämäärä": "day",
    "pvm": "day",
    "date": "day",
    "tunnisteet": "tags",
    "tunniste": "tags",
    "nimetön": "anonymous",
    "anonyymi": "anonymous",
}
# Writers as people call them, besides the interface's own labels (read from its catalogs).
SOURCE_WORDS = {
    Source.STAFF: ("henkilökunta", "työntekijä", "hoitaja", "employee", "employees"),
    Source.CUSTOMER: ("asiakkaat", "asukas", "client", "customers", "resident", "patient", "potilas"),
    Source.RELATIVE: ("omaiset", "läheinen", "family", "relatives", "next of kin"),
    Source.PARTNER: ("kumppani", "partners", "yhteistyötaho"),
}
DELIMITERS = (",", ";", "\t")
# Rows one file may hold: a file is read, redacted and stored in one request (an 8 MB file of
# one-letter rows would be four million of them).
MAX_ROWS = 20_000
YES = {"1", "true", "yes", "y", "x", "kyllä", "k", "on"}
NO = {"", "0", "false", "no", "n", "ei", "off"}
_ISO_DAY = re.compile(r"(\d{4})-(\d{2})-(\d{2})")
_FI_DAY = re.compile(r"(\d{1,2})\.(\d{1,2})\.(\d{4})")  # what Finnish spreadsheets write
# A time after the day ("6.12.2026 14:30", "6.12.2026 klo 14.30", "2026-12-06T14:30:00") is dropped.
_TIME_TAIL = r"(?:[ T]+(?:klo\s*)?\d{1,2}[:.]\d{2}(?:[:.]\d{2}(?:\.\d+)?)?)?"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_BAD_BYTE = re.compile(r"[\udc80-\udcff]")  # bytes that were not UTF-8, kept by surrogateescape
_TAG_SPLIT = re.compile(r"[,;|]")
_KEY_CHUNK = 500
# Keyed import keys start with this (a bare SHA-256 is 64 hex digits); the column holds 64 characters.
_KEYED = "h:"
# Texts per redact_many call: the web app's redactor holds the NLP lock that searches and notes wait
# for during each call, so a big import must let them in between batches (a whole 20,000-row
# file in one call held it for 86 s).
REDACT_CHUNK = 64


@dataclass
class ImportReport:
    """What an import did: ids stored, rows already imported before, and every invalid row."""

    imported: list[int] = field(default_factory=list)
    skipped_duplicates: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)
    rows: int = 0
    queued: bool = False

    def summary(self) -> str:
        """A plain-text report, one error per line with its line number."""
        head = _(
            "%(rows)d rows: %(imported)d imported, %(dupes)d imported before, %(errors)d with errors.",
            rows=self.rows,
            imported=len(self.imported),
            dupes=self.skipped_duplicates,
            errors=len(self.errors),
        )
        lines = [head] + [_("line %(n)d: %(msg)s", n=n, msg=msg) for n, msg in self.errors]
        return "\n".join(lines)


@dataclass
class _Row:
    line: int
    draft: intake.Draft


def import_csv(
    session: Session,
    redactor: Redactor,
    stream: IO[bytes],
    *,
    max_chars: int,
    secret: str,
    source_default: Source | None = None,
    today: dt.date | None = None,
) -> ImportReport:
    """Validate every row, then add the valid new ones to the session (the caller commits and queues).
    `secret` is the web app's secret key, which keys the import keys (the web app and the command
    must use the same one). `today` is the deployment's date (Settings.today; the server's when not
    given): no day after it."""
    if not secret:
        raise ValueError("import keys need the app's secret key")
    today = today or dt.date.today()
    report = ImportReport()
    raw = stream.read()
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        report.errors.append((1, _("The file is UTF-16; save it as CSV UTF-8 and import again.")))
        return report
    # Undecodable bytes become lone surrogates, so one Latin-1 line fails alone, not the file.
    text = raw.removeprefix(codecs.BOM_UTF8).decode("utf-8", "surrogateescape")
    if not text.strip():
        report.errors.append((1, _("The file is empty.")))
        return report
    # No cell can be longer than the file: a long but well-quoted cell is read whole and refused by
    # the note length rule with its line number, instead of stopping the reader (its default limit
    # is 131,072 characters). The limit is per process; it is only ever raised.
    csv.field_size_limit(max(csv.field_size_limit(), len(text) + 1))
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text), strict=True)
    places = _Places(session)
    header: list[str] | None = None
    rows: list[_Row] = []
    keys: list[str] = []
    seen: Counter[str] = Counter()
    while True:
        start = reader.line_num + 1
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            report.rows += header is not None
            if "end of data" in str(exc):
                why = _(
                    "A double quote opened on this line is never closed, so the rest of the file is unread."
                )
            else:
                why = _("The row is not valid CSV (%(why)s); check its double quotes.", why=exc)
            report.errors.append((start, why))
            continue  # the reader goes on at the next line
        if not any(cell.strip() for cell in record):
            continue  # blank lines and Excel's trailing ";;;;"
        if header is None:
            header = [_column(cell) for cell in record]
            problem = _check_header(header)
            if problem:
                report.errors.append((start, problem))
                return report
            continue
        report.rows += 1
        if report.rows > MAX_ROWS:  # checked before anything is stored: nothing of the file is
            report.errors.append((start, _(
                "The file has more than %(n)d rows: split it and import each part (nothing of this "
                "file was imported).", n=MAX_ROWS)))
            return report
        try:
            draft, content = _parse_row(record, header, places, max_chars, source_default, today)
        except InvalidInput as exc:
            report.errors.append((start, str(exc)))
            continue
        seen[content] += 1
        # The count makes two identical notes in one file two notes, and the same file twice one.
        draft.import_key = _keyed(secret, hashlib.sha256(f"{content}\n{seen[content]}".encode()).hexdigest())
        rows.append(_Row(start, draft))
        keys.append(draft.import_key)
    if header is None:
        report.errors.append((1, _("The file has no header row.")))
        return report
    _rekey(session, secret)
    existing = _existing_keys(session, keys)
    new = [row for row in rows if row.draft.import_key not in existing]
    report.skipped_duplicates = len(rows) - len(new)
    prepared = _Prepared(redactor, [row.draft.text for row in new])
    for row in new:
        try:
            stored = intake.store(session, row.draft, cast("Redactor", prepared), max_chars=max_chars,
                                  today=today)
        except InvalidInput as exc:  # validated above; kept so that nothing fails silently
            report.errors.append((row.line, str(exc)))
            continue
        report.imported.append(stored.observation.id)
    report.errors.sort()
    return report


def import_command(path: Path, *, source_default: Source | None = None) -> ImportReport:
    """`hiljainen import FILE`: import into the configured database, commit, queue, print the report."""
    import click

    from hiljainen import db as database
    from hiljainen.config import Settings
    from hiljainen.pipeline.redact import Redactor
    from hiljainen.resources import app_secret
    from hiljainen.stores import queue

    settings = Settings.from_env()
    try:
        stream = path.open("rb")
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}") from None
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    database.upgrade(settings.sqlalchemy_url)
    engine = database.make_engine(settings.sqlalchemy_url)
    try:
        with stream, database.make_sessionmaker(engine)() as session:
            report = import_csv(
                session, Redactor(), stream, max_chars=settings.max_note_chars,
                secret=app_secret(settings),
                source_default=source_default, today=settings.today(),
            )
            session.add(audit_event(None, path.name, report))
            session.commit()
    finally:
        engine.dispose()
    conn = queue.connect(settings.redis_url) if settings.redis_url else None
    report.queued = intake.queue_processing(conn, report.imported, settings.batch_size)
    click.echo(report.summary())
    if report.imported and not report.queued:
        click.echo("notes are stored; the worker's sweeper will process them when the queue is up")
    return report


def audit_event(actor_id: int | None, filename: str, report: ImportReport) -> AuditEvent:
    """The audit record of an import (counts only: never note text)."""
    return AuditEvent(
        actor_id=actor_id,
        action="import_csv",
        target="observations",
        detail={
            "file": filename[:200],
            "imported": len(report.imported),
            "duplicates": report.skipped_duplicates,
            "errors": len(report.errors),
        },
    )


# --- parsing ---------------------------------------------------------------------------------


def _delimiter(text: str) -> str:
    """The separator the header row uses most, outside quotes (comma when none)."""
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    counts = Counter(ch for ch in re.sub(r'"[^"]*"', "", first) if ch in DELIMITERS)
    return max(DELIMITERS, key=lambda d: (counts[d], d == ","))


def _column(cell: str) -> str:
    """A header cell as a column name: English as is, the interface's Finnish words translated."""
    name = " ".join(cell.strip().lstrip("\ufeff").lower().split())
    return COLUMN_ALIASES.get(name, name)


def _check_header(header: Sequence[str]) -> str | None:
    known = ", ".join(COLUMNS)
    if "text" not in header:
        return _("The header row has no text column. Known columns: %(cols)s.", cols=known)
    unknown = [h for h in header if h not in COLUMNS]
    if unknown:
        # Refuse rather than drop a column silently: "touchpont" is a typo, not data to lose.
        return _("Unknown column %(name)s. Known columns: %(cols)s.", name=unknown[0][:40], cols=known)
    dupes = [h for h, n in Counter(header).items() if n > 1]
    if dupes:
        return _("The column %(name)s appears twice.", name=dupes[0])
    return None


def _fold(name: str) -> str:
    """A name as compared: case, surrounding and repeated spaces do not matter."""
    return " ".join(name.casefold().split())


class _Places:
    """Units and touchpoints by short name or shown name (Finnish or English), read once per import."""

    def __init__(self, session: Session) -> None:
        self.units: dict[str, Unit] = {}
        self.unit_names: dict[str, set[str]] = {}
        for unit in session.scalars(select(Unit)):
            self.units[unit.slug] = unit
            for name in (unit.slug, unit.name_fi, unit.name_en):
                self.unit_names.setdefault(_fold(name), set()).add(unit.slug)
        self.touchpoints: dict[str, Touchpoint] = {}
        self.touchpoint_names: dict[str, set[str]] = {}
        for tp in session.scalars(select(Touchpoint)):
            self.touchpoints[tp.slug] = tp
            for name in (tp.slug, tp.name_fi, tp.name_en):
                self.touchpoint_names.setdefault(_fold(name), set()).add(tp.slug)

    def unit(self, value: str) -> str | None:
        """The active unit's short name, or InvalidInput saying why the cell names none, a retired
        one or several."""
        if not value:
            return None
        if value in self.units:  # a short name wins over another unit's shown name
            found = {value}
        else:
            found = set(self.unit_names.get(_fold(value), ())) if _usable(value) else set()
        if not found:
            raise InvalidInput(_("Unknown unit: %(slug)s", slug=_shown(value)))
        active = {slug for slug in found if self.units[slug].active}
        if not active:
            raise InvalidInput(_("The unit %(slug)s is retired; it takes no new notes.", slug=_shown(value)))
        if len(active) > 1:
            raise InvalidInput(
                _(
                    "Several units are called %(name)s; use one of their short names: %(slugs)s",
                    name=_shown(value),
                    slugs=", ".join(sorted(active)),
                )
            )
        return active.pop()

    def touchpoint(self, value: str, unit: str | None) -> str | None:
        """The active touchpoint's short name; a name shared by several is settled by the row's unit."""
        if not value:
            return None
        if value in self.touchpoints:
            found = {value}
        else:
            found = set(self.touchpoint_names.get(_fold(value), ())) if _usable(value) else set()
        if not found:
            raise InvalidInput(_("Unknown touchpoint: %(slug)s", slug=_shown(value)))
        if len(found) > 1 and unit is not None:
            found = {slug for slug in found if self._unit_of(slug) == unit} or found
        active = {slug for slug in found if self.touchpoints[slug].active}
        if not active:
            raise InvalidInput(
                _("The touchpoint %(slug)s is retired; it takes no new notes.", slug=_shown(value))
            )
        if len(active) > 1:
            raise InvalidInput(
                _(
                    "Several touchpoints are called %(name)s; add the unit or use one of their short "
                    "names: %(slugs)s",
                    name=_shown(value),
                    slugs=", ".join(sorted(active)),
                )
            )
        return active.pop()

    def _unit_of(self, slug: str) -> str | None:
        tp = self.touchpoints[slug]
        return tp.unit.slug if tp.unit is not None else None


def _usable(value: str) -> bool:
    return len(value) <= 200 and not _CONTROL.search(value)


def _shown(value: str) -> str:
    """A cell quoted back in an error: short, without control characters."""
    return _CONTROL.sub("?", value[:SLUG_MAX])


def _parse_row(
    record: list[str],
    header: list[str],
    places: _Places,
    max_chars: int,
    source_default: Source | None,
    today: dt.date,
) -> tuple[intake.Draft, str]:
    """A Draft and its normalised content, or InvalidInput saying what to fix."""
    if len(record) > len(header):
        raise InvalidInput(
            _(
                "The row has %(n)d fields but the header has %(m)d; put text that contains the "
                "separator in double quotes.",
                n=len(record),
                m=len(header),
            )
        )
    if any(_BAD_BYTE.search(cell) for cell in record):
        raise InvalidInput(
            _("The line is not valid UTF-8 (e.g. Latin-1 letters); save the file as CSV UTF-8.")
        )
    cells = dict.fromkeys(COLUMNS, "")
    cells.update(zip(header, (cell.strip() for cell in record), strict=False))
    if not cells["text"]:
        raise InvalidInput(_("The text is empty."))
    text = intake.clean_text(cells["text"], max_chars)
    source = _source(cells["source"], source_default)
    unit = places.unit(cells["unit"])
    touchpoint = places.touchpoint(cells["touchpoint"], unit)
    day = _day(cells["day"], today) if cells["day"] else None
    tags = _tags(cells["tags"])
    anonymous = _flag(cells["anonymous"])
    content = json.dumps(
        [text, source.value, unit, touchpoint, day.isoformat() if day else "", sorted(tags), anonymous],
        ensure_ascii=False,
    )
    draft = intake.Draft(
        text=text,
        source=source,
        unit=unit,
        touchpoint=touchpoint,
        anonymous=anonymous,
        tags=tags,
        day=day,
        wants_receipt=False,  # nobody to hand a receipt to
    )
    return draft, content


def _source(value: str, default: Source | None) -> Source:
    if not value:
        if default is None:
            raise InvalidInput(_("The source is missing; add a source column or choose a default source."))
        return default
    found = source_from_word(value)
    if found is None:
        shown = ", ".join(f"{s.value} / {_source_labels_fi()[s]}" for s in Source)
        raise InvalidInput(
            _("Unknown source %(value)s; use one of: %(values)s", value=_shown(value), values=shown)
        )
    return found


def source_from_word(value: str) -> Source | None:
    """The writer a word names (a source's value, its label in either language, an everyday word)."""
    return _source_words().get(_fold(value))


@functools.cache
def _source_labels_fi() -> dict[Source, str]:
    """Each writer's Finnish label, exactly as the interface shows it."""
    from hiljainen.catalogs import translator

    fi = translator("fi")
    return {source: fi(source.value) for source in Source}


@functools.cache
def _source_words() -> dict[str, Source]:
    """Every word a cell may use for a writer: the value, the interface's labels in both languages
    (from its message catalogs, so a relabelled writer imports by its new name) and everyday words."""
    from hiljainen.catalogs import LOCALES, translator

    words: dict[str, Source] = {}
    for locale in LOCALES:
        label = translator(locale)
        for source in Source:
            words[_fold(label(source.value))] = source
    for source, extra in SOURCE_WORDS.items():
        for word in (source.value, *extra):
            words[_fold(word)] = source
    return words


def _day(value: str, today: dt.date) -> dt.date:
    iso = re.fullmatch(_ISO_DAY.pattern + _TIME_TAIL, value, re.IGNORECASE)
    fi = re.fullmatch(_FI_DAY.pattern + _TIME_TAIL, value, re.IGNORECASE)
    try:
        if iso:
            day = dt.date(int(iso[1]), int(iso[2]), int(iso[3]))
        elif fi:
            day = dt.date(int(fi[3]), int(fi[2]), int(fi[1]))
        else:
            raise ValueError(value)
    except ValueError:
        raise InvalidInput(
            _("The day %(value)s is not a date like 2026-03-31 or 31.3.2026.", value=_shown(value))
        ) from None
    if day > today:
        raise InvalidInput(_("The day %(value)s is in the future.", value=value))
    oldest = intake.oldest_day(today)
    if day < oldest:
        raise InvalidInput(_("The day %(value)s is before %(first)s.", value=_shown(value), first=oldest))
    return day


def _tags(value: str) -> list[str]:
    if _CONTROL.search(value):
        raise InvalidInput(_("The tags contain control characters."))
    tags = intake.clean_tags(_TAG_SPLIT.split(value))
    if len([t for t in _TAG_SPLIT.split(value) if t.strip()]) > intake.MAX_TAGS:
        raise InvalidInput(_("At most %(n)d tags.", n=intake.MAX_TAGS))
    return tags


def _flag(value: str) -> bool:
    low = value.lower()
    if low in YES:
        return True
    if low in NO:
        return False
    raise InvalidInput(_("anonymous must be yes or no, not %(value)s.", value=value[:40]))


def _keyed(secret: str, digest: str) -> str:
    """The stored import key of a row whose content hashes to `digest`."""
    return _KEYED + hmac.new(secret.encode(), digest.encode(), hashlib.sha256).hexdigest()[: 64 - len(_KEYED)]


def _rekey(session: Session, secret: str) -> None:
    """Key the bare SHA-256 keys of rows imported by older versions, so that no plain hash of a
    text before redaction stays in the database and re-importing their file still adds nothing.
    (A migration cannot do it: it does not know the secret.) Finds nothing once done."""
    old = session.execute(
        select(Observation.id, Observation.import_key).where(
            Observation.import_key.is_not(None), Observation.import_key.not_like(f"{_KEYED}%")
        )
    ).all()
    if old:
        session.execute(
            update(Observation), [{"id": i, "import_key": _keyed(secret, key)} for i, key in old if key]
        )


def _existing_keys(session: Session, keys: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for i in range(0, len(keys), _KEY_CHUNK):
        chunk = list(keys[i : i + _KEY_CHUNK])
        found.update(
            k
            for k in session.scalars(select(Observation.import_key).where(Observation.import_key.in_(chunk)))
            if k
        )
    return found


class _Prepared:
    """Answers redact() from one batched pass (spaCy runs faster over many texts at once)."""

    def __init__(self, redactor: Redactor, texts: Sequence[str]) -> None:
        self._redactor = redactor
        unique = list(dict.fromkeys(texts))
        # A wrapper without redact_many redacts note by note.
        many = getattr(redactor, "redact_many", None)
        self._done: dict[str, Redaction] = {}
        if many is not None:
            # In batches: the web app's redactor takes the shared NLP lock per call (runtime.py).
            for i in range(0, len(unique), REDACT_CHUNK):
                chunk = unique[i : i + REDACT_CHUNK]
                self._done.update(zip(chunk, many(chunk), strict=True))

    def redact(self, text: str, lang: str | None = None) -> Redaction:
        """The batched result for this text, or a fresh one."""
        done = self._done.get(text)
        return done if done is not None and lang is None else self._redactor.redact(text, lang)
