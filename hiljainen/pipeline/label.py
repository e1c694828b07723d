"""Theme names: a short phrase in people's words, plus class-based TF-IDF keywords over lemmas.

Pure. Terms are the notes' content-word lemmas (linguistics.Analysis.keywords), so Finnish
inflections of one word ("asiakkaille", "asiakkaan") count as one term ("asiakas").
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hiljainen.pipeline.identity import Theme

_CLAUSE = re.compile(r"[.!?;:,]+\s+|\s+[-–—]\s+|\s*\(")
PHRASE_WORDS = 7


@dataclass(frozen=True)
class ThemeLabel:
    """Computed name of a theme: keyword label, keywords (best first), representative rows, and
    the phrase a leader reads (empty when the notes' texts were not given)."""

    theme_id: int
    label: str
    keywords: tuple[str, ...]
    representatives: tuple[int, ...]
    phrase: str = ""

    @property
    def name(self) -> str:
        """The phrase when there is one, else the keyword label."""
        return self.phrase or self.label


def ctfidf(
    groups: Sequence[Sequence[int]], terms: Sequence[Sequence[str]]
) -> list[list[tuple[str, float]]]:
    """Class-based TF-IDF (BERTopic's formula) per group of note rows, best term first.

    A term counts once per note (one person repeating a word is not a theme), tf is normalised
    by the group's term total, and idf = log(1 + A / f_t) where A is the average term total per
    group and f_t the term's count over all notes, grouped or not.
    """
    per_note = [set(t) for t in terms]
    overall: Counter[str] = Counter()
    for s in per_note:
        overall.update(s)
    group_counts = []
    for rows in groups:
        c: Counter[str] = Counter()
        for r in rows:
            c.update(per_note[r])
        group_counts.append(c)
    totals = [sum(c.values()) for c in group_counts]
    avg = (sum(totals) / len(totals)) if totals else 0.0
    out: list[list[tuple[str, float]]] = []
    for c, total in zip(group_counts, totals, strict=True):
        scored = [
            (t, (n / total) * math.log(1.0 + avg / overall[t]))
            for t, n in c.items()
        ] if total else []
        # Ties broken by support, then alphabetically, so labels are stable between runs.
        scored.sort(key=lambda ts: (-ts[1], -c[ts[0]], ts[0]))
        out.append(scored)
    return out


def representatives(
    vectors: np.ndarray, rows: np.ndarray, centre: np.ndarray, k: int = 3, max_sim: float = 0.98
) -> tuple[int, ...]:
    """The k member rows nearest the centre, skipping near-duplicates of ones already chosen."""
    rows = np.asarray(rows, dtype=np.int64)
    if len(rows) == 0:
        return ()
    x = np.asarray(vectors, dtype=np.float32)[rows]
    order = np.argsort(-(x @ np.asarray(centre, dtype=np.float32)), kind="stable")
    chosen: list[int] = []
    for i in order:
        if all(float(x[i] @ x[j]) < max_sim for j in chosen):
            chosen.append(int(i))
        if len(chosen) == k:
            break
    # Too few distinct notes: fill up with the nearest remaining ones.
    for i in order:
        if len(chosen) == k:
            break
        if int(i) not in chosen:
            chosen.append(int(i))
    return tuple(int(rows[i]) for i in chosen)


def label_themes(
    themes: Sequence[Theme],
    terms: Sequence[Sequence[str]],
    vectors: np.ndarray,
    n_keywords: int = 10,
    label_words: int = 3,
    n_representatives: int = 3,
    *,
    texts: Sequence[str] | None = None,
    langs: Sequence[str] | None = None,
) -> dict[int, ThemeLabel]:
    """Label, keywords, representative note rows and (given the texts) phrase for every theme.

    The phrase is in the language most notes are written in (the organisation's), so a subject
    written in both languages gets one name in that language."""
    language = Counter(langs).most_common(1)[0][0] if langs else None
    # Every note takes part in the idf, so words common to all notes never name a theme.
    grouped = [t.members.tolist() for t in themes]
    rest = sorted(set(range(len(terms))) - {r for g in grouped for r in g})
    scored = ctfidf([*grouped, rest], terms)[: len(grouped)]
    out: dict[int, ThemeLabel] = {}
    for theme, words in zip(themes, scored, strict=True):
        reps = representatives(vectors, theme.members, theme.centroid, n_representatives)
        # A label word must appear in two notes when the theme has two notes to offer; with
        # fewer such words than a label needs, the words of its most typical note complete it
        # ("toimia" alone says little, "toimia, ilmanvaihto, kylpyhuone" says what broke).
        support = Counter(w for r in theme.members for w in set(terms[r]))
        need = 2 if theme.size >= 2 else 1
        strong = [w for w, _ in words if support[w] >= need]
        if len(strong) < label_words and reps:
            typical = set(terms[reps[0]])
            strong += [w for w, _ in words if w in typical and w not in strong]
        strong = strong or [w for w, _ in words]
        keywords = tuple(strong[:n_keywords])
        label = ", ".join(keywords[:label_words]) or f"#{theme.id}"
        name = ""
        if texts is not None:
            ordered = representatives(vectors, theme.members, theme.centroid, k=min(theme.size, 8))
            name = phrase(texts, langs or ["und"] * len(texts), ordered, language)
        out[theme.id] = ThemeLabel(theme.id, label, keywords, reps, name)
    return out


def phrase(texts: Sequence[str], langs: Sequence[str], order: Sequence[int], language: str | None) -> str:
    """A theme's name in people's words: the shortest of its most typical notes' first clauses.

    `order` is the theme's rows, most typical first. Notes in the organisation's `language` are preferred, so
    a subject written in both languages is named in the one the organisation speaks.
    """
    pool = [r for r in order if language is None or langs[r] == language] or list(order)
    candidates = []
    for rank, r in enumerate(pool[:5]):
        clause = _CLAUSE.split(texts[r].strip())[0].strip(" .,!?;:")
        words = clause.split()
        if not words:
            continue
        short = " ".join(words[:PHRASE_WORDS]) + ("…" if len(words) > PHRASE_WORDS else "")
        # Most typical first, but a short whole clause beats a cut one further down the list.
        penalty = (2 if len(words) > PHRASE_WORDS else 0) + (1 if len(words) < 3 else 0)
        candidates.append((rank + penalty, short))
    if not candidates:
        return ""
    best = min(candidates)[1]
    return best[0].upper() + best[1:]
