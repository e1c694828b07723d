"""Answers by e-mail (issue 21): a staff member opts in in their own settings, a public writer leaves
an address with "I want an answer"; a leader answers, personally or to a whole theme, and the
answer arrives at a real SMTP server (aiosmtpd on a free loopback port) through the outbox and the
real delivery, with the link where the writer reads it. Nobody else is mailed, the outbox forgets
the address once it is sent, and a chat webhook never receives a personal answer. Without a mail
server nothing is queued at all, and the leader and the staff member are told so."""

from __future__ import annotations

import dataclasses

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from hiljainen import create_app, delivery, resources
from hiljainen.config import Settings
from hiljainen.digest import deliver_outbox
from hiljainen.models import AuditEvent, Observation, OutboxMessage, Source, Theme, User
from tests.conftest import csrf_token, login, make_org
from tests.system.test_delivery import Mailbox, Receiver, mailbox, receiver  # noqa: F401 - fixtures
from tests.web.test_capture import post_note

PUBLIC = "https://palaute.example.fi"
PASSWORD = "salasana-123"
NURSE_MAIL = "hanna.hoitaja@example.fi"
WRITER_MAIL = "omainen@example.com"


@pytest.fixture()
def mail_settings(settings: Settings, mailbox: Mailbox) -> Settings:  # noqa: F811 - the imported fixture
    return dataclasses.replace(settings, smtp_url=mailbox.url, public_url=PUBLIC)


@pytest.fixture()
def mapp(mail_settings: Settings) -> Flask:
    """The app as deployed with a mail server: a unit, touchpoint 'ruokasali', hoitaja and johtaja."""
    application = create_app(mail_settings)
    application.config["TESTING"] = True
    make_org(application)
    return application


def signed_in(app: Flask, username: str) -> FlaskClient:
    client = app.test_client()
    login(client, username, PASSWORD)
    return client


def opt_in(client: FlaskClient, **data: str) -> tuple[int, str]:
    resp = client.post("/settings?lang=en", data={"csrf_token": csrf_token(client, "/settings"), **data})
    return resp.status_code, resp.get_data(as_text=True)


def deliver(app: Flask, settings: Settings) -> list[int]:
    with app.app_context():
        session = resources.session()
        result = deliver_outbox(session, delivery.make_sender(settings, session))
        assert result.failed == []
        return result.sent


def answer(leader: FlaskClient, note: Observation, body: str) -> None:
    """Answer a note through its triage page's form."""
    path = f"/triage/notes/{note.public_id}"
    resp = leader.post(f"{path}/answer?lang=en", data={"body": body, "csrf_token": csrf_token(leader, path)})
    assert resp.status_code == 303


def note_of(app: Flask, text_part: str) -> Observation:
    with app.app_context():
        found = resources.session().scalar(select(Observation).where(Observation.text.contains(text_part)))
        assert found is not None
        return found


def test_a_staff_member_who_opted_in_gets_the_answer_by_mail(
    mapp: Flask, mail_settings: Settings, mailbox: Mailbox  # noqa: F811
) -> None:
    nurse = signed_in(mapp, "hoitaja")
    page = nurse.get("/settings?lang=en").get_data(as_text=True)
    assert "Send me answers by e-mail" in page
    assert "Lähetä vastaukset minulle sähköpostilla" in nurse.get("/settings?lang=fi").get_data(as_text=True)
    assert opt_in(nurse, email="hanna.hoitaja@", answers_by_email="on")[0] == 400
    status, body = opt_in(nurse, email="", answers_by_email="on")
    assert status == 400 and "Give the e-mail address the answers are sent to." in body
    assert opt_in(nurse, email=NURSE_MAIL, answers_by_email="on", password=PASSWORD)[0] == 303
    post_note(nurse, "/note", text="Iltavuoron lääkekaappi on taas lukossa ilman avainta.")
    post_note(nurse, "/note", text="Anonyymi huomio pesuhuoneen lattiasta.", anonymous="on")
    signed = note_of(mapp, "lääkekaappi")
    anonymous = note_of(mapp, "pesuhuoneen")

    leader = signed_in(mapp, "johtaja")
    answer(leader, signed, "Avain on nyt vuoron kansiossa.")
    landed = leader.get(f"/triage/notes/{signed.public_id}?lang=en").get_data(as_text=True)
    assert "The answer is saved and sent by e-mail, as the writer asked." in landed
    answer(leader, anonymous, "Lattia korjataan.")

    sent = deliver(mapp, mail_settings)
    assert len(sent) == 1, "the anonymous note has no author to mail"
    (to, mail), = mailbox.received
    assert to == [NURSE_MAIL] and mail["Subject"] == "Vastaus palautteeseesi / An answer to your note"
    text = mail.get_content()
    assert "Avain on nyt vuoron kansiossa." in text and f"{PUBLIC}/my" in text
    assert "lääkekaappi" not in text and "johtaja" not in text, "no note text, no names"
    with mapp.app_context():
        message = resources.session().get(OutboxMessage, sent[0])
        assert message is not None and message.recipient is None and message.sent_at is not None

    # Untick: the next answer stays in "my notes" only.
    assert opt_in(nurse, email=NURSE_MAIL)[0] == 303
    answer(leader, signed, "Vielä yksi tieto.")
    assert deliver(mapp, mail_settings) == [] and len(mailbox.received) == 1
    with mapp.app_context():
        db = resources.session()
        user = db.scalar(select(User).where(User.username == "hoitaja"))
        assert user is not None and (user.email, user.answers_by_email) == (NURSE_MAIL, False)
        choices = db.scalars(select(AuditEvent.detail).where(AuditEvent.action == "own_email")).all()
        assert choices == [{"email_set": True, "answers_by_email": True},
                           {"email_set": True, "answers_by_email": False}]


