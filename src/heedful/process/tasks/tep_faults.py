"""Tennessee Eastman fault classification (and detection) from windows of the 52 measurements.

Inputs are standardised with training statistics and clipped at ±``clip`` standard deviations.
Each window is labelled with the state at its last sample. Training runs are split in time (the last
``val_fraction`` of every run, after a gap of one window, is the validation split); the test split is
the Braatz test files, where faulty runs start normal and turn faulty at sample 160.
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np

from heedful.errors import InputError
from heedful.process.config import TEPFaultsConfig
from heedful.process.sources import tep
from heedful.process.tasks.base import Split, Task, TaskData
from heedful.process.windows import Scaler, sliding_windows, window_ends


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
    the overall window accuracy, averages over all the run's faults and over its observable ones (all but 3, 9 and
    15: 18 faults when all are used; ``observable_faults`` lists those averaged), and detection (any fault
    predicted) rate / false-alarm rate per fault."""
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
        "average_observable": float(np.mean(observable)) if observable else None,
        "observable_faults": [f for f in per_fault if f not in tep.UNOBSERVABLE_FAULTS],
        "detection_rate": detection,
    }


def observable(faults) -> list[int]:
    return [f for f in faults if f and f not in tep.UNOBSERVABLE_FAULTS]


class ClippedWindows:
    """Raw input for ``predict`` as the TEP tasks train: standardised, clipped at ±clip, then windowed."""

    def min_steps(self, data: TaskData) -> int:
        return int(data.params["window"])

    def predict(self, data: TaskData, model, values: np.ndarray) -> dict:
        from heedful.process.apply import predict_windows

        return predict_windows(data, model, values, int(data.params["window"]))

    def scale(self, data: TaskData, raw: np.ndarray) -> np.ndarray:
        """As in training: standardised, then clipped at ±clip."""
        x = data.scaler.transform(raw)
        clip = float(data.params["clip"])
        return np.clip(x, -clip, clip, out=x) if clip else x


class TEPFaults(ClippedWindows, Task):
    name = "tep_faults"
    default_models = ("lstm", "bilstm", "gru", "bigru", "bilstm_attn", "bigru_attn", "logistic", "pca_t2")
    detects_faults = True
    explains = "attention pooling (*_attn models) around a fault's onset in its test run (--fault F)"

    def build(self, cfg: TEPFaultsConfig) -> TaskData:
        return build_tep_faults(cfg)

    def evaluate(self, data: TaskData, pred: np.ndarray) -> dict:
        return tep_report(pred, data.test, tuple(data.params["faults"]))

    def table_columns(self, params: dict) -> tuple[tuple[str, str, str], ...]:
        n = len(observable(params["faults"]))
        return (
            (f"{n}-fault avg (observable)", "average_observable", "pct"),
            ("overall acc", "overall_accuracy", "pct"),
            ("mean detection", "detection_rate", "mean_pct"),
            ("false alarms", "false_alarm_rate", "pct"),
        )

    def summary(self, test: dict, params: dict) -> list[str]:
        lines = [
            f"test overall accuracy {test['overall_accuracy']:.1%}, false-alarm rate {test['false_alarm_rate']:.1%}"
        ]
        faults = observable(params["faults"])
        if test.get("average_observable") is not None:
            shown = ", ".join(map(str, faults))
            lines.append(f"{len(faults)}-fault average (observable faults {shown}): {test['average_observable']:.1%}")
        return lines

    def explain(self, data: TaskData, model, config: dict, out_png, fault: int | None, sample: int) -> dict:
        from heedful.process.explain import explain_tep

        if fault is None:
            raise InputError("explain: tep_faults needs --fault F")
        return explain_tep(data, model, config, fault, out_png)
