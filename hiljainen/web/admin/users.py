"""/admin/users/<id>: edit an account, change its role, disable or enable it, reset its password.

A role change, disabling or a password reset goes through hiljainen.accounts, which ends the
account's sessions and revokes its API tokens that the new state no longer allows (a reset: all of
them). A disabled admin's page lists the tokens that admin issued which still work. An admin cannot
lower or disable their own account here (nobody would be left to undo it).
Every change writes an AuditEvent with target "user:<id>"; passwords never enter it."""

from __future__ import annotations

import secrets
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from sqlalchemy import String, cast, or_, select
from sqlalchemy.orm import Session

from hiljainen import accounts, resources
from hiljainen.errors import InvalidInput
from hiljainen.models import ApiToken, AuditEvent, Role, Unit, User
from hiljainen.rules import RANK
from hiljainen.web.admin import bp
from hiljainen.web.admin.places import chosen_unit
from hiljainen.web.auth import current_user, login_required

TEMPORARY_PASSWORD_BYTES = 12  # 16 characters, about 96 bits
HISTORY = 20
ACTIONS = {
    "create_user": lazy_gettext("Account created"),
    "edit_user": lazy_gettext("Account edited"),
    "disable_user": lazy_gettext("Disabled"),
    "enable_user": lazy_gettext("Enabled"),
    "reset_password": lazy_gettext("Password reset by an admin"),
    "own_password": lazy_gettext("Password changed by the person"),
    "own_email": lazy_gettext("E-mail choice changed by the person"),
}


@bp.get("/users/<int:user_id>")
@login_required(Role.ADMIN)
def user_page(user_id: int) -> Any:
    """One account: its details, role, state and password reset."""
    return _page(_get(user_id))


@bp.post("/users/<int:user_id>")
@login_required(Role.ADMIN)
def edit_user(user_id: int) -> Any:
    """Save the name, unit and role."""
    db = resources.session()
    user = _get(user_id)
    f = request.form
    try:
        role = Role(f.get("role", ""))
        unit = chosen_unit()
    except ValueError:
        return _page(user, error=_("Choose a role."), status=400)
    except InvalidInput as exc:
        return _page(user, error=str(exc), status=400)
    if _is_me(user) and role != user.role:
        return _page(user, error=_("You cannot change your own role: ask another admin."), status=400)
    name = " ".join(f.get("display_name", "").split())[:200] or user.username
    detail: dict[str, Any] = {}
    if name != user.display_name:
        user.display_name, detail["name_changed"] = name, True
    if (unit.id if unit else None) != user.unit_id:
        detail["unit"] = {"from": user.unit_id, "to": unit.id if unit else None}
        user.unit_id = unit.id if unit else None
    if role != user.role:
        detail["role"] = {"from": user.role.value, "to": role.value}
        detail["revoked_tokens"] = accounts.change_role(db, user, role)
    if detail:
        _audit("edit_user", user, detail)
    db.commit()
    flash(_("The account is saved.") if detail else _("Nothing changed."))
    return redirect(url_for("admin.user_page", user_id=user.id), code=303)


@bp.post("/users/<int:user_id>/active")
@login_required(Role.ADMIN)
def set_user_active(user_id: int) -> Any:
    """Disable the account (no login, sessions end, API tokens revoked) or enable it again."""
    db = resources.session()
    user = _get(user_id)
    enable = request.form.get("active") == "on"
    if _is_me(user) and not enable:
        return _page(user, error=_("You cannot disable your own account."), status=400)
    if enable and not user.active:
        user.active = True
        _audit("enable_user", user, {})
        flash(_("The account is enabled. Its revoked API tokens stay revoked: issue new ones if needed."))
    elif not enable and user.active:
        revoked = accounts.disable_user(db, user)
        _audit("disable_user", user, {"revoked_tokens": revoked})
        flash(_("The account is disabled: it cannot sign in, and its sessions and API tokens have ended."))
    db.commit()
    return redirect(url_for("admin.user_page", user_id=user.id), code=303)


@bp.post("/users/<int:user_id>/password")
@login_required(Role.ADMIN)
def reset_password(user_id: int) -> Any:
    """A generated temporary password, shown on this one page and never again."""
    db = resources.session()
    user = _get(user_id)
    if _is_me(user):  # it would end this very session; one's own password changes at /settings
        return _page(user, error=_("Change your own password in My settings."), status=400)
    password = secrets.token_urlsafe(TEMPORARY_PASSWORD_BYTES)
    # A reset is how a possibly compromised account is taken back: its tokens go with the password.
    revoked = accounts.reset_password(db, user, password)
    _audit("reset_password", user, {"revoked_tokens": revoked})
    db.commit()
    # Rendered, not redirected: the password must not travel in a URL or sit in the session.
    page, status = _page(user, new_password=password, revoked_tokens=len(revoked))
    return page, status, {"Cache-Control": "no-store"}


def _get(user_id: int) -> User:
    user = resources.session().get(User, user_id)
    if user is None:
        abort(404)
    return user


def _is_me(user: User) -> bool:
    me = current_user()
    return me is not None and me.id == user.id


def _audit(action: str, user: User, detail: dict[str, Any]) -> None:
    me = current_user()
    resources.session().add(
        AuditEvent(actor_id=me.id if me else None, action=action, target=f"user:{user.id}", detail=detail)
    )


def _issued_tokens(db: Session, admin: User) -> list[tuple[ApiToken, str | None]]:
    """The tokens this admin issued that still work (with their holder's username; None for a
    system's token). Disabling an admin revokes only the admin's own tokens: a kiosk's token they
    issued keeps working, so whoever disabled them decides on each. Who issued a token is known from
    the audit trail only ("issue_token" at /admin/tokens); tokens made otherwise have no issuer."""
    issued = select(AuditEvent.target).where(
        AuditEvent.action == "issue_token", AuditEvent.actor_id == admin.id
    )
    rows = db.execute(
        select(ApiToken, User)
        .outerjoin(User, User.id == ApiToken.user_id)
        .where(("api_token:" + cast(ApiToken.id, String)).in_(issued), ApiToken.revoked.is_(False))
        .order_by(ApiToken.id)
    ).tuples()
    # What tokens.verify accepts: a holder's token only while the holder may still do as much.
    return [
        (token, holder.username if holder else None)
        for token, holder in rows
        if holder is None or (holder.active and RANK[token.role] <= RANK[holder.role])
    ]


def _page(
    user: User, error: str | None = None, new_password: str = "", status: int = 200, revoked_tokens: int = 0
) -> Any:
    db = resources.session()
    tokens = db.scalar(
        select(ApiToken.id).where(ApiToken.user_id == user.id, ApiToken.revoked.is_(False)).limit(1)
    )
    return render_template(
        "admin/user.html",
        user=user,
        error=error,
        new_password=new_password,
        revoked_tokens=revoked_tokens,
        # None: not a disabled admin, so nothing to list.
        issued_tokens=_issued_tokens(db, user) if user.role == Role.ADMIN and not user.active else None,
        roles=list(Role),
        # Retired units are offered no more, except the one the account already has.
        units=db.scalars(
            select(Unit).where(or_(Unit.active.is_(True), Unit.id == user.unit_id)).order_by(Unit.name_fi)
        ).all(),
        has_tokens=tokens is not None,
        history=db.scalars(
            select(AuditEvent)
            .where(AuditEvent.target == f"user:{user.id}")
            .order_by(AuditEvent.id.desc())
            .limit(HISTORY)
        ).all(),
        me=_is_me(user),
        actions=ACTIONS,
    ), status
