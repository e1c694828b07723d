"""The leader's home page: indicators precomputed by the workers, charts with their numbers."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from typing import Any

from flask import Blueprint, Response, abort, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from sqlalchemy import select

from hiljainen import resources
from hiljainen.models import (
    Alert,
    Indicator,
    IndicatorValue,
    Observation,
    Role,
    Source,
    Theme,
    ThemeEvent,
    Touchpoint,
    Unit,
)
from hiljainen.stores.reports import load_snapshot
from hiljainen.web.auth import current_user, login_required
from hiljainen.web.i18n import source_label
from hiljainen.web.signal_map import SignalMap, build
from hiljainen.web.themes import parse_number

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")

CHARTS = ("notes_by_source", "response", "emergence_map", "topic_stream", "tone", "activity")


@bp.get("/")
@login_required(Role.LEADER)
def home() -> Any:
    """Indicators for one scope (all, a unit, a touchpoint or a source role)."""
    return _home_page()


def _home_page(error: str | None = None, values: Any = None, status: int = 200) -> Any:
    # `error` and the typed `values` belong to the track-a-search form, shown open again.
    db = resources.session()
    scope = _scope()
    snap = load_snapshot(db, scope)
    themes = db.scalars(
        select(Theme)
        .where(Theme.active.is_(True), Theme.size > 0, *_raised_in(scope))
        .order_by(Theme.emergence.desc())
        .limit(15)
    ).all()
    alerts = db.scalars(select(Alert).order_by(Alert.id.desc()).limit(8)).all()
    live = _live_themes(db, {a.theme_id for a in alerts if a.theme_id})
    indicators = _indicators()
    topics = _topics(db.scalars(select(Theme).where(Theme.active.is_(True), Theme.size > 0,
                                                    *_raised_in(scope))).all())
    units = db.scalars(select(Unit).order_by(Unit.name_fi)).all()
    return render_template(
        "dashboard/index.html",
        scope=scope,
        snap=snap.data if snap else None,
        charts=_chart_data(snap.data) if snap else None,
        computed_at=snap.computed_at if snap else None,
        tables=_tables(snap.data) if snap else {},
        signal_map=_signal_map(db, snap.data) if snap else None,
        themes=themes,
        topics=topics,
        alerts=alerts,
        live_themes=live,
        indicators=indicators,
        scopes=_scope_choices(units),
        unit_names={u.slug: _local_name(u) for u in units},
        track_error=error,
        track_values=values or {},
    ), status


def _live_themes(db: Any, theme_ids: set[int]) -> dict[int, Theme]:
    """The theme each alert's theme lives on as: itself, or the theme it was merged into."""
    out = {}
    for theme_id in theme_ids:
        theme, seen = db.get(Theme, theme_id), set()
        while theme is not None and not theme.active and theme.id not in seen:
            seen.add(theme.id)
            heir = db.scalar(select(ThemeEvent.other_theme_id)
                             .where(ThemeEvent.theme_id == theme.id, ThemeEvent.kind == "merged")
                             .order_by(ThemeEvent.id.desc()).limit(1))
            if heir is None:
                break
            theme = db.get(Theme, heir)
        if theme is not None:
            out[theme_id] = theme
    return out


def _signal_map(db: Any, data: dict[str, Any]) -> SignalMap:
    """The weak-signal map of the snapshot, each bubble opening the theme it lives on as now, under
    that theme's current name (the snapshot keeps the name the theme had when it was computed)."""
    points = data.get("emergence_map", [])
    live = _live_themes(db, {p["id"] for p in points if isinstance(p.get("id"), int)})
    return build(points, {old: (theme.id, theme.name) for old, theme in live.items()})


# A topic shows the most telling signal of its themes: a new or growing subject first, then a
# large steady one, then a rare one; noise only when every theme is noise.
_LEVEL = {"strong": 4, "weak": 3, "well-known": 2, "latent": 1}


def _topics(themes: Sequence[Theme], limit: int = 12) -> list[dict[str, Any]]:
    """The largest topics: name, notes, number of themes and their strongest signal."""
    out: dict[int, dict[str, Any]] = {}
    for t in themes:
        key = t.topic_id or t.id
        topic = out.setdefault(key, {"id": key, "name": t.topic_name or t.name, "size": 0, "themes": 0,
                                     "signal": "noise"})
        topic["size"] += t.size
        topic["themes"] += 1
        if _LEVEL.get(t.signal, 0) > _LEVEL.get(topic["signal"], 0):
            topic["signal"] = t.signal
    return sorted(out.values(), key=lambda tp: (-_LEVEL.get(tp["signal"], 0), -tp["size"]))[:limit]


# A formula's first character at the start of a cell, or after a character a spreadsheet may split
# the cell at: Finnish Excel opens a comma-separated file at its semicolons.
_FORMULA = re.compile(r"(^|[;,\t\r\n])([=+\-@\t\r])")


def spreadsheet_safe(value: Any) -> Any:
    """A text cell a spreadsheet would read as a formula (a theme renamed "=HYPERLINK(...)", or
    "x;=1+1" opened at its semicolon) gets an apostrophe before the formula, so it opens as text;
    numbers stay numbers."""
    return _FORMULA.sub(r"\1'\2", value) if isinstance(value, str) else value


