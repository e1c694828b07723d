"""Emerging micro-groups, step 4 of hiljainen.pipeline.cluster: Kulldorff's Bernoulli scan over
neighbourhoods (and rare-lemma zones) richer in recent notes than the rest."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from hiljainen.pipeline.grouping import UNASSIGNED, group_centroids, renumber

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

    from hiljainen.pipeline.cluster import ClusterParams

# Emerging micro-groups found per run at most (each one costs a new scan).
_MAX_SCANS = 10

# One scan's best zone: all its rows, its recent rows, its Monte Carlo p-value.
_Zone = tuple[np.ndarray, np.ndarray, float]


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
    found: Sequence[np.ndarray],
    params: ClusterParams,
) -> np.ndarray:
    """Give each emerging micro-group (`found`, rows, most significant first) a group of its own,
    taken out of the groups holding it; rows an earlier micro-group took stay with it.
    A group that mostly coincides with it keeps its older notes in it: carving only the recent
    ones out of what is already the subject's theme would change its identity from run to run."""
    if not len(found):
        return groups
    out = groups.copy()
    before = np.bincount(groups[groups >= 0], minlength=int(groups.max(initial=-1)) + 1)
    fresh = len(before)
    taken = np.zeros(len(groups), dtype=bool)
    for rows in found:
        rows = _with_host(rows, groups)
        rows = rows[~taken[rows]]
        if len(rows) < params.min_theme_size:
            continue
        out[rows] = fresh
        taken[rows] = True
        fresh += 1
    # A group the split left below theme size dissolves: its notes join the nearest old group
    # that is left (they were assigned before, so they stay assigned).
    after = np.bincount(out[out >= 0], minlength=fresh)[: len(before)]
    shrunk = (after < before) & (after < params.min_theme_size)
    orphans = np.flatnonzero(np.isin(out, np.flatnonzero(shrunk)))
    kept = np.flatnonzero(~shrunk & (after > 0))
    out[orphans] = UNASSIGNED
    if len(orphans) and len(kept):
        cents = group_centroids(z, out, fresh)[kept]
        out[orphans] = kept[(z[orphans] @ cents.T).argmax(axis=1)]
    return renumber(out)


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
