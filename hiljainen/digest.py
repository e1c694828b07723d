"""The weekly digest for the leadership team, privacy-suppressed counts, and the outbox sender.

The digest covers the seven days before `today`: new notes by source, themes with a weak or
strong signal (and themes first seen in the week), notes nobody has responded to for more than
two working days, and "you said, we did" examples. `queue_digest` renders it as plain text,
Finnish first with English below, into an OutboxMessage(channel="digest").

Delivery: `deliver_outbox(session, send, now)` hands every due message to `send`, a callable that
delivers one message and raises on failure. A deployment connects `send` to e-mail (SMTP) or a
chat webhook. In development `file_sender(settings.data_dir / "outbox")` writes each message to
`<data folder>/outbox/<id>-<channel>.txt`, so nothing leaves the machine. Messages are never
deleted: a failure is recorded (attempts, last_error) and retried later with exponential backoff.

Privacy: counts are shown only where at least `min_group` distinct writers stand behind them
(a signed note counts its author once, each anonymous note counts as one writer), with
complementary suppression so a hidden cell cannot be recomputed from a total. The digest never
names a writer.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import ColumnElement, and_, exists, func, or_, select, update
from sqlalchemy.orm import Session

from hiljainen.models import Observation, OutboxMessage, Response, Source, Status, Theme, Unit, utcnow
from hiljainen.pipeline.indicators import ACK_WORKING_DAYS, working_days_between
from hiljainen.search.sql import listing_order

SIGNALS = ("strong", "weak")  # the theme signals worth a leader's attention this week
MAX_THEMES = 10
MAX_UNANSWERED = 20
MAX_EXAMPLES = 3
EXCERPT_CHARS = 160
BACKOFF_BASE = dt.timedelta(minutes=1)
BACKOFF_MAX = dt.timedelta(hours=12)
# A claimed message is not handed to another worker for this long, even if this one dies mid-send.
CLAIM_LEASE = dt.timedelta(minutes=10)
TOTAL = "*"


# --- privacy-suppressed tables ----------------------------------------------------------------


@dataclass(frozen=True)
class Table:
    """Note counts by row and column with margins; None marks a hidden cell."""

    rows: list[str]
    cols: list[str]
    cells: dict[tuple[str, str], int | None]  # (row, col); TOTAL as row or col for the margins

    def cell(self, row: str, col: str) -> int | None:
        """The count of one cell (0 for an empty one), None if hidden."""
        return self.cells.get((row, col), 0)

    def row_total(self, row: str) -> int | None:
        """The row's total, None if hidden."""
        return self.cells.get((row, TOTAL), 0)

    def col_total(self, col: str) -> int | None:
        """The column's total, None if hidden."""
        return self.cells.get((TOTAL, col), 0)

    @property
    def total(self) -> int | None:
        """The grand total, None if hidden."""
        return self.cells.get((TOTAL, TOTAL), 0)

    @property
    def hidden(self) -> int:
        """How many cells (margins included) are hidden."""
        return sum(v is None for v in self.cells.values())


def privacy_table(
    notes: Iterable[tuple[str, str, str]], rows: Sequence[str], cols: Sequence[str], min_group: int
) -> Table:
    """Count (row, col, writer) triples; hide counts with fewer than `min_group` distinct writers.

    Primary suppression hides every non-empty cell or margin with too few writers. Secondary
    suppression then makes sure no row or column (margins included) has exactly one hidden
    cell, since that one could be recomputed as total minus the rest: it also hides the
    smallest visible non-empty cell of such a line, preferring inner cells to totals.
    """
    counts: dict[tuple[str, str], int] = defaultdict(int)
    writers: dict[tuple[str, str], set[str]] = defaultdict(set)
    for row, col, writer in notes:
        for key in ((row, col), (row, TOTAL), (TOTAL, col), (TOTAL, TOTAL)):
            counts[key] += 1
            writers[key].add(writer)
    hidden = {k for k, n in counts.items() if n and len(writers[k]) < min_group}
    all_rows, all_cols = [*rows, TOTAL], [*cols, TOTAL]
    lines = [[(r, c) for c in all_cols] for r in all_rows] + [[(r, c) for r in all_rows] for c in all_cols]
    changed = bool(hidden)
    while changed:
        changed = False
        for line in lines:
            if sum(k in hidden for k in line) != 1:
                continue
            candidates = [k for k in line if k not in hidden and counts.get(k, 0) > 0]
            if candidates:
                hidden.add(min(candidates, key=lambda k: (TOTAL in k, counts[k])))
                changed = True
    cells: dict[tuple[str, str], int | None] = {
        (r, c): (None if (r, c) in hidden else counts.get((r, c), 0)) for r in all_rows for c in all_cols
    }
    return Table(list(rows), list(cols), cells)


