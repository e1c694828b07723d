"""Triage and the response loop: leaders acknowledge notes, set status and owner, answer the
writer and record internal actions; themes get a status and an owner too.

- An answer (Response kind "answer") reaches an anonymous writer only through their receipt
  code (`capture.receipt`); an action (kind "action") is never shown to the writer, but the
  leaders' report and the weekly digest quote it under "you said, we did" (the form says so).
  "Done" with an action recorded is what the indicators call "closed with an action".
- Every step writes an AuditEvent (actor, action, target "observation:<id>" or "theme:<id>"); its
  detail holds ids, statuses and lengths, never note or answer text.
- A theme answer (issue 21) is one answer, and optionally one action, written once to all the
  notes of a theme or to a selection of them: each note gets its own Response rows, so each
  writer reads it with their code or in "my notes", the indicators count every note as answered,
  and a personal answer can still follow on any of them.
- A public-form writer's "I want an answer" tick is kept on the note and shown in triage with the
  contact they gave beside it (never in the text); closing the note deletes the contact. The
  contacts a theme answer leaves the leader to send it to wait in the database until the leader's
  next look at the theme's page, not in a flash message: the session cookie is readable (signed,
  not encrypted), and a browser drops it past 4 KB while closing has deleted them from the notes.
- Anonymous notes never show a name. Signed notes show their author's display name to leaders;
  a writer's replies are shown as coming from "the writer".
- Any step on a note nobody has acknowledged yet acknowledges it too (it has evidently been seen),
  so the "acknowledged within two working days" figure counts the first response of any kind.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import ColumnElement, Select, delete, func, select
from sqlalchemy.orm import Session

from hiljainen import answer_mail, privacy, resources
from hiljainen.digest import excerpt, unanswered_clause
from hiljainen.errors import InvalidInput
from hiljainen.intake import clean_text, is_blank
from hiljainen.models import (
    AuditEvent,
    Observation,
    Role,
    Setting,
    Source,
    Status,
    Theme,
    Unit,
    User,
    utcnow,
)
from hiljainen.models import Response as NoteResponse
from hiljainen.pipeline.indicators import working_days_between
from hiljainen.rules import SLUG_MAX, digits, public_id_shape
from hiljainen.search import sql
from hiljainen.web.auth import current_user, login_required
from hiljainen.web.i18n import signal_label, status_label

bp = Blueprint("triage", __name__, url_prefix="/triage")
PAGE_SIZE = 25
THEME_NOTES = 50
OWNER_ROLES = (Role.LEADER, Role.ADMIN)


@dataclass(frozen=True)
class Filters:
    """The list's filters from the query string; unknown values are ignored, not errors."""

    status: str = ""
    unit: str = ""
    source: str = ""
    theme: int | None = None
    unanswered: bool = False
    replied: bool = False
    page: int = 1

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> Filters:
        """Read and validate the filters of a request."""
        status = args.get("status", "")
        source = args.get("source", "")
        theme = args.get("theme", "")
        page = args.get("page", "")
        return cls(
            status=status if status in {s.value for s in Status} else "",
            unit=args.get("unit", "")[:SLUG_MAX],
            source=source if source in {s.value for s in Source} else "",
            theme=int(theme) if digits(theme, 9) else None,
            unanswered=args.get("unanswered") == "1",
            replied=args.get("replied") == "1",
            page=max(int(page), 1) if digits(page, 6) else 1,
        )

    def clauses(self, db: Session, today: dt.date) -> list[ColumnElement[bool]]:
        """The WHERE clauses these filters mean."""
        out: list[ColumnElement[bool]] = []
        if self.status:
            out.append(Observation.status == Status(self.status))
        if self.unit:
            unit_id = db.scalar(select(Unit.id).where(Unit.slug == self.unit))
            out.append(Observation.unit_id == (unit_id or -1))
        if self.source:
            out.append(Observation.source == Source(self.source))
        if self.theme is not None:
            out.append(Observation.theme_id == self.theme)
        if self.unanswered:
            out.append(unanswered_clause(today))
        if self.replied:
            out.append(Observation.id.in_(awaiting_reply()))
        return out

    def args(self, **changes: Any) -> dict[str, Any]:
        """Query-string arguments for a link that keeps these filters (empty ones left out)."""
        values = {
            "status": self.status,
            "unit": self.unit,
            "source": self.source,
            "theme": self.theme,
            "unanswered": "1" if self.unanswered else "",
            "replied": "1" if self.replied else "",
            "page": self.page if self.page > 1 else None,
        }
        values.update(changes)
        return {k: v for k, v in values.items() if v not in ("", None)}


