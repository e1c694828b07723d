"""Search quality: `hiljainen neighbors` on the Turku paraphrase pairs next to exact cosine over the same
embeddings, cross-language retrieval with and without the language-direction correction, and the
similarity thresholds of suggestions and near-duplicates.

Run: .venv/bin/python bench/search_quality.py   (writes the "Quality" section of bench/results/search.md)
All figures come from one run with the service's configured embedder (HILJAINEN_EMBED_BACKEND).
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchlib import write_section  # noqa: E402

from hiljainen.config import Settings  # noqa: E402
from hiljainen.pipeline import centres, fusion  # noqa: E402
from hiljainen.pipeline.embed import load_embedder  # noqa: E402
from hiljainen.pipeline.language import detect  # noqa: E402
from hiljainen.search.suggest import SUGGEST_MIN_SIMILARITY  # noqa: E402
from hiljainen.tools.neighbors import exact_neighbors, neighbors_file, read_texts  # noqa: E402

DATA = ROOT / ".." / "shared" / "data"
RESULTS = ROOT / "bench" / "results" / "search.md"
TURKU = DATA / "turku_paraphrase_dev.jsonl"

# Short queries for the first 24 reference pairs (same order), written for this benchmark.
QUERIES: list[tuple[str, str]] = [
    ("kylmä ruoka", "cold food"),
    ("ateria myöhässä", "late delivery"),
    ("rikkinäinen hissi", "broken elevator"),
    ("vuorolista myöhään", "shift schedule late"),
    ("kahviautomaatti tyhjä", "coffee machine empty"),
    ("laulutuokio", "singing activity"),
    ("pihavalot rikki", "yard lighting broken"),
    ("lääkkeet väärään aikaan", "medication timing"),
    ("saunavuorot", "sauna times"),
    ("vuokran eräpäivä", "rent due date"),
    ("yövuoro henkilöstöpula", "night shift understaffed"),
    ("siivous jäi tekemättä", "cleaning missed"),
    ("pienet annokset", "small portions"),
    ("ulkoilu harvoin", "outdoor time"),
    ("kadonneet pyykit", "lost laundry"),
    ("ystävällinen kuljettaja", "helpful driver"),
    ("ovikello rikki", "doorbell broken"),
    ("kasvisruoka", "vegetarian food"),
    ("tiedonkulku omaisille", "information to relatives"),
    ("homeen haju", "mould smell"),
    ("vessapaperi loppu", "toilet paper"),
    ("liukas piha", "icy yard"),
    ("kylmä asunto", "cold apartment"),
    ("maitoallergia", "milk allergy"),
]


class Recording:
    """Wraps the embedder and keeps the passage vectors it returns (for the exact comparison)."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.model_id = inner.model_id  # type: ignore[attr-defined]
        self.dimension = inner.dimension  # type: ignore[attr-defined]
        self.language_centres = centres.of(inner)  # the command ranks by them, so exact search must too
        self.parts: list[np.ndarray] = []

    def embed(self, texts: Sequence[str], kind: str = "passage") -> np.ndarray:
        out = self.inner.embed(texts, kind=kind)  # type: ignore[attr-defined]
        self.parts.append(out)
        return out


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def recall(neighbors: Sequence[Sequence[int]], partner: Sequence[int], k: int) -> float:
    return float(np.mean([p in row[:k] for row, p in zip(neighbors, partner, strict=True)]))


def turku(embedder: object) -> tuple[list[str], np.ndarray, list[int]]:
    """Recall of the index (the neighbors command's code) and of exact cosine; the vectors as stored."""
    rows = read_jsonl(TURKU)
    by_label: dict[str, list[int]] = {}
    for i, r in enumerate(rows):
        by_label.setdefault(r["label"], []).append(i)
    partner = [0] * len(rows)
    for a, b in by_label.values():
        partner[a], partner[b] = b, a
    rec = Recording(embedder)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.jsonl"
        neighbors_file(TURKU, out, k=10, embedder=rec)  # type: ignore[arg-type]
        inproc = [json.loads(line)["neighbors"] for line in out.read_text().splitlines()]
        cli, seconds = _run_cli(Path(tmp))
    stored = np.concatenate(rec.parts)  # as stored: suggestions and duplicates compare these
    vectors = stored
    if rec.language_centres is not None:  # as the command ranks them
        vectors = centres.centred(stored, [detect(r["text"]).code for r in rows], rec.language_centres)
    exact = exact_neighbors(vectors, 10)
    index = cli if cli is not None else inproc
    loss = 100 * (recall(index, partner, 10) - recall(exact, partner, 10))
    name = "`hiljainen neighbors` (CLI, Chroma HNSW index)" if cli is not None else "`neighbors_file` (index)"
    lines = [
        f"Data: `../shared/data/turku_paraphrase_dev.jsonl`, {len(rows)} Finnish lines in {len(by_label)} "
        "paraphrase pairs; each line's partner is the one relevant neighbour.",
        "",
        "| search | recall@1 | recall@10 |",
        "|---|---:|---:|",
        f"| {name} | {recall(index, partner, 1):.3f} | {recall(index, partner, 10):.3f} |",
        f"| the same code in-process, a second index build | {recall(inproc, partner, 1):.3f} | "
        f"{recall(inproc, partner, 10):.3f} |",
        f"| exact cosine, same embeddings | {recall(exact, partner, 1):.3f} | "
        f"{recall(exact, partner, 10):.3f} |",
        "",
        f"Index minus exact, recall@10: {loss:+.1f} points (the goal allows -1.0). "
        "Neighbour lists identical to exact search for "
        f"{np.mean([a == b for a, b in zip(index, exact, strict=True)]):.1%} of lines (HNSW builds are not "
        "deterministic, so two builds differ slightly on near-ties)."
        + (f" The CLI took {seconds:.0f} s, embedding and index build included." if cli is not None else ""),
    ]
    return lines, stored, partner


