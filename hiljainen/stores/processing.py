"""How readers learn that notes were processed, without any note being dated finer than its day.

A note's processed_at was the moment the worker finished it: seconds after an anonymous note
arrived, so it dated that note almost to the second (issue 22). It now holds a day
(`processed_stamp`). What needed the moment, to know what changed since it last looked (the
keyword index of search, the trigger of theme refreshes), compares instead a random key that every
processed batch replaces: one row for the whole service, naming no note and no time.
"""

from __future__ import annotations

import datetime as dt
import secrets

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hiljainen.models import Setting

PROCESSED_KEY = "processed_batch"  # replaced by every processed batch
REFRESHED_KEY = "refreshed_batch"  # the processed_batch the last theme refresh saw
REINDEXED_KEY = "reindexed_at"  # written when the vector index was rebuilt
ONE_DAY = dt.timedelta(days=1)


def processed_stamp(day: dt.date, today: dt.date | None = None) -> dt.datetime:
    """The processed_at of a note dated `day` and processed `today`: midnight (UTC) of the note's
    own day when processed on that day or the next, else of the day it was processed.

    Never finer than a day. A note processed just after midnight keeps its own day: the next day's
    date would show it was written shortly before midnight. Always at least the day before `today`,
    so a reader can find what was processed since a given day (`earliest_stamp`)."""
    today = today or dt.date.today()
    counted = day if today - ONE_DAY <= day <= today else today
    return dt.datetime.combine(counted, dt.time(), tzinfo=dt.UTC)


def earliest_stamp(processed_on: dt.date) -> dt.datetime:
    """The lowest processed_at of a note processed on `processed_on` or later."""
    return dt.datetime.combine(processed_on - ONE_DAY, dt.time(), tzinfo=dt.UTC)


def new_batch(session: Session) -> None:
    """Record, in the batch's own transaction, that a batch of notes was processed."""
    key = secrets.token_hex(8)
    replace = update(Setting).where(Setting.key == PROCESSED_KEY).values(value=key)
    if session.execute(replace).rowcount:  # type: ignore[attr-defined]
        return
    try:
        with session.begin_nested():
            session.add(Setting(key=PROCESSED_KEY, value=key))
    except IntegrityError:  # another worker's first batch wrote the row meanwhile
        session.execute(replace)


def read(session: Session, *keys: str) -> dict[str, str]:
    """The values of the given keys that are set."""
    rows = session.execute(select(Setting.key, Setting.value).where(Setting.key.in_(keys)))
    return dict(rows.tuples().all())
