"""Language centres: each language's mean note vector, taken out before notes are compared.

A multilingual encoder gives every note a large component that says which language it is in (the
mean Finnish and the mean English note of hiljainen-notes-e5 each have a norm of about 0.66 in a
unit vector): a note's nearest notes then lean towards its own language and towards whatever is
common. Subtracting the centre of each note's language and renormalising before ranking puts a
note of the same subject first more often (bench/results/understanding.md, "Language centres").
The clustering already centres each language on the notes it groups; "similar notes" and
`hiljainen neighbors` rank by these fixed centres, which `hiljainen models build` writes next to
the encoder: the mean passage vector, per language, of the corpus notes it was taught on.
Stored vectors stay as the encoder gives them, so every cosine floor elsewhere keeps its meaning.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

FILE = "language_centres.json"

Centres = Mapping[str, np.ndarray]


def of(embedder: object) -> Centres | None:
    """An embedder's language centres (None for a model without them, or a test's stand-in)."""
    return getattr(embedder, "language_centres", None)


def compute(
    embed: Callable[[list[str]], np.ndarray], texts: Sequence[str], langs: Sequence[str]
) -> dict[str, np.ndarray]:
    """The mean vector of each language's texts (`embed` gives unit passage vectors)."""
    vectors = np.asarray(embed(list(texts)), dtype=np.float64)
    codes = np.asarray(langs)
    return {lang: vectors[codes == lang].mean(axis=0) for lang in sorted(set(langs))}


def write(folder: Path, centres: Mapping[str, np.ndarray]) -> None:
    """Store centres next to a model (JSON: language -> vector)."""
    doc = {lang: [round(float(v), 7) for v in c] for lang, c in sorted(centres.items())}
    partial = folder / (FILE + ".partial")  # a build stopped half-way leaves no half-written file
    partial.write_text(json.dumps(doc) + "\n", encoding="utf-8")
    partial.replace(folder / FILE)


def read(folder: Path) -> dict[str, np.ndarray] | None:
    """The centres written next to a model, or None for a model without them."""
    path = Path(folder) / FILE
    if not path.is_file():
        return None
    doc = json.loads(path.read_text("utf-8"))
    return {lang: np.asarray(c, dtype=np.float32) for lang, c in doc.items()} or None


def centred(vectors: np.ndarray, langs: Sequence[str | None], centres: Centres) -> np.ndarray:
    """Each vector less its language's centre, renormalised. A note in another or an unknown
    language loses the mean of the centres (the part all languages share)."""
    out = np.array(vectors, dtype=np.float32)
    if len(out):
        shared = np.mean(list(centres.values()), axis=0)
        out -= np.stack([centres.get(lang or "", shared) for lang in langs])
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return (out / np.maximum(norms, 1e-12)).astype(np.float32)
