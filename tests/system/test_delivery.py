"""Real delivery (issue 21): alerts and digests go from the outbox to a real SMTP server (aiosmtpd)
and a real HTTP webhook receiver, both started here on free loopback ports, with their links, to
the recipients the admin set per role; failures are retried with the outbox's backoff."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from hiljainen import accounts, db, delivery, resources
from hiljainen.digest import deliver_outbox, queue_digest
from hiljainen.models import AuditEvent, Observation, OutboxMessage, Response, Role, Source, Status
from hiljainen.services import free_port
from tests.conftest import csrf_token, login, make_settings

PUBLIC = "https://palaute.example.fi"
T0 = dt.datetime(2026, 3, 9, 6, 0, tzinfo=dt.UTC)
RECIPIENTS = {
    "leader": {"emails": ["johtaja@example.fi", "paallikko@example.fi"], "kinds": ["alert", "digest"]},
    "admin": {"emails": ["admin@example.fi"], "kinds": ["digest"]},
}


@dataclass
class Mailbox:
    """What a real SMTP server received: envelope recipients and the parsed message."""

    url: str
    received: list[tuple[list[str], EmailMessage]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.received.append((list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


@pytest.fixture()
def mailbox() -> Iterator[Mailbox]:
    port = free_port()
    box = Mailbox(url=f"smtp://127.0.0.1:{port}?from=hiljainen@example.fi")
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield box
    controller.stop()


@dataclass
class Receiver:
    """A real HTTP server standing in for a chat's incoming webhook; `fail` answers 500 that many times."""

    url: str
    posts: list[dict[str, Any]] = field(default_factory=list)
    fail: int = 0


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    port = free_port()
    rec = Receiver(url=f"http://127.0.0.1:{port}/hooks/hiljainen")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if rec.fail:
                rec.fail -= 1
                self.send_response(500)
            else:
                assert self.path == "/hooks/hiljainen"
                assert self.headers["Content-Type"].startswith("application/json")
                rec.posts.append(json.loads(body))
                self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield rec
    server.shutdown()
    server.server_close()


@pytest.fixture()
def session(database_url: str) -> Iterator[Session]:
    engine = db.make_engine(database_url)
    with db.make_sessionmaker(engine)() as s:
        yield s
    engine.dispose()


def outbox(session: Session) -> tuple[OutboxMessage, OutboxMessage]:
    """An alert as the theme refresh writes it and last week's digest."""
    monday = T0.date()
    thursday = monday - dt.timedelta(days=4)
    for i in range(4):
        session.add(Observation(text=f"Lasku {i}.", day=thursday, source=Source.CUSTOMER, anonymous=True))
    alert = OutboxMessage(channel="alert", subject="Hiljainen: Laskun korotus nousee",
                          body="Teema 'Laskun korotus' nousee: 13 huomiota viikossa.")
    session.add(alert)
    session.flush()
    digest = queue_digest(session, monday, min_group=3, base_url=PUBLIC)
    session.commit()
    return alert, digest


def test_an_alert_and_a_digest_arrive_by_mail_and_webhook_with_their_link(
    session: Session, mailbox: Mailbox, receiver: Receiver, tmp_path: Path
) -> None:
    alert, digest = outbox(session)
    delivery.save_recipients(session, RECIPIENTS)
    session.commit()
    settings = make_settings(tmp_path, smtp_url=mailbox.url, webhook_url=receiver.url, public_url=PUBLIC)
    result = deliver_outbox(session, delivery.make_sender(settings, session), T0)
    assert sorted(result.sent) == sorted([alert.id, digest.id]) and result.failed == []

    by_subject = {m["Subject"]: (to, m) for to, m in mailbox.received}
    assert set(by_subject) == {alert.subject, digest.subject}
    to, mail = by_subject[alert.subject]
    assert to == ["johtaja@example.fi", "paallikko@example.fi"], "alerts go to the leaders only"
    assert mail["From"] == "hiljainen@example.fi"
    text = mail.get_content()
    assert "13 huomiota viikossa" in text and f"{PUBLIC}/dashboard" in text
    to, mail = by_subject[digest.subject]
    assert sorted(to) == ["admin@example.fi", "johtaja@example.fi", "paallikko@example.fi"]
    assert PUBLIC in mail.get_content()

    assert [p["channel"] for p in receiver.posts] == ["alert", "digest"]
    first = receiver.posts[0]
    assert first["link"] == f"{PUBLIC}/dashboard" and first["subject"] == alert.subject
    assert first["text"].startswith(alert.subject) and f"{PUBLIC}/dashboard" in first["text"]
    assert PUBLIC in receiver.posts[1]["text"]

    # Sent once: a later round finds nothing to send.
    again = deliver_outbox(session, delivery.make_sender(settings, session), T0 + dt.timedelta(hours=1))
    assert again.sent == [] and len(mailbox.received) == 2 and len(receiver.posts) == 2


