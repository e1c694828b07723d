"""Benchmark personal-data redaction on the hand-labelled sets in tests/data.

Sets: redaction_fi.jsonl and redaction_en.jsonl (the heuristics were tuned on them),
redaction_tricky.jsonl (issue 22: the forms that leaked; fi and en mixed, each line says its
language and whether it is held out; the held-out lines were not used for tuning) and
redaction_tricky_{fresh,third,fourth,fifth,sixth}.jsonl (the second to sixth held-out sets, each
written and committed before the round of tuning it scores; see the results text).

Usage (from the project root):  .venv/bin/python bench/redaction.py [--show-errors]
--show-errors prints the misses and false positives of the sets used for tuning only; the
held-out sets' errors need --show-heldout-errors, so that reading them is a deliberate step.
Writes bench/results/redaction.md, a section for BENCHMARKS.md.

Definitions (span level, by character coverage):
- A gold span is *found* when every letter and digit in it lies inside some predicted span
  (of any kind: a phone number redacted as an IBAN still leaks nothing). Recall per gold kind.
- A predicted span is *correct* when it overlaps some gold span. Precision per predicted kind.
- Language is detected per line, as in production (the file's language is not passed in).
- Words kept: of the words (\\w+ runs) that overlap no gold span, the share that overlap no
  predicted span either, i.e. ordinary words left intact.
- Speed: lines/s of Redactor.redact_lines over the fi and en sets, after the models are loaded.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from hiljainen.pipeline import redact  # noqa: E402
from hiljainen.pipeline.language import detect  # noqa: E402
from hiljainen.pipeline.linguistics import load_nlp  # noqa: E402
from hiljainen.pipeline.redact import Redactor, Span  # noqa: E402

try:  # names live beside the redactor since issue 22; older trees keep them inside it
    from hiljainen.pipeline import redact_names as names_module
except ImportError:  # pragma: no cover - scoring an older tree
    names_module = redact  # type: ignore[assignment]
_LEXICON = names_module._LEXICON

# The kinds of this tree's redactor, plus PLATE so that older trees can be scored the same way.
KINDS = tuple(dict.fromkeys((*redact.KINDS, "PLATE")))

ISSUE22 = """\
Issue 22 (redaction under attack): before the fix (commit 69f8ae3, first version of the tricky \
labels) the first held-out part gave recall **0.525** (names 0.812, phones 0.040, e-mail 0.133, \
hetu 0.235, IBAN 0.667, addresses 0.789, car plates 0.000) with words kept 0.998. Each round of \
fixes since was scored once on a set written and committed before it; that set's misses were \
then read and became material for the next round, so only the "scored once" column is a \
held-out figure. The development material is the tricky set's tuning lines (94 lines, and 78 \
more written for the second round) and the fi/en sets above.

| set | lines | scored once after fixes for | recall then | words kept then | recall now | words kept now |
|---|---:|---|---:|---:|---:|---:|
| first held-out part | 208 | the forms that leaked (patterns, Voikko) | 0.956 (a) | 0.997 | 0.989 | 0.998 |
| second | 136 | its tuning lines: given names, greetings | 0.929 | 0.996 | 0.991 | 0.999 |
| third | 110 | the second's misses: "ja", possessives | 0.965 | 1.000 | 1.000 | 1.000 |
| fourth | 90 | the third's misses: short forms | 0.970 | 0.998 | 0.985 | 0.998 |
| fifth | 97 | the fourth's misses: surnames as words | 0.959 | 0.988 | 0.986 | 1.000 |
| sixth | 90 | the same, and the fifth's (b) | 0.986 | 0.995 | 0.986 | 0.995 |

