"""/admin pages for the organisation: its name (on the QR posters); add, rename or retire units
and touchpoints.

A retired unit or touchpoint keeps its notes and its history; it is only no longer offered for new
notes (a retired touchpoint's public form answers 404). Retiring a unit retires its touchpoints in
use too, since their public forms would file notes under it; a touchpoint of a retired unit cannot
be put back in use. Every change writes an AuditEvent with target "unit:<id>" or "touchpoint:<id>"
and the names before and after (place names, no people)."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from hiljainen import organisation, resources
from hiljainen.errors import InvalidInput
from hiljainen.models import AuditEvent, Role, Touchpoint, Unit
from hiljainen.rules import SLUG_MAX
from hiljainen.web.admin import _page, bp
from hiljainen.web.auth import current_user, login_required

MAX_NAME = 200


@bp.post("/organisation")
@login_required(Role.ADMIN)
def set_organisation() -> Any:
    """The organisation's name, printed on the QR posters."""
    db = resources.session()
    before = organisation.name(db)
    after = organisation.set_name(db, request.form.get("name", ""))
    if after != before:
        audit("organisation_name", "settings", {"from": before, "to": after})
        db.commit()
        flash(_("The organisation's name is saved."))
    return redirect(url_for("admin.home", _anchor="organisation"), code=303)


@bp.post("/units")
@login_required(Role.ADMIN)
def add_unit() -> Any:
    """Create a unit."""
    return _add(Unit)


@bp.post("/touchpoints")
@login_required(Role.ADMIN)
def add_touchpoint() -> Any:
    """Create a touchpoint with its public form and QR code."""
    return _add(Touchpoint)


@bp.post("/units/<int:unit_id>")
@login_required(Role.ADMIN)
def edit_unit(unit_id: int) -> Any:
    """Rename the unit, or retire it (or bring it back)."""
    return _edit(resources.session().get(Unit, unit_id))


@bp.post("/touchpoints/<int:touchpoint_id>")
@login_required(Role.ADMIN)
def edit_touchpoint(touchpoint_id: int) -> Any:
    """Edit the touchpoint's names and unit, or retire it (its public form then answers 404)."""
    return _edit(resources.session().get(Touchpoint, touchpoint_id))


def chosen_unit() -> Unit | None:
    """The unit chosen in the form's "unit" field, None for none; InvalidInput for an unknown one."""
    slug = request.form.get("unit")
    if not slug:
        return None
    unit = resources.session().scalar(select(Unit).where(Unit.slug == slug))
    if unit is None:
        raise InvalidInput(_("Choose a unit from the list."))
    return unit


def _add(kind: type[Unit] | type[Touchpoint]) -> Any:
    db = resources.session()
    slug = request.form.get("slug", "").strip().lower()
    names = _names()
    is_unit = kind is Unit
    try:
        if not slug.replace("-", "").isalnum() or len(slug) > SLUG_MAX or names is None:
            raise InvalidInput(
                _("A unit needs a short name (letters, digits, -) and a name.")
                if is_unit
                else _("A touchpoint needs a short name (letters, digits, -) and a name.")
            )
        if db.scalar(select(kind.id).where(kind.slug == slug)):
            raise InvalidInput(_("The short name %(slug)s is taken.", slug=slug))
        unit = None if is_unit else _unit_in_use(chosen_unit(), active=True)
    except InvalidInput as exc:
        return _page(error=str(exc)), 400
    fi, en = names
    place = (
        Unit(slug=slug, name_fi=fi, name_en=en)
        if is_unit
        else Touchpoint(slug=slug, name_fi=fi, name_en=en, unit_id=unit.id if unit else None)
    )
    db.add(place)
    db.flush()
    name = "unit" if is_unit else "touchpoint"
    audit(f"add_{name}", f"{name}:{place.id}", {"slug": slug, "name_fi": fi, "name_en": en})
    db.commit()
    return redirect(url_for("admin.home", _anchor=f"{name}s"), code=303)


def _edit(place: Unit | Touchpoint | None) -> Any:
    db = resources.session()
    if place is None:
        abort(404)
    is_unit = isinstance(place, Unit)
    names = _names()
    active = request.form.get("active") == "on"
    try:
        if names is None:
            raise InvalidInput(_("A unit needs a name.") if is_unit else _("A touchpoint needs a name."))
        unit = None if is_unit else _unit_in_use(chosen_unit(), active)
    except InvalidInput as exc:
        return _page(error=str(exc)), 400
    detail = _changes(place, names, active)
    if isinstance(place, Touchpoint) and (unit.id if unit else None) != place.unit_id:
        detail["unit"] = {"from": place.unit_id, "to": unit.id if unit else None}
        place.unit_id = unit.id if unit else None
    retired: list[Touchpoint] = []
    if isinstance(place, Unit) and detail.get("active", {}).get("to") is False:
        retired = _retire_touchpoints(place)
        detail["touchpoints_retired"] = [t.id for t in retired]
    name = "unit" if is_unit else "touchpoint"
    if detail:
        audit(f"edit_{name}", f"{name}:{place.id}", detail)
        db.commit()
        if retired:
            flash(_("The unit is retired, and with it the touchpoints that were in use (%(n)d): their "
                    "public forms and QR codes take no more notes.", n=len(retired)))
        else:
            flash(_("The unit is saved.") if is_unit else _("The touchpoint is saved."))
    return redirect(url_for("admin.home", _anchor=f"{name}s"), code=303)


def _unit_in_use(unit: Unit | None, active: bool) -> Unit | None:
    """The unit a touchpoint in use is under; InvalidInput for a retired one, whose notes it would
    file under a unit that takes none."""
    if active and unit is not None and not unit.active:
        raise InvalidInput(_("A touchpoint of a retired unit cannot be in use: choose a unit in use, or "
                             "bring the unit back first."))
    return unit


def _retire_touchpoints(unit: Unit) -> list[Touchpoint]:
    """Retire the unit's touchpoints in use, each audited as its own edit; returns them."""
    db = resources.session()
    in_use = select(Touchpoint).where(Touchpoint.unit_id == unit.id, Touchpoint.active.is_(True))
    points = db.scalars(in_use.order_by(Touchpoint.id)).all()
    for point in points:
        point.active = False
        audit("edit_touchpoint", f"touchpoint:{point.id}",
              {"active": {"from": True, "to": False}, "with_unit": unit.id})
    return list(points)


def audit(action: str, target: str, detail: dict[str, Any]) -> None:
    """One admin change in the history."""
    me = current_user()
    resources.session().add(
        AuditEvent(actor_id=me.id if me else None, action=action, target=target, detail=detail)
    )


def _names() -> tuple[str, str] | None:
    """The Finnish and English names from the form (English defaults to Finnish); None without one."""
    fi = " ".join(request.form.get("name_fi", "").split())[:MAX_NAME]
    en = " ".join(request.form.get("name_en", "").split())[:MAX_NAME] or fi
    return (fi, en) if fi else None


def _changes(place: Unit | Touchpoint, names: tuple[str, str], active: bool) -> dict[str, Any]:
    """Apply names and state; returns what changed, before and after."""
    detail: dict[str, Any] = {}
    for field, new in zip(("name_fi", "name_en"), names, strict=True):
        if getattr(place, field) != new:
            detail[field] = {"from": getattr(place, field), "to": new}
            setattr(place, field, new)
    if place.active != active:
        detail["active"] = {"from": place.active, "to": active}
        place.active = active
    return detail
