"""Themes from note vectors: Ward clustering, outlier assignment, stable identity across runs.

Pure: numpy arrays and dataclasses in, dataclasses out. The method, measured in
bench/results/themes.md:

1. Centre the unit vectors on each language's mean (the embedding's cosines sit in a narrow
   band and group notes by language; removing those common directions spreads them) and
   average each note with its nearest neighbours (denoising, the cheap stand-in for UMAP).
   When the notes' keywords (content-word lemmas) are given, a TF-IDF of them reduced by a
   seeded truncated SVD is joined to the centred vectors with weight `keyword_weight` (share of
   the cosine), so notes that share rare words sit a little closer (from `keyword_min_notes`
   notes on): +0.020 NMI on banking77, +0.012 on Turku, -0.003 on clinc150. Above
   `direct_limit` notes, first group them into that many micro-clusters (two k-means passes
   from a seeded sample) and cluster those.
2. Ward's hierarchy, cut from the root down into the largest groups whose notes sit close
   enough to their centre on average (`min_cohesion`): the number of themes follows the data
   (3,000 banking questions of 77 intents give ~116 groups, 3,000 clinc questions of 150
   intents ~169), not the number of notes. Groups whose raw (not denoised) notes are not
   close to each other (`min_member_cohesion`) and members far below their group's typical
   closeness (`outlier_z`) become leftovers.
3. Groups smaller than `min_theme_size` are dissolved. Their notes join the nearest theme when
   they are as close to its centre as its typical member (`assign_quantile`); otherwise they
   stay "not yet a theme" (-1), but never more than `max_unassigned_share` of all notes: beyond
   that the closest of them join their nearest theme anyway. A pinned theme that holds notes
   of another pinned theme's group gets its own notes back (nearest pinned centroid).
4. Emerging micro-groups (when each note's age in weeks is given): a new subject's first notes
   often sit inside two or three older themes of related subjects, so no theme grows until it
   has 5-12 notes. Kulldorff's Bernoulli scan statistic looks at every note with its
   1..`emerging_ball` nearest notes (same space as step 1) and scores how much richer in
   "recent" notes (the last `emerging_weeks` ISO weeks) that neighbourhood is than the rest
   (log-likelihood ratio). The best one is significant when at most `emerging_alpha` of
   `emerging_permutations` random relabellings (as many recent notes, anywhere) score as high,
   so a run splits out a chance group with probability about `emerging_alpha`, however many
   neighbourhoods are scanned. Its notes are taken out and the scan repeated (Zhang, Assunção
   and Kulldorff 2010). The recent notes of each significant neighbourhood, at least
   `min_theme_size` of them from at least `emerging_reporters` people, become a group of their
   own (a group left below theme size joins its nearest neighbour); nothing is scanned before
   `emerging_baseline` older notes exist. When keywords are given, a second scan does the same
   with the notes sharing a rare lemma (one in 3..`emerging_ball` notes) as the zones: a new
   subject often brings its own word ("poliisi", "hissi") before its notes sit together in the
   embedding. Such a group's word grows by construction, so the signal rule's word test cannot
   screen a chance one: the scan's own `emerging_word_alpha` is ten times stricter. The signal
   rule (signals.py) then decides whether a new theme is a weak signal. A micro-group that
   makes up most of the group holding it takes that group's older notes along: the group is
   the subject's theme already, and carving its recent notes out would give the subject a new
   identity each run. bench/results/signals.md measures what this step gains.
5. Each new group is matched to the previous run's themes by shared member notes (and by
   centroid cosine when the old notes have left the window), which yields the events born,
   grew, shrank, continued, merged, split and faded. A group continues a previous theme only
   when it holds more of that theme's notes than of all other themes' together: a mix of
   corners of several themes is a new theme, not an old id with a new meaning. Pinned themes
   keep their id and name and are never merged away.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

NoteId = Hashable
UNASSIGNED = -1
EVENT_KINDS = ("born", "grew", "shrank", "continued", "merged", "split", "faded")
# Emerging micro-groups found per run at most (each one costs a new scan).
_MAX_SCANS = 10
# One scan's best zone: all its rows, its recent rows, its Monte Carlo p-value.
_Zone = tuple[np.ndarray, np.ndarray, float]


@dataclass(frozen=True)
class ClusterParams:
    """Tuning of theme clustering; defaults chosen on bench/themes.py (see bench/results)."""

    # Ward's tree is cut into the largest groups whose (denoised, centred) vectors sit at least
    # this close to their centre on average: the number of themes follows the data, not n.
    # Tuned for multilingual-e5-small; another embedding model may need another value.
    min_cohesion: float = 0.8
    # Denoising can make unrelated notes look alike; a group whose centred (not denoised)
    # vectors sit less close than this to their centre is scatter, not a theme.
    min_member_cohesion: float = 0.5
    # Fewer notes than this are not a theme (three notes make a theme).
    min_theme_size: int = 3
    # Each note is averaged with this many nearest neighbours before Ward (0 = off).
    denoise_neighbours: int = 5
    # Share of the similarity Ward sees that comes from shared keywords (TF-IDF of lemmas,
    # reduced to `keyword_dims` by SVD) when keywords are given; 0 = embedding only.
    keyword_weight: float = 0.1
    keyword_dims: int = 64
    # Below this many notes, lemma frequencies are too few to weigh words by (on 36 notes of
    # three topics, tests/test_themes_batch.py, they merged two topics): embedding only.
    keyword_min_notes: int = 200
    # At most this share of notes is left as "not yet a theme".
    max_unassigned_share: float = 0.10
    # A leftover note joins a theme when at least as close to its centre as this quantile of
    # the theme's own members.
    assign_quantile: float = 0.10
    # A member less close to its theme's centre than median - z * robust deviation is a stray.
    outlier_z: float = 3.0
    # Above this many notes, Ward runs on this many micro-clusters instead of the notes.
    direct_limit: int = 5000
    # A previous theme is linked to a new group holding at least this share of its live notes.
    link_share: float = 0.25
    # Centroid cosine to continue a theme whose notes have all left the window.
    match_similarity: float = 0.95
    # Emerging micro-groups (step 4 of the module docstring; needs each note's age in weeks):
    # notes of the last `emerging_weeks` ISO weeks are "recent" (0 = step off).
    emerging_weeks: int = 3
    # Neighbourhoods scanned: each note with up to this many of its nearest notes.
    emerging_ball: int = 15
    # A neighbourhood is significant when at most this share of as many random relabellings
    # score as high (0.02 of 99: at most one); bench/signals_replay.py chose 0.02 (0.05 bought
    # a little speed with false alarms, 0.01 gained almost nothing).
    emerging_permutations: int = 99
    emerging_alpha: float = 0.02
    # The rare-lemma scan's level (its groups' own word grows by construction, so nothing later
    # screens a chance word): 0.005 let a chance word through in 12 replay streams, 0.002 none.
    emerging_word_permutations: int = 999
    emerging_word_alpha: float = 0.002
    # Distinct reporters a group needs (one person writing repeatedly is not emerging).
    emerging_reporters: int = 2
    # Without this many older notes there is no "before" to compare with.
    emerging_baseline: int = 30
    # The scan looks at the newest this many notes: its cost grows with their square
    # (about 4 s for 10,000 notes on 2 cores).
    emerging_max_notes: int = 10000
    seed: int = 0


@dataclass(frozen=True)
class PreviousTheme:
    """A theme as the last run stored it: what identity matching needs."""

    id: int
    centroid: np.ndarray
    member_ids: frozenset[NoteId]
    pinned: bool = False
    name: str | None = None  # a leader's name; carried to the theme that continues this one


@dataclass
class Theme:
    """One theme of this run: member row indices into the input, unit centroid, identity."""

    id: int
    members: np.ndarray
    centroid: np.ndarray
    pinned: bool = False
    name: str | None = None
    previous_ids: tuple[int, ...] = ()  # earlier themes that flowed into this one

    @property
    def size(self) -> int:
        """Number of member notes."""
        return int(len(self.members))


@dataclass(frozen=True)
class ThemeEvent:
    """Something that happened to a theme in this run; `other_id` is the theme on the other side
    (merged: the theme it merged into; split: the theme it split from)."""

    kind: str
    theme_id: int
    other_id: int | None = None
    size_before: int = 0
    size_after: int = 0


@dataclass
class Clustering:
    """Result of one run: theme id per note (-1 = not yet a theme), themes, and events."""

    labels: np.ndarray
    themes: list[Theme]
    events: list[ThemeEvent]
    note_ids: list[NoteId] = field(default_factory=list)

    @property
    def unassigned_share(self) -> float:
        """Share of notes left as "not yet a theme"."""
        return float(np.mean(self.labels == UNASSIGNED)) if len(self.labels) else 0.0

    def theme(self, theme_id: int) -> Theme:
        """The theme with this id."""
        for t in self.themes:
            if t.id == theme_id:
                return t
        raise KeyError(theme_id)


def cluster_notes(
    vectors: np.ndarray,
    note_ids: Sequence[NoteId] | None = None,
    previous: Sequence[PreviousTheme] = (),
    params: ClusterParams | None = None,
    next_id: int | None = None,
    langs: Sequence[str] | None = None,
    keywords: Sequence[Sequence[str]] | None = None,
    *,
    ages: Sequence[int] | np.ndarray | None = None,
    reporters: Sequence[Hashable | None] | None = None,
) -> Clustering:
    """Cluster note vectors into themes and match them to the previous run's themes.

    `langs` (one code per note, from the language stage) lets each language be centred on its
    own mean, so English notes do not form a theme of their own among Finnish ones. `keywords`
    (content-word lemmas per note) add shared-word evidence to the grouping (not to centroids).
    `ages` (whole ISO weeks before the current one; negative = after now) turn on the emerging
    micro-group step (its rare-lemma scan needs `keywords`); `reporters` (None = anonymous, its
    own reporter) let it count people.
    """
    p = params or ClusterParams()
    x = _unit(np.asarray(vectors, dtype=np.float32))
    n = len(x)
    ids: list[NoteId] = list(range(n)) if note_ids is None else list(note_ids)
    if len(ids) != n:
        raise ValueError(f"{n} vectors but {len(ids)} note ids")
    z = _space(x, p, langs, keywords)
    groups = _groups_in(z, x, p)
    groups = _split_pinned(x, ids, groups, previous, p)
    groups = assign_leftovers(x, groups, p)
    if ages is not None:
        groups = split_emerging(z, groups, ages, reporters, p, keywords)
    themes, events = match_themes(x, ids, groups, previous, p, next_id)
    labels = np.full(n, UNASSIGNED, dtype=np.int64)
    for t in themes:
        labels[t.members] = t.id
    return Clustering(labels=labels, themes=themes, events=events, note_ids=ids)


def find_groups(
    x: np.ndarray,
    params: ClusterParams,
    langs: Sequence[str] | None = None,
    keywords: Sequence[Sequence[str]] | None = None,
) -> np.ndarray:
    """Raw group per note (0..k-1) from Ward's tree; -1 for notes in groups below minimum size."""
    return _groups_in(_space(x, params, langs, keywords), x, params)


