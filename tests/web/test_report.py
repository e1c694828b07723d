"""The printable period report: privacy suppression, figures, print stylesheet, access."""

from __future__ import annotations

import dataclasses
import datetime as dt
import zoneinfo
from html.parser import HTMLParser
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from hiljainen import accounts, resources
from hiljainen.models import (
    Interpretation,
    Observation,
    Response,
    Role,
    Source,
    Status,
    Theme,
    Unit,
    User,
    utcnow,
)
from hiljainen.stores.reports import note_facts
from hiljainen.web import report
from tests.conftest import across_the_date_line, login

PASSWORD = "salasana-123"


class Tables(HTMLParser):
    """Every <table> of a page as rows of cell texts."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def tables(page: str) -> list[list[list[str]]]:
    parser = Tables()
    parser.feed(page)
    return parser.tables


@pytest.fixture()
def rapp(app: Flask) -> Flask:
    """The app with the report blueprint (until create_app registers it) and a small organisation."""
    if "report" not in app.blueprints:
        app.register_blueprint(report.bp)
    with app.app_context():
        today = resources.get().settings.today()  # a note's day, as intake stores it
        db = resources.session()
        koivu = Unit(slug="koivukoti", name_fi="Koivukoti", name_en="Birch Home")
        maple = Unit(slug="vaahtera", name_fi="Vaahtera", name_en="Maple")
        db.add_all([koivu, maple])
        db.flush()
        leader = accounts.create_user(db, "johtaja", PASSWORD, Role.LEADER, display_name="Leena Johtaja")
        accounts.create_user(db, "hoitaja", PASSWORD, Role.STAFF, display_name="Hanna Hoitaja")
        writers = [
            accounts.create_user(db, f"h{i}", PASSWORD, Role.STAFF, display_name=f"Kirjoittaja {i}")
            for i in range(3)
        ]
        theme = Theme(label="kylmä ruoka", signal="weak", size=40)
        small = Theme(label="pyykki", signal="strong", size=9)
        db.add_all([theme, small])
        db.flush()

        def add(
            text: str, unit: Unit, source: Source, author: User | None = None, **kw: object
        ) -> Observation:
            obs = Observation(
                text=text,
                day=kw.pop("day", today - dt.timedelta(days=3)),
                source=source,
                unit_id=unit.id,
                anonymous=author is None,
                author_id=author.id if author else None,
                **kw,
            )
            db.add(obs)
            db.flush()
            return obs

        # Koivukoti: three staff writers (shown), four anonymous customers (shown), one relative (hidden).
        for w in writers:
            add("Vuorolista myöhässä.", koivu, Source.STAFF, w, theme_id=theme.id)
        for i in range(4):
            add(f"Keitto kylmää {i}.", koivu, Source.CUSTOMER, theme_id=theme.id)
        add("Omaisen huomio.", koivu, Source.RELATIVE, theme_id=small.id)
        # Vaahtera: one staff writer with five notes: five notes, but one writer.
        for i in range(5):
            add(f"Vaahteran huomio {i}.", maple, Source.STAFF, writers[0])
        add("Liian vanha.", maple, Source.PARTNER, day=today - dt.timedelta(days=60))
        done = add("Lounas myöhässä.", koivu, Source.CUSTOMER, status=Status.DONE, acknowledged_at=utcnow())
        db.add(Response(observation_id=done.id, kind="answer", body="Kiitos!", author_id=leader.id))
        db.add(
            Response(observation_id=done.id, kind="action", body="Aikataulu korjattu.", author_id=leader.id)
        )
        db.commit()
    return app


@pytest.fixture()
def leader(rapp: Flask) -> FlaskClient:
    client = rapp.test_client()
    login(client, "johtaja", PASSWORD)
    return client


def test_small_groups_are_hidden_with_their_giveaways(leader: FlaskClient) -> None:
    page = leader.get("/report/?lang=en").get_data(as_text=True)
    units = tables(page)[0]
    assert units[0] == ["Unit", "staff", "customer", "relative", "partner", "Total"]
    rows = {r[0]: r[1:] for r in units[1:]}
    # Koivukoti's one relative and Vaahtera's one staff writer (five notes) are hidden; so is
    # every cell from which a total minus the rest would give them away, e.g. Koivukoti's total
    # (the grand total minus it is Vaahtera's). Totals with enough writers stay.
    assert rows["Birch Home"][2] == "–" and rows["Maple"] == ["–", "0", "0", "0", "–"]
    assert rows["Total"][0] == "8" and rows["Total"][4] == "14" and rows["Birch Home"][3] == "0"
    hidden = [(r, c) for r, cells in rows.items() for c, v in enumerate(cells) if v == "–"]
    for r in rows:
        assert sum(1 for rr, _ in hidden if rr == r) != 1, f"row {r} has a single hidden cell"
    for c in range(5):
        assert sum(1 for _, cc in hidden if cc == c) != 1, f"column {c} has a single hidden cell"
    assert "Liian vanha" not in page and "Hanna" not in page and "Kirjoittaja" not in page
    assert "fewer than 3 writers" in page


def test_themes_loop_and_examples(leader: FlaskClient) -> None:
    page = leader.get("/report/?lang=en").get_data(as_text=True)
    themes = tables(page)[1]
    assert themes[1] == ["kylmä ruoka", "weak signal", "7", "40"]
    assert themes[2] == ["pyykki", "strong signal", "–", "9"], "one writer: count hidden"
    loop = dict(tables(page)[2])
    # One customer's note was acknowledged, answered and closed: too few writers to show.
    assert loop["Notes"] == "14" and loop["Closed with an action"] == "–" and loop["Answered"] == "–"
    assert loop["You said, we did (answered and closed with an action)"] == "–"
    assert loop["Median days to the first answer or action"] == "3", "as people write it, not 3.0"
    assert "Lounas myöhässä." in page and "Aikataulu korjattu." in page


class Charts(HTMLParser):
    """Every <svg> of a page: its aria-label and how many bars it draws."""

    def __init__(self) -> None:
        super().__init__()
        self.charts: list[dict[str, Any]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "svg" and "chart" in (dict(attrs).get("class") or "").split():
            self.charts.append({"label": dict(attrs)["aria-label"], "bars": 0})
        elif tag == "rect" and ("class", "bar") in attrs:
            self.charts[-1]["bars"] += 1


def charts(page: str) -> dict[str, int]:
    """Each chart's text alternative -> the number of bars drawn."""
    parser = Charts()
    parser.feed(page)
    return {c["label"]: c["bars"] for c in parser.charts}