@bp.get("/")
@login_required(Role.LEADER)
def notes() -> Any:
    """Notes newest day first (within a day by public id, never in submission order), filtered by
    status, unit, source, theme, "unanswered" or "the writer replied", paginated."""
    db = resources.session()
    today = resources.get().settings.today()
    f = Filters.from_args(request.args)
    query = select(Observation).where(*f.clauses(db, today))
    total = db.scalar(select(func.count()).select_from(query.subquery())) or 0
    pages = max(math.ceil(total / PAGE_SIZE), 1)
    page = min(f.page, pages)
    rows = db.scalars(
        query.order_by(*sql.listing_order())
        .offset((page - 1) * PAGE_SIZE)
        .limit(PAGE_SIZE)
    ).all()
    ids = [n.id for n in rows]
    return render_template(
        "triage/list.html",
        f=f,
        rows=rows,
        total=total,
        page=page,
        pages=pages,
        overdue=_overdue_ids(db, ids, today),
        replied=set(db.scalars(awaiting_reply().where(NoteResponse.observation_id.in_(ids)))),
        waited={n.id: working_days_between(n.day, today) for n in rows},
        themes=db.scalars(select(Theme).where(Theme.active.is_(True)).order_by(Theme.label)).all(),
        theme_names=_theme_names(db, {n.theme_id for n in rows if n.theme_id}),
        owners=_user_names(db, {n.owner_id for n in rows if n.owner_id}),
        units=db.scalars(select(Unit).order_by(Unit.name_fi)).all(),
        statuses=list(Status),
        sources=list(Source),
        excerpt=excerpt,
    )


@bp.get("/notes/<public_id>")
@login_required(Role.LEADER)
def note(public_id: str) -> Any:
    """One note with its theme, conversation, history and the triage forms."""
    return _note_page(_get_note(public_id))


@bp.post("/notes/<public_id>/acknowledge")
@login_required(Role.LEADER)
def acknowledge(public_id: str) -> Any:
    """Mark the note seen, once: a second press changes nothing and logs nothing."""
    obs = _get_note(public_id)
    if obs.acknowledged_at is None:
        _acknowledge(obs)
        resources.session().commit()
    flash(_("The note is acknowledged."))
    return _back(obs)


@bp.post("/notes/<public_id>/status")
@login_required(Role.LEADER)
def set_status(public_id: str) -> Any:
    """Set the note's status (new, seen, in progress, done)."""
    db = resources.session()
    obs = _get_note(public_id)
    try:
        status = Status(request.form.get("status", ""))
    except ValueError:
        return _note_page(obs, error=_("Choose a status."), status=400)
    if status != obs.status:
        if status != Status.NEW:
            _acknowledge_implicitly(obs, "set_status")
        detail: dict[str, Any] = {"from": obs.status.value, "to": status.value}
        if status == Status.DONE:
            detail["with_action"] = _has_action(db, obs.id)
            _forget_contact(obs, detail)
        obs.status = status
        _audit("set_status", obs, detail)
        db.commit()
    return _back(obs)


@bp.post("/notes/<public_id>/owner")
@login_required(Role.LEADER)
def set_owner(public_id: str) -> Any:
    """Give the note an owner (a leader or admin), or none."""
    db = resources.session()
    obs = _get_note(public_id)
    try:
        owner_id = _owner_from_form(db)
    except InvalidInput as exc:
        return _note_page(obs, error=str(exc), status=400)
    if owner_id != obs.owner_id:
        _acknowledge_implicitly(obs, "set_owner")
        _audit("set_owner", obs, {"from": obs.owner_id, "to": owner_id})
        obs.owner_id = owner_id
        db.commit()
    return _back(obs)


