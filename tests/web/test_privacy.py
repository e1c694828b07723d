"""Export, erasure and retention against real Redis, Chroma, models and both databases.

Notes go in through intake (the real redactor), are indexed and themed by the worker's jobs, and
are answered, joined ("me too") and quoted in a delivered digest. After an erasure every table is
dumped and searched for the subject's texts, contact and name, and Chroma is asked for the ids.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import select

from hiljainen import accounts, create_app, db, digest, intake, privacy, resources, tokens
from hiljainen.cli import main as cli
from hiljainen.config import Settings
from hiljainen.models import (
    ApiToken,
    AuditEvent,
    Base,
    Indicator,
    Interpretation,
    Observation,
    OutboxMessage,
    Response,
    Role,
    Setting,
    Source,
    Status,
    Theme,
    Touchpoint,
    Unit,
    User,
    Voice,
    utcnow,
)
from hiljainen.search import sql, suggest
from hiljainen.stores.vectors import VectorStore
from hiljainen.web import triage
from tests.conftest import csrf_token, login, make_org
from workers import jobs

PASSWORD = "salasana-123"
TODAY = dt.date.today()
CONTACT = "maija.meikalainen@example.org"
HANNA = "Hanna Hoitajatar"
LEADER = "Pekka Päällikkö"
# (key, writer, text, days ago); "hanna" is the staff subject, "receipt" the anonymous one.
NOTES = [
    (
        "s_waiting",
        "hanna",
        "Kaurapuuro oli aamulla kylmää ja kokkareista, asukkaat jättivät sen syömättä.",
        10,
    ),
    ("s_done", "hanna", "Iltapalalla tarjottu kaurapuuro jäi taas lähes kokonaan syömättä osastolla.", 3),
    ("s_lift", "hanna", "Hissin ovi jumittaa kolmannessa kerroksessa aamuisin ennen seitsemää.", 2),
    ("o_porridge", "kollega", "Aamupuuro tuli osastolle haaleana jo kolmatta päivää peräkkäin.", 4),
    ("o_cold", "kollega", "Ruoka oli kylmää, kun se lopulta tarjoiltiin asukkaille.", 5),
    ("o_soup", "kollega", "Lounaan keitto oli kylmää ja suolatonta koko viikon.", 6),
    ("o_lift", "kollega", "Hissi on ollut rikki koko viikon, asukkaat eivät pääse ulos.", 3),
    ("o_lift2", "kollega", "Hissin kutsunappi ei toimi toisessa kerroksessa.", 2),
    ("o_laundry", "kollega", "Pyykit palautuvat väärille asukkaille lähes joka viikko.", 8),
    ("o_cold2", "kollega", "Päivällinen oli taas kylmää, kun se tuotiin osastolle.", 4),
    ("o_cold3", "kollega", "Asukkaiden ruoka jäähtyy käytävällä ennen tarjoilua.", 7),
    ("o_cold4", "kollega", "Kylmä ruoka harmittaa asukkaita joka päivä lounaalla.", 9),
    ("o_lift3", "kollega", "Hissi pysähtyi kerrosten väliin ja asukas joutui odottamaan.", 5),
    ("o_laundry2", "kollega", "Asukkaiden vaatteita katoaa pesulasta jatkuvasti.", 6),
    ("o_laundry3", "kollega", "Pesulasta palasi taas toisen asukkaan vaatteita.", 3),
    ("receipt", None, "Äitini sai päivällisellä kylmää ruokaa ja kahvi puuttui kokonaan tarjottimelta.", 9),
]
SUBJECT_USER = ("s_waiting", "s_done", "s_lift")


@pytest.fixture(scope="module")
def models(embedder: Any) -> Iterator[tuple[Any, Any]]:
    """The real redactor (loaded once for this module) and the session's embedder."""
    from hiljainen.pipeline.redact import Redactor

    yield Redactor(), embedder


@pytest.fixture()
def cfg(
    settings: Settings, database_url: str, monkeypatch: pytest.MonkeyPatch, one_model: Any
) -> Iterator[Settings]:
    """Settings on SQLite or PostgreSQL; the worker jobs read the same from the environment."""
    cfg = dataclasses.replace(settings, database_url=database_url)
    for name, value in {
        "DATA_DIR": str(cfg.data_dir),
        "DATABASE_URL": database_url,
        "REDIS_URL": cfg.redis_url,
        "CHROMA_URL": cfg.chroma_url,
        "CHROMA_COLLECTION": cfg.chroma_collection,
        "SECRET_KEY": cfg.secret_key,
    }.items():
        monkeypatch.setenv(f"HILJAINEN_{name}", value)
    jobs.runtime.cache_clear()
    yield cfg
    jobs.runtime.cache_clear()


