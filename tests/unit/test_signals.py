"""Weak signals: Kleinberg bursts, Yoon's time weight, the classification rule, end to end."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import numpy as np
import pytest

from hiljainen.pipeline.signals import (
    NoteFact,
    SignalParams,
    Voice,
    burst_span,
    classify,
    emergence_rate,
    growth_test,
    kleinberg_bursts,
    score_signals,
    time_weights,
    week_label,
)

MONDAY = dt.date(2026, 1, 5)
P = SignalParams()


def test_kleinberg_finds_a_burst_in_small_counts() -> None:
    counts = [1, 0, 1, 1, 0, 1, 0, 1, 4, 5, 6]
    totals = [15] * len(counts)
    bursts = kleinberg_bursts(counts, totals)
    assert not bursts[:8].any()
    assert bursts[-3:].all()


def test_kleinberg_stays_quiet_on_steady_counts() -> None:
    rng = np.random.default_rng(0)
    quiet = 0
    for _ in range(50):
        counts = rng.binomial(15, 0.07, size=26)
        quiet += not kleinberg_bursts(counts, [15] * 26, scale=3.0, cost=1.0).any()
    assert quiet >= 45


def test_kleinberg_handles_empty_series() -> None:
    assert not kleinberg_bursts([0, 0, 0], [5, 5, 5]).any()
    assert len(kleinberg_bursts([], [])) == 0


def test_time_weight_sign_favours_the_present() -> None:
    w = time_weights(8, 0.05)
    assert w[-1] == 1.0 and w[0] == pytest.approx(0.65)
    assert np.all(np.diff(w) > 0)
    # The same notes early or late: the late theme has the higher DoV (visibility x weight).
    early = np.array([4, 4, 0, 0, 0, 0, 0, 0]) / 20
    late = early[::-1]
    assert (late * w).mean() > (early * w).mean()


def test_emergence_orders_growing_steady_and_fading() -> None:
    totals = [20] * 8
    growing = emergence_rate([0, 0, 0, 0, 1, 2, 3, 4], totals, 0.05)
    steady = emergence_rate([2] * 8, totals, 0.05)
    fading = emergence_rate([4, 3, 2, 1, 0, 0, 0, 0], totals, 0.05)
    assert growing > steady > fading
    # With the present-favouring weight a steady theme grows by about tw a week.
    assert steady == pytest.approx(-np.polyfit(range(8), -np.log(time_weights(8, 0.05)), 1)[0])


def test_growth_test_compares_the_burst_with_what_came_before() -> None:
    counts = [0] * 10 + [2, 3]
    ratio, p_value = growth_test(counts, [15] * 12, recent=2)
    assert ratio > 10 and p_value < 1e-4
    ratio, p_value = growth_test([1] * 12, [15] * 12, recent=2)
    assert p_value > 0.1
    assert burst_span([False, True, True, False, True, True], recent=2) == 2
    assert burst_span([True, True, True, False, False], recent=2) == 0
    assert burst_span([False, True, True, True, False], recent=2) == 4


def rule(**overrides: object) -> str:
    """classify() with a growing, spreading, rare theme unless told otherwise."""
    args: dict = dict(
        window_count=6, reporters=5, corners=(3, 0, 2), share=0.04, average_share=0.05,
        burst_now=True, emergence=0.2, p_value=1e-6, baseline_notes=200, params=P,
    )
    args.update(overrides)
    return classify(**args)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, "weak"),
        ({"share": 0.2}, "strong"),
        ({"share": 0.2, "burst_now": False}, "well-known"),
        ({"burst_now": False}, "latent"),
        ({"p_value": 0.2}, "latent"),
        ({"baseline_notes": 10}, "latent"),  # no history yet: nothing can be growing
        ({"emergence": -0.1}, "latent"),
        ({"corners": (1, 0, 1)}, "latent"),  # one unit, one role: not spreading
        ({"window_count": 2}, "noise"),
        ({"reporters": 1}, "noise"),  # one person writing again and again
    ],
)
def test_classification_rule(overrides: dict, expected: str) -> None:
    assert rule(**overrides) == expected


def stream() -> tuple[np.ndarray, list[NoteFact], np.ndarray]:
    """20 weeks: theme 1 steady (3 a week), theme 2 new from week 17 and growing."""
    rng = np.random.default_rng(1)
    labels, facts = [], []
    for w in range(20):
        per_theme = {1: 3, 3: 8}
        if w >= 17:
            per_theme[2] = [2, 4, 6][w - 17]
        for theme, n in per_theme.items():
            for _ in range(n):
                labels.append(theme)
                facts.append(NoteFact(
                    day=MONDAY + dt.timedelta(weeks=w, days=int(rng.integers(0, 5))),
                    reporter=f"p{rng.integers(0, 30)}", unit=f"u{rng.integers(0, 3)}",
                    touchpoint="kotihoito", role="staff",
                ))
    vecs = np.zeros((len(labels), 3), np.float32)
    lab = np.array(labels)
    vecs[lab == 1] = [1, 0, 0]
    vecs[lab == 2] = [0, 1, 0]
    vecs[lab == 3] = [0.6, 0, 0.8]
    return lab, facts, vecs


def test_new_growing_theme_is_flagged_and_steady_one_is_not() -> None:
    labels, facts, vecs = stream()
    centroids = {1: vecs[labels == 1][0], 2: vecs[labels == 2][0], 3: vecs[labels == 3][0]}
    signals = score_signals(labels, facts, vectors=vecs, centroids=centroids)
    assert signals[2].signal in ("weak", "strong")
    assert signals[2].burst_now and signals[2].emergence > signals[1].emergence
    assert signals[1].signal in ("latent", "well-known")
    assert signals[3].signal == "well-known"
    # Novelty: theme 2 points where nothing pointed before; theme 1 repeats its own past.
    assert signals[2].novelty == pytest.approx(1.0)
    assert signals[2].first_seen == min(f.day for f, t in zip(facts, labels, strict=True) if t == 2)
    weekly = signals[2].weekly_counts()
    assert sum(weekly.values()) == int((labels == 2).sum())
    assert list(weekly)[-1] == week_label(MONDAY + dt.timedelta(weeks=19))
    assert sum(m.count for m in signals[1].monthly) == int((labels == 1).sum())


def test_a_growing_theme_needs_a_growing_word() -> None:
    """Theme 2's burst is real as counts, but is it a new subject? Only if a word naming it
    is new too: the same notes sharing a word that older notes use as often are a chance group."""
    labels, facts, _vecs = stream()
    rows = len(labels)
    new_word = [["ruoka", "myöhässä"] if t == 2 else ["ruoka"] for t in labels]
    common_word = [["ruoka"] for _ in range(rows)]
    flagged = ("weak", "strong")
    assert score_signals(labels, facts, keywords=new_word, theme_words={2: ["myöhässä", "ruoka"]})[
        2
    ].signal in flagged
    assert score_signals(labels, facts, keywords=common_word, theme_words={2: ["ruoka"]})[
        2
    ].signal not in flagged
    # No words to test (emoji, markers) or no keywords at all: the count rule alone decides.
    assert score_signals(labels, facts, keywords=common_word, theme_words={})[2].signal in flagged
    assert rule(word_p=0.2) == "latent" and rule(word_p=0.01) == "weak"
    with pytest.raises(ValueError, match="keyword lists"):
        score_signals(labels, facts, keywords=common_word[:3])


def test_a_growing_theme_must_hold_together() -> None:
    """Theme 2 bursts; regrouped from corners of other subjects (its notes far from its centre)
    it is no new subject, however new its notes are."""
    labels, facts, vecs = stream()
    rng = np.random.default_rng(2)
    loose = vecs.copy()
    loose[labels == 2] = rng.normal(size=(int((labels == 2).sum()), 3))
    centroids = {t: vecs[labels == t][0] for t in (1, 2, 3)}
    flagged = ("weak", "strong")

    def signal(vectors: np.ndarray, rank: float) -> str:
        params = replace(P, min_cohesion_rank=rank)
        return score_signals(labels, facts, vectors=vectors, centroids=centroids, params=params)[2].signal

    assert signal(vecs, 0.5) in flagged
    assert signal(loose, 0.5) not in flagged
    assert signal(loose, 0.0) in flagged, "gate off"
    assert rule(coherent=False) == "latent"


def test_confidence_is_low_for_few_notes() -> None:
    labels = np.array([1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2])
    facts = [NoteFact(MONDAY + dt.timedelta(days=i), reporter=f"p{i}") for i in range(len(labels))]
    signals = score_signals(labels, facts)
    assert signals[1].confidence == "low"
    assert signals[1].confidence_note.startswith("3 notes from 3 people")
    assert signals[2].confidence == "high"


def test_me_too_voices_count_as_reporters_and_anonymous_notes_each_count() -> None:
    labels = np.array([1, 1, 1])
    one_writer = [NoteFact(MONDAY, reporter="p1", unit="u1")] * 3
    alone = score_signals(labels, one_writer)[1]
    assert alone.reporters == 1 and alone.signal == "noise"
    voices = [Voice(0, MONDAY + dt.timedelta(days=1), "p2", unit="u2"),
              Voice(2, MONDAY + dt.timedelta(days=2), "p3")]
    backed = score_signals(labels, one_writer, voices=voices)[1]
    assert backed.reporters == 3 and backed.units == 2
    anonymous = score_signals(labels, [NoteFact(MONDAY)] * 3)[1]
    assert anonymous.reporters == 3


def test_window_and_thresholds_come_from_params() -> None:
    labels, facts, _ = stream()
    strict = replace(P, min_support=100)
    assert {s.signal for s in score_signals(labels, facts, params=strict).values()} == {"noise"}
    # Looking at the world as it was in week 10, theme 2 does not exist yet.
    early = score_signals(labels, facts, now=MONDAY + dt.timedelta(weeks=10))
    assert 2 not in early and early[1].last_seen <= MONDAY + dt.timedelta(weeks=10, days=6)


def test_mismatched_inputs_are_rejected() -> None:
    with pytest.raises(ValueError, match="labels"):
        score_signals(np.array([1, 2]), [NoteFact(MONDAY)])
    assert score_signals(np.array([], dtype=int), []) == {}


def test_notes_dated_after_now_are_left_out_even_when_every_note_is() -> None:
    # A refresh as of the server's date may see notes dated the deployment's tomorrow.
    labels, facts, _ = stream()
    before = MONDAY - dt.timedelta(days=1)
    assert score_signals(labels, facts, now=before) == {}
    midway = MONDAY + dt.timedelta(weeks=10)
    signals = score_signals(labels, facts, now=midway)
    assert 2 not in signals, "theme 2 starts in week 17"
    next_week = midway + dt.timedelta(weeks=1)
    up_to_now = [f for f, t in zip(facts, labels, strict=True) if t == 1 and f.day < next_week]
    assert sum(signals[1].weekly_counts().values()) == len(up_to_now), "the rest of now's week counts"
