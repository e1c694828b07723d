"""Hostile input: the API fuzzed from its own OpenAPI description (schemathesis), the redactor and the
text pipeline under arbitrary Unicode (hypothesis), hostile notes through the real worker job path,
and no page that shows a note's text unescaped. Real Redis, Chroma, SQLite/PostgreSQL and models."""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
import re
import uuid
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import numpy as np
import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, event, example, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from rq import SimpleWorker
from rq.registry import FailedJobRegistry
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import select

from hiljainen import create_app, db, intake, resources
from hiljainen.config import TONE_MODEL_DIR, Settings
from hiljainen.models import Observation, Role, Source, Theme
from hiljainen.pipeline.language import detect
from hiljainen.pipeline.linguistics import analyze
from hiljainen.pipeline.redact import _HETU_CHECK, MARKER, Redactor
from hiljainen.pipeline.tone import CLASSES, ToneModel
from hiljainen.runtime import Runtime
from hiljainen.services import ChildServer
from hiljainen.stores import queue
from hiljainen.web.api import openapi
from tests.conftest import csrf_token, login, make_org, make_settings, redis_db

PASSWORD = "salasana-123"
SEED = 20261124
MAX_CHARS = 600
EN = {"Accept-Language": "en"}
FUZZ = hyp_settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))


def seed_org(app: Flask) -> dict[str, str]:
    """A unit, a touchpoint, a leader and a staff user, and their API tokens (plaintext by role)."""
    tokens = {"leader": ("johtaja", Role.LEADER), "staff": ("hoitaja", Role.STAFF)}
    people = ("johtaja", "hoitaja")
    made = make_org(app, unit=("Koivukoti", "Koivukoti"), touchpoints=("aula",), people=people, tokens=tokens)
    return made.tokens


def index_all(app: Flask, embedder: Any) -> None:
    """Analyse, embed and index every stored note with the worker's own code."""
    from workers import jobs

    with app.app_context():
        settings = resources.get().settings
    ctx = Runtime.from_settings(settings, embedder=embedder)
    with db.transaction(ctx.sessions) as s:
        jobs.index_notes(ctx, s.scalars(select(Observation).order_by(Observation.id)).all())


# --------------------------------------------------------------------------- the API, from its spec


@pytest.fixture()
def fuzz_api(settings: Settings, database_url: str, one_model: Any) -> tuple[Flask, str]:
    """The app on SQLite or PostgreSQL with a few analysed notes, and a leader's token."""
    # No rate limit: the fuzzer sends hundreds of requests a minute with one token.
    app = create_app(
        dataclasses.replace(settings, database_url=database_url, max_note_chars=MAX_CHARS, api_rate_limit=0)
    )
    app.config["TESTING"] = True
    assert app.test_client().get("/api/v1/openapi.json").get_json() == openapi.openapi_spec(MAX_CHARS)
    keys = seed_org(app)
    with app.test_request_context():
        s = resources.session()
        for text in ("Hissi on rikki.", "Ruoka oli kylmää <b>taas</b>.", "The lift is broken again."):
            draft = intake.Draft(text=text, source=Source.CUSTOMER, unit="koivukoti", day=dt.date(2026, 3, 1))
            intake.store(s, draft, resources.get().redactor(), max_chars=MAX_CHARS)
        s.commit()
    index_all(app, one_model)
    return app, keys["leader"]


# The description the app serves (the fixture checks they are equal), loaded at import so that
# pytest collects one test per operation.
schema = schemathesis.openapi.from_dict(
    openapi.openapi_spec(MAX_CHARS),
    config=schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {"mode": "all", "max-examples": 80, "deterministic": True, "database": "none"},
            "phases": {"stateful": {"enabled": False}},
        }
    ),
)


@schema.parametrize()
@hyp_settings(deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_api_fuzzed_from_its_openapi_description(case: Any, fuzz_api: tuple[Flask, str]) -> None:
    """Valid and invalid requests of every operation: no 500, and every answer as documented."""
    app, token = fuzz_api
    response = case.call_and_validate(
        app=app,
        headers={"Authorization": f"Bearer {token}", **EN},
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_headers_conformance,
            response_schema_conformance,
        ],
    )
    event(f"{case.method} {response.status_code}")


