"""The weak-signal map's bubbles are labelled and open their theme (issue 19).

The dashboard's snapshot is computed by the worker's own code from themes in a fresh SQLite file
(conftest: real Redis and Chroma); the page comes through the Flask test client in both languages.
"""

from __future__ import annotations

import datetime as dt
import html
import itertools
import re
from collections.abc import Callable

from flask import Flask

from hiljainen import resources
from hiljainen.models import Theme, ThemePeriod
from hiljainen.web import signal_map
from tests.conftest import Org, login

PASSWORD = "salasana-123"
LONG_NAME = "Iltapala jää saamatta kolmannessa kerroksessa viikonloppuisin"

# name, signal, notes, share of notes, growth per week, reporters
THEMES = [
    (LONG_NAME, "strong", 14, 0.30, 1.6, 9),
    ("Hissi rikki", "weak", 6, 0.10, 0.9, 4),
    ("Kahvi loppuu", "latent", 20, 0.45, -0.3, 6),
]


def seed_map(app: Flask) -> dict[str, int]:
    """The themes with a week of measures, and the snapshot the worker computes from them; then the
    weak theme is renamed, as a leader would after the snapshot. Theme ids by name."""
    from workers import refresh

    today = dt.date.today()
    ids = {}
    with app.app_context():
        s = resources.session()
        for name, signal, size, share, growth, reporters in THEMES:
            theme = Theme(label=name, custom_name=name, signal=signal, size=size, emergence=growth)
            s.add(theme)
            s.flush()
            year, week, _day = today.isocalendar()
            s.add(ThemePeriod(theme_id=theme.id, period=f"{year}-W{week:02d}", start=today, count=size,
                              measures={"visibility": share, "reporters": reporters}))
            ids[name] = theme.id
        refresh.indicators(s, today, resources.get().settings.min_group_size)
        renamed = s.get(Theme, ids["Hissi rikki"])
        assert renamed is not None
        renamed.custom_name = "Hissi seisoo taas"
        s.commit()
    return ids


def test_each_bubble_opens_its_theme_under_its_current_name_in_both_languages(
    app: Flask, org: Callable[..., Org]
) -> None:
    org(people=("johtaja",))
    ids = seed_map(app)
    client = app.test_client()
    login(client, "johtaja", PASSWORD)
    for lang, hint, strong in (("fi", "Pallo tai sen nimi avaa teeman.", "vahva signaali"),
                               ("en", "A bubble or its name opens the theme.", "strong signal")):
        page = client.get("/dashboard/", headers={"Accept-Language": lang}).get_data(as_text=True)
        svg = page.split('<svg class="signal-map"', 1)[1].split("</svg>", 1)[0]
        bubbles = re.findall(r'<a class="bubble" href="/themes/(\d+)" aria-label="([^"]+)">', svg)
        assert sorted(int(i) for i, _about in bubbles) == sorted(ids.values()), "one link a bubble"
        label_links = r'<a class="bubble-label" href="/themes/(\d+)"[^>]*>\s*<text[^>]*>([^<]+)</text>'
        labels = dict(re.findall(label_links, svg))
        assert labels[str(ids["Hissi rikki"])] == "Hissi seisoo taas", "the current name, not the old one"
        long_label = html.unescape(labels[str(ids[LONG_NAME])])
        assert long_label.endswith("…") and LONG_NAME.startswith(long_label[:-1].rstrip())
        assert len(long_label) <= max(signal_map.LABEL_CHARS), "a long name is shortened on the map"
        about = dict((int(i), html.unescape(a)) for i, a in bubbles)
        assert about[ids[LONG_NAME]].startswith(f"{LONG_NAME} · {strong} · ")
        assert hint in page and f"{strong}</li>" in page, "hint and legend in the page's language"
        assert 'viewBox="0 0 360 240"' in page and "Chart.getChart" not in page


def test_labels_never_overlap_and_every_alerted_bubble_is_named() -> None:
    # 24 themes, 6 of them alerted, crowded onto 15 spots: the labels that fit are drawn apart from
    # each other, and every alerted bubble is named.
    def signal(i: int) -> str:
        return {3: "strong", 6: "weak"}.get(i % 8, ("latent", "noise", "well-known")[i % 3])

    points = [
        {"id": i, "name": f"Teema numero {i} jolla on pitkähkö nimi", "signal": signal(i),
         "visibility": 0.01 * (i % 5), "emergence": 0.1 * (i % 3), "reporters": i % 7, "size": 3 + i}
        for i in range(24)
    ]  # fmt: skip
    drawn = signal_map.build(points, {i: (i, str(p["name"])) for i, p in enumerate(points)})
    assert len(drawn.bubbles) == 24
    boxes = []
    for b in drawn.bubbles:
        if b.label is None:
            assert b.signal not in ("weak", "strong"), b
            continue
        w = len(b.label.text) * signal_map.CHAR_WIDTH
        x0 = {"start": b.label.x, "end": b.label.x - w, "middle": b.label.x - w / 2}[b.label.anchor]
        boxes.append((x0, b.label.y - signal_map.FONT, x0 + w, b.label.y))
        assert 0 <= x0 and x0 + w <= signal_map.WIDTH, "the label stays inside the picture"
    assert all(not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3])
               for a, b in itertools.combinations(boxes, 2)), "no two labels overlap"
