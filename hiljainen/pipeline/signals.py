"""Weak signals: per-week and per-month measures of every theme, bursts and a classification.

Pure. Measures per theme and period (ISO week, calendar month):
- visibility: the theme's share of all notes of the period;
- DoV / DoD (Yoon 2012): visibility and diffusion (distinct reporters / all notes) times the
  time weight 1 - tw * (W - j) (clipped at 0) for period j of W periods up to now. The sign
  is chosen on purpose: the current period weighs 1 and older ones less, so a theme that is
  visible *now* outranks one that was equally visible weeks ago (the "+" variant some
  implementations use would favour old themes and hide new ones). tests/unit/test_signals.py pins this down;
- diffusion: distinct reporters ("me too" voices count as reporters; an anonymous note is its
  own reporter), units, touchpoints and source roles;
- burst: Kleinberg's two-state automaton over the weekly counts (binomial form, share of all
  notes), which works with 1-10 notes a week where z-scores are noise;
- novelty: 1 - mean cosine between the theme's centre and its nearest notes that were written
  before the theme was born (before its `min_support`-th note), or before its first_seen date
  when the caller knows it.

emergence (higher = more emerging) is Yoon's growth of DoV: the per-week log growth rate of the
time-weighted visibility over the window, fitted by least squares on smoothed counts
((n + 0.5) / (N + 1), so empty weeks do not explode). Because of the time weight, a theme of
steady visibility scores about +tw per week, not 0.

Classification of a theme over the last `window_weeks` weeks (SignalParams), in order:
1. "noise":      fewer than `min_support` notes in the window, or fewer than `min_reporters`
                 distinct reporters (one person writing many times is not a signal).
2. growing  =    the burst state is on in one of the last `recent_weeks` weeks, the theme's
                 share since that burst began beats its share before it at p <= `growth_alpha`
                 (one-sided binomial test) over a baseline of at least `min_baseline_notes`
                 notes, and emergence >= `growth_threshold`; and, when the notes' keywords are
                 given, one of the `theme_words` words that name the theme is growing too: its
                 notes (in any theme) fall in the last `word_recent_weeks` weeks more often
                 than all notes do, at p <= `word_alpha` (one-sided binomial test; a compound
                 counts for its parts too). A new subject brings its own words; a chance group
                 of notes sharing a common word ("see", "day") does not, since older notes carry
                 that word as often. And, when vectors are given, the theme holds together: its
                 notes sit at least as close to its centre as those of half the themes do
                 (`min_cohesion_rank`), since a theme regrouped from corners of several subjects
                 looks new and growing too.
   high     =    the theme's share of the window's notes >= `high_share_ratio` x the share of an
                 average theme (1 / number of themes with notes in the window).
   spreading=    at least `spread_reporters` distinct reporters in the window and the theme
                 is raised from at least two units, touchpoints or source roles, or by
                 `spread_reporters + 1` reporters when those are unknown.
3. "strong":     high and growing.
4. "weak":       not high, growing and spreading (rare but growing and spreading).
5. "well-known": high and not growing.
6. "latent":     everything else: rare and not growing, or growing from a single corner.
Confidence in words: "low" under `medium_notes` notes or 3 reporters in the window, "high" from
`high_notes` notes and 5 reporters, else "medium"; the note says how many notes and people.
A new subject's first notes often sit in older themes and grow none of them; clustering splits
such emerging micro-groups out into themes of their own first (cluster.py, step 4), and this rule
then scores them like any other theme.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

SIGNALS = ("weak", "strong", "latent", "well-known", "noise")
Counts = Sequence[int] | np.ndarray


@dataclass(frozen=True)
class SignalParams:
    """Tuning of weak-signal detection; defaults tuned on bench/signals_replay.py."""

    window_weeks: int = 8  # classification looks at the last 8 weeks
    recent_weeks: int = 2  # a burst counts if it is on in one of the last 2 weeks
    min_support: int = 3  # fewer notes in the window: noise
    min_reporters: int = 2  # fewer distinct reporters in the window: noise
    spread_reporters: int = 2  # "spreading" needs this many reporters
    high_share_ratio: float = 1.5  # "high" = share >= 1.5 x an average theme's share
    growth_threshold: float = 0.0  # "growing" also needs emergence >= this (log growth / week)
    growth_alpha: float = 1e-4  # the burst must beat the earlier share at this p-value
    min_baseline_notes: int = 30  # without this many earlier notes nothing can be "growing"
    time_weight: float = 0.05  # Yoon's tw; the oldest week of an 8-week window weighs 0.65
    burst_scale: float = 3.0  # Kleinberg s: the burst state's share is s x the base share
    burst_cost: float = 1.0  # Kleinberg gamma: entering the burst costs gamma * ln(weeks)
    novelty_neighbours: int = 5  # novelty compares the centre with this many nearest notes
    medium_notes: int = 5  # confidence "low" below this many notes in the window
    high_notes: int = 15  # confidence "high" from this many notes (and 5 reporters)
    theme_words: int = 3  # a theme's words: the first 3 of its keywords (its label)
    word_recent_weeks: int = 3  # a word grows if its notes of the last 3 weeks are many ...
    # ... at this p-value against all notes' share of those weeks (0.05 on the subtitle and
    # banking streams; on the team's development streams 0.1 with the cohesion bar below
    # flagged 7 of 12 new subjects with 1 false alarm, 0.05 without it 4 with 2).
    word_alpha: float = 0.1
    # "growing" also needs the theme's notes to sit at least as close to its centre as those
    # of this share of the themes do: a theme regrouped from corners of several subjects looks
    # new and growing, a subject holds together (0 = off; 0.6 lost two new subjects).
    min_cohesion_rank: float = 0.5


@dataclass(frozen=True)
class NoteFact:
    """What signal scoring needs to know about one note; None = unknown (anonymous)."""

    day: dt.date
    reporter: str | None = None
    unit: str | None = None
    touchpoint: str | None = None
    role: str | None = None  # source role: staff, customer, ...


@dataclass(frozen=True)
class Voice:
    """A "me too" from another person on note row `note`: one more reporter on `day`."""

    note: int
    day: dt.date
    reporter: str
    unit: str | None = None
    role: str | None = None


@dataclass(frozen=True)
class PeriodMeasure:
    """A theme in one week or month."""

    period: str  # 2026-W07 or 2026-02
    start: dt.date
    count: int
    total: int
    visibility: float
    dov: float
    dod: float
    reporters: int
    units: int
    touchpoints: int
    roles: int
    burst: bool = False


@dataclass(frozen=True)
class ThemeSignal:
    """Signal class, emergence and confidence of one theme, with its period measures."""

    theme_id: int
    signal: str
    emergence: float
    confidence: str
    confidence_note: str
    first_seen: dt.date | None
    last_seen: dt.date | None
    novelty: float | None
    window_count: int
    window_share: float
    reporters: int
    units: int
    touchpoints: int
    roles: int
    burst_now: bool
    weekly: tuple[PeriodMeasure, ...] = field(default=())
    monthly: tuple[PeriodMeasure, ...] = field(default=())

    def weekly_counts(self) -> dict[str, int]:
        """Notes per ISO week, oldest first."""
        return {m.period: m.count for m in self.weekly}


def week_start(day: dt.date) -> dt.date:
    """Monday of the day's ISO week."""
    return day - dt.timedelta(days=day.weekday())