def test_ids_and_characters_the_database_cannot_take_are_client_errors(
    fuzz_api: tuple[Flask, str],
) -> None:
    """PostgreSQL refuses NUL and ids beyond INTEGER in a query (these were 500s there)."""
    app, token = fuzz_api
    client = app.test_client()
    bearer = {"Authorization": f"Bearer {token}", **EN}
    with app.test_request_context():
        note = resources.session().scalar(select(Observation.public_id).limit(1))
    for path, status in [
        ("/api/v1/observations/99999999999", 404),
        ("/api/v1/observations/99999999999/similar", 404),
        ("/api/v1/observations/1%00", 404),
        ("/api/v1/observations?limit=" + "9" * 5000, 400),
        (f"/api/v1/observations/{note}/similar?k=" + "9" * 5000, 400),
        ("/api/v1/search?q=ruoka&unit=%00", 400),
        ("/api/v1/search?q=ruoka&touchpoint=a%00", 400),
        ("/api/v1/search?q=ruoka&theme=99999999999", 400),
        ("/t/%00", 404),
        ("/t/a%00b/qr.svg", 404),
        ("/receipt?code=%00", 400),
    ]:
        resp = client.get(path, headers=bearer)
        assert resp.status_code == status, (path, resp.get_data(as_text=True)[:200])
        if path.startswith("/api/"):
            assert resp.get_json()["error"], path
    form = {"X-CSRFToken": csrf_token(client, "/t/aula")}
    draft = {"text": "Ruoka oli kylmää taas, ihan kylmää", "touchpoint": "aula"}
    assert client.post("/search/similar-draft", json=draft, headers=form).status_code == 200
    bad_text = {**draft, "text": "kylmää \ud800 " * 3}  # valid JSON, not storable text
    surrogate = client.post("/search/similar-draft", json=bad_text, headers=form)
    assert surrogate.status_code == 400
    nul = client.post("/search/similar-draft", json={**draft, "touchpoint": "a\x00"}, headers=form)
    assert nul.status_code == 404
    token_form = csrf_token(client, "/login")
    bad_login = client.post("/login", data={"username": "a\x00b", "password": "x", "csrf_token": token_form})
    assert bad_login.status_code == 401
    login(client, "johtaja", PASSWORD)
    for path in ("/notes/99999999999", "/triage/notes/99999999999", "/themes/99999999999",
                 "/triage/themes/99999999999"):  # fmt: skip
        assert client.get(path).status_code == 404, path
    for path in ("/triage/?unit=%00", "/search?q=ruoka&unit=%00"):
        assert client.get(path).status_code == 400, path
    for query in ("theme=²", "page=²"):  # digits int() cannot read
        assert client.get(f"/triage/?{query}").status_code == 200, query
    # Form fields no check reads: stored where the database can, a 400 (not a 500) where it cannot.
    with app.test_request_context():
        s = resources.session()
        theme = Theme(label="hissi")
        s.add(theme)
        s.commit()
        page = f"/themes/{theme.id}"
    named = client.post(f"{page}/name", data={"name": "a\x00b", "csrf_token": csrf_token(client, page)})
    assert named.status_code in (303, 400)
    for action, field in (("merge", "into"), ("move", "to")):  # a theme id int() cannot read
        form = {field: "²", "notes": "x", "csrf_token": csrf_token(client, page)}
        sent = client.post(f"{page}/{action}", data=form)
        assert sent.status_code == 400, action
    public = app.test_client()
    form = {"text": "Hissi on rikki.", "role": "customer", "wants_answer": "on",
            "contact": "a\x00b@example.fi", "csrf_token": csrf_token(public, "/t/aula")}  # fmt: skip
    assert public.post("/t/aula", data=form).status_code == 201


# --------------------------------------------------------------------------- hostile text

