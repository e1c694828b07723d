"""`hiljainen replay`: a stream of dated notes through exactly the deployment's code path.

In a temporary data folder (its own SQLite database and Chroma server) every note is stored as
the forms and the import store it (validated, redacted), processed by the worker's code (language,
lemmas, vectors, index), and at the end of each ISO week the themes are refreshed as the worker
does it (stable identity, signals, alerts by the same rules). One JSON line per week:
{"week": "2026-W03", "alerts": [{"theme", "level", "message", "members"}],
 "themes": [{"id", "topic", "name", "signal", "members"}]}; members are 0-based input line numbers.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import tempfile
from collections import defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from hiljainen import db, intake
from hiljainen.config import Settings
from hiljainen.csv_import import source_from_word
from hiljainen.errors import InvalidInput
from hiljainen.models import Alert, Observation, Source, Theme, Unit
from hiljainen.runtime import Runtime
from hiljainen.services import chroma_server
from hiljainen.tools.themes_batch import parse_day, read_notes
from workers import jobs, refresh

if TYPE_CHECKING:
    from hiljainen.pipeline.embed import Embedder

Progress = Callable[[str, int, int], None]
Warn = Callable[[str], None]


def _week_of(day: dt.date) -> tuple[int, int]:
    iso = day.isocalendar()
    return iso.year, iso.week


def _weeks(first: dt.date, last: dt.date) -> list[dt.date]:
    """Mondays from the week of `first` to the week of `last`, empty weeks included."""
    monday = first - dt.timedelta(days=first.weekday())
    out = []
    while monday <= last:
        out.append(monday)
        monday += dt.timedelta(weeks=1)
    return out


def _source(value: Any, line: int, warn: Warn) -> Source:
    """The writer of a line: a source's value or any word the CSV import knows for it ("omainen",
    "asiakas", "family"...); missing or unknown, staff (an unknown one said on stderr)."""
    if value is None or not str(value).strip():
        return Source.STAFF
    found = source_from_word(str(value))
    if found is None:
        known = ", ".join(s.value for s in Source)
        warn(f'line {line}: "source" {value!r} is not one of {known}: counted as staff')
        return Source.STAFF
    return found


def _units(session: Session, names: set[str]) -> dict[str, str]:
    """A unit for every name in the stream (slug by position: names may be any text)."""
    slugs = {}
    for i, name in enumerate(sorted(names), start=1):
        slug = f"unit-{i}"
        session.add(Unit(slug=slug, name_fi=name[:120], name_en=name[:120]))
        slugs[name] = slug
    session.flush()
    return slugs


def replay_file(
    input_path: str | Path,
    out_path: str | Path,
    settings: Settings | None = None,
    embedder: Embedder | None = None,
    progress: Progress | None = None,
    warn: Warn | None = None,
) -> dict[str, int]:
    """Replay the stream week by week; returns counts (notes, weeks, alerts). A line that cannot be
    a note (undated, empty, refused as the forms refuse it) is skipped and said to `warn`."""
    say = warn or (lambda _msg: None)
    rows, days = [], []
    for r in read_notes(input_path):
        try:
            if not r.get("created_at"):
                raise InvalidInput(f'line {r["_line"]}: "created_at" is missing (a replay needs the day)')
            days.append(parse_day(str(r["created_at"]), r["_line"]))
        except InvalidInput as exc:  # one bad line must not lose the whole replay
            say(f"{exc} (line skipped)")
            continue
        rows.append(r)
    if not rows:
        raise InvalidInput(f"{input_path}: no dated notes")
    sources = [_source(r.get("source"), r["_line"], say) for r in rows]
    base = settings or Settings.from_env()
    with tempfile.TemporaryDirectory(prefix="hiljainen-replay-") as tmp, \
            chroma_server(Path(tmp)).start() as chroma:
        s = dataclasses.replace(base, data_dir=Path(tmp), database_url="", chroma_url=chroma.url,
                                chroma_collection="replay", redis_url="")
        db.upgrade(s.sqlalchemy_url)
        rt = Runtime.from_settings(s, embedder=embedder)
        with db.transaction(rt.sessions) as session:
            units = _units(session, {str(r["unit"]) for r in rows if r.get("unit")})
        by_week: dict[tuple[int, int], list[int]] = defaultdict(list)
        for i, day in enumerate(days):
            by_week[_week_of(day)].append(i)
        weeks = _weeks(min(days), max(days))
        line_of: dict[int, int] = {}
        alerts_seen = 0
        with open(out_path, "w", encoding="utf-8") as out:
            for n, monday in enumerate(weeks, start=1):
                todo = by_week.get(_week_of(monday), [])
                stored = _store(rt, rows, todo, days, sources, units, say)
                line_of.update(stored)
                _process(rt, list(stored))
                sunday = monday + dt.timedelta(days=6)
                with db.transaction(rt.sessions) as session:
                    refresh.themes(session, rt.vectors(), rt.embedder().model_id, sunday,
                                   lambda *_: None, s.default_locale)
                with rt.sessions() as session:
                    week, found = _report(session, monday, line_of, alerts_seen)
                alerts_seen += found
                out.write(json.dumps(week, ensure_ascii=False) + "\n")
                out.flush()
                if progress:
                    progress(week["week"], n, len(weeks))
    return {"notes": len(line_of), "weeks": len(weeks), "alerts": alerts_seen}


def _store(rt: Runtime, rows: Sequence[dict[str, Any]], todo: Sequence[int], days: Sequence[dt.date],
           sources: Sequence[Source], units: dict[str, str], warn: Warn) -> dict[int, int]:
    """Store this week's notes as the forms do; note id -> input line (0-based)."""
    stored: dict[int, int] = {}
    with db.transaction(rt.sessions) as session:
        for i in todo:
            r = rows[i]
            draft = intake.Draft(text=r["text"], source=sources[i], unit=units.get(str(r.get("unit") or "")),
                                 anonymous=True, day=days[i], wants_receipt=False)
            try:
                with session.begin_nested():
                    note = intake.store(session, draft, rt.redactor(), max_chars=rt.settings.max_note_chars)
            except InvalidInput as exc:
                warn(f"line {r['_line']}: {exc} (line skipped)")
                continue
            stored[note.observation.id] = r["_line"] - 1
    return stored


