"""What the two training loops share: one resumable state, one early-stopping rule, one Accelerator.

``process.train.fit`` (epochs over windows, best validation score) and ``rationale.lm.train.train_lm`` (batches with
gradient accumulation, best dev loss) keep their inner loops, which differ in what a step is, but their state is one
``LoopState``: saved in ``state.json`` by ``heedful.checkpoint`` at every checkpoint and restored (checked, and read
from the older field names) by ``LoopState.restore``. ``end_epoch`` is the early-stopping rule of both.

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
            key = _LEGACY.get(key, key)
            if key in names:
                values[key] = value
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
