"""Note vectors in a Chroma server over HTTP (web and workers share one server, never a path)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import chromadb
import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings
from chromadb.config import Settings as ChromaSettings

from hiljainen.errors import ModelMismatch, ServiceUnavailable

MAX_BATCH = 5000  # Chroma refuses batches above ~5,461


class NoTextEmbedding(EmbeddingFunction[Documents]):
    """Refuses to embed: the service always passes its own vectors.

    Without an explicit function Chroma falls back to a default model it tries to download.
    """

    def __init__(self) -> None:
        pass

    def __call__(self, input: Documents) -> Embeddings:
        raise RuntimeError("hiljainen passes vectors to Chroma; text embedding is not allowed")

    @staticmethod
    def name() -> str:
        return "hiljainen-precomputed"

    def get_config(self) -> dict[str, Any]:
        return {}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> NoTextEmbedding:
        return NoTextEmbedding()


def _client(url: str) -> Any:
    parsed = urlparse(url)
    return chromadb.HttpClient(
        host=parsed.hostname or "127.0.0.1",
        port=parsed.port or 8000,
        ssl=parsed.scheme == "https",
        settings=ChromaSettings(anonymized_telemetry=False),
    )


def count_vectors(url: str, collection: str) -> int:
    """How many vectors a collection holds (0 if it does not exist yet); raises when unreachable."""
    client = _client(url)
    if collection not in {c.name for c in client.list_collections()}:
        return 0
    return int(client.get_collection(collection, embedding_function=NoTextEmbedding()).count())


@dataclass(frozen=True)
class Hit:
    """One nearest neighbour: observation id and cosine similarity."""

    id: int
    similarity: float


class VectorStore:
    """The observation collection, tied to the embedding model that built it."""

    def __init__(
        self, url: str, model_id: str, *, collection: str = "observations", reset: bool = False
    ) -> None:
        try:
            self.client = _client(url)
        except Exception as exc:  # chromadb raises bare Exception/ValueError when unreachable
            raise ServiceUnavailable(f"vector store unavailable at {url}: {exc}") from None
        self.model_id = model_id
        self.name = collection
        if reset:  # a re-index starts from nothing, whichever model built the old index
            if self._exists():
                self._call(self.client.delete_collection, name=self.name)
        self.collection = self._open()

    def _exists(self) -> bool:
        return self.name in {c.name for c in self._call(self.client.list_collections)}

    def _open(self) -> Any:
        try:
            col = self.client.get_or_create_collection(
                self.name,
                metadata={"model_id": self.model_id, "hnsw:space": "cosine"},
                embedding_function=NoTextEmbedding(),
            )
        except Exception as exc:
            raise ServiceUnavailable(f"vector store unavailable: {exc}") from None
        built_with = (col.metadata or {}).get("model_id")
        if built_with != self.model_id:
            raise ModelMismatch(
                f"the vector index was built with {built_with!r} but the service is configured "
                f"with {self.model_id!r}; run `hiljainen reindex` to rebuild it"
            )
        return col

    def upsert(
        self,
        ids: Sequence[int],
        vectors: np.ndarray,
        metadatas: Sequence[Mapping[str, str | int | float | bool]],
    ) -> None:
        """Insert or replace vectors; the observation id is the vector id, so repeats are harmless."""
        for start in range(0, len(ids), MAX_BATCH):
            end = start + MAX_BATCH
            self._call(
                self.collection.upsert,
                ids=[str(i) for i in ids[start:end]],
                embeddings=vectors[start:end].tolist(),
                metadatas=[dict(m) for m in metadatas[start:end]],
            )

    def query(self, vector: np.ndarray, k: int, where: Mapping[str, Any] | None = None) -> list[Hit]:
        """The k nearest notes to one vector, optionally filtered by metadata."""
        found = self._call(
            self.collection.query,
            query_embeddings=[vector.tolist()],
            n_results=k,
            where=dict(where) if where else None,
            include=["distances"],
        )
        return [
            Hit(int(i), 1.0 - float(d)) for i, d in zip(found["ids"][0], found["distances"][0], strict=True)
        ]

    def query_many(self, vectors: np.ndarray, k: int) -> list[list[Hit]]:
        """The k nearest notes to each of several vectors, in one request."""
        if len(vectors) == 0:
            return []
        found = self._call(
            self.collection.query, query_embeddings=vectors.tolist(), n_results=k, include=["distances"]
        )
        return [
            [Hit(int(i), 1.0 - float(d)) for i, d in zip(ids, dists, strict=True)]
            for ids, dists in zip(found["ids"], found["distances"], strict=True)
        ]

    def vectors(self, ids: Sequence[int]) -> dict[int, np.ndarray]:
        """Stored vectors by observation id (missing ids are left out)."""
        out: dict[int, np.ndarray] = {}
        for start in range(0, len(ids), MAX_BATCH):
            got = self._call(
                self.collection.get,
                ids=[str(i) for i in ids[start : start + MAX_BATCH]],
                include=["embeddings"],
            )
            for i, vec in zip(got["ids"], got["embeddings"], strict=True):
                out[int(i)] = np.asarray(vec, dtype=np.float32)
        return out

    def delete(self, ids: Sequence[int]) -> None:
        """Remove vectors (erasure, retention)."""
        if ids:
            self._call(self.collection.delete, ids=[str(i) for i in ids])

    def count(self) -> int:
        """How many vectors are stored."""
        return int(self._call(self.collection.count))

    @staticmethod
    def _call(fn: Any, **kwargs: Any) -> Any:
        try:
            return fn(**kwargs)
        except (ModelMismatch, ValueError, TypeError):
            raise
        except Exception as exc:  # connection errors surface as several httpx/chroma types
            raise ServiceUnavailable(f"vector store unavailable: {exc}") from None
