"""Theme identity across runs, step 5 of hiljainen.pipeline.cluster: each new group continues the
previous theme it holds most of, and the events (born, grew, merged, split, faded...) say what happened."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from hiljainen.pipeline.grouping import group_centroids, unit_rows

NoteId = Hashable


if TYPE_CHECKING:

    from hiljainen.pipeline.cluster import ClusterParams

EVENT_KINDS = ("born", "grew", "shrank", "continued", "merged", "split", "faded")


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
    centroids = group_centroids(x, groups, k) if k else np.zeros((0, x.shape[1]), np.float32)
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
            pc = unit_rows(np.vstack([prev[pi].centroid for pi in free_p]).astype(np.float32))
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
                                    unit_rows(np.asarray(q.centroid, np.float32)[None])[0],
                                    True, q.name))
    return themes, events