@pytest.fixture()
def papp(cfg: Settings) -> Flask:
    app = create_app(cfg)
    app.config["TESTING"] = True
    return app


def sessions(cfg: Settings) -> Any:
    return db.make_sessionmaker(db.make_engine(cfg.sqlalchemy_url))


def store(cfg: Settings) -> VectorStore:
    return VectorStore(cfg.chroma_url, jobs.runtime().embedder().model_id, collection=cfg.chroma_collection)


@dataclasses.dataclass
class World:
    ids: dict[str, int]
    users: dict[str, int]
    receipt: str
    user_key: str  # hanna's reporter key, made by the search module
    public: dict[str, str] = dataclasses.field(default_factory=dict)  # the ids messages name notes by


def seed(app: Flask, cfg: Settings, redactor: Any, extra: Sequence[tuple[str, str, dt.date]] = ()) -> World:
    """Notes through intake, indexed and themed by the worker jobs, answered, joined and digested."""
    ids: dict[str, int] = {}
    with db.transaction(sessions(cfg)) as s:
        unit = Unit(slug="koivukoti", name_fi="Koivukoti", name_en="Koivukoti")
        s.add(unit)
        s.flush()
        s.add(Touchpoint(slug="ruokasali", name_fi="Ruokasali", name_en="Dining room", unit_id=unit.id))
        people = {
            "hanna": accounts.create_user(
                s, "hanna_h", PASSWORD, Role.STAFF, display_name=HANNA, unit_id=unit.id
            ),
            "kollega": accounts.create_user(s, "kollega", PASSWORD, Role.STAFF, unit_id=unit.id),
            "johtaja": accounts.create_user(s, "johtaja", PASSWORD, Role.LEADER, display_name=LEADER),
            "admin": accounts.create_user(s, "yllapito", PASSWORD, Role.ADMIN),
        }
        receipt = ""
        for key, writer, text, ago in NOTES:
            draft = intake.Draft(
                text=text,
                source=Source.STAFF if writer else Source.RELATIVE,
                unit="koivukoti" if writer else None,
                touchpoint=None if writer else "ruokasali",
                author=people[writer] if writer else None,
                contact=None if writer else CONTACT,
                day=TODAY - dt.timedelta(days=ago),
            )
            stored = intake.store(s, draft, redactor, max_chars=5000)
            ids[key] = stored.observation.id
            receipt = receipt if writer else stored.receipt or ""
        for key, text, day in extra:
            ids[key] = intake.store(
                s, intake.Draft(text=text, source=Source.STAFF, day=day), redactor, max_chars=5000
            ).observation.id
        token, _plain = tokens.issue(s, "Hannan puhelin", Role.STAFF, user=people["hanna"])
        s.flush()
        s.add(
            AuditEvent(
                actor_id=people["admin"].id,
                action="issue_token",
                target=f"api_token:{token.id}",
                detail={"name": token.name, "role": "staff"},
            )
        )
        users = {k: u.id for k, u in people.items()}
    jobs.process_all()
    jobs.refresh_themes((TODAY - dt.timedelta(days=1)).isoformat())

    with app.test_request_context():
        keys = {name: suggest.reporter_key(_user(cfg, users[name])) for name in ("hanna", "kollega")}
    lead = users["johtaja"]
    yesterday = utcnow() - dt.timedelta(days=1)
    with db.transaction(sessions(cfg)) as s:
        sql.add_voice(s, ids["o_porridge"], keys["hanna"], Source.STAFF, None, TODAY)
        sql.add_voice(s, ids["s_waiting"], keys["kollega"], Source.STAFF, None, TODAY)
        sql.add_voice(s, ids["receipt"], "b:" + "1" * 32, Source.CUSTOMER, None, TODAY)
        for key, kind, body, author in [
            ("s_done", "answer", "Kiitos, puuron lämpötila tarkistetaan joka aamu.", lead),
            ("s_done", "action", "Keittiön kanssa sovittu puuron lämpösäilytys.", lead),
            ("receipt", "answer", "Kiitos palautteesta, päivällisen lämpötila korjataan.", lead),
            ("receipt", "reply", "Kiitos vastauksesta, tilanne on parantunut selvästi.", None),
            ("receipt", "action", "Tarjotinlistaan lisätty kahvi päivälliselle.", lead),
            ("o_lift", "action", "Huoltoyhtiölle tehty vikailmoitus hissistä.", lead),
        ]:
            s.add(
                Response(
                    observation_id=ids[key], kind=kind, body=body, author_id=author, created_at=yesterday
                )
            )
        for key in ("s_done", "receipt"):
            obs = s.get(Observation, ids[key])
            obs.status, obs.acknowledged_at = Status.DONE, yesterday
            s.add(AuditEvent(actor_id=lead, action="acknowledge", target=f"observation:{ids[key]}"))
        s.get(Observation, ids["o_soup"]).owner_id = lead
        s.add(
            AuditEvent(
                actor_id=lead,
                action="set_owner",
                target=f"observation:{ids['o_soup']}",
                detail={"from": None, "to": lead},
            )
        )
        theme = s.scalars(select(Theme).where(Theme.active.is_(True))).first()
        assert theme is not None, "the worker made no theme of these notes"
        theme.owner_id = lead
        s.add(
            Interpretation(
                theme_id=theme.id, author_id=lead, meaning="Ruoka jäähtyy kuljetuksessa.", owner=LEADER
            )
        )
        s.add(Indicator(name="Kylmä ruoka", query="kylmää", created_by=lead, owner="johtaja"))
        s.add(
            OutboxMessage(
                channel="email",
                subject="Vastaus havaintoosi",
                body=f"To: {CONTACT}\n\nHavaintoosi on vastattu: avaa kuittikoodilla.",
            )
        )
    with db.transaction(sessions(cfg)) as s:
        digest.queue_digest(s, TODAY + dt.timedelta(days=1), min_group=1)
    with sessions(cfg)() as s:
        sent = digest.deliver_outbox(s, digest.file_sender(cfg.data_dir / "outbox"))
    assert sent.sent and not sent.failed
    with sessions(cfg)() as s:
        public = dict(s.execute(select(Observation.id, Observation.public_id)).tuples().all())
    return World(ids, users, receipt, keys["hanna"], {key: public[i] for key, i in ids.items()})


