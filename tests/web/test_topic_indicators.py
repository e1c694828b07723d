"""A leader tracks a theme's whole topic: the indicator counts the notes of every theme the topic
holds at each refresh (issue 19: indicators speak of topics first)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from hiljainen import resources
from hiljainen.models import Indicator, IndicatorValue, Observation, Source, Theme
from tests.conftest import PASSWORD, Org, csrf_token, login
from workers import refresh

TODAY = dt.date(2026, 11, 25)  # a Wednesday: Monday and today are in the week counted


def themes_with_notes(app: Flask) -> dict[str, int]:
    """Two themes of the topic "Ateriat" (3 and 1 notes this week) and one of its own (2 notes)."""
    with app.app_context():
        s = resources.session()
        late = Theme(label="ateria myöhässä", phrase="Ateria myöhässä", size=3)
        cold = Theme(label="ateria kylmä", phrase="Ateria kylmä", size=1)
        door = Theme(label="ovi jumissa", phrase="Ovi jumissa", size=2)
        s.add_all([late, cold, door])
        s.flush()
        for t in (late, cold):
            t.topic_id, t.topic_name = late.id, "Ateriat"
        door.topic_id, door.topic_name = door.id, "Ovi jumissa"
        for theme, n in ((late, 3), (cold, 1), (door, 2)):
            s.add_all(Observation(text=f"{theme.phrase} {i}", source=Source.STAFF, day=TODAY,
                                  theme_id=theme.id) for i in range(n))
        s.commit()
        return {"late": late.id, "cold": cold.id, "door": door.id}


def weekly_values(app: Flask) -> dict[str, float]:
    with app.app_context():
        s = resources.session()
        refresh._track_indicators(s, TODAY)
        s.commit()
        rows = s.execute(select(Indicator.name, IndicatorValue.value)
                         .join(IndicatorValue, IndicatorValue.indicator_id == Indicator.id)).tuples()
        return dict(rows.all())


def test_a_tracked_topic_counts_every_theme_it_holds_at_each_refresh(
    app: Flask, client: FlaskClient, org: Callable[..., Org]
) -> None:
    org()
    ids = themes_with_notes(app)
    login(client, "johtaja", PASSWORD)
    page = client.get(f"/themes/{ids['cold']}?track=topic").get_data(as_text=True)
    assert 'name="scope" value="topic" checked' in page and "Ateriat (2 teemaa)" in page
    token = csrf_token(client, f"/themes/{ids['cold']}")
    for scope in ("topic", "theme"):
        resp = client.post(f"/themes/{ids['cold']}/track", data={"scope": scope, "csrf_token": token})
        assert resp.status_code == 303
    # Without a name the indicator takes the topic's name, or the theme's.
    assert weekly_values(app) == {"Ateriat": 4.0, "Ateria kylmä": 1.0}
    # A later refresh puts the door theme in the same topic: the topic's indicator follows.
    with app.app_context():
        s = resources.session()
        door = s.get(Theme, ids["door"])
        assert door is not None
        door.topic_id = ids["late"]
        s.commit()
    assert weekly_values(app) == {"Ateriat": 6.0, "Ateria kylmä": 1.0}


def test_a_theme_that_is_a_topic_of_its_own_offers_no_topic_choice(
    app: Flask, client: FlaskClient, org: Callable[..., Org]
) -> None:
    org()
    ids = themes_with_notes(app)
    login(client, "johtaja", PASSWORD)
    alone = client.get(f"/themes/{ids['door']}").get_data(as_text=True)
    assert 'name="scope"' not in alone
    listing = client.get("/themes/").get_data(as_text=True)
    assert f"/themes/{ids['late']}?track=topic#track-form" in listing
    assert f"/themes/{ids['door']}?track=topic" not in listing


def test_a_topic_on_the_dashboard_shows_its_most_telling_signal(
    app: Flask, client: FlaskClient, org: Callable[..., Org]
) -> None:
    org()
    ids = themes_with_notes(app)
    with app.app_context():
        s = resources.session()
        for key, signal in (("late", "well-known"), ("cold", "noise"), ("door", "noise")):
            theme = s.get(Theme, ids[key])
            assert theme is not None
            theme.signal = signal
        door = s.get(Theme, ids["door"])
        assert door is not None
        door.size = 30  # larger than the meals topic: only its signal can put meals first
        s.commit()
    login(client, "johtaja", PASSWORD)
    page = client.get("/dashboard/?lang=en").get_data(as_text=True)
    topics = page[page.index('id="topics"'):]
    meals = topics[topics.index("Ateriat"):].split("</li>")[0]
    door = topics[topics.index("Ovi jumissa"):].split("</li>")[0]
    assert "badge-well-known" in meals and "badge-noise" in door
    assert topics.index("Ateriat") < topics.index("Ovi jumissa"), "well-known before a larger noise"


def test_a_threshold_beyond_reason_is_refused_and_the_home_page_stays_up(
    app: Flask, client: FlaskClient, org: Callable[..., Org]
) -> None:
    """1e308 stored as a threshold once made every leader's home page fail (Babel cannot print it)."""
    from hiljainen.web.i18n import number

    org()
    ids = themes_with_notes(app)
    login(client, "johtaja", PASSWORD)
    token = csrf_token(client, f"/themes/{ids['cold']}")
    for huge in ("1e308", "1e25", "1000001"):
        resp = client.post(f"/themes/{ids['cold']}/track", data={"threshold": huge, "csrf_token": token})
        assert resp.status_code == 400, huge
    assert client.post(f"/themes/{ids['cold']}/track",
                       data={"threshold": "1000000", "csrf_token": token}).status_code == 303
    assert client.get("/dashboard/").status_code == 200
    assert number(1e308) == "1e+308", "a value stored before the limit still prints"


def test_a_query_key_named_endpoint_does_not_break_a_page(app: Flask, client: FlaskClient,
                                                           org: Callable[..., Org]) -> None:
    """url_for's first argument is called endpoint: ?endpoint=x on any page made it fail (500)."""
    org()
    for path in ("/login?endpoint=x", "/t/ruokasali?endpoint=x", "/receipt?endpoint=x"):
        assert client.get(path).status_code == 200, path
    login(client, "johtaja", PASSWORD)
    assert client.get("/search?q=ruoka&page=2&endpoint=x").status_code == 200


def test_a_tracked_search_counts_its_words_literally(app: Flask, org: Callable[..., Org]) -> None:
    """'%' counted every note of the week and raised a threshold alert: a leader's words are words."""
    org()
    themes_with_notes(app)
    with app.app_context():
        s = resources.session()
        s.add_all([Indicator(name="prosentti", query="%"), Indicator(name="alaviiva", query="ov_"),
                   Indicator(name="ovi", query="ovi")])
        s.commit()
    values = weekly_values(app)
    assert (values["prosentti"], values["alaviiva"], values["ovi"]) == (0.0, 0.0, 2.0)