def _run_cli(tmp: Path) -> tuple[list[list[int]] | None, float]:
    """The real command's output, when the command is wired (None otherwise), and its run time."""
    exe = shutil.which("hiljainen", path=str(Path(sys.executable).parent))
    if (
        exe is None
        or "neighbors" not in subprocess.run([exe, "--help"], capture_output=True, text=True).stdout
    ):
        return None, 0.0
    out = tmp / "cli.jsonl"
    start = time.perf_counter()
    subprocess.run([exe, "neighbors", str(TURKU), "--k", "10", "--out", str(out)], check=True)
    seconds = time.perf_counter() - start
    return [json.loads(line)["neighbors"] for line in out.read_text().splitlines()], seconds


def thresholds(vectors: np.ndarray, partner: list[int], texts: list[str], embedder: object) -> list[str]:
    """Where paraphrases, unrelated nearest neighbours and retyped copies fall, for the two thresholds."""
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -1)
    pc = np.array([sims[i, p] for i, p in enumerate(partner)])
    for i, p in enumerate(partner):
        sims[i, p] = -1
    other = sims.max(axis=1)
    rng = random.Random(0)
    picks = rng.sample(range(len(texts)), 300)
    copies = [_retype(texts[i], rng) for i in picks]
    cv = embedder.embed(copies, kind="passage")  # type: ignore[attr-defined]
    copy_sim = np.sum(cv * vectors[picks], axis=1)
    norm = fusion.normalised
    copy_dup = np.array(
        [
            s >= fusion.DUPLICATE_SIMILARITY
            or fusion.text_similarity(norm(c), norm(texts[i])) >= fusion.TEXT_SIMILARITY
            for s, c, i in zip(copy_sim, copies, picks, strict=True)
        ]
    )
    para_dup = np.array(
        [
            s >= fusion.DUPLICATE_SIMILARITY
            or fusion.text_similarity(norm(texts[i]), norm(texts[p])) >= fusion.TEXT_SIMILARITY
            for i, (p, s) in enumerate(zip(partner, pc, strict=True))
        ]
    )
    qs = [5, 25, 50, 75, 95]
    lines = [
        f"Cosine similarity (passage to passage) percentiles {'/'.join(str(q) for q in qs)}:",
        "",
        "| pairs | " + " | ".join(f"p{q}" for q in qs) + " |",
        "|---|" + "---:|" * len(qs),
        "| paraphrase partners | " + " | ".join(f"{v:.3f}" for v in np.percentile(pc, qs)) + " |",
        "| nearest unrelated line | " + " | ".join(f"{v:.3f}" for v in np.percentile(other, qs)) + " |",
        "| retyped copy (1-2 typos or a dropped/added word) | "
        + " | ".join(f"{v:.3f}" for v in np.percentile(copy_sim, qs))
        + " |",
        "",
        f"Suggestions under the note forms need cosine >= {SUGGEST_MIN_SIMILARITY}: "
        f"{np.mean(pc >= SUGGEST_MIN_SIMILARITY):.1%} of paraphrase partners and "
        f"{np.mean(other >= SUGGEST_MIN_SIMILARITY):.1%} of nearest unrelated lines pass (so suggestions "
        "also filter by unit, writer kind and recency, and show 3 at most).",
        f"Near-duplicates of the same writer (same or next day) need cosine >= {fusion.DUPLICATE_SIMILARITY} "
        f"or edit similarity >= {fusion.TEXT_SIMILARITY}: {np.mean(copy_dup):.1%} of retyped copies pass "
        f"({np.mean(copy_sim >= fusion.DUPLICATE_SIMILARITY):.1%} by cosine alone), "
        f"{np.mean(para_dup):.1%} of paraphrase partners (reworded sentences, which one writer rarely sends "
        f"twice in a day) and {np.mean(other >= fusion.DUPLICATE_SIMILARITY):.1%} of unrelated "
        "nearest lines.",
    ]
    return lines


