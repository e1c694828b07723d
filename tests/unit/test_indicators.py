"""Indicators: weekly series, the response loop and the privacy rule."""

from __future__ import annotations

import datetime as dt

from hiljainen.pipeline.indicators import (
    NoteFacts,
    snapshot,
    topic_stream,
    week_labels,
    week_of,
    working_days_between,
)

TODAY = dt.date(2026, 11, 24)  # a Tuesday


def note(i: int, day: dt.date, **kw: object) -> NoteFacts:
    values: dict[str, object] = {
        "source": "staff",
        "unit": "koivukoti",
        "touchpoint": None,
        "writer": f"u{i}",
        "status": "new",
        "tone": None,
        "theme_id": None,
    }
    values.update(kw)
    return NoteFacts(id=i, day=day, **values)  # type: ignore[arg-type]


def test_working_days_skip_the_weekend() -> None:
    friday = dt.date(2026, 11, 20)
    assert working_days_between(friday, dt.date(2026, 11, 23)) == 1  # Monday
    assert working_days_between(friday, dt.date(2026, 11, 24)) == 2


def test_week_labels_end_with_this_week() -> None:
    labels = week_labels(TODAY, 3)
    assert labels[-1] == week_of(TODAY) == "2026-W48" and len(labels) == 3


def test_acknowledged_in_time_counts_only_notes_that_are_due() -> None:
    monday = dt.date(2026, 11, 16)
    facts = [
        note(1, monday, acknowledged=dt.date(2026, 11, 17)),  # 1 working day: in time
        note(2, monday, acknowledged=dt.date(2026, 11, 20)),  # 4 working days: late
        note(3, monday),  # never: late
        note(4, TODAY),  # not due yet: left out
    ]
    response = snapshot(facts, today=TODAY, weeks=2)["response"]
    assert response["acknowledged_in_time"] == [round(1 / 3, 3), None]


def test_you_said_we_did_needs_an_answer_and_an_action() -> None:
    day = dt.date(2026, 11, 10)
    facts = [
        note(1, day, closed_with_action=True, answered=True, first_response=day + dt.timedelta(days=2)),
        note(2, day, closed_with_action=True),
        note(3, day, first_response=day + dt.timedelta(days=4)),
    ]
    response = snapshot(facts, today=TODAY, weeks=3)["response"]
    assert response["you_said_we_did"][0] == 1
    assert response["median_days_to_response"][0] == 3.0
    assert response["closed_with_action"][0] == round(2 / 3, 3)


def test_cells_with_fewer_than_three_writers_are_hidden() -> None:
    day = dt.date(2026, 11, 18)
    facts = (
        [note(i, day, writer="u1", source="partner") for i in range(5)]  # one writer
        + [note(10 + i, day, writer=f"u{i}") for i in range(3)]  # three writers
        + [note(20 + i, day, writer=f"a{20 + i}", source="customer") for i in range(2)]
    )
    cells = {c["source"]: c for c in snapshot(facts, today=TODAY)["activity"]["cells"]}
    assert cells["partner"] == {"unit": "koivukoti", "source": "partner", "notes": None, "hidden": True}
    assert cells["staff"]["notes"] == 3 and not cells["staff"]["hidden"]
    assert cells["customer"]["hidden"]


def test_a_week_of_fewer_than_three_writers_shows_none_of_its_response_loop() -> None:
    """With one writer a week's response figures would tell how that person's note was handled
    (in a small source's or touchpoint's scope, or as a count beside a hidden cell)."""
    lone, week = dt.date(2026, 11, 10), dt.date(2026, 11, 17)
    facts = [
        note(1, lone, acknowledged=lone, first_response=lone + dt.timedelta(days=1),
             closed_with_action=True, answered=True),
        *(note(i, week, acknowledged=week, closed_with_action=True, answered=True) for i in (2, 3, 4)),
    ]
    hidden = snapshot(facts, today=TODAY, weeks=3)
    response = hidden["response"]
    assert [values[0] for values in response.values()] == [None, None, None, None], response
    assert response["closed_with_action"][1] == 1.0 and response["you_said_we_did"][1] == 3
    assert response["you_said_we_did"][2] == 0, "an empty week names nobody"
    # The 12 weeks' sum minus the shown weeks would give the lone week's count away.
    assert hidden["you_said_total"] is None
    shown = snapshot(facts, today=TODAY, weeks=3, min_group=1)
    assert shown["response"]["you_said_we_did"] == [1, 3, 0] and shown["you_said_total"] == 4


def test_the_total_is_hidden_when_it_would_count_a_hidden_weeks_notes() -> None:
    """Every source, tone and unit x role breakdown hides three writers or none, but the lone
    writer's week is hidden in the response loop: a shown week's shares hint at its notes, and the
    total minus those would count the lone week's."""
    lone, week = dt.date(2026, 11, 10), dt.date(2026, 11, 17)
    facts = [
        note(1, lone, tone="negative"),
        note(2, week, tone="positive"),
        note(3, week, tone="positive"),
        *(note(i, week, source="customer", tone="negative") for i in (4, 5, 6)),
    ]
    assert snapshot(facts, today=TODAY, weeks=3)["shown_total"] is None
    assert snapshot(facts, today=TODAY, weeks=3, min_group=1)["shown_total"] == 6


def test_a_hidden_cell_cannot_be_counted_from_another_breakdown_of_its_week() -> None:
    """One relative and five staff in a week: tone shows the week's six notes, so with the staff
    cell shown the relative's would be six minus five. The smallest other cells go too."""
    week = dt.date(2026, 11, 17)
    facts = [
        note(1, week, source="relative", tone="negative"),
        *(note(i, week, tone="positive" if i < 5 else "negative") for i in range(2, 7)),
        *(note(i, week, source="customer", tone="neutral") for i in range(7, 11)),
    ]
    data = snapshot(facts, today=TODAY, weeks=3)
    by_source = {k: v[1] for k, v in data["notes_by_source"].items()}
    assert by_source == {"relative": None, "customer": None, "staff": 5}, by_source
    assert {k: v[1] for k, v in data["tone"].items()} == {"negative": 3, "positive": 3, "neutral": 4}
    assert data["notes_by_source"]["relative"][0] == 0, "an empty week names nobody"


def test_duplicates_are_not_counted_twice() -> None:
    day = dt.date(2026, 11, 18)
    facts = [note(1, day), note(2, day, duplicate=True)]
    assert snapshot(facts, today=TODAY)["total"] == 1


def test_topic_stream_adds_up_a_topics_themes_and_keeps_the_largest_topics() -> None:
    labels = ["2026-W47", "2026-W48"]
    counts = [(1, "2026-W47", 5), (1, "2026-W48", 1), (2, "2026-W48", 2),
              (3, "2026-W48", 1), (4, "2026-W48", 3)]
    # Themes 1 and 3 form topic 1 ("ruoka"); 2 and 4 stand alone, and 4 is the larger.
    topic_of = {1: 1, 3: 1, 2: 2, 4: 4}
    stream = topic_stream(counts, labels, topic_of, {1: "ruoka", 2: "hissi", 4: "ovet"}, top=2)
    assert stream == {"ruoka": [5, 2], "ovet": [0, 3]}
    merged = topic_stream(counts, labels, {1: 1, 3: 1, 2: 2, 4: 2}, {1: "ruoka", 2: "hissi"}, top=2)
    assert merged == {"ruoka": [5, 2], "hissi": [0, 5]}
