"""Capture: staff notes, public forms, receipts, bad input, and a queue that is down."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from hiljainen import create_app, resources
from hiljainen.config import Settings
from hiljainen.models import Observation, Response, Source
from hiljainen.services import free_port, redis_server
from hiljainen.stores.queue import PROCESS_JOB, connect, queue
from tests.conftest import Org, csrf_token, empty_queue, login, make_org, make_settings, processing_queued


@pytest.fixture()
def seeded(app: Flask, org: Callable[..., Org]) -> Flask:
    org()  # unit koivukoti, touchpoint ruokasali, hoitaja (staff), johtaja (leader)
    return app


def notes(app: Flask) -> list[Observation]:
    with app.app_context():
        return list(resources.session().scalars(select(Observation).order_by(Observation.id)))


def post_note(client: FlaskClient, path: str, **data: str) -> tuple[int, str]:
    data.setdefault("csrf_token", csrf_token(client, path))
    resp = client.post(path, data=data)
    return resp.status_code, resp.get_data(as_text=True)


def receipt_of(page: str) -> str:
    found = re.search(r'id="receipt">([A-Z0-9-]+)<', page)
    assert found, page[:500]
    return found.group(1)


def test_staff_note_is_stored_redacted_and_queued(
    seeded: Flask, client: FlaskClient, settings: Settings
) -> None:
    login(client, "hoitaja", "salasana-123")
    empty_queue(settings.redis_url)
    status, page = post_note(
        client,
        "/note",
        text="Asukas ei syönyt iltapalaa. Soita 040 123 4567.",
        unit="koivukoti",
        tags="ruoka, ilta",
    )
    assert status == 201 and "vastaanotettu" in page
    # The status in the words "my notes" and the receipt page use for the same note.
    assert 'Tila: <strong class="status status-new">uusi</strong>' in page
    (obs,) = notes(seeded)
    assert obs.text == "Asukas ei syönyt iltapalaa. Soita [PUHELIN]."
    assert obs.author_id is not None and obs.tags == ["ruoka", "ilta"] and obs.source == Source.STAFF
    assert processing_queued(settings.redis_url)
    assert "iltapalaa" in client.get("/my").get_data(as_text=True)


def test_tags_holding_personal_data_are_not_stored(seeded: Flask, client: FlaskClient) -> None:
    """Tags come back in the API and exports as the text does: a name or a phone number typed into
    them is dropped (a "[NIMI]" tag would only group unrelated notes), the other tags are kept."""
    login(client, "hoitaja", "salasana-123")
    status, page = post_note(
        client, "/note", text="Omainen toivoo soittoa.", unit="koivukoti",
        tags="omaiset, Pirjo Kettunen, 040 123 4567, soitto",
    )  # fmt: skip
    assert status == 201
    (obs,) = notes(seeded)
    stored = " ".join(obs.tags)
    assert "kettunen" not in stored and "pirjo" not in stored and "4567" not in stored
    assert obs.tags == ["omaiset", "soitto"]
    assert obs.redactions == {"NAME": 1, "PHONE": 1} and "Henkilötiedot poistettiin" in page


def test_anonymous_note_keeps_no_link_to_its_writer(seeded: Flask, client: FlaskClient) -> None:
    login(client, "hoitaja", "salasana-123")
    status, page = post_note(client, "/note", text="Vuorolista ei toimi.", anonymous="on")
    assert status == 201
    (obs,) = notes(seeded)
    assert obs.anonymous and obs.author_id is None and obs.created_at is None and obs.day
    assert obs.receipt_hash and receipt_of(page) not in obs.receipt_hash
    assert "Vuorolista" not in client.get("/my").get_data(as_text=True)


def test_public_form_and_receipt_callback(seeded: Flask, client: FlaskClient) -> None:
    status, page = post_note(client, "/t/ruokasali", text="Keitto oli kylmää.", role="relative")
    assert status == 201
    code, thanks = receipt_of(page), page
    # No language link here: following it would reload the form and lose the code for good.
    assert 'class="lang"' not in page and 'class="lang"' in client.get("/t/ruokasali").get_data(as_text=True)
    (obs,) = notes(seeded)
    assert obs.source == Source.RELATIVE and obs.anonymous and obs.contact is None
    with seeded.app_context():
        db = resources.session()
        # 23:30 UTC on 30 November is already 1 December in Helsinki (the default time zone).
        late = dt.datetime(2026, 11, 30, 23, 30, tzinfo=dt.UTC)
        db.add(Response(observation_id=obs.id, kind="answer", body="Lämpölaukut vaihdettu.",
                        created_at=late))
        db.add(Response(observation_id=obs.id, kind="action", body="sisäinen muistiinpano"))
        db.commit()
    other = seeded.test_client()  # a new browser: only the code links it to the note
    page = other.get(f"/receipt?code={code.lower()}").get_data(as_text=True)
    assert "Lämpölaukut vaihdettu." in page and "sisäinen muistiinpano" not in page
    assert 'status-new">uusi</span>' in page and 'status-new">uusi</strong>' in thanks, "one word"
    assert "Organisaatio · 1.12.2026" in page, "dates as Finns write them, in their time zone"
    assert f"{obs.day.day}.{obs.day.month}.{obs.day.year}" in page
    assert "Organisation · Dec 1, 2026" in other.get(f"/receipt?code={code}&lang=en").get_data(as_text=True)
    token = csrf_token(other, f"/receipt?code={code}")
    other.post("/receipt", data={"code": code, "reply": "Kiitos!", "csrf_token": token})
    assert "Kiitos!" in other.get(f"/receipt?code={code}").get_data(as_text=True)
    # The page's own lookup posts the code: it never lands in the address bar or the history.
    form = other.get("/receipt").get_data(as_text=True)
    assert '<form method="post" class="card">' in form
    shown = other.post("/receipt", data={"code": code, "csrf_token": csrf_token(other, "/receipt")})
    assert shown.status_code == 200 and "Lämpölaukut vaihdettu." in shown.get_data(as_text=True)
    assert other.get("/receipt?code=AAAA-BBBB-CCCC").status_code == 404


def test_contact_details_only_when_an_answer_is_wanted(seeded: Flask, client: FlaskClient) -> None:
    post_note(client, "/t/ruokasali", text="Ovikoodi vaihtui.", role="customer", contact="x@example.com")
    post_note(
        client,
        "/t/ruokasali",
        text="Ovikoodi vaihtui taas.",
        role="customer",
        contact="y@example.com",
        wants_answer="on",
    )
    assert [n.contact for n in notes(seeded)] == [None, "y@example.com"]


def test_bot_filling_the_hidden_field_stores_nothing(seeded: Flask, client: FlaskClient) -> None:
    status, _ = post_note(
        client, "/t/ruokasali", text="buy pills", role="customer", website="http://spam.example"
    )
    assert status == 201 and notes(seeded) == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("   \n ", "Kirjoita jotain"),
        ("a" * 5001, "5000"),
        ("Ruoka\x00kylmää", "ohjausmerkkejä"),
        ("Ruoka kylmää " + "+" * 2000, "ilman välilyöntiä"),  # seconds of spaCy, in the request
    ],
)
def test_bad_text_is_refused_clearly_and_kept_in_the_form(
    seeded: Flask, client: FlaskClient, text: str, message: str
) -> None:
    status, page = post_note(client, "/t/ruokasali", text=text, role="customer")
    assert status == 400 and message in page and notes(seeded) == []
    if text.strip() and "\x00" not in text:
        assert text in page


@pytest.mark.parametrize("text", ["\u200b\u200b", "\ufeff", "\u2060\u2063", "\u3164", "\u00ad\u00ad"])
def test_a_note_of_invisible_characters_only_is_refused_as_empty(
    seeded: Flask, client: FlaskClient, text: str
) -> None:
    """Nothing shows, so nothing was written: no empty-looking note for leaders, no receipt for it."""
    status, page = post_note(client, "/t/ruokasali", text=text, role="customer")
    assert status == 400 and "Kirjoita jotain ennen lähettämistä." in page and 'id="receipt"' not in page
    assert text in page, "the typed text is kept in the form"
    assert notes(seeded) == []


def test_html_is_stored_as_text_and_escaped(seeded: Flask, client: FlaskClient) -> None:
    login(client, "hoitaja", "salasana-123")
    post_note(client, "/note", text="<script>alert(1)</script> lounas myöhässä")
    (obs,) = notes(seeded)
    assert obs.text.startswith("<script>")
    page = client.get("/my").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;" in page


def test_direction_controls_cannot_disguise_what_redaction_missed(seeded: Flask, client: FlaskClient) -> None:
    """A right-to-left override before "7654 321 040" shows every reader a phone number that
    redaction did not see; such controls are dropped, so what is stored is what is seen."""
    text = "Soittakaa hänelle \u202e7654 321 040\u202c kiitos"
    status, _page = post_note(client, "/t/ruokasali", text=text, role="customer")
    assert status == 201
    (obs,) = notes(seeded)
    assert obs.text == "Soittakaa hänelle 7654 321 040 kiitos"


def test_unknown_touchpoint_is_404(seeded: Flask, client: FlaskClient) -> None:
    assert client.get("/t/ei-ole").status_code == 404


def test_qr_code_points_at_the_public_form(seeded: Flask, client: FlaskClient) -> None:
    resp = client.get("/t/ruokasali/qr.svg")
    assert resp.status_code == 200 and resp.mimetype == "image/svg+xml" and b"<svg" in resp.data


def rate_limited_app(folder: Path, settings: Settings, secret: str) -> Flask:
    """An organisation whose public forms take two notes per address, on the session's Redis."""
    app = create_app(
        make_settings(
            folder,
            redis_url=settings.redis_url,
            chroma_url=settings.chroma_url,
            public_rate_limit=2,
            secret_key=secret,
        )
    )
    make_org(app)
    return app