def _user(cfg: Settings, user_id: int) -> User:
    with sessions(cfg)() as s:
        user = s.get(User, user_id)
        assert user is not None
        return user


def dump(cfg: Settings) -> str:
    """Every row of every table, as text."""
    with sessions(cfg)() as s:
        rows = {t.name: [list(r) for r in s.execute(select(t))] for t in Base.metadata.sorted_tables}
    return json.dumps(rows, default=str, ensure_ascii=False)


def outbox_files(cfg: Settings) -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in sorted((cfg.data_dir / "outbox").glob("*.txt")))


def texts(keys: tuple[str, ...]) -> list[str]:
    by_key = {k: t for k, _w, t, _d in NOTES}
    return [by_key[k] for k in keys]


def assert_gone(cfg: Settings, w: World, keys: tuple[str, ...], needles: list[str]) -> None:
    """No row, vector, membership, voice, response, audit entry or outbox text is left for these notes."""
    gone = [w.ids[k] for k in keys]
    with sessions(cfg)() as s:
        assert s.scalars(select(Observation.id).where(Observation.id.in_(gone))).all() == []
        assert s.scalars(select(Voice.id).where(Voice.observation_id.in_(gone))).all() == []
        assert s.scalars(select(Response.id).where(Response.observation_id.in_(gone))).all() == []
        targets = [f"observation:{i}" for i in gone]
        assert s.scalars(select(AuditEvent.id).where(AuditEvent.target.in_(targets))).all() == []
        assert not [t.id for t in s.scalars(select(Theme)) if set(t.representatives) & set(gone)]
        assert s.scalars(select(Observation.id).where(Observation.duplicate_of_id.in_(gone))).all() == []
    assert store(cfg).vectors(gone) == {}
    everything, files = dump(cfg), outbox_files(cfg)
    for needle in needles + [digest.excerpt(t) for t in needles]:
        assert needle not in everything, needle
        assert needle not in files, needle
    with sessions(cfg)() as s:
        bodies = " ".join(m.subject + m.body for m in s.scalars(select(OutboxMessage)))
    for note_id in gone + [w.public[k] for k in keys]:
        assert not re.search(rf"(#|/notes/){note_id}\b", bodies + files), note_id


# --------------------------------------------------------------------------- user and receipt code


def public_ids(cfg: Settings) -> dict[int, str]:
    """Every note's public id by its internal id."""
    with sessions(cfg)() as s:
        return dict(s.execute(select(Observation.id, Observation.public_id)).tuples().all())


