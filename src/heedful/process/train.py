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
    seed: int = 0

    def __post_init__(self):
        for name in ("epochs", "batch_size", "patience"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ValueError(f"lr must be > 0, got {self.lr}")
        if self.noise < 0:
            raise ValueError(f"noise must be >= 0, got {self.noise}")


@dataclass
class TrainResult:
    best_epoch: int
    best_val: float
    epochs_run: int
    seconds: float
    history: list[dict] = field(default_factory=list)


def _loader(split: Split, batch_size: int, shuffle: bool, seed: int):
    ds = torch.utils.data.TensorDataset(torch.from_numpy(split.x), torch.from_numpy(split.y))
    g = torch.Generator().manual_seed(seed)
    return torch.utils.data.DataLoader(ds, batch_size=batch_size, shuffle=shuffle, generator=g)


@torch.no_grad()
def predict(model: torch.nn.Module, x: np.ndarray, batch_size: int = 512) -> tuple[np.ndarray, np.ndarray | None]:
    """Class predictions (N,) and attention weights (N, T) when the model pools by attention."""
    model.eval()
    preds, maps = [], []
    for chunk in torch.from_numpy(x).split(batch_size):
        out = model(chunk)
        preds.append(out.prediction.argmax(-1))
        if out.attention is not None:
            maps.append(out.attention)
    return torch.cat(preds).numpy(), (torch.cat(maps).numpy() if maps else None)


def fit_classifier(
    model, train: Split, val: Split, cfg: TrainConfig, ckpt_dir: str | Path | None = None, progress: bool = True
) -> TrainResult:
    """Train with AdamW + cross-entropy, keep the weights with the best validation accuracy, stop after
    ``patience`` epochs without improvement. With ``ckpt_dir``, resume from its last complete epoch."""
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
        for x, y in loader:
            if cfg.noise:
                x = x + cfg.noise * torch.randn_like(x)
            loss = F.cross_entropy(model(x).prediction, y)
            opt.zero_grad()
            accelerator.backward(loss)
            accelerator.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            losses.append(loss.item())
        val_acc = float((predict(model, val.x)[0] == val.y).mean())
        state["history"].append({"epoch": epoch + 1, "loss": float(np.mean(losses)), "val_accuracy": val_acc})
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


def _resume(model, opt, ckpt_dir) -> dict:
    fresh = {"epoch": 0, "best_val": -1.0, "best_epoch": 0, "stale": 0, "seconds": 0.0, "history": []}
    if ckpt_dir is None or not (Path(ckpt_dir) / "state.json").exists():
        return fresh
    ckpt = Path(ckpt_dir)
    try:
        state = json.loads((ckpt / "state.json").read_text())
        load_weights(model, ckpt / "model.safetensors")
        opt.load_state_dict(torch.load(ckpt / "optimizer.pt", weights_only=True))
    except Exception as err:  # safetensors, torch and json each raise their own types
        raise ValueError(f"corrupt checkpoint in {ckpt}: {err}") from err
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
        raise ValueError(f"{path}: missing keys {missing[:5]}, unexpected keys {unexpected[:5]}")
