"""Who may do what: one declared table of every route and API endpoint, walked as anonymous,
customer, staff, leader and admin, and the note-visibility rules behind it.

Everything is real: the session's Redis and Chroma servers, the embedder and spaCy. Notes are
stored through intake and the public form, processed by the worker's code, answered through the
triage forms; API tokens are issued as the admin page issues them.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from hiljainen import accounts, create_app, db, intake, resources, tokens
from hiljainen.models import Base, Observation, Role, Source, Theme, Touchpoint, Unit, User
from hiljainen.runtime import Runtime
from hiljainen.search import suggest
from hiljainen.services import ChildServer
from hiljainen.stores import queue
from tests.conftest import csrf_token, login, make_settings, redis_db

# --------------------------------------------------------------------------- the table

OK = "ok"  # 2xx, or a redirect anywhere but the login page
LOGIN = "login"  # a redirect to the login page
DENIED = "forbidden"  # 403
MISSING = "not found"  # 404: also what exists but is none of the caller's business
NO_AUTH = "unauthorized"  # 401: no (valid) credentials for this kind of request

ROLES = ("anonymous", "customer", "staff", "leader", "admin")
ALL_OK = (OK, OK, OK, OK, OK)
SIGNED_IN = (LOGIN, LOGIN, OK, OK, OK)
LEADERS = (LOGIN, LOGIN, DENIED, OK, OK)
ADMINS = (LOGIN, LOGIN, DENIED, DENIED, OK)
API_WRITE = (NO_AUTH, NO_AUTH, OK, OK, OK)
API_READ = (NO_AUTH, NO_AUTH, DENIED, OK, OK)

# Who may do what. The roles, left to right:
#   anonymous  a browser with no session and nothing else;
#   customer   a browser with no session that holds a touchpoint's public link and the receipt code
#              of its own note (sent to /receipt, and as "touchpoint" to suggestions and "me too");
#   staff      a staff member who is NOT the author of the note in the URL: a colleague, same unit;
#   leader, admin.
# On /api/v1 staff, leader and admin send a bearer token of their role and no cookie; anonymous and
# customer send none. A session cookie without a token, a wrong token and a revoked token must all
# fare as anonymous does. URL values are set in the `world` fixture: public_id is a colleague's
# private note (for "me too" her shared note). "*" stands for every method of the rule.
ACCESS: dict[tuple[str, str], tuple[str, str, str, str, str]] = {
    #                                                    anonymous customer staff    leader   admin
    ("GET", "/"):                                         (LOGIN,   LOGIN,   OK,      OK,      OK),
    ("GET", "/login"):                                    ALL_OK,
    ("POST", "/login"):                                   (NO_AUTH, NO_AUTH, OK,      OK,      OK),
    ("POST", "/logout"):                                  (LOGIN,   LOGIN,   LOGIN,   LOGIN,   LOGIN),
    ("GET", "/healthz"):                                  ALL_OK,
    ("GET", "/healthz/details"):                          ALL_OK,  # the test client is direct loopback
    ("GET", "/static/<path:filename>"):                   ALL_OK,
    # writing notes
    ("GET", "/note"):                                     SIGNED_IN,
    ("POST", "/note"):                                    SIGNED_IN,
    ("GET", "/my"):                                       SIGNED_IN,
    ("GET", "/settings"):                                 SIGNED_IN,
    ("POST", "/settings"):                                SIGNED_IN,
    ("POST", "/settings/password"):                       SIGNED_IN,
    ("GET", "/t/<slug>"):                                 ALL_OK,
    ("POST", "/t/<slug>"):                                ALL_OK,
    ("GET", "/t/<slug>/qr.svg"):                          ALL_OK,
    ("GET", "/t/<slug>/poster"):                          ADMINS,
    ("GET", "/receipt"):                                  ALL_OK,
    ("POST", "/receipt"):                                 ALL_OK,
    # search, a note's page, suggestions and "me too"
    ("GET", "/search"):                                   SIGNED_IN,
    ("GET", "/notes/<public_id>"):                        (LOGIN,   LOGIN,   MISSING, OK,      OK),
    ("POST", "/search/similar-draft"):                    (NO_AUTH, OK,      OK,      OK,      OK),
    ("POST", "/notes/<public_id>/me-too"):                (NO_AUTH, MISSING, OK,      OK,      OK),
    # leadership
    ("GET", "/dashboard/"):                               LEADERS,
    ("GET", "/dashboard/data/<chart>.csv"):               LEADERS,
    ("POST", "/dashboard/indicators"):                    LEADERS,
    ("GET", "/report/"):                                  LEADERS,
    ("GET", "/digest/"):                                  LEADERS,
    ("GET", "/themes/<int:theme_id>"):                    LEADERS,
    ("POST", "/themes/<int:theme_id>/name"):              LEADERS,
    ("POST", "/themes/<int:theme_id>/interpretation"):    LEADERS,
    ("POST", "/themes/<int:theme_id>/track"):             LEADERS,
    ("GET", "/themes/"):                                  LEADERS,
    ("POST", "/themes/<int:theme_id>/merge"):             LEADERS,
    ("POST", "/themes/<int:theme_id>/split"):             LEADERS,
    ("POST", "/themes/<int:theme_id>/move"):              LEADERS,
    ("POST", "/themes/<int:theme_id>/not-new"):           LEADERS,
    ("POST", "/themes/<int:theme_id>/watch"):             LEADERS,
    ("POST", "/themes/<int:theme_id>/undo"):              LEADERS,
    ("POST", "/themes/refresh"):                          LEADERS,
    ("GET", "/themes/refresh/<job_id>.json"):             LEADERS,
    ("GET", "/triage/"):                                  LEADERS,
    ("GET", "/triage/notes/<public_id>"):                 LEADERS,
    ("POST", "/triage/notes/<public_id>/acknowledge"):    LEADERS,
    ("POST", "/triage/notes/<public_id>/status"):         LEADERS,
    ("POST", "/triage/notes/<public_id>/owner"):          LEADERS,
    ("POST", "/triage/notes/<public_id>/answer"):         LEADERS,
    ("POST", "/triage/notes/<public_id>/action"):         LEADERS,
    ("GET", "/triage/themes/<int:theme_id>"):             LEADERS,
    ("POST", "/triage/themes/<int:theme_id>"):            LEADERS,
    ("POST", "/triage/themes/<int:theme_id>/answer"):     LEADERS,
    # administration
    ("GET", "/admin/"):                                   ADMINS,
    ("POST", "/admin/users"):                             ADMINS,
    ("POST", "/admin/touchpoints"):                       ADMINS,
    ("POST", "/admin/touchpoints/<int:touchpoint_id>"):   ADMINS,
    ("GET", "/admin/users/<int:user_id>"):                ADMINS,
    ("POST", "/admin/users/<int:user_id>"):               ADMINS,
    ("POST", "/admin/users/<int:user_id>/active"):        ADMINS,
    ("POST", "/admin/users/<int:user_id>/password"):      ADMINS,
    ("POST", "/admin/units"):                             ADMINS,
    ("POST", "/admin/organisation"):                      ADMINS,
    ("POST", "/admin/units/<int:unit_id>"):               ADMINS,
    ("POST", "/admin/privacy"):                           ADMINS,  # export or erase a person's data
    ("GET", "/admin/import"):                             ADMINS,
    ("POST", "/admin/import"):                            ADMINS,
    ("GET", "/admin/delivery"):                           ADMINS,
    ("POST", "/admin/delivery"):                          ADMINS,
    ("GET", "/admin/tokens"):                             ADMINS,
    ("POST", "/admin/tokens"):                            ADMINS,
    ("POST", "/admin/tokens/<int:token_id>/revoke"):      ADMINS,
    # JSON API (bearer tokens)
    ("POST", "/api/v1/observations"):                     API_WRITE,
    ("GET", "/api/v1/observations"):                      API_READ,
    ("GET", "/api/v1/observations/<public_id>"):          API_READ,
    ("GET", "/api/v1/observations/<public_id>/similar"):  API_READ,
    ("GET", "/api/v1/search"):                            API_READ,
    ("GET", "/api/v1/openapi.json"):                      ALL_OK,
    ("*", "/api/v1/"):                                    (MISSING,) * 5,
    ("*", "/api/v1/<path:rest>"):                         (MISSING,) * 5,
}  # fmt: skip

# --------------------------------------------------------------------------- the people and notes

PASSWORD = "salasana-1234"
AUTHOR = "hoitaja-a"  # writes the private and the shared note
USERS = {"staff": "hoitaja-b", "leader": "johtaja", "admin": "paakayttaja"}
TOUCHPOINT = "aula"
# Close in meaning to every hissi note below (cosine >= suggest.SUGGEST_MIN_SIMILARITY, checked).
DRAFT = "Hissi on ollut rikki koko viikon ja ostoksia kannetaan portaita."


@dataclass(frozen=True)
class Text:
    text: str
    marker: str  # a word found in this text only: its appearance in an answer is a leak


NOTES = {
    # Names are redacted from it, so it is never shown to another writer: the author's alone.
    "private": Text(
        "Hissi on ollut rikki koko viikon ja Matti Virtanen kantaa ostoksia portaita kellarikomerosta.",
        "kellarikomerosta",
    ),
    # Nothing redacted, same unit: suggested to colleagues writing about the same thing.
    "shared": Text(
        "Hissi on ollut rikki koko viikon ja asukkaat kantavat ostoskasseja portaita.", "ostoskasseja"
    ),
    "colleague": Text(  # by the staff member of the table (hoitaja-b)
        "Hissi on ollut rikki koko viikon ja ostoksia kannetaan portaita rappukäytävässä.", "rappukäytävässä"
    ),
    "public": Text(  # another customer's note at the touchpoint
        "Hissi on ollut rikki koko viikon ja äitini kantaa ostoksia portaita rollaattorin kanssa.",
        "rollaattorin",
    ),
}
CUSTOMER_NOTE = Text("Aulan kahviautomaatti on ollut rikki jo viikon.", "kahviautomaatti")
ANSWER = Text("Varaosatilaus on tehty, laite korjataan ensi viikolla.", "Varaosatilaus")
ACTION = Text("Soitettu huoltoyhtiölle, sisäinen tiketti avattu.", "huoltoyhtiölle")  # internal
# The customer's address for the answer: only that note's triage page shows it, the API never.
CONTACT = Text("aulan.asiakas@example.fi", "aulan.asiakas@example.fi")

ALL_TEXTS = {**NOTES, "customer": CUSTOMER_NOTE, "answer": ANSWER, "action": ACTION, "contact": CONTACT}
# What must never appear in any answer to a role during the walk.
NEVER_SHOWN = {
    "anonymous": tuple(ALL_TEXTS),
    "customer": ("private", "shared", "colleague", "action", "contact"),
    "staff": ("private", "public", "customer", "answer", "action", "contact"),
    "leader": ("contact",),
    "admin": ("contact",),
}
# What must appear (so the walk is not blind): (role, method, rule) -> texts.
MUST_SHOW = {
    ("customer", "GET", "/receipt"): ("customer", "answer"),
    ("customer", "POST", "/search/similar-draft"): ("public",),
    ("staff", "POST", "/search/similar-draft"): ("shared",),
    ("staff", "GET", "/my"): ("colleague",),
    ("staff", "GET", "/search"): ("colleague",),
    ("leader", "GET", "/search"): ("private", "shared"),
    ("leader", "GET", "/triage/notes/<public_id>"): ("private",),
    ("admin", "GET", "/api/v1/observations/<public_id>"): ("private",),
}


@dataclass
class World:
    app: Flask
    ids: dict[str, str]  # the notes' public ids, as pages and the API name them
    receipt: str
    bearer: dict[str, str]  # role -> token
    bad_tokens: dict[str, str]  # "wrong token" / "revoked token" -> plaintext
    args: dict[str, Any] = field(default_factory=dict)  # URL values by variable name

    def client(self, username: str | None = None) -> FlaskClient:
        """A fresh browser, logged in through the real form when a username is given."""
        client = self.app.test_client()
        if username:
            login(client, username, PASSWORD)
        return client


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory, redis_srv: ChildServer, chroma_srv: ChildServer
) -> World:
    """One organisation for the whole module (loading the models once keeps it under a minute)."""
    settings = make_settings(
        tmp_path_factory.mktemp("access"),
        redis_url=redis_db(redis_srv.url, 4),  # the refresh it queues stays out of others' queues
        chroma_url=chroma_srv.url,
        chroma_collection=f"access_{uuid.uuid4().hex[:12]}",
    )
    app = create_app(settings)
    app.config["TESTING"] = True
    ids: dict[str, int] = {}
    with app.test_request_context():
        s = resources.session()
        unit = Unit(slug="koivukoti", name_fi="Koivukoti", name_en="Birch home")
        s.add(unit)
        s.flush()
        s.add(Touchpoint(slug=TOUCHPOINT, name_fi="Aula", name_en="Lobby", unit_id=unit.id))
        people = {
            name: accounts.create_user(s, name, PASSWORD, Role.STAFF, unit_id=unit.id)
            for name in (AUTHOR, USERS["staff"])
        }
        people[USERS["leader"]] = accounts.create_user(s, USERS["leader"], PASSWORD, Role.LEADER)
        people[USERS["admin"]] = accounts.create_user(s, USERS["admin"], PASSWORD, Role.ADMIN)
        # The account, unit and touchpoint the admin's edit, disable and retire pages act on.
        spare_user = accounts.create_user(s, "varatunnus", PASSWORD, Role.STAFF)
        spare_unit = Unit(slug="varayksikko", name_fi="Varayksikkö", name_en="Spare unit")
        spare_point = Touchpoint(slug="varapiste", name_fi="Varapiste", name_en="Spare point")
        s.add_all([spare_unit, spare_point])
        s.flush()
        spares = {"user_id": spare_user.id, "unit_id": spare_unit.id, "touchpoint_id": spare_point.id}
        redactor = resources.get().redactor()
        writers = {"private": AUTHOR, "shared": AUTHOR, "colleague": USERS["staff"], "public": None}
        for key, note in NOTES.items():
            draft = intake.Draft(
                text=note.text,
                source=Source.CUSTOMER if key == "public" else Source.STAFF,
                unit=unit.slug,
                touchpoint=TOUCHPOINT if key == "public" else None,
                author=people[writers[key]] if writers[key] else None,
                shareable=key != "private",  # the writer's choice to let others see it
            )
            ids[key] = intake.store(s, draft, redactor, max_chars=5000).observation.id
        s.commit()
        stored = {o.id: o for o in s.scalars(select(Observation))}
        assert stored[ids["private"]].redactions, "the private note must hold redacted personal data"
        for key in ("shared", "colleague", "public"):
            assert not any(stored[ids[key]].redactions.values()), key
        assert all(NOTES[k].marker in stored[ids[k]].text for k in NOTES)

    # The customer writes through the public form and keeps the receipt code.
    customer = app.test_client()
    token = csrf_token(customer, f"/t/{TOUCHPOINT}")
    form = {"text": CUSTOMER_NOTE.text, "role": "customer", "wants_answer": "on", "contact": CONTACT.text}
    sent = customer.post(f"/t/{TOUCHPOINT}", data={**form, "csrf_token": token})
    assert sent.status_code == 201
    found = re.search(r'id="receipt">([A-Z0-9-]+)<', sent.get_data(as_text=True))
    assert found
    receipt = found.group(1)
    with app.app_context():
        obs = intake.find_by_receipt(resources.session(), receipt)
        assert obs is not None and obs.contact == CONTACT.text
        ids["customer"] = obs.id
        # Pages, links and the API name notes by their public ids only.
        query = select(Observation.id, Observation.public_id)
        public = dict(resources.session().execute(query).tuples().all())
        pub = {key: public[note_id] for key, note_id in ids.items()}

    # A leader answers it and records an internal action, through the triage forms.
    leader = app.test_client()
    login(leader, USERS["leader"], PASSWORD)
    for kind, text in (("answer", ANSWER), ("action", ACTION)):
        token = csrf_token(leader, f"/triage/notes/{pub['customer']}")
        resp = leader.post(
            f"/triage/notes/{pub['customer']}/{kind}", data={"body": text.text, "csrf_token": token}
        )
        assert resp.status_code == 303

    _process_and_theme(app, ids)

    with app.app_context():
        s = resources.session()
        by_name = {u.username: u for u in s.scalars(select(User))}
        bearer = {
            role: tokens.issue(s, f"walk-{role}", Role(role), user=by_name[name])[1]
            for role, name in USERS.items()
        }
        spare, _plain = tokens.issue(s, "spare", Role.STAFF)
        revoked, revoked_plain = tokens.issue(s, "revoked", Role.ADMIN)
        tokens.revoke(s, revoked.id)
        s.commit()
        job_id = queue.enqueue_refresh(resources.get().redis())
        theme_id = s.scalar(select(Theme.id))
    world = World(
        app,
        pub,
        receipt,
        bearer,
        {"wrong token": tokens.PREFIX + "x" * 43, "revoked token": revoked_plain},
    )
    world.args = {
        "public_id": pub["private"],
        "theme_id": theme_id,
        "slug": TOUCHPOINT,
        "chart": "tone",
        "job_id": job_id,
        "token_id": spare.id,
        "filename": "app.css",
        "rest": "no-such-thing",
        **spares,
    }
    return world


def _process_and_theme(app: Flask, ids: dict[str, int]) -> None:
    """The worker's processing (language, lemmas, vectors into Chroma), a theme and the snapshots."""
    from workers import jobs, refresh

    with app.app_context():
        settings = resources.get().settings
        embedder = resources.get().embedder()
    ctx = Runtime.from_settings(settings, embedder=embedder)
    with db.transaction(ctx.sessions) as s:
        notes = s.scalars(select(Observation).order_by(Observation.id)).all()
        jobs.index_notes(ctx, notes)
        theme = Theme(label="hissi rikki", size=len(notes), representatives=[ids["shared"]])
        s.add(theme)
        s.flush()
        for note in notes:
            note.theme_id = theme.id
        s.flush()
        refresh.indicators(s, dt.date.today(), settings.min_group_size)


