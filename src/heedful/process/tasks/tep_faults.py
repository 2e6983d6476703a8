"""Tennessee Eastman fault classification (and detection) from windows of the 52 measurements.

Inputs are standardised with training statistics and clipped at ±``clip`` standard deviations.
Each window is labelled with the state at its last sample. Training runs are split in time (the last
``val_fraction`` of every run, after a gap of one window, is the validation split); the test split is
the Braatz test files, where faulty runs start normal and turn faulty at sample 160.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from heedful.errors import InputError
from heedful.process.sources import tep
from heedful.process.tasks.base import Split, TaskData
from heedful.process.windows import Scaler, sliding_windows, window_ends


@dataclass
class TEPFaultsConfig:
    window: int = 20
    stride: int = 1
    test_stride: int = 1
    val_fraction: float = 0.2
    clip: float = 5.0  # scaled inputs saturate at ±clip std instead of extrapolating (0 = off)
    faults: tuple[int, ...] = tuple(range(tep.N_FAULTS + 1))

    def __post_init__(self):
        self.faults = tuple(int(f) for f in self.faults)
        for f in self.faults:
            tep.check_fault(f)
        if 0 not in self.faults:
            raise InputError("faults must include 0 (normal operation): classification needs the normal class")
        if not 0.0 < self.val_fraction < 0.5:
            raise InputError(f"val_fraction must lie in (0, 0.5), got {self.val_fraction}")
        if self.clip < 0:
            raise InputError(f"clip must be >= 0 (0 = off), got {self.clip}")
        if not 2 <= self.window <= 160:
            raise InputError(f"window must lie in [2, 160] samples, got {self.window}")


def _split_windows(runs: list[tep.TEPRun], segments, window: int, stride: int, classes: dict) -> Split:
    xs, ys, rs, es = [], [], [], []
    for run, (lo, hi) in zip(runs, segments, strict=True):
        ends = window_ends(hi, window, stride, first_end=lo + window)
        xs.append(sliding_windows(run.values, ends, window))
        ys.append(np.array([classes[int(label)] for label in run.labels[ends - 1]], dtype=np.int64))
        rs.append(np.full(len(ends), run.fault))
        es.append(ends)
    return Split(np.concatenate(xs), np.concatenate(ys), np.concatenate(rs), np.concatenate(es))


def build_tep_faults(cfg: TEPFaultsConfig | None = None) -> TaskData:
    cfg = cfg or TEPFaultsConfig()
    classes = {f: i for i, f in enumerate(cfg.faults)}
    train_runs = [tep.load_run(f, "train") for f in cfg.faults]
    test_runs = [tep.load_run(f, "test") for f in cfg.faults]
    cuts = [int(len(r.values) * (1 - cfg.val_fraction)) for r in train_runs]
    train = _split_windows(train_runs, [(0, c) for c in cuts], cfg.window, cfg.stride, classes)
    val = _split_windows(
        train_runs, [(c, len(r.values)) for c, r in zip(cuts, train_runs, strict=True)], cfg.window, cfg.stride, classes
    )
    test = _split_windows(test_runs, [(0, len(r.values)) for r in test_runs], cfg.window, cfg.test_stride, classes)
    scaler = Scaler.fit(np.concatenate([r.values[:c] for r, c in zip(train_runs, cuts, strict=True)]))
    for split in (train, val, test):
        # Faults such as 6 drive the test run far beyond anything in training (> 20 std); a network
        # extrapolates badly there, while a saturated input still points the right way.
        split.x = scaler.transform(split.x)
        if cfg.clip:
            np.clip(split.x, -cfg.clip, cfg.clip, out=split.x)
    names = ["normal" if f == 0 else f"fault {f}" for f in cfg.faults]
    params = {"source": "bibmon Tennessee Eastman (Braatz)", **asdict(cfg)}
    return TaskData("tep_faults", "classification", train, val, test, names, tep.VARIABLE_NAMES, scaler, params)


def tep_report(pred: np.ndarray, split: Split, faults: tuple[int, ...]) -> dict:
    """Per-fault accuracy (recall on the faulty windows of that fault's test run), normal accuracy,
    the overall window accuracy, averages over all faults and over the 18 observable ones, and detection
    (any fault predicted) rate / false-alarm rate per fault."""
    normal_cls = faults.index(0)
    is_normal = split.y == normal_cls
    per_fault, detection = {}, {}
    for cls, fault in enumerate(faults):
        if fault == 0:
            continue
        rows = (split.run == fault) & (split.y == cls)
        if rows.any():
            per_fault[fault] = float((pred[rows] == cls).mean())
            detection[fault] = float((pred[rows] != normal_cls).mean())
    observable = [v for f, v in per_fault.items() if f not in tep.UNOBSERVABLE_FAULTS]
    return {
        "overall_accuracy": float((pred == split.y).mean()),
        "normal_accuracy": float((pred[is_normal] == normal_cls).mean()) if is_normal.any() else None,
        "false_alarm_rate": float((pred[is_normal] != normal_cls).mean()) if is_normal.any() else None,
        "per_fault_accuracy": per_fault,
        "average_all_faults": float(np.mean(list(per_fault.values()))) if per_fault else None,
        "average_18_observable": float(np.mean(observable)) if observable else None,
        "detection_rate": detection,
    }
