"""Teach multilingual-e5-small the notes people write: a contrastive fine-tune on CPU.

`hiljainen models build` runs this after converting the base model. Pairs of texts that mean the
same subject are pulled together and every other text of the batch pushed away
(MultipleNegativesRankingLoss, both directions, as in sentence-transformers):
- notes of one subject from the team's corpus (bench/corpus: the training, development and
  extra subjects; the test subjects stay unseen) and its Finnish-English pairs of one note,
- when the shared development data is present, Turku paraphrase pairs (80 % of them; the rest
  measure forgetting) and clinc150 same-intent pairs (banking77 is never trained on).
Texts of one label in a batch are not counted as each other's negatives. The word-embedding
matrix stays frozen (it holds most of the weights and all the languages the notes never show).
A batch is embedded in parts of similar length (padding a whole side to its longest text made
half of the tokens padding) with bfloat16 matrix products (float32 weights, optimiser and loss):
together half the time of one padded float32 pass a side (bench/build_speed.py).

The build is pinned: inputs are checksummed into the model id, the recipe is fixed, and the
training runs on one seeded order, so two builds from the same inputs give the same id and
near-identical vectors (a probe fingerprint in the manifest is checked after every build).
"""

from __future__ import annotations

import hashlib
import json
import random
import shutil
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hiljainen.config import BASE_MODEL_DIR, CORPUS_DIR, NOTES_MODEL_DIR, SHARED_DATA_DIR
from hiljainen.errors import ConfigError
from hiljainen.pipeline import centres
from hiljainen.pipeline.embed import E5_PREFIXES, MARKER_FILE
from hiljainen.pipeline.embed_onnx import graph_record
from hiljainen.tools.onnx_int8 import WEIGHT_BITS, build_onnx_int8

NAME = "hiljainen-notes-e5"
MANIFEST_PATH = NOTES_MODEL_DIR.parent / f"{NAME}.json"
# Sentences whose pairwise cosines fingerprint a build (two builds must agree within FINGERPRINT_TOLERANCE).
PROBES = (
    "Ruoka tuli taas kylmänä.",
    "Lounas tuli vasta kahdelta.",
    "The soup was cold again when it arrived.",
    "Ovikoodi ei toimi, en päässyt sisään.",
    "Pihan valot on olleet rikki viikon.",
    "Hoitaja oli taas niin kiireinen ettei ehtinyt jutella.",
    "Työvuorolista tuli myöhässä.",
    "Kiitos ihanalle hoitajalle!",
)
FINGERPRINT_TOLERANCE = 0.01

Progress = Callable[[str], None]
Pair = tuple[str, str, str]  # text, text, label


@dataclass(frozen=True)
class Recipe:
    """How the encoder is trained; changing any value changes the model id."""

    seed: int = 0
    epochs: float = 1.0
    batch_size: int = 32
    learning_rate: float = 2e-5
    warmup_share: float = 0.1
    weight_decay: float = 0.01
    max_tokens: int = 64
    part: int = 16  # texts a forward pass, a batch sorted by length (embed_in_parts)
    autocast: str = "bfloat16"  # the matrix products' type in training ("float32": none)
    scale: float = 20.0
    note_rounds: int = 4
    clinc_pairs: int = 2000
    turku_train_share: int = 4  # of every 5 paraphrase groups; the fifth measures forgetting
    splits: tuple[str, ...] = ("train", "dev", "extra")
    threads: int = 2


def _rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def turku_held_out(label: str) -> bool:
    """Whether a Turku paraphrase group is kept out of training (to measure forgetting)."""
    return int(label.split("-")[1]) % 5 == 0


def input_files(corpus: Path = CORPUS_DIR, shared: Path = SHARED_DATA_DIR) -> list[Path]:
    """Every file the training reads, in a fixed order (shared data only when present)."""
    files = [corpus / "split.json",
             *(f for kind in ("notes", "pairs") for folder in (corpus, corpus / "extra")
               for f in sorted((folder / kind).glob("*.jsonl")))]
    if (shared / "turku_paraphrase_dev.jsonl").is_file() and (shared / "clinc150_train.jsonl").is_file():
        files += [shared / "turku_paraphrase_dev.jsonl", shared / "clinc150_train.jsonl"]
    return files


