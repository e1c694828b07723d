"""Triage and the response loop through the real forms: acknowledge, answer, action, status, owner."""

from __future__ import annotations

import datetime as dt
import json
import random
import re
import string
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from hiljainen import accounts, resources
from hiljainen.models import (
    AuditEvent,
    Observation,
    Response,
    Role,
    Setting,
    Source,
    Status,
    Theme,
    Unit,
    User,
)
from hiljainen.web import triage
from tests.conftest import csrf_token, login, make_org
from tests.web.test_capture import post_note, receipt_of

PASSWORD = "salasana-123"
STAFF_NAME = "Hanna Hoitajatar"


@pytest.fixture()
def tapp(app: Flask) -> Flask:
    """The app with the triage blueprint (until create_app registers it) and people to act."""
    if "triage" not in app.blueprints:
        app.register_blueprint(triage.bp)
    make_org(app)  # unit koivukoti, touchpoint ruokasali, hoitaja (staff), johtaja (leader)
    with app.app_context():
        db = resources.session()
        staff = db.scalar(select(User).where(User.username == "hoitaja"))
        assert staff is not None
        staff.display_name = STAFF_NAME
        accounts.create_user(db, "paallikko", PASSWORD, Role.LEADER, display_name="Pekka Päällikkö")
        accounts.create_user(db, "yllapito", PASSWORD, Role.ADMIN, display_name="Aino Admin")
        db.commit()
    return app


def user_id(app: Flask, username: str) -> int:
    with app.app_context():
        found = resources.session().scalar(select(User.id).where(User.username == username))
        assert found is not None
        return found


def new_theme(app: Flask, **fields: Any) -> int:
    with app.app_context():
        db = resources.session()
        theme = Theme(**fields)
        db.add(theme)
        db.commit()
        return theme.id


def events(app: Flask, target: str) -> list[AuditEvent]:
    with app.app_context():
        return list(
            resources.session().scalars(
                select(AuditEvent).where(AuditEvent.target == target).order_by(AuditEvent.id)
            )
        )


def note_row(app: Flask, note_id: int) -> Observation:
    with app.app_context():
        obs = resources.session().get(Observation, note_id)
        assert obs is not None
        return obs


def add_notes(app: Flask, *notes: dict[str, object]) -> list[int]:
    """Insert notes directly (no redaction needed for list tests); returns their ids."""
    with app.app_context():
        db = resources.session()
        rows = [Observation(**{"source": Source.STAFF, "anonymous": True, **n}) for n in notes]
        db.add_all(rows)
        db.commit()
        return [r.id for r in rows]


def public_id(app: Flask, note_id: int) -> str:
    """The id pages and links name the note by."""
    with app.app_context():
        found = resources.session().scalar(select(Observation.public_id).where(Observation.id == note_id))
        assert found is not None
        return found


def by_public_id(app: Flask, *note_ids: int) -> list[int]:
    """Notes of one day in the order lists show them: by public id, never in the order written."""
    return sorted(note_ids, key=lambda i: public_id(app, i))


def linked_notes(app: Flask, page: str) -> list[int]:
    """The notes a page links to, in its order, as internal ids."""
    with app.app_context():
        back = dict(resources.session().execute(select(Observation.public_id, Observation.id)).tuples().all())
    return [back[p] for p in re.findall(r'href="/triage/notes/([a-z0-9]+)"', page)]


def step(client: FlaskClient, note_id: int, name: str, **data: str) -> int:
    """Post one triage form of a note page with the page's own CSRF token."""
    path = f"/triage/notes/{public_id(client.application, note_id)}"
    data["csrf_token"] = csrf_token(client, path)
    return client.post(f"{path}/{name}", data=data).status_code


