"""IndPenSim classification tasks: batch quality, per-step phase, fault detection / type.

- ``pen_quality``: whole batches (variable length, masked by lengths) of the online sensors, hourly; class from the
  final penicillin concentration: A (on specification, >= 25 g/L), B (15-25 g/L), C (failed, < 15 g/L; in our
  recipe range these are over-fed, under-aerated batches that starve of oxygen). Penicillin and the other
  off-line states are not inputs.
- ``pen_phase``: per-step phase (batch, fed-batch, discharge; from the recipe) of whole batches every
  ``every`` steps, from the measured variables only (``PHASE_INPUTS``): the recipe's own set-points (feeds, discharge
  flow, aeration, pressure) would give the phase away. Padded steps are masked out of loss and metric.
- ``pen_faults``: windows of the online sensors from the ``faults`` batch set, labelled with the fault acting at
  the window's last step (0 normal).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from heedful.errors import InputError
from heedful.process.sources import indpensim as ip
from heedful.process.tasks.base import Split, TaskData
from heedful.process.tasks.pen_data import (
    PenDataConfig,
    channel_index,
    downsample,
    fit_scaler,
    load_batches,
    pad,
    split_indices,
    valid_mask,
)
from heedful.process.windows import Scaler, sliding_windows, window_ends

ONLINE = list(ip.ONLINE)
QUALITY_CLASSES = ["A", "B", "C"]
RECIPE_INPUTS = ("aeration", "sugar_feed", "oil_feed", "paa_feed", "water_feed", "discharge", "pressure")
PHASE_INPUTS = [n for n in ONLINE if n not in RECIPE_INPUTS]


@dataclass
class PenQualityConfig(PenDataConfig):
    every: int = 5  # hourly
    thresholds: tuple[float, float] = (15.0, 25.0)  # g/L: C below the first, A from the second on
    target: str = "class"  # "class": learn the labels; "value": regress the final penicillin, then threshold

    def __post_init__(self):
        super().__post_init__()
        if self.target not in ("class", "value"):
            raise InputError(f"target must be 'class' or 'value', got {self.target!r}")
        if isinstance(self.thresholds, str):
            self.thresholds = tuple(float(v) for v in self.thresholds.split(","))
        self.thresholds = tuple(float(v) for v in self.thresholds)
        if len(self.thresholds) != 2 or not 0 < self.thresholds[0] < self.thresholds[1]:
            raise InputError(f"thresholds must be two increasing positive values (g/L), got {self.thresholds}")


@dataclass
class PenPhaseConfig(PenDataConfig):
    every: int = 2


@dataclass
class PenFaultsConfig(PenDataConfig):
    batches: int = 80
    base_seed: int = 500000
    min_hours: float = 230.0
    fault_fraction: float = 0.85
    window: int = 30
    stride: int = 5

    def __post_init__(self):
        super().__post_init__()
        if self.window < 2:
            raise InputError(f"window must be >= 2, got {self.window}")


def _check_every(every: int) -> None:
    if every < 1:
        raise InputError(f"every must be >= 1, got {every}")


def _sequences(batches, idx, cols, every):
    return [downsample(batches[i].values[:, cols], every) for i in idx]


def _padded_split(seqs, scaler, y, idx, every) -> Split:
    x, lengths = pad([scaler.transform(s) for s in seqs])
    return Split(x, y, np.asarray(idx), lengths * every, lengths=lengths)


def build_pen_quality(cfg: PenQualityConfig) -> TaskData:
    _check_every(cfg.every)
    batches = load_batches(cfg)
    cols = channel_index(ONLINE)
    final = np.array([b.channel("penicillin")[-1] for b in batches])
    parts = split_indices(len(batches), cfg)
    low, high = cfg.thresholds
    label = quality_class(final, cfg.thresholds)
    scaler = fit_scaler(_sequences(batches, parts[0], cols, cfg.every))
    splits = [_padded_split(_sequences(batches, p, cols, cfg.every), scaler, label[p], p, cfg.every) for p in parts]
    t_scaler = Scaler.fit(final[parts[0], None])
    for split, p in zip(splits, parts, strict=True):
        split.value = final[p]
        if cfg.target == "value":
            split.y = t_scaler.transform(final[p, None])
    params = {"source": "IndPenSim (pensimpy 1.2.5)", **asdict(cfg), "thresholds_g_per_l": [low, high]}
    if cfg.target == "value":
        return TaskData(
            "pen_quality",
            "regression",
            *splits,
            QUALITY_CLASSES,
            ONLINE,
            scaler,
            params,
            ["final_penicillin"],
            t_scaler,
        )
    return TaskData("pen_quality", "classification", *splits, QUALITY_CLASSES, ONLINE, scaler, params)


def quality_report(pred: np.ndarray, data: TaskData) -> dict:
    """Class accuracy; with ``target="value"``, the predicted final penicillin is thresholded first (and its MAE
    is reported)."""
    if data.kind == "classification":
        return accuracy_report(pred, data.test, data.class_names)
    final = np.asarray(pred, np.float64)[:, 0] * data.target_scaler.scale[0] + data.target_scaler.mean[0]
    split = Split(data.test.x, quality_class(data.test.value, data.params["thresholds"]), data.test.run, data.test.end)
    report = accuracy_report(quality_class(final, data.params["thresholds"]), split, data.class_names)
    return {**report, "final_penicillin_mae": float(np.abs(final - data.test.value).mean())}


def build_pen_phase(cfg: PenPhaseConfig) -> TaskData:
    _check_every(cfg.every)
    batches = load_batches(cfg)
    cols = channel_index(PHASE_INPUTS)
    parts = split_indices(len(batches), cfg)
    scaler = fit_scaler(_sequences(batches, parts[0], cols, cfg.every))
    splits = []
    for p in parts:
        y, lengths = pad([downsample(batches[i].phase.astype(np.int64), cfg.every) for i in p])
        split = _padded_split(_sequences(batches, p, cols, cfg.every), scaler, y, p, cfg.every)
        split.mask = valid_mask(lengths, y.shape[1])
        splits.append(split)
    params = {"source": "IndPenSim (pensimpy 1.2.5)", **asdict(cfg)}
    return TaskData("pen_phase", "sequence_classification", *splits, list(ip.PHASES), PHASE_INPUTS, scaler, params)


def build_pen_faults(cfg: PenFaultsConfig) -> TaskData:
    batches = load_batches(cfg)
    cols = channel_index(ONLINE)
    parts = split_indices(len(batches), cfg)
    scaler = fit_scaler([batches[i].values[:, cols] for i in parts[0]])
    splits = []
    for p in parts:
        xs, ys, runs, ends = [], [], [], []
        for i in p:
            b = batches[i]
            e = window_ends(len(b.values), cfg.window, cfg.stride)
            xs.append(scaler.transform(sliding_windows(b.values[:, cols], e, cfg.window)))
            ys.append(b.fault[e - 1].astype(np.int64))
            runs.append(np.full(len(e), i))
            ends.append(e)
        splits.append(Split(np.concatenate(xs), np.concatenate(ys), np.concatenate(runs), np.concatenate(ends)))
    names = ["normal" if f == 0 else f"fault {f}" for f in ip.FAULTS]
    params = {"source": "IndPenSim (pensimpy 1.2.5)", **asdict(cfg), "fault_names": ip.FAULTS}
    return TaskData("pen_faults", "classification", *splits, names, ONLINE, scaler, params)


def quality_class(final: np.ndarray, thresholds) -> np.ndarray:
    """Class ids (0 A, 1 B, 2 C) of final penicillin values."""
    low, high = thresholds
    return np.where(final >= high, 0, np.where(final >= low, 1, 2))


def accuracy_report(pred: np.ndarray, split: Split, class_names: list[str]) -> dict:
    """Accuracy (over valid steps for per-step labels) and recall per class."""
    y = split.y
    valid = split.mask if split.mask is not None else np.ones_like(y, dtype=bool)
    correct = (pred == y) & valid
    recall = {
        name: float(correct[(y == c) & valid].mean()) for c, name in enumerate(class_names) if ((y == c) & valid).any()
    }
    return {"accuracy": float(correct.sum() / valid.sum()), "per_class_recall": recall}


def fault_report(pred: np.ndarray, split: Split, class_names: list[str]) -> dict:
    """Per-fault recall on faulty windows, normal accuracy, detection rate (any fault predicted on a faulty window)
    and false-alarm rate (a fault predicted on a normal window)."""
    report = accuracy_report(pred, split, class_names)
    normal = split.y == 0
    per_fault, detection = {}, {}
    for c in range(1, len(class_names)):
        rows = split.y == c
        if rows.any():
            per_fault[c] = float((pred[rows] == c).mean())
            detection[c] = float((pred[rows] != 0).mean())
    return {
        "overall_accuracy": report["accuracy"],
        "per_fault_accuracy": per_fault,
        "average_fault_accuracy": float(np.mean(list(per_fault.values()))) if per_fault else None,
        "detection_rate": detection,
        "false_alarm_rate": float((pred[normal] != 0).mean()) if normal.any() else None,
    }