def test_rate_limit_on_public_forms(tmp_path: Path, settings: Settings) -> None:
    app = rate_limited_app(tmp_path / "rl", settings, "rate-limit-test")
    client = app.test_client()
    codes = [post_note(client, "/t/ruokasali", text=f"Palaute {i}", role="customer")[0] for i in range(3)]
    assert codes == [201, 201, 429]
    status, page = post_note(client, "/t/ruokasali", text="Vielä yksi", role="customer")
    assert status == 429 and "Vielä yksi" in page, "the text is kept for a later try"


def test_refused_posts_do_not_count_towards_the_rate_limit(tmp_path: Path, settings: Settings) -> None:
    """Everyone on a care home's Wi-Fi shares one address: one visitor's empty or refused posts
    must not use up the notes the others may send."""
    app = rate_limited_app(tmp_path / "rl-refused", settings, f"refused-rate-limit-{tmp_path.name}")
    client = app.test_client()
    refused = [post_note(client, "/t/ruokasali", text="", role="customer")[0] for _ in range(3)]
    refused.append(post_note(client, "/t/ruokasali", text="Hei", role="staff")[0])
    assert refused == [400, 400, 400, 400]
    codes = [post_note(client, "/t/ruokasali", text=f"Palaute {i}", role="customer")[0] for i in range(3)]
    assert codes == [201, 201, 429]
    assert [n.text for n in notes(app)] == ["Palaute 0", "Palaute 1"]


