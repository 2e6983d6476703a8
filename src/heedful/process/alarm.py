"""Two-stage alarm for fault detection: a detector decides *whether* a window is faulty, the classifier only says
*which* fault.

The detector's threshold is set on normal validation windows to a chosen false-alarm rate, so the operator picks
the rate instead of inheriting whatever a classifier trained on balanced classes happens to give. Detectors:

- ``pca``: Hotelling's T² and SPE of a PCA fitted on normal training samples, each divided by its own 99th
  percentile on that data and the larger of the two taken per sample, then averaged over the window's last
  ``span`` samples (one sample is noisy; a mean over a few is a steadier statistic for the same rate);
- ``model``: the classifier's own ``1 - p(normal)``;
- ``both``: alarms only where both of the above alarm, each at the chosen rate.

A persistence rule (an alarm only after ``m`` consecutive detector alarms in the same run) trades delay for fewer
false alarms. Everything here is numpy on arrays; the tasks decide which windows are the normal validation ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from heedful.errors import InputError
from heedful.process.baselines import PCADetector
from heedful.process.config import ALARM_DETECTORS as DETECTORS


def threshold_for_rate(normal_scores: np.ndarray, rate: float) -> float:
    """The lowest threshold at which at most ``rate`` of ``normal_scores`` lie strictly above it (alarm: score >
    threshold). With fewer than 1/rate scores this is their maximum: no normal validation window alarms."""
    s = np.sort(np.asarray(normal_scores, dtype=np.float64))
    if not len(s):
        raise InputError("alarm threshold: no normal validation windows to set it on")
    if not 0.0 < rate < 1.0:
        raise InputError(f"alarm_rate must be a fraction in (0, 1), got {rate}")
    allowed = int(np.floor(rate * len(s)))  # normal windows that may alarm
    return float(s[len(s) - 1 - allowed])


def persist(alarm: np.ndarray, run: np.ndarray, end: np.ndarray, m: int) -> np.ndarray:
    """Alarms kept only where this window and the ``m - 1`` before it in the same run (in time order) all alarmed."""
    if m <= 1:
        return alarm.copy()
    order = np.lexsort((end, run))
    out = np.zeros_like(alarm, dtype=bool)
    streak, last_run = 0, None
    for i in order:
        streak = streak + 1 if alarm[i] and run[i] == last_run else int(alarm[i])
        last_run = run[i]
        out[i] = streak >= m
    return out


def gate(proba: np.ndarray, alarm: np.ndarray, normal: int) -> np.ndarray:
    """Class per window: the classifier's most probable fault where the detector alarms, else ``normal``."""
    faults = proba.copy()  # (N, classes)
    faults[:, normal] = -np.inf
    return np.where(alarm, faults.argmax(1), normal)


@dataclass
class WindowPCA:
    """The ``pca`` detector's score per window (see the module docstring)."""

    pca: PCADetector
    span: int

    @classmethod
    def fit(cls, normal_windows: np.ndarray, span: int) -> WindowPCA:
        """``normal_windows`` (N, W, C): every sample of every normal training window trains the PCA."""
        return cls(PCADetector.fit(normal_windows.reshape(-1, normal_windows.shape[-1])), span)

    def score(self, x: np.ndarray) -> np.ndarray:
        """(N, W, C) -> (N,)."""
        tail = x[:, -min(self.span, x.shape[1]) :]  # (N, span, C)
        t2, spe = self.pca.statistics(tail.reshape(-1, tail.shape[-1]))
        per_sample = np.maximum(t2 / self.pca.t2_limit, spe / self.pca.spe_limit)
        return per_sample.reshape(tail.shape[:2]).mean(1)


@dataclass
class AlarmResult:
    pred: np.ndarray  # gated class per test window
    alarm: np.ndarray  # detector alarms after persistence
    thresholds: dict  # detector -> threshold on its score
    val_alarm_rate: float  # share of normal validation windows that alarm (before persistence)


def two_stage(
    detector: str,
    rate: float,
    persistence: int,
    normal: int,
    *,
    val: tuple[np.ndarray, np.ndarray],
    test: tuple[np.ndarray, np.ndarray],
    test_run: np.ndarray,
    test_end: np.ndarray,
    pca: WindowPCA | None = None,
) -> AlarmResult:
    """``val`` / ``test``: (windows (N, W, C), class probabilities (N, classes)); ``val`` holds the normal
    validation windows only. ``pca`` is needed by the ``pca`` and ``both`` detectors."""
    if detector not in DETECTORS:
        raise InputError(f"alarm_detector must be one of {DETECTORS}, got {detector!r}")
    scores = {}
    if detector in ("pca", "both"):
        scores["pca"] = (pca.score(val[0]), pca.score(test[0]))
    if detector in ("model", "both"):
        scores["model"] = (1.0 - val[1][:, normal], 1.0 - test[1][:, normal])
    thresholds = {k: threshold_for_rate(v, rate) for k, (v, _) in scores.items()}
    val_alarm = np.logical_and.reduce([v > thresholds[k] for k, (v, _) in scores.items()])
    alarm = np.logical_and.reduce([t > thresholds[k] for k, (_, t) in scores.items()])
    alarm = persist(alarm, test_run, test_end, persistence)
    return AlarmResult(gate(test[1], alarm, normal), alarm, thresholds, float(val_alarm.mean()))
