"""Training speed of the notes encoder: the shipped step against the earlier one and the other ways measured.

Usage: .venv/bin/python bench/build_speed.py [--rounds 12] [--no-write]

Times full training steps (forward, backward, optimiser) on the shipped recipe's pairs, all
layers taught but the word embeddings unless said:
- the baseline, shipped until bfloat16: the 32 texts and their 32 partners in a float32 pass
  each, padded to the longest;
- all 64 texts in parts of 16 sorted by length: the same loss with less padding (built alone as
  79b1281 and withdrawn in 852558f);
- either of those with bfloat16 matrix products (torch autocast; weights, optimiser and loss stay
  float32); parts and bfloat16 together is the shipped step (notes_encoder.batch_loss);
- the embeddings and lower 4 (or 6) layers frozen, their output computed once per text before
  the steps (the last column adds that back), the upper layers run in sorted parts of 16 (built
  as f7cf201 and withdrawn in the commit after it).
bench/results/understanding.md says which were built and why they were or were not shipped.
Each way has its own copy of the model; all run in one process, interleaved, each round giving
every way the same batch in a rotated order, so a neighbour's load falls on all alike; the
first round warms up and is not counted. The split encoder is checked against the plain model
first (eval mode, cosine > 0.9999). Writes bench/results/build.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from benchlib import cpu_model, write_section  # noqa: E402

from hiljainen.config import BASE_MODEL_DIR  # noqa: E402
from hiljainen.pipeline.embed import E5_PREFIXES  # noqa: E402
from hiljainen.tools.notes_encoder import (  # noqa: E402
    Pair,
    Recipe,
    batch_loss,
    embed_in_parts,
    in_batch_loss,
    input_files,
    training_pairs,
)

RESULTS = ROOT / "bench" / "results" / "build.md"
TITLE = "## Building the notes encoder (issue 18)"
BASELINE = "float32, a padded pass each side (shipped until bfloat16)"
PART = 16
PREFIX = E5_PREFIXES["passage"]
Step = tuple[Callable[[list[Pair]], Any], list[Any], float]  # batch loss, parameters, caching seconds


class SplitEncoder:
    """A SentenceTransformer run as frozen embeddings and lower layers, cached per text (eval mode,
    unpadded), and taught upper layers."""

    def __init__(self, model: Any, frozen_layers: int) -> None:
        self.model, self.frozen = model, frozen_layers
        self.transformer: Any = model[0].auto_model
        self.transformer.embeddings.requires_grad_(False)
        for layer in self.transformer.encoder.layer[:frozen_layers]:
            layer.requires_grad_(False)
        self.states: dict[str, Any] = {}

    def _mask(self, hidden: Any, mask: Any) -> Any:
        from transformers.masking_utils import create_bidirectional_mask

        config = self.transformer.config
        return create_bidirectional_mask(config=config, inputs_embeds=hidden, attention_mask=mask)

    def cache(self, texts: Sequence[str]) -> None:
        import torch

        todo = sorted(set(texts) - self.states.keys(), key=len)
        training = self.transformer.training
        self.transformer.eval()
        with torch.no_grad():
            for start in range(0, len(todo), 64):
                part = todo[start:start + 64]
                features = self.model[0].tokenizer([PREFIX + t for t in part], padding=True, truncation=True,
                                                   max_length=Recipe().max_tokens, return_tensors="pt")
                hidden = self.transformer.embeddings(input_ids=features["input_ids"])
                mask = self._mask(hidden, features["attention_mask"])
                for layer in self.transformer.encoder.layer[:self.frozen]:
                    hidden = layer(hidden, mask)
                for text, h, n in zip(part, hidden, features["attention_mask"].sum(dim=1), strict=True):
                    self.states[text] = h[:int(n)].clone()
        self.transformer.train(training)

    def _upper(self, texts: Sequence[str]) -> Any:
        import torch

        rows = [self.states[t] for t in texts]
        hidden = torch.nn.utils.rnn.pad_sequence(rows, batch_first=True)
        mask = (torch.arange(hidden.shape[1])[None, :] < torch.tensor([len(r) for r in rows])[:, None]).long()
        extended = self._mask(hidden, mask)
        for layer in self.transformer.encoder.layer[self.frozen:]:
            hidden = layer(hidden, extended)
        return self.model[1]({"token_embeddings": hidden, "attention_mask": mask})["sentence_embedding"]

    def embed(self, texts: Sequence[str]) -> Any:
        """Unit vectors of cached texts, PART at a time in order of length."""
        import torch

        by_length = sorted(range(len(texts)), key=lambda i: (len(self.states[texts[i]]), i))
        parts = [self._upper([texts[i] for i in by_length[s:s + PART]]) for s in range(0, len(texts), PART)]
        return torch.nn.functional.normalize(torch.cat(parts)[torch.argsort(torch.tensor(by_length))], dim=-1)


def model() -> Any:
    from sentence_transformers import SentenceTransformer

    m = SentenceTransformer(str(BASE_MODEL_DIR), device="cpu", local_files_only=True)
    m.max_seq_length = Recipe().max_tokens
    return m


def loss_of(anchors: Any, partners: Any, batch: list[Pair]) -> Any:
    import torch

    labels = [lab for _, _, lab in batch]
    same = torch.tensor([[li == lj for lj in labels] for li in labels])
    return in_batch_loss(anchors @ partners.T * Recipe().scale, same)


def padded_step(sorted_parts: bool, autocast: str) -> Step:
    """A batch embedded in a padded pass each side (as notes_encoder.fine_tune did before parts),
    or in parts sorted by length (as it does now), under `autocast`."""
    import dataclasses

    m = model()
    m[0].auto_model.embeddings.word_embeddings.weight.requires_grad_(False)
    recipe = dataclasses.replace(Recipe(), autocast=autocast)
    side = dataclasses.replace(recipe, part=Recipe().batch_size)  # a side in one padded pass

    def loss(batch: list[Pair]) -> Any:
        if sorted_parts:
            return batch_loss(m, batch, recipe)
        anchors = embed_in_parts(m, [a for a, _, _ in batch], side)
        return loss_of(anchors, embed_in_parts(m, [b for _, b, _ in batch], side), batch)

    m.train()
    return loss, [p for p in m.parameters() if p.requires_grad], 0.0


def split_step(frozen: int, pairs: list[Pair]) -> Step:
    m = model()
    encoder = SplitEncoder(m, frozen)
    began = time.perf_counter()
    encoder.cache([t for a, b, _ in pairs for t in (a, b)])
    cached = time.perf_counter() - began
    m.train()

    def loss(batch: list[Pair]) -> Any:
        both = encoder.embed([a for a, _, _ in batch] + [b for _, b, _ in batch])
        return loss_of(both[:len(batch)], both[len(batch):], batch)

    return loss, [p for p in m.parameters() if p.requires_grad], cached


def check_split_encoder() -> None:
    """The split encoder in eval mode is the plain model (else its timings mean nothing)."""
    import torch

    m = model()
    texts = ["Ruoka tuli taas kylmänä.", "Kiitos!", "ovikoodi ei toimi",
             "The soup was cold again when it finally arrived at half past two, and nobody called."]
    reference = torch.tensor(m.encode([PREFIX + t for t in texts], normalize_embeddings=True))
    encoder = SplitEncoder(m, 4)
    encoder.cache(texts)
    m.eval()
    with torch.no_grad():
        agreement = float((encoder.embed(texts) * reference).sum(dim=1).min())
    assert agreement > 0.9999, f"the split encoder strays from the model: cosine {agreement:.5f}"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=12)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    import torch

    recipe = Recipe()
    torch.set_num_threads(recipe.threads)
    check_split_encoder()
    pairs = training_pairs(input_files(), recipe)
    steps = int(len(pairs) // recipe.batch_size * recipe.epochs)
    ways = {BASELINE: padded_step(False, "float32"),
            f"float32, all 64 in parts of {PART} sorted by length": padded_step(True, "float32"),
            "bfloat16 products, a padded pass each side": padded_step(False, "bfloat16"),
            f"bfloat16 products, parts of {PART} (shipped)": padded_step(True, "bfloat16")}
    for frozen in (4, 6):
        ways[f"float32, lower {frozen} layers frozen and cached, parts of {PART}"] = split_step(frozen, pairs)
    optimisers = {name: torch.optim.AdamW(params, lr=1e-7) for name, (_, params, _) in ways.items()}
    seconds: dict[str, list[float]] = {name: [] for name in ways}
    names = list(ways)
    for r in range(args.rounds + 1):
        batch = pairs[r * recipe.batch_size:(r + 1) * recipe.batch_size]
        for name in names[r % len(names):] + names[:r % len(names)]:
            loss, params, _ = ways[name]
            began = time.perf_counter()
            value = loss(batch)
            optimisers[name].zero_grad()
            value.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimisers[name].step()
            if r:  # the first round warms up
                seconds[name].append(time.perf_counter() - began)
        print(f"round {r}/{args.rounds}", flush=True)
    base = sum(seconds[BASELINE]) / len(seconds[BASELINE])
    rows = []
    for name, s in seconds.items():
        mean, cached = sum(s) / len(s), ways[name][2]
        rows.append(f"| {name} | {mean:.2f} s | {base / mean:.2f}x | {cached:.0f} s "
                    f"| {(steps * mean + cached) / 60:.1f} min |")
    body = "\n".join([
        f"Command: `.venv/bin/python bench/build_speed.py --rounds {args.rounds}` "
        f"({time.strftime('%Y-%m-%d')}). "
        f"Machine: {cpu_model()}, 2 cores, {recipe.threads} threads. Each way ran the same "
        f"{args.rounds} batches of the recipe's pairs ({recipe.batch_size} pairs, so "
        f"{2 * recipe.batch_size} texts a step), interleaved; the last column is the recipe's "
        f"{steps} steps at that speed plus the caching.",
        "",
        "| a step | seconds a step | speed against the baseline | caching the lower layers "
        f"| {steps} steps and the caching |",
        "|---|---|---|---|---|",
        *rows,
    ])
    print(body)
    if not args.no_write:
        write_section(RESULTS, "build_speed", body, TITLE)


if __name__ == "__main__":
    main()
