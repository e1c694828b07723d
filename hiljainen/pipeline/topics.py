"""Topics: the upper level a leader scans, each holding themes of related subjects.

Pure. Themes' centroids are grouped by average-linkage agglomeration on cosine distance, cut into
about 1.5 * sqrt(themes) topics, at least 8 and at most 25, so the level stays readable however
many themes there are; up to 8 themes are each a topic of their own (a list that short needs no
upper level, and merging 11 themes into 5 topics lost subjects that the themes kept apart). A
topic's id is the id of its largest theme, so it stays put while that theme does.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

MIN_TOPICS = 8
MAX_TOPICS = 25


def topic_count(themes: int) -> int:
    """How many topics `themes` themes are shown as."""
    if themes <= MIN_TOPICS:
        return max(themes, 0)
    return max(MIN_TOPICS, min(MAX_TOPICS, round(1.5 * math.sqrt(themes))))


def group_topics(centroids: Mapping[int, np.ndarray], sizes: Mapping[int, int]) -> dict[int, int]:
    """Topic id per theme id (a topic's id is its largest theme's id)."""
    ids = sorted(centroids)
    if not ids:
        return {}
    k = topic_count(len(ids))
    if k >= len(ids):
        return {t: t for t in ids}
    from scipy.cluster.hierarchy import fcluster, linkage

    x = np.stack([np.asarray(centroids[t], dtype=np.float64) for t in ids])
    x -= x.mean(axis=0)
    x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    cut = fcluster(linkage(x, method="average", metric="cosine"), t=k, criterion="maxclust")
    topics: dict[int, int] = {}
    for c in np.unique(cut):
        members = [ids[i] for i in np.flatnonzero(cut == c)]
        head = max(members, key=lambda t: (sizes.get(t, 0), -t))
        topics.update({t: head for t in members})
    return topics
