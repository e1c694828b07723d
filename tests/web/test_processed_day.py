"""processed_at holds a day, and what used the moment still finds what is new (issue 22: anonymity).

The worker finished a note seconds after it arrived and wrote that moment, which dated an
anonymous note. Now it writes a day; search's keyword index and the theme refresh trigger learn of
processed notes from a key every batch replaces. The end-to-end check, a note sent through the
public form and processed by a worker process, is tests/system/test_anonymity_times.py.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from hiljainen import db
from hiljainen.config import Settings
from hiljainen.models import Observation, Setting, Source
from hiljainen.pipeline.fusion import TermGroup
from hiljainen.pipeline.linguistics import Analysis
from hiljainen.search.keywords import KeywordIndex
from hiljainen.search.sql import Filters
from hiljainen.services import redis_server
from hiljainen.stores import processing, queue
from hiljainen.stores.processing import earliest_stamp, processed_stamp
from tests.conftest import DEMO_TODAY
from workers import jobs

TODAY = dt.date.today()
DAY = dt.timedelta(days=1)


def midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)


def test_a_note_counts_as_processed_on_its_own_day_or_on_the_day_it_was_processed() -> None:
    day = dt.date(2026, 12, 6)
    assert processed_stamp(day, day) == midnight(day)
    # Processed just after midnight: the next day would show the note was written late at night.
    assert processed_stamp(day, day + DAY) == midnight(day)
    assert processed_stamp(day, day + 5 * DAY) == midnight(day + 5 * DAY)  # a backlog, an import
    assert processed_stamp(day + 3 * DAY, day) == midnight(day)  # dated ahead of the worker's clock
    for processed_on in (day, day + DAY, day + 5 * DAY):
        for note_day in (day - 9 * DAY, day - DAY, day, day + 2 * DAY):
            assert processed_stamp(note_day, processed_on) >= earliest_stamp(day)


def sessions_for(url: str) -> sessionmaker[Session]:
    return db.make_sessionmaker(db.make_engine(url))


def add_notes(sessions: sessionmaker[Session], days: Sequence[dt.date]) -> list[int]:
    with db.transaction(sessions) as s:
        notes = [Observation(text=f"Muistiinpano {i}.", source=Source.STAFF, day=d)
                 for i, d in enumerate(days)]
        s.add_all(notes)
        s.flush()
        return [n.id for n in notes]


def process(sessions: sessionmaker[Session], lemmas: dict[int, list[str]]) -> None:
    """Write the notes processed as the worker's jobs.index_notes does after its stages."""
    with db.transaction(sessions) as s:
        chosen = select(Observation).where(Observation.id.in_(lemmas)).order_by(Observation.id)
        notes = list(s.scalars(chosen))
        analyses = [Analysis(lemmas=lemmas[n.id]) for n in notes]
        jobs.mark_processed(notes, ["fi"] * len(notes), analyses, [None] * len(notes), "test-model")
        processing.new_batch(s)


def finder(sessions: sessionmaker[Session]):  # type: ignore[no-untyped-def]
    index = KeywordIndex()  # one per process, kept between searches, as the search engine keeps it

    def found(word: str) -> set[int]:
        with sessions() as s:
            hits, _terms = index.hits(s, [TermGroup(word, frozenset({word}))], Filters(), 10)
        return {h.id for h in hits}

    return found


def test_keyword_search_finds_notes_processed_after_it_first_read_them(database_url: str) -> None:
    sessions = sessions_for(database_url)
    found = finder(sessions)
    first, late, old, yesterdays = add_notes(
        sessions, [TODAY, TODAY, dt.date(2020, 1, 6), TODAY - DAY]
    )
    process(sessions, {first: ["hissi"]})
    assert found("hissi") == {first}
    # Processed after a note with a higher id; an old note (an import); a note from yesterday,
    # which keeps yesterday as its processed day.
    process(sessions, {late: ["hissi"], old: ["hissi", "ovi"], yesterdays: ["ovi"]})
    assert found("hissi") == {first, late, old}
    assert found("ovi") == {old, yesterdays}
    with sessions() as s:
        stamps = dict(s.execute(select(Observation.id, Observation.processed_at)).tuples().all())
    assert {i: stamps[i].replace(tzinfo=None) for i in (first, yesterdays)} == {
        first: midnight(TODAY).replace(tzinfo=None),
        yesterdays: midnight(TODAY - DAY).replace(tzinfo=None),
    }
    assert all(t.time() == dt.time() for t in stamps.values())


def test_a_rebuilt_vector_index_makes_keyword_search_read_the_lemmas_again(database_url: str) -> None:
    sessions = sessions_for(database_url)
    found = finder(sessions)
    (note,) = add_notes(sessions, [TODAY])
    process(sessions, {note: ["hissi"]})
    assert found("hissi") == {note}
    process(sessions, {note: ["porras"]})  # reprocessed in a rebuild, with new lemmas
    with db.transaction(sessions) as s:
        s.merge(Setting(key=processing.REINDEXED_KEY, value="2026-12-06T12:00:00+00:00"))
    assert found("porras") == {note}
    assert found("hissi") == set()


def test_the_migration_leaves_only_days(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    command.upgrade(db.alembic_config(url), "0009")
    engine = db.make_engine(url)
    notes = sa.table(
        "observations", sa.column("id", sa.Integer), sa.column("processed_at", sa.DateTime(timezone=True))
    )
    moment = dt.datetime.combine(TODAY, dt.time(13, 47, 5, 120000), tzinfo=dt.UTC)
    with db.transaction(db.make_sessionmaker(engine)) as s:
        s.add_all([
            Observation(id=1, text="Hana vuotaa.", source=Source.CUSTOMER, anonymous=True, day=TODAY),
            Observation(id=2, text="Ovi jäi auki.", source=Source.CUSTOMER, anonymous=True, day=TODAY),
        ])
        s.flush()
        s.execute(notes.update().where(notes.c.id == 1).values(processed_at=moment))
    db.upgrade(url)
    with engine.connect() as conn:
        stored = dict(conn.execute(select(notes.c.id, notes.c.processed_at)).tuples().all())
    assert stored[2] is None, "a waiting note stays waiting"
    expected = processed_stamp(TODAY, moment.astimezone().date())  # the day it was processed, here
    assert stored[1].replace(tzinfo=None) == expected.replace(tzinfo=None)


@pytest.mark.slow
def test_themes_refresh_when_notes_were_processed_since_the_last_run(
    demo_copy: Settings, one_model: object, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with redis_server(tmp_path).start() as server:  # the refresh job it queues meets no worker
        monkeypatch.setenv("HILJAINEN_REDIS_URL", server.url)
        jobs.runtime.cache_clear()
        waiting = queue.queue(queue.connect(server.url))
        assert jobs.maybe_refresh() is False, "the demo's refresh saw every processed note"
        sessions = sessions_for(demo_copy.sqlalchemy_url)
        add_notes(sessions, [DEMO_TODAY])
        assert jobs.maybe_refresh() is False, "a note still waits: the refresh waits for it"
        assert jobs.process_all() == 1
        assert waiting.get_job_ids() == []
        assert jobs.maybe_refresh() is True
        assert waiting.get_job_ids() == [queue.REFRESH_JOB_ID]
        waiting.empty()
        jobs.refresh_themes(DEMO_TODAY.isoformat())
        assert jobs.maybe_refresh() is False and waiting.get_job_ids() == []
    jobs.runtime.cache_clear()
