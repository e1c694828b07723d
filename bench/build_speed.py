"""Training speed of the notes encoder: a step in length-sorted parts against the whole batch.

Usage: .venv/bin/python bench/build_speed.py [--rounds 12] [--no-write]

Times full training steps (forward, backward, optimiser) on the shipped recipe's pairs, a batch
embedded as built until 2026-12-07 (the 32 texts and their 32 partners in a pass each, padded to
the longest) and as hiljainen.tools.notes_encoder.batch_loss embeds it now, in parts sorted by
length, of 32, 16 (shipped) and 8. All run in one process on one model, interleaved: each round
gives every way the same batch, in a rotated order, so a neighbour's load falls on all alike;
the first round warms up and is not counted. Writes bench/results/build.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from dataclasses import replace
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
    in_batch_loss,
    input_files,
    trainable,
    training_pairs,
)

RESULTS = ROOT / "bench" / "results" / "build.md"
TITLE = "## Building the notes encoder (issue 18)"
BEFORE = "as built before: a pass each side, padded"


def loss_before(model: Any, batch: list[Pair], recipe: Recipe) -> Any:
    """The batch's loss as fine_tune computed it until 2026-12-07 (the baseline)."""
    import torch

    def encode(texts: list[str]) -> Any:
        out = model(model.tokenize([E5_PREFIXES["passage"] + t for t in texts]))
        return torch.nn.functional.normalize(out["sentence_embedding"], dim=-1)

    sims = encode([a for a, _, _ in batch]) @ encode([b for _, b, _ in batch]).T * recipe.scale
    labels = [lab for _, _, lab in batch]
    return in_batch_loss(sims, torch.tensor([[li == lj for lj in labels] for li in labels]))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=12)
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    import torch

    recipe = Recipe()
    pairs = training_pairs(input_files(), recipe)
    steps = int(len(pairs) // recipe.batch_size * recipe.epochs)
    model, params = trainable(BASE_MODEL_DIR, recipe)

    def in_parts(part: int) -> Callable[[list[Pair]], Any]:
        return lambda batch: batch_loss(model, batch, replace(recipe, part=part))

    ways: dict[str, Callable[[list[Pair]], Any]] = {BEFORE: lambda batch: loss_before(model, batch, recipe)}
    for part in (32, 16, 8):
        ways[f"sorted parts of {part}" + (" (shipped)" if part == recipe.part else "")] = in_parts(part)
    optimiser = torch.optim.AdamW(params, lr=1e-7)  # timing only: the weights barely move
    model.train()
    seconds: dict[str, list[float]] = {name: [] for name in ways}
    names = list(ways)
    for r in range(args.rounds + 1):
        batch = pairs[r * recipe.batch_size:(r + 1) * recipe.batch_size]
        for name in names[r % len(names):] + names[:r % len(names)]:
            began = time.perf_counter()
            loss = ways[name](batch)
            optimiser.zero_grad()
            loss.backward()
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
        f"| a step's texts embedded | seconds a step | speed against before "
        f"| the recipe's {steps} steps |",
        "|---|---|---|---|",
        *rows,
    ])
    print(body)
    if not args.no_write:
        write_section(RESULTS, "build_speed", body, TITLE)


if __name__ == "__main__":
    main()
