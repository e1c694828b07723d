"""Administration without a developer (issue 21): an admin edits accounts, changes roles, disables
and enables them, resets passwords, renames and retires units, and edits touchpoints, through the
real forms; sessions end and API tokens stop where the rules say, and every change is audited."""

from __future__ import annotations

import html
import io
import re
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from hiljainen import accounts, resources, tokens
from hiljainen.models import ApiToken, AuditEvent, Observation, Role, Touchpoint, Unit, User
from tests.conftest import Org, csrf_token, login

PASSWORD = "salasana-123"


@pytest.fixture()
def org_app(app: Flask, org: Callable[..., Org]) -> Flask:
    """An admin, a leader with two API tokens (leader and staff role), a unit and a touchpoint."""
    made = org(
        unit=("Koivukoti", "Birch home"),
        touchpoints=("aula",),
        people=("admin", "johtaja"),
        display_names={"johtaja": "Jaana Johtaja"},
        tokens={role.value: ("johtaja", role) for role in (Role.LEADER, Role.STAFF)},
    )
    app.extensions["test_tokens"] = {Role(name): plain for name, plain in made.tokens.items()}
    return app


def signed_in(app: Flask, username: str) -> FlaskClient:
    client = app.test_client()
    login(client, username, PASSWORD)
    return client


def user(app: Flask, username: str) -> User:
    with app.app_context():
        found = resources.session().scalar(select(User).where(User.username == username))
        assert found is not None
        return found


def audit(app: Flask, target: str) -> list[tuple[str, dict[str, object]]]:
    with app.app_context():
        rows = resources.session().scalars(
            select(AuditEvent).where(AuditEvent.target == target).order_by(AuditEvent.id)
        )
        return [(e.action, e.detail) for e in rows]


def post(client: FlaskClient, page: str, path: str, **data: str) -> tuple[int, str]:
    """Send a form the way the page's browser would, with the page's CSRF token."""
    resp = client.post(path, data={"csrf_token": csrf_token(client, page), **data})
    return resp.status_code, resp.get_data(as_text=True)


def api_status(app: Flask, plaintext: str) -> int:
    return app.test_client().get(
        "/api/v1/observations", headers={"Authorization": f"Bearer {plaintext}"}
    ).status_code


def test_an_admin_disables_a_user_whose_session_and_tokens_then_stop(org_app: Flask) -> None:
    admin, leader = signed_in(org_app, "admin"), signed_in(org_app, "johtaja")
    lead_token = org_app.extensions["test_tokens"][Role.LEADER]
    assert leader.get("/dashboard/").status_code == 200 and api_status(org_app, lead_token) == 200
    uid = user(org_app, "johtaja").id
    home = admin.get("/admin/").get_data(as_text=True)
    assert f'href="/admin/users/{uid}"' in home, "the admin reaches the account from the list"
    page = f"/admin/users/{uid}"
    assert "Poista tunnus käytöstä" in admin.get(page).get_data(as_text=True)

    status, _body = post(admin, page, f"{page}/active", active="off")
    assert status == 303
    assert leader.get("/dashboard/").headers["Location"].startswith("/login"), "the session ended"
    assert api_status(org_app, lead_token) == 401, "the token stopped working"
    assert not user(org_app, "johtaja").active
    with org_app.app_context():
        assert all(t.revoked for t in resources.session().scalars(select(ApiToken)))
    retry = org_app.test_client()
    resp = retry.post("/login", data={"username": "johtaja", "password": PASSWORD,
                                      "csrf_token": csrf_token(retry, "/login")})
    assert resp.status_code == 401, "a disabled account cannot sign in"
    shown = admin.get(f"{page}?lang=en").get_data(as_text=True)
    assert '<span id="user-state">disabled</span>' in shown and "Enable the account" in shown

    # Enabled again: the person signs in, the revoked tokens stay revoked.
    assert post(admin, page, f"{page}/active", active="on")[0] == 303
    assert signed_in(org_app, "johtaja").get("/dashboard/").status_code == 200
    assert api_status(org_app, lead_token) == 401
    actions = audit(org_app, f"user:{uid}")
    assert [a for a, _d in actions] == ["disable_user", "enable_user"]
    assert len(actions[0][1]["revoked_tokens"]) == 2  # type: ignore[arg-type]


