"""Which theme changes raise an alert, and the alert's reason in words (pipeline/alerts.py)."""

from __future__ import annotations

import datetime as dt

from hiljainen.catalogs import translator
from hiljainen.pipeline.alerts import alert_kind, reason
from hiljainen.pipeline.signals import NoteFact, score_signals

MONDAY = dt.date(2026, 1, 5)


def test_rising_to_a_signal_alerts_once_per_level() -> None:
    assert alert_kind(None, "weak") == "signal"
    assert alert_kind("latent", "strong") == "signal"
    assert alert_kind("weak", "strong") == "signal"
    assert alert_kind("strong", "weak") is None, "falling back is not news"
    assert alert_kind("weak", "weak") is None
    assert alert_kind("latent", "weak", lately=["weak"]) is None, "flickering back within the quiet time"
    assert alert_kind("weak", "strong", lately=["weak"]) == "signal", "a higher level is news"


def test_a_burst_alerts_only_a_theme_that_was_too_small_and_is_no_signal() -> None:
    assert alert_kind("noise", "latent", burst_now=True) == "burst"
    assert alert_kind("noise", "noise", burst_now=True) == "burst"
    assert alert_kind("latent", "latent", burst_now=True) is None
    assert alert_kind("noise", "weak", burst_now=True) == "signal"
    assert alert_kind("noise", "latent", burst_now=False) is None


def _signal(weekly_counts: list[int], units: int) -> object:
    # One theme (label 0) among background notes (label 1), `weekly_counts` of it per week.
    facts, labels = [], []
    for week, count in enumerate(weekly_counts):
        day = MONDAY + dt.timedelta(weeks=week, days=2)
        for i in range(count):
            facts.append(NoteFact(day, f"p{week}-{i}", f"u{i % units}", None, "staff"))
            labels.append(0)
        for i in range(12):
            facts.append(NoteFact(day, f"b{i}", "u0", None, "customer"))
            labels.append(1)
    import numpy as np

    return score_signals(np.array(labels), facts)[0]


def test_the_reason_says_what_grew_since_when_and_from_how_many_people_and_units() -> None:
    signal = _signal([1, 0, 1, 0, 1, 0, 1, 0, 0, 1, 0, 4, 6], units=3)
    en, fi = translator("en"), translator("fi")
    growing = reason(signal, False, en)
    since = [m.start for m in signal.weekly if m.burst][0]
    assert growing.startswith(f"growing: 10 notes since {since.day}.{since.month}.{since.year}"), growing
    assert "a week" in growing and "people in 3 units" in growing
    new = reason(signal, True, en)
    assert new.startswith("a new subject:") and "most of them in the last weeks" in new
    assert reason(signal, True, fi) != new, "the organisation's language"
    one_unit = reason(_signal([0] * 11 + [4, 6], units=1), True, en)
    assert "units" not in one_unit and one_unit.endswith("people")
