"""The weekly digest's content and privacy, and outbox delivery with retries (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from hiljainen import db
from hiljainen.digest import (
    BACKOFF_MAX,
    deliver_outbox,
    examples,
    file_sender,
    overdue_cutoff,
    privacy_table,
    queue_digest,
    render_text,
    weekly_digest,
)
from hiljainen.models import (
    Observation,
    OutboxMessage,
    Response,
    Role,
    Source,
    Status,
    Theme,
    Unit,
    User,
)

MONDAY = dt.date(2026, 3, 9)  # the digest covers Mon 2 March - Sun 8 March
T0 = dt.datetime(2026, 3, 9, 6, 0, tzinfo=dt.UTC)


@pytest.fixture()
def session(database_url: str) -> Iterator[Session]:
    engine = db.make_engine(database_url)
    with db.make_sessionmaker(engine)() as s:
        yield s
    engine.dispose()


def aware(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite hands back naive UTC datetimes, PostgreSQL aware ones."""
    return value.replace(tzinfo=dt.UTC) if value is not None and value.tzinfo is None else value


def at(day: dt.date, hour: int = 10) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour), tzinfo=dt.UTC)


def note(s: Session, text: str, day: dt.date, source: Source = Source.CUSTOMER, **kw: object) -> Observation:
    obs = Observation(text=text, day=day, source=source, anonymous=True, **kw)
    s.add(obs)
    s.flush()
    return obs


def signed(s: Session, text: str, day: dt.date, author: User, **kw: object) -> Observation:
    obs = Observation(text=text, day=day, source=Source.STAFF, anonymous=False, author_id=author.id, **kw)
    s.add(obs)
    s.flush()
    return obs


def staff(s: Session, n: int) -> list[User]:
    users = [
        User(username=f"h{i}", display_name=f"Hoitaja {i}", password_hash="x", role=Role.STAFF)
        for i in range(n)
    ]
    s.add_all(users)
    s.flush()
    return users


def test_privacy_table_hides_small_cells_and_what_would_reveal_them() -> None:
    notes = [("a", "staff", f"u{i}") for i in range(3)] + [("a", "customer", f"a{i}") for i in range(4)]
    notes += [("a", "relative", "a99")]
    table = privacy_table(notes, ["a"], ["staff", "customer", "relative", "partner"], min_group=3)
    # The relative cell has one writer; the smallest other cell is hidden too so the total
    # minus the rest cannot give it away. Empty cells stay 0.
    assert table.cell("a", "relative") is None and table.cell("a", "staff") is None
    assert table.cell("a", "customer") == 4 and table.cell("a", "partner") == 0
    assert table.row_total("a") == 8 and table.total == 8
    same_writer = privacy_table([("a", "staff", "u1")] * 5, ["a"], ["staff"], min_group=3)
    assert same_writer.cell("a", "staff") is None and same_writer.total is None, "one writer, five notes"


def test_privacy_table_two_dimensions_leaves_no_line_with_one_hidden_cell() -> None:
    notes = [(u, s, f"{u}{s}{i}") for u in ("x", "y", "z") for s in ("staff", "customer") for i in range(4)]
    notes += [("x", "relative", "r1")]
    rows, cols = ["x", "y", "z"], ["staff", "customer", "relative"]
    table = privacy_table(notes, rows, cols, min_group=3)
    assert table.cell("x", "relative") is None
    lines = [[(r, c) for c in [*cols, "*"]] for r in [*rows, "*"]]
    lines += [[(r, c) for r in [*rows, "*"]] for c in [*cols, "*"]]
    for line in lines:
        assert sum(table.cells[k] is None for k in line) != 1, line


def test_overdue_means_more_than_two_working_days() -> None:
    # Monday: Wednesday's note has waited Thu, Fri, Mon = 3 working days; Thursday's only 2.
    assert overdue_cutoff(MONDAY) == dt.date(2026, 3, 4)
    assert overdue_cutoff(dt.date(2026, 3, 12)) == dt.date(2026, 3, 9)  # Thursday: Monday's note


