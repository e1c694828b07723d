"""Reading facts for indicators and writing dashboard snapshots (functions taking a Session)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hiljainen.models import Observation, Response, Snapshot, Touchpoint, Unit, local_day, utcnow
from hiljainen.pipeline.indicators import NoteFacts
from hiljainen.pipeline.tone import shown_tone


def note_facts(session: Session, since: dt.date, zone: dt.tzinfo = dt.UTC) -> list[NoteFacts]:
    """One NoteFacts per note since `since`, with its response-loop dates (two queries), read as
    days in `zone`, the deployment's time zone in which the notes' own days are written."""
    units = dict(session.execute(select(Unit.id, Unit.slug)).tuples().all())
    touchpoints = dict(session.execute(select(Touchpoint.id, Touchpoint.slug)).tuples().all())
    first_answer: dict[int, dt.datetime] = {}
    actions: set[int] = set()
    answered: set[int] = set()
    rows = session.execute(
        select(Response.observation_id, Response.kind, func.min(Response.created_at))
        .join(Observation, Observation.id == Response.observation_id)
        .where(Observation.day >= since)
        .group_by(Response.observation_id, Response.kind)
    ).tuples()
    for obs_id, kind, first in rows:
        if kind == "action":
            actions.add(obs_id)
        if kind == "answer":
            answered.add(obs_id)
        if kind in ("answer", "action") and (obs_id not in first_answer or first < first_answer[obs_id]):
            first_answer[obs_id] = first
    facts = []
    for o in session.scalars(select(Observation).where(Observation.day >= since)):
        facts.append(
            NoteFacts(
                id=o.id,
                day=o.day,
                source=o.source.value,
                unit=units.get(o.unit_id or -1),
                touchpoint=touchpoints.get(o.touchpoint_id or -1),
                writer=f"u{o.author_id}" if o.author_id else f"a{o.id}",
                status=o.status.value,
                tone=shown_tone(o.tone, o.tone_confidence),
                theme_id=o.theme_id,
                acknowledged=local_day(o.acknowledged_at, zone) if o.acknowledged_at else None,
                first_response=local_day(first_answer[o.id], zone) if o.id in first_answer else None,
                closed_with_action=o.id in actions and o.status.value == "done",
                answered=o.id in answered,
                duplicate=o.duplicate_of_id is not None,
            )
        )
    return facts


def scopes(facts: list[NoteFacts]) -> dict[str, list[NoteFacts]]:
    """The filter scopes the dashboard offers: all, and one per unit, touchpoint and source."""
    out: dict[str, list[NoteFacts]] = defaultdict(list)
    for f in facts:
        out["all"].append(f)
        if f.unit:
            out[f"unit:{f.unit}"].append(f)
        if f.touchpoint:
            out[f"touchpoint:{f.touchpoint}"].append(f)
        out[f"source:{f.source}"].append(f)
    return out


def save_snapshots(session: Session, snapshots: dict[str, dict[str, Any]]) -> None:
    """Replace every stored snapshot with these (one transaction, so readers see one state)."""
    session.query(Snapshot).delete()
    now = utcnow()
    session.add_all(Snapshot(scope=scope, data=data, computed_at=now) for scope, data in snapshots.items())


def load_snapshot(session: Session, scope: str) -> Snapshot | None:
    """The stored snapshot of one scope, if the workers have computed it."""
    return session.get(Snapshot, scope)
