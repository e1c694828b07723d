"""JSON API under /api/v1: write notes and read them with a bearer token.

Who may do what (the token's role): staff tokens may only create notes; leader and admin tokens
may also list and read notes. Reading returns the stored, already redacted text only. Contact
details and receipt hashes are never returned to anyone: a token is a long-lived credential held
by another system, and answering a writer happens inside the service. The author's username is
returned only for notes the writer chose to sign.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Blueprint, current_app, g, jsonify, request, url_for
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.exceptions import NotFound as RouteNotFound

from hiljainen import intake, resources, tokens
from hiljainen.errors import InvalidInput, ServiceUnavailable
from hiljainen.models import ApiToken, Observation, Source, Status, Touchpoint, Unit, User
from hiljainen.web import errorpages
from hiljainen.web.inputs import MAX_ID
from hiljainen.web.security import csrf

bp = Blueprint("api", __name__, url_prefix="/api/v1")
# Bearer tokens are not ambient credentials (a browser never adds them), so CSRF does not apply.
csrf.exempt(bp)

F = TypeVar("F", bound=Callable[..., Any])
NOTE_FIELDS = {"text", "source", "unit", "touchpoint", "tags", "anonymous", "shareable", "day"}
MAX_LIMIT = 200
DEFAULT_LIMIT = 50
SLUG_MAX = 60
TAG_MAX = 40
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f]")
# The same rules as intake.clean_text, for clients and fuzzers: no control characters (tabs and
# line breaks are fine), no U+FFFD left by a broken decoder, at least one visible character.
_FORBIDDEN = "\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f\\ufffd"
TEXT_PATTERN = f"^[^{_FORBIDDEN}]*[^\\s\\u0085{_FORBIDDEN}][^{_FORBIDDEN}]*$"
TAG_PATTERN = "^[^\\u0000-\\u001f\\u007f]*$"
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
TONES = ("positive", "negative", "neutral")  # as hiljainen.pipeline.tone.CLASSES


class ApiError(Exception):
    """An error answered as {"error": message} with this HTTP status."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers or {}


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError) -> Any:
    return jsonify(error=str(exc)), exc.status, exc.headers


@bp.errorhandler(ServiceUnavailable)
def _unavailable(exc: ServiceUnavailable) -> Any:
    return jsonify(error=str(exc)), 503


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Any:
    # e.g. 413 from Flask's MAX_CONTENT_LENGTH: the API never answers with an HTML page.
    headers = (
        {"Allow": ", ".join(exc.valid_methods)}
        if isinstance(exc, MethodNotAllowed) and exc.valid_methods
        else {}
    )
    return jsonify(error=exc.description or exc.name), exc.code or 500, headers


@bp.app_errorhandler(RouteNotFound)
def _route_not_found(exc: RouteNotFound) -> Any:
    # A 404 from routing itself (e.g. an id above inputs.MAX_ID) reaches no blueprint's handler.
    if request.path.startswith(bp.url_prefix or "/api/v1"):
        return jsonify(error=_("No such API path.")), 404
    return errorpages.page(exc)


def token_required(scope: str) -> Callable[[F], F]:
    """Require `Authorization: Bearer <token>` whose role includes this scope."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            g.api_token = _authenticate()
            if not tokens.allows(g.api_token, scope):
                raise ApiError(
                    403, _("This token may not do this (its role is %(role)s).", role=g.api_token.role.value)
                )
            return view(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorate


def _authenticate() -> ApiToken:
    challenge = {"WWW-Authenticate": 'Bearer realm="hiljainen"'}
    header = request.headers.get("Authorization", "")
    scheme, _sep, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise ApiError(401, _("Send an API token: Authorization: Bearer <token>."), challenge)
    token = tokens.verify(resources.session(), value.strip())
    if token is None:
        raise ApiError(401, _("The API token is unknown or revoked."), challenge)
    return token


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
    location = url_for("api.get_observation", observation_id=stored.observation.id)
    return jsonify(out), 201, {"Location": location}


@bp.get("/observations")
@token_required("observations:read")
def list_observations() -> Any:
    """Notes, newest first, filtered by unit, source, status and day range; paginated."""
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
        query.order_by(Observation.day.desc(), Observation.id.desc()).limit(limit).offset(offset)
    ).all()
    return jsonify(items=[_public(o, db) for o in rows], total=total, limit=limit, offset=offset)


@bp.get("/observations/<observation_id>")
@token_required("observations:read")
def get_observation(observation_id: str) -> Any:
    """One note by id."""
    obs = None
    digits = observation_id.isascii() and observation_id.isdigit() and len(observation_id) <= 10
    if digits and int(observation_id) <= MAX_ID:
        obs = resources.session().get(Observation, int(observation_id))
    if obs is None:
        raise ApiError(404, _("No note has the id %(id)s.", id=observation_id[:40]))
    return jsonify(_public(obs, resources.session()))


@bp.get("/openapi.json")
def openapi() -> Any:
    """The OpenAPI 3.1 description of this API (public: it holds no data)."""
    return jsonify(openapi_spec(resources.get().settings.max_note_chars))


@bp.route("/", defaults={"rest": ""}, methods=METHODS)
@bp.route("/<path:rest>", methods=METHODS)
def not_found(rest: str) -> Any:
    """Unknown API paths and methods answer in JSON too, not with the site's HTML pages."""
    adapter = current_app.url_map.bind_to_environ(request.environ)
    allowed = []
    for method in METHODS:
        try:
            endpoint, _args = adapter.match(method=method)
        except (RouteNotFound, MethodNotAllowed):
            continue
        if endpoint != "api.not_found":
            allowed.append(method)
    if allowed:
        raise ApiError(405, _("Method not allowed."), {"Allow": ", ".join(allowed)})
    raise ApiError(404, _("No such API path."))