def test_a_lowered_role_ends_sessions_and_revokes_the_tokens_above_it(org_app: Flask) -> None:
    admin, leader = signed_in(org_app, "admin"), signed_in(org_app, "johtaja")
    uid = user(org_app, "johtaja").id
    page = f"/admin/users/{uid}"
    status, _body = post(admin, page, page, display_name="Jaana J.", role="staff", unit="koivukoti")
    assert status == 303
    changed = user(org_app, "johtaja")
    assert (changed.role, changed.display_name, changed.unit_id is not None) == (Role.STAFF, "Jaana J.", True)
    assert leader.get("/my").headers["Location"].startswith("/login"), "the old session ended"
    assert api_status(org_app, org_app.extensions["test_tokens"][Role.LEADER]) == 401
    staff_token = org_app.extensions["test_tokens"][Role.STAFF]
    resp = org_app.test_client().post(
        "/api/v1/observations",
        json={"text": "Kioskin kautta tullut huomio.", "source": "staff"},
        headers={"Authorization": f"Bearer {staff_token}"},
    )
    assert resp.status_code == 201, "a token within the new role keeps working"
    (action, detail), = audit(org_app, f"user:{uid}")
    assert action == "edit_user" and detail["role"] == {"from": "leader", "to": "staff"}
    assert detail["name_changed"] is True and len(detail["revoked_tokens"]) == 1  # type: ignore[arg-type]
    assert "Jaana" not in repr(detail), "no names in the audit trail"


def test_a_reset_password_is_shown_once_and_replaces_the_old_one(org_app: Flask) -> None:
    admin, leader = signed_in(org_app, "admin"), signed_in(org_app, "johtaja")
    uid = user(org_app, "johtaja").id
    page = f"/admin/users/{uid}"
    resp = admin.post(f"{page}/password?lang=en", data={"csrf_token": csrf_token(admin, page)})
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
    found = re.search(r'<code id="new-password" class="receipt">([^<]+)</code>', resp.get_data(as_text=True))
    assert found and len(found.group(1)) >= accounts.MIN_PASSWORD
    temporary = found.group(1)
    assert temporary not in admin.get(page).get_data(as_text=True), "shown once, never again"
    assert leader.get("/my").headers["Location"].startswith("/login"), "the old session ended"

    fresh = org_app.test_client()
    old = fresh.post("/login", data={"username": "johtaja", "password": PASSWORD,
                                     "csrf_token": csrf_token(fresh, "/login")})
    assert old.status_code == 401
    login(fresh, "johtaja", temporary)
    # The person then chooses their own password in their settings.
    status, _body = post(fresh, "/settings", "/settings/password", current=temporary, new="oma-uusi-salasana")
    assert status == 303 and fresh.get("/my").status_code == 200, "the changing browser stays signed in"
    login(org_app.test_client(), "johtaja", "oma-uusi-salasana")
    assert [a for a, _d in audit(org_app, f"user:{uid}")] == ["reset_password", "own_password"]
    assert temporary not in repr(audit(org_app, f"user:{uid}"))


def test_a_password_reset_revokes_the_users_api_tokens(org_app: Flask) -> None:
    """An admin resets a password when the account may be compromised: a token taken with it must
    not outlive the new password. Other accounts' and systems' tokens keep working."""
    admin = signed_in(org_app, "admin")
    lead_token, staff_token = (org_app.extensions["test_tokens"][r] for r in (Role.LEADER, Role.STAFF))
    with org_app.test_request_context():
        _row, system_token = tokens.issue(resources.session(), "kioski", Role.LEADER)
        resources.session().commit()
    assert api_status(org_app, lead_token) == 200 and api_status(org_app, system_token) == 200
    uid = user(org_app, "johtaja").id
    page = f"/admin/users/{uid}"
    resp = admin.post(f"{page}/password?lang=en", data={"csrf_token": csrf_token(admin, page)})
    assert resp.status_code == 200
    assert api_status(org_app, lead_token) == 401, "the old token outlived the reset"
    note = org_app.test_client().post(
        "/api/v1/observations",
        json={"text": "Vanhalla tunnisteella.", "source": "staff"},
        headers={"Authorization": f"Bearer {staff_token}"},
    )
    assert note.status_code == 401
    assert api_status(org_app, system_token) == 200, "a system's token is not the account's"
    shown = resp.get_data(as_text=True)
    said = re.search(r'<p id="revoked-tokens">([^<]+)</p>', shown)
    assert said and html.unescape(said.group(1)) == (
        "The account's API tokens were revoked too: 2. Issue new ones if the person needs them."
    )
    assert "their API tokens are revoked" in shown, "the form says so before the next reset"
    ((action, detail),) = audit(org_app, f"user:{uid}")
    assert action == "reset_password" and len(detail["revoked_tokens"]) == 2  # type: ignore[arg-type]
    again = admin.post(f"{page}/password", data={"csrf_token": csrf_token(admin, page)})
    assert 'id="revoked-tokens"' not in again.get_data(as_text=True), "nothing left to revoke"


