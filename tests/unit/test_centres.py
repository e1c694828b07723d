"""Language centres (hiljainen.pipeline.centres): the arithmetic and the file
(tests/system/test_neighbors.py checks that `hiljainen neighbors` ranks by them)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from hiljainen.pipeline import centres

FI, EN = np.array([0.9, 0, 0, 0], dtype=np.float32), np.array([0, 0.9, 0, 0], dtype=np.float32)


def unit(*v: float) -> np.ndarray:
    a = np.array(v, dtype=np.float32)
    return a / np.linalg.norm(a)


def test_each_vector_loses_its_languages_centre_and_is_renormalised() -> None:
    x = np.stack([unit(1, 0, 0.5, 0), unit(0, 1, 0.5, 0), unit(1, 1, 0, 0.5)])
    out = centres.centred(x, ["fi", "en", "und"], {"fi": FI, "en": EN})
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(out[0], unit(*(x[0] - FI)), rtol=1e-5)
    np.testing.assert_allclose(out[1], unit(*(x[1] - EN)), rtol=1e-5)
    np.testing.assert_allclose(out[2], unit(*(x[2] - (FI + EN) / 2)), rtol=1e-5)  # the shared part
    # the same subject in two languages ends up closer than two subjects in one language
    assert out[0] @ out[1] > 0.9 and x[0] @ x[1] < 0.3
    assert centres.centred(np.zeros((0, 4)), [], {"fi": FI}).shape == (0, 4)


def test_centres_are_each_languages_mean_and_survive_the_file(tmp_path: Path) -> None:
    vectors = {"a": unit(1, 0, 0, 0), "b": unit(0, 1, 0, 0), "c": unit(0, 0, 1, 0)}
    embed = lambda ts: np.stack([vectors[t] for t in ts])  # noqa: E731
    found = centres.compute(embed, ["a", "b", "c"], ["fi", "fi", "en"])
    np.testing.assert_allclose(found["fi"], [0.5, 0.5, 0, 0])
    np.testing.assert_allclose(found["en"], [0, 0, 1, 0])
    assert centres.read(tmp_path) is None
    centres.write(tmp_path, found)
    back = centres.read(tmp_path)
    assert back is not None and set(back) == {"fi", "en"}
    np.testing.assert_allclose(back["fi"], found["fi"], atol=1e-7)
    assert json.loads((tmp_path / centres.FILE).read_text())["en"] == [0, 0, 1, 0]
    assert not (tmp_path / (centres.FILE + ".partial")).exists()
    centres.write(tmp_path, {})
    assert centres.read(tmp_path) is None  # an empty file means no centres, not NaN rankings