SPECIAL = [
    "\u202e", "\u202d", "\u200f", "\u200e", "\u2066", "\u2069", "\u200b", "\u200d", "\ufeff", "\u0301",
    "\u0308", "\u20dd", "🙂", "👩‍👩‍👧", "🇫🇮", "\U0001d54f", "\x00", "\x07", "\x1b", "\t", "\n", "\r",
    "\u2028", "\u0085", "\xa0", "<", ">", "&", '"', "'", "[", "]", "[NIMI]", "[PHONE]", "@", "+358", "-",
    "ä", "Ö", "ß", "İ", "ﬁ", "Å", "ǅ", "\u0345", "𐐷", "ﷺ", "\u3000", "١٢٣", "²",
]  # fmt: skip
WORDS = ["Matti", "Virtanen", "Hämeenkatu", "ruoka", "kylmää", "the", "meal", "Mr", "Smith", "asukas",
         "soitti", "<script>alert(1)</script>", "Liisa-mummo", "FI21"]  # fmt: skip
SURROGATE = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
TOKEN = st.one_of(
    st.text(max_size=12),
    st.sampled_from(SPECIAL),
    st.sampled_from(WORDS),
    st.characters(codec="utf-8").map(lambda ch: ch * 300),  # a very long token
)


def texts(token: st.SearchStrategy[str] = TOKEN, max_tokens: int = 25) -> st.SearchStrategy[str]:
    """Tokens joined by nothing, spaces or line breaks."""
    return st.tuples(st.lists(token, max_size=max_tokens), st.sampled_from(["", " ", "\n", " \u200b"])).map(
        lambda parts: parts[1].join(parts[0])
    )


HOSTILE = texts(st.one_of(TOKEN, SURROGATE))


@st.composite
def hetus(draw: st.DrawFn) -> str:
    day = draw(st.dates(dt.date(1800, 1, 1), dt.date(2099, 12, 31)))
    sign = draw(st.sampled_from("+" if day.year < 1900 else "-YXWVU" if day.year < 2000 else "ABCDEF"))
    birth = f"{day:%d%m}{day.year % 100:02d}"
    individual = f"{draw(st.integers(2, 899)):03d}"
    return f"{birth}{sign}{individual}{_HETU_CHECK[int(birth + individual) % 31]}"


BBAN = {"FI": r"[0-9]{14}", "DE": r"[0-9]{18}", "GB": r"[A-Z]{4}[0-9]{14}"}


@st.composite
def ibans(draw: st.DrawFn) -> str:
    country = draw(st.sampled_from(sorted(BBAN)))
    bban = draw(st.from_regex(BBAN[country], fullmatch=True))
    check = 98 - int("".join(str(int(ch, 36)) for ch in bban + country + "00")) % 97
    compact = f"{country}{check:02d}{bban}"
    if draw(st.booleans()):
        return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))
    return compact


@st.composite
def phones(draw: st.DrawFn) -> str:
    prefix = draw(st.sampled_from(["040", "041", "044", "045", "046", "050"]))
    digits = draw(st.from_regex(r"[0-9]{7}", fullmatch=True))
    return draw(
        st.sampled_from(
            [
                f"{prefix} {digits[:3]} {digits[3:]}",
                f"{prefix}{digits}",
                f"{prefix}-{digits}",
                f"+358 {prefix[1:]} {digits}",
                f"+358{prefix[1:]}{digits}",
            ]
        )
    )


EMAILS = st.builds(
    "{}@{}.{}".format,
    st.from_regex(r"[a-z][a-z0-9._+-]{0,15}", fullmatch=True),
    st.from_regex(r"[a-z][a-z0-9-]{0,10}[a-z0-9]", fullmatch=True),
    st.sampled_from(["fi", "com", "org", "info"]),
)
PLANTED = st.one_of(hetus(), ibans(), phones(), EMAILS)
SEPARATOR = st.sampled_from([" ", "\n", " (", ") ", ": ", " – "])


@pytest.fixture(scope="module")
def redactor() -> Redactor:
    r = Redactor()
    r.redact("Lämmin kiitos Matille.", "fi")  # loads both pipelines once
    r.redact("Thank you, Emily.", "en")
    return r


