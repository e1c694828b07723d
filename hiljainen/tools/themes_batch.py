"""`hiljainen cluster`: themes and weak signals for a JSON-lines file, with the workers' code.

`cluster_file` embeds, detects languages and lemmatises the file's notes exactly as the worker
does, then calls the same composition of stages (hiljainen.pipeline.themes.compute_themes).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hiljainen.errors import InvalidInput
from hiljainen.pipeline.constraints import Constraints
from hiljainen.pipeline.grouping import UNASSIGNED
from hiljainen.pipeline.signals import (
    NoteFact,
)
from hiljainen.pipeline.themes import ThemeRunResult, compute_themes

if TYPE_CHECKING:
    from hiljainen.pipeline.embed import Embedder


def cluster_file(
    input_path: str | Path,
    out_path: str | Path,
    themes_out: str | Path | None = None,
    embedder: Embedder | None = None,
    constraints_path: str | Path | None = None,
) -> dict[str, Any]:
    """Theme every note of a JSON-lines file; write one {"theme", "label"} line per input line.

    `constraints_path` names a JSON file {"must_link": [[i, j], ...], "cannot_link": [...]} of
    0-based note numbers: the corrections a leader would make, honoured by the grouping."""
    from hiljainen.pipeline.language import detect
    from hiljainen.pipeline.linguistics import analyze

    started = time.monotonic()
    rows = read_notes(input_path)
    texts = [r["text"] for r in rows]
    constraints = read_constraints(constraints_path, len(rows)) if constraints_path else None
    if embedder is None:
        from hiljainen.config import Settings
        from hiljainen.pipeline.embed import load_embedder

        settings = Settings.from_env()
        embedder = load_embedder(settings.embed_backend, settings.embed_model)
    vectors = embedder.embed(texts, kind="passage") if texts else np.zeros((0, 384), np.float32)
    langs = [detect(t).code for t in texts]
    keywords = [a.keywords for a in analyze(texts, langs)]
    facts = note_facts(rows)
    result = compute_themes(vectors, keywords, facts=facts, langs=langs, constraints=constraints, texts=texts)
    clustering = result.clustering
    with open(out_path, "w", encoding="utf-8") as fh:
        for theme_id in clustering.labels.tolist():
            label = result.display_name(theme_id) if theme_id != UNASSIGNED else ""
            fh.write(json.dumps({"theme": int(theme_id), "label": label}, ensure_ascii=False))
            fh.write("\n")
    if themes_out is not None:
        doc = themes_document(result, texts, getattr(embedder, "model_id", ""))
        Path(themes_out).write_text(
            json.dumps(doc, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
        )
    return {
        "notes": len(rows),
        "themes": sum(1 for t in clustering.themes if t.size),
        "unassigned": int((clustering.labels == UNASSIGNED).sum()),
        "unassigned_share": round(clustering.unassigned_share, 4),
        "signals": bool(result.signals),
        "seconds": round(time.monotonic() - started, 2),
    }


def read_constraints(path: str | Path, notes: int) -> Constraints:
    """Must-link and cannot-link pairs from a JSON file; InvalidInput saying what is wrong."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise InvalidInput(f"{path}: not a readable JSON file ({exc})") from None
    if not isinstance(doc, dict) or set(doc) - {"must_link", "cannot_link"}:
        raise InvalidInput(f'{path}: expected {{"must_link": [[i, j], ...], "cannot_link": [[i, j], ...]}}')
    pairs: dict[str, list[tuple[int, int]]] = {}
    for kind in ("must_link", "cannot_link"):
        raw = doc.get(kind, [])
        if not isinstance(raw, list) or not all(isinstance(p, list) and len(p) == 2 for p in raw):
            raise InvalidInput(f"{path}: {kind} must be a list of [i, j] pairs")
        pairs[kind] = [(p[0], p[1]) for p in raw]
    constraints = Constraints(**pairs)
    try:
        constraints.check(notes)
    except ValueError as exc:
        raise InvalidInput(f"{path}: {exc}") from None
    return constraints


def read_notes(path: str | Path) -> list[dict[str, Any]]:
    """JSON lines with a non-empty "text"; blank lines are skipped, bad lines named."""
    rows = []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InvalidInput(f"{path}:{number}: not JSON ({exc.msg})") from None
            if not isinstance(row, dict) or not isinstance(row.get("text"), str):
                raise InvalidInput(f'{path}:{number}: needs a "text" string')
            row["_line"] = number
            rows.append(row)
    return rows


def note_facts(rows: Sequence[Mapping[str, Any]]) -> list[NoteFact] | None:
    """Signal facts from "created_at", "reporter", "unit", "touchpoint" and "source" fields.

    None when no row is dated (no signals then); every row must be dated when any is.
    """
    if not any(r.get("created_at") for r in rows):
        return None
    facts = []
    for r in rows:
        raw = r.get("created_at")
        if not raw:
            raise InvalidInput(f'line {r.get("_line", "?")}: "created_at" missing (others have it)')
        facts.append(
            NoteFact(
                day=parse_day(str(raw), r.get("_line")),
                reporter=_opt(r.get("reporter")),
                unit=_opt(r.get("unit")),
                touchpoint=_opt(r.get("touchpoint")),
                role=_opt(r.get("source")),
            )
        )
    return facts


def parse_day(raw: str, line: object = None) -> dt.date:
    """The date of an ISO date or date-time string ("2026-02-03", "2026-02-03T10:00:00Z")."""
    try:
        if len(raw) == 10:
            return dt.date.fromisoformat(raw)
        return dt.datetime.fromisoformat(raw.replace("Z", "+00:00")).date()
    except ValueError:
        raise InvalidInput(f'line {line}: "created_at" {raw!r} is not an ISO date') from None


def themes_document(result: ThemeRunResult, texts: Sequence[str], model_id: str) -> dict[str, Any]:
    """The THEMES.json content: run summary and one entry per theme, largest first."""
    clustering = result.clustering
    themes = sorted((t for t in clustering.themes if t.size), key=lambda t: (-t.size, t.id))
    entries = []
    for t in themes:
        name = result.names[t.id]
        topic = result.topics.get(t.id, t.id)
        entry: dict[str, Any] = {
            "id": t.id,
            "name": t.name or name.name,
            "topic": topic,
            "topic_name": result.display_name(topic),
            "label": name.label,
            "keywords": list(name.keywords),
            "size": t.size,
            "representatives": [texts[r] for r in name.representatives],
        }
        sig = result.signals.get(t.id)
        if sig is not None:
            entry.update(
                signal=sig.signal,
                emergence=sig.emergence,
                confidence=sig.confidence,
                confidence_note=sig.confidence_note,
                first_seen=sig.first_seen.isoformat() if sig.first_seen else None,
                last_seen=sig.last_seen.isoformat() if sig.last_seen else None,
                novelty=sig.novelty,
                weekly_counts=sig.weekly_counts(),
                monthly_counts={m.period: m.count for m in sig.monthly},
                reporters=sig.reporters,
                units=sig.units,
                touchpoints=sig.touchpoints,
                roles=sig.roles,
                burst_now=sig.burst_now,
            )
        entries.append(entry)
    return {
        "model_id": model_id,
        "notes": int(len(clustering.labels)),
        "unassigned": int((clustering.labels == UNASSIGNED).sum()),
        "themes": entries,
    }


def _opt(value: object) -> str | None:
    return None if value is None or value == "" else str(value)