def test_rate_limit_on_replies_with_a_receipt_code(tmp_path: Path, settings: Settings) -> None:
    """One note's receipt code must not open an unlimited anonymous way in: replies through it
    are counted per address as the public form's notes are."""
    app = rate_limited_app(tmp_path / "rl-reply", settings, f"reply-rate-limit-{tmp_path.name}")
    client = app.test_client()
    status, page = post_note(client, "/t/ruokasali", text="Keitto oli kylmää.", role="customer")
    assert status == 201
    code = receipt_of(page)
    codes = [post_note(client, "/receipt", code=code, reply=f"Lisätieto {i}")[0] for i in range(3)]
    assert codes == [200, 200, 429]
    status, page = post_note(client, "/receipt", code=code, reply="Vielä yksi lisätieto")
    assert status == 429 and "Vielä yksi lisätieto" in page, "the text is kept for a later try"
    with app.app_context():
        replies = resources.session().scalars(select(Response).where(Response.kind == "reply")).all()
        assert sorted(r.body for r in replies) == ["Lisätieto 0", "Lisätieto 1"]


@pytest.mark.parametrize("trusted_proxies", [0, 1])
def test_rate_limit_per_visitor_behind_a_trusted_proxy(
    tmp_path: Path, settings: Settings, trusted_proxies: int
) -> None:
    """Behind a proxy every request comes from the proxy's address: only when the proxy is
    trusted does each visitor (X-Forwarded-For) get a limit of their own."""
    app = create_app(
        make_settings(
            tmp_path / f"proxy{trusted_proxies}",
            redis_url=settings.redis_url,
            chroma_url=settings.chroma_url,
            public_rate_limit=2,
            trusted_proxies=trusted_proxies,
            secret_key=f"proxy-test-{trusted_proxies}-{tmp_path.name}",
        )
    )
    make_org(app)
    first, second = app.test_client(), app.test_client()
    first.environ_base["HTTP_X_FORWARDED_FOR"] = "203.0.113.10"
    second.environ_base["HTTP_X_FORWARDED_FOR"] = "203.0.113.20"
    codes = [post_note(first, "/t/ruokasali", text=f"Palaute {i}", role="customer")[0] for i in range(3)]
    assert codes == [201, 201, 429]
    status, _page = post_note(second, "/t/ruokasali", text="Toinen kävijä", role="customer")
    assert status == (201 if trusted_proxies else 429)


