"""/admin pages for data coming in from other systems: CSV upload and API tokens."""

from __future__ import annotations

from typing import Any

from flask import current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select

from hiljainen import intake, resources, tokens
from hiljainen.csv_import import COLUMNS, ImportReport, audit_event, import_csv
from hiljainen.errors import InvalidInput, NotFound
from hiljainen.models import ApiToken, AuditEvent, Role, Source, User
from hiljainen.web.admin import bp
from hiljainen.web.auth import current_user, login_required


@bp.get("/import")
@login_required(Role.ADMIN)
def import_form() -> Any:
    """The CSV upload form."""
    return _import_page()


@bp.post("/import")
@login_required(Role.ADMIN)
def upload() -> Any:
    """Import an uploaded CSV file and show what was imported and which lines were refused."""
    sent = request.files.get("file")
    if sent is None or not sent.filename:
        return _import_page(error=_("Choose a CSV file to import.")), 400
    source_default = None
    if request.form.get("source"):
        try:
            source_default = Source(request.form["source"])
        except ValueError:
            return _import_page(error=_("Choose who wrote the notes.")), 400
    res = resources.get()
    db = resources.session()
    user = current_user()
    report = import_csv(
        db, res.redactor(), sent.stream, max_chars=res.settings.max_note_chars,
        secret=str(current_app.secret_key), source_default=source_default, today=res.settings.today(),
    )
    db.add(audit_event(user.id if user else None, sent.filename, report))
    db.commit()  # the notes are safe before any queue sees them
    try:
        conn = res.redis()
    except Exception:  # noqa: BLE001 - no queue configured: the sweeper picks the notes up
        conn = None
    report.queued = intake.queue_processing(conn, report.imported, res.settings.batch_size)
    return _import_page(report=report, filename=sent.filename)


@bp.get("/tokens")
@login_required(Role.ADMIN)
def token_list() -> Any:
    """API tokens with a form to issue more."""
    return _tokens_page()


@bp.post("/tokens")
@login_required(Role.ADMIN)
def issue_token() -> Any:
    """Issue a token and show its plaintext on this one page, never again."""
    db = resources.session()
    f = request.form
    try:
        role = Role(f.get("role", ""))
    except ValueError:
        return _tokens_page(error=_("Choose a role.")), 400
    user = None
    if f.get("username", "").strip():
        user = db.scalar(select(User).where(User.username == f["username"].strip().lower()))
        if user is None or not user.active:
            return _tokens_page(error=_("No active user %(name)s.", name=f["username"].strip()[:80])), 400
    try:
        token, plaintext = tokens.issue(db, f.get("name", ""), role, user=user)
    except InvalidInput as exc:
        db.rollback()
        return _tokens_page(error=str(exc)), 400
    _audit("issue_token", token)
    db.commit()
    # Rendered, not redirected: the plaintext must not travel in a URL or sit in the session.
    return _tokens_page(new_token=plaintext, new_name=token.name), 201


@bp.post("/tokens/<int:token_id>/revoke")
@login_required(Role.ADMIN)
def revoke_token(token_id: int) -> Any:
    """Refuse a token from now on."""
    db = resources.session()
    try:
        token = tokens.revoke(db, token_id)
    except NotFound as exc:
        return _tokens_page(error=str(exc)), 404
    _audit("revoke_token", token)
    db.commit()
    return redirect(url_for("admin.token_list"), code=303)


def _audit(action: str, token: ApiToken) -> None:
    user = current_user()
    resources.session().add(
        AuditEvent(
            actor_id=user.id if user else None,
            action=action,
            target=f"api_token:{token.id}",
            detail={"name": token.name, "role": token.role.value},
        )
    )


def _import_page(error: str | None = None, report: ImportReport | None = None, filename: str = "") -> str:
    return render_template(
        "admin/import.html",
        error=error,
        report=report,
        filename=filename,
        columns=COLUMNS,
        sources=list(Source),
    )


def _tokens_page(error: str | None = None, new_token: str | None = None, new_name: str = "") -> str:
    db = resources.session()
    rows = db.execute(
        select(ApiToken, User.username)
        .outerjoin(User, User.id == ApiToken.user_id)
        .order_by(ApiToken.id.desc())
    ).all()
    return render_template(
        "admin/tokens.html",
        error=error,
        tokens=rows,
        roles=list(Role),
        scopes=tokens.SCOPES,
        new_token=new_token,
        new_name=new_name,
    )
