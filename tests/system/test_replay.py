"""`hiljainen replay`: a dated stream through the deployment's code path, one line per week."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from hiljainen.errors import InvalidInput
from workers.replay import replay_file

START = dt.date(2026, 3, 2)  # a Monday: ISO week 10
STEADY = {
    "kotihoito": ["Hoitaja kävi taas tosi kiireellä, ei ehtinyt jutella.",
                  "Käynti kesti viisi minuuttia, äiti jäi yksin.",
                  "The carer was in a hurry again, no time for mum.",
                  "Kiire näkyy, hoitajat juoksee asiakkaalta toiselle."],
    "ateriapalvelu": ["Lounas tuli taas kylmänä.", "Keitto oli haaleaa kun se tuli.",
                      "Ruoka oli kylmää, piti lämmittää mikrossa.", "The food was cold on arrival."],
}
NEW = ["Hissi on ollut rikki viikon, en pääse ulos.", "Hissi jumissa taas A-rapussa.",
       "The lift in A is broken again.", "Hissi ei toimi, rollaattorilla portaat mahdoton.",
       "Hissikorjaaja ei ole vieläkään tullut."]


def write_stream(path: Path) -> list[dict[str, Any]]:
    rows = []
    for week in range(4):
        for unit, texts in STEADY.items():
            for i, text in enumerate(texts[week % 2::2]):
                day = START + dt.timedelta(weeks=week, days=i)
                rows.append({"text": text, "created_at": f"{day}T10:00:00", "unit": unit,
                             "source": "customer"})
    for i, text in enumerate(NEW):
        day = START + dt.timedelta(weeks=2 + i // 3, days=i % 3)
        rows.append({"text": text, "created_at": f"{day}T12:00:00", "unit": "vuokra-asunnot",
                     "source": "relative"})
    rows.sort(key=lambda r: r["created_at"])
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return rows


@pytest.mark.slow
def test_replay_writes_one_line_a_week_with_themes_and_alerts(tmp_path: Path, embedder: Any) -> None:
    stream, out = tmp_path / "stream.jsonl", tmp_path / "out.jsonl"
    rows = write_stream(stream)
    seen: list[tuple[str, int, int]] = []
    summary = replay_file(stream, out, embedder=embedder, progress=lambda *a: seen.append(a))
    weeks = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [w["week"] for w in weeks] == ["2026-W10", "2026-W11", "2026-W12", "2026-W13"]
    assert summary == {"notes": len(rows), "weeks": 4, "alerts": sum(len(w["alerts"]) for w in weeks)}
    assert [s[1:] for s in seen] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    last = weeks[-1]
    members = [m for t in last["themes"] for m in t["members"]]
    assert len(members) == len(set(members)) and set(members) <= set(range(len(rows)))
    assert len(members) >= 0.9 * len(rows)  # at most a tenth outside themes
    for theme in last["themes"]:
        assert theme["name"] and theme["signal"] and isinstance(theme["topic"], int)
    # Only notes of weeks already replayed are members.
    first_week = {i for i, r in enumerate(rows) if r["created_at"] < str(START + dt.timedelta(weeks=1))}
    assert {m for t in weeks[0]["themes"] for m in t["members"]} <= first_week
    for week in weeks:
        for alert in week["alerts"]:
            assert alert["level"] in ("weak", "strong") and alert["members"]


def test_a_stream_without_a_dated_note_is_refused_naming_its_lines(tmp_path: Path) -> None:
    stream = tmp_path / "stream.jsonl"
    stream.write_text('{"text": "a"}\n{"text": "b", "created_at": "maanantaina"}\n', encoding="utf-8")
    said: list[str] = []
    with pytest.raises(InvalidInput, match="no dated notes"):
        replay_file(stream, tmp_path / "out.jsonl", warn=said.append)
    assert said[0].startswith('line 1: "created_at" is missing') and said[1].startswith("line 2: ")


@pytest.mark.slow
def test_a_line_that_cannot_be_a_note_is_skipped_and_named_not_the_whole_replay(
    tmp_path: Path, embedder: Any
) -> None:
    """One undated, empty or unreadable line used to end the whole replay; an unknown writer too."""
    stream, out = tmp_path / "stream.jsonl", tmp_path / "out.jsonl"
    lines = [
        {"text": "Lounas tuli taas kylmänä.", "created_at": "2026-03-02T10:00:00", "source": "omainen"},
        {"text": "Keitto oli haaleaa kun se tuli.", "created_at": "2026-03-03", "source": "Customer"},
        {"text": "   ", "created_at": "2026-03-03"},
        {"text": "Ruoka oli kylmää, piti lämmittää."},
        {"text": "The food was cold on arrival.", "created_at": "2026-03-04", "source": "nurse"},
    ]
    stream.write_text("".join(json.dumps(r) + "\n" for r in lines), encoding="utf-8")
    said: list[str] = []
    summary = replay_file(stream, out, embedder=embedder, warn=said.append)
    assert summary["notes"] == 3
    assert [m.split(":")[0] for m in said] == ["line 4", "line 5", "line 3"]
    assert "counted as staff" in said[1] and said[2].endswith("(line skipped)")
    week = json.loads(out.read_text(encoding="utf-8").splitlines()[-1])
    assert {m for t in week["themes"] for m in t["members"]} <= {0, 1, 4}  # 0-based input lines
