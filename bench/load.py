"""Load (issue "Faults, load and hostile input"): the capture API at a steady rate while a worker runs.

Usage: .venv/bin/python bench/load.py [--rate 50] [--seconds 60] [--postgres ADMIN_URL] [--no-write]

Everything runs on loopback, as `hiljainen serve` runs it: a Redis-compatible server, a Chroma
server, one worker (`python -m workers`) and the web app under waitress (`hiljainen web`), each a
child process, on a fresh SQLite file in a temporary folder (or, with --postgres, a fresh
PostgreSQL database created through that admin URL and dropped afterwards). A staff API token is
issued directly in the database. A SEPARATE load-generator process (this file, `_generate`) sends
requests open loop: request i is due at start + i/rate whatever happened to earlier ones, and its
latency is counted from that due time, so a stalled server cannot hide its queue
(no coordinated omission). Phases, back to back so the machine's load is similar:

1. warm-up: a few notes, sent one by one, until the worker has processed them (loads spaCy in
   the web process and the models in the worker); not measured;
2. baseline: GET /healthz?quick=1 (the whole HTTP + Flask stack, no work) at the same rate;
3. capture: POST /api/v1/observations (JSON, bearer token) at the rate, texts about 4/5
   Finnish (XED subtitles) and 1/5 English (banking77) from ../shared/data; beside it,
   GET /healthz?quick=1 at a tenth of the rate, the same server's floor under the same load;
4. drain: until every stored note has `processed_at` set (bounded by --drain-timeout);
5. baseline again, to show how much the machine drifted.

The public form /t/<slug> is not loaded: it needs a CSRF round trip per note and allows
HILJAINEN_PUBLIC_RATE_LIMIT notes per address per hour, so from one loopback address it would
measure the limiter. Writes the section of bench/results/load.md for the database used.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchlib import cpu_model, write_section

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "bench" / "results" / "load.md"
TIMEOUT = 30.0  # seconds a client waits for an answer before counting a timeout
WARMUP_NOTES = 8
TITLE = "## Load: capture under a steady rate"


# --- the load generator (a separate process) ----------------------------------------------------


def generate(spec: dict[str, Any]) -> dict[str, Any]:
    """Send every stream of `spec` open loop; return one record per request."""
    base = urllib.parse.urlsplit(spec["base"])
    seconds = spec["seconds"]
    records: list[dict[str, Any]] = []
    lock = threading.Lock()
    pool = ThreadPoolExecutor(max_workers=256)
    start = time.monotonic() + 0.5

    def send(stream: dict[str, Any], i: int, due: float) -> None:
        sent = time.monotonic()
        rec: dict[str, Any] = {"stream": stream["name"], "due": due - start, "lag": sent - due}
        body = None
        headers = dict(stream.get("headers", {}))
        if stream.get("bodies"):
            body = json.dumps(stream["bodies"][i % len(stream["bodies"])]).encode()
            headers["Content-Type"] = "application/json"
        conn = http.client.HTTPConnection(base.hostname, base.port, timeout=TIMEOUT)
        try:
            conn.request(stream["method"], stream["path"], body=body, headers=headers)
            resp = conn.getresponse()
            payload = resp.read()
            rec["status"] = resp.status
            if resp.status == 201:
                rec["queued"] = bool(json.loads(payload).get("queued"))
        except TimeoutError:
            rec["status"] = "timeout"
        except OSError as exc:
            rec["status"] = type(exc).__name__
        finally:
            conn.close()
        done = time.monotonic()
        rec["latency"] = done - due  # open loop: from when the request was due
        rec["service"] = done - sent
        with lock:
            records.append(rec)

    def schedule(stream: dict[str, Any]) -> None:
        n = int(stream["rate"] * seconds)
        for i in range(n):
            due = start + i / stream["rate"]
            pause = due - time.monotonic()
            if pause > 0:
                time.sleep(pause)
            pool.submit(send, stream, i, due)

    threads = [threading.Thread(target=schedule, args=(s,)) for s in spec["streams"]]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    pool.shutdown(wait=True)
    return {"start": start, "end": start + seconds, "records": records}


def run_generator(spec: dict[str, Any], tmp: Path) -> dict[str, Any]:
    """Run the generator in its own process (its threads must not share our GIL)."""
    spec_path, out_path = tmp / "spec.json", tmp / "out.json"
    spec_path.write_text(json.dumps(spec), encoding="utf-8")
    subprocess.run(
        [sys.executable, __file__, "_generate", str(spec_path), str(out_path)],
        check=True,
        timeout=spec["seconds"] + TIMEOUT + 120,
    )
    return json.loads(out_path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


# --- the orchestrator ---------------------------------------------------------------------------


def read_texts(name: str) -> list[str]:
    with open(DATA / name, encoding="utf-8") as fh:
        return [json.loads(line)["text"] for line in fh if line.strip()]


def note_bodies(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """n API bodies: 4/5 Finnish, 1/5 English, sources and units mixed, shuffled."""
    rng = random.Random(seed)
    fi = n * 4 // 5
    texts = rng.sample(read_texts("xed_fi_train.jsonl"), fi)
    texts += rng.sample(read_texts("banking77_train.jsonl"), n - fi)
    rng.shuffle(texts)
    sources = ["staff", "staff", "customer", "relative", "partner"]
    return [
        {"text": t, "source": rng.choice(sources), "unit": rng.choice(["osasto-1", "osasto-2", None])}
        for t in texts
    ]


def prepare_database(url: str) -> str:
    """Migrate, add two units and issue a staff API token; returns the token."""
    from hiljainen import db, tokens
    from hiljainen.models import Role, Unit

    db.upgrade(url)
    engine = db.make_engine(url)
    with db.transaction(db.make_sessionmaker(engine)) as s:
        s.add_all([Unit(slug=f"osasto-{i}", name_fi=f"Osasto {i}", name_en=f"Ward {i}") for i in (1, 2)])
        _token, plaintext = tokens.issue(s, "load benchmark", Role.STAFF)
    engine.dispose()
    return plaintext


class Sampler:
    """Counts stored and processed notes every 0.5 s, from when a phase starts until stopped."""

    def __init__(self, url: str) -> None:
        from hiljainen import db

        self.engine = db.make_engine(url)
        self.samples: list[tuple[float, int, int]] = []  # (monotonic, notes, processed)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def counts(self) -> tuple[int, int]:
        from sqlalchemy import func, select

        from hiljainen.models import Observation

        with self.engine.connect() as conn:
            row = conn.execute(select(func.count(), func.count(Observation.processed_at))).one()
        return int(row[0]), int(row[1])

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            notes, done = self.counts()
            self.samples.append((time.monotonic(), notes, done))

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.engine.dispose()


def cpu_seconds(child: Any) -> float:
    """User + system CPU time a child process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{child.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def worker_ready(redis_url: str):  # type: ignore[no-untyped-def]
    def ready() -> bool:
        import redis
        from rq import Worker

        try:
            return bool(Worker.all(connection=redis.Redis.from_url(redis_url)))
        except redis.RedisError:
            return False

    return ready


def warm_up(base: str, token: str, bodies: list[dict[str, Any]], sampler: Sampler) -> None:
    """Send a few notes one at a time and wait until the worker has processed them."""
    spec = urllib.parse.urlsplit(base)
    for body in bodies:
        conn = http.client.HTTPConnection(spec.hostname, spec.port, timeout=180)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        conn.request("POST", "/api/v1/observations", body=json.dumps(body).encode(), headers=headers)
        resp = conn.getresponse()
        if resp.status != 201:
            raise SystemExit(f"warm-up note refused: {resp.status} {resp.read()[:200]!r}")
        resp.read()
        conn.close()
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        notes, done = sampler.counts()
        if notes == done == len(bodies):
            return
        time.sleep(0.5)
    raise SystemExit("warm-up notes were not processed in 300 s; see worker.log")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=50.0, help="requests per second (default 50)")
    ap.add_argument("--seconds", type=float, default=60.0, help="length of each loaded phase (default 60)")
    ap.add_argument("--drain-timeout", type=float, default=1800.0, help="give up draining after this")
    ap.add_argument("--postgres", metavar="ADMIN_URL", help="use a fresh PostgreSQL database instead")
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    load_before = os.getloadavg()
    n_notes = int(args.rate * args.seconds)
    bodies = note_bodies(n_notes + WARMUP_NOTES)
    warm, bodies = bodies[:WARMUP_NOTES], bodies[WARMUP_NOTES:]
    sys.path.insert(0, str(ROOT))
    from hiljainen.services import chroma_server, free_port, redis_server, web_server, worker_process

    with (
        tempfile.TemporaryDirectory(prefix="hiljainen-load-") as tmpname,
        database(args, Path(tmpname)) as url,
    ):
        tmp = Path(tmpname)
        token = prepare_database(url)
        with redis_server(tmp).start() as redis_srv, chroma_server(tmp).start(timeout=120) as chroma_srv:
            env = {
                "HILJAINEN_DATA_DIR": str(tmp),
                "HILJAINEN_DATABASE_URL": url,
                "HILJAINEN_REDIS_URL": redis_srv.url,
                "HILJAINEN_CHROMA_URL": chroma_srv.url,
                # One token sends 50 requests a second: the benchmark measures capacity, not the limit.
                "HILJAINEN_API_RATE_LIMIT": "0",
            }
            worker = worker_process(env, tmp / "worker.log", worker_ready(redis_srv.url))
            web = web_server("127.0.0.1", free_port(), env, tmp / "web.log")
            with worker.start(timeout=600), web.start(timeout=120):
                sampler = Sampler(url)
                warm_up(web.url, token, warm, sampler)
                print("warm-up done", flush=True)
                result = phases(args, web.url, token, bodies, tmp, sampler, {"web": web, "worker": worker})
            logs = {name: (tmp / f"{name}.log").read_text(errors="replace") for name in ("web", "worker")}
    load_after = os.getloadavg()
    body = report(args, url.split(":", 1)[0].split("+")[0], result, logs, load_before, load_after)
    print(body)
    if not args.no_write:
        write_section(RESULTS, f"load:{'postgresql' if args.postgres else 'sqlite'}", body, TITLE)
        print(f"wrote {RESULTS.relative_to(ROOT)}")