def writer_key(note: Observation) -> str:
    """Who stands behind a note for privacy counts: its author, or the note itself if anonymous."""
    return f"u{note.author_id}" if note.author_id and not note.anonymous else f"a{note.id}"


# --- the response loop ------------------------------------------------------------------------


def overdue_cutoff(today: dt.date, working_days: int = ACK_WORKING_DAYS) -> dt.date:
    """The latest note day that has waited more than `working_days` working days by `today`."""
    day = today
    while working_days_between(day, today) <= working_days:
        day -= dt.timedelta(days=1)
    return day


def unanswered_clause(today: dt.date) -> ColumnElement[bool]:
    """Notes nobody has responded to (no acknowledgement, answer, action or closing) for more
    than two working days; duplicates are answered through their original."""
    responded = exists().where(
        Response.observation_id == Observation.id, Response.kind.in_(("answer", "action"))
    )
    return and_(
        Observation.acknowledged_at.is_(None),
        Observation.status != Status.DONE,
        Observation.duplicate_of_id.is_(None),
        ~responded,
        Observation.day <= overdue_cutoff(today),
    )


def you_said_we_did_clause() -> ColumnElement[bool]:
    """Notes closed with an action whose writer was also answered."""
    return and_(
        Observation.status == Status.DONE,
        exists().where(Response.observation_id == Observation.id, Response.kind == "action"),
        exists().where(Response.observation_id == Observation.id, Response.kind == "answer"),
    )


