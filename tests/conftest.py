"""Shared fixtures: real servers (Redis-compatible, Chroma, PostgreSQL), real models, the app.

Servers are started once per test session on free loopback ports and stopped at the end.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import uuid
import zoneinfo
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import psycopg
import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from hiljainen import create_app, db
from hiljainen.config import Settings
from hiljainen.models import Role
from hiljainen.services import ChildServer, chroma_server, redis_server

PROJECT = Path(__file__).resolve().parent.parent
SHARED_DATA = PROJECT.parent / "shared" / "data"
IN_CI = os.environ.get("CI", "").lower() == "true"
POSTGRES_ADMIN_URL = os.environ.get(
    "HILJAINEN_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres"
)


@pytest.fixture(autouse=True)
def cheaper_password_hashes(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Real scrypt password hashes, checked by the real code, at 1/32 of the service's cost: at
    its cost a third of the web tests' time went to hashing. Tests marked
    production_password_cost (login timing, the cost itself) keep the service's."""
    if request.node.get_closest_marker("production_password_cost") is None:
        from hiljainen import accounts

        monkeypatch.setattr(accounts, "HASH_METHOD", "scrypt:1024:8:1")


def skip_unless_ci(reason: str) -> NoReturn:
    """Skip this test on a machine that lacks what it needs; in CI (CI=true) fail instead, so a
    PostgreSQL or fault test that could not run never passes silently."""
    if IN_CI:
        pytest.fail(f"cannot run in CI: {reason}", pytrace=False)
    pytest.skip(reason)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--screenshots", action="store_true",
                     help="Write the browser tests' screenshots to docs/screens (for the README).")


@pytest.fixture(scope="session")
def screens_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """docs/screens with --screenshots, else a temporary folder (tests never dirty the tree)."""
    if request.config.getoption("--screenshots"):
        return PROJECT / "docs" / "screens"
    return tmp_path_factory.mktemp("screens")


@pytest.fixture(scope="session")
def servers_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("servers")


@pytest.fixture(scope="session")
def redis_srv(servers_dir: Path) -> Iterator[ChildServer]:
    """A real Redis-compatible server for this test session."""
    with redis_server(servers_dir).start() as server:
        yield server


@pytest.fixture(scope="session")
def chroma_srv(servers_dir: Path) -> Iterator[ChildServer]:
    """A real Chroma server for this test session."""
    with chroma_server(servers_dir).start() as server:
        yield server


def empty_queue(redis_url: str) -> None:
    """Drop the jobs waiting in the queue: the session's Redis gathers them from every test and no
    worker takes them, and a test that checks a job was queued must not find an earlier one."""
    from hiljainen.stores.queue import connect, queue

    queue(connect(redis_url)).empty()


def processing_queued(redis_url: str) -> bool:
    """Whether a job waits in the queue to process the waiting notes (it names none: issue 22)."""
    from rq import Queue

    from hiljainen.stores.queue import PROCESS_JOB, QUEUE_NAME, connect

    waiting = Queue(QUEUE_NAME, connection=connect(redis_url)).jobs
    return any(job.func_name == PROCESS_JOB and not job.args and not job.kwargs for job in waiting)


def redis_db(url: str, number: int) -> str:
    """The session Redis server's database `number`: a test whose jobs must not meet other
    tests' workers (or leave jobs for other tests to find) takes its own."""
    return f"{url.rsplit('/', 1)[0]}/{number}"


def own_queue_settings(
    tmp_path: Path, redis_srv: ChildServer, chroma_srv: ChildServer, redis_number: int, **overrides: object
) -> Settings:
    """Settings for a test that runs worker jobs of its own: a migrated SQLite file, the session
    Redis server's database `redis_number` emptied (no other test's worker takes its jobs, nor it
    theirs) and its own Chroma collection."""
    redis_url = redis_db(redis_srv.url, redis_number)
    redis.Redis.from_url(redis_url).flushdb()
    url = f"sqlite:///{tmp_path / 'own.db'}"
    db.upgrade(url)
    values: dict[str, object] = {
        "database_url": url,
        "redis_url": redis_url,
        "chroma_url": chroma_srv.url,
        "chroma_collection": f"own_{uuid.uuid4().hex[:10]}",
    }
    values.update(overrides)
    return make_settings(tmp_path, **values)


def processed_notes(url: str) -> int:
    """How many notes of the database at `url` the worker has processed (read afresh)."""
    from sqlalchemy import select

    from hiljainen.models import Observation

    engine = db.make_engine(url)
    try:
        with db.make_sessionmaker(engine)() as s:
            return len(s.scalars(select(Observation.id).where(Observation.processed_at.is_not(None))).all())
    finally:
        engine.dispose()


def _postgres_reachable() -> bool:
    try:
        with psycopg.connect(POSTGRES_ADMIN_URL, connect_timeout=2):
            return True
    except psycopg.Error:
        return False


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this session, dropped afterwards (skips if none is reachable)."""
    if not _postgres_reachable():
        skip_unless_ci("no PostgreSQL server reachable (set HILJAINEN_TEST_POSTGRES)")
    name = f"hiljainen_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    yield f"{base}/{name}"
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty SQLite database brought to the newest migration once a session: a test starts
    from a copy of it (running the migrations cost each test a third of a second)."""
    path = tmp_path_factory.mktemp("migrated") / "hiljainen.db"
    db.upgrade(f"sqlite:///{path}")
    return path


