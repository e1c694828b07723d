"""Search precision on the team corpus: does the taught encoder put the right subject first?

For the development and the test split of bench/corpus (bench/corpus/split.json), the split's
notes (bench/corpus/eval/{dev,test}.jsonl) are stored in a fresh organisation as the forms store
them (validated, redacted, anonymous, with their writer's role) and processed by the worker's code
(workers.jobs.index_notes: language, lemmas, vectors into a real Chroma server, duplicates), once
per encoder: the untaught multilingual-e5-small (before) and the notes encoder taught on the
training subjects (after), both as `hiljainen models build` made them under models/. Every query
of bench/corpus/queries.jsonl (written by the team for this benchmark, 3 per subject, measurement
only) then goes through `SearchEngine.run_search`, the code behind the /search page, with its
floors and no filters. A result is right when its note has the query's subject:

- precision@5: right results among the first 5 (a list shorter than 5 counts the gaps as wrong),
  averaged over queries; precision@1: the first result is right; queries listing nothing;
- the same per query language (fi / en);
- each side alone, to show what the fusion adds: the vector side (the engine's semantic_hits:
  cosine of the query to every note, language direction removed, no floor, top 5) and the
  keyword side (the engine's BM25 index over lemmas, top 5).

Run: .venv/bin/python bench/search_precision.py   (writes the "Precision" section of
bench/results/search.md; about a minute on 2 cores, nothing cached: every note is embedded by
each encoder in the run)
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from benchlib import write_section  # noqa: E402
from sqlalchemy import select  # noqa: E402

from hiljainen import create_app, db, intake, resources  # noqa: E402
from hiljainen.config import BASE_MODEL_DIR, NOTES_MODEL_DIR, Settings  # noqa: E402
from hiljainen.models import Observation, Source  # noqa: E402
from hiljainen.pipeline.embed import DEFAULT_BACKEND, load_embedder  # noqa: E402
from hiljainen.runtime import Runtime  # noqa: E402
from hiljainen.search.engine import (  # noqa: E402
    SEARCH_KEEP_SIMILARITY,
    SEARCH_MIN_SIMILARITY,
    SEMANTIC_CANDIDATES,
    meaningful,
)
from hiljainen.search.query import analyse_query, clean_query  # noqa: E402
from hiljainen.search.sql import Filters  # noqa: E402
from hiljainen.services import chroma_server  # noqa: E402
from workers import jobs  # noqa: E402

CORPUS = ROOT / "bench" / "corpus"
RESULTS = ROOT / "bench" / "results" / "search.md"
SPLITS = ("test", "dev")
# The taught model as the service serves it (its int8 graph); the untaught one has only float32.
ENCODERS = (("before: untaught", BASE_MODEL_DIR, "sentence-transformers"),
            ("after: taught", NOTES_MODEL_DIR, DEFAULT_BACKEND))
K = 5


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def split_notes(split: str) -> list[dict]:
    """The split's notes with their subject and their writer's role (from notes/*.jsonl)."""
    voice = {r["text"]: r["voice"] for f in sorted((CORPUS / "notes").glob("*.jsonl")) for r in read_jsonl(f)}
    rows = read_jsonl(CORPUS / "eval" / f"{split}.jsonl")
    return [{**r, "voice": voice.get(r["text"], "staff")} for r in rows]


@dataclass
class Run:
    """Per query, the subjects of the first K results of each list."""

    split: str
    encoder: str
    model_id: str
    queries: list[dict]
    search: list[list[str]] = field(default_factory=list)
    vector: list[list[str]] = field(default_factory=list)
    keyword: list[list[str]] = field(default_factory=list)
    kept: list[int] = field(default_factory=list)  # notes of the vector side that clear the floors
    nearest: list[float] = field(default_factory=list)  # cosine of each query's nearest note
    seconds: float = 0.0


def precision(lists: list[list[str]], queries: list[dict], k: int) -> float:
    """Share of the first k places holding the query's subject (missing places are wrong)."""
    pairs = zip(lists, queries, strict=True)
    return float(np.mean([sum(s == q["label"] for s in got[:k]) / k for got, q in pairs]))


def measure(split: str, encoder: str, model: Path, backend: str, chroma_url: str, tmp: Path,
            queries: list[dict]) -> Run:
    """Store and process the split's notes under one encoder, then run every query."""
    t0 = time.perf_counter()
    embedder = load_embedder(backend, str(model))
    settings = Settings.from_env(
        {},
        data_dir=tmp / f"{split}-{model.name}",
        secret_key="bench",
        chroma_url=chroma_url,
        chroma_collection=f"precision_{split}_{model.name.replace('-', '_')}",
        embed_backend=backend,
        embed_model=str(model),
    )
    settings.data_dir.mkdir(parents=True)
    db.upgrade(settings.sqlalchemy_url)
    rt = Runtime.from_settings(settings, embedder=embedder)
    app = create_app(settings, rt)
    notes = split_notes(split)
    label_of: dict[int, str] = {}
    run = Run(split, encoder, embedder.model_id, queries)
    with app.app_context():
        with db.transaction(rt.sessions) as session:  # as the forms store a note (replay's _store)
            for r in notes:
                stored = intake.store(
                    session,
                    intake.Draft(text=r["text"], source=Source(r["voice"]), anonymous=True,
                                 wants_receipt=False),
                    rt.redactor(),
                    max_chars=settings.max_note_chars,
                )
                label_of[stored.observation.id] = r["label"]
        ids = sorted(label_of)
        for start in range(0, len(ids), settings.batch_size):  # the worker's processing, batch by batch
            with db.transaction(rt.sessions) as session:
                batch = list(session.scalars(
                    select(Observation).where(Observation.id.in_(ids[start : start + settings.batch_size]))
                ))
                jobs.index_notes(rt, batch)
        print(f"{split} / {embedder.model_id}: {len(ids)} notes stored and processed in "
              f"{time.perf_counter() - t0:.0f} s", flush=True)
        engine = rt.search()
        session = resources.session()
        for q in queries:
            text = clean_query(q["q"])
            results = engine.run_search(session, text, Filters(), 1)
            run.search.append([label_of[item.note.id] for item in results.items[:K]])
            vector = engine.query_vector(embedder, text)
            hits = engine.semantic_hits(session, rt.vectors(), vector, Filters(), SEMANTIC_CANDIDATES)
            run.vector.append([label_of[h.id] for h in hits[:K]])
            run.kept.append(len(meaningful(hits)))
            run.nearest.append(hits[0].similarity)
            kw, _terms = engine.keywords.hits(session, analyse_query(text), Filters(), K)
            run.keyword.append([label_of[h.id] for h in kw])
    run.seconds = time.perf_counter() - t0
    return run


def row(run: Run) -> str:
    """One table row: the search's figures, then each side alone."""
    qs = run.queries
    by_lang = []
    for lang in ("fi", "en"):
        rows = [i for i, q in enumerate(qs) if q["lang"] == lang]
        by_lang.append(precision([run.search[i] for i in rows], [qs[i] for i in rows], K))
    empty = sum(not got for got in run.search)
    return (f"| {run.split} ({len(qs)}) | {run.encoder} | **{precision(run.search, qs, K):.3f}** | "
            f"{precision(run.search, qs, 1):.3f} | {empty} | {by_lang[0]:.3f} / {by_lang[1]:.3f} | "
            f"{precision(run.vector, qs, K):.3f} / {precision(run.vector, qs, 1):.3f} | "
            f"{precision(run.keyword, qs, K):.3f} / {precision(run.keyword, qs, 1):.3f} |")


def confusions(run: Run) -> list[str]:
    """Queries whose first result is another subject (and which), or that list nothing."""
    out = []
    for q, got in zip(run.queries, run.search, strict=True):
        right = sum(s == q["label"] for s in got)
        if not got:
            out.append(f"\"{q['q']}\" ({q['label']}): nothing listed")
        elif got[0] != q["label"]:
            out.append(f"\"{q['q']}\" ({q['label']}): {got[0]} first, {right}/{K} right")
    return out


def main() -> None:
    queries = read_jsonl(CORPUS / "queries.jsonl")
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="hiljainen-precision-") as tmpname:
        tmp = Path(tmpname)
        with chroma_server(tmp).start(timeout=120) as server:
            for split in SPLITS:
                qs = [q for q in queries if q["split"] == split]
                for encoder, model, backend in ENCODERS:
                    runs.append(measure(split, encoder, model, backend, server.url, tmp, qs))
    langs = Counter(q["lang"] for q in queries)
    same_keywords = all(a.keyword == b.keyword for a, b in zip(runs[::2], runs[1::2], strict=True))
    kept = ", ".join(
        f"{r.split} {r.encoder.split(':')[0]} {np.mean(r.kept):.0f} (nearest note's cosine, median "
        f"{np.median(r.nearest):.3f})"
        for r in runs
    )
    after_test = next(r for r in runs if r.split == "test" and r.encoder.startswith("after"))
    paired = []
    for before, after in zip(runs[::2], runs[1::2], strict=True):
        diff = [sum(s == q["label"] for s in a[:K]) - sum(s == q["label"] for s in b[:K])
                for a, b, q in zip(after.search, before.search, before.queries, strict=True)]
        paired.append(f"{before.split} {sum(d > 0 for d in diff)} better, {sum(d < 0 for d in diff)} worse, "
                      f"{sum(d == 0 for d in diff)} the same")
    body = [
        "Command: `.venv/bin/python bench/search_precision.py` (method in its docstring). "
        f"{len(queries)} queries in bench/corpus/queries.jsonl ({langs['fi']} Finnish, "
        f"{langs['en']} English), 3 for each subject of the test and the development split, each "
        "split's queries searched among that split's notes only (46 a subject). Encoders: "
        + ", ".join(f"{r.encoder} `{r.model_id}`" for r in runs[:2])
        + f"; search floors {SEARCH_MIN_SIMILARITY} / {SEARCH_KEEP_SIMILARITY} "
        "(hiljainen/search/engine.py) for both.",
        "",
        "| split (queries) | encoder | search precision@5 | precision@1 | queries listing nothing "
        "| precision@5 fi / en | vector side alone p@5 / p@1 | keyword side alone p@5 / p@1 |",
        "|---|---|---:|---:|---:|---|---|---|",
        *(row(r) for r in runs),
        "",
        "Per query, the taught encoder's search against the untaught one's (right notes among the first "
        f"{K}): " + "; ".join(paired) + f". With {len(after_test.queries)} test queries one query moves "
        f"precision@1 by {1 / len(after_test.queries):.3f}.",
        "",
        "Only the test rows stand for a deployment's own subjects: no encoder saw them and nothing is "
        "tuned on their queries. The taught encoder learnt from the development subjects' notes (the "
        "shipped recipe trains on the training, development and extra subjects), so its development rows "
        "search notes it was taught. The keyword side "
        + ("gives the same lists under both encoders" if same_keywords
           else "differs between the encoders only through the notes each run linked as duplicates")
        + ". The floors were set for the taught encoder; of the vector side's "
        f"{SEMANTIC_CANDIDATES} nearest notes the search keeps on average: {kept}.",
        "",
        "Queries whose first result is another subject or that list nothing (after, test split): "
        + ("; ".join(confusions(after_test)) or "none") + ".",
        "",
        f"Run time {sum(r.seconds for r in runs):.0f} s ({os.cpu_count()} CPU cores shared with other "
        "work); nothing is cached, every note is embedded by each encoder in the run.",
    ]
    write_section(RESULTS, "Precision", "\n".join(["## Precision on team-written queries", "", *body]),
                  "# Search benchmarks")
    print("\n".join(body))
    for r in runs:
        print(f"\n{r.split} / {r.encoder}:")
        for line in confusions(r):
            print("  " + line)


if __name__ == "__main__":
    main()
