"""Similarity search: fusion and highlights (pure), then the pages, suggestions, "me too" and the API
against the real models, a real Chroma server and real Redis."""

from __future__ import annotations

import datetime as dt
import math
import random
import re
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from hiljainen import accounts, create_app, db, intake, resources, tokens
from hiljainen.models import Observation, Role, Source, Theme, Touchpoint, Unit, Voice
from hiljainen.pipeline import centres, fusion
from hiljainen.pipeline.fusion import LemmaIndex, NoteKey, QueryToken, TermGroup
from hiljainen.runtime import Runtime
from hiljainen.search import engine, sql
from hiljainen.search.sql import Filters
from hiljainen.services import ChildServer, free_port
from tests.conftest import csrf_token, login, make_settings

# --------------------------------------------------------------------------- pure: fusion


def test_rrf_adds_reciprocal_ranks_and_keeps_semantic_order_on_ties() -> None:
    fused = fusion.fuse({"semantic": [1, 2, 3], "keyword": [3, 4]})
    score = {f.id: f.score for f in fused}
    assert score[3] == pytest.approx(1 / 63 + 1 / 61)
    assert [f.id for f in fused][:2] == [3, 1]  # found by both beats first in one
    assert fused[1].ranks == {"semantic": 1}
    # 4 (keyword rank 2) and 2 (semantic rank 2) tie: semantic came first
    assert [f.id for f in fused][2:] == [2, 4]


def test_rrf_weights_and_repeated_ids() -> None:
    fused = fusion.fuse({"semantic": [1, 1, 2], "keyword": [2]}, weights={"semantic": 1.0, "keyword": 3.0})
    assert fused[0].id == 2 and fused[0].ranks == {"semantic": 3, "keyword": 1}
    assert fusion.fuse({}) == []


def _tokens(text: str, spec: list[tuple[str, str, str, bool]]) -> list[QueryToken]:
    out, at = [], 0
    for word, lemma, pos, stop in spec:
        at = text.index(word, at)
        out.append(QueryToken(at, word, lemma, pos, stop))
        at += len(word)
    return out


def test_query_terms_drop_function_words_and_merge_lemmas_of_both_languages() -> None:
    text = "Ruoka oli kylmää"
    fi = _tokens(
        text,
        [("Ruoka", "ruoka", "NOUN", False), ("oli", "olla", "AUX", True), ("kylmää", "kylmä", "ADJ", False)],
    )
    en = _tokens(
        text,
        [("Ruoka", "ruoka", "PROPN", False), ("oli", "oli", "X", False), ("kylmää", "kylmää", "X", False)],
    )
    groups = fusion.query_terms(text, [fi, en])
    assert [g.word for g in groups] == ["ruoka", "kylmää"]
    assert groups[1].forms == {"kylmää", "kylmä"}
    assert groups[1].prefixes == {"kylm"}


def test_only_function_words_give_no_groups_but_content_stop_words_stay() -> None:
    text = "ja se on"
    fi = _tokens(text, [("ja", "ja", "CCONJ", True), ("se", "se", "PRON", True), ("on", "olla", "AUX", True)])
    assert fusion.query_terms(text, [fi]) == []
    # "apu" is on spaCy's Finnish stop list, but it is a noun: a real thing to search for
    assert [g.word for g in fusion.query_terms("apu", [[QueryToken(0, "apu", "apu", "NOUN", True)]])] == [
        "apu"
    ]


def _index() -> LemmaIndex:
    index = LemmaIndex()
    index.add(1, ["ruoka", "olla", "kylmä"])
    index.add(2, ["ruoka", "tulla", "myöhään"])
    index.add(3, ["katulamppu", "olla", "rikki", "hämeenkadulla"])
    index.add(4, ["ruoka", "olla", "hyvä", "ruoka"])
    return index


def test_bm25_prefers_rare_terms_and_repeated_terms() -> None:
    index = _index()
    hits = index.search([TermGroup("ruoka", frozenset({"ruoka"})), TermGroup("kylmä", frozenset({"kylmä"}))])
    assert hits[0].id == 1  # the rare word decides
    assert {h.id for h in hits} == {1, 2, 4}
    only_food = index.search([TermGroup("ruoka", frozenset({"ruoka"}))])
    assert only_food[0].id == 4  # said twice
    assert index.search([TermGroup("x", frozenset({"lumi"}))]) == []


def test_equal_scores_are_not_ranked_in_the_order_notes_were_written() -> None:
    """Ids follow the order of writing: ties ranked newest first placed an anonymous note between a
    colleague's signed notes. Ties now follow a hash keyed per index, so two indexes of the same
    notes order them differently, and neither by id."""
    orders = []
    for _ in range(20):
        index = LemmaIndex()
        for note_id in range(1, 9):
            index.add(note_id, ["kvarglo", "lamppu"])
        orders.append(tuple(h.id for h in index.search([TermGroup("kvarglo", frozenset({"kvarglo"}))])))
    assert all(sorted(order) == list(range(1, 9)) for order in orders)
    assert len(set(orders)) > 1, "the order depends on the index's key, not on the ids"


def test_prefix_matches_inflected_names_at_half_weight() -> None:
    index = _index()
    group = TermGroup("hämeenkatu", frozenset({"hämeenkatu"}), frozenset({fusion.prefix_of("hämeenkatu")}))
    assert fusion.prefix_of("hämeenkatu") == "hämeenka" and fusion.prefix_of("ruoka") is None
    assert [h.id for h in index.search([group])] == [3]
    assert index.expand(group) == {"hämeenkadulla": fusion.PREFIX_WEIGHT}


def test_index_notices_changed_lemmas_and_ignores_repeats() -> None:
    index = _index()
    index.add(1, ["ruoka", "olla", "kylmä"])
    assert not index.stale and len(index) == 4
    index.add(1, ["ateria"])
    assert index.stale