def test_answer_reaches_the_writer_by_receipt_and_an_action_stays_internal(
    tapp: Flask, client: FlaskClient
) -> None:
    status, page = post_note(
        client,
        "/t/ruokasali",
        text="Keitto oli kylmää.",
        role="relative",
        wants_answer="on",
        contact="omainen@example.com",
    )
    assert status == 201
    code = receipt_of(page)
    with tapp.app_context():
        (note_id,) = resources.session().scalars(select(Observation.id)).all()
    leader = tapp.test_client()
    login(leader, "johtaja", PASSWORD)
    note_url = f"/triage/notes/{public_id(tapp, note_id)}"
    page = leader.get(f"{note_url}?lang=en").get_data(as_text=True)
    assert "Keitto oli kylmää." in page and "omainen@example.com" in page and "asked for an answer" in page

    assert step(leader, note_id, "answer", body="Vaihdoimme lämpölaukut, kiitos palautteesta.") == 303
    # The page the leader lands on says it worked and where the writer asked for it: this app has
    # no mail server, so nothing is mailed (tests/system/test_answer_mail.py has one).
    landed = leader.get(f"{note_url}?lang=en").get_data(as_text=True)
    assert (
        'role="status">The answer is saved. '
        "The writer asked for it at omainen@example.com: send it there too. "
        "No mail server is set, so it is not sent by e-mail: "
        "the writer reads it with their receipt code or in their notes."
    ) in landed
    assert "The answer is saved" not in leader.get(note_url).get_data(as_text=True)
    assert step(leader, note_id, "action", body="Kuljettajan kanssa sovittu uusi reitti.", close="on") == 303

    writer = tapp.test_client()  # a new browser: only the receipt code leads to the note
    receipt = writer.get(f"/receipt?code={code}").get_data(as_text=True)
    assert "Vaihdoimme lämpölaukut" in receipt
    assert "uusi reitti" not in receipt, "an internal action must never reach the writer"

    obs = note_row(tapp, note_id)
    assert obs.status == Status.DONE and obs.acknowledged_at is not None
    log = events(tapp, f"observation:{note_id}")
    assert [e.action for e in log] == ["acknowledge", "answer", "action"]
    assert log[0].detail == {"via": "answer"}
    assert log[2].detail["closed"] is True and log[2].detail["from"] == "seen"
    assert all(e.actor_id == user_id(tapp, "johtaja") for e in log)
    logged = repr([e.detail for e in log])
    assert "lämpölaukut" not in logged and "reitti" not in logged, "no text in the audit trail"

    page = leader.get(f"{note_url}?lang=en").get_data(as_text=True)
    assert "closed with an action" in page and "uusi reitti" in page


def test_acknowledge_happens_once(tapp: Flask) -> None:
    (note_id,) = add_notes(tapp, {"text": "Hissi jumittaa.", "day": dt.date.today()})
    leader = tapp.test_client()
    login(leader, "johtaja", PASSWORD)
    note_url = f"/triage/notes/{public_id(tapp, note_id)}"
    page = leader.get(note_url).get_data(as_text=True)
    assert f'action="{note_url}/acknowledge"' in page
    assert step(leader, note_id, "acknowledge") == 303
    first = note_row(tapp, note_id)
    assert first.status == Status.SEEN and first.acknowledged_at is not None
    # The button is gone; a replayed form changes nothing and logs nothing.
    page = leader.get(note_url).get_data(as_text=True)
    assert f'action="{note_url}/acknowledge"' not in page
    token = csrf_token(leader, note_url)
    assert leader.post(f"{note_url}/acknowledge", data={"csrf_token": token}).status_code == 303
    assert note_row(tapp, note_id).acknowledged_at == first.acknowledged_at
    assert [e.action for e in events(tapp, f"observation:{note_id}")] == ["acknowledge"]


def test_status_and_owner_are_set_and_logged(tapp: Flask) -> None:
    (note_id,) = add_notes(tapp, {"text": "Vuorolista myöhässä.", "day": dt.date.today()})
    leader = tapp.test_client()
    login(leader, "johtaja", PASSWORD)
    boss = user_id(tapp, "paallikko")
    assert step(leader, note_id, "status", status="in_progress") == 303
    assert step(leader, note_id, "owner", owner_id=str(boss)) == 303
    assert step(leader, note_id, "owner", owner_id=str(user_id(tapp, "hoitaja"))) == 400, "staff cannot own"
    assert step(leader, note_id, "status", status="archived") == 400
    assert step(leader, note_id, "status", status="done") == 303
    obs = note_row(tapp, note_id)
    assert obs.status == Status.DONE and obs.owner_id == boss and obs.acknowledged_at is not None
    log = events(tapp, f"observation:{note_id}")
    assert [(e.action, e.detail) for e in log] == [
        ("acknowledge", {"via": "set_status"}),
        ("set_status", {"from": "seen", "to": "in_progress"}),
        ("set_owner", {"from": None, "to": boss}),
        ("set_status", {"from": "in_progress", "to": "done", "with_action": False}),
    ]
    note_url = f"/triage/notes/{public_id(tapp, note_id)}"
    assert "Pekka Päällikkö" in leader.get(note_url).get_data(as_text=True)