def phases(args, base, token, bodies, tmp, sampler, children) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    worker = children["worker"]
    health = {"name": "healthz", "method": "GET", "path": "/healthz?quick=1"}
    common = {"base": base, "seconds": args.seconds}
    out: dict[str, Any] = {}
    out["baseline1"] = run_generator({**common, "streams": [{**health, "rate": args.rate}]}, tmp)
    print("baseline 1 done", flush=True)
    capture = {
        "name": "capture",
        "method": "POST",
        "path": "/api/v1/observations",
        "rate": args.rate,
        "headers": {"Authorization": f"Bearer {token}"},
        "bodies": bodies,
    }
    probe = {**health, "name": "probe", "rate": args.rate / 10}
    sampler.start()
    t_phase = time.monotonic()
    cpu0 = {name: cpu_seconds(child) for name, child in children.items()}
    out["capture"] = run_generator({**common, "streams": [capture, probe]}, tmp)
    out["cpu"] = {name: cpu_seconds(child) - cpu0[name] for name, child in children.items()}
    print("capture done; draining", flush=True)
    notes0 = WARMUP_NOTES
    deadline = time.monotonic() + args.drain_timeout
    drained_at = None
    while time.monotonic() < deadline and worker.state == "running":
        notes, done = sampler.counts()
        if done == notes:
            drained_at = time.monotonic()
            break
        time.sleep(0.5)
    sampler.stop()
    out["drained_at"] = drained_at
    out["worker_state"] = worker.state
    out["phase_start"] = t_phase
    out["samples"] = sampler.samples
    out["final_counts"] = sampler.counts() if drained_at is None else (notes, done)
    out["warmup_notes"] = notes0
    print(f"drained: {drained_at is not None}", flush=True)
    out["baseline2"] = run_generator({**common, "streams": [{**health, "rate": args.rate}]}, tmp)
    return out


