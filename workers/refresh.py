"""Refreshing themes and indicators: read notes and vectors, run the stages, write one run.

Called from workers.jobs (the queue's entry points); reports progress through the rq job's meta
so a page can show it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import numpy as np
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from hiljainen.catalogs import translator
from hiljainen.models import (
    Alert,
    CorrectionKind,
    Indicator,
    IndicatorValue,
    Observation,
    OutboxMessage,
    Theme,
    ThemeCorrection,
    ThemeEvent,
    ThemePeriod,
    ThemeRun,
    Voice,
    utcnow,
)
from hiljainen.pipeline import indicators as ind
from hiljainen.pipeline.alerts import ALERT_QUIET, alert_kind, reason
from hiljainen.pipeline.constraints import Constraints
from hiljainen.pipeline.grouping import UNASSIGNED
from hiljainen.pipeline.identity import PreviousTheme
from hiljainen.pipeline.signals import NoteFact
from hiljainen.pipeline.signals import Voice as SignalVoice
from hiljainen.pipeline.themes import ThemeRunResult, compute_themes
from hiljainen.stores import reports, theme_ids
from hiljainen.stores.vectors import VectorStore

Progress = Callable[[str, float], None]


def themes(
    session: Session,
    store: VectorStore,
    model_id: str,
    today: dt.date,
    progress: Progress,
    locale: str = "fi",
) -> ThemeRun:
    """Recompute themes over every processed note and store the run (the caller commits);
    alerts are written in `locale`, the organisation's language."""
    progress("loading", 0.05)
    rows = session.execute(
        select(
            Observation.id,
            Observation.day,
            Observation.author_id,
            Observation.unit_id,
            Observation.touchpoint_id,
            Observation.source,
            Observation.keywords,
            Observation.lang,
            Observation.text,
        )
        .where(Observation.processed_at.is_not(None), Observation.duplicate_of_id.is_(None))
        .order_by(Observation.id)
    ).all()
    vectors = store.vectors([r.id for r in rows])
    rows = [r for r in rows if r.id in vectors]  # a note not yet indexed joins the next run
    run = ThemeRun(notes=len(rows), model_id=model_id)
    session.add(run)
    session.flush()
    if len(rows) < 3:
        run.finished_at = utcnow()
        return run
    ids = [r.id for r in rows]
    row_of = {note_id: i for i, note_id in enumerate(ids)}
    old = {t.id: t for t in session.scalars(select(Theme))}
    members = _members(session)
    tracked = set(session.scalars(select(Indicator.theme_id).where(Indicator.theme_id.is_not(None))))
    held = {t.id for t in old.values() if t.active and (t.held or t.id in tracked)}
    previous = [
        PreviousTheme(
            t.id,
            _centroid(t, members.get(t.id, ()), vectors),
            frozenset(members.get(t.id, ())),
            t.id in held,
            t.custom_name,
        )
        for t in old.values()
        if t.active and (t.centroid or members.get(t.id))
    ]
    corrections = session.scalars(
        select(ThemeCorrection).where(ThemeCorrection.undone.is_(False)).order_by(ThemeCorrection.id.desc())
    ).all()
    constraints = correction_constraints(
        [c.payload | {"kind": c.kind.value} for c in corrections],
        [members.get(t, []) for t in sorted(held)],
        row_of,
    )
    voices = [
        SignalVoice(row_of[v.observation_id], v.day, v.reporter_key, _key(v.unit_id), v.source.value)
        for v in session.scalars(select(Voice))
        if v.observation_id in row_of
    ]
    progress("clustering", 0.3)
    result = compute_themes(
        np.stack([vectors[i] for i in ids]),
        [r.keywords for r in rows],
        note_ids=ids,
        facts=[
            NoteFact(
                r.day,
                f"u{r.author_id}" if r.author_id else None,
                _key(r.unit_id),
                _key(r.touchpoint_id),
                r.source.value,
            )
            for r in rows
        ],
        voices=voices,
        previous=previous,
        first_seen={t.id: t.first_seen for t in old.values() if t.first_seen},
        now=today,
        # Only where numbering starts: a leader's split during the clustering may take these ids,
        # and _store then gives those new themes the next free ones.
        next_id=max(old, default=0) + 1,
        langs=[r.lang or "und" for r in rows],
        texts=[r.text for r in rows],
        constraints=constraints,
    )
    progress("writing", 0.8)
    quiet = {c.theme_id for c in corrections if c.kind == CorrectionKind.NOT_NEW}
    _store(session, run, result, ids, old, translator(locale), quiet)
    run.finished_at = utcnow()
    return run