def _space(
    x: np.ndarray,
    params: ClusterParams,
    langs: Sequence[str] | None,
    keywords: Sequence[Sequence[str]] | None,
) -> np.ndarray:
    # The vectors grouping works on: centred per language, joined with shared-keyword evidence.
    n = len(x)
    if n < params.min_theme_size:
        return x
    z = _unit(x - _means(x, langs, params.min_theme_size))
    if keywords is not None and len(keywords) != n:
        raise ValueError(f"{n} vectors but {len(keywords)} keyword lists")
    if keywords is not None and params.keyword_weight > 0 and n >= params.keyword_min_notes:
        kw = _keyword_vectors(keywords, params.keyword_dims, params.seed)
        if kw is not None:
            w = params.keyword_weight
            z = _unit(np.hstack([math.sqrt(1.0 - w) * z, math.sqrt(w) * kw]))
    return z


def _groups_in(z: np.ndarray, x: np.ndarray, params: ClusterParams) -> np.ndarray:
    n = len(x)
    labels = np.full(n, UNASSIGNED, dtype=np.int64)
    if n < params.min_theme_size:
        return labels
    if n > params.direct_limit:
        micro, centres = _micro_clusters(z, params.direct_limit, params.seed)
        weights = np.bincount(micro, minlength=len(centres)).astype(np.float64)
        top = _cohesion_cut(_denoise(centres, params.denoise_neighbours), weights,
                            params.min_cohesion)
        labels = top[micro]
    else:
        labels = _cohesion_cut(_denoise(z, params.denoise_neighbours), np.ones(n),
                               params.min_cohesion)
    labels = _drop_scatter(z, labels, params.min_member_cohesion)
    labels = _drop_strays(x, labels, params.outlier_z)
    # (minlength >= 1: every group may have been dropped as scatter)
    sizes = np.bincount(labels[labels >= 0], minlength=max(int(labels.max(initial=-1)) + 1, 1))
    labels[(labels >= 0) & (sizes[np.maximum(labels, 0)] < params.min_theme_size)] = UNASSIGNED
    return _renumber(labels)