def _retype(text: str, rng: random.Random) -> str:
    words = text.split()
    kind = rng.choice(["typo", "typo2", "drop", "add"])
    if kind.startswith("typo"):
        chars = list(text)
        for _ in range(1 if kind == "typo" else 2):
            i = rng.randrange(len(chars))
            chars[i] = rng.choice("aeiknstloä")
        return "".join(chars)
    if kind == "drop" and len(words) > 3:
        del words[rng.randrange(len(words))]
        return " ".join(words)
    words.insert(rng.randrange(len(words) + 1), rng.choice(["taas", "kyllä", "nyt", "vielä"]))
    return " ".join(words)


def cross_language(embedder: object) -> list[str]:
    """Short queries in one language, the matching note in the other, among 900 unrelated sentences."""
    ref = fusion.LANGUAGE_REFERENCE
    emb = embedder.embed  # type: ignore[attr-defined]
    fi_notes = emb([p[0] for p in ref], kind="passage")
    en_notes = emb([p[1] for p in ref], kind="passage")
    fi_q = emb([q[0] for q in QUERIES], kind="query")
    en_q = emb([q[1] for q in QUERIES], kind="query")
    rng = random.Random(0)
    xed = [r["text"] for r in read_jsonl(DATA / "xed_fi_train.jsonl")]
    bank = [r["text"] for r in read_jsonl(DATA / "banking77_train.jsonl")]
    fi_d = emb(rng.sample(xed, 600), kind="passage")
    en_d = emb(rng.sample(bank, 300), kind="passage")
    n, half = len(QUERIES), len(QUERIES) // 2
    results: dict[str, dict[str, list[bool]]] = {}
    for method in ("raw cosine", "language direction removed from the query (service)"):
        res: dict[str, list[bool]] = {"same@1": [], "same@10": [], "cross@1": [], "cross@10": []}
        for swap in (False, True):
            a, b = (en_notes, fi_notes) if swap else (fi_notes, en_notes)
            la, lb = ("en", "fi") if swap else ("fi", "en")
            corpus = np.concatenate([a[:half], b[half:n], fi_d, en_d])
            langs = [la] * half + [lb] * (n - half) + ["fi"] * len(fi_d) + ["en"] * len(en_d)
            for queries, ql in ((fi_q, "fi"), (en_q, "en")):
                for t in range(n):
                    q = queries[t]
                    if method.startswith("language"):
                        keep = [i for i in range(len(ref)) if i != t]  # the target's own pair is held out
                        q = fusion.without_language(
                            q, fusion.language_direction(fi_notes[keep], en_notes[keep])
                        )
                    s = corpus @ q
                    rank = int((s > s[t]).sum()) + 1
                    kind = "same" if langs[t] == ql else "cross"
                    res[f"{kind}@1"].append(rank == 1)
                    res[f"{kind}@10"].append(rank <= 10)
        results[method] = res
    lines = [
        f'{n} short queries in each language (e.g. "kylmä ruoka" / "cold food") for notes written in both '
        "languages; the corpus holds each note in one language only (half Finnish, half English, "
        "then swapped) among 600 Finnish (XED) and 300 English (Banking77) unrelated sentences. "
        "The corrected run leaves the "
        "target's own pair out of the sentences that define the language direction.",
        "",
        "| ranking | same language recall@1 | @10 | other language recall@1 | @10 |",
        "|---|---:|---:|---:|---:|",
    ]
    for method, res in results.items():
        lines.append(
            f"| {method} | {np.mean(res['same@1']):.2f} | {np.mean(res['same@10']):.2f} | "
            f"{np.mean(res['cross@1']):.2f} | {np.mean(res['cross@10']):.2f} |"
        )
    return lines




def main() -> None:
    settings = Settings.from_env()
    embedder = load_embedder(settings.embed_backend, settings.embed_model)
    texts = read_texts(TURKU)
    turku_lines, stored, partner = turku(embedder)
    body = [
        "Command: `.venv/bin/python bench/search_quality.py`. Embedder: "
        f"`{settings.embed_backend}` ({embedder.model_id}); 2 CPU cores.",
        "",
        "### Nearest neighbours: index vs exact",
        "",
        *turku_lines,
        "",
        "### Thresholds",
        "",
        *thresholds(stored, partner, texts, embedder),
        "",
        "### Across languages",
        "",
        *cross_language(embedder),
    ]
    write_section(RESULTS, "Quality", "\n".join(["## Quality", "", *body]),
                  "# Search benchmarks")
    print("\n".join(body))


if __name__ == "__main__":
    main()
