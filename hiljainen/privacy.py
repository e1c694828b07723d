"""Personal data rights and retention: export or erase everything about a subject, and delete old notes.

A subject is a user account (by username) or a receipt code (the one note it belongs to).

What belongs to a subject
- The notes: a user's signed notes (author_id), or the note a receipt code belongs to, with their
  text, contact, tags, the answers and replies the writer can read, the number of "me too"
  voices on them, their vectors in Chroma, theme memberships (theme_id and a theme's
  representatives) and the audit events about them.
- For a user also: the account and its API tokens, the voices the user added to other notes (the
  reporter key is a keyed hash of the user id, see rules.user_reporter_key), and the user's work as a
  leader: answers and actions written, interpretations, indicators, notes and themes owned,
  audit events caused.
- Outbox messages that quote one of the notes or its responses (the digest quotes notes), refer to
  one by id, or contain the contact details, username or display name.
- Contacts a theme answer left waiting for a leader (web.triage) that came from one of the notes or
  are the subject's contact: the leader's next look at the theme shows and deletes them, but a
  closed note no longer holds its contact, so each waiting contact names its note.

Erasure
- The subject's notes are deleted with everything hanging off them (voices, responses, audit
  events about them, vectors, theme memberships); notes marked as their duplicates are unlinked.
- A leader's work on other people's notes and themes stays, since it is part of those notes'
  history, but loses its identity: author, actor, owner and creator ids become NULL and owner
  names equal to the user's name are blanked. The account and its tokens are then deleted.
- Anonymous notes keep no link to their writer's account by design: they are erased by receipt code.
- Outbox messages are scrubbed, not deleted (a digest still goes out): a line quoting or naming an
  erased note becomes ERASED, a contact or name inside a line is replaced by it, and a copy the
  development sender already wrote under <data folder>/outbox is rewritten.
- The subject's waiting contacts are removed; an erased leader's waiting contacts all go, as no
  one else would ever be shown them.
- Vectors are deleted before the rows and again after the commit: a failed erasure can simply be
  run again, and a worker indexing one of the notes at that moment cannot leave its vector behind.
- One AuditEvent (action "erase", target "privacy") records counts only, never who was erased.
- Dashboard snapshots, theme labels and signal measures are aggregates of many notes; the next
  theme refresh recomputes them without the erased notes.

Retention: with HILJAINEN_RETENTION_MONTHS=N > 0, notes whose day is more than N calendar months
before today are erased the same way, and so are waiting contacts kept before that day (a leader
may never come back to the theme). The worker runs `retention_job` at most once a day;
`hiljainen retention` runs it on demand.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import delete, false, func, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from hiljainen import db as database
from hiljainen import digest
from hiljainen.config import Settings
from hiljainen.errors import ConfigError, InvalidInput, NotFound
from hiljainen.intake import receipt_hash
from hiljainen.models import (
    ApiToken,
    AuditEvent,
    Indicator,
    Interpretation,
    Observation,
    OutboxMessage,
    Response,
    Setting,
    Theme,
    User,
    Voice,
    utcnow,
)
from hiljainen.note_json import note_json
from hiljainen.rules import user_reporter_key
from hiljainen.runtime import vector_store
from hiljainen.stores.vectors import VectorStore

ERASED = "[POISTETTU]"
VISIBLE_TO_WRITER = ("answer", "reply")
OWNER_ACTIONS = ("set_owner", "theme_owner")
CHUNK = 500  # ids per IN (...) and notes per retention transaction
MIN_NAME = 3  # shorter names would scrub ordinary words
LAST_RETENTION = "retention_last_day"
WAITING_CONTACTS = "theme_contacts:"  # + "<leader's user id>:<theme id>", see waiting_contacts


@dataclass(frozen=True)
class Subject:
    """Whom a request is about: a username or a receipt code."""

    kind: Literal["user", "receipt"]
    value: str

    @classmethod
    def from_options(cls, user: str | None, receipt: str | None) -> Subject:
        """Exactly one of a username or a receipt code."""
        user, receipt = (user or "").strip(), (receipt or "").strip()
        if bool(user) == bool(receipt):
            raise InvalidInput("give either a username or a receipt code")
        return cls("user", user.lower()) if user else cls("receipt", receipt)


@dataclass
class Footprint:
    """The rows that are about one subject."""

    subject: Subject
    user: User | None
    notes: list[Observation]
    voices: list[Voice] = field(default_factory=list)  # the user's own voices on other notes


def app_secret(settings: Settings) -> str:
    """The web app's signing key (as resources.init_app picks it), which keys the reporter keys."""
    path = settings.data_dir / "secret_key"
    return settings.secret_key or (path.read_text().strip() if path.exists() else "")


