"""Ids of new themes, safe when two writers create themes at once.

A leader's split (a web request) and a refresh (a worker) each took max(id) + 1 of what they had
read: two splits at the same moment, or a split while a refresh was clustering, chose the same id
and one of them failed on the primary key. A new theme now goes in under a savepoint, and if
another writer took its id meanwhile, under the next free one. The same on SQLite and PostgreSQL:
the database's unique key decides, with no lock held while the id is chosen.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hiljainen.models import Theme

# Each failed attempt means another writer committed a theme since the last read: a handful of
# leaders and one refresh cannot outpace this.
ATTEMPTS = 20


def next_free(session: Session, above: int = 0) -> int:
    """The id after every theme's in the database and after `above`."""
    return max(int(session.scalar(select(func.max(Theme.id))) or 0), above) + 1


def insert(session: Session, theme: Theme, above: int = 0) -> Theme:
    """Insert a new theme (flushed) under its id if it has one and that id is still free, else
    under the next free one above `above`; the theme's id is then its final id."""
    if theme.id is None:
        theme.id = next_free(session, above)
    for _attempt in range(ATTEMPTS):
        try:
            with session.begin_nested():  # flushes what is pending first, so only this insert can fail
                session.add(theme)
            return theme
        except IntegrityError:
            tried, theme.id = theme.id, next_free(session, above)
            if theme.id <= tried:  # no theme took this id: the error is about something else
                raise
    raise RuntimeError(f"no free theme id after {ATTEMPTS} attempts")
