"""Simulated leader: how much do a few corrections a week improve the themes over 8 weeks?

Each development stream of the team corpus (bench/corpus/streams/dev-*.jsonl; the heldout ones
only with --heldout, to report) is refreshed as the worker does (workers/refresh.py:
compute_themes with the previous themes, first-seen dates, languages, keywords, texts and the
corrections as constraints), first at the end of week `--start` over all notes so far, then once
a week for `--weeks` weeks. It runs without corrections, and with a leader who, after each
refresh, makes at most `--budget` corrections chosen from the true labels, one at a time, the one
putting most notes right first (ties: merge, split, move; lower theme id):
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
the notes no constraint names (what the corrections do for notes nobody corrected), and the share
of those notes that sit in the theme holding most of their subject's named notes.

A third run, "leader + learning", is the leader run with one change: before each refresh a small
residual linear map (vectors -> normalise(v + v A), A starting at zero, i.e. the identity) is
fitted from scratch on the frozen vectors of the notes so far, from the corrections so far (issue
19: teach the grouping of this organisation), and every note's vector goes through it, as a
per-organisation step of the worker would do. Positives: notes the must-link constraints join (a
merge's notes, a split-off part, a moved note with its new theme), optionally also the notes a
split or move left behind together; negatives: every other named note (in-batch), the cannot-link
partners counted `explicit` times. Loss: supervised InfoNCE (temperature 0.05) over all named
notes in one batch, plus `decay` * |A|^2 pulling the map towards the identity; full batch Adam.
The leader's rule, the constraint code and compute_themes are the leader run's; only the vectors
differ (the leader corrects this run's own themes, so the corrections may differ: the unnamed
notes are those neither leader run's constraints name). The map's settings were chosen with
--choose on dev-1..dev-3 only (dev-4..dev-6 check them unchanged); --heldout runs the heldout
streams once with them, to report, never to choose.

Run: .venv/bin/python bench/leader_corrections.py [--streams dev-1,...,dev-6] [--budget 5]
     [--start 10] [--weeks 8] [--choose] [--heldout] [--write]
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchlib import cpu_model, write_section  # noqa: E402
from signals_replay import Stream, team_stream  # noqa: E402
from sklearn.metrics import adjusted_rand_score  # noqa: E402

from hiljainen.pipeline.correction_map import MapSettings  # noqa: E402
from hiljainen.pipeline.correction_map import apply as apply_map  # noqa: E402
from hiljainen.pipeline.correction_map import fit as fit_map  # noqa: E402
from hiljainen.pipeline.grouping import UNASSIGNED  # noqa: E402
from hiljainen.pipeline.identity import PreviousTheme  # noqa: E402
from hiljainen.pipeline.themes import compute_themes  # noqa: E402
from workers.refresh import correction_constraints  # noqa: E402

KIND_ORDER = {"merge": 0, "split": 1, "move": 2}
RESULTS = Path(__file__).resolve().parent / "results" / "shaping.md"


def describe(st: MapSettings) -> str:
    return (f"{st.steps} steps, lr {st.lr:g}, decay {st.decay:g}, temperature {st.temperature:g}, "
            f"cannot-link weight {st.cannot_link_weight:g}")


# Chosen with --choose on dev-1..dev-3 (the trials are in bench/results/shaping.md).
CHOSEN = MapSettings()  # hiljainen/pipeline/correction_map.py's defaults


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
    fit_seconds: float = 0.0  # fitting the learnt map (leader + learning run only)
    map_norm: float = 0.0  # |A| of the fitted map (0 = the identity)


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


def replay(s: Stream, start: int, weeks: int, budget: int, learn: MapSettings | None = None) -> list[Week]:
    """Refresh weekly from week `start`; the leader makes up to `budget` corrections after each.
    With `learn`, each refresh sees the vectors through a map fitted on the corrections so far."""
    previous: list[PreviousTheme] = []
    first_seen: dict[int, dt.date] = {}
    corrections: list[dict] = []  # oldest first; the worker reads them newest first
    top_id, out, made, corrected_ari = 0, [], 0, float("nan")
    for w in range(start, start + weeks + 1):
        end = s.start + dt.timedelta(weeks=w, days=6)
        m = sum(1 for d in s.days if d <= end)
        constraints = correction_constraints(corrections[::-1], [], {i: i for i in range(m)})
        x, fit_seconds, norm = s.vectors[:m], 0.0, 0.0
        if learn is not None:
            t0 = time.perf_counter()
            a = fit_map(x, constraints, learn)
            fit_seconds, norm = time.perf_counter() - t0, float(np.linalg.norm(a))
            x = apply_map(x, a)
        assert s.keywords is not None and s.langs is not None  # a team stream has both
        t0 = time.perf_counter()
        result = compute_themes(
            x, s.keywords[:m], note_ids=list(range(m)), facts=s.facts[:m],
            previous=previous, first_seen=dict(first_seen), now=end, next_id=top_id + 1,
            langs=s.langs[:m], texts=s.texts[:m], constraints=constraints,
            learn_from_corrections=False,  # this script fits its own map (the grid's settings)
        )
        seconds = time.perf_counter() - t0
        clustering = result.clustering
        bound = {r for pair in (*constraints.must_link, *constraints.cannot_link) for r in pair}
        lab = clustering.labels
        broken = (sum(lab[i] != lab[j] or lab[i] == UNASSIGNED for i, j in constraints.must_link)
                  + sum(lab[i] == lab[j] != UNASSIGNED for i, j in constraints.cannot_link))
        out.append(Week(lab, np.array([i not in bound for i in range(m)]), made, seconds, corrected_ari,
                        len(constraints.must_link) + len(constraints.cannot_link), int(broken),
                        Counter(c["kind"] for c in corrections[len(corrections) - made:]),
                        fit_seconds, norm))
        truth = s.groups[:m]
        for tid, sig in result.signals.items():
            if sig.first_seen is not None:
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
        previous = [PreviousTheme(tid, centroids.get(tid, _mean(x, rows)), frozenset(rows))
                    for tid, rows in themes.items()]
    return out


def _mean(x: np.ndarray, rows: list[int]) -> np.ndarray:
    """A theme made by hand (a split) has no stored centre: the mean of its notes, as the worker."""
    c = x[rows].mean(axis=0)
    return (c / max(float(np.linalg.norm(c)), 1e-12)).astype(np.float32)


CHOSEN_ON = ("dev-1", "dev-2", "dev-3")
# The settings --choose tries on CHOSEN_ON: the pull towards the identity, how far the fit goes,
# whether the notes a split left behind count as positives, and the cannot-link weight.
GRID = [MapSettings(steps=st, decay=dc, cannot_link_weight=ex)
        for st in (30, 100) for dc in (0.01, 0.1, 1.0) for ex in (1.0, 5.0)]
Runs = dict[str, tuple[list[str], list[Week], list[Week], list[Week]]]


@functools.cache
def _stream(name: str) -> Stream:
    return team_stream(name)


def _streams(names: list[str], args: argparse.Namespace, learn: MapSettings,
             base: dict[str, tuple[list[str], list[Week], list[Week]]] | None = None) -> Runs:
    """The three runs on each stream (the first two taken from `base` when given)."""
    runs: Runs = {}
    for name in names:
        s = _stream(name)
        if base is not None and name in base:
            truth, none, led = base[name]
        else:
            truth = s.groups
            none, led = replay(s, args.start, args.weeks, 0), replay(s, args.start, args.weeks, args.budget)
            if base is not None:
                base[name] = (truth, none, led)
        learnt = replay(s, args.start, args.weeks, args.budget, learn)
        runs[name] = (truth, none, led, learnt)
        print(f"  {name}: {len(s.texts)} notes, {len(set(s.groups))} subjects, refresh "
              f"{np.median([w.seconds for run in (none, led, learnt) for w in run]):.1f} s (median), "
              f"map fit {np.median([w.fit_seconds for w in learnt[1:]]):.2f} s (median)",
              file=sys.stderr, flush=True)
    return runs


def _figures(truth: list[str], none: Week, led: Week, learnt: Week) -> list[float]:
    """One stream's refresh, the three runs: every figure a table row shows."""
    gold = np.array(truth[: len(led.labels)])
    free = led.free & learnt.free  # notes neither leader's constraints name
    old = led.free  # the leader run's own: the first section's "ARI between the runs"
    return [led.corrections, learnt.corrections, led.corrected_ari, learnt.corrected_ari,
            *(score(list(gold), w.labels)[k] for k in range(3) for w in (none, led, learnt)),
            free.mean(), *(adjusted_rand_score(gold[free], w.labels[free]) for w in (none, led, learnt)),
            adjusted_rand_score(none.labels[old], led.labels[old]),
            adjusted_rand_score(led.labels[free], learnt.labels[free]),
            *(_placed(gold, free, w.labels) for w in (none, led, learnt))]