@contextmanager
def database(args: argparse.Namespace, tmp: Path) -> Iterator[str]:
    """SQLite in the temporary folder, or a fresh PostgreSQL database dropped on exit."""
    if not args.postgres:
        yield f"sqlite:///{tmp / 'hiljainen.db'}"
        return
    import psycopg

    name = f"hiljainen_load_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(args.postgres, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{args.postgres.rsplit('/', 1)[0].replace('postgresql://', 'postgresql+psycopg://')}/{name}"
    finally:
        with psycopg.connect(args.postgres, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- the report ---------------------------------------------------------------------------------


def pct(xs: list[float], p: float) -> float:
    """Nearest-rank percentile (p in 0..100) of a non-empty list."""
    s = sorted(xs)
    return s[min(len(s) - 1, max(0, int(-(-p * len(s) // 100)) - 1))]


def stats(records: list[dict[str, Any]], stream: str, ok: int) -> dict[str, Any]:
    recs = [r for r in records if r["stream"] == stream]
    lat = [r["latency"] * 1000 for r in recs]
    errors: dict[str, int] = {}
    for r in recs:
        if r["status"] != ok:
            errors[str(r["status"])] = errors.get(str(r["status"]), 0) + 1
    return {
        "n": len(recs),
        "p50": pct(lat, 50),
        "p95": pct(lat, 95),
        "p99": pct(lat, 99),
        "max": max(lat),
        "lag_p99": pct([r["lag"] * 1000 for r in recs], 99),
        "errors": errors,
        "not_queued": sum(1 for r in recs if r.get("queued") is False),
    }




def report(args, dbname, res, logs, lb, la) -> str:  # type: ignore[no-untyped-def]
    b1 = stats(res["baseline1"]["records"], "healthz", 200)
    cpu, cores = res["cpu"], os.cpu_count() or 1
    b2 = stats(res["baseline2"]["records"], "healthz", 200)
    cap = stats(res["capture"]["records"], "capture", 201)
    probe = stats(res["capture"]["records"], "probe", 200)
    base_p50, base_p99 = (b1["p50"] + b2["p50"]) / 2, (b1["p99"] + b2["p99"]) / 2
    end = res["capture"]["end"]
    stored = cap["n"] - sum(cap["errors"].values())
    warm = res["warmup_notes"]
    at_end = [s for s in res["samples"] if s[0] <= end]
    processed_by_end = (at_end[-1][2] - warm) if at_end else 0
    backlog_max = max((n - d for _, n, d in res["samples"]), default=0)
    if res["drained_at"] is not None:
        drain = res["drained_at"] - end
        drain_txt = f"**{drain:.1f} s** after the last note was due"
        total = res["drained_at"] - res["capture"]["start"]
        rate_txt = (
            f"the worker processed {processed_by_end / args.seconds:.1f} notes/s while notes came in, "
            f"{(stored - processed_by_end) / max(drain, 1e-9):.1f} notes/s while draining, "
            f"{stored / total:.1f} notes/s overall"
        )
    else:
        notes, done = res["final_counts"]
        drain_txt = f"**not drained**: {notes - done} notes still waiting after {args.drain_timeout:.0f} s"
        drain_txt += f" (worker {res['worker_state']})"
        rate_txt = "n/a"

    def row(label: str, s: dict[str, Any]) -> str:
        errs = ", ".join(f"{k}: {v}" for k, v in sorted(s["errors"].items())) or "0"
        return (
            f"| {label} | {s['n']} | {s['p50']:.1f} | {s['p95']:.1f} | {s['p99']:.1f} | {s['max']:.1f} "
            f"| {errs} |"
        )

    problems = {
        name: {k: text.count(k) for k in ("Traceback", "database is locked", "OperationalError")}
        for name, text in logs.items()
    }
    log_txt = "; ".join(
        f"{name}.log: " + (", ".join(f"{k} ×{v}" for k, v in found.items() if v) or "none")
        for name, found in problems.items()
    )
    cmd = f"--rate {args.rate:g} --seconds {args.seconds:g}"
    cmd += " --postgres ADMIN_URL" if args.postgres else ""
    title = "PostgreSQL" if args.postgres else "SQLite"
    return f"""### {title}

Command: `.venv/bin/python bench/load.py {cmd}` ({time.strftime('%Y-%m-%d')}).
Machine: {cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}; load average
(1/5/15 min) {lb[0]:.1f} / {lb[1]:.1f} / {lb[2]:.1f} before and {la[0]:.1f} / {la[1]:.1f} / {la[2]:.1f} after.
Database: {dbname}. Open loop at {args.rate:g} requests/s for {args.seconds:g} s per phase; latency
from the moment each request was due to its last response byte, new connection per request,
client timeout {TIMEOUT:.0f} s.

| phase / endpoint | requests | p50 ms | p95 ms | p99 ms | max ms | errors |
|---|---:|---:|---:|---:|---:|---|
{row('baseline 1: GET /healthz?quick=1', b1)}
{row('**capture: POST /api/v1/observations**', cap)}
{row('probe during capture: GET /healthz?quick=1', probe)}
{row('baseline 2 (after the drain): GET /healthz?quick=1', b2)}

- Capture vs baseline (mean of the two baseline runs): **p50 × {cap['p50'] / base_p50:.1f}**,
  **p99 × {cap['p99'] / base_p99:.1f}**; vs the probe under the same load: p50 ×
  {cap['p50'] / probe['p50']:.1f}, p99 × {cap['p99'] / probe['p99']:.1f}.
- Errors: {sum(cap['errors'].values())} of {cap['n']} submissions (goal: none);
  answered 201 but not queued (Redis refused): {cap['not_queued']}.
- Generator lag (request sent later than due), p99: {cap['lag_p99']:.1f} ms, so the client kept the rate.
- CPU used in the capture phase: web process {cpu['web']:.1f} s ({1000 * cpu['web'] / cap['n']:.1f} ms per
  submission, probes included), worker {cpu['worker']:.1f} s, of {cores * args.seconds:g} core-seconds.
- Queue: {stored} notes stored; {processed_by_end} processed by the time the last was due; backlog
  at most {backlog_max} notes; drained {drain_txt}; {rate_txt}.
- Logs: {log_txt}.
"""


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "_generate":
        result = generate(json.loads(Path(sys.argv[2]).read_text(encoding="utf-8")))
        Path(sys.argv[3]).write_text(json.dumps(result), encoding="utf-8")
    else:
        main()
