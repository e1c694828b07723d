"""The data model and its migrations, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError

from hiljainen import accounts, db
from hiljainen.models import Base, Observation, Role, Source, Unit, User


def test_migrations_create_every_table(database_url: str) -> None:
    tables = set(inspect(db.make_engine(database_url)).get_table_names())
    assert set(Base.metadata.tables) <= tables


def test_migrations_match_the_models(database_url: str) -> None:
    """A model change without a migration fails here (autogenerate finds nothing to do)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with db.make_engine(database_url).connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_observation_round_trip(database_url: str) -> None:
    sessions = db.make_sessionmaker(db.make_engine(database_url))
    with db.transaction(sessions) as s:
        unit = Unit(slug="ateria", name_fi="Ateriapalvelu", name_en="Meal delivery")
        s.add(unit)
        s.flush()
        s.add(
            Observation(
                text="Ruoka oli kylmää.",
                source=Source.CUSTOMER,
                unit_id=unit.id,
                day=dt.date(2026, 11, 2),
                anonymous=True,
                tags=["ruoka"],
            )
        )
    with sessions() as s:
        obs = s.scalars(select(Observation)).one()
        assert (obs.text, obs.source, obs.tags, obs.unit.slug) == (
            "Ruoka oli kylmää.",
            Source.CUSTOMER,
            ["ruoka"],
            "ateria",
        )
        assert obs.created_at is None and obs.author_id is None


def test_passwords_are_hashed_and_usernames_unique(database_url: str) -> None:
    sessions = db.make_sessionmaker(db.make_engine(database_url))
    with db.transaction(sessions) as s:
        accounts.create_user(s, "Hoitaja1", "pitka-salasana-1", Role.STAFF)
    with sessions() as s:
        user = s.scalars(select(User)).one()
        assert user.username == "hoitaja1" and "pitka-salasana-1" not in user.password_hash
        assert accounts.authenticate(s, "HOITAJA1", "pitka-salasana-1") is not None
        assert accounts.authenticate(s, "hoitaja1", "wrong-password") is None
    with pytest.raises(IntegrityError), db.transaction(sessions) as s:
        s.add(User(username="hoitaja1", password_hash="x", role=Role.STAFF))
