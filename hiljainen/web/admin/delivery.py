"""/admin/delivery: who receives alerts and digests by e-mail, per role, and what the outbox did."""

from __future__ import annotations

import re
from typing import Any

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from hiljainen import delivery, resources
from hiljainen.errors import InvalidInput
from hiljainen.models import AuditEvent, OutboxMessage, Role
from hiljainen.web.admin import bp
from hiljainen.web.auth import current_user, login_required

_SPLIT = re.compile(r"[\s,;]+")
MAX_ADDRESSES = 50
RECENT = 20


@bp.route("/delivery", methods=["GET", "POST"])
@login_required(Role.ADMIN)
def delivery_settings() -> Any:
    """Per role: the e-mail addresses and which messages (alerts, digests) they receive."""
    db = resources.session()
    error = None
    if request.method == "POST":
        try:
            chosen = {role.value: _role_from_form(role) for role in delivery.ROLES}
        except InvalidInput as exc:
            error = str(exc)
        else:
            delivery.save_recipients(db, chosen)
            user = current_user()
            counts = {role: {"emails": len(v["emails"]), "kinds": v["kinds"]} for role, v in chosen.items()}
            db.add(
                AuditEvent(
                    actor_id=user.id if user else None,
                    action="delivery_recipients",
                    target="settings",
                    detail=counts,  # how many, never the addresses
                )
            )
            db.commit()
            flash(_("Recipients saved."))
            return redirect(url_for("admin.delivery_settings"), code=303)
    settings = resources.get().settings
    recent = db.scalars(select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(RECENT)).all()
    return render_template(
        "admin/delivery.html",
        recipients=delivery.load_recipients(db) if error is None else None,
        form=request.form,
        roles=delivery.ROLES,
        kinds=delivery.KINDS,
        smtp=bool(settings.smtp_url),
        webhook=bool(settings.webhook_url),
        recent=recent,
        error=error,
    ), (400 if error else 200)


def _role_from_form(role: Role) -> dict[str, list[str]]:
    raw = request.form.get(f"emails_{role.value}", "")
    emails = list(dict.fromkeys(e for e in _SPLIT.split(raw) if e))
    bad = [e for e in emails if not delivery.is_email(e)]
    if bad:
        raise InvalidInput(_("%(value)s is not an e-mail address.", value=bad[0][:80]))
    if len(emails) > MAX_ADDRESSES:
        raise InvalidInput(_("At most %(n)d addresses per role.", n=MAX_ADDRESSES))
    kinds = [k for k in delivery.KINDS if request.form.get(f"kind_{role.value}_{k}") == "on"]
    return {"emails": emails, "kinds": kinds}