def excerpt(text: str, limit: int = EXCERPT_CHARS) -> str:
    """The text on one line, cut at a word boundary near `limit` characters."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    return flat[:limit].rsplit(" ", 1)[0] + " …"


# --- the digest -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ThemeLine:
    id: int
    name: str
    signal: str
    size: int
    new: bool


@dataclass(frozen=True)
class WaitingNote:
    public_id: str
    day: dt.date
    source: str
    unit_fi: str
    unit_en: str
    working_days: int


@dataclass(frozen=True)
class Example:
    id: int
    said: str
    did: str


@dataclass(frozen=True)
class Digest:
    """What the leadership team reads once a week (no names, no small groups)."""

    start: dt.date
    end: dt.date
    min_group: int
    by_source: Table  # one row "all", one column per source
    themes: list[ThemeLine]
    unanswered: list[WaitingNote]
    unanswered_total: int
    examples: list[Example]

    @property
    def total(self) -> int | None:
        """New notes in the period, None if hidden."""
        return self.by_source.total


def weekly_digest(session: Session, today: dt.date, min_group: int) -> Digest:
    """The digest of the seven days before `today`."""
    start, end = today - dt.timedelta(days=7), today - dt.timedelta(days=1)
    notes = session.scalars(
        select(Observation).where(Observation.day.between(start, end), Observation.duplicate_of_id.is_(None))
    ).all()
    sources = [s.value for s in Source]
    by_source = privacy_table(
        (("all", n.source.value, writer_key(n)) for n in notes), ["all"], sources, min_group
    )

    themes = session.scalars(
        select(Theme).where(
            Theme.active.is_(True), or_(Theme.signal.in_(SIGNALS), Theme.first_seen.between(start, end))
        )
    ).all()
    rank = {s: i for i, s in enumerate(SIGNALS)}
    theme_lines = [
        ThemeLine(t.id, t.name, t.signal, t.size, bool(t.first_seen and start <= t.first_seen <= end))
        for t in sorted(themes, key=lambda t: (rank.get(t.signal, len(SIGNALS)), -t.emergence, t.id))
    ][:MAX_THEMES]

    clause = unanswered_clause(today)
    waiting_total = session.scalar(select(func.count()).select_from(Observation).where(clause)) or 0
    units = {u.id: u for u in session.scalars(select(Unit))}
    waiting = [
        WaitingNote(
            o.public_id,
            o.day,
            o.source.value,
            units[o.unit_id].name_fi if o.unit_id in units else "",
            units[o.unit_id].name_en if o.unit_id in units else "",
            working_days_between(o.day, today),
        )
        for o in session.scalars(
            # Oldest day first; within a day by public id, never in submission order.
            select(Observation)
            .where(clause)
            .order_by(Observation.day, Observation.public_id)
            .limit(MAX_UNANSWERED)
        )
    ]
    return Digest(
        start=start,
        end=end,
        min_group=min_group,
        by_source=by_source,
        themes=theme_lines,
        unanswered=waiting,
        unanswered_total=waiting_total,
        examples=examples(session, start, end, MAX_EXAMPLES),
    )


def examples(session: Session, start: dt.date, end: dt.date, limit: int) -> list[Example]:
    """'You said, we did': notes closed with an action and answered, acted on between the dates."""
    since = dt.datetime.combine(start, dt.time(), tzinfo=dt.UTC)
    until = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    acted_in_period = exists().where(
        Response.observation_id == Observation.id,
        Response.kind.in_(("answer", "action")),
        Response.created_at >= since,
        Response.created_at < until,
    )
    notes = session.scalars(
        select(Observation)
        .where(you_said_we_did_clause(), acted_in_period)
        .order_by(*listing_order())
        .limit(limit)
    ).all()
    out = []
    for note in notes:
        action = session.scalars(
            select(Response.body)
            .where(Response.observation_id == note.id, Response.kind == "action")
            .order_by(Response.id.desc())
            .limit(1)
        ).one()
        out.append(Example(note.id, excerpt(note.text), excerpt(action)))
    return out


# --- plain-text rendering ---------------------------------------------------------------------

_SOURCES = {
    "staff": ("henkilöstö", "staff"),
    "customer": ("asiakas", "customer"),
    "relative": ("omainen", "relative"),
    "partner": ("yhteistyökumppani", "partner"),
}
_SIGNALS = {
    "strong": ("vahva signaali", "strong signal"),
    "weak": ("heikko signaali", "weak signal"),
    "latent": ("piilevä", "latent"),
    "well-known": ("tunnettu", "well known"),
    "noise": ("hajanainen", "scattered"),
}
_TEXT = {
    "title": ("Hiljainen – viikkokooste {period}", "Hiljainen – weekly digest {period}"),
    "notes": ("Uusia havaintoja: {n}", "New notes: {n}"),
    "hidden": (
        "piilotettu (alle {k} kirjoittajaa tai suojaus)",
        "hidden (fewer than {k} writers, or protecting such a cell)",
    ),
    "themes": ("Teemat ja signaalit", "Themes and signals"),
    "no_themes": ("Ei uusia teemoja tai signaaleja.", "No new themes or signals."),
    "theme": ("{name} ({signal}, {size} havaintoa)", "{name} ({signal}, {size} notes)"),
    "new": (" – uusi", " – new"),
    "waiting": ("Vastaamatta yli 2 työpäivää: {n}", "Unanswered for more than 2 working days: {n}"),
    "waited": ("odottanut {d} työpäivää", "waiting {d} working days"),
    "more": ("… ja {n} muuta", "… and {n} more"),
    "examples": ("Sanoitte, teimme", "You said, we did"),
    "no_examples": (
        "Ei suljettuja ja vastattuja havaintoja tällä viikolla.",
        "No notes closed and answered this week.",
    ),
    "said": ("Sanoitte", "You said"),
    "did": ("Teimme", "We did"),
}


def render_text(digest: Digest, base_url: str = "") -> str:
    """The digest as plain text: Finnish first, then English."""
    return "\n\n".join(_render(digest, lang, base_url.rstrip("/")) for lang in (0, 1)) + "\n"


def _render(d: Digest, lang: int, base: str) -> str:
    def t(key: str, **kw: object) -> str:
        return _TEXT[key][lang].format(**kw)

    def count(n: int | None) -> str:
        return str(n) if n is not None else t("hidden", k=d.min_group)

    lines = [t("title", period=_period(d.start, d.end, lang)), ""]
    lines.append(t("notes", n=count(d.total)))
    for source in d.by_source.cols:
        n = d.by_source.cell("all", source)
        if n != 0:
            lines.append(f"  {_SOURCES[source][lang]}: {count(n)}")
    lines += ["", t("themes")]
    for th in d.themes:
        signal = _SIGNALS.get(th.signal, (th.signal, th.signal))[lang]
        lines.append(
            "  - " + t("theme", name=th.name, signal=signal, size=th.size) + (t("new") if th.new else "")
        )
    if not d.themes:
        lines.append("  " + t("no_themes"))
    lines += ["", t("waiting", n=d.unanswered_total)]
    for w in d.unanswered:
        unit = w.unit_fi if lang == 0 else w.unit_en
        place = f", {unit}" if unit else ""
        lines.append(
            f"  - #{w.public_id} {_day(w.day, lang)} {_SOURCES[w.source][lang]}{place}: "
            f"{t('waited', d=w.working_days)} – {base}/triage/notes/{w.public_id}"
        )
    if d.unanswered_total > len(d.unanswered):
        lines.append("  " + t("more", n=d.unanswered_total - len(d.unanswered)))
    lines += ["", t("examples")]
    for ex in d.examples:
        lines.append(f"  - {t('said')}: {ex.said}")
        lines.append(f"    {t('did')}: {ex.did}")
    if not d.examples:
        lines.append("  " + t("no_examples"))
    return "\n".join(lines)


def _day(day: dt.date, lang: int) -> str:
    return f"{day.day}.{day.month}.{day.year}" if lang == 0 else day.isoformat()


def _period(start: dt.date, end: dt.date, lang: int) -> str:
    return (
        f"{_day(start, lang)}–{_day(end, lang)}" if lang == 0 else f"{start.isoformat()} – {end.isoformat()}"
    )


def queue_digest(session: Session, today: dt.date, min_group: int = 3, base_url: str = "") -> OutboxMessage:
    """Add this week's digest to the outbox (once per period; the caller commits)."""
    digest = weekly_digest(session, today, min_group)
    subject = f"Hiljainen: viikkokooste / weekly digest {digest.start.isoformat()} – {digest.end.isoformat()}"
    # Idempotent: a retried or doubled weekly run must not send the leadership team two copies.
    existing = session.scalar(
        select(OutboxMessage).where(OutboxMessage.channel == "digest", OutboxMessage.subject == subject)
    )
    if existing is not None:
        return existing
    message = OutboxMessage(channel="digest", subject=subject, body=render_text(digest, base_url))
    session.add(message)
    session.flush()
    return message


