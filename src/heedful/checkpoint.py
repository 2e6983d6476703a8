"""Resumable training checkpoints without pickle: tensors in safetensors, everything else in JSON, all atomic.

Layout of a checkpoint folder (``save_checkpoint`` / ``load_checkpoint``)::

    state.json                written last: {"format": 1, "dir": "step-000007", "files": [...], <trainer state>}
    step-000007/              one folder per save; state.json names the last complete one, older ones are removed
        model.safetensors     the model's state_dict
        optimizer.safetensors the optimiser's per-parameter tensors, keys "<param index>.<name>" (AdamW: step,
                              exp_avg, exp_avg_sq)
        optimizer.json        the optimiser's param_groups and its non-tensor per-parameter values
        scheduler.json        a learning-rate scheduler's state_dict, when there is one (JSON values only)
        rng.safetensors       torch's CPU generator state (and each CUDA device's), numpy's MT19937 key
        rng.json              python's ``random`` state, numpy's position and Gaussian cache
    best.safetensors          weights of the best epoch so far (``save_weights``), what inference loads

Every file is written to a temporary name beside it and renamed into place (``heedful.runs.atomic_write``), with the
permissions of any other output (safetensors' own writer would create owner-only 0600 files). A save writes its
step folder completely, then ``state.json``, then removes older step folders: a process killed at any moment
leaves a ``state.json`` that names a complete folder, so resuming continues from the last complete save. Loading
checks every file and turns a missing, truncated or garbage one into an ``InputError`` naming it.

An optimiser state the JSON side cannot hold (a tensor-valued hyper-parameter, say) falls back to
``optimizer.pt``, written by ``torch.save`` and read back with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from heedful.errors import InputError
from heedful.runs import atomic_write, read_json, require_file, write_json

FORMAT = 1
WEIGHTS = "model.safetensors"
BEST = "best.safetensors"
STATE = "state.json"


# --- weights ------------------------------------------------------------------------------------------


def save_tensors(path: str | Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None) -> Path:
    """Tensors to a safetensors file, atomically, with ordinary (umask) permissions."""
    from safetensors.torch import save

    data = save({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, metadata=metadata)
    return atomic_write(path, lambda p: p.write_bytes(data))


def load_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    """A safetensors file's tensors; a missing, truncated or garbage file is one error naming it."""
    from safetensors.torch import load

    path = require_file(path)
    try:
        return load(path.read_bytes())
    except Exception as err:  # safetensors raises its own error type (and others) for damaged files
        reason = " ".join(str(err).split())[:160] or type(err).__name__
        raise InputError(f"{path}: not a readable safetensors file ({reason})") from None


def saved_shapes(path: str | Path) -> dict[str, tuple[int, ...]]:
    """The tensor shapes of a safetensors file, read from its header only (nothing is loaded)."""
    from safetensors import safe_open

    path = require_file(path)
    try:
        with safe_open(str(path), framework="pt") as f:
            return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}  # noqa: SIM118 (not a dict)
    except Exception as err:  # as load_tensors: safetensors raises its own error type (and others) for damaged files
        reason = " ".join(str(err).split())[:160] or type(err).__name__
        raise InputError(f"{path}: not a readable safetensors file ({reason})") from None


def build_fitting(build, path: str | Path, config: str | Path) -> torch.nn.Module:
    """``build()`` the model whose weights are in ``path``, after building it on the meta device (no memory) and
    checking its shapes against the file's header: a ``config`` that asks for a hidden size of 10⁶ (or 2⁷⁰) is
    refused naming it, instead of allocating terabytes (or failing deep inside torch)."""
    shapes = saved_shapes(path)
    try:
        with torch.device("meta"):
            skeleton = build()
    except (RuntimeError, TypeError, OverflowError, ValueError) as err:  # sizes torch cannot even describe
        reason = " ".join(str(err).split())[:120]
        raise InputError(f"{config}: sizes that no model can have ({reason}); its weights are {path}") from None
    for key, value in skeleton.state_dict().items():
        if key not in shapes or shapes[key] != tuple(value.shape):
            saved = shapes.get(key, "missing")
            raise InputError(
                f"{config}: does not fit its weights {path}: {key} has shape {saved} there, the config makes "
                f"{tuple(value.shape)} (was config.json changed?)"
            )
    return build()


def save_weights(path: str | Path, model: torch.nn.Module) -> Path:
    return save_tensors(path, model.state_dict())


