"""The reports more than one task gives: accuracy with recall per class, R², and forecasts against persistence."""

from __future__ import annotations

import numpy as np

from heedful.process.baselines import persistence
from heedful.process.data import DataSpec, Split, TaskData


def r2(y: np.ndarray, pred: np.ndarray) -> float:
    """Coefficient of determination over all given values (flattened): ``sklearn.metrics.r2_score`` in float64, and
    NaN, not sklearn's finite stand-in, when the true values do not vary."""
    from sklearn.metrics import r2_score  # sklearn loads in about a second: only when a report is made

    y, pred = np.asarray(y, np.float64).ravel(), np.asarray(pred, np.float64).ravel()
    return float(r2_score(y, pred)) if y.size > 1 and np.ptp(y) > 0 else float("nan")


def accuracy_report(pred: np.ndarray, split: Split, class_names: list[str]) -> dict:
    """Accuracy (over valid steps for per-step labels) and recall per class."""
    from sklearn.metrics import accuracy_score, recall_score

    valid = split.mask if split.mask is not None else np.ones_like(split.y, dtype=bool)
    y, pred = split.y[valid], np.asarray(pred)[valid]
    present = np.unique(y)  # classes without a true sample have no recall
    per_class = recall_score(y, pred, labels=present, average=None)
    recall = {class_names[c]: float(r) for c, r in zip(present.tolist(), per_class.tolist(), strict=True)}
    return {"accuracy": float(accuracy_score(y, pred)), "per_class_recall": recall}


def unscaled(spec: DataSpec, y: np.ndarray) -> np.ndarray:
    """Scaled targets back to their units, in float64."""
    return spec.target_scaler.inverse_transform(np.asarray(y, np.float64))


def forecast_report(pred: np.ndarray, data: TaskData) -> dict:
    """R² per target over all horizon steps, and the same for the persistence forecast (last value held)."""
    y, base = unscaled(data, data.test.y), unscaled(data, persistence(data, data.test.x))
    p = unscaled(data, pred)
    per = {n: r2(y[..., k], p[..., k]) for k, n in enumerate(data.target_names)}
    per_base = {n: r2(y[..., k], base[..., k]) for k, n in enumerate(data.target_names)}
    return {
        "r2": float(np.mean(list(per.values()))),
        "r2_per_target": per,
        "persistence_r2": float(np.mean(list(per_base.values()))),
        "persistence_r2_per_target": per_base,
    }
