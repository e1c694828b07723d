"""A leader shapes themes (issue 19): the corrections are kept and every later refresh honours them.

The demo organisation, real models, real Chroma, SQLite; the pages through the Flask test client."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import delete, func, select

from hiljainen import accounts, db
from hiljainen.config import Settings
from hiljainen.models import (
    Alert,
    CorrectionKind,
    Indicator,
    IndicatorValue,
    Interpretation,
    Observation,
    Role,
    Source,
    Theme,
    ThemeCorrection,
)
from tests.conftest import DEMO_TODAY, csrf_token, login
from workers.refresh import correction_constraints


def test_corrections_become_constraints_and_a_later_one_wins() -> None:
    row_of = {note: note - 100 for note in range(100, 120)}  # note id -> row
    held = [[100, 101, 102]]
    newest_first: list[dict[str, Any]] = [
        # split 103, 104 out of a theme whose other notes are 105, 106
        {"kind": "split", "notes": [103, 104], "rest": [105, 106]},
        # earlier: merged 104 with 105 (the split above overrides it)
        {"kind": "merge", "notes": [104, 105, 107]},
        # moved 108 to the theme holding 109, 110, away from 111; 999 is no longer in the run
        {"kind": "move", "notes": [108, 999], "target": [109, 110], "rest": [111]},
        {"kind": "rename", "name": "x"},
    ]
    c = correction_constraints(newest_first, held, row_of)
    together = _together(c.must_link)
    cannot = {frozenset(p) for p in c.cannot_link}
    assert together(0, 1) and together(1, 2) and together(3, 4)
    assert {frozenset((3, 5)), frozenset((3, 6)), frozenset((8, 11))} <= cannot
    assert not together(4, 5), "the older merge gives way to the newer split"
    assert together(5, 7), "the rest of the merge still holds"
    assert together(8, 9) and together(9, 10)
    assert all(max(p) < 20 for p in [*c.must_link, *c.cannot_link]) and c.must_link and c.cannot_link


def test_a_note_split_out_of_an_old_merge_leaves_the_rest_of_it_together() -> None:
    row_of = {1: 0, 2: 1, 3: 2}
    c = correction_constraints([{"kind": "split", "notes": [2], "rest": [1, 3]},
                                {"kind": "merge", "notes": [1, 2, 3]}], [], row_of)
    together = _together(c.must_link)
    assert together(0, 2) and not together(0, 1) and not together(1, 2)


def _together(pairs: list[tuple[int, int]]):  # type: ignore[no-untyped-def]
    # Whether two rows are must-linked, directly or through others.
    parent: dict[int, int] = {}

    def root(i: int) -> int:
        while parent.setdefault(i, i) != i:
            i = parent[i]
        return i

    for i, j in pairs:
        parent[root(i)] = root(j)
    return lambda i, j: root(i) == root(j)


def test_nothing_to_honour_without_corrections() -> None:
    c = correction_constraints([], [], {1: 0, 2: 1})
    assert not c


def sessions(settings: Settings):  # type: ignore[no-untyped-def]
    return db.make_sessionmaker(db.make_engine(settings.sqlalchemy_url))


def public_ids(settings: Settings, note_ids: list[int]) -> list[str]:
    """The ids a theme's page shows these notes by, which its forms post back."""
    with sessions(settings)() as s:
        query = select(Observation.id, Observation.public_id).where(Observation.id.in_(note_ids))
        found = dict(s.execute(query).tuples().all())
    return [found[i] for i in note_ids]


def post(client: FlaskClient, page: str, action: str, data: dict[str, object]) -> str:
    """Post a form found on `page` as a browser would (with its CSRF token); the page it leads to."""
    resp = client.post(action, data={**data, "csrf_token": csrf_token(client, page)})
    assert resp.status_code == 303, (action, resp.status_code, resp.get_data(as_text=True)[:400])
    return str(resp.headers["Location"])