def test_highlights_follow_lemmas_skip_markers_and_survive_misalignment() -> None:
    text = "Ruoka oli kylmää, sanoi [NIMI]. Kylmä ruoka!"
    lemmas = ["ruoka", "olla", "kylmä", "sanoa", "kylmä", "ruoka"]
    spans = fusion.highlight_spans(text, lemmas, frozenset({"kylmä"}))
    assert [text[s:e] for s, e in spans] == ["kylmää", "Kylmä"]
    # one lemma fewer than words (a tokeniser difference): still aligned by first letters
    spans = fusion.highlight_spans(text, lemmas[:3] + lemmas[4:], frozenset({"kylmä"}))
    assert [text[s:e] for s, e in spans] == ["kylmää", "Kylmä"]
    assert fusion.highlight_spans("[NIMI] soitti", [], frozenset({"nimi"})) == []


def test_segments_cut_text_into_marked_and_plain_pieces() -> None:
    text = "a <b> c"
    parts = fusion.segments(text, [(2, 5)])
    assert parts == [("a ", False), ("<b>", True), (" c", False)]
    assert "".join(p for p, _ in parts) == text
    long = "alku " * 100 + "kylmä loppu"
    window = fusion.snippet_window(long, [(500, 505)], width=100)
    assert window[0] > 0 and long[window[0] : window[1]].find("kylmä") >= 0


# --------------------------------------------------------------------------- pure: duplicates

DAY = dt.date(2026, 3, 2)


def _key(i: int, text: str, author: int | None = None, day: dt.date = DAY, **kw: object) -> NoteKey:
    return NoteKey(i, text, day, kw.pop("source", "staff"), author, kw.pop("unit", 1), None, **kw)  # type: ignore[arg-type]


def test_same_writer_resending_is_a_duplicate_two_writers_never() -> None:
    note = _key(5, "Ruoka oli kylmää taas.", author=7)
    assert fusion.duplicate_of(note, [(_key(3, "ruoka oli kylmää taas", author=7), 0.99)]) == 3
    assert fusion.duplicate_of(note, [(_key(3, "Ateria tuli myöhässä.", author=7), 0.99)]) == 3
    assert fusion.duplicate_of(note, [(_key(3, "Ateria tuli myöhässä.", author=7), 0.95)]) is None
    assert fusion.duplicate_of(note, [(_key(3, "Ruoka oli kylmää taas.", author=8), 1.0)]) is None
    # a week later the same words are a new event, not a resend
    later = _key(6, "Ruoka oli kylmää taas.", author=7, day=DAY + dt.timedelta(days=7))
    assert fusion.duplicate_of(later, [(_key(3, "Ruoka oli kylmää taas.", author=7), 1.0)]) is None


def test_unknown_writers_need_the_same_long_text_at_the_same_place() -> None:
    text = "Kuljetus tuli tunnin myöhässä kolmatta kertaa."
    note = _key(9, text)
    assert fusion.duplicate_of(note, [(_key(4, text.upper()), 1.0)]) == 4
    assert fusion.duplicate_of(note, [(_key(4, text, unit=2), 1.0)]) is None
    assert fusion.duplicate_of(note, [(_key(4, text, source="customer"), 1.0)]) is None
    assert fusion.duplicate_of(_key(9, "Kiitos!"), [(_key(4, "Kiitos!"), 1.0)]) is None
    # chains point at the first original; later notes are never originals
    assert fusion.duplicate_of(note, [(_key(4, text, duplicate_of=2), 1.0)]) == 2
    assert fusion.duplicate_of(note, [(_key(12, text), 1.0)]) is None


# --------------------------------------------------------------------------- the service

PASSWORD = "salasana-123"
TODAY = dt.date.today()

# (key, text, source, unit, touchpoint, author, days ago, tone)
NOTES: list[tuple[str, str, Source, str | None, str | None, str | None, int, str]] = [
    (
        "cold_fi",
        "Ruoka oli taas kylmää, kun se tuotiin huoneeseen.",
        Source.STAFF,
        "koivukoti",
        None,
        "hoitaja",
        1,
        "negative",
    ),
    (
        "cold_en",
        "The meal arrived cold again and nobody warmed it up.",
        Source.RELATIVE,
        "koivukoti",
        "ruokasali",
        None,
        2,
        "negative",
    ),
    (
        "lamp",
        "Hämeenkadulla katulamppu on rikki ja piha on pimeä.",
        Source.CUSTOMER,
        "vuokra",
        "piha",
        None,
        3,
        "negative",
    ),
    (
        "singing",
        "Asukkaat kiittelivät uutta laulutuokiota ja viriketoimintaa.",
        Source.STAFF,
        "koivukoti",
        None,
        "kollega",
        4,
        "positive",
    ),
    (
        "late_meal",
        "Kotiin kuljetettu ateria myöhästyi tunnilla.",
        Source.CUSTOMER,
        "ateriat",
        None,
        None,
        5,
        "negative",
    ),
    (
        "lift",
        "Hissi on ollut rikki viikon, vanhukset eivät pääse ulos.",
        Source.RELATIVE,
        "vuokra",
        "piha",
        None,
        6,
        "negative",
    ),
    (
        "shifts",
        "Vuorolistat julkaistaan liian myöhään, joten lomien suunnittelu on vaikeaa.",
        Source.STAFF,
        "koivukoti",
        None,
        "kollega",
        10,
        "negative",
    ),
    (
        "phone",
        "Soitin numeroon 040 123 4567, mutta kukaan ei vastannut kylmästä ruoasta.",
        Source.RELATIVE,
        "koivukoti",
        "ruokasali",
        None,
        2,
        "negative",
    ),
    (
        "xss",
        "<script>alert(1)</script> Jälkiruoka oli hyvää <b>tänään</b>.",
        Source.CUSTOMER,
        "koivukoti",
        "ruokasali",
        None,
        3,
        "positive",
    ),
    (
        "coffee",
        "Kahvi loppui aulan automaatista jo aamulla.",
        Source.CUSTOMER,
        "koivukoti",
        "ruokasali",
        None,
        1,
        "neutral",
    ),
    (
        "cold_food_rel",
        "Äidin ruoka on usein kylmää, kun se tuodaan huoneeseen.",
        Source.RELATIVE,
        "koivukoti",
        "ruokasali",
        None,
        1,
        "negative",
    ),
    (
        "old_cold",
        "Ruoka tuli kylmänä huoneeseen.",
        Source.RELATIVE,
        "koivukoti",
        "ruokasali",
        None,
        200,
        "negative",
    ),
    (
        "cold_colleague",
        "Ruoka on kylmää, kun se viedään huoneisiin.",
        Source.STAFF,
        "koivukoti",
        None,
        "kollega",
        2,
        "negative",
    ),
    (
        "dup",
        "Ruoka oli taas kylmää, kun se tuotiin huoneeseen.",
        Source.STAFF,
        "koivukoti",
        None,
        "hoitaja",
        1,
        "negative",
    ),
]


