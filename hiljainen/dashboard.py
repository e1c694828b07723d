"""The leader's home page: what people noticed, which themes grow, what is still unanswered."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, render_template
from sqlalchemy import func, select

from hiljainen import resources
from hiljainen.auth import login_required
from hiljainen.models import Observation, Role, Status, Theme

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")


@bp.get("/")
@login_required(Role.LEADER)
def home() -> Any:
    """Counts of the last weeks, themes by emergence, and the newest notes."""
    db = resources.session()
    since = dt.date.today() - dt.timedelta(weeks=12)
    by_source = dict(
        db.execute(
            select(Observation.source, func.count())
            .where(Observation.day >= since)
            .group_by(Observation.source)
        )
        .tuples()
        .all()
    )
    unanswered = db.scalar(select(func.count()).where(Observation.status == Status.NEW)) or 0
    themes = db.scalars(
        select(Theme).where(Theme.active.is_(True)).order_by(Theme.emergence.desc()).limit(12)
    ).all()
    recent = db.scalars(
        select(Observation).order_by(Observation.day.desc(), Observation.id.desc()).limit(10)
    ).all()
    return render_template(
        "dashboard.html",
        by_source=by_source,
        total=sum(by_source.values()),
        unanswered=unanswered,
        themes=themes,
        recent=recent,
    )
