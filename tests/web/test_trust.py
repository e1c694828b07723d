"""Accounts and sessions under attack (issue 22, findings 2 and 4): a stale or copied cookie, an erased
account's id, a changed or disabled account, password guessing and username probing.

Real servers as everywhere: the session's Redis (its own database, so the failed-login counts of
these tests meet no other test) and Chroma, the app on a fresh SQLite file.
"""

from __future__ import annotations

import base64
import csv
import dataclasses
import datetime as dt
import io
import re
import stat
import uuid
from pathlib import Path

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from hiljainen import accounts, create_app, privacy, resources, tokens
from hiljainen.config import Settings
from hiljainen.db import make_engine
from hiljainen.models import ApiToken, Observation, Role, Snapshot, Source, Theme, User
from hiljainen.services import ChildServer
from hiljainen.web import throttle
from tests.conftest import csrf_token, login, make_settings, redis_db

PASSWORD = "salasana-123"


@pytest.fixture()
def app(settings: Settings, redis_srv: ChildServer) -> Flask:
    url = redis_db(redis_srv.url, 11)
    redis.Redis.from_url(url).flushdb()  # failed-login counts of an earlier run are gone
    application = create_app(dataclasses.replace(settings, redis_url=url))
    application.config["TESTING"] = True
    return application


def add_user(app: Flask, name: str, role: Role = Role.STAFF) -> int:
    with app.test_request_context():
        db = resources.session()
        user = accounts.create_user(db, name, PASSWORD, role)
        db.commit()
        return user.id


def cookie(client: FlaskClient) -> str:
    found = client.get_cookie("session")
    assert found is not None
    return found.value


def signed_in(client: FlaskClient, path: str = "/my") -> bool:
    resp = client.get(path)
    assert resp.status_code in (200, 302, 403), resp.status_code
    return resp.status_code != 302 or "/login" not in resp.headers["Location"]


def logout(client: FlaskClient) -> None:
    token = csrf_token(client, "/my")
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302


# --------------------------------------------------------------------------- sessions (finding 2)


def test_a_cookie_saved_before_logout_no_longer_logs_in(app: Flask, client: FlaskClient) -> None:
    add_user(app, "hoitaja")
    login(client, "hoitaja", PASSWORD)
    assert signed_in(client)
    saved = cookie(client)
    logout(client)
    assert not signed_in(client)
    client.set_cookie("session", saved)
    assert not signed_in(client), "the old cookie still logs in after logout"


def test_logout_ends_the_accounts_sessions_on_other_devices(app: Flask) -> None:
    add_user(app, "hoitaja")
    phone, desktop = app.test_client(), app.test_client()
    login(phone, "hoitaja", PASSWORD)
    login(desktop, "hoitaja", PASSWORD)
    logout(phone)
    assert not signed_in(desktop)


def test_an_erased_accounts_cookie_does_not_become_the_next_account(app: Flask, client: FlaskClient) -> None:
    erased_id = add_user(app, "poistuva")
    login(client, "poistuva", PASSWORD)
    saved = cookie(client)
    with app.test_request_context():
        done = privacy.erase_subject(
            resources.session(), app.extensions["hiljainen"].settings, privacy.Subject("user", "poistuva")
        )
        assert done["account"] == 1
    leader_id = add_user(app, "uusijohtaja", Role.LEADER)
    assert leader_id != erased_id, "an erased account's id was given to the next account"
    client.set_cookie("session", saved)
    resp = client.get("/dashboard/")
    assert resp.status_code == 302 and "/login" in resp.headers["Location"], "the cookie acted as the leader"


