"""A theme's page: its history and signal beside leadership's interpretation; rename, pin, track."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, abort, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from sqlalchemy import select

from hiljainen import resources
from hiljainen.errors import ConfigError, ServiceUnavailable
from hiljainen.models import (
    AuditEvent,
    Indicator,
    Interpretation,
    Observation,
    Role,
    Theme,
    ThemeEvent,
    ThemePeriod,
)
from hiljainen.stores import queue
from hiljainen.web.auth import current_user, login_required

bp = Blueprint("themes", __name__, url_prefix="/themes")
MAX_FIELD = 2000


@bp.get("/<int:theme_id>")
@login_required(Role.LEADER)
def detail(theme_id: int) -> Any:
    """Signal, weekly counts, events and interpretations side by side, and the theme's notes."""
    return _detail_page(resources.session().get(Theme, theme_id) or abort(404))


def _detail_page(theme: Theme, *, error: str | None = None, form: str = "",
                 values: Mapping[str, str] | None = None, status: int = 200) -> Any:
    """The theme's page; after a refused form post, the error beside that form (`form`: "track"
    or "interpretation") and what the user typed in it (`values`)."""
    db = resources.session()
    theme_id = theme.id
    periods = db.scalars(
        select(ThemePeriod)
        .where(ThemePeriod.theme_id == theme_id, ThemePeriod.period.contains("-W"))
        .order_by(ThemePeriod.start)
    ).all()
    events = db.scalars(
        select(ThemeEvent).where(ThemeEvent.theme_id == theme_id).order_by(ThemeEvent.id.desc())
    ).all()
    readings = db.scalars(
        select(Interpretation).where(Interpretation.theme_id == theme_id).order_by(Interpretation.id.desc())
    ).all()
    history = sorted(
        [("event", e.at, e) for e in events] + [("reading", r.created_at, r) for r in readings],
        key=lambda item: item[1],
        reverse=True,
    )
    reps = {o.id: o for o in db.scalars(select(Observation).where(Observation.id.in_(theme.representatives)))}
    notes = db.scalars(
        select(Observation).where(Observation.theme_id == theme_id).order_by(Observation.day.desc()).limit(30)
    ).all()
    chart = {
        "weeks": [p.period[5:] for p in periods],
        "counts": [p.count for p in periods],
        "bursts": [bool(p.measures.get("burst")) for p in periods],
        "reporters": [p.measures.get("reporters", 0) for p in periods],
    }
    # A theme no longer in use says so, and where its notes went (its latest merge or fade).
    ended = None if theme.active else next((e for e in events if e.kind in ("merged", "faded")), None)
    return render_template(
        "themes/theme.html",
        theme=theme,
        ended=ended,
        successor=db.get(Theme, ended.other_theme_id) if ended and ended.other_theme_id else None,
        chart=chart,
        history=history,
        representatives=[reps[i] for i in theme.representatives if i in reps],
        notes=notes,
        error=error,
        error_form=form,
        values=values or {},
    ), status


@bp.post("/<int:theme_id>/name")
@login_required(Role.LEADER)
def rename(theme_id: int) -> Any:
    """A leader's name for the theme; it survives recomputation. Empty = back to the computed label."""
    db = resources.session()
    theme = db.get(Theme, theme_id) or abort(404)
    theme.custom_name = request.form.get("name", "").strip()[:200] or None
    theme.pinned = request.form.get("pinned") == "on"
    _audit("theme.rename", theme_id, {"pinned": theme.pinned})
    db.commit()
    return redirect(url_for("themes.detail", theme_id=theme_id), code=303)