def test_one_ipv6_network_shares_one_limit(tmp_path: Path, settings: Settings) -> None:
    """A phone or household is given a whole IPv6 /64: a new address from it for each note must
    not open a new limit, while another network keeps its own."""
    app = create_app(
        make_settings(
            tmp_path / "v6",
            redis_url=settings.redis_url,
            chroma_url=settings.chroma_url,
            public_rate_limit=2,
            trusted_proxies=1,
            secret_key=f"ipv6-test-{tmp_path.name}",
        )
    )
    make_org(app)

    def from_address(address: str, text: str) -> int:
        visitor = app.test_client()
        visitor.environ_base["HTTP_X_FORWARDED_FOR"] = address
        return post_note(visitor, "/t/ruokasali", text=text, role="customer")[0]

    codes = [from_address(f"2001:db8:1:2::{i + 1:x}", f"Palaute {i}") for i in range(3)]
    assert codes == [201, 201, 429]
    assert from_address("2001:db8:1:3::1", "Naapurin palaute") == 201
    # An IPv4 visitor seen through a dual-stack socket is the same visitor as without it.
    assert [from_address(a, f"Nelonen {a}") for a in ("198.51.100.7", "::ffff:198.51.100.7",
                                                     "198.51.100.7")] == [201, 201, 429]


def budget_app(folder: Path, settings: Settings, secret: str, **overrides: object) -> Flask:
    """An organisation with the public forms ruokasali and aula, on the session's Redis, with none of
    the budgets that all visitors share used yet."""
    values: dict[str, object] = {"redis_url": settings.redis_url, "chroma_url": settings.chroma_url}
    app = create_app(make_settings(folder, **values, secret_key=secret, **overrides))
    make_org(app, touchpoints=("ruokasali", "aula"))
    with app.app_context():  # other tests' notes this hour count too: start from none
        conn = resources.get().redis()
        for key in conn.scan_iter("hiljainen:rate:public:*"):
            conn.delete(key)
    return app


def from_address(app: Flask, address: str, path: str, **data: str) -> tuple[int, str]:
    """A post by a visitor at `address`, in a browser of its own."""
    visitor = app.test_client()
    visitor.environ_base["REMOTE_ADDR"] = address
    return post_note(visitor, path, **data)