def test_role_change_password_change_and_disabling_end_sessions_and_take_back_tokens(app: Flask) -> None:
    user_id = add_user(app, "vaihtuva", Role.LEADER)
    with app.test_request_context():
        db = resources.session()
        user = db.get(User, user_id)
        assert user is not None
        lead, lead_plain = tokens.issue(db, "raportointi", Role.LEADER, user=user)
        staff, staff_plain = tokens.issue(db, "puhelin", Role.STAFF, user=user)
        db.commit()
    client = app.test_client()

    login(client, "vaihtuva", PASSWORD)
    with app.test_request_context():
        db = resources.session()
        user = db.get(User, user_id)
        assert user is not None
        assert accounts.change_role(db, user, Role.STAFF) == [lead.id]
        db.commit()
        assert tokens.verify(db, lead_plain) is None and tokens.verify(db, staff_plain) is not None
    assert not signed_in(client), "a session outlived a role change"

    login(client, "vaihtuva", PASSWORD)
    with app.test_request_context():
        db = resources.session()
        user = db.get(User, user_id)
        assert user is not None
        accounts.set_password(db, user, "uusi-salasana-456")
        db.commit()
    assert not signed_in(client), "a session outlived a password change"

    login(client, "vaihtuva", "uusi-salasana-456")
    with app.test_request_context():
        db = resources.session()
        user = db.get(User, user_id)
        assert user is not None
        assert accounts.disable_user(db, user) == [staff.id]
        db.commit()
        assert db.get(ApiToken, staff.id).revoked  # type: ignore[union-attr]
    assert not signed_in(client), "a session outlived disabling the account"


def test_a_lowered_role_lowers_its_tokens_even_when_set_directly(app: Flask) -> None:
    user_id = add_user(app, "alennettu", Role.ADMIN)
    with app.test_request_context():
        db = resources.session()
        user = db.get(User, user_id)
        assert user is not None
        _token, plain = tokens.issue(db, "ylläpito", Role.ADMIN, user=user)
        user.role = Role.STAFF  # e.g. changed in the database by hand, without change_role
        db.commit()
    resp = app.test_client().get("/api/v1/observations", headers={"Authorization": f"Bearer {plain}"})
    assert resp.status_code == 401


# --------------------------------------------------------------------------- login (finding 4)


def post_login(client: FlaskClient, name: str, password: str, address: str = "127.0.0.1") -> int:
    token = csrf_token(client, "/login")
    resp = client.post(
        "/login",
        data={"username": name, "password": password, "csrf_token": token},
        environ_base={"REMOTE_ADDR": address},
        headers={"Accept-Language": "en"},
    )
    if resp.status_code == 429:
        assert "Too many failed logins" in resp.get_data(as_text=True)
    return resp.status_code


def test_guessing_one_accounts_password_is_stopped(app: Flask, client: FlaskClient) -> None:
    add_user(app, "kohde")
    for i in range(throttle.ACCOUNT_LIMIT):
        assert post_login(client, "kohde", f"arvaus-{i}", address=f"10.0.0.{i}") == 401
    # From yet another address, and with the right password: the account waits out its window.
    assert post_login(client, "kohde", PASSWORD, address="10.0.1.1") == 429
    assert post_login(client, "KOHDE ", PASSWORD, address="10.0.1.2") == 429
    add_user(app, "toinen")
    assert post_login(client, "toinen", PASSWORD, address="10.0.1.1") == 302, "other accounts log in"


def test_a_stranger_guessing_cannot_lock_the_owner_out_of_their_own_device(app: Flask) -> None:
    add_user(app, "omistaja")
    own = app.test_client()
    assert post_login(own, "omistaja", PASSWORD, address="10.3.0.1") == 302  # remembers this browser
    stranger = app.test_client()
    for i in range(throttle.ACCOUNT_LIMIT):
        assert post_login(stranger, "omistaja", f"arvaus-{i}", address=f"10.3.1.{i}") == 401
    assert post_login(stranger, "omistaja", PASSWORD, address="10.3.2.1") == 429, "locked elsewhere"
    assert post_login(own, "omistaja", PASSWORD, address="10.3.0.2") == 302, "not on the owner's device"
    forged = app.test_client()
    forged.set_cookie(throttle.DEVICE_COOKIE, own.get_cookie(throttle.DEVICE_COOKIE).value[:-2] + "xx")
    assert post_login(forged, "omistaja", PASSWORD, address="10.3.2.2") == 429, "a forged cookie is no device"
    cookie = own.get_cookie(throttle.DEVICE_COOKIE)
    assert cookie is not None and cookie.http_only
    payload = base64.urlsafe_b64decode(cookie.value.split(".")[0] + "==").decode()
    assert "omistaja" not in payload and "accounts" in payload, "accounts named by keyed hashes only"
    # The device's own guesses still count, for that device.
    for i in range(throttle.ACCOUNT_LIMIT):
        assert post_login(own, "omistaja", f"väärä-{i}", address="10.3.0.3") == 401
    assert post_login(own, "omistaja", PASSWORD, address="10.3.0.3") == 429


