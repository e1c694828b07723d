"""Leadership indicators from note facts: weekly series, the response loop, reporting activity.

Pure: takes plain facts, returns plain dicts ready to store as a dashboard snapshot.

Privacy rule: a breakdown cell (unit x role over the period, or role or tone per week) is shown
only when at least `min_group` distinct writers stand behind it. Signed notes count their author
once; each anonymous note counts as one writer, because nothing links anonymous notes to each
other. A unit's scope holds only that unit's notes, so its weekly series are unit x role x week
cells. Pages show "shown_total", the number of notes where it gives no hidden cell away, never
"total".
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

ACK_WORKING_DAYS = 2


@dataclass(frozen=True)
class NoteFacts:
    """What the indicators need to know about one note (no text, no identity beyond a key)."""

    id: int
    day: dt.date
    source: str
    unit: str | None
    touchpoint: str | None
    writer: str  # "u<id>" for a signed note, "a<note id>" for an anonymous one
    status: str
    tone: str | None  # as notes show it: a label, or "uncertain" when the model is unsure
    theme_id: int | None
    acknowledged: dt.date | None = None
    first_response: dt.date | None = None
    closed_with_action: bool = False
    answered: bool = False
    duplicate: bool = False


def week_of(day: dt.date) -> str:
    """ISO week label, e.g. 2026-W07."""
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


def month_of(day: dt.date) -> str:
    """Month label, e.g. 2026-02."""
    return f"{day.year}-{day.month:02d}"


def week_labels(end: dt.date, weeks: int) -> list[str]:
    """The last `weeks` ISO week labels ending with the week of `end`."""
    monday = end - dt.timedelta(days=end.weekday())
    return [week_of(monday - dt.timedelta(weeks=i)) for i in range(weeks - 1, -1, -1)]


def working_days_between(start: dt.date, end: dt.date) -> int:
    """Monday-to-Friday days after `start` up to and including `end`."""
    days = 0
    current = start
    while current < end:
        current += dt.timedelta(days=1)
        if current.weekday() < 5:
            days += 1
    return days


def snapshot(
    notes: Iterable[NoteFacts], *, today: dt.date, weeks: int = 12, min_group: int = 3
) -> dict[str, Any]:
    """Every indicator of the dashboard for one scope, over the last `weeks` weeks."""
    labels = week_labels(today, weeks)
    inside = [n for n in notes if week_of(n.day) in set(labels) and not n.duplicate]
    by_week: dict[str, list[NoteFacts]] = defaultdict(list)
    for n in inside:
        by_week[week_of(n.day)].append(n)
    response = response_loop(labels, by_week, today, min_group)
    return {
        "weeks": labels,
        "total": len(inside),
        "shown_total": _shown_total(
            inside,
            min_group,
            lambda n: (week_of(n.day), _source(n)),
            lambda n: (week_of(n.day), _tone(n)),
            lambda n: (n.unit or "-", n.source),  # the activity table's cells
            # The response loop's weeks: a shown week's shares hint at its number of notes, and
            # the total minus those would count the hidden weeks' notes.
            lambda n: week_of(n.day),
        ),
        "notes_by_source": _series(labels, by_week, _source, min_group),
        "tone": _series(labels, by_week, _tone, min_group),
        "response": response,
        "you_said_total": _shown_sum(response["you_said_we_did"], labels, by_week, min_group),
        "activity": activity(inside, labels, min_group),
    }


def _source(n: NoteFacts) -> str:
    return n.source


def _tone(n: NoteFacts) -> str:
    return n.tone or "unknown"


def _series(
    labels: Sequence[str], by_week: dict[str, list[NoteFacts]], key: Any, min_group: int
) -> dict[str, list[int | None]]:
    """Notes per week and key. A cell from fewer than `min_group` writers is hidden (None), and so
    are the smallest other cells of its week until the hidden ones stand for `min_group` writers:
    the week's total, which another breakdown of the same notes gives (tone beside source), minus
    the shown cells would count them otherwise."""
    keys = sorted({key(n) for notes in by_week.values() for n in notes})
    series: dict[str, list[int | None]] = {k: [] for k in keys}
    for week in labels:
        cells: dict[str, list[NoteFacts]] = defaultdict(list)
        for n in by_week.get(week, []):
            cells[key(n)].append(n)
        writers = {k: {n.writer for n in notes} for k, notes in cells.items()}
        hidden = {k for k, group in writers.items() if len(group) < min_group}
        behind = {w for k in hidden for w in writers[k]}
        for k in sorted(writers.keys() - hidden, key=lambda k: (len(writers[k]), k)):
            if not behind or len(behind) >= min_group:
                break
            hidden.add(k)
            behind |= writers[k]
        for k in keys:  # an empty cell shows 0: it names nobody
            series[k].append(None if k in hidden else len(cells.get(k, [])))
    return series


def _shown_total(notes: Sequence[NoteFacts], min_group: int, *cells: Any) -> int | None:
    """The number of notes, or None where it would give hidden cells away: the total minus a
    breakdown's shown cells is the sum of its hidden ones (`cells` give a note's cell in each
    breakdown shown beside the total), so the writers behind that sum must be enough too."""
    for cell in cells:
        writers: dict[Any, set[str]] = defaultdict(set)
        for n in notes:
            writers[cell(n)].add(n.writer)
        behind_hidden = {w for group in writers.values() if len(group) < min_group for w in group}
        if 0 < len(behind_hidden) < min_group:
            return None
    return len(notes)


def _few_writers(notes: Sequence[NoteFacts], min_group: int) -> bool:
    # An empty week names nobody: it is not hidden.
    return 0 < len({n.writer for n in notes}) < min_group


def _shown_sum(
    values: Sequence[int | None], labels: Sequence[str], by_week: dict[str, list[NoteFacts]], min_group: int
) -> int | None:
    """The sum of a weekly count over the period, or None where it minus the shown weeks would give
    the hidden weeks' sum away: the writers behind the hidden weeks must be enough (or none)."""
    hidden = {n.writer for w in labels if _few_writers(by_week.get(w, []), min_group) for n in by_week[w]}
    return sum(v or 0 for v in values) if not 0 < len(hidden) < min_group else None