def training_pairs(files: Sequence[Path], recipe: Recipe) -> list[Pair]:
    """The labelled pairs, in a seeded order."""
    rnd = random.Random(recipe.seed)
    by_name = {f.name: f for f in files}
    split = json.loads(by_name["split.json"].read_text("utf-8"))
    subjects = {s for name in recipe.splits for s in split[name]}
    pairs: list[Pair] = []
    notes: dict[str, list[str]] = defaultdict(list)
    for f in files:
        if f.parent.name == "notes":
            for r in _rows(f):
                if r["subject"] in subjects:
                    notes[r["subject"]].append(r["text"])
        elif f.parent.name == "pairs":
            pairs += [(r["fi"], r["en"], "note:" + r["subject"])
                      for r in _rows(f) if r["subject"] in subjects]
    for _ in range(recipe.note_rounds):
        for subject in sorted(notes):
            texts = notes[subject][:]
            rnd.shuffle(texts)
            pairs += [(texts[i], texts[i + 1], "note:" + subject) for i in range(0, len(texts) - 1, 2)]
    if "turku_paraphrase_dev.jsonl" in by_name:
        groups: dict[str, list[str]] = defaultdict(list)
        for r in _rows(by_name["turku_paraphrase_dev.jsonl"]):
            groups[r["label"]].append(r["text"])
        pairs += [(t[0], t[1], "turku:" + lab) for lab, t in sorted(groups.items())
                  if len(t) >= 2 and not turku_held_out(lab)]
    if "clinc150_train.jsonl" in by_name and recipe.clinc_pairs:
        intents: dict[str, list[str]] = defaultdict(list)
        for r in _rows(by_name["clinc150_train.jsonl"]):
            intents[r["label"]].append(r["text"])
        clinc: list[Pair] = []
        for lab in sorted(intents):
            texts = intents[lab][:]
            rnd.shuffle(texts)
            clinc += [(texts[i], texts[i + 1], "clinc:" + lab) for i in range(0, len(texts) - 1, 2)]
        rnd.shuffle(clinc)
        pairs += clinc[: recipe.clinc_pairs]
    rnd.shuffle(pairs)
    return pairs


def onnx_texts(files: Sequence[Path]) -> tuple[list[str], list[str]]:
    """Notes to calibrate the int8 graph on (training subjects) and to check it on (the others)."""
    corpus = next(f for f in files if f.name == "split.json")
    train = set(json.loads(corpus.read_text("utf-8"))["train"])
    notes = [r for f in files if f.parent.name == "notes" for r in _rows(f)]
    calibration = [r["text"] for r in notes if r["subject"] in train]
    check = [r["text"] for r in notes if r["subject"] not in train]
    return calibration[::5][:320], check[::2][:400]


def taught_notes(files: Sequence[Path], recipe: Recipe) -> tuple[list[str], list[str]]:
    """Texts and languages of the corpus notes the encoder is taught on (its language centres)."""
    split = json.loads(next(f for f in files if f.name == "split.json").read_text("utf-8"))
    subjects = {s for name in recipe.splits for s in split[name]}
    rows = [r for f in files if f.parent.name == "notes" for r in _rows(f) if r["subject"] in subjects]
    return [r["text"] for r in rows], [r["lang"] for r in rows]


def write_centres(model: Any, folder: Path, files: Sequence[Path], recipe: Recipe, say: Progress) -> None:
    """The language centres of a trained model, next to it (hiljainen.pipeline.centres)."""
    texts, langs = taught_notes(files, recipe)
    prefix = E5_PREFIXES["passage"]
    found = centres.compute(
        lambda ts: model.encode([prefix + t for t in ts], batch_size=64, normalize_embeddings=True),
        texts, langs)
    centres.write(folder, found)
    counts = ", ".join(f"{langs.count(k)} {k}" for k in found)
    say(f"language centres from {counts} notes")