def find(session: Session, subject: Subject, secret: str) -> Footprint:
    """Everything stored about the subject; NotFound if there is no such account or code."""
    if subject.kind == "receipt":
        note = session.scalar(
            select(Observation).where(Observation.receipt_hash == receipt_hash(subject.value))
        )
        if note is None:
            raise NotFound("no note has this receipt code")
        return Footprint(subject, None, [note])
    user = session.scalar(select(User).where(User.username == subject.value))
    if user is None:
        raise NotFound(f"no account is named {subject.value!r}")
    notes = list(
        session.scalars(select(Observation).where(Observation.author_id == user.id).order_by(Observation.id))
    )
    mine = {n.id for n in notes}
    key = user_reporter_key(secret, user.id) if secret else None
    voices = [
        v
        for v in session.scalars(select(Voice).where(Voice.reporter_key == key).order_by(Voice.id))
        if v.observation_id not in mine
    ]
    return Footprint(subject, user, notes, voices)


# --- export -----------------------------------------------------------------------------------


def export(session: Session, fp: Footprint, settings: Settings) -> dict[str, Any]:
    """The subject's data as a JSON-ready dict (vectors included)."""
    ids = [n.id for n in fp.notes]
    themes = {t.id: t for t in session.scalars(select(Theme))}
    mentions = _mentions(session, fp)
    theirs = _theirs(set(ids), mentions)
    # Notes are named by their public id throughout: the internal id runs in writing order, so
    # an export holding it would place an anonymous note among a writer's signed ones.
    public = _PublicIds(session, fp.notes)
    out: dict[str, Any] = {
        "subject": fp.subject.kind,
        "exported_at": utcnow().isoformat(),
        "notes": [_note_json(session, n, themes, public) for n in fp.notes],
        "audit_about_notes": [_event_json(e, public) for e in _events_about(session, ids)],
        "outbox": [_message_json(m) for m in _mentioning(session, mentions)],
        "waiting_contacts": [
            {"theme": int(row.key.rsplit(":", 1)[1]), "contact": e["contact"], "day": e["day"]}
            for row in _waiting(session)
            for e in waiting_contacts(row.value)
            if theirs(e)
        ],
    }
    store, model = _store(settings, session)
    found = store.vectors(ids) if store and ids else {}
    out["vectors"] = {
        "model": model,
        "by_note": {public[i]: [round(float(x), 6) for x in v] for i, v in found.items()},
    }
    if fp.user is not None:
        out.update(_user_json(session, fp, public))
    return out


class _PublicIds:
    """Public id of a note by its internal id: the subject's own notes known, others looked up
    once each (the few notes the subject voiced, answered or that are linked to theirs)."""

    def __init__(self, session: Session, known: Sequence[Observation]) -> None:
        self._session = session
        self._known: dict[int, str | None] = {n.id: n.public_id for n in known}

    def __getitem__(self, note_id: int | None) -> str | None:
        if note_id is None:
            return None
        if note_id not in self._known:
            self._known[note_id] = self._session.scalar(
                select(Observation.public_id).where(Observation.id == note_id))
        return self._known[note_id]

    def target(self, target: str) -> str:
        """An audit target with a note's internal id made public ("observation:<public id>")."""
        kind, _, ident = target.partition(":")
        if kind != "observation" or not ident.isdigit():
            return target
        return f"{kind}:{self[int(ident)] or 'erased'}"


