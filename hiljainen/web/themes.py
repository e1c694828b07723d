"""Every topic and theme on one page; a theme's page: its history and signal beside leadership's
interpretation; a leader's corrections (rename, merge, split, move, not new, watch, pin, undo), track."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, abort, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hiljainen import resources
from hiljainen.errors import ConfigError, ServiceUnavailable
from hiljainen.models import (
    AuditEvent,
    CorrectionKind,
    Indicator,
    Interpretation,
    Observation,
    Role,
    Theme,
    ThemeEvent,
    ThemePeriod,
    User,
)
from hiljainen.rules import digits, public_id_shape
from hiljainen.search import sql
from hiljainen.stores import queue
from hiljainen.web import corrections
from hiljainen.web.auth import current_user, login_required

bp = Blueprint("themes", __name__, url_prefix="/themes")
MAX_FIELD = 2000
SPARK_WEEKS = 12
THEME_NOTES = 300  # notes listed (and choosable) on a theme's page
MAX_CHOSEN = 1000  # ticked notes read from one form: a bound on the lookup, above THEME_NOTES
SIGNAL_ORDER = {"strong": 0, "weak": 1, "latent": 2, "well-known": 3, "noise": 4}
SORTS = ("size", "trend", "signal", "name")


@bp.get("/")
@login_required(Role.LEADER)
def index() -> Any:
    """Every topic with its themes: size, a sparkline of the last weeks, signal, owner and
    interpretation; sorted (`sort`) and filtered (`q` words, `signal`) by query parameters."""
    db = resources.session()
    args = request.args
    sort = args.get("sort", "size") if args.get("sort") in SORTS else "size"
    signal = args.get("signal", "")
    words = args.get("q", "").strip().lower()[:100]
    themes = [t for t in db.scalars(select(Theme).where(Theme.active.is_(True))).all()
              if t.size > 0 or t.held]
    total = len(themes)
    if signal:
        themes = [t for t in themes if t.signal == signal]
    if words:
        themes = [t for t in themes if words in " ".join(
            [t.name, t.label, t.topic_name, *map(str, t.keywords)]).lower()]
    ids = [t.id for t in themes]
    weeks: dict[int, list[tuple[Any, int]]] = {}
    for theme_id, start, count in db.execute(
        select(ThemePeriod.theme_id, ThemePeriod.start, ThemePeriod.count)
        .where(ThemePeriod.theme_id.in_(ids), ThemePeriod.period.contains("-W"))
    ).tuples():
        weeks.setdefault(theme_id, []).append((start, count))
    counts = {i: [c for _s, c in sorted(w)][-SPARK_WEEKS:] for i, w in weeks.items()}
    read = set(db.scalars(select(Interpretation.theme_id).where(Interpretation.theme_id.in_(ids))))
    owners = {u.id: u.display_name or u.username for u in db.scalars(
        select(User).where(User.id.in_({t.owner_id for t in themes if t.owner_id})))}
    rows: list[dict[str, Any]] = [
        {"theme": t, "counts": counts.get(t.id, []), "spark": sparkline(counts.get(t.id, [])),
             "recent": sum(counts.get(t.id, [])[-3:]), "interpreted": t.id in read,
             "owner": owners.get(t.owner_id or 0, "")} for t in themes
    ]
    key = {
        "size": lambda r: (-r["theme"].size, r["theme"].id),
        "trend": lambda r: (-r["recent"], -r["theme"].size),
        "signal": lambda r: (SIGNAL_ORDER.get(r["theme"].signal, 5), -r["theme"].size),
        "name": lambda r: (r["theme"].name.lower(), r["theme"].id),
    }[sort]
    topics: dict[int, dict[str, Any]] = {}
    for row in sorted(rows, key=key):
        t = row["theme"]
        topic = topics.setdefault(t.topic_id or t.id, {"id": t.topic_id or t.id, "themes": [], "size": 0,
                                                       "name": t.topic_name or t.name, "recent": 0})
        topic["themes"].append(row)
        topic["size"] += t.size
        topic["recent"] += row["recent"]
    ordered = list(topics.values())
    if sort in ("size", "trend"):
        ordered.sort(key=lambda tp: -tp[sort if sort == "size" else "recent"])
    elif sort == "name":
        ordered.sort(key=lambda tp: str(tp["name"]).lower())
    return render_template("themes/index.html", topics=ordered, shown=len(rows), total=total,
                           sort=sort, signal=signal, q=args.get("q", "")[:100], sorts=SORTS,
                           signals=list(SIGNAL_ORDER))


def sparkline(counts: list[int], width: int = 96, height: int = 24) -> str:
    """Points of an inline SVG polyline for weekly counts (empty for fewer than two weeks)."""
    if len(counts) < 2:
        return ""
    top = max(max(counts), 1)
    step = width / (len(counts) - 1)
    return " ".join(f"{i * step:.1f},{height - 2 - (c / top) * (height - 4):.1f}"
                    for i, c in enumerate(counts))


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
        select(Observation).where(Observation.theme_id == theme_id)
        .order_by(*sql.listing_order()).limit(THEME_NOTES)
    ).all()
    others = db.scalars(
        select(Theme).where(Theme.active.is_(True), Theme.id != theme_id).order_by(Theme.size.desc())
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
        others=[t for t in others if t.size > 0 or t.held],
        edits=corrections.history(db, theme_id),
        topic_themes=_topic_themes(db, theme),
        error=error,
        error_form=form,
        values=values or {},
    ), status


def _topic_themes(db: Session, theme: Theme) -> int:
    """How many themes the theme's topic holds now (1: the theme is a topic of its own)."""
    if theme.topic_id is None:
        return 1
    return int(db.scalar(select(func.count()).select_from(Theme).where(
        Theme.topic_id == theme.topic_id, Theme.active.is_(True))) or 1)


