"""What the two training loops share: one resumable state, one early-stopping rule, one Accelerator.

``process.train.fit`` (epochs over windows, best validation score) and ``rationale.lm.train.train_lm`` (batches with
gradient accumulation, best dev loss) keep their inner loops, which differ in what a step is, but their state is one
``LoopState``: saved in ``state.json`` by ``heedful.checkpoint`` at every checkpoint and restored (checked, and read
from the older field names) by ``LoopState.restore``. ``end_epoch`` is the early-stopping rule of both.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from heedful.errors import InputError

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
