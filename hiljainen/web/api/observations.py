"""/api/v1/observations: create, list and read notes (see hiljainen.web.api for who may)."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

from flask import g, jsonify, request, url_for
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from hiljainen import intake, resources
from hiljainen.errors import InvalidInput
from hiljainen.models import ApiToken, Observation, Role, Source, Status, Unit, User
from hiljainen.note_json import note_json
from hiljainen.rules import SLUG_MAX, digits
from hiljainen.search import sql
from hiljainen.web.api import ApiError, bp, token_required

NOTE_FIELDS = {"text", "source", "unit", "touchpoint", "tags", "anonymous", "shareable", "day"}

MAX_LIMIT = 200

DEFAULT_LIMIT = 50

TAG_MAX = 40

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f]")


@bp.post("/observations")
@token_required("observations:create")
def create_observation() -> Any:
    """Store a note: validate, redact, commit, then queue it for processing."""
    body = _json_object()
    draft = _draft(body, resources.session())
    db = resources.session()
    try:
        stored = resources.submit(draft)
    except InvalidInput as exc:
        db.rollback()
        raise ApiError(400, str(exc)) from None
    out = _public(stored.observation, db)
    out.update(receipt=stored.receipt, queued=stored.queued)
    location = url_for("api.get_observation", public_id=stored.observation.public_id)
    return jsonify(out), 201, {"Location": location}


@bp.get("/observations")
@token_required("observations:read")
def list_observations() -> Any:
    """Notes, newest day first (within a day by public id, never in submission order), filtered by
    unit, source, status and day range; paginated."""
    db = resources.session()
    args = request.args
    query = select(Observation)
    if unit_slug := args.get("unit"):
        unit = db.scalar(select(Unit).where(Unit.slug == _slug(unit_slug, "unit")))
        if unit is None:
            raise ApiError(400, _("Unknown unit: %(slug)s", slug=unit_slug))
        query = query.where(Observation.unit_id == unit.id)
    if "source" in args:
        query = query.where(Observation.source == _choice(Source, args["source"], "source"))
    if "status" in args:
        query = query.where(Observation.status == _choice(Status, args["status"], "status"))
    if "since" in args:
        query = query.where(Observation.day >= _date(args["since"], "since"))
    if "until" in args:
        query = query.where(Observation.day <= _date(args["until"], "until"))
    limit = _int(args.get("limit"), "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    offset = _int(args.get("offset"), "offset", 0, 0, 10**9)
    total = db.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = db.scalars(
        query.order_by(*sql.listing_order()).limit(limit).offset(offset)
    ).all()
    return jsonify(items=[_public(o, db) for o in rows], total=total, limit=limit, offset=offset)


@bp.get("/observations/<public_id>")
@token_required("observations:read")
def get_observation(public_id: str) -> Any:
    """One note by its public id."""
    return jsonify(_public(note_or_404(public_id), resources.session()))


def note_or_404(public_id: str) -> Observation:
    """The note this public id names, or a 404 ApiError saying so."""
    obs = sql.by_public_id(resources.session(), public_id)
    if obs is None:
        raise ApiError(404, _("No note has the id %(id)s.", id=public_id[:40]))
    return obs


def _json_object() -> dict[str, Any]:
    """The request body as a JSON object, or an ApiError saying what is wrong with it."""
    if request.mimetype != "application/json":
        raise ApiError(415, _("Send the note as JSON (Content-Type: application/json)."))
    limit = _body_limit(resources.get().settings.max_note_chars)
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, _("The request body is over %(n)d bytes.", n=limit))
    raw = request.get_data(cache=False)
    if len(raw) > limit:
        raise ApiError(413, _("The request body is over %(n)d bytes.", n=limit))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ApiError(400, _("The request body is not valid UTF-8.")) from None
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):
        raise ApiError(400, _("The request body is not valid JSON.")) from None
    if not isinstance(body, dict):
        raise ApiError(400, _("The request body must be a JSON object."))
    return body


def _body_limit(max_chars: int) -> int:
    # Room for every character written as a \uXXXX\uXXXX escape pair, plus the other fields.
    return 12 * max_chars + 16_384


def _draft(body: dict[str, Any], db: Session) -> intake.Draft:
    """A Draft from the JSON object; type errors here, content errors in intake.store."""
    unknown = sorted(set(body) - NOTE_FIELDS)
    if unknown:
        raise ApiError(400, _("Unknown field: %(name)s", name=unknown[0][:40]))
    text = body.get("text")
    if not isinstance(text, str):
        raise ApiError(400, _("The field text is required and must be a string."))
    _utf8(text, "text")
    max_chars = resources.get().settings.max_note_chars
    if len(text) > max_chars:
        raise ApiError(
            400, _("The note is %(n)d characters; the limit is %(max)d.", n=len(text), max=max_chars)
        )
    source = _choice(Source, body.get("source"), "source")
    unit = _optional_slug(body.get("unit"), "unit")
    touchpoint = _optional_slug(body.get("touchpoint"), "touchpoint")
    tags = body.get("tags", [])
    if tags is None:
        tags = []
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        raise ApiError(400, _("The field tags must be a list of strings."))
    if len(tags) > intake.MAX_TAGS:
        raise ApiError(400, _("At most %(n)d tags.", n=intake.MAX_TAGS))
    for tag in tags:
        _utf8(tag, "tags")
        if _UNPRINTABLE.search(tag) or len(tag) > TAG_MAX:
            raise ApiError(
                400, _("A tag is at most %(n)d characters, without control characters.", n=TAG_MAX)
            )
    anonymous = body.get("anonymous", False)
    if not isinstance(anonymous, bool):
        raise ApiError(400, _("The field anonymous must be true or false."))
    shareable = body.get("shareable", False)
    if not isinstance(shareable, bool):
        raise ApiError(400, _("The field shareable must be true or false."))
    day = body.get("day")
    token: ApiToken = g.api_token
    today = resources.get().settings.today()
    parsed_day = None if day is None else _date(day, "day", not_after=today,
                                                 not_before=intake.oldest_day(today))
    if token.user_id is not None and token.role == Role.STAFF:
        # A staff member's token writes what the staff form writes: their own notes, as staff,
        # about today. Other writers' notes and earlier days come through an import or a system token.
        if source != Source.STAFF:
            raise ApiError(403, _("A staff member's token writes notes as staff only."))
        if parsed_day is not None and parsed_day != today:
            raise ApiError(403, _("A staff member's token writes notes about today only."))
    # A token issued for a user signs that user's notes unless the note asks to be anonymous;
    # a token of a system (no user) writes anonymous notes.
    author = db.get(User, token.user_id) if token.user_id is not None and not anonymous else None
    return intake.Draft(
        text=text,
        source=source,
        unit=unit,
        touchpoint=touchpoint,
        author=author,
        anonymous=anonymous,
        shareable=shareable,
        tags=tags,
        day=parsed_day,
        wants_receipt=True,
    )


def _utf8(value: str, name: str) -> None:
    # JSON may carry lone surrogates (\ud800): valid JSON, but not storable text.
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ApiError(400, _("The field %(name)s is not valid UTF-8 text.", name=name)) from None


def _slug(value: str, name: str) -> str:
    # PostgreSQL refuses NUL in queries: check the shape before any lookup.
    if len(value) > SLUG_MAX or _UNPRINTABLE.search(value):
        raise ApiError(
            400,
            _(
                "Unknown %(name)s: %(slug)s",
                name=name,
                slug=value[:SLUG_MAX].encode("ascii", "replace").decode(),
            ),
        )
    _utf8(value, name)
    return value


def _optional_slug(value: Any, name: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ApiError(400, _("The field %(name)s must be a string.", name=name))
    return _slug(value, name)


def _choice(kind: Any, value: Any, name: str) -> Any:
    values = [m.value for m in kind]
    if not isinstance(value, str) or value not in values:
        raise ApiError(400, _("%(name)s must be one of: %(values)s", name=name, values=", ".join(values)))
    return kind(value)


def _date(
    value: Any, name: str, not_after: dt.date | None = None, not_before: dt.date | None = None
) -> dt.date:
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        raise ApiError(400, _("%(name)s must be a date like 2026-03-31.", name=name))
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise ApiError(400, _("%(name)s must be a date like 2026-03-31.", name=name)) from None
    if not_after is not None and day > not_after:
        raise ApiError(400, _("%(name)s cannot be in the future.", name=name))
    if not_before is not None and day < not_before:
        raise ApiError(400, _("%(name)s cannot be before %(first)s.", name=name, first=str(not_before)))
    return day


def _int(value: str | None, name: str, default: int, low: int, high: int) -> int:
    if value is None:
        return default
    # The length check first: int() refuses strings of over 4300 digits (ValueError, a 500).
    if not digits(value, 12) or not low <= int(value) <= high:
        raise ApiError(
            400, _("%(name)s must be a whole number from %(low)d to %(high)d.", name=name, low=low, high=high)
        )
    return int(value)


def _public(obs: Observation, db: Session) -> dict[str, Any]:
    """What the API shows of a note: redacted text, never contact details or receipt hashes."""
    author = db.get(User, obs.author_id) if obs.author_id and not obs.anonymous else None
    return {
        **note_json(obs),
        "tags": list(obs.tags or []),
        "anonymous": obs.anonymous,
        "author": author.username if author else None,
        "redactions": dict(obs.redactions or {}),
        "lang": obs.lang,
        "processed": obs.processed_at is not None,
        "theme_id": obs.theme_id,
    }
