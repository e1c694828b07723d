"""Theme grouping, steps 1-3 of hiljainen.pipeline.cluster: the clustering space, Ward's tree cut by
cohesion, strays and scatter dropped, small groups dissolved and leftovers assigned."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:

    from hiljainen.pipeline.cluster import ClusterParams
    from hiljainen.pipeline.identity import NoteId, PreviousTheme

UNASSIGNED = -1


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
    z = unit_rows(x - _means(x, langs, params.min_theme_size))
    if keywords is not None and len(keywords) != n:
        raise ValueError(f"{n} vectors but {len(keywords)} keyword lists")
    if keywords is not None and params.keyword_weight > 0 and n >= params.keyword_min_notes:
        kw = _keyword_vectors(keywords, params.keyword_dims, params.seed)
        if kw is not None:
            w = params.keyword_weight
            z = unit_rows(np.hstack([math.sqrt(1.0 - w) * z, math.sqrt(w) * kw]))
    return z


def _groups_in(z: np.ndarray, x: np.ndarray, params: ClusterParams) -> np.ndarray:
    n = len(x)
    labels = np.full(n, UNASSIGNED, dtype=np.int64)
    if n < params.min_theme_size:
        return labels
    level = cut_level(z, params)
    if n > params.direct_limit:
        micro, centres = _micro_clusters(z, params.direct_limit, params.seed)
        weights = np.bincount(micro, minlength=len(centres)).astype(np.float64)
        top = _cohesion_cut(_denoise(centres, params.denoise_neighbours), weights, level)
        labels = top[micro]
    else:
        labels = _cohesion_cut(_denoise(z, params.denoise_neighbours), np.ones(n), level)
    labels = _drop_scatter(z, labels, params.min_member_cohesion)
    labels = _drop_strays(x, labels, params.outlier_z)
    # (minlength >= 1: every group may have been dropped as scatter)
    sizes = np.bincount(labels[labels >= 0], minlength=max(int(labels.max(initial=-1)) + 1, 1))
    labels[(labels >= 0) & (sizes[np.maximum(labels, 0)] < params.min_theme_size)] = UNASSIGNED
    return renumber(labels)


def cut_level(z: np.ndarray, params: ClusterParams) -> float:
    """The cohesion a group needs: `min_cohesion`, raised where the notes sit densely.

    Density is the median closeness of a note and its `density_neighbours` nearest (|mean| of
    their unit vectors, in the space Ward sees before denoising; a seeded sample above
    `direct_limit` notes). Care notes are written freely and sit loosely (0.55-0.61 on the team
    corpus); short templated requests such as a bank's customer questions sit at 0.81 and their
    subjects are finer, so the cut rises by `cohesion_per_density` per unit of density above
    `density_pivot`, at most to `max_cohesion` (bench/results/understanding.md)."""
    k = params.density_neighbours
    if k <= 0 or len(z) <= k + 1:
        return params.min_cohesion
    if len(z) > params.direct_limit:
        rng = np.random.default_rng(params.seed)
        z = z[np.sort(rng.choice(len(z), size=params.direct_limit, replace=False))]
    density = float(np.median(np.linalg.norm(z[_nearest(z, k)].mean(axis=1), axis=1)))
    raised = params.min_cohesion + params.cohesion_per_density * (density - params.density_pivot)
    return float(min(max(raised, params.min_cohesion), max(params.max_cohesion, params.min_cohesion)))


def assign_leftovers(x: np.ndarray, groups: np.ndarray, params: ClusterParams) -> np.ndarray:
    """Give leftover notes (-1) to their nearest theme when close enough, keeping the cap."""
    labels = groups.copy()
    out = np.flatnonzero(labels == UNASSIGNED)
    k = int(labels.max()) + 1 if len(labels) and labels.max() >= 0 else 0
    if k == 0 or len(out) == 0:
        return labels
    centroids = group_centroids(x, labels, k)
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


def centroid(x: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Unit mean vector of the given rows."""
    return unit_rows(np.asarray(x, np.float32)[rows].mean(axis=0, keepdims=True))[0]


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
        cents = unit_rows(np.vstack([q.centroid for q in holders]).astype(np.float32))
        nearest = (x[rows_c] @ cents.T).argmax(axis=1)
        for h in range(1, len(holders)):
            groups[rows_c[nearest == h]] = next_group
            next_group += 1
    return renumber(groups)


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
    return unit_rows(np.asarray(reduced, dtype=np.float32))


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
    cents = group_centroids(x, labels, k)
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


def unit_rows(a: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(a, axis=1, keepdims=True)
    return (a / np.where(norms == 0, 1.0, norms)).astype(np.float32)


def group_centroids(x: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    return unit_rows(_group_sums(x, labels, k))


def _group_sums(x: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    # One sparse product instead of np.add.at, which is slow on 100,000 rows.
    from scipy.sparse import csr_matrix

    keep = np.flatnonzero(labels >= 0)
    onehot = csr_matrix(
        (np.ones(len(keep), np.float32), (labels[keep], keep)), shape=(k, len(labels))
    )
    return np.asarray(onehot @ x, dtype=np.float32)


def renumber(labels: np.ndarray) -> np.ndarray:
    # Groups numbered by first appearance: deterministic for the same input.
    out = np.full(len(labels), UNASSIGNED, dtype=np.int64)
    seen: dict[int, int] = {}
    for i, g in enumerate(labels):
        if g >= 0:
            out[i] = seen.setdefault(int(g), len(seen))
    return out


def _denoise(z: np.ndarray, k: int) -> np.ndarray:
    # Mean of each point and its k nearest neighbours: pulls paraphrases together.
    if k <= 0 or len(z) <= k + 1:
        return z
    return unit_rows(z[_nearest(z, k)].mean(axis=1))


def _nearest(z: np.ndarray, k: int) -> np.ndarray:
    # Each row with its k nearest rows (k + 1 indices a row, in no particular order).
    out = np.empty((len(z), k + 1), dtype=np.int64)
    for start in range(0, len(z), 2048):
        sims = z[start : start + 2048] @ z.T
        out[start : start + 2048] = np.argpartition(-sims, k, axis=1)[:, : k + 1]
    return out


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
        centres[filled] = unit_rows(sums[filled])
    # Drop empty centres so Ward sees only real groups.
    used, assign = np.unique(assign, return_inverse=True)
    return assign.astype(np.int64), centres[used]