@bp.post("/notes/<public_id>/answer")
@login_required(Role.LEADER)
def answer(public_id: str) -> Any:
    """Write an answer the writer reads with their receipt code."""
    return _add_response(_get_note(public_id), "answer")


@bp.post("/notes/<public_id>/action")
@login_required(Role.LEADER)
def action(public_id: str) -> Any:
    """Record an internal action; with 'close' the note is done, i.e. closed with an action."""
    return _add_response(_get_note(public_id), "action")


@bp.route("/themes/<int:theme_id>", methods=["GET", "POST"])
@login_required(Role.LEADER)
def theme(theme_id: int) -> Any:
    """A theme's status and owner, and its notes."""
    db = resources.session()
    th = db.get(Theme, theme_id)
    if th is None:
        abort(404)
    error = None
    if request.method == "POST":
        try:
            status = Status(request.form.get("status", ""))
            owner_id = _owner_from_form(db)
        except ValueError:
            error = _("Choose a status.")
        except InvalidInput as exc:
            error = str(exc)
        else:
            target = f"theme:{th.id}"
            if status != th.status:
                _audit_target("theme_status", target, {"from": th.status.value, "to": status.value})
                th.status = status
            if owner_id != th.owner_id:
                _audit_target("theme_owner", target, {"from": th.owner_id, "to": owner_id})
                th.owner_id = owner_id
            db.commit()
            return redirect(url_for("triage.theme", theme_id=th.id), code=303)
    user = current_user()
    assert user is not None
    waiting = db.get(Setting, _contacts_key(user.id, th.id))
    contacts = [e["contact"] for e in privacy.waiting_contacts(waiting.value)] if waiting else []
    page = _theme_page(db, th, error=error, contacts=contacts)
    if waiting is not None:  # the page now shows them to the leader; an answer that added more
        # while it rendered keeps the row, to be shown next time rather than lost
        db.execute(delete(Setting).where(Setting.key == waiting.key, Setting.value == waiting.value))
        db.commit()
    return page


@bp.post("/themes/<int:theme_id>/answer")
@login_required(Role.LEADER)
def theme_answer(theme_id: int) -> Any:
    """One answer (and optionally one action) to every writer of the theme's notes, or of those
    chosen: each note records it as its own answer, as if written on the note's page."""
    db = resources.session()
    th = db.get(Theme, theme_id)
    if th is None:
        abort(404)
    user = current_user()
    assert user is not None
    form = request.form
    limit = resources.get().settings.max_note_chars
    try:
        body = _clean_body(form.get("body", ""), "answer", limit)
        action = _clean_body(form["action"], "action", limit) if form.get("action", "").strip() else None
        notes = _theme_selection(db, th)
    except InvalidInput as exc:
        return _theme_page(db, th, error=str(exc), form=form)
    close = action is not None and form.get("close") == "on"
    smtp_url = resources.get().settings.smtp_url
    # Read before closing deletes them; an e-mail address gets the answer by mail instead, if it can.
    contacts = [
        {"note": n.id, "contact": n.contact}
        for n in notes
        if n.contact and not (smtp_url and answer_mail.is_email(n.contact.strip()))
    ]
    mailed = asked_mail = 0
    for obs in notes:
        answer_row = NoteResponse(observation_id=obs.id, author_id=user.id, kind="answer", body=body)
        db.add(answer_row)
        db.flush()
        asked_mail += len(answer_mail.recipients(obs))
        mailed += answer_mail.queue(db, obs, body, _base_url(), smtp_url)
        _acknowledge_implicitly(obs, "theme_answer")
        _audit("answer", obs, {"response_id": answer_row.id, "chars": len(body), "theme": th.id})
        if action is None:
            continue
        action_row = NoteResponse(observation_id=obs.id, author_id=user.id, kind="action", body=action)
        db.add(action_row)
        db.flush()
        detail: dict[str, Any] = {"response_id": action_row.id, "chars": len(action), "theme": th.id}
        if close and obs.status != Status.DONE:
            detail.update({"closed": True, "from": obs.status.value})
            obs.status = Status.DONE
            _forget_contact(obs, detail)
        _audit("action", obs, detail)
    _audit_target(
        "theme_answer",
        f"theme:{th.id}",
        {"notes": len(notes), "chars": len(body), "action": action is not None, "closed": close},
    )
    if contacts:
        _keep_contacts(db, user.id, th.id, contacts)
    db.commit()
    by_code = sum(1 for n in notes if n.receipt_hash)
    mine = sum(1 for n in notes if n.author_id is not None and not n.receipt_hash)
    message = _(
        "The answer is saved to %(n)d notes: %(code)d writers read it with their receipt code, "
        "%(mine)d in their own notes.",
        n=len(notes),
        code=by_code,
        mine=mine,
    )
    if mailed:
        message += " " + answer_mail.notice(mailed, theme=True)
    elif asked_mail:
        message += " " + answer_mail.unsent(asked_mail, theme=True)
    unreachable = len(notes) - by_code - mine
    if unreachable:
        message += " " + _(
            "%(n)d notes have no receipt code or author: they cannot reach their writer.", n=unreachable
        )
    flash(message)
    return redirect(url_for("triage.theme", theme_id=th.id), code=303)