# --------------------------------------------------------------------------- requests


def _request(world: World, role: str, method: str, endpoint: str) -> dict[str, Any]:
    """Query string and body of a request that this role, if allowed, would have done successfully."""
    customer = role == "customer"
    if method == "GET":
        queries: dict[str, dict[str, str]] = {
            "capture.receipt": {"code": world.receipt} if customer else {},
            "search.search": {"q": "hissi rikki portaita"},
            "api.search": {"q": "hissi rikki"},
        }
        return {"query_string": queries.get(endpoint, {})}
    public = {"touchpoint": TOUCHPOINT, "role": "customer"} if customer else {}
    bodies: dict[str, Callable[[], dict[str, Any]]] = {
        "auth.login": lambda: {"data": {"username": USERS.get(role, "ei-tunnusta"), "password": PASSWORD}},
        "capture.note": lambda: {"data": {"text": "Käytävän lamppu vilkkuu taas."}},
        "capture.public_form": lambda: {"data": {"text": "Odotustila oli siisti.", "role": "customer"}},
        "capture.receipt": lambda: {
            "data": {"code": world.receipt, "reply": "Kiitos tiedosta."} if customer else {}
        },
        "search.similar_draft": lambda: {"json": {"text": DRAFT, **public}},
        "search.me_too": lambda: {"json": public},
        "dashboard.track_search": lambda: {"data": {"query": "hissi"}},
        "themes.rename": lambda: {"data": {"name": "Hissit"}},
        "themes.interpret": lambda: {"data": {"meaning": "Hissit ovat vanhoja."}},
        "themes.track": lambda: {"data": {"threshold": "3"}},
        # A spare theme of two notes of its own (_path) is merged, split or has a note moved.
        "themes.merge": lambda: {"data": {"into": world.args["theme_id"]}},
        "themes.split": lambda: {"data": {"notes": world.args["spare_notes"][:1]}},
        "themes.move": lambda: {"data": {"notes": world.args["spare_notes"][:1],
                                         "to": world.args["theme_id"]}},
        "triage.set_status": lambda: {"data": {"status": "in_progress"}},
        "triage.set_owner": lambda: {"data": {"owner_id": ""}},
        "triage.answer": lambda: {"data": {"body": "Kiitos, asia on tiedossa."}},
        "triage.action": lambda: {"data": {"body": "Huolto tilattu."}},
        "triage.theme": lambda: {"data": {"status": "seen", "owner_id": ""}},
        "triage.theme_answer": lambda: {"data": {"body": "Kiitos, korjaamme asian.", "to": "all"}},
        "admin.delivery_settings": lambda: {"data": {"emails_leader": "johtaja@example.fi",
                                                     "kind_leader_alert": "on"}},
        "admin.add_user": lambda: {"data": {"username": "uusi", "password": PASSWORD, "role": "staff"}},
        "account.settings": lambda: {"data": {"email": "", "answers_by_email": ""}},
        # The same password again: a real change that leaves the walk's later logins working.
        "account.change_password": lambda: {"data": {"current": PASSWORD, "new": PASSWORD}},
        "admin.edit_user": lambda: {"data": {"display_name": "Vara Tunnus", "role": "leader"}},
        "admin.set_user_active": lambda: {"data": {"active": "off"}},
        "admin.set_organisation": lambda: {"data": {"name": "Koivukodin palvelut Oy"}},
        "admin.add_unit": lambda: {"data": {"slug": "uusi-yksikko", "name_fi": "Uusi yksikkö"}},
        "admin.edit_unit": lambda: {"data": {"name_fi": "Varayksikkö 2", "active": "on"}},
        "admin.edit_touchpoint": lambda: {"data": {"name_fi": "Varapiste 2", "active": "on"}},
        "admin.add_touchpoint": lambda: {"data": {"slug": "uusi-piste", "name_fi": "Uusi piste"}},
        "admin.privacy_request": lambda: {"data": {"kind": "user", "value": AUTHOR, "action": "export"}},
        "admin.upload": lambda: {
            "data": {"file": (io.BytesIO(b"text,source\nPihan valot eivat syty.,staff\n"), "notes.csv")}
        },
        "admin.issue_token": lambda: {"data": {"name": "walk", "role": "staff"}},
        "api.create_observation": lambda: {"json": {"text": "Pihan penkki on rikki.", "source": "staff"}},
    }
    return bodies.get(endpoint, dict)()


