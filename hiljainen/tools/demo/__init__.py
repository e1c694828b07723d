"""The demo organisation: units, touchpoints, accounts and 12 weeks of original notes."""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hiljainen import accounts, db, intake
from hiljainen.config import Settings
from hiljainen.models import (
    Observation,
    Response,
    Role,
    Source,
    Status,
    Touchpoint,
    Unit,
    User,
)
from hiljainen.pipeline.redact import Redactor

HERE = Path(__file__).parent


def organisation() -> dict[str, Any]:
    """The demo organisation's units, touchpoints and users."""
    return json.loads((HERE / "organisation.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def notes() -> list[dict[str, Any]]:
    """The demo notes, one dict per line of notes.jsonl."""
    with (HERE / "notes.jsonl").open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def load_demo(settings: Settings, today: dt.date | None = None) -> list[int]:
    """Load the demo into an empty database; returns the new note ids (none if notes exist)."""
    sessions = db.make_sessionmaker(db.make_engine(settings.sqlalchemy_url))
    with db.transaction(sessions) as session:
        if session.scalar(select(func.count()).select_from(Observation)):
            print("  demo: the database already has notes; nothing loaded", flush=True)
            return []
        print("  demo: loading the demo organisation…", flush=True)
        _organisation(session)
        ids = _notes(session, Redactor(), today or settings.today(), settings.max_note_chars)
    print(f"  demo: {len(ids)} notes stored; the worker analyses them now", flush=True)
    if settings.redis_url:
        intake.queue_processing(_redis(settings.redis_url), ids, settings.batch_size)
    return ids


def _redis(url: str) -> Any:
    from hiljainen.stores.queue import connect

    return connect(url)


def _organisation(session: Session) -> None:
    org = organisation()
    units = {}
    for u in org["units"]:
        units[u["slug"]] = Unit(slug=u["slug"], name_fi=u["name_fi"], name_en=u["name_en"])
        session.add(units[u["slug"]])
    session.flush()
    for t in org["touchpoints"]:
        session.add(
            Touchpoint(
                slug=t["slug"],
                name_fi=t["name_fi"],
                name_en=t["name_en"],
                unit_id=units[t["unit"]].id if t.get("unit") else None,
            )
        )
    for u in org["users"]:
        unit = units.get(u.get("unit") or "")
        accounts.create_user(
            session,
            u["username"],
            u.get("password", "demo-staff-password"),
            Role(u["role"]),
            display_name=u.get("display_name", ""),
            unit_id=unit.id if unit else None,
        )
    session.flush()


def _notes(session: Session, redactor: Redactor, today: dt.date, max_chars: int) -> list[int]:
    users = {u.username: u for u in session.scalars(select(User))}
    leader = next(u for u in users.values() if u.role == Role.LEADER)
    this_monday = today - dt.timedelta(days=today.weekday())
    rng = random.Random(11)  # the same demo every time
    ids = []
    for row in notes():
        day = this_monday - dt.timedelta(weeks=11 - row["week"], days=-row["weekday"])
        day = min(day, today)
        author = users.get(row.get("author") or "")
        stored = intake.store(
            session,
            intake.Draft(
                text=row["text"],
                source=Source(row["source"]),
                unit=row.get("unit"),
                touchpoint=row.get("touchpoint"),
                author=author,
                anonymous=row.get("anonymous", author is None),
                shareable=row.get("shareable", True),  # invented notes: every writer let others see them
                day=day,
                wants_receipt=author is None,
            ),
            redactor,
            max_chars=max_chars,
        )
        obs = stored.observation
        if author is not None:
            obs.created_at = dt.datetime.combine(day, dt.time(9 + rng.randrange(9)), dt.UTC)
        _response_loop(session, obs, leader, today, rng)
        ids.append(obs.id)
    return ids


def _response_loop(
    session: Session, obs: Observation, leader: User, today: dt.date, rng: random.Random
) -> None:
    """Older notes have been handled like a real team would: most seen, some answered."""
    age = (today - obs.day).days
    if age < 3 or rng.random() < 0.15:
        return
    seen = dt.datetime.combine(obs.day + dt.timedelta(days=rng.choice((0, 1, 1, 2, 4))), dt.time(14), dt.UTC)
    obs.acknowledged_at = seen
    obs.status = Status.SEEN
    if age > 14 and rng.random() < 0.5:
        obs.status = Status.DONE
        obs.owner_id = leader.id
        session.add(
            Response(
                observation_id=obs.id,
                author_id=leader.id,
                kind="action",
                body="Käsitelty tiimipalaverissa.",
                created_at=seen + dt.timedelta(days=3),
            )
        )
        if obs.anonymous and rng.random() < 0.5:
            session.add(
                Response(
                    observation_id=obs.id,
                    author_id=leader.id,
                    kind="answer",
                    body="Kiitos havainnosta. Asia on otettu käsittelyyn ja toimintatapaa on muutettu.",
                    created_at=seen + dt.timedelta(days=4),
                )
            )