def _theme_selection(db: Session, th: Theme) -> list[Observation]:
    """The notes a theme answer goes to: all of the theme's, or the chosen ones (all in the theme)."""
    query = select(Observation).where(Observation.theme_id == th.id).order_by(Observation.id)
    if request.form.get("to", "all") != "selected":
        notes = list(db.scalars(query))
        if not notes:
            raise InvalidInput(_("This theme has no notes to answer."))
        return notes
    raw = request.form.getlist("note")
    if not raw:
        raise InvalidInput(_("Choose the notes to answer, or answer all the theme's notes."))
    if not all(public_id_shape(r) for r in raw):
        raise InvalidInput(_("Choose the notes from this theme's list."))
    ids = set(raw)
    notes = list(db.scalars(query.where(Observation.public_id.in_(ids))))
    if len(notes) != len(ids):
        raise InvalidInput(_("Some chosen notes are no longer in this theme; choose again."))
    return notes


def _contacts_key(user_id: int, theme_id: int) -> str:
    return f"{privacy.WAITING_CONTACTS}{user_id}:{theme_id}"


def _keep_contacts(db: Session, user_id: int, theme_id: int, contacts: list[dict[str, Any]]) -> None:
    """Keep the contacts ({"note", "contact"}) for the leader's next look at the theme's page (added
    to any not seen yet), dated: erasure and retention reach them (privacy.waiting_contacts)."""
    key = _contacts_key(user_id, theme_id)
    waiting = db.get(Setting, key)
    kept = privacy.waiting_contacts(waiting.value) if waiting else []
    day = dt.date.today().isoformat()  # the clock retention_job's cutoff is counted on
    kept += [{**c, "day": day} for c in contacts]
    db.merge(Setting(key=key, value=json.dumps(kept, ensure_ascii=False)))


def _theme_page(
    db: Session, th: Theme, error: str | None = None, form: Any = None, contacts: list[str] | None = None
) -> Any:
    """The theme's page; after a refused answer, with what was typed and chosen; `contacts`: those
    a theme answer left the leader to send it to."""
    count = db.scalar(select(func.count()).where(Observation.theme_id == th.id)) or 0
    theme_notes = db.scalars(
        select(Observation)
        .where(Observation.theme_id == th.id)
        .order_by(*sql.listing_order())
        .limit(THEME_NOTES)
    ).all()
    reach = db.execute(
        select(
            func.count(Observation.receipt_hash),
            func.count(Observation.author_id),
            func.count(Observation.contact),
        ).where(Observation.theme_id == th.id)
    ).one()
    return render_template(
        "triage/theme.html",
        theme=th,
        count=count,
        notes=theme_notes,
        reach={"code": reach[0], "author": reach[1], "contact": reach[2]},
        owners=_owner_choices(db),
        owner_name=_user_names(db, {th.owner_id} if th.owner_id else set()).get(th.owner_id or -1),
        signal=signal_label(th.signal),
        statuses=list(Status),
        error=error,
        form=form or {},
        chosen=set(form.getlist("note")) if form else set(),
        excerpt=excerpt,
        contacts=contacts or [],
    ), (400 if error else 200)