def seed(app: Flask, embedder: Any) -> dict[str, Any]:
    """Units, touchpoints, users, a theme and NOTES stored through intake and processed by the worker
    code; returns the notes' public ids (as pages and the API name them) and the theme's id."""
    from workers import jobs

    ids: dict[str, Any] = {}
    with app.test_request_context():
        s = resources.session()
        units = {
            slug: Unit(slug=slug, name_fi=slug.title(), name_en=slug.title())
            for slug in ("koivukoti", "vuokra", "ateriat")
        }
        s.add_all(units.values())
        s.flush()
        s.add_all(
            [
                Touchpoint(
                    slug="ruokasali",
                    name_fi="Ruokasali",
                    name_en="Dining room",
                    unit_id=units["koivukoti"].id,
                ),
                Touchpoint(slug="piha", name_fi="Piha", name_en="Yard", unit_id=units["vuokra"].id),
            ]
        )
        users = {
            "hoitaja": accounts.create_user(s, "hoitaja", PASSWORD, Role.STAFF,
                                            unit_id=units["koivukoti"].id),
            "kollega": accounts.create_user(s, "kollega", PASSWORD, Role.STAFF,
                                            unit_id=units["koivukoti"].id),
            "johtaja": accounts.create_user(s, "johtaja", PASSWORD, Role.LEADER),
        }
        theme = Theme(label="ruoka kylmä")
        s.add(theme)
        s.flush()
        ids["theme"] = theme.id
        redactor = resources.get().redactor()
        for key, text, source, unit, touchpoint, author, ago, _tone in NOTES:
            draft = intake.Draft(
                text=text,
                source=source,
                unit=unit,
                touchpoint=touchpoint,
                author=users[author] if author else None,
                day=TODAY - dt.timedelta(days=ago),
                shareable=True,  # the writers' choice; test_suggestions_need_the_writers_choice
            )
            stored = intake.store(s, draft, redactor, max_chars=5000).observation
            s.flush()
            ids[key] = stored.public_id
        s.commit()
        settings = resources.get().settings
    ctx = Runtime.from_settings(settings, embedder=embedder)
    with db.transaction(ctx.sessions) as s:
        notes = s.scalars(select(Observation).order_by(Observation.id)).all()
        jobs.index_notes(ctx, notes)
        tones = {ids[key]: tone for key, *_rest, tone in NOTES}
        for n in notes:
            n.tone = tones[n.public_id]
            if n.public_id in (ids["cold_fi"], ids["cold_en"], ids["cold_food_rel"]):
                n.theme_id = ids["theme"]
    return ids


@pytest.fixture()
def seeded(app: Flask, one_model: Any) -> tuple[Flask, dict[str, Any]]:
    return app, seed(app, one_model)


def logged_in(app: Flask, username: str) -> FlaskClient:
    client = app.test_client()
    login(client, username, PASSWORD)
    return client


def result_ids(page: str) -> list[str]:
    return re.findall(r'href="/notes/([a-z0-9]+)">', page)


def public_ids(app: Flask) -> dict[int, str]:
    """Internal id -> public id of every note, for rows that hold internal ids (voices, links)."""
    with app.app_context():
        return dict(resources.session().execute(select(Observation.id, Observation.public_id)).tuples().all())


def get(client: FlaskClient, **args: str) -> tuple[int, str]:
    resp = client.get("/search", query_string=args, headers={"Accept-Language": "en"})
    return resp.status_code, resp.get_data(as_text=True)


# --------------------------------------------------------------------------- search page


def test_search_finds_by_meaning_across_languages(seeded: tuple[Flask, dict[str, Any]]) -> None:
    app, ids = seeded
    client = logged_in(app, "johtaja")
    status, page = get(client, q="kylmä ruoka")
    assert status == 200
    found = result_ids(page)
    unrelated = [ids[k] for k in ("lamp", "lift", "singing", "shifts", "coffee")]

    def rank(note_id: str) -> float:  # a note below the relevance floor is not listed at all
        return found.index(note_id) if note_id in found else math.inf

    # the English note about a cold meal comes before every note about something else
    assert rank(ids["cold_en"]) < min(rank(i) for i in unrelated)
    assert ids["dup"] not in found  # duplicates are linked, not listed twice
    status, page = get(client, q="the meal arrived cold")
    found = result_ids(page)
    assert max(rank(ids[k]) for k in ("cold_fi", "old_cold")) < min(rank(i) for i in unrelated)


def test_nonsense_finds_nothing_rather_than_the_nearest_notes(seeded: tuple[Flask, dict[str, Any]]) -> None:
    # Every query has nearest notes; below the similarity floor they are not matches.
    app, _ids = seeded
    status, page = get(logged_in(app, "johtaja"), q="xyzzy qwerty")
    assert status == 200 and result_ids(page) == [] and "Nothing was found" in page