def _spare_theme(world: World) -> int:
    """A new theme holding two new notes (without any marker text), for corrections to act on."""
    with world.app.app_context():
        s = resources.session()
        theme = Theme(label="varateema", size=2)
        s.add(theme)
        s.flush()
        notes = [Observation(text="Varateeman havainto.", source=Source.STAFF, day=dt.date(2026, 11, 2),
                             theme_id=theme.id) for _ in range(2)]
        s.add_all(notes)
        s.commit()
        world.args["spare_notes"] = [n.public_id for n in notes]
        world.args["spare_theme"] = theme.id
        return theme.id


def _live_spare_theme(world: World) -> int:
    """The spare theme made last, while a correction has not used it up; else a new one."""
    with world.app.app_context():
        spare = world.args.get("spare_theme")
        theme = resources.session().get(Theme, spare) if spare else None
        if theme is not None and theme.active and theme.size == 2:
            return theme.id
    return _spare_theme(world)


def _path(world: World, rule: str, endpoint: str) -> str:
    values = dict(world.args)
    if endpoint == "search.me_too":
        values["public_id"] = world.ids["shared"]  # the private one nobody may join: see the staff test
    if endpoint in ("themes.merge", "themes.split", "themes.move"):
        values["theme_id"] = _live_spare_theme(world)
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", lambda m: str(values[m.group(1)]), rule)


