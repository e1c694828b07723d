"""Dashboard render time at 100,000 notes (issue 9), next to baselines from the same run.

The page reads snapshots the workers precomputed, so its cost should not grow with the notes.
For 100,000 and 1,000 notes (12 weeks, 4 units, ~40 themes with weekly periods) this script:
  1. times the worker's precompute once: workers.refresh.indicators(session, today, 3);
  2. as a logged-in leader (Flask test client, no HTTP server), times GET /dashboard/ for
     scope=all and scope=unit:<slug>, and the CSV /dashboard/data/notes_by_source.csv;
  3. times the baselines with the same client: GET /healthz?quick=1 and GET /login.
Requests are interleaved round by round (5 warm-up rounds, 50 timed), so machine load hits all
endpoints alike. SQLite in a temporary folder; no Redis or Chroma (the dashboard GET needs neither).

Run: .venv/bin/python bench/dashboard_render.py   (writes bench/results/dashboard.md)
"""

from __future__ import annotations

import datetime as dt
import os
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert  # noqa: E402

from hiljainen import accounts, create_app, db  # noqa: E402
from hiljainen.config import Settings  # noqa: E402
from hiljainen.models import (  # noqa: E402
    Observation,
    Response,
    Role,
    Source,
    Status,
    Theme,
    ThemePeriod,
    Touchpoint,
    Unit,
    User,
)
from hiljainen.pipeline.indicators import week_of  # noqa: E402
from workers.refresh import indicators  # noqa: E402

TODAY = dt.date(2026, 11, 24)
WEEKS = 12
UNITS = 4
THEMES = 40
STAFF = 240
WARMUP, ROUNDS = 5, 50
SIZES = (100_000, 1_000)
OUT = ROOT / "bench" / "results" / "dashboard.md"
PASSWORD = "salasana-123"

SOURCES = [Source.STAFF, Source.CUSTOMER, Source.RELATIVE, Source.PARTNER]
SOURCE_W = [0.55, 0.30, 0.10, 0.05]
STATUSES = [Status.NEW, Status.SEEN, Status.IN_PROGRESS, Status.DONE]
STATUS_W = [0.35, 0.25, 0.15, 0.25]
TONES = ["negative", "neutral", "positive"]
WORDS = ("odotusaika aula pysäköinti lääke ruoka hoitaja yövuoro siivous tiedotus ajanvaraus "
         "kipu kuljetus hissi melu lämpötila opastus kiire kiitos asiakaspalvelu tulkki").split()


