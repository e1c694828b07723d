"""A leader's corrections as constraints every grouping honours: must-link and cannot-link pairs.

Pure: numpy in, numpy out. Applied to the groups of one run after the grouping and emerging
steps, before identity matching, so a correction holds whatever the embedding thinks:
- must-link: the notes of each connected set (the pairs' transitive closure) share one group,
  the one most of them are in, else the group whose centre is nearest; never "not yet a theme";
- cannot-link: when a pair shares a group, the side that sits less well in it (with its
  must-linked notes) moves to its next nearest group holding none of its cannot-link partners,
  or to a group of its own when none is left.
"""

from __future__ import annotations

from collections.abc import Sequence, Set
from dataclasses import dataclass, field

import numpy as np

UNASSIGNED = -1


class ConflictingConstraints(ValueError):
    """A must-linked set also holds a cannot-link pair: no grouping can honour both."""


@dataclass(frozen=True)
class Constraints:
    """Pairs of row numbers (0-based) that must, or must not, share a theme."""

    must_link: Sequence[tuple[int, int]] = field(default_factory=tuple)
    cannot_link: Sequence[tuple[int, int]] = field(default_factory=tuple)

    def __bool__(self) -> bool:
        return bool(self.must_link) or bool(self.cannot_link)

    def check(self, n: int) -> None:
        """ValueError naming the first pair that is not two distinct rows below n."""
        for kind, pairs in (("must_link", self.must_link), ("cannot_link", self.cannot_link)):
            for pair in pairs:
                if len(pair) != 2 or not all(isinstance(i, int) and 0 <= i < n for i in pair):
                    raise ValueError(f"{kind} pair {list(pair)}: needs two row numbers from 0 to {n - 1}")
                if pair[0] == pair[1] and kind == "cannot_link":
                    raise ValueError(f"cannot_link pair {list(pair)}: a note cannot be kept from itself")


def linked_sets(n: int, pairs: Sequence[tuple[int, int]]) -> np.ndarray:
    """Component id per row under the must-link pairs (union-find)."""
    parent = list(range(n))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in pairs:
        a, b = root(i), root(j)
        if a != b:
            parent[max(a, b)] = min(a, b)
    return np.array([root(i) for i in range(n)], dtype=np.int64)


def honour(x: np.ndarray, groups: np.ndarray, constraints: Constraints) -> np.ndarray:
    """Groups (one per row, -1 = none) changed as little as needed to honour the constraints."""
    labels = np.asarray(groups, dtype=np.int64).copy()
    n = len(labels)
    if not constraints or n == 0:
        return labels
    constraints.check(n)
    sets = linked_sets(n, constraints.must_link)
    for i, j in constraints.cannot_link:
        if sets[i] == sets[j]:
            raise ConflictingConstraints(f"notes {i} and {j} are both must-linked and cannot-linked")
    members = {s: np.flatnonzero(sets == s) for s in np.unique(sets)}
    for rows in members.values():
        if len(rows) > 1 or labels[rows[0]] == UNASSIGNED and _linked(rows[0], constraints):
            labels[rows] = _home(x, labels, rows)
    partners: dict[int, set[int]] = {}
    for i, j in constraints.cannot_link:
        partners.setdefault(int(sets[i]), set()).add(int(sets[j]))
        partners.setdefault(int(sets[j]), set()).add(int(sets[i]))
    for _ in range(len(constraints.cannot_link) + 1):
        moved = False
        for i, j in constraints.cannot_link:
            if labels[i] == UNASSIGNED or labels[i] != labels[j]:
                continue
            group = labels[i]
            centre = _centre(x, labels == group)
            side = min((int(sets[i]), int(sets[j])), key=lambda s: float((x[members[s]] @ centre).mean()))
            rows = members[side]
            banned = {int(labels[members[p][0]]) for p in partners[side]} | {int(group)}
            labels[rows] = _home(x, labels, rows, banned)
            moved = True
        if not moved:
            break
    return labels


def _linked(row: int, constraints: Constraints) -> bool:
    return any(row in pair for pair in constraints.must_link)


def _centre(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    c = x[mask].mean(axis=0)
    return c / max(float(np.linalg.norm(c)), 1e-12)


def _home(x: np.ndarray, labels: np.ndarray, rows: np.ndarray, banned: Set[int] = frozenset()) -> int:
    """The group `rows` should share: most of them already in it, else the nearest centre."""
    own = [int(g) for g in labels[rows] if g != UNASSIGNED and g not in banned]
    if own:
        values, counts = np.unique(own, return_counts=True)
        return int(values[counts.argmax()])
    others = sorted({int(g) for g in labels if g != UNASSIGNED} - banned - {int(g) for g in labels[rows]})
    if not others:
        return int(labels.max(initial=UNASSIGNED)) + 1
    centres = np.stack([_centre(x, labels == g) for g in others])
    mean = x[rows].mean(axis=0)
    return others[int((centres @ mean).argmax())]
