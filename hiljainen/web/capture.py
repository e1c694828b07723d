"""Writing notes: staff quick note, public touchpoint forms with QR codes, receipt callback."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence
from typing import Any

import segno
from flask import Blueprint, Response, abort, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from hiljainen import db as database
from hiljainen import intake, organisation, resources
from hiljainen.errors import InvalidInput
from hiljainen.models import Observation, Role, Source, Status, Touchpoint, Unit
from hiljainen.models import Response as NoteResponse
from hiljainen.rules import PUBLIC_ROLES
from hiljainen.web import outages, ratelimit
from hiljainen.web.auth import current_user, login_required

bp = Blueprint("capture", __name__)
HONEYPOT = "website"  # hidden from people by CSS; bots fill it
# Budgets of public notes and receipt replies together, for all visitors, beyond each address's
# own limit: from many addresses (an IPv6 /48 holds 65,536 /64s) one sender could otherwise post
# without end, each note redacted in the request and embedded by the worker.
FORM_LIMIT = 300  # per public form per hour
SERVICE_LIMIT = 3_000  # for all public forms together per hour
# Wrong receipt codes per address (an IPv6 /48 ten times that) per hour: enough for typing errors,
# too few to guess codes. Only failures count, so nobody's lookups close the page to others.
RECEIPT_FAILURES = 30


@bp.route("/note", methods=["GET", "POST"])
@login_required(Role.STAFF)
def note() -> Any:
    """The staff quick note: one text field, optional unit/touchpoint/tags, anonymous choice."""
    db = resources.session()
    form = request.form if request.method == "POST" else {}
    error, unavailable = None, False
    if request.method == "POST":
        draft = intake.Draft(
            text=form.get("text", ""),
            source=Source.STAFF,
            unit=form.get("unit") or None,
            touchpoint=form.get("touchpoint") or None,
            author=current_user(),
            anonymous=form.get("anonymous") == "on",
            shareable=form.get("shareable") == "on",
            tags=form.get("tags", "").split(","),
        )
        sent, error, unavailable = _submit(draft)
        if sent is not None:
            return sent
    units = db.scalars(select(Unit).where(Unit.active.is_(True)).order_by(Unit.name_fi)).all()
    touchpoints = db.scalars(select(Touchpoint).where(Touchpoint.active.is_(True))).all()
    user = current_user()
    default_unit = user.unit.slug if user and user.unit else ""
    return render_template(
        "capture/note.html", form=form, error=error, units=units, touchpoints=touchpoints,
        default_unit=default_unit,
    ), (503 if unavailable else 400 if error else 200)


@bp.get("/my")
@login_required(Role.STAFF)
def my_notes() -> Any:
    """The writer's own signed notes, their status and the answers they got (the response loop:
    internal actions stay with the leaders)."""
    user = current_user()
    assert user is not None
    db = resources.session()
    notes = db.scalars(
        select(Observation).where(Observation.author_id == user.id).order_by(Observation.id.desc()).limit(100)
    ).all()
    answers: dict[int, list[NoteResponse]] = {}
    if notes:
        for r in db.scalars(
            select(NoteResponse)
            .where(NoteResponse.observation_id.in_([n.id for n in notes]), NoteResponse.kind == "answer")
            .order_by(NoteResponse.id)
        ):
            answers.setdefault(r.observation_id, []).append(r)
    return render_template("capture/my_notes.html", notes=notes, answers=answers)


def _touchpoint_in_use(slug: str) -> Touchpoint:
    """The touchpoint of a public URL, or 404: a retired one has no form, QR code or poster
    (a printed poster would send its readers to a dead end, and an unknown slug says nothing
    about whether a retired one exists)."""
    touchpoint = resources.session().scalar(
        select(Touchpoint).where(Touchpoint.slug == slug, Touchpoint.active.is_(True)))
    if touchpoint is None:
        abort(404)
    return touchpoint


@bp.route("/t/<slug>", methods=["GET", "POST"])
def public_form(slug: str) -> Any:
    """A touchpoint's public form: no login; contact details only if the writer wants an answer."""
    touchpoint = _touchpoint_in_use(slug)
    form = request.form if request.method == "POST" else {}
    error, unavailable = None, False
    if request.method == "POST":
        if form.get(HONEYPOT):
            # Look like success so the bot learns nothing; store nothing.
            return render_template("capture/note_sent.html", stored=None), 201
        role = form.get("role", Source.CUSTOMER.value)
        wants_answer = form.get("wants_answer") == "on"
        try:
            source = Source(role)
            if source not in PUBLIC_ROLES:
                raise ValueError(role)
        except ValueError:
            error = _("Choose who you are.")
        else:
            try:  # checked before the limit counts the post: see below
                intake.clean_text(form.get("text", ""), resources.get().settings.max_note_chars)
            except InvalidInput as exc:
                error = str(exc)
        # Only notes that will be stored count towards the limit: empty or refused posts from one
        # visitor must not close the form for everyone on a shared network (a care home's Wi-Fi).
        if error is None and not _public_allowed("note", touchpoint.id):
            error = _(
                "Many notes have come from this connection in the last hour. "
                "Please try again a little later; your text is kept below."
            )
            return render_template(
                "capture/public_form.html", touchpoint=touchpoint, form=form, error=error, roles=PUBLIC_ROLES
            ), 429
        if error is None:
            draft = intake.Draft(
                text=form.get("text", ""),
                source=source,
                touchpoint=touchpoint.slug,
                anonymous=True,
                shareable=form.get("shareable") == "on",
                wants_answer=wants_answer,
                contact=form.get("contact") if wants_answer else None,
            )
            sent, error, unavailable = _submit(draft)
            if sent is not None:
                return sent
    return render_template(
        "capture/public_form.html", touchpoint=touchpoint, form=form, error=error, roles=PUBLIC_ROLES
    ), (503 if unavailable else 400 if error else 200)