def build(url: str, n_notes: int, seed: int = 9) -> None:
    """A migrated database with units, staff, themes with weekly periods, notes and responses."""
    rng = random.Random(seed)
    db.upgrade(url)
    factory = db.make_sessionmaker(db.make_engine(url))
    start = TODAY - dt.timedelta(days=TODAY.weekday()) - dt.timedelta(weeks=WEEKS - 1)
    with db.transaction(factory) as s:
        units = [Unit(slug=f"yksikko-{i}", name_fi=f"Yksikkö {i}", name_en=f"Unit {i}") for i in range(UNITS)]
        s.add_all(units)
        s.flush()
        tps = [
            Touchpoint(slug=f"piste-{u.id}-{j}", unit_id=u.id, name_fi=f"Piste {u.id}.{j}",
                       name_en=f"Point {u.id}.{j}")
            for u in units for j in range(2)
        ]
        s.add_all(tps)
        accounts.create_user(s, "johtaja", PASSWORD, Role.LEADER)
        s.execute(insert(User), [
            {"username": f"hoitaja{i}", "display_name": f"Hoitaja {i}", "password_hash": "x",
             "role": Role.STAFF, "unit_id": units[i % UNITS].id, "active": True}
            for i in range(STAFF)
        ])
        s.flush()
        staff_ids = [u.id for u in s.query(User).filter(User.role == Role.STAFF)]
        tp_by_unit = {u.id: [t.id for t in tps if t.unit_id == u.id] for u in units}
        themes = []
        for _i in range(THEMES):
            words = rng.sample(WORDS, 3)
            themes.append(Theme(
                label=" / ".join(words), keywords=words, representatives=[], centroid=[], active=True,
                size=0, signal=rng.choice(["weak", "strong", "latent", "well-known", "noise"]),
                emergence=round(rng.uniform(-1, 2), 4), confidence=rng.choice(["low", "medium", "high"]),
                first_seen=start, last_seen=TODAY,
            ))
        s.add_all(themes)
        s.flush()
        theme_ids = [t.id for t in themes]
        theme_w = [1 / (k + 1) for k in range(THEMES)]  # a few big themes, a long tail

        rows, responses = [], []
        counts: dict[tuple[int, str], int] = {}
        span = (TODAY - start).days + 1
        for _k in range(n_notes):
            day = start + dt.timedelta(days=rng.randrange(span))
            source = rng.choices(SOURCES, SOURCE_W)[0]
            unit_id = units[rng.randrange(UNITS)].id
            signed = source == Source.STAFF and rng.random() < 0.6
            status = rng.choices(STATUSES, STATUS_W)[0]
            created = dt.datetime.combine(day, dt.time(8 + rng.randrange(10), rng.randrange(60)), dt.UTC)
            theme_id = rng.choices(theme_ids, theme_w)[0] if rng.random() < 0.7 else None
            if theme_id:
                key = (theme_id, week_of(day))
                counts[key] = counts.get(key, 0) + 1
            rows.append({
                "text": " ".join(rng.choices(WORDS, k=12)),
                "source": source, "unit_id": unit_id,
                "touchpoint_id": rng.choice(tp_by_unit[unit_id]) if rng.random() < 0.5 else None,
                "author_id": rng.choice(staff_ids) if signed else None, "anonymous": not signed,
                "day": day, "created_at": created, "tags": [], "redactions": {}, "status": status,
                "acknowledged_at": (created + dt.timedelta(hours=rng.randrange(1, 72))
                                    if status != Status.NEW else None),
                "lang": "fi", "lemmas": [], "keywords": [], "tone": rng.choice(TONES),
                "tone_confidence": 0.8, "processed_at": created, "vector_model": "bench",
                "theme_id": theme_id,
            })
        for lo in range(0, n_notes, 10_000):
            s.execute(insert(Observation), rows[lo:lo + 10_000])
        obs = s.query(Observation.id, Observation.status, Observation.created_at).all()
        for oid, status, created in obs:
            if status in (Status.IN_PROGRESS, Status.DONE) or rng.random() < 0.1:
                responses.append({"observation_id": oid, "author_id": None, "kind": "answer",
                                  "body": "Kiitos.",
                                  "created_at": created + dt.timedelta(days=rng.randrange(1, 10))})
            if status == Status.DONE and rng.random() < 0.5:
                responses.append({"observation_id": oid, "author_id": None, "kind": "action",
                                  "body": "Korjattu.",
                                  "created_at": created + dt.timedelta(days=rng.randrange(2, 15))})
        for lo in range(0, len(responses), 10_000):
            s.execute(insert(Response), responses[lo:lo + 10_000])
        periods = []
        per_week = max(1, n_notes // WEEKS)
        for (tid, period), count in counts.items():
            year, week = period.split("-W")
            periods.append({
                "theme_id": tid, "period": period, "start": dt.date.fromisocalendar(int(year), int(week), 1),
                "count": count, "measures": {"total": per_week, "visibility": round(count / per_week, 4),
                                             "reporters": count, "burst": False},
            })
        s.execute(insert(ThemePeriod), periods)
        sizes: dict[int, int] = {}
        for (tid, _p), c in counts.items():
            sizes[tid] = sizes.get(tid, 0) + c
        for t in themes:
            t.size = sizes.get(t.id, 0)


def precompute(url: str) -> float:
    """Seconds for one run of the worker's indicators job (including its commit)."""
    factory = db.make_sessionmaker(db.make_engine(url))
    t0 = time.perf_counter()
    with db.transaction(factory) as s:
        indicators(s, TODAY, 3)
    return time.perf_counter() - t0


def measure(url: str, tmp: Path) -> dict[str, list[float]]:
    settings = Settings.from_env({}, data_dir=tmp / "data", secret_key="bench", database_url=url,
                                 redis_url="", chroma_url="")
    app = create_app(settings)
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    resp = client.post("/login", data={"username": "johtaja", "password": PASSWORD, "csrf_token": token})
    assert resp.status_code == 302, resp.status_code
    paths = {
        "GET /dashboard/ (scope=all)": "/dashboard/?scope=all",
        "GET /dashboard/ (scope=unit:yksikko-1)": "/dashboard/?scope=unit:yksikko-1",
        "GET /dashboard/data/notes_by_source.csv": "/dashboard/data/notes_by_source.csv",
        "baseline: GET /healthz?quick=1": "/healthz?quick=1",
        "baseline: GET /login": "/login",
    }
    first = client.get(paths["GET /dashboard/ (scope=all)"])
    assert first.status_code == 200 and "theme" in first.get_data(as_text=True).lower()
    samples: dict[str, list[float]] = {name: [] for name in paths}
    for r in range(WARMUP + ROUNDS):
        for name, path in paths.items():
            t0 = time.perf_counter()
            resp = client.get(path)
            body = resp.get_data()
            ms = (time.perf_counter() - t0) * 1000
            assert resp.status_code == 200 and body, (path, resp.status_code)
            if r >= WARMUP:
                samples[name].append(ms)
    samples["_page_kb"] = [len(first.get_data()) / 1024]
    return samples


def pct(xs: list[float]) -> tuple[float, float]:
    q = statistics.quantiles(xs, n=100, method="inclusive")
    return statistics.median(xs), q[94]


def main() -> None:
    load_start = os.getloadavg()
    results: dict[int, tuple[float, float, dict[str, list[float]]]] = {}
    for n in SIZES:
        with tempfile.TemporaryDirectory(prefix="hiljainen-dash-") as d:
            tmp = Path(d)
            url = f"sqlite:///{tmp / 'bench.db'}"
            t0 = time.perf_counter()
            build(url, n)
            built = time.perf_counter() - t0
            worker = precompute(url)
            print(f"{n} notes: built in {built:.1f} s, indicators() {worker:.2f} s", flush=True)
            samples = measure(url, tmp)
            results[n] = (built, worker, samples)
            for name, xs in samples.items():
                if not name.startswith("_"):
                    p50, p95 = pct(xs)
                    print(f"  {name}: p50 {p50:.1f} ms, p95 {p95:.1f} ms", flush=True)
    load_end = os.getloadavg()
    write(results, load_start, load_end)


def write(results: dict, load_start: tuple, load_end: tuple) -> None:
    big, small = SIZES
    names = [k for k in results[big][2] if not k.startswith("_")]
    lines = [
        "## Dashboard render at 100,000 notes (issue 9)",
        "",
        "Command: `.venv/bin/python bench/dashboard_render.py`. SQLite in a temporary folder, Flask test",
        f"client logged in as a leader (no HTTP server), {WARMUP} warm-up and {ROUNDS} timed requests per",
        "endpoint, interleaved round by round so load hits all rows alike. Data: 4 units, 8 touchpoints,",
        f"{THEMES} themes with weekly periods, notes spread over {WEEKS} weeks (4 sources, signed and",
        "anonymous authors, all statuses, answers and actions). Machine: 2 CPU cores shared with other",
        f"work; load average (1/5/15 min) {load_start[0]:.1f}/{load_start[1]:.1f}/"
        f"{load_start[2]:.1f} at the start,"
        f" {load_end[0]:.1f}/{load_end[1]:.1f}/{load_end[2]:.1f} at the end.",
        "",
        f"| Request | p50 ms at {big:,} notes | p95 ms at {big:,} | p50 ms at {small:,} notes "
        f"| p95 ms at {small:,} |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in names:
        a50, a95 = pct(results[big][2][name])
        b50, b95 = pct(results[small][2][name])
        lines.append(f"| {name} | {a50:.1f} | {a95:.1f} | {b50:.1f} | {b95:.1f} |")
    wb, ws = results[big][1], results[small][1]
    lines.append(f"| worker precompute `indicators(session, today, 3)`, once | {wb * 1000:,.0f} | – "
                 f"| {ws * 1000:,.0f} | – |")
    d50, d95 = pct(results[big][2][names[0]])
    u50, u95 = pct(results[big][2][names[1]])
    s50, _ = pct(results[small][2][names[0]])
    l50, _ = pct(results[big][2]["baseline: GET /login"])
    h50, _ = pct(results[big][2]["baseline: GET /healthz?quick=1"])
    kb = results[big][2]["_page_kb"][0]
    kb_small = results[small][2]["_page_kb"][0]
    verdict = "under" if max(d95, u95) < 300 else "not under"
    lines += [
        "",
        f"Reading: at {big:,} notes the dashboard renders in {d50:.0f} ms at the median for the whole"
        f" organisation and {u50:.0f} ms for one unit (p95 {d95:.0f} and {u95:.0f} ms), {verdict} the 300 ms"
        f" the issue asks for, on a loaded 2-core machine. The same run's baselines are {h50:.1f} ms for"
        f" the quick health check (the app's fixed request overhead) and {l50:.1f} ms for the login page (a"
        f" small template); the dashboard's extra time is rendering its {kb:.0f} kB page"
        f" ({kb_small:.0f} kB at"
        f" {small:,} notes) and a few small queries (one snapshot row by key, 15 themes, 8 alerts,"
        f" indicators, scope choices), none of which reads the notes table. At {small:,} notes the same page"
        f" takes {s50:.0f} ms at the median; the two sizes differ by a few milliseconds, in either"
        f" direction from run to run on this loaded machine, so the render does not grow with the notes. The"
        f" cost that does grow with the notes is the"
        f" worker's: it read and aggregated {big:,} notes into every scope's snapshot in {wb:.1f} s"
        f" ({ws:.2f} s at {small:,}), off the request path.",
        "",
    ]
    OUT.write_text("\n".join(lines), encoding="utf-8")
    print(f"wrote {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
