"""Similarity search: the search page, a note's page with similar notes, as-you-type suggestions
with "this is what I mean too", and the JSON search API.

Who sees what:
- Leaders and admins search all notes; staff search their own signed notes only (the same notes
  "My notes" lists). The same rule holds for a note's page and its similar notes.
- Suggestions under a note form show notes by the same kind of writer only: the staff form shows
  colleagues' staff notes of the writer's unit, a touchpoint's public form shows customers',
  relatives' and partners' notes of the touchpoint's unit. A note is shown only when its writer
  chose to let others see it (`shareable`; ticked by default on the staff form, unticked on the
  public one) and it is safe to show: processed, written in the last SUGGEST_DAYS days, not a
  duplicate, and nothing was redacted from it (a note that held personal data is never shown to
  another writer, even with the data replaced by markers). No author, contact or unit details
  are shown with it.
- Notes linked as duplicates are left out of search results and suggestions; their original
  lists them on its page.

How a search runs: the query is lemmatised (Finnish and English spaCy pipelines) into keyword
terms and embedded; the meaning side asks the vector index with the language direction removed
from the query vector (so a Finnish query also finds English notes), the keyword side asks an
in-memory BM25 index of note lemmas kept current from SQL; filters are applied in SQL (and by the
vector index when that is cheaper, see semantic_hits); the two rankings are merged by
reciprocal-rank fusion (`hiljainen.pipeline.fusion`) and matching words are highlighted.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import math
import secrets
import threading
import time
import unicodedata
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from flask import (
    Blueprint,
    abort,
    current_app,
    jsonify,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from hiljainen import resources
from hiljainen.errors import InvalidInput, ModelMismatch, ServiceUnavailable
from hiljainen.models import Observation, Role, Source, Theme, Touchpoint, Unit, User
from hiljainen.pipeline import fusion
from hiljainen.pipeline.fusion import LemmaIndex, QueryToken, TermGroup
from hiljainen.search import sql
from hiljainen.search.sql import Filters
from hiljainen.stores.vectors import Hit, VectorStore
from hiljainen.web import ratelimit
from hiljainen.web.api import ApiError, token_required
from hiljainen.web.auth import RANK, current_user, login_required
from hiljainen.web.inputs import MAX_ID, queryable

if TYPE_CHECKING:
    from hiljainen.pipeline.embed import Embedder

bp = Blueprint("search", __name__)
# JSON API under /api/v1 with the API blueprint's bearer-token check (GET only: no CSRF concern).
api_bp = Blueprint("search_api", __name__, url_prefix="/api/v1")

MAX_QUERY_CHARS = 500  # a few words or a sentence; longer text is a note, not a query
PAGE_SIZE = 20
MAX_RESULTS = 200  # 10 pages; filters narrow further
SEMANTIC_CANDIDATES = 150
KEYWORD_CANDIDATES = 150
# Retrieval plan by how many notes the filters let through (see semantic_hits).
EXACT_MAX = 300  # fetching a stored vector costs ~0.06 ms
WHERE_MAX = 3000
MAX_ANN_K = 1000  # ~10 ms at 100k notes; a 10% filter keeps ~100 of them
MIN_ANN_K = 50  # Chroma's HNSW looks at max(ef_search, k) candidates: a larger k keeps recall up
SIMILAR_K = 5
SUGGEST_K = 3
SUGGEST_DAYS = 90
SUGGEST_MIN_CHARS = 15
SUGGEST_MAX_CHARS = 1000  # only the start of a long draft is compared (the model reads 512 tokens)
# Cosine floor for suggestions, tuned for multilingual-e5-small on the Turku paraphrase pairs
# (bench/search_quality.py): 96% of paraphrase pairs are above it. Other embedders need their own.
SUGGEST_MIN_SIMILARITY = 0.92
# Query-to-note cosines (language direction removed) of a match by meaning. Every query has 150
# nearest notes, so without a floor nonsense found 150 "results": a query means something when its
# nearest note reaches SEARCH_MIN_SIMILARITY (the best relevant note of each of 30 written queries
# on the demo organisation does, the nearest note of no nonsense query does), and then every note
# from SEARCH_KEEP_SIMILARITY on is listed, best first. Notes in the other language sit lower:
# 0.82 alone listed 23 % of the relevant ones (and 43 % in the query's language), 0.81 lists 36 %
# (61 %) with 10 % of unrelated notes instead of 4 %; 0.80 would list 54 % (75 %) with 20 %
# (bench/search_floor.py, bench/results/search.md). Notes sharing a query word are found by the
# keyword side anyway.
SEARCH_MIN_SIMILARITY = 0.82
SEARCH_KEEP_SIMILARITY = 0.81
KEYWORD_REBUILD_SECONDS = 6 * 3600  # drops deleted notes from the in-memory keyword index
KEYWORD_OVERLAP = dt.timedelta(minutes=2)
KEYWORD_OVERLAP_EVERY = 60.0  # seconds
PUBLIC_ROLES = (Source.CUSTOMER, Source.RELATIVE, Source.PARTNER)
LANGS = ("fi", "en", "und")
TONES = ("positive", "negative", "neutral")  # as hiljainen.pipeline.tone.CLASSES
DRAFT_RATE_LIMIT = 600  # as-you-type lookups per address per hour on public forms
VOICE_RATE_LIMIT = 30  # "me too" per address per hour on public forms

_DIRECTIONS: dict[str, np.ndarray] = {}  # embedder model id -> Finnish-English direction
_DIRECTION_LOCK = threading.Lock()
_QUERY_VECTORS: dict[tuple[str, str], np.ndarray] = {}  # insertion-ordered: oldest first
QUERY_CACHE = 256
# Query embeddings run here while the request thread lemmatises and searches keywords: torch
# computes without the GIL, so the two overlap on a second core.
_EMBEDDING = ThreadPoolExecutor(2, thread_name_prefix="query-embed")


# --------------------------------------------------------------------------- results


@dataclass
class Item:
    """One note in a result list, with its highlighted text cut into segments."""

    note: Observation
    parts: list[tuple[str, bool]]
    highlights: list[tuple[int, int]] = field(default_factory=list)
    score: float = 0.0
    ranks: dict[str, int] = field(default_factory=dict)
    similarity: float | None = None
    voices: int = 0
    clipped: tuple[bool, bool] = (False, False)  # text cut before / after the window


@dataclass
class Results:
    """A page of search results."""

    items: list[Item]
    total: int
    page: int
    pages: int
    message: str | None = None


# --------------------------------------------------------------------------- query checks


def clean_query(raw: str | None) -> str:
    """The query normalised, or InvalidInput saying what to change."""
    text = unicodedata.normalize("NFC", raw or "")
    # Pasted text brings tabs, newlines and control characters: they are only separators here.
    text = " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
    if not text:
        raise InvalidInput(_("Type a word or a sentence to search for."))
    if len(text) > MAX_QUERY_CHARS:
        raise InvalidInput(
            _(
                "The search text is %(n)d characters; the limit is %(max)d. "
                "A few words or one sentence works best.",
                n=len(text),
                max=MAX_QUERY_CHARS,
            )
        )
    return text


def query_tokens(text: str, lock: Any) -> list[list[QueryToken]]:
    """The query's tokens from the Finnish and the English pipeline (tagger and lemmatiser only)."""
    from hiljainen.pipeline.linguistics import load_nlp

    analyses: list[list[QueryToken]] = []
    with lock:
        for lang in ("fi", "en"):
            nlp = load_nlp(lang)
            # The parser and NER add nothing to lemmas and stop words and take half the time.
            doc = nlp(text, disable=[n for n in ("parser", "ner") if n in nlp.pipe_names])
            analyses.append([QueryToken(t.idx, t.text, t.lemma_, t.pos_, bool(t.is_stop)) for t in doc])
    return analyses