# --- helpers ----------------------------------------------------------------------------------


def _get_note(public_id: str) -> Observation:
    obs = sql.by_public_id(resources.session(), public_id)
    if obs is None:
        abort(404)
    return obs


def _back(obs: Observation) -> Any:
    return redirect(url_for("triage.note", public_id=obs.public_id), code=303)


def _add_response(obs: Observation, kind: str) -> Any:
    db = resources.session()
    user = current_user()
    assert user is not None
    raw = request.form.get("body", "")
    try:
        body = _clean_body(raw, kind, resources.get().settings.max_note_chars)
    except InvalidInput as exc:
        return _note_page(obs, error=str(exc), error_for=kind, form={kind: raw}, status=400)
    response = NoteResponse(observation_id=obs.id, author_id=user.id, kind=kind, body=body)
    db.add(response)
    db.flush()
    _acknowledge_implicitly(obs, kind)
    asked_mail = len(answer_mail.recipients(obs)) if kind == "answer" else 0
    smtp_url = resources.get().settings.smtp_url
    mailed = answer_mail.queue(db, obs, body, _base_url(), smtp_url) if asked_mail else 0
    detail: dict[str, Any] = {"response_id": response.id, "chars": len(body)}
    if kind == "action" and request.form.get("close") == "on" and obs.status != Status.DONE:
        detail.update({"closed": True, "from": obs.status.value})
        obs.status = Status.DONE
        _forget_contact(obs, detail)
    _audit(kind, obs, detail)
    db.commit()
    closed = bool(detail.get("closed"))
    if mailed:
        flash(answer_mail.notice(mailed))
    elif asked_mail:  # no mail server: said beside where the writer reads it
        flash(f"{_saved_message(obs, kind, closed=closed)} {answer_mail.unsent(asked_mail)}")
    else:
        flash(_saved_message(obs, kind, closed=closed))
    return _back(obs)


def _base_url() -> str:
    return resources.get().settings.public_url or request.host_url


def _clean_body(raw: str, kind: str, limit: int) -> str:
    """An answer's or action's text, or InvalidInput in words about that answer or action."""
    # Invisible characters only ("\u200b") would reach every writer as an empty answer.
    if is_blank(raw) and kind == "answer":
        raise InvalidInput(_("Write the answer before sending."))
    if is_blank(raw):
        raise InvalidInput(_("Write what was done before saving."))
    body = clean_text(raw, len(raw))  # control characters and broken text; the length is ours
    if len(body) > limit:
        if kind == "answer":
            raise InvalidInput(_("The answer is %(n)d characters; an answer can be at most %(max)d.",
                                 n=len(body), max=limit))
        raise InvalidInput(_("The action is %(n)d characters; an action can be at most %(max)d.",
                             n=len(body), max=limit))
    return body


def _saved_message(obs: Observation, kind: str, closed: bool) -> str:
    # Said at the top of the page the leader returns to: the form is screens further down.
    if kind == "action":
        return _("The action is recorded and the note closed.") if closed else _("The action is recorded.")
    if obs.contact:
        return _("The answer is saved. The writer asked for it at %(contact)s: send it there too.",
                 contact=obs.contact)
    if obs.receipt_hash:
        return _("The answer is saved: the writer reads it with their receipt code.")
    return _("The answer is saved, but this note has no receipt code: it cannot reach its writer.")


def _forget_contact(obs: Observation, detail: dict[str, Any]) -> None:
    """A closed note keeps no contact: the writer gave it for this answer only (issue 21)."""
    if obs.contact:
        obs.contact = None
        detail["contact_deleted"] = True


def _acknowledge(obs: Observation, via: str | None = None) -> None:
    obs.acknowledged_at = utcnow()
    if obs.status == Status.NEW:
        obs.status = Status.SEEN
    _audit("acknowledge", obs, {"via": via} if via else {})


def _acknowledge_implicitly(obs: Observation, via: str) -> None:
    if obs.acknowledged_at is None:
        _acknowledge(obs, via)


