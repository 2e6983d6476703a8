"""The data a process model learns from (``Split``, ``TaskData``) and what it takes and gives (``DataSpec``).

A ``TaskData`` holds a task's train / val / test samples and how they were made. Its ``spec()`` is that description
without the samples: the channels in their order, the scalers, the task's parameters (windowing, thresholds, alarm
settings, ...), the classes or targets. A run folder stores the spec (``data.json`` and ``scaler.json``), so a
trained model predicts on new values without its training data. The functions that only apply a model take a
``DataSpec``; a ``TaskData`` has all of its attributes, so it serves there too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from heedful.errors import InputError
from heedful.process.windows import Scaler
from heedful.runs import read_json, write_json

KINDS = ("classification", "sequence_classification", "regression", "sequence_regression", "forecast")
SPEC_FILE = "data.json"
SCALER_FILE = "scaler.json"


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


def check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise InputError(f"unknown task kind {kind!r}; expected one of {KINDS}")


@dataclass
class DataSpec:
    """What a model trained on a task's data takes and gives: ``feature_names`` (its input channels, in order),
    ``scaler`` (raw -> scaled inputs), ``params`` (the task's parameters: windowing, downsampling, clipping, mask
    channels, thresholds, alarm settings), ``class_names`` or ``target_names`` with ``target_scaler``, and the
    shapes a model is built for (``n_features``, ``horizon``)."""

    name: str
    kind: str
    class_names: list[str]
    feature_names: list[str]
    scaler: Scaler
    params: dict = field(default_factory=dict)
    target_names: list[str] = field(default_factory=list)
    target_scaler: Scaler | None = None
    n_features: int = 0
    horizon: int | None = None
    # a trained run's calibrated two-stage alarm (``alarm.RunAlarm``), set from its metrics.json by
    # ``runner.load_trained`` and applied by ``predict``; not part of data.json
    alarm: object = field(default=None, compare=False, repr=False)

    def __post_init__(self):
        check_kind(self.kind)

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    def save(self, folder: str | Path) -> None:
        """``data.json`` and ``scaler.json`` in ``folder`` (both written atomically)."""
        folder = Path(folder)
        self.scaler.save(folder / SCALER_FILE)
        write_json(folder / SPEC_FILE, self.to_json())

    def to_json(self) -> dict:
        ts = self.target_scaler
        return {
            "task": self.name,
            "kind": self.kind,
            "feature_names": list(self.feature_names),
            "class_names": list(self.class_names),
            "target_names": list(self.target_names),
            "target_scaler": None if ts is None else {"mean": ts.mean.tolist(), "scale": ts.scale.tolist()},
            "n_features": int(self.n_features),
            "horizon": self.horizon,
            "params": self.params,
        }

    @classmethod
    def load(cls, folder: str | Path) -> DataSpec:
        """The spec a run folder holds; a damaged file is an ``InputError`` naming it."""
        folder = Path(folder)
        path = folder / SPEC_FILE
        found = read_json(path)
        try:
            scaler = Scaler.load(folder / SCALER_FILE)
        except FileNotFoundError:
            raise InputError(f"{folder / SCALER_FILE}: missing (the run's input scaler)") from None
        except (KeyError, TypeError, ValueError) as err:
            raise InputError(f"{folder / SCALER_FILE}: not a scaler ({err})") from None
        try:
            ts = found["target_scaler"]
            spec = cls(
                name=_text(found["task"]),
                kind=_text(found["kind"]),
                class_names=_names(found["class_names"]),
                feature_names=_names(found["feature_names"]),
                scaler=scaler,
                params=_object(found["params"]),
                target_names=_names(found["target_names"]),
                target_scaler=None if ts is None else Scaler(_floats(ts["mean"]), _floats(ts["scale"])),
                n_features=int(found["n_features"]),
                horizon=None if found["horizon"] is None else int(found["horizon"]),
            )
        except (KeyError, TypeError, ValueError, InputError) as err:
            raise InputError(f"{path}: not a run's data description ({' '.join(str(err).split())})"[:300]) from None
        if spec.scaler.mean.shape[0] != spec.n_features:
            raise InputError(f"{path}: {spec.n_features} features, but the scaler has {spec.scaler.mean.shape[0]}")
        return spec


def _text(v) -> str:
    if not isinstance(v, str):
        raise TypeError(f"expected text, got {v!r}"[:80])
    return v


def _names(v) -> list[str]:
    if not isinstance(v, list) or not all(isinstance(n, str) for n in v):
        raise TypeError(f"expected a list of names, got {v!r}"[:80])
    return v


def _object(v) -> dict:
    if not isinstance(v, dict):
        raise TypeError(f"expected an object, got {type(v).__name__}")
    return v


def _floats(v) -> np.ndarray:
    return np.asarray(v, np.float32)


@dataclass
class TaskData:
    """A task's samples (``train`` / ``val`` / ``test``, scaled on train only) and their description (``spec()``)."""

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
    alarm_val: Split | None = None  # the validation windows a two-stage alarm is set on (None: ``val``'s)

    def __post_init__(self):
        check_kind(self.kind)

    @property
    def n_features(self) -> int:
        return self.train.x.shape[-1]

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def horizon(self) -> int | None:
        return self.train.y.shape[1] if self.kind == "forecast" else None

    def spec(self) -> DataSpec:
        return DataSpec(
            self.name,
            self.kind,
            list(self.class_names),
            list(self.feature_names),
            self.scaler,
            self.params,
            list(self.target_names),
            self.target_scaler,
            self.n_features,
            self.horizon,
        )


__all__ = ["KINDS", "DataSpec", "Scaler", "Split", "TaskData"]