def _note_json(
    session: Session, n: Observation, themes: dict[int, Theme], public: _PublicIds
) -> dict[str, Any]:
    responses = session.scalars(
        select(Response)
        .where(Response.observation_id == n.id, Response.kind.in_(VISIBLE_TO_WRITER))
        .order_by(Response.id)
    )
    theme = themes.get(n.theme_id or -1)
    return {
        **note_json(n),
        "anonymous": n.anonymous,
        "created_at": _iso(n.created_at),
        "tags": n.tags,
        "contact": n.contact,
        "redactions": n.redactions,
        "acknowledged_at": _iso(n.acknowledged_at),
        "language": n.lang,
        "keywords": n.keywords,
        "tone": n.tone,
        "theme": {"id": theme.id, "name": theme.name} if theme else None,
        "representative_of_themes": [t.id for t in themes.values() if n.id in (t.representatives or [])],
        "duplicate_of": public[n.duplicate_of_id],
        "responses": [{"kind": r.kind, "body": r.body, "created_at": _iso(r.created_at)} for r in responses],
        "voices": session.scalar(select(func.count()).where(Voice.observation_id == n.id)) or 0,
    }


def _user_json(session: Session, fp: Footprint, public: _PublicIds) -> dict[str, Any]:
    u = fp.user
    assert u is not None
    mine = [n.id for n in fp.notes]
    written = session.scalars(select(Response).where(Response.author_id == u.id).order_by(Response.id)).all()
    interpretations = session.scalars(
        select(Interpretation).where(or_(Interpretation.author_id == u.id, _named(Interpretation.owner, u)))
    ).all()
    indicators = session.scalars(
        select(Indicator).where(or_(Indicator.created_by == u.id, _named(Indicator.owner, u)))
    ).all()
    return {
        "account": {
            "username": u.username,
            "display_name": u.display_name,
            "role": u.role.value,
            "unit": u.unit.slug if u.unit else None,
            "active": u.active,
            "created_at": _iso(u.created_at),
            "email": u.email,
            "answers_by_email": u.answers_by_email,
        },
        "api_tokens": [
            {"name": t.name, "role": t.role.value, "created_at": _iso(t.created_at), "revoked": t.revoked}
            for t in session.scalars(select(ApiToken).where(ApiToken.user_id == u.id))
        ],
        "voices": [
            {"note": public[v.observation_id], "day": v.day.isoformat(), "source": v.source.value}
            for v in fp.voices
        ],
        "responses_written": [
            {"note": public[r.observation_id], "kind": r.kind, "body": r.body,
             "created_at": _iso(r.created_at)}
            for r in written
            if r.observation_id not in mine or r.kind not in VISIBLE_TO_WRITER
        ],
        "notes_owned": sorted(
            session.scalars(select(Observation.public_id).where(Observation.owner_id == u.id))),
        "themes_owned": list(session.scalars(select(Theme.id).where(Theme.owner_id == u.id))),
        "interpretations": [
            {
                "theme": i.theme_id,
                "meaning": i.meaning,
                "decision": i.decision,
                "owner": i.owner,
                "review_on": _iso(i.review_on),
                "created_at": _iso(i.created_at),
            }
            for i in interpretations
        ],
        "indicators": [
            {
                "name": i.name,
                "theme": i.theme_id,
                "query": i.query,
                "owner": i.owner,
                "created_at": _iso(i.created_at),
            }
            for i in indicators
        ],
        "audit_by_user": [
            _event_json(e, public)
            for e in session.scalars(
                select(AuditEvent).where(AuditEvent.actor_id == u.id).order_by(AuditEvent.id)
            )
        ],
    }