def load_weights(model: torch.nn.Module, path: str | Path) -> None:
    """Strict load: a missing or unexpected key, or a tensor of another shape, is an error naming the file."""
    weights = load_tensors(path)
    expected = model.state_dict()
    missing = [k for k in expected if k not in weights]
    unexpected = [k for k in weights if k not in expected]
    if missing or unexpected:
        raise InputError(
            f"{path}: does not fit the model: missing keys {missing[:3]}, unexpected keys {unexpected[:3]}"
        )
    for key, value in expected.items():
        if weights[key].shape != value.shape:
            raise InputError(
                f"{path}: does not fit the model: {key} has shape {tuple(weights[key].shape)}, the model "
                f"{tuple(value.shape)} (was the run's config.json changed?)"
            )
    for key, value in weights.items():
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            # a model with NaN weights predicts one class everywhere, quietly: never load one
            raise InputError(f"{path}: {key} holds NaN or inf weights (the training diverged); train the run again")
    model.load_state_dict(weights)


# --- optimiser, scheduler, random state -----------------------------------------------------------------


def _optimizer_parts(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    sd = opt.state_dict()
    tensors, scalars = {}, {}
    for index, values in sd["state"].items():
        for name, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{index}.{name}"] = value
            else:
                scalars.setdefault(str(index), {})[name] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def _save_optimizer(folder: Path, opt: torch.optim.Optimizer) -> list[str]:
    tensors, rest = _optimizer_parts(opt)
    try:
        text = json.dumps(rest, allow_nan=False)
    except (TypeError, ValueError):  # not JSON-able: the weights-only torch format
        atomic_write(folder / "optimizer.pt", lambda p: torch.save(opt.state_dict(), p))
        return ["optimizer.pt"]
    save_tensors(folder / "optimizer.safetensors", tensors)
    atomic_write(folder / "optimizer.json", lambda p: p.write_text(text + "\n", encoding="utf-8"))
    return ["optimizer.safetensors", "optimizer.json"]


def _load_optimizer(folder: Path, opt: torch.optim.Optimizer) -> None:
    if (folder / "optimizer.pt").exists():
        try:
            sd = torch.load(folder / "optimizer.pt", weights_only=True)
        except Exception as err:
            raise InputError(
                f"{folder / 'optimizer.pt'}: not a readable optimiser state ({type(err).__name__})"
            ) from None
    else:
        tensors, rest = load_tensors(folder / "optimizer.safetensors"), read_json(folder / "optimizer.json")
        try:
            groups = [{k: tuple(v) if isinstance(v, list) and k != "params" else v for k, v in g.items()}
                      for g in rest["param_groups"]]  # fmt: skip
            state: dict[int, dict] = {}
            for key, value in tensors.items():
                index, name = key.split(".", 1)
                state.setdefault(int(index), {})[name] = value
            for index, values in rest["scalars"].items():
                state.setdefault(int(index), {}).update(values)
            sd = {"state": state, "param_groups": groups}
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise InputError(f"{folder / 'optimizer.json'}: not an optimiser state ({err!r})") from None
    try:
        opt.load_state_dict(sd)
    except (KeyError, TypeError, ValueError, RuntimeError) as err:
        reason = " ".join(str(err).split())[:160]
        raise InputError(f"{folder}: the optimiser state does not fit this model ({reason})") from None


def rng_state() -> tuple[dict[str, torch.Tensor], dict]:
    """(tensors, JSON) of torch's, numpy's and python's global random generators."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    tensors = {"torch": torch.get_rng_state(), "numpy": torch.from_numpy(keys.astype(np.int64))}
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"cuda.{i}"] = s
    version, internal, gauss = random.getstate()
    rest = {"numpy": [kind, int(pos), int(has_gauss), float(cached)], "python": [version, list(internal), gauss]}
    return tensors, rest


def set_rng_state(tensors: dict[str, torch.Tensor], rest: dict) -> None:
    torch.set_rng_state(tensors["torch"])
    cuda = [tensors[f"cuda.{i}"] for i in range(len(tensors)) if f"cuda.{i}" in tensors]
    if cuda and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
    kind, pos, has_gauss, cached = rest["numpy"]
    np.random.set_state((kind, tensors["numpy"].numpy().astype(np.uint32), pos, has_gauss, cached))
    version, internal, gauss = rest["python"]
    random.setstate((version, tuple(internal), gauss))


def seed_everything(seed: int) -> None:
    """Seed python's, numpy's and torch's global generators (every device): a model built after this call starts
    from the same weights every time, and dropout draws the same masks."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@contextlib.contextmanager
def deterministic_algorithms() -> Iterator[None]:
    """Within the block, torch picks deterministic kernels where it has them (and warns where it has none); the
    caller's setting comes back afterwards. On CUDA, cuBLAS also needs ``CUBLAS_WORKSPACE_CONFIG`` set before its
    first use: set here unless the user chose a value."""
    before = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    benchmark = torch.backends.cudnn.benchmark
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before, warn_only=warn_only)
        torch.backends.cudnn.benchmark = benchmark