def _placed(gold: np.ndarray, free: np.ndarray, labels: np.ndarray) -> float:
    """Share of the unnamed notes that sit in the theme holding most of their subject's other
    (named) notes: whether a correction reaches the notes like it that nobody named, which the
    ARI over the unnamed notes alone (pairs of unnamed notes) does not see."""
    home: dict[str, int] = {}
    for subject in set(gold[~free].tolist()):
        held = labels[~free & (gold == subject)]
        held = held[held != UNASSIGNED]
        if len(held):
            home[subject] = int(np.bincount(held - held.min()).argmax() + held.min())
    hits = [labels[i] == home[gold[i]] for i in np.flatnonzero(free) if gold[i] in home]
    return float(np.mean(hits)) if hits else float("nan")


HEADER = ("| {first} | corrections before: leader / learning | ARI of the corrected themes: leader / "
          "learning | ARI: none / leader / learning | themes per subject: none / leader / learning "
          "| outside themes: none / leader / learning | notes neither leader run's constraints "
          "name: share, ARI none / leader / learning | of them in their subject's theme: none / leader / "
          "learning | ARI between leader and learning on them |")


def _row(label: str, rows: list[list[float]]) -> str:
    """One table row: each figure averaged over the streams."""
    f = np.mean(np.array(rows, dtype=float), axis=0)
    corrected = "-" if np.isnan(f[2]) else f"{f[2]:.3f} / {f[3]:.3f}"
    placed = "-" if np.isnan(f[19]) else f"{f[19]:.0%} / {f[20]:.0%} / {f[21]:.0%}"
    return (f"| {label} | {f[0]:g} / {f[1]:g} | {corrected} | {f[4]:.3f} / {f[5]:.3f} / {f[6]:.3f} | "
            f"{f[7]:.3g} / {f[8]:.3g} / {f[9]:.3g} | {f[10]:.1%} / {f[11]:.1%} / {f[12]:.1%} | "
            f"{f[13]:.0%}, {f[14]:.3f} / {f[15]:.3f} / {f[16]:.3f} | {placed} | {f[18]:.3f} |")


