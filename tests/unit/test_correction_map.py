"""The map learnt from a leader's corrections (hiljainen/pipeline/correction_map.py)."""

from __future__ import annotations

import numpy as np
import pytest

from hiljainen.pipeline import correction_map
from hiljainen.pipeline.constraints import Constraints
from hiljainen.pipeline.correction_map import through_corrections


def two_close_subjects(seed: int = 0, n: int = 40, d: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """Notes of two subjects whose centres nearly coincide (cosine ~0.9), as neighbouring
    subjects sharing words do; returns the unit vectors and each note's subject (0 or 1)."""
    rng = np.random.default_rng(seed)
    shared, apart = rng.normal(size=d), rng.normal(size=d)
    centres = [shared + 0.35 * apart, shared - 0.35 * apart]
    subject = np.repeat([0, 1], n)
    x = np.stack([centres[s] + 0.9 * rng.normal(size=d) for s in subject]).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True), subject


def separation(x: np.ndarray, subject: np.ndarray, rows: np.ndarray) -> float:
    """How much nearer `rows` sit to their own subject's centre than to the other's (cosine)."""
    centres = np.stack([x[subject == s].mean(axis=0) for s in (0, 1)])
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    sims = x[rows] @ centres.T
    own = sims[np.arange(len(rows)), subject[rows]]
    return float(np.mean(own - sims[np.arange(len(rows)), 1 - subject[rows]]))


def test_without_a_must_link_the_vectors_are_left_alone() -> None:
    x, _ = two_close_subjects()
    assert through_corrections(x, None) is x
    assert through_corrections(x, Constraints(cannot_link=[(0, 40)])) is x


def test_corrections_pull_apart_the_notes_nobody_corrected_too() -> None:
    gains = []
    for seed in range(3):
        x, subject = two_close_subjects(seed)
        # The leader merged six notes of each subject and split the two subjects apart once.
        must = [(i, i + 1) for i in range(0, 5)] + [(i, i + 1) for i in range(40, 45)]
        constraints = Constraints(must_link=must, cannot_link=[(0, 40)])
        y = through_corrections(x, constraints)
        assert y.shape == x.shape and np.allclose(np.linalg.norm(y, axis=1), 1, atol=1e-5)
        named = {r for pair in (*constraints.must_link, *constraints.cannot_link) for r in pair}
        unnamed = np.array([r for r in range(len(x)) if r not in named])
        gains.append(separation(y, subject, unnamed) - separation(x, subject, unnamed))
        # The map stays near the identity: no note is moved far.
        assert float(np.min(np.sum(x * y, axis=1))) > 0.5
    assert min(gains) > 0, gains


def test_a_fit_over_many_named_notes_looks_at_a_sample_and_keeps_every_split(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(correction_map, "MAX_NAMED", 30)  # 80 notes are named below
    x, subject = two_close_subjects()
    must = [(i, i + 1) for i in range(0, 39)] + [(i, i + 1) for i in range(40, 79)]
    # Every split names one note on each side; the sample may miss those very notes.
    constraints = Constraints(must_link=must, cannot_link=[(0, 40), (39, 79)])
    sample = correction_map.named_rows(constraints)
    assert len(sample) == 30 and sample == sorted(set(sample))
    assert not {0, 40} <= set(sample), "this seed's sample misses a split's own pair"
    y = through_corrections(x, constraints)
    everyone = np.arange(len(x))
    assert separation(y, subject, everyone) > separation(x, subject, everyone)
    # Without the splits, the two merged chains are not pushed apart as far.
    merged_only = through_corrections(x, Constraints(must_link=must))
    assert separation(y, subject, everyone) > separation(merged_only, subject, everyone)
