"""Search pages: the search page, a note's page with similar notes, as-you-type suggestions and
"this is what I mean too" (the rules of who sees what are in hiljainen.search)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from flask import (
    Blueprint,
    abort,
    jsonify,
    make_response,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from hiljainen import resources
from hiljainen.errors import InvalidInput, ModelMismatch, ServiceUnavailable
from hiljainen.models import Observation, Role, Source, Theme, Touchpoint, Unit, User
from hiljainen.pipeline import fusion
from hiljainen.rules import PUBLIC_ROLES, SHOWN_TONES, SLUG_MAX, queryable
from hiljainen.search import sql
from hiljainen.search.engine import Item, Results, make_item
from hiljainen.search.query import LANGS, clean_query, parse_filters, parse_page, scope_author
from hiljainen.search.sql import Filters
from hiljainen.search.suggest import (
    SUGGEST_MAX_CHARS,
    SUGGEST_MIN_CHARS,
    Audience,
    public_audience,
    reporter_key,
    safe_to_suggest,
    staff_audience,
    suggestions,
)
from hiljainen.web import ratelimit
from hiljainen.web.auth import current_user, login_required

bp = Blueprint("search", __name__)

DRAFT_RATE_LIMIT = 600  # as-you-type lookups per address per hour on public forms
# ... and by all public visitors together: each lookup embeds the draft, and visitors from many
# networks could otherwise keep both cores busy. Beyond it the forms work without suggestions.
DRAFT_SERVICE_LIMIT = 6_000

VOICE_RATE_LIMIT = 30  # "me too" per address per hour on public forms
# ... and by all visitors together: each voice counts as one more reporter in the signals, and
# visitors from many networks (an IPv6 /48 holds 65,536 /64s) could otherwise make a strong one.
VOICE_FORM_LIMIT = 300  # per public form per hour
VOICE_SERVICE_LIMIT = 3_000  # for all public forms together per hour
VOICE_WINDOW = 24 * 3600  # seconds: one "me too" per note per address (any browser) in this window


def _audience_for_request(db: Session, body: Mapping[str, Any]) -> tuple[Audience, Touchpoint | None]:
    """The public form's audience if a touchpoint is named, else the logged-in staff writer's."""
    slug = body.get("touchpoint")
    if isinstance(slug, str) and slug:
        touchpoint = (
            db.scalar(
                select(Touchpoint).where(Touchpoint.slug == slug[:SLUG_MAX], Touchpoint.active.is_(True))
            )
            if queryable(slug)
            else None
        )
        if touchpoint is None:
            abort(404)
        return public_audience(touchpoint), touchpoint
    user = current_user()
    if user is None:
        abort(401)
    return staff_audience(user), None


def _body() -> dict[str, Any]:
    """The JSON or form body; a 400 in JSON, as /api/v1 answers, for a body that is not JSON
    (get_json(silent=True) lets the RecursionError of deeply nested arrays through as a 500)."""
    if not request.is_json:
        return request.form.to_dict()
    try:
        body = json.loads(request.get_data())
    except (ValueError, RecursionError):
        abort(make_response(jsonify(error=_("The request body is not valid JSON.")), 400))
    return body if isinstance(body, dict) else {}


@bp.app_context_processor
def _search_urls() -> dict[str, Any]:
    # Lets capture templates add the suggestion box only where this blueprint is registered.
    return {"similar_draft_url": url_for("search.similar_draft")}


@bp.get("/search")
@login_required(Role.STAFF)
def search() -> Any:
    """The search page: free text by meaning and keywords, filters, highlights, pages."""
    db = resources.session()
    user = current_user()
    args = request.args
    results: Results | None = None
    error = None
    status = 200
    if "q" in args:
        try:
            q = clean_query(args.get("q"))
            # The form's note-language filter is "note_lang": "lang" picks the interface language.
            filters = parse_filters({**args.to_dict(), "lang": args.get("note_lang", "")}, db, user)
            results = resources.get().search().run_search(db, q, filters, parse_page(args.get("page")))
        except InvalidInput as exc:
            error, status = str(exc), 400
        except (ServiceUnavailable, ModelMismatch) as exc:
            error, status = _("Search is not available right now: %(reason)s", reason=str(exc)), 503
    return render_template(
        "search/index.html",
        args=args,
        results=results,
        error=error,
        page_url=_page_url,
        **_filter_choices(db, scope_author(user)),
        own_only=scope_author(user) is not None,
    ), status


def _page_url(page: int) -> str:
    # url_for's own options (_external, _scheme...) never come from the query string.
    args: dict[str, Any] = {
        k: v for k, v in request.args.items() if v and k not in ("page", "endpoint") and not k.startswith("_")
    }
    return url_for("search.search", **args, page=page)


def _filter_choices(db: Session, author_id: int | None = None) -> dict[str, Any]:
    themes = select(Theme).where(Theme.active.is_(True)).order_by(Theme.label)
    if author_id is not None:
        # Staff search their own notes: the filter offers the themes of those notes, not every
        # theme's label (a label can say what colleagues wrote about).
        own = select(Observation.theme_id).where(Observation.author_id == author_id)
        themes = themes.where(Theme.id.in_(own))
    return {
        "units": db.scalars(select(Unit).order_by(Unit.name_fi)).all(),
        "touchpoints": db.scalars(select(Touchpoint).order_by(Touchpoint.name_fi)).all(),
        "themes": db.scalars(themes).all(),
        "sources": list(Source),
        "langs": LANGS,
        "tones": SHOWN_TONES,
    }


@bp.get("/notes/<public_id>")
@login_required(Role.STAFF)
def note_detail(public_id: str) -> Any:
    """One note with its similar notes, "me too" count and linked duplicates."""
    db = resources.session()
    user = current_user()
    note = _visible_note(db, public_id, user)
    similar: list[Item] = []
    similar_error = None
    if note.processed_at is None:
        similar_error = _("Similar notes appear once the note has been analysed.")
    else:
        try:
            similar = resources.get().search().similar_notes(db, note, Filters(author_id=scope_author(user)))
        except (ServiceUnavailable, ModelMismatch) as exc:
            similar_error = _("Search is not available right now: %(reason)s", reason=str(exc))
    return render_template(
        "search/note.html",
        note=note,
        item=make_item(note, width=len(note.text) + 1),
        similar=similar,
        similar_error=similar_error,
        voices=sql.voice_counts(db, [note.id]).get(note.id, 0),
        duplicates=sorted(sql.public_ids(db, sql.duplicates_of(db, note.id)).values()),
        original=db.get(Observation, note.duplicate_of_id) if note.duplicate_of_id else None,
        theme=db.get(Theme, note.theme_id) if note.theme_id else None,
    )


def _visible_note(db: Session, public_id: str, user: User | None) -> Observation:
    note = sql.by_public_id(db, public_id)
    author = scope_author(user)
    # 404, not 403, for another writer's note: its existence is not the viewer's business.
    if note is None or (author is not None and note.author_id != author):
        abort(404)
    return note


@bp.post("/search/similar-draft")
def similar_draft() -> Any:
    """As-you-type: the most similar recent notes to a draft, safe to show to its writer (JSON)."""
    db = resources.session()
    body = _body()
    audience, touchpoint = _audience_for_request(db, body)
    text = body.get("text")
    if not isinstance(text, str) or not queryable(text):  # JSON may carry lone surrogates
        return jsonify(error=_("Send the draft as text."), items=[]), 400
    text = " ".join(text.split())[:SUGGEST_MAX_CHARS]  # only the draft's start is compared
    if len(text) < SUGGEST_MIN_CHARS or not fusion.words(text):
        return jsonify(items=[])
    if touchpoint is not None and not (
        ratelimit.allow("draft", DRAFT_RATE_LIMIT)
        and ratelimit.allow("draft", DRAFT_SERVICE_LIMIT, everyone=True)
    ):
        return jsonify(items=[])  # suggestions are a help, not a right: quietly none
    try:
        items = suggestions(db, text, audience)
    except (ServiceUnavailable, ModelMismatch):
        return jsonify(items=[])  # writing must work while search is down
    return jsonify(
        items=[
            {
                "id": it.note.public_id,
                "text": _joined(it),
                "day": it.note.day.isoformat(),
                "voices": it.voices,
                "me_too_url": url_for("search.me_too", public_id=it.note.public_id),
            }
            for it in items
        ]
    )


def _joined(item: Item) -> str:
    text = "".join(part for part, _hit in item.parts)
    return ("… " if item.clipped[0] else "") + text + (" …" if item.clipped[1] else "")


@bp.post("/notes/<public_id>/me-too")
def me_too(public_id: str) -> Any:
    """Join an existing note ("this is what I mean too"): one more independent reporter (JSON)."""
    db = resources.session()
    body = _body()
    audience, touchpoint = _audience_for_request(db, body)
    user = current_user() if touchpoint is None else None
    note = sql.by_public_id(db, public_id)
    today = resources.get().settings.today()
    if note is None or not safe_to_suggest(note, audience, today):
        return jsonify(error=_("This note cannot be joined."), added=False), 404
    if touchpoint is not None:
        if not ratelimit.allow_public("voice", VOICE_RATE_LIMIT, budget="voice", per_form=VOICE_FORM_LIMIT,
                                      for_service=VOICE_SERVICE_LIMIT, form=touchpoint.id):
            return jsonify(
                error=_(
                    "Many notes have come from this connection in the last hour. "
                    "Please try again a little later."
                ),
                added=False,
            ), 429
        # The note's id with a digest of its text: an id alone could name another note in another database.
        subject = f"{note.id}:{hashlib.sha256(note.text.encode('utf-8', 'replace')).hexdigest()[:12]}"
        if not ratelimit.first_from_address("voice", subject, VOICE_WINDOW):
            # Another browser session from the same address joined this note lately: one voice.
            return jsonify(
                added=False,
                message=_("You have already said this about this note."),
                voices=sql.voice_counts(db, [note.id]).get(note.id, 0),
            )
        role = body.get("role")
        roles = {s.value: s for s in PUBLIC_ROLES}
        source = roles[role] if isinstance(role, str) and role in roles else Source.CUSTOMER
        unit_id = touchpoint.unit_id
    else:
        assert user is not None
        source, unit_id = Source.STAFF, user.unit_id
    added = sql.add_voice(db, note.id, reporter_key(user), source, unit_id, today)
    db.commit()
    message = (
        _("Thank you: your voice was added to this note. You can still send your own note.")
        if added
        else _("You have already said this about this note.")
    )
    return jsonify(added=added, message=message, voices=sql.voice_counts(db, [note.id]).get(note.id, 0))
