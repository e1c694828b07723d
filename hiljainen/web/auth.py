"""Password login, logout and role checks (accounts themselves: hiljainen.accounts)."""

from __future__ import annotations

import functools
import hmac
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import urlparse

from flask import Blueprint, Flask, abort, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from hiljainen import resources
from hiljainen.accounts import authenticate, end_sessions
from hiljainen.models import Role, User
from hiljainen.rules import RANK
from hiljainen.web import ratelimit, throttle

bp = Blueprint("auth", __name__)
F = TypeVar("F", bound=Callable[..., Any])


def init_app(app: Flask) -> None:
    """Load the logged-in user for every request."""

    @app.before_request
    def _load_user() -> None:
        g.user = None
        user_id = session.get("user_id")
        if user_id is not None:
            user = resources.session().get(User, user_id)
            # The session must carry the account's current key: logout, a new password or role,
            # or a disabled account replaced it, and an erased account's id is never given again.
            key = session.get("key")
            if (
                user is not None
                and user.active
                and isinstance(key, str)
                and user.session_key
                and hmac.compare_digest(key.encode(), user.session_key.encode())
            ):
                g.user = user
            else:
                session.pop("user_id", None)
                session.pop("key", None)

    @app.context_processor
    def _user() -> dict[str, object]:
        return {"current_user": g.get("user")}


def current_user() -> User | None:
    """The logged-in user of this request, if any."""
    return g.get("user")


def login_required(role: Role = Role.STAFF) -> Callable[[F], F]:
    """Require a logged-in user with at least this role (staff < leader < admin)."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            user = current_user()
            if user is None:
                return redirect(url_for("auth.login", next=request.full_path))
            if RANK[user.role] < RANK[role]:
                abort(403)
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorate


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """The password login form."""
    error = None
    status = 401
    if request.method == "POST":
        db = resources.session()
        name, address = request.form.get("username", "")[:200], ratelimit.visitor_network()
        wait = throttle.blocked_for(name, address)
        user = None
        if wait:
            error = _(
                "Too many failed logins. Try again in %(minutes)d minutes.", minutes=throttle.minutes(wait)
            )
            status = 429
        else:
            user = authenticate(db, name, request.form.get("password", ""))
            if user is None:
                throttle.failed(name, address)
                error = _("Wrong username or password.")
        if user is not None:
            throttle.succeeded(name)
            if not user.session_key:  # an account from before session keys existed
                end_sessions(db, user)
                db.commit()
            session.clear()
            session["user_id"] = user.id
            session["key"] = user.session_key
            session.permanent = True
            response = redirect(_safe_next(request.args.get("next")) or home_for(user))
            throttle.remember_device(response, name)
            return response
    # After a wrong password the username stays filled in: only the password is retyped.
    username = request.form.get("username", "")[:200] if error else ""
    return render_template("auth/login.html", error=error, username=username), (status if error else 200)


@bp.post("/logout")
def logout() -> Any:
    """End the session here and on the server: the account's session key is replaced, so a copy of
    this cookie (or any other session of the account) no longer logs anyone in."""
    user = current_user()
    if user is not None:
        db = resources.session()
        end_sessions(db, user)
        db.commit()
    lang = session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    return redirect(url_for("auth.login"))


@bp.get("/")
def index() -> Any:
    """Send each person to their own start page."""
    user = current_user()
    return redirect(home_for(user) if user else url_for("auth.login"))


def home_for(user: User) -> str:
    """Staff start at the quick note; leaders and admins at the dashboard."""
    return url_for("capture.note") if user.role == Role.STAFF else url_for("dashboard.home")


def _safe_next(target: str | None) -> str | None:
    # Only same-site paths: an open redirect would let a phishing link borrow our login page.
    # Browsers read a backslash as "/" (so /\evil.example is another host), and a control
    # character cannot go into a Location header: neither belongs in a path of ours.
    if not target or "\\" in target or any(ord(c) < 32 or ord(c) == 127 for c in target):
        return None
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target
