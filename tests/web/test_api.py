"""The JSON API and its tokens, on SQLite and PostgreSQL, against real Redis and the real redactor."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, event, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from sqlalchemy import select

from hiljainen import create_app, privacy, resources, tokens
from hiljainen.config import Settings
from hiljainen.errors import InvalidInput
from hiljainen.models import ApiToken, Observation, Role, Touchpoint, Unit, User
from hiljainen.web.api import observations, openapi
from tests.conftest import across_the_date_line, csrf_token, empty_queue, login, make_org, processing_queued

EN = {"Accept-Language": "en"}
PASSWORD = "salasana-123"


@pytest.fixture()
def api_app(settings: Settings, database_url: str) -> Flask:
    """The app on SQLite or PostgreSQL, seeded with a unit, touchpoints, users and tokens."""
    app = create_app(dataclasses.replace(settings, database_url=database_url))
    app.config["TESTING"] = True
    return app


@pytest.fixture()
def keys(api_app: Flask) -> dict[str, str]:
    """Plaintext tokens by name: staff (signed by a user), system (no user), leader, admin, revoked."""
    made = make_org(
        api_app,
        unit=("Koivukoti", "Koivukoti"),
        touchpoints=("aula",),
        people=("hoitaja", "johtaja", "paakayttaja"),
        tokens={
            "staff": ("hoitaja", Role.STAFF),
            "system": (None, Role.STAFF),
            "leader": ("johtaja", Role.LEADER),
            "admin": ("paakayttaja", Role.ADMIN),
        },
    )
    with api_app.test_request_context():
        db = resources.session()
        # A second unit to filter by, and a retired touchpoint and a revoked token to be refused.
        db.add(Unit(slug="kotihoito", name_fi="Kotihoito", name_en="Home care"))
        db.add(Touchpoint(slug="vanha", name_fi="Vanha", name_en="Old", active=False))
        revoked, plain = tokens.issue(db, "vanha", Role.ADMIN)
        tokens.revoke(db, revoked.id)
        db.commit()
    return {**made.tokens, "revoked": plain}


@pytest.fixture()
def client(api_app: Flask) -> FlaskClient:
    return api_app.test_client()


def call(
    client: FlaskClient, method: str, path: str, token: str | None = None, body: Any = None, **kw: Any
) -> Any:
    headers = dict(EN)
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if body is not None:
        kw["json"] = body
    return client.open(path, method=method, headers=headers, **kw)


def post(client: FlaskClient, token: str, **body: Any) -> Any:
    return call(client, "POST", "/api/v1/observations", token, body)


def count_notes(app: Flask) -> int:
    with app.test_request_context():
        return len(resources.session().scalars(select(Observation.id)).all())


def by_public_id(public_id: str) -> Observation | None:
    """The note the API named (inside a request context)."""
    return resources.session().scalar(select(Observation).where(Observation.public_id == public_id))


# --- tokens ----------------------------------------------------------------------------------


def test_tokens_are_stored_as_hashes_and_can_be_revoked(api_app: Flask, keys: dict[str, str]) -> None:
    with api_app.test_request_context():
        db = resources.session()
        stored = db.scalars(select(ApiToken)).all()
        plaintexts = set(keys.values())
        for row in stored:
            assert row.token_hash not in plaintexts and len(row.token_hash) == 64
        leader = tokens.verify(db, keys["leader"])
        assert leader is not None and leader.role == Role.LEADER
        assert leader.token_hash == hashlib.sha256(keys["leader"].encode()).hexdigest()
        assert tokens.verify(db, keys["revoked"]) is None
        assert tokens.verify(db, keys["leader"] + "x") is None
        assert tokens.verify(db, "") is None
        tokens.revoke(db, leader.id)
        assert tokens.verify(db, keys["leader"]) is None


def test_a_token_cannot_exceed_its_users_role_and_dies_with_the_account(
    api_app: Flask, keys: dict[str, str]
) -> None:
    with api_app.test_request_context():
        db = resources.session()
        staff = tokens.verify(db, keys["staff"])
        assert staff is not None and staff.user_id is not None
        user = db.get(User, staff.user_id)
        assert user is not None
        with pytest.raises(InvalidInput):
            tokens.issue(db, "liikaa", Role.LEADER, user=user)
        with pytest.raises(InvalidInput):
            tokens.issue(db, "   ", Role.STAFF)
        user.active = False
        db.flush()
        assert tokens.verify(db, keys["staff"]) is None


# --- writing ---------------------------------------------------------------------------------


def test_post_stores_redacted_text_and_queues_it(
    client: FlaskClient, keys: dict[str, str], api_app: Flask, settings: Settings
) -> None:
    raw = "Asiakas pyysi soittamaan numeroon 040 123 4567 tai maija.m@example.fi, aula oli kylmä."
    empty_queue(settings.redis_url)
    resp = post(
        client, keys["system"], text=raw, source="customer", touchpoint="aula", tags=["Lämpö", "aula"]
    )
    assert resp.status_code == 201, resp.get_json()
    body = resp.get_json()
    assert "040 123 4567" not in resp.get_data(as_text=True)
    assert "example.fi" not in resp.get_data(as_text=True)
    assert body["redactions"] == {"PHONE": 1, "EMAIL": 1}
    assert body["unit"] == "koivukoti" and body["touchpoint"] == "aula"  # the touchpoint's unit
    assert body["tags"] == ["lämpö", "aula"] and body["anonymous"] is True and body["author"] is None
    assert body["status"] == "new" and body["queued"] is True and body["receipt"]
    assert resp.headers["Location"].endswith(f"/api/v1/observations/{body['id']}")
    with api_app.test_request_context():
        obs = by_public_id(body["id"])
        assert obs is not None and "040" not in obs.text and obs.text == body["text"]
    assert processing_queued(settings.redis_url)
    read = call(client, "GET", f"/api/v1/observations/{body['id']}", keys["leader"]).get_json()
    assert read["text"] == body["text"] and "receipt" not in read


def test_user_tokens_sign_notes_unless_anonymous(client: FlaskClient, keys: dict[str, str]) -> None:
    signed = post(client, keys["staff"], text="Iltavuorossa on liian vähän väkeä.", source="staff").get_json()
    assert signed["author"] == "hoitaja" and signed["anonymous"] is False
    anon = post(client, keys["staff"], text="Ilmoitus jäi tekemättä.", source="staff", anonymous=True)
    assert anon.status_code == 201
    assert anon.get_json()["author"] is None and anon.get_json()["anonymous"] is True


def test_a_staff_members_token_writes_only_what_the_staff_form_writes(
    client: FlaskClient, keys: dict[str, str], api_app: Flask
) -> None:
    # Issue 22: a staff token posted notes as source=customer, anonymous, dated 2020.
    before = count_notes(api_app)
    as_customer = post(
        client, keys["staff"], text="Asiakas oli tyytymätön.", source="customer", anonymous=True
    )
    assert as_customer.status_code == 403 and "staff" in as_customer.get_json()["error"]
    backdated = post(client, keys["staff"], text="Vanha asia.", source="staff", day="2020-03-01")
    assert backdated.status_code == 403 and "today" in backdated.get_json()["error"]
    assert count_notes(api_app) == before
    with api_app.app_context():
        today = resources.get().settings.today().isoformat()
    assert post(client, keys["staff"], text="Tänään.", source="staff", day=today).status_code == 201
    # Systems (a kiosk, an import) and leaders may write other writers' notes and earlier days.
    assert (
        post(client, keys["system"], text="Palautetta.", source="customer", day="2020-03-01").status_code
        == 201
    )
    assert post(client, keys["leader"], text="Tuotu.", source="relative", day="2020-03-01").status_code == 201


def test_notes_are_dated_in_the_deployments_time_zone(
    api_app: Flask, client: FlaskClient, keys: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Written just after midnight in the deployment, while the server's clock still shows the day
    # before (or after): the note is about the deployment's today, which is neither the future nor
    # "not today" for a staff member's token.
    with api_app.app_context():
        runtime = resources.get()
        zone = across_the_date_line()
        monkeypatch.setattr(runtime, "settings", dataclasses.replace(runtime.settings, timezone=zone))
        there = runtime.settings.today()
    undated = post(client, keys["staff"], text="Yöllä kirjattu.", source="staff")
    assert undated.status_code == 201 and undated.get_json()["day"] == there.isoformat()
    dated = post(client, keys["staff"], text="Tänään sielläkin.", source="staff", day=there.isoformat())
    assert dated.status_code == 201, dated.get_json()
    tomorrow = (there + dt.timedelta(days=1)).isoformat()
    ahead = post(client, keys["system"], text="Huomenna.", source="customer", day=tomorrow)
    assert ahead.status_code == 400 and "future" in ahead.get_json()["error"]


def test_html_is_stored_and_returned_as_plain_text(client: FlaskClient, keys: dict[str, str]) -> None:
    text = '<script>alert("x")</script> <b>Hei</b> & kiitos'
    created = post(client, keys["system"], text=text, source="relative", day="2026-01-15")
    assert created.status_code == 201
    read = call(client, "GET", f"/api/v1/observations/{created.get_json()['id']}", keys["admin"])
    assert read.mimetype == "application/json"
    assert read.get_json()["text"] == text and read.get_json()["day"] == "2026-01-15"


# Direction controls: each shows readers other characters than redaction would read past it.
DIRECTION = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


def test_direction_controls_in_tags_cannot_disguise_personal_data(
    client: FlaskClient, keys: dict[str, str], api_app: Flask
) -> None:
    """An override makes "7654 321 040" show as a phone number, and one inside a number or an
    address hides it from redaction: controls are dropped before redaction reads the tag, so what
    is stored is what readers see, and personal data found in it drops the tag."""
    sent = [
        "\u202e7654 321 040",  # shown as 040 123 4567
        "\u202emoc.elpmaxe@anna",  # shown as anna@example.com
        "040\u202c 123 4567",  # shown as 040 123 4567; the pop hid the number from redaction
        "anna\u2066@example.com",
        "lämpö",
        "\u200b\u3164",  # shows nothing: dropped as an empty tag is
    ]
    created = post(client, keys["system"], text="Aulassa on kylmä.", source="customer", tags=sent)
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    with api_app.test_request_context():
        obs = by_public_id(body["id"])
        assert obs is not None
        stored = obs.tags
    assert not [t for t in stored if set(t) & set(DIRECTION)], "a stored tag reads other than it shows"
    assert stored == body["tags"] == ["7654 321 040", "moc.elpmaxe@anna", "lämpö"]
    assert body["redactions"] == {"PHONE": 1, "EMAIL": 1}


INVISIBLE = ["\u200b\u200b", "\ufeff", "\u2060\u2063", "\u3164", "\u00ad\u00ad", " \u115f\u1160\uffa0\n"]


def test_a_note_of_invisible_characters_only_is_refused_as_empty(
    client: FlaskClient, keys: dict[str, str], api_app: Flask
) -> None:
    """Zero-width spaces, word joiners, a BOM, soft hyphens and Hangul fillers show nothing: such a
    note would reach leaders, and its writer a receipt, as an empty one."""
    for text in INVISIBLE:
        resp = post(client, keys["system"], text=text, source="customer")
        assert resp.status_code == 400, (text, resp.get_json())
        assert resp.get_json()["error"] == "Write something before sending.", text
    assert count_notes(api_app) == 0
    assert post(client, keys["system"], text="\u200bHissi\u00ad on rikki.", source="staff").status_code == 201


BAD_BODIES: list[tuple[str, Any, int, str]] = [
    ("empty text", {"text": "", "source": "staff"}, 400, ""),
    ("whitespace text", {"text": " \n\t  ", "source": "staff"}, 400, ""),
    ("text over the limit", {"text": "a" * 5001, "source": "staff"}, 400, "5000"),
    ("control character", {"text": "kello\x07soi", "source": "staff"}, 400, "control"),
    ("lone surrogate", {"text": "rikki \ud800", "source": "staff"}, 400, "UTF-8"),
    ("text missing", {"source": "staff"}, 400, "text"),
    ("text not a string", {"text": 5, "source": "staff"}, 400, "text"),
    ("unknown source", {"text": "hei", "source": "robot"}, 400, "source"),
    ("unknown touchpoint", {"text": "hei", "source": "staff", "touchpoint": "kellari"}, 400, "kellari"),
    ("inactive touchpoint", {"text": "hei", "source": "staff", "touchpoint": "vanha"}, 400, "vanha"),
    ("unknown unit", {"text": "hei", "source": "staff", "unit": "kuu"}, 400, "kuu"),
    ("other unit's touchpoint", {"text": "hei", "source": "staff", "unit": "kotihoito", "touchpoint": "aula"},
     400, "touchpoint aula is not in the unit kotihoito"),
    ("NUL in unit", {"text": "hei", "source": "staff", "unit": "a\x00b"}, 400, "unit"),
    ("unknown field", {"text": "hei", "source": "staff", "contact": "x"}, 400, "contact"),
    ("tags not a list", {"text": "hei", "source": "staff", "tags": "a,b"}, 400, "tags"),
    ("too many tags", {"text": "hei", "source": "staff", "tags": list("abcdefghijk")}, 400, "10"),
    ("impossible day", {"text": "hei", "source": "staff", "day": "2026-02-30"}, 400, "day"),
    ("day in the future", {"text": "hei", "source": "staff", "day": "2999-01-01"}, 400, "future"),
    ("day in year 1", {"text": "hei", "source": "staff", "day": "0001-01-03"}, 400, "before"),
    ("anonymous not a bool", {"text": "hei", "source": "staff", "anonymous": "yes"}, 400, "anonymous"),
    ("JSON array", [{"text": "hei", "source": "staff"}], 400, "object"),
    ("JSON string", "hei", 400, "object"),
    ("JSON null", None, 400, "object"),
]


@pytest.mark.parametrize(("case", "body", "status", "says"), BAD_BODIES, ids=[c[0] for c in BAD_BODIES])
def test_bad_notes_get_a_clear_error_and_store_nothing(
    client: FlaskClient, keys: dict[str, str], api_app: Flask, case: str, body: Any, status: int, says: str
) -> None:
    data = json.dumps(body).encode()
    resp = client.post(
        "/api/v1/observations",
        data=data,
        headers={**EN, "Authorization": f"Bearer {keys['staff']}", "Content-Type": "application/json"},
    )
    assert resp.status_code == status, resp.get_data(as_text=True)
    assert resp.mimetype == "application/json"
    assert says in resp.get_json()["error"]
    assert count_notes(api_app) == 0


@pytest.mark.parametrize(
    ("case", "data", "content_type", "status"),
    [
        ("invalid UTF-8", b'{"text": "p\xe4iv\xe4", "source": "staff"}', "application/json", 400),
        ("malformed JSON", b'{"text": "hei", ', "application/json", 400),
        ("deep nesting", b"[" * 30_000 + b"]" * 30_000, "application/json", 400),
        ("plain text", b"hei", "text/plain", 415),
        ("form", b"text=hei&source=staff", "application/x-www-form-urlencoded", 415),
        ("too large", b'{"text": "' + b"a" * 200_000 + b'"}', "application/json", 413),
    ],
)
def test_bodies_that_are_not_a_json_object_are_refused(
    client: FlaskClient,
    keys: dict[str, str],
    api_app: Flask,
    case: str,
    data: bytes,
    content_type: str,
    status: int,
) -> None:
    resp = client.post(
        "/api/v1/observations",
        data=data,
        headers={**EN, "Authorization": f"Bearer {keys['staff']}", "Content-Type": content_type},
    )
    assert resp.status_code == status
    assert resp.get_json()["error"]
    assert count_notes(api_app) == 0


# --- reading and access ----------------------------------------------------------------------


def test_who_may_do_what(client: FlaskClient, keys: dict[str, str]) -> None:
    note = {"text": "Hissi on rikki.", "source": "staff"}
    unauthenticated = call(client, "GET", "/api/v1/observations")
    assert unauthenticated.status_code == 401 and "Bearer" in unauthenticated.headers["WWW-Authenticate"]
    assert call(client, "POST", "/api/v1/observations", None, note).status_code == 401
    assert call(client, "GET", "/api/v1/observations", "hlj_wrong").status_code == 401
    assert call(client, "POST", "/api/v1/observations", keys["revoked"], note).status_code == 401
    basic = client.get("/api/v1/observations", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert basic.status_code == 401
    created = post(client, keys["staff"], **note)
    assert created.status_code == 201
    one = f"/api/v1/observations/{created.get_json()['id']}"
    assert call(client, "GET", "/api/v1/observations", keys["staff"]).status_code == 403
    assert call(client, "GET", one, keys["staff"]).status_code == 403
    for role in ("leader", "admin"):
        assert call(client, "GET", "/api/v1/observations", keys[role]).status_code == 200
        assert call(client, "GET", one, keys[role]).status_code == 200
        assert post(client, keys[role], **note).status_code == 201


def test_a_login_session_is_not_an_api_credential(client: FlaskClient, keys: dict[str, str]) -> None:
    login(client, "johtaja", PASSWORD)
    assert client.get("/api/v1/observations").status_code == 401


def test_contact_details_and_receipt_hashes_never_leave_through_the_api(
    client: FlaskClient, keys: dict[str, str], api_app: Flask
) -> None:
    created = post(client, keys["system"], text="Toivon vastausta.", source="customer").get_json()
    with api_app.test_request_context():
        db = resources.session()
        obs = by_public_id(created["id"])
        assert obs is not None
        obs.contact = "asiakas@example.fi"
        db.commit()
        receipt_hash = obs.receipt_hash
    for role in ("leader", "admin"):
        page = call(client, "GET", "/api/v1/observations", keys[role]).get_data(as_text=True)
        one = call(client, "GET", f"/api/v1/observations/{created['id']}", keys[role]).get_data(as_text=True)
        for text in (page, one):
            assert "asiakas@example.fi" not in text and "contact" not in text
            assert receipt_hash and receipt_hash not in text


def test_the_api_and_a_persons_export_show_a_note_alike(
    client: FlaskClient, keys: dict[str, str], api_app: Flask
) -> None:
    # Both start from hiljainen.note_json: every field the two show under the same name agrees,
    # the id included (both name notes by their public id).
    text = "Soita minulle numeroon 040 123 4567, hissi on taas rikki."
    created = post(client, keys["staff"], text=text, source="staff", unit="koivukoti", tags=["Hissi"])
    assert created.status_code == 201, created.get_json()
    api = call(client, "GET", f"/api/v1/observations/{created.get_json()['id']}", keys["leader"]).get_json()
    with api_app.test_request_context():
        subject = privacy.Subject("user", "hoitaja")
        [note] = privacy.export_subject(resources.session(), resources.get().settings, subject)["notes"]
    shared = api.keys() & note.keys()
    assert shared == {
        "id", "text", "source", "unit", "touchpoint", "day", "status", "tags", "anonymous", "redactions"
    }
    assert {k: note[k] for k in shared} == {k: api[k] for k in shared}
    assert api["redactions"] == {"PHONE": 1} and api["tags"] == ["hissi"]
    assert api["unit"] == "koivukoti" and "040 123 4567" not in api["text"]


def test_list_filters_and_pages(client: FlaskClient, keys: dict[str, str]) -> None:
    rows = [
        ("Ruoka oli kylmää.", "customer", "koivukoti", "2026-01-10"),
        ("Kiitos hyvästä hoidosta.", "relative", "koivukoti", "2026-02-01"),
        ("Avainten luovutus kestää.", "staff", "kotihoito", "2026-02-03"),
        ("Parkkipaikka on täynnä.", "customer", "kotihoito", "2026-03-05"),
    ]
    ids = [
        post(client, keys["system"], text=t, source=s, unit=u, day=d).get_json()["id"] for t, s, u, d in rows
    ]
    lead = keys["leader"]

    def listing(query: str) -> dict[str, Any]:
        resp = call(client, "GET", f"/api/v1/observations?{query}", lead)
        assert resp.status_code == 200, resp.get_json()
        return resp.get_json()  # type: ignore[no-any-return]

    everything = listing("")
    assert everything["total"] == 4 and [n["id"] for n in everything["items"]] == ids[::-1]
    assert [n["id"] for n in listing("unit=kotihoito")["items"]] == [ids[3], ids[2]]
    assert [n["id"] for n in listing("source=customer")["items"]] == [ids[3], ids[0]]
    assert [n["id"] for n in listing("since=2026-02-01&until=2026-02-28")["items"]] == [ids[2], ids[1]]
    assert listing("status=new")["total"] == 4 and listing("status=done")["total"] == 0
    page = listing("limit=3&offset=2")
    assert (page["total"], page["limit"], page["offset"]) == (4, 3, 2)
    assert [n["id"] for n in page["items"]] == [ids[1], ids[0]]
    for bad in ("limit=0", "limit=201", "limit=x", "offset=-1", "since=31.1.2026", "source=robot",
                "status=open", "unit=kuu", "unit=%00"):  # fmt: skip
        resp = call(client, "GET", f"/api/v1/observations?{bad}", lead)
        assert resp.status_code == 400 and resp.get_json()["error"], bad


def test_unknown_paths_and_methods_answer_in_json(client: FlaskClient, keys: dict[str, str]) -> None:
    for path in ("/api/v1/nothing", "/api/v1/observations/abc", "/api/v1/observations/999999",
                 "/api/v1/observations/99999999999999999999999"):  # fmt: skip
        resp = call(client, "GET", path, keys["admin"])
        assert resp.status_code == 404 and resp.get_json()["error"], path
    resp = call(client, "DELETE", "/api/v1/observations", keys["admin"])
    assert resp.status_code == 405 and resp.get_json()["error"]
    assert set(resp.headers["Allow"].split(", ")) >= {"GET", "POST"}


def test_the_api_needs_no_csrf_token_but_forms_still_do(client: FlaskClient, keys: dict[str, str]) -> None:
    assert client.application.config.get("WTF_CSRF_ENABLED", True)
    assert post(client, keys["staff"], text="Ilman lomaketta.", source="staff").status_code == 201
    assert client.post("/login", data={"username": "x", "password": "y"}).status_code == 400


# --- the OpenAPI description -----------------------------------------------------------------


def schema_validator(spec: dict[str, Any], name: str) -> Draft202012Validator:
    resource = Resource.from_contents(spec, default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource("urn:spec", resource)
    return Draft202012Validator({"$ref": f"urn:spec#/components/schemas/{name}"}, registry=registry)


def test_openapi_describes_what_the_api_really_answers(client: FlaskClient, keys: dict[str, str]) -> None:
    resp = client.get("/api/v1/openapi.json")
    assert resp.status_code == 200
    spec = resp.get_json()
    assert spec["openapi"].startswith("3.1")
    assert set(spec["paths"]) == {
        "/api/v1/observations", "/api/v1/observations/{id}", "/api/v1/observations/{id}/similar",
        "/api/v1/search", "/api/v1/openapi.json",
    }  # fmt: skip
    assert spec["components"]["schemas"]["NewObservation"]["properties"]["text"]["maxLength"] == 5000
    assert set(spec["components"]["schemas"]["NewObservation"]["properties"]) == observations.NOTE_FIELDS
    for name in spec["components"]["schemas"]:
        Draft202012Validator.check_schema(spec["components"]["schemas"][name])

    new = {
        "text": "Ovi narisee.",
        "source": "staff",
        "tags": ["ovi"],
        "day": "2026-02-02",
        "anonymous": False,
    }
    schema_validator(spec, "NewObservation").validate(new)
    assert not schema_validator(spec, "NewObservation").is_valid({**new, "contact": "x"})
    created = post(client, keys["leader"], **new)  # a past day: not a staff member's token
    schema_validator(spec, "Created").validate(created.get_json())
    one = call(client, "GET", f"/api/v1/observations/{created.get_json()['id']}", keys["leader"]).get_json()
    schema_validator(spec, "Observation").validate(one)
    schema_validator(spec, "ObservationList").validate(
        call(client, "GET", "/api/v1/observations", keys["leader"]).get_json()
    )
    schema_validator(spec, "Error").validate(call(client, "GET", "/api/v1/observations").get_json())
    # Every documented status code of every operation is one the code can answer.
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            assert op["responses"], (path, method)
            answered = {"200", "201", "400", "401", "403", "404", "413", "415", "429", "503"}
            assert set(op["responses"]) <= answered


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
NOTE_LIKE = st.fixed_dictionaries(
    {},
    optional={
        "text": st.text(max_size=60) | JSON_VALUES,
        "source": st.sampled_from(["staff", "customer", "robot", ""]) | JSON_VALUES,
        "unit": st.sampled_from(["koivukoti", "kuu", "", "\x00"]) | JSON_VALUES,
        "touchpoint": st.sampled_from(["aula", "vanha"]) | JSON_VALUES,
        "tags": st.lists(st.text(max_size=12), max_size=12) | JSON_VALUES,
        "anonymous": st.booleans() | JSON_VALUES,
        "day": st.dates().map(dt.date.isoformat) | JSON_VALUES,
        "extra": JSON_VALUES,
    },
)


NEW_NOTE = Draft202012Validator(
    {"$ref": "urn:spec#/components/schemas/NewObservation"},
    registry=Registry().with_resource(
        "urn:spec", Resource.from_contents(openapi.openapi_spec(5000), default_specification=DRAFT202012)
    ),
    format_checker=Draft202012Validator.FORMAT_CHECKER,
)


def acceptable(body: Any) -> bool:
    """Valid by the OpenAPI schema, naming places that exist, about a day that has been."""
    return (
        isinstance(body, dict)
        and NEW_NOTE.is_valid(body)
        and body.get("unit") in (None, "", "koivukoti")
        and body.get("touchpoint") in (None, "", "aula")
        and (body.get("day") is None or body["day"] <= Settings.from_env({}).today().isoformat())
    )


@hyp_settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=NOTE_LIKE | JSON_VALUES)
def test_the_schema_says_exactly_which_notes_are_accepted(
    client: FlaskClient, keys: dict[str, str], body: Any
) -> None:
    resp = post_raw(client, keys["system"], json.dumps(body).encode())  # any writer, any past day
    event(f"status {resp.status_code}")
    assert resp.status_code == (201 if acceptable(body) else 400), (body, resp.get_data(as_text=True)[:300])
    assert ("id" if resp.status_code == 201 else "error") in resp.get_json()


def post_raw(client: FlaskClient, token: str, data: bytes) -> Any:
    return client.post(
        "/api/v1/observations",
        data=data,
        headers={**EN, "Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )


# --- the admin page for tokens ---------------------------------------------------------------


def test_admin_issues_a_token_shown_once_and_revokes_it(
    client: FlaskClient, keys: dict[str, str], api_app: Flask
) -> None:
    login(client, "paakayttaja", PASSWORD)
    page = client.post(
        "/admin/tokens",
        data={"name": "kioski 2", "role": "staff", "csrf_token": csrf_token(client, "/admin/tokens")},
        headers=EN,
    )
    assert page.status_code == 201
    html = page.get_data(as_text=True)
    plaintext = html.split('id="new-token">', 1)[1].split("<", 1)[0]
    assert plaintext.startswith(tokens.PREFIX)
    assert post(client, plaintext, text="Kioskista.", source="customer").status_code == 201
    assert plaintext not in client.get("/admin/tokens").get_data(as_text=True)
    with api_app.test_request_context():
        token = resources.session().scalar(select(ApiToken).where(ApiToken.name == "kioski 2"))
        assert token is not None
        token_id = token.id
    resp = client.post(
        f"/admin/tokens/{token_id}/revoke", data={"csrf_token": csrf_token(client, "/admin/tokens")}
    )
    assert resp.status_code == 303
    assert post(client, plaintext, text="Kioskista taas.", source="customer").status_code == 401
    no_csrf = client.post("/admin/tokens", data={"name": "x", "role": "admin"})
    assert no_csrf.status_code == 400


def test_only_admins_see_the_token_page(client: FlaskClient, keys: dict[str, str]) -> None:
    assert client.get("/admin/tokens").status_code == 302  # to the login page
    login(client, "johtaja", PASSWORD)
    assert client.get("/admin/tokens").status_code == 403