def _process(rt: Runtime, ids: Sequence[int]) -> None:
    """The worker's processing of these notes, in its batch size."""
    size = rt.settings.batch_size
    for start in range(0, len(ids), size):
        with db.transaction(rt.sessions) as session:
            batch = select(Observation).where(Observation.id.in_(ids[start:start + size]))
            notes = list(session.scalars(batch))
            jobs.index_notes(rt, notes)


def _report(
    session: Session, monday: dt.date, line_of: dict[int, int], seen: int
) -> tuple[dict[str, Any], int]:
    """The week's line: alerts raised since the `seen` first ones, and every live theme's members."""
    members: dict[int, list[int]] = defaultdict(list)
    for note_id, theme_id in session.execute(select(Observation.id, Observation.theme_id)):
        if theme_id is not None and note_id in line_of:
            members[theme_id].append(line_of[note_id])
    themes = list(session.scalars(select(Theme).where(Theme.active.is_(True))))
    new_alerts = list(session.scalars(select(Alert).order_by(Alert.id).offset(seen)))
    year, week, _ = monday.isocalendar()
    return {
        "week": f"{year}-W{week:02d}",
        "alerts": [{"theme": a.theme_id, "level": a.signal or a.kind, "message": a.message,
                    "members": sorted(members.get(a.theme_id or -1, []))} for a in new_alerts],
        "themes": [{"id": t.id, "topic": getattr(t, "topic_id", None) or t.id, "name": t.name,
                    "signal": t.signal, "members": sorted(members.get(t.id, []))}
                   for t in themes if members.get(t.id)],
    }, len(new_alerts)
