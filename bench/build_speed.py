"""Training speed of the notes encoder: the step as it was against the step the recipe takes now.

Usage: .venv/bin/python bench/build_speed.py [--rounds 12] [--no-write]

Times full training steps (forward, backward, optimiser) on the recipe's pairs. The baseline is
the step as first shipped: the 32 texts and their 32 partners in a pass each, padded to the
longest, through all twelve layers (only the word embeddings frozen). Against it, the step of
hiljainen.tools.encoder_training with the lower 0, 4 and 6 layers frozen (their output computed
once per text, before the timed steps, which the last column adds back) and the batch in parts of
16 sorted by length. Each way has its own copy of the model; all run in one process, interleaved,
each round giving every way the same batch in a rotated order, so a neighbour's load falls on all
alike; the first round warms up and is not counted. Writes bench/results/build.md.
"""

from __future__ import annotations

import argparse
import dataclasses
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
from hiljainen.tools.encoder_training import SplitEncoder, in_batch_loss, step_loss  # noqa: E402
from hiljainen.tools.notes_encoder import Pair, Recipe, input_files, training_pairs  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "build.md"
TITLE = "## Building the notes encoder (issue 18)"
BASELINE = "as first shipped: a pass each side, padded, all layers"
PART = 16


def model() -> Any:
    from sentence_transformers import SentenceTransformer

    m = SentenceTransformer(str(BASE_MODEL_DIR), device="cpu", local_files_only=True)
    m.max_seq_length = Recipe().max_tokens
    return m


def baseline_step(recipe: Recipe) -> tuple[Callable[[list[Pair]], Any], list[Any], float]:
    """The first shipped step: the loss of a batch, its parameters, no caching."""
    import torch

    m = model()
    m[0].auto_model.embeddings.word_embeddings.weight.requires_grad_(False)
    prefix = E5_PREFIXES["passage"]

    def embed(texts: list[str]) -> Any:
        out = m(m.tokenize([prefix + t for t in texts]))["sentence_embedding"]
        return torch.nn.functional.normalize(out, dim=-1)

    def loss(batch: list[Pair]) -> Any:
        sims = embed([a for a, _, _ in batch]) @ embed([b for _, b, _ in batch]).T * recipe.scale
        labels = [lab for _, _, lab in batch]
        return in_batch_loss(sims, torch.tensor([[li == lj for lj in labels] for li in labels]))

    m.train()
    return loss, [p for p in m.parameters() if p.requires_grad], 0.0


def split_step(recipe: Any, pairs: list[Pair]) -> tuple[Callable[[list[Pair]], Any], list[Any], float]:
    """encoder_training's step; the seconds to cache every training text's lower layers."""
    m = model()
    encoder = SplitEncoder(m, recipe.frozen_layers, recipe.max_tokens)
    began = time.perf_counter()
    encoder.cache([t for a, b, _ in pairs for t in (a, b)])
    cached = time.perf_counter() - began
    m.train()
    params = [p for p in m.parameters() if p.requires_grad]
    return (lambda batch: step_loss(encoder, batch, recipe)), params, cached


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=12)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    import torch

    recipe = Recipe()
    pairs = training_pairs(input_files(), recipe)
    steps = int(len(pairs) // recipe.batch_size * recipe.epochs)
    torch.set_num_threads(recipe.threads)
    ways = {BASELINE: baseline_step(recipe)}
    for frozen in (0, 4, 6):
        way = dataclasses.replace(recipe, frozen_layers=frozen, part=PART)
        name = f"lower {frozen} layers frozen and cached, parts of {PART} sorted by length"
        ways[name] = split_step(way, pairs)
        print(f"cached the lower {frozen} layers in {ways[name][2]:.0f} s", flush=True)
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
        mean = sum(s) / len(s)
        total = steps * mean + ways[name][2]
        rows.append(f"| {name} | {mean:.2f} s | {base / mean:.2f}x | {ways[name][2]:.0f} s "
                    f"| {total / 60:.1f} min |")
    body = "\n".join([
        f"Command: `.venv/bin/python bench/build_speed.py --rounds {args.rounds}` "
        f"({time.strftime('%Y-%m-%d')}). "
        f"Machine: {cpu_model()}, 2 cores, {recipe.threads} threads. Each way ran the same "
        f"{args.rounds} batches of the recipe's pairs ({recipe.batch_size} pairs, so "
        f"{2 * recipe.batch_size} texts a step), interleaved; the last column is the recipe's "
        f"{steps} steps at that speed plus the caching.",
        "",
        "| a step | seconds a step | speed against the first | caching the lower layers "
        f"| {steps} steps and the caching |",
        "|---|---|---|---|---|",
        *rows,
    ])
    print(body)
    if not args.no_write:
        write_section(RESULTS, "build_speed", body, TITLE)


if __name__ == "__main__":
    main()