def test_weekly_digest_content(session: Session) -> None:
    s = session
    unit = Unit(slug="koivukoti", name_fi="Koivukoti", name_en="Birch Home")
    s.add(unit)
    s.flush()
    writers = staff(s, 3)
    leader = User(username="johtaja", display_name="Leena", password_hash="x", role=Role.LEADER)
    s.add(leader)
    s.flush()
    for i, w in enumerate(writers):
        signed(s, f"Vuorolista {i}", dt.date(2026, 3, 2 + i), w, acknowledged_at=T0)
    waiting = note(s, "Hissi rikki, kukaan ei vastaa.", dt.date(2026, 3, 4), unit_id=unit.id)
    note(s, "Tuore huomio.", dt.date(2026, 3, 5), Source.RELATIVE)  # only 2 working days
    note(s, "Toinen kerta.", dt.date(2026, 3, 3), duplicate_of_id=waiting.id)  # not counted again
    note(s, "Liian vanha.", dt.date(2026, 2, 20))  # before the period, but still unanswered
    answered_old = note(s, "Vastattu.", dt.date(2026, 2, 19))
    s.add(Response(observation_id=answered_old.id, kind="answer", body="Kiitos.", author_id=leader.id))

    closed = note(s, "Keitto oli kylmää.", dt.date(2026, 2, 25), status=Status.DONE, acknowledged_at=T0)
    s.add(
        Response(observation_id=closed.id, kind="answer", body="Kiitos!", created_at=at(dt.date(2026, 3, 4)))
    )
    s.add(
        Response(
            observation_id=closed.id,
            kind="action",
            body="Lämpölaukut vaihdettu.",
            created_at=at(dt.date(2026, 3, 5)),
        )
    )
    only_action = note(s, "Ovi jumissa.", dt.date(2026, 2, 25), status=Status.DONE, acknowledged_at=T0)
    s.add(
        Response(
            observation_id=only_action.id, kind="action", body="Korjattu.", created_at=at(dt.date(2026, 3, 5))
        )
    )

    s.add_all(
        [
            Theme(label="kylmä ruoka", signal="weak", emergence=2.0, first_seen=dt.date(2026, 1, 5)),
            Theme(label="hissi", signal="strong", emergence=1.0, first_seen=dt.date(2026, 2, 1)),
            Theme(label="uusi aihe", signal="noise", first_seen=dt.date(2026, 3, 6)),
            Theme(label="vanha melu", signal="noise", first_seen=dt.date(2026, 1, 1)),
            Theme(label="sammunut", signal="weak", active=False),
        ]
    )
    s.commit()

    d = weekly_digest(s, MONDAY, min_group=3)
    assert (d.start, d.end) == (dt.date(2026, 3, 2), dt.date(2026, 3, 8))
    assert d.by_source.cell("all", "staff") == 3, "three signed notes by three writers"
    assert d.by_source.cell("all", "customer") is None and d.by_source.cell("all", "relative") is None
    assert d.total == 5
    assert [(t.name, t.new) for t in d.themes] == [
        ("hissi", False),
        ("kylmä ruoka", False),
        ("uusi aihe", True),
    ]
    assert [w.public_id for w in d.unanswered] == [
        s.scalar(select(Observation.public_id).where(Observation.text == "Liian vanha.")),
        waiting.public_id,
    ]
    assert (
        d.unanswered_total == 2
        and d.unanswered[1].working_days == 3
        and d.unanswered[1].unit_en == "Birch Home"
    )
    assert [(e.id, e.did) for e in d.examples] == [(closed.id, "Lämpölaukut vaihdettu.")]

    text = render_text(d, base_url="https://palaute.example/")
    fi, en = text.split("Hiljainen – weekly digest")
    assert "viikkokooste 2.3.2026–8.3.2026" in fi and "Uusia havaintoja: 5" in fi and "henkilöstö: 3" in fi
    assert "piilotettu" in fi and "heikko signaali" in fi and "Vastaamatta yli 2 työpäivää: 2" in fi
    assert f"https://palaute.example/triage/notes/{waiting.public_id}" in fi
    assert not re.search(rf"/triage/notes/{waiting.id}\b", fi), "links name notes by their public ids only"
    assert (
        "New notes: 5" in en and "weak signal" in en and "Birch Home" in en and "Lämpölaukut vaihdettu." in en
    )
    assert "Hoitaja" not in text and "Leena" not in text, "no names in the digest"


