"""Theme clustering on the demo organisation: do the planted topics end up in one theme each?

Embeds the 377 demo notes (redacted as on import) with the service's default embedder, takes
their languages and keywords as the worker does, runs `cluster_notes` and reports, per planted
`theme_hint`, the largest share of its notes in one theme, NMI against the hints, the number of
themes and the share left out. Embeddings and keywords are cached under bench/out/.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
PLANTED = ("evening_meal_skipped", "price_increase_invoice", "door_access_system", "meals_cold_late",
           "noisy_neighbours", "homecare_hurry", "maintenance_delay", "praise_extra_help",
           "driver_parking", "medication_timing")


def demo_inputs() -> tuple[list[str], list[str], list[str], np.ndarray, list[list[str]]]:
    """(texts, hints, langs, vectors, keywords) of the demo notes, as the worker would store them."""
    from hiljainen.tools.demo import notes

    rows = notes()
    raw = [r["text"] for r in rows]
    hints = [r["theme_hint"] for r in rows]
    from hiljainen.pipeline.embed import load_embedder

    embedder = load_embedder()
    # Keyed by the model too: a rebuilt encoder must not read the previous one's vectors.
    digest = hashlib.sha1("\n".join([embedder.model_id, *raw]).encode("utf-8")).hexdigest()[:12]
    path = OUT / f"demo-{digest}.npz"
    meta = OUT / f"demo-{digest}.json"
    if path.exists() and meta.exists():
        data = json.loads(meta.read_text(encoding="utf-8"))
        return data["texts"], hints, data["langs"], np.load(path)["x"], data["keywords"]
    from hiljainen.pipeline.language import detect
    from hiljainen.pipeline.linguistics import analyze
    from hiljainen.pipeline.redact import Redactor

    texts = [r.text for r in Redactor().redact_many(raw)]
    langs = [detect(t).code for t in texts]
    keywords = [list(a.keywords) for a in analyze(texts, langs)]
    x = np.asarray(embedder.embed(texts, kind="passage"), dtype=np.float32)
    OUT.mkdir(parents=True, exist_ok=True)
    np.savez(path, x=x)
    meta.write_text(json.dumps({"texts": texts, "langs": langs, "keywords": keywords},
                               ensure_ascii=False), encoding="utf-8")
    return texts, hints, langs, x, keywords


def purity(hints: list[str], labels: np.ndarray) -> dict[str, tuple[int, int]]:
    """Per planted hint: (most of its notes in one theme, its notes); left-out notes never count."""
    out = {}
    for hint in PLANTED:
        rows = [i for i, h in enumerate(hints) if h == hint]
        got = labels[rows]
        got = got[got >= 0]
        top = int(np.bincount(got).max()) if len(got) else 0
        out[hint] = (top, len(rows))
    return out


def evaluate(hints: list[str], labels: np.ndarray) -> dict[str, object]:
    """Themes, NMI vs hints (left-out notes as one more group), share left out, purity."""
    from sklearn.metrics import normalized_mutual_info_score

    return {
        "themes": len(set(labels.tolist()) - {-1}),
        "nmi": normalized_mutual_info_score(hints, labels),
        "out": float(np.mean(labels < 0)),
        "purity": purity(hints, labels),
    }


def main() -> None:
    """Cluster the demo with the default parameters and print one markdown row."""
    from hiljainen.pipeline.cluster import cluster_notes

    texts, hints, langs, x, kws = demo_inputs()
    t0 = time.perf_counter()
    result = cluster_notes(x, langs=langs, keywords=kws)
    secs = time.perf_counter() - t0
    r = evaluate(hints, result.labels)
    pur = r["purity"]
    assert isinstance(pur, dict)
    print("| themes | NMI | left out | " + " | ".join(PLANTED) + " | seconds |")
    print("|---" * (len(PLANTED) + 4) + "|")
    print(f"| {r['themes']} | {r['nmi']:.3f} | {r['out']:.1%} | "
          + " | ".join(f"{a}/{b}" for a, b in pur.values()) + f" | {secs:.2f} |")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    main()