(a) 0.967 once two labelling errors (a title inside the gold span) were corrected. (b) Scored
before and after the last fix (for the fifth set's misses), with the same result; its errors were
never read.

The goal (recall >= 0.98 with words kept >= 0.97) is met on every set now, but that says little \
for the five whose misses were read and fixed. On notes no round was tuned on it was met once: \
the sixth set, 0.986 with words kept 0.995 (68 of 69 gold spans; one miss moves it by 0.015). \
The third to fifth sets, \
scored once each, gave 0.965, 0.970 and 0.959; over the four sets scored before their misses \
were read, 286 of 295 gold spans were found (**0.969**), with words kept 0.988 or more on each. \
The fourth set's 0.970 is generous: six of the short forms added for the third set's misses were \
known to be in it (its author wrote both); without them it scores 0.940. What unseen notes leaked is names \
only, never structured data: lower-case short names or nicknames where nothing marks them \
("ari sano", "moi emppu": fixed last), everyday words used as names ("meidän onni", \
"our bill") and nicknames at the start of a Finnish sentence ("Tapsa lupas": left in place, \
but the note is marked uncertain). The price paid for recall: a capitalised word no lexicon \
knows counts as a name (NER calls foreign names firms as often as firms), so firms such as \
Tesco or Rightmove are redacted too. English given names come from a list curated for the \
project (hiljainen/pipeline/given_names.py).
"""

DATA = ROOT / "tests" / "data"
RESULTS = ROOT / "bench" / "results" / "redaction.md"


def load(lang: str) -> list[dict]:
    """The labelled lines of one set ("fi", "en" or "tricky")."""
    path = DATA / f"redaction_{lang}.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def covered(text: str, gold: tuple[int, int], predicted: list[Span]) -> bool:
    """True if every alphanumeric character of the gold span is inside a predicted span."""
    start, end = gold
    return all(
        not text[i].isalnum() or any(p.start <= i < p.end for p in predicted)
        for i in range(start, end)
    )


def score(rows: list[dict], predicted: list[list[Span]]) -> tuple[dict, list[str]]:
    """Per-kind counts (gold, found, predicted, correct) and readable error lines."""
    counts: dict[str, Counter] = {k: Counter() for k in KINDS}
    errors: list[str] = []
    for row, preds in zip(rows, predicted, strict=True):
        text, gold = row["text"], [tuple(s) for s in row["spans"]]
        for start, end, kind in gold:
            counts[kind]["gold"] += 1
            if covered(text, (start, end), preds):
                counts[kind]["found"] += 1
            else:
                errors.append(f"MISS {kind:7} {text[start:end]!r} in {text!r}")
        for p in preds:
            counts[p.kind]["predicted"] += 1
            if any(p.start < end and start < p.end for start, end, _ in gold):
                counts[p.kind]["correct"] += 1
            else:
                errors.append(f"FP   {p.kind:7} {text[p.start:p.end]!r} in {text!r}")
    return counts, errors


def words_kept(rows: list[dict], predicted: list[list[Span]]) -> tuple[int, int]:
    """(non-personal words left intact, non-personal words) over the rows."""
    kept = total = 0
    for row, preds in zip(rows, predicted, strict=True):
        for m in re.finditer(r"\w+", row["text"]):
            if any(m.start() < end and start < m.end() for start, end, _ in row["spans"]):
                continue
            total += 1
            kept += not any(m.start() < p.end and p.start < m.end() for p in preds)
    return kept, total


# The issue-22 parts: (file, held out, name in the results).
TRICKY_PARTS = (
    ("tricky", True, "tricky, first held-out part"),
    ("tricky_fresh", True, "tricky, second held-out set"),
    ("tricky_third", True, "tricky, third held-out set"),
    ("tricky_fourth", True, "tricky, fourth held-out set"),
    ("tricky_fifth", True, "tricky, fifth held-out set"),
    ("tricky_sixth", True, "tricky, sixth held-out set"),
    ("tricky", False, "tricky, tuning lines"),
)


def tricky_section(redactor: Redactor, show_errors: bool, show_heldout: bool) -> list[str]:
    """Tables for the issue-22 sets: each held-out part and the tuning lines separately."""
    lines: list[str] = []
    for stem, heldout, name in TRICKY_PARTS:
        if not (DATA / f"redaction_{stem}.jsonl").exists():
            continue
        part = [r for r in load(stem) if r["heldout"] == heldout]
        texts = [r["text"] for r in part]
        codes = [detect(t).code for t in texts]
        found = redactor.find(texts, codes)
        counts, errors = score(part, found)
        kept, total = words_kept(part, found)
        langs = Counter(r["lang"] for r in part)
        agree = sum(code == r["lang"] for code, r in zip(codes, part, strict=True))
        lines.append(
            f"### {name} — {len(part)} lines (fi {langs['fi']}, en {langs['en']}), "
            f"{sum(not r['spans'] for r in part)} without personal data; language detected as "
            f"labelled on {agree}/{len(part)}\n"
        )
        lines += table(counts)
        lines.append("")
        lines.append(f"Words kept: **{ratio(kept, total)}** ({kept} of {total} non-personal words).")
        lines.append("")
        if show_heldout if heldout else show_errors:
            print(f"--- {name}")
            print("\n".join(errors))
    return lines


def ratio(a: int, b: int) -> str:
    """a/b to three decimals, or an en dash when b is zero."""
    return f"{a / b:.3f}" if b else "–"


def table(counts: dict[str, Counter]) -> list[str]:
    """Markdown table rows for one language, with a total row."""
    lines = [
        "| kind | gold | found | recall | predicted | correct | precision |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    total: Counter = Counter()
    for kind in KINDS:
        c = counts[kind]
        total.update(c)
        lines.append(
            f"| {kind} | {c['gold']} | {c['found']} | {ratio(c['found'], c['gold'])} | "
            f"{c['predicted']} | {c['correct']} | {ratio(c['correct'], c['predicted'])} |"
        )
    lines.append(
        f"| **all** | {total['gold']} | {total['found']} | "
        f"**{ratio(total['found'], total['gold'])}** | {total['predicted']} | "
        f"{total['correct']} | **{ratio(total['correct'], total['predicted'])}** |"
    )
    return lines


def main() -> None:
    """Run the benchmark, print errors on request, and write the markdown results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--show-errors", action="store_true", help="print tuning sets' errors")
    parser.add_argument(
        "--show-heldout-errors", action="store_true", help="print the held-out sets' errors too"
    )
    args = parser.parse_args()

    t0 = time.perf_counter()
    load_nlp("fi")
    t_fi = time.perf_counter() - t0
    t0 = time.perf_counter()
    load_nlp("en")
    t_en = time.perf_counter() - t0

    redactor = Redactor()
    redactor.redact("Lämmin kiitos Matille.")  # warm up Voikko and the language model

    sections: list[str] = []
    all_lines: list[str] = []
    for lang in ("fi", "en"):
        rows = load(lang)
        texts = [r["text"] for r in rows]
        all_lines += texts
        codes = [detect(t).code for t in texts]
        found = redactor.find(texts, codes)
        counts, errors = score(rows, found)
        kept, total = words_kept(rows, found)
        agree = sum(code == lang for code in codes)
        sections.append(
            f"### {lang} — {len(rows)} lines, {sum(not r['spans'] for r in rows)} without "
            f"personal data; language detected as {lang} on {agree}/{len(rows)}\n"
        )
        sections += table(counts)
        sections.append("")
        sections.append(f"Words kept: {ratio(kept, total)} ({kept} of {total}).")
        sections.append("")
        if args.show_errors:
            print(f"--- {lang}")
            print("\n".join(errors))

    tricky = tricky_section(redactor, args.show_errors, args.show_heldout_errors)

    cache = getattr(_LEXICON, "_analyses", None) or _LEXICON._classes  # type: ignore[attr-defined]
    cache.cache_clear()  # time a cold word cache, as for unseen notes
    if hasattr(names_module, "_english_word"):
        names_module._english_word.cache_clear()
    t0 = time.perf_counter()
    out = list(redactor.redact_lines(all_lines))
    elapsed = time.perf_counter() - t0
    assert len(out) == len(all_lines)
    t0 = time.perf_counter()
    list(Redactor(names=False).redact_lines(all_lines))
    elapsed_patterns = time.perf_counter() - t0

    md = [
        "## Redaction",
        "",
        "Command: `.venv/bin/python bench/redaction.py` (writes `bench/results/redaction.md`).",
        "",
        "Data: `tests/data/redaction_{fi,en}.jsonl`, original lines written for this project in "
        "the voice of care-home, meal-delivery and rental-housing notes, with planted personal "
        "data (hetu and IBAN values generated with valid check characters) and near-misses "
        "(dates, prices, room, order and reference numbers, product and unit names, invalid "
        "hetu/IBAN). The heuristics were tuned on this same set: treat the figures as an "
        "upper bound and a regression floor, not as held-out accuracy. The last 30 fi and "
        "15 en lines were written after tuning and scored once before being added: names fi "
        "16/16 found with 1 false positive (the district 'Kallion'), en 7/8 found with 1 "
        "false positive ('Homes England').",
        "",
        "Recall: a gold span counts as found when all its letters and digits are inside "
        "redacted spans (of any kind). Precision: a redacted span counts as correct when it "
        "overlaps a gold span. Language is detected per line, as in production.",
        "",
        *sections,
        ISSUE22 if tricky else "",
        "",
        *tricky,
        f"Speed (2-core machine, both sets, {len(all_lines)} lines, models loaded): "
        f"**{len(all_lines) / elapsed:.0f} lines/s** with names (spaCy NER + Voikko), "
        f"{len(all_lines) / elapsed_patterns:.0f} lines/s patterns only (`Redactor(names=False)`). "
        f"spaCy load: fi {t_fi:.1f} s, en {t_en:.1f} s (once per process).",
        "",
    ]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text("\n".join(md), encoding="utf-8")
    print("\n".join(md))


if __name__ == "__main__":
    main()
