"""What the two training loops share: one resumable state, one epoch/early-stopping/checkpoint helper, one
Accelerator.

``process.train.fit`` (epochs over windows, best validation score) and ``rationale.lm.train.train_lm`` (batches with
gradient accumulation, best dev loss) keep their inner loops, which differ in what a step is. Around them both read
the same way::

    checkpoints = Checkpoints(folder, model, optimizer, ...)
    state = checkpoints.resume(restore_rng=...)       # a fresh LoopState, or the saved one, checked
    for epoch in state.remaining(epochs, patience):   # stops early; a run stopped early stays stopped on resume
        ...                                            # the loop's own steps (and mid-epoch checkpoints.save(state))
        close_epoch(state, value, record, higher_is_better, checkpoints)  # early stopping, best weights, checkpoint

The state is saved in ``state.json`` by ``heedful.checkpoint`` (with the weights, optimiser, scheduler and random
generators in a step folder) and restored, checked and read from the older field names, by ``LoopState.restore``.

Under ``accelerate launch`` / ``torchrun`` the loops share each global batch out over the processes themselves
(no DDP wrapper) and average the gradients with ``average_gradients``; ``from_main`` hands what the main process
made (the run folder) to the others, ``main_first`` lets it build the caches the others then read.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TypeVar

import torch

from heedful.checkpoint import BEST, STATE, load_checkpoint, save_checkpoint
from heedful.devices import launched
from heedful.errors import InputError

T = TypeVar("T")
# names the state had before the two loops shared it: process (best_val), rationale (best_dev, bad_epochs)
_LEGACY = {"best_val": "best", "best_dev": "best", "bad_epochs": "stale"}
_COUNTS = ("epoch", "batch", "step", "best_epoch", "stale", "tokens", "label_tokens")


@dataclass
class LoopState:
    epoch: int = 0  # epochs finished
    batch: int = 0  # next batch within the epoch (a resumed epoch starts there)
    step: int = 0  # optimiser steps done
    best: float | None = None  # best validation value so far (None before the first epoch ends)
    best_epoch: int = 0
    stale: int = 0  # epochs since the best
    seconds: float = 0.0  # training time, summed over resumed sessions
    history: list[dict] = field(default_factory=list)  # one record per finished epoch
    tokens: int = 0  # tokens trained on (LM only)
    label_tokens: int = 0

    def end_epoch(self, value: float, record: dict, higher_is_better: bool) -> bool:
        """Count a finished epoch whose validation value is ``value``; True when it is the best so far."""
        if value != value:  # NaN never improves
            improved = False
        elif self.best is None:
            improved = True
        else:
            improved = value > self.best if higher_is_better else value < self.best
        self.epoch += 1
        self.batch = 0
        if improved:
            self.best, self.best_epoch, self.stale = float(value), self.epoch, 0
        else:
            self.stale += 1
        self.history.append(record)
        return improved

    def done(self, epochs: int, patience: int) -> bool:
        return self.epoch >= epochs or self.stale >= patience

    def remaining(self, epochs: int, patience: int) -> Iterator[int]:
        """The (0-based) epochs left to run, ending as soon as ``done``; the loop's body must ``end_epoch``."""
        while not self.done(epochs, patience):
            yield self.epoch

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def restore(cls, saved: dict | None, source: str | Path = "state.json") -> LoopState:
        """The state of a checkpoint (``None``: a fresh one); an edited value fails here, in one line, rather than
        deep in the loop. Older checkpoints' field names are read too."""
        if saved is None:
            return cls()
        names = {f.name for f in fields(cls)}
        values = {}
        for key, value in saved.items():
            if _LEGACY.get(key, key) not in names:
                raise InputError(f"{source}: unknown key {str(key)[:40]!r} (not a heedful training state)")
            values[_LEGACY.get(key, key)] = value
        for key in _COUNTS:
            value = values.get(key, 0)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InputError(f"{source}: {key} must be a count >= 0, got {value!r}"[:200])
        for key in ("best", "seconds"):
            value = values.get(key, 0.0)
            if value is None and key == "best":
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
                raise InputError(f"{source}: {key} must be a number, got {value!r}"[:200])
        if isinstance(values.get("best"), int | float) and math.isinf(values["best"]):
            values["best"] = None  # the old loops' "nothing yet" (-inf / inf)
        if values.get("best") is None and values.get("best_epoch", 0) > 0:
            raise InputError(f"{source}: best must be a number once a best epoch is recorded, got None")
        history = values.get("history", [])
        if not isinstance(history, list) or not all(isinstance(r, dict) for r in history):
            raise InputError(f"{source}: history must be a list of epoch records, got {type(history).__name__}")
        return cls(**values)


