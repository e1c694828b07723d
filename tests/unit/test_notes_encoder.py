"""The notes encoder: pinned inputs, a reproducible build, and subjects it has never seen."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hiljainen.config import CORPUS_DIR, NOTES_MODEL_DIR
from hiljainen.pipeline.embed import E5_PREFIXES, MARKER_FILE
from hiljainen.tools.notes_encoder import (
    MANIFEST_PATH,
    Recipe,
    batch_loss,
    embed_in_parts,
    fingerprint,
    fingerprint_drift,
    input_files,
    inputs_digest,
    taught_notes,
    training_pairs,
    turku_held_out,
)


def test_training_never_sees_a_test_subject_or_held_out_paraphrases() -> None:
    files = input_files()
    pairs = training_pairs(files, Recipe())
    split = json.loads((CORPUS_DIR / "split.json").read_text("utf-8"))
    labels = {label for _, _, label in pairs}
    assert not {f"note:{s}" for s in split["test"]} & labels
    assert {f"note:{s}" for s in split["train"] + split["extra"]} <= labels
    assert not set(split["test"]) & {s for name in ("train", "dev", "extra") for s in split[name]}
    assert not any(label.startswith("turku:") and turku_held_out(label[6:]) for label in labels)
    assert not any("banking" in f.name for f in files)


def test_language_centres_come_from_the_taught_notes_only() -> None:
    files = input_files()
    texts, langs = taught_notes(files, Recipe())
    split = json.loads((CORPUS_DIR / "split.json").read_text("utf-8"))
    notes = [f for f in files if f.parent.name == "notes"]
    rows = [json.loads(line) for f in notes for line in f.read_text("utf-8").splitlines()]
    test_texts = {r["text"] for r in rows if r["subject"] in split["test"]}
    assert len(texts) == len(langs) > 1000 and set(langs) == {"fi", "en"}
    assert not set(texts) & test_texts


def test_the_model_id_names_the_inputs_and_the_recipe() -> None:
    files = input_files()
    one = inputs_digest(files, Recipe(), "base@1")
    assert one == inputs_digest(files, Recipe(), "base@1")
    assert one["digest"] != inputs_digest(files, Recipe(seed=1), "base@1")["digest"]
    assert one["digest"] != inputs_digest(files, Recipe(), "base@2")["digest"]


@pytest.mark.slow
def test_a_batch_embedded_in_parts_keeps_each_text_with_its_own_vector(base_model_dir: Path) -> None:
    """Training embeds a batch in parts sorted by length, with bfloat16 products: each row must be
    its own text's vector, in the batch's order, as the served model would give it."""
    import dataclasses

    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(base_model_dir), device="cpu", local_files_only=True)
    rows = (CORPUS_DIR / "eval" / "test.jsonl").read_text("utf-8").splitlines()
    texts = [json.loads(line)["text"] for line in rows[::18][:25]]  # of many lengths, in no order
    recipe = Recipe()
    assert recipe.autocast == "bfloat16" and 1 < recipe.part < len(texts)
    plain = model.encode([E5_PREFIXES["passage"] + t for t in texts], normalize_embeddings=True)
    model.eval()
    with torch.no_grad():
        low = embed_in_parts(model, texts, recipe).numpy()
        full = embed_in_parts(model, texts, dataclasses.replace(recipe, autocast="float32")).numpy()
    assert (1 - (full * plain).sum(axis=1)).max() < 1e-6  # float32: the parts put back in order exactly
    gap = 1 - (low * plain).sum(axis=1)
    assert gap.max() < 1e-3 and gap.mean() > 1e-6  # bfloat16 (about 5e-6 here): close, not equal
    assert ((low @ plain.T).argmax(axis=1) == np.arange(len(texts))).all()


@pytest.mark.slow
def test_a_training_step_in_bfloat16_gives_float32_gradients(base_model_dir: Path) -> None:
    """The loss and every gradient stay float32 (the optimiser's weights are float32), finite, and
    reach the layers through the parts."""
    import dataclasses

    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(base_model_dir), device="cpu", local_files_only=True)
    model.max_seq_length = Recipe().max_tokens
    pairs = training_pairs(input_files(), Recipe())[:8]
    model.train()
    loss = batch_loss(model, pairs, dataclasses.replace(Recipe(), part=4))
    loss.backward()
    assert loss.dtype == torch.float32 and torch.isfinite(loss)
    transformer: Any = model[0].auto_model
    weights = dict(transformer.named_parameters())
    for name in ("encoder.layer.0.attention.self.query.weight", "encoder.layer.11.output.dense.weight"):
        grad = weights[name].grad
        assert grad is not None and grad.dtype == torch.float32
        assert torch.isfinite(grad).all() and grad.abs().sum() > 0


@pytest.mark.slow
def test_the_built_model_matches_its_manifest() -> None:
    from sentence_transformers import SentenceTransformer

    manifest = json.loads(MANIFEST_PATH.read_text("utf-8"))
    marker = json.loads((NOTES_MODEL_DIR / MARKER_FILE).read_text("utf-8"))
    assert marker["model_id"] == manifest["model_id"]
    model = SentenceTransformer(str(NOTES_MODEL_DIR), device="cpu", local_files_only=True)
    assert fingerprint_drift(manifest, fingerprint(model)) <= manifest["fingerprint_tolerance"]


@pytest.mark.slow
def test_unseen_subjects_sit_together(embedder: Any) -> None:
    # The corpus's test subjects were never trained on: a note's nearest note is of its own subject
    # far more often than chance (10 subjects: 0.1); the untaught model reached 0.49 here.
    rows = [json.loads(line) for line in (CORPUS_DIR / "eval" / "test.jsonl").read_text("utf-8").splitlines()]
    x = embedder.embed([r["text"] for r in rows], kind="passage")
    sims = x @ x.T
    np.fill_diagonal(sims, -1)
    nearest = sims.argmax(axis=1)
    share = np.mean([rows[i]["label"] == rows[j]["label"] for i, j in enumerate(nearest)])
    assert share >= 0.6