def inputs_digest(files: Sequence[Path], recipe: Recipe, base_id: str) -> dict[str, Any]:
    """Checksums of every input and the recipe; `digest` names the model."""
    sums = {f"{f.parent.name}/{f.name}": hashlib.sha256(f.read_bytes()).hexdigest() for f in files}
    blob = json.dumps({"base": base_id, "files": sums, "recipe": asdict(recipe)}, sort_keys=True)
    return {"base": base_id, "files": sums, "recipe": asdict(recipe),
            "digest": hashlib.sha256(blob.encode()).hexdigest()[:12]}


def in_batch_loss(sims: Any, same: Any) -> Any:
    """The symmetric in-batch contrastive loss of scaled similarities (row i's partner is column i);
    `same` marks pairs of one label, which are not each other's negatives."""
    import torch

    sims = sims.masked_fill(same & ~torch.eye(len(sims), dtype=torch.bool), -1e4)
    target = torch.arange(len(sims))
    return (torch.nn.functional.cross_entropy(sims, target)
            + torch.nn.functional.cross_entropy(sims.T, target)) / 2


def embed_in_parts(model: Any, texts: Sequence[str], recipe: Recipe) -> Any:
    """Unit vectors of `texts` (float32, with grad), embedded `recipe.part` at a time in order of
    length, under the recipe's autocast."""
    import torch

    texts = [E5_PREFIXES["passage"] + t for t in texts]
    ids = model.tokenizer(texts, truncation=True, max_length=model.max_seq_length)["input_ids"]
    by_length = sorted(range(len(texts)), key=lambda i: (len(ids[i]), i))
    low = recipe.autocast != "float32"
    with torch.autocast("cpu", dtype=getattr(torch, recipe.autocast), enabled=low):
        parts = [model(model.tokenize([texts[i] for i in by_length[start:start + recipe.part]]))
                 for start in range(0, len(texts), recipe.part)]
    out = torch.cat([p["sentence_embedding"].float() for p in parts])
    return torch.nn.functional.normalize(out[torch.argsort(torch.tensor(by_length))], dim=-1)


def batch_loss(model: Any, batch: Sequence[Pair], recipe: Recipe) -> Any:
    """The contrastive loss of one batch of pairs (a model in train mode)."""
    import torch

    both = embed_in_parts(model, [a for a, _, _ in batch] + [b for _, b, _ in batch], recipe)
    sims = both[: len(batch)] @ both[len(batch):].T * recipe.scale
    labels = [lab for _, _, lab in batch]
    return in_batch_loss(sims, torch.tensor([[li == lj for lj in labels] for li in labels]))


def fine_tune(base: Path, pairs: Sequence[Pair], recipe: Recipe, say: Progress) -> Any:
    """The base model trained on `pairs` (a SentenceTransformer, in eval mode)."""
    import torch
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(recipe.seed)
    torch.set_num_threads(recipe.threads)
    model = SentenceTransformer(str(base), device="cpu", local_files_only=True)
    model.max_seq_length = recipe.max_tokens
    transformer: Any = model[0].auto_model
    transformer.embeddings.word_embeddings.weight.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(params, lr=recipe.learning_rate, weight_decay=recipe.weight_decay)
    steps = int(len(pairs) // recipe.batch_size * recipe.epochs)
    warm = max(1, int(steps * recipe.warmup_share))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min((s + 1) / warm, max(0.0, (steps - s) / max(1, steps - warm))))
    rnd = random.Random(recipe.seed)
    order = [i for _ in range(int(np.ceil(recipe.epochs)) + 1) for i in range(len(pairs))]
    model.train()
    started = time.monotonic()
    for step in range(steps):
        batch = [pairs[i] for i in order[step * recipe.batch_size:(step + 1) * recipe.batch_size]]
        batch = [(a, b, lab) if rnd.random() < 0.5 else (b, a, lab) for a, b, lab in batch]
        loss = batch_loss(model, batch, recipe)
        optimiser.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimiser.step()
        schedule.step()
        if step % 10 == 0 or step == steps - 1:
            say(f"step {step + 1}/{steps}, loss {loss.item():.3f}, {time.monotonic() - started:.0f} s")
    model.eval()
    model.max_seq_length = 512
    return model