# --- request parsing -------------------------------------------------------------------------


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
        day=None if day is None else _date(day, "day", not_after=dt.date.today()),
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


def _date(value: Any, name: str, not_after: dt.date | None = None) -> dt.date:
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        raise ApiError(400, _("%(name)s must be a date like 2026-03-31.", name=name))
    try:
        day = dt.date.fromisoformat(value)
    except ValueError:
        raise ApiError(400, _("%(name)s must be a date like 2026-03-31.", name=name)) from None
    if not_after is not None and day > not_after:
        raise ApiError(400, _("%(name)s cannot be in the future.", name=name))
    return day


def _int(value: str | None, name: str, default: int, low: int, high: int) -> int:
    if value is None:
        return default
    # The length check first: int() refuses strings of over 4300 digits (ValueError, a 500).
    if not (value.isascii() and value.isdigit()) or len(value) > 12 or not low <= int(value) <= high:
        raise ApiError(
            400, _("%(name)s must be a whole number from %(low)d to %(high)d.", name=name, low=low, high=high)
        )
    return int(value)


# --- responses -------------------------------------------------------------------------------


def _public(obs: Observation, db: Session) -> dict[str, Any]:
    """What the API shows of a note: redacted text, never contact details or receipt hashes."""
    unit = db.get(Unit, obs.unit_id) if obs.unit_id else None
    touchpoint = db.get(Touchpoint, obs.touchpoint_id) if obs.touchpoint_id else None
    author = db.get(User, obs.author_id) if obs.author_id and not obs.anonymous else None
    return {
        "id": obs.id,
        "text": obs.text,
        "source": obs.source.value,
        "unit": unit.slug if unit else None,
        "touchpoint": touchpoint.slug if touchpoint else None,
        "day": obs.day.isoformat(),
        "tags": list(obs.tags or []),
        "anonymous": obs.anonymous,
        "author": author.username if author else None,
        "status": obs.status.value,
        "redactions": dict(obs.redactions or {}),
        "lang": obs.lang,
        "processed": obs.processed_at is not None,
        "theme_id": obs.theme_id,
    }