def _event_json(e: AuditEvent, public: _PublicIds) -> dict[str, Any]:
    return {"action": e.action, "target": public.target(e.target), "detail": e.detail, "at": _iso(e.at)}


def _message_json(m: OutboxMessage) -> dict[str, Any]:
    return {
        "id": m.id,
        "channel": m.channel,
        "subject": m.subject,
        "body": m.body,
        "created_at": _iso(m.created_at),
        "sent_at": _iso(m.sent_at),
    }


def _iso(value: dt.date | None) -> str | None:
    return value.isoformat() if value else None


def _named(column: Any, user: User) -> Any:
    names = {n.strip().lower() for n in (user.username, user.display_name) if len(n.strip()) >= MIN_NAME}
    return func.lower(func.trim(column)).in_(names) if names else false()


# --- erasure ----------------------------------------------------------------------------------


def summary(session: Session, fp: Footprint) -> dict[str, int]:
    """What an erasure would remove or detach, for a confirmation step."""
    ids = [n.id for n in fp.notes]
    out = {
        "notes": len(ids),
        "responses": _count(session, Response, Response.observation_id, ids),
        "voices": _count(session, Voice, Voice.observation_id, ids) + len(fp.voices),
        "audit_events": len(_events_about(session, ids)),
        "outbox": len(_mentioning(session, _mentions(session, fp))),
    }
    if fp.user is not None:
        out["account"] = 1
    return out


def erase(session: Session, fp: Footprint, settings: Settings, actor_id: int | None = None) -> dict[str, int]:
    """Delete the subject's notes and account, detach their work, scrub the outbox; commits."""
    store = _store(settings, session)[0]  # opened before the rows that name its model go
    counts = _erase_notes(session, fp.notes, store, settings, _mentions(session, fp))
    if fp.user is not None:
        counts.update(_forget_user(session, fp))
    detail = {"kind": fp.subject.kind, **counts}
    session.add(AuditEvent(actor_id=actor_id, action="erase", target="privacy", detail=detail))
    session.commit()
    _delete_vectors(store, [n.id for n in fp.notes])  # again: a worker may have been indexing one
    database.checkpoint(session)
    return counts


def export_subject(
    session: Session, settings: Settings, subject: Subject, actor_id: int | None = None
) -> dict[str, Any]:
    """Find and export a subject, and record that an export was made (not of whom); commits."""
    data = export(session, find(session, subject, app_secret(settings)), settings)
    session.add(
        AuditEvent(actor_id=actor_id, action="export", target="privacy", detail={"kind": subject.kind})
    )
    session.commit()
    return data


def erase_subject(
    session: Session, settings: Settings, subject: Subject, actor_id: int | None = None
) -> dict[str, int]:
    """Find and erase a subject; commits."""
    return erase(session, find(session, subject, app_secret(settings)), settings, actor_id)


def _erase_notes(
    session: Session,
    notes: Sequence[Observation],
    store: VectorStore | None,
    settings: Settings,
    mentions: _Mentions,
) -> dict[str, int]:
    """Vectors first, then outbox, memberships and rows (the caller commits)."""
    ids = [n.id for n in notes]
    gone = set(ids)
    counts = {"notes": len(ids), "vectors": len(store.vectors(ids)) if store and ids else 0}
    _delete_vectors(store, ids)
    counts["outbox"] = _scrub_outbox(session, mentions, settings)
    _drop_waiting(session, _theirs(gone, mentions))
    for theme in session.scalars(select(Theme)):
        reps = [i for i in theme.representatives or [] if i not in gone]
        members = sum(1 for n in notes if n.theme_id == theme.id)
        if members or len(reps) != len(theme.representatives or []):
            theme.representatives, theme.size = reps, max(theme.size - members, 0)
    counts["voices"] = counts["responses"] = counts["audit_events"] = 0
    for part in _chunks(ids):
        counts["voices"] += _rows(session.execute(delete(Voice).where(Voice.observation_id.in_(part))))
        counts["responses"] += _rows(
            session.execute(delete(Response).where(Response.observation_id.in_(part)))
        )
        counts["audit_events"] += _rows(
            session.execute(
                delete(AuditEvent).where(AuditEvent.target.in_([f"observation:{i}" for i in part]))
            )
        )
        unlink = update(Observation).where(Observation.duplicate_of_id.in_(part)).values(duplicate_of_id=None)
        session.execute(unlink)
    for part in _chunks(ids):
        session.execute(delete(Observation).where(Observation.id.in_(part)))
    return counts