@dataclass
class Checkpoints:
    """Where a loop saves and resumes (``heedful.checkpoint``'s folder) and what: the model, its optimiser and
    scheduler. ``weights`` gives the tensors to keep instead of the whole state_dict (a frozen LM's trainable part)
    and ``load_weights(tensors, source)`` puts them back; with an ``accelerator``, only its main process writes."""

    folder: Path
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: object = None
    weights: Callable[[], dict] | None = None
    load_weights: Callable[[dict, str], None] | None = None
    accelerator: object = None

    def __post_init__(self):
        self.folder = Path(self.folder)

    @property
    def best(self) -> Path:
        """The best epoch's weights (what inference loads)."""
        return self.folder / BEST

    def resume(self, restore_rng: bool) -> LoopState:
        """The last complete save put back into the model, optimiser and scheduler, and its checked state (a fresh
        one for a new folder). ``restore_rng``: the random generators too, as they were at the save, for a loop
        that does not reseed each epoch (dropout goes on drawing the masks an uninterrupted run would have)."""
        saved = load_checkpoint(
            self.folder, self.model, self.optimizer, self.scheduler, restore_rng, weights_loader=self.load_weights
        )
        return LoopState.restore(saved, self.folder / STATE)

    def save(self, state: LoopState, best: bool = False) -> None:
        """One complete, resumable save of ``state``; ``best`` also keeps the weights as the best ones."""
        if self.accelerator is not None:
            self.accelerator.wait_for_everyone()
            if not self.accelerator.is_main_process:
                return
        weights = self.weights() if self.weights is not None else None
        save_checkpoint(self.folder, self.model, state.to_dict(), self.optimizer, self.scheduler, best, weights)


def close_epoch(
    state: LoopState, value: float, record: dict, higher_is_better: bool, checkpoints: Checkpoints | None
) -> bool:
    """End an epoch whose validation value is ``value``: the early-stopping count, then a checkpoint (with the best
    weights when it improved). True when it did."""
    improved = state.end_epoch(value, record, higher_is_better)
    if checkpoints is not None:
        checkpoints.save(state, best=improved)
    return improved


def make_accelerator(device: str | None, log_with: str | None, run_dir: str | Path | None):
    """The ``Accelerator`` both loops train with: on ``device`` (``heedful.devices``), tracking into the run."""
    from accelerate import Accelerator

    from heedful import tracking
    from heedful.devices import accelerator_kwargs

    return Accelerator(**accelerator_kwargs(device), **tracking.accelerator_kwargs(log_with, run_dir))


def _process_group(device: str | None):
    """The launch's processes, joined (once) the way ``make_accelerator`` joins them."""
    from accelerate import PartialState

    from heedful.devices import accelerator_kwargs

    return PartialState(**accelerator_kwargs(device))


def from_main(make: Callable[[], T], device: str | None) -> T:
    """``make()`` in the main process; under a launch of several processes the others get its result (a new run
    folder: one launch writes one folder) or raise its error, instead of each making its own."""
    if not launched():
        return make()
    import torch.distributed as dist

    state = _process_group(device)
    box: list = [None]
    if state.is_main_process:
        try:
            box = [(True, make())]
        except Exception as err:
            dist.broadcast_object_list([(False, err)], src=0)
            raise
    dist.broadcast_object_list(box, src=0)
    made, value = box[0]
    if not made:
        raise value
    return value


@contextlib.contextmanager
def main_first(device: str | None) -> Iterator[None]:
    """Under a launch, the main process runs the block first and the others after it (they find the caches it
    wrote instead of building them at the same time)."""
    if not launched():
        yield
        return
    with _process_group(device).main_process_first():
        yield


def wait_for_everyone() -> None:
    """A barrier of the launch's processes (nothing outside a launch)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.barrier()


def average_gradients(params, world: int) -> None:
    """Mean of the processes' gradients. A parameter without a gradient in any process keeps none (the optimiser
    skips it, as in one process); one with a gradient elsewhere counts zeros here (this process had no targets)."""
    if world == 1:
        return
    import torch
    import torch.distributed as dist

    params = list(params)
    has = torch.tensor([p.grad is not None for p in params], dtype=torch.float32, device=params[0].device)
    dist.all_reduce(has)
    used = [p for p, anywhere in zip(params, has.tolist(), strict=True) if anywhere]
    for p in used:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    flat = torch.cat([p.grad.reshape(-1) for p in used])  # one collective for all of them
    dist.all_reduce(flat)
    flat /= world
    for p, part in zip(used, flat.split([p.numel() for p in used]), strict=True):
        p.grad.copy_(part.view_as(p.grad))


def main_value(value: float, device) -> float:
    """The main process's ``value`` in every process: decisions taken on it (early stopping) are the same in all
    of them, so none waits for a collective the others skipped."""
    import torch
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
        return value
    box = torch.tensor([value], dtype=torch.float64, device=device)
    dist.broadcast(box, src=0)
    return float(box.item())
