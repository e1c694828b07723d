"""Tone model: numpy prediction, model_id guard, deterministic training, real-model predictions."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from hiljainen.errors import ConfigError, ModelMismatch
from hiljainen.pipeline.tone import META_FILE, WEIGHTS_FILE, Tone, ToneModel
from hiljainen.tools.tonetrain import (
    DEFAULT_DATA_PATH,
    DEFAULT_TONE_DIR,
    IN_DOMAIN_PATH,
    read_notes,
    train_tone,
)

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
    assert set(manifest["metrics"]) >= {"held_out", "majority_baseline", "in_domain"}
    assert sum(map(sum, m1["held_out"]["confusion"]["matrix"])) == 120

    model = ToneModel.load(tmp_path / "a" / "tone", model_id=emb.model_id)
    tones = model.predict(emb.embed([n["text"] for n in read_notes(IN_DOMAIN_PATH)]))
    assert all(t.label in ("positive", "negative", "neutral") and 0.0 <= t.confidence <= 1.0 for t in tones)
    with pytest.raises(ModelMismatch):
        ToneModel.load(tmp_path / "a" / "tone", model_id="another-model")


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
    # Trained on Finnish only (no openly licensed English set ships offline): English is a transfer case.
    assert all(0.45 <= t.confidence <= 1.0 for t in tones)