def week_label(day: dt.date) -> str:
    """ISO week label, e.g. 2026-W07."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def kleinberg_bursts(
    counts: Counts, totals: Counts, scale: float = 3.0, cost: float = 1.0
) -> np.ndarray:
    """Two-state Kleinberg automaton on batched counts: True where the burst state is on.

    State 0 emits theme notes at the overall share p0 = sum(counts) / sum(totals), state 1 at
    min(scale * p0, 0.9999). Entering state 1 costs cost * ln(len(counts)); leaving is free.
    """
    r = np.asarray(counts, dtype=np.float64)
    d = np.asarray(totals, dtype=np.float64)
    n = len(r)
    if n == 0 or r.sum() == 0 or d.sum() == 0:
        return np.zeros(n, dtype=bool)
    p0 = min(r.sum() / d.sum(), 0.9999)
    p1 = min(scale * p0, 0.9999)
    if p1 <= p0:
        return np.zeros(n, dtype=bool)

    def fit(p: float) -> np.ndarray:
        # Negative log-likelihood of each period; the binomial coefficient is shared and cancels.
        return -(r * math.log(p) + (d - r) * math.log(1.0 - p))

    emit = np.vstack([fit(p0), fit(p1)])
    up = cost * math.log(max(n, 2))
    best = np.array([emit[0, 0], emit[1, 0] + up])
    back = np.zeros((n, 2), dtype=np.int64)
    for t in range(1, n):
        stay0, from1 = best[0], best[1]
        to0 = (0, stay0) if stay0 <= from1 else (1, from1)
        to1 = (0, best[0] + up) if best[0] + up < best[1] else (1, best[1])
        back[t] = (to0[0], to1[0])
        best = np.array([to0[1] + emit[0, t], to1[1] + emit[1, t]])
    states = np.zeros(n, dtype=np.int64)
    states[-1] = int(np.argmin(best))
    for t in range(n - 1, 0, -1):
        states[t - 1] = back[t, states[t]]
    return states.astype(bool)


def time_weights(periods: int, tw: float) -> np.ndarray:
    """Yoon's weights 1 - tw * (W - j) for j = 1..W: the last period 1, older ones less."""
    j = np.arange(1, periods + 1, dtype=np.float64)
    return np.clip(1.0 - tw * (periods - j), 0.0, 1.0)