@FUZZ
@given(text=HOSTILE)
@example(text="a" * 5000)
@example(text="\ud800\udfff\ud83d")
@example(text="\u202eMatti Virtanen\u202c soitti 040 123 4567")
def test_redaction_never_crashes_and_is_idempotent(redactor: Redactor, text: str) -> None:
    first = redactor.redact(text)
    assert sum(first.found.values()) == len(MARKER.findall(first.text)) - len(MARKER.findall(text))
    for lang in ("fi", "en"):
        once = redactor.redact(text, lang).text
        assert redactor.redact(once, lang).text == once, (text, once)


@FUZZ
@given(before=texts(), sep=SEPARATOR, secret=PLANTED, after=texts())
@example(before="Soita", sep=" ", secret="040 123 4567", after="100 kertaa")
@example(before="AA01", sep=" ", secret="DE36000000000000000000", after="")  # a code-like word first
def test_planted_personal_data_never_survives_redaction(
    redactor: Redactor, before: str, sep: str, secret: str, after: str
) -> None:
    text = f"{before} {secret}{sep}{after}"
    result = redactor.redact(text)
    assert secret not in result.text, (text, result.text)
    assert result.found, text


@FUZZ
@given(text=HOSTILE)
def test_language_and_linguistics_never_crash(text: str) -> None:
    guess = detect(text)
    assert guess.code in ("fi", "en", "und") and 0.0 <= guess.confidence <= 1.0
    for lang in (guess.code, "fi", "en"):
        (analysis,) = analyze([text], [lang])
        assert all(lemma and lemma == lemma.lower() for lemma in analysis.lemmas)
        assert set(analysis.keywords) <= set(analysis.lemmas)
        assert all(0 <= e.start <= e.end <= len(text) for e in analysis.entities)


@pytest.fixture(scope="module")
def tone_model(embedder: Any) -> ToneModel:
    return ToneModel.load(TONE_MODEL_DIR, model_id=embedder.model_id)


# Stored notes cannot hold lone surrogates (the API and forms refuse them), so the embedder never
# sees one: the strategy leaves them out.
@pytest.mark.slow  # loads the real embedder and tone model
@hyp_settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(batch=st.lists(texts(max_tokens=15), min_size=1, max_size=6))
def test_embedding_and_tone_never_crash(embedder: Any, tone_model: ToneModel, batch: list[str]) -> None:
    vectors = embedder.embed(batch, kind="passage")
    assert vectors.shape == (len(batch), embedder.dimension) and np.isfinite(vectors).all()
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)
    for tone in tone_model.predict(vectors):
        assert tone.label in CLASSES and 0.0 <= tone.confidence <= 1.0


# --------------------------------------------------------------------------- hostile notes end to end

PAYLOADS = [
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "{{7*7}}",
    "{% if 1 %}jinja{% endif %}",
    "'><svg/onload=alert(1)>",
    "</textarea><script>alert(2)</script>",
    "<mark>fake</mark>",
    "&lt;b&gt;already escaped&lt;/b&gt;",
    "javascript:alert(1)",
]
# What a payload would leave in a page if it were not escaped.
UNESCAPED = [p for p in PAYLOADS if "<" in p or '"' in p] + ["&lt;b&gt;already"]


