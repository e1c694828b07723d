"""/api/v1 search: notes by meaning and keywords, and a note's similar notes."""

from __future__ import annotations

from typing import Any

from flask import (
    jsonify,
    request,
)
from flask_babel import gettext as _

from hiljainen import resources
from hiljainen.errors import InvalidInput
from hiljainen.note_json import note_json
from hiljainen.pipeline.tone import shown_tone
from hiljainen.rules import digits
from hiljainen.search import engine
from hiljainen.search.engine import SIMILAR_K, Item
from hiljainen.search.query import clean_query, parse_filters, parse_page
from hiljainen.search.sql import Filters
from hiljainen.web.api import bp, token_required
from hiljainen.web.api.observations import note_or_404


@bp.get("/search")
@token_required("observations:read")
def search() -> Any:
    """Search notes (JSON): q, from, to, unit, touchpoint, source, lang, theme, tone, page."""
    db = resources.session()
    args = request.args
    q = clean_query(args.get("q"))
    filters = parse_filters(args, db, None)
    results = resources.get().search().run_search(db, q, filters, parse_page(args.get("page")))
    return jsonify(
        items=[_api_item(it) for it in results.items],
        total=results.total,
        page=results.page,
        pages=results.pages,
        page_size=engine.PAGE_SIZE,
        message=results.message,
    )


@bp.get("/observations/<public_id>/similar")
@token_required("observations:read")
def similar(public_id: str) -> Any:
    """The notes most similar in meaning to one note (k from 1 to 50, default 5)."""
    db = resources.session()
    note = note_or_404(public_id)
    raw = request.args.get("k", str(SIMILAR_K))
    if not digits(raw, 2) or not 1 <= int(raw) <= 50:
        raise InvalidInput(_("k must be a whole number from 1 to 50."))
    if note.processed_at is None:
        return jsonify(items=[], message=_("Similar notes appear once the note has been analysed."))
    items = resources.get().search().similar_notes(db, note, Filters(), int(raw))
    return jsonify(items=[_api_item(it) for it in items])


def _api_item(item: Item) -> dict[str, Any]:
    n = item.note
    return {
        **note_json(n),
        "lang": n.lang,
        "tone": shown_tone(n.tone, n.tone_confidence),  # as the tone filter and the pages read it
        "theme_id": n.theme_id,
        "voices": item.voices,
        "score": round(item.score, 6),
        "ranks": item.ranks,
        "similarity": None if item.similarity is None else round(item.similarity, 4),
        "highlights": [list(s) for s in item.highlights],
    }