def assign_leftovers(x: np.ndarray, groups: np.ndarray, params: ClusterParams) -> np.ndarray:
    """Give leftover notes (-1) to their nearest theme when close enough, keeping the cap."""
    labels = groups.copy()
    out = np.flatnonzero(labels == UNASSIGNED)
    k = int(labels.max()) + 1 if len(labels) and labels.max() >= 0 else 0
    if k == 0 or len(out) == 0:
        return labels
    centroids = _centroids(x, labels, k)
    # How close a theme's own members sit to its centre: the bar a leftover note must clear.
    own = np.einsum("ij,ij->i", x[labels >= 0], centroids[labels[labels >= 0]])
    bars = np.array([
        np.quantile(own[labels[labels >= 0] == c], params.assign_quantile) for c in range(k)
    ])
    sims = x[out] @ centroids.T
    best = sims.argmax(axis=1)
    best_sim = sims[np.arange(len(out)), best]
    close = best_sim >= bars[best]
    labels[out[close]] = best[close]
    # Enforce the cap: the leftovers nearest to a theme are the first to join one.
    cap = int(math.floor(params.max_unassigned_share * len(labels)))
    still = np.flatnonzero(~close)
    if len(still) > cap:
        order = still[np.argsort(-(best_sim[still] - bars[best[still]]), kind="stable")]
        take = order[: len(still) - cap]
        labels[out[take]] = best[take]
    return labels


