"""CSV import: per-line errors, encodings, separators, re-imports, the admin page and the command."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import hmac
import io
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from hiljainen import accounts, csv_import, db, resources
from hiljainen.config import Settings
from hiljainen.csv_import import ImportReport, import_command, import_csv
from hiljainen.models import AuditEvent, Observation, Role, Source, Touchpoint, Unit
from hiljainen.pipeline.redact import Redactor
from hiljainen.runtime import _LockedRedactor
from hiljainen.services import ChildServer
from tests.conftest import csrf_token, empty_queue, login, processing_queued

PASSWORD = "salasana-123"
SECRET = "testin-salainen-avain"
GOOD = (
    "text,source,unit,touchpoint,day,tags,anonymous\n"
    "Ruoka oli kylmää.,customer,koivukoti,,2026-01-10,ruoka,yes\n"
    '"Soita minulle, numero on 040 123 4567",relative,,aula,2026-01-11,"soitto,toive",\n'
    "Iltavuorossa liian vähän väkeä.,staff,kotihoito,,2026-01-12,,no\n"
)


@pytest.fixture(scope="module")
def redactor() -> Redactor:
    return Redactor()


def seed(session: Session) -> None:
    unit = Unit(slug="koivukoti", name_fi="Koivukoti", name_en="Koivukoti")
    session.add_all([unit, Unit(slug="kotihoito", name_fi="Kotihoito", name_en="Home care")])
    session.flush()
    session.add(Touchpoint(slug="aula", name_fi="Aula", name_en="Lobby", unit_id=unit.id))
    session.add(Touchpoint(slug="vanha", name_fi="Vanha", name_en="Old", active=False))
    session.commit()


@pytest.fixture()
def session(database_url: str) -> Iterator[Session]:
    """A session on a migrated SQLite or PostgreSQL database with two units and touchpoints."""
    engine = db.make_engine(database_url)
    with db.make_sessionmaker(engine)() as s:
        seed(s)
        yield s
    engine.dispose()


def run(
    session: Session,
    redactor: Any,
    data: bytes,
    source_default: Source | None = None,
    secret: str = SECRET,
) -> ImportReport:
    report = import_csv(
        session, redactor, io.BytesIO(data), max_chars=200, secret=secret, source_default=source_default
    )
    session.commit()
    return report


def texts(session: Session) -> list[str]:
    return list(session.scalars(select(Observation.text).order_by(Observation.id)))


def test_a_clean_file_imports_every_row_redacted(session: Session, redactor: Redactor) -> None:
    report = run(session, redactor, GOOD.encode())
    assert (len(report.imported), report.skipped_duplicates, report.errors, report.rows) == (3, 0, [], 3)
    notes = session.scalars(select(Observation).order_by(Observation.id)).all()
    assert [n.text for n in notes] == [
        "Ruoka oli kylmää.",
        "Soita minulle, numero on [PUHELIN]",
        "Iltavuorossa liian vähän väkeä.",
    ]
    second = notes[1]
    assert second.source == Source.RELATIVE and second.touchpoint is not None
    assert second.unit is not None and second.unit.slug == "koivukoti"  # from the touchpoint
    assert second.tags == ["soitto", "toive"] and second.day == dt.date(2026, 1, 11)
    assert all(n.anonymous and n.author_id is None and n.receipt_hash is None for n in notes)
    assert all(n.import_key and len(n.import_key) == 64 for n in notes)


def test_a_bad_row_in_the_middle_is_reported_by_line_and_the_rest_imports(
    session: Session, redactor: Redactor
) -> None:
    data = (
        (
            "text;source;touchpoint;day\n"  # line 1
            "Hyvä alku.;staff;;2026-01-01\n"  # 2
            "   ;staff;;2026-01-01\n"  # 3: whitespace only
            "Tuntematon paikka.;staff;kellari;2026-01-01\n"  # 4
            "\n"  # 5: blank, skipped
            '"Monirivinen\nhuomio";customer;aula;2026-01-02\n'  # 6-7
            "Päivä väärin.;staff;;2026-13-01\n" + "Liian pitkä " + "a" * 200 + ";staff;;\n"  # 8  # 9
            "Outo lähde.;robotti;;\n"  # 10
            "Ylimääräinen;staff;;;kenttä\n"  # 11
            "Ohjausmerkki \x07 tässä.;staff;;\n"  # 12
            "<script>alert(1)</script>;customer;;\n"  # 13: HTML is just text
            "Suljettu paikka.;staff;vanha;\n"  # 14
            "Tulevaisuus.;staff;;2999-01-01\n"  # 15
            "Loppu hyvin.;partner;;31.1.2026\n"  # 16
        ).encode()
    )
    report = run(session, redactor, data)
    lines = [line for line, _msg in report.errors]
    assert lines == [3, 4, 8, 9, 10, 11, 12, 14, 15]
    messages = dict(report.errors)
    assert "kellari" in messages[4] and "vanha" in messages[14]
    assert "200" in messages[9]  # says what the limit is
    assert "robotti" in messages[10] and "staff" in messages[10]
    assert len(report.imported) == 4 and report.rows == 13
    assert texts(session) == [
        "Hyvä alku.",
        "Monirivinen\nhuomio",
        "<script>alert(1)</script>",
        "Loppu hyvin.",
    ]
    assert session.scalars(select(Observation.day).where(Observation.text == "Loppu hyvin.")).one() == (
        dt.date(2026, 1, 31)
    )


def test_broken_quotes_are_reported_by_line(session: Session, redactor: Redactor) -> None:
    data = b'text,source\n"abc"x,staff\nToinen.,staff\n"Auki j\xc3\xa4i,staff\nNiel\xc3\xa4isty.,staff\n'
    report = run(session, redactor, data)
    assert [line for line, _msg in report.errors] == [2, 4]
    assert "never closed" in report.errors[1][1]
    assert texts(session) == ["Toinen."]


def test_a_cell_over_the_readers_default_limit_is_one_row_and_its_lines_are_not_notes(
    session: Session, redactor: Redactor, default_field_limit: None
) -> None:
    """Past the csv module's default cell limit the reader would go on inside the cell; its lines
    must not come back as rows of their own: the cell is read whole and refused as too long."""
    inside = "Tämä rivi on solun sisällä.,customer\n"
    data = b'text,source\nEnsin.,staff\n"' + ("x" * 140_000 + "\n" + inside * 3).encode() + b'",staff\n'
    report = run(session, redactor, data)
    assert [line for line, _msg in report.errors] == [3]
    assert "200" in report.errors[0][1]  # the note length rule
    assert texts(session) == ["Ensin."]


def test_a_file_over_the_row_limit_imports_nothing_and_says_so(
    session: Session, redactor: Redactor, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hiljainen import csv_import

    monkeypatch.setattr(csv_import, "MAX_ROWS", 3)
    rows = "".join(f"Rivi {i}.,staff\n" for i in range(4))
    report = run(session, redactor, f"text,source\n{rows}".encode())
    assert report.imported == [] and [line for line, _msg in report.errors] == [5]
    assert "more than 3 rows" in report.errors[0][1]
    assert texts(session) == []
    assert len(run(session, redactor, f"text,source\n{rows[: rows.index('Rivi 3')]}".encode()).imported) == 3


def test_a_day_more_than_ten_years_back_is_refused(session: Session, redactor: Redactor) -> None:
    """A mistyped year (0026) would make the weekly signals count every week since it."""
    today = dt.date.today()
    oldest = dt.date(today.year - 10, 1, 1)
    data = (f"text,source,day\nVanha.,staff,0026-05-04\nRajalla.,staff,{oldest}\n"
            f"Päivää liian vanha.,staff,{oldest - dt.timedelta(days=1)}\n").encode()
    report = run(session, redactor, data)
    assert [line for line, _msg in report.errors] == [2, 4]
    assert str(oldest) in report.errors[0][1]
    assert texts(session) == ["Rajalla."]


def test_bom_semicolons_and_windows_line_ends(session: Session, redactor: Redactor) -> None:
    data = "\ufeffText;Source;Day\r\nKahvi loppui.;staff;2026-02-02\r\nKiitos!;customer;2026-02-03\r\n"
    report = run(session, redactor, data.encode("utf-8"))
    assert report.errors == [] and len(report.imported) == 2
    assert texts(session) == ["Kahvi loppui.", "Kiitos!"]


def test_a_latin1_line_is_one_error_not_a_failed_file(session: Session, redactor: Redactor) -> None:
    data = (
        b"text,source\n"
        + "Ensimmäinen rivi.,staff\n".encode()
        + "Toinen rivi on Latin-1: päivä,staff\n".encode("latin-1")
        + b"Kolmas rivi.,staff\n"
    )
    report = run(session, redactor, data)
    assert [line for line, _msg in report.errors] == [3]
    assert "UTF-8" in report.errors[0][1]
    assert texts(session) == ["Ensimmäinen rivi.", "Kolmas rivi."]


def test_re_importing_the_same_file_adds_nothing(session: Session, redactor: Redactor) -> None:
    first = run(session, redactor, GOOD.encode())
    again = run(session, redactor, GOOD.encode())
    assert len(first.imported) == 3
    assert (again.imported, again.skipped_duplicates, again.errors) == ([], 3, [])
    # The same notes written with a BOM, semicolons and CRLF, plus one new row: only that is new.
    semi = (
        "text;source;unit;touchpoint;day;tags;anonymous\r\n"
        "Ruoka oli kylmää.;customer;koivukoti;;2026-01-10;ruoka;yes\r\n"
        '"Soita minulle, numero on 040 123 4567";relative;;aula;2026-01-11;"soitto,toive";\r\n'
        "Iltavuorossa liian vähän väkeä.;staff;kotihoito;;2026-01-12;;no\r\n"
        "Uusi rivi.;staff;;;;;\r\n"
    )
    third = run(session, redactor, b"\xef\xbb\xbf" + semi.encode())
    assert third.errors == [] and (len(third.imported), third.skipped_duplicates) == (1, 3)
    assert len(texts(session)) == 4


def test_identical_rows_in_one_file_are_two_notes(session: Session, redactor: Redactor) -> None:
    data = b"text,source,day\nKiitos!,customer,2026-03-01\nKiitos!,customer,2026-03-01\n"
    assert len(run(session, redactor, data).imported) == 2
    assert run(session, redactor, data).skipped_duplicates == 2


def test_the_default_source_fills_empty_cells_and_is_otherwise_required(
    session: Session, redactor: Redactor
) -> None:
    data = b"text,source\nIlman l\xc3\xa4hdett\xc3\xa4.,\nL\xc3\xa4hteen kanssa.,staff\n"
    refused = run(session, redactor, data)
    assert [line for line, _msg in refused.errors] == [2] and len(refused.imported) == 1
    filled = run(session, redactor, data, source_default=Source.CUSTOMER)
    assert filled.errors == [] and len(filled.imported) == 1 and filled.skipped_duplicates == 1


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"", "empty"),
        (b"teksti,lahde\nHei,staff\n", "text"),
        (b"text,touchpont\nHei,aula\n", "touchpont"),
        (b"text,text\nHei,Hei\n", "text"),
        ("text\nHei\n".encode("utf-16"), "UTF-16"),
    ],
)
def test_a_bad_header_imports_nothing_and_says_why(
    session: Session, redactor: Redactor, data: bytes, says: str
) -> None:
    report = run(session, redactor, data, source_default=Source.STAFF)
    assert report.imported == [] and len(report.errors) == 1
    assert report.errors[0][0] == 1 and says in report.errors[0][1]
    assert texts(session) == []


def test_the_caller_owns_the_transaction(session: Session, redactor: Redactor) -> None:
    """import_csv does not commit: a caller that fails before committing leaves no half import."""
    report = import_csv(
        session, redactor, io.BytesIO(GOOD.encode()), max_chars=200, secret=SECRET, source_default=None
    )
    assert len(report.imported) == 3
    session.rollback()
    assert texts(session) == []


# --- the admin page --------------------------------------------------------------------------


@pytest.fixture()
def admin_app(app: Flask) -> Flask:
    with app.test_request_context():
        s = resources.session()
        seed(s)
        accounts.create_user(s, "paakayttaja", PASSWORD, Role.ADMIN)
        accounts.create_user(s, "hoitaja", PASSWORD, Role.STAFF)
        s.commit()
    return app


def upload(client: FlaskClient, data: bytes, **form: str) -> tuple[int, str]:
    fields: dict[str, object] = {"csrf_token": csrf_token(client, "/admin/import"), **form}
    fields["file"] = (io.BytesIO(data), "muistiinpanot.csv")
    resp = client.post(
        "/admin/import", data=fields, content_type="multipart/form-data", headers={"Accept-Language": "en"}
    )
    return resp.status_code, resp.get_data(as_text=True)


def number(page: str, element_id: str) -> int:
    return int(page.split(f'id="{element_id}">', 1)[1].split("<", 1)[0])


def test_admin_uploads_a_file_and_sees_the_report(
    admin_app: Flask, client: FlaskClient, settings: Settings
) -> None:
    login(client, "paakayttaja", PASSWORD)
    data = (GOOD + "Tuntematon.,staff,,kellari,,,\n").encode()
    empty_queue(settings.redis_url)
    status, page = upload(client, data)
    assert status == 200
    assert (number(page, "imported"), number(page, "duplicates"), number(page, "error-count")) == (3, 0, 1)
    assert "<td>5</td>" in page and "kellari" in page
    with admin_app.test_request_context():
        s = resources.session()
        ids = list(s.scalars(select(Observation.id).order_by(Observation.id)))
        audit = s.scalars(select(AuditEvent).where(AuditEvent.action == "import_csv")).one()
        assert audit.detail == {"file": "muistiinpanot.csv", "imported": 3, "duplicates": 0, "errors": 1}
    assert ids and processing_queued(settings.redis_url)
    status, page = upload(client, data)
    assert (number(page, "imported"), number(page, "duplicates"), number(page, "error-count")) == (0, 3, 1)


def test_the_upload_page_is_for_admins_with_a_csrf_token(admin_app: Flask, client: FlaskClient) -> None:
    assert client.get("/admin/import").status_code == 302
    login(client, "hoitaja", PASSWORD)
    assert client.get("/admin/import").status_code == 403
    client.post("/logout", data={"csrf_token": csrf_token(client, "/note")})
    login(client, "paakayttaja", PASSWORD)
    no_token = client.post(
        "/admin/import",
        data={"file": (io.BytesIO(GOOD.encode()), "a.csv")},
        content_type="multipart/form-data",
    )
    assert no_token.status_code == 400
    status, _page = upload(client, b"")  # no file content, but a file: an empty-file report
    assert status == 200
    missing = client.post(
        "/admin/import",
        data={"csrf_token": csrf_token(client, "/admin/import")},
        content_type="multipart/form-data",
    )
    assert missing.status_code == 400
    with admin_app.test_request_context():
        assert resources.session().scalars(select(Observation.id)).all() == []


# --- the command -----------------------------------------------------------------------------


def test_import_command_commits_queues_and_prints_the_report(
    tmp_path: Path,
    database_url: str,
    redis_srv: ChildServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("HILJAINEN_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HILJAINEN_DATABASE_URL", database_url)
    monkeypatch.setenv("HILJAINEN_REDIS_URL", redis_srv.url)
    engine = db.make_engine(database_url)
    with db.make_sessionmaker(engine)() as s:
        seed(s)
    path = tmp_path / "notes.csv"
    path.write_bytes((GOOD + "   ,staff,,,,,\n").encode())
    empty_queue(redis_srv.url)
    report = import_command(path)
    out = capsys.readouterr().out
    assert len(report.imported) == 3 and report.queued and report.errors == [(5, report.errors[0][1])]
    assert "line 5" in out and "3 imported" in out
    with db.make_sessionmaker(engine)() as s:
        assert sorted(s.scalars(select(Observation.id))) == sorted(report.imported)
    assert processing_queued(redis_srv.url)
    again = import_command(path)
    assert (again.imported, again.skipped_duplicates) == ([], 3)
    engine.dispose()


# --- the interface's words -------------------------------------------------------------------


def test_a_file_in_the_interfaces_words_imports(session: Session, redactor: Redactor) -> None:
    """Issue 21: Finnish headers, places by their shown names, writers by their labels, Finnish days."""
    data = (
        "Teksti;Kirjoittaja;Yksikkö;Kohtaamispiste;Päivä;Tunnisteet;Nimetön\n"
        "Laskun korotus yllätti.;asiakas;Kotihoito;;6.12.2025;lasku;kyllä\n"
        "Äiti ei saanut lääkkeitä ajoissa.;Omainen;;Aula;06.11.2025 14:30;;\n"
        "Vuorolista tuli myöhään.;henkilöstö;home care;;1.2.2025 klo 8.15;;ei\n"
        "Thanks for the quick fix.;Customer;  Koivukoti ;lobby;2025-03-04T09:00;;yes\n"
        "Yhteistyö sujui.;yhteistyökumppani;KOTIHOITO;;;;\n"
        "Läheinen kävi.;family;;;;;\n"
    ).encode()
    report = run(session, redactor, data)
    assert report.errors == [] and len(report.imported) == 6
    notes = session.scalars(select(Observation).order_by(Observation.id)).all()
    assert [n.source for n in notes] == [
        Source.CUSTOMER,
        Source.RELATIVE,
        Source.STAFF,
        Source.CUSTOMER,
        Source.PARTNER,
        Source.RELATIVE,
    ]
    assert [n.unit.slug if n.unit else None for n in notes] == [
        "kotihoito",
        "koivukoti",  # from the touchpoint
        "kotihoito",
        "koivukoti",
        "kotihoito",
        None,
    ]
    assert [n.touchpoint.slug if n.touchpoint else None for n in notes][:4] == [None, "aula", None, "aula"]
    assert [n.day for n in notes][:4] == [
        dt.date(2025, 12, 6),
        dt.date(2025, 11, 6),
        dt.date(2025, 2, 1),
        dt.date(2025, 3, 4),
    ]
    assert notes[0].tags == ["lasku"]


def test_shown_names_and_short_names_are_the_same_row_on_re_import(
    session: Session, redactor: Redactor
) -> None:
    first = run(session, redactor, GOOD.encode())
    shown = (
        "teksti,kirjoittaja,yksikkö,kohtaamispiste,päivä,tunnisteet,nimetön\n"
        "Ruoka oli kylmää.,asiakas,Koivukoti,,10.1.2026,ruoka,kyllä\n"
        '"Soita minulle, numero on 040 123 4567",omainen,,Lobby,11.1.2026,"soitto,toive",\n'
        "Iltavuorossa liian vähän väkeä.,henkilöstö,Home care,,12.1.2026,,ei\n"
    )
    again = run(session, redactor, shown.encode())
    assert len(first.imported) == 3
    assert (again.imported, again.skipped_duplicates, again.errors) == ([], 3, [])


def test_words_the_interface_does_not_know_are_reported_by_line(session: Session, redactor: Redactor) -> None:
    session.add(Unit(slug="toinen", name_fi="Kotihoito", name_en="Home care north"))  # same Finnish name
    koivukoti = session.scalars(select(Unit).where(Unit.slug == "koivukoti")).one()
    other = session.scalars(select(Unit).where(Unit.slug == "kotihoito")).one()
    session.add(Touchpoint(slug="aula-2", name_fi="Aula", name_en="Lobby", unit_id=other.id))
    session.commit()
    data = (
        "text,source,unit,touchpoint,day\n"  # 1
        "Yksi.,asukas,kotihoito,,\n"  # 2: the short name wins over another unit's shown name
        "Kaksi.,asiakas,Kotihoito,,\n"  # 3: two units are called Kotihoito
        "Kolme.,robotti,,,\n"  # 4
        "Neljä.,omainen,,Aula,\n"  # 5: two lobbies and no unit
        f"Viisi.,omainen,{koivukoti.name_en},Aula,\n"  # 6: the unit settles it
        "Kuusi.,omainen,,Vanha,\n"  # 7: retired
        "Seitsemän.,omainen,Kellari,,\n"  # 8
        "Kahdeksan.,staff,,,32.12.2025\n"  # 9
        "Yhdeksän.,staff,,,6.12.2026 kello viisi\n"  # 10
    ).encode()
    report = run(session, redactor, data)
    messages = dict(report.errors)
    assert sorted(messages) == [3, 4, 5, 7, 8, 9, 10]
    assert "kotihoito" in messages[3] and "toinen" in messages[3]
    assert "robotti" in messages[4] and "asiakas" in messages[4] and "customer" in messages[4]
    assert "aula" in messages[5] and "aula-2" in messages[5]
    assert "Vanha" in messages[7] and "retired" in messages[7]
    assert "Kellari" in messages[8]
    assert "32.12.2025" in messages[9] and "31.3.2026" in messages[9]
    assert texts(session) == ["Yksi.", "Viisi."]
    viisi = session.scalars(select(Observation).where(Observation.text == "Viisi.")).one()
    assert viisi.touchpoint is not None and viisi.touchpoint.slug == "aula"


# --- probe findings: keyed import keys, the NLP lock, long cells ----------------------------


def keys(session: Session) -> list[str | None]:
    return list(session.scalars(select(Observation.import_key).order_by(Observation.id)))


def test_import_keys_are_keyed_with_the_secret_not_a_hash_of_the_raw_text(
    session: Session, redactor: Redactor
) -> None:
    """The key of a row is computed from its text before redaction: a plain hash of it let anyone
    with the database brute-force the redacted phone number."""
    first = run(session, redactor, GOOD.encode())
    stored = keys(session)
    # What an attacker computes for the second row, trying phone numbers until one matches.
    row = ["Soita minulle, numero on 040 123 4567", "relative", None, "aula", "2026-01-11",
           ["soitto", "toive"], False]
    plain = hashlib.sha256(f"{json.dumps(row, ensure_ascii=False)}\n1".encode()).hexdigest()
    assert len(first.imported) == 3 and plain not in stored
    assert all(k and k.startswith("h:") and len(k) <= 64 for k in stored)
    assert stored[1] == "h:" + hmac.new(SECRET.encode(), plain.encode(), hashlib.sha256).hexdigest()[:62]
    again = run(session, redactor, GOOD.encode())
    assert (again.imported, again.skipped_duplicates) == ([], 3)
    # Another secret, other keys: they cannot be computed without the secret.
    session.query(Observation).delete()
    session.commit()
    run(session, redactor, GOOD.encode(), secret="toinen-avain")
    assert not set(keys(session)) & set(stored)


def test_keys_of_an_older_version_are_rekeyed_and_their_file_still_adds_nothing(
    session: Session, redactor: Redactor, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as m:  # the older version: a bare SHA-256 of the content
        m.setattr(csv_import, "_keyed", lambda _secret, digest: digest)
        run(session, redactor, GOOD.encode())
    old = keys(session)
    assert all(k and len(k) == 64 and not k.startswith("h:") for k in old)
    again = run(session, redactor, GOOD.encode())
    assert (again.imported, again.skipped_duplicates) == ([], 3)
    assert keys(session) == [csv_import._keyed(SECRET, k) for k in old if k]


class CountingLock:
    """The NLP lock, noting which thread took it each time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.takers: list[str] = []
        self.on_release: Any = None

    def __enter__(self) -> CountingLock:
        self._lock.acquire()
        self.takers.append(threading.current_thread().name)
        return self

    def __exit__(self, *exc: object) -> None:
        self._lock.release()
        hook, self.on_release = self.on_release, None
        if hook is not None:
            hook()