def _audit(action: str, obs: Observation, detail: dict[str, Any]) -> None:
    _audit_target(action, f"observation:{obs.id}", detail)


def _audit_target(action: str, target: str, detail: dict[str, Any]) -> None:
    user = current_user()
    resources.session().add(
        AuditEvent(actor_id=user.id if user else None, action=action, target=target, detail=detail)
    )


def _has_action(db: Session, note_id: int) -> bool:
    found = db.scalar(
        select(NoteResponse.id)
        .where(NoteResponse.observation_id == note_id, NoteResponse.kind == "action")
        .limit(1)
    )
    return found is not None


def _owner_choices(db: Session) -> list[User]:
    return list(
        db.scalars(
            select(User)
            .where(User.active.is_(True), User.role.in_(OWNER_ROLES))
            .order_by(User.display_name, User.id)
        )
    )


def _owner_from_form(db: Session) -> int | None:
    """The chosen owner's id (None for nobody); InvalidInput unless an active leader or admin."""
    raw = request.form.get("owner_id", "")
    if not raw:
        return None
    user = db.get(User, int(raw)) if digits(raw, 9) else None
    if user is None or not user.active or user.role not in OWNER_ROLES:
        raise InvalidInput(_("The owner must be an active leader or admin."))
    return user.id


def _user_names(db: Session, ids: set[int | None]) -> dict[int, str]:
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = db.execute(select(User.id, User.display_name, User.username).where(User.id.in_(wanted)))
    return {uid: name or username for uid, name, username in rows.tuples()}


def _theme_names(db: Session, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return {t.id: t.name for t in db.scalars(select(Theme).where(Theme.id.in_(ids)))}


def awaiting_reply() -> Select[int]:
    """Ids of notes whose writer spoke last: their latest response is the writer's reply."""
    latest = select(func.max(NoteResponse.id)).group_by(NoteResponse.observation_id)
    last = NoteResponse.id.in_(latest)
    return select(NoteResponse.observation_id).where(last, NoteResponse.kind == "reply")


def _overdue_ids(db: Session, ids: list[int], today: dt.date) -> set[int]:
    if not ids:
        return set()
    return set(db.scalars(select(Observation.id).where(Observation.id.in_(ids), unanswered_clause(today))))


def _note_page(
    obs: Observation,
    *,
    error: str | None = None,
    error_for: str = "",
    form: dict[str, str] | None = None,
    status: int = 200,
) -> Any:
    """The note's page; `error_for` ("answer" or "action") puts the error beside that form, which
    takes the focus (and so comes into view), instead of at the top of a long page."""
    db = resources.session()
    today = resources.get().settings.today()
    conversation = db.scalars(
        select(NoteResponse).where(NoteResponse.observation_id == obs.id).order_by(NoteResponse.id)
    ).all()
    history = db.scalars(
        select(AuditEvent)
        .where(AuditEvent.target == f"observation:{obs.id}")
        .order_by(AuditEvent.id.desc())
        .limit(50)
    ).all()
    names = _user_names(
        db,
        {r.author_id for r in conversation if r.kind != "reply"}
        | {e.actor_id for e in history}
        | {obs.owner_id},
    )
    # The author's name only for a signed note; an anonymous one has no author by design,
    # and the check on `anonymous` keeps it that way even if a row were inconsistent.
    author_name = (
        (obs.author.display_name or obs.author.username) if obs.author and not obs.anonymous else None
    )
    return render_template(
        "triage/note.html",
        note=obs,
        author_name=author_name,
        theme=db.get(Theme, obs.theme_id) if obs.theme_id else None,
        original=db.get(Observation, obs.duplicate_of_id) if obs.duplicate_of_id else None,
        conversation=conversation,
        history=history,
        names=names,
        owners=_owner_choices(db),
        statuses=list(Status),
        status_names={s.value: status_label(s) for s in Status},
        overdue=bool(_overdue_ids(db, [obs.id], today)),
        waited=working_days_between(obs.day, today),
        has_action=any(r.kind == "action" for r in conversation),
        error=error,
        error_for=error_for,
        form=form or {},
    ), status