def burst_span(bursts: Sequence[bool] | np.ndarray, recent: int) -> int:
    """Periods from the start of the burst that is on in the last `recent` periods to now (0 if none)."""
    b = np.asarray(bursts, dtype=bool)
    on = np.flatnonzero(b[len(b) - recent :]) if recent > 0 else np.array([], dtype=np.int64)
    if len(on) == 0:
        return 0
    end = len(b) - recent + int(on[-1])
    start = end
    while start > 0 and b[start - 1]:
        start -= 1
    return len(b) - start


def growth_test(counts: Counts, totals: Counts, recent: int) -> tuple[float, float]:
    """Rate ratio and one-sided binomial p-value of the last `recent` periods vs all before.

    The baseline share is smoothed ((n + 0.5) / (N + 1)) so a theme with no earlier notes is
    compared with half a note, not with zero.
    """
    from scipy.stats import binom

    c = np.asarray(counts, dtype=np.int64)
    t = np.asarray(totals, dtype=np.int64)
    if recent <= 0 or len(c) <= recent:
        return 1.0, 1.0
    r, n = int(c[-recent:].sum()), int(t[-recent:].sum())
    base = (c[:-recent].sum() + 0.5) / (t[:-recent].sum() + 1.0)
    if n == 0:
        return 1.0, 1.0
    ratio = (r / n) / base
    return float(ratio), float(binom.sf(r - 1, n, base))


def emergence_rate(counts: Counts, totals: Counts, tw: float) -> float:
    """Per-period log growth of the smoothed, time-weighted visibility (least-squares slope)."""
    c = np.asarray(counts, dtype=np.float64)
    t = np.asarray(totals, dtype=np.float64)
    if len(c) < 2:
        return 0.0
    dov = (c + 0.5) / (t + 1.0) * time_weights(len(c), tw)
    y = np.log(np.maximum(dov, 1e-12))
    x = np.arange(len(c), dtype=np.float64)
    return float(np.polyfit(x, y, 1)[0])