def check_words(text: str) -> None:
    """InvalidInput if the query has no words at all (only numbers or symbols)."""
    if not fusion.words(text):
        raise InvalidInput(_("Search with words: numbers and symbols alone cannot be searched for."))


def term_groups(text: str, analyses: list[list[QueryToken]]) -> list[TermGroup]:
    """Keyword term groups of a query; InvalidInput if it has only function words."""
    groups = fusion.query_terms(text, analyses)
    if not groups:
        raise InvalidInput(
            _(
                "The search has only very common words such as “and” or “the”. "
                "Add a word that says what you are looking for."
            )
        )
    return groups


def analyse_query(text: str) -> list[TermGroup]:
    """Keyword term groups of a query; InvalidInput if it has no words or only function words."""
    check_words(text)
    return term_groups(text, query_tokens(text, resources.get().nlp_lock))


# --------------------------------------------------------------------------- filters


def parse_filters(args: Mapping[str, str], db: Session, user: User | None) -> Filters:
    """Filters from request arguments (empty = not used); InvalidInput for a bad value."""

    def arg(name: str) -> str | None:
        value = (args.get(name) or "").strip()
        return value or None

    since, until = _date(arg("from"), "from"), _date(arg("to"), "to")
    if since and until and since > until:
        raise InvalidInput(_("The start date is after the end date."))
    unit_id = touchpoint_id = theme_id = None
    if slug := arg("unit"):
        unit_id = db.scalar(select(Unit.id).where(Unit.slug == slug[:60]))
        if unit_id is None:
            raise InvalidInput(_("Unknown unit: %(slug)s", slug=slug[:60]))
    if slug := arg("touchpoint"):
        touchpoint_id = db.scalar(select(Touchpoint.id).where(Touchpoint.slug == slug[:60]))
        if touchpoint_id is None:
            raise InvalidInput(_("Unknown touchpoint: %(slug)s", slug=slug[:60]))
    source = None
    if value := arg("source"):
        if value not in {s.value for s in Source}:
            raise InvalidInput(_("Unknown writer role: %(value)s", value=value[:40]))
        source = Source(value)
    lang = arg("lang")
    if lang is not None and lang not in LANGS:
        raise InvalidInput(_("Unknown language: %(value)s", value=lang[:40]))
    tone = arg("tone")
    if tone is not None and tone not in TONES:
        raise InvalidInput(_("Unknown tone: %(value)s", value=tone[:40]))
    if value := arg("theme"):
        theme_id = int(value) if value.isascii() and value.isdigit() and len(value) <= 10 else None
        theme_id = theme_id if theme_id is not None and theme_id <= MAX_ID else None
        if theme_id is None or db.get(Theme, theme_id) is None:
            raise InvalidInput(_("No theme has the id %(id)s.", id=value[:40]))
    return Filters(
        since=since,
        until=until,
        unit_id=unit_id,
        touchpoint_id=touchpoint_id,
        source=source,
        lang=lang,
        theme_id=theme_id,
        tone=tone,
        author_id=scope_author(user),
    )