def assert_names_notes_publicly(data: dict[str, Any]) -> None:
    """The internal id runs in writing order: an export holding it would place an anonymous note
    among its writer's signed ones, so notes are named by their public id throughout."""
    text = json.dumps(data)
    assert not re.search(r'observation:\d+"', text), "an audit target names a note by its internal id"
    assert all(isinstance(n["id"], str) and "public_id" not in n for n in data["notes"])
    refs = [v["note"] for v in data.get("voices", [])]
    refs += [r["note"] for r in data.get("responses_written", [])]
    assert all(isinstance(r, str) for r in refs + data.get("notes_owned", []))


@pytest.mark.slow
def test_export_then_erase_a_person_and_a_receipt_code_leaves_nothing(
    cfg: Settings, papp: Flask, models: Any
) -> None:
    w = seed(papp, cfg, models[0])
    pub = public_ids(cfg)
    others = [w.ids[k] for k, *_ in NOTES if k.startswith("o_")]
    vectors_before = store(cfg).count()
    with sessions(cfg)() as s:
        data = privacy.export_subject(s, cfg, privacy.Subject("user", "hanna_h"))
        memberships = s.scalars(
            select(Observation.theme_id).where(Observation.id.in_([w.ids[k] for k in SUBJECT_USER]))
        ).all()
    assert any(memberships), "at least one of the subject's notes is in a theme"
    assert_names_notes_publicly(data)
    notes = {n["id"]: n for n in data["notes"]}
    assert [notes[pub[w.ids[k]]]["text"] for k in SUBJECT_USER] == texts(SUBJECT_USER)
    assert notes[pub[w.ids["s_waiting"]]]["voices"] == 1, "a colleague's 'me too' is counted, not named"
    assert any(n["theme"] for n in notes.values())
    assert [r["kind"] for r in notes[pub[w.ids["s_done"]]]["responses"]] == ["answer"], (
        "internal actions are not shown"
    )
    assert data["voices"] == [{"note": pub[w.ids["o_porridge"]], "day": TODAY.isoformat(), "source": "staff"}]
    assert data["account"]["display_name"] == HANNA and data["api_tokens"][0]["name"] == "Hannan puhelin"
    assert {e["action"] for e in data["audit_about_notes"]} == {"acknowledge"}
    assert [m["channel"] for m in data["outbox"]] == ["digest"]
    assert sorted(data["vectors"]["by_note"]) == sorted(pub[w.ids[k]] for k in SUBJECT_USER)
    assert all(len(v) == 384 for v in data["vectors"]["by_note"].values())
    assert texts(("s_done",))[0] in json.dumps(data, ensure_ascii=False)

    with sessions(cfg)() as s:
        done = privacy.erase_subject(s, cfg, privacy.Subject("user", "hanna_h"))
    assert done["notes"] == 3 and done["vectors"] == 3 and done["outbox"] == 1 and done["account"] == 1
    assert store(cfg).count() == vectors_before - 3
    assert set(store(cfg).vectors(others)) == set(others), "other people's vectors stay"
    assert_gone(cfg, w, SUBJECT_USER, texts(SUBJECT_USER) + [HANNA, "hanna_h", "Hannan puhelin"])
    with sessions(cfg)() as s:
        assert s.scalar(select(User).where(User.id == w.users["hanna"])) is None
        assert s.scalars(select(ApiToken).where(ApiToken.user_id == w.users["hanna"])).all() == []
        assert s.scalars(select(Voice).where(Voice.reporter_key == w.user_key)).all() == []
        assert len(s.scalars(select(Voice)).all()) == 1, "only the receipt note's voice is left"
        (event,) = s.scalars(select(AuditEvent).where(AuditEvent.action == "erase")).all()
        assert event.detail["kind"] == "user" and "hanna" not in json.dumps(event.detail).lower()

    with sessions(cfg)() as s:
        data = privacy.export_subject(s, cfg, privacy.Subject.from_options(None, w.receipt.lower()))
    (note,) = data["notes"]
    assert_names_notes_publicly(data)
    assert note["text"] == texts(("receipt",))[0] and note["contact"] == CONTACT and "account" not in data
    assert [r["kind"] for r in note["responses"]] == ["answer", "reply"] and note["voices"] == 1
    assert sorted(m["channel"] for m in data["outbox"]) == ["digest", "email"]
    assert list(data["vectors"]["by_note"]) == [pub[w.ids["receipt"]]]
    with sessions(cfg)() as s:
        done = privacy.erase_subject(s, cfg, privacy.Subject("receipt", w.receipt))
    assert done == {"notes": 1, "vectors": 1, "outbox": 2, "voices": 1, "responses": 3, "audit_events": 1}
    assert_gone(cfg, w, ("receipt",), texts(("receipt",)) + [CONTACT, "päivällisen lämpötila korjataan"])
    with sessions(cfg)() as s:
        left = {o.id for o in s.scalars(select(Observation))}
        assert left == set(others), "only the other writer's notes are left"
        assert s.scalars(select(Response.body).where(Response.observation_id == w.ids["o_lift"])).all()
        with pytest.raises(Exception, match="receipt code"):
            privacy.find(s, privacy.Subject("receipt", w.receipt), "x")


