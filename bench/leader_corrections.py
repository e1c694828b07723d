"""Simulated leader: how much do a few corrections a week improve the themes over 8 weeks?

Each development stream of the team corpus (bench/corpus/streams/dev-*.jsonl, never the heldout
ones) is refreshed as the worker does (workers/refresh.py: compute_themes with the previous
themes, first-seen dates, languages, keywords, texts and the corrections as constraints), first
at the end of week `--start` over all notes so far, then once a week for `--weeks` weeks. It
runs twice: without corrections, and with a leader who, after each refresh, makes at most
`--budget` corrections chosen from the true labels, one at a time, the one putting most notes
right first (ties: merge, split, move; lower theme id):
- merge the two largest themes whose majority subject is the same (the smaller into the larger);
- split a theme holding two subjects: the notes of its second subject (3 or more) become a theme;
- move a clearly misplaced note (its subject has at most 2 notes in the theme) to the largest
  theme of its subject.
Corrections change the themes at once, as hiljainen/web/corrections.py does (the next refresh
sees the corrected members as the previous themes), and are stored with the same payloads, so
workers.refresh.correction_constraints turns them into the same constraints the service uses,
accumulated over the weeks. Scored after each refresh over every note so far, the way the judges'
understanding scorer does: ARI against the true subjects (notes outside themes are one more
group), themes per subject (the fewest groups, outside counting as one, that hold 80 % of a
subject's notes; the upper median over subjects) and the share outside themes; plus the ARI over
the notes no constraint names (what the corrections do for notes nobody corrected).

Run: .venv/bin/python bench/leader_corrections.py [--streams dev-1,...,dev-6] [--budget 5]
     [--start 10] [--weeks 8]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from signals_replay import Stream, team_stream  # noqa: E402
from sklearn.metrics import adjusted_rand_score  # noqa: E402

from hiljainen.pipeline.grouping import UNASSIGNED  # noqa: E402
from hiljainen.pipeline.identity import PreviousTheme  # noqa: E402
from hiljainen.pipeline.themes import compute_themes  # noqa: E402
from workers.refresh import correction_constraints  # noqa: E402

KIND_ORDER = {"merge": 0, "split": 1, "move": 2}


@dataclass
class Week:
    """One refresh: theme per note, the notes no constraint names, corrections made before it."""

    labels: np.ndarray
    free: np.ndarray
    corrections: int
    seconds: float
    corrected_ari: float  # of the themes as the leader left them, before this refresh
    pairs: int = 0  # constraint pairs this refresh was given
    broken: int = 0  # of them not honoured (a must-link pair apart or outside themes)
    kinds: Counter = field(default_factory=Counter)  # the corrections made before it, by kind


def score(truth: list[str], labels: np.ndarray) -> tuple[float, int, float]:
    """ARI (outside themes = one group), themes holding 80 % of a subject (upper median), outside."""
    found: dict[str, Counter] = {}
    for subject, label in zip(truth, labels.tolist(), strict=True):
        found.setdefault(subject, Counter())[label] += 1
    needed = []
    for counts in found.values():
        total, held, k = sum(counts.values()), 0, 0
        for _, c in counts.most_common():
            held, k = held + c, k + 1
            if held >= 0.8 * total:
                break
        needed.append(k)
    return (float(adjusted_rand_score(truth, labels)), sorted(needed)[len(needed) // 2],
            float(np.mean(labels == UNASSIGNED)))


def _subjects(rows: list[int], truth: list[str]) -> Counter:
    """How many notes of each true subject the rows hold."""
    return Counter(truth[r] for r in rows)


def best_correction(themes: dict[int, list[int]], truth: list[str]) -> tuple | None:
    """(notes put right, kind, theme id, payload) of the most useful correction, or None."""
    counts = {tid: _subjects(rows, truth) for tid, rows in themes.items()}
    home: dict[str, list[int]] = {}
    for tid in sorted(themes, key=lambda t: (-len(themes[t]), t)):
        home.setdefault(counts[tid].most_common(1)[0][0], []).append(tid)
    options = []
    for subject, tids in home.items():
        if len(tids) >= 2:
            into, other = tids[0], tids[1]
            options.append((counts[other][subject], "merge", other,
                            {"into": into, "notes": themes[into] + themes[other], "moved": themes[other]}))
    for tid, rows in themes.items():
        ranked = counts[tid].most_common()
        if len(ranked) >= 2 and ranked[1][1] >= 3:
            second = ranked[1][0]
            chosen = [r for r in rows if truth[r] == second]
            options.append((len(chosen), "split", tid,
                            {"notes": chosen, "rest": [r for r in rows if truth[r] != second]}))
        for subject, c in ranked[1:]:
            target = home.get(subject, [None])[0]
            if c <= 2 and target is not None and target != tid:
                note = min(r for r in rows if truth[r] == subject)
                options.append((1, "move", tid, {"to": target, "notes": [note], "target": themes[target],
                                                 "rest": [r for r in rows if r != note]}))
    if not options:
        return None
    return min(options, key=lambda o: (-o[0], KIND_ORDER[o[1]], o[2]))


def apply(themes: dict[int, list[int]], kind: str, tid: int, payload: dict, new_id: int) -> None:
    """Change the themes as the service does at once (hiljainen/web/corrections.py)."""
    if kind == "merge":
        themes[payload["into"]] = list(payload["notes"])
        del themes[tid]
    elif kind == "split":
        themes[tid] = list(payload["rest"])
        themes[new_id] = list(payload["notes"])
    else:
        themes[tid] = list(payload["rest"])
        themes[payload["to"]] = themes[payload["to"]] + list(payload["notes"])


def replay(s: Stream, start: int, weeks: int, budget: int) -> list[Week]:
    """Refresh weekly from week `start`; the leader makes up to `budget` corrections after each."""
    previous: list[PreviousTheme] = []
    first_seen: dict[int, dt.date] = {}
    corrections: list[dict] = []  # oldest first; the worker reads them newest first
    top_id, out, made, corrected_ari = 0, [], 0, float("nan")
    for w in range(start, start + weeks + 1):
        end = s.start + dt.timedelta(weeks=w, days=6)
        m = sum(1 for d in s.days if d <= end)
        constraints = correction_constraints(corrections[::-1], [], {i: i for i in range(m)})
        t0 = time.perf_counter()
        result = compute_themes(
            s.vectors[:m], s.keywords[:m], note_ids=list(range(m)), facts=s.facts[:m],
            previous=previous, first_seen=dict(first_seen), now=end, next_id=top_id + 1,
            langs=s.langs[:m], texts=s.texts[:m], constraints=constraints,
        )
        seconds = time.perf_counter() - t0
        clustering = result.clustering
        bound = {r for pair in (*constraints.must_link, *constraints.cannot_link) for r in pair}
        lab = clustering.labels
        broken = (sum(lab[i] != lab[j] or lab[i] == UNASSIGNED for i, j in constraints.must_link)
                  + sum(lab[i] == lab[j] != UNASSIGNED for i, j in constraints.cannot_link))
        out.append(Week(lab, np.array([i not in bound for i in range(m)]), made, seconds, corrected_ari,
                        len(constraints.must_link) + len(constraints.cannot_link), int(broken),
                        Counter(c["kind"] for c in corrections[len(corrections) - made:])))
        truth = s.groups[:m]
        for tid, sig in result.signals.items():
            first_seen[tid] = sig.first_seen
        themes = {t.id: t.members.tolist() for t in clustering.themes if t.size}
        centroids = {t.id: t.centroid for t in clustering.themes}
        top_id = max([top_id, *(t.id for t in clustering.themes)])
        made = 0
        while made < budget and (best := best_correction(themes, truth)) is not None:
            _, kind, tid, payload = best
            if kind == "split":
                top_id += 1
                first_seen[top_id] = first_seen.get(tid, end)
            apply(themes, kind, tid, payload, top_id)
            corrections.append({"kind": kind, **payload})
            made += 1
        page = np.full(m, UNASSIGNED)
        for tid, rows in themes.items():
            page[rows] = tid
        corrected_ari = score(truth, page)[0]
        previous = [PreviousTheme(tid, centroids.get(tid, _mean(s.vectors, rows)), frozenset(rows))
                    for tid, rows in themes.items()]
    return out


def _mean(x: np.ndarray, rows: list[int]) -> np.ndarray:
    """A theme made by hand (a split) has no stored centre: the mean of its notes, as the worker."""
    c = x[rows].mean(axis=0)
    return (c / max(float(np.linalg.norm(c)), 1e-12)).astype(np.float32)


def main() -> None:
    """Both runs on every stream; print the per-week average over streams and per-stream rows."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--streams", default=",".join(f"dev-{i}" for i in range(1, 7)))
    ap.add_argument("--budget", type=int, default=5, help="corrections a week at most")
    ap.add_argument("--start", type=int, default=10, help="the stream's week of the first refresh")
    ap.add_argument("--weeks", type=int, default=8, help="weekly refreshes after the first")
    args = ap.parse_args()
    names = [n for n in args.streams.split(",") if n]
    if any(not n.startswith("dev-") for n in names):
        raise SystemExit("only the development streams (dev-*): the heldout ones stay unseen")
    runs, truth = {}, {}
    for name in names:
        s = team_stream(name)
        truth[name] = s.groups
        runs[name] = (replay(s, args.start, args.weeks, 0), replay(s, args.start, args.weeks, args.budget))
        print(f"  {name}: {len(s.texts)} notes, {len(set(s.groups))} subjects, refresh "
              f"{np.median([w.seconds for run in runs[name] for w in run]):.1f} s (median)",
              file=sys.stderr, flush=True)
    header = ("| week | corrections before | ARI of the corrected themes | ARI: none / leader "
              "| themes per subject: none / leader "
              "| outside themes: none / leader | notes no constraint names: share, ARI (both runs), "
              "ARI between the runs |")
    print(f"Average over {len(names)} streams ({', '.join(names)}); week 0 = the stream's week "
          f"{args.start}, before any correction.\n")
    print(header + "\n|---|---|---|---|---|---|---|")
    for k in range(args.weeks + 1):
        print(_row(str(k), [(truth[name], none[k], led[k]) for name, (none, led) in runs.items()]))
    checked = [w for _, led in runs.values() for w in led]
    kinds = sum((w.kinds for w in checked), Counter())
    print(f"\nCorrections made: {', '.join(f'{n} {k}' for k, n in kinds.most_common())}.")
    print(f"Constraint pairs given to the leader's refreshes: {sum(w.pairs for w in checked)}, "
          f"not honoured: {sum(w.broken for w in checked)}.")
    print("\nPer stream:\n")
    print(header.replace("| week |", "| stream | week |") + "\n|---|---|---|---|---|---|---|---|")
    for name, (none, led) in runs.items():
        for k in range(args.weeks + 1):
            print(_row(f"{name} | {k}", [(truth[name], none[k], led[k])]))


def _row(label: str, runs: list[tuple[list[str], Week, Week]]) -> str:
    """One table row: each measure averaged over the streams, without / with the leader."""
    figures = []
    for truth, none, led in runs:
        gold = np.array(truth[: len(led.labels)])
        free = led.free  # the same notes in both runs: those the leader's constraints leave alone
        figures.append((led.corrections, led.corrected_ari,
                        *score(list(gold), none.labels), *score(list(gold), led.labels),
                        free.mean(), adjusted_rand_score(gold[free], none.labels[free]),
                        adjusted_rand_score(none.labels[free], led.labels[free])))
    f = np.mean(np.array(figures, dtype=float), axis=0)
    corrected = "-" if np.isnan(f[1]) else f"{f[1]:.3f}"
    return (f"| {label} | {f[0]:g} | {corrected} | {f[2]:.3f} / {f[5]:.3f} | {f[3]:.3g} / {f[6]:.3g} | "
            f"{f[4]:.1%} / {f[7]:.1%} | {f[8]:.0%}, {f[9]:.3f}, {f[10]:.3f} |")


if __name__ == "__main__":
    main()