def send(
    world: World,
    client: FlaskClient,
    role: str,
    method: str,
    rule: str,
    endpoint: str,
    *,
    bearer: str | None = None,
    csrf: bool = True,
) -> TestResponse:
    """One request as this role would make it; forms carry the session's CSRF token."""
    headers = {"Accept-Language": "fi"}
    if bearer:
        headers["Authorization"] = f"Bearer {bearer}"
    if csrf and method != "GET" and not rule.startswith("/api/"):
        headers["X-CSRFToken"] = csrf_token(client, "/login")
    path = _path(world, rule, endpoint)
    return client.open(path, method=method, headers=headers, **_request(world, role, method, endpoint))


def outcome(resp: TestResponse) -> str:
    """The table's word for an answer."""
    if resp.status_code in (301, 302, 303, 307, 308):
        return LOGIN if urlparse(resp.headers["Location"]).path == "/login" else OK
    if 200 <= resp.status_code < 300:
        return OK
    names = {401: NO_AUTH, 403: DENIED, 404: MISSING}
    return names.get(resp.status_code, f"HTTP {resp.status_code}")


def text_of(resp: TestResponse) -> str:
    """The answer as a person would read it (JSON escapes non-ASCII letters), lowercased."""
    if resp.is_json:
        return json.dumps(resp.get_json(), ensure_ascii=False).lower()
    return resp.get_data(as_text=True).lower()