@pytest.mark.slow
def test_erasing_a_leader_keeps_their_work_on_other_notes_without_their_name(
    cfg: Settings, papp: Flask, models: Any
) -> None:
    w = seed(papp, cfg, models[0])
    pub = public_ids(cfg)
    lead = w.users["johtaja"]
    with sessions(cfg)() as s:
        data = privacy.export_subject(s, cfg, privacy.Subject("user", "johtaja"))
    assert_names_notes_publicly(data)
    assert data["notes"] == [] and len(data["responses_written"]) == 5
    assert {r["note"] for r in data["responses_written"]} <= set(pub.values())
    assert data["notes_owned"] == [pub[w.ids["o_soup"]]] and len(data["themes_owned"]) == 1
    assert {e["target"] for e in data["audit_by_user"]} <= {f"observation:{p}" for p in pub.values()}
    assert data["interpretations"][0]["owner"] == LEADER and data["indicators"][0]["owner"] == "johtaja"
    assert {e["action"] for e in data["audit_by_user"]} == {"acknowledge", "set_owner"}
    with sessions(cfg)() as s:
        done = privacy.erase_subject(s, cfg, privacy.Subject("user", "johtaja"))
    assert done["notes"] == 0 and done["account"] == 1 and done["detached"] == 5 + 3
    with sessions(cfg)() as s:
        assert s.get(User, lead) is None
        responses = s.scalars(select(Response).where(Response.kind != "reply")).all()
        assert len(responses) == 5 and all(r.author_id is None for r in responses), "kept, unnamed"
        assert s.get(Observation, w.ids["o_soup"]).owner_id is None
        assert all(t.owner_id is None for t in s.scalars(select(Theme)))
        (interp,) = s.scalars(select(Interpretation)).all()
        assert interp.author_id is None and interp.owner == "" and interp.meaning
        (ind,) = s.scalars(select(Indicator)).all()
        assert ind.created_by is None and ind.owner == ""
        assert s.scalars(select(AuditEvent).where(AuditEvent.actor_id == lead)).all() == []
        owner_event = s.scalars(select(AuditEvent).where(AuditEvent.action == "set_owner")).one()
        assert owner_event.detail == {"from": None, "to": None}
        assert s.scalar(select(Observation).where(Observation.id == w.ids["s_done"])) is not None
    assert LEADER not in dump(cfg)


# --------------------------------------------------------------------------- retention


@pytest.mark.slow
def test_retention_deletes_old_notes_in_every_store_and_keeps_new_ones(
    cfg: Settings, papp: Flask, models: Any
) -> None:
    cutoff = privacy.months_before(TODAY, 12)
    old_text = "Pysäköintialueen valot eivät syttyneet pimeällä illalla lainkaan."
    edge_text = "Pysäköintialueen portti jäi auki koko yöksi ja valot vilkkuivat."
    w = seed(
        papp, cfg, models[0], [("old", old_text, cutoff - dt.timedelta(days=5)), ("edge", edge_text, cutoff)]
    )
    with db.transaction(sessions(cfg)) as s:  # the old note was once quoted and answered
        s.add(Response(observation_id=w.ids["old"], kind="answer", body="Valot korjattu."))
        s.add(
            OutboxMessage(
                channel="alert", subject="Hiljainen", body=f"Vanha: {old_text}", created_at=utcnow()
            )
        )
        s.get(Observation, w.ids["edge"]).duplicate_of_id = w.ids["old"]
    assert set(store(cfg).vectors([w.ids["old"], w.ids["edge"]])) == {w.ids["old"], w.ids["edge"]}
    before = store(cfg).count()

    assert privacy.retention_job(dataclasses.replace(cfg, retention_months=0)) is None, "off by default"
    keep12 = dataclasses.replace(cfg, retention_months=12)
    assert privacy.retention_job(keep12, TODAY) == 1
    assert privacy.retention_job(keep12, TODAY) is None, "once a day"
    assert store(cfg).count() == before - 1
    assert_gone(cfg, w, ("old",), [old_text, "Valot korjattu."])
    with sessions(cfg)() as s:
        edge = s.get(Observation, w.ids["edge"])
        assert edge is not None and edge.duplicate_of_id is None, "exactly N months old: kept, unlinked"
        assert s.get(Setting, privacy.LAST_RETENTION).value == TODAY.isoformat()
        (event,) = s.scalars(select(AuditEvent).where(AuditEvent.action == "erase")).all()
        assert event.detail["kind"] == "retention" and event.detail["notes"] == 1
        left = s.scalars(select(Observation.id)).all()
    assert set(store(cfg).vectors(left)) == set(left), "new notes keep their vectors"

    result = CliRunner().invoke(cli, ["retention", "--months", "1"])
    assert result.exit_code == 0, result.output
    assert "deleted 1 notes" in result.output  # only the note from exactly 12 months ago is over 1 month old
    with sessions(cfg)() as s:
        assert s.get(Observation, w.ids["edge"]) is None