def issued_rows(page: str) -> list[str]:
    """The token names in a user page's list of the tokens that user issued."""
    if 'id="issued-tokens"' not in page:
        return []
    section = page[page.index('id="issued-tokens"') :]
    section = section[: section.index("</section>")]
    return re.findall(r"<tr><td>([^<]+)</td>", section)


def test_a_disabled_admins_page_lists_the_tokens_they_issued_that_still_work(
    app: Flask, org: Callable[..., Org]
) -> None:
    """Disabling an admin revokes the admin's own tokens only: a kiosk's token they issued keeps
    working, so their page lists those tokens for whoever disabled them to decide on."""
    org(people=("admin", "paakayttaja", "johtaja"))
    leaving, admin = signed_in(app, "paakayttaja"), signed_in(app, "admin")

    def issue(client: FlaskClient, name: str, role: str, username: str = "") -> str:
        status, body = post(client, "/admin/tokens", "/admin/tokens", name=name, role=role, username=username)
        found = re.search(r'id="new-token">([^<]+)<', body)
        assert status == 201 and found, body[:300]
        return found.group(1)

    kiosk = issue(leaving, "kioski", "leader")
    issue(leaving, "raportit", "leader", "johtaja")
    issue(leaving, "oma", "admin", "paakayttaja")
    issue(admin, "toisen", "leader")
    uid = user(app, "paakayttaja").id
    page = f"/admin/users/{uid}"
    assert issued_rows(admin.get(page).get_data(as_text=True)) == [], "listed once the account is disabled"
    assert post(admin, page, f"{page}/active", active="off")[0] == 303

    shown = admin.get(f"{page}?lang=en").get_data(as_text=True)
    assert issued_rows(shown) == ["kioski", "raportit"], "not its own (revoked) nor another admin's"
    assert "API tokens this admin issued" in shown and api_status(app, kiosk) == 200
    with app.app_context():
        kiosk_id = resources.session().scalar(select(ApiToken.id).where(ApiToken.name == "kioski"))
    assert post(admin, "/admin/tokens", f"/admin/tokens/{kiosk_id}/revoke")[0] == 303
    assert issued_rows(admin.get(page).get_data(as_text=True)) == ["raportit"]
    johtaja = user(app, "johtaja").id
    assert post(admin, f"/admin/users/{johtaja}", f"/admin/users/{johtaja}/active", active="off")[0] == 303
    shown = admin.get(f"{page}?lang=en").get_data(as_text=True)
    assert "None of the API tokens this admin issued still works." in shown, "a disabled holder's is dead"
    other = admin.get(f"/admin/users/{johtaja}").get_data(as_text=True)
    assert 'id="issued-tokens"' not in other, "only an admin issues tokens"


def test_an_admin_cannot_lock_themself_out(org_app: Flask) -> None:
    admin = signed_in(org_app, "admin")
    me = user(org_app, "admin").id
    page = f"/admin/users/{me}"
    status, body = post(admin, page, f"{page}/active", active="off")
    assert status == 400 and "Et voi poistaa käytöstä omaa tunnustasi." in body
    status, body = post(admin, page, page, display_name="Admin", role="staff")
    assert status == 400 and user(org_app, "admin").role == Role.ADMIN and user(org_app, "admin").active
    status, body = post(admin, page, f"{page}/password")
    assert status == 400 and 'id="new-password"' not in body, "one's own password changes at /settings"
    assert admin.get("/admin/").status_code == 200