@bp.post("/<int:theme_id>/name")
@login_required(Role.LEADER)
def rename(theme_id: int) -> Any:
    """A leader's name for the theme; it survives recomputation. Empty = back to the computed label."""
    db = resources.session()
    theme = db.get(Theme, theme_id) or abort(404)
    corrections.rename(db, theme, request.form.get("name", "").strip()[:200] or None, _user_id())
    corrections.flag(db, theme, CorrectionKind.PIN, request.form.get("pinned") == "on", _user_id())
    _audit("theme.rename", theme_id, {"pinned": theme.pinned})
    db.commit()
    return redirect(url_for("themes.detail", theme_id=theme_id), code=303)


@bp.post("/<int:theme_id>/merge")
@login_required(Role.LEADER)
def merge(theme_id: int) -> Any:
    """All of this theme's notes join another theme, and stay with it in every refresh."""
    db = resources.session()
    theme = db.get(Theme, theme_id) or abort(404)
    into = _other(request.form.get("into"))
    if into is None:
        return _refused(theme, "merge", _("Choose the theme to merge into."))
    try:
        corrections.merge(db, theme, into, _user_id())
    except corrections.ThemeChanged:  # another leader's merge of one of them came first
        changed = _("Another correction changed these themes meanwhile: look at them again.")
        return _refused(theme, "merge", changed)
    except corrections.CorrectionRefused:
        return _refused(theme, "merge", _("Choose another theme in use."))
    _audit("theme.merge", theme_id, {"into": into.id})
    db.commit()
    return redirect(url_for("themes.detail", theme_id=into.id), code=303)


@bp.post("/<int:theme_id>/split")
@login_required(Role.LEADER)
def split(theme_id: int) -> Any:
    """The chosen notes become a theme of their own, kept apart from the rest in every refresh."""
    db = resources.session()
    theme = db.get(Theme, theme_id) or abort(404)
    try:
        new = corrections.split(db, theme, _chosen(), request.form.get("name", "").strip()[:200] or None,
                                _user_id())
    except corrections.CorrectionRefused:
        return _refused(theme, "notes", _("Choose some of the theme's notes, not all of them."))
    _audit("theme.split", theme_id, {"new": new.id, "notes": len(_chosen())})
    db.commit()
    return redirect(url_for("themes.detail", theme_id=new.id), code=303)


