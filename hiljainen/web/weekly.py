"""/digest/: the weekly digest the leadership team gets by e-mail, as a page (issue 21).

The page shows the same `digest.weekly_digest` the outbox sends (the same privacy-suppressed counts,
themes, overdue notes and "you said, we did" examples), in the interface language, with links into
the service. ?week=YYYY-MM-DD picks the digest sent on that day (it covers the seven days before);
by default the digest of the seven days before today."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, render_template, request
from flask_babel import gettext as _

from hiljainen import resources
from hiljainen.digest import weekly_digest
from hiljainen.models import Role, Source
from hiljainen.web.auth import login_required

bp = Blueprint("weekly", __name__, url_prefix="/digest")
WEEK = dt.timedelta(days=7)


@bp.get("/")
@login_required(Role.LEADER)
def digest_page() -> Any:
    """This week's digest, or an earlier one's."""
    today = resources.get().settings.today()
    error = None
    try:
        day = dt.date.fromisoformat(request.args["week"]) if request.args.get("week") else today
    except ValueError:
        day, error = today, _("Give the date as YYYY-MM-DD.")
    if day < dt.date.min + 2 * WEEK:  # the digest covers the week before, and links the one before that
        day, error = today, _("Give the date as YYYY-MM-DD.")
    day = min(day, today)
    digest = weekly_digest(resources.session(), day, resources.get().settings.min_group_size)
    return render_template(
        "digest/index.html",
        d=digest,
        sources=[Source(s) for s in digest.by_source.cols],
        earlier=(day - WEEK).isoformat(),
        later=(day + WEEK).isoformat() if day + WEEK <= today else None,
        error=error,
    ), (400 if error else 200)
