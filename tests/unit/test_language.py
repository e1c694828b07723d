"""Language detection: fi/en for short notes, "und" for unsupported or empty text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from hiljainen.pipeline.language import SUPPORTED, LanguageGuess, detect, probabilities

SHARED_DATA = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"


@pytest.mark.parametrize(
    "text",
    [
        "Ruoka kylmää taas",
        "Hoitaja ei tullut",
        "Kiitos!",
        "Kotihoito",
        "Hissi rikki",
        "Sauna ei toimi",
        "iltapala myöhässä",
        "Ateria maksaa 8,90 € ja kuljetus 3,50 €.",
        "Uusi numero: [PUHELIN].",
        "[NIMI] soitti ja kertoi, että ruoka oli kylmää.",
    ],
)
def test_short_finnish_notes(text: str) -> None:
    assert detect(text).code == "fi"


@pytest.mark.parametrize(
    "text",
    [
        "Food cold again",
        "Meal late",
        "Thanks!",
        "The lift is broken",
        "Soup too salty",
        "Leaking tap",
        "Room 12 heating not working",
        "[NAME] called about the invoice.",
    ],
)
def test_short_english_notes(text: str) -> None:
    assert detect(text).code == "en"


@pytest.mark.parametrize("text", ["😀", "👍👍", "12345", "[NIMI] [PUHELIN]", "???", "", "   "])
def test_no_language_is_und_with_full_confidence(text: str) -> None:
    assert detect(text) == LanguageGuess("und", 1.0)


@pytest.mark.parametrize(
    "text",
    [
        "Maten var kall igen idag",
        "Tack för hjälpen",
        "Hemvården kom inte i dag",
        "Toit oli jälle külm",
        "Das Essen war kalt",
        "Еда опять холодная",
        "Merci beaucoup pour tout",
    ],
)
def test_unsupported_languages_are_und(text: str) -> None:
    guess = detect(text)
    assert guess.code == "und"
    assert guess.confidence > 0.5  # the probability that it is neither fi nor en


def test_confidence_is_a_probability() -> None:
    for text in ["Ruoka kylmää taas", "Food cold again", "Tack för hjälpen", "ok"]:
        guess = detect(text)
        assert guess.code in (*SUPPORTED, "und")
        assert 0.0 <= guess.confidence <= 1.0
    assert detect("Lämmin kiitos koko henkilökunnalle juhannuksen järjestelyistä").confidence > 0.9


def test_probabilities_are_normalised() -> None:
    probs = probabilities("Asukas kaatui yöllä")
    assert abs(sum(probs.values()) - 1.0) < 1e-6
    assert max(probs, key=probs.__getitem__) == "fi"


def _sample(name: str, n: int) -> list[str]:
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"development data {name} not present")
    with path.open(encoding="utf-8") as f:
        return [json.loads(line)["text"] for _, line in zip(range(n), f, strict=False)]


def test_accuracy_on_real_finnish_and_english_sentences() -> None:
    finnish = _sample("xed_fi_train.jsonl", 300) + _sample("turku_paraphrase_dev.jsonl", 200)
    english = _sample("banking77_train.jsonl", 250) + _sample("clinc150_train.jsonl", 250)
    fi_ok = sum(detect(t).code == "fi" for t in finnish) / len(finnish)
    en_ok = sum(detect(t).code == "en" for t in english) / len(english)
    assert fi_ok >= 0.95
    assert en_ok >= 0.98