def response_loop(
    labels: Sequence[str], by_week: dict[str, list[NoteFacts]], today: dt.date, min_group: int
) -> dict[str, Any]:
    """Per week: share acknowledged within 2 working days, median days to first response,
    share closed with an action, and the 'you said, we did' count (answered and acted on). A week
    with fewer than `min_group` writers is hidden: None for all its figures."""
    ack_share: list[float | None] = []
    median_days: list[float | None] = []
    closed_share: list[float | None] = []
    you_said: list[int | None] = []
    for w in labels:
        notes = by_week.get(w, [])
        if _few_writers(notes, min_group):
            ack_share.append(None)
            median_days.append(None)
            closed_share.append(None)
            you_said.append(None)
            continue
        # A note younger than the acknowledgement window cannot have failed it yet.
        due = [n for n in notes if working_days_between(n.day, today) >= ACK_WORKING_DAYS]
        on_time = [
            n
            for n in due
            if n.acknowledged and working_days_between(n.day, n.acknowledged) <= ACK_WORKING_DAYS
        ]
        ack_share.append(_share(len(on_time), len(due)))
        waits = [(n.first_response - n.day).days for n in notes if n.first_response]
        median_days.append(float(statistics.median(waits)) if waits else None)
        closed_share.append(_share(sum(n.closed_with_action for n in notes), len(notes)))
        you_said.append(sum(1 for n in notes if n.closed_with_action and n.answered))
    return {
        "acknowledged_in_time": ack_share,
        "median_days_to_response": median_days,
        "closed_with_action": closed_share,
        "you_said_we_did": you_said,
    }


def activity(notes: Sequence[NoteFacts], labels: Sequence[str], min_group: int) -> dict[str, Any]:
    """Notes per unit and role over the period; cells with too few writers are hidden (None)."""
    cells: dict[tuple[str, str], list[NoteFacts]] = defaultdict(list)
    for n in notes:
        cells[(n.unit or "-", n.source)].append(n)
    table = {}
    for (unit, source), members in sorted(cells.items()):
        writers = len({n.writer for n in members})
        table[f"{unit}|{source}"] = {
            "unit": unit,
            "source": source,
            "notes": len(members) if writers >= min_group else None,
            "hidden": writers < min_group,
        }
    weekly_writers = [len({n.writer for n in notes if week_of(n.day) == w}) for w in labels]
    return {"cells": list(table.values()), "writers_per_week": weekly_writers}


def topic_stream(
    counts: Iterable[tuple[int, str, int]],
    labels: Sequence[str],
    topic_of: dict[int, int],
    names: dict[int, str],
    top: int = 8,
) -> dict[str, list[int]]:
    """Weekly note counts of the largest topics, for a stream chart: {topic name: [count per week]}.
    `counts` are (theme id, week, notes); `topic_of` maps a theme to its topic (a leader scans
    topics first: a topic's themes add up)."""
    per_topic: dict[int, Counter[str]] = defaultdict(Counter)
    for theme_id, week, n in counts:
        per_topic[topic_of.get(theme_id, theme_id)][week] += n
    biggest = sorted(per_topic, key=lambda t: -sum(per_topic[t].values()))[:top]
    return {names.get(t, str(t)): [per_topic[t][w] for w in labels] for t in biggest}


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 3) if whole else None
