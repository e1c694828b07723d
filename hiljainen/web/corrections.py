"""A leader's corrections to themes, applied at once and kept (ThemeCorrection) so that every later
refresh honours them (workers/refresh.py turns them into must-link / cannot-link constraints).

Each correction's payload holds the note ids it moved and what was there before, so the last one
can be undone.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from hiljainen.models import (
    Alert,
    CorrectionKind,
    Indicator,
    Observation,
    Theme,
    ThemeCorrection,
)
from hiljainen.search.sql import listing_order
from hiljainen.stores import theme_ids

EXAMPLES = 3  # example notes a theme shows, as hiljainen.pipeline.label picks them


class CorrectionRefused(ValueError):
    """The correction cannot be made as asked (no notes chosen, the same theme, ...)."""


class ThemeChanged(CorrectionRefused):
    """Another correction changed the theme since the leader's page showed it."""


def notes_of(session: Session, theme_id: int) -> list[int]:
    """The ids of a theme's notes now."""
    return list(session.scalars(select(Observation.id).where(Observation.theme_id == theme_id)
                                .order_by(Observation.id)))


def _record(session: Session, theme: Theme, kind: CorrectionKind, actor_id: int | None,
            payload: dict[str, Any]) -> ThemeCorrection:
    correction = ThemeCorrection(theme_id=theme.id, actor_id=actor_id, kind=kind, payload=payload)
    session.add(correction)
    session.flush()
    return correction


def _resize(session: Session, *themes: Theme) -> None:
    """Each theme's size, and its examples: those that left a theme in use are replaced by others of
    its notes (an ended theme keeps its own, for an undo)."""
    for theme in themes:
        theme.size = int(session.scalar(
            select(func.count()).select_from(Observation).where(Observation.theme_id == theme.id)) or 0)
        if not theme.active:
            continue
        old = list(theme.representatives or [])
        still = set(session.scalars(select(Observation.id).where(
            Observation.id.in_(old), Observation.theme_id == theme.id))) if old else set()
        kept = [i for i in old if i in still]
        if len(kept) < min(EXAMPLES, theme.size):
            kept += _examples(session, theme.id, EXAMPLES - len(kept), but=kept)
        if kept != old:
            theme.representatives = kept


def _examples(session: Session, theme_id: int, n: int, but: Sequence[int] = ()) -> list[int]:
    """`n` of a theme's notes in the order every list shows notes: the first by id would be the
    first written, placing an anonymous note among a colleague's signed ones."""
    query = select(Observation.id).where(Observation.theme_id == theme_id)
    if but:
        query = query.where(Observation.id.not_in(list(but)))
    return list(session.scalars(query.order_by(*listing_order()).limit(n)))


def _place(session: Session, note_ids: Sequence[int], theme_id: int | None) -> None:
    if note_ids:
        session.execute(update(Observation).where(Observation.id.in_(list(note_ids))).values(theme_id=theme_id))


def rename(session: Session, theme: Theme, name: str | None, actor_id: int | None) -> None:
    """A leader's name (None = back to the computed phrase)."""
    if name == theme.custom_name:
        return
    _record(session, theme, CorrectionKind.RENAME, actor_id, {"name": name, "before": theme.custom_name})
    theme.custom_name = name


def flag(session: Session, theme: Theme, kind: CorrectionKind, on: bool, actor_id: int | None) -> None:
    """Pin or watch (on or off): a held theme keeps its notes through every refresh."""
    attr = "pinned" if kind == CorrectionKind.PIN else "watched"
    before = bool(getattr(theme, attr))
    if before == on:
        return
    _record(session, theme, kind, actor_id, {"on": on, "before": before})
    setattr(theme, attr, on)


