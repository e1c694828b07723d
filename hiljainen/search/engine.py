"""The retrieval engine: meaning (vector index) and keywords (BM25 over lemmas), fused by rank.

How a search runs is told in the package docstring (hiljainen.search)."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from hiljainen.errors import InvalidInput
from hiljainen.models import Observation
from hiljainen.pipeline import centres, fusion
from hiljainen.search import sql
from hiljainen.search.keywords import KeywordIndex
from hiljainen.search.query import analyse_query, vector_where
from hiljainen.search.sql import Filters
from hiljainen.stores.vectors import Hit, VectorStore

if TYPE_CHECKING:
    from hiljainen.pipeline.embed import Embedder

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

# Similar notes are ranked with each language's centre taken out (hiljainen.pipeline.centres):
# the vector index, which holds the vectors as the encoder gives them, proposes this many and
# they are re-ranked (on the corpus's test and development notes the 5 nearest by centred cosine
# are all among the index's 100 nearest for 99.5-99.8 % of notes, the nearest for every note).
SIMILAR_CANDIDATES = 100

# Query-to-note cosines (language direction removed) of a match by meaning. Every query has 150
# nearest notes, so without a floor nonsense found 150 "results": a query means something when its
# nearest note reaches SEARCH_MIN_SIMILARITY (the nearest note of no nonsense query does; the best
# relevant note of 29 of 30 written queries on the demo organisation does), and then every note
# from SEARCH_KEEP_SIMILARITY on is listed, best first: 61 % of the relevant notes in the query's
# language and 66 % in the other, with 9 % of unrelated notes (0.445 would list 66 % / 72 % with
# 14 %; bench/search_floor.py, bench/results/search.md, measured with the taught encoder, the
# same rule that chose 0.82 / 0.81 for the untaught model). Notes sharing a query word are found
# by the keyword side anyway.
SEARCH_MIN_SIMILARITY = 0.525

SEARCH_KEEP_SIMILARITY = 0.465

QUERY_CACHE = 256  # query embeddings kept per process, so paging through results embeds once


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


class SearchEngine:
    """The retrieval engine of one process (held by its Runtime): it keeps what searches share,
    the keyword index, each embedder's language direction and the last query embeddings.

    `embedder` and `vectors` are called on each use (the runtime's own methods: loaded once, and
    the vector store reopened after Chroma was down)."""

    def __init__(self, embedder: Callable[[], Embedder], vectors: Callable[[], VectorStore]) -> None:
        self._embedder = embedder
        self._vectors = vectors
        self._lock = threading.Lock()
        self._directions: dict[str, np.ndarray] = {}  # embedder model id -> Finnish-English direction
        self._query_vectors: dict[tuple[str, str], np.ndarray] = {}  # insertion-ordered: oldest first
        self.keywords = KeywordIndex()
        # Query embeddings run here while the request thread lemmatises and searches keywords:
        # torch computes without the GIL, so the two overlap on a second core.
        self._embedding = ThreadPoolExecutor(2, thread_name_prefix="query-embed")

    def forget_keywords(self) -> None:
        """Rebuild the keyword index on the next search (notes were erased)."""
        self.keywords = KeywordIndex()

    def forget_queries(self) -> None:
        """Drop the kept query embeddings (a benchmark measures every query as new)."""
        with self._lock:
            self._query_vectors.clear()

    def language_direction(self, embedder: Embedder) -> np.ndarray:
        """The Finnish-English direction of this embedder, computed once."""
        with self._lock:
            if embedder.model_id not in self._directions:
                self._directions[embedder.model_id] = language_direction(embedder)
            return self._directions[embedder.model_id]

    def query_vector(self, embedder: Embedder, q: str) -> np.ndarray:
        """The query's embedding; the last few are kept, so paging through results embeds once."""
        key = (embedder.model_id, q)
        with self._lock:
            vector = self._query_vectors.get(key)
        if vector is None:
            vector = embedder.embed([q], kind="query")[0]
            with self._lock:
                self._query_vectors[key] = vector
                while len(self._query_vectors) > QUERY_CACHE:
                    self._query_vectors.pop(next(iter(self._query_vectors)))
        return vector

    def semantic_hits(
        self,
        db: Session,
        store: VectorStore,
        vector: np.ndarray,
        f: Filters,
        n: int,
        matching: int | None = None,
    ) -> list[Hit]:
        """The n searchable notes nearest in meaning under the filters, with the language direction
        removed from the query (see fusion). `matching` is how many notes the filters let through.

        Chroma's metadata filter costs time in proportion to the notes it lets through (a 10% unit
        filter took 62 ms at 100k notes, an unfiltered query 4 ms), so the plan depends on that
        count: small sets are searched exactly, middling ones with Chroma's filter, large ones by
        filtering an unfiltered neighbour list in SQL.
        """
        q = fusion.without_language(vector, self.language_direction(self._embedder()))
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

    def run_search(self, db: Session, q: str, f: Filters, page: int = 1) -> Results:
        """Search notes by meaning and keywords under the filters; one page of fused results."""
        embedding = self._embedding.submit(self.query_vector, self._embedder(), q)
        groups = analyse_query(q)
        # Counting stops past WHERE_MAX: the plan only needs to know which side of it the count is.
        matching = sql.count_matching(db, f, cap=WHERE_MAX + 1) if f.any else None
        if matching == 0:
            message = _("No notes match these filters. Remove a filter or widen the dates.")
            return Results([], 0, 1, 0, message)
        kw, terms = self.keywords.hits(db, groups, f, KEYWORD_CANDIDATES)
        sem = self.semantic_hits(db, self._vectors(), embedding.result(), f, SEMANTIC_CANDIDATES, matching)
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

    def similar_notes(self, db: Session, note: Observation, f: Filters, k: int = SIMILAR_K) -> list[Item]:
        """The k notes closest in meaning to a note, among what the filters allow (itself excluded)."""
        store = self._vectors()
        vector = store.vectors([note.id]).get(note.id)
        if vector is None:
            return []
        skip = {note.id, *sql.duplicates_of(db, note.id)}
        lang_centres = centres.of(self._embedder())
        n = k + len(skip) + 5 if lang_centres is None else max(k + len(skip) + 5, SIMILAR_CANDIDATES)
        hits = [h for h in self.semantic_hits(db, store, vector, f, n) if h.id not in skip]
        if lang_centres is not None:
            hits = centred_order(db, store, note, vector, hits, lang_centres)
        ids = sql.keep_matching(db, [h.id for h in hits], f)[:k]
        sims = {h.id: h.similarity for h in hits}
        voices = sql.voice_counts(db, ids)
        items = []
        for other in sql.load_notes(db, ids):
            item = make_item(other, width=240)
            item.similarity, item.voices = sims[other.id], voices.get(other.id, 0)
            items.append(item)
        return items