def test_guessing_the_current_password_in_settings_is_stopped(app: Flask) -> None:
    """A borrowed session (a shared station left signed in) guesses the password no faster than
    the login form allows, and the right password then waits out the window too."""
    add_user(app, "vuorossa")
    borrowed = app.test_client()
    assert post_login(borrowed, "vuorossa", PASSWORD) == 302
    token = csrf_token(borrowed, "/settings")

    def change(current: str) -> int:
        form = {"csrf_token": token, "current": current, "new": "uusi-salasana-456"}
        return borrowed.post("/settings/password", data=form).status_code

    assert [change(f"arvaus-{i}") for i in range(throttle.ACCOUNT_LIMIT)] == [400] * throttle.ACCOUNT_LIMIT
    assert change(PASSWORD) == 429
    with app.test_request_context():
        assert accounts.authenticate(resources.session(), "vuorossa", PASSWORD) is not None, "unchanged"


def own_email(app: Flask, name: str) -> tuple[str | None, bool]:
    with app.test_request_context():
        user = resources.session().scalar(select(User).where(User.username == name))
        assert user is not None
        return user.email, user.answers_by_email


def test_the_answer_address_changes_only_with_the_current_password(app: Flask) -> None:
    """A borrowed session (a station left signed in) cannot send the answers to someone's notes
    to an address of its own: a new address takes the current password, as a new password does."""
    add_user(app, "osoitteellinen")
    borrowed = app.test_client()
    assert post_login(borrowed, "osoitteellinen", PASSWORD) == 302
    token = csrf_token(borrowed, "/settings")

    def save(lang: str = "en", **form: str) -> tuple[int, str]:
        resp = borrowed.post(f"/settings?lang={lang}", data={"csrf_token": token, **form})
        return resp.status_code, resp.get_data(as_text=True)

    typed = {"email": "vieras@example.com", "answers_by_email": "on"}
    for password in ("", "arvaus"):
        status, page = save(password=password, **typed)
        assert status == 400
        assert "The current password is not right. Your e-mail address is not changed." in page
        assert 'value="vieras@example.com"' in page, "what was typed stays"
        assert re.search(r'id="answers_by_email"\s+checked', page), "the tick stays"
        assert "arvaus" not in page, "the password typed is never shown back"
    status, page = save("fi", **typed)
    assert status == 400 and "Sähköpostiosoitettasi ei vaihdettu." in page
    assert own_email(app, "osoitteellinen") == (None, False), "nothing changed"

    assert save(password=PASSWORD, email="oma@example.fi", answers_by_email="on")[0] == 303
    assert own_email(app, "osoitteellinen") == ("oma@example.fi", True)
    assert save(email="vieras@example.com", answers_by_email="on")[0] == 400
    assert save(email="", password="arvaus")[0] == 400, "nor is the address removed without it"
    assert save(email="oma@example.fi")[0] == 303, "ticking off (the same address) needs no password"
    assert own_email(app, "osoitteellinen") == ("oma@example.fi", False)


def test_guessing_the_current_password_in_the_answer_address_form_is_stopped(app: Flask) -> None:
    add_user(app, "osoitevuoro")
    borrowed = app.test_client()
    assert post_login(borrowed, "osoitevuoro", PASSWORD) == 302
    token = csrf_token(borrowed, "/settings")

    def save(password: str) -> int:
        form = {"csrf_token": token, "email": "vieras@example.com", "password": password}
        return borrowed.post("/settings", data=form).status_code

    assert [save(f"arvaus-{i}") for i in range(throttle.ACCOUNT_LIMIT)] == [400] * throttle.ACCOUNT_LIMIT
    assert save(PASSWORD) == 429
    assert own_email(app, "osoitevuoro") == (None, False)


def test_one_address_guessing_many_accounts_is_stopped(app: Flask, client: FlaskClient) -> None:
    add_user(app, "oikea")
    for i in range(throttle.ADDRESS_LIMIT):
        assert post_login(client, f"tunnus{i}", "arvaus", address="10.9.9.9") == 401
    assert post_login(client, "oikea", PASSWORD, address="10.9.9.9") == 429
    assert post_login(client, "oikea", PASSWORD, address="10.9.9.10") == 302


