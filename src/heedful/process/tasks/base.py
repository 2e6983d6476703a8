"""Containers shared by the task builders."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from heedful.process.windows import Scaler


@dataclass
class Split:
    """x (N, W, C) float32 scaled; y (N,) class ids; run (N,) which run (e.g. fault id) each window came
    from; end (N,) the window's exclusive end index inside its run."""

    x: np.ndarray
    y: np.ndarray
    run: np.ndarray
    end: np.ndarray

    def __len__(self) -> int:
        return len(self.x)


@dataclass
class TaskData:
    name: str
    kind: str  # "classification" for now
    train: Split
    val: Split
    test: Split
    class_names: list[str]
    feature_names: list[str]
    scaler: Scaler
    params: dict = field(default_factory=dict)

    @property
    def n_features(self) -> int:
        return self.train.x.shape[-1]

    @property
    def n_classes(self) -> int:
        return len(self.class_names)