def test_units_are_renamed_and_retired_and_touchpoints_edited(org_app: Flask) -> None:
    admin = signed_in(org_app, "admin")
    with org_app.app_context():
        db = resources.session()
        unit_id = db.scalar(select(Unit.id).where(Unit.slug == "koivukoti"))
        point_id = db.scalar(select(Touchpoint.id).where(Touchpoint.slug == "aula"))
    status, _body = post(admin, "/admin/", "/admin/units", slug="kotihoito", name_fi="Kotihoito",
                         name_en="Home care")
    assert status == 303
    status, _body = post(admin, "/admin/", f"/admin/units/{unit_id}", name_fi="Palvelutalo Koivukoti",
                         name_en="Birch service home", active="on")
    assert status == 303
    form = signed_in(org_app, "johtaja").get("/note").get_data(as_text=True)
    assert "Palvelutalo Koivukoti" in form and "Kotihoito" in form

    # Retired: no longer offered for new notes, still on the admin page to bring back.
    status, _body = post(admin, "/admin/", f"/admin/units/{unit_id}", name_fi="Palvelutalo Koivukoti",
                         name_en="Birch service home")  # the box "in use" unticked
    assert status == 303
    form = signed_in(org_app, "johtaja").get("/note").get_data(as_text=True)
    assert "Palvelutalo Koivukoti" not in form and "Kotihoito" in form
    english = admin.get("/admin/?lang=en").get_data(as_text=True)
    assert "Birch service home" in english and "retired" in english

    status, _body = post(admin, "/admin/", f"/admin/touchpoints/{point_id}", name_fi="Pääaula",
                         name_en="Main lobby", unit="kotihoito", active="on")
    assert status == 303
    public = org_app.test_client().get("/t/aula").get_data(as_text=True)
    assert "Pääaula" in public
    status, _body = post(admin, "/admin/", f"/admin/touchpoints/{point_id}", name_fi="Pääaula",
                         name_en="Main lobby", unit="kotihoito")
    assert status == 303
    assert org_app.test_client().get("/t/aula").status_code == 404, "a retired touchpoint takes no notes"
    # Nor does it hand out its QR code (to anyone) or a poster to print (to the admin).
    assert org_app.test_client().get("/t/aula/qr.svg").status_code == 404
    assert admin.get("/t/aula/poster").status_code == 404

    unit_history = audit(org_app, f"unit:{unit_id}")
    assert [a for a, _d in unit_history] == ["edit_unit", "edit_unit"]
    assert unit_history[0][1]["name_fi"] == {"from": "Koivukoti", "to": "Palvelutalo Koivukoti"}
    assert unit_history[1][1] == {"active": {"from": True, "to": False}, "touchpoints_retired": [point_id]}
    point_history = audit(org_app, f"touchpoint:{point_id}")
    assert point_history[0][1] == {"active": {"from": True, "to": False}, "with_unit": unit_id}
    assert point_history[1][1]["name_fi"] == {"from": "Aula", "to": "Pääaula"}
    assert point_history[1][1]["active"] == {"from": False, "to": True}, "back in use under a unit in use"
    assert point_history[2][1] == {"active": {"from": True, "to": False}}