def test_months_before_clamps_to_the_end_of_a_shorter_month() -> None:
    assert privacy.months_before(dt.date(2026, 3, 31), 1) == dt.date(2026, 2, 28)
    assert privacy.months_before(dt.date(2026, 1, 15), 13) == dt.date(2024, 12, 15)
    assert privacy.months_before(dt.date(2024, 5, 31), 3) == dt.date(2024, 2, 29)


# --------------------------------------------------------------------------- contacts waiting for a leader


@pytest.fixture()
def wcfg(settings: Settings, database_url: str) -> Settings:
    """Settings on SQLite or PostgreSQL; nothing gets indexed, so no model is needed."""
    return dataclasses.replace(settings, database_url=database_url)


@pytest.fixture()
def wapp(wcfg: Settings) -> Flask:
    """The app with hoitaja (staff) and two leaders, johtaja and toinen."""
    app = create_app(wcfg)
    app.config["TESTING"] = True
    make_org(app)
    with app.app_context():
        accounts.create_user(resources.session(), "toinen", PASSWORD, Role.LEADER)
        resources.session().commit()
    return app


def user_id_of(app: Flask, username: str) -> int:
    with app.app_context():
        found = resources.session().scalar(select(User.id).where(User.username == username))
        assert found is not None
        return found


def waiting_rows(cfg: Settings) -> dict[str, str]:
    """The rows of contacts waiting for a leader, by key."""
    with sessions(cfg)() as s:
        query = select(Setting.key, Setting.value).where(Setting.key.startswith("theme_contacts:"))
        return dict(s.execute(query).tuples().all())


def add_public_note(app: Flask, contact: str, theme_id: int | None = None) -> str:
    """A public-form note whose writer wants an answer at `contact`; returns its receipt code."""
    code = intake.new_receipt()
    with app.app_context():
        s = resources.session()
        s.add(
            Observation(
                text="Laskun korotus yllätti, kirje tuli myöhään.",
                source=Source.RELATIVE,
                anonymous=True,
                day=TODAY,
                wants_answer=True,
                contact=contact,
                receipt_hash=intake.receipt_hash(code),
                theme_id=theme_id,
            )
        )
        s.commit()
    return code


def add_theme(app: Flask) -> int:
    with app.app_context():
        theme = Theme(label="lasku korotus", phrase="Laskun korotus")
        resources.session().add(theme)
        resources.session().commit()
        return theme.id


def answer_and_close(app: Flask, leader: str, theme_id: int) -> Any:
    """The leader answers the whole theme and closes its notes (which deletes their contacts);
    returns the leader's client."""
    client = app.test_client()
    login(client, leader, PASSWORD)
    path = f"/triage/themes/{theme_id}"
    form = {"body": "Korotus perutaan.", "action": "Hinnasto korjattu.", "close": "on", "to": "all"}
    resp = client.post(f"{path}/answer", data={**form, "csrf_token": csrf_token(client, path)})
    assert resp.status_code == 303
    return client


def shown_contacts(leader: Any, theme_id: int) -> str:
    """The contacts the theme's page shows its leader (then deletes), after the count sentence."""
    page = leader.get(f"/triage/themes/{theme_id}?lang=en").get_data(as_text=True)
    found = re.search(r'id="answer-contacts">[^<]*send it there too\. ([^<]*)</div>', page)
    return found.group(1) if found else ""