def week(day: dt.date) -> int:
    return day.isocalendar()[1]


def test_charts_hold_the_figures_and_hide_small_counts(rapp: Flask, leader: FlaskClient) -> None:
    today = deployment_today(rapp)
    with rapp.app_context():
        db = resources.session()
        koivu = db.scalar(select(Unit).where(Unit.slug == "koivukoti"))
        cold = db.scalar(select(Theme).where(Theme.label == "kylmä ruoka"))
        writer = db.scalar(select(User).where(User.username == "h1"))
        assert koivu and cold and writer
        # Ten days ago four customers wrote; twenty days ago one nurse wrote twice (one writer).
        for i in range(4):
            db.add(
                Observation(
                    text=f"Sauna kylmä {i}.",
                    day=today - dt.timedelta(days=10),
                    source=Source.CUSTOMER,
                    unit_id=koivu.id,
                    anonymous=True,
                )
            )
        for i in range(2):
            db.add(
                Observation(
                    text=f"Pesula {i}.",
                    day=today - dt.timedelta(days=20),
                    source=Source.STAFF,
                    unit_id=koivu.id,
                    author_id=writer.id,
                    theme_id=cold.id,
                )
            )
        db.commit()
    page = leader.get("/report/?lang=en").get_data(as_text=True)
    drawn = charts(page)
    weekly = next(label for label in drawn if label.startswith("Notes per week: "))
    # The nurse's two notes are hidden, and so are the four customers' (the smallest other week),
    # since the period's total (20) minus the shown weeks would give the nurse's count away.
    assert f"Week {week(today - dt.timedelta(days=20))}: –" in weekly
    assert f"Week {week(today - dt.timedelta(days=10))}: –" in weekly
    assert f"Week {week(today - dt.timedelta(days=3))}: 14" in weekly
    assert drawn[weekly] == 1, "no bar for a hidden week"
    assert f'<figcaption class="meta">{weekly.removeprefix("Notes per week: ")}</figcaption>' in page
    cold_weeks = next(label for label in drawn if label.startswith("kylmä ruoka – Notes per week: "))
    assert f"Week {week(today - dt.timedelta(days=20))}: –" in cold_weeks
    assert f"Week {week(today - dt.timedelta(days=3))}: –" in cold_weeks, "hidden with it: total 9"
    assert not any(label.startswith("pyykki") for label in drawn), "a hidden theme gets no chart"
    assert drawn["Response loop: Notes: 20, Acknowledged: –, Answered: –, Closed with an action: –"] == 1


def deployment_today(app: Flask) -> dt.date:
    """Today as the report counts it: in the deployment's time zone, not the server's."""
    with app.app_context():
        return resources.get().settings.today()