def scope_author(user: User | None) -> int | None:
    """Staff see their own signed notes only (None: no author restriction)."""
    if user is not None and RANK[user.role] < RANK[Role.LEADER]:
        return user.id
    return None


def parse_page(raw: str | None) -> int:
    """The page number (1 when not given); InvalidInput if not a whole number from 1 on."""
    if raw is None or raw == "":
        return 1
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 6 or int(raw) < 1:
        raise InvalidInput(_("The page must be a whole number from 1 on."))
    return int(raw)


def _date(value: str | None, name: str) -> dt.date | None:
    if value is None:
        return None
    try:
        if len(value) == 10 and value.isascii():
            return dt.date.fromisoformat(value)
    except ValueError:
        pass
    if name == "from":
        raise InvalidInput(_("The start date must be a date like 2026-03-31."))
    raise InvalidInput(_("The end date must be a date like 2026-03-31."))


def vector_where(f: Filters, *extra: dict[str, Any]) -> dict[str, Any] | None:
    """The Chroma metadata filter for the filters the vector index knows (see workers.jobs)."""
    conds: list[dict[str, Any]] = list(extra)
    if f.unit_id is not None:
        conds.append({"unit": f.unit_id})
    if f.touchpoint_id is not None:
        conds.append({"touchpoint": f.touchpoint_id})
    if f.source is not None:
        conds.append({"source": f.source.value})
    if f.lang is not None:
        conds.append({"lang": f.lang})
    if f.since is not None:
        conds.append({"day": {"$gte": int(f.since.strftime("%Y%m%d"))}})
    if f.until is not None:
        conds.append({"day": {"$lte": int(f.until.strftime("%Y%m%d"))}})
    if not conds:
        return None
    return conds[0] if len(conds) == 1 else {"$and": conds}