def test_erasure_and_export_reach_a_contact_a_theme_answer_left_waiting(wcfg: Settings, wapp: Flask) -> None:
    """Closing the notes deleted their contacts, but the theme answer kept them for the leader's
    next look at the theme: the export did not show the writer theirs and erasure left it there.
    A row kept in the older form (plain contacts) is scrubbed by the contact its open note holds."""
    mine, other, open_contact = "040 1234567", "045 7654321", "maija.avoin@example.org"
    theme_id, older_id = add_theme(wapp), add_theme(wapp)
    code = add_public_note(wapp, mine, theme_id)
    add_public_note(wapp, other, theme_id)
    open_code = add_public_note(wapp, open_contact)
    with wapp.app_context():
        key = triage._contacts_key(user_id_of(wapp, "johtaja"), older_id)
        resources.session().add(Setting(key=key, value=json.dumps([open_contact, other])))
        resources.session().commit()
    leader = answer_and_close(wapp, "johtaja", theme_id)
    with sessions(wcfg)() as s:
        closed = s.scalars(select(Observation.contact).where(Observation.theme_id == theme_id)).all()
        assert closed == [None, None], "closing deleted the contacts from the notes"

        data = privacy.export_subject(s, wcfg, privacy.Subject("receipt", code))
        assert data["waiting_contacts"] == [{"theme": theme_id, "contact": mine, "day": TODAY.isoformat()}]
        assert other not in json.dumps(data), "another writer's contact is not theirs"
        data = privacy.export_subject(s, wcfg, privacy.Subject("receipt", open_code))
        assert data["waiting_contacts"] == [{"theme": older_id, "contact": open_contact, "day": None}]

        privacy.erase_subject(s, wcfg, privacy.Subject("receipt", code))
        privacy.erase_subject(s, wcfg, privacy.Subject("receipt", open_code))
    everything = dump(wcfg)
    assert mine not in everything and open_contact not in everything
    assert shown_contacts(leader, theme_id) == other, "the other writer's contact still waits"
    assert shown_contacts(leader, older_id) == other


def test_erasing_a_leader_drops_the_contacts_waiting_for_them(wcfg: Settings, wapp: Flask) -> None:
    """The rows are the erased leader's (keyed by their user id): nobody else would ever be shown
    them, so the writers' contacts would stay for good."""
    themes = {}
    for leader, contact in (("johtaja", "040 1111111"), ("toinen", "045 2222222")):
        themes[leader] = add_theme(wapp)
        add_public_note(wapp, contact, themes[leader])
        answer_and_close(wapp, leader, themes[leader])
    with wapp.app_context():
        key = triage._contacts_key(user_id_of(wapp, "johtaja"), themes["toinen"])
        resources.session().add(Setting(key=key, value='["040 3333333"]'))  # the older form
        resources.session().commit()
    kept_for_other = triage._contacts_key(user_id_of(wapp, "toinen"), themes["toinen"])
    assert len(waiting_rows(wcfg)) == 3
    with sessions(wcfg)() as s:
        privacy.erase_subject(s, wcfg, privacy.Subject("user", "johtaja"))
    assert list(waiting_rows(wcfg)) == [kept_for_other], "only the other leader's row is left"


def test_retention_drops_waiting_contacts_kept_before_its_cutoff(wcfg: Settings, wapp: Flask) -> None:
    """A leader who never opens the theme again left its contacts waiting for ever. Retention now
    drops those kept before its cutoff, and those of the older, undated form."""
    theme_id = add_theme(wapp)
    add_public_note(wapp, "040 3333333", theme_id)
    answer_and_close(wapp, "johtaja", theme_id)  # kept today
    lead = user_id_of(wapp, "johtaja")
    cutoff = privacy.months_before(TODAY, 12)

    def entry(contact: str, day: dt.date) -> dict[str, Any]:
        return {"note": None, "contact": contact, "day": day.isoformat()}

    rows = {
        triage._contacts_key(lead, 901): [
            entry("040 old", cutoff - dt.timedelta(days=1)),
            entry("040 edge", cutoff),
        ],
        triage._contacts_key(lead, 902): [entry("040 older", cutoff - dt.timedelta(days=40))],
        triage._contacts_key(lead, 903): ["040 undated"],
    }
    with wapp.app_context():
        resources.session().add_all(Setting(key=k, value=json.dumps(v)) for k, v in rows.items())
        resources.session().commit()
    assert privacy.apply_retention(wcfg, TODAY, months=12) == 0, "no note is that old"
    left = waiting_rows(wcfg)
    assert set(left) == {triage._contacts_key(lead, theme_id), triage._contacts_key(lead, 901)}
    assert "040 3333333" in left[triage._contacts_key(lead, theme_id)], "kept today"
    assert "040 edge" in left[triage._contacts_key(lead, 901)], "exactly N months old: kept"
    assert "040 old" not in left[triage._contacts_key(lead, 901)]


# --------------------------------------------------------------------------- admin page and command


