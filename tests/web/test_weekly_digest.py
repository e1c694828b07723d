"""The weekly digest as a page for leaders (issue 21): the same privacy-suppressed digest the outbox
sends, with links into the service, for this week or an earlier one."""

from __future__ import annotations

import datetime as dt
import re

from flask import Flask

from hiljainen import accounts, resources
from hiljainen.models import Observation, Response, Role, Source, Status, Theme
from tests.conftest import login

PASSWORD = "salasana-123"


def seed_week(app: Flask, today: dt.date) -> dict[str, str]:
    """Five customers and two relatives wrote this week, a theme with a strong signal, a note
    waiting for twenty days, and one note answered and closed with an action."""
    this_week = today - dt.timedelta(days=3)
    with app.app_context():
        db = resources.session()
        accounts.create_user(db, "johtaja", PASSWORD, Role.LEADER)
        accounts.create_user(db, "hoitaja", PASSWORD, Role.STAFF)
        theme = Theme(label="lasku korotus", phrase="Laskun korotus", signal="strong", size=5,
                      first_seen=this_week, last_seen=this_week)
        db.add(theme)
        db.flush()
        notes = [Observation(text=f"Lasku nousi {i}.", source=Source.CUSTOMER, anonymous=True, day=this_week,
                             theme_id=theme.id) for i in range(4)]
        notes += [Observation(text=f"Äiti odotti {i}.", source=Source.RELATIVE, anonymous=True, day=this_week)
                  for i in range(2)]
        done = Observation(text="Kahvi oli kylmää.", source=Source.CUSTOMER, anonymous=True, day=this_week,
                           status=Status.DONE, acknowledged_at=dt.datetime.now(dt.UTC))
        waiting = Observation(text="Kukaan ei vastannut.", source=Source.CUSTOMER, anonymous=True,
                              day=today - dt.timedelta(days=20))
        db.add_all([*notes, done, waiting])
        db.flush()
        acted = dt.datetime.combine(today - dt.timedelta(days=2), dt.time(12), tzinfo=dt.UTC)
        steps = (("answer", "Kahvinkeitin vaihdettiin."), ("action", "Uusi kahvinkeitin hankittu."))
        for kind, body in steps:
            db.add(Response(observation_id=done.id, kind=kind, body=body, created_at=acted))
        db.commit()
        return {"theme": str(theme.id), "waiting": waiting.public_id}


def period(page: str) -> str:
    found = re.search(r'id="digest-period">([^<]+)<', page)
    assert found, "the page names its period"
    return found.group(1)


def test_a_leader_reads_the_weekly_digest_in_the_interface(app: Flask) -> None:
    today = dt.date.today()
    ids = seed_week(app, today)
    leader = app.test_client()
    login(leader, "johtaja", PASSWORD)
    resp = leader.get("/digest/?lang=en")
    assert resp.status_code == 200
    page = " ".join(resp.get_data(as_text=True).split())
    assert "New notes: 7" in page, "five customers and two relatives"
    assert "relative: hidden" in page and "relative: 2" not in page, "fewer than 3 writers are hidden"
    assert f'<a href="/themes/{ids["theme"]}">Laskun korotus</a>' in page and "new this week" in page
    assert f'href="/triage/notes/{ids["waiting"]}"' in page and "waiting" in page
    assert "Uusi kahvinkeitin hankittu." in page, "you said, we did"
    assert "Kukaan ei vastannut" not in page, "the waiting note is linked, its text is not shown"
    finnish = leader.get("/digest/?lang=fi").get_data(as_text=True)
    assert "<h1>Viikkokooste</h1>" in finnish and "Teemat ja signaalit" in finnish

    # The week before: none of this week's notes, and a link back.
    earlier = (today - dt.timedelta(days=7)).isoformat()
    before = " ".join(leader.get(f"/digest/?lang=en&week={earlier}").get_data(as_text=True).split())
    assert "New notes: 0" in before and "Uusi kahvinkeitin" not in before
    assert f'href="/digest/?week={today.isoformat()}"' in before
    assert period(before) != period(page)

    assert leader.get("/digest/?week=6.12.2026").status_code == 400
    for first_days in ("0001-01-01", "0001-W01"):  # a week before them is no date: was a 500
        assert leader.get(f"/digest/?week={first_days}").status_code == 400, first_days
    staff = app.test_client()
    login(staff, "hoitaja", PASSWORD)
    assert staff.get("/digest/").status_code == 403