def test_an_empty_answer_is_refused_and_nothing_is_stored(tapp: Flask) -> None:
    (note_id,) = add_notes(tapp, {"text": "Ovi narisee.", "day": dt.date.today()})
    leader = tapp.test_client()
    login(leader, "johtaja", PASSWORD)
    assert step(leader, note_id, "answer", body="   ") == 400
    with tapp.app_context():
        assert resources.session().scalars(select(Response)).all() == []
    assert events(tapp, f"observation:{note_id}") == []


def test_forms_without_csrf_are_refused(tapp: Flask) -> None:
    (note_id,) = add_notes(tapp, {"text": "Lamppu rikki.", "day": dt.date.today()})
    leader = tapp.test_client()
    login(leader, "johtaja", PASSWORD)
    note_url = f"/triage/notes/{public_id(tapp, note_id)}"
    assert leader.post(f"{note_url}/acknowledge").status_code == 400
    assert note_row(tapp, note_id).acknowledged_at is None


def test_staff_and_strangers_are_kept_out(tapp: Flask) -> None:
    (note_id,) = add_notes(tapp, {"text": "Lamppu rikki.", "day": dt.date.today()})
    stranger = tapp.test_client()
    assert stranger.get("/triage/").status_code == 302
    staff = tapp.test_client()
    login(staff, "hoitaja", PASSWORD)
    assert staff.get("/triage/").status_code == 403
    note_url = f"/triage/notes/{public_id(tapp, note_id)}"
    assert staff.get(note_url).status_code == 403
    token = csrf_token(staff, "/note")
    resp = staff.post(f"{note_url}/answer", data={"csrf_token": token, "body": "hei"})
    assert resp.status_code == 403
    admin = tapp.test_client()
    login(admin, "yllapito", PASSWORD)
    assert admin.get(note_url).status_code == 200


def test_anonymous_notes_never_show_a_name(tapp: Flask, client: FlaskClient) -> None:
    login(client, "hoitaja", PASSWORD)
    assert post_note(client, "/note", text="Yövuoro on liian raskas.", anonymous="on")[0] == 201
    assert post_note(client, "/note", text="Tarvitsemme uuden nostolaitteen.")[0] == 201
    with tapp.app_context():
        anon, signed = resources.session().scalars(select(Observation).order_by(Observation.id)).all()
    assert anon.anonymous and not signed.anonymous
    leader = tapp.test_client()
    login(leader, "johtaja", PASSWORD)
    step(leader, anon.id, "answer", body="Kiitos, otamme tämän esille.")
    anon_page = leader.get(f"/triage/notes/{public_id(tapp, anon.id)}").get_data(as_text=True)
    assert "Yövuoro" in anon_page and STAFF_NAME not in anon_page and "hoitaja" not in anon_page
    assert STAFF_NAME in leader.get(f"/triage/notes/{public_id(tapp, signed.id)}").get_data(as_text=True)
    listing = leader.get("/triage/").get_data(as_text=True)
    assert "Yövuoro" in listing and STAFF_NAME not in listing


def test_list_filters_newest_first_and_pages(tapp: Flask) -> None:
    today = dt.date.today()
    with tapp.app_context():
        db = resources.session()
        unit = db.scalar(select(Unit).where(Unit.slug == "koivukoti"))
        theme = Theme(label="ruoka kylmä", signal="weak", first_seen=today)
        db.add(theme)
        db.commit()
        unit_id, theme_id = unit.id if unit else None, theme.id
    old = today - dt.timedelta(days=10)  # always more than two working days ago
    ids = add_notes(
        tapp,
        {"text": "vanha vastaamaton", "day": old, "source": Source.CUSTOMER, "unit_id": unit_id},
        {"text": "vanha kuitattu", "day": old, "acknowledged_at": dt.datetime.now(dt.UTC)},
        {"text": "tuore", "day": today, "theme_id": theme_id, "source": Source.RELATIVE},
        {"text": "valmis", "day": old - dt.timedelta(days=1), "status": Status.DONE},
    )
    leader = tapp.test_client()
    login(leader, "johtaja", PASSWORD)

    def listed(query: str) -> list[int]:
        return linked_notes(tapp, leader.get(f"/triage/?{query}").get_data(as_text=True))

    older = by_public_id(tapp, ids[0], ids[1])  # one day: not in the order they were written
    assert listed("") == [ids[2], *older, ids[3]], "newest day first"
    assert listed("unanswered=1") == [ids[0]]
    assert listed("status=done") == [ids[3]]
    assert listed("unit=koivukoti") == [ids[0]]
    assert listed("source=relative") == [ids[2]]
    assert listed(f"theme={theme_id}") == [ids[2]]
    assert listed("status=nonsense") == listed(""), "unknown filter values are ignored"

    more = add_notes(tapp, *({"text": f"rivi {i}", "day": today} for i in range(triage.PAGE_SIZE)))
    first, second = listed(""), listed("page=2")
    today_notes = by_public_id(tapp, ids[2], *more)
    assert first == today_notes[: triage.PAGE_SIZE]
    assert second == [*today_notes[triage.PAGE_SIZE :], *older, ids[3]]
    assert 'href="/triage/?page=2"' in leader.get("/triage/").get_data(as_text=True)