def test_a_theme_answer_mails_the_writers_who_left_an_address_and_closing_forgets_it(
    mapp: Flask, mail_settings: Settings, mailbox: Mailbox  # noqa: F811
) -> None:
    writers = [
        ("203.0.113.1", {"wants_answer": "on", "contact": WRITER_MAIL}),
        ("203.0.113.2", {"wants_answer": "on", "contact": "040 765 4321"}),
        ("203.0.113.3", {"contact": "ei.tickia@example.com"}),  # no tick: no contact is kept
        ("203.0.113.4", {"wants_answer": "on"}),  # the receipt code only
    ]
    for i, (address, extra) in enumerate(writers):
        client = mapp.test_client()
        client.environ_base["REMOTE_ADDR"] = address
        text = f"Ruokasalin melu {i} on kova."
        status, _page = post_note(client, "/t/ruokasali", text=text, role="relative", **extra)
        assert status == 201
    nurse = signed_in(mapp, "hoitaja")
    assert opt_in(nurse, email=NURSE_MAIL, answers_by_email="on", password=PASSWORD)[0] == 303
    post_note(nurse, "/note", text="Ruokasalin melu häiritsee asukkaita.")
    with mapp.app_context():
        db = resources.session()
        theme = Theme(label="ruokasali melu", phrase="Ruokasalin melu")
        db.add(theme)
        db.flush()
        for obs in db.scalars(select(Observation)):
            obs.theme_id = theme.id
        db.commit()
        theme_id = theme.id

    leader = signed_in(mapp, "johtaja")
    path = f"/triage/themes/{theme_id}"
    form = {"body": "Ruokasaliin tulee ääntä vaimentavat levyt.", "action": "Levyt tilattu.", "close": "on",
            "to": "all", "csrf_token": csrf_token(leader, path)}
    assert leader.post(f"{path}/answer?lang=en", data=form).status_code == 303
    landed = leader.get(f"{path}?lang=en").get_data(as_text=True)
    assert "2 writers asked for it by e-mail: it is sent to them." in landed
    assert "1 writers asked for it by e-mail or phone: send it there too. 040 765 4321" in landed
    with mapp.app_context():
        assert all(n.contact is None for n in resources.session().scalars(select(Observation))), "closed"

    sent = deliver(mapp, mail_settings)
    assert len(sent) == 2
    assert sorted(to[0] for to, _mail in mailbox.received) == [NURSE_MAIL, WRITER_MAIL]
    links = {to[0]: mail.get_content() for to, mail in mailbox.received}
    assert f"{PUBLIC}/receipt" in links[WRITER_MAIL] and "kuittikoodillasi" in links[WRITER_MAIL]
    assert f"{PUBLIC}/my" in links[NURSE_MAIL]
    assert all("vaimentavat levyt" in text and "Levyt tilattu" not in text for text in links.values())
    with mapp.app_context():
        outbox = resources.session().scalars(select(OutboxMessage)).all()
        assert [m.recipient for m in outbox] == [None, None], "the outbox forgets the addresses once sent"


def test_a_personal_answer_never_goes_to_the_chat_webhook(
    mapp: Flask, mail_settings: Settings, mailbox: Mailbox, receiver: Receiver  # noqa: F811
) -> None:
    client = mapp.test_client()
    post_note(client, "/t/ruokasali", text="Kahvi loppui kesken.", role="customer", wants_answer="on",
              contact=WRITER_MAIL)
    note = note_of(mapp, "Kahvi")
    leader = signed_in(mapp, "johtaja")
    answer(leader, note, "Kahvia on lisätty.")

    # Only a webhook: the answer waits for a mail server instead of going to the team's chat.
    webhook_only = dataclasses.replace(mail_settings, smtp_url="", webhook_url=receiver.url)
    with mapp.app_context():
        session = resources.session()
        result = deliver_outbox(session, delivery.make_sender(webhook_only, session))
        (message,) = session.scalars(select(OutboxMessage)).all()
        assert result.failed == [message.id] and receiver.posts == []
        assert message.recipient == WRITER_MAIL and "HILJAINEN_SMTP_URL" in (message.last_error or "")
        assert WRITER_MAIL not in (message.last_error or "")
        message.next_attempt_at = None  # due again now: the mail server has been set up
        session.commit()
    both = dataclasses.replace(mail_settings, webhook_url=receiver.url)
    assert len(deliver(mapp, both)) == 1
    assert [to for to, _mail in mailbox.received] == [[WRITER_MAIL]] and receiver.posts == []