def test_a_big_import_lets_other_redactions_take_the_nlp_lock_between_batches(
    session: Session, redactor: Redactor
) -> None:
    """A 20,000-row import held the shared NLP lock for 86 s: searches and notes waited for all of it."""
    lock = CountingLock()
    locked = _LockedRedactor(redactor, lock)  # type: ignore[arg-type]
    lines = [f"Huomio {i}: soita numeroon 040 123 45{i:02d}." for i in range(150)]
    data = ("text,source\n" + "".join(f"{t},staff\n" for t in lines)).encode()
    other: list[str] = []

    def another_request() -> None:  # runs once the import first lets go of the lock
        t = threading.Thread(
            target=lambda: other.append(locked.redact("Soita 040 765 4321.").text), name="request"
        )
        t.start()
        t.join()

    lock.on_release = another_request
    report = run(session, locked, data)
    assert len(report.imported) == 150 and report.errors == []
    assert other == ["Soita [PUHELIN]."]
    imports = [i for i, name in enumerate(lock.takers) if name != "request"]
    assert len(imports) == -(-150 // csv_import.REDACT_CHUNK)  # once per batch, not once per file
    assert lock.takers.index("request") < imports[-1]  # the request got in before the import ended
    # Batching does not change what is stored.
    assert texts(session) == [redactor.redact(t).text for t in lines]


@pytest.fixture()
def default_field_limit() -> Iterator[None]:
    """Python's default cell limit (another test may have raised it), restored afterwards."""
    before = csv.field_size_limit(131_072)
    yield
    csv.field_size_limit(before)


@pytest.mark.parametrize("cell", ["a" * 140_000, ("sana " * 200 + "\n") * 140], ids=["one-line", "multiline"])
def test_a_cell_over_the_csv_field_limit_is_reported_and_the_next_rows_import(
    session: Session, redactor: Redactor, default_field_limit: None, cell: str
) -> None:
    data = f'text,source\n"{cell}",staff\nHyvä rivi.,staff\n'.encode()
    report = run(session, redactor, data)
    assert [line for line, _msg in report.errors] == [2]
    assert "200" in report.errors[0][1]  # too long for a note: the limit is said
    assert texts(session) == ["Hyvä rivi."] and report.rows == 2