def test_you_said_we_did_is_not_in_the_order_notes_were_sent(session: Session) -> None:
    """Submission order would place an anonymous note among a colleague's signed notes of the same
    day: the digest lists a day's notes by public id, as every list shown to people does."""
    day = dt.date(2026, 3, 3)
    sent_first = note(session, "Ensin lähetetty.", day, status=Status.DONE, public_id="aaaaaaaaaaaa")
    sent_next = note(session, "Sitten lähetetty.", day, status=Status.DONE, public_id="zzzzzzzzzzzz")
    for obs in (sent_first, sent_next):
        session.add(Response(observation_id=obs.id, kind="answer", body="Kiitos.", created_at=at(day)))
        session.add(Response(observation_id=obs.id, kind="action", body="Tehty.", created_at=at(day)))
    session.commit()
    shown = [e.id for e in examples(session, dt.date(2026, 3, 2), dt.date(2026, 3, 8), 5)]
    assert shown == [sent_first.id, sent_next.id], "newest first would be the order of sending"


def test_queue_digest_once_per_week(session: Session) -> None:
    first = queue_digest(session, MONDAY)
    session.commit()
    again = queue_digest(session, MONDAY)
    session.commit()
    assert again.id == first.id and first.channel == "digest" and "2026-03-02" in first.subject
    assert "Hiljainen – viikkokooste" in first.body and "weekly digest" in first.body
    assert len(session.scalars(select(OutboxMessage)).all()) == 1
    queue_digest(session, MONDAY + dt.timedelta(days=7))
    session.commit()
    assert len(session.scalars(select(OutboxMessage)).all()) == 2


def test_outbox_retries_with_backoff_and_loses_nothing(session: Session, tmp_path: Path) -> None:
    s = session
    s.add_all([OutboxMessage(channel="digest", subject=f"viesti {i}", body=f"sisältö {i}") for i in range(2)])
    s.commit()
    tries: list[str] = []

    def down(message: OutboxMessage) -> None:
        tries.append(message.subject)
        raise ConnectionError("smtp down")

    messages = s.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
    result = deliver_outbox(s, down, T0)
    assert result.failed == [m.id for m in messages] and result.sent == []
    assert tries == ["viesti 0", "viesti 1"]
    for m in messages:
        s.refresh(m)
        assert m.attempts == 1 and m.sent_at is None and "smtp down" in (m.last_error or "")
        assert aware(m.next_attempt_at) == T0 + dt.timedelta(minutes=1)

    assert deliver_outbox(s, down, T0 + dt.timedelta(seconds=30)).failed == [], "not due yet"
    deliver_outbox(s, down, T0 + dt.timedelta(minutes=1))
    for m in messages:
        s.refresh(m)
        assert m.attempts == 2 and aware(m.next_attempt_at) == T0 + dt.timedelta(minutes=3), (
            "1, then 2 minutes"
        )

    # The sender recovers for the first message only: the second keeps waiting, nothing is lost.
    folder = tmp_path / "outbox"
    to_file = file_sender(folder)

    def flaky(message: OutboxMessage) -> None:
        if message.subject == "viesti 1":
            raise TimeoutError("webhook timed out")
        to_file(message)

    later = T0 + dt.timedelta(minutes=3)
    result = deliver_outbox(s, flaky, later)
    first, second = messages
    s.refresh(first)
    s.refresh(second)
    assert result.sent == [first.id] and result.failed == [second.id]
    assert aware(first.sent_at) == later and first.attempts == 3 and first.last_error is None
    assert second.sent_at is None and second.attempts == 3 and "TimeoutError" in (second.last_error or "")
    assert (folder / f"{first.id:06d}-digest.txt").read_text(encoding="utf-8").startswith("Subject: viesti 0")

    # A sent message is never sent again; the other goes out once the sender works.
    tries.clear()
    result = deliver_outbox(s, to_file, later + dt.timedelta(hours=1))
    assert result.sent == [second.id] and tries == []
    assert deliver_outbox(s, down, later + dt.timedelta(days=1)).sent == []
    assert len(s.scalars(select(OutboxMessage)).all()) == 2, "messages are kept, never deleted"


def test_backoff_grows_to_a_cap() -> None:
    from hiljainen.digest import backoff

    assert [backoff(n).total_seconds() / 60 for n in (1, 2, 3, 4)] == [1, 2, 4, 8]
    assert backoff(40) == BACKOFF_MAX