def _members(session: Session) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for note_id, theme_id in session.execute(
        select(Observation.id, Observation.theme_id).where(Observation.theme_id.is_not(None))
    ):
        if theme_id is not None:  # excluded by the query; the column's type does not know that
            out.setdefault(theme_id, []).append(note_id)
    return out


def _centroid(theme: Theme, members: list[int] | tuple[()], vectors: dict[int, Any]) -> np.ndarray:
    """The stored centre, or for a theme a leader made by hand (a split) the mean of its notes."""
    if theme.centroid:
        return np.asarray(theme.centroid, np.float32)
    mean = np.mean([vectors[i] for i in members if i in vectors] or [np.zeros(1)], axis=0)
    return np.asarray(mean / max(float(np.linalg.norm(mean)), 1e-12), np.float32)


class _Links:
    """Must-link sets (union-find) and cannot-link pairs between sets, accepted one at a time:
    a pair that contradicts what is already accepted is left out."""

    def __init__(self) -> None:
        self.parent: dict[int, int] = {}
        self.apart: dict[int, set[int]] = {}
        self.must: list[tuple[int, int]] = []
        self.cannot: list[tuple[int, int]] = []

    def root(self, i: int) -> int:
        path = []
        while self.parent.setdefault(i, i) != i:
            path.append(i)
            i = self.parent[i]
        for j in path:  # each later lookup takes one step: without it, many merges made chains
            self.parent[j] = i  # as long as the notes, walked on every refresh
        return i

    def together(self, i: int, j: int) -> bool:
        """Link i and j unless that contradicts what is accepted; whether they are together."""
        a, b = self.root(i), self.root(j)
        if a == b:
            return True
        if b in self.apart.get(a, set()):
            return False
        self.parent[b] = a
        for c in self.apart.pop(b, set()):
            self.apart[c].discard(b)
            self.apart[c].add(a)
            self.apart.setdefault(a, set()).add(c)
        self.must.append((i, j))
        return True

    def apart_(self, i: int, j: int) -> None:
        a, b = self.root(i), self.root(j)
        if a == b:
            return
        self.apart.setdefault(a, set()).add(b)
        self.apart.setdefault(b, set()).add(a)
        self.cannot.append((i, j))


def correction_constraints(
    corrections: list[dict[str, Any]], held: list[list[int]], row_of: dict[int, int]
) -> Constraints:
    """Constraints on the grouping (row pairs) from a leader's corrections, newest first, after the
    notes of each pinned, watched or tracked theme (`held`, note ids) which stay together.

    merge: the notes of both themes together; split: the chosen notes together and apart from the
    old theme's other notes; move: the moved notes with the target's notes, apart from the old
    theme's other notes. A correction that contradicts a later one gives way to it; notes no longer
    in the run are left out."""
    links = _Links()

    def rows(note_ids: Any) -> list[int]:
        return [row_of[i] for i in note_ids or () if i in row_of]

    def chain(group: list[int]) -> None:
        # Each note joins the nearest earlier note of the group it may join: a later correction
        # that took one note out must not cut the notes on either side of it apart.
        for k, note in enumerate(group[1:], start=1):
            tried: set[int] = set()
            for other in reversed(group[:k]):
                if links.root(other) in tried:
                    continue
                if links.together(note, other):
                    break
                tried.add(links.root(other))

    for notes in held:
        chain(rows(notes))
    for c in corrections:
        kind = c.get("kind")
        if kind == CorrectionKind.MERGE:
            chain(rows(c.get("notes")))
        elif kind in (CorrectionKind.SPLIT, CorrectionKind.MOVE):
            moved = rows(c.get("notes"))
            if not moved:
                continue
            chain(moved + rows(c.get("target")))
            for r in rows(c.get("rest")):
                links.apart_(moved[0], r)
    return Constraints(must_link=links.must, cannot_link=links.cannot)


def _key(value: int | None) -> str | None:
    return None if value is None else str(value)