@bp.get("/t/<slug>/qr.svg")
def qr_code(slug: str) -> Response:
    """The touchpoint's QR code as SVG, pointing at its public form."""
    _touchpoint_in_use(slug)
    out = io.BytesIO()
    segno.make(_public_url(slug), error="m").save(out, kind="svg", scale=8, border=2)
    return Response(out.getvalue(), mimetype="image/svg+xml")


@bp.get("/t/<slug>/poster")
@login_required(Role.ADMIN)
def poster(slug: str) -> Any:
    """A printable poster with the QR code for a touchpoint, under the organisation's name."""
    touchpoint = _touchpoint_in_use(slug)
    url, name = _public_url(slug), organisation.name(resources.session())
    return render_template("capture/poster.html", touchpoint=touchpoint, url=url, organisation=name)


@bp.route("/receipt", methods=["GET", "POST"])
def receipt() -> Any:
    """With a receipt code (and nothing else) a writer reads the answer and can reply.

    The page's own forms post the code, so it stays out of the address bar and a shared
    device's history; a link with ?code= still works."""
    db = resources.session()
    code = (request.form.get("code") or request.args.get("code") or "").strip()
    # Every try is counted before the lookup (tries in parallel cannot pass the limit) and a right
    # code's try taken back below; refused before the lookup, a right guess past the limit shows nothing.
    counted = ratelimit.count_try("receipt-miss", RECEIPT_FAILURES) if code else None
    if code and counted is None:
        error = _("Too many wrong receipt codes have come from this connection in the last hour. "
                  "Please try again later.")
        return render_template("capture/receipt.html", code=code, obs=None, answers=[], error=error,
                               reply=""), 429
    obs = intake.find_by_receipt(db, code) if code else None
    if obs is not None and counted is not None:
        ratelimit.refund(counted)
    error, status, kept = None, 200, ""
    if code and obs is None:
        error, status = _("No note has this receipt code. Check the code and try again."), 404
    elif obs is not None and request.method == "POST" and request.form.get("reply"):
        reply = request.form["reply"]
        # Counted as the public form's notes are: one code must not let a flood in unlimited.
        if not _public_allowed("reply", obs.touchpoint_id):
            error, status, kept = _(
                "Many notes have come from this connection in the last hour. "
                "Please try again a little later; your text is kept below."
            ), 429, reply
        else:
            error = _store_reply(db, obs, reply)
    answers: Sequence[NoteResponse] = []
    if obs is not None:
        answers = db.scalars(
            select(NoteResponse)
            .where(NoteResponse.observation_id == obs.id, NoteResponse.kind.in_(("answer", "reply")))
            .order_by(NoteResponse.id)
        ).all()
    return render_template(
        "capture/receipt.html", code=code, obs=obs, answers=answers, error=error, reply=kept
    ), status


def _public_allowed(kind: str, touchpoint_id: int | None) -> bool:
    """A public note or reply (a reply counts under its note's form) within the limits."""
    return ratelimit.allow_public(kind, resources.get().settings.public_rate_limit, budget="public",
                                  per_form=FORM_LIMIT, for_service=SERVICE_LIMIT, form=touchpoint_id)


def _store_reply(db: Session, obs: Observation, reply: str) -> str | None:
    """Store the writer's reply (redacted); the reason if it cannot be."""
    try:
        text = intake.clean_text(reply, resources.get().settings.max_note_chars)
        text = resources.get().redactor().redact(text).text
    except InvalidInput as exc:
        return str(exc)
    reply_row = NoteResponse(observation_id=obs.id, kind="reply", body=text)
    if obs.anonymous:  # nothing kept of an anonymous note is finer than a day, its writer's reply neither
        reply_row.created_at = dt.datetime.combine(resources.get().settings.today(), dt.time(), tzinfo=dt.UTC)
    db.add(reply_row)
    if obs.status == Status.DONE:
        obs.status = Status.SEEN  # a reply reopens the loop
    db.commit()
    return None


def _submit(draft: intake.Draft) -> tuple[Any, str | None, bool]:
    """Store a form's note: (the thank-you page, None, False), or (None, why not, whether the
    database was down) so the form is shown again with the text."""
    try:
        stored = resources.submit(draft)
    except InvalidInput as exc:
        return None, str(exc), False
    except database.OUTAGE_ERRORS as exc:
        return None, _not_saved(exc), True
    page = render_template("capture/note_sent.html", stored=stored, link=_receipt_link(stored))
    return (page, 201), None, False


def _not_saved(exc: Exception) -> str:
    """The form's message when the database could not store the note (disk full, restarting);
    the form is shown again with the text, so nothing the writer typed is lost."""
    kind = database.outage(exc)
    if kind is None:
        raise exc
    resources.session().rollback()
    return outages.message(kind) + " " + _("Your text is kept below: send it again later.")


def _receipt_link(stored: intake.Stored) -> str:
    """The writer's personal link to their answers: the receipt page with the code in it."""
    if not stored.receipt:
        return ""
    base = resources.get().settings.public_url.rstrip("/")
    path = url_for("capture.receipt", code=stored.receipt)
    return base + path if base else url_for("capture.receipt", code=stored.receipt, _external=True)


def _public_url(slug: str) -> str:
    base = resources.get().settings.public_url.rstrip("/")
    path = url_for("capture.public_form", slug=slug)
    return base + path if base else url_for("capture.public_form", slug=slug, _external=True)
