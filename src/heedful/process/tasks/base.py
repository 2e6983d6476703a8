"""Containers shared by the task builders."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from heedful.errors import InputError
from heedful.process.windows import Scaler

KINDS = ("classification", "sequence_classification", "regression", "sequence_regression", "forecast")


@dataclass
class Split:
    """x (N, W, C) float32 scaled; y the targets; run (N,) which run (fault id or batch) each sample came
    from; end (N,) the sample's exclusive end index inside its run.

    y by task kind: ``classification`` (N,) class ids; ``sequence_classification`` (N, W) class ids per step;
    ``regression`` (N, D); ``sequence_regression`` (N, W, D); ``forecast`` (N, H, D), all scaled.
    ``lengths`` (N,): valid steps of variable-length samples (padded after them; None: all W valid).
    ``mask``: like y, True where a target counts in the loss and the metric (None: all valid).
    ``censored`` (N,) for regression: y is a lower bound (the event had not happened by then).
    ``value`` (N,): the continuous quantity behind a class label (e.g. final penicillin), for baselines that
    regress it and then apply the class thresholds."""

    x: np.ndarray
    y: np.ndarray
    run: np.ndarray
    end: np.ndarray
    lengths: np.ndarray | None = None
    mask: np.ndarray | None = None
    censored: np.ndarray | None = None
    value: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.x)


@dataclass
class TaskData:
    name: str
    kind: str  # one of KINDS
    train: Split
    val: Split
    test: Split
    class_names: list[str]
    feature_names: list[str]
    scaler: Scaler
    params: dict = field(default_factory=dict)
    target_names: list[str] = field(default_factory=list)  # regression outputs, in y's last axis
    target_scaler: Scaler | None = None  # y = (value - mean) / scale, fitted on train

    def __post_init__(self):
        if self.kind not in KINDS:
            raise InputError(f"unknown task kind {self.kind!r}; expected one of {KINDS}")

    @property
    def n_features(self) -> int:
        return self.train.x.shape[-1]

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def n_outputs(self) -> int:
        """Output units per prediction: classes, or regression targets."""
        return len(self.class_names) if "classification" in self.kind else len(self.target_names)

    @property
    def horizon(self) -> int | None:
        return self.train.y.shape[1] if self.kind == "forecast" else None