def test_each_public_form_has_a_budget_for_all_visitors_together(
    tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Many addresses, each within its own limit (an IPv6 /48 holds 65,536 /64s), must not together
    flood a form: past the form's budget of notes and replies the next is refused and kept in the
    form, while another form still takes notes."""
    from hiljainen.web import capture

    monkeypatch.setattr(capture, "FORM_LIMIT", 3)
    app = budget_app(tmp_path / "form-budget", settings, f"form-budget-{tmp_path.name}")
    status, page = from_address(app, "203.0.113.1", "/t/ruokasali", text="Palaute 1", role="customer")
    assert status == 201
    code = receipt_of(page)
    assert from_address(app, "203.0.113.2", "/t/ruokasali", text="Palaute 2", role="customer")[0] == 201
    assert from_address(app, "203.0.113.3", "/receipt", code=code, reply="Lisätieto 1")[0] == 200
    status, page = from_address(app, "203.0.113.4", "/t/ruokasali", text="Vielä yksi", role="customer")
    assert status == 429 and "Vielä yksi" in page, "the text is kept for a later try"
    status, page = from_address(app, "203.0.113.5", "/receipt", code=code, reply="Vielä yksi lisätieto")
    assert status == 429 and "Vielä yksi lisätieto" in page, "a reply counts under its note's form"
    assert from_address(app, "203.0.113.6", "/t/aula", text="Aulan palaute", role="customer")[0] == 201
    assert [n.text for n in notes(app)] == ["Palaute 1", "Palaute 2", "Aulan palaute"]


def test_public_forms_have_a_budget_for_the_whole_service(
    tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hiljainen.web import capture

    monkeypatch.setattr(capture, "SERVICE_LIMIT", 2)
    app = budget_app(tmp_path / "service-budget", settings, f"service-budget-{tmp_path.name}")
    codes = [
        from_address(app, f"203.0.113.{n + 1}", path, text=f"Palaute {n}", role="customer")[0]
        for n, path in enumerate(["/t/ruokasali", "/t/aula", "/t/aula"])
    ]
    assert codes == [201, 201, 429]


def test_one_ipv6_site_shares_a_wider_limit(tmp_path: Path, settings: Settings) -> None:
    """A sender with a /48 could write from a fresh /64 each time: the /64s of one /48 share ten
    times one address's limit, while another /48 keeps its own."""
    app = budget_app(tmp_path / "site", settings, f"ipv6-site-{tmp_path.name}", public_rate_limit=1)
    codes = [
        from_address(app, f"2001:db8:7:{n + 1:x}::1", "/t/ruokasali", text=f"Palaute {n}", role="customer")[0]
        for n in range(11)
    ]
    assert codes == [201] * 10 + [429]
    status, _page = from_address(app, "2001:db8:8:1::1", "/t/ruokasali", text="Naapuri", role="customer")
    assert status == 201


def test_rate_limit_holds_while_redis_is_down(tmp_path: Path, settings: Settings) -> None:
    """Without Redis the limit is counted in the web process: notes are still taken, a flood is not."""
    app = create_app(
        make_settings(
            tmp_path / "rl-down",
            redis_url=f"redis://127.0.0.1:{free_port()}/0",
            chroma_url=settings.chroma_url,
            public_rate_limit=2,
            secret_key=f"rate-limit-down-{tmp_path.name}",
        )
    )
    make_org(app)
    client = app.test_client()
    codes = [post_note(client, "/t/ruokasali", text=f"Palaute {i}", role="customer")[0] for i in range(3)]
    assert codes == [201, 201, 429]
    assert [n.text for n in notes(app)] == ["Palaute 0", "Palaute 1"]


def test_notes_are_safe_while_redis_is_down_and_swept_when_it_returns(
    tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    redis_later = redis_server(tmp_path, port=free_port())  # not started yet: its address is down
    down = make_settings(tmp_path / "down", redis_url=redis_later.url, chroma_url=settings.chroma_url)
    app = create_app(down)
    make_org(app)
    client = app.test_client()
    status, page = post_note(client, "/t/ruokasali", text="Hissi rikki.", role="customer")
    assert status == 201 and "analysoidaan pian" in page
    (obs,) = notes(app)
    assert obs.processed_at is None

    from workers import jobs

    for key, value in {
        "HILJAINEN_DATABASE_URL": app.extensions["hiljainen"].settings.sqlalchemy_url,
        "HILJAINEN_REDIS_URL": redis_later.url,
    }.items():
        monkeypatch.setenv(key, value)
    jobs.runtime.cache_clear()
    with redis_later.start():
        assert jobs.sweep() == 1
        queued = queue(connect(redis_later.url)).jobs
        assert [(job.func_name, job.args) for job in queued] == [(PROCESS_JOB, ())]
        assert jobs.sweep() == 1, "the note still waits"
        assert len(queue(connect(redis_later.url)).jobs) == 1, "a second sweep adds no job"
    jobs.runtime.cache_clear()


@pytest.mark.browser
@pytest.mark.parametrize(("lang", "shown"), [("fi", "8.11.2026"), ("en", "Nov 8, 2026")])
def test_similar_notes_show_their_day_as_the_page_writes_dates(
    app: Flask, chromium: Any, lang: str, shown: str
) -> None:
    """The suggestions endpoint sends ISO days; similar.js shows them as the `day` filter does."""
    import json

    from hiljainen.web.i18n import day

    script = (Path(__file__).resolve().parents[2] / "hiljainen" / "static" / "similar.js").read_text()
    html = (f'<!doctype html><html lang="{lang}"><body><form><input name="csrf_token" value="t">'
            '<textarea id="text"></textarea><div id="similar" data-url="/similar" data-title="T" '
            f'data-hint="H" data-join="J" data-others="O"></div></form><script>{script}</script>')
    items = {"items": [{"text": "Iltapala on myöhässä.", "day": "2026-11-08", "voices": 0,
                        "me_too_url": "/me-too"}]}
    context = chromium.new_context()
    page = context.new_page()
    page.route("http://hiljainen.test/note", lambda route: route.fulfill(body=html, content_type="text/html"))
    page.route("http://hiljainen.test/similar",
               lambda route: route.fulfill(body=json.dumps(items), content_type="application/json"))
    page.goto("http://hiljainen.test/note")
    page.fill("#text", "Iltapala tulee taas myöhään.")
    meta = page.locator(".similar-item .meta")
    meta.wait_for()
    assert meta.inner_text() == shown
    context.close()
    with app.test_request_context(f"/?lang={lang}"):
        assert day(dt.date(2026, 11, 8)) == shown, "the same as the server's dates"


def test_the_receipt_page_gives_a_personal_link_and_copy_buttons(seeded: Flask, client: FlaskClient) -> None:
    """Issue 21: writers need not keep a 12-character code by hand; the link leads to the answer."""
    status, page = post_note(client, "/t/ruokasali", text="Ovikello ei soi.", role="customer")
    assert status == 201
    code = receipt_of(page)
    link = re.search(r'<a id="receipt-link" href="([^"]+)">', page)
    assert link is not None and link.group(1) == f"http://localhost/receipt?code={code}"
    assert f'id="copy-receipt" data-copy="{code}"' in page and f'data-copy="{link.group(1)}"' in page
    assert "receipt.js" in page
    followed = seeded.test_client().get(link.group(1).removeprefix("http://localhost"))
    assert followed.status_code == 200 and "Ovikello ei soi." in followed.get_data(as_text=True)


def receipt_app(tmp_path: Path, settings: Settings, name: str) -> Flask:
    """An app behind one trusted proxy (X-Forwarded-For names the visitor), with its organisation."""
    app = create_app(make_settings(tmp_path / name, redis_url=settings.redis_url,
                                   chroma_url=settings.chroma_url, trusted_proxies=1,
                                   secret_key=f"{name}-{tmp_path.name}"))
    make_org(app)
    return app


def visitor(app: Flask, address: str) -> FlaskClient:
    client = app.test_client()
    client.environ_base["HTTP_X_FORWARDED_FOR"] = address
    return client


def test_wrong_receipt_codes_are_limited_per_address(tmp_path: Path, settings: Settings) -> None:
    """Receipt codes must not be guessable by trying them unlimited: an address may look up 30
    wrong codes an hour, then every lookup of its answers 429 (a right guess too). Only failures
    count, and only the address's own: its own right codes and other addresses' lookups still work."""
    app = receipt_app(tmp_path, settings, "rl-receipt")
    guesser, writer = visitor(app, "203.0.113.10"), visitor(app, "203.0.113.20")
    status, page = post_note(writer, "/t/ruokasali", text="Keitto oli kylmää.", role="customer")
    assert status == 201
    code = receipt_of(page)
    # Right codes cost nothing: the writer can look their note up as often as they like.
    assert {writer.get(f"/receipt?code={code}").status_code for _ in range(35)} == {200}
    codes = [guesser.get(f"/receipt?code=AAAA-BBBB-{i:04d}").status_code for i in range(31)]
    assert codes == [404] * 30 + [429]
    refused = guesser.get(f"/receipt?code={code}", headers={"Accept-Language": "en"})
    assert refused.status_code == 429, "a right guess past the limit does not show either"
    assert "Too many wrong receipt codes" in refused.get_data(as_text=True)
    assert "Keitto" not in refused.get_data(as_text=True)
    assert writer.get(f"/receipt?code={code}").status_code == 200, "other addresses are not blocked"
    assert writer.get("/receipt?code=AAAA-BBBB-CCCC").status_code == 404


def test_wrong_receipt_codes_tried_in_parallel_stop_at_the_limit(
    tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tries sent at once must not all pass the limit while none has been counted yet: each is
    counted before its lookup."""
    import threading
    import time

    from hiljainen import intake
    from hiljainen.web import capture

    monkeypatch.setattr(capture, "RECEIPT_FAILURES", 3, raising=False)
    app = receipt_app(tmp_path, settings, "rl-receipt-parallel")
    lookup = intake.find_by_receipt

    def slow_lookup(*args: Any) -> Any:  # a slow database: every try is in flight at once
        time.sleep(0.5)
        return lookup(*args)

    monkeypatch.setattr(intake, "find_by_receipt", slow_lookup)
    start, statuses = threading.Barrier(8), []

    def guess(i: int) -> None:
        client = visitor(app, "203.0.113.30")
        start.wait(timeout=30)
        statuses.append(client.get(f"/receipt?code=AAAA-BBBB-{i:04d}").status_code)

    threads = [threading.Thread(target=guess, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert sorted(statuses) == [404] * 3 + [429] * 5


@pytest.mark.parametrize("address", ["203.0.113.40", "2001:db8:5:1::1"])
def test_a_right_codes_try_is_taken_back_from_the_hour_it_was_counted_in(
    tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch, address: str
) -> None:
    """A try counted just before the hour turned and taken back just after must not leave the
    new hour's counters below zero (one free wrong code for every such try)."""
    from hiljainen.web import ratelimit

    app = receipt_app(tmp_path, settings, "rl-receipt-hour")
    hour = 3600 * 500_000
    with app.test_request_context(headers={"X-Forwarded-For": address}):
        monkeypatch.setattr(ratelimit.time, "time", lambda: hour - 1.0)
        counted = ratelimit.count_try("receipt-miss", 3)
        assert counted is not None
        monkeypatch.setattr(ratelimit.time, "time", lambda: hour + 1.0)
        ratelimit.refund(counted)
        assert [ratelimit.count_try("receipt-miss", 3) is not None for _ in range(4)] == [True] * 3 + [False]


def test_wrong_receipt_codes_from_one_ipv6_site_add_up(
    tmp_path: Path, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sender with an IPv6 /48 could guess from a fresh /64 each time: the site has ten times an
    address's limit."""
    from hiljainen.web import capture

    monkeypatch.setattr(capture, "RECEIPT_FAILURES", 2, raising=False)
    app = receipt_app(tmp_path, settings, "rl-receipt-v6")

    def lookup(address: str) -> int:
        return visitor(app, address).get("/receipt?code=AAAA-BBBB-CCCC").status_code

    assert [lookup(f"2001:db8:1:{i}::1") for i in range(10) for _ in range(2)] == [404] * 20
    assert lookup("2001:db8:1:99::1") == 429, "the site's 20 wrong codes are used up"
    assert lookup("2001:db8:2:1::1") == 404, "another site keeps its own"