def find_emerging(
    z: np.ndarray,
    ages: Sequence[int] | np.ndarray,
    reporters: Sequence[Hashable | None] | None,
    params: ClusterParams,
    keywords: Sequence[Sequence[str]] | None = None,
) -> list[np.ndarray]:
    """Rows of each emerging micro-group (step 4 of the module docstring), most significant first:
    neighbourhoods in `z` (the space grouping works in), then notes sharing a rare lemma.

    `ages` are whole weeks before the current one.
    """
    def people(rows: np.ndarray) -> int:
        return len({("row", int(r)) if reporters is None or reporters[r] is None else reporters[r]
                    for r in rows})

    found = [rows for rows, p_value in scan_recent(z, ages, params)
             if p_value <= params.emerging_alpha and people(rows) >= params.emerging_reporters]
    if keywords is not None:
        taken = np.concatenate(found) if found else np.zeros(0, dtype=np.int64)
        found += [rows for rows, p_value in scan_words(keywords, ages, params, taken)
                  if p_value <= params.emerging_word_alpha
                  and people(rows) >= params.emerging_reporters]
    return found


def scan_recent(
    z: np.ndarray, ages: Sequence[int] | np.ndarray, params: ClusterParams
) -> list[tuple[np.ndarray, float]]:
    """Neighbourhoods holding more recent notes than chance, as (recent rows, Monte Carlo p).

    Kulldorff's Bernoulli scan, repeated after taking out each significant neighbourhood's notes
    (Zhang, Assunção and Kulldorff 2010); the last entry is the first one that was not
    significant at `emerging_alpha` (if any).
    """
    if len(ages) != len(z):
        raise ValueError(f"{len(z)} vectors but {len(ages)} ages")
    return _repeat_scan(_scan_pool(ages, params), ages, params.emerging_alpha,
                        lambda pool, recent, rng: _scan_once(z, pool, recent, params, rng), params)


def scan_words(
    keywords: Sequence[Sequence[str]],
    ages: Sequence[int] | np.ndarray,
    params: ClusterParams,
    exclude: np.ndarray | None = None,
) -> list[tuple[np.ndarray, float]]:
    """Notes sharing a rare lemma that are more often recent than chance, as (recent rows, p).

    The same repeated scan as `scan_recent`, with the notes of each lemma in 3..`emerging_ball`
    notes as the zones instead of neighbourhoods; rows in `exclude` take no part.
    """
    if len(ages) != len(keywords):
        raise ValueError(f"{len(keywords)} keyword lists but {len(ages)} ages")
    pool = _scan_pool(ages, params)
    if exclude is not None and len(exclude):
        pool = np.setdiff1d(pool, exclude)
    return _repeat_scan(pool, ages, params.emerging_word_alpha,
                        lambda pool, recent, rng: _word_scan_once(keywords, pool, recent, params,
                                                                  rng), params)


def _scan_pool(ages: Sequence[int] | np.ndarray, params: ClusterParams) -> np.ndarray:
    # Rows a scan looks at: notes dated up to now, the newest `emerging_max_notes` of them (enough
    # history, and a bound on the cost).
    age = np.asarray(ages, dtype=np.int64)
    known = np.flatnonzero(age >= 0)
    return np.sort(known[np.argsort(age[known], kind="stable")[: params.emerging_max_notes]])


def _repeat_scan(
    pool: np.ndarray,
    ages: Sequence[int] | np.ndarray,
    alpha: float,
    scan_once: Callable[[np.ndarray, np.ndarray, np.random.Generator], _Zone | None],
    params: ClusterParams,
) -> list[tuple[np.ndarray, float]]:
    # Scan, take out the significant zone's notes, scan again (at most _MAX_SCANS times); stop
    # after the first zone that is not significant at alpha, which is returned last, or when
    # too few recent notes (or too little history) are left.
    recent_all = np.asarray(ages, dtype=np.int64) < params.emerging_weeks
    if params.emerging_weeks <= 0 or len(pool) == 0:
        return []
    rng = np.random.default_rng(params.seed)
    out: list[tuple[np.ndarray, float]] = []
    while len(out) < _MAX_SCANS:
        recent = recent_all[pool]
        cases = int(recent.sum())
        if cases < params.min_theme_size or len(pool) - cases < params.emerging_baseline:
            break
        found = scan_once(pool, recent, rng)
        if found is None:
            break
        inside, rows, p_value = found
        out.append((rows, p_value))
        if p_value > alpha:
            break
        pool = np.setdiff1d(pool, inside, assume_unique=True)
    return out


def _scan_once(
    z: np.ndarray,
    pool: np.ndarray,
    recent: np.ndarray,
    params: ClusterParams,
    rng: np.random.Generator,
) -> _Zone | None:
    # The best neighbourhood among `pool` (every note with its nearest notes, itself first):
    # its rows, its recent rows and its p-value against random relabellings of `pool`.
    total, cases = len(pool), int(recent.sum())
    m = min(params.emerging_ball, total)
    zp = z[pool]
    nb = np.empty((total, m), dtype=np.int64)
    for start in range(0, total, 2048):
        sims = zp[start : start + 2048] @ zp.T
        part = np.argpartition(-sims, m - 1, axis=1)[:, :m]
        order = np.argsort(-np.take_along_axis(sims, part, axis=1), axis=1, kind="stable")
        nb[start : start + len(sims)] = np.take_along_axis(part, order, axis=1)
    found = _monte_carlo(
        _ball_llr(recent, nb, cases, params.min_theme_size),
        recent,
        lambda batch: np.array([_ball_llr(c, nb, cases, params.min_theme_size).max() for c in batch.T]),
        params.emerging_permutations,
        rng,
    )
    if found is None:
        return None
    best, p_value = found
    centre, size = divmod(best, m)
    inside = nb[centre, : size + 1]
    return pool[inside], pool[inside[recent[inside]]], p_value