@pytest.mark.slow
def test_a_leader_merges_splits_moves_pins_and_a_refresh_keeps_it_all(demo_copy: Settings) -> None:
    from hiljainen import create_app, resources
    from workers import jobs

    app = create_app(demo_copy)
    with app.app_context():
        s = resources.session()
        accounts.create_user(s, "muokkaaja", "salasana-123", Role.LEADER)
        accounts.create_user(s, "tyontekija", "salasana-123", Role.STAFF)
        s.commit()
        themes = s.scalars(select(Theme).where(Theme.active.is_(True), Theme.size >= 4)
                           .order_by(Theme.size.desc())).all()
        assert len(themes) >= 6
        a, b, c, d, e, f = (t.id for t in themes[:6])

        def notes(theme_id: int) -> list[int]:
            return list(s.scalars(select(Observation.id).where(Observation.theme_id == theme_id)
                                  .order_by(Observation.id)))

        before = {t: notes(t) for t in (a, b, c, d, e, f)}
    staff = app.test_client()
    login(staff, "tyontekija", "salasana-123")
    assert staff.get("/themes/").status_code == 403
    staff_token = csrf_token(staff, "/note")
    assert staff.post(f"/themes/{b}/merge", data={"into": c, "csrf_token": staff_token}).status_code == 403

    client = app.test_client()
    login(client, "muokkaaja", "salasana-123")
    dashboard = client.get("/dashboard/").get_data(as_text=True)
    assert 'href="/themes/"' in dashboard and 'id="topics"' in dashboard, "the dashboard leads to topics"
    assert re.search(r'action="/themes/\d+/not-new"', dashboard), "a signal alert can be called not new"
    listing = client.get("/themes/").get_data(as_text=True)
    listed = {int(i) for i in re.findall(r'href="/themes/(\d+)"', listing)}
    with app.app_context():
        live = set(resources.session().scalars(
            select(Theme.id).where(Theme.active.is_(True), Theme.size > 0)))
    assert live <= listed, "every theme in use is listed"
    assert "<svg" in listing
    with app.app_context():
        strong = set(resources.session().scalars(
            select(Theme.id).where(Theme.active.is_(True), Theme.size > 0, Theme.signal == "strong")))
    filtered = client.get("/themes/?sort=name&signal=strong").get_data(as_text=True)
    assert {int(i) for i in re.findall(r'data-theme="(\d+)"', filtered)} == strong
    by_size = [int(i) for i in re.findall(r'data-theme="(\d+)"', listing)]
    assert by_size and len(by_size) == len(set(by_size)) == len(listed)
    assert client.post(f"/themes/{b}/merge", data={"into": c}).status_code == 400, "CSRF token required"

    page = f"/themes/{a}"
    post(client, page, f"/themes/{a}/name", {"name": "Iltaruoan puute", "pinned": "on"})
    post(client, page, f"/themes/{a}/track", {"name": "Iltaruoka", "threshold": "3"})
    post(client, page, f"/themes/{a}/interpretation", {"meaning": "Iltaruoka jää väliin"})
    post(client, f"/themes/{b}", f"/themes/{b}/merge", {"into": c})
    chosen = before[d][: len(before[d]) // 2]
    split_form = {"notes": public_ids(demo_copy, chosen), "name": "Erotettu"}
    new_page = post(client, f"/themes/{d}", f"/themes/{d}/split", split_form)
    split_id = int(new_page.rstrip("/").rsplit("/", 1)[1])
    moved = before[e][0]
    post(client, f"/themes/{e}", f"/themes/{e}/move", {"notes": public_ids(demo_copy, [moved]), "to": f})
    post(client, f"/themes/{f}", f"/themes/{f}/watch", {})
    # Rename and undo: the last correction on a theme can be taken back.
    post(client, f"/themes/{f}", f"/themes/{f}/name", {"name": "Väliaikainen"})
    post(client, f"/themes/{f}", f"/themes/{f}/undo", {})
    history = client.get(f"/themes/{a}").get_data(as_text=True)
    assert "Iltaruoan puute" in history and "muokkaaja" in history

    with db.transaction(sessions(demo_copy)) as s:
        indicator = s.scalars(select(Indicator).where(Indicator.theme_id == a)).one()
        tracked = indicator.id
        s.add(IndicatorValue(indicator_id=tracked, period="2026-W40", value=2.0))
        kinds = [k.value for k in s.scalars(select(ThemeCorrection.kind).order_by(ThemeCorrection.id))]
        assert kinds == ["rename", "pin", "merge", "split", "move", "watch", "rename", "undo"]
        watched = s.get(Theme, f)
        assert watched is not None and watched.custom_name is None and watched.watched
        texts = list(s.scalars(select(Observation.text).where(Observation.id.in_(before[a][:2]))))
        added = []
        for n, text in enumerate([texts[0] + " Sama juttu taas tällä viikolla.",
                                  "Tänäänkin sama: " + texts[1],
                                  "Pysäköintialueen valot eivät toimi illalla.",
                                  "The lift in building B was out of order again."]):
            note = Observation(id=900_000 + n, text=text, source=Source.STAFF, day=DEMO_TODAY)
            s.add(note)
            added.append(note)
    assert jobs.process_all() == len(added)
    jobs.refresh_themes(DEMO_TODAY.isoformat())

    with sessions(demo_copy)() as s:
        def theme_of(note_ids: list[int]) -> set[int | None]:
            return set(s.scalars(select(Observation.theme_id).where(Observation.id.in_(note_ids))))

        pinned = s.get(Theme, a)
        assert pinned is not None and pinned.active and pinned.name == "Iltaruoan puute"
        assert theme_of(before[a]) == {a}, "the pinned, tracked theme keeps every one of its notes"
        assert s.scalar(select(func.count()).where(Observation.theme_id == a)) >= len(before[a])
        values = set(s.scalars(select(IndicatorValue.period).where(IndicatorValue.indicator_id == tracked)))
        assert "2026-W40" in values and len(values) >= 2
        assert s.scalars(select(Indicator.theme_id).where(Indicator.id == tracked)).one() == a
        assert s.scalars(select(Interpretation).where(Interpretation.theme_id == a)).all()
        assert len(theme_of(before[b] + before[c]) - {None}) == 1, "merged notes stay together"
        rest = [i for i in before[d] if i not in chosen]
        assert not theme_of(chosen) & theme_of(rest), "split notes stay apart"
        assert len(theme_of(chosen)) == 1 and split_id in {t.id for t in s.scalars(select(Theme))}
        assert theme_of([moved]) == theme_of(before[f]) and len(theme_of(before[f])) == 1
        assert not theme_of([moved]) & theme_of(before[e][1:]), "the moved note stays moved"
        assert all(t.topic_id and t.topic_name and (t.phrase or t.label)
                   for t in s.scalars(select(Theme).where(Theme.active.is_(True), Theme.size > 0)))


@pytest.mark.slow
def test_not_a_new_subject_stops_signal_alerts(demo_copy: Settings) -> None:
    """After "not a new subject", a refresh that would announce the theme again stays quiet."""
    from workers import jobs

    with db.transaction(sessions(demo_copy)) as s:
        flagged = s.scalars(select(Theme).where(Theme.signal.in_(("weak", "strong")))).all()
        assert flagged
        for t in flagged:
            s.add(ThemeCorrection(theme_id=t.id, kind=CorrectionKind.NOT_NEW, payload={}))
            t.signal = "noise"  # as if it had fallen back: the next refresh would alert again
        s.execute(delete(Alert))
        quiet = [t.id for t in flagged]
    jobs.refresh_themes(DEMO_TODAY.isoformat())
    with sessions(demo_copy)() as s:
        again = s.scalars(select(Theme).where(Theme.id.in_(quiet),
                                              Theme.signal.in_(("weak", "strong")))).all()
        assert again, "the themes still carry their signal"
        assert not s.scalars(select(Alert).where(Alert.theme_id.in_(quiet), Alert.kind == "signal")).all()


@pytest.mark.slow
def test_undo_takes_back_a_merge_and_a_split(demo_copy: Settings) -> None:
    from hiljainen import create_app, resources

    app = create_app(demo_copy)
    with app.app_context():
        s = resources.session()
        accounts.create_user(s, "peruja", "salasana-123", Role.LEADER)
        b, c, d = s.scalars(select(Theme.id).where(Theme.active.is_(True), Theme.size >= 4)
                            .order_by(Theme.size.desc()).limit(3)).all()
        s.add(Indicator(name="Seurattu", theme_id=b))
        s.commit()
        before = dict(s.execute(select(Observation.id, Observation.theme_id)).tuples().all())
    client = app.test_client()
    login(client, "peruja", "salasana-123")
    page = f"/themes/{b}"
    token = csrf_token(client, page)  # the page as a second leader still has it open
    post(client, page, f"/themes/{b}/merge", {"into": c})
    with sessions(demo_copy)() as s:
        merged = s.get(Theme, b)
        assert merged is not None and not merged.active and merged.size == 0
        assert s.scalars(select(Indicator.theme_id).where(Indicator.name == "Seurattu")).one() == c
    late = client.post(f"/themes/{b}/merge", data={"into": d, "csrf_token": token},
                       headers={"Accept-Language": "en"})
    assert late.status_code == 400 and "changed these themes meanwhile" in late.get_data(as_text=True)
    post(client, f"/themes/{b}", f"/themes/{b}/undo", {})
    chosen = [i for i, t in before.items() if t == d][:2]
    new_page = post(client, f"/themes/{d}", f"/themes/{d}/split", {"notes": public_ids(demo_copy, chosen)})
    split_id = int(new_page.rstrip("/").rsplit("/", 1)[1])
    post(client, f"/themes/{d}", f"/themes/{d}/undo", {})
    assert client.post(f"/themes/{c}/undo", data={"csrf_token": csrf_token(client, f"/themes/{c}")}
                       ).status_code == 400, "nothing was corrected on this theme"
    with sessions(demo_copy)() as s:
        after = dict(s.execute(select(Observation.id, Observation.theme_id)).tuples().all())
        assert after == before, "every note is back where it was"
        restored, gone = s.get(Theme, b), s.get(Theme, split_id)
        assert restored is not None and restored.active and restored.size == before_size(before, b)
        assert gone is not None and not gone.active
        assert s.scalars(select(Indicator.theme_id).where(Indicator.name == "Seurattu")).one() == b
        undone = s.scalars(select(ThemeCorrection).where(ThemeCorrection.kind != CorrectionKind.UNDO)).all()
        assert len(undone) == 2 and all(c.undone for c in undone)


def before_size(placement: dict[int, int | None], theme_id: int) -> int:
    return sum(1 for t in placement.values() if t == theme_id)


def _theme_with_notes(s: Any, public_ids: list[str], day: Any = None) -> Theme:
    """A theme whose notes were written in this order (ids ascending), all on one day."""
    import datetime as dt

    theme = Theme(label="lounas", size=len(public_ids))
    s.add(theme)
    s.flush()
    for pid in public_ids:
        s.add(Observation(text=f"Lounas {pid}", source=Source.STAFF, day=day or dt.date(2026, 3, 2),
                          public_id=pid, theme_id=theme.id))
    s.flush()
    return theme


def test_a_split_themes_examples_never_follow_the_writing_order(app: Any, org: Any) -> None:
    """The new theme's examples were its first three notes by internal id, the writing order: the
    page showed where an anonymous note was written between a colleague's signed ones."""
    from hiljainen import resources

    org()
    written = ["zzzzzzzzzzzz", "yyyyyyyyyyyy", "xxxxxxxxxxxx", "wwwwwwwwwwww", "aaaaaaaaaaaa"]
    with app.app_context():
        s = resources.session()
        theme_id = _theme_with_notes(s, written).id
        s.commit()
    client = app.test_client()
    login(client, "johtaja", "salasana-123")
    new_page = post(client, f"/themes/{theme_id}", f"/themes/{theme_id}/split", {"notes": written[:4]})
    page = client.get(new_page).get_data(as_text=True)
    shown = re.findall(r"<blockquote>Lounas (\w+)</blockquote>", page)
    assert shown == sorted(written[:4])[:3]  # one day: by public id, as every list orders notes


def test_two_leaders_splitting_at_once_get_two_themes(database_url: str) -> None:
    """Each split took max(id) + 1 as it read it: a theme another leader's split committed between
    that read and the insert has the same id, and the second split failed on the primary key."""
    from sqlalchemy import event

    from hiljainen.web import corrections

    sessions = db.make_sessionmaker(db.make_engine(database_url))
    with db.transaction(sessions) as s:
        first = _theme_with_notes(s, ["aaaaaaaaaaaa", "bbbbbbbbbbbb"]).id
        second = _theme_with_notes(s, ["cccccccccccc", "dddddddddddd"]).id
    taken: list[int] = []

    def other_leader_splits_first(_mapper: Any, _conn: Any, target: Theme) -> None:
        if not taken:  # the other leader's theme takes the id this split chose, committed first
            taken.append(target.id)
            with db.transaction(sessions) as other:
                other.add(Theme(id=target.id, label="toisen johtajan", custom_name="Toinen"))

    event.listen(Theme, "before_insert", other_leader_splits_first)
    try:
        with db.transaction(sessions) as s:
            notes = corrections.notes_of(s, first)
            new = corrections.split(s, s.get(Theme, first), notes[:1], "Oma", None)
            new_id = new.id
    finally:
        event.remove(Theme, "before_insert", other_leader_splits_first)
    assert taken and new_id != taken[0]
    with sessions() as s:
        assert s.get(Theme, taken[0]).custom_name == "Toinen"
        assert s.get(Theme, new_id).custom_name == "Oma"
        assert corrections.notes_of(s, new_id) == notes[:1]
        assert len(corrections.notes_of(s, second)) == 2


def test_a_refresh_gives_its_new_themes_ids_a_split_did_not_take(database_url: str) -> None:
    """The refresh numbers new themes from max(id) + 1 as read before clustering: a leader's split
    committed meanwhile took the first of them, and the refresh's commit failed."""
    import numpy as np

    from hiljainen.models import ThemeEvent, ThemeRun
    from hiljainen.pipeline import cluster, identity
    from hiljainen.pipeline.themes import ThemeRunResult
    from workers import refresh

    sessions = db.make_sessionmaker(db.make_engine(database_url))
    with db.transaction(sessions) as s:
        s.add_all([Observation(text=f"Hissi {i}", source=Source.STAFF, day=DEMO_TODAY) for i in range(3)])
        s.flush()
        ids = list(s.scalars(select(Observation.id).order_by(Observation.id)))
    # What the clustering made, numbered from 1 (no themes when the refresh read them): 1 and 2.
    centre = np.zeros(4, np.float32)
    result = ThemeRunResult(
        clustering=cluster.Clustering(
            labels=np.array([1, 1, 2]),
            themes=[identity.Theme(1, np.array([0, 1]), centre), identity.Theme(2, np.array([2]), centre)],
            events=[identity.ThemeEvent("born", 1), identity.ThemeEvent("born", 2, other_id=1)],
        ),
        names={},
        topics={1: 1, 2: 1},
    )
    with db.transaction(sessions) as s:  # meanwhile a leader's split took id 1
        s.add(Theme(id=1, label="jaettu", custom_name="Jaettu"))
    with db.transaction(sessions) as s:
        run = ThemeRun(notes=3)
        s.add(run)
        s.flush()
        refresh._store(s, run, result, ids, {}, lambda text, **kw: text % kw if kw else text)
    with sessions() as s:
        assert s.get(Theme, 1).custom_name == "Jaettu"
        placed = dict(s.execute(select(Observation.id, Observation.theme_id)).tuples().all())
        renamed = placed[ids[0]]
        assert renamed not in (1, 2) and placed == {ids[0]: renamed, ids[1]: renamed, ids[2]: 2}
        assert s.get(Theme, 2).topic_id == renamed and s.get(Theme, renamed).topic_id == renamed
        events = s.execute(select(ThemeEvent.theme_id, ThemeEvent.other_theme_id)).tuples().all()
        assert sorted(events, key=str) == sorted([(renamed, None), (2, renamed)], key=str)


def _merged_pair(database_url: str) -> tuple[Any, int, int, list[int], list[int]]:
    """Sessions on a fresh database holding two themes in use (their ids and notes)."""
    from hiljainen.web import corrections

    sessions = db.make_sessionmaker(db.make_engine(database_url))
    with db.transaction(sessions) as s:
        a = _theme_with_notes(s, ["aaaaaaaaaaaa", "bbbbbbbbbbbb"]).id
        b = _theme_with_notes(s, ["cccccccccccc", "dddddddddddd", "eeeeeeeeeeee"]).id
        notes_a, notes_b = corrections.notes_of(s, a), corrections.notes_of(s, b)
    return sessions, a, b, notes_a, notes_b


def test_two_leaders_merging_two_themes_into_each_other_end_only_one(database_url: str) -> None:
    """Each leader's page showed both themes in use and merge checked only the target as it had
    read it: A into B and B into A at once both went through, both themes ended and their notes
    dropped out of every list. The later merge is now refused and changes nothing."""
    from hiljainen.web import corrections

    sessions, a, b, notes_a, notes_b = _merged_pair(database_url)
    with sessions() as late:  # the second leader read both themes in use, before the first merge
        late_a, late_b = late.get(Theme, a), late.get(Theme, b)
        assert late_a.active and late_b.active
        with db.transaction(sessions) as first:
            corrections.merge(first, first.get(Theme, a), first.get(Theme, b), None)
        with pytest.raises(corrections.CorrectionRefused) as refused:
            corrections.merge(late, late_b, late_a, None)
        assert "changed meanwhile" in str(refused.value)
        late.commit()  # were anything left changed, it would be kept
    with sessions() as s:
        assert not s.get(Theme, a).active and s.get(Theme, b).active
        assert corrections.notes_of(s, b) == sorted(notes_a + notes_b) and s.get(Theme, b).size == 5
        assert [c.theme_id for c in s.scalars(select(ThemeCorrection))] == [a]


def test_a_theme_merged_away_is_not_merged_again_nor_revived_empty(database_url: str) -> None:
    """Merging a theme already merged into another recorded a second merge of no notes; undoing
    that made the theme active again with no notes, and its notes stayed in the other."""
    from hiljainen.web import corrections

    sessions, a, b, notes_a, notes_b = _merged_pair(database_url)
    with db.transaction(sessions) as s:
        c = _theme_with_notes(s, ["ffffffffffff"]).id
        corrections.merge(s, s.get(Theme, a), s.get(Theme, b), None)
    with db.transaction(sessions) as s:
        with pytest.raises(corrections.CorrectionRefused):
            corrections.merge(s, s.get(Theme, a), s.get(Theme, c), None)
    with db.transaction(sessions) as s:
        assert corrections.undo_last(s, s.get(Theme, a), None) is not None
    with sessions() as s:
        restored = s.get(Theme, a)
        assert restored.active and restored.size == 2 and corrections.notes_of(s, a) == notes_a
        assert corrections.notes_of(s, b) == notes_b and corrections.notes_of(s, c) != []


def test_undoing_a_merge_keeps_a_later_move_of_its_notes(database_url: str) -> None:
    """Undoing a merge put every merged note back, also those a leader had moved on to a third
    theme since: that later correction silently disappeared."""
    from hiljainen.web import corrections

    sessions, a, b, notes_a, notes_b = _merged_pair(database_url)
    with db.transaction(sessions) as s:
        c = _theme_with_notes(s, ["ffffffffffff"]).id
        notes_c = corrections.notes_of(s, c)
        corrections.merge(s, s.get(Theme, a), s.get(Theme, b), None)
    with db.transaction(sessions) as s:
        corrections.move(s, s.get(Theme, b), [notes_a[0], notes_b[0]], s.get(Theme, c), None)
    with db.transaction(sessions) as s:
        undone = corrections.undo_last(s, s.get(Theme, a), None)
        assert undone is not None and undone.kind == CorrectionKind.MERGE
    with sessions() as s:
        assert corrections.notes_of(s, a) == notes_a[1:]
        assert corrections.notes_of(s, b) == notes_b[1:]
        assert corrections.notes_of(s, c) == sorted(notes_c + [notes_a[0], notes_b[0]])
        assert [s.get(Theme, t).size for t in (a, b, c)] == [1, 2, 3]
        assert s.get(Theme, a).active


def test_undoing_a_merge_takes_back_the_pin_it_gave(database_url: str) -> None:
    """Merging a pinned theme pins the theme it joins; undoing the merge left that one pinned, so
    its notes stayed held together through every refresh though no leader had pinned it. It stays
    pinned while another pinned theme's merge into it stands, and as a leader pinned it since."""
    from hiljainen.web import corrections

    sessions, a, b, _notes_a, _notes_b = _merged_pair(database_url)
    with db.transaction(sessions) as s:
        c = _theme_with_notes(s, ["ffffffffffff"]).id
        for pinned in (a, c):
            corrections.flag(s, s.get(Theme, pinned), CorrectionKind.PIN, True, None)
        corrections.merge(s, s.get(Theme, a), s.get(Theme, b), None)
        corrections.merge(s, s.get(Theme, c), s.get(Theme, b), None)

    def undo(theme_id: int) -> bool:
        """Undo the theme's last correction; whether b is pinned then."""
        with db.transaction(sessions) as s:
            assert corrections.undo_last(s, s.get(Theme, theme_id), None) is not None
        with sessions() as s:
            return s.get(Theme, b).pinned

    assert undo(a), "c's pinned notes are still in b"
    assert not undo(c), "neither merge stands: b is as it was"
    with sessions() as s:
        assert s.get(Theme, a).pinned and s.get(Theme, c).pinned
    with db.transaction(sessions) as s:  # again, with the leader pinning b after the merge
        corrections.merge(s, s.get(Theme, a), s.get(Theme, b), None)
        corrections.flag(s, s.get(Theme, b), CorrectionKind.PIN, False, None)
        corrections.flag(s, s.get(Theme, b), CorrectionKind.PIN, True, None)
    assert undo(a), "the leader's own pin stays"


def test_examples_follow_their_notes_when_a_theme_is_split_or_notes_move(database_url: str) -> None:
    """A theme's examples stayed as they were after a split or a move: its page showed notes that
    now belonged to another theme, as examples of this one, until the next refresh."""
    from hiljainen.web import corrections

    sessions = db.make_sessionmaker(db.make_engine(database_url))
    with db.transaction(sessions) as s:
        theme = _theme_with_notes(s, ["aaaaaaaaaaaa", "bbbbbbbbbbbb", "cccccccccccc", "dddddddddddd"])
        other = _theme_with_notes(s, ["eeeeeeeeeeee"])
        notes = corrections.notes_of(s, theme.id)
        theme.representatives = notes[:3]
        new = corrections.split(s, theme, notes[:2], None, None)
        assert set(new.representatives) == set(notes[:2])
        assert len(theme.representatives) == 2 and set(theme.representatives) == set(notes[2:])
        corrections.move(s, theme, [notes[2]], other, None)
        assert theme.representatives == [notes[3]]
        corrections.undo_last(s, theme, None)  # the move
        assert sorted(theme.representatives) == notes[2:]
        corrections.merge(s, theme, other, None)
        corrections.undo_last(s, theme, None)  # the merge: its examples are back with its notes
        assert sorted(theme.representatives) == notes[2:]
        assert not set(other.representatives or []) & set(notes)


def test_undoing_a_merge_of_an_ended_theme_leaves_it_ended(database_url: str) -> None:
    """A merge recorded before merges checked their theme was in use ended a theme already
    ended; undoing it made that theme active, with no notes."""
    from hiljainen.web import corrections

    sessions, a, b, _notes_a, notes_b = _merged_pair(database_url)
    with db.transaction(sessions) as s:
        ended = _theme_with_notes(s, [])
        ended.active, ended.size = False, 0
        s.add(ThemeCorrection(theme_id=ended.id, kind=CorrectionKind.MERGE, payload={
            "into": b, "notes": notes_b, "moved": [], "indicators": [], "alerts": [],
            "before": {"active": False, "pinned": False}}))
        ended_id = ended.id
    with db.transaction(sessions) as s:
        assert corrections.undo_last(s, s.get(Theme, ended_id), None) is not None
    with sessions() as s:
        assert not s.get(Theme, ended_id).active and s.get(Theme, ended_id).size == 0
        assert corrections.notes_of(s, b) == notes_b and s.get(Theme, b).size == 3
