"""Anonymous notes cannot be linked to their writers (issue 22, finding 3), and the API's rate limit
(finding 8).

Note ids were given in submission order and shown in every list, link and API answer, so a leader
saw an anonymous note between the same staff member's signed notes of that day. Notes are now
named by a random public id and listed by day, within a day by that id.

Real servers as everywhere: the session's Redis and Chroma, the app on a fresh SQLite file.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import zoneinfo
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from hiljainen import create_app, db, resources
from hiljainen.config import Settings
from hiljainen.models import PUBLIC_ID_LENGTH, Observation, Role, Snapshot, Source, Theme
from hiljainen.rules import public_id_shape
from tests.conftest import login, make_org

PASSWORD = "salasana-123"
NURSE_NOTES = [  # (text, anonymous), in the order the nurse writes them on one day
    ("Iltavuorossa oli taas liian vähän väkeä.", False),
    ("Nostolaite on ollut rikki viikon.", False),
    ("Esihenkilö huutaa meille kiireessä.", True),
    ("Lääkekaappi oli auki yöllä.", False),
    ("Vuorolista tuli myöhässä.", False),
]


def organisation(app: Flask) -> dict[str, str]:
    """A unit, a nurse and a leader with API tokens; the tokens' plaintexts by who holds them."""
    tokens = {
        "nurse": ("hoitaja", Role.STAFF),
        "leader": ("johtaja", Role.LEADER),
        "other": ("johtaja", Role.LEADER),
    }
    return make_org(app, unit=("Koivukoti", "Birch home"), touchpoints=(), tokens=tokens).tokens


def api(client: FlaskClient, token: str, method: str, path: str, **body: Any) -> Any:
    headers = {"Authorization": f"Bearer {token}", "Accept-Language": "en"}
    return client.open(path, method=method, headers=headers, json=body if body else None)


def nurse_writes_a_day(client: FlaskClient, keys: dict[str, str]) -> list[str]:
    """The nurse's notes of one day through her token, signed but one; their ids as answered."""
    ids = []
    for text, anonymous in NURSE_NOTES:
        resp = api(client, keys["nurse"], "POST", "/api/v1/observations", text=text, source="staff",
                   anonymous=anonymous)  # fmt: skip
        assert resp.status_code == 201, resp.get_json()
        ids.append(resp.get_json()["id"])
    return ids


def internal_ids(app: Flask) -> dict[str, int]:
    with app.app_context():
        return dict(resources.session().execute(select(Observation.public_id, Observation.id)).tuples().all())


# --------------------------------------------------------------------------- public ids and order


def test_the_api_names_notes_by_random_public_ids_and_lists_a_day_out_of_writing_order(
    app: Flask, client: FlaskClient
) -> None:
    keys = organisation(app)
    written = nurse_writes_a_day(client, keys)
    assert all(isinstance(i, str) and public_id_shape(i) for i in written), written
    assert len(set(written)) == len(written)

    listing = api(client, keys["leader"], "GET", "/api/v1/observations").get_json()
    listed = [n["id"] for n in listing["items"]]
    # One day: ordered by the random public id, so the anonymous note's place says nothing of
    # when it was written among the nurse's signed notes.
    assert listed == sorted(written)
    anonymous = written[2]
    shown = next(n for n in listing["items"] if n["id"] == anonymous)
    assert shown["anonymous"] is True and shown["author"] is None

    # The public id is the only handle from outside; the integer id opens nothing.
    inside = internal_ids(app)[anonymous]
    assert api(client, keys["leader"], "GET", f"/api/v1/observations/{anonymous}").status_code == 200
    assert api(client, keys["leader"], "GET", f"/api/v1/observations/{anonymous}/similar").status_code == 200
    for path in (f"/api/v1/observations/{inside}", f"/api/v1/observations/{inside}/similar"):
        assert api(client, keys["leader"], "GET", path).status_code == 404, path
    created = api(client, keys["nurse"], "POST", "/api/v1/observations", text="Ovi narisee.", source="staff")
    assert created.headers["Location"].endswith(f"/api/v1/observations/{created.get_json()['id']}")


def test_leaders_pages_link_notes_by_public_id_and_list_a_day_out_of_writing_order(
    app: Flask, client: FlaskClient
) -> None:
    keys = organisation(app)
    written = nurse_writes_a_day(client, keys)
    with app.app_context():
        s = resources.session()
        theme = Theme(label="henkilöstö kiire", size=len(written))
        s.add(theme)
        s.flush()
        for note in s.scalars(select(Observation)):
            note.theme_id = theme.id
        s.commit()
        theme_id = theme.id
    leader = app.test_client()
    login(leader, "johtaja", PASSWORD)
    for page in ("/triage/", f"/triage/themes/{theme_id}", f"/themes/{theme_id}"):
        html = leader.get(page, headers={"Accept-Language": "en"}).get_data(as_text=True)
        linked = re.findall(r'href="/triage/notes/([^"/?]+)"', html)
        assert linked == sorted(written), page  # one day: by public id, not in the order written
        assert not re.search(r'>#\d+<|name="notes?" value="\d+"', html), f"{page} shows an integer note id"
    # The note pages answer to the public id only.
    inside = internal_ids(app)[written[2]]
    assert leader.get(f"/triage/notes/{written[2]}").status_code == 200
    assert leader.get(f"/notes/{written[2]}").status_code == 200
    assert leader.get(f"/triage/notes/{inside}").status_code == 404
    assert leader.get(f"/notes/{inside}").status_code == 404