# --- checkpoints --------------------------------------------------------------------------------------


def save_checkpoint(
    folder: str | Path,
    model: torch.nn.Module,
    state: dict,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler=None,
    best: bool = False,
    weights: dict[str, torch.Tensor] | None = None,
) -> Path:
    """Save one complete, resumable step (see the module's layout); ``best`` also writes ``best.safetensors``.
    ``state`` (JSON values) is the trainer's own: epoch, history, early-stopping counters. ``weights``: the tensors
    to keep instead of the model's whole state_dict (a frozen LM's trainable part)."""
    folder = Path(folder)
    previous = _state(folder).get("dir") if (folder / STATE).exists() else None
    n = int(previous.split("-")[1]) + 1 if previous else 1
    step = folder / f"step-{n:06d}"
    if step.exists():
        shutil.rmtree(step)
    files = [WEIGHTS]
    weights = model.state_dict() if weights is None else weights
    save_tensors(step / WEIGHTS, weights)
    if optimizer is not None:
        files += _save_optimizer(step, optimizer)
    if scheduler is not None:
        write_json(step / "scheduler.json", scheduler.state_dict())
        files.append("scheduler.json")
    tensors, rest = rng_state()
    save_tensors(step / "rng.safetensors", tensors)
    write_json(step / "rng.json", rest)
    files += ["rng.safetensors", "rng.json"]
    if best:
        save_tensors(folder / BEST, weights)
    write_json(folder / STATE, {"format": FORMAT, "dir": step.name, "files": files, **state})  # last: the save counts
    for old in folder.glob("step-*"):
        if old.name != step.name:
            shutil.rmtree(old, ignore_errors=True)
    return step


def _state(folder: Path) -> dict:
    state = read_json(folder / STATE)
    if not isinstance(state, dict) or state.get("format") != FORMAT or not isinstance(state.get("dir"), str):
        raise InputError(f"{folder / STATE}: not a heedful checkpoint state (format {FORMAT})")
    if not re.fullmatch(r"step-[0-9]{1,9}", state["dir"]):  # a name of ours, never a path elsewhere
        raise InputError(f"{folder / STATE}: dir {state['dir'][:40]!r} is not a step folder (step-NNNNNN)")
    return state


def load_checkpoint(
    folder: str | Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler=None,
    restore_rng: bool = True,
    weights_loader=None,
) -> dict | None:
    """Restore the last complete save into ``model`` (and ``optimizer``, ``scheduler``, the random generators);
    return the trainer's state, or None when the folder holds no checkpoint yet. ``weights_loader(tensors,
    source)`` replaces ``model.load_state_dict`` for checkpoints saved with ``weights=``."""
    folder = Path(folder)
    if not (folder / STATE).exists():
        return None
    state = _state(folder)
    step = folder / state["dir"]
    if not step.is_dir():
        raise InputError(f"{folder / STATE}: names {step.name}, which is missing")
    if weights_loader is None:
        load_weights(model, step / WEIGHTS)
    else:
        weights_loader(load_tensors(step / WEIGHTS), str(step / WEIGHTS))
    if optimizer is not None:
        _load_optimizer(step, optimizer)
    if scheduler is not None and (step / "scheduler.json").exists():
        scheduler.load_state_dict(read_json(step / "scheduler.json"))
    if restore_rng:
        tensors, rest = load_tensors(step / "rng.safetensors"), read_json(step / "rng.json")
        try:
            set_rng_state(tensors, rest)
        except (KeyError, TypeError, ValueError, RuntimeError) as err:
            raise InputError(f"{step / 'rng.json'}: not a random-generator state ({err!r})") from None
    return {k: v for k, v in state.items() if k not in ("format", "dir", "files")}


__all__ = [
    "BEST",
    "build_fitting",
    "deterministic_algorithms",
    "load_checkpoint",
    "load_tensors",
    "load_weights",
    "rng_state",
    "save_checkpoint",
    "save_tensors",
    "save_weights",
    "saved_shapes",
    "seed_everything",
    "set_rng_state",
]