def _forget_user(session: Session, fp: Footprint) -> dict[str, int]:
    u = fp.user
    assert u is not None
    for part in _chunks([v.id for v in fp.voices]):
        session.execute(delete(Voice).where(Voice.id.in_(part)))
    session.execute(update(Observation).where(Observation.owner_id == u.id).values(owner_id=None))
    detached = _rows(
        session.execute(update(Response).where(Response.author_id == u.id).values(author_id=None))
    )
    session.execute(update(Theme).where(Theme.owner_id == u.id).values(owner_id=None))
    session.execute(update(Interpretation).where(Interpretation.author_id == u.id).values(author_id=None))
    session.execute(update(Interpretation).where(_named(Interpretation.owner, u)).values(owner=""))
    session.execute(update(Indicator).where(Indicator.created_by == u.id).values(created_by=None))
    session.execute(update(Indicator).where(_named(Indicator.owner, u)).values(owner=""))
    detached += _rows(
        session.execute(update(AuditEvent).where(AuditEvent.actor_id == u.id).values(actor_id=None))
    )
    for event in session.scalars(select(AuditEvent).where(AuditEvent.action.in_(OWNER_ACTIONS))):
        if u.id in (event.detail.get("from"), event.detail.get("to")):
            event.detail = {
                k: (None if k in ("from", "to") and v == u.id else v) for k, v in event.detail.items()
            }
    tokens = [t for t in session.scalars(select(ApiToken.id).where(ApiToken.user_id == u.id))]
    session.execute(delete(AuditEvent).where(AuditEvent.target.in_([f"api_token:{t}" for t in tokens])))
    session.execute(delete(ApiToken).where(ApiToken.user_id == u.id))
    for row in _waiting(session, f"{WAITING_CONTACTS}{u.id}:"):
        session.delete(row)
    session.execute(delete(User).where(User.id == u.id))
    return {"voices_given": len(fp.voices), "detached": detached, "api_tokens": len(tokens), "account": 1}


# --- retention --------------------------------------------------------------------------------


def months_before(day: dt.date, months: int) -> dt.date:
    """The same day `months` calendar months earlier (the month's last day if it is shorter)."""
    year, month = divmod(day.year * 12 + day.month - 1 - months, 12)
    return dt.date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def apply_retention(settings: Settings, today: dt.date, *, months: int | None = None) -> int:
    """Erase notes whose day is more than `months` (default: the setting) months before today."""
    months = settings.retention_months if months is None else months
    if months <= 0:
        return 0
    cutoff = months_before(today, months)
    total: dict[str, int] = {}
    with sessions(settings) as factory:
        while True:
            with factory() as session:
                notes = list(
                    session.scalars(
                        select(Observation)
                        .where(Observation.day < cutoff)
                        .order_by(Observation.id)
                        .limit(CHUNK)
                    )
                )
                if not notes:
                    break
                store = _store(settings, session)[0]
                counts = _erase_notes(session, notes, store, settings, _note_mentions(session, notes))
                session.commit()
                _delete_vectors(store, [n.id for n in notes])
                for key, n in counts.items():
                    total[key] = total.get(key, 0) + n
        # Contacts a leader never came back for. ISO days sort as text; an undated entry (kept
        # before days were recorded) is of unknown age, so it goes too.
        with database.transaction(factory) as session:
            _drop_waiting(session, lambda e: e["day"] is None or e["day"] < cutoff.isoformat())
        if total:
            with database.transaction(factory) as session:
                detail = {"kind": "retention", "months": months, "before": cutoff.isoformat(), **total}
                session.add(AuditEvent(action="erase", target="privacy", detail=detail))
            with factory() as session:
                database.checkpoint(session)
    return total.get("notes", 0)


