"""Real delivery of the outbox (issue 21): e-mail over SMTP and/or a chat webhook.

`HILJAINEN_SMTP_URL` (`smtp://user:password@host:587?starttls=true`, or `smtps://` for TLS from
the start) sends each alert and digest by e-mail to the addresses the admin set for the roles that
receive that kind of message (`/admin/delivery`, kept in the settings table under
RECIPIENTS_KEY). `HILJAINEN_WEBHOOK_URL` posts each message as JSON (`{"text": ...}`, the form
Slack, Mattermost, Rocket.Chat and Teams' incoming webhooks accept, with the subject, body,
channel and link beside it). With neither set, the development sender writes files to the data
folder's outbox, as before.

Every message carries a link into the service (`HILJAINEN_PUBLIC_URL` + the page that shows it).
A message that cannot go anywhere yet (e-mail only, and nobody set to receive it) fails like any
other failure: it stays in the outbox and is retried with the outbox's backoff, so an admin who
adds recipients later loses nothing. A message is sent to every configured target in one try; a
failure of either retries both (a recipient may then see an e-mail twice, never none).

Answers to writers (channel "answer", hiljainen.answer_mail) are personal: each goes by e-mail to
its own recipient only, never to the chat webhook, and the address is cleared once it is sent.
They are queued only while HILJAINEN_SMTP_URL is set; one queued before the mail server was
removed fails with NoMailServer until it is set again.
"""

from __future__ import annotations

import json
import re
import smtplib
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from sqlalchemy.orm import Session

from hiljainen.config import Settings
from hiljainen.digest import file_sender
from hiljainen.errors import ConfigError
from hiljainen.models import OutboxMessage, Role, Setting

RECIPIENTS_KEY = "delivery_recipients"
KINDS = ("alert", "digest")  # what the outbox holds for the leadership
ROLES = (Role.LEADER, Role.ADMIN)  # who may receive them
LINKS = {"alert": "/dashboard", "digest": "/dashboard"}
TIMEOUT = 15  # seconds, for SMTP and the webhook
PERSONAL = ("answer",)  # channels whose messages go to their own recipient only
_EMAIL = re.compile(r"[^@\s,;<>\"]{1,64}@[^@\s,;<>\"]{1,190}\.[^@\s,;<>\".]{2,63}")
# Markdown's characters that make links, images, emphasis and code; "!" only where it starts an
# image, since elsewhere it is inert and a chat without backslash escapes (Slack) would show them.
_MARKDOWN = re.compile(r"[\\`*_\[\]()]|!(?=\[)")
_BROADCAST = re.compile(r"@(channel|here|all|everyone)\b", re.IGNORECASE)  # mentions that ping everyone


def is_email(value: str) -> bool:
    """True for one plain e-mail address (what the forms accept and the delivery sends to)."""
    return bool(_EMAIL.fullmatch(value))


class NoRecipients(RuntimeError):
    """E-mail is the only target and no role is set to receive this kind of message."""


class NoMailServer(RuntimeError):
    """A personal message waits for e-mail, and HILJAINEN_SMTP_URL is not set."""


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    username: str
    password: str
    security: str  # "ssl" | "starttls" | "none"
    sender: str


def parse_smtp_url(url: str, default_sender: str = "") -> SmtpTarget:
    """`smtp://[user[:password]@]host[:port][?starttls=true&from=addr]` or `smtps://...`."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ConfigError(
            "HILJAINEN_SMTP_URL must look like smtp://user:password@host:587?starttls=true "
            "or smtps://user:password@host:465; fix or unset it."
        )
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    starttls = query.get("starttls", "").lower() in ("1", "true", "yes", "on")
    security = "ssl" if parts.scheme == "smtps" else "starttls" if starttls else "none"
    try:
        port = parts.port or (465 if security == "ssl" else 587 if starttls else 25)
    except ValueError:
        raise ConfigError("HILJAINEN_SMTP_URL has a port that is not a number; fix or unset it.") from None
    user = unquote(parts.username or "")
    sender = query.get("from") or default_sender or f"hiljainen@{parts.hostname}"
    return SmtpTarget(parts.hostname, port, user, unquote(parts.password or ""), security, sender)


def load_recipients(session: Session) -> dict[str, dict[str, list[str]]]:
    """Per role: the e-mail addresses and the kinds of message ("alert", "digest") they receive."""
    row = session.get(Setting, RECIPIENTS_KEY)
    stored: dict[str, Any] = json.loads(row.value) if row else {}
    out: dict[str, dict[str, list[str]]] = {}
    for role in ROLES:
        entry = stored.get(role.value, {})
        out[role.value] = {
            "emails": [str(e) for e in entry.get("emails", [])],
            "kinds": [str(k) for k in entry.get("kinds", []) if k in KINDS],
        }
    return out


def save_recipients(session: Session, recipients: Mapping[str, Mapping[str, list[str]]]) -> None:
    """Store what the admin set (the caller validates, audits and commits)."""
    value = {role.value: dict(recipients.get(role.value, {"emails": [], "kinds": []})) for role in ROLES}
    session.merge(Setting(key=RECIPIENTS_KEY, value=json.dumps(value, ensure_ascii=False, sort_keys=True)))


def addresses_for(recipients: Mapping[str, Mapping[str, list[str]]], channel: str) -> list[str]:
    """Every address of every role that receives this kind of message, once each."""
    found: dict[str, None] = {}
    for entry in recipients.values():
        if channel in entry.get("kinds", []):
            found.update(dict.fromkeys(entry.get("emails", [])))
    return list(found)


def link_for(message: OutboxMessage, public_url: str) -> str:
    """The page of the service that shows this message ('' without HILJAINEN_PUBLIC_URL)."""
    base = public_url.rstrip("/")
    return f"{base}{LINKS.get(message.channel, '/dashboard')}" if base else ""


def make_sender(settings: Settings, session: Session) -> Callable[[OutboxMessage], None]:
    """The sender `digest.deliver_outbox` calls: SMTP and/or webhook as configured, else files.
    A sent message's recipient is cleared: the outbox keeps no address longer than it needs it."""
    deliver = _sender(settings, session)

    def send(message: OutboxMessage) -> None:
        deliver(message)
        message.recipient = None

    return send