def hostile_notes() -> list[str]:
    """A few dozen notes no form expects: payloads, scripts, marks, emoji, very long words."""
    notes = [f"Ruoka oli kylmää {p} taas, script alert." for p in PAYLOADS]
    notes += [
        "🙂" * 40, "\u202eMatti Virtanen soitti\u202c", "e\u0301" * 400, "[NIMI] [PUHELIN] [SÄHKÖPOSTI]",
        "x" * 5000, "a" * 4000 + " ruoka " + "b" * 900, "0" * 300, "١٢٣ ٤٥٦ ٧٨٩", "食べ物が冷たかった。",
        "Еда была холодной.", "खाना ठंडा था", "Maten var kall igen.", "\u200b\u200d\ufeffhei\u2060",
        "Z̴̡̢̛̛̖̗a̶l̷g̸o̵ " * 20, ("<" * 250 + " ") * 2, ("&amp;" * 50 + " ") * 6, "\t\n\r\u2028\u2029 piha \u3000",
        "Soita 040 123 4567 100 kertaa, hetu 131052-308T, matti@example.fi",
    ]  # fmt: skip
    rng = random.Random(SEED)
    blocks = [(0x20, 0x7E), (0xA0, 0x24F), (0x370, 0x52F), (0x590, 0x6FF), (0x900, 0x97F), (0x1F300, 0x1FAFF),
              (0x2000, 0x206F), (0x3040, 0x30FF), (0x4E00, 0x4FFF), (0xFE00, 0xFE0F)]  # fmt: skip
    for _ in range(14):
        chars = [chr(rng.randint(*rng.choice(blocks))) for _ in range(rng.randint(1, 400))]
        notes.append("".join(chars).replace("\x7f", "") + " kylmä")
    return notes