def _store(
    session: Session,
    run: ThemeRun,
    result: ThemeRunResult,
    ids: list[int],
    old: dict[int, Theme],
    _: Callable[..., str],
    quiet: set[int] | None = None,
) -> None:
    signal_names = {
        None: _("new theme"),
        "noise": _("too few notes"),
        "latent": _("latent"),
        "well-known": _("well known"),
        "weak": _("weak signal"),
        "strong": _("strong signal"),
    }
    clustering = result.clustering
    seen: set[int] = set()
    # The run's id of a new theme -> its stored id, where another writer (a leader's split) took
    # the run's id after `old` was read.
    renumbered: dict[int, int] = {}
    top_id = max((t.id for t in clustering.themes), default=0)

    def stored(theme_id: int) -> int:
        return renumbered.get(theme_id, theme_id)

    for t in clustering.themes:
        name = result.names.get(t.id)
        signal = result.signals.get(t.id)
        theme = old.get(t.id)
        if theme is None:
            theme = theme_ids.insert(session, Theme(id=t.id, label=""), above=top_id)
            if theme.id != t.id:
                renumbered[t.id] = theme.id
        was = theme.signal
        theme.active = t.size > 0 or t.pinned
        theme.size = t.size
        theme.centroid = [round(float(v), 6) for v in t.centroid]
        if name:
            theme.label = name.label[:200]
            theme.phrase = name.phrase[:200]
            theme.keywords = list(name.keywords)
            theme.representatives = [ids[r] for r in name.representatives]
        if signal:
            theme.signal, theme.emergence, theme.confidence = (
                signal.signal,
                signal.emergence,
                signal.confidence,
            )
            theme.first_seen, theme.last_seen = signal.first_seen, signal.last_seen
            _periods(session, theme.id, signal)
            kind = None if theme.id in (quiet or set()) else alert_kind(  # quiet: "not a new subject"
                was, signal.signal, signal.burst_now, alerted_lately(session, theme.id))
            if kind == "signal":
                message = _(
                    "%(theme)s: %(was)s → %(now)s: %(why)s",
                    theme=theme.name, was=signal_names.get(was, was), now=signal_names[signal.signal],
                    why=reason(signal, t.id in result.new_subjects, _),
                )
                alert(session, "signal", theme, message, signal.signal)
            elif kind == "burst":
                alert(session, "burst", theme, _("%(theme)s: a burst of notes this week", theme=theme.name))
        seen.add(theme.id)
    for t in clustering.themes:
        topic = result.topics.get(t.id)
        topic = stored(topic) if topic is not None else None
        row = old.get(t.id) or session.get(Theme, stored(t.id))
        if row is not None:
            top = session.get(Theme, topic) if topic is not None else None
            row.topic_id = topic
            row.topic_name = (top.name if top else row.name)[:200]
    for theme_id, theme in old.items():
        if theme_id not in seen and theme.active and not theme.pinned:
            theme.active = False
    session.flush()
    for e in clustering.events:
        session.add(
            ThemeEvent(
                run_id=run.id, theme_id=stored(e.theme_id), kind=e.kind,
                other_theme_id=None if e.other_id is None else stored(e.other_id), size=e.size_after,
            )
        )
    # One UPDATE per theme instead of one per note.
    session.execute(update(Observation).values(theme_id=None))
    by_theme: dict[int, list[int]] = {}
    for note_id, label in zip(ids, clustering.labels.tolist(), strict=True):
        if label != UNASSIGNED:
            by_theme.setdefault(stored(int(label)), []).append(note_id)
    for theme_id, note_ids in by_theme.items():
        for start in range(0, len(note_ids), 5000):
            session.execute(
                update(Observation)
                .where(Observation.id.in_(note_ids[start : start + 5000]))
                .values(theme_id=theme_id)
            )
    run.themes = sum(1 for t in clustering.themes if t.size)
    run.unassigned = int((clustering.labels == UNASSIGNED).sum())


def _periods(session: Session, theme_id: int, signal: Any) -> None:
    session.execute(delete(ThemePeriod).where(ThemePeriod.theme_id == theme_id))
    for m in (*signal.weekly, *signal.monthly):
        session.add(
            ThemePeriod(
                theme_id=theme_id,
                period=m.period,
                start=m.start,
                count=m.count,
                measures={
                    "total": m.total,
                    "visibility": m.visibility,
                    "dov": m.dov,
                    "dod": m.dod,
                    "reporters": m.reporters,
                    "units": m.units,
                    "touchpoints": m.touchpoints,
                    "roles": m.roles,
                    "burst": bool(m.burst),
                },
            )
        )


def alerted_lately(session: Session, theme_id: int) -> list[str | None]:
    """The levels of the theme's signal alerts within ALERT_QUIET."""
    return list(session.scalars(
        select(Alert.signal).where(Alert.theme_id == theme_id, Alert.kind == "signal",
                                   Alert.created_at >= utcnow() - ALERT_QUIET)
    ))


def alert_subject(message: str) -> str:
    """A mail subject on one line: a name with a line break (a leader's rename) would be refused
    as a header, and the alert would never be sent."""
    return "Hiljainen: " + " ".join(message.split())[:200]


def alert(session: Session, kind: str, theme: Theme, message: str, signal: str | None = None) -> None:
    """Shown on the dashboard and sent through the outbox (a deployment delivers it)."""
    session.add(Alert(kind=kind, theme_id=theme.id, message=message, signal=signal))
    session.add(OutboxMessage(channel="alert", subject=alert_subject(message), body=message))