def fresh_sqlite(migrated: Path, path: Path) -> str:
    """A copy of the migrated empty database at `path`; returns its URL."""
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(migrated, path)
    path.chmod(0o600)  # as the service creates it (db.make_engine)
    return f"sqlite:///{path}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each test using this runs on SQLite and on PostgreSQL, each with a migrated empty schema."""
    if request.param == "sqlite":
        return fresh_sqlite(request.getfixturevalue("migrated_sqlite"), tmp_path / "test.db")
    url: str = request.getfixturevalue("postgres_url")
    _reset_postgres(url)
    db.upgrade(url)
    return url


def _reset_postgres(url: str) -> None:
    plain = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(plain, autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")


def across_the_date_line() -> str:
    """A time zone whose date differs from the server's right now. UTC+14 and UTC-12 are 26 hours
    apart, so one of them always does: a test of "today in the deployment" crosses a date line
    at any hour, in any server time zone."""
    return next(z for z in ("Pacific/Kiritimati", "Etc/GMT+12")
                if dt.datetime.now(zoneinfo.ZoneInfo(z)).date() != dt.date.today())


def make_settings(tmp_path: Path, **overrides: object) -> Settings:
    """Settings for a test: its own data folder, fixed secret, no secure-cookie requirement."""
    values: dict[str, object] = {"data_dir": tmp_path / "data", "secret_key": "test-secret"}
    values.update(overrides)
    return Settings.from_env({}, **values)


@pytest.fixture()
def settings(
    tmp_path: Path, redis_srv: ChildServer, chroma_srv: ChildServer, migrated_sqlite: Path
) -> Settings:
    """Settings wired to the session's real Redis and Chroma servers and a fresh SQLite file (the
    embedded default's, in the data folder, already migrated)."""
    made = make_settings(
        tmp_path,
        redis_url=redis_srv.url,
        chroma_url=chroma_srv.url,
        chroma_collection=f"test_{uuid.uuid4().hex[:12]}",
    )
    fresh_sqlite(migrated_sqlite, Path(made.sqlalchemy_url.removeprefix("sqlite:///")))
    return made


@pytest.fixture()
def app(settings: Settings) -> Flask:
    """The web app on fresh SQLite, with CSRF on, as in production."""
    application = create_app(settings)
    application.config["TESTING"] = True
    return application


@pytest.fixture()
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def csrf_token(client: FlaskClient, path: str) -> str:
    """The CSRF token of the form on a page, as a browser would send it back."""
    import re

    page = client.get(path).get_data(as_text=True)
    found = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert found, f"no CSRF token on {path}"
    return found.group(1)


def login(client: FlaskClient, username: str, password: str) -> None:
    """Log in through the real form."""
    token = csrf_token(client, "/login")
    resp = client.post("/login", data={"username": username, "password": password, "csrf_token": token})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:300]


PASSWORD = "salasana-123"

# The people the org factory knows, by username (staff are members of the unit).
PEOPLE = {"hoitaja": Role.STAFF, "johtaja": Role.LEADER, "admin": Role.ADMIN, "paakayttaja": Role.ADMIN}

TOUCHPOINTS = {"ruokasali": ("Ruokasali", "Dining room"), "aula": ("Aula", "Lobby")}  # Finnish, English


@dataclass
class Org:
    """What the org factory made: the unit's id, user ids by username, API tokens' plaintexts by name."""

    unit_id: int
    users: dict[str, int]
    tokens: dict[str, str]


def make_org(
    app: Flask,
    *,
    unit: tuple[str, str] = ("Palvelutalo Koivukoti", "Koivukoti"),
    touchpoints: Sequence[str] = ("ruokasali",),
    people: Sequence[str] = ("hoitaja", "johtaja"),
    display_names: Mapping[str, str] | None = None,
    tokens: Mapping[str, tuple[str | None, Role]] | None = None,
) -> Org:
    """An organisation in the app's database: the unit koivukoti (its Finnish and English name),
    its touchpoints (TOUCHPOINTS), people (PEOPLE, all with PASSWORD), and API tokens named by
    their key: (holder's username, or None for a system's token; role)."""
    from hiljainen import accounts, resources
    from hiljainen import tokens as api_tokens
    from hiljainen.models import Touchpoint, Unit

    with app.test_request_context():
        s = resources.session()
        row = Unit(slug="koivukoti", name_fi=unit[0], name_en=unit[1])
        s.add(row)
        s.flush()
        for slug in touchpoints:
            name_fi, name_en = TOUCHPOINTS[slug]
            s.add(Touchpoint(slug=slug, name_fi=name_fi, name_en=name_en, unit_id=row.id))
        users = {
            name: accounts.create_user(
                s,
                name,
                PASSWORD,
                PEOPLE[name],
                display_name=(display_names or {}).get(name, ""),
                unit_id=row.id if PEOPLE[name] == Role.STAFF else None,
            )
            for name in people
        }
        issued = {
            key: api_tokens.issue(s, key, role, user=users[holder] if holder else None)[1]
            for key, (holder, role) in (tokens or {}).items()
        }
        s.commit()
        return Org(row.id, {name: user.id for name, user in users.items()}, issued)