# --------------------------------------------------------------------------- retrieval


def vector_store() -> VectorStore:
    """The app's note vectors; opened on first use and retried on the next call if Chroma was down."""
    return resources.get().vectors()


def language_direction(embedder: Embedder) -> np.ndarray:
    """The Finnish-English direction of this embedder (fusion.LANGUAGE_REFERENCE)."""
    with _DIRECTION_LOCK:
        if embedder.model_id not in _DIRECTIONS:
            pairs = fusion.LANGUAGE_REFERENCE
            _DIRECTIONS[embedder.model_id] = fusion.language_direction(
                embedder.embed([p[0] for p in pairs], kind="passage"),
                embedder.embed([p[1] for p in pairs], kind="passage"),
            )
        return _DIRECTIONS[embedder.model_id]


def semantic_hits(
    db: Session, store: VectorStore, vector: np.ndarray, f: Filters, n: int, matching: int | None = None
) -> list[Hit]:
    """The n searchable notes nearest in meaning under the filters, with the language direction
    removed from the query (see fusion). `matching` is how many notes the filters let through.

    Chroma's metadata filter costs time in proportion to the notes it lets through (a 10% unit
    filter took 62 ms at 100k notes, an unfiltered query 4 ms), so the plan depends on that count:
    small sets are searched exactly, middling ones with Chroma's filter, large ones by filtering
    an unfiltered neighbour list in SQL.
    """
    q = fusion.without_language(vector, language_direction(resources.get().embedder()))
    if not f.any:
        hits = store.query(q, max(n, MIN_ANN_K))
    else:
        if matching is None:
            matching = sql.count_matching(db, f, cap=WHERE_MAX + 1)
        if matching <= EXACT_MAX:
            return exact_hits(store, q, sql.matching_ids(db, f, EXACT_MAX), n)
        if not f.sql_only and matching <= WHERE_MAX:
            hits = store.query(q, max(n, MIN_ANN_K), where=vector_where(f))
        else:
            hits = store.query(q, MAX_ANN_K)
    # Duplicates and (for large filtered sets) the filters are checked in SQL.
    ok = set(sql.keep_matching(db, [h.id for h in hits], f))
    return [h for h in hits if h.id in ok][:n]


def meaningful(hits: list[Hit]) -> list[Hit]:
    """The hits that count as matches by meaning: none unless the best clears the query floor."""
    if not hits or max(h.similarity for h in hits) < SEARCH_MIN_SIMILARITY:
        return []
    return [h for h in hits if h.similarity >= min(SEARCH_KEEP_SIMILARITY, SEARCH_MIN_SIMILARITY)]


def query_vector(embedder: Embedder, q: str) -> np.ndarray:
    """The query's embedding; the last few are kept, so paging through results embeds once."""
    key = (embedder.model_id, q)
    with _DIRECTION_LOCK:
        vector = _QUERY_VECTORS.get(key)
    if vector is None:
        vector = embedder.embed([q], kind="query")[0]
        with _DIRECTION_LOCK:
            _QUERY_VECTORS[key] = vector
            while len(_QUERY_VECTORS) > QUERY_CACHE:
                _QUERY_VECTORS.pop(next(iter(_QUERY_VECTORS)))
    return vector


def exact_hits(store: VectorStore, vector: np.ndarray, ids: Sequence[int], n: int) -> list[Hit]:
    """Brute-force cosine over the stored vectors of these notes."""
    found = store.vectors(list(ids)) if ids else {}
    if not found:
        return []
    keys = list(found)
    sims = np.stack([found[i] for i in keys]) @ np.asarray(vector, dtype=np.float32)
    order = np.argsort(-sims, kind="stable")[:n]
    return [Hit(keys[int(i)], float(sims[i])) for i in order]