def test_theme_status_and_owner(tapp: Flask) -> None:
    theme_id = new_theme(tapp, label="pyykki katoaa", signal="strong")
    add_notes(tapp, {"text": "Pyykkiä hukassa taas.", "day": dt.date.today(), "theme_id": theme_id})
    leader = tapp.test_client()
    login(leader, "johtaja", PASSWORD)
    path = f"/triage/themes/{theme_id}"
    page = leader.get(path).get_data(as_text=True)
    assert "Pyykkiä hukassa" in page
    boss = user_id(tapp, "paallikko")
    data = {"csrf_token": csrf_token(leader, path), "status": "in_progress", "owner_id": str(boss)}
    assert leader.post(path, data=data).status_code == 303
    data["status"] = "later"
    assert leader.post(path, data=data).status_code == 400
    with tapp.app_context():
        saved = resources.session().get(Theme, theme_id)
        assert saved is not None and saved.status == Status.IN_PROGRESS and saved.owner_id == boss
    log = events(tapp, f"theme:{theme_id}")
    assert [(e.action, e.detail) for e in log] == [
        ("theme_status", {"from": "new", "to": "in_progress"}),
        ("theme_owner", {"from": None, "to": boss}),
    ]
    assert leader.get("/triage/themes/999999").status_code == 404


def test_staff_read_the_answers_to_their_own_notes_not_the_internal_actions(tapp: Flask) -> None:
    (note_id,) = add_notes(tapp, {"text": "Nostolaite pitää ääntä.", "anonymous": False,
                                  "day": dt.date.today(), "author_id": user_id(tapp, "hoitaja")})
    leader = tapp.test_client()
    login(leader, "johtaja", PASSWORD)
    assert step(leader, note_id, "answer", body="Huolto tulee torstaina.") == 303
    assert step(leader, note_id, "action", body="Tilattu huolto, tiketti 42.") == 303
    nurse = tapp.test_client()
    login(nurse, "hoitaja", PASSWORD)
    mine = nurse.get("/my").get_data(as_text=True)
    assert "Nostolaite pitää ääntä." in mine and "Huolto tulee torstaina." in mine
    assert "tiketti 42" not in mine, "an internal action never reaches the writer"


def test_the_action_form_says_where_the_action_text_is_shown(tapp: Flask) -> None:
    """The report and the weekly digest quote actions under "you said, we did": the form says so."""
    (note_id,) = add_notes(tapp, {"text": "Ovi narisee.", "day": dt.date.today()})
    leader = tapp.test_client()
    login(leader, "johtaja", PASSWORD)
    note_url = f"/triage/notes/{public_id(tapp, note_id)}"
    page = leader.get(note_url).get_data(as_text=True)
    assert "kirjoittaja ei näe tätä; näkyy johdon raportissa ja viikkokoosteessa" in page
    assert "internal" not in leader.get(f"{note_url}?lang=en").get_data(as_text=True)