def openapi_spec(max_chars: int) -> dict[str, Any]:
    """The OpenAPI 3.1 description of /api/v1, with this deployment's note length limit."""
    error = {"$ref": "#/components/responses/Error"}
    source = {"type": "string", "enum": [s.value for s in Source]}
    status = {"type": "string", "enum": [s.value for s in Status]}
    date = {"type": "string", "format": "date", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}
    slug = {"type": ["string", "null"], "maxLength": SLUG_MAX}
    note: dict[str, Any] = {
        "type": "object",
        "required": [
            "id", "text", "source", "unit", "touchpoint", "day", "tags", "anonymous", "author",
            "status", "redactions", "lang", "processed", "theme_id",
        ],
        "properties": {
            "id": {"type": "integer"},
            "text": {"type": "string", "description": "The note with personal data replaced by markers."},
            "source": source,
            "unit": {"type": ["string", "null"]},
            "touchpoint": {"type": ["string", "null"]},
            "day": date,
            "tags": {"type": "array", "items": {"type": "string"}},
            "anonymous": {"type": "boolean"},
            "author": {"type": ["string", "null"], "description": "Username, for signed notes only."},
            "status": status,
            "redactions": {
                "type": "object",
                "additionalProperties": {"type": "integer"},
                "description": "How many items of each kind of personal data were replaced.",
            },
            "lang": {"type": ["string", "null"]},
            "processed": {"type": "boolean"},
            "theme_id": {"type": ["integer", "null"]},
        },
    }  # fmt: skip
    search_item = {
        "type": "object",
        "required": [
            "id", "text", "source", "unit", "touchpoint", "day", "lang", "tone", "theme_id", "status",
            "voices", "score", "ranks", "similarity", "highlights",
        ],
        "properties": {
            **{k: note["properties"][k] for k in ("id", "text", "source", "unit", "touchpoint", "day",
                                                    "lang", "theme_id", "status")},
            "tone": {"type": ["string", "null"], "enum": [*TONES, None]},
            "voices": {"type": "integer", "description": "Other writers who said the same (\"me too\")."},
            "score": {"type": "number"},
            "ranks": {"type": "object", "additionalProperties": {"type": "integer"},
                      "description": "The note's rank in each retrieval (semantic, keyword)."},
            "similarity": {"type": ["number", "null"]},
            "highlights": {
                "type": "array",
                "items": {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2},
                "description": "Character spans of matching words in text.",
            },
        },
    }  # fmt: skip
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Hiljainen API",
            "version": "1",
            "description": (
                "Write notes and read them. Send `Authorization: Bearer <token>`; an administrator "
                "issues tokens. Staff tokens may create notes; leader and admin tokens may also read. "
                "Text is stored and returned redacted; contact details are never returned."
            ),
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": {
            "/api/v1/observations": {
                "post": {
                    "operationId": "createObservation",
                    "summary": "Store a note (redacted before it is stored) and queue it for processing.",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/NewObservation"}}
                        },
                    },
                    "responses": {
                        "201": {
                            "description": "Stored.",
                            "headers": {"Location": {"schema": {"type": "string"}}},
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/Created"}}
                            },
                        },
                        "400": error,
                        "401": error,
                        "403": error,
                        "413": error,
                        "415": error,
                    },
                },
                "get": {
                    "operationId": "listObservations",
                    "summary": "Notes, newest day first (leader and admin tokens).",
                    "parameters": [
                        {"name": "unit", "in": "query", "schema": {"type": "string", "maxLength": SLUG_MAX}},
                        {"name": "source", "in": "query", "schema": source},
                        {"name": "status", "in": "query", "schema": status},
                        {
                            "name": "since",
                            "in": "query",
                            "schema": date,
                            "description": "First day, inclusive.",
                        },
                        {
                            "name": "until",
                            "in": "query",
                            "schema": date,
                            "description": "Last day, inclusive.",
                        },
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": MAX_LIMIT,
                                "default": DEFAULT_LIMIT,
                            },
                        },
                        {
                            "name": "offset",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 0, "default": 0},
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "A page of notes.",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/ObservationList"}
                                }
                            },
                        },
                        "400": error,
                        "401": error,
                        "403": error,
                    },
                },
            },
            "/api/v1/observations/{id}": {
                "get": {
                    "operationId": "getObservation",
                    "summary": "One note (leader and admin tokens).",
                    "parameters": [
                        {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}
                    ],
                    "responses": {
                        "200": {
                            "description": "The note.",
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/Observation"}}
                            },
                        },
                        "401": error,
                        "403": error,
                        "404": error,
                    },
                }
            },
            "/api/v1/search": {
                "get": {
                    "operationId": "search",
                    "summary": "Search notes by meaning and keywords (leader and admin tokens).",
                    "description": "Empty filter values are ignored. Duplicates of other notes are left out.",
                    "parameters": [
                        {
                            "name": "q",
                            "in": "query",
                            "required": True,
                            "schema": {"type": "string"},
                            "description": "A few words or a sentence (at most 500 characters).",
                        },
                        {
                            "name": "from",
                            "in": "query",
                            "schema": date,
                            "description": "First day, inclusive.",
                        },
                        {"name": "to", "in": "query", "schema": date, "description": "Last day, inclusive."},
                        {"name": "unit", "in": "query", "schema": {"type": "string"}},
                        {"name": "touchpoint", "in": "query", "schema": {"type": "string"}},
                        {"name": "source", "in": "query", "schema": source},
                        {
                            "name": "lang",
                            "in": "query",
                            "schema": {"type": "string", "enum": ["fi", "en", "und"]},
                        },
                        {"name": "theme", "in": "query", "schema": {"type": "integer", "minimum": 1}},
                        {"name": "tone", "in": "query", "schema": {"type": "string", "enum": list(TONES)}},
                        {
                            "name": "page",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "default": 1},
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "A page of results, best first.",
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/SearchResults"}}
                            },
                        },
                        "400": error,
                        "401": error,
                        "403": error,
                        "503": error,
                    },
                }
            },
            "/api/v1/observations/{id}/similar": {
                "get": {
                    "operationId": "similarObservations",
                    "summary": "The notes closest in meaning to one note (leader and admin tokens).",
                    "parameters": [
                        {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}},
                        {
                            "name": "k",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 50, "default": 5},
                        },
                    ],
                    "responses": {
                        "200": {
                            "description": "Most similar first; none before the note is analysed.",
                            "content": {
                                "application/json": {"schema": {"$ref": "#/components/schemas/SimilarList"}}
                            },
                        },
                        "400": error,
                        "401": error,
                        "403": error,
                        "404": error,
                        "503": error,
                    },
                }
            },
            "/api/v1/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This description.",
                    "security": [],
                    "responses": {
                        "200": {
                            "description": "OpenAPI 3.1 document.",
                            "content": {"application/json": {"schema": {"type": "object"}}},
                        }
                    },
                }
            },
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "responses": {
                "Error": {
                    "description": "What is wrong, in words meant for a person.",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
                }
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {"error": {"type": "string"}},
                },
                "NewObservation": {
                    "type": "object",
                    "required": ["text", "source"],
                    "additionalProperties": False,
                    "properties": {
                        "text": {
                            "type": "string",
                            "minLength": 1,
                            "maxLength": max_chars,
                            "pattern": TEXT_PATTERN,
                            "description": (
                                f"The note, at most {max_chars} characters. Not empty or only spaces; no "
                                "control characters. HTML is stored as plain text."
                            ),
                        },
                        "source": source,
                        "unit": slug,
                        "touchpoint": {**slug, "description": "An active touchpoint's short name."},
                        "tags": {
                            "type": ["array", "null"],
                            "maxItems": intake.MAX_TAGS,
                            "items": {"type": "string", "maxLength": TAG_MAX, "pattern": TAG_PATTERN},
                        },
                        "anonymous": {
                            "type": "boolean",
                            "default": False,
                            "description": "Tokens issued for a user sign notes unless this is true.",
                        },
                        "shareable": {
                            "type": "boolean",
                            "default": False,
                            "description": (
                                "The writer lets other writers see the text as a similar note while "
                                "they write (never who wrote it)."
                            ),
                        },
                        "day": {**date, "description": "The day the note is about; today if left out."},
                    },
                },
                "Observation": note,
                "Created": {
                    "allOf": [
                        {"$ref": "#/components/schemas/Observation"},
                        {
                            "type": "object",
                            "required": ["receipt", "queued"],
                            "properties": {
                                "receipt": {
                                    "type": ["string", "null"],
                                    "description": "The writer's receipt code, shown only here, once.",
                                },
                                "queued": {"type": "boolean"},
                            },
                        },
                    ]
                },
                "ObservationList": {
                    "type": "object",
                    "required": ["items", "total", "limit", "offset"],
                    "properties": {
                        "items": {"type": "array", "items": {"$ref": "#/components/schemas/Observation"}},
                        "total": {"type": "integer"},
                        "limit": {"type": "integer"},
                        "offset": {"type": "integer"},
                    },
                },
                "SearchItem": search_item,
                "SearchResults": {
                    "type": "object",
                    "required": ["items", "total", "page", "pages", "page_size", "message"],
                    "properties": {
                        "items": {"type": "array", "items": {"$ref": "#/components/schemas/SearchItem"}},
                        "total": {"type": "integer"},
                        "page": {"type": "integer"},
                        "pages": {"type": "integer"},
                        "page_size": {"type": "integer"},
                        "message": {"type": ["string", "null"], "description": "Why nothing was found."},
                    },
                },
                "SimilarList": {
                    "type": "object",
                    "required": ["items"],
                    "properties": {
                        "items": {"type": "array", "items": {"$ref": "#/components/schemas/SearchItem"}},
                        "message": {"type": "string"},
                    },
                },
            },
        },
    }
