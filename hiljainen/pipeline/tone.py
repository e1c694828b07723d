"""Tone per note: positive / negative / neutral from a note's embedding, with a confidence.

The model is a multinomial logistic regression over the 384-d sentence embedding, trained by
`hiljainen.tools.tonetrain` and saved as two files in one folder:

- `weights.npz`: `coef` (classes x dim) and `intercept` (classes), float64;
- `tone.json`: classes, the embedding `model_id` the weights were trained on, the polar threshold,
  the data used and the held-out metrics.

Prediction is pure numpy (softmax of one matrix product), so the worker needs no scikit-learn.

Low confidence: the label is the most probable class and `confidence` is its probability, so an
unsure note keeps its best guess with a low confidence (with three classes the floor is 1/3).
Below `UNSURE_BELOW` the interface shows the tone as "uncertain" instead of a label
(`shown_tone`, also the templates' global). Relabelling unsure polar calls as
"neutral" was measured and cost accuracy (bench/results/tone.md), so the saved models have
`polar_threshold` 0; the switch stays: with a threshold t > 0 a positive/negative call below t
comes out "neutral" with the neutral probability as its (low) confidence.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from hiljainen.errors import ConfigError, ModelMismatch
from hiljainen.pipeline.embed import INT8_SUFFIX

ToneLabel = Literal["positive", "negative", "neutral"]
CLASSES: tuple[ToneLabel, ...] = ("negative", "neutral", "positive")
WEIGHTS_FILE = "weights.npz"
META_FILE = "tone.json"
# Below 0.5 a label is wrong about twice as often as above it (by-confidence table in
# bench/results/tone.md), so it is not shown as a label. A little above 0.5 two classes are a coin
# flip, and the int8 graph's vectors move with the batch: a thank-you note was positive at 0.515
# alone and negative at 0.505 among 39 others on one CPU. So the margin.
UNSURE_BELOW = 0.55
# Bump when the saved format changes; load() refuses other versions.
FORMAT_VERSION = 1


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    # np.savez stamps the zip entries with the current time; a fixed stamp makes equal weights
    # give byte-equal files, so the manifest's checksum changes only when the weights do.
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, array in arrays.items():
            with zf.open(zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0)), "w") as f:
                np.lib.format.write_array(f, np.ascontiguousarray(array), allow_pickle=False)


def shown_tone(label: str | None, confidence: float | None) -> str | None:
    """A stored tone as the interface shows it: "uncertain" below UNSURE_BELOW, else the label
    (the dashboard counts what a note shows, so its tone chart and the notes agree)."""
    if label is not None and confidence is not None and confidence < UNSURE_BELOW:
        return "uncertain"
    return label


@dataclass(frozen=True)
class Tone:
    """The tone of one note and the model's probability for that label (0..1)."""

    label: ToneLabel
    confidence: float


@dataclass
class ToneModel:
    """Multinomial logistic regression on sentence embeddings; numpy only at prediction time."""

    coef: np.ndarray  # (classes, dim)
    intercept: np.ndarray  # (classes,)
    classes: tuple[ToneLabel, ...]
    model_id: str
    polar_threshold: float = 0.0
    meta: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        self.coef = np.asarray(self.coef, dtype=np.float64)
        self.intercept = np.asarray(self.intercept, dtype=np.float64)
        if self.coef.ndim != 2 or self.intercept.shape != (self.coef.shape[0],):
            raise ConfigError(f"tone weights have shapes {self.coef.shape} and {self.intercept.shape}")
        if tuple(sorted(self.classes)) != tuple(sorted(CLASSES)) or len(self.classes) != self.coef.shape[0]:
            raise ConfigError(f"tone classes must be {list(CLASSES)}, got {list(self.classes)}")
        self.classes = tuple(self.classes)
        self._neutral = self.classes.index("neutral")

    @property
    def dim(self) -> int:
        """Embedding dimension the weights expect."""
        return int(self.coef.shape[1])

    @classmethod
    def load(cls, path: Path | str, model_id: str | None = None) -> ToneModel:
        """Load weights from a folder written by `save`; refuse them if trained for another model_id."""
        folder = Path(path)
        meta_path, weights_path = folder / META_FILE, folder / WEIGHTS_FILE
        if not meta_path.is_file() or not weights_path.is_file():
            raise ConfigError(
                f"no tone model in {folder} (expected {META_FILE} and {WEIGHTS_FILE}); "
                "build it with `hiljainen models build`"
            )
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("format_version") != FORMAT_VERSION:
            raise ConfigError(
                f"tone model in {folder} has format {meta.get('format_version')}, expected {FORMAT_VERSION}; "
                "rebuild it with `hiljainen models build`"
            )
        trained_on = str(meta["model_id"])
        # The int8 graph of the model it was trained on serves the same space (cosine >= 0.99;
        # held-out 0.944 against 0.938, bench/results/understanding.md "Serving speed").
        if model_id is not None and model_id.removesuffix(INT8_SUFFIX) != trained_on:
            # Another embedding model gives vectors in another space: the weights would be noise there.
            raise ModelMismatch(
                f"the tone model in {folder} was trained on embeddings of {trained_on!r}, "
                f"not {model_id!r}; rebuild it with `hiljainen models build`"
            )
        # allow_pickle=False: the file holds plain arrays only, never objects.
        with np.load(weights_path, allow_pickle=False) as npz:
            coef, intercept = npz["coef"], npz["intercept"]
        return cls(
            coef=coef,
            intercept=intercept,
            classes=tuple(meta["classes"]),
            model_id=trained_on,
            polar_threshold=float(meta.get("polar_threshold", 0.0)),
            meta=meta,
        )

    def save(self, path: Path | str, extra: dict[str, Any] | None = None) -> None:
        """Write `weights.npz` and `tone.json` into the folder (created if missing)."""
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        _write_npz(folder / WEIGHTS_FILE, {"coef": self.coef, "intercept": self.intercept})
        meta = {
            "format_version": FORMAT_VERSION,
            "classes": list(self.classes),
            "model_id": self.model_id,
            "dimension": self.dim,
            "polar_threshold": self.polar_threshold,
            **(extra or {}),
        }
        (folder / META_FILE).write_text(
            json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
        self.meta = meta

    def probabilities(self, vectors: np.ndarray) -> np.ndarray:
        """Class probabilities (n, classes), columns in `self.classes` order."""
        x = np.asarray(vectors, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.dim:
            if x.size == 0:
                return np.zeros((0, len(self.classes)))
            raise ValueError(f"expected vectors of shape (n, {self.dim}), got {x.shape}")
        logits = x @ self.coef.T + self.intercept
        logits -= logits.max(axis=1, keepdims=True)  # stable softmax
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)  # type: ignore[no-any-return]

    def predict(self, vectors: np.ndarray) -> list[Tone]:
        """One Tone per row of `vectors` (L2-normalised embeddings from the same model_id)."""
        probs = self.probabilities(vectors)
        best = probs.argmax(axis=1)
        out: list[Tone] = []
        for row, k in zip(probs, best, strict=True):
            if k != self._neutral and row[k] < self.polar_threshold:
                k = self._neutral
            out.append(Tone(self.classes[k], float(np.clip(row[k], 0.0, 1.0))))
        return out