def retention_job(settings: Settings | None = None, today: dt.date | None = None) -> int | None:
    """The worker's daily retention: runs at most once a day; None when it did not run."""
    settings = settings or Settings.from_env()
    today = today or dt.date.today()
    if settings.retention_months <= 0:
        return None
    with sessions(settings) as factory, factory() as session:
        last = session.get(Setting, LAST_RETENTION)
    if last is not None and last.value == today.isoformat():
        return None
    deleted = apply_retention(settings, today)
    with sessions(settings) as factory, database.transaction(factory) as session:
        session.merge(Setting(key=LAST_RETENTION, value=today.isoformat()))
    return deleted


@contextmanager
def sessions(settings: Settings) -> Iterator[sessionmaker[Session]]:
    """A session factory for a command or a periodic task; the engine is disposed afterwards."""
    engine = database.make_engine(settings.sqlalchemy_url)
    try:
        yield database.make_sessionmaker(engine)
    finally:
        engine.dispose()


# --- contacts waiting for a leader ------------------------------------------------------------


def waiting_contacts(value: str) -> list[dict[str, Any]]:
    """The entries of a row of contacts waiting for a leader (WAITING_CONTACTS), a JSON list of
    {"note": note id, "contact": text, "day": ISO day kept}: erasure finds an entry by its note,
    retention by its day. Rows kept before those were recorded hold plain contacts."""
    entries = json.loads(value)
    return [e if isinstance(e, dict) else {"note": None, "contact": e, "day": None} for e in entries]


def _waiting(session: Session, prefix: str = WAITING_CONTACTS) -> list[Setting]:
    return list(session.scalars(select(Setting).where(Setting.key.startswith(prefix, autoescape=True))))


def _theirs(note_ids: set[int], m: _Mentions) -> Callable[[dict[str, Any]], bool]:
    """Whether a waiting entry is the subject's: from one of their notes, or their contact as the
    outbox is scrubbed of it (an entry kept before notes were recorded names none)."""
    contacts = {n.lower() for n in m.names}
    return lambda e: e["note"] in note_ids or e["contact"].strip().lower() in contacts


def _drop_waiting(session: Session, drop: Callable[[dict[str, Any]], bool]) -> None:
    for row in _waiting(session):
        entries = waiting_contacts(row.value)
        kept = [e for e in entries if not drop(e)]
        if not kept:
            session.delete(row)
        elif len(kept) < len(entries):
            row.value = json.dumps(kept, ensure_ascii=False)


# --- helpers ----------------------------------------------------------------------------------


@dataclass
class _Mentions:
    """How an outbox message can mention a subject."""

    note_ids: set[str]  # as messages write them: the public id, or the internal id in older ones
    quotes: set[str]  # a line containing one is replaced as a whole
    names: set[str]  # replaced where they occur
    since: dt.datetime | None = None  # messages older than the oldest note cannot mention it


def _mentions(session: Session, fp: Footprint) -> _Mentions:
    m = _note_mentions(session, fp.notes)
    if fp.user is not None:
        m.names |= {n.strip() for n in (fp.user.username, fp.user.display_name) if len(n.strip()) >= MIN_NAME}
        m.since = None
    return m


def _note_mentions(session: Session, notes: Sequence[Observation]) -> _Mentions:
    ids = [n.id for n in notes]
    bodies = [
        b
        for part in _chunks(ids)
        for b in session.scalars(select(Response.body).where(Response.observation_id.in_(part)))
    ]
    quotes = {
        q
        for text in [n.text for n in notes] + bodies
        for q in (digest.excerpt(text), " ".join(text.split()))
        if q
    }
    oldest = min((n.day for n in notes), default=None)
    since = dt.datetime.combine(oldest, dt.time(), tzinfo=dt.UTC) - dt.timedelta(days=1) if oldest else None
    references = {str(i) for i in ids} | {n.public_id for n in notes}
    return _Mentions(
        references, quotes, {n.contact.strip() for n in notes if n.contact and n.contact.strip()}, since
    )


