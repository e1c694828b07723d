"""Real headless Chromium on a phone-sized viewport: capture, and the leader's loop on the demo.

With --screenshots, pictures of each page are written to docs/screens/ (linked from the README).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from hiljainen import accounts, create_app, resources
from hiljainen.config import Settings
from hiljainen.models import Role
from tests.conftest import make_org

PHONE = {"width": 390, "height": 844}


def new_page(chromium: Any, screens: Path, **kw: Any) -> Any:
    options = {"viewport": PHONE, "device_scale_factor": 2, "is_mobile": True, "has_touch": True,
               "locale": "fi-FI", **kw}
    context = chromium.new_context(**options)
    page = context.new_page()
    page.shot = lambda name: page.screenshot(path=str(screens / f"{name}.png"), full_page=True)
    page.csp_errors = []
    page.on("console", lambda m: page.csp_errors.append(m.text) if "Content Security" in m.text else None)
    return page


def log_in(page: Any, base: str, username: str, password: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("form.card button")
    page.wait_for_load_state()


def serve_demo(demo_copy: Settings, live_server: Callable[[Flask], str], leader: str) -> str:
    """The demo organisation served with a leader account of its own (password salasana-123)."""
    app = create_app(demo_copy)
    with app.app_context():
        db = resources.session()
        accounts.create_user(db, leader, "salasana-123", Role.LEADER)
        db.commit()
    return live_server(app)


@pytest.mark.browser
def test_staff_and_customer_notes_on_a_phone(app: Flask, live_server: Callable[[Flask], str],
                                             chromium: Any, screens_dir: Path) -> None:
    make_org(app)
    base = live_server(app)
    page = new_page(chromium, screens_dir)
    log_in(page, base, "hoitaja", "salasana-123")
    assert page.url.endswith("/note")
    page.fill("textarea[name=text]", "Asukas jätti iltapalan väliin kolmatta iltaa.")
    page.check("input[name=anonymous]")
    page.shot("staff-note")
    page.click("button.primary")
    assert page.locator("h1").inner_text().startswith("Kiitos")
    assert re.fullmatch(r"[A-Z0-9]{4}-[A-Z0-9]{4}-[A-Z0-9]{4}", page.locator("#receipt").inner_text())
    page.shot("staff-note-sent")

    customer = new_page(chromium, screens_dir)
    customer.goto(f"{base}/t/ruokasali")
    customer.fill("textarea[name=text]", "Keitto oli haaleaa ja jälkiruoka puuttui.")
    customer.check("input[value=relative]")
    customer.check("#wants_answer")
    assert customer.is_visible("input[name=contact]"), "contact field appears only when an answer is wanted"
    customer.fill("input[name=contact]", "omainen@example.com")
    customer.shot("customer-note")
    customer.click("button.primary")
    assert customer.is_visible("#receipt")
    assert page.csp_errors == [] and customer.csp_errors == []
    with app.app_context():
        from sqlalchemy import select

        from hiljainen.models import Observation

        texts = resources.session().scalars(select(Observation.text)).all()
    assert len(texts) == 2


@pytest.mark.browser
@pytest.mark.slow
def test_leader_loop_on_the_demo(demo_copy: Settings, live_server: Callable[[Flask], str], chromium: Any,
                                 screens_dir: Path) -> None:
    base = serve_demo(demo_copy, live_server, "selain-johtaja")

    writer = new_page(chromium, screens_dir)  # an anonymous relative at a touchpoint
    writer.goto(f"{base}/t/ruokasali")
    writer.fill("textarea[name=text]", "Äiti sanoo, ettei iltapalaa tarjottu eilen ollenkaan.")
    writer.check("input[value=relative]")
    writer.click("button.primary")
    code = writer.locator("#receipt").inner_text()

    leader = new_page(chromium, screens_dir, viewport={"width": 1280, "height": 900}, is_mobile=False)
    log_in(leader, base, "selain-johtaja", "salasana-123")
    assert "/dashboard" in leader.url
    for chart in ("topic_stream", "notes_by_source", "response", "tone"):
        drawn = leader.evaluate(f"!!Chart.getChart(document.getElementById('chart-{chart}'))")
        assert drawn, f"chart {chart} was not drawn"
    # The weak-signal map is drawn on the server; on a phone it fits the screen, and a bubble's
    # label opens its theme.
    phone = new_page(chromium, screens_dir)
    log_in(phone, base, "selain-johtaja", "salasana-123")
    box = phone.locator("svg.signal-map").bounding_box()
    assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
    label = phone.locator("svg.signal-map a.bubble-label").first
    theme_url = label.get_attribute("href")
    assert theme_url and theme_url.startswith("/themes/")
    label.click()
    phone.wait_for_url(f"**{theme_url}")
    legend = leader.evaluate("Chart.getChart(document.getElementById('chart-response')).data.datasets"
                             ".map(function (d) { return d.label; })")
    assert legend[0].startswith("% kuitattu"), legend  # the charts speak the page's language
    leader.shot("dashboard")

    leader.click("table a[href^='/themes/']")  # the most emerging theme
    leader.wait_for_load_state()
    assert leader.evaluate("!!Chart.getChart(document.getElementById('chart-theme'))")
    assert leader.evaluate("Chart.getChart(document.getElementById('chart-theme')).data.datasets[0].label"
                           ) == "Havainnot viikoittain"
    leader.fill("#track-form input[name=threshold]", "5")
    leader.fill("#track-form input[name=target]", "1")
    leader.fill("#track-form input[name=owner]", "Palvelupäällikkö")
    leader.shot("theme")
    leader.click("#track-form button")
    leader.wait_for_load_state()
    assert "Palvelupäällikkö" in leader.content(), "the tracked indicator is listed on the dashboard"

    leader.goto(f"{base}/triage/")
    leader.click("a.item-link:has-text('Äiti sanoo')")  # the note's text opens it
    leader.wait_for_load_state()
    leader.click("form[action$='/acknowledge'] button")
    leader.wait_for_load_state()
    leader.fill("form[action$='/answer'] textarea", "Kiitos. Iltapala tarjotaan nyt klo 19 kaikille.")
    leader.click("form[action$='/answer'] button")
    leader.wait_for_load_state()
    leader.shot("triage-note")

    writer.goto(f"{base}/receipt?code={code}")
    assert "Iltapala tarjotaan nyt klo 19" in writer.content()
    writer.shot("receipt-answer")
    assert writer.csp_errors == [] and leader.csp_errors == []


@pytest.mark.browser
@pytest.mark.slow
def test_leader_pages_fit_a_thumb_on_a_phone(demo_copy: Settings, live_server: Callable[[Flask], str],
                                             chromium: Any, screens_dir: Path) -> None:
    """Tap targets of at least 44 px, a wide table that says it scrolls, and a refused answer
    explained where the leader is looking."""
    base = serve_demo(demo_copy, live_server, "puhelin-johtaja")
    page = new_page(chromium, screens_dir)
    log_in(page, base, "puhelin-johtaja", "salasana-123")

    page.goto(f"{base}/dashboard/")
    page.evaluate("document.querySelectorAll('details').forEach(function (d) { d.open = true; })")
    heights = [box["height"] for box in (a.bounding_box() for a in page.locator("a.csv").all()) if box]
    assert heights and min(heights) >= 44, heights
    assert page.locator(".scroll-hint").first.is_visible(), "the themes table says it scrolls sideways"
    tile = page.locator(".kpi-card:has(.kpi-hint)")
    assert tile.locator("p").first.inner_text() == "Sanoitte, teimme", "no quotes"
    assert tile.locator(".kpi-hint").is_visible()

    page.goto(f"{base}/triage/")
    first = page.locator(".triage-item a.item-link").first
    box = first.bounding_box()
    assert box and box["height"] >= 44 and box["width"] > 300, box
    first.click()
    page.wait_for_load_state()
    page.fill("form[action$='/answer'] textarea", "   ")
    page.evaluate("document.querySelector(\"form[action$='/answer'] textarea\").removeAttribute('required')")
    page.click("form[action$='/answer'] button")
    page.wait_for_load_state()
    error = page.locator("#answer-error")
    assert "Kirjoita vastaus" in error.inner_text()
    top = error.bounding_box()
    assert top and 0 <= top["y"] < PHONE["height"], "the error is on the screen, beside the form"
    assert page.csp_errors == []


@pytest.mark.browser
def test_a_leader_answers_a_themes_thirteen_writers_at_once(
    app: Flask, live_server: Callable[[Flask], str], chromium: Any, screens_dir: Path
) -> None:
    """Issue 21: thirteen people wrote about the same invoice increase; one answer reaches them all."""
    from sqlalchemy import select

    from hiljainen.models import Response
    from tests.web.test_triage import theme_with_writers

    make_org(app)
    with app.app_context():
        db = resources.session()
        accounts.create_user(db, "laskujohtaja", "salasana-123", Role.LEADER)
        db.commit()
    theme_id, ids, codes = theme_with_writers(app, writers=13)
    base = live_server(app)

    leader = new_page(chromium, screens_dir, viewport={"width": 1280, "height": 900}, is_mobile=False)
    log_in(leader, base, "laskujohtaja", "salasana-123")
    leader.goto(f"{base}/triage/themes/{theme_id}")
    assert leader.locator("#theme-reach").inner_text().startswith("Huomioita 15: kuittikoodillisia 13")
    leader.fill("#theme-answer textarea[name=body]",
                "Korotus johtuu energian hinnasta. Jatkossa kerromme muutoksista kuukautta aiemmin.")
    leader.fill("#theme-answer textarea[name=action]", "Laskutus lähettää tiedotteen kuukautta ennen.")
    leader.check("#theme-answer input[name=close]")
    leader.shot("theme-answer")
    leader.click("#theme-answer button.primary")
    leader.wait_for_load_state()
    notice = leader.locator("p.notice").inner_text()
    assert notice.startswith("Vastaus on tallennettu 15 huomioon: 13 kirjoittajaa lukee sen"), notice

    for code in (codes[0], codes[12]):  # the first and the last writer, each on their own phone
        writer = new_page(chromium, screens_dir)
        writer.goto(f"{base}/receipt")
        writer.fill("input[name=code]", code)
        writer.locator("input[name=code]").press("Enter")
        writer.wait_for_load_state()
        content = writer.content()
        assert "kuukautta aiemmin" in content and "Laskutus lähettää" not in content
        assert writer.csp_errors == []
    writer.shot("receipt-theme-answer")
    assert leader.csp_errors == []
    with app.app_context():
        answers = select(Response.observation_id).where(Response.kind == "answer")
        assert sorted(resources.session().scalars(answers)) == ids
