"""/settings: a signed-in person's own account: answers by e-mail (issue 21) and a new password.

The e-mail address is the person's own choice and used only for the answers to their signed
notes (hiljainen.answer_mail); without the tick it is never used. Changing the address asks for the
current password, as changing the password does (which also ends every other session of the
account, as an admin's reset does): a borrowed session must not redirect the answers elsewhere."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from werkzeug.security import check_password_hash

from hiljainen import accounts, resources
from hiljainen.delivery import is_email
from hiljainen.errors import InvalidInput
from hiljainen.models import AuditEvent, Role
from hiljainen.web import ratelimit, throttle
from hiljainen.web.auth import current_user, login_required

bp = Blueprint("account", __name__)
MAX_EMAIL = 254


@bp.route("/settings", methods=["GET", "POST"])
@login_required(Role.STAFF)
def settings() -> Any:
    """The person's e-mail choice for answers."""
    user = current_user()
    assert user is not None
    if request.method == "GET":
        return _page()
    email = request.form.get("email", "").strip()[: MAX_EMAIL + 1]
    wanted = request.form.get("answers_by_email") == "on"
    if email and (len(email) > MAX_EMAIL or not is_email(email)):
        return _page(error=_("%(value)s is not an e-mail address.", value=email[:80]), status=400)
    if wanted and not email:
        return _page(error=_("Give the e-mail address the answers are sent to."), status=400)
    if (user.email or "") != email:
        # A new address (or none) takes the current password: someone at a station left signed in
        # could otherwise send the answers to this person's notes to an address of their own.
        refused = _check_current(request.form.get("password", ""),
                                 _("The current password is not right. Your e-mail address is not changed."))
        if refused is not None:
            return refused
    db = resources.session()
    changed = (user.email or "") != email or user.answers_by_email != wanted
    user.email, user.answers_by_email = email or None, wanted
    if changed:
        # The address itself stays out of the history: whether one is set is enough.
        detail = {"email_set": bool(email), "answers_by_email": wanted}
        db.add(AuditEvent(actor_id=user.id, action="own_email", target=f"user:{user.id}", detail=detail))
    db.commit()
    flash(_("Your settings are saved."))
    return redirect(url_for("account.settings"), code=303)


@bp.post("/settings/password")
@login_required(Role.STAFF)
def change_password() -> Any:
    """A new password, given the current one; this browser stays signed in, every other session ends."""
    user = current_user()
    assert user is not None
    db = resources.session()
    refused = _check_current(request.form.get("current", ""), _("The current password is not right."))
    if refused is not None:
        return refused
    try:
        accounts.set_password(db, user, request.form.get("new", ""))
    except InvalidInput as exc:
        return _page(error=str(exc), status=400)
    db.add(AuditEvent(actor_id=user.id, action="own_password", target=f"user:{user.id}", detail={}))
    db.commit()
    session["key"] = user.session_key  # the new key: this session goes on, the others have ended
    flash(_("Your password is changed. Other devices must sign in again."))
    return redirect(url_for("account.settings"), code=303)


def _check_current(password: str, wrong: str) -> Any:
    """None if `password` is the signed-in person's own, else the settings page saying why not."""
    user = current_user()
    assert user is not None
    # The current password is guessed here under the login's limits: a borrowed session (a shared
    # station left signed in) must not try passwords faster than the login form allows.
    address = ratelimit.visitor_network()
    wait = throttle.blocked_for(user.username, address)
    if wait:
        return _page(error=_("Too many wrong passwords. Try again in %(minutes)d minutes.",
                             minutes=throttle.minutes(wait)), status=429)
    if not check_password_hash(user.password_hash, password):
        throttle.failed(user.username, address)
        return _page(error=wrong, status=400)
    throttle.succeeded(user.username)
    return None


def _page(error: str | None = None, status: int = 200) -> Any:
    # Without a mail server nothing is mailed yet: the page says so, and the choice waits for one.
    mail_server = bool(resources.get().settings.smtp_url)
    return render_template(
        "account/settings.html", error=error, form=request.form, mail_server=mail_server
    ), status
