"""A printable report of a period for the leadership team: totals by unit and source, themes,
the response loop and "you said, we did" examples. Print styles live in static/print.css.

Privacy: a count is shown only when at least `settings.min_group_size` distinct writers stand
behind it (each anonymous note counts as one writer), with complementary suppression so a
hidden cell cannot be recomputed from the totals (see `digest.privacy_table`). No names appear.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, render_template, request
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from hiljainen import resources
from hiljainen.digest import MAX_EXAMPLES, Example, Table, examples, privacy_table
from hiljainen.errors import InvalidInput
from hiljainen.models import Role, Source, Theme, Unit
from hiljainen.pipeline.indicators import ACK_WORKING_DAYS, NoteFacts, response_loop, working_days_between
from hiljainen.stores.reports import note_facts
from hiljainen.web.auth import login_required

bp = Blueprint("report", __name__, url_prefix="/report")
DEFAULT_DAYS = 28
MAX_DAYS = 366
MAX_THEMES = 30
NO_UNIT = "-"

def parse_period(start: str | None, end: str | None, today: dt.date) -> tuple[dt.date, dt.date]:
    """The period from ?from=&to= (YYYY-MM-DD); default the four weeks ending today."""
    try:
        to = dt.date.fromisoformat(end) if end else today
        since = dt.date.fromisoformat(start) if start else to - dt.timedelta(days=DEFAULT_DAYS - 1)
    except ValueError:
        raise InvalidInput(_("Give the dates as YYYY-MM-DD.")) from None
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


def build(session: Session, start: dt.date, end: dt.date, today: dt.date, min_group: int) -> PeriodReport:
    """Gather the report of the period (duplicates are not counted again)."""
    facts = [f for f in note_facts(session, start) if f.day <= end and not f.duplicate]
    units = {u.slug: (u.name_fi, u.name_en) for u in session.scalars(select(Unit).order_by(Unit.name_fi))}
    present = {f.unit or NO_UNIT for f in facts}
    rows = [slug for slug in units if slug in present] + ([NO_UNIT] if NO_UNIT in present else [])
    table = privacy_table(
        ((f.unit or NO_UNIT, f.source, f.writer) for f in facts), rows, [s.value for s in Source], min_group
    )
    return PeriodReport(
        start=start,
        end=end,
        min_group=min_group,
        table=table,
        unit_names=units,
        themes=_themes(session, facts, min_group),
        loop=_loop(facts, today),
        examples=examples(session, start, end, MAX_EXAMPLES + 2),
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


def _loop(facts: list[NoteFacts], today: dt.date) -> dict[str, Any]:
    """Response-loop figures over the whole period (the indicators' weekly rules, one bucket)."""
    per = response_loop(["period"], {"period": facts}, today)
    due = [f for f in facts if working_days_between(f.day, today) > ACK_WORKING_DAYS]
    return {
        "notes": len(facts),
        "acknowledged": sum(f.acknowledged is not None for f in facts),
        "answered": sum(f.answered for f in facts),
        "closed_with_action": sum(f.closed_with_action for f in facts),
        "acknowledged_in_time": _percent(per["acknowledged_in_time"][0]),
        "median_days_to_response": per["median_days_to_response"][0],
        "closed_share": _percent(per["closed_with_action"][0]),
        "you_said_we_did": per["you_said_we_did"][0],
        # Nobody has responded in any way, as of today.
        "waiting": sum(
            1 for f in due if f.acknowledged is None and f.first_response is None and f.status != "done"
        ),
    }


def _percent(share: float | None) -> int | None:
    return None if share is None else round(share * 100)


@bp.get("/")
@login_required(Role.LEADER)
def period_report() -> Any:
    """The printable report of ?from=YYYY-MM-DD&to=YYYY-MM-DD (default: the last four weeks)."""
    today = dt.date.today()
    raw_from, raw_to = request.args.get("from"), request.args.get("to")
    try:
        start, end = parse_period(raw_from, raw_to, today)
    except InvalidInput as exc:
        return render_template(
            "report/index.html", report=None, error=str(exc), raw_from=raw_from or "", raw_to=raw_to or ""
        ), 400
    settings = resources.get().settings
    report = build(resources.session(), start, end, today, settings.min_group_size)
    return render_template(
        "report/index.html",
        report=report,
        error=None,
        raw_from=start.isoformat(),
        raw_to=end.isoformat(),
        today=today,
    )