def test_the_publics_words_reach_the_chat_as_text(
    session: Session, receiver: Receiver, tmp_path: Path
) -> None:
    """A theme's name is words of public notes: in a chat they must not ping everyone or show a
    link under a harmless label."""
    words = "<!channel> <https://kirjaudu.example/login|Avaa hälytys> @here & co"
    body = f"Teema '{words}' nousee."
    session.add(OutboxMessage(channel="alert", subject="Hiljainen: uusi aihe", body=body))
    session.commit()
    settings = make_settings(tmp_path, webhook_url=receiver.url, public_url=PUBLIC)
    assert deliver_outbox(session, delivery.make_sender(settings, session), T0).failed == []
    text = receiver.posts[0]["text"]
    assert "<" not in text and ">" not in text and "@here" not in text
    assert "&lt;!channel&gt; &lt;https://kirjaudu.example/login|Avaa hälytys&gt; @\u200bhere &amp; co" in text
    assert receiver.posts[0]["link"] == f"{PUBLIC}/dashboard"


def test_a_quoted_note_cannot_put_a_markdown_link_or_image_into_the_chat(
    session: Session, receiver: Receiver, tmp_path: Path
) -> None:
    """The digest quotes public notes ("you said"); Mattermost, Rocket.Chat and Teams render
    Markdown, so a note's `[label](url)` would show a disguised link and `![](url)` load an image
    from the writer's server (telling it who reads the chat): both arrive as plain text."""
    words = "[Kirjaudu](https://evil.example)![](https://evil.example/p.png)"
    acted = T0 - dt.timedelta(days=3)
    note = Observation(text=words, day=acted.date(), source=Source.CUSTOMER, status=Status.DONE)
    session.add(note)
    session.flush()
    for kind in ("answer", "action"):
        session.add(Response(observation_id=note.id, kind=kind, body="Korjattu.", created_at=acted))
    queue_digest(session, T0.date(), min_group=3, base_url=PUBLIC)
    session.commit()
    settings = make_settings(tmp_path, webhook_url=receiver.url, public_url=PUBLIC)
    assert deliver_outbox(session, delivery.make_sender(settings, session), T0).failed == []
    text = receiver.posts[0]["text"]
    assert r"\[Kirjaudu\]\(https://evil.example\)\!\[\]\(https://evil.example/p.png\)" in text
    assert "](" not in text and "![" not in text, "no link or image syntax is left active"
    assert f"{PUBLIC}/dashboard" in text, "the service's own link still works"
    assert words in receiver.posts[0]["body"] and "Kirjaudu" in text


def test_an_alert_about_a_name_with_a_line_break_is_still_mailed(
    session: Session, mailbox: Mailbox, tmp_path: Path
) -> None:
    """A leader may name a theme across two lines; as a mail header the name must stay on one line,
    or the mail is refused and the alert retried for ever."""
    from hiljainen.models import Theme
    from workers import refresh

    theme = Theme(label="Ovikoodi\nei toimi")
    session.add(theme)
    session.flush()
    refresh.alert(session, "signal", theme, f"Teema '{theme.label}' nousee.")
    delivery.save_recipients(session, RECIPIENTS)
    session.commit()
    settings = make_settings(tmp_path, smtp_url=mailbox.url, public_url=PUBLIC)
    result = deliver_outbox(session, delivery.make_sender(settings, session), T0)
    assert result.failed == [] and len(result.sent) == 1
    assert mailbox.received[0][1]["Subject"] == "Hiljainen: Teema 'Ovikoodi ei toimi' nousee."


def test_failures_wait_with_backoff_and_arrive_later(
    session: Session, mailbox: Mailbox, receiver: Receiver, tmp_path: Path
) -> None:
    alert, digest = outbox(session)
    # E-mail only, and nobody chosen yet: both wait, nothing is lost.
    mail_only = make_settings(tmp_path, smtp_url=mailbox.url, public_url=PUBLIC)
    first = deliver_outbox(session, delivery.make_sender(mail_only, session), T0)
    assert first.sent == [] and sorted(first.failed) == sorted([alert.id, digest.id])
    session.refresh(alert)
    assert alert.attempts == 1 and "no role is set" in (alert.last_error or "")
    delivery.save_recipients(session, {"leader": {"emails": ["johtaja@example.fi"], "kinds": ["alert"]}})
    session.commit()
    assert deliver_outbox(session, delivery.make_sender(mail_only, session), T0).sent == [], "not due yet"
    later = T0 + dt.timedelta(minutes=1)
    second = deliver_outbox(session, delivery.make_sender(mail_only, session), later)
    assert second.sent == [alert.id] and second.failed == [digest.id], "nobody receives digests yet"
    assert [to for to, _m in mailbox.received] == [["johtaja@example.fi"]]

    # A webhook that answers 500 makes the digest wait again; once it answers, the digest arrives.
    both = make_settings(tmp_path, smtp_url=mailbox.url, webhook_url=receiver.url, public_url=PUBLIC)
    receiver.fail = 1
    third = deliver_outbox(session, delivery.make_sender(both, session), later + dt.timedelta(minutes=2))
    assert third.failed == [digest.id] and receiver.posts == []
    session.refresh(digest)
    assert digest.attempts == 3 and "500" in (digest.last_error or "")
    fourth = deliver_outbox(session, delivery.make_sender(both, session), later + dt.timedelta(minutes=7))
    assert fourth.sent == [digest.id] and receiver.posts[0]["channel"] == "digest"


