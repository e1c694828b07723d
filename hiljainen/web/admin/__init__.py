"""Administration: users, units and touchpoints, and personal-data export and erasure
(editing an account: admin.users; editing units and touchpoints: admin.places)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for
from flask import Response as HttpResponse
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from sqlalchemy import select

from hiljainen import organisation, privacy, resources
from hiljainen.accounts import create_user
from hiljainen.errors import ConfigError, InvalidInput, NotFound, ServiceUnavailable
from hiljainen.models import Role, Touchpoint, Unit, User
from hiljainen.web.auth import current_user, login_required

bp = Blueprint("admin", __name__, url_prefix="/admin")
ERASURE_LABELS = {
    "notes": lazy_gettext("Notes"),
    "vectors": lazy_gettext("Note vectors"),
    "responses": lazy_gettext("Answers, replies and actions on the notes"),
    "voices": lazy_gettext("'Me too' voices"),
    "audit_events": lazy_gettext("History entries about the notes"),
    "outbox": lazy_gettext("Outgoing messages scrubbed"),
    "account": lazy_gettext("User account"),
    "api_tokens": lazy_gettext("API tokens"),
    "voices_given": lazy_gettext("Voices the user gave"),
    "detached": lazy_gettext("Entries kept without the name"),
}


@bp.get("/")
@login_required(Role.ADMIN)
def home() -> Any:
    """Users, units and touchpoints with forms to add more."""
    return _page()


@bp.post("/users")
@login_required(Role.ADMIN)
def add_user() -> Any:
    """Create an account."""
    db = resources.session()
    f = request.form
    try:
        role = Role(f.get("role", "staff"))
        unit = db.scalar(select(Unit).where(Unit.slug == f.get("unit"))) if f.get("unit") else None
        user = create_user(
            db,
            f.get("username", ""),
            f.get("password", ""),
            role,
            display_name=f.get("display_name", ""),
            unit_id=unit.id if unit else None,
        )
    except (InvalidInput, ValueError) as exc:
        db.rollback()
        return _page(error=str(exc)), 400
    places.audit("create_user", f"user:{user.id}", {"role": role.value})
    db.commit()
    return redirect(url_for("admin.home", _anchor="users"), code=303)


@bp.post("/privacy")
@login_required(Role.ADMIN)
def privacy_request() -> Any:
    """Export a person's or receipt code's data as a JSON download, or erase it after a confirmation."""
    db = resources.session()
    settings = resources.get().settings
    f = request.form
    kind, value = f.get("kind", "user"), f.get("value", "").strip()[:200]
    user = current_user()
    assert user is not None
    try:
        subject = privacy.Subject.from_options(*((value, None) if kind == "user" else (None, value)))
        found = privacy.find(db, subject, privacy.app_secret(settings))
    except (InvalidInput, NotFound):
        return _page(error=_("No account or note matches. Check the username or the receipt code.")), 404
    erasing = f.get("action") != "export"
    if erasing and found.user is not None and found.user.id == user.id:
        return _page(error=_("You cannot erase your own account while logged in with it.")), 400
    try:
        if not erasing:
            data = privacy.export_subject(db, settings, subject, actor_id=user.id)
            name = f"hiljainen-export-{dt.date.today().isoformat()}.json"
            return HttpResponse(
                json.dumps(data, ensure_ascii=False, indent=2),
                mimetype="application/json",
                headers={"Content-Disposition": f'attachment; filename="{name}"'},
            )
        if f.get("confirm") != "yes":
            planned = privacy.summary(db, found)
            return render_template(
                "admin/privacy.html", kind=kind, value=value, planned=planned, labels=ERASURE_LABELS
            )
        done = privacy.erase(db, found, settings, actor_id=user.id)
    except (ServiceUnavailable, ConfigError):
        db.rollback()
        message = _("The vector store cannot be reached, so the request did not finish. Try again later.")
        return _page(error=message), 503
    # This process's keyword index still holds the erased notes' lemmas: rebuild it on the next search.
    resources.get().search().forget_keywords()
    return render_template("admin/privacy.html", kind=kind, done=done, labels=ERASURE_LABELS)


def _page(error: str | None = None) -> Any:
    db = resources.session()
    return render_template(
        "admin/index.html",
        error=error,
        roles=list(Role),
        users=db.scalars(select(User).order_by(User.active.desc(), User.username)).all(),
        units=db.scalars(select(Unit).order_by(Unit.active.desc(), Unit.slug)).all(),
        touchpoints=db.scalars(select(Touchpoint).order_by(Touchpoint.slug)).all(),
        retention_months=resources.get().settings.retention_months,
        organisation=organisation.name(db),
    )


# CSV upload, API tokens, delivery, accounts and places are /admin pages too; importing the
# modules adds them to bp.
from hiljainen.web.admin import delivery, imports, places, users  # noqa: E402,F401