def test_retiring_a_unit_retires_its_touchpoints_and_says_how_many(org_app: Flask) -> None:
    # Koivukoti has aula (from the fixture), ruokasali and an already retired one; kotihoito has piha.
    admin = signed_in(org_app, "admin")
    for slug, name, unit in (("ruokasali", "Ruokasali", "koivukoti"), ("vanha", "Vanha aula", "koivukoti")):
        assert post(admin, "/admin/", "/admin/touchpoints", slug=slug, name_fi=name, unit=unit)[0] == 303
    assert post(admin, "/admin/", "/admin/units", slug="kotihoito", name_fi="Kotihoito")[0] == 303
    status, _body = post(admin, "/admin/", "/admin/touchpoints", slug="piha", name_fi="Piha",
                         unit="kotihoito")
    assert status == 303
    with org_app.app_context():
        db = resources.session()
        units = {u.slug: u.id for u in db.scalars(select(Unit))}
        points = {t.slug: t.id for t in db.scalars(select(Touchpoint))}
    status, _body = post(admin, "/admin/", f"/admin/touchpoints/{points['vanha']}", name_fi="Vanha aula",
                         unit="koivukoti")  # retired before the unit
    assert status == 303
    public = org_app.test_client()
    assert public.get("/t/aula").status_code == 200 and public.get("/t/ruokasali").status_code == 200

    # Retired in English: both touchpoints in use go with it, and the message says how many.
    retire = f"/admin/units/{units['koivukoti']}?lang=en"
    status, _body = post(admin, "/admin/", retire, name_fi="Koivukoti", name_en="Birch home")  # unticked
    assert status == 303
    said = admin.get("/admin/").get_data(as_text=True)
    assert ("The unit is retired, and with it the touchpoints that were in use (2): their public forms "
            "and QR codes take no more notes.") in said
    for slug in ("aula", "ruokasali"):
        assert public.get(f"/t/{slug}").status_code == 404, slug
    stale_form = {"csrf_token": csrf_token(public, "/t/piha"), "text": "Ovi on rikki.", "role": "customer"}
    assert public.post("/t/aula", data=stale_form).status_code == 404, "a form left open takes nothing"
    assert public.get("/t/piha").status_code == 200, "another unit's touchpoint stays in use"
    with org_app.app_context():
        assert resources.session().scalar(select(Observation.id)) is None, "no note under the retired unit"

    # Audited: the unit names the touchpoints it retired; each touchpoint has its own entry.
    assert audit(org_app, f"unit:{units['koivukoti']}")[-1] == (
        "edit_unit", {"active": {"from": True, "to": False},
                      "touchpoints_retired": [points["aula"], points["ruokasali"]]})
    for slug in ("aula", "ruokasali"):
        assert audit(org_app, f"touchpoint:{points[slug]}")[-1] == (
            "edit_touchpoint", {"active": {"from": True, "to": False}, "with_unit": units["koivukoti"]})
    assert len(audit(org_app, f"touchpoint:{points['vanha']}")) == 2, "a retired one is not retired again"

    # Not back in use under the retired unit; under a unit in use it is.
    status, body = post(admin, "/admin/", f"/admin/touchpoints/{points['aula']}?lang=en", name_fi="Aula",
                        unit="koivukoti", active="on")
    assert status == 400 and "A touchpoint of a retired unit cannot be in use" in body
    assert public.get("/t/aula").status_code == 404
    assert post(admin, "/admin/", f"/admin/touchpoints/{points['aula']}", name_fi="Aula", unit="kotihoito",
                active="on")[0] == 303
    assert public.get("/t/aula").status_code == 200

    # In Finnish too.
    status, _body = post(admin, "/admin/", f"/admin/units/{units['kotihoito']}?lang=fi", name_fi="Kotihoito")
    assert status == 303
    said = admin.get("/admin/").get_data(as_text=True)
    assert "Yksikkö on poistettu käytöstä, ja sen mukana käytössä olleet kohtaamispisteet (2)" in said
    assert public.get("/t/piha").status_code == 404 and public.get("/t/aula").status_code == 404


