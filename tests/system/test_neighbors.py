"""Batch neighbours (`hiljainen neighbors`): input checks, exact search, and the real model and index."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from hiljainen.errors import InvalidInput
from hiljainen.services import ChildServer
from hiljainen.stores.vectors import VectorStore
from hiljainen.tools.neighbors import exact_neighbors, index_neighbors, neighbors_file, read_texts

CENTRES = {"fi": np.array([0.9, 0, 0, 0], dtype=np.float32), "en": np.array([0, 0.9, 0, 0], dtype=np.float32)}

PAIRS = [
    ("Ruoka oli kylmää, kun se tuotiin huoneeseen.", "Ateria tuli huoneeseen kylmänä."),
    ("Hissi on ollut rikki koko viikon.", "Hissi ei ole toiminut viikkoon."),
    (
        "Kuljettaja oli ystävällinen ja kantoi kassit sisään.",
        "Ystävällinen kuljettaja auttoi kantamaan kassit.",
    ),
    ("Vuorolistat tulevat liian myöhään.", "Työvuorot julkaistaan aina liian myöhään."),
]


def write_jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def test_bad_lines_are_named(tmp_path: Path) -> None:
    bad = tmp_path / "a.jsonl"
    bad.write_text('{"text": "a"}\n{oops\n')
    with pytest.raises(InvalidInput, match=":2: not JSON"):
        read_texts(bad)
    with pytest.raises(InvalidInput, match=':1: needs a "text" string'):
        read_texts(write_jsonl(tmp_path / "b.jsonl", [{"body": "a"}]))
    with pytest.raises(InvalidInput, match=":1: needs"):
        read_texts(write_jsonl(tmp_path / "c.jsonl", [["text"]]))
    # blank lines are skipped and not counted
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "a"}\n\n{"text": "b"}\n')
    assert read_texts(path) == ["a", "b"]


def test_exact_neighbours_never_return_the_row_itself() -> None:
    rng = np.random.default_rng(0)
    v = rng.normal(size=(30, 8)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    v[7] = v[3]  # an exact duplicate must still not return itself
    out = exact_neighbors(v, 5)
    assert all(i not in row and len(row) == 5 for i, row in enumerate(out))
    assert out[3][0] == 7 and out[7][0] == 3
    brute = np.argsort(-(v @ v.T - 10 * np.eye(30)), axis=1)[:, :5]
    assert [set(r) for r in out] == [set(r.tolist()) for r in brute]
    assert exact_neighbors(v[:1], 5) == [[]]


def test_index_agrees_with_exact_search(chroma_srv: ChildServer) -> None:
    rng = np.random.default_rng(1)
    v = rng.normal(size=(400, 16)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    store = VectorStore(chroma_srv.url, "random-16", collection=f"nb_{rng.integers(1e9)}")
    got = index_neighbors(store, v, 10)
    want = exact_neighbors(v, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(got, want, strict=True)])
    assert recall >= 0.99 and all(i not in row for i, row in enumerate(got))


def test_neighbors_file_with_the_service_model(tmp_path: Path, embedder: Any) -> None:
    texts = [t for pair in PAIRS for t in pair]
    src = write_jsonl(tmp_path / "in.jsonl", [{"text": t, "label": i // 2} for i, t in enumerate(texts)])
    out = tmp_path / "out.jsonl"
    assert neighbors_file(src, out, k=3, embedder=embedder) == len(texts)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == len(texts)
    assert all(set(r) == {"neighbors"} and len(r["neighbors"]) == 3 for r in rows)
    assert all(i not in r["neighbors"] for i, r in enumerate(rows))
    partners = sum(r["neighbors"][0] == (i ^ 1) for i, r in enumerate(rows))
    assert partners >= 6, rows  # each paraphrase finds its pair first (at least 6 of 8)
    # k larger than the file: every other line, once
    neighbors_file(src, out, k=50, embedder=embedder)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert all(sorted(r["neighbors"]) == [j for j in range(8) if j != i] for i, r in enumerate(rows))
    with pytest.raises(InvalidInput):
        neighbors_file(src, out, k=0, embedder=embedder)


def test_an_empty_file_gives_an_empty_answer(tmp_path: Path, embedder: Any) -> None:
    src = tmp_path / "empty.jsonl"
    src.write_text("")
    out = tmp_path / "out.jsonl"
    assert neighbors_file(src, out, k=10, embedder=embedder) == 0
    assert out.read_text() == ""


def unit(*v: float) -> np.ndarray:
    a = np.array(v, dtype=np.float32)
    return a / np.linalg.norm(a)


class CentredStandIn:
    """A stand-in embedder with fixed vectors, so the ranking can be worked out by hand: each note
    is its language's centre plus a little of its subject."""

    model_id = "stand-in@4"
    dimension = 4

    def __init__(self, texts: dict[str, np.ndarray], with_centres: bool) -> None:
        self.texts = texts
        self.language_centres = CENTRES if with_centres else None

    def embed(self, texts: Sequence[str], kind: str = "passage") -> np.ndarray:
        return np.stack([self.texts[t] for t in texts])


@pytest.mark.parametrize("with_centres", [True, False])
def test_neighbours_rank_by_centred_vectors_when_the_model_has_centres(
    tmp_path: Path, with_centres: bool
) -> None:
    cold, lift = 0.5 * unit(0, 0, 1, 0), 0.5 * unit(0, 0, 0, 1)
    given = {
        "Ruoka tuli taas kylmänä ja myöhässä.": CENTRES["fi"] + cold,
        "Hissi on ollut rikki koko viikon.": CENTRES["fi"] + lift,
        "The meal was cold again when it came.": CENTRES["en"] + cold,
    }
    texts = {t: unit(*v) for t, v in given.items()}
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    neighbors_file(src, out, k=1, embedder=CentredStandIn(texts, with_centres))  # type: ignore[arg-type]
    first = [json.loads(line)["neighbors"][0] for line in out.read_text().splitlines()]
    # centred: the cold-meal notes find each other across languages; raw: the language decides
    assert first[0] == (2 if with_centres else 1)

