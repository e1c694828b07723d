"""The printed report's charts, drawn on the server as SVG so that a browser's print (and so the
PDF) carries them without JavaScript. This module computes the figures, with the report's
privacy rule, and the bars' geometry; templates/report/_charts.html draws them.

Privacy: a weekly count is hidden (None) when fewer than `min_group` distinct writers stand
behind it, and so is the smallest other week when only one would be hidden, since the period's
total shown in the tables would give it away (`digest.privacy_table`, weeks as rows).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from hiljainen.digest import privacy_table
from hiljainen.pipeline.indicators import NoteFacts

NOTES = "notes"
WIDTH = 280  # SVG user units; the chart scales to its box (print.css sets how wide)
HEIGHT = 110
SMALL_HEIGHT = 60
AXIS = 15  # room under the bars for the week labels
HEADROOM = 13  # room above the tallest bar for its figure
BAR_GAP = 0.25  # share of a slot left empty between bars
ROW_HEIGHT = 20  # one bar of a horizontal chart


@dataclass(frozen=True)
class Bar:
    label: str
    value: int | None  # None = hidden: too few writers
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class Chart:
    bars: list[Bar]
    width: int
    height: int
    axis: float = 0  # where vertical bars stand


def weeks_of(start: dt.date, end: dt.date) -> list[dt.date]:
    """The Monday of every ISO week that the period touches."""
    monday = start - dt.timedelta(days=start.weekday())
    return [monday + dt.timedelta(weeks=i) for i in range((end - monday).days // 7 + 1)]


def weekly_counts(facts: Iterable[NoteFacts], weeks: Sequence[dt.date], min_group: int) -> list[int | None]:
    """Notes per week, hidden where the writers are too few or the total would give one away."""
    keys = [w.isoformat() for w in weeks]
    table = privacy_table(
        ((_monday(f.day).isoformat(), NOTES, f.writer) for f in facts), keys, [NOTES], min_group
    )
    return [table.cell(k, NOTES) for k in keys]


def bars(values: Sequence[tuple[str, int | None]], height: int = HEIGHT) -> Chart:
    """Vertical bars side by side; a hidden value gets no bar (the template marks it)."""
    slot = WIDTH / max(len(values), 1)
    top = max([v for _label, v in values if v] or [1])
    room = height - AXIS - HEADROOM
    out = []
    for i, (label, value) in enumerate(values):
        h = room * (value or 0) / top
        out.append(
            Bar(label, value, i * slot + slot * BAR_GAP / 2, height - AXIS - h, slot * (1 - BAR_GAP), h)
        )
    return Chart(out, WIDTH, height, height - AXIS)


def rows(values: Sequence[tuple[str, int | None]], label_room: float = 0.5) -> Chart:
    """Horizontal bars, one per row, with room on the left for the row's name."""
    left = WIDTH * label_room
    room = WIDTH - left - 30  # and on the right for the figure
    top = max([v for _label, v in values if v] or [1])
    out = [
        Bar(label, value, left, i * ROW_HEIGHT + 3, room * (value or 0) / top, ROW_HEIGHT - 6)
        for i, (label, value) in enumerate(values)
    ]
    return Chart(out, WIDTH, ROW_HEIGHT * len(values))


def _monday(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())
