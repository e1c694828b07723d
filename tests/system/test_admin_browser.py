"""The admin's and a staff member's own pages in real headless Chromium on a phone (issue 21): the
pages fit the screen, the buttons take a thumb, and the forms do what they say."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from hiljainen import accounts, resources
from hiljainen.models import Role, User
from tests.conftest import make_org
from tests.system.test_browser import PHONE, log_in, new_page

PASSWORD = "salasana-123"


def fits(page: Any) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"])


@pytest.mark.browser
def test_an_admin_disables_and_resets_an_account_on_a_phone(
    app: Flask, live_server: Callable[[Flask], str], chromium: Any, screens_dir: Path
) -> None:
    make_org(app)  # unit koivukoti, touchpoint ruokasali, hoitaja (staff), johtaja (leader)
    with app.app_context():
        db = resources.session()
        accounts.create_user(db, "admin", PASSWORD, Role.ADMIN)
        db.commit()
    base = live_server(app)
    nurse = new_page(chromium, screens_dir)
    log_in(nurse, base, "hoitaja", PASSWORD)
    admin = new_page(chromium, screens_dir)
    log_in(admin, base, "admin", PASSWORD)

    admin.goto(f"{base}/admin/")
    assert fits(admin), "the admin page fits a phone"
    admin.click("#users a:text('hoitaja')")
    admin.wait_for_load_state()
    assert fits(admin)
    button = admin.locator("button:text('Poista tunnus käytöstä')")
    box = button.bounding_box()
    assert box and box["height"] >= 44, box
    button.click()
    admin.wait_for_load_state()
    assert admin.locator("#user-state").inner_text() == "poistettu käytöstä"
    admin.shot("admin-user")

    nurse.goto(f"{base}/my")
    assert nurse.url.startswith(f"{base}/login"), "the disabled account's session has ended"

    admin.click("button:text('Ota tunnus käyttöön')")
    admin.wait_for_load_state()
    admin.click("button:text('Nollaa salasana')")
    admin.wait_for_load_state()
    temporary = admin.locator("#new-password").inner_text()
    assert len(temporary) >= accounts.MIN_PASSWORD and fits(admin)

    log_in(nurse, base, "hoitaja", temporary)
    nurse.goto(f"{base}/settings")
    assert fits(nurse)
    nurse.fill("input[name=email]", "hanna.hoitaja@example.fi")
    nurse.check("#answers_by_email")
    nurse.fill("#email-password", temporary)  # a new address takes the current password
    nurse.click("form[action$='/settings'] button")
    nurse.wait_for_load_state()
    assert "Asetuksesi on tallennettu." in nurse.locator("p.notice").inner_text()
    nurse.fill("input[name=current]", temporary)
    nurse.fill("input[name=new]", "hannan-oma-salasana")
    nurse.click("form[action$='/settings/password'] button")
    nurse.wait_for_load_state()
    assert "Salasanasi on vaihdettu." in nurse.locator("p.notice").inner_text()
    with app.app_context():
        user = resources.session().scalar(select(User).where(User.username == "hoitaja"))
        assert user is not None and user.active
        assert (user.email, user.answers_by_email) == ("hanna.hoitaja@example.fi", True)
    assert admin.csp_errors == [] and nurse.csp_errors == []