def test_guesses_from_a_shared_address_do_not_lock_staff_out_of_their_own_browsers(app: Flask) -> None:
    """A care home's one address (or a proxy without trusted-proxy settings): made-up usernames
    fill the address's count, yet a browser its owner has logged in on before still logs in, and
    its own failures leave the address's count alone. Strangers there stay refused."""
    shared = "10.7.0.1"
    add_user(app, "yovuoro")
    own = app.test_client()
    assert post_login(own, "yovuoro", PASSWORD, address=shared) == 302  # remembers this browser
    stranger = app.test_client()
    for _ in range(throttle.ADDRESS_LIMIT):
        assert post_login(stranger, f"keksitty-{uuid.uuid4().hex[:8]}", "arvaus", address=shared) == 401
    assert post_login(stranger, "yovuoro", PASSWORD, address=shared) == 429, "strangers stay limited"
    fresh = app.test_client()
    assert post_login(fresh, "yovuoro", PASSWORD, address=shared) == 429, "a new browser is a stranger"
    assert post_login(own, "yovuoro", PASSWORD, address=shared) == 302, "the owner's browser logs in"

    # The owner's own slips count for the device alone, never towards locking out the address.
    other = "10.7.5.5"
    add_user(app, "toinenkoti")
    home = app.test_client()
    assert post_login(home, "toinenkoti", PASSWORD, address=other) == 302
    for i in range(throttle.ACCOUNT_LIMIT - 1):
        assert post_login(home, "toinenkoti", f"väärä-{i}", address=other) == 401
    for i in range(throttle.ADDRESS_LIMIT - throttle.ACCOUNT_LIMIT + 1):
        assert post_login(app.test_client(), f"muu-{i}", "arvaus", address=other) == 401
    assert post_login(app.test_client(), "toinenkoti", PASSWORD, address=other) == 302, "address not full"


def test_a_right_password_before_the_limit_clears_the_accounts_count(app: Flask, client: FlaskClient) -> None:
    add_user(app, "unohtelija")
    for _ in range(2):
        for i in range(throttle.ACCOUNT_LIMIT - 1):
            assert post_login(client, "unohtelija", f"väärä-{i}", address="10.1.1.1") == 401
        assert post_login(client, "unohtelija", PASSWORD, address="10.1.1.1") == 302


@pytest.mark.production_password_cost
def test_passwords_are_stored_as_scrypt_hashes_at_the_services_cost(app: Flask) -> None:
    user_id = add_user(app, "vahva")
    with app.test_request_context():
        stored = resources.session().get(User, user_id)
        assert stored is not None and stored.password_hash.startswith("scrypt:32768:8:1$")
        assert accounts.authenticate(resources.session(), "vahva", PASSWORD) is not None