def language_direction(embedder: Embedder) -> np.ndarray:
    """The Finnish-English direction of this embedder (fusion.LANGUAGE_REFERENCE)."""
    pairs = fusion.LANGUAGE_REFERENCE
    return fusion.language_direction(
        embedder.embed([p[0] for p in pairs], kind="passage"),
        embedder.embed([p[1] for p in pairs], kind="passage"),
    )


def centred_order(
    db: Session,
    store: VectorStore,
    note: Observation,
    vector: np.ndarray,
    hits: list[Hit],
    lang_centres: centres.Centres,
) -> list[Hit]:
    """Hits re-ranked by their cosine to the note once each language's centre is taken out."""
    stored = store.vectors([h.id for h in hits])
    hits = [h for h in hits if h.id in stored]
    if not hits:
        return []
    langs = sql.languages(db, [h.id for h in hits])
    x = centres.centred(np.stack([vector, *(stored[h.id] for h in hits)]),
                        [note.lang, *(langs.get(h.id) for h in hits)], lang_centres)
    sims = x[1:] @ x[0]
    return [Hit(hits[i].id, float(sims[i])) for i in np.argsort(-sims, kind="stable")]


def meaningful(hits: list[Hit]) -> list[Hit]:
    """The hits that count as matches by meaning: none unless the best clears the query floor."""
    if not hits or max(h.similarity for h in hits) < SEARCH_MIN_SIMILARITY:
        return []
    return [h for h in hits if h.similarity >= min(SEARCH_KEEP_SIMILARITY, SEARCH_MIN_SIMILARITY)]


def exact_hits(store: VectorStore, vector: np.ndarray, ids: Sequence[int], n: int) -> list[Hit]:
    """Brute-force cosine over the stored vectors of these notes."""
    found = store.vectors(list(ids)) if ids else {}
    if not found:
        return []
    keys = list(found)
    sims = np.stack([found[i] for i in keys]) @ np.asarray(vector, dtype=np.float32)
    order = np.argsort(-sims, kind="stable")[:n]
    return [Hit(keys[int(i)], float(sims[i])) for i in order]


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