@bp.get("/data/<chart>.csv")
@login_required(Role.LEADER)
def chart_csv(chart: str) -> Response:
    """The numbers behind one chart as CSV (opens in a spreadsheet)."""
    if chart not in CHARTS:
        abort(404)
    snap = load_snapshot(resources.session(), _scope())
    if snap is None:
        abort(404)
    header, rows = _tables(snap.data)[chart]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([spreadsheet_safe(v) for v in header])
    writer.writerows([spreadsheet_safe(v) for v in row] for row in rows)
    return Response(
        "\ufeff" + out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f"attachment; filename={chart}.csv"},
    )


@bp.post("/indicators")
@login_required(Role.LEADER)
def track_search() -> Any:
    """Track a saved search (notes per week whose text contains the words) as an indicator."""
    db = resources.session()
    f = request.form
    query = " ".join(f.get("query", "").replace("\x00", " ").split())[:200]  # NUL ends a string in SQLite
    try:
        threshold = parse_number(f.get("threshold"))
        target = parse_number(f.get("target"))
    except ValueError:
        return _home_page(_("Threshold and target are numbers, such as 4 or 3.5."), f, 400)
    if not query:
        return _home_page(_("Write the words to look for."), f, 400)
    user = current_user()
    db.add(Indicator(name=f.get("name", "").strip()[:200] or query, query=query, threshold=threshold,
                     target=target, owner=f.get("owner", "").strip()[:200],
                     created_by=user.id if user else None))
    db.commit()
    return redirect(url_for("dashboard.home"), code=303)


def _scope() -> str:
    scope = request.args.get("scope", "all")
    kind, _sep, value = scope.partition(":")
    if scope != "all" and (kind not in ("unit", "touchpoint", "source") or not value or len(value) > 60):
        abort(400)
    return scope


def _raised_in(scope: str) -> list[Any]:
    # Themes with a note from the scope's unit, touchpoint or source role (no filter for "all").
    kind, _sep, value = scope.partition(":")
    if kind == "unit":
        note = Observation.unit.has(Unit.slug == value)
    elif kind == "touchpoint":
        note = Observation.touchpoint.has(Touchpoint.slug == value)
    elif kind == "source" and value in {s.value for s in Source}:
        note = Observation.source == Source(value)
    else:
        return []
    return [Theme.id.in_(select(Observation.theme_id).where(note))]


def _scope_choices(units: Sequence[Unit]) -> list[tuple[str, str]]:
    db = resources.session()
    choices = [("all", _("Whole organisation"))]
    choices += [(f"unit:{u.slug}", _local_name(u)) for u in units]
    choices += [
        (f"touchpoint:{t.slug}", _local_name(t))
        for t in db.scalars(select(Touchpoint).order_by(Touchpoint.name_fi))
    ]
    choices += [(f"source:{s.value}", source_label(s)) for s in Source]
    return choices


def _local_name(place: Unit | Touchpoint) -> str:
    # Units and touchpoints are named in both languages; an empty English name falls back.
    return place.name_en if str(get_locale()) == "en" and place.name_en else place.name_fi


def _indicators() -> list[dict[str, Any]]:
    db = resources.session()
    out = []
    for indicator in db.scalars(select(Indicator).order_by(Indicator.id)):
        values = db.scalars(
            select(IndicatorValue)
            .where(IndicatorValue.indicator_id == indicator.id)
            .order_by(IndicatorValue.period)
        ).all()
        out.append({"indicator": indicator, "values": [(v.period, v.value) for v in values][-12:]})
    return out


# What the page's script draws: the page carries these, not the whole snapshot (whose "total"
# and weekly writer counts are not for showing).
CHART_DATA = ("weeks", "notes_by_source", "tone", "topic_stream", "response")


def _chart_data(data: dict[str, Any]) -> dict[str, Any]:
    return {key: data[key] for key in CHART_DATA if key in data}


def _hidden_as_dash(series: dict[str, list[Any]]) -> dict[str, list[Any]]:
    # A hidden count (None) reads "–" in the table and its CSV, as in the activity table.
    return {name: ["–" if v is None else v for v in values] for name, values in series.items()}


def _tables(data: dict[str, Any]) -> dict[str, tuple[list[str], list[list[Any]]]]:
    """Each chart's data as (header, rows): shown under the chart and served as CSV."""
    weeks = data["weeks"]

    def by_week(series: dict[str, list[Any]]) -> tuple[list[str], list[list[Any]]]:
        names = list(series)
        return ["week", *names], [[w, *(series[n][i] for n in names)] for i, w in enumerate(weeks)]

    cells = data["activity"]["cells"]
    return {
        "notes_by_source": by_week(_hidden_as_dash(data["notes_by_source"])),
        "tone": by_week(_hidden_as_dash(data["tone"])),
        # Hidden weeks and weeks without figures both read "–".
        "response": by_week(_hidden_as_dash(data["response"])),
        "topic_stream": by_week(data.get("topic_stream", {})),
        "emergence_map": (
            ["theme", "signal", "confidence", "visibility", "emergence", "reporters", "notes"],
            [
                [
                    p["name"],
                    p["signal"],
                    p["confidence"],
                    p["visibility"],
                    p["emergence"],
                    p["reporters"],
                    p["size"],
                ]
                for p in data.get("emergence_map", [])
            ],
        ),
        "activity": (
            ["unit", "source", "notes"],
            [[c["unit"], c["source"], "–" if c["hidden"] else c["notes"]] for c in cells],
        ),
    }
