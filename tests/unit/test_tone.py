"""Tone model: numpy prediction, model_id guard, deterministic training, real-model predictions."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from hiljainen.errors import ConfigError, ModelMismatch
from hiljainen.pipeline.tone import META_FILE, UNSURE_BELOW, WEIGHTS_FILE, Tone, ToneModel
from hiljainen.tools.modelbuild import file_sha256
from hiljainen.tools.tonetrain import (
    DEFAULT_DATA_PATH,
    DEFAULT_TONE_DIR,
    DOMAIN_GOAL,
    DOMAIN_HELD_OUT,
    DOMAIN_MORE_PATH,
    DOMAIN_PATH,
    IN_DOMAIN_PATH,
    read_notes,
    split_domain,
    train_tone,
)

MANIFEST = DEFAULT_TONE_DIR.with_name(DEFAULT_TONE_DIR.name + ".json")

needs_data = pytest.mark.skipif(
    not DEFAULT_DATA_PATH.is_file(), reason="../shared/data/xed_fi_train.jsonl missing"
)

# From tests/data/tone_notes.jsonl: notes whose tone no reader would dispute.
CLEAR = {
    "positive": [
        "Ruoka oli tänään lämmintä ja todella hyvää, isä söi koko annoksen.",
        "Kiitos koko henkilökunnalle ihanasta syntymäpäiväjuhlasta osastolla.",
        "The nurses were so kind to my father, he felt safe and cared for.",
        "I love how the new activity room brings residents together.",
    ],
    "negative": [
        "Olen todella pettynyt, kukaan ei vastannut puhelimeen koko viikonloppuna.",
        "Olen niin väsynyt näihin jatkuviin kaksoisvuoroihin, en jaksa enää.",
        "Nobody has answered my emails about the leaking roof for a month. Unacceptable.",
        "My grandmother was left alone in her room all afternoon and she was scared.",
    ],
}


class HashEmbedder:
    """A fast deterministic stand-in: hashed word and character-trigram counts, L2-normalised."""

    model_id = "test-hash-embedder"
    dimension = 384

    def embed(self, texts: Sequence[str], kind: str = "passage") -> np.ndarray:
        out = np.zeros((len(texts), 384), dtype=np.float32)
        for i, text in enumerate(texts):
            low = text.lower()
            grams = low.split() + [low[j : j + 3] for j in range(max(len(low) - 2, 0))]
            for g in grams:
                h = int.from_bytes(hashlib.blake2b(g.encode(), digest_size=4).digest(), "little")
                out[i, h % 384] += 1.0 if h & (1 << 31) else -1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms > 0, norms, 1.0)


def toy_model(threshold: float = 0.5) -> ToneModel:
    # Three orthogonal directions, one per class.
    coef = np.zeros((3, 4))
    coef[0, 0] = coef[1, 1] = coef[2, 2] = 4.0
    return ToneModel(coef, np.zeros(3), ("negative", "neutral", "positive"), "toy", polar_threshold=threshold)


def test_predict_is_softmax_argmax_with_confidence() -> None:
    tones = toy_model().predict(np.array([[1.0, 0, 0, 0], [0, 0, 1.0, 0], [0, 1.0, 0, 0]]))
    assert [t.label for t in tones] == ["negative", "positive", "neutral"]
    assert all(isinstance(t, Tone) and 0.5 < t.confidence <= 1.0 for t in tones)


def test_an_unsure_polar_call_becomes_a_low_confidence_neutral() -> None:
    # logits 0.4, 0.0, 0.0 -> p(negative) ~ 0.43 < 0.5
    (tone,) = toy_model().predict(np.array([[0.1, 0, 0, 0]]))
    assert tone.label == "neutral" and tone.confidence < 0.34
    (argmax,) = toy_model(threshold=0.0).predict(np.array([[0.1, 0, 0, 0]]))
    assert argmax.label == "negative"


def test_empty_batch() -> None:
    model = toy_model()
    assert model.predict(np.zeros((0, 4), dtype=np.float32)) == []
    assert model.predict(np.array([])) == []
    assert model.probabilities(np.zeros((0, 4))).shape == (0, 3)


def test_wrong_dimension_is_refused() -> None:
    with pytest.raises(ValueError, match="shape"):
        toy_model().predict(np.zeros((2, 5)))


def test_save_load_round_trip_and_model_id_guard(tmp_path: Path) -> None:
    model = toy_model()
    model.save(tmp_path / "tone")
    assert (tmp_path / "tone" / WEIGHTS_FILE).is_file() and (tmp_path / "tone" / META_FILE).is_file()
    same = ToneModel.load(tmp_path / "tone", model_id="toy")
    x = np.random.default_rng(0).normal(size=(5, 4))
    assert same.predict(x) == model.predict(x)
    assert ToneModel.load(tmp_path / "tone").model_id == "toy"
    with pytest.raises(ModelMismatch, match="trained on embeddings of 'toy'"):
        ToneModel.load(tmp_path / "tone", model_id="multilingual-e5-small@0123456789ab")
    # The int8 graph of the model it was trained on serves the same space; another's does not.
    assert ToneModel.load(tmp_path / "tone", model_id="toy+onnx-int8").model_id == "toy"
    with pytest.raises(ModelMismatch):
        ToneModel.load(tmp_path / "tone", model_id="other+onnx-int8")
    with pytest.raises(ConfigError, match="no tone model"):
        ToneModel.load(tmp_path / "missing")


@needs_data
def test_training_is_deterministic_and_writes_a_manifest(tmp_path: Path) -> None:
    emb = HashEmbedder()
    m1 = train_tone(emb, tmp_path / "a" / "tone", limit=600, english_limit=300)
    m2 = train_tone(emb, tmp_path / "b" / "tone", limit=600, english_limit=300)
    assert m1 == m2
    with (
        np.load(tmp_path / "a" / "tone" / WEIGHTS_FILE) as w1,
        np.load(tmp_path / "b" / "tone" / WEIGHTS_FILE) as w2,
    ):
        assert np.array_equal(w1["coef"], w2["coef"]) and np.array_equal(w1["intercept"], w2["intercept"])
    manifest = json.loads((tmp_path / "a" / "tone.json").read_text(encoding="utf-8"))
    assert manifest == json.loads((tmp_path / "b" / "tone.json").read_text(encoding="utf-8"))
    assert manifest["model_id"] == emb.model_id and manifest["data"]["lines_used"] == 600
    assert manifest["data"]["held_out"] == 120 and len(manifest["data"]["sha256"]) == 64
    assert set(manifest["metrics"]) >= {"held_out", "majority_baseline", "in_domain", "domain_held_out"}
    dom = manifest["domain_notes"]
    assert dom["file"] == "bench/corpus/tone/notes.jsonl" and dom["sha256"] == file_sha256(DOMAIN_PATH)
    assert dom["held_out"] == DOMAIN_HELD_OUT == m1["domain_held_out"]["n"]
    more = read_notes(DOMAIN_MORE_PATH)
    assert dom["more"]["notes"] == len(more) and dom["more"]["sha256"] == file_sha256(DOMAIN_MORE_PATH)
    assert str(dom["weight"].__format__("g")) in dom["weight_cv_accuracy"]
    assert sum(map(sum, m1["held_out"]["confusion"]["matrix"])) == 120

    model = ToneModel.load(tmp_path / "a" / "tone", model_id=emb.model_id)
    tones = model.predict(emb.embed([n["text"] for n in read_notes(IN_DOMAIN_PATH)]))
    assert all(t.label in ("positive", "negative", "neutral") and 0.0 <= t.confidence <= 1.0 for t in tones)
    with pytest.raises(ModelMismatch):
        ToneModel.load(tmp_path / "a" / "tone", model_id="another-model")


# --------------------------------------------------------------------------- the in-domain notes


def test_in_domain_split_is_seeded_stratified_and_apart_from_the_earlier_notes() -> None:
    notes = read_notes(DOMAIN_PATH)
    train, held = split_domain(notes)
    again_train, again_held = split_domain(notes)
    assert np.array_equal(train, again_train) and np.array_equal(held, again_held)
    assert len(held) == DOMAIN_HELD_OUT >= 150 and len(train) + len(held) == len(notes) >= 400
    assert not set(train) & set(held)
    texts = [n["text"] for n in notes]
    assert len(set(texts)) == len(texts)  # no note is both trained on and held out
    assert not set(texts) & {n["text"] for n in read_notes(IN_DOMAIN_PATH)}
    for field in ("tone", "kind", "lang"):
        # Every tone, kind and language is held out in about its share of the corpus.
        for value in {n[field] for n in notes}:
            share = sum(n[field] == value for n in notes) / len(notes)
            held_share = sum(notes[i][field] == value for i in held) / len(held)
            assert abs(held_share - share) < 0.05, (field, value, share, held_share)
    assert {n["tone"] for n in notes if n["kind"] == "thanks"} == {"positive"}
    assert 0.15 <= sum(n["lang"] == "en" for n in notes) / len(notes) <= 0.25


def test_the_training_only_notes_are_apart_from_every_held_out_note() -> None:
    more = read_notes(DOMAIN_MORE_PATH)
    texts = [n["text"] for n in more]
    assert len(texts) == len(set(texts)) >= 400
    assert not set(texts) & {n["text"] for n in [*read_notes(DOMAIN_PATH), *read_notes(IN_DOMAIN_PATH)]}
    assert {n["tone"] for n in more if n["kind"] == "thanks"} == {"positive"}
    assert {n["tone"] for n in more} == {"positive", "negative", "neutral"}


def test_the_manifest_reports_the_held_out_notes_at_the_goal_and_no_thanks_called_negative() -> None:
    manifest = json.loads(MANIFEST.read_text(encoding="utf-8"))
    # The committed figures are for the committed corpus.
    assert manifest["domain_notes"]["sha256"] == file_sha256(DOMAIN_PATH)
    metrics = manifest["metrics"]
    held = metrics["domain_held_out"]
    assert held["n"] == DOMAIN_HELD_OUT == sum(map(sum, held["confusion"]["matrix"]))
    assert held["accuracy"] >= DOMAIN_GOAL == metrics["domain_goal"]
    notes = read_notes(DOMAIN_PATH)
    thanks = metrics["domain_thanks"]
    assert thanks["thanks"] == sum(notes[i]["kind"] == "thanks" for i in split_domain(notes)[1]) >= 30
    # A leader never sees a thank-you note called negative. The model itself calls one of the 39
    # negative, at 0.54: below UNSURE_BELOW, so it is shown as uncertain (bench/results/tone.md).
    # Close to it: a rebuild whose vectors move that note past 0.55 fails here, as it should.
    assert thanks["shown_negative"] == 0 and thanks["negative"] <= 1


# --------------------------------------------------------------------------- the real embedding model


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> tuple[object, ToneModel]:
    """The configured embedder (HILJAINEN_EMBED_*) and its tone model: the built one, else one
    trained here on a subsample (about a minute)."""
    from hiljainen.config import Settings
    from hiljainen.pipeline.embed import load_embedder

    settings = Settings.from_env()
    try:
        embedder = load_embedder(settings.embed_backend, settings.embed_model)
    except ConfigError as exc:  # the embedding model is not built: nothing real to test
        pytest.skip(str(exc))
    try:
        return embedder, ToneModel.load(DEFAULT_TONE_DIR, model_id=embedder.model_id)
    except (ConfigError, ModelMismatch):
        if not DEFAULT_DATA_PATH.is_file():
            pytest.skip("no built tone model and no training data")
    out = tmp_path_factory.mktemp("tone") / "tone"
    train_tone(embedder, out, limit=3000, english_limit=1000)
    return embedder, ToneModel.load(out, model_id=embedder.model_id)


@pytest.mark.slow
@pytest.mark.parametrize("expected", ["positive", "negative"])
def test_clear_notes_get_their_tone(real: tuple[object, ToneModel], expected: str) -> None:
    embedder, model = real
    texts = CLEAR[expected]
    assert set(texts) <= {n["text"] for n in read_notes(IN_DOMAIN_PATH)}
    tones = model.predict(embedder.embed(texts, kind="passage"))  # type: ignore[attr-defined]
    assert [t.label for t in tones] == [expected] * len(texts), list(zip(texts, tones, strict=True))
    assert all(0.45 <= t.confidence <= 1.0 for t in tones)


@pytest.mark.slow
def test_held_out_thanks_are_never_shown_negative(real: tuple[object, ToneModel]) -> None:
    embedder, model = real
    notes = read_notes(DOMAIN_PATH)
    thanks = [notes[i]["text"] for i in split_domain(notes)[1] if notes[i]["kind"] == "thanks"]
    assert len(thanks) >= 30
    tones = model.predict(embedder.embed(thanks, kind="passage"))  # type: ignore[attr-defined]
    negative = [(text, t) for text, t in zip(thanks, tones, strict=True) if t.label == "negative"]
    # What a leader sees: no thank-you note as negative. The model itself still calls one of them
    # negative (a thank-you for silencing an alarm that "beeped all night"), below UNSURE_BELOW.
    assert all(t.confidence < UNSURE_BELOW for _text, t in negative), negative
    assert len(negative) <= 1, negative