def routes(app: Flask) -> list[tuple[str, str, str]]:
    """(method, rule, endpoint) of every route; logging out last so the sessions last the walk."""
    found = [
        (method, rule.rule, rule.endpoint)
        for rule in app.url_map.iter_rules()
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
    ]
    return sorted(found, key=lambda r: (r[:2] == ("POST", "/logout"), r[1], r[0]))


def expected(method: str, rule: str) -> tuple[str, str, str, str, str] | None:
    return ACCESS.get((method, rule)) or ACCESS.get(("*", rule))


# --------------------------------------------------------------------------- tests


def test_every_route_is_in_the_table(world: World) -> None:
    """A new route fails here until someone decides who may use it."""
    present = routes(world.app)
    missing = [f"{m} {r}" for m, r, _e in present if expected(m, r) is None]
    assert not missing, "routes not in ACCESS (add a row saying who may use them): " + ", ".join(missing)
    keys = {(m, r) for m, r, _e in present} | {("*", r) for _m, r, _e in present}
    stale = [f"{m} {r}" for m, r in ACCESS if (m, r) not in keys]
    assert not stale, "rows in ACCESS for routes that do not exist: " + ", ".join(stale)


def test_every_route_answers_every_role_as_the_table_says(world: World) -> None:
    """Walk every route as each role; compare with the table and look for leaked notes in every answer."""
    clients = {
        "anonymous": world.client(),
        "customer": world.client(),
        **{role: world.client(name) for role, name in USERS.items()},
    }
    problems: list[str] = []

    def check(who: str, method: str, rule: str, resp: TestResponse, want: str, reader: str) -> None:
        got = outcome(resp)
        if got != want:
            problems.append(f"{who} {method} {rule}: expected {want}, got {got}")
        body = text_of(resp)
        for key in NEVER_SHOWN[reader]:
            if ALL_TEXTS[key].marker.lower() in body:
                problems.append(f"{who} {method} {rule}: shows the {key} text")
        for key in MUST_SHOW.get((who, method, rule), ()):
            if ALL_TEXTS[key].marker.lower() not in body:
                problems.append(f"{who} {method} {rule}: should show the {key} text")

    for method, rule, endpoint in routes(world.app):
        row = expected(method, rule)
        if row is None:
            continue  # reported by test_every_route_is_in_the_table
        for role, want in zip(ROLES, row, strict=True):
            api = rule.startswith("/api/")
            if api and role in USERS:
                # The token alone, from a cookie-less client...
                resp = send(world, world.client(), role, method, rule, endpoint, bearer=world.bearer[role])
                check(role, method, rule, resp, want, role)
                # ...while the signed-in browser without a token is anonymous to the API.
                resp = send(world, clients[role], role, method, rule, endpoint)
                check(f"{role} (cookie, no token)", method, rule, resp, row[0], role)
            else:
                resp = send(world, clients[role], role, method, rule, endpoint)
                check(role, method, rule, resp, want, role)
        if rule.startswith("/api/"):
            for name, plaintext in world.bad_tokens.items():
                resp = send(world, world.client(), "anonymous", method, rule, endpoint, bearer=plaintext)
                check(name, method, rule, resp, row[0], "anonymous")
    assert not problems, "\n".join(problems)


