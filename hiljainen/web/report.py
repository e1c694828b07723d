"""A printable report of a period for the leadership team: totals by unit and source, themes,
the response loop, "you said, we did" examples and the interpretations and decisions leaders
recorded on themes, with charts drawn on the server (`report_charts`) so that the printed PDF
carries them. Print styles live in static/print.css.

Privacy: a count is shown only when at least `settings.min_group_size` distinct writers stand
behind it (each anonymous note counts as one writer), with complementary suppression so a
hidden cell cannot be recomputed from the totals (see `digest.privacy_table`); the charts and
the response loop follow the same rule. No names appear: a decision shows its author's role.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, render_template, request
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from hiljainen import resources
from hiljainen.digest import MAX_EXAMPLES, Example, Table, examples, privacy_table
from hiljainen.errors import InvalidInput
from hiljainen.models import Interpretation, Role, Source, Theme, Unit, User, local_day
from hiljainen.pipeline.indicators import ACK_WORKING_DAYS, NoteFacts, response_loop, working_days_between
from hiljainen.stores.reports import note_facts
from hiljainen.web import report_charts
from hiljainen.web.auth import login_required

bp = Blueprint("report", __name__, url_prefix="/report")
DEFAULT_DAYS = 28
MAX_DAYS = 366
MAX_THEMES = 30
THEME_CHARTS = 6  # the top themes drawn week by week
MAX_DECISIONS = 100
NO_UNIT = "-"
_MARGIN = dt.timedelta(days=7)


def parse_period(start: str | None, end: str | None, today: dt.date) -> tuple[dt.date, dt.date]:
    """The period from ?from=&to= (YYYY-MM-DD); default the four weeks ending today."""
    try:
        to = dt.date.fromisoformat(end) if end else today
        since = dt.date.fromisoformat(start) if start else to - dt.timedelta(days=DEFAULT_DAYS - 1)
    except (ValueError, OverflowError):  # OverflowError: the four weeks before 0001-01-03
        raise InvalidInput(_("Give the dates as YYYY-MM-DD.")) from None
    # The report reads a few days around the period (time zones): those must be dates too.
    if since < dt.date.min + _MARGIN or to > dt.date.max - _MARGIN:
        raise InvalidInput(_("Give the dates as YYYY-MM-DD."))
    if since > to:
        raise InvalidInput(_("The start of the period is after its end."))
    if (to - since).days >= MAX_DAYS:
        raise InvalidInput(_("A report covers at most %(n)d days.", n=MAX_DAYS))
    return since, to


@dataclass(frozen=True)
class ThemeRow:
    id: int
    name: str
    signal: str
    size: int
    notes: int | None  # notes in the period; None = too few writers to show


@dataclass(frozen=True)
class PeriodReport:
    """Everything the printed report shows."""

    start: dt.date
    end: dt.date
    min_group: int
    table: Table  # rows: unit slugs (NO_UNIT for none), columns: sources
    unit_names: dict[str, tuple[str, str]]  # slug -> (Finnish, English)
    themes: list[ThemeRow]
    loop: dict[str, Any]
    examples: list[Example]
    weeks: list[dt.date]  # the Monday of every week the period touches
    weekly: list[int | None]  # notes per week; None = hidden
    theme_weeks: list[tuple[ThemeRow, list[int | None]]]
    decisions: list[Decision]


@dataclass(frozen=True)
class Decision:
    """An interpretation recorded on a theme in the period; its author only by role."""

    theme_id: int
    theme: str
    role: str | None
    day: dt.date
    meaning: str
    decision: str
    review_on: dt.date | None


def build(
    session: Session, start: dt.date, end: dt.date, today: dt.date, min_group: int, tz: str = "UTC"
) -> PeriodReport:
    """Gather the report of the period (duplicates are not counted again); `tz` is the
    deployment's time zone, in which a decision's day is read."""
    facts = [f for f in note_facts(session, start, zoneinfo.ZoneInfo(tz)) if f.day <= end and not f.duplicate]
    units = {u.slug: (u.name_fi, u.name_en) for u in session.scalars(select(Unit).order_by(Unit.name_fi))}
    present = {f.unit or NO_UNIT for f in facts}
    rows = [slug for slug in units if slug in present] + ([NO_UNIT] if NO_UNIT in present else [])
    table = privacy_table(
        ((f.unit or NO_UNIT, f.source, f.writer) for f in facts), rows, [s.value for s in Source], min_group
    )
    themes = _themes(session, facts, min_group)
    weeks = report_charts.weeks_of(start, end)
    theme_weeks = [
        (t, report_charts.weekly_counts([f for f in facts if f.theme_id == t.id], weeks, min_group))
        for t in themes
        if t.notes is not None
    ][:THEME_CHARTS]
    return PeriodReport(
        start=start,
        end=end,
        min_group=min_group,
        table=table,
        unit_names=units,
        themes=themes,
        loop=_loop(facts, today, min_group),
        examples=examples(session, start, end, MAX_EXAMPLES + 2),
        weeks=weeks,
        weekly=report_charts.weekly_counts(facts, weeks, min_group),
        theme_weeks=theme_weeks,
        decisions=_decisions(session, start, end, zoneinfo.ZoneInfo(tz)),
    )


def _themes(session: Session, facts: list[NoteFacts], min_group: int) -> list[ThemeRow]:
    counts: Counter[int] = Counter()
    writers: dict[int, set[str]] = defaultdict(set)
    for f in facts:
        if f.theme_id is not None:
            counts[f.theme_id] += 1
            writers[f.theme_id].add(f.writer)
    if not counts:
        return []
    themes = {t.id: t for t in session.scalars(select(Theme).where(Theme.id.in_(counts)))}
    rows = [
        ThemeRow(t.id, t.name, t.signal, t.size, n if len(writers[tid]) >= min_group else None)
        for tid, n in counts.items()
        if (t := themes.get(tid)) is not None
    ]
    # Shown counts largest first; hidden ones after them by name, so the order reveals no count.
    rows.sort(key=lambda r: (r.notes is None, -(r.notes or 0), r.name))
    return rows[:MAX_THEMES]


def _loop(facts: list[NoteFacts], today: dt.date, min_group: int) -> dict[str, Any]:
    """Response-loop figures over the whole period (the indicators' weekly rules, one bucket); a
    count of notes from fewer than `min_group` writers is None (hidden), as in the tables."""
    per = response_loop(["period"], {"period": facts}, today, min_group)
    due = [f for f in facts if working_days_between(f.day, today) > ACK_WORKING_DAYS]
    groups = {
        "notes": facts,
        "acknowledged": [f for f in facts if f.acknowledged is not None],
        "answered": [f for f in facts if f.answered],
        "closed_with_action": [f for f in facts if f.closed_with_action],
        "you_said_we_did": [f for f in facts if f.closed_with_action and f.answered],
        # Nobody has responded in any way, as of today.
        "waiting": [
            f for f in due if f.acknowledged is None and f.first_response is None and f.status != "done"
        ],
    }
    counts: dict[str, Any] = {
        key: len(group) if not group or len({f.writer for f in group}) >= min_group else None
        for key, group in groups.items()
    }
    shown = counts["closed_with_action"] is not None and counts["notes"] is not None
    return counts | {
        "acknowledged_in_time": _percent(per["acknowledged_in_time"][0]),
        "median_days_to_response": per["median_days_to_response"][0],
        # With the notes shown, the share would give a hidden count away.
        "closed_share": _percent(per["closed_with_action"][0]) if shown else None,
    }


def _decisions(session: Session, start: dt.date, end: dt.date, tz: dt.tzinfo) -> list[Decision]:
    """Interpretations recorded on themes in the period (days in the deployment's time zone)."""
    # A day of margin on each side covers every time zone; the exact days are read below.
    since = dt.datetime.combine(start - dt.timedelta(days=1), dt.time(), dt.UTC)
    until = dt.datetime.combine(end + dt.timedelta(days=2), dt.time(), dt.UTC)
    rows = session.execute(
        select(Interpretation, Theme, User.role)
        .join(Theme, Theme.id == Interpretation.theme_id)
        .outerjoin(User, User.id == Interpretation.author_id)
        .where(Interpretation.created_at >= since, Interpretation.created_at < until)
        .order_by(Interpretation.created_at, Interpretation.id)
    ).tuples()
    out = []
    for item, theme, role in rows:
        day = local_day(item.created_at, tz)
        if start <= day <= end:
            out.append(Decision(theme.id, theme.name, role, day, item.meaning, item.decision, item.review_on))
    return out[-MAX_DECISIONS:]


def charts(report: PeriodReport) -> dict[str, Any]:
    """The report's charts, each with its figures written out (in the interface's language)."""
    weeks = [w.isocalendar()[1] for w in report.weeks]

    def weekly(counts: list[int | None], height: int = report_charts.HEIGHT) -> dict[str, Any]:
        return {
            "chart": report_charts.bars([(str(n), c) for n, c in zip(weeks, counts, strict=True)], height),
            "figures": _figures((_("Week %(n)d", n=n), c) for n, c in zip(weeks, counts, strict=True)),
        }

    loop = report.loop
    steps = [
        (_("Notes"), loop["notes"]),
        (_("Acknowledged"), loop["acknowledged"]),
        (_("Answered"), loop["answered"]),
        (_("Closed with an action"), loop["closed_with_action"]),
    ]
    return {
        "weekly": weekly(report.weekly),
        "themes": [(t, weekly(c, report_charts.SMALL_HEIGHT)) for t, c in report.theme_weeks],
        "loop": {"chart": report_charts.rows(steps), "figures": _figures(steps)},
    }


def _figures(pairs: Iterable[tuple[str, int | None]]) -> str:
    """A chart's figures as text, – for a hidden one: "Week 49: 12, Week 50: –"."""
    return ", ".join(f"{label}: {'–' if value is None else value}" for label, value in pairs)


def _percent(share: float | None) -> int | None:
    return None if share is None else round(share * 100)


@bp.get("/")
@login_required(Role.LEADER)
def period_report() -> Any:
    """The printable report of ?from=YYYY-MM-DD&to=YYYY-MM-DD (default: the last four weeks)."""
    settings = resources.get().settings
    # The period's days are the deployment's, as are the decisions' days (_decisions).
    today = settings.today()
    raw_from, raw_to = request.args.get("from"), request.args.get("to")
    try:
        start, end = parse_period(raw_from, raw_to, today)
    except InvalidInput as exc:
        return render_template(
            "report/index.html", report=None, error=str(exc), raw_from=raw_from or "", raw_to=raw_to or ""
        ), 400
    report = build(resources.session(), start, end, today, settings.min_group_size, settings.timezone)
    return render_template(
        "report/index.html",
        report=report,
        error=None,
        raw_from=start.isoformat(),
        raw_to=end.isoformat(),
        today=today,
        charts=charts(report),
    )
