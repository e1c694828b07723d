"""Which theme changes raise an alert, and what the alert says in words. Pure.

The worker's refresh (workers/refresh.py) and the replay benchmark (bench/signals_replay.py)
decide alerts with the same two functions, so a benchmark figure is the deployment's figure.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable

from hiljainen.pipeline.signals import ThemeSignal

# A theme turning weak, or strong, is worth an alert; falling back is not. Themes regrouped
# around the threshold flicker, so a theme alerts at most once per level in ALERT_QUIET.
ALERT_LEVEL = {"weak": 1, "strong": 2}
ALERT_QUIET = dt.timedelta(days=7)


def alert_kind(was: str | None, now: str, burst_now: bool = False,
               lately: Iterable[str | None] = ()) -> str | None:
    """The alert a theme's change from signal `was` to `now` raises, if any: "signal" when it rose
    to weak or strong and was not alerted at that level lately (`lately`: the levels of its
    alerts within ALERT_QUIET); "burst" when a theme of too few notes bursts without becoming a
    signal; else None."""
    level = ALERT_LEVEL.get(now, 0)
    if level > ALERT_LEVEL.get(was or "", 0):
        return "signal" if all(ALERT_LEVEL.get(s or "", 0) < level for s in lately) else None
    if burst_now and level == 0 and was == "noise":
        return "burst"
    return None


def reason(signal: ThemeSignal, new_subject: bool, _: Callable[..., str]) -> str:
    """Why the theme is a signal, in words: what grew, since when, from how many people and units.

    `new_subject` = the theme is made mostly of an emerging micro-group of recent notes
    (cluster.py, step 4); `_` translates (hiljainen.catalogs.translator)."""
    since = _since(signal)
    counts = {"notes": sum(m.count for m in signal.weekly if m.start >= since),
              "since": f"{since.day}.{since.month}.{since.year}"}
    if new_subject:
        what = _("a new subject: %(notes)d notes since %(since)s, most of them in the last weeks",
                 **counts)
    else:
        before = [m.count for m in signal.weekly if m.start < since]
        per_week = f"{sum(before) / len(before):.1f}" if before else "0"
        what = _("growing: %(notes)d notes since %(since)s (before, %(per_week)s a week)",
                 per_week=per_week, **counts)
    if signal.units > 1:
        who = _("from %(people)d people in %(units)d units", people=signal.reporters,
                units=signal.units)
    else:
        who = _("from %(people)d people", people=signal.reporters)
    return f"{what}, {who}"


def _since(signal: ThemeSignal) -> dt.date:
    # The start of the latest burst, else the theme's first note.
    weeks = signal.weekly
    on = [i for i, m in enumerate(weeks) if m.burst]
    if on:
        start = on[-1]
        while start > 0 and weeks[start - 1].burst:
            start -= 1
        return weeks[start].start
    return signal.first_seen or (weeks[0].start if weeks else dt.date.today())