@pytest.fixture()
def org(request: pytest.FixtureRequest) -> Callable[..., Org]:
    """The organisation factory: org(**options) seeds the test's `app` (make_org's options),
    org(other_app, **options) another app."""

    def make(app: Flask | None = None, **options: Any) -> Org:
        return make_org(app or request.getfixturevalue("app"), **options)

    return make


@pytest.fixture(scope="session")
def base_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The untaught multilingual-e5-small: the project's own folder if it matches its manifest,
    else one built once per session."""
    from hiljainen.config import BASE_MODEL_DIR
    from hiljainen.tools.modelbuild import (
        DEFAULT_MANIFEST_PATH,
        MODEL_NAME,
        build_embedding_model,
        check_build,
    )

    if not check_build(BASE_MODEL_DIR, DEFAULT_MANIFEST_PATH):
        return BASE_MODEL_DIR
    out = tmp_path_factory.getbasetemp() / "e5-build" / MODEL_NAME
    build_embedding_model(out, out.parent / "manifest.json", progress=lambda _msg: None)
    return out


@pytest.fixture(scope="session")
def embedder() -> Any:
    """The configured embedder (the real model), loaded once for the whole session."""
    from hiljainen.pipeline.embed import load_embedder

    defaults = Settings.from_env({})
    return load_embedder(defaults.embed_backend, defaults.embed_model)


@pytest.fixture(scope="module")
def one_model(embedder: Any) -> Iterator[Any]:
    """Runtimes made in these tests (apps, the in-process worker) use the session's embedder instead
    of each loading its own (a runtime built with Runtime.from_settings(s, embedder=...) needs no patch)."""
    from hiljainen.pipeline import embed

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(embed, "load_embedder", lambda *_a, **_k: embedder)
        yield embedder


DEMO_TODAY = dt.date(2026, 11, 24)


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory: pytest.TempPathFactory, chroma_srv: ChildServer) -> Iterator[Settings]:
    """The demo organisation, processed and themed by the real worker jobs, once per session."""
    from hiljainen.tools.demo import load_demo
    from workers import jobs

    tmp = tmp_path_factory.mktemp("demo")
    url = f"sqlite:///{tmp / 'demo.db'}"
    settings = make_settings(tmp, database_url=url, chroma_url=chroma_srv.url,
                             chroma_collection=f"demo_{uuid.uuid4().hex[:8]}")
    db.upgrade(url)
    load_demo(settings, today=DEMO_TODAY)
    mp = pytest.MonkeyPatch()
    for key, value in {"HILJAINEN_DATABASE_URL": url, "HILJAINEN_CHROMA_URL": chroma_srv.url,
                       "HILJAINEN_CHROMA_COLLECTION": settings.chroma_collection}.items():
        mp.setenv(key, value)
    jobs.runtime.cache_clear()
    jobs.process_all()
    jobs.refresh_themes(DEMO_TODAY.isoformat())
    yield settings
    mp.undo()
    jobs.runtime.cache_clear()


@pytest.fixture()
def demo_copy(demo_db: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """This test's own copy of the demo database (its vectors shared, read only): what a test
    changes there (a refresh, a renamed theme, a tracked search, a new user), no other test sees."""
    import dataclasses
    import sqlite3

    from workers import jobs

    url = f"sqlite:///{tmp_path / 'demo.db'}"
    source = sqlite3.connect(demo_db.sqlalchemy_url.removeprefix("sqlite:///"))
    target = sqlite3.connect(url.removeprefix("sqlite:///"))
    with target:
        source.backup(target)
    source.close()
    target.close()
    monkeypatch.setenv("HILJAINEN_DATABASE_URL", url)
    jobs.runtime.cache_clear()
    yield dataclasses.replace(demo_db, database_url=url, data_dir=tmp_path / "data")
    jobs.runtime.cache_clear()


@pytest.fixture()
def live_server() -> Iterator[Callable[[Flask], str]]:
    """Serve an app on a free loopback port in a thread; returns its base URL."""
    import threading

    from werkzeug.serving import make_server

    from hiljainen import resources
    from hiljainen.services import free_port

    servers = []

    def serve(application: Flask) -> str:
        # Load the models first, as `hiljainen web` does at start: a cold redactor made the first
        # note wait past the browser's 30 s timeout when the suite's order put a browser test first.
        resources.warm_up(application).join(timeout=300)
        port = free_port()
        server = make_server("127.0.0.1", port, application, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{port}"

    yield serve
    for server in servers:
        server.shutdown()


CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """Debian's headless Chromium driven by Playwright (scripts/setup.sh --dev installs it)."""
    import shutil

    from playwright.sync_api import sync_playwright

    path = shutil.which("chromium") or shutil.which("chromium-browser")
    assert path, "Chromium is missing: run scripts/setup.sh --dev"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=path, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()