def merge(session: Session, theme: Theme, into: Theme, actor_id: int | None) -> ThemeCorrection:
    """All of `theme`'s notes join `into`; its indicators and alerts follow; `theme` ends."""
    if into.id == theme.id or not into.active:
        raise CorrectionRefused("merge into itself or an ended theme")
    _claim(session, theme, into)
    moved, kept = notes_of(session, theme.id), notes_of(session, into.id)
    indicators = list(session.scalars(select(Indicator.id).where(Indicator.theme_id == theme.id)))
    alerts = list(session.scalars(select(Alert.id).where(Alert.theme_id == theme.id)))
    correction = _record(session, theme, CorrectionKind.MERGE, actor_id, {
        "into": into.id, "notes": kept + moved, "moved": moved, "indicators": indicators,
        "alerts": alerts, "before": {"active": True, "pinned": theme.pinned},  # active: _claim
        "into_pinned": into.pinned,
    })
    _place(session, moved, into.id)
    if indicators:
        session.execute(update(Indicator).where(Indicator.id.in_(indicators)).values(theme_id=into.id))
    if alerts:
        session.execute(update(Alert).where(Alert.id.in_(alerts)).values(theme_id=into.id))
    into.pinned = into.pinned or theme.pinned
    theme.active, theme.pinned = False, False
    _resize(session, theme, into)
    return correction


def _claim(session: Session, theme: Theme, into: Theme) -> None:
    """Check, atomically, that both themes are still in use, and end `theme`. Two leaders merging
    A into B and B into A at once each saw both in use on their page, and both merges went through:
    both themes ended, holding each other's notes."""
    # PostgreSQL: lock both rows, always in id order, so such a pair waits rather than deadlocks;
    # the later one then sees the other's commit. SQLite ignores FOR UPDATE: its one writer lock,
    # taken by the first UPDATE below, makes the later merge see the other's commit instead.
    session.execute(select(Theme.id).where(Theme.id.in_(sorted({theme.id, into.id})))
                    .order_by(Theme.id).with_for_update())
    # Check and change in one statement each, the target first so that a refusal changes nothing
    # (its "update" keeps active as it is). The session's copies may be stale: not synchronised.
    for theme_id, active in ((into.id, True), (theme.id, False)):
        done = session.execute(update(Theme).where(Theme.id == theme_id, Theme.active.is_(True))
                               .values(active=active).execution_options(synchronize_session=False))
        if done.rowcount != 1:  # type: ignore[attr-defined]
            session.expire(theme)
            session.expire(into)
            raise ThemeChanged("the theme was changed meanwhile: merged or ended by another correction")


def split(session: Session, theme: Theme, note_ids: Sequence[int], name: str | None,
          actor_id: int | None) -> Theme:
    """The chosen notes become a new theme, kept apart from the rest of `theme`."""
    own = notes_of(session, theme.id)
    chosen = [i for i in own if i in set(note_ids)]
    if not chosen or len(chosen) == len(own):
        raise CorrectionRefused("choose some of the theme's notes, not all")
    new = theme_ids.insert(session, Theme(
        label=theme.label, keywords=list(theme.keywords), custom_name=name, first_seen=theme.first_seen,
        last_seen=theme.last_seen, topic_id=theme.topic_id, topic_name=theme.topic_name, signal="noise",
        representatives=[]))
    rest = [i for i in own if i not in set(chosen)]
    _record(session, theme, CorrectionKind.SPLIT, actor_id,
            {"new": new.id, "notes": chosen, "rest": rest})
    _place(session, chosen, new.id)
    _resize(session, theme, new)  # the new theme's examples too
    return new


def move(session: Session, theme: Theme, note_ids: Sequence[int], to: Theme, actor_id: int | None) -> None:
    """The chosen notes go to `to` and stay with its notes, apart from the rest of `theme`."""
    own = notes_of(session, theme.id)
    chosen = [i for i in own if i in set(note_ids)]
    if not chosen or to.id == theme.id or not to.active:
        raise CorrectionRefused("choose notes and another theme")
    rest = [i for i in own if i not in set(chosen)]
    _record(session, theme, CorrectionKind.MOVE, actor_id,
            {"to": to.id, "notes": chosen, "rest": rest, "target": notes_of(session, to.id)})
    _place(session, chosen, to.id)
    _resize(session, theme, to)


def not_new(session: Session, theme: Theme, actor_id: int | None) -> None:
    """"Not a new subject": later refreshes raise no signal alert for this theme."""
    _record(session, theme, CorrectionKind.NOT_NEW, actor_id, {"signal": theme.signal})