def test_the_default_period_ends_on_the_deployments_today(
    rapp: Flask, leader: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    zone = across_the_date_line()
    with rapp.app_context():
        runtime = resources.get()
        monkeypatch.setattr(runtime, "settings", dataclasses.replace(runtime.settings, timezone=zone))
    there = deployment_today(rapp)
    record_decision(rapp, "Juuri kirjattu.", "Päätetty juuri.")
    page = leader.get("/report/?lang=en").get_data(as_text=True)
    assert f'name="to" value="{there.isoformat()}"' in page
    assert "Juuri kirjattu." in page, "a decision recorded now is in the period that ends today"


def record_decision(app: Flask, meaning: str, decision: str = "", **kw: Any) -> None:
    """The leader's interpretation of the theme "kylmä ruoka", as the theme page records it."""
    with app.app_context():
        db = resources.session()
        cold = db.scalar(select(Theme).where(Theme.label == "kylmä ruoka"))
        boss = db.scalar(select(User).where(User.username == "johtaja"))
        assert cold and boss
        db.add(Interpretation(theme_id=cold.id, author_id=boss.id, meaning=meaning, decision=decision, **kw))
        db.commit()


def test_decisions_of_the_period(rapp: Flask, leader: FlaskClient) -> None:
    record_decision(
        rapp, "Keitto jäähtyy kuljetuksessa.", "Lämpölaukut käyttöön.", review_on=dt.date(2031, 1, 5)
    )
    record_decision(rapp, "Vanha tulkinta.", created_at=utcnow() - dt.timedelta(days=40))
    page = leader.get("/report/?lang=en").get_data(as_text=True)
    section = page[page.index("<h2>Interpretations and decisions</h2>") :]
    assert "Keitto jäähtyy kuljetuksessa." in section and "Lämpölaukut käyttöön." in section
    assert "· leader ·" in section and "kylmä ruoka" in section and "Jan 5, 2031" in section
    assert "Vanha tulkinta." not in page and "Leena" not in page, "outside the period; no names"
    old = (deployment_today(rapp) - dt.timedelta(days=40)).isoformat()
    page = leader.get(f"/report/?from={old}&to={old}&lang=fi").get_data(as_text=True)
    assert "<h2>Tulkinnat ja päätökset</h2>" in page and "Vanha tulkinta." in page
    assert "Keitto jäähtyy" not in page and "· esihenkilö ·" in page


def test_period_and_print_stylesheet(rapp: Flask, leader: FlaskClient) -> None:
    page = leader.get("/report/").get_data(as_text=True)
    assert 'href="/static/print.css"' in page
    css = leader.get("/static/print.css").get_data(as_text=True)
    assert "@media print" in css and "header.top" in css and "@page" in css
    today = deployment_today(rapp)  # the days the fixture's notes were stored with
    old = (today - dt.timedelta(days=60)).isoformat()
    page = leader.get(f"/report/?from={old}&to={old}&lang=en").get_data(as_text=True)
    assert tables(page)[0][1:] == [["Maple", "0", "0", "0", "–", "–"], ["Total", "0", "0", "0", "–", "–"]]
    page = leader.get(f"/report/?from={today}&to={today}&lang=en").get_data(as_text=True)
    assert "No notes in this period." in page
    for query in ("from=2026-13-01", f"from={today}&to={today - dt.timedelta(days=1)}", "from=2020-01-01",
                  "to=0001-01-01", "from=0001-01-01&to=0001-01-01", "from=9999-12-30&to=9999-12-31"):
        # The first and last days: the days around them are no dates (these were 500s).
        assert leader.get(f"/report/?{query}").status_code == 400, query


def test_only_leaders_see_the_report(rapp: Flask) -> None:
    staff = rapp.test_client()
    login(staff, "hoitaja", PASSWORD)
    assert staff.get("/report/").status_code == 403
    assert rapp.test_client().get("/report/").status_code == 302
    with rapp.app_context():
        assert resources.session().scalar(select(User).where(User.username == "johtaja")) is not None


@pytest.mark.browser
def test_printed_report_shows_only_the_report(rapp: Flask, live_server: Any, chromium: Any) -> None:
    """In real Chromium: the print layout hides navigation and the period form; no CSP errors."""
    base = live_server(rapp)
    page = chromium.new_page(viewport={"width": 390, "height": 800})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if "Content Security" in m.text else None)
    page.goto(f"{base}/login?lang=en")
    page.fill("input[name=username]", "johtaja")
    page.fill("input[name=password]", PASSWORD)
    page.click("form button:has-text('Log in')")
    page.goto(f"{base}/report/")
    assert page.is_visible("form.report-period") and page.is_visible("header.top")
    page.emulate_media(media="print")
    assert not page.is_visible("header.top") and not page.is_visible("form.report-period")
    assert page.is_visible("table.figures")
    assert page.pdf(format="A4")[:4] == b"%PDF"
    assert problems == []
    page.close()


def test_answers_count_on_the_deployments_day(rapp: Flask) -> None:
    # Answered at 00:30 in Helsinki on a note of the day before: one day, not none.
    with rapp.app_context():
        db = resources.session()
        note = Observation(text="Myöhään.", source=Source.CUSTOMER, day=dt.date(2026, 3, 2), anonymous=True)
        db.add(note)
        db.flush()
        db.add(Response(observation_id=note.id, kind="answer", body="Kiitos viestistä.",
                        created_at=dt.datetime(2026, 3, 2, 22, 30, tzinfo=dt.UTC)))
        db.commit()
        helsinki = zoneinfo.ZoneInfo("Europe/Helsinki")
        (fact,) = [f for f in note_facts(db, dt.date(2026, 3, 1), helsinki) if f.id == note.id]
        assert fact.first_response == dt.date(2026, 3, 3)
        (utc,) = [f for f in note_facts(db, dt.date(2026, 3, 1)) if f.id == note.id]
        assert utc.first_response == dt.date(2026, 3, 2)