def _word_scan_once(
    keywords: Sequence[Sequence[str]],
    pool: np.ndarray,
    recent: np.ndarray,
    params: ClusterParams,
    rng: np.random.Generator,
) -> _Zone | None:
    # The rare lemma whose notes in `pool` are richest in recent ones: its rows, its recent rows
    # and its p-value against random relabellings of `pool` (a sparse product per batch).
    total, cases = len(pool), int(recent.sum())
    zones = _word_zones([keywords[i] for i in pool], params.min_theme_size, params.emerging_ball)
    if zones is None:
        return None
    size = np.asarray(zones.sum(axis=1), dtype=np.float64)

    def llr(labels: np.ndarray) -> np.ndarray:  # labels: (notes, relabellings) of 0/1
        r = np.asarray(zones @ labels.astype(np.float64), dtype=np.float64)
        return _bernoulli_llr(r, size, cases, total, params.min_theme_size)

    found = _monte_carlo(llr(recent[:, None])[:, 0], recent, lambda batch: llr(batch).max(axis=0),
                         params.emerging_word_permutations, rng)
    if found is None:
        return None
    best, p_value = found
    inside = zones[best].indices
    return pool[inside], pool[inside[recent[inside]]], p_value


def _monte_carlo(
    real: np.ndarray,
    recent: np.ndarray,
    best_of: Callable[[np.ndarray], np.ndarray],
    permutations: int,
    rng: np.random.Generator,
) -> tuple[int, float] | None:
    # The best zone (flat index into `real`, the zones' scores for the true labelling) and its
    # Monte Carlo p-value: the share of random relabellings of the same notes whose best zone
    # scores as high. Relabellings go to `best_of` as columns, 100 at a time; None when no zone
    # is richer in recent notes than the rest.
    best = int(np.argmax(real))
    score = float(real.flat[best])
    if score <= 0:
        return None
    as_high = 0
    for start in range(0, permutations, 100):
        batch = np.stack([rng.permutation(recent) for _ in range(min(100, permutations - start))], axis=1)
        as_high += int((best_of(batch) >= score).sum())
    return best, (1 + as_high) / (1 + permutations)


def _word_zones(keywords: Sequence[Sequence[str]], low: int, high: int) -> csr_matrix | None:
    # Sparse lemma x note incidence of the lemmas found in low..high notes; None without any.
    from scipy.sparse import csr_matrix

    vocab: dict[str, int] = {}
    rows, cols = [], []
    for note, words in enumerate(keywords):
        for word in set(words):
            rows.append(vocab.setdefault(word, len(vocab)))
            cols.append(note)
    if not vocab:
        return None
    zones = csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(vocab), len(keywords)))
    counts = np.asarray(zones.sum(axis=1)).ravel()
    keep = np.flatnonzero((counts >= low) & (counts <= high))
    return zones[keep] if len(keep) else None


def _ball_llr(recent: np.ndarray, nb: np.ndarray, cases: int, min_cases: int) -> np.ndarray:
    # The scan statistic of every nested neighbourhood nb[i, :j + 1].
    r = np.cumsum(recent[nb], axis=1, dtype=np.float64)
    size = np.arange(1, nb.shape[1] + 1, dtype=np.float64)[None, :]
    return _bernoulli_llr(r, size, cases, len(recent), min_cases)


def _bernoulli_llr(r: np.ndarray, size: np.ndarray, cases: int, total: int,
                   min_cases: int) -> np.ndarray:
    # Kulldorff's Bernoulli scan statistic of zones holding r recent notes of `size`: the
    # log-likelihood ratio of "recent notes are likelier inside" vs "equally likely anywhere";
    # 0 where the inside is not richer in recent notes or holds fewer than min_cases of them.
    from scipy.special import xlogy

    r_out, size_out = cases - r, total - size
    p_in = r / size
    p_out = np.divide(r_out, size_out, out=np.zeros_like(r), where=size_out > 0)
    ll1 = (xlogy(r, p_in) + xlogy(size - r, 1 - p_in)
           + xlogy(r_out, p_out) + xlogy(size_out - r_out, 1 - p_out))
    q = cases / total
    ll0 = xlogy(cases, q) + xlogy(total - cases, 1 - q)
    return np.where((p_in > p_out) & (r >= min_cases), ll1 - ll0, 0.0)


