"""Batch nearest neighbours for evaluation: `hiljainen neighbors INPUT.jsonl --k 10 --out OUT.jsonl`.

Each input line is a JSON object with "text"; each output line, in input order, is
{"neighbors": [i, ...]}: the 0-based indices of the k most similar other lines, most similar
first, never the line itself. Texts are embedded as notes are ("passage") with the service's
embedder, their language is detected as the pipeline does, and they are ranked as "similar notes"
ranks them: by cosine once each language's centre is taken out (hiljainen.pipeline.centres), in
the service's vector index (a Chroma server with the same collection settings, started in a
temporary folder and removed afterwards). Blank lines are skipped and not counted.
"""

from __future__ import annotations

import json
import tempfile
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hiljainen.config import Settings
from hiljainen.errors import InvalidInput
from hiljainen.pipeline import centres, language

if TYPE_CHECKING:
    from hiljainen.pipeline.embed import Embedder
    from hiljainen.stores.vectors import VectorStore

EMBED_BATCH = 256
QUERY_BATCH = 100
# Chroma's HNSW search looks at max(ef_search, n_results) candidates: asking for at least this
# many and cutting keeps recall close to exact search for small k.
MIN_QUERY_K = 50


def read_texts(path: Path | str) -> list[str]:
    """The "text" of every non-blank JSON line; InvalidInput naming the first bad line (the same
    reader, and the same messages, as `hiljainen cluster` and `replay`)."""
    from hiljainen.tools.themes_batch import read_notes

    return [row["text"] for row in read_notes(path)]


def embed_all(
    embedder: Embedder, texts: Sequence[str], progress: Callable[[int], object] | None = None
) -> np.ndarray:
    """Passage vectors for all texts, in batches."""
    parts = []
    for start in range(0, len(texts), EMBED_BATCH):
        batch = list(texts[start : start + EMBED_BATCH])
        parts.append(np.asarray(embedder.embed(batch, kind="passage"), dtype=np.float32))
        if progress:
            progress(len(batch))
    return np.concatenate(parts) if parts else np.zeros((0, 384), dtype=np.float32)


def index_neighbors(store: VectorStore, vectors: np.ndarray, k: int) -> list[list[int]]:
    """k nearest other rows of every row through the vector index (ids are row numbers)."""
    n = len(vectors)
    if n == 0:
        return []
    store.upsert(list(range(n)), vectors, [{"row": i} for i in range(n)])
    want = min(n, max(k + 1, MIN_QUERY_K))
    out: list[list[int]] = []
    for start in range(0, n, QUERY_BATCH):
        # Batched through the collection itself: one request per 100 rows instead of one per row.
        found = store._call(
            store.collection.query,
            query_embeddings=vectors[start : start + QUERY_BATCH].tolist(),
            n_results=want,
            include=["distances"],
        )
        for offset, ids in enumerate(found["ids"]):
            row = start + offset
            out.append([int(i) for i in ids if int(i) != row][:k])
    return out


def exact_neighbors(vectors: np.ndarray, k: int, block: int = 1024) -> list[list[int]]:
    """k nearest other rows of every row by exact cosine (vectors are normalised)."""
    n = len(vectors)
    out: list[list[int]] = []
    k = min(k, max(n - 1, 0))
    for start in range(0, n, block):
        sims = vectors[start : start + block] @ vectors.T
        rows = np.arange(start, min(start + block, n))
        sims[rows - start, rows] = -np.inf
        top = np.argpartition(-sims, k, axis=1)[:, :k]  # k <= n - 1, so the kth index exists
        for r, cand in enumerate(top):
            order = cand[np.lexsort((cand, -sims[r, cand]))]
            out.append([int(i) for i in order])
    return out


def write_neighbors(path: Path | str, neighbors: Sequence[Sequence[int]]) -> None:
    """One {"neighbors": [...]} line per input row."""
    with open(path, "w", encoding="utf-8") as fh:
        for row in neighbors:
            fh.write(json.dumps({"neighbors": list(row)}) + "\n")


def neighbors_file(
    input: Path | str,
    out: Path | str,
    k: int = 10,
    embedder: Embedder | None = None,
    *,
    settings: Settings | None = None,
    progress: Callable[[int], object] | None = None,
) -> int:
    """Write the k nearest other lines of every input line (see the module docstring); returns lines."""
    from hiljainen.services import chroma_server
    from hiljainen.stores.vectors import VectorStore

    if k < 1:
        raise InvalidInput("k must be at least 1")
    texts = read_texts(input)
    if embedder is None:
        from hiljainen.pipeline.embed import load_embedder

        s = settings or Settings.from_env()
        embedder = load_embedder(s.embed_backend, s.embed_model)
    vectors = embed_all(embedder, texts, progress)
    lang_centres = centres.of(embedder)
    if lang_centres is not None:
        vectors = centres.centred(vectors, [language.detect(t).code for t in texts], lang_centres)
    if not texts:
        write_neighbors(out, [])
        return 0
    with tempfile.TemporaryDirectory(prefix="hiljainen-neighbors-") as tmp:
        with chroma_server(Path(tmp)).start() as server:
            store = VectorStore(
                server.url, embedder.model_id, collection=f"neighbors_{uuid.uuid4().hex[:12]}"
            )
            neighbors = index_neighbors(store, vectors, k)
    write_neighbors(out, neighbors)
    return len(texts)