def _dump(app: Flask) -> dict[str, list[tuple[Any, ...]]]:
    with app.app_context():
        s = resources.session()
        tables = Base.metadata.sorted_tables
        return {t.name: sorted(map(tuple, s.execute(select(t)).all()), key=repr) for t in tables}


def test_forms_without_csrf_token_are_refused_and_change_nothing(world: World) -> None:
    """Every form POST (all but the bearer-token API) needs the session's CSRF token, even for admins."""
    admin, stranger = world.client(USERS["admin"]), world.client()
    _live_spare_theme(world)  # made now, so that the refused corrections below find it unchanged
    before = _dump(world.app)
    posts = [r for r in routes(world.app) if r[0] != "GET" and not r[1].startswith("/api/")]
    assert len(posts) > 20
    for method, rule, endpoint in posts:
        for role, client in (("admin", admin), ("customer", stranger)):
            resp = send(world, client, role, method, rule, endpoint, csrf=False)
            assert resp.status_code == 400, (role, method, rule, resp.status_code)
            assert "csrf" in resp.get_data(as_text=True).lower(), (role, method, rule)
    assert _dump(world.app) == before
    assert admin.get("/admin/").status_code == 200, "the refused logout left the admin signed in"


def _suggested(client: FlaskClient, body: dict[str, str]) -> set[str]:
    token = csrf_token(client, "/login")
    resp = client.post("/search/similar-draft", json=body, headers={"X-CSRFToken": token})
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    return {item["id"] for item in resp.get_json()["items"]}


