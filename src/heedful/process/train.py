"""One training loop for the process track (Accelerate), with early stopping and resumable checkpoints.

The state, the epochs, early stopping and checkpoints are the LM trainer's (``heedful.training``). The checkpoint
folder is ``heedful.checkpoint``'s layout: ``best.safetensors`` (what inference loads), one complete
step folder per epoch (weights, optimiser, random state) and ``state.json`` (epoch, history, early-stopping
counters), written last, so a run killed mid-save resumes from the previous complete epoch. Progress goes to a
tqdm bar (``progress``), to the ``heedful.process.train`` logger (one INFO line per epoch) and to ``on_epoch``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from tqdm.auto import tqdm

from heedful import tracking
from heedful.checkpoint import load_weights
from heedful.devices import model_device, to_device
from heedful.errors import InputError
from heedful.explain.perturb import soft_keep_mask
from heedful.process.config import TrainConfig
from heedful.process.data import Split
from heedful.process.models import ProcessSeq2Seq
from heedful.training import Checkpoints, LoopState, average_gradients, close_epoch, main_value, make_accelerator

log = logging.getLogger(__name__)


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
    device = model_device(model)  # inputs go where the model is (a model moved to a GPU predicts there)
    xs = torch.from_numpy(x).split(batch_size)
    ls = torch.from_numpy(lengths).split(batch_size) if lengths is not None else [None] * len(xs)
    for chunk, length in zip(xs, ls, strict=True):
        chunk = chunk.to(device)
        out = model(chunk, _lengths_arg(chunk, None if length is None else length.to(device)))
        preds.append((out.prediction.argmax(-1) if kind in CLASSIFYING else out.prediction).cpu())
        if out.attention is not None:
            maps.append(out.attention.cpu())
    return torch.cat(preds).numpy(), (torch.cat(maps).numpy() if maps else None)


@torch.no_grad()
def probabilities(model: torch.nn.Module, x: np.ndarray, batch_size: int = 512) -> np.ndarray:
    """Class probabilities (N, classes) of a window classifier (full-length windows)."""
    model.eval()
    device = model_device(model)
    chunks = [torch.softmax(model(c.to(device), None).prediction, -1) for c in torch.from_numpy(x).split(batch_size)]
    return torch.cat(chunks).cpu().numpy()


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


def fit(
    model,
    train: Split,
    val: Split,
    cfg: TrainConfig,
    ckpt_dir: str | Path | None = None,
    progress: bool = True,
    kind: str = "classification",
    on_epoch: Callable[[dict], None] | None = None,
) -> TrainResult:
    """Train with AdamW on the kind's loss (``loss_fn``), keep the weights with the best validation score
    (``val_score``), stop after ``patience`` epochs without improvement. With ``ckpt_dir``, resume from its last
    complete epoch. ``on_epoch`` receives each epoch's record (epoch, loss, validation score).

    Seed before building the model (``torch.manual_seed(cfg.seed)``) for a reproducible initialisation; every epoch
    then seeds its own shuffling and dropout, so a resumed run repeats an uninterrupted one.

    Under ``accelerate launch`` each process trains on its share of every ``batch_size`` batch (``_share``) and the
    gradients are averaged, so the run is the one-process run (dropout aside); only the main process saves."""
    run_dir = Path(ckpt_dir).parent if ckpt_dir is not None else None
    accelerator = make_accelerator(cfg.device, cfg.log_with, run_dir)
    world, main = accelerator.num_processes, accelerator.is_main_process
    tracking.start(accelerator, cfg.log_with, run_dir, "process", asdict(cfg) | {"kind": kind})
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    checkpoints = Checkpoints(ckpt_dir, model, opt, accelerator=accelerator) if ckpt_dir is not None else None
    state = checkpoints.resume(restore_rng=False) if checkpoints is not None else LoopState()
    # no DDP wrapper under a launch: each process takes its share of every batch and the gradients are averaged here
    model, opt = accelerator.prepare_model(model, evaluation_mode=world > 1), accelerator.prepare_optimizer(opt)
    params = [p for p in model.parameters() if p.requires_grad]
    start = time.perf_counter() - state.seconds
    key = "val_accuracy" if kind in CLASSIFYING else "val_score"
    epochs = state.remaining(cfg.epochs, cfg.patience)  # a run stopped early stays stopped on resume
    show = progress and main
    bar = tqdm(epochs, "train", cfg.epochs, leave=False, unit="epoch", initial=state.epoch, disable=not show)
    for epoch in bar:
        torch.manual_seed(cfg.seed + epoch)
        model.train()
        losses = []
        for batch in _loader(train, cfg.batch_size, True, cfg.seed + epoch):
            x, *rest = to_device(batch, accelerator.device)
            if cfg.noise:  # drawn for the whole batch: any number of processes adds the same noise
                x = x + cfg.noise * torch.randn_like(x)
            part, weight = _share([x, *rest], kind, world, accelerator.process_index)
            opt.zero_grad()
            loss = _loss(model, part, cfg, kind) * weight if weight else torch.zeros((), device=x.device)
            if weight:  # a process with no targets in this batch still joins the average, with zeros
                accelerator.backward(loss * world)
            average_gradients(params, world)
            accelerator.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            losses.append(loss.detach())
        losses = _batch_losses(losses, world)
        _check_finite_training(model, losses, epoch + 1)
        score = main_value(val_score(kind, model, val), accelerator.device)
        record = {"epoch": epoch + 1, "loss": float(np.mean(losses)), key: score}
        state.seconds = time.perf_counter() - start
        improved = close_epoch(state, score, record, higher_is_better=True, checkpoints=checkpoints)
        bar.set_postfix(loss=f"{record['loss']:.3f}", val=f"{score:.3f}")
        if main:
            log.info("epoch %d: loss %.4f, %s %.4f%s", epoch + 1, record["loss"], key, score, " (best)" * improved)
        tracking.log(accelerator, cfg.log_with, record, step=epoch + 1)
        if on_epoch is not None:
            on_epoch(record)
    bar.close()
    tracking.finish(accelerator, cfg.log_with)
    accelerator.wait_for_everyone()  # the main process's checkpoint is complete before any process reads it
    if checkpoints is not None and checkpoints.best.exists():
        load_weights(accelerator.unwrap_model(model), checkpoints.best)
    best = -float("inf") if state.best is None else state.best
    return TrainResult(state.best_epoch, best, state.epoch, time.perf_counter() - start, state.history)


def _loss(model, batch: list[torch.Tensor], cfg: TrainConfig, kind: str) -> torch.Tensor:
    """The kind's loss on ``batch``, plus the attention-sufficiency term when asked for."""
    x, y, lengths, mask, censored = batch
    out = _forward(model, x, _lengths_arg(x, lengths), y, cfg)
    loss = loss_fn(kind, out.prediction, y, mask, censored)
    if cfg.attention_sufficiency and out.attention is not None and out.attention.dim() == 2:
        kept = _kept_by_attention(x, lengths, out.attention, cfg.attention_keep)
        suff = loss_fn(kind, model(kept, _lengths_arg(x, lengths)).prediction, y, mask, censored)
        loss = loss + cfg.attention_sufficiency * suff
    return loss