def test_exact_terms_are_found_and_highlighted(seeded: tuple[Flask, dict[str, Any]]) -> None:
    app, ids = seeded
    client = logged_in(app, "johtaja")
    status, page = get(client, q="Hämeenkatu")
    assert status == 200 and result_ids(page)[0] == ids["lamp"]
    assert "<mark>Hämeenkadulla</mark>" in page
    status, page = get(client, q="kylmää ruokaa")
    assert "<mark>kylmää</mark>" in page and "<mark>Ruoka</mark>" in page


def test_note_text_is_escaped_in_results(seeded: tuple[Flask, dict[str, Any]]) -> None:
    app, ids = seeded
    status, page = get(logged_in(app, "johtaja"), q="jälkiruoka hyvää")
    assert status == 200 and ids["xss"] in result_ids(page)
    assert "<script>alert" not in page and "<b>tänään" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_a_query_that_means_something_lists_its_near_misses_too() -> None:
    # Notes in the other language sit just under the query floor: listed once the query's best
    # note clears it, and never for a query whose best note does not.
    from hiljainen.stores.vectors import Hit

    floor, keep = engine.SEARCH_MIN_SIMILARITY, engine.SEARCH_KEEP_SIMILARITY
    below_floor = (floor + keep) / 2
    hits = [Hit(1, floor + 0.03), Hit(2, below_floor), Hit(3, keep - 0.005)]
    assert [h.id for h in engine.meaningful(hits)] == [1, 2]
    assert engine.meaningful([Hit(2, below_floor), Hit(3, keep + 0.001)]) == []
    assert engine.meaningful([]) == []


