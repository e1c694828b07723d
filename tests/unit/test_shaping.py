"""Corrections as constraints, topics over themes, and theme names in people's words."""

from __future__ import annotations

import numpy as np
import pytest

from hiljainen.pipeline.constraints import ConflictingConstraints, Constraints, honour
from hiljainen.pipeline.label import phrase
from hiljainen.pipeline.topics import group_topics, topic_count


def blobs(sizes: list[int], dim: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(len(sizes), dim)) * 3
    x = np.concatenate([c + rng.normal(size=(n, dim)) for c, n in zip(centres, sizes, strict=True)])
    labels = np.repeat(np.arange(len(sizes)), sizes)
    return x / np.linalg.norm(x, axis=1, keepdims=True), labels


def test_must_link_pairs_end_in_one_group_never_outside() -> None:
    x, groups = blobs([10, 10, 10])
    groups = groups.copy()
    groups[[28, 29]] = -1
    c = Constraints(must_link=[(0, 15), (28, 29), (3, 4)])
    out = honour(x, groups, c)
    for i, j in c.must_link:
        assert out[i] == out[j] != -1
    # Only the linked notes moved.
    moved = set(np.flatnonzero(out != groups))
    assert moved <= {0, 15, 28, 29}


def test_cannot_link_pairs_are_separated_by_moving_the_weaker_side() -> None:
    x, groups = blobs([10, 10, 10])
    c = Constraints(cannot_link=[(1, 2), (20, 21)], must_link=[(2, 5)])
    out = honour(x, groups, c)
    for i, j in c.cannot_link:
        assert out[i] != out[j]
    assert out[2] == out[5]  # a must-linked set moves together


def test_contradictory_constraints_are_refused() -> None:
    x, groups = blobs([5, 5])
    with pytest.raises(ConflictingConstraints):
        honour(x, groups, Constraints(must_link=[(0, 1), (1, 2)], cannot_link=[(0, 2)]))


def test_out_of_range_pairs_name_the_pair() -> None:
    x, groups = blobs([5, 5])
    with pytest.raises(ValueError, match=r"must_link pair \[0, 99\]"):
        honour(x, groups, Constraints(must_link=[(0, 99)]))


def test_no_constraints_change_nothing() -> None:
    x, groups = blobs([5, 5])
    assert (honour(x, groups, Constraints()) == groups).all()


def test_topics_gather_related_themes_under_the_largest() -> None:
    # Sixteen themes in two families: each family's themes are close to one another.
    rng = np.random.default_rng(1)
    families = rng.normal(size=(2, 32)) * 4
    centroids = {tid: families[tid % 2] + rng.normal(size=32) for tid in range(1, 17)}
    sizes = {tid: 10 + tid for tid in range(1, 17)}
    topics = group_topics(centroids, sizes)
    assert topic_count(16) == 8 and len(set(topics.values())) == 8
    assert set(topics) == set(centroids)
    for tid, head in topics.items():
        assert sizes[head] >= sizes[tid]
        assert topics[head] == head
    # No topic mixes the two families.
    for tid, head in topics.items():
        assert tid % 2 == head % 2


@pytest.mark.parametrize(
    "themes, expected", [(0, 0), (1, 1), (3, 3), (8, 8), (11, 8), (30, 8), (100, 15), (1000, 25)]
)
def test_topic_count_stays_readable(themes: int, expected: int) -> None:
    # A short list of themes is its own upper level; a long one is gathered into at most 25.
    assert topic_count(themes) == expected


def test_phrase_prefers_the_organisations_language_and_a_short_first_clause() -> None:
    texts = [
        "The soup was cold again when it came",
        "Keitto oli taas kylmää kun se tuli, mikrossa piti lämmittää ja kesti kauan",
        "ruoka kylmää taas",
    ]
    langs = ["en", "fi", "fi"]
    name = phrase(texts, langs, order=[0, 1, 2], language="fi")
    assert name == "Keitto oli taas kylmää kun se tuli"


def test_phrase_cuts_a_long_note_and_says_so() -> None:
    texts = ["Asiakkaan luona käytiin tänään niin nopeasti ettei kukaan ehtinyt edes istua alas hetkeksi"]
    name = phrase(texts, ["fi"], order=[0], language="fi")
    assert name.endswith("…") and len(name.split()) == 7
