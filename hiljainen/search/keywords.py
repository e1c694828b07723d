"""The keyword side of search: an in-memory BM25 index of note lemmas, kept current from SQL."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Sequence

from sqlalchemy.orm import Session

from hiljainen.pipeline import fusion
from hiljainen.pipeline.fusion import LemmaIndex, TermGroup
from hiljainen.search import sql
from hiljainen.search.sql import Filters

KEYWORD_REBUILD_SECONDS = 6 * 3600  # drops deleted notes from the in-memory keyword index

KEYWORD_OVERLAP = dt.timedelta(minutes=2)

KEYWORD_OVERLAP_EVERY = 60.0  # seconds


class KeywordIndex:
    """One process's lemma index (held by its SearchEngine), brought up to date with the notes
    processed since the previous search.

    Kept in memory because a LIKE scan over 100k lemma lists costs ~50 ms per term in SQLite;
    each search reads only rows processed since the previous one (processed_at is indexed).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._index = LemmaIndex()
        self._last: dt.datetime | None = None
        self._built: float | None = None  # the first search starts the rebuild clock
        self._overlap_read = 0.0

    def hits(
        self, db: Session, groups: Sequence[TermGroup], f: Filters, n: int
    ) -> tuple[list[fusion.KeywordHit], frozenset[str]]:
        """The n best BM25 matches among searchable notes under the filters, and the terms matched."""
        with self._lock:
            self._catch_up(db)
            ids, scores = self._index.ranked(groups)
            terms = self._index.matched_terms(groups)
        out: list[fusion.KeywordHit] = []
        start, chunk = 0, max(n * 2, 100)
        while start < len(ids) and len(out) < n:
            part = [int(i) for i in ids[start : start + chunk]]
            ok = set(sql.keep_matching(db, part, f))
            out.extend(fusion.KeywordHit(i, float(scores[start + j])) for j, i in enumerate(part) if i in ok)
            start += chunk
            chunk *= 4  # a selective filter with a common word: widen quickly
        return out[:n], terms

    def _catch_up(self, db: Session) -> None:
        # Called under self._lock.
        if self._built is None:
            self._built = time.monotonic()
        if self._index.stale or time.monotonic() - self._built > KEYWORD_REBUILD_SECONDS:
            self._index, self._last, self._built = LemmaIndex(), None, time.monotonic()
        # Two workers' transactions may commit out of processed_at order, so now and then the
        # last minutes are read again (re-adding a known note is a no-op); otherwise only newer rows.
        since, strict = self._last, True
        if since is not None and time.monotonic() - self._overlap_read > KEYWORD_OVERLAP_EVERY:
            since, strict, self._overlap_read = since - KEYWORD_OVERLAP, False, time.monotonic()
        for note_id, lemmas, processed in sql.lemma_rows(db, since=since, strict=strict):
            self._index.add(note_id, lemmas)
            self._last = processed if self._last is None else max(self._last, processed)