def _tables(runs: Runs, title: str, weeks: int, start: int) -> list[str]:
    """The per-week average table of a set of streams, then its week-8 row per stream."""
    names = list(runs)
    out = [f"### {title}: {', '.join(names)}", "",
           f"Average over the {len(names)} streams; week 0 = the stream's week {start}, before any "
           "correction.", "", HEADER.format(first="week"), "|---|---|---|---|---|---|---|---|---|"]
    for k in range(weeks + 1):
        out.append(_row(str(k), [_figures(t, n[k], l_[k], m[k]) for t, n, l_, m in runs.values()]))
    key = np.array([[_figures(t, n[k], l_[k], m[k]) for k in range(1, weeks + 1)]
                    for t, n, l_, m in runs.values()], dtype=float)
    led, learnt = [w for r in runs.values() for w in r[2]], [w for r in runs.values() for w in r[3]]
    kinds = [sum((w.kinds for w in ws), Counter()) for ws in (led, learnt)]
    out += ["", f"Weeks 1-{weeks} on average: ARI leader {key[:, :, 5].mean():.3f}, learning "
            f"{key[:, :, 6].mean():.3f}; over the notes neither leader run's constraints name "
            f"(the key figure) none {key[:, :, 14].mean():.3f}, leader {key[:, :, 15].mean():.3f}, "
            f"learning {key[:, :, 16].mean():.3f}, and the share of them in their subject's theme "
            f"none {np.nanmean(key[:, :, 19]):.1%}, leader {np.nanmean(key[:, :, 20]):.1%}, learning "
            f"{np.nanmean(key[:, :, 21]):.1%}; the leader run's own unnamed notes grouped as "
            f"without corrections: ARI between those two runs {key[:, :, 17].mean():.3f}.",
            "Corrections made: leader " + ", ".join(f"{n} {k}" for k, n in kinds[0].most_common())
            + "; learning " + ", ".join(f"{n} {k}" for k, n in kinds[1].most_common()) + ". "
            f"Constraint pairs not honoured: leader {sum(w.broken for w in led)} of "
            f"{sum(w.pairs for w in led)}, learning {sum(w.broken for w in learnt)} of "
            f"{sum(w.pairs for w in learnt)}.",
            f"Fitting the map: {np.median([w.fit_seconds for w in learnt if w.corrections]):.2f} s "
            f"median, {max(w.fit_seconds for w in learnt):.2f} s at most, on one thread; |A| at the "
            f"last refresh {np.mean([r[3][-1].map_norm for r in runs.values()]):.2f} on average "
            "(0 = the identity).", "",
            f"Week {weeks}, per stream:", "", HEADER.format(first="stream"),
            "|---|---|---|---|---|---|---|---|---|"]
    out += [_row(name, [_figures(t, n[-1], l_[-1], m[-1])]) for name, (t, n, l_, m) in runs.items()]
    return out