class Tags(HTMLParser):
    """Every tag and attribute of a page, to find markup that came from a note's text."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, dict(attrs)))


def assert_escaped(page: str, where: str) -> None:
    for raw in UNESCAPED:
        assert raw not in page, (where, raw)
    parser = Tags()
    parser.feed(page)
    for tag, attrs in parser.found:
        # Two pictures are drawn as SVG on the server, their text escaped: the report's charts
        # (report/_charts.html) and the dashboard's signal map (dashboard/_signal_map.html).
        chart = (attrs.get("class") in ("chart", "chart small") and attrs.get("role") == "img"
                 or attrs.get("class") == "signal-map" and attrs.get("role") == "group")
        assert tag not in ("img", "svg", "iframe") or tag == "svg" and chart, (where, tag, attrs)
        assert not any(name.startswith("on") for name in attrs), (where, tag, attrs)
        if tag == "script":
            assert attrs.get("src") or attrs.get("type") == "application/json", (where, attrs)


@pytest.fixture(scope="module")
def hostile(
    tmp_path_factory: pytest.TempPathFactory, redis_srv: ChildServer, chroma_srv: ChildServer, one_model: Any
) -> Iterator[dict[str, Any]]:
    """Hostile notes written through the public form, the staff form and the API, then processed
    by the real job code in an rq SimpleWorker (its own Redis database, so no other test's jobs)."""
    from workers import jobs

    tmp = tmp_path_factory.mktemp("hostile")
    url = f"sqlite:///{tmp / 'hostile.db'}"
    db.upgrade(url)
    settings = make_settings(
        tmp,
        database_url=url,
        redis_url=redis_db(redis_srv.url, 5),
        chroma_url=chroma_srv.url,
        chroma_collection=f"hostile_{uuid.uuid4().hex[:8]}",
    )
    app = create_app(settings)
    app.config["TESTING"] = True
    keys = seed_org(app)
    conn = queue.connect(settings.redis_url)
    conn.flushdb()
    out = write_hostile_notes(app, keys)
    with pytest.MonkeyPatch.context() as mp:
        env = {"DATA_DIR": str(tmp), "DATABASE_URL": url, "REDIS_URL": settings.redis_url,
               "CHROMA_URL": chroma_srv.url, "CHROMA_COLLECTION": settings.chroma_collection}  # fmt: skip
        for key, value in env.items():
            mp.setenv(f"HILJAINEN_{key}", value)
        jobs.runtime.cache_clear()
        try:
            worker = SimpleWorker([queue.queue(conn)], connection=conn)
            worker.work(burst=True)
            out["failed"] = FailedJobRegistry(queue=queue.queue(conn)).get_job_ids()
            jobs.refresh_themes()  # as of the deployment's today, as the worker's timer runs it
        finally:
            jobs.runtime.cache_clear()
    out.update(app=app, settings=settings)
    yield out
    conn.flushdb()


def write_hostile_notes(app: Flask, keys: dict[str, str]) -> dict[str, Any]:
    """Each note by each way in; returns their ids, the public writers' receipt codes and clients.
    A note with a stretch longer than intake.MAX_UNBROKEN without a space is refused, kept in the
    form, and stores nothing."""
    notes, unbroken = [], []
    for text in hostile_notes():
        try:
            intake.clean_text(text, 5000)
            notes.append(text)
        except intake.InvalidInput:
            unbroken.append(text)
    assert len(unbroken) >= 3, "the list still tries very long words"
    for text in unbroken:
        client = app.test_client()
        form = {"text": text, "csrf_token": csrf_token(client, "/t/aula"), "role": "customer"}
        resp = client.post("/t/aula", data=form, headers=EN)
        assert resp.status_code == 400 and "without a space" in resp.get_data(as_text=True)
    ids: list[int] = []
    receipts: list[str] = []
    public = app.test_client()
    staff = app.test_client()
    login(staff, "hoitaja", PASSWORD)
    bearer = {"Authorization": f"Bearer {keys['leader']}", **EN}
    for i, text in enumerate(notes):
        way = i % 3
        if way == 0:
            resp = app.test_client().post(
                "/api/v1/observations",
                json={"text": text, "source": "staff", "unit": "koivukoti", "tags": PAYLOADS[:3]},
                headers=bearer,
            )
            assert resp.status_code == 201, resp.get_json()
            ids.append(resp.get_json()["id"])
            continue
        client, path = (public, "/t/aula") if way == 1 else (staff, "/note")
        form = {"text": text, "csrf_token": csrf_token(client, path), "role": "customer",
                "tags": ",".join(PAYLOADS[:3]), "wants_answer": "on", "contact": PAYLOADS[0]}  # fmt: skip
        resp = client.post(path, data=form, headers=EN)
        assert resp.status_code == 201, (path, text[:40], resp.get_data(as_text=True)[:300])
        page = resp.get_data(as_text=True)
        assert_escaped(page, f"sent {path}")
        receipt = re.search(r'id="receipt">([A-Z0-9-]+)<', page)
        assert receipt
        receipts.append(receipt.group(1))
    with app.test_request_context():
        s = resources.session()
        ids = sorted(s.scalars(select(Observation.id)))
        assert len(ids) == len(notes)
        public_ids = dict(s.execute(select(Observation.id, Observation.public_id)).tuples().all())
    return {"ids": ids, "public_ids": public_ids, "receipts": receipts, "staff": staff, "notes": notes}


@pytest.mark.slow  # the worker's jobs with every real model
def test_every_hostile_note_is_processed_by_the_worker(hostile: dict[str, Any]) -> None:
    assert hostile["failed"] == []
    with hostile["app"].test_request_context():
        rows = resources.session().scalars(select(Observation)).all()
    assert len(rows) == len(hostile["notes"]) >= 36
    for row in rows:
        assert row.processed_at is not None and row.lang in ("fi", "en", "und"), row.text[:60]
        assert row.vector_model and row.tone in (*CLASSES, None)
    stored = {r.text for r in rows}
    for payload in PAYLOADS:  # stored as typed: escaping is the pages' job, not intake's
        assert any(payload in t for t in stored), payload
    assert "040 123 4567" not in "".join(stored) and "131052-308T" not in "".join(stored)


def test_no_page_shows_a_note_unescaped(hostile: dict[str, Any]) -> None:
    app: Flask = hostile["app"]
    ids: list[int] = hostile["ids"]
    payload_ids = ids[: len(PAYLOADS)]
    leader = app.test_client()
    login(leader, "johtaja", PASSWORD)
    with app.test_request_context():
        s = resources.session()
        theme = Theme(label=PAYLOADS[1])
        s.add(theme)
        s.flush()
        for note_id in payload_ids:
            s.get(Observation, note_id).theme_id = theme.id
        s.commit()
        theme_id = theme.id

    def post(client: FlaskClient, path: str, page: str, **data: str) -> None:
        resp = client.post(path, data={**data, "csrf_token": csrf_token(client, page)})
        assert resp.status_code in (200, 201, 302, 303), (path, resp.status_code)

    public_ids: dict[int, str] = hostile["public_ids"]  # what pages name the notes by
    for note_id in payload_ids[:3]:
        note_page = f"/triage/notes/{public_ids[note_id]}"
        post(leader, f"{note_page}/answer", note_page, body=f"Vastaus {PAYLOADS[0]} {PAYLOADS[1]}")
        post(leader, f"{note_page}/action", note_page, body=f"Teimme {PAYLOADS[5]}", close="on")
    post(leader, f"/themes/{theme_id}/name", f"/themes/{theme_id}", name=PAYLOADS[1])
    post(leader, f"/themes/{theme_id}/interpretation", f"/themes/{theme_id}",
         meaning=PAYLOADS[0], decision=PAYLOADS[4], owner=PAYLOADS[1])  # fmt: skip
    public = app.test_client()
    for code in hostile["receipts"][:2]:
        post(public, "/receipt", f"/receipt?code={code}", code=code, reply=f"Kiitos {PAYLOADS[0]}")

    pages = [f"/notes/{public_ids[i]}" for i in ids] + [f"/triage/notes/{public_ids[i]}" for i in ids]
    pages += ["/triage/", "/triage/?page=2", f"/triage/themes/{theme_id}", f"/themes/{theme_id}",
              "/dashboard/", "/report/",
              "/search?q=script+alert", "/search?q=img+onerror", "/search?q=kylmää+ruoka",
              "/search?q=mark", "/search?q=jinja", "/search?q=b+escaped",
              "/search?" + urlencode({"q": PAYLOADS[1]}),
              "/search?" + urlencode({"q": "ruoka", "unit": PAYLOADS[0]}),
              f"/themes/{theme_id}?" + urlencode({"error": PAYLOADS[0]})]  # fmt: skip
    seen = ""
    for path in pages:
        resp = leader.get(path, headers=EN)
        assert resp.status_code in (200, 400), (path, resp.status_code)
        page = resp.get_data(as_text=True)
        assert_escaped(page, path)
        seen += page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in seen and "{{7*7}}" in seen
    assert "&amp;lt;b&amp;gt;already escaped" in seen
    assert re.search(r"&lt;<mark>script</mark>&gt;", seen), "a highlight inside a payload, escaped"
    for path in ["/my", "/search?q=script+alert"] + [f"/notes/{public_ids[i]}" for i in ids[2::3]]:
        resp = hostile["staff"].get(path, headers=EN)
        assert resp.status_code == 200, path
        assert_escaped(resp.get_data(as_text=True), f"staff {path}")
    for code in hostile["receipts"]:
        resp = public.get(f"/receipt?code={code}", headers=EN)
        assert resp.status_code == 200
        assert_escaped(resp.get_data(as_text=True), "receipt")
    # Forms shown again after an error keep the typed text, escaped.
    for client, path in ((public, "/t/aula"), (hostile["staff"], "/note")):
        form = {"text": f"{PAYLOADS[5]} \x07", "csrf_token": csrf_token(client, path), "role": "customer"}
        resp = client.post(path, data=form, headers=EN)
        assert resp.status_code == 400
        assert_escaped(resp.get_data(as_text=True), f"error {path}")
        assert "&lt;/textarea&gt;&lt;script&gt;" in resp.get_data(as_text=True)
    # As-you-type suggestions are JSON for similar.js, which inserts them as text.
    draft = hostile["staff"].post(
        "/search/similar-draft",
        json={"text": f"Ruoka oli kylmää {PAYLOADS[0]} taas"},
        headers={"X-CSRFToken": csrf_token(hostile["staff"], "/note")},
    )
    assert draft.status_code == 200 and draft.mimetype == "application/json"
    assert draft.headers["X-Content-Type-Options"] == "nosniff"


def test_scripts_insert_text_never_html() -> None:
    """similar.js and the charts put server text into the page as text (textContent), never as HTML."""
    scripts = (Path(__file__).resolve().parents[2] / "hiljainen" / "static").glob("*.js")
    for path in scripts:
        source = path.read_text(encoding="utf-8")
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write"):
            assert sink not in source, (path.name, sink)
