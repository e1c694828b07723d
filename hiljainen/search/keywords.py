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
from hiljainen.stores import processing

KEYWORD_REBUILD_SECONDS = 6 * 3600  # drops deleted notes from the in-memory keyword index

# How many days before the previous read a note committed since may be stamped: one for a batch
# whose transaction crossed midnight, one for a web process whose clock is in another timezone.
KEYWORD_SLACK = dt.timedelta(days=2)


class KeywordIndex:
    """One process's lemma index (held by its SearchEngine), brought up to date with the notes
    processed since the previous search.

    Kept in memory because a LIKE scan over 100k lemma lists costs ~50 ms per term in SQLite.
    A search reads nothing while the processed-batch key and the last note id are unchanged (the id
    for notes written already processed, as benchmarks do); when either has changed, the ids of the
    notes processed in the last days (processed_at holds a day and is indexed), and the lemmas of
    those not yet in the index. Read again, a few days' ids cost far less than their lemmas.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._index = LemmaIndex()
        self._read_on: dt.date | None = None  # the day of the previous read; None: read everything
        self._seen: tuple[str | None, int | None] = (None, None)  # batch key and last id then
        self._reindexed: str | None = None
        self._built: float | None = None  # the first search starts the rebuild clock

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
        # Called under self._lock. The keys are read first: the notes of a batch whose key is seen
        # are committed with it, so the reads below find them.
        keys = processing.read(db, processing.PROCESSED_KEY, processing.REINDEXED_KEY)
        seen = (keys.get(processing.PROCESSED_KEY), sql.last_id(db))
        reindexed = keys.get(processing.REINDEXED_KEY)
        if self._built is None:
            self._built = time.monotonic()
        too_old = time.monotonic() - self._built > KEYWORD_REBUILD_SECONDS
        # A rebuilt vector index reprocessed every note; their lemmas may have changed.
        if self._index.stale or too_old or reindexed != self._reindexed:
            self._index, self._read_on, self._built = LemmaIndex(), None, time.monotonic()
            self._reindexed = reindexed
        if self._read_on is not None and seen == self._seen:
            return
        today = dt.date.today()
        if self._read_on is None:
            rows = sql.lemma_rows(db)
        else:
            since = processing.earliest_stamp(self._read_on - KEYWORD_SLACK)
            rows = sql.lemma_rows(db, [i for i in sql.processed_ids(db, since) if i not in self._index])
        for note_id, lemmas in rows:
            self._index.add(note_id, lemmas)
        self._read_on, self._seen = today, seen