def test_a_public_writer_without_an_address_is_not_mailed(
    mapp: Flask, mail_settings: Settings, mailbox: Mailbox  # noqa: F811
) -> None:
    client = mapp.test_client()
    post_note(client, "/t/ruokasali", text="Tuolit ovat huonoja.", role="customer", wants_answer="on",
              contact="040 111 2222")
    note = note_of(mapp, "Tuolit")
    assert note.source == Source.CUSTOMER
    leader = signed_in(mapp, "johtaja")
    answer(leader, note, "Uudet tulossa.")
    landed = leader.get(f"/triage/notes/{note.public_id}?lang=en").get_data(as_text=True)
    assert "The writer asked for it at 040 111 2222: send it there too." in landed
    assert deliver(mapp, mail_settings) == [] and mailbox.received == []


@pytest.mark.parametrize("webhook", [True, False], ids=["webhook-only", "no-delivery"])
def test_without_a_mail_server_no_answer_is_queued_and_the_leader_is_told(
    settings: Settings, receiver: Receiver, webhook: bool  # noqa: F811
) -> None:
    no_mail = dataclasses.replace(
        settings, smtp_url="", webhook_url=receiver.url if webhook else "", public_url=PUBLIC
    )
    app = create_app(no_mail)
    app.config["TESTING"] = True
    make_org(app)
    nurse = signed_in(app, "hoitaja")
    page = nurse.get("/settings?lang=en").get_data(as_text=True)
    assert 'id="no-mail-server">No mail server is set for this service yet' in page
    assert "sähköpostia ei toistaiseksi lähetetä" in nurse.get("/settings?lang=fi").get_data(as_text=True)
    status, _body = opt_in(nurse, email=NURSE_MAIL, answers_by_email="on", password=PASSWORD)
    assert status == 303, "the choice waits for a server"
    post_note(nurse, "/note", text="Iltavuoron lääkekaappi on taas lukossa.")
    theme_mail = "melu@example.com"
    for address, text, contact in (("203.0.113.1", "Kahvi loppui kesken.", WRITER_MAIL),
                                   ("203.0.113.2", "Ruokasalin melu on kova.", theme_mail)):
        writer = app.test_client()
        writer.environ_base["REMOTE_ADDR"] = address
        status, _page = post_note(writer, "/t/ruokasali", text=text, role="customer", wants_answer="on",
                                  contact=contact)
        assert status == 201
    signed, coffee, noise = (note_of(app, part) for part in ("lääkekaappi", "Kahvi", "melu"))

    leader = signed_in(app, "johtaja")
    unsent = ("No mail server is set, so it is not sent by e-mail: "
              "the writer reads it with their receipt code or in their notes.")
    answer(leader, signed, "Avain on nyt vuoron kansiossa.")
    landed = leader.get(f"/triage/notes/{signed.public_id}?lang=en").get_data(as_text=True)
    assert unsent in landed and "as the writer asked" not in landed
    answer(leader, coffee, "Kahvia on lisätty.")
    landed = leader.get(f"/triage/notes/{coffee.public_id}?lang=en").get_data(as_text=True)
    assert f"The writer asked for it at {WRITER_MAIL}: send it there too. {unsent}" in landed

    with app.app_context():
        db = resources.session()
        theme = Theme(label="ruokasali melu", phrase="Ruokasalin melu")
        db.add(theme)
        db.flush()
        for obs in db.scalars(select(Observation).where(Observation.id.in_([signed.id, noise.id]))):
            obs.theme_id = theme.id
        db.commit()
        theme_id = theme.id
    path = f"/triage/themes/{theme_id}"
    form = {"body": "Ruokasaliin tulee ääntä vaimentavat levyt.", "action": "Levyt tilattu.", "close": "on",
            "to": "all", "csrf_token": csrf_token(leader, path)}
    assert leader.post(f"{path}/answer?lang=en", data=form).status_code == 303
    landed = leader.get(f"{path}?lang=en").get_data(as_text=True)
    assert ("2 writers asked for it by e-mail, but no mail server is set: "
            "they read it with their receipt code or in their notes.") in landed
    assert f"1 writers asked for it by e-mail or phone: send it there too. {theme_mail}" in landed
    assert "it is sent to them" not in landed

    addresses = (NURSE_MAIL, WRITER_MAIL, theme_mail)
    with app.app_context():
        session = resources.session()
        outbox = session.scalars(select(OutboxMessage)).all()
        assert [m for m in outbox if m.channel == "answer" or m.recipient in addresses] == []
        result = deliver_outbox(session, delivery.make_sender(no_mail, session))
        assert result.failed == [] and receiver.posts == []
    files = [f for f in (no_mail.data_dir / "outbox").rglob("*") if f.is_file()]
    written = " ".join(f.read_text(encoding="utf-8") for f in files)
    assert not any(part in written for part in (*addresses, "Kahvia on lisätty", "vaimentavat levyt"))