def fingerprint(model: Any) -> list[float]:
    """Pairwise cosines of the probe sentences (upper triangle, rounded)."""
    x = model.encode([E5_PREFIXES["passage"] + p for p in PROBES], normalize_embeddings=True)
    sims = np.asarray(x) @ np.asarray(x).T
    return [round(float(sims[i, j]), 4) for i in range(len(PROBES)) for j in range(i + 1, len(PROBES))]


def build_notes_encoder(
    base: Path = BASE_MODEL_DIR,
    out_dir: Path = NOTES_MODEL_DIR,
    manifest_path: Path = MANIFEST_PATH,
    recipe: Recipe | None = None,
    *,
    force: bool = False,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Train the notes encoder unless `out_dir` already holds this build; return its manifest."""
    say = progress or (lambda _msg: None)
    recipe = recipe or Recipe()
    marker = base / MARKER_FILE
    if not marker.is_file():
        raise ConfigError(f"the base model {base.name} is not built: run `hiljainen models build`")
    base_id = json.loads(marker.read_text("utf-8"))["model_id"]
    files = input_files()
    inputs = inputs_digest(files, recipe, base_id)
    model_id = f"{NAME}@{inputs['digest']}"
    built = out_dir / MARKER_FILE
    if not force and built.is_file() and json.loads(built.read_text("utf-8")).get("model_id") == model_id:
        known = json.loads(manifest_path.read_text("utf-8")) if manifest_path.is_file() else {}
        # Built before the int8 graph was served, or with 8-bit weights (which saturate without VNNI).
        if graph_record(out_dir).get("weight_bits") != WEIGHT_BITS:
            known["served"] = build_onnx_int8(out_dir, model_id, *onnx_texts(files), say)
            if known.get("model_id") == model_id:
                manifest_path.write_text(json.dumps(known, indent=2) + "\n", encoding="utf-8")
        if not (out_dir / centres.FILE).is_file():  # built before the centres were written
            from sentence_transformers import SentenceTransformer

            write_centres(SentenceTransformer(str(out_dir), device="cpu", local_files_only=True),
                          out_dir, files, recipe, say)
        say(f"{out_dir.name} is up to date ({model_id})")
        return known
    if not any(f.name == "clinc150_train.jsonl" for f in files):
        say("shared development data not found: training on the team's corpus alone")
    pairs = training_pairs(files, recipe)
    say(f"training {NAME} on {len(pairs)} pairs (8-11 minutes on 2 cores)")
    model = fine_tune(base, pairs, recipe, say)
    tmp = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save(str(tmp))
    marker_doc = {"model_id": model_id, "prefixes": E5_PREFIXES}
    (tmp / MARKER_FILE).write_text(json.dumps(marker_doc, indent=2) + "\n", encoding="utf-8")
    write_centres(model, tmp, files, recipe, say)
    served = build_onnx_int8(tmp, model_id, *onnx_texts(files), say)
    shutil.rmtree(out_dir, ignore_errors=True)
    tmp.rename(out_dir)
    prints = fingerprint(model)
    manifest = {"name": NAME, "model_id": model_id, "inputs": inputs, "pairs": len(pairs),
                "fingerprint": prints, "fingerprint_tolerance": FINGERPRINT_TOLERANCE,
                "served": served}
    if manifest_path.is_file():
        known = json.loads(manifest_path.read_text("utf-8"))
        if known.get("model_id") == model_id:
            # The manifest is the reference build; tests/unit/test_notes_encoder.py fails on drift.
            drift = fingerprint_drift(known, prints)
            verdict = "matches" if drift <= FINGERPRINT_TOLERANCE else "DIFFERS FROM"
            say(f"{NAME} {verdict} the manifest's fingerprint (largest difference {drift:.4f})")
            if known.get("served") != served:
                known["served"] = served
                manifest_path.write_text(json.dumps(known, indent=2) + "\n", encoding="utf-8")
            return known
    manifest_path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def fingerprint_drift(manifest: dict[str, Any], prints: Sequence[float]) -> float:
    """Largest difference between a build's probe cosines and the manifest's."""
    return max(abs(a - b) for a, b in zip(manifest["fingerprint"], prints, strict=True))