@bp.post("/<int:theme_id>/move")
@login_required(Role.LEADER)
def move(theme_id: int) -> Any:
    """The chosen notes move to another theme and stay there in every refresh."""
    db = resources.session()
    theme = db.get(Theme, theme_id) or abort(404)
    to = _other(request.form.get("to"))
    try:
        if to is None:
            raise corrections.CorrectionRefused("no target")
        corrections.move(db, theme, _chosen(), to, _user_id())
    except corrections.CorrectionRefused:
        return _refused(theme, "notes", _("Choose notes and the theme to move them to."))
    _audit("theme.move", theme_id, {"to": to.id, "notes": len(_chosen())})
    db.commit()
    return redirect(url_for("themes.detail", theme_id=theme_id), code=303)


@bp.post("/<int:theme_id>/not-new")
@login_required(Role.LEADER)
def not_new(theme_id: int) -> Any:
    """"Not a new subject": no more signal alerts for this theme."""
    db = resources.session()
    theme = db.get(Theme, theme_id) or abort(404)
    corrections.not_new(db, theme, _user_id())
    _audit("theme.not_new", theme_id, {})
    db.commit()
    return redirect(url_for("themes.detail", theme_id=theme_id), code=303)


@bp.post("/<int:theme_id>/watch")
@login_required(Role.LEADER)
def watch(theme_id: int) -> Any:
    """Watch a small candidate (or stop): its notes stay together and new ones may join."""
    db = resources.session()
    theme = db.get(Theme, theme_id) or abort(404)
    corrections.flag(db, theme, CorrectionKind.WATCH, not theme.watched, _user_id())
    _audit("theme.watch", theme_id, {"watched": theme.watched})
    db.commit()
    return redirect(url_for("themes.detail", theme_id=theme_id), code=303)


@bp.post("/<int:theme_id>/undo")
@login_required(Role.LEADER)
def undo(theme_id: int) -> Any:
    """Undo the latest correction made on this theme."""
    db = resources.session()
    theme = db.get(Theme, theme_id) or abort(404)
    undone = corrections.undo_last(db, theme, _user_id())
    if undone is None:
        return _refused(theme, "undo", _("Nothing to undo."))
    _audit("theme.undo", theme_id, {"correction": undone.id, "kind": undone.kind.value})
    db.commit()
    return redirect(url_for("themes.detail", theme_id=theme_id), code=303)


def _other(raw: str | None) -> Theme | None:
    # ASCII digits only: str.isdigit() takes "²", which int() refuses (a 500).
    return resources.session().get(Theme, int(raw)) if raw and digits(raw, 9) else None


def _chosen() -> list[int]:
    """The internal ids of the notes ticked on the theme's page, which shows only public ids."""
    chosen = [v for v in request.form.getlist("notes")[:MAX_CHOSEN] if public_id_shape(v)]
    if not chosen:
        return []
    query = select(Observation.id).where(Observation.public_id.in_(chosen))
    return list(resources.session().scalars(query))


def _refused(theme: Theme, form: str, message: str) -> Any:
    resources.session().rollback()
    return _detail_page(theme, error=message, form=form, status=400)


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
    whole_topic = f.get("scope") == "topic" and theme.topic_id is not None
    db.add(
        Indicator(
            name=f.get("name", "").strip()[:200] or (theme.topic_name if whole_topic else "") or theme.name,
            theme_id=theme_id,
            whole_topic=whole_topic,
            threshold=threshold,
            target=target,
            owner=f.get("owner", "").strip()[:200],
            review_on=_date(f.get("review_on")),
            created_by=_user_id(),
        )
    )
    _audit("indicator.create", theme_id,
           {"threshold": threshold, "target": target, "whole_topic": whole_topic})
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
    # ValueError: rq refuses an id that is not letters, digits, "-" and "_"; no job has such an id.
    except (NoSuchJobError, ValueError, ServiceUnavailable, ConfigError):
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


# The largest threshold or target a leader may set: far above any count of notes, and small
# enough to print (1e308 stored once made every leader's home page fail).
MAX_NUMBER = 1_000_000


def parse_number(raw: str | None) -> float | None:
    """A number of notes per week as people write it: "4", "3,5" (a Finnish decimal comma) or
    "3.5"; None when empty; ValueError unless a finite number from zero to MAX_NUMBER."""
    text = (raw or "").strip().replace(",", ".")
    if not text:
        return None
    value = float(text)
    if not math.isfinite(value) or not 0 <= value <= MAX_NUMBER:
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