def _me_too(client: FlaskClient, note_id: str, body: dict[str, str]) -> int:
    token = csrf_token(client, "/login")
    return client.post(f"/notes/{note_id}/me-too", json=body, headers={"X-CSRFToken": token}).status_code


def test_staff_see_their_own_notes_and_only_shared_ones_of_colleagues(world: World) -> None:
    ids = world.ids
    author, colleague = world.client(AUTHOR), world.client(USERS["staff"])
    leader = world.client(USERS["leader"])
    private, shared = NOTES["private"].marker, NOTES["shared"].marker

    # The author reads her private note, in her list, on its page and among her similar notes.
    assert private in author.get("/my").get_data(as_text=True)
    page = author.get(f"/notes/{ids['shared']}")
    assert page.status_code == 200 and private in page.get_data(as_text=True)

    # Her colleague: not by id, not in "my notes", not in search, not among similar notes...
    for key in ("private", "shared", "public", "customer"):
        assert colleague.get(f"/notes/{ids[key]}").status_code == 404, key
    mine = colleague.get("/my").get_data(as_text=True)
    assert NOTES["colleague"].marker in mine and private not in mine and shared not in mine
    found = colleague.get("/search", query_string={"q": "hissi rikki portaita"}).get_data(as_text=True)
    assert re.findall(r'href="/notes/([a-z0-9]+)"', found) == [ids["colleague"]]
    page = colleague.get(f"/notes/{ids['colleague']}").get_data(as_text=True)
    assert private not in page and shared not in page
    # ...although both are her note's nearest neighbours (what the leader sees on the same page).
    page = leader.get(f"/notes/{ids['colleague']}").get_data(as_text=True)
    assert private in page and shared in page

    # Suggestions while writing: the shared note, never the private one (not for want of similarity).
    with world.app.app_context():
        vectors = resources.get().embedder().embed([DRAFT, NOTES["private"].text], kind="passage")
    assert float(np.dot(vectors[0], vectors[1])) >= suggest.SUGGEST_MIN_SIMILARITY
    suggested = _suggested(colleague, {"text": DRAFT})
    assert ids["shared"] in suggested and ids["private"] not in suggested
    assert ids["colleague"] not in suggested and ids["public"] not in suggested
    assert _me_too(colleague, ids["private"], {}) == 404
    assert _me_too(colleague, ids["shared"], {}) == 200

    # The API: a staff token writes but reads nothing, the private note included.
    bearer = {"Authorization": f"Bearer {world.bearer['staff']}"}
    api = world.client()
    for path in (
        f"/api/v1/observations/{ids['private']}",
        f"/api/v1/observations/{ids['private']}/similar",
        "/api/v1/observations",
        "/api/v1/search?q=hissi",
    ):
        resp = api.get(path, headers=bearer)
        assert resp.status_code == 403 and private not in text_of(resp), path


