"""Answers by e-mail (issue 21): when a leader answers a note, the writer who asked for it gets the
answer by e-mail through the outbox and the real delivery (hiljainen.delivery).

Two kinds of writer can be reached, and only with their consent:
- a staff member who signed the note and, in their own settings, gave an address and ticked
  "send me answers by e-mail" (an anonymous note has no author, so it is never mailed);
- a public-form writer who ticked "I want an answer" and typed an e-mail address beside it (a
  phone number is left to the leader, who is shown it in triage).

The mail holds the answer and a link to where the writer reads it (their notes, or the receipt
page where the code opens it), never the note's text or anyone's name. The address travels as the
outbox message's recipient only, and the delivery clears it once the mail is sent.

Nothing is queued without a mail server (HILJAINEN_SMTP_URL): answers go by e-mail only, so the
message would keep the writer's address in the outbox while it failed for ever, or, with no
delivery set at all, be written with the address into the data folder's outbox files.
"""

from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy.orm import Session

from hiljainen.delivery import is_email
from hiljainen.models import Observation, OutboxMessage

__all__ = ["CHANNEL", "is_email", "notice", "queue", "recipients", "render", "unsent"]
CHANNEL = "answer"
SUBJECT = "Vastaus palautteeseesi / An answer to your note"


def recipients(note: Observation) -> list[tuple[str, str]]:
    """(address, page) for everyone who asked for this note's answers by e-mail; page is the path
    where they read it ("/my" for a staff member's own notes, "/receipt" for a receipt code)."""
    found: list[tuple[str, str]] = []
    author = note.author
    if author is not None and not note.anonymous and author.active and author.answers_by_email:
        if author.email and is_email(author.email):
            found.append((author.email, "/my"))
    if note.wants_answer and note.contact and is_email(note.contact.strip()):
        found.append((note.contact.strip(), "/receipt"))
    return list(dict.fromkeys(found))


def render(note: Observation, answer: str, link: str) -> str:
    """The mail's text: Finnish first, English below, like the weekly digest."""
    day_fi = f"{note.day.day}.{note.day.month}.{note.day.year}"
    where = "omissa huomioissasi" if link.endswith("/my") else "kuittikoodillasi"
    where_en = "in your notes" if link.endswith("/my") else "with your receipt code"
    return (
        f"Palautteeseesi {day_fi} on vastattu:\n\n{answer}\n\n"
        f"Voit lukea vastauksen ja vastata siihen {where}: {link}\n\n"
        "---\n\n"
        f"Your note of {note.day.isoformat()} has an answer:\n\n{answer}\n\n"
        f"You can read it and reply {where_en}: {link}\n"
    )


def queue(session: Session, note: Observation, answer: str, base_url: str, smtp_url: str) -> int:
    """Put one answer mail per consenting recipient in the outbox (the caller commits);
    returns how many were queued: none without a mail server (smtp_url)."""
    if not smtp_url:
        return 0
    base = base_url.rstrip("/")
    sent = 0
    for address, page in recipients(note):
        session.add(
            OutboxMessage(
                channel=CHANNEL, subject=SUBJECT, body=render(note, answer, base + page), recipient=address
            )
        )
        sent += 1
    return sent


def notice(mailed: int, *, theme: bool = False) -> str:
    """What the leader is told after answering: the writers who asked get it by e-mail."""
    if theme:
        return _("%(n)d writers asked for it by e-mail: it is sent to them.", n=mailed)
    return _("The answer is saved and sent by e-mail, as the writer asked.")


def unsent(asked: int, *, theme: bool = False) -> str:
    """What the leader is told when writers asked for e-mail but no mail server is set."""
    if theme:
        return _(
            "%(n)d writers asked for it by e-mail, but no mail server is set: "
            "they read it with their receipt code or in their notes.",
            n=asked,
        )
    return _(
        "No mail server is set, so it is not sent by e-mail: "
        "the writer reads it with their receipt code or in their notes."
    )