_REFERENCE = re.compile(r"(?:#|/notes/)([0-9a-z]+)\b")


def scrub(text: str, m: _Mentions) -> str:
    """The text with every mention of the subject replaced by ERASED."""
    quotes = [q for q in m.quotes if q in text]  # one pass over the whole text, then per line
    names = [n for n in m.names if n.lower() in text.lower()]
    lines = []
    for line in text.split("\n"):
        if any(i in m.note_ids for i in _REFERENCE.findall(line)) or any(
            q in line and _word(q).search(line) for q in quotes
        ):
            line = line[: len(line) - len(line.lstrip())] + ERASED
        for name in names:
            line = _word(name, re.IGNORECASE).sub(ERASED, line)
        lines.append(line)
    return "\n".join(lines)


def _word(s: str, flags: int = 0) -> re.Pattern[str]:
    return re.compile(r"(?<!\w)" + re.escape(s) + r"(?!\w)", flags)


def _mentioning(session: Session, m: _Mentions) -> list[OutboxMessage]:
    query = select(OutboxMessage).order_by(OutboxMessage.id)
    if m.since is not None:
        query = query.where(OutboxMessage.created_at >= m.since)
    if not (m.note_ids or m.names):
        return []
    return [
        msg
        for msg in session.scalars(query)
        if scrub(msg.subject, m) != msg.subject or scrub(msg.body, m) != msg.body
    ]


def _scrub_outbox(session: Session, m: _Mentions, settings: Settings) -> int:
    found = _mentioning(session, m)
    folder = settings.data_dir / "outbox"
    for msg in found:
        if msg.recipient is not None and msg.sent_at is None:
            session.delete(msg)  # an unsent answer mail to the subject: nothing of it is left to send
            continue
        msg.subject, msg.body = scrub(msg.subject, m)[:300], scrub(msg.body, m)
        if msg.sent_at is not None and (folder / f"{msg.id:06d}-{msg.channel}.txt").exists():
            digest.file_sender(folder)(msg)  # rewrite the development sender's copy
    return len(found)


def _events_about(session: Session, ids: Sequence[int]) -> list[AuditEvent]:
    targets = [f"observation:{i}" for i in ids]
    return [
        e
        for part in _chunks(targets)
        for e in session.scalars(select(AuditEvent).where(AuditEvent.target.in_(part)))
    ]


def _store(settings: Settings, session: Session) -> tuple[VectorStore | None, str | None]:
    """The vector collection, opened with the model that built it (no model is loaded to delete)."""
    model = session.scalar(
        select(Observation.vector_model)
        .where(Observation.vector_model.is_not(None))
        .order_by(Observation.processed_at.desc(), Observation.id.desc())  # processed_at is a day
        .limit(1)
    ) or session.scalar(select(Setting.value).where(Setting.key == "vector_model"))
    if model is None:
        return None, None  # nothing was ever indexed
    if not settings.chroma_url:
        raise ConfigError("HILJAINEN_CHROMA_URL is not set: vectors cannot be found or deleted without it")
    return vector_store(settings, model), model


def _delete_vectors(store: VectorStore | None, ids: Sequence[int]) -> None:
    if store is not None:
        for part in _chunks(ids):
            store.delete(part)


def _count(session: Session, model: Any, column: Any, ids: Sequence[int]) -> int:
    return sum(
        session.scalar(select(func.count()).select_from(model).where(column.in_(part))) or 0
        for part in _chunks(ids)
    )


def _rows(result: Any) -> int:
    return int(result.rowcount or 0)


def _chunks(items: Sequence[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(items), CHUNK):
        yield list(items[start : start + CHUNK])