def test_an_unreachable_mail_server_is_a_retried_failure(session: Session, tmp_path: Path) -> None:
    alert, _digest = outbox(session)
    delivery.save_recipients(session, RECIPIENTS)
    session.commit()
    nobody = make_settings(tmp_path, smtp_url=f"smtp://127.0.0.1:{free_port()}")
    result = deliver_outbox(session, delivery.make_sender(nobody, session), T0)
    assert alert.id in result.failed
    session.refresh(alert)
    assert alert.sent_at is None and "Connection" in (alert.last_error or "")


def test_smtp_urls_are_read_or_refused_clearly() -> None:
    t = delivery.parse_smtp_url("smtp://posti%40kunta.fi:s%C3%A4la@mail.kunta.fi:587?starttls=true")
    assert (t.host, t.port, t.username, t.password, t.security) == ("mail.kunta.fi", 587, "posti@kunta.fi",
                                                                    "säla", "starttls")
    assert t.sender == "hiljainen@mail.kunta.fi"
    assert delivery.parse_smtp_url("smtps://mail.kunta.fi", "palaute@kunta.fi").port == 465
    assert delivery.parse_smtp_url("smtps://mail.kunta.fi", "palaute@kunta.fi").sender == "palaute@kunta.fi"
    from hiljainen.errors import ConfigError

    with pytest.raises(ConfigError, match="HILJAINEN_SMTP_URL"):
        delivery.parse_smtp_url("http://mail.kunta.fi")


def test_the_admin_sets_recipients_per_role(app: Flask) -> None:
    with app.app_context():
        s = resources.session()
        accounts.create_user(s, "paakayttaja", "salasana-123", Role.ADMIN)
        accounts.create_user(s, "johtaja", "salasana-123", Role.LEADER)
        s.commit()
    leader = app.test_client()
    login(leader, "johtaja", "salasana-123")
    assert leader.get("/admin/delivery").status_code == 403
    client = app.test_client()
    login(client, "paakayttaja", "salasana-123")
    page = client.get("/admin/delivery?lang=en").get_data(as_text=True)
    assert "off: set HILJAINEN_SMTP_URL" in page
    form = {
        "csrf_token": csrf_token(client, "/admin/delivery"),
        "emails_leader": "johtaja@example.fi\npaallikko@example.fi, johtaja@example.fi",
        "kind_leader_alert": "on",
        "kind_leader_digest": "on",
        "emails_admin": "ei-osoite",
        "kind_admin_digest": "on",
    }
    refused = client.post("/admin/delivery?lang=en", data=form)
    assert refused.status_code == 400
    assert "ei-osoite is not an e-mail address" in refused.get_data(as_text=True)
    form["emails_admin"] = "admin@example.fi"
    assert client.post("/admin/delivery", data=form).status_code == 303
    with app.app_context():
        s = resources.session()
        assert delivery.load_recipients(s) == RECIPIENTS
        (event,) = s.scalars(select(AuditEvent).where(AuditEvent.action == "delivery_recipients"))
        assert "example.fi" not in json.dumps(event.detail), "the audit counts addresses, never lists them"
        assert event.detail["leader"] == {"emails": 2, "kinds": ["alert", "digest"]}
    page = client.get("/admin/delivery").get_data(as_text=True)
    assert "paallikko@example.fi" in page and 'name="kind_admin_alert">' in page


def test_the_workers_outbox_job_delivers_with_the_environments_settings(
    database_url: str, mailbox: Mailbox, receiver: Receiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker's timer job reads HILJAINEN_SMTP_URL and HILJAINEN_WEBHOOK_URL like every setting."""
    from workers import jobs

    engine = db.make_engine(database_url)
    with db.make_sessionmaker(engine)() as s:
        alert, _digest = outbox(s)
        delivery.save_recipients(s, RECIPIENTS)
        s.commit()
        alert_id = alert.id
    for name, value in {
        "DATA_DIR": str(tmp_path / "data"),
        "DATABASE_URL": database_url,
        "SMTP_URL": mailbox.url,
        "WEBHOOK_URL": receiver.url,
        "PUBLIC_URL": PUBLIC,
    }.items():
        monkeypatch.setenv(f"HILJAINEN_{name}", value)
    jobs.runtime.cache_clear()
    try:
        assert jobs.deliver_outbox() == 2
    finally:
        jobs.runtime.cache_clear()
    assert len(mailbox.received) == 2 and len(receiver.posts) == 2
    assert not (tmp_path / "data" / "outbox").exists(), "real delivery writes no development files"
    with db.make_sessionmaker(engine)() as s:
        sent = s.get(OutboxMessage, alert_id)
        assert sent is not None and sent.sent_at is not None and sent.attempts == 1
    engine.dispose()