@bp.post("/<int:theme_id>/interpretation")
@login_required(Role.LEADER)
def interpret(theme_id: int) -> Any:
    """Record what the signal means, the decision, an owner and a review date."""
    db = resources.session()
    theme = db.get(Theme, theme_id) or abort(404)
    f = request.form
    meaning = f.get("meaning", "").strip()
    if not meaning:
        return _detail_page(theme, error=_("Write what the signal means."), form="interpretation",
                            values=f, status=400)
    db.add(
        Interpretation(
            theme_id=theme_id,
            author_id=_user_id(),
            meaning=meaning[:MAX_FIELD],
            decision=f.get("decision", "").strip()[:MAX_FIELD],
            owner=f.get("owner", "").strip()[:200],
            review_on=_date(f.get("review_on")),
        )
    )
    _audit("theme.interpret", theme_id, {})
    db.commit()
    return redirect(url_for("themes.detail", theme_id=theme_id), code=303)


@bp.post("/<int:theme_id>/track")
@login_required(Role.LEADER)
def track(theme_id: int) -> Any:
    """Pin the theme as a tracked indicator with a threshold or target, owner and review date."""
    db = resources.session()
    theme = db.get(Theme, theme_id) or abort(404)
    f = request.form
    try:
        threshold = parse_number(f.get("threshold"))
        target = parse_number(f.get("target"))
    except ValueError:
        return _detail_page(theme, error=_("Threshold and target are numbers, such as 4 or 3.5."),
                            form="track", values=f, status=400)
    theme.pinned = True
    db.add(
        Indicator(
            name=f.get("name", "").strip()[:200] or theme.name,
            theme_id=theme_id,
            threshold=threshold,
            target=target,
            owner=f.get("owner", "").strip()[:200],
            review_on=_date(f.get("review_on")),
            created_by=_user_id(),
        )
    )
    _audit("indicator.create", theme_id, {"threshold": threshold, "target": target})
    db.commit()
    return redirect(url_for("dashboard.home"), code=303)


@bp.post("/refresh")
@login_required(Role.LEADER)
def refresh() -> Any:
    """Recompute themes now; the page that follows shows the job's progress."""
    try:
        job_id = queue.enqueue_refresh(resources.get().redis())
    except (ServiceUnavailable, ConfigError):
        return render_template("themes/refresh.html", job_id=None), 503
    return render_template("themes/refresh.html", job_id=job_id), 202


@bp.get("/refresh/<job_id>.json")
@login_required(Role.LEADER)
def refresh_status(job_id: str) -> Any:
    """The refresh job's state and progress (0..1) for the progress bar."""
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    try:
        job = Job.fetch(job_id, connection=resources.get().redis())
    except (NoSuchJobError, ServiceUnavailable, ConfigError):
        abort(404)
    status = job.get_status()
    step = job.meta.get("step", "queued")
    return jsonify(
        # rq's JobStatus is an Enum: its str() is "JobStatus.FINISHED", its value "finished".
        status=getattr(status, "value", status),
        step=str(_STEPS.get(step, step)),
        progress=job.meta.get("progress", 0.0),
    )


# The refresh job's steps (workers/refresh.py) as the progress bar says them.
_STEPS = {
    "queued": lazy_gettext("waiting for the worker"),
    "loading": lazy_gettext("reading the notes"),
    "clustering": lazy_gettext("grouping the notes into themes"),
    "writing": lazy_gettext("saving the themes and signals"),
    "indicators": lazy_gettext("computing the indicators"),
    "done": lazy_gettext("done"),
}


def parse_number(raw: str | None) -> float | None:
    """A number of notes per week as people write it: "4", "3,5" (a Finnish decimal comma) or
    "3.5"; None when empty; ValueError unless a finite number of at least zero."""
    text = (raw or "").strip().replace(",", ".")
    if not text:
        return None
    value = float(text)
    if not math.isfinite(value) or value < 0:
        raise ValueError(raw)
    return value


def _user_id() -> int | None:
    user = current_user()
    return user.id if user else None


def _date(raw: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat(raw) if raw else None
    except ValueError:
        return None


def _audit(action: str, theme_id: int, detail: dict[str, Any]) -> None:
    resources.session().add(
        AuditEvent(actor_id=_user_id(), action=action, target=f"theme:{theme_id}", detail=detail)
    )
