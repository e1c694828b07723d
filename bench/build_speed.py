"""Training speed of the notes encoder: a step in length-sorted parts against the whole batch.

Usage: .venv/bin/python bench/build_speed.py [--rounds 12] [--no-write]

Times full training steps (forward, backward, optimiser) on the shipped recipe's pairs, a batch
embedded as hiljainen.tools.notes_encoder.fine_tune does (the 32 texts and their 32 partners in a
pass each, padded to the longest) and, measured and not shipped (bench/results/understanding.md
says why), all 64 in parts sorted by length, of 32, 16 and 8: the same loss with less padding.
All run in one process on one model, interleaved: each round gives every way the same batch, in a
rotated order, so a neighbour's load falls on all alike; the first round warms up and is not
counted. Writes bench/results/build.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from benchlib import cpu_model, write_section  # noqa: E402

from hiljainen.config import BASE_MODEL_DIR  # noqa: E402
from hiljainen.pipeline.embed import E5_PREFIXES  # noqa: E402
from hiljainen.tools.notes_encoder import Pair, Recipe, in_batch_loss, input_files, training_pairs  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "build.md"
TITLE = "## Building the notes encoder (issue 18)"
SHIPPED = "as shipped: a pass each side, padded"


def embed(model: Any, texts: list[str], part: int = 0) -> Any:
    """Unit vectors of `texts` with grad: in one padded pass, or `part` at a time sorted by length."""
    import torch

    texts = [E5_PREFIXES["passage"] + t for t in texts]
    if not part:
        return torch.nn.functional.normalize(model(model.tokenize(texts))["sentence_embedding"], dim=-1)
    ids = model.tokenizer(texts, truncation=True, max_length=Recipe().max_tokens)["input_ids"]
    by_length = sorted(range(len(texts)), key=lambda i: (len(ids[i]), i))
    parts = [model(model.tokenize([texts[i] for i in by_length[start:start + part]]))["sentence_embedding"]
             for start in range(0, len(texts), part)]
    out = torch.cat(parts)[torch.argsort(torch.tensor(by_length))]
    return torch.nn.functional.normalize(out, dim=-1)


def loss(model: Any, batch: list[Pair], recipe: Recipe, part: int) -> Any:
    """The batch's contrastive loss as fine_tune computes it, the batch embedded either way."""
    import torch

    if part:
        both = embed(model, [a for a, _, _ in batch] + [b for _, b, _ in batch], part)
        sims = both[: len(batch)] @ both[len(batch):].T * recipe.scale
    else:
        anchors, partners = embed(model, [a for a, _, _ in batch]), embed(model, [b for _, b, _ in batch])
        sims = anchors @ partners.T * recipe.scale
    labels = [lab for _, _, lab in batch]
    return in_batch_loss(sims, torch.tensor([[li == lj for lj in labels] for li in labels]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=12)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    import torch
    from sentence_transformers import SentenceTransformer

    recipe = Recipe()
    pairs = training_pairs(input_files(), recipe)
    steps = int(len(pairs) // recipe.batch_size * recipe.epochs)
    torch.set_num_threads(recipe.threads)
    model = SentenceTransformer(str(BASE_MODEL_DIR), device="cpu", local_files_only=True)
    model.max_seq_length = recipe.max_tokens
    transformer: Any = model[0].auto_model
    transformer.embeddings.word_embeddings.weight.requires_grad_(False)  # as fine_tune
    params = [p for p in model.parameters() if p.requires_grad]

    def way(part: int) -> Callable[[list[Pair]], Any]:
        return lambda batch: loss(model, batch, recipe, part)

    ways = {SHIPPED: way(0), **{f"sorted parts of {part}": way(part) for part in (32, 16, 8)}}
    optimiser = torch.optim.AdamW(params, lr=1e-7)  # timing only: the weights barely move
    model.train()
    seconds: dict[str, list[float]] = {name: [] for name in ways}
    names = list(ways)
    for r in range(args.rounds + 1):
        batch = pairs[r * recipe.batch_size:(r + 1) * recipe.batch_size]
        for name in names[r % len(names):] + names[:r % len(names)]:
            began = time.perf_counter()
            value = ways[name](batch)
            optimiser.zero_grad()
            value.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimiser.step()
            if r:  # the first round warms up
                seconds[name].append(time.perf_counter() - began)
        print(f"round {r}/{args.rounds}", flush=True)
    base = sum(seconds[names[0]])
    rows = []
    for name, s in seconds.items():
        mean = sum(s) / len(s)
        rows.append(f"| {name} | {mean:.2f} s | {base / sum(s):.2f}x | {steps * mean / 60:.1f} min |")
    body = "\n".join([
        f"Command: `.venv/bin/python bench/build_speed.py --rounds {args.rounds}` "
        f"({time.strftime('%Y-%m-%d')}). "
        f"Machine: {cpu_model()}, 2 cores, {recipe.threads} threads. Each way ran the same "
        f"{args.rounds} batches of the shipped recipe's pairs ({recipe.batch_size} pairs, so "
        f"{2 * recipe.batch_size} texts a step), interleaved; the last column is the recipe's "
        "steps at that speed.",
        "",
        f"| a step's texts embedded | seconds a step | speed against shipped "
        f"| the recipe's {steps} steps |",
        "|---|---|---|---|",
        *rows,
    ])
    print(body)
    if not args.no_write:
        write_section(RESULTS, "build_speed", body, TITLE)


if __name__ == "__main__":
    main()