def _choose(names: list[str], args: argparse.Namespace) -> list[str]:
    """Every setting of GRID on the streams; the best by the mean over weeks 1.. of three figures
    averaged: the ARI over all notes, the ARI over the notes neither leader run names, and the
    share of those in their subject's theme."""
    base: dict[str, tuple[list[str], list[Week], list[Week]]] = {}
    out = [f"| setting | ARI, weeks 1-{args.weeks} | ARI, week {args.weeks} | unnamed notes: ARI, "
           f"weeks 1-{args.weeks} | unnamed notes in their subject's theme, weeks 1-{args.weeks} | "
           f"themes per subject, week {args.weeks} | score | map fit (median s) |",
           "|---|---|---|---|---|---|---|---|"]
    trials: list[tuple[float, MapSettings]] = []
    for st in GRID:
        runs = _streams(names, args, st, base)
        f = np.array([[_figures(t, n[k], l_[k], m[k]) for k in range(1, args.weeks + 1)]
                      for t, n, l_, m in runs.values()], dtype=float)
        if not trials:  # the leader run is the same in every trial; its unnamed notes vary a little
            out.append(f"| leader run, no map (unnamed notes as in the first trial) | "
                       f"{f[:, :, 5].mean():.3f} | {f[:, -1, 5].mean():.3f} | {f[:, :, 15].mean():.3f} | "
                       f"{np.nanmean(f[:, :, 20]):.1%} | {f[:, -1, 8].mean():.3g} | "
                       f"{(f[:, :, 5].mean() + f[:, :, 15].mean() + np.nanmean(f[:, :, 20])) / 3:.3f} | - |")
        sc = (f[:, :, 6].mean() + f[:, :, 16].mean() + np.nanmean(f[:, :, 21])) / 3
        fit = np.median([w.fit_seconds for r in runs.values() for w in r[3] if w.corrections])
        trials.append((sc, st))
        out.append(f"| {describe(st)} | {f[:, :, 6].mean():.3f} | {f[:, -1, 6].mean():.3f} | "
                   f"{f[:, :, 16].mean():.3f} | {np.nanmean(f[:, :, 21]):.1%} | {f[:, -1, 9].mean():.3g} | "
                   f"{sc:.3f} | {fit:.2f} |")
        print(out[-1], file=sys.stderr, flush=True)
    best = max(trials, key=lambda t: t[0])[1]
    return out + ["", f"Best: {describe(best)}."]