@pytest.mark.slow
def test_admin_exports_and_erases_by_receipt_code_after_confirming(
    cfg: Settings, papp: Flask, models: Any
) -> None:
    w = seed(papp, cfg, models[0])
    staff = papp.test_client()
    login(staff, "kollega", PASSWORD)
    assert (
        staff.post(
            "/admin/privacy",
            data={"kind": "receipt", "value": w.receipt, "csrf_token": csrf_token(staff, "/my")},
        ).status_code
        == 403
    )
    admin = papp.test_client()
    login(admin, "yllapito", PASSWORD)
    page = admin.get("/admin/").get_data(as_text=True)
    assert "Henkilötiedot" in page and "HILJAINEN_RETENTION_MONTHS" in page
    form = {"kind": "receipt", "value": w.receipt}
    assert admin.post("/admin/privacy", data={**form, "action": "export"}).status_code == 400, "CSRF"

    token = csrf_token(admin, "/admin/")
    resp = admin.post("/admin/privacy", data={**form, "action": "export", "csrf_token": token})
    assert resp.status_code == 200 and "attachment" in resp.headers["Content-Disposition"]
    assert resp.get_json()["notes"][0]["contact"] == CONTACT
    missing = admin.post(
        "/admin/privacy",
        data={"kind": "receipt", "value": "AAAA-BBBB-CCCC", "action": "erase", "csrf_token": token},
    )
    assert missing.status_code == 404 and "Tiliä tai havaintoa ei löytynyt" in missing.get_data(as_text=True)

    confirm = admin.post("/admin/privacy", data={**form, "action": "erase", "csrf_token": token})
    page = confirm.get_data(as_text=True)
    assert confirm.status_code == 200 and "Poista pysyvästi" in page and "••••" in page
    with sessions(cfg)() as s:
        assert s.get(Observation, w.ids["receipt"]) is not None, "nothing is erased before confirming"
    done = admin.post(
        "/admin/privacy",
        data={**form, "action": "erase", "confirm": "yes", "csrf_token": csrf_token(admin, "/admin/")},
    )
    assert done.status_code == 200 and "Poistettu" in done.get_data(as_text=True)
    assert_gone(cfg, w, ("receipt",), texts(("receipt",)) + [CONTACT])
    with sessions(cfg)() as s:
        (event,) = s.scalars(select(AuditEvent).where(AuditEvent.action == "erase")).all()
        assert event.actor_id == w.users["admin"] and event.target == "privacy"
        assert s.scalars(select(AuditEvent).where(AuditEvent.action == "export")).one().detail == {
            "kind": "receipt"
        }
    own = admin.post(
        "/admin/privacy",
        data={
            "kind": "user",
            "value": "yllapito",
            "action": "erase",
            "csrf_token": csrf_token(admin, "/admin/"),
        },
    )
    assert own.status_code == 400


@pytest.mark.slow
def test_command_exports_to_a_file_and_erases_only_when_confirmed(
    cfg: Settings, papp: Flask, models: Any, tmp_path: Path
) -> None:
    w = seed(papp, cfg, models[0])
    runner = CliRunner()
    out = tmp_path / "hanna.json"
    result = runner.invoke(cli, ["person", "export", "--user", "HANNA_H", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert len(json.loads(out.read_text(encoding="utf-8"))["notes"]) == 3
    both = runner.invoke(cli, ["person", "export", "--user", "hanna_h", "--receipt", w.receipt])
    assert both.exit_code == 2 and "exactly one" in both.output
    unknown = runner.invoke(cli, ["person", "erase", "--user", "nobody", "--yes"])
    assert unknown.exit_code == 2 and "error: no account" in unknown.output

    declined = runner.invoke(cli, ["person", "erase", "--user", "hanna_h"], input="n\n")
    assert declined.exit_code == 1 and "notes 3" in declined.output
    with sessions(cfg)() as s:
        assert s.get(User, w.users["hanna"]) is not None
    result = runner.invoke(cli, ["person", "erase", "--user", "hanna_h", "--yes"])
    assert result.exit_code == 0 and "erased: notes 3" in result.output, result.output
    assert_gone(cfg, w, SUBJECT_USER, texts(SUBJECT_USER) + [HANNA])


def test_the_me_too_key_and_the_erasure_key_agree(tmp_path: Path) -> None:
    """Erasure finds a person's "me too" voices by the key the suggestions stored them under: if the
    two drifted apart, an erased person's voices would stay."""
    from hiljainen import rules
    from hiljainen.search import suggest
    from tests.conftest import make_settings

    app = create_app(make_settings(tmp_path))
    user = User(id=7, username="hanna")
    with app.test_request_context():
        stored = suggest.reporter_key(user)
    assert privacy.user_reporter_key is rules.user_reporter_key
    assert stored == privacy.user_reporter_key(str(app.secret_key), 7)
