"""multilingual-e5-small on ONNX Runtime: the torch folder of :mod:`e5export` exported once to ONNX and cached.

Three variants, each a folder ``$HEEDFUL_CACHE/models/multilingual-e5-small-onnx-<variant>/`` holding ``model.onnx``
(token ids and mask in, the mean-pooled last hidden state out), the ``tokenizer.json`` of the torch folder and
``meta.json`` (the model file's size and sha256, checked at every load: a missing, truncated or altered file is
rebuilt):

* ``q4`` (the default encoder ``e5-q4``): weights in 4-bit blocks of 32, activations in 8-bit blocks of 32, which is
  the packaged engine's own arithmetic, run by ONNX Runtime's ``MatMulNBits`` kernels.
* ``int8`` (``e5-int8``): every matrix product with a weight runs in 8-bit integers (``MatMulInteger``): weights per
  output channel, activations per token (symmetric, shifted by 128 into uint8). Per-token scales keep a text's vector
  independent of the other texts in its batch (ONNX Runtime's ``quantize_dynamic`` scales a whole batch at once,
  which moved vectors by up to 0.02 with their batch-mates, measured); coarser than ``q4``, so neighbours agree less.
* ``fp32`` (``e5-onnx``): the exported graph as it is.

The quantised variants store the word table in float16 (half the file; its values are 4-bit codes times a float16
scale already).

Exporting needs torch, transformers, onnx (and onnx-ir for ``q4``; under a minute, once); encoding needs only
onnxruntime and tokenizers.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
from pathlib import Path

import numpy as np

from heedful.errors import InputError, MissingExtra
from heedful.runs import atomic_folder

VARIANTS = ("fp32", "int8", "q4")
FORMAT = 1  # bump when the export changes the vectors: caches keyed by the encoder's name then start afresh


def _require(module: str) -> None:
    import importlib.util

    if importlib.util.find_spec(module) is None:
        raise MissingExtra("rationale", module)


def default_onnx_dir(variant: str) -> Path:
    from heedful.cache import cache_root
    from heedful.rationale.features.e5export import E5_NAME

    return cache_root() / "models" / f"{E5_NAME}-onnx-{variant}"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def is_complete(folder: Path, variant: str) -> bool:
    """The folder holds a finished export of ``variant`` whose model file is exactly the one written."""
    try:
        meta = json.loads((folder / "meta.json").read_text())
        model = folder / "model.onnx"
        ok = meta.get("variant") == variant and meta.get("format") == FORMAT and (folder / "tokenizer.json").is_file()
        return ok and model.stat().st_size == meta["bytes"] and _sha256(model) == meta["sha256"]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):  # missing, unreadable or garbage meta
        return False


def ensure_e5_onnx(variant: str = "q4") -> Path:
    """The cached ONNX folder of the packaged multilingual-e5-small, (re)built when missing or damaged."""
    from heedful.rationale.features.e5export import ensure_e5

    folder = default_onnx_dir(variant)
    return folder if is_complete(folder, variant) else export_onnx(ensure_e5(), folder, variant)


def _pooled(model):
    """``model`` with mean pooling of its last hidden states over the mask: what is exported, (B, D) out."""
    import torch

    class Pooled(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask):
            hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state  # (B, T, D)
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
            return (hidden * mask).sum(1) / mask.sum(1).clamp_min(1)  # (B, D)

    return Pooled().eval()


def _torch_export(source: Path, out: Path) -> None:
    import torch

    from heedful.rationale.features.encoders import load_hf_encoder

    tokenizer, model = load_hf_encoder(source, "encoder")
    example = tokenizer(["a b c", "a"], padding=True, return_tensors="pt")
    axes = {"input_ids": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"}, "pooled": {0: "batch"}}
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation and tracer notes
        torch.onnx.export(
            _pooled(model),
            (example["input_ids"], example["attention_mask"]),
            str(out),
            input_names=["input_ids", "attention_mask"],
            output_names=["pooled"],
            dynamic_axes=axes,
            opset_version=18,
            dynamo=False,  # the torch.export-based exporter needs onnxscript; this one needs onnx only
        )


def export_onnx(source: str | os.PathLike, folder: str | os.PathLike, variant: str = "q4") -> Path:
    """Export the Hugging Face encoder folder ``source`` (with a ``tokenizer.json``) to ``folder`` as ``variant``;
    written in a temporary sibling and renamed into place, so a folder that exists is complete."""
    from heedful.rationale.features.onnxquant import quantise_matmuls, quantise_matmuls_4bit, word_table_float16

    if variant not in VARIANTS:
        raise InputError(f"ONNX variant must be one of {', '.join(VARIANTS)}, got {variant!r}")
    for module in ("onnx", "onnxruntime") + (("onnx_ir",) if variant == "q4" else ()):
        _require(module)
    source, folder = Path(source), Path(folder)
    if not (source / "tokenizer.json").is_file():
        raise InputError(f"encoder: {source} has no tokenizer.json (a fast tokenizer is needed for ONNX)")

    def write(work: Path) -> None:
        model = work / "model.onnx"
        _torch_export(source, model)
        if variant != "fp32":
            import onnx

            graph = onnx.load(str(model))
            if variant == "int8":
                quantise_matmuls(graph)
            else:
                graph = quantise_matmuls_4bit(graph)
            word_table_float16(graph)
            onnx.save(graph, str(model))
        shutil.copyfile(source / "tokenizer.json", work / "tokenizer.json")
        config = json.loads((source / "config.json").read_text())
        meta = {"variant": variant, "format": FORMAT, "bytes": model.stat().st_size, "sha256": _sha256(model)}
        meta |= {"pad_token_id": config.get("pad_token_id") or 0, "dim": config["hidden_size"]}
        (work / "meta.json").write_text(json.dumps(meta, indent=2))

    return atomic_folder(folder, write)


def _omp_threads() -> int:
    """The first number of ``OMP_NUM_THREADS`` (OpenMP also accepts lists like ``4,2``), else 0."""
    first = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    return int(first) if first.isdigit() else 0


class OnnxEncoder:
    """An exported folder on ONNX Runtime: texts sorted by length, in batches of ``batch_size``, L2-normalised."""

    NAME = "e5onnx{format}-{variant}-{mode}"

    def __init__(self, folder: str | os.PathLike, prefix: str = "passage: ", batch_size: int = 16, threads: int = 0):
        _require("onnxruntime")
        import onnxruntime as ort
        from tokenizers import Tokenizer

        folder = Path(folder)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or _omp_threads()  # the service's --threads; 0: all cores
        options.inter_op_num_threads = 1
        try:
            meta = json.loads((folder / "meta.json").read_text())
            self.pad, self.dim, variant = int(meta["pad_token_id"]), int(meta["dim"]), str(meta["variant"])
            self.session = ort.InferenceSession(str(folder / "model.onnx"), options, providers=["CPUExecutionProvider"])
            self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        except Exception as err:  # onnxruntime and tokenizers raise their own types for a file they cannot read
            reason = str(err).strip().splitlines()[0][:160] if str(err).strip() else type(err).__name__
            raise InputError(f"encoder: {folder} is not a usable ONNX encoder folder ({reason})") from None
        self.tokenizer.enable_truncation(128)
        self.prefix, self.batch_size = prefix, batch_size
        mode = prefix.rstrip(": ") or "none"
        self.name = self.NAME.format(format=FORMAT, variant=variant, mode=mode)

    def _run(self, texts: list[str]) -> np.ndarray:
        encoded = self.tokenizer.encode_batch([self.prefix + t for t in texts])
        width = max(len(e.ids) for e in encoded)
        ids = np.full((len(texts), width), self.pad, np.int64)  # (B, T)
        mask = np.zeros((len(texts), width), np.int64)  # (B, T)
        for row, e in enumerate(encoded):
            ids[row, : len(e.ids)] = e.ids
            mask[row, : len(e.ids)] = 1
        return self.session.run(None, {"input_ids": ids, "attention_mask": mask})[0]  # (B, D)

    def encode(self, texts: list[str]) -> np.ndarray:
        from heedful.rationale.features.vectors import l2_normalise

        # longest first, in batches of similar length: padding, not the model, was most of the time
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.zeros((len(texts), self.dim), np.float32)
        for start in range(0, len(texts), self.batch_size):
            rows = order[start : start + self.batch_size]
            out[rows] = self._run([texts[i] for i in rows])
        return l2_normalise(out)