def test_a_migrated_database_gives_every_existing_note_its_own_random_public_id(tmp_path: Any) -> None:
    import sqlite3

    from alembic import command

    url = f"sqlite:///{tmp_path / 'old.db'}"
    command.upgrade(db.alembic_config(url), "0007")
    with sqlite3.connect(tmp_path / "old.db") as conn:
        for day in ("2026-01-01", "2026-01-01", "2026-01-02"):
            conn.execute(
                "INSERT INTO observations (text, source, anonymous, shareable, wants_answer, day, tags, "
                "redactions, status, lemmas, keywords) VALUES ('t', 'staff', 1, 0, 0, ?, '[]', '{}', "
                "'new', '[]', '[]')",
                (day,),
            )
    db.upgrade(url)
    engine = db.make_engine(url)
    with db.make_sessionmaker(engine)() as s:
        old = list(s.scalars(select(Observation.public_id)))
        s.add(Observation(text="u", source=Source.STAFF, day=dt.date.today()))
        s.commit()
        new = s.scalar(select(Observation.public_id).order_by(Observation.id.desc()).limit(1))
    engine.dispose()
    assert len(old) == 3 and all(public_id_shape(i) for i in old) and len(set(old)) == 3
    assert new is not None and public_id_shape(new) and new not in old
    assert len(new) == PUBLIC_ID_LENGTH


# --------------------------------------------------------------------------- the API's rate limit


def test_the_api_answers_429_with_retry_after_past_a_tokens_limit(settings: Settings) -> None:
    assert Settings.from_env({}).api_rate_limit == 120, "a limit is on unless a deployment turns it off"
    app = create_app(dataclasses.replace(settings, api_rate_limit=3))
    app.config["TESTING"] = True
    keys = organisation(app)
    client = app.test_client()
    for _ in range(3):
        assert api(client, keys["leader"], "GET", "/api/v1/observations").status_code == 200
    refused = api(client, keys["leader"], "GET", "/api/v1/observations")
    assert refused.status_code == 429 and refused.mimetype == "application/json"
    assert "Too many requests" in refused.get_json()["error"]
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    # Writing counts too; another token of the same person has its own count.
    written = api(client, keys["leader"], "POST", "/api/v1/observations", text="Hei.", source="staff")
    assert written.status_code == 429
    assert api(client, keys["other"], "GET", "/api/v1/observations").status_code == 200
    assert api(client, "hlj_wrong", "GET", "/api/v1/observations").status_code == 401


def test_rate_limit_keys_do_not_keep_the_time_of_the_last_request(settings: Settings) -> None:
    """Each request renewed its count's lifetime to an hour, so the time left on a public form's
    key told to the second when that address last wrote; a "me too" key told when it was given.
    Both now end with a full hour, whenever the request came."""
    from hiljainen.web import ratelimit

    app = create_app(settings)
    with app.test_request_context(environ_base={"REMOTE_ADDR": "10.9.8.7"}):
        conn = resources.get().redis()
        assert ratelimit.allow("ttl-test", 5)
        assert ratelimit.first_from_address("ttl-test", "note", 86400)
        keys = [*conn.scan_iter("hiljainen:rate:ttl-test:*"), *conn.scan_iter("hiljainen:once:ttl-test:*")]
        assert len(keys) == 2
        for key in keys:
            ends = int(conn.expiretime(key))
            assert ends % 3600 == 60, f"{key!r} ends {ends % 3600} s past a full hour"
            conn.delete(key)


def test_the_dashboard_dates_its_figures_to_the_day_not_the_minute(app: Flask, settings: Settings) -> None:
    """Snapshots are rebuilt as soon as new notes are processed, so "Computed 22.41" would date the
    newest note (maybe an anonymous one) to within minutes: the dashboard says the day only."""
    make_org(app)
    local = dt.datetime(2026, 11, 24, 22, 41, tzinfo=zoneinfo.ZoneInfo(settings.timezone))
    data = {"weeks": ["2026-W48"], "notes_by_source": {"staff": [3]}, "tone": {"negative": [3]},
            "response": {"acknowledged": [1]}, "emergence_map": [], "activity": {"cells": []}}
    with app.test_request_context():
        session = resources.session()
        session.add(Snapshot(scope="all", data=data, computed_at=local.astimezone(dt.UTC)))
        session.commit()
    leader = app.test_client()
    login(leader, "johtaja", PASSWORD)
    for lang, shown_day in (("fi", "24.11.2026"), ("en", "Nov 24, 2026")):
        page = leader.get(f"/dashboard/?lang={lang}").get_data(as_text=True)
        computed = re.search(r'<p class="muted"[^>]*>[^<]*(?:Laskettu|Computed)[^<]*</p>', page)
        assert computed and shown_day in computed.group(0), (lang, computed)
        for time in ("22.41", "22:41", "10:41", "10.41"):
            assert time not in page, (lang, time)