def undo_last(session: Session, theme: Theme, actor_id: int | None) -> ThemeCorrection | None:
    """Undo the latest correction made on this theme that is not undone yet; None when none."""
    last = session.scalars(
        select(ThemeCorrection)
        .where(ThemeCorrection.theme_id == theme.id, ThemeCorrection.undone.is_(False),
               ThemeCorrection.kind != CorrectionKind.UNDO)
        .order_by(ThemeCorrection.id.desc())
    ).first()
    if last is None:
        return None
    p = last.payload
    if last.kind == CorrectionKind.RENAME:
        theme.custom_name = p.get("before")
    elif last.kind in (CorrectionKind.PIN, CorrectionKind.WATCH):
        setattr(theme, "pinned" if last.kind == CorrectionKind.PIN else "watched", bool(p.get("before")))
    elif last.kind == CorrectionKind.MERGE:
        into = session.get(Theme, p["into"])
        # Only what is still where the merge put it: a later move (or refresh) of a merged note to
        # a third theme is a correction of its own and stays.
        moved = p.get("moved", [])
        still = select(Observation.id).where(Observation.id.in_(moved), Observation.theme_id == p["into"])
        _place(session, list(session.scalars(still)) if moved else [], theme.id)
        for table, ids in ((Indicator, p.get("indicators")), (Alert, p.get("alerts"))):
            if ids:
                session.execute(update(table).where(table.id.in_(ids), table.theme_id == p["into"])
                                .values(theme_id=theme.id))
        before = p.get("before", {})
        # As it was: merges recorded before _claim may have ended a theme that had already ended.
        theme.active = bool(before.get("active", True))
        theme.pinned = bool(before.get("pinned"))
        if into is not None and before.get("pinned"):  # the pin it gave `into` goes back with it
            into.pinned = _own_pin(session, into, last)
        _resize(session, theme, *([into] if into else []))
    elif last.kind == CorrectionKind.SPLIT:
        new = session.get(Theme, p["new"])
        _place(session, [i for i in p.get("notes", []) if _in(session, i, p["new"])], theme.id)
        if new is not None:
            new.active = False
            _resize(session, new)
        _resize(session, theme)
    elif last.kind == CorrectionKind.MOVE:
        to = session.get(Theme, p["to"])
        _place(session, [i for i in p.get("notes", []) if _in(session, i, p["to"])], theme.id)
        _resize(session, theme, *([to] if to else []))
    last.undone = True
    _record(session, theme, CorrectionKind.UNDO, actor_id, {"correction": last.id, "kind": last.kind.value})
    return last


def _own_pin(session: Session, theme: Theme, undone: ThemeCorrection) -> bool:
    """Whether `theme` is pinned once the merge `undone` (of a pinned theme into it) no longer
    stands: while another pinned theme's merge into it stands, or it is tracked (an indicator pins
    its theme), yes; else as a leader last pinned or unpinned it, else as it was before the first
    pinned theme was merged into it (as it is, for merges recorded before that was kept)."""
    merges = [m for m in session.scalars(select(ThemeCorrection).where(
        ThemeCorrection.kind == CorrectionKind.MERGE).order_by(ThemeCorrection.id))
        if m.payload.get("into") == theme.id and m.payload.get("before", {}).get("pinned")]
    if any(not m.undone and m.id != undone.id for m in merges):
        return True
    if session.scalar(select(Indicator.id).where(Indicator.theme_id == theme.id).limit(1)) is not None:
        return True
    pin = session.scalars(select(ThemeCorrection).where(
        ThemeCorrection.theme_id == theme.id, ThemeCorrection.kind == CorrectionKind.PIN,
        ThemeCorrection.undone.is_(False)).order_by(ThemeCorrection.id.desc())).first()
    if pin is not None:
        return bool(pin.payload.get("on"))
    first = merges[0].payload if merges else {}
    return bool(first.get("into_pinned", theme.pinned))


def _in(session: Session, note_id: int, theme_id: int) -> bool:
    """Whether a note is still where a correction put it (a refresh may have moved it since)."""
    return session.scalar(select(Observation.theme_id).where(Observation.id == note_id)) == theme_id


def history(session: Session, theme_id: int) -> list[ThemeCorrection]:
    """Corrections made on this theme or bringing notes to it, newest first."""
    rows = session.scalars(select(ThemeCorrection).order_by(ThemeCorrection.id.desc())).all()
    return [c for c in rows if c.theme_id == theme_id
            or theme_id in (c.payload.get("into"), c.payload.get("to"), c.payload.get("new"))]
