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

A detector need not be equally calm all through a run: the TEP classifier alarms far more often on normal windows
ending in a run's first hours than later. One threshold set on validation windows spread evenly over the run then
misses the rate asked for wherever the windows scored sit early (the pre-onset windows of faulty runs). With
``bin_steps`` the threshold depends on where in its run a window ends: one per span of ``bin_steps`` samples, each
set to the rate on the normal validation windows ending in that span (``thresholds_by_time``), so the rate holds
on normal windows whatever their spread over time.
"""

from __future__ import annotations

import math
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


def min_bin_windows(rate: float) -> int:
    """Normal validation windows one time span needs for its own threshold: enough that ``MIN_BIN_ALARMS`` of them
    may alarm at ``rate``, so the threshold is a quantile and not the span's largest score."""
    return math.ceil(MIN_BIN_ALARMS / rate - 1e-9)


MIN_BIN_ALARMS = 5


@dataclass(frozen=True)
class TimedThreshold:
    """A detector threshold by the step at which a window ends in its run: ``thresholds[i]`` holds from step
    ``starts[i - 1]`` (inclusive) to ``starts[i]``; the first from the run's start, the last to its end, so windows
    later than any validation window get the last span's threshold. ``windows``: normal validation windows each was
    set on. No ``starts``: one threshold for the whole run."""

    starts: tuple[int, ...]
    thresholds: tuple[float, ...]
    windows: tuple[int, ...] = ()

    def __post_init__(self):
        if len(self.thresholds) != len(self.starts) + 1 or list(self.starts) != sorted(set(self.starts)):
            raise InputError(f"alarm thresholds: {len(self.thresholds)} values for span starts {list(self.starts)}")

    def at(self, end: np.ndarray) -> np.ndarray:
        """The threshold of each window (N,) by its end step (N,)."""
        return np.asarray(self.thresholds)[np.searchsorted(self.starts, end, side="right")]

    def to_dict(self) -> dict:
        return {"starts": list(self.starts), "thresholds": list(self.thresholds), "windows": list(self.windows)}

    @classmethod
    def from_stored(cls, value) -> TimedThreshold:
        """From ``to_dict``'s form, or a bare number (runs calibrated before thresholds depended on time)."""
        if isinstance(value, int | float) and not isinstance(value, bool):
            return cls((), (float(value),))
        try:
            return cls(tuple(int(s) for s in value["starts"]), tuple(float(t) for t in value["thresholds"]))
        except (TypeError, KeyError, ValueError):
            raise InputError(f"alarm thresholds: expected a number or starts and thresholds, got {value!r}") from None


def thresholds_by_time(
    scores: np.ndarray, end: np.ndarray, rate: float, bin_steps: int, min_windows: int | None = None
) -> TimedThreshold:
    """Thresholds at ``rate`` (``threshold_for_rate``) on the normal validation ``scores`` (N,) of windows ending
    at ``end`` (N,), one per span of ``bin_steps`` steps (span ``k``: ends in ``[k * bin_steps, (k + 1) *
    bin_steps)``). A span with fewer than ``min_windows`` windows (default ``min_bin_windows(rate)``) is merged with
    the next, the last with the one before; if all of them together hold fewer, or ``bin_steps`` is 0, one
    threshold is set on all of them (the rule without time)."""
    scores, end = np.asarray(scores, np.float64), np.asarray(end)
    need = min_bin_windows(rate) if min_windows is None else min_windows
    if bin_steps < 0 or need < 1:
        raise InputError(f"alarm time spans: need bin_steps >= 0 and min_windows >= 1, got {bin_steps}, {need}")
    if bin_steps == 0 or len(scores) < 2 * need:
        return TimedThreshold((), (threshold_for_rate(scores, rate),), (len(scores),))
    spans, counts = np.unique(end // bin_steps, return_counts=True)
    groups: list[list[int]] = []  # [first span, windows]
    for span, count in zip(spans.tolist(), counts.tolist(), strict=True):
        if groups and groups[-1][1] < need:
            groups[-1][1] += count
        else:
            groups.append([span, count])
    if groups[-1][1] < need:
        groups[-2][1] += groups.pop()[1]
    starts = tuple(first * bin_steps for first, _ in groups[1:])
    which = np.searchsorted(starts, end, side="right")
    thresholds = tuple(threshold_for_rate(scores[which == i], rate) for i in range(len(groups)))
    return TimedThreshold(starts, thresholds, tuple(count for _, count in groups))


@dataclass(frozen=True)
class RunAlarm:
    """A trained run's ``model``-detector alarm as calibrated in training (its metrics.json, ``test.two_stage``),
    applied by ``predict`` to the windows of one new run. Runs calibrated before thresholds depended on time keep
    their one threshold."""

    rate: float
    persistence: int
    threshold: TimedThreshold

    @classmethod
    def from_metrics(cls, two: dict | None) -> RunAlarm | None:
        """None where the run has no two-stage alarm, or one whose detector needs more than the model (``pca``)."""
        if not isinstance(two, dict) or two.get("alarm_detector") != "model":
            return None
        try:
            stored = two["thresholds"]["model"]
            return cls(float(two["alarm_rate"]), int(two["alarm_persistence"]), TimedThreshold.from_stored(stored))
        except (KeyError, TypeError, ValueError):
            raise InputError("two_stage alarm without alarm_rate, alarm_persistence or model thresholds") from None

    def alarms(self, proba: np.ndarray, end: np.ndarray, normal: int) -> np.ndarray:
        """Alarms of one run's windows: class probabilities (N, classes), end steps (N,) from the run's start."""
        alarm = 1.0 - proba[:, normal] > self.threshold.at(end)
        return persist(alarm, np.zeros(len(end), np.int64), end, self.persistence)

    def gated(self, proba: np.ndarray, end: np.ndarray, normal: int) -> np.ndarray:
        """The two-stage class of each window: the classifier's fault where the alarm holds, else ``normal``."""
        return gate(proba, self.alarms(proba, end, normal), normal)


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
    thresholds: dict[str, TimedThreshold]  # detector -> its thresholds
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
    val_end: np.ndarray | None = None,
    bin_steps: int = 0,
) -> AlarmResult:
    """``val`` / ``test``: (windows (N, W, C), class probabilities (N, classes)); ``val`` holds the normal
    validation windows only, ending at ``val_end`` (needed with ``bin_steps``: thresholds by time in the run,
    ``thresholds_by_time``). ``pca`` is needed by the ``pca`` and ``both`` detectors."""
    if detector not in DETECTORS:
        raise InputError(f"alarm_detector must be one of {DETECTORS}, got {detector!r}")
    scores = {}
    if detector in ("pca", "both"):
        scores["pca"] = (pca.score(val[0]), pca.score(test[0]))
    if detector in ("model", "both"):
        scores["model"] = (1.0 - val[1][:, normal], 1.0 - test[1][:, normal])
    if val_end is None:
        val_end = np.zeros(len(val[0]), np.int64)
    thresholds = {k: thresholds_by_time(v, val_end, rate, bin_steps) for k, (v, _) in scores.items()}
    val_alarm = np.logical_and.reduce([v > thresholds[k].at(val_end) for k, (v, _) in scores.items()])
    alarm = np.logical_and.reduce([t > thresholds[k].at(test_end) for k, (_, t) in scores.items()])
    alarm = persist(alarm, test_run, test_end, persistence)
    return AlarmResult(gate(test[1], alarm, normal), alarm, thresholds, float(val_alarm.mean()))