def split_emerging(
    z: np.ndarray,
    groups: np.ndarray,
    ages: Sequence[int] | np.ndarray,
    reporters: Sequence[Hashable | None] | None,
    params: ClusterParams,
    keywords: Sequence[Sequence[str]] | None = None,
) -> np.ndarray:
    """Give each emerging micro-group a group of its own (taken out of the groups holding it).
    A group that mostly coincides with it keeps its older notes in it: carving only the recent
    ones out of what is already the subject's theme would change its identity from run to run."""
    found = [_with_host(rows, groups) for rows in find_emerging(z, ages, reporters, params, keywords)]
    if not found:
        return groups
    out = groups.copy()
    before = np.bincount(groups[groups >= 0], minlength=int(groups.max(initial=-1)) + 1)
    fresh = len(before)
    for rows in found:
        out[rows] = fresh
        fresh += 1
    # A group the split left below theme size dissolves: its notes join the nearest old group
    # that is left (they were assigned before, so they stay assigned).
    after = np.bincount(out[out >= 0], minlength=fresh)[: len(before)]
    shrunk = (after < before) & (after < params.min_theme_size)
    orphans = np.flatnonzero(np.isin(out, np.flatnonzero(shrunk)))
    kept = np.flatnonzero(~shrunk & (after > 0))
    out[orphans] = UNASSIGNED
    if len(orphans) and len(kept):
        cents = _centroids(z, out, fresh)[kept]
        out[orphans] = kept[(z[orphans] @ cents.T).argmax(axis=1)]
    return _renumber(out)


def _with_host(rows: np.ndarray, groups: np.ndarray) -> np.ndarray:
    # `rows` and the group holding most of them, when they make up most of that group too: the
    # group is the subject already, and its older notes belong with the recent ones.
    hosts = groups[rows]
    hosts = hosts[hosts >= 0]
    if len(hosts) == 0:
        return rows
    host = np.bincount(hosts).argmax()
    shared = int((hosts == host).sum())
    members = np.flatnonzero(groups == host)
    if shared * 2 > len(rows) and shared * 2 > len(members):
        return np.union1d(rows, members)
    return rows


def match_themes(
    x: np.ndarray,
    note_ids: Sequence[NoteId],
    groups: np.ndarray,
    previous: Sequence[PreviousTheme],
    params: ClusterParams,
    next_id: int | None = None,
) -> tuple[list[Theme], list[ThemeEvent]]:
    """Give each group the id of the previous theme it continues, and say what happened."""
    from scipy.optimize import linear_sum_assignment

    k = int(groups.max()) + 1 if len(groups) and groups.max() >= 0 else 0
    members = [np.flatnonzero(groups == c) for c in range(k)]
    centroids = _centroids(x, groups, k) if k else np.zeros((0, x.shape[1]), np.float32)
    prev = list(previous)
    new_id = next_id if next_id is not None else max((q.id for q in prev), default=0) + 1
    row_of = {nid: i for i, nid in enumerate(note_ids)}
    # Overlap[p, c]: live notes of previous theme p that are in group c.
    overlap = np.zeros((len(prev), k), dtype=np.int64)
    live = np.zeros(len(prev), dtype=np.int64)
    for pi, q in enumerate(prev):
        rows = [row_of[m] for m in q.member_ids if m in row_of]
        live[pi] = len(rows)
        if rows and k:
            g = groups[np.asarray(rows)]
            overlap[pi] = np.bincount(g[g >= 0], minlength=k)
    need = np.maximum(1, np.ceil(params.link_share * live))
    linked = (overlap >= need[:, None]) & (overlap > 0)
    # An heir also holds more of the previous theme's notes than of all other themes' together:
    # a group made of a corner of each of three themes is a new theme, not the old id renamed.
    heir = linked & (overlap * 2 > overlap.sum(axis=0, keepdims=True))

    heir_of: dict[int, int] = {}  # group -> previous index
    if len(prev) and k:
        pinned = np.array([q.pinned for q in prev])
        weight = np.where(heir | (linked & pinned[:, None]), overlap + np.where(pinned, 10**9, 0)[:, None], 0)
        rows_, cols = linear_sum_assignment(-weight)
        for pi, c in zip(rows_, cols, strict=True):
            if weight[pi, c] > 0:
                heir_of[int(c)] = int(pi)
        # Themes whose notes left the window (or all became leftovers) continue by centroid.
        free_p = [pi for pi in range(len(prev)) if pi not in heir_of.values()
                  and not linked[pi].any()]
        free_c = [c for c in range(k) if c not in heir_of and not linked[:, c].any()]
        if free_p and free_c:
            pc = _unit(np.vstack([prev[pi].centroid for pi in free_p]).astype(np.float32))
            sim = pc @ centroids[free_c].T
            r2, c2 = linear_sum_assignment(-sim)
            for a, b in zip(r2, c2, strict=True):
                if sim[a, b] >= params.match_similarity:
                    heir_of[free_c[b]] = free_p[a]

    themes: list[Theme] = []
    events: list[ThemeEvent] = []
    id_of_group: dict[int, int] = {}
    for c in range(k):
        if c in heir_of:
            q = prev[heir_of[c]]
            id_of_group[c] = q.id
    for c in range(k):
        size = len(members[c])
        parents = tuple(prev[pi].id for pi in np.flatnonzero(linked[:, c])) if len(prev) else ()
        if c in heir_of:
            q = prev[heir_of[c]]
            before = len(q.member_ids)
            kind = "grew" if size > before else "shrank" if size < before else "continued"
            events.append(ThemeEvent(kind, q.id, None, before, size))
            themes.append(Theme(q.id, members[c], centroids[c], q.pinned, q.name,
                                tuple(sorted(set(parents) | {q.id}))))
            continue
        tid = new_id
        new_id += 1
        id_of_group[c] = tid
        if parents:
            # Split off from the previous theme that gave it most notes.
            src = int(np.argmax(overlap[:, c]))
            events.append(ThemeEvent("split", tid, prev[src].id, len(prev[src].member_ids), size))
        else:
            events.append(ThemeEvent("born", tid, None, 0, size))
        themes.append(Theme(tid, members[c], centroids[c], previous_ids=parents))
    heirs = set(heir_of.values())
    for pi, q in enumerate(prev):
        if pi in heirs:
            continue
        targets = np.flatnonzero(linked[pi]) if k else np.array([], dtype=np.int64)
        if len(targets):
            into = id_of_group[int(targets[np.argmax(overlap[pi, targets])])]
            events.append(ThemeEvent("merged", q.id, into, len(q.member_ids), 0))
        else:
            events.append(ThemeEvent("faded", q.id, None, len(q.member_ids), 0))
            if q.pinned:
                # A pinned theme outlives its notes: kept, empty, until a leader unpins it.
                themes.append(Theme(q.id, np.zeros(0, dtype=np.int64),
                                    _unit(np.asarray(q.centroid, np.float32)[None])[0],
                                    True, q.name))
    return themes, events