@pytest.mark.parametrize(
    "plan", [(300, 3000), (0, 10**6), (0, 0)], ids=["exact", "index-filter", "sql-post-filter"]
)
def test_filters_narrow_results(
    seeded: tuple[Flask, dict[str, Any]], plan: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # every retrieval plan of semantic_hits must honour every filter (relevance is not tested
    # here: without the floor each filter leaves notes to check)
    monkeypatch.setattr(engine, "EXACT_MAX", plan[0])
    monkeypatch.setattr(engine, "WHERE_MAX", plan[1])
    monkeypatch.setattr(engine, "SEARCH_MIN_SIMILARITY", -1.0)
    app, ids = seeded
    client = logged_in(app, "johtaja")
    with app.app_context():
        rows = {o.public_id: o for o in resources.session().scalars(select(Observation))}
    cases: list[tuple[dict[str, str], Any]] = [
        ({"unit": "vuokra"}, lambda o: o.unit_id == rows[ids["lamp"]].unit_id),
        ({"source": "relative"}, lambda o: o.source == Source.RELATIVE),
        ({"note_lang": "en"}, lambda o: o.lang == "en"),
        ({"tone": "positive"}, lambda o: o.tone == "positive"),
        ({"theme": str(ids["theme"])}, lambda o: o.theme_id == ids["theme"]),
        ({"touchpoint": "ruokasali"}, lambda o: o.touchpoint_id == rows[ids["cold_en"]].touchpoint_id),
        (
            {"from": (TODAY - dt.timedelta(days=3)).isoformat(), "to": TODAY.isoformat()},
            lambda o: o.day >= TODAY - dt.timedelta(days=3),
        ),
    ]
    for args, ok in cases:
        status, page = get(client, q="ruoka kylmä rikki", **args)
        found = result_ids(page)
        assert status == 200 and found, args
        assert all(ok(rows[i]) for i in found), args
        assert ids["dup"] not in found, args


def test_switching_the_interface_language_keeps_the_search_and_filters_nothing(
    seeded: tuple[Flask, dict[str, Any]]
) -> None:
    app, _ids = seeded
    client = logged_in(app, "johtaja")
    status, page = get(client, q="ruoka kylmä rikki")
    found = set(result_ids(page))
    switch = re.search(r'<a href="([^"]+)" lang="fi" class="lang">', page)
    assert status == 200 and found and switch
    url = switch.group(1).replace("&amp;", "&")
    assert "q=ruoka" in url and "lang=fi" in url
    finnish = client.get(url).get_data(as_text=True)
    assert '<html lang="fi">' in finnish and set(result_ids(finnish)) == found, "UI language: no filter"
    # ...and the note-language filter leaves the interface language alone.
    status, page = get(client, q="ruoka kylmä rikki", note_lang="en")
    assert status == 200 and '<html lang="fi">' in client.get("/search").get_data(as_text=True)


def test_bad_input_gets_a_clear_answer(seeded: tuple[Flask, dict[str, Any]]) -> None:
    app, _ids = seeded
    client = logged_in(app, "johtaja")
    cases = {
        "": "Type a word or a sentence",
        "   ": "Type a word or a sentence",
        "x" * 10_000: "the limit is 500",
        "ja se on": "only very common words",
        "the and of": "only very common words",
        "12345 !!!": "Search with words",
    }
    for q, message in cases.items():
        status, page = get(client, q=q)
        assert status == 400 and message in page, q[:20]
    for args, message in [
        ({"from": "2026-13-40"}, "start date must be a date"),
        ({"to": "eilen"}, "end date must be a date"),
        ({"from": "2026-03-02", "to": "2026-03-01"}, "start date is after the end date"),
        ({"unit": "ei-ole"}, "Unknown unit"),
        ({"theme": "99999"}, "No theme has the id"),
        ({"tone": "angry"}, "Unknown tone"),
        ({"page": "0"}, "whole number"),
        ({"page": "999"}, "There is no page 999"),
    ]:
        status, page = get(client, q="ruoka", **args)
        assert status == 400 and message in page, args
    status, page = get(client, q="ruoka", unit="ateriat", source="staff")
    assert status == 200 and "No notes match these filters" in page


def test_staff_search_their_own_signed_notes_only(seeded: tuple[Flask, dict[str, Any]]) -> None:
    app, ids = seeded
    client = logged_in(app, "hoitaja")
    status, page = get(client, q="kylmä ruoka")
    assert status == 200 and result_ids(page) == [ids["cold_fi"]]
    assert client.get(f"/notes/{ids['cold_en']}").status_code == 404
    assert client.get(f"/notes/{ids['cold_fi']}").status_code == 200


def test_pages(seeded: tuple[Flask, dict[str, Any]], monkeypatch: pytest.MonkeyPatch) -> None:
    app, _ids = seeded
    monkeypatch.setattr(engine, "PAGE_SIZE", 4)
    client = logged_in(app, "johtaja")
    _s, first = get(client, q="ruoka")
    _s, second = get(client, q="ruoka", page="2")
    assert len(result_ids(first)) == 4 and not set(result_ids(first)) & set(result_ids(second))
    assert 'rel="next"' in first and "page=2" in first and 'rel="prev"' in second


def test_worker_links_a_resent_note_and_nothing_else(app: Flask, one_model: Any) -> None:
    ids = seed(app, one_model)
    with app.test_request_context():
        links = dict(resources.session().execute(select(Observation.id, Observation.duplicate_of_id)).all())
    pub = public_ids(app)
    # The same writer sent the same text twice; the colleague's similar note is another reporter.
    assert {pub[i]: pub[d] for i, d in links.items() if d is not None} == {ids["dup"]: ids["cold_fi"]}


def test_note_page_lists_similar_notes_and_duplicates(seeded: tuple[Flask, dict[str, Any]]) -> None:
    app, ids = seeded
    client = logged_in(app, "johtaja")
    page = client.get(f"/notes/{ids['cold_fi']}", headers={"Accept-Language": "en"}).get_data(as_text=True)
    similar = result_ids(page.split("Similar notes", 1)[1])
    assert ids["cold_fi"] not in similar and ids["dup"] not in similar
    assert {ids["cold_colleague"], ids["cold_food_rel"]} & set(similar[:3])
    assert f'href="/notes/{ids["dup"]}"' in page.split("Similar notes", 1)[0]  # "sent again as"
    assert client.get("/notes/999999").status_code == 404


def test_similar_notes_are_ranked_with_each_languages_centre_taken_out(
    seeded: tuple[Flask, dict[str, Any]],
) -> None:
    app, ids = seeded
    with app.test_request_context():
        s, runtime = resources.session(), resources.get()
        found = centres.of(runtime.embedder())
        assert found is not None and set(found) == {"fi", "en"}  # `hiljainen models build` wrote them
        note = s.scalar(select(Observation).where(Observation.public_id == ids["cold_fi"]))
        items = runtime.search().similar_notes(s, note, Filters(), k=4)
        # Brute force: every note the page may list, ranked by centred cosine to this one.
        skip = {note.id, *sql.duplicates_of(s, note.id)}
        others = [i for i in sql.keep_matching(s, list(s.scalars(select(Observation.id))), Filters())
                  if i not in skip]
        stored = runtime.vectors().vectors([note.id, *others])
        others = [i for i in others if i in stored]
        langs = dict(s.execute(select(Observation.id, Observation.lang)).tuples().all())
        x = centres.centred(np.stack([stored[i] for i in (note.id, *others)]),
                            [langs[i] for i in (note.id, *others)], found)
        sims = x[1:] @ x[0]
        want = [others[j] for j in np.argsort(-sims, kind="stable")[:4]]
    assert [i.note.id for i in items] == want
    assert [i.similarity for i in items] == pytest.approx(sorted(sims, reverse=True)[:4], abs=1e-5)
    assert {"en", "fi"} <= {langs[i] for i in want}  # the ranking crosses languages here


def test_search_page_answers_503_when_the_vector_store_is_down(
    tmp_path: Path, redis_srv: ChildServer
) -> None:
    settings = make_settings(tmp_path, redis_url=redis_srv.url, chroma_url=f"http://127.0.0.1:{free_port()}")
    app = create_app(settings)
    with app.app_context():
        s = resources.session()
        accounts.create_user(s, "johtaja", PASSWORD, Role.LEADER)
        s.commit()
    status, page = get(logged_in(app, "johtaja"), q="kylmä ruoka")
    assert status == 503 and "Search is not available right now" in page


# --------------------------------------------------------------------------- as-you-type and "me too"


def draft(client: FlaskClient, form_path: str, text: str, **extra: str) -> Any:
    token = csrf_token(client, form_path)
    resp = client.post("/search/similar-draft", json={"text": text, **extra}, headers={"X-CSRFToken": token})
    assert resp.status_code == 200, resp.get_data(as_text=True)[:300]
    return resp.get_json()["items"]


def test_staff_suggestions_show_colleagues_safe_staff_notes(seeded: tuple[Flask, dict[str, Any]]) -> None:
    app, ids = seeded
    client = logged_in(app, "hoitaja")
    page = client.get("/note").get_data(as_text=True)
    assert 'data-url="/search/similar-draft"' in page and "similar.js" in page
    items = draft(client, "/note", "Ruoka on kylmää kun se tuodaan huoneisiin")
    shown = [i["id"] for i in items]
    assert ids["cold_colleague"] in shown
    assert ids["cold_fi"] not in shown  # the writer's own note
    assert all(i in (ids["cold_colleague"], ids["singing"], ids["shifts"]) for i in shown)
    assert draft(client, "/note", "lyhyt") == []


def test_suggestions_need_the_writers_choice(seeded: tuple[Flask, dict[str, Any]]) -> None:
    app, ids = seeded
    client = logged_in(app, "hoitaja")
    text = "Ruoka on kylmää kun se tuodaan huoneisiin"
    assert ids["cold_colleague"] in [i["id"] for i in draft(client, "/note", text)]
    with app.test_request_context():
        query = select(Observation).where(Observation.public_id == ids["cold_colleague"])
        note = resources.session().scalar(query)
        note.shareable = False
        resources.session().commit()
    assert ids["cold_colleague"] not in [i["id"] for i in draft(client, "/note", text)]
    assert me_too(client, "/note", ids["cold_colleague"]).status_code == 404


def test_public_suggestions_show_only_safe_public_notes_of_the_unit(
    seeded: tuple[Flask, dict[str, Any]],
) -> None:
    app, ids = seeded
    client = app.test_client()
    page = client.get("/t/ruokasali").get_data(as_text=True)
    assert 'data-touchpoint="ruokasali"' in page
    items = draft(client, "/t/ruokasali", "Ruoka on kylmää kun se tuodaan huoneeseen", touchpoint="ruokasali")
    shown = {i["id"] for i in items}
    assert ids["cold_food_rel"] in shown
    # never: a note with redacted personal data, staff notes, other units, old notes, duplicates
    assert not shown & {
        ids["phone"],
        ids["cold_fi"],
        ids["cold_colleague"],
        ids["lamp"],
        ids["old_cold"],
        ids["dup"],
    }
    assert all("[" not in i["text"] for i in items)
    # without a CSRF token the request is refused
    assert (
        client.post("/search/similar-draft", json={"text": "x" * 20, "touchpoint": "ruokasali"}).status_code
        == 400
    )
    assert (
        client.post(
            "/search/similar-draft",
            json={"text": "x" * 20, "touchpoint": "nope"},
            headers={"X-CSRFToken": csrf_token(client, "/t/ruokasali")},
        ).status_code
        == 404
    )


def test_words_skip_exactly_what_a_redaction_marker_covers() -> None:
    """words() walks words and markers in one pass; it must skip the same words as comparing each
    word with every marker, on texts full of markers."""
    rng = random.Random(0)
    pieces = ["[NIMI]", "[PUHELIN]", "[X]", "ruoka", "Kylmä", "a", "x[Y]z", " ", " ", "-", "ä", "["]
    for _ in range(500):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 40)))
        markers = [m.span() for m in fusion.MARKER.finditer(text)]
        expected = [(m.start(), m.end(), m.group().lower()) for m in fusion.WORD.finditer(text)
                    if not any(m.start() < end and start < m.end() for start, end in markers)]
        assert fusion.words(text) == expected, text