def test_a_retired_unit_takes_no_new_notes_through_any_door_and_keeps_its_old_ones(org_app: Flask) -> None:
    admin, leader = signed_in(org_app, "admin"), signed_in(org_app, "johtaja")
    token = {"Authorization": f"Bearer {org_app.extensions['test_tokens'][Role.LEADER]}"}
    api = org_app.test_client()

    def api_note(text: str, lang: str = "en") -> TestResponse:
        body = {"text": text, "source": "staff", "unit": "koivukoti"}
        return api.post("/api/v1/observations", json=body, headers={**token, "Accept-Language": lang})

    assert api_note("Vanha huomio.").status_code == 201
    with org_app.app_context():
        unit_id = resources.session().scalar(select(Unit.id).where(Unit.slug == "koivukoti"))
    status, _body = post(admin, "/admin/", f"/admin/units/{unit_id}", name_fi="Palvelutalo Koivukoti",
                         name_en="Birch service home")  # the box "in use" unticked: retired
    assert status == 303

    for lang, says in (("en", "The unit koivukoti is retired"), ("fi", "Yksikkö koivukoti on poistettu")):
        resp = api_note("Uusi huomio.", lang)
        assert resp.status_code == 400 and resp.mimetype == "application/json"
        assert says in resp.get_json()["error"]

    form = leader.get("/note").get_data(as_text=True)
    assert 'value="koivukoti"' not in form, "the staff form does not offer a retired unit"
    fields = {"csrf_token": csrf_token(leader, "/note"), "text": "Lomakkeelta.", "unit": "koivukoti"}
    resp = leader.post("/note?lang=en", data=fields)
    assert resp.status_code == 400 and "The unit koivukoti is retired" in resp.get_data(as_text=True)

    # A new unit takes the old one's Finnish name: that name now means the new unit.
    status, _body = post(admin, "/admin/", "/admin/units", slug="koivukoti-2",
                         name_fi="Palvelutalo Koivukoti", name_en="Birch home")
    assert status == 303
    csv_file = (
        "teksti,kirjoittaja,yksikkö\n"
        "Yksi.,asiakas,koivukoti\n"  # 2: the retired unit by its short name
        "Kaksi.,asiakas,birch service home\n"  # 3: by its English name
        "Kolme.,asiakas,Palvelutalo Koivukoti\n"  # 4: the new unit
        "Neljä.,asiakas,\n"  # 5: no unit
    ).encode()
    fields = {"csrf_token": csrf_token(admin, "/admin/import"), "file": (io.BytesIO(csv_file), "vanhat.csv")}
    resp = admin.post("/admin/import?lang=en", content_type="multipart/form-data", data=fields)
    report = resp.get_data(as_text=True)
    assert resp.status_code == 200 and '<strong id="imported">2</strong>' in report
    for line, value in ((2, "koivukoti"), (3, "birch service home")):
        assert f"<td>{line}</td><td>The unit {value} is retired; it takes no new notes.</td>" in report

    listed = api.get("/api/v1/observations?unit=koivukoti", headers=token).get_json()
    assert [n["text"] for n in listed["items"]] == ["Vanha huomio."], "its old notes keep showing"
    with org_app.app_context():
        notes = resources.session().scalars(select(Observation).order_by(Observation.id)).all()
        assert [(n.text, n.unit.slug if n.unit else None) for n in notes] == [
            ("Vanha huomio.", "koivukoti"), ("Kolme.", "koivukoti-2"), ("Neljä.", None)]


def test_the_qr_poster_carries_the_organisations_name_and_the_touchpoints_display_name(
    org_app: Flask,
) -> None:
    admin = signed_in(org_app, "admin")
    before = admin.get("/t/aula/poster").get_data(as_text=True)
    assert 'id="organisation"' not in before, "no name set yet: none printed"
    status, _body = post(admin, "/admin/", "/admin/organisation", name="  Palvelutalo   Koivukoti Oy ")
    assert status == 303
    poster = admin.get("/t/aula/poster").get_data(as_text=True)
    assert '<p class="big" id="organisation">Palvelutalo Koivukoti Oy</p>' in poster
    assert "Aula · Lobby" in poster and ">aula<" not in poster, "display names, never the short name"
    assert 'value="Palvelutalo Koivukoti Oy"' in admin.get("/admin/").get_data(as_text=True)
    assert audit(org_app, "settings") == [
        ("organisation_name", {"from": "", "to": "Palvelutalo Koivukoti Oy"})
    ]


def test_an_account_made_on_the_admin_page_opens_and_can_be_disabled_there(org_app: Flask) -> None:
    """Its history starts with "Account created" and its role, which the page must show as such: it
    read the role like a role change's from/to and answered 500, so an admin could not reach the
    account's page to disable it or reset its password."""
    admin = signed_in(org_app, "admin")
    status, _body = post(admin, "/admin/", "/admin/users", username="uusi-hoitaja",
                         password="salasana-4567", role="staff")  # fmt: skip
    assert status == 303
    page = f"/admin/users/{user(org_app, 'uusi-hoitaja').id}"
    shown = admin.get(f"{page}?lang=en")
    assert shown.status_code == 200
    assert "Account created: staff member" in shown.get_data(as_text=True)
    assert post(admin, page, f"{page}/active", active="off")[0] == 303
    assert not user(org_app, "uusi-hoitaja").active