# --- the outbox -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    """What one `deliver_outbox` round did."""

    sent: list[int]
    failed: list[int]


def backoff(attempts: int) -> dt.timedelta:
    """The wait before the next try after `attempts` failures: 1, 2, 4 … minutes, at most 12 hours."""
    return min(BACKOFF_BASE * 2 ** max(attempts - 1, 0), BACKOFF_MAX)


def deliver_outbox(
    session: Session, send: Callable[[OutboxMessage], None], now: dt.datetime | None = None
) -> Delivery:
    """Try every due message once; commits after each so a later failure never undoes a send."""
    now = now or utcnow()
    due = session.scalars(
        select(OutboxMessage.id)
        .where(
            OutboxMessage.sent_at.is_(None),
            or_(OutboxMessage.next_attempt_at.is_(None), OutboxMessage.next_attempt_at <= now),
        )
        .order_by(OutboxMessage.id)
    ).all()
    sent: list[int] = []
    failed: list[int] = []
    for message_id in due:
        if not _claim(session, message_id, now):
            continue  # another worker took it
        # populate_existing: the session keeps objects after commit and may hold a stale copy.
        message = session.get(OutboxMessage, message_id, populate_existing=True)
        assert message is not None
        try:
            send(message)
        except Exception as exc:  # noqa: BLE001 - any sender failure is recorded and retried later
            message.attempts += 1
            message.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            message.next_attempt_at = now + backoff(message.attempts)
            failed.append(message_id)
        else:
            message.attempts += 1
            message.sent_at = now
            message.last_error = None
            sent.append(message_id)
        session.commit()
    return Delivery(sent, failed)


def _claim(session: Session, message_id: int, now: dt.datetime) -> bool:
    """Lease a due message with one atomic UPDATE, so two workers never send it both."""
    result = session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.id == message_id,
            OutboxMessage.sent_at.is_(None),
            or_(OutboxMessage.next_attempt_at.is_(None), OutboxMessage.next_attempt_at <= now),
        )
        .values(next_attempt_at=now + CLAIM_LEASE)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return bool(result.rowcount)  # type: ignore[attr-defined]


def file_sender(folder: Path) -> Callable[[OutboxMessage], None]:
    """The development sender: each message becomes `<folder>/<id>-<channel>.txt` (rewritten on retry)."""

    def send(message: OutboxMessage) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{message.id:06d}-{message.channel}.txt"
        path.write_text(f"Subject: {message.subject}\n\n{message.body}", encoding="utf-8")

    return send
