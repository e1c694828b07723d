"""Learning from a leader's corrections: a small map of the vectors, fitted per organisation.

Constraints alone move only the notes a correction names. Before grouping, the refresh fits a
residual linear map v -> normalise(v + v A) on the named notes (supervised InfoNCE: a note's
positives are the notes it is must-linked with, its negatives every other named note, a
cannot-link partner counted several times) and groups every note's vector through it;
a pull towards the identity (|A|^2) keeps the notes nobody named where they were. Fitted
afresh from the stored corrections at each refresh: ~0.2 s on one core.

Measured with a simulated leader making 5 corrections a week on the team's streams
(bench/leader_corrections.py, bench/results/shaping.md; settings chosen on dev-1..3): themes ARI
over weeks 1-8, constraints alone -> with the map, 0.317 -> 0.363 on dev-4..6 and 0.324 -> 0.367
on the held-out streams, at the cost of a few more notes outside themes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hiljainen.pipeline.constraints import Constraints, linked_sets

# The most named notes one fit looks at: its logits are named x named floats.
MAX_NAMED = 2000


@dataclass(frozen=True)
class MapSettings:
    """The map's few settings; the defaults are the ones chosen on dev-1..3."""

    steps: int = 30  # full-batch Adam steps
    lr: float = 0.01
    decay: float = 0.1  # weight of |A|^2, the pull towards the identity
    temperature: float = 0.05
    cannot_link_weight: float = 5.0  # a cannot-link partner counts this many times as a negative


def through_corrections(
    x: np.ndarray, constraints: Constraints | None, settings: MapSettings = MapSettings()
) -> np.ndarray:
    """Every row of `x` through the map fitted on the corrections; `x` itself without must-links."""
    if not constraints or not constraints.must_link:
        return x
    constraints.check(len(x))
    return apply(x, fit(x, constraints, settings))


def apply(x: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Every row through the map: normalise(v + v A)."""
    y = x + x @ a
    return (y / np.maximum(np.linalg.norm(y, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def named_rows(constraints: Constraints) -> list[int]:
    """The rows the constraints name, at most MAX_NAMED of them (a seeded sample): pinned themes
    name all their notes, and the fit's logits grow with the square of the rows."""
    rows = sorted({int(r) for pair in (*constraints.must_link, *constraints.cannot_link) for r in pair})
    if len(rows) > MAX_NAMED:
        rows = sorted(np.random.default_rng(0).choice(rows, MAX_NAMED, replace=False).tolist())
    return rows


def fit(x: np.ndarray, constraints: Constraints, settings: MapSettings = MapSettings()) -> np.ndarray:
    """A (d x d) of the residual map, fitted on the notes the constraints name."""
    import torch

    d = x.shape[1]
    rows = named_rows(constraints)
    if len(rows) < 3:
        return np.zeros((d, d), dtype=np.float32)
    linked = linked_sets(len(x), constraints.must_link)
    comp = linked[rows]
    positive = comp[:, None] == comp[None, :]
    apart = np.zeros_like(positive)
    for i, j in constraints.cannot_link:  # keeps both sides' must-linked notes apart (sampled or not)
        a, b = comp == linked[i], comp == linked[j]
        apart |= np.outer(a, b) | np.outer(b, a)
    positive &= ~apart
    np.fill_diagonal(positive, False)
    anchors = positive.any(axis=1)
    if not anchors.any():
        return np.zeros((d, d), dtype=np.float32)
    xs = torch.from_numpy(np.ascontiguousarray(x[rows], dtype=np.float32))
    p = torch.from_numpy(positive[anchors]).float()
    bias = torch.from_numpy(np.where(apart, np.log(settings.cannot_link_weight), 0.0).astype(np.float32))
    bias.fill_diagonal_(float("-inf"))  # a note is not its own negative
    bias = bias[torch.from_numpy(anchors)]
    anchor_rows = torch.from_numpy(np.flatnonzero(anchors))
    w = torch.zeros(d, d, requires_grad=True)
    optimiser = torch.optim.Adam([w], lr=settings.lr)
    for _ in range(settings.steps):
        y = torch.nn.functional.normalize(xs + xs @ w, dim=1)
        logits = y[anchor_rows] @ y.T / settings.temperature + bias
        log_p = logits - torch.logsumexp(logits, dim=1, keepdim=True)
        pull = -((log_p.masked_fill(p == 0, 0.0) * p).sum(1) / p.sum(1)).mean()
        loss = pull + settings.decay * (w * w).sum()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return w.detach().numpy().astype(np.float32)