def test_a_receipt_shows_answers_to_its_note_but_never_internal_actions(world: World) -> None:
    ids = world.ids
    leader = world.client(USERS["leader"])
    triage = leader.get(f"/triage/notes/{ids['customer']}").get_data(as_text=True)
    assert ACTION.text in triage and ANSWER.text in triage and CONTACT.text in triage  # all exist

    customer = world.client()
    page = customer.get("/receipt", query_string={"code": world.receipt.lower()})
    text = page.get_data(as_text=True)
    assert page.status_code == 200
    assert CUSTOMER_NOTE.text in text and ANSWER.text in text
    assert ACTION.marker not in text and USERS["leader"] not in text and CONTACT.text not in text
    token = csrf_token(customer, "/login")
    resp = customer.post("/receipt", data={"code": world.receipt, "reply": "Kiitos!", "csrf_token": token})
    assert resp.status_code == 200 and "Kiitos!" in resp.get_data(as_text=True)
    text = customer.get("/receipt", query_string={"code": world.receipt}).get_data(as_text=True)
    assert "Kiitos!" in text and ACTION.marker not in text
    # A wrong code shows nothing; the code opens no internal page.
    wrong = customer.get("/receipt", query_string={"code": "AAAA-BBBB-CCCC"})
    assert wrong.status_code == 404 and CUSTOMER_NOTE.marker not in wrong.get_data(as_text=True)
    for path in (f"/triage/notes/{ids['customer']}", f"/notes/{ids['customer']}", "/my"):
        assert outcome(customer.get(path)) == LOGIN, path

    # On the public form: customers' notes are suggested and can be joined, staff notes never.
    public = {"touchpoint": TOUCHPOINT, "role": "customer"}
    suggested = _suggested(customer, {"text": DRAFT, **public})
    assert ids["public"] in suggested
    assert not suggested & {ids["private"], ids["shared"], ids["colleague"]}
    assert _me_too(customer, ids["shared"], public) == 404
    assert _me_too(customer, ids["public"], public) == 200


def test_static_files_stay_in_their_folder(world: World) -> None:
    client = world.client()
    assert client.get("/static/app.css").status_code == 200
    for path in ("/static/../__init__.py", "/static/..%2f__init__.py", "/static/%2e%2e/config.py"):
        resp = client.get(path)
        assert resp.status_code == 404 and b"create_app" not in resp.data, path
