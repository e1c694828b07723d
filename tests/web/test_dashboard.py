"""The dashboard hides counts that fewer than `min_group_size` writers stand behind, in every place it
shows them: the charts' data in the page, the numbers under them, their CSV and the key figures.

A unit's scope is the unit's notes alone, so a weekly count by source or tone there is a cell of
unit x role x week: in a small unit one writer's note showed as a 1 beside the hidden cell of the
unit x role table. Real servers as everywhere: the session's Redis and Chroma, a fresh SQLite file.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from hiljainen import resources
from hiljainen.models import Observation, Source
from tests.conftest import PASSWORD, login, make_org

SCOPE = "unit:koivukoti"


def add_notes(app: Flask, unit_id: int, source: Source, tone: str, n: int) -> None:
    """`n` anonymous notes of today (each its own writer); then the snapshots, as the worker does."""
    from workers import refresh

    today = dt.date.today()
    with app.app_context():
        s = resources.session()
        s.add_all(Observation(text=f"Havainto {i}.", source=source, anonymous=True, day=today,
                              unit_id=unit_id, tone=tone, tone_confidence=0.9) for i in range(n))
        s.commit()
        refresh.indicators(s, today, resources.get().settings.min_group_size)
        s.commit()


def small_unit(app: Flask) -> int:
    """This week in the unit: three staff members' notes and one customer's. Returns the unit's id."""
    unit_id = make_org(app).unit_id
    add_notes(app, unit_id, Source.STAFF, "neutral", 3)
    add_notes(app, unit_id, Source.CUSTOMER, "negative", 1)
    return unit_id


def page(client: FlaskClient, path: str) -> str:
    resp = client.get(path, headers={"Accept-Language": "en"})
    assert resp.status_code == 200, resp.status_code
    return resp.get_data(as_text=True)


def numbers(page_text: str, chart: str) -> list[list[str]]:
    """The rows of the numbers table under one chart."""
    card = page_text.split(f'id="chart-{chart}"', 1)[1].split("</table>", 1)[0]
    return [re.findall(r"<td>([^<]*)</td>", row) for row in card.split("<tr>")[2:]]


def test_a_units_weekly_counts_of_one_writer_are_hidden_in_charts_tables_and_csv(app: Flask) -> None:
    small_unit(app)
    leader = app.test_client()
    login(leader, "johtaja", PASSWORD)
    shown = page(leader, f"/dashboard/?scope={SCOPE}")
    data: dict[str, Any] = json.loads(shown.split('id="dashboard-data">', 1)[1].split("</script>", 1)[0])
    # The chart's data: the customer's week cell stands on one writer; the staff's three go with
    # it, or the week's total (its response loop's shares hint at it) minus three would count one.
    assert data["notes_by_source"] == {"customer": [0] * 11 + [None], "staff": [0] * 11 + [None]}
    assert data["tone"] == {"negative": [0] * 11 + [None], "neutral": [0] * 11 + [None]}, data["tone"]
    assert "total" not in data, "the page's data carries only what the charts draw"
    # The numbers under the charts and their CSV files.
    assert numbers(shown, "notes_by_source")[-1][1:] == ["–", "–"]
    assert numbers(shown, "tone")[-1][1:] == ["–", "–"]
    for chart, header in (("notes_by_source", ["week", "customer", "staff"]),
                          ("tone", ["week", "negative", "neutral"])):
        resp = leader.get(f"/dashboard/data/{chart}.csv?scope={SCOPE}")
        rows = list(csv.reader(io.StringIO(resp.get_data(as_text=True).lstrip("\ufeff"))))
        assert rows[0] == header and rows[-1][1:] == ["–", "–"], (chart, rows[-1])
    # Four notes minus the staff's three would give the customer's one away.
    assert 'id="kpi-total">–</p>' in shown, "the total is hidden too"
    # The unit x role table was already right; the whole organisation's figures hide the same cells.
    assert '<td>customer</td><td>–</td>' in shown
    everyone = page(leader, "/dashboard/")
    assert numbers(everyone, "notes_by_source")[-1][1:] == ["–", "–"]


def test_a_units_counts_are_shown_when_enough_writers_stand_behind_them(app: Flask) -> None:
    add_notes(app, small_unit(app), Source.CUSTOMER, "negative", 2)  # three customers now
    leader = app.test_client()
    login(leader, "johtaja", PASSWORD)
    shown = page(leader, f"/dashboard/?scope={SCOPE}")
    assert numbers(shown, "notes_by_source")[-1][1:] == ["3", "3"]
    assert numbers(shown, "tone")[-1][1:] == ["3", "3"]
    assert 'id="kpi-total">6</p>' in shown


def test_a_weeks_response_loop_from_one_writer_is_hidden_in_charts_tables_and_csv(app: Flask) -> None:
    """The response loop of a small scope told how one writer's note was handled: its week shows
    "–" (null in the charts' data) when fewer than three writers stand behind it."""
    small_unit(app)  # this week: three staff members and one customer
    leader = app.test_client()
    login(leader, "johtaja", PASSWORD)
    lone = page(leader, "/dashboard/?scope=source:customer")
    data = json.loads(lone.split('id="dashboard-data">', 1)[1].split("</script>", 1)[0])
    assert [values[-1] for values in data["response"].values()] == [None] * 4, data["response"]
    assert numbers(lone, "response")[-1][1:] == ["–"] * 4
    resp = leader.get("/dashboard/data/response.csv?scope=source:customer")
    rows = list(csv.reader(io.StringIO(resp.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[-1][1:] == ["–"] * 4, rows[-1]
    assert re.search(r"You said, we did</p><p class=\"kpi\">–</p>", lone), "the 12 weeks' sum too"
    # The unit's week stands on four writers: shown (nothing was closed yet).
    unit = page(leader, f"/dashboard/?scope={SCOPE}")
    assert numbers(unit, "response")[-1][3:] == ["0.0", "0"]
    assert re.search(r"You said, we did</p><p class=\"kpi\">0</p>", unit)
    # A hidden week is a gap in the chart's lines, not a line drawn across it.
    script = leader.get("/static/dashboard.js").get_data(as_text=True)
    assert "spanGaps: true" not in script