def test_a_refused_answer_is_explained_beside_its_form_in_words_about_the_answer(tapp: Flask) -> None:
    (note_id,) = add_notes(tapp, {"text": "Ovi narisee.", "day": dt.date.today()})
    leader = tapp.test_client()
    login(leader, "johtaja", PASSWORD)
    limit = tapp.extensions["hiljainen"].settings.max_note_chars
    long = "Kiitos palautteesta. " * (limit // 20 + 5)
    note_url = f"/triage/notes/{public_id(tapp, note_id)}"
    token = csrf_token(leader, note_url)
    resp = leader.post(f"{note_url}/answer", data={"body": long, "csrf_token": token})
    page = resp.get_data(as_text=True)
    assert resp.status_code == 400 and "Havainnossa" not in page
    answer_form = page[page.index('id="answer"'):page.index('id="action"')]
    assert f"Vastauksessa on {len(long.strip())} merkkiä; vastaus saa olla enintään" in answer_form
    assert "autofocus" in answer_form and long.strip() in answer_form, "the text is kept by the form"
    blank = leader.post(f"{note_url}/action", data={"body": " \n ", "csrf_token": token})
    page = blank.get_data(as_text=True)
    action_form = page[page.index('id="action"'):]
    assert blank.status_code == 400 and "Kirjoita, mitä tehtiin" in action_form and "autofocus" in action_form
    assert 'role="alert"' not in page[:page.index('id="answer"')], "not at the top of the page"


def test_a_writers_reply_is_flagged_until_someone_answers_it(tapp: Flask) -> None:
    today = dt.date.today()
    quiet, replied = add_notes(tapp, {"text": "kiitos vastauksesta", "day": today},
                               {"text": "lämmin ruoka puuttui", "day": today})
    with tapp.app_context():
        db = resources.session()
        db.add_all([Response(observation_id=quiet, kind="answer", body="Korjattu."),
                    Response(observation_id=replied, kind="answer", body="Selvitämme."),
                    Response(observation_id=replied, kind="reply", body="Eilen taas sama.")])
        db.commit()
    leader = tapp.test_client()
    login(leader, "johtaja", PASSWORD)

    def listed(query: str) -> tuple[list[int], str]:
        page = leader.get(f"/triage/?{query}").get_data(as_text=True)
        return linked_notes(tapp, page), page

    ids, page = listed("")
    assert ids == by_public_id(tapp, replied, quiet) and page.count("kirjoittaja vastasi") == 1
    assert listed("replied=1")[0] == [replied]
    assert step(leader, replied, "answer", body="Kiitos, korjaamme.") in (302, 303)
    assert listed("replied=1")[0] == []


# --- answering a theme (issue 21) -------------------------------------------------------------


def theme_with_writers(tapp: Flask, writers: int) -> tuple[int, list[int], list[str]]:
    """A theme whose notes came from `writers` public-form writers with receipt codes (each on a
    device and address of their own, as the public form's hourly limit counts per address), one
    signed staff note and one imported note that has no way back to its writer."""
    codes = []
    for i in range(writers):
        client = tapp.test_client()
        client.environ_base["REMOTE_ADDR"] = f"198.51.100.{i + 1}"
        status, page = post_note(
            client,
            "/t/ruokasali",
            text=f"Laskun korotus yllätti meidät, kirje {i} tuli myöhään.",
            role="customer" if i % 2 else "relative",
            **({"wants_answer": "on", "contact": "omainen@example.com"} if i == 0 else {}),
        )
        assert status == 201
        codes.append(receipt_of(page))
    long_ago = dt.date.today() - dt.timedelta(days=30)
    staff_note, imported = add_notes(
        tapp,
        {"text": "Asiakkaat kysyvät laskusta.", "anonymous": False, "day": long_ago,
         "author_id": user_id(tapp, "hoitaja")},
        {"text": "Lasku nousi taas.", "day": long_ago, "source": Source.CUSTOMER},
    )
    with tapp.app_context():
        db = resources.session()
        theme = Theme(label="lasku korotus", phrase="Laskun korotus", signal="strong")
        db.add(theme)
        db.flush()
        ids = list(db.scalars(select(Observation.id).order_by(Observation.id)))
        assert len(ids) == writers + 2 and ids[-2:] == [staff_note, imported]
        for obs in db.scalars(select(Observation)):
            obs.theme_id = theme.id
            obs.day = long_ago  # overdue: nobody has answered them
        db.commit()
        return theme.id, ids, codes


def answer_theme(client: FlaskClient, theme_id: int, **data: object) -> tuple[int, str]:
    path = f"/triage/themes/{theme_id}"
    fields: dict[str, object] = {"csrf_token": csrf_token(client, path), **data}
    resp = client.post(f"{path}/answer?lang=en", data=fields, headers={"Accept-Language": "en"})
    return resp.status_code, resp.get_data(as_text=True)


def test_one_answer_reaches_every_writer_of_a_theme(tapp: Flask) -> None:
    from hiljainen.digest import unanswered_clause
    from hiljainen.stores.reports import note_facts

    theme_id, ids, codes = theme_with_writers(tapp, writers=13)
    with tapp.app_context():
        overdue = select(Observation.id).where(unanswered_clause(dt.date.today()))
        assert sorted(resources.session().scalars(overdue)) == ids, "before: every note is overdue"
    leader = tapp.test_client()
    login(leader, "johtaja", PASSWORD)
    page = leader.get(f"/triage/themes/{theme_id}?lang=en").get_data(as_text=True)
    assert "Answer everyone in this theme" in page
    assert "Of 15 notes, 13 have a receipt code, 1 a signed writer and 1 a contact." in page
    status, _page = answer_theme(
        leader,
        theme_id,
        body="Hinnankorotus johtuu energian hinnasta; kirjeet lähtevät jatkossa kuukautta aiemmin.",
        action="Laskutuksen kanssa sovittu aikaisempi tiedote.",
        close="on",
    )
    assert status == 303
    landed = leader.get(f"/triage/themes/{theme_id}?lang=en").get_data(as_text=True)
    assert (
        "The answer is saved to 15 notes: 13 writers read it with their receipt code, 1 in their own notes."
        in landed
    )
    # The contact was an address, but without a mail server the leader is the one to send it there.
    assert "1 writers asked for it by e-mail, but no mail server is set" in landed
    assert "1 writers asked for it by e-mail or phone: send it there too. omainen@example.com" in landed
    assert "1 notes have no receipt code or author" in landed

    for code in codes:  # each writer, in a browser of their own, with nothing but the code
        receipt = tapp.test_client().get(f"/receipt?code={code}").get_data(as_text=True)
        assert "kirjeet lähtevät jatkossa kuukautta aiemmin" in receipt
        assert "aikaisempi tiedote" not in receipt, "the internal action never reaches the writer"
    nurse = tapp.test_client()
    login(nurse, "hoitaja", PASSWORD)
    mine = nurse.get("/my").get_data(as_text=True)
    assert "kirjeet lähtevät jatkossa kuukautta aiemmin" in mine and "aikaisempi tiedote" not in mine

    with tapp.app_context():
        db = resources.session()
        rows = db.scalars(select(Response).order_by(Response.id)).all()
        assert sorted((r.observation_id, r.kind) for r in rows) == sorted(
            [(i, "answer") for i in ids] + [(i, "action") for i in ids]
        )
        notes = db.scalars(select(Observation)).all()
        assert all(n.status == Status.DONE and n.acknowledged_at is not None for n in notes)
        assert db.scalars(select(Observation.id).where(unanswered_clause(dt.date.today()))).all() == []
        # The response-loop indicators count every note of the theme as answered and acted on.
        facts = note_facts(db, dt.date.today() - dt.timedelta(days=60))
        assert sorted(f.id for f in facts) == ids
        assert all(f.answered and f.closed_with_action and f.first_response is not None for f in facts)
    (summary,) = events(tapp, f"theme:{theme_id}")
    assert summary.action == "theme_answer"
    assert summary.detail == {"notes": 15, "chars": 84, "action": True, "closed": True}
    per_note = events(tapp, f"observation:{ids[0]}")
    assert [e.action for e in per_note] == ["acknowledge", "answer", "action"]
    assert per_note[1].detail["theme"] == theme_id
    assert "energian" not in repr([e.detail for e in per_note + [summary]]), "no text in the audit trail"

    # A writer can still get a personal answer after the common one.
    assert step(leader, ids[3], "answer", body="Teidän laskunne korjataan erikseen.") == 303
    receipt = tapp.test_client().get(f"/receipt?code={codes[3]}").get_data(as_text=True)
    assert "kuukautta aiemmin" in receipt and "korjataan erikseen" in receipt
    other = tapp.test_client().get(f"/receipt?code={codes[4]}").get_data(as_text=True)
    assert "korjataan erikseen" not in other


def test_a_theme_answer_to_a_selection_and_its_refusals(tapp: Flask) -> None:
    theme_id, ids, codes = theme_with_writers(tapp, writers=3)
    leader = tapp.test_client()
    login(leader, "johtaja", PASSWORD)

    def answers() -> list[int]:
        with tapp.app_context():
            return sorted(resources.session().scalars(select(Response.observation_id)))

    status, page = answer_theme(leader, theme_id, body="Kiitos.", to="selected")
    assert status == 400 and "Choose the notes to answer" in page and "Kiitos." in page
    with tapp.app_context():
        db = resources.session()
        stranger = Observation(text="Muu asia.", source=Source.STAFF, anonymous=True, day=dt.date.today())
        db.add(stranger)
        db.commit()
        stranger_id = stranger.id
    first = public_id(tapp, ids[0])
    note = [first, public_id(tapp, stranger_id)]
    status, page = answer_theme(leader, theme_id, body="Kiitos.", to="selected", note=note)
    assert status == 400 and "no longer in this theme" in page
    assert f'value="{first}" checked' in page, "the choice is kept for the next try"
    status, page = answer_theme(leader, theme_id, body="   ", to="all")
    assert status == 400 and "Write the answer" in page
    assert answers() == []

    chosen = [ids[0], ids[2]]
    note = [public_id(tapp, i) for i in chosen]
    status, _page = answer_theme(leader, theme_id, body="Korjaamme kirjeen.", to="selected", note=note)
    assert status == 303 and answers() == chosen

    def receipt(code: str) -> str:
        return tapp.test_client().get(f"/receipt?code={code}").get_data(as_text=True)

    assert "Korjaamme kirjeen." in receipt(codes[0]) and "Korjaamme kirjeen." not in receipt(codes[1])
    assert note_row(tapp, ids[0]).status == Status.SEEN  # no action: the note stays open
    nurse = tapp.test_client()
    login(nurse, "hoitaja", PASSWORD)
    assert answer_theme(nurse, theme_id, body="Ei.")[0] == 403
    assert answer_theme(leader, 999999, body="Ei.")[0] == 404


def test_a_theme_answer_keeps_many_contacts_out_of_the_session_cookie_and_shows_them_all(
    tapp: Flask,
) -> None:
    """The contacts left for the leader went into a flash message, i.e. into the session cookie:
    readable by anyone holding it (signed, not encrypted), and past 4 KB dropped by the browser,
    while closing the notes deleted them. 300 writers' contacts (over 4 KB even compressed, as
    Flask's cookie is) now wait in the database."""
    rng = random.Random(21)

    def name() -> str:
        return "".join(rng.choices(string.ascii_lowercase, k=rng.randint(5, 10)))

    contacts = [f"{name()}.{name()}@example.com" if i % 2 else f"040 {rng.randint(1000000, 9999999)}"
                for i in range(300)]
    day = dt.date.today() - dt.timedelta(days=3)
    ids = add_notes(tapp, *({"text": f"Lasku {i} nousi.", "day": day, "wants_answer": True, "contact": c}
                            for i, c in enumerate(contacts)))
    with tapp.app_context():
        db = resources.session()
        theme = Theme(label="lasku korotus", phrase="Laskun korotus")
        db.add(theme)
        db.flush()
        for obs in db.scalars(select(Observation).where(Observation.id.in_(ids))):
            obs.theme_id = theme.id
        db.commit()
        theme_id = theme.id
    leader = tapp.test_client()
    login(leader, "johtaja", PASSWORD)
    path = f"/triage/themes/{theme_id}"
    resp = leader.post(f"{path}/answer?lang=en", headers={"Accept-Language": "en"}, data={
        "body": "Korotus perutaan.", "action": "Hinnasto korjattu.", "close": "on", "to": "all",
        "csrf_token": csrf_token(leader, path)})
    assert resp.status_code == 303
    cookie_name = tapp.config["SESSION_COOKIE_NAME"]
    (cookie,) = [c for c in resp.headers.getlist("Set-Cookie") if c.startswith(f"{cookie_name}=")]
    assert len(cookie) <= 4093, f"a browser drops a cookie of {len(cookie)} bytes"
    session = tapp.session_interface.get_signing_serializer(tapp).loads(  # type: ignore[attr-defined]
        cookie.split(";", 1)[0].split("=", 1)[1])
    assert not [c for c in contacts if c in repr(session) or c in cookie], "no contact in the cookie"
    with tapp.app_context():
        assert all(n.contact is None for n in resources.session().scalars(select(Observation))), "closed"

    landed = leader.get(f"{path}?lang=en").get_data(as_text=True)
    assert "The answer is saved to 300 notes" in landed
    shown = re.search(r'<div class="notice" role="status" id="answer-contacts">([^<]*)</div>', landed)
    assert shown, landed[:2000]
    asked = "300 writers asked for it by e-mail or phone: send it there too."
    assert shown.group(1) == f"{asked} {', '.join(contacts)}", "every contact, in the notes' order"
    again = leader.get(f"{path}?lang=en").get_data(as_text=True)
    assert 'id="answer-contacts"' not in again and contacts[0] not in again, "shown once, then deleted"
    with tapp.app_context():
        kept = select(Setting.key).where(Setting.key.startswith("theme_contacts:"))
        assert resources.session().scalars(kept).all() == []


def test_contacts_an_answer_adds_while_the_theme_page_renders_are_kept_for_next_time(
    tapp: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page deleted the waiting row after rendering: contacts another answer of the same
    leader added meanwhile (closing had deleted them from the notes) went unseen."""
    theme_id = new_theme(tapp, label="lasku", phrase="Laskun korotus")
    key = triage._contacts_key(user_id(tapp, "johtaja"), theme_id)
    first = [{"note": 1, "contact": "040 1111111", "day": "2026-12-01"}]
    later = [*first, {"note": 2, "contact": "040 2222222", "day": "2026-12-01"}]
    with tapp.app_context():
        resources.session().add(Setting(key=key, value=json.dumps(first)))
        resources.session().commit()
    render = triage._theme_page

    def answered_meanwhile(*args: Any, **kwargs: Any) -> Any:
        with tapp.app_context():  # another request's session, committed while this page renders
            other = resources.session()
            row = other.get(Setting, key)
            assert row is not None
            row.value = json.dumps(later)
            other.commit()
        return render(*args, **kwargs)

    monkeypatch.setattr(triage, "_theme_page", answered_meanwhile)
    leader = tapp.test_client()
    login(leader, "johtaja", PASSWORD)
    assert "040 1111111" in leader.get(f"/triage/themes/{theme_id}").get_data(as_text=True)
    with tapp.app_context():
        kept = resources.session().get(Setting, key)
        assert kept is not None and "040 2222222" in kept.value, "the later contact waits"


def test_an_answer_of_invisible_characters_only_is_refused_as_empty(tapp: Flask) -> None:
    """A zero-width space shows nothing: sent to a theme, it reached every writer as an empty answer."""
    theme_id, ids, _codes = theme_with_writers(tapp, writers=2)
    leader = tapp.test_client()
    login(leader, "johtaja", PASSWORD)
    status, page = answer_theme(leader, theme_id, body="\u200b", to="all")
    assert status == 400 and "Write the answer before sending." in page
    note_url = f"/triage/notes/{public_id(tapp, ids[0])}"
    token = csrf_token(leader, note_url)
    for body in ("\u200b", "\ufeff\u2060", "\u3164", "\u00ad "):
        resp = leader.post(f"{note_url}/answer", data={"body": body, "csrf_token": token})
        page = resp.get_data(as_text=True)
        answer_form = page[page.index('id="answer"'):page.index('id="action"')]
        assert resp.status_code == 400 and "Write the answer before sending." in answer_form, body
        assert f">{body}</textarea>" in answer_form, "the typed text is kept by the form"
    with tapp.app_context():
        assert resources.session().scalars(select(Response)).all() == [], "no writer gets an empty answer"


# --- reaching writers, with consent (issue 21) ------------------------------------------------


def test_the_answer_tick_is_kept_and_shown_in_triage_and_closing_deletes_the_contact(tapp: Flask) -> None:
    def public(address: str, **data: str) -> tuple[int, str]:
        writer = tapp.test_client()
        writer.environ_base["REMOTE_ADDR"] = address
        return post_note(writer, "/t/ruokasali", role="relative", **data)

    status, page = public("203.0.113.1", text="Isän kuulolaite katosi.", wants_answer="on")
    assert status == 201 and 'id="answer-promise"' in page
    status, _page = public("203.0.113.2", text="Soittakaa.", wants_answer="on", contact="040 765 4321")
    assert status == 201
    status, page = public("203.0.113.3", text="Ei vastausta, kiitos.", contact="ei@example.com")  # no tick
    assert status == 201 and 'id="answer-promise"' not in page
    with tapp.app_context():
        rows = resources.session().scalars(select(Observation).order_by(Observation.id)).all()
        assert [(n.wants_answer, n.contact) for n in rows] == [
            (True, None), (True, "040 765 4321"), (False, None)
        ], "the tick is stored; a contact only with it, and apart from the text"
        assert all("040" not in n.text and "example" not in n.text for n in rows)
        ticked, called, silent = (n.id for n in rows)
    leader = tapp.test_client()
    login(leader, "johtaja", PASSWORD)

    def shown(note_id: int) -> str:
        note_url = f"/triage/notes/{public_id(tapp, note_id)}"
        page = leader.get(f"{note_url}?lang=en").get_data(as_text=True)
        found = re.search(r'<p id="wants-answer"><strong>([^<]*)</strong>', page)
        return found.group(1) if found else ""

    assert shown(ticked).startswith("The writer asked for an answer (with their receipt code")
    assert shown(called) == "The writer asked for an answer at: 040 765 4321"
    assert shown(silent) == ""

    assert step(leader, called, "answer", body="Soitamme huomenna.") == 303
    assert note_row(tapp, called).contact == "040 765 4321", "answering keeps the contact"
    assert step(leader, called, "status", status="done") == 303
    closed = note_row(tapp, called)
    assert closed.contact is None and closed.wants_answer, "closing deletes the contact, the tick stays"
    assert events(tapp, f"observation:{called}")[-1].detail["contact_deleted"] is True
    assert "040 765 4321" not in leader.get(f"/triage/notes/{public_id(tapp, called)}").get_data(as_text=True)