@dataclass
class _KeywordState:
    index: LemmaIndex
    last: dt.datetime | None
    built: float
    overlap_read: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


def keyword_index(db: Session) -> tuple[LemmaIndex, threading.Lock]:
    """This process's lemma index, brought up to date with notes processed since the last call.

    Kept in memory because a LIKE scan over 100k lemma lists costs ~50 ms per term in SQLite;
    each call reads only rows processed since the previous one (processed_at is indexed).
    """
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    state: _KeywordState | None = app.extensions.get("hiljainen.search")
    if state is None:
        state = app.extensions.setdefault(
            "hiljainen.search", _KeywordState(LemmaIndex(), None, time.monotonic())
        )
    with state.lock:
        if state.index.stale or time.monotonic() - state.built > KEYWORD_REBUILD_SECONDS:
            state.index, state.last, state.built = LemmaIndex(), None, time.monotonic()
        # Two workers' transactions may commit out of processed_at order, so now and then the
        # last minutes are read again (re-adding a known note is a no-op); otherwise only newer rows.
        since, strict = state.last, True
        if since is not None and time.monotonic() - state.overlap_read > KEYWORD_OVERLAP_EVERY:
            since, strict, state.overlap_read = since - KEYWORD_OVERLAP, False, time.monotonic()
        for note_id, lemmas, processed in sql.lemma_rows(db, since=since, strict=strict):
            state.index.add(note_id, lemmas)
            state.last = processed if state.last is None else max(state.last, processed)
    return state.index, state.lock


def keyword_hits(
    db: Session, groups: Sequence[TermGroup], f: Filters, n: int
) -> tuple[list[fusion.KeywordHit], frozenset[str]]:
    """The n best BM25 matches among searchable notes under the filters, and the terms matched."""
    index, lock = keyword_index(db)
    with lock:
        ids, scores = index.ranked(groups)
        terms = index.matched_terms(groups)
    out: list[fusion.KeywordHit] = []
    start, chunk = 0, max(n * 2, 100)
    while start < len(ids) and len(out) < n:
        part = [int(i) for i in ids[start : start + chunk]]
        ok = set(sql.keep_matching(db, part, f))
        out.extend(fusion.KeywordHit(i, float(scores[start + j])) for j, i in enumerate(part) if i in ok)
        start += chunk
        chunk *= 4  # a selective filter with a common word: widen quickly
    return out[:n], terms


