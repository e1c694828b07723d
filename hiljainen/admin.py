"""Administration: users, units and touchpoints."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from hiljainen import resources
from hiljainen.auth import create_user, login_required
from hiljainen.errors import InvalidInput
from hiljainen.models import Role, Touchpoint, Unit, User

bp = Blueprint("admin", __name__, url_prefix="/admin")


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
        create_user(
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
    db.commit()
    return redirect(url_for("admin.home"), code=303)


@bp.post("/touchpoints")
@login_required(Role.ADMIN)
def add_touchpoint() -> Any:
    """Create a touchpoint with its public form and QR code."""
    db = resources.session()
    f = request.form
    slug = f.get("slug", "").strip().lower()
    if not slug.replace("-", "").isalnum() or not f.get("name_fi"):
        return _page(error=_("A touchpoint needs a short name (letters, digits, -) and a name.")), 400
    if db.scalar(select(Touchpoint).where(Touchpoint.slug == slug)):
        return _page(error=_("The short name %(slug)s is taken.", slug=slug)), 400
    unit = db.scalar(select(Unit).where(Unit.slug == f.get("unit"))) if f.get("unit") else None
    db.add(
        Touchpoint(
            slug=slug,
            name_fi=f["name_fi"],
            name_en=f.get("name_en") or f["name_fi"],
            unit_id=unit.id if unit else None,
        )
    )
    db.commit()
    return redirect(url_for("admin.home"), code=303)


def _page(error: str | None = None) -> Any:
    db = resources.session()
    return render_template(
        "admin.html",
        error=error,
        roles=list(Role),
        users=db.scalars(select(User).order_by(User.username)).all(),
        units=db.scalars(select(Unit).order_by(Unit.slug)).all(),
        touchpoints=db.scalars(select(Touchpoint).order_by(Touchpoint.slug)).all(),
    )
