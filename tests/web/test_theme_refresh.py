"""The worker's theme refresh on the demo organisation: real models, real Chroma, SQLite."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from hiljainen import accounts, db
from hiljainen.config import Settings
from hiljainen.models import Observation, Snapshot, Theme, ThemeEvent, ThemePeriod, ThemeRun
from hiljainen.tools.demo import notes
from tests.conftest import DEMO_TODAY
from workers import jobs


def sessions(settings: Settings):  # type: ignore[no-untyped-def]
    return db.make_sessionmaker(db.make_engine(settings.sqlalchemy_url))


@pytest.mark.slow
def test_demo_notes_form_themes_with_few_left_out(demo_db: Settings) -> None:
    with sessions(demo_db)() as s:
        total = s.scalar(select(func.count()).select_from(Observation))
        themed = s.scalar(select(func.count()).where(Observation.theme_id.is_not(None)))
        run = s.scalars(select(ThemeRun)).one()
        themes = s.scalars(select(Theme).where(Theme.active.is_(True))).all()
    assert total >= len(notes()) and run.notes >= len(notes())
    assert themed / run.notes >= 0.9  # a note added after the run is not themed yet
    assert 5 <= len(themes) <= total // 3
    assert all(t.label and t.keywords and len(t.representatives) >= 1 for t in themes)


@pytest.mark.slow
def test_the_planted_price_topic_is_gathered_in_one_theme(demo_db: Settings) -> None:
    """Most notes of the planted price-increase topic share one theme.

    Only the price topic is gathered today: the evening-meal and door-access notes are worded
    too differently for e5-small (bench/results/themes.md, demo section); two-level themes are
    the planned remedy."""
    hint_of = {row["text"]: row["theme_hint"] for row in notes()}
    with sessions(demo_db)() as s:
        rows = s.execute(select(Observation.text, Observation.theme_id)).all()
    by_hint: dict[str, list[int | None]] = {}
    for text, theme_id in rows:
        hint = next((h for t, h in hint_of.items() if t[:25] == text[:25]), None)
        if hint:
            by_hint.setdefault(hint, []).append(theme_id)
    for hint in ("price_increase_invoice",):
        members = by_hint[hint]
        top = max(set(members), key=members.count)
        assert top is not None and members.count(top) / len(members) >= 0.5, (hint, members)


@pytest.mark.slow
def test_the_recent_evening_meal_notes_are_split_out_and_flagged(demo_db: Settings) -> None:
    """The evening-meal notes of the demo's last weeks sit in older meal themes for Ward; the
    emerging micro-group step (cluster.py, step 4) gives them a theme, flagged weak or strong."""
    hint_of = {row["text"][:25]: row["theme_hint"] for row in notes()}
    with sessions(demo_db)() as s:
        rows = s.execute(select(Observation.text, Observation.theme_id)).all()
        flagged = {t.id for t in s.scalars(select(Theme).where(Theme.signal.in_(("weak", "strong"))))}
    by_theme: dict[int, list[str]] = {}
    for text, theme_id in rows:
        if theme_id is not None:
            by_theme.setdefault(theme_id, []).append(hint_of.get(text[:25], "other"))
    meal = [t for t in flagged
            if by_theme.get(t) and by_theme[t].count("evening_meal_skipped") > len(by_theme[t]) / 2]
    assert meal, {t: by_theme.get(t) for t in flagged}
    assert by_theme[meal[0]].count("evening_meal_skipped") >= 5


@pytest.mark.slow
def test_a_second_refresh_keeps_theme_ids_and_leader_names(demo_copy: Settings) -> None:
    with db.transaction(sessions(demo_copy)) as s:
        before = dict(s.execute(select(Observation.id, Observation.theme_id)).tuples().all())
        theme = s.scalars(select(Theme).where(Theme.active.is_(True)).order_by(Theme.size.desc())).first()
        assert theme is not None
        theme.custom_name = "Iltaruoka"
        renamed = theme.id
    jobs.refresh_themes(DEMO_TODAY.isoformat())
    with sessions(demo_copy)() as s:
        after = dict(s.execute(select(Observation.id, Observation.theme_id)).tuples().all())
        kept = sum(1 for k, v in before.items() if v is not None and after.get(k) == v)
        assert kept / sum(1 for v in before.values() if v is not None) >= 0.9
        assert s.get(Theme, renamed).name == "Iltaruoka"
        assert s.scalar(select(func.count()).select_from(ThemeRun)) == 2
        assert s.scalar(select(func.count()).select_from(ThemeEvent)) > 0


@pytest.mark.slow
def test_dashboard_snapshots_are_precomputed(demo_db: Settings) -> None:
    with sessions(demo_db)() as s:
        scopes = {snap.scope: snap.data for snap in s.scalars(select(Snapshot))}
    assert {"all", "unit:koivukoti", "source:customer"} <= set(scopes)
    data = scopes["all"]
    assert data["total"] > 300 and len(data["weeks"]) == 12
    assert data["emergence_map"] and data["topic_stream"]
    assert sum(n or 0 for n in data["notes_by_source"]["staff"]) > 0  # None: a hidden week
    with sessions(demo_db)() as s:
        themes = s.scalars(select(Theme).where(Theme.active.is_(True))).all()
        counts = s.execute(select(ThemePeriod.theme_id, ThemePeriod.period, ThemePeriod.count)).tuples().all()
    # The stream speaks of topics: each line is one topic, the weekly notes of its themes added up.
    members: dict[str, set[int]] = {}
    for t in themes:
        members.setdefault(t.topic_name or t.name, set()).add(t.id)
    assert set(data["topic_stream"]) <= set(members)
    for name, line in data["topic_stream"].items():
        weekly = [sum(n for theme, week, n in counts if theme in members[name] and week == w)
                  for w in data["weeks"]]
        assert line == weekly, name
    assert any(len(members[name]) > 1 for name in data["topic_stream"])


@pytest.mark.slow
def test_a_tracked_search_crossing_its_threshold_raises_an_alert(demo_copy: Settings) -> None:
    from hiljainen.models import Alert, Indicator, IndicatorValue, OutboxMessage
    from workers import refresh

    with db.transaction(sessions(demo_copy)) as s:
        indicator = Indicator(name="Iltapala", query="iltapala", threshold=0.5)
        s.add(indicator)
        s.flush()
        tracked = indicator.id
    with db.transaction(sessions(demo_copy)) as s:
        refresh.indicators(s, DEMO_TODAY, 3)
    with sessions(demo_copy)() as s:
        value = s.scalars(select(IndicatorValue).where(IndicatorValue.indicator_id == tracked)).one()
        alert = s.scalars(select(Alert).where(Alert.indicator_id == tracked)).one()
        sent = s.scalars(select(OutboxMessage).where(OutboxMessage.body == alert.message)).all()
    assert value.value >= 1 and "Iltapala" in alert.message and len(sent) == 1


@pytest.mark.slow
def test_signal_alerts_are_written_in_the_organisations_language(demo_db: Settings) -> None:
    from hiljainen.models import Alert, OutboxMessage

    with sessions(demo_db)() as s:
        said = [a.message for a in s.scalars(select(Alert).where(Alert.kind == "signal"))]
        sent = [m.body for m in s.scalars(select(OutboxMessage).where(OutboxMessage.channel == "alert"))]
    assert said and all("havaintoa" in m and "henkilöltä" in m for m in said), said
    assert set(said) <= set(sent), "every alert also goes out through the outbox"


def test_a_theme_flickering_between_signals_alerts_once_per_level(tmp_path: Path) -> None:
    import datetime as dt

    from hiljainen.models import Alert, utcnow
    from hiljainen.pipeline.alerts import alert_kind
    from workers.refresh import alert, alerted_lately

    def new_signal(s, theme, was, now):  # type: ignore[no-untyped-def]
        return alert_kind(was, now, lately=alerted_lately(s, theme.id)) == "signal"

    url = f"sqlite:///{tmp_path / 'alerts.db'}"
    db.upgrade(url)
    with db.transaction(db.make_sessionmaker(db.make_engine(url))) as s:
        theme = Theme(id=1, label="lasku, hinta, nousta")
        s.add(theme)
        s.flush()
        alerted = []
        for was, now in [(None, "weak"), ("weak", "latent"), ("latent", "weak"), ("weak", "strong"),
                         ("strong", "weak"), ("weak", "strong"), ("strong", "well-known")]:
            if new_signal(s, theme, was, now):
                alert(s, "signal", theme, f"{was} -> {now}", now)
                s.flush()
                alerted.append(now)
        assert alerted == ["weak", "strong"]
        for a in s.scalars(select(Alert)):
            a.created_at = utcnow() - dt.timedelta(days=8)
        s.flush()
        assert new_signal(s, theme, "latent", "weak"), "a week later it is news again"


@pytest.mark.slow
def test_the_dashboard_scope_lists_only_the_themes_raised_there(demo_copy: Settings) -> None:
    import re

    from hiljainen import create_app, resources
    from hiljainen.models import Role, Source
    from tests.conftest import login

    app = create_app(demo_copy)
    with app.app_context():
        s = resources.session()
        accounts.create_user(s, "rajaus-johtaja", "salasana-123", Role.LEADER)
        s.commit()
        raised = set(s.scalars(select(Observation.theme_id).where(Observation.source == Source.PARTNER)))
        ranked = s.scalars(select(Theme.id).where(Theme.active.is_(True), Theme.size > 0)
                           .order_by(Theme.emergence.desc())).all()
    client = app.test_client()
    login(client, "rajaus-johtaja", "salasana-123")

    def listed(scope: str) -> list[int]:
        page = client.get(f"/dashboard/?scope={scope}").get_data(as_text=True)
        return [int(i) for i in re.findall(r'<tr><td><a href="/themes/(\d+)"', page)]

    assert listed("all") == ranked[:15]
    assert listed("source:partner") == [t for t in ranked if t in raised][:15]
    assert 0 < len(raised - {None}) < len(ranked), "partners raise some themes, not all"