def run_search(db: Session, q: str, f: Filters, page: int = 1) -> Results:
    """Search notes by meaning and keywords under the filters; one page of fused results."""
    embedding = _EMBEDDING.submit(query_vector, resources.get().embedder(), q)
    groups = analyse_query(q)
    # Counting stops past WHERE_MAX: the plan only needs to know which side of it the count is.
    matching = sql.count_matching(db, f, cap=WHERE_MAX + 1) if f.any else None
    if matching == 0:
        return Results([], 0, 1, 0, _("No notes match these filters. Remove a filter or widen the dates."))
    kw, terms = keyword_hits(db, groups, f, KEYWORD_CANDIDATES)
    sem = semantic_hits(db, vector_store(), embedding.result(), f, SEMANTIC_CANDIDATES, matching)
    sem = meaningful(sem)
    fused = fusion.fuse({"semantic": [h.id for h in sem], "keyword": [h.id for h in kw]})
    by_id = {x.id: x for x in fused}
    ids = [x.id for x in fused][:MAX_RESULTS]  # both lists hold searchable, filtered notes only
    pages = max(1, math.ceil(len(ids) / PAGE_SIZE))
    if not ids:
        return Results([], 0, 1, 0, _("Nothing was found. Try other words or fewer filters."))
    if page > pages:
        raise InvalidInput(
            _("There is no page %(page)d: the results have %(pages)d pages.", page=page, pages=pages)
        )
    page_ids = ids[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    sims = {h.id: h.similarity for h in sem}
    prefixes = frozenset().union(*(g.prefixes for g in groups))
    voices = sql.voice_counts(db, page_ids)
    items = []
    for note in sql.load_notes(db, page_ids):
        item = make_item(note, terms, prefixes)
        item.score, item.ranks = by_id[note.id].score, by_id[note.id].ranks
        item.similarity, item.voices = sims.get(note.id), voices.get(note.id, 0)
        items.append(item)
    return Results(items, len(ids), page, pages)


def make_item(
    note: Observation,
    terms: frozenset[str] = frozenset(),
    prefixes: frozenset[str] = frozenset(),
    width: int = 320,
) -> Item:
    """A note with its matching words highlighted, cut to a window around the first match."""
    spans = fusion.highlight_spans(note.text, note.lemmas or [], terms, prefixes)
    start, end = fusion.snippet_window(note.text, spans, width)
    parts = fusion.segments(note.text, spans, (start, end))
    return Item(note, parts, spans, clipped=(start > 0, end < len(note.text)))


def similar_notes(db: Session, note: Observation, f: Filters, k: int = SIMILAR_K) -> list[Item]:
    """The k notes closest in meaning to a note, among what the filters allow (itself excluded)."""
    store = vector_store()
    vector = store.vectors([note.id]).get(note.id)
    if vector is None:
        return []
    skip = {note.id, *sql.duplicates_of(db, note.id)}
    hits = [h for h in semantic_hits(db, store, vector, f, k + len(skip) + 5) if h.id not in skip]
    ids = sql.keep_matching(db, [h.id for h in hits], f)[:k]
    sims = {h.id: h.similarity for h in hits}
    voices = sql.voice_counts(db, ids)
    items = []
    for other in sql.load_notes(db, ids):
        item = make_item(other, width=240)
        item.similarity, item.voices = sims[other.id], voices.get(other.id, 0)
        items.append(item)
    return items


# --------------------------------------------------------------------------- suggestions


@dataclass(frozen=True)
class Audience:
    """Who is writing a note, which decides which existing notes may be suggested to them."""

    sources: tuple[Source, ...]
    unit_id: int | None = None
    touchpoint_id: int | None = None
    user_id: int | None = None  # a staff writer's own notes are not suggested back to them

    def filters(self, today: dt.date) -> Filters:
        """The filters of the notes this audience may see (sources are checked separately)."""
        since = today - dt.timedelta(days=SUGGEST_DAYS)
        if self.unit_id is not None:
            return Filters(since=since, unit_id=self.unit_id)
        return Filters(since=since, touchpoint_id=self.touchpoint_id)


def staff_audience(user: User) -> Audience:
    """Staff: colleagues' staff notes of the writer's unit (all units if the writer has none)."""
    return Audience((Source.STAFF,), unit_id=user.unit_id, user_id=user.id)


def public_audience(touchpoint: Touchpoint) -> Audience:
    """A public form: customers', relatives' and partners' notes of the touchpoint's unit."""
    if touchpoint.unit_id is not None:
        return Audience(PUBLIC_ROLES, unit_id=touchpoint.unit_id)
    return Audience(PUBLIC_ROLES, touchpoint_id=touchpoint.id)


def safe_to_suggest(note: Observation, audience: Audience, today: dt.date) -> bool:
    """True when this note may be shown to this audience under a note form (module docstring)."""
    f = audience.filters(today)
    return (
        note.shareable
        and note.processed_at is not None
        and note.duplicate_of_id is None
        and not any((note.redactions or {}).values())
        and note.source in audience.sources
        and (audience.user_id is None or note.author_id != audience.user_id)
        and note.day >= f.since  # type: ignore[operator]
        and note.day <= today
        and (f.unit_id is None or note.unit_id == f.unit_id)
        and (f.touchpoint_id is None or note.touchpoint_id == f.touchpoint_id)
    )


def suggestions(db: Session, text: str, audience: Audience, k: int = SUGGEST_K) -> list[Item]:
    """Recent notes that may say what the draft says, safe to show to this audience."""
    res = resources.get()
    today = dt.date.today()
    vector = res.embedder().embed([text[:SUGGEST_MAX_CHARS]], kind="passage")[0]
    f = audience.filters(today)
    where = vector_where(f, {"source": {"$in": [s.value for s in audience.sources]}})
    hits = [
        h
        for h in vector_store().query(vector, MIN_ANN_K, where=where)
        if h.similarity >= SUGGEST_MIN_SIMILARITY
    ]
    notes = sql.load_notes(db, [h.id for h in hits])
    safe = [n for n in notes if safe_to_suggest(n, audience, today)][:k]
    sims = {h.id: h.similarity for h in hits}
    voices = sql.voice_counts(db, [n.id for n in safe])
    items = []
    for note in safe:
        item = make_item(note, width=280)
        item.similarity, item.voices = sims[note.id], voices.get(note.id, 0)
        items.append(item)
    return items


def reporter_key(user: User | None) -> str:
    """A stable key per reporter: a keyed hash of a user id, or a random per-browser id."""
    if user is not None:
        secret = str(current_app.secret_key).encode()
        return hmac.new(secret, f"user:{user.id}".encode(), hashlib.sha256).hexdigest()[:40]
    # Kept in the signed session cookie only; it links to no person and no address.
    if "reporter_key" not in session:
        session["reporter_key"] = "b:" + secrets.token_hex(16)
    return str(session["reporter_key"])


def _audience_for_request(db: Session, body: Mapping[str, Any]) -> tuple[Audience, Touchpoint | None]:
    """The public form's audience if a touchpoint is named, else the logged-in staff writer's."""
    slug = body.get("touchpoint")
    if isinstance(slug, str) and slug:
        touchpoint = (
            db.scalar(select(Touchpoint).where(Touchpoint.slug == slug[:60], Touchpoint.active.is_(True)))
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
    body = request.get_json(silent=True) if request.is_json else request.form.to_dict()
    return body if isinstance(body, dict) else {}


# --------------------------------------------------------------------------- pages


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
            results = run_search(db, q, filters, parse_page(args.get("page")))
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
        **_filter_choices(db),
        own_only=scope_author(user) is not None,
    ), status


def _page_url(page: int) -> str:
    # url_for's own options (_external, _scheme...) never come from the query string.
    args: dict[str, Any] = {
        k: v for k, v in request.args.items() if v and k != "page" and not k.startswith("_")
    }
    return url_for("search.search", **args, page=page)


def _filter_choices(db: Session) -> dict[str, Any]:
    return {
        "units": db.scalars(select(Unit).order_by(Unit.name_fi)).all(),
        "touchpoints": db.scalars(select(Touchpoint).order_by(Touchpoint.name_fi)).all(),
        "themes": db.scalars(select(Theme).where(Theme.active.is_(True)).order_by(Theme.label)).all(),
        "sources": list(Source),
        "langs": LANGS,
        "tones": TONES,
    }


@bp.get("/notes/<int:note_id>")
@login_required(Role.STAFF)
def note_detail(note_id: int) -> Any:
    """One note with its similar notes, "me too" count and linked duplicates."""
    db = resources.session()
    user = current_user()
    note = _visible_note(db, note_id, user)
    similar: list[Item] = []
    similar_error = None
    if note.processed_at is None:
        similar_error = _("Similar notes appear once the note has been analysed.")
    else:
        try:
            similar = similar_notes(db, note, Filters(author_id=scope_author(user)))
        except (ServiceUnavailable, ModelMismatch) as exc:
            similar_error = _("Search is not available right now: %(reason)s", reason=str(exc))
    return render_template(
        "search/note.html",
        note=note,
        item=make_item(note, width=len(note.text) + 1),
        similar=similar,
        similar_error=similar_error,
        voices=sql.voice_counts(db, [note.id]).get(note.id, 0),
        duplicates=sql.duplicates_of(db, note.id),
        theme=db.get(Theme, note.theme_id) if note.theme_id else None,
    )


def _visible_note(db: Session, note_id: int, user: User | None) -> Observation:
    note = db.get(Observation, note_id)
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
    text = " ".join(text.split())
    if len(text) < SUGGEST_MIN_CHARS or not fusion.words(text):
        return jsonify(items=[])
    if touchpoint is not None and not ratelimit.allow("draft", DRAFT_RATE_LIMIT):
        return jsonify(items=[])  # suggestions are a help, not a right: quietly none
    try:
        items = suggestions(db, text, audience)
    except (ServiceUnavailable, ModelMismatch):
        return jsonify(items=[])  # writing must work while search is down
    return jsonify(
        items=[
            {
                "id": it.note.id,
                "text": _joined(it),
                "day": it.note.day.isoformat(),
                "voices": it.voices,
                "me_too_url": url_for("search.me_too", note_id=it.note.id),
            }
            for it in items
        ]
    )


def _joined(item: Item) -> str:
    text = "".join(part for part, _hit in item.parts)
    return ("… " if item.clipped[0] else "") + text + (" …" if item.clipped[1] else "")


@bp.post("/notes/<int:note_id>/me-too")
def me_too(note_id: int) -> Any:
    """Join an existing note ("this is what I mean too"): one more independent reporter (JSON)."""
    db = resources.session()
    body = _body()
    audience, touchpoint = _audience_for_request(db, body)
    user = current_user() if touchpoint is None else None
    note = db.get(Observation, note_id)
    today = dt.date.today()
    if note is None or not safe_to_suggest(note, audience, today):
        return jsonify(error=_("This note cannot be joined."), added=False), 404
    if touchpoint is not None:
        if not ratelimit.allow("voice", VOICE_RATE_LIMIT):
            return jsonify(
                error=_(
                    "Many notes have come from this connection in the last hour. "
                    "Please try again a little later."
                ),
                added=False,
            ), 429
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


# --------------------------------------------------------------------------- JSON API


@api_bp.errorhandler(ApiError)
def _api_error(exc: ApiError) -> Any:
    return jsonify(error=str(exc)), exc.status, exc.headers


@api_bp.errorhandler(InvalidInput)
def _api_invalid(exc: InvalidInput) -> Any:
    return jsonify(error=str(exc)), 400


@api_bp.errorhandler(ServiceUnavailable)
@api_bp.errorhandler(ModelMismatch)
def _api_unavailable(exc: Exception) -> Any:
    return jsonify(error=str(exc)), 503


@api_bp.get("/search")
@token_required("observations:read")
def api_search() -> Any:
    """Search notes (JSON): q, from, to, unit, touchpoint, source, lang, theme, tone, page."""
    db = resources.session()
    args = request.args
    q = clean_query(args.get("q"))
    results = run_search(db, q, parse_filters(args, db, None), parse_page(args.get("page")))
    return jsonify(
        items=[_api_item(it) for it in results.items],
        total=results.total,
        page=results.page,
        pages=results.pages,
        page_size=PAGE_SIZE,
        message=results.message,
    )


@api_bp.get("/observations/<int:note_id>/similar")
@token_required("observations:read")
def api_similar(note_id: int) -> Any:
    """The notes most similar in meaning to one note (k from 1 to 50, default 5)."""
    db = resources.session()
    note = db.get(Observation, note_id)
    if note is None:
        return jsonify(error=_("No note has the id %(id)s.", id=note_id)), 404
    raw = request.args.get("k", str(SIMILAR_K))
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 2 or not 1 <= int(raw) <= 50:
        raise InvalidInput(_("k must be a whole number from 1 to 50."))
    if note.processed_at is None:
        return jsonify(items=[], message=_("Similar notes appear once the note has been analysed."))
    return jsonify(items=[_api_item(it) for it in similar_notes(db, note, Filters(), int(raw))])


def _api_item(item: Item) -> dict[str, Any]:
    n = item.note
    return {
        "id": n.id,
        "text": n.text,
        "source": n.source.value,
        "unit": n.unit.slug if n.unit else None,
        "touchpoint": n.touchpoint.slug if n.touchpoint else None,
        "day": n.day.isoformat(),
        "lang": n.lang,
        "tone": n.tone,
        "theme_id": n.theme_id,
        "status": n.status.value,
        "voices": item.voices,
        "score": round(item.score, 6),
        "ranks": item.ranks,
        "similarity": None if item.similarity is None else round(item.similarity, 4),
        "highlights": [list(s) for s in item.highlights],
    }
