"""Login, roles, CSRF, security headers and language, through the real app and forms."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from hiljainen import accounts, create_app, resources
from hiljainen.models import Role
from tests.conftest import csrf_token, login, make_settings


def add_user(app: Flask, username: str, role: Role, password: str = "salasana-123") -> None:
    with app.app_context():
        db = resources.session()
        accounts.create_user(db, username, password, role)
        db.commit()


@pytest.fixture()
def users(app: Flask) -> None:
    add_user(app, "hoitaja", Role.STAFF)
    add_user(app, "johtaja", Role.LEADER)
    add_user(app, "admin", Role.ADMIN)


def test_security_headers_on_every_page(client: FlaskClient) -> None:
    resp = client.get("/login")
    assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["X-Frame-Options"] == "DENY"


def test_a_service_with_an_https_address_keeps_to_https(client: FlaskClient, tmp_path: Path) -> None:
    """Behind TLS (its public address is https://) the cookies are Secure and browsers are told to
    keep to HTTPS, even where HILJAINEN_SECURE_COOKIES was forgotten; on plain HTTP neither."""
    assert "Strict-Transport-Security" not in client.get("/login").headers
    app = create_app(make_settings(tmp_path, public_url="https://palaute.example.fi"))
    add_user(app, "johtaja", Role.LEADER)
    tls = app.test_client()
    assert tls.get("/login").headers["Strict-Transport-Security"] == "max-age=31536000"
    token = csrf_token(tls, "/login")
    resp = tls.post("/login", data={"username": "johtaja", "password": "salasana-123", "csrf_token": token})
    cookies = resp.headers.getlist("Set-Cookie")
    assert len(cookies) == 2 and all("Secure" in c for c in cookies), cookies


def test_finnish_is_the_default_and_english_can_be_chosen(client: FlaskClient) -> None:
    assert "Kirjaudu" in client.get("/login").get_data(as_text=True)
    assert "Log in" in client.get("/login?lang=en").get_data(as_text=True)
    assert "Log in" in client.get("/login").get_data(as_text=True), "the choice is remembered"


def test_browser_language_is_respected(client: FlaskClient) -> None:
    page = client.get("/login", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert "Log in" in page.get_data(as_text=True)


def test_a_form_without_csrf_token_is_refused(client: FlaskClient, users: None) -> None:
    resp = client.post("/login", data={"username": "johtaja", "password": "salasana-123"})
    assert resp.status_code == 400


def test_wrong_password_is_refused(client: FlaskClient, users: None) -> None:
    token = csrf_token(client, "/login")
    resp = client.post(
        "/login", data={"username": "johtaja", "password": "nope-nope-nope", "csrf_token": token}
    )
    assert resp.status_code == 401
    page = resp.get_data(as_text=True)
    assert 'name="username" autocomplete="username" required value="johtaja"' in page, "kept"
    assert "nope-nope-nope" not in page, "the password is never sent back"


def test_session_cookie_is_http_only_and_same_site(client: FlaskClient, users: None) -> None:
    token = csrf_token(client, "/login")
    resp = client.post(
        "/login", data={"username": "johtaja", "password": "salasana-123", "csrf_token": token}
    )
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


@pytest.mark.parametrize(
    ("who", "path", "status"),
    [
        (None, "/dashboard/", 302),
        (None, "/note", 302),
        (None, "/admin/", 302),
        ("hoitaja", "/note", 200),
        ("hoitaja", "/dashboard/", 403),
        ("hoitaja", "/admin/", 403),
        ("johtaja", "/dashboard/", 200),
        ("johtaja", "/admin/", 403),
        ("admin", "/admin/", 200),
        ("admin", "/dashboard/", 200),
    ],
)
def test_roles(client: FlaskClient, users: None, who: str | None, path: str, status: int) -> None:
    if who:
        login(client, who, "salasana-123")
    assert client.get(path).status_code == status


def test_login_sends_people_home_and_refuses_open_redirects(client: FlaskClient, users: None) -> None:
    token = csrf_token(client, "/login")
    resp = client.post(
        "/login?next=https://evil.example/",
        data={"username": "hoitaja", "password": "salasana-123", "csrf_token": token},
    )
    assert resp.headers["Location"] == "/note"


@pytest.mark.parametrize("target", ["/\\evil.example", "/%5Cevil.example", "/a%0Ab", "/a%09b"])
def test_login_refuses_a_next_with_a_backslash_or_control_character(
    client: FlaskClient, users: None, target: str
) -> None:
    """Browsers read a backslash as a slash (another host); a newline would break the header (500)."""
    token = csrf_token(client, "/login")
    resp = client.post(
        f"/login?next={target}",
        data={"username": "hoitaja", "password": "salasana-123", "csrf_token": token},
    )
    assert resp.status_code == 302 and resp.headers["Location"] == "/note"


def test_logout_needs_post_with_csrf(client: FlaskClient, users: None) -> None:
    login(client, "johtaja", "salasana-123")
    assert client.post("/logout").status_code == 400
    token = csrf_token(client, "/dashboard/")
    client.post("/logout", data={"csrf_token": token})
    assert client.get("/dashboard/").status_code == 302


def test_a_leader_tracks_a_saved_search(client: FlaskClient, users: None, app: Flask) -> None:
    from sqlalchemy import select

    from hiljainen.models import Indicator

    login(client, "johtaja", "salasana-123")
    token = csrf_token(client, "/dashboard/")
    resp = client.post("/dashboard/indicators", data={"query": "iltapala", "threshold": "4",
                                                      "owner": "Palvelupäällikkö", "csrf_token": token})
    assert resp.status_code == 303
    with app.app_context():
        indicator = resources.session().scalars(select(Indicator)).one()
    assert (indicator.query, indicator.threshold, indicator.theme_id) == ("iltapala", 4.0, None)
    assert "iltapala" in client.get("/dashboard/").get_data(as_text=True)
    # A decimal comma is a number; a word is refused beside the form with what was typed kept.
    client.post("/dashboard/indicators", data={"query": "hissi", "threshold": "3,5", "csrf_token": token})
    bad = client.post("/dashboard/indicators", data={"query": "lasku", "threshold": "neljä",
                                                     "owner": "Kaisa H", "csrf_token": token})
    page = bad.get_data(as_text=True)
    assert bad.status_code == 400 and "pitää olla lukuja" in page
    assert 'value="lasku"' in page and 'value="neljä"' in page and 'value="Kaisa H"' in page
    with app.app_context():
        rows = resources.session().execute(select(Indicator.query, Indicator.threshold)).tuples().all()
    assert dict(rows) == {"iltapala": 4.0, "hissi": 3.5}


def test_refresh_progress_says_finished_in_words_the_page_knows(
    app: Flask, client: FlaskClient, users: None
) -> None:
    """rq's JobStatus is an Enum: the progress page waits for "finished", not its str()."""
    from rq.job import Job, JobStatus

    with app.app_context():
        conn = resources.get().redis()
    job = Job.create("builtins.print", connection=conn)
    job.meta.update(step="done", progress=1.0)
    job.save()
    job.set_status(JobStatus.FINISHED)
    login(client, "johtaja", "salasana-123")
    state = client.get(f"/themes/refresh/{job.id}.json", headers={"Accept-Language": "fi"}).get_json()
    assert state == {"status": "finished", "step": "valmis", "progress": 1.0}


def test_refresh_progress_of_a_job_id_rq_refuses_is_404(client: FlaskClient, users: None) -> None:
    """rq raises ValueError for an id that is not letters, digits, "-" and "_": no such job."""
    login(client, "johtaja", "salasana-123")
    for job_id in ("x y", "'", "[]", "+1", "\u0661\u0662", "ei-ole"):
        assert client.get(f"/themes/refresh/{job_id}.json").status_code == 404, job_id


def test_error_pages_speak_the_interface_language_on_the_app_layout(client: FlaskClient) -> None:
    page = client.get("/t/ei-ole")  # a mistyped QR address
    text = page.get_data(as_text=True)
    assert page.status_code == 404 and "Sivua ei löydy" in text and 'name="viewport"' in text
    assert "Page not found" in client.get("/t/ei-ole?lang=en").get_data(as_text=True)
    wrong_method = client.get("/themes/refresh")
    assert wrong_method.status_code == 405 and "POST" in wrong_method.headers["Allow"]
    api = client.get("/api/v1/ei-ole")
    assert api.status_code == 404 and api.is_json


def test_chart_names_and_theme_events_follow_the_interface_language(app: Flask) -> None:
    from hiljainen.web.i18n import chart_labels, event_label

    with app.test_request_context("/?lang=fi"):
        labels = chart_labels()
        assert labels["staff"] == "henkilöstö" and labels["weak"] == "heikko signaali"
        assert labels["share"] == "% havainnoista" and event_label("shrank") == "pieneni"
        assert labels["burst_notes"] == "havainnot viikoilla, joina teema yleistyi äkkiä", "no jargon"
    with app.test_request_context("/?lang=en"):
        assert chart_labels()["staff"] == "staff" and event_label("born") == "appeared"


def test_the_language_link_takes_nothing_but_query_values_from_the_query(client: FlaskClient) -> None:
    # url_for options smuggled in the query (a javascript: scheme) or a key that repeats a view
    # argument must neither shape the link nor break the page.
    page = client.get("/t/ei-ole?_external=1&_scheme=javascript&slug=x&q=a%0Ab")
    text = page.get_data(as_text=True)
    assert page.status_code == 404 and "javascript:" not in text
    ok = client.get("/login?_scheme=javascript&_external=1&next=%2Fsearch").get_data(as_text=True)
    assert "javascript:" not in ok and 'href="/login?next=/search&amp;lang=en"' in ok


@pytest.fixture()
def leader_on_theme(client: FlaskClient, users: None, app: Flask) -> tuple[int, str]:
    """A theme, and a leader logged in on its page: the theme's id and the page's CSRF token."""
    from hiljainen.models import Theme

    with app.app_context():
        db = resources.session()
        theme = Theme(label="iltapala myöhässä", size=4)
        db.add(theme)
        db.commit()
        theme_id = theme.id
    login(client, "johtaja", "salasana-123")
    return theme_id, csrf_token(client, f"/themes/{theme_id}")


def test_a_theme_is_tracked_with_a_decimal_comma_and_shown_as_finns_write_numbers(
    client: FlaskClient, app: Flask, leader_on_theme: tuple[int, str]
) -> None:
    from sqlalchemy import select

    from hiljainen.models import Indicator

    theme_id, token = leader_on_theme
    resp = client.post(f"/themes/{theme_id}/track",
                       data={"threshold": " 3,5 ", "target": "1", "csrf_token": token})
    assert resp.status_code == 303
    with app.app_context():
        indicator = resources.session().scalars(select(Indicator)).one()
    assert (indicator.threshold, indicator.target, indicator.owner) == (3.5, 1.0, "")
    page = client.get("/dashboard/").get_data(as_text=True)
    line = page[page.index("<strong>iltapala myöhässä</strong>"):].split("<br>")[0]
    assert "hälytysraja 3,5 · tavoite 1" in " ".join(line.split()) and not line.rstrip().endswith("·")
    english = client.get("/dashboard/?lang=en").get_data(as_text=True)
    assert "threshold 3.5" in " ".join(english.split())
    # The themes table says what its confidence column means.
    assert "Varmuus: Kuinka luotettava signaali on" in page and 'title="Kuinka luotettava' in page


def test_a_refused_tracking_form_keeps_what_was_typed_and_says_why_beside_it(
    client: FlaskClient, leader_on_theme: tuple[int, str]
) -> None:
    theme_id, token = leader_on_theme
    resp = client.post(f"/themes/{theme_id}/track", data={
        "name": "Iltapala", "threshold": "neljä", "target": "1,5", "owner": "Palvelupäällikkö",
        "review_on": "2026-12-01", "csrf_token": token})
    page = resp.get_data(as_text=True)
    assert resp.status_code == 400 and "Location" not in resp.headers
    form = page[page.index('id="track-error"'):]
    assert "pitää olla lukuja" in form.split("</p>")[0]
    for typed in ('value="Iltapala"', 'value="neljä"', 'value="1,5"', 'value="Palvelupäällikkö"',
                  'value="2026-12-01"'):
        assert typed in form
    empty = client.post(f"/themes/{theme_id}/interpretation",
                        data={"meaning": " ", "decision": "Kysytään hoitajilta", "csrf_token": token})
    assert empty.status_code == 400 and "Kysytään hoitajilta</textarea>" in empty.get_data(as_text=True)


@pytest.mark.browser
@pytest.mark.parametrize("width", [390, 1280])
def test_headings_get_smaller_from_the_page_title_down(chromium: Any, width: int) -> None:
    """The page title (h1) is the largest heading, then h2, then h3, on a phone and a desktop."""
    from pathlib import Path

    css = (Path(__file__).resolve().parents[2] / "hiljainen" / "static" / "app.css").read_text()
    context = chromium.new_context(viewport={"width": width, "height": 800})
    page = context.new_page()
    page.set_content(f"<style>{css}</style><main><h1>T</h1><section class='card'><h2>S</h2>"
                     "<h3>A</h3><p>p</p></section></main>")
    h1, h2, h3, p = page.evaluate(
        "['h1', 'h2', 'h3', 'p'].map(t => parseFloat(getComputedStyle(document.querySelector(t)).fontSize))")
    context.close()
    assert h1 > h2 > h3 > p, (h1, h2, h3, p)


def test_admin_pages_speak_finnish_about_roles_units_and_retention(
    client: FlaskClient, users: None, app: Flask
) -> None:
    from sqlalchemy import select

    from hiljainen.models import Unit, User

    with app.app_context():
        db = resources.session()
        unit = Unit(slug="koivukoti", name_fi="Palvelutalo Koivukoti", name_en="Koivukoti service home")
        db.add(unit)
        db.flush()
        db.scalars(select(User).where(User.username == "hoitaja")).one().unit_id = unit.id
        db.commit()
    login(client, "admin", "salasana-123")
    page = client.get("/admin/").get_data(as_text=True)
    rows = page[page.index("<table>"):page.index("</table>")]
    assert "<td>työntekijä</td><td>Palvelutalo Koivukoti</td>" in rows
    assert "<td>esihenkilö</td>" in rows and "<td>ylläpitäjä</td>" in rows
    assert ">leader<" not in page and ">koivukoti<" not in page
    assert '<option value="leader">esihenkilö</option>' in page
    assert "säilytysaikaa ei ole asetettu" in page and "<code>HILJAINEN_RETENTION_MONTHS</code>" in page
    tokens = client.get("/admin/tokens").get_data(as_text=True)
    assert "<li>työntekijä:" in tokens and '<option value="admin">ylläpitäjä</option>' in tokens
    english = client.get("/admin/?lang=en").get_data(as_text=True)
    assert "<td>staff member</td><td>Koivukoti service home</td>" in english


def test_an_alert_about_a_theme_links_to_the_theme(
    client: FlaskClient, app: Flask, leader_on_theme: tuple[int, str]
) -> None:
    from hiljainen.models import Alert

    theme_id, _token = leader_on_theme
    with app.app_context():
        db = resources.session()
        db.add_all([Alert(kind="burst", theme_id=theme_id, message="Iltapala: äkillinen nousu"),
                    Alert(kind="threshold", message="Haku ylitti rajan")])
        db.commit()
    page = " ".join(client.get("/dashboard/").get_data(as_text=True).split())
    assert f'<a href="/themes/{theme_id}">Iltapala: äkillinen nousu</a>' in page
    assert "</span> Haku ylitti rajan <span" in page, "an alert without a theme stays text"


def _merge_away(db: Any, theme_id: int, heir: Any) -> int:
    """Merge theme `theme_id` into the new theme `heir` as a refresh records it; the heir's id."""
    from hiljainen.models import Theme, ThemeEvent, ThemeRun

    run = ThemeRun()
    db.add_all([heir, run])
    db.flush()
    db.add(ThemeEvent(run_id=run.id, theme_id=theme_id, kind="merged", other_theme_id=heir.id))
    db.get(Theme, theme_id).active = False
    db.commit()
    return int(heir.id)


def test_an_alert_follows_its_theme_into_the_theme_it_was_merged_into(
    client: FlaskClient, app: Flask, leader_on_theme: tuple[int, str]
) -> None:
    from hiljainen.models import Alert, Theme

    theme_id, _token = leader_on_theme
    with app.app_context():
        db = resources.session()
        old_name = db.get(Theme, theme_id).name
        db.add(Alert(kind="signal", theme_id=theme_id, signal="weak",
                     message=f"{old_name}: latentti → heikko signaali: kasvaa"))
        heir_id = _merge_away(db, theme_id, Theme(label="iltapala, syödä",
                                                  phrase="Iltapala jää syömättä", size=9))
    page = " ".join(client.get("/dashboard/").get_data(as_text=True).split())
    assert f'<a href="/themes/{heir_id}">{old_name}: latentti' in page, "the link follows the merge"
    assert "(nyt: Iltapala jää syömättä)" in page, "with the theme's name now"


def test_a_merged_theme_says_it_is_no_longer_in_use_and_where_its_notes_went(
    client: FlaskClient, app: Flask, leader_on_theme: tuple[int, str]
) -> None:
    from hiljainen.models import Theme

    theme_id, _token = leader_on_theme
    with app.app_context():
        db = resources.session()
        heir_id = _merge_away(db, theme_id, Theme(label="iltapala jää syömättä", size=9))
    page = client.get(f"/themes/{theme_id}").get_data(as_text=True)
    assert "ei ole enää käytössä" in page and f'href="/themes/{heir_id}"' in page
    assert "ei ole enää käytössä" not in client.get(f"/themes/{heir_id}").get_data(as_text=True)