def indicators(
    session: Session, today: dt.date, min_group: int, weeks: int = 12, zone: dt.tzinfo = dt.UTC
) -> int:
    """Precompute the dashboard snapshots and tracked indicator values; returns snapshots written.
    `zone`: the deployment's time zone, in which answers' and acknowledgements' days are read."""
    facts = reports.note_facts(session, today - dt.timedelta(weeks=weeks), zone)
    labels = ind.week_labels(today, weeks)
    themes = list(session.scalars(select(Theme).where(Theme.active.is_(True))))
    names = {t.id: t.name for t in themes}
    topic_of = {t.id: t.topic_id or t.id for t in themes}  # a theme alone is its own topic
    topic_names = {topic_of[t.id]: t.topic_name or t.name for t in themes}
    weekly = (
        session.execute(
            select(ThemePeriod.theme_id, ThemePeriod.period, ThemePeriod.count).where(
                ThemePeriod.period.contains("-W"), ThemePeriod.theme_id.in_(names)
            )
        )
        .tuples()
        .all()
    )
    shared = {
        "topic_stream": ind.topic_stream(weekly, labels, topic_of, topic_names),
        "emergence_map": [_map_point(t, session) for t in themes if t.size],
        "alerts": [
            {"message": a.message, "kind": a.kind, "at": a.created_at.date().isoformat()}
            for a in session.scalars(select(Alert).order_by(Alert.id.desc()).limit(10))
        ],
    }
    snapshots = {
        scope: {**ind.snapshot(members, today=today, weeks=weeks, min_group=min_group), **shared}
        for scope, members in reports.scopes(facts).items()
    }
    snapshots.setdefault("all", {**ind.snapshot([], today=today, weeks=weeks, min_group=min_group), **shared})
    reports.save_snapshots(session, snapshots)
    _track_indicators(session, today)
    return len(snapshots)


def _map_point(theme: Theme, session: Session) -> dict[str, Any]:
    """Emergence map: x = visibility (share of notes, last 8 weeks), y = emergence, size = reporters."""
    recent = session.scalars(
        select(ThemePeriod)
        .where(ThemePeriod.theme_id == theme.id, ThemePeriod.period.contains("-W"))
        .order_by(ThemePeriod.start.desc())
        .limit(8)
    ).all()
    visibility = float(np.mean([p.measures.get("visibility", 0.0) for p in recent])) if recent else 0.0
    reporters = max((p.measures.get("reporters", 0) for p in recent), default=0)
    return {
        "id": theme.id,
        "name": theme.name,
        "signal": theme.signal,
        "confidence": theme.confidence,
        "visibility": round(visibility, 4),
        "emergence": theme.emergence,
        "reporters": reporters,
        "size": theme.size,
    }


def _tracked_themes(session: Session, indicator: Indicator) -> list[int]:
    """The themes whose notes an indicator counts: its theme, or every theme of that theme's topic
    as the latest refresh grouped them (a topic's id is the id of its largest theme)."""
    anchor = session.get(Theme, indicator.theme_id)
    if anchor is None or not indicator.whole_topic or anchor.topic_id is None:
        return [indicator.theme_id] if indicator.theme_id is not None else []
    return list(session.scalars(select(Theme.id).where(Theme.topic_id == anchor.topic_id,
                                                       Theme.active.is_(True))))


def _track_indicators(session: Session, today: dt.date) -> None:
    """Weekly value of each tracked indicator; crossing its threshold raises an alert."""
    week = ind.week_of(today)
    monday = today - dt.timedelta(days=today.weekday())
    for indicator in session.scalars(select(Indicator)):
        query = select(func.count()).select_from(Observation).where(Observation.day >= monday)
        if indicator.theme_id is not None:
            query = query.where(Observation.theme_id.in_(_tracked_themes(session, indicator)))
        elif indicator.query:
            # The leader's words as they are: "%" or "_" in them are not wildcards.
            words = indicator.query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            query = query.where(Observation.text.ilike(f"%{words}%", escape="\\"))
        value = float(session.scalar(query) or 0)
        current = session.scalar(
            select(IndicatorValue).where(
                IndicatorValue.indicator_id == indicator.id, IndicatorValue.period == week
            )
        )
        before = current.value if current else None
        if current is None:
            session.add(IndicatorValue(indicator_id=indicator.id, period=week, value=value))
        else:
            current.value = value
        limit = indicator.threshold
        if limit is not None and value > limit and (before is None or before <= limit):
            message = f"{indicator.name}: {value:g} > {limit:g} ({week})"
            session.add(Alert(kind="threshold", indicator_id=indicator.id, message=message))
            session.add(OutboxMessage(channel="alert", subject=alert_subject(message), body=message))