def centroid(x: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Unit mean vector of the given rows."""
    return _unit(np.asarray(x, np.float32)[rows].mean(axis=0, keepdims=True))[0]


def _split_pinned(
    x: np.ndarray,
    ids: Sequence[NoteId],
    groups: np.ndarray,
    previous: Sequence[PreviousTheme],
    params: ClusterParams,
) -> np.ndarray:
    # A group that swallowed two or more pinned themes is cut back along their centroids, so a
    # theme a leader pinned is never merged away.
    pinned = [q for q in previous if q.pinned]
    if len(pinned) < 2 or groups.max(initial=-1) < 0:
        return groups
    groups = groups.copy()
    row_of = {nid: i for i, nid in enumerate(ids)}
    next_group = int(groups.max()) + 1
    for c in range(int(groups.max()) + 1):
        in_c = groups == c
        holders = []
        for q in pinned:
            rows = [row_of[m] for m in q.member_ids if m in row_of]
            live = len(rows)
            got = int(in_c[rows].sum()) if rows else 0
            if got and got >= max(1, math.ceil(params.link_share * live)):
                holders.append(q)
        if len(holders) < 2:
            continue
        rows_c = np.flatnonzero(in_c)
        cents = _unit(np.vstack([q.centroid for q in holders]).astype(np.float32))
        nearest = (x[rows_c] @ cents.T).argmax(axis=1)
        for h in range(1, len(holders)):
            groups[rows_c[nearest == h]] = next_group
            next_group += 1
    return _renumber(groups)


def _means(x: np.ndarray, langs: Sequence[str] | None, min_size: int) -> np.ndarray:
    # The embedding puts a language's notes near each other whatever they say: removing each
    # language's own mean (when it has a few notes) leaves what the notes are about.
    means = np.broadcast_to(x.mean(axis=0), x.shape).copy()
    if langs is None:
        return means
    if len(langs) != len(x):
        raise ValueError(f"{len(x)} vectors but {len(langs)} language codes")
    codes = np.asarray(langs)
    for code in set(codes.tolist()):
        rows = codes == code
        if rows.sum() >= min_size:
            means[rows] = x[rows].mean(axis=0)
    return means


def _keyword_vectors(keywords: Sequence[Sequence[str]], dims: int, seed: int) -> np.ndarray | None:
    # Unit rows of a sublinear TF-IDF of each note's lemmas (lemmas of at least two notes),
    # reduced by a seeded truncated SVD; zero rows for notes without shared lemmas. None when
    # too few lemmas are shared to say anything.
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    docs = [list(k) for k in keywords]
    try:
        tfidf = TfidfVectorizer(analyzer=_identity, min_df=2, sublinear_tf=True).fit_transform(docs)
    except ValueError:  # no lemma occurs in two notes
        return None
    d = min(dims, tfidf.shape[1] - 1, len(docs) - 1)
    if d < 2:
        return None
    reduced = TruncatedSVD(d, random_state=seed).fit_transform(tfidf)
    return _unit(np.asarray(reduced, dtype=np.float32))


def _identity(doc: list[str]) -> list[str]:
    return doc


def _drop_scatter(z: np.ndarray, labels: np.ndarray, floor: float) -> np.ndarray:
    if labels.max(initial=-1) < 0:
        return labels
    k = int(labels.max()) + 1
    sums = _group_sums(z, labels, k)
    sizes = np.bincount(labels[labels >= 0], minlength=k)
    cohesion = np.linalg.norm(sums, axis=1) / np.maximum(sizes, 1)
    out = labels.copy()
    out[(labels >= 0) & (cohesion[np.maximum(labels, 0)] < floor)] = UNASSIGNED
    return out


def _drop_strays(x: np.ndarray, labels: np.ndarray, z: float) -> np.ndarray:
    # Ward puts every note somewhere; a member far below its theme's typical closeness
    # (median - z robust deviations) is a stray and becomes a leftover.
    if z <= 0 or labels.max(initial=-1) < 0:
        return labels
    labels = labels.copy()
    k = int(labels.max()) + 1
    cents = _centroids(x, labels, k)
    keep = labels >= 0
    sims = np.full(len(labels), np.inf, dtype=np.float32)
    sims[keep] = np.einsum("ij,ij->i", x[keep], cents[labels[keep]])
    for c in range(k):
        rows = np.flatnonzero(labels == c)
        if len(rows) < 4:
            continue
        s = sims[rows]
        med = float(np.median(s))
        mad = float(np.median(np.abs(s - med))) * 1.4826
        labels[rows[s < med - z * max(mad, 1e-6)]] = UNASSIGNED
    return labels


def _unit(a: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(a, axis=1, keepdims=True)
    return (a / np.where(norms == 0, 1.0, norms)).astype(np.float32)


def _centroids(x: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    return _unit(_group_sums(x, labels, k))


def _group_sums(x: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    # One sparse product instead of np.add.at, which is slow on 100,000 rows.
    from scipy.sparse import csr_matrix

    keep = np.flatnonzero(labels >= 0)
    onehot = csr_matrix(
        (np.ones(len(keep), np.float32), (labels[keep], keep)), shape=(k, len(labels))
    )
    return np.asarray(onehot @ x, dtype=np.float32)


def _renumber(labels: np.ndarray) -> np.ndarray:
    # Groups numbered by first appearance: deterministic for the same input.
    out = np.full(len(labels), UNASSIGNED, dtype=np.int64)
    seen: dict[int, int] = {}
    for i, g in enumerate(labels):
        if g >= 0:
            out[i] = seen.setdefault(int(g), len(seen))
    return out


def _denoise(z: np.ndarray, k: int) -> np.ndarray:
    # Mean of each point and its k nearest neighbours: pulls paraphrases together.
    n = len(z)
    if k <= 0 or n <= k + 1:
        return z
    out = np.empty_like(z)
    for start in range(0, n, 2048):
        sims = z[start : start + 2048] @ z.T
        nb = np.argpartition(-sims, k, axis=1)[:, : k + 1]
        out[start : start + 2048] = z[nb].mean(axis=1)
    return _unit(out)


def _cohesion_cut(z: np.ndarray, weights: np.ndarray, min_cohesion: float) -> np.ndarray:
    # Ward's tree, read from the root down: a node whose members' mean cosine to their centre
    # (|sum| / count for unit vectors) reaches min_cohesion is a group; otherwise its two
    # children are tried. Weights count the notes behind each row (micro-clusters).
    from scipy.cluster.hierarchy import linkage

    n = len(z)
    if n <= 1:
        return np.zeros(n, dtype=np.int64)
    tree = linkage(z.astype(np.float64), method="ward")
    children = tree[:, :2].astype(np.int64)
    sums = np.zeros((2 * n - 1, z.shape[1]), dtype=np.float64)
    count = np.zeros(2 * n - 1, dtype=np.float64)
    sums[:n] = z * weights[:, None]
    count[:n] = weights
    for i, (a, b) in enumerate(children):
        sums[n + i] = sums[a] + sums[b]
        count[n + i] = count[a] + count[b]
    cohesion = np.linalg.norm(sums, axis=1) / np.maximum(count, 1e-12)
    labels = np.empty(n, dtype=np.int64)
    group = 0
    stack = [2 * n - 2]
    while stack:
        node = stack.pop()
        if node >= n and cohesion[node] < min_cohesion:
            stack.extend(children[node - n][::-1].tolist())
            continue
        leaves, todo = [], [node]
        while todo:
            m = todo.pop()
            if m < n:
                leaves.append(m)
            else:
                todo.extend(children[m - n].tolist())
        labels[leaves] = group
        group += 1
    return labels


def _micro_clusters(z: np.ndarray, m: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    # Two k-means passes from a seeded sample: enough to summarise 100,000 notes in m centres.
    rng = np.random.default_rng(seed)
    centres = z[np.sort(rng.choice(len(z), size=m, replace=False))].copy()
    assign = np.empty(len(z), dtype=np.int64)
    for _ in range(2):
        for start in range(0, len(z), 4096):
            assign[start : start + 4096] = (z[start : start + 4096] @ centres.T).argmax(axis=1)
        sums = _group_sums(z, assign, m)
        filled = np.bincount(assign, minlength=m) > 0
        centres[filled] = _unit(sums[filled])
    # Drop empty centres so Ward sees only real groups.
    used, assign = np.unique(assign, return_inverse=True)
    return assign.astype(np.int64), centres[used]