def test_a_long_draft_is_cut_before_anything_reads_it(
    seeded: tuple[Flask, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only the start of a draft is compared: a 100,000-character draft must not be read whole."""
    from hiljainen.search.suggest import SUGGEST_MAX_CHARS
    from hiljainen.web import search

    app, _ids = seeded
    seen: list[str] = []
    monkeypatch.setattr(search, "suggestions", lambda _db, text, _audience: seen.append(text) or [])
    client = app.test_client()
    token = csrf_token(client, "/t/ruokasali")
    body = {"text": "Ruoka on kylmää [NIMI] " * 5000, "touchpoint": "ruokasali"}
    assert client.post("/search/similar-draft", json=body, headers={"X-CSRFToken": token}).status_code == 200
    assert len(seen) == 1 and len(seen[0]) == SUGGEST_MAX_CHARS


MISSED_BY_REDACTION = ["040 - 765 4321", "0 4 0 7 6 5 4 3 2 1", "matti @ gmail.com", "13.10.52-308T"]


@pytest.mark.parametrize("missed", MISSED_BY_REDACTION)
def test_what_redaction_missed_is_not_shown_to_other_writers(
    seeded: tuple[Flask, dict[str, Any]], missed: str
) -> None:
    """A phone number written with spaced dashes, an e-mail with spaces around its @, an identity
    code with dots: forms redaction once missed. The backstop for whatever it still misses: a note
    looking like it holds one is not offered to others (the text is stored past redaction here)."""
    app, ids = seeded
    client = app.test_client()

    def offered() -> bool:
        text = "Ruoka on kylmää kun se tuodaan huoneeseen"
        items = draft(client, "/t/ruokasali", text, touchpoint="ruokasali")
        return ids["cold_food_rel"] in {i["id"] for i in items}

    assert offered()
    with app.test_request_context():
        db = resources.session()
        note = db.scalar(select(Observation).where(Observation.public_id == ids["cold_food_rel"]))
        assert note is not None
        note.text += f" Soittakaa {missed}."
        db.commit()
    assert not offered()


def test_public_suggestions_have_a_budget_for_all_visitors_together(
    seeded: tuple[Flask, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each lookup embeds the draft: visitors from many networks, each under its own limit, must not
    together keep the machine busy. Beyond the budget the form quietly shows no suggestions."""
    from hiljainen.web import search

    app, ids = seeded
    with app.app_context():  # other tests' lookups this hour count too: start from none
        conn = resources.get().redis()
        for key in conn.scan_iter("hiljainen:rate:draft:*:everyone"):
            conn.delete(key)
    monkeypatch.setattr(search, "DRAFT_SERVICE_LIMIT", 2)
    body = {"text": "Ruoka on kylmää kun se tuodaan huoneeseen", "touchpoint": "ruokasali"}
    found = []
    for n in range(3):
        client = app.test_client()
        token = csrf_token(client, "/t/ruokasali")
        resp = client.post("/search/similar-draft", json=body, headers={"X-CSRFToken": token},
                           environ_base={"REMOTE_ADDR": f"203.0.113.{n + 1}"})
        found.append(ids["cold_food_rel"] in {i["id"] for i in resp.get_json()["items"]})
    assert found == [True, True, False]


def letters_tag() -> str:
    """A random tag of letters: a hex one sometimes holds seven digits in a row, which the form's
    guard rightly hides as a phone number, and the note could then not be joined."""
    return uuid.uuid4().hex[:8].translate(str.maketrans("0123456789", "ghijklmnop"))


def me_too(client: FlaskClient, form_path: str, note_id: str, **extra: str) -> Any:
    token = csrf_token(client, form_path)
    return client.post(
        f"/notes/{note_id}/me-too", json=extra, headers={"X-CSRFToken": token, "Accept-Language": "en"}
    )


def test_me_too_adds_one_independent_voice_per_reporter(seeded: tuple[Flask, dict[str, Any]]) -> None:
    app, ids = seeded
    staff = logged_in(app, "hoitaja")
    resp = me_too(staff, "/note", ids["cold_colleague"])
    assert resp.status_code == 200 and resp.get_json()["added"] is True
    again = me_too(staff, "/note", ids["cold_colleague"]).get_json()
    assert again["added"] is False and "already" in again["message"]
    assert me_too(staff, "/note", ids["cold_fi"]).status_code == 404  # own note
    public = app.test_client()
    assert me_too(
        public, "/t/ruokasali", ids["cold_food_rel"], touchpoint="ruokasali", role="relative"
    ).get_json()["added"]
    assert not me_too(public, "/t/ruokasali", ids["cold_food_rel"], touchpoint="ruokasali").get_json()[
        "added"
    ]
    # A new browser session from the same address is the same reporter (issue 22: 8 sessions from
    # one address counted as 8 reporters); a browser elsewhere is another reporter.
    same_address = app.test_client()
    repeat = me_too(same_address, "/t/ruokasali", ids["cold_food_rel"], touchpoint="ruokasali").get_json()
    assert repeat["added"] is False and repeat["voices"] == 1
    other_browser = app.test_client()
    other_browser.environ_base["REMOTE_ADDR"] = "192.0.2.7"
    assert (
        me_too(other_browser, "/t/ruokasali", ids["cold_food_rel"], touchpoint="ruokasali").get_json()[
            "voices"
        ]
        == 2
    )
    # notes that are not safe to show cannot be joined either
    assert me_too(other_browser, "/t/ruokasali", ids["phone"], touchpoint="ruokasali").status_code == 404
    assert (
        app.test_client()
        .post(f"/notes/{ids['cold_food_rel']}/me-too", json={"touchpoint": "ruokasali"})
        .status_code
        == 400
    )
    with app.app_context():
        voices = resources.session().scalars(select(Voice).order_by(Voice.id)).all()
    pub = public_ids(app)
    assert [(pub[v.observation_id], v.source) for v in voices] == [
        (ids["cold_colleague"], Source.STAFF),
        (ids["cold_food_rel"], Source.RELATIVE),
        (ids["cold_food_rel"], Source.CUSTOMER),
    ]
    assert len({v.reporter_key for v in voices}) == 3
    # a keyed hash for staff, a random browser id for the public: neither names a person
    assert re.fullmatch(r"[0-9a-f]{40}", voices[0].reporter_key)
    assert all(re.fullmatch(r"b:[0-9a-f]{32}", v.reporter_key) for v in voices[1:])
    page = logged_in(app, "johtaja").get(f"/notes/{ids['cold_food_rel']}", headers={"Accept-Language": "en"})
    assert "2 others said this too" in page.get_data(as_text=True)


def test_me_too_has_a_budget_per_form_and_for_the_service(
    app: Flask, org: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each "me too" is one more reporter in the signals: voices from many addresses, each within its
    own limit, must not together make a strong signal. Past a form's budget the next voice is
    refused politely while another form still takes them; past the service's budget every form refuses."""
    from hiljainen.web import search

    made = org(touchpoints=("ruokasali", "aula"))
    with app.app_context():
        s = resources.session()
        today = resources.get().settings.today()
        note = Observation(
            text=f"Kahvi loppuu aina kesken iltapäivällä ({letters_tag()}).",  # its own "me too" keys
            source=Source.RELATIVE, unit_id=made.unit_id, anonymous=True, shareable=True, day=today,
            processed_at=dt.datetime.now(dt.UTC),
        )  # fmt: skip
        s.add(note)
        s.commit()
        note_id = note.public_id
        conn = resources.get().redis()  # other tests' voices this hour count too: start from none
        for pattern in ("hiljainen:rate:voice:*:scope:*", "hiljainen:rate:voice:*:everyone"):
            for key in conn.scan_iter(pattern):
                conn.delete(key)
    monkeypatch.setattr(search, "VOICE_FORM_LIMIT", 2)

    def voice(address: str, form: str) -> Any:
        visitor = app.test_client()
        visitor.environ_base["REMOTE_ADDR"] = address
        return me_too(visitor, f"/t/{form}", note_id, touchpoint=form)

    answers = [voice(f"198.51.100.{n + 21}", "ruokasali") for n in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    refused = answers[2].get_json()
    assert refused["added"] is False and "Many notes have come" in refused["error"]
    lobby = voice("198.51.100.24", "aula").get_json()
    assert lobby["added"] is True and lobby["voices"] == 3
    monkeypatch.setattr(search, "VOICE_SERVICE_LIMIT", 3)
    assert voice("198.51.100.25", "aula").status_code == 429


def test_one_ipv6_site_adds_a_few_voices_to_a_note_not_one_per_network(
    app: Flask, org: Any
) -> None:
    """Each /64 is one reporter, but one sender with a /48 holds 65,536 of them: past a few voices
    on one note from one site, further ones are not added (as for one IPv4 address, politely)."""
    from hiljainen.web import ratelimit

    made = org(touchpoints=("ruokasali",))
    with app.app_context():
        s = resources.session()
        note = Observation(
            text=f"Iltapalaa ei tuotu ajoissa ({letters_tag()}).",  # its own "me too" keys
            source=Source.RELATIVE, unit_id=made.unit_id, anonymous=True, shareable=True,
            day=resources.get().settings.today(), processed_at=dt.datetime.now(dt.UTC),
        )  # fmt: skip
        s.add(note)
        s.commit()
        note_id = note.public_id

    def voice(address: str) -> Any:
        visitor = app.test_client()
        visitor.environ_base["REMOTE_ADDR"] = address
        return me_too(visitor, "/t/ruokasali", note_id, touchpoint="ruokasali").get_json()

    site = [voice(f"2001:db8:77:{n}::1") for n in range(ratelimit.SITE_REPEATS + 2)]
    assert [a["added"] for a in site] == [True] * ratelimit.SITE_REPEATS + [False, False]
    assert site[-1]["voices"] == ratelimit.SITE_REPEATS and "already" in site[-1]["message"]
    assert voice("2001:db8:78::1")["added"]  # another site is another reporter


@pytest.mark.parametrize("path", ["/search/similar-draft", "/notes/x/me-too"])
def test_a_body_that_is_not_json_is_a_400_in_json(app: Flask, org: Any, path: str) -> None:
    """Deep nesting made the JSON parser raise RecursionError, which get_json(silent=True) let
    through as a 500; the public endpoints answer as /api/v1 does."""
    org()
    client = app.test_client()
    token = csrf_token(client, "/t/ruokasali")
    for body in (b"[" * 100_000, b'{"text": "hei", '):
        resp = client.post(path, data=body, headers={"X-CSRFToken": token, "Accept-Language": "en",
                                                     "Content-Type": "application/json"})
        assert resp.status_code == 400 and resp.mimetype == "application/json", body[:20]
        assert resp.get_json()["error"] == "The request body is not valid JSON."



@pytest.mark.parametrize("path", ["/search/similar-draft", "/notes/x/me-too"])
def test_a_script_without_its_security_token_is_answered_in_json(app: Flask, org: Any, path: str) -> None:
    """The form's script reads JSON: a failed CSRF check answered it with an HTML page."""
    org()
    client = app.test_client()
    csrf_token(client, "/t/ruokasali")
    resp = client.post(path, json={"text": "hei"}, headers={"Accept-Language": "en"})
    assert resp.status_code == 400 and resp.mimetype == "application/json"
    assert resp.get_json()["error"].startswith("The form could not be sent.")

# --------------------------------------------------------------------------- JSON API


def bearer(app: Flask, role: Role) -> dict[str, str]:
    with app.app_context():
        s = resources.session()
        _token, plain = tokens.issue(s, f"t-{uuid.uuid4().hex[:6]}", role)
        s.commit()
    return {"Authorization": f"Bearer {plain}", "Accept-Language": "en"}


def test_api_search_and_similar(seeded: tuple[Flask, dict[str, Any]]) -> None:
    app, ids = seeded
    client = app.test_client()
    leader = bearer(app, Role.LEADER)
    resp = client.get("/api/v1/search", query_string={"q": "Hämeenkatu"}, headers=leader)
    body = resp.get_json()
    assert resp.status_code == 200 and body["items"][0]["id"] == ids["lamp"]
    assert body["items"][0]["highlights"] and "keyword" in body["items"][0]["ranks"]
    assert client.get("/api/v1/search", query_string={"q": ""}, headers=leader).status_code == 400
    assert (
        "only very common"
        in client.get("/api/v1/search", query_string={"q": "ja se on"}, headers=leader).get_json()["error"]
    )
    assert client.get("/api/v1/search", query_string={"q": "ruoka"}).status_code == 401
    assert (
        client.get("/api/v1/search", query_string={"q": "ruoka"}, headers=bearer(app, Role.STAFF)).status_code
        == 403
    )
    similar = client.get(
        f"/api/v1/observations/{ids['cold_fi']}/similar", query_string={"k": "3"}, headers=leader
    )
    got = [i["id"] for i in similar.get_json()["items"]]
    assert len(got) == 3 and ids["cold_fi"] not in got
    assert client.get("/api/v1/observations/999999/similar", headers=leader).status_code == 404
    assert client.get(f"/api/v1/observations/{ids['cold_fi']}/similar?k=0", headers=leader).status_code == 400


# --------------------------------------------------------------------------- a real browser


@pytest.mark.browser
def test_suggestions_me_too_and_search_on_a_phone(
    seeded: tuple[Flask, dict[str, Any]], live_server: Any, chromium: Any, screens_dir: Path
) -> None:
    from tests.system.test_browser import log_in, new_page

    app, ids = seeded
    base = live_server(app)
    page = new_page(chromium, screens_dir)
    log_in(page, base, "hoitaja", PASSWORD)
    page.goto(f"{base}/note")
    page.fill("textarea[name=text]", "Ruoka on kylmää kun se tuodaan huoneisiin")
    page.wait_for_selector("#similar .similar-item", timeout=20_000)
    assert "viedään huoneisiin" in page.inner_text("#similar")
    page.shot("staff-note-similar")
    page.click("#similar .similar-item button")
    page.wait_for_selector("#similar .joined", timeout=20_000)
    assert "Kiitos" in page.inner_text("#similar .joined") or "Thank you" in page.inner_text(
        "#similar .joined"
    )

    leader = new_page(chromium, screens_dir)
    log_in(leader, base, "johtaja", PASSWORD)
    leader.goto(f"{base}/search")
    leader.fill("input[name=q]", "kylmä ruoka")
    leader.click("form.search-form button.primary")
    leader.wait_for_selector("ol.results li")
    assert leader.locator("ol.results mark").count() > 0
    leader.shot("search")
    leader.click("ol.results li a >> nth=0")
    assert (
        leader.locator("h2", has_text="Samankaltaiset").count()
        + leader.locator("h2", has_text="Similar").count()
    )
    leader.shot("note-similar")
    assert page.csp_errors == [] and leader.csp_errors == []
    with app.app_context():
        voiced = resources.session().scalar(select(Voice.observation_id))
    assert public_ids(app)[voiced] == ids["cold_colleague"]