def main() -> None:
    """The three runs on every stream, or --choose the map's settings; print (and --write) tables."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--streams", default="", help="default dev-1..dev-6 (dev-1..dev-3 with --choose, "
                    "heldout-1..heldout-4 with --heldout)")
    ap.add_argument("--budget", type=int, default=5, help="corrections a week at most")
    ap.add_argument("--start", type=int, default=10, help="the stream's week of the first refresh")
    ap.add_argument("--weeks", type=int, default=8, help="weekly refreshes after the first")
    ap.add_argument("--choose", action="store_true", help="try the map's settings (GRID)")
    ap.add_argument("--heldout", action="store_true",
                    help="the heldout streams, to report only: nothing is chosen on them")
    ap.add_argument("--write", action="store_true", help="write the tables into " + RESULTS.name)
    args = ap.parse_args()
    if args.choose and args.heldout:
        raise SystemExit("settings are chosen on development streams only")
    default = (CHOSEN_ON if args.choose else [f"heldout-{i}" for i in range(1, 5)] if args.heldout
               else [f"dev-{i}" for i in range(1, 7)])
    names = [n for n in args.streams.split(",") if n] or list(default)
    if any(not n.startswith("heldout-" if args.heldout else "dev-") for n in names):
        raise SystemExit("dev-* streams, or heldout-* with --heldout (to report, never to choose)")
    torch.set_num_threads(1)  # a map of 384 x 384 on a few hundred notes: one thread is plenty
    command = "nice -n 19 .venv/bin/python bench/leader_corrections.py" + "".join(
        f" --{a}" for a in ("choose", "heldout") if getattr(args, a))
    stamp = (f"Command: `{command}{' --write' if args.write else ''}` ({dt.date.today()}, budget "
             f"{args.budget}, weeks {args.start}+{args.weeks}); machine: {cpu_model()}, 2 cores "
             "shared with other work.")
    t0 = time.perf_counter()
    if args.choose:
        caption = (f"Trials of the map's settings on {', '.join(names)} (each figure the mean over "
                   f"the streams and, where it says so, over weeks 1-{args.weeks}):")
        key, lines = "learning-choice", [stamp, "", caption, "", *_choose(names, args)]
    else:
        runs = _streams(names, args, CHOSEN)
        lines = [stamp, "", f"Map: {describe(CHOSEN)} (chosen on {', '.join(CHOSEN_ON)}).", ""]
        parts = ([("Held out, reported only", list(runs))] if args.heldout else
                 [("Streams the settings were chosen on", [n for n in runs if n in CHOSEN_ON]),
                  ("Check streams, settings unchanged", [n for n in runs if n not in CHOSEN_ON])])
        for title, group in parts:
            if group:
                lines += [*_tables({n: runs[n] for n in group}, title, args.weeks, args.start), ""]
        key = "learning-heldout" if args.heldout else "learning"
    lines.append(f"Whole run: {time.perf_counter() - t0:.0f} s.")
    print("\n".join(lines))
    if args.write:
        write_section(RESULTS, key, "\n".join(lines), "# Shaping")


if __name__ == "__main__":
    main()
