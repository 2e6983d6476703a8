"""One training loop for the process track (Accelerate), with early stopping and resumable checkpoints.

A checkpoint folder holds ``model.safetensors`` (last epoch), ``best.safetensors``, ``optimizer.pt`` (a plain
state dict, loaded with ``weights_only=True``) and ``state.json`` (epoch, history, early-stopping counters).
``state.json`` is written last, so a run killed mid-save resumes from the previous complete epoch.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from heedful.errors import InputError
from heedful.explain.perturb import soft_keep_mask
from heedful.process.tasks.base import Split
from heedful.runs import atomic_write, write_json


@dataclass
class TrainConfig:
    epochs: int = 30
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4
    patience: int = 6
    grad_clip: float = 1.0
    noise: float = 0.0  # std of Gaussian noise added to training inputs (scaled units): a cheap regulariser
    teacher_forcing: float = 0.5  # Seq2Seq training: gold previous output with this probability, per step
    attention_sufficiency: float = 0.0  # weight of the task loss on the input kept by attention (docs/explain.md)
    attention_keep: float = 0.1  # share of steps the attention keeps for attention_sufficiency
    seed: int = 0

    def __post_init__(self):
        for name in ("epochs", "batch_size", "patience"):
            if getattr(self, name) < 1:
                raise InputError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0:
            raise InputError(f"lr must be > 0, got {self.lr}")
        if self.noise < 0:
            raise InputError(f"noise must be >= 0, got {self.noise}")
        if not 0.0 <= self.teacher_forcing <= 1.0:
            raise InputError(f"teacher_forcing must lie in [0, 1], got {self.teacher_forcing}")
        if self.attention_sufficiency < 0:
            raise InputError(f"attention_sufficiency must be >= 0, got {self.attention_sufficiency}")
        if not 0.0 < self.attention_keep <= 1.0:
            raise InputError(f"attention_keep must lie in (0, 1], got {self.attention_keep}")


@dataclass
class TrainResult:
    best_epoch: int
    best_val: float
    epochs_run: int
    seconds: float
    history: list[dict] = field(default_factory=list)


CLASSIFYING = ("classification", "sequence_classification")


def _tensors(split: Split) -> list[torch.Tensor]:
    """x, y, lengths, mask, censored: the optional parts filled with their neutral values."""
    n, t = split.x.shape[:2]
    lengths = split.lengths if split.lengths is not None else np.full(n, t)
    mask = split.mask if split.mask is not None else np.ones(split.y.shape, dtype=bool)
    censored = split.censored if split.censored is not None else np.zeros(n, dtype=bool)
    y = split.y if split.y.dtype == np.int64 else split.y.astype(np.float32)
    return [torch.from_numpy(np.ascontiguousarray(a)) for a in (split.x, y, lengths, mask, censored)]


def _loader(split: Split, batch_size: int, shuffle: bool, seed: int):
    ds = torch.utils.data.TensorDataset(*_tensors(split))
    g = torch.Generator().manual_seed(seed)
    return torch.utils.data.DataLoader(ds, batch_size=batch_size, shuffle=shuffle, generator=g)


def _lengths_arg(x: torch.Tensor, lengths: torch.Tensor | None):
    """None when every sample is full length (the fast unpacked path)."""
    if lengths is None or bool((lengths == x.shape[1]).all()):
        return None
    return lengths


@torch.no_grad()
def predict(
    model: torch.nn.Module,
    x: np.ndarray,
    batch_size: int = 512,
    lengths: np.ndarray | None = None,
    kind: str = "classification",
) -> tuple[np.ndarray, np.ndarray | None]:
    """Predictions (class ids for classifying kinds, else values) and attention weights when the model has them:
    (N, T) for attention pooling, (N, steps, T) for Seq2Seq."""
    model.eval()
    preds, maps = [], []
    xs = torch.from_numpy(x).split(batch_size)
    ls = torch.from_numpy(lengths).split(batch_size) if lengths is not None else [None] * len(xs)
    for chunk, length in zip(xs, ls, strict=True):
        out = model(chunk, _lengths_arg(chunk, length))
        preds.append(out.prediction.argmax(-1) if kind in CLASSIFYING else out.prediction)
        if out.attention is not None:
            maps.append(out.attention)
    return torch.cat(preds).numpy(), (torch.cat(maps).numpy() if maps else None)


def loss_fn(kind: str, pred: torch.Tensor, y, mask, censored) -> torch.Tensor:
    """Cross-entropy over valid targets (classifying kinds) or masked MSE. Censored regression targets are
    lower bounds: only predictions below them are penalised."""
    if kind == "classification":
        return F.cross_entropy(pred, y)
    if kind == "sequence_classification":
        return F.cross_entropy(pred[mask], y[mask])
    err = pred - y
    if kind == "regression" and censored.any():
        err = torch.where(censored[:, None], torch.clamp(err, max=0.0), err)
    return (err[mask] ** 2).mean()


def val_score(kind: str, model, split: Split, batch_size: int = 512) -> float:
    """Validation score, higher is better: accuracy over valid targets, or minus the (censoring-aware) MSE."""
    pred, _ = predict(model, split.x, batch_size, split.lengths, kind)
    _, y, _, mask, censored = _tensors(split)
    if kind in CLASSIFYING:
        return float((torch.from_numpy(pred) == y)[mask].float().mean())
    return -float(loss_fn(kind, torch.from_numpy(pred), y, mask, censored))


def fit_classifier(
    model,
    train: Split,
    val: Split,
    cfg: TrainConfig,
    ckpt_dir: str | Path | None = None,
    progress: bool = True,
    kind: str = "classification",
) -> TrainResult:
    """Train with AdamW on the kind's loss (``loss_fn``), keep the weights with the best validation score
    (``val_score``), stop after ``patience`` epochs without improvement. With ``ckpt_dir``, resume from its last
    complete epoch. Any task kind: the name stays for the callers that predate the regression kinds."""
    from accelerate import Accelerator

    torch.manual_seed(cfg.seed)
    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    state = _resume(model, opt, ckpt_dir)
    model, opt = accelerator.prepare(model, opt)
    start = time.perf_counter() - state["seconds"]
    bar = tqdm(range(state["epoch"], cfg.epochs), desc="train", unit="epoch", disable=not progress, leave=False)
    for epoch in bar:
        # every epoch seeds its own shuffling and dropout, so a resumed run repeats an uninterrupted one
        torch.manual_seed(cfg.seed + epoch)
        loader = accelerator.prepare_data_loader(_loader(train, cfg.batch_size, True, cfg.seed + epoch))
        model.train()
        losses = []
        for x, y, lengths, mask, censored in loader:
            if cfg.noise:
                x = x + cfg.noise * torch.randn_like(x)
            out = _forward(model, x, _lengths_arg(x, lengths), y, cfg)
            loss = loss_fn(kind, out.prediction, y, mask, censored)
            if cfg.attention_sufficiency and out.attention is not None and out.attention.dim() == 2:
                kept = x * soft_keep_mask(out.attention, lengths, cfg.attention_keep)[..., None]
                suff = loss_fn(kind, model(kept, _lengths_arg(x, lengths)).prediction, y, mask, censored)
                loss = loss + cfg.attention_sufficiency * suff
            opt.zero_grad()
            accelerator.backward(loss)
            accelerator.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            losses.append(loss.item())
        val_acc = val_score(kind, model, val)
        key = "val_accuracy" if kind in CLASSIFYING else "val_score"
        state["history"].append({"epoch": epoch + 1, "loss": float(np.mean(losses)), key: val_acc})
        improved = val_acc > state["best_val"]
        if improved:
            state.update(best_val=val_acc, best_epoch=epoch + 1, stale=0)
        else:
            state["stale"] += 1
        state.update(epoch=epoch + 1, seconds=time.perf_counter() - start)
        bar.set_postfix(loss=f"{np.mean(losses):.3f}", val=f"{val_acc:.3f}")
        if ckpt_dir is not None:
            _save(accelerator.unwrap_model(model), opt, state, Path(ckpt_dir), improved)
        if state["stale"] >= cfg.patience:
            break
    if ckpt_dir is not None and (Path(ckpt_dir) / "best.safetensors").exists():
        load_weights(accelerator.unwrap_model(model), Path(ckpt_dir) / "best.safetensors")
    return TrainResult(
        state["best_epoch"], state["best_val"], state["epoch"], time.perf_counter() - start, state["history"]
    )


def _forward(model, x, lengths, y, cfg: TrainConfig):
    """Seq2Seq models train with scheduled sampling on the gold targets; the others only see x."""
    from heedful.process.models import ProcessSeq2Seq

    if isinstance(model, ProcessSeq2Seq):
        return model(x, lengths, target=y, teacher_forcing=cfg.teacher_forcing)
    return model(x, lengths)


def _resume(model, opt, ckpt_dir) -> dict:
    fresh = {"epoch": 0, "best_val": -float("inf"), "best_epoch": 0, "stale": 0, "seconds": 0.0, "history": []}
    if ckpt_dir is None or not (Path(ckpt_dir) / "state.json").exists():
        return fresh
    ckpt = Path(ckpt_dir)
    try:
        state = json.loads((ckpt / "state.json").read_text())
        load_weights(model, ckpt / "model.safetensors")
        opt.load_state_dict(torch.load(ckpt / "optimizer.pt", weights_only=True))
    except Exception as err:  # safetensors, torch and json each raise their own types
        raise InputError(f"corrupt checkpoint in {ckpt}: {err}") from err
    return {**fresh, **state}


def _save(model, opt, state: dict, ckpt: Path, improved: bool) -> None:
    from safetensors.torch import save_file

    weights = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    atomic_write(ckpt / "model.safetensors", lambda p: save_file(weights, str(p)))
    if improved:
        atomic_write(ckpt / "best.safetensors", lambda p: save_file(weights, str(p)))
    atomic_write(ckpt / "optimizer.pt", lambda p: torch.save(opt.state_dict(), p))
    write_json(ckpt / "state.json", state)  # last: marks the epoch complete


def load_weights(model: torch.nn.Module, path: Path) -> None:
    """Strict load: missing or unexpected keys are an error, not a silent partial model."""
    from safetensors.torch import load_file

    missing, unexpected = model.load_state_dict(load_file(str(path)), strict=False)
    if missing or unexpected:
        raise InputError(f"{path}: missing keys {missing[:5]}, unexpected keys {unexpected[:5]}")