def score_signals(
    labels: np.ndarray,
    notes: Sequence[NoteFact],
    *,
    vectors: np.ndarray | None = None,
    centroids: Mapping[int, np.ndarray] | None = None,
    voices: Sequence[Voice] = (),
    first_seen: Mapping[int, dt.date] | None = None,
    now: dt.date | None = None,
    params: SignalParams | None = None,
    keywords: Sequence[Sequence[str]] | None = None,
    theme_words: Mapping[int, Sequence[str]] | None = None,
) -> dict[int, ThemeSignal]:
    """Measure and classify every theme in `labels` (theme id per note row, -1 = none).

    `keywords` (per note row) and `theme_words` (per theme: the words naming it, its first
    `SignalParams.theme_words` keywords, and their compound parts) add the word test of
    the rule's "growing"; without them it is skipped."""
    p = params or SignalParams()
    labels = np.asarray(labels, dtype=np.int64)
    if len(labels) != len(notes):
        raise ValueError(f"{len(labels)} labels but {len(notes)} notes")
    if not notes:
        return {}
    days = [n.day for n in notes]
    today = now or max(days)
    first_week = week_start(min(*days, today))  # at least `now`'s week, were every note later
    n_weeks = (week_start(today) - first_week).days // 7 + 1
    week_of_row = np.array([(week_start(d) - first_week).days // 7 for d in days])
    inside = week_of_row < n_weeks  # notes dated after `now` are ignored
    week_totals = np.bincount(week_of_row[inside], minlength=n_weeks)
    week_starts = [first_week + dt.timedelta(weeks=i) for i in range(n_weeks)]
    months = _months(week_starts[0], today)
    month_index = {m: i for i, m in enumerate(months)}
    month_of_row = np.array([month_index.get((d.year, d.month), -1) for d in days])
    month_totals = np.bincount(month_of_row[inside & (month_of_row >= 0)],
                               minlength=len(months))

    theme_ids = sorted(int(t) for t in set(labels.tolist()) if t >= 0)
    w0 = max(0, n_weeks - p.window_weeks)
    window_rows = inside & (week_of_row >= w0)
    active = sum(1 for t in theme_ids if np.any(window_rows & (labels == t)))
    window_total = int(window_rows.sum())
    average_share = 1.0 / active if active else 1.0
    # A voice counts as a reporter in the period it was given, for the theme of its note.
    voice_week = {id(v): (week_start(v.day) - first_week).days // 7 for v in voices}
    voice_month = {id(v): month_index.get((v.day.year, v.day.month), -1) for v in voices}
    mstarts = [dt.date(y, m, 1) for y, m in months]
    word_p = _word_growth(keywords, inside & (week_of_row >= n_weeks - p.word_recent_weeks), inside)
    cohesion = (_cohesion_ranks(vectors, centroids, labels, p.min_support)
                if vectors is not None and centroids is not None and p.min_cohesion_rank > 0 else {})

    out: dict[int, ThemeSignal] = {}
    for tid in theme_ids:
        rows = np.flatnonzero((labels == tid) & inside)
        if len(rows) == 0:
            continue
        tvoices = [v for v in voices if 0 <= v.note < len(labels) and labels[v.note] == tid]
        counts = np.bincount(week_of_row[rows], minlength=n_weeks)
        bursts = kleinberg_bursts(counts, week_totals, p.burst_scale, p.burst_cost)
        weekly = _periods(rows, week_of_row, counts, week_totals, week_starts, notes,
                          tvoices, voice_week, bursts, p.time_weight, weekly=True)
        mrows = rows[month_of_row[rows] >= 0]
        mcounts = np.bincount(month_of_row[mrows], minlength=len(months))
        monthly = _periods(mrows, month_of_row, mcounts, month_totals, mstarts, notes,
                           tvoices, voice_month, np.zeros(len(months), bool), p.time_weight,
                           weekly=False)
        win = rows[week_of_row[rows] >= w0]
        people = _diffusion(win, notes, [v for v in tvoices
                                         if w0 <= voice_week[id(v)] < n_weeks])
        emergence = emergence_rate(counts[w0:], week_totals[w0:], p.time_weight)
        share = len(win) / window_total if window_total else 0.0
        burst_now = bool(bursts[-p.recent_weeks:].any()) if p.recent_weeks > 0 else False
        # The burst under way is tested against everything before it began.
        span = burst_span(bursts, p.recent_weeks)
        _, p_value = growth_test(counts, week_totals, span)
        baseline = int(week_totals[: n_weeks - span].sum()) if span else 0
        member_days = sorted(days[r] for r in rows)
        born = (first_seen or {}).get(tid) or member_days[min(p.min_support, len(rows)) - 1]
        signal = classify(
            window_count=len(win), reporters=people[0], corners=people[1:],
            share=share, average_share=average_share, burst_now=burst_now,
            emergence=emergence, p_value=p_value, baseline_notes=baseline, params=p,
            coherent=cohesion.get(tid, 1.0) >= p.min_cohesion_rank,
            # A theme with no words (emoji, redaction markers) has nothing to test.
            word_p=0.0 if word_p is None else min(
                (word_p(w) for w in (theme_words or {}).get(tid, ())), default=0.0
            ),
        )
        confidence, note = _confidence(len(win), people[0], p)
        novelty = None
        if vectors is not None and centroids is not None and tid in centroids:
            novelty = _novelty(vectors, centroids[tid], labels, days, tid, born,
                               p.novelty_neighbours)
        out[tid] = ThemeSignal(
            theme_id=tid, signal=signal, emergence=round(emergence, 4), confidence=confidence,
            confidence_note=note,
            first_seen=(first_seen or {}).get(tid) or member_days[0], last_seen=member_days[-1],
            novelty=novelty, window_count=len(win), window_share=round(share, 4),
            reporters=people[0], units=people[1], touchpoints=people[2], roles=people[3],
            burst_now=burst_now, weekly=weekly, monthly=monthly,
        )
    return out


def classify(
    *,
    window_count: int,
    reporters: int,
    corners: Sequence[int],
    share: float,
    average_share: float,
    burst_now: bool,
    emergence: float,
    p_value: float,
    baseline_notes: int,
    params: SignalParams,
    word_p: float = 0.0,
    coherent: bool = True,
) -> str:
    """The module docstring's rule: noise, strong, weak, well-known or latent.

    `word_p` is the best p-value of the theme's words growing (0 when words are not known)."""
    p = params
    if window_count < p.min_support or reporters < p.min_reporters:
        return "noise"
    growing = (
        coherent
        and burst_now
        and emergence >= p.growth_threshold
        and p_value <= p.growth_alpha
        and baseline_notes >= p.min_baseline_notes
        and word_p <= p.word_alpha
    )
    high = share >= p.high_share_ratio * average_share
    known_corners = [c for c in corners if c > 0]
    if known_corners:
        spreading = reporters >= p.spread_reporters and max(known_corners) >= 2
    else:
        spreading = reporters >= p.spread_reporters + 1
    if high and growing:
        return "strong"
    if growing and spreading:
        return "weak"
    if high:
        return "well-known"
    return "latent"


def _word_growth(
    keywords: Sequence[Sequence[str]] | None, recent: np.ndarray, inside: np.ndarray
) -> Callable[[str], float] | None:
    """p-value of "this word's notes fall in the recent weeks more often than all notes do"
    (one-sided binomial), per word; None without keywords."""
    if keywords is None:
        return None
    from scipy.stats import binom

    if len(keywords) != len(recent):
        raise ValueError(f"{len(keywords)} keyword lists but {len(recent)} notes")
    everywhere: Counter[str] = Counter()
    lately: Counter[str] = Counter()
    for row in np.flatnonzero(inside).tolist():
        words = set(keywords[row])
        everywhere.update(words)
        if recent[row]:
            lately.update(words)
    share = float(recent.sum()) / max(int(inside.sum()), 1)

    def p_value(word: str) -> float:
        n = everywhere[word]
        return float(binom.sf(lately[word] - 1, n, share)) if n else 1.0

    return p_value


def _cohesion_ranks(
    vectors: np.ndarray, centroids: Mapping[int, np.ndarray], labels: np.ndarray, min_notes: int
) -> dict[int, float]:
    """Each theme's rank (0..1, 1 = tightest) by its notes' mean cosine to its centre, among the
    themes of at least `min_notes` notes."""
    x = np.asarray(vectors, dtype=np.float32)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    cohesion = {}
    for tid, centre in centroids.items():
        rows = np.flatnonzero(labels == tid)
        if len(rows) >= min_notes:
            c = np.asarray(centre, dtype=np.float32)
            cohesion[tid] = float((x[rows] @ (c / max(float(np.linalg.norm(c)), 1e-12))).mean())
    ordered = np.sort(np.array(list(cohesion.values())))
    return {tid: float(np.searchsorted(ordered, v, side="right")) / len(ordered)
            for tid, v in cohesion.items()}


def _confidence(notes: int, reporters: int, p: SignalParams) -> tuple[str, str]:
    level = (
        "low" if notes < p.medium_notes or reporters < 3
        else "high" if notes >= p.high_notes and reporters >= 5
        else "medium"
    )
    people = "person" if reporters == 1 else "people"
    note = f"{notes} notes from {reporters} {people} in the last {p.window_weeks} weeks"
    return level, note


def _diffusion(
    rows: np.ndarray, notes: Sequence[NoteFact], voices: Sequence[Voice]
) -> tuple[int, int, int, int]:
    reporters: set[str] = set()
    units: set[str] = set()
    touchpoints: set[str] = set()
    roles: set[str] = set()
    for r in rows:
        n = notes[r]
        # An anonymous note is its own reporter: nothing links it to another note.
        reporters.add(n.reporter if n.reporter is not None else f"#note{r}")
        if n.unit is not None:
            units.add(n.unit)
        if n.touchpoint is not None:
            touchpoints.add(n.touchpoint)
        if n.role is not None:
            roles.add(n.role)
    for v in voices:
        reporters.add(v.reporter)
        if v.unit is not None:
            units.add(v.unit)
        if v.role is not None:
            roles.add(v.role)
    return len(reporters), len(units), len(touchpoints), len(roles)


def _periods(
    rows: np.ndarray,
    period_of_row: np.ndarray,
    counts: np.ndarray,
    totals: np.ndarray,
    starts: Sequence[dt.date],
    notes: Sequence[NoteFact],
    voices: Sequence[Voice],
    voice_period: Mapping[int, int],
    bursts: np.ndarray,
    tw: float,
    *,
    weekly: bool,
) -> tuple[PeriodMeasure, ...]:
    # DoV/DoD weights run over all periods up to now: the current one weighs 1.
    weights = time_weights(len(starts), tw)
    out = []
    for i, w in enumerate(weights):
        in_i = rows[period_of_row[rows] == i]
        reporters, units, touchpoints, roles = _diffusion(
            in_i, notes, [v for v in voices if voice_period[id(v)] == i])
        total = int(totals[i])
        vis = counts[i] / total if total else 0.0
        out.append(PeriodMeasure(
            period=week_label(starts[i]) if weekly else f"{starts[i].year}-{starts[i].month:02d}",
            start=starts[i], count=int(counts[i]), total=total, visibility=round(vis, 4),
            dov=round(vis * w, 4), dod=round((reporters / total if total else 0.0) * w, 4),
            reporters=reporters, units=units, touchpoints=touchpoints, roles=roles,
            burst=bool(bursts[i]),
        ))
    return tuple(out)


def _months(first: dt.date, last: dt.date) -> list[tuple[int, int]]:
    out = []
    y, m = first.year, first.month
    while (y, m) <= (last.year, last.month):
        out.append((y, m))
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def _novelty(
    vectors: np.ndarray,
    centre: np.ndarray,
    labels: np.ndarray,
    days: Sequence[dt.date],
    tid: int,
    born: dt.date,
    k: int,
) -> float | None:
    before = np.array([d < born for d in days]) & (labels != tid)
    if not before.any():
        return None
    sims = np.asarray(vectors, dtype=np.float32)[before] @ np.asarray(centre, dtype=np.float32)
    top = np.sort(sims)[-k:]
    return round(float(1.0 - top.mean()), 4)
