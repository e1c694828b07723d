"""spaCy analysis with the real Finnish and English pipelines (loaded once per process)."""

from __future__ import annotations

import pytest
from spacy.language import Language

from hiljainen.pipeline.linguistics import Analysis, analyze, load_nlp

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def nlp_fi() -> Language:
    return load_nlp("fi")


@pytest.fixture(scope="session")
def nlp_en() -> Language:
    return load_nlp("en")


def one(text: str, lang: str) -> Analysis:
    return analyze([text], [lang])[0]


def test_models_are_loaded_once(nlp_fi: Language, nlp_en: Language) -> None:
    assert load_nlp("fi") is nlp_fi
    assert load_nlp("en") is nlp_en
    assert load_nlp("und") is nlp_fi  # unsupported notes share the Finnish pipeline
    assert nlp_fi.lang == "fi" and nlp_en.lang == "en"


@pytest.mark.parametrize(
    ("word", "lemma"),
    [("asiakkaille", "asiakas"), ("palveluista", "palvelu"), ("hoitajien", "hoitaja"),
     ("ruoan", "ruoka"), ("kohtaamisessa", "kohtaaminen")],
)  # fmt: skip
def test_finnish_lemmas_of_inflected_words(nlp_fi: Language, word: str, lemma: str) -> None:
    result = one(f"Puhuimme {word} eilen.", "fi")
    assert lemma in result.lemmas


def test_finnish_keywords(nlp_fi: Language) -> None:
    result = one("Asiakkaille tarjottu iltapala oli kylmää ja hoitajat olivat kiireisiä.", "fi")
    assert "iltapala" in result.keywords  # a compound stays one keyword
    assert {"asiakas", "kylmä", "hoitaja", "kiireinen"} <= set(result.keywords)
    assert not {"olla", "ja"} & set(result.keywords)  # auxiliaries and stop words out
    assert result.lemmas[:3] == ["asiakas", "tarjota", "iltapala"]
    assert all(lemma == lemma.lower() for lemma in result.lemmas)


def test_english_analysis(nlp_en: Language) -> None:
    result = one("The drivers were delivering meals to residents in Helsinki.", "en")
    assert {"driver", "deliver", "meal", "resident"} <= set(result.keywords)
    assert "the" in result.lemmas and "the" not in result.keywords
    assert any(e.label == "GPE" for e in result.entities)


def test_entity_offsets_point_into_the_text(nlp_fi: Language) -> None:
    text = "Kävimme eilen Tampereella katsomassa uutta palvelutaloa."
    result = one(text, "fi")
    assert result.entities
    for entity in result.entities:
        assert 0 <= entity.start < entity.end <= len(text)
    assert any(text[e.start : e.end].startswith("Tampere") for e in result.entities)


def test_without_entities_lemmas_and_keywords_stay_the_same(nlp_fi: Language, nlp_en: Language) -> None:
    texts = ["Kävimme eilen Tampereella katsomassa uutta palvelutaloa.", "Meals reached Helsinki cold."]
    full = analyze(texts, ["fi", "en"])
    lean = analyze(texts, ["fi", "en"], entities=False)
    assert all(f.entities for f in full) and not any(x.entities for x in lean)
    assert [(f.lemmas, f.keywords) for f in full] == [(x.lemmas, x.keywords) for x in lean]


def test_markers_are_not_keywords(nlp_fi: Language) -> None:
    result = one("[NIMI] soitti numeroon [PUHELIN] ja kysyi ruoasta.", "fi")
    assert result.keywords == ["soittaa", "numero", "kysyä", "ruoka"]
    assert "nimi" not in result.lemmas and "puhelin" not in result.lemmas


def test_all_markers_note(nlp_fi: Language) -> None:
    assert one("[NIMI] [PUHELIN] [SÄHKÖPOSTI] [OSOITE]", "und") == Analysis()


def test_emoji_only_note(nlp_fi: Language) -> None:
    assert one("😡😡", "und") == Analysis()


def test_unsupported_language_falls_back_without_crashing(nlp_fi: Language) -> None:
    result = one("Maten var kall igen idag", "und")
    assert result.lemmas  # tokenised by the Finnish pipeline
    assert one("", "sv") == Analysis()


def test_long_note(nlp_fi: Language) -> None:
    sentence = "Asukkaat toivovat, että iltapala tarjoiltaisiin myöhemmin illalla. "
    text = (sentence * 80)[:5000]
    result = one(text, "fi")
    assert len(result.lemmas) > 500
    assert result.keywords.count("iltapala") >= 70


def test_batch_keeps_order_across_languages(nlp_fi: Language, nlp_en: Language) -> None:
    texts = ["Ruoka oli kylmää.", "The soup was cold.", "🙂", "Hissi on rikki."]
    results = analyze(texts, ["fi", "en", "und", "fi"])
    assert "ruoka" in results[0].keywords
    assert "soup" in results[1].keywords
    assert results[2] == Analysis()
    assert "hissi" in results[3].keywords


def test_lengths_must_match() -> None:
    with pytest.raises(ValueError):
        analyze(["yksi", "kaksi"], ["fi"])


def test_compound_parts_join_the_words_a_new_subject_shares() -> None:
    from hiljainen.pipeline.linguistics import with_compound_parts

    snow, ice, phone = with_compound_parts(
        [["kattolumi", "pudottaa"], ["peilijää"], ["työpuhelin", "icicle"]])
    assert snow[:2] == ["kattolumi", "pudottaa"] and {"katto", "lumi"} <= set(snow[2:])
    assert "jää" in ice
    assert "puhelin" in phone and "icicle" in phone, "unknown words stay as they are"
    assert with_compound_parts([["lumi"], []]) == [["lumi"], []], "a simple word has no parts"