def _sender(settings: Settings, session: Session) -> Callable[[OutboxMessage], None]:
    if not settings.smtp_url and not settings.webhook_url:
        return file_sender(settings.data_dir / "outbox")
    smtp = parse_smtp_url(settings.smtp_url, settings.mail_from) if settings.smtp_url else None
    recipients = load_recipients(session)

    def send(message: OutboxMessage) -> None:
        if message.channel in PERSONAL:
            send_personal(smtp, message)
            return
        link = link_for(message, settings.public_url)
        body = message.body if not link or link in message.body else f"{message.body.rstrip()}\n\n{link}\n"
        if smtp is not None:
            to = addresses_for(recipients, message.channel)
            if to:
                send_mail(smtp, to, message.subject, body)
            elif not settings.webhook_url:
                raise NoRecipients(f"no role is set to receive {message.channel} messages (/admin/delivery)")
        if settings.webhook_url:
            post_webhook(settings.webhook_url, message, body, link)

    return send


def send_personal(smtp: SmtpTarget | None, message: OutboxMessage) -> None:
    """One personal message to its own recipient, by e-mail only. A refusal is re-raised without
    the address, since the admin's delivery page shows the last error of every message."""
    if smtp is None:
        raise NoMailServer("answers go by e-mail only: set HILJAINEN_SMTP_URL")
    if not message.recipient:
        raise NoRecipients(f"message {message.id} has no recipient")
    try:
        send_mail(smtp, [message.recipient], message.subject, message.body)
    except (smtplib.SMTPException, OSError) as exc:
        reason = str(exc).replace(message.recipient, "<recipient>")
        raise RuntimeError(f"{type(exc).__name__}: {reason}") from None


def send_mail(target: SmtpTarget, to: list[str], subject: str, body: str) -> None:
    """One plain-text UTF-8 e-mail to `to` (raises on any refusal)."""
    mail = EmailMessage()
    mail["From"] = target.sender
    mail["To"] = ", ".join(to)
    mail["Subject"] = subject
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = make_msgid(domain=target.sender.rpartition("@")[2] or None)
    mail.set_content(body)
    context = ssl.create_default_context()
    if target.security == "ssl":
        client: smtplib.SMTP = smtplib.SMTP_SSL(target.host, target.port, timeout=TIMEOUT, context=context)
    else:
        client = smtplib.SMTP(target.host, target.port, timeout=TIMEOUT)
    with client:
        if target.security == "starttls":
            client.starttls(context=context)
        if target.username:
            client.login(target.username, target.password)
        client.send_message(mail)


def chat_text(text: str) -> str:
    """Text a chat shows as written: theme names and excerpts carry the public's words, so their
    `<!channel>`, `<https://…|label>` and `@here` must not become a ping or a disguised link
    (Slack's escaping of &, < and >; a zero-width space after @ of a broadcast mention), nor their
    `[label](url)` and `![](url)` a link or an image loaded from elsewhere (Markdown, which
    Mattermost, Rocket.Chat and Teams render: a backslash before its active characters)."""
    text = _MARKDOWN.sub(r"\\\g<0>", text)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _BROADCAST.sub(lambda m: "@\u200b" + m.group(1), text)


def post_webhook(url: str, message: OutboxMessage, body: str, link: str) -> None:
    """POST the message as JSON; anything but a 2xx answer is a failure to retry."""
    payload = {
        "text": chat_text(f"{message.subject}\n\n{body}"),
        "subject": message.subject,
        "body": body,
        "channel": message.channel,
        "link": link,
    }
    request = urllib.request.Request(  # noqa: S310 - the admin's configured URL
        url,
        data=json.dumps(payload, ensure_ascii=False).encode("utf-8"),
        headers={"Content-Type": "application/json; charset=utf-8"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:  # noqa: S310 - see above
        if not 200 <= answer.status < 300:
            raise urllib.error.HTTPError(url, answer.status, "webhook refused", answer.headers, None)