@pytest.mark.production_password_cost
def test_an_unknown_username_costs_the_same_hash_as_a_real_one(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The same work, not the same measured time: a timing would flake under load.
    add_user(app, "olemassa")
    checked: list[str] = []
    real_check = accounts.check_password_hash

    def spy(stored: str, password: str) -> bool:
        checked.append(stored.split("$")[0])
        return real_check(stored, password)

    monkeypatch.setattr(accounts, "check_password_hash", spy)
    with app.test_request_context():
        db = resources.session()
        assert accounts.authenticate(db, "olemassa", "väärä-salasana") is None
        assert accounts.authenticate(db, f"ei-{uuid.uuid4().hex}", "väärä-salasana") is None
        assert accounts.authenticate(db, "nul\x00", "väärä-salasana") is None  # not even looked up
    assert checked == ["scrypt:32768:8:1"] * 3, checked


# --------------------------------------------------------------------------- smaller holes (finding 8)


def test_csv_exports_open_formulas_as_text(app: Flask, client: FlaskClient) -> None:
    add_user(app, "johtaja", Role.LEADER)
    formula = '=HYPERLINK("http://example.invalid/x","avaa")'
    data = {
        "weeks": ["2026-W01"],
        "notes_by_source": {"staff": [1]},
        "tone": {"negative": [1]},
        "response": {"acknowledged": [1]},
        "emergence_map": [
            {"name": formula, "signal": "weak", "confidence": "low", "visibility": "unit",
             "emergence": -0.5, "reporters": 2, "size": 3},
            {"name": "+1 lisää", "signal": "weak", "confidence": "low", "visibility": "@all",
             "emergence": 0.2, "reporters": 1, "size": 1},
            {"name": "x;=1+1", "signal": "weak", "confidence": "low", "visibility": "unit",
             "emergence": 0.1, "reporters": 1, "size": 1},
        ],
        "activity": {"cells": [{"unit": "\tkoti", "source": "-staff", "hidden": False, "notes": 2}]},
    }  # fmt: skip
    with app.test_request_context():
        db = resources.session()
        db.add(Snapshot(scope="all", data=data))
        db.commit()
    login(client, "johtaja", PASSWORD)
    rows = list(
        csv.reader(io.StringIO(client.get("/dashboard/data/emergence_map.csv").get_data(as_text=True)))
    )
    assert rows[1][0] == "'" + formula and rows[1][4] == "-0.5", "numbers stay numbers"
    assert rows[2][0] == "'+1 lisää" and rows[2][3] == "'@all"
    assert rows[3][0] == "x;'=1+1", "Finnish Excel opens the file at its semicolons"
    cells = list(csv.reader(io.StringIO(client.get("/dashboard/data/activity.csv").get_data(as_text=True))))
    assert cells[1][:2] == ["'\tkoti", "'-staff"]


def test_public_health_says_only_ok_or_degraded(app: Flask, client: FlaskClient) -> None:
    for where in ({"REMOTE_ADDR": "203.0.113.9"}, {"REMOTE_ADDR": "127.0.0.1"}):
        body = client.get("/healthz", environ_base=where).get_json()
        assert set(body) == {"status"} and body["status"] in ("ok", "degraded"), body
    # The details: to a direct loopback connection only, never through a proxy or from elsewhere.
    assert client.get("/healthz/details", environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code == 404
    assert client.get("/healthz/details", headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 404
    local = client.get("/healthz/details").get_json()
    assert local["database"]["ok"] and local["redis"]["ok"] and "vectors" in local["chroma"]
    # Under `hiljainen serve` the supervisor's record of its children is shown there too.
    (app.extensions["hiljainen"].settings.data_dir / "children.json").write_text(
        '{"chroma": {"state": "running", "restarts": 1}}'
    )
    assert client.get("/healthz/details").get_json()["children"]["chroma"]["restarts"] == 1
    assert "children" not in client.get("/healthz", environ_base={"REMOTE_ADDR": "203.0.113.9"}).get_json()
    add_user(app, "yllapito", Role.ADMIN)
    login(client, "yllapito", PASSWORD)
    assert client.get("/healthz", environ_base={"REMOTE_ADDR": "203.0.113.9"}).get_json()["database"]["ok"]


def test_the_public_health_answer_is_reused_for_a_few_seconds(
    app: Flask, client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each full check opens connections to every store: anyone asking in a loop must not make the
    service do that on every request. An admin's view is always fresh."""
    from hiljainen.web import health

    checks = []
    real = health._parts
    monkeypatch.setattr(health, "_parts", lambda: checks.append(1) or real())
    for _ in range(20):
        assert client.get("/healthz", environ_base={"REMOTE_ADDR": "203.0.113.9"}).status_code == 200
    assert len(checks) == 1
    monkeypatch.setattr(health, "PUBLIC_ANSWER_SECONDS", 0.0)
    client.get("/healthz")
    assert len(checks) == 2, "a stale answer is checked again"
    add_user(app, "yllapito", Role.ADMIN)
    login(client, "yllapito", PASSWORD)
    client.get("/healthz")
    client.get("/healthz")
    assert len(checks) == 4


def test_the_database_file_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    fresh = create_app(make_settings(tmp_path / "fresh"))  # the service creates its database file
    settings = fresh.extensions["hiljainen"].settings
    path = Path(settings.sqlalchemy_url.removeprefix("sqlite:///"))
    add_user(fresh, "joku")
    for name in (path, path.with_name(path.name + "-wal")):
        if name.exists():
            assert stat.S_IMODE(name.stat().st_mode) == 0o600, name
    old = tmp_path / "old.db"
    old.touch(mode=0o644)
    old.chmod(0o644)
    make_engine(f"sqlite:///{old}").dispose()
    assert stat.S_IMODE(old.stat().st_mode) == 0o600


def test_staff_see_only_their_own_notes_themes_in_the_search_filter(app: Flask) -> None:
    add_user(app, "hoitaja")
    add_user(app, "kollega")
    with app.test_request_context():
        db = resources.session()
        own = Theme(label="oma-teema-iltavuoro")
        other = Theme(label="kollegan-teema-yovuoro")
        db.add_all([own, other])
        db.flush()
        users = {u.username: u.id for u in db.scalars(select(User))}
        for name, theme in (("hoitaja", own), ("kollega", other)):
            db.add(Observation(text="Muistiinpano.", source=Source.STAFF, author_id=users[name],
                               day=dt.date.today(), theme_id=theme.id))  # fmt: skip
        db.add(User(username="johtaja", password_hash=accounts.hash_password(PASSWORD), role=Role.LEADER))
        db.commit()
    staff = app.test_client()
    login(staff, "hoitaja", PASSWORD)
    page = staff.get("/search").get_data(as_text=True)
    assert "oma-teema-iltavuoro" in page and "kollegan-teema-yovuoro" not in page
    leader = app.test_client()
    login(leader, "johtaja", PASSWORD)
    page = leader.get("/search").get_data(as_text=True)
    assert "oma-teema-iltavuoro" in page and "kollegan-teema-yovuoro" in page


# --------------------------------------------------------------------------- physical erasure (finding 5)


def test_erased_text_is_gone_from_the_sqlite_file_and_its_wal(app: Flask) -> None:
    settings = app.extensions["hiljainen"].settings
    path = Path(settings.sqlalchemy_url.removeprefix("sqlite:///"))
    secret = "Zyxwvut-salainen-lause-" + uuid.uuid4().hex
    add_user(app, "poistettava")
    with app.test_request_context():
        db = resources.session()
        user_id = db.scalar(select(User.id).where(User.username == "poistettava"))
        for i in range(3):
            db.add(Observation(text=f"{secret} {i}", source=Source.STAFF, author_id=user_id,
                               day=dt.date.today()))  # fmt: skip
        db.commit()

    def on_disk() -> bytes:
        wal = path.with_name(path.name + "-wal")
        return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")

    assert secret.encode() in on_disk(), "the test sees the text before erasing it"
    with app.test_request_context():
        done = privacy.erase_subject(resources.session(), settings, privacy.Subject("user", "poistettava"))
        assert done["notes"] == 3
    assert secret.encode() not in on_disk()


def test_ids_of_erased_accounts_and_notes_are_never_given_again_after_every_migration(tmp_path: Path) -> None:
    # A database from before revision 0005, with an account and a note, brought to the newest schema:
    # every later migration that rebuilds these tables must keep AUTOINCREMENT.
    import sqlite3

    from alembic import command

    from hiljainen import db as database

    path = tmp_path / "old.db"
    url = f"sqlite:///{path}"
    command.upgrade(database.alembic_config(url), "0004")
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO users (username, display_name, password_hash, role, active, created_at) "
            "VALUES ('vanha', 'Vanha', 'x', 'staff', 1, '2026-01-01')"
        )
        conn.execute(
            "INSERT INTO observations (text, source, anonymous, shareable, day, tags, redactions, status, "
            "lemmas, keywords, author_id) VALUES ('t', 'staff', 0, 0, '2026-01-01', '[]', '{}', 'new', "
            "'[]', '[]', 1)"
        )
    database.upgrade(url)
    engine = make_engine(url)
    with database.make_sessionmaker(engine)() as s:
        user = s.get(User, 1)
        assert user is not None and user.username == "vanha" and len(user.session_key) == 32
        note = s.get(Observation, 1)
        assert note is not None and note.author_id == 1
        s.delete(note)
        s.delete(user)
        s.commit()
        new_user = accounts.create_user(s, "uusi", PASSWORD, Role.LEADER)
        new_note = Observation(text="u", source=Source.STAFF, day=dt.date.today())
        s.add(new_note)
        s.commit()
        assert new_user.id != 1, "an erased account's id was given again"
        assert new_note.id != 1, "an erased note's id was given again"
    engine.dispose()