def _share(batch: list[torch.Tensor], kind: str, world: int, rank: int) -> tuple[list[torch.Tensor], float]:
    """This process's part of a global batch (a contiguous slice of its windows) and that part's weight: its share
    of what the batch's mean loss averages over (windows, or valid targets), so that the weighted losses of all
    processes sum to the loss of the whole batch, and their gradients to its gradient."""
    if world == 1:
        return batch, 1.0
    part = [t.tensor_split(world)[rank] for t in batch]
    if kind == "classification":
        return part, len(part[0]) / len(batch[0])
    total = int(batch[3].sum())  # valid targets (the mask)
    return part, int(part[3].sum()) / total if total else 0.0


def _batch_losses(losses: list[torch.Tensor], world: int) -> list[float]:
    """The epoch's per-batch losses of the whole global batch: the sum of the processes' weighted shares."""
    if not losses:
        return []
    stacked = torch.stack(losses).double()
    if world > 1:
        dist.all_reduce(stacked)
    return stacked.tolist()


def _check_finite_training(model, losses: list[float], epoch: int) -> None:
    """Stop before a diverged epoch is saved: NaN weights would otherwise train on, score one class everywhere and
    end with exit 0 and a printed accuracy."""
    finite = np.isfinite(losses).all() and all(bool(torch.isfinite(p).all()) for p in model.parameters())
    if not finite:
        raise InputError(
            f"training diverged in epoch {epoch}: the loss or the weights are not finite, and nothing of this epoch "
            "was saved; look for extreme values in the training data, or lower --lr"
        )


def _forward(model, x, lengths, y, cfg: TrainConfig):
    """Seq2Seq models train with scheduled sampling on the gold targets; the others only see x."""
    if isinstance(model, ProcessSeq2Seq):
        return model(x, lengths, target=y, teacher_forcing=cfg.teacher_forcing)
    return model(x, lengths)


def _kept_by_attention(x, lengths, attention, keep: float) -> torch.Tensor:
    """``attention_sufficiency``: the input with every step outside the attention's top ``keep`` moved toward the
    training mean, by a soft mask that passes gradients to the attention (``heedful.explain.perturb``). The task
    loss on it asks the attended steps to suffice on their own (docs/explain.md)."""
    return x * soft_keep_mask(attention, lengths, keep)[..., None]  # (B, T, C)


__all__ = ["TrainConfig", "TrainResult", "fit", "load_weights", "loss_fn", "predict", "probabilities", "val_score"]
