"""Confidence intervals for window-level classification metrics, resampling whole runs, never windows.

The windows of one simulated run are strongly correlated (they share its seed, its disturbance's random walk, its
operating point), so the uncertainty of a test score comes from how many *runs* it rests on. The bootstrap here
draws, for every class, as many of that class's test runs as it has, with replacement (a stratified bootstrap: the
test design fixes the runs per class), pools their windows, and recomputes the per-class accuracy (recall) and the
macro average. The interval is the percentile interval of those resamples.

Pure numpy on arrays: ``pred``, ``y`` and ``run`` per window; the tasks choose which windows count.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from heedful.errors import InputError

RESAMPLES = 2000
LEVEL = 0.95


@dataclass
class RunCounts:
    """Per run: its class, its windows and the correctly classified ones (runs without windows dropped)."""

    label: np.ndarray  # (R,) class id
    correct: np.ndarray  # (R,)
    total: np.ndarray  # (R,)

    @classmethod
    def from_windows(cls, pred: np.ndarray, y: np.ndarray, run: np.ndarray) -> RunCounts:
        pred, y, run = np.asarray(pred), np.asarray(y), np.asarray(run)
        if not (len(pred) == len(y) == len(run)):
            raise InputError(f"bootstrap: pred, y and run differ in length ({len(pred)}, {len(y)}, {len(run)})")
        runs, index = np.unique(run, return_inverse=True)
        label = np.full(len(runs), -1)
        label[index] = y
        if (label[index] != y).any():
            raise InputError("bootstrap: a run's windows carry more than one class; give the run's class windows only")
        correct = np.bincount(index, weights=(pred == y), minlength=len(runs))
        total = np.bincount(index, minlength=len(runs))
        return cls(label, correct, total.astype(float))


def macro_accuracy_interval(
    pred: np.ndarray,
    y: np.ndarray,
    run: np.ndarray,
    resamples: int = RESAMPLES,
    level: float = LEVEL,
    seed: int = 0,
) -> dict:
    """Macro accuracy (mean per-class recall) with its percentile bootstrap interval over runs, and the same
    interval for each class. Every window of a run must carry that run's class (benchmark windows)."""
    if resamples < 1 or not 0.0 < level < 1.0:
        raise InputError(f"bootstrap: resamples >= 1 and level in (0, 1), got {resamples}, {level}")
    counts = RunCounts.from_windows(pred, y, run)
    classes = np.unique(counts.label)
    rng = np.random.default_rng(seed)
    recalls = np.stack([_resampled_recall(counts, c, resamples, rng) for c in classes])  # (classes, resamples)
    q = (100 * (1 - level) / 2, 100 * (1 + level) / 2)
    per_class = {int(c): _interval(r, q) for c, r in zip(classes, recalls, strict=True)}
    return {
        "macro_accuracy_ci": _interval(recalls.mean(0), q),
        "per_class_accuracy_ci": per_class,
        "bootstrap": {
            "unit": "test run",
            "stratified": "by class",
            "resamples": resamples,
            "level": level,
            "seed": seed,
            "runs": len(counts.label),
        },
    }


def _resampled_recall(counts: RunCounts, c: int, resamples: int, rng: np.random.Generator) -> np.ndarray:
    """(resamples,) recall of class ``c`` over its runs drawn with replacement."""
    mine = np.nonzero(counts.label == c)[0]
    draw = mine[rng.integers(0, len(mine), size=(resamples, len(mine)))]  # (resamples, runs of c)
    return counts.correct[draw].sum(1) / counts.total[draw].sum(1)


def _interval(values: np.ndarray, q: tuple[float, float]) -> list[float]:
    lo, hi = np.percentile(values, q)
    return [float(lo), float(hi)]
