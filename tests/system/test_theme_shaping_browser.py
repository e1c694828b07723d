"""Issue 19's done-when, in real headless Chromium on the demo organisation: a leader lists all
themes, merges two, splits one, moves a note, pins and tracks a theme; four notes are added; the
themes refresh (the worker's own job, in process); the pinned theme still holds all its notes and
its indicator history."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from hiljainen import db
from hiljainen.config import Settings
from hiljainen.models import Indicator, IndicatorValue, Observation, Theme, ThemeCorrection
from tests.conftest import DEMO_TODAY
from tests.system.test_browser import PHONE, log_in, new_page, serve_demo


@pytest.mark.browser
@pytest.mark.slow
def test_a_leader_shapes_themes_and_a_refresh_keeps_the_pinned_theme(
    demo_copy: Settings, live_server: Callable[[Flask], str], chromium: Any, screens_dir: Path
) -> None:
    from workers import jobs

    sessions = db.make_sessionmaker(db.make_engine(demo_copy.sqlalchemy_url))
    base = serve_demo(demo_copy, live_server, "muotoilija")
    with sessions() as s:
        listed_themes = s.scalars(select(Theme).where(Theme.active.is_(True), Theme.size > 0)).all()
        big = sorted((t for t in listed_themes if t.size >= 4), key=lambda t: -t.size)
        a, b, c, d, e, f = (t.id for t in big[:6])

        def notes(theme_id: int) -> list[int]:
            return list(s.scalars(select(Observation.id).where(Observation.theme_id == theme_id)
                                  .order_by(Observation.id)))

        before = {t: notes(t) for t in (a, b, c, d, e, f)}
        # The theme page's checkboxes carry the notes' public ids.
        public = dict(s.execute(select(Observation.id, Observation.public_id)).tuples().all())

    page = new_page(chromium, screens_dir)  # a leader on a phone
    log_in(page, base, "muotoilija", "salasana-123")
    page.click("#all-themes")
    page.wait_for_load_state()
    assert page.url.endswith("/themes/")
    shown = {int(x) for x in page.eval_on_selector_all(".theme-row", "rs => rs.map(r => r.dataset.theme)")}
    assert shown == {t.id for t in listed_themes}, "every theme in use is listed"
    assert page.locator(".topic").count() < len(listed_themes), "themes are grouped into topics"
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"], "fits a phone"
    assert page.locator(".topic svg.spark").count() > 0
    page.select_option("select[name=sort]", "name")
    page.click("form.filters button")
    page.wait_for_load_state()
    assert "sort=name" in page.url
    page.shot("themes")

    page.goto(f"{base}/themes/{b}")
    page.select_option("#merge-form select[name=into]", str(c))
    page.click("#merge-form button")
    page.wait_for_load_state()
    assert page.url.endswith(f"/themes/{c}")

    chosen = before[d][: len(before[d]) // 2]
    page.goto(f"{base}/themes/{d}")
    for note in chosen:
        page.check(f"#note-{public[note]}")
    page.fill("#notes-form input[name=name]", "Erotettu osa")
    page.click("#split")
    page.wait_for_load_state()
    assert "Erotettu osa" in page.locator("h1").inner_text()

    moved = before[e][0]
    page.goto(f"{base}/themes/{e}")
    page.check(f"#note-{public[moved]}")
    page.select_option("#notes-form select[name=to]", str(f))
    page.click("#move")
    page.wait_for_load_state()

    page.goto(f"{base}/themes/{a}")
    page.fill("form[action$='/name'] input[name=name]", "Iltaruoan puute")
    page.check("form[action$='/name'] input[name=pinned]")
    page.click("form[action$='/name'] button")
    page.wait_for_load_state()
    page.fill("#track-form input[name=threshold]", "4")
    page.click("#track-form button")
    page.wait_for_load_state()
    page.goto(f"{base}/themes/{a}")
    assert page.locator("#edit-history li").count() >= 2  # renamed, pinned

    with db.transaction(sessions) as s:
        tracked = s.scalars(select(Indicator.id).where(Indicator.theme_id == a)).one()
        s.add(IndicatorValue(indicator_id=tracked, period="2026-W40", value=3.0))  # its history so far
        kinds = [k.value for k in s.scalars(select(ThemeCorrection.kind).order_by(ThemeCorrection.id))]
    assert kinds == ["merge", "split", "move", "rename", "pin"], kinds

    writer = new_page(chromium, screens_dir)  # four new notes through the public form
    for text in ("Iltaruokaa ei tarjottu taaskaan, äiti oli nälkäinen illalla.",
                 "Iltapala jäi väliin kahtena iltana peräkkäin.",
                 "Parkkipaikan valot eivät toimi, pimeässä on vaikea kävellä.",
                 "The coffee machine in the lobby has been broken for a week."):
        writer.goto(f"{base}/t/ruokasali")
        writer.fill("textarea[name=text]", text)
        writer.check("input[value=relative]")
        writer.click("button.primary")
        writer.wait_for_load_state()
    with sessions() as s:
        added = list(s.scalars(select(Observation.id).where(Observation.processed_at.is_(None))))
    assert len(added) == 4
    assert jobs.process_all() == len(added)
    jobs.refresh_themes(DEMO_TODAY.isoformat())

    page.goto(f"{base}/themes/{a}")
    listed = set(page.eval_on_selector_all("#notes-form input[name=notes]", "cs => cs.map(c => c.value)"))
    assert {public[i] for i in before[a]} <= listed, "the pinned theme still holds all its notes"
    assert "Iltaruoan puute" in page.locator("h1").inner_text()
    with sessions() as s:
        pinned = s.get(Theme, a)
        assert pinned is not None and pinned.active and pinned.pinned
        periods = set(s.scalars(select(IndicatorValue.period).where(IndicatorValue.indicator_id == tracked)))
        assert "2026-W40" in periods and len(periods) >= 2, "its indicator history stays attached"
        assert s.scalars(select(Indicator.theme_id).where(Indicator.id == tracked)).one() == a
        theme_of = dict(s.execute(select(Observation.id, Observation.theme_id)).tuples().all())
    assert len({theme_of[i] for i in before[b] + before[c]}) == 1, "merged notes stay together"
    assert not {theme_of[i] for i in chosen} & {theme_of[i] for i in before[d] if i not in chosen}
    assert theme_of[moved] == theme_of[before[f][0]] != theme_of[before[e][1]], "the moved note stays moved"
    page.shot("theme-shaped")
    assert page.csp_errors == [] and writer.csp_errors == []
