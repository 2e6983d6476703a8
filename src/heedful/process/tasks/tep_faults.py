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
from heedful.process.alarm import WindowPCA, two_stage
from heedful.process.config import TEP_SAMPLE_HOURS, TEPFaultsConfig
from heedful.process.data import DataSpec, Split, TaskData
from heedful.process.explain import fault_class, needs_attention, onset_picture
from heedful.process.sources import tep
from heedful.process.tasks.base import Task, Trained, WindowClassifier
from heedful.process.windows import Scaler, sliding_windows, window_ends

SAMPLE_MINUTES = 3.0  # both TEP sources sample every 3 minutes


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
        **_braatz_delays(pred, split, faults),
    }


def _braatz_delays(pred: np.ndarray, split: Split, faults: tuple[int, ...]) -> dict:
    """Detection delay on the Braatz test runs (one per fault, ``split.run`` = the fault id, onset at sample 160)."""
    normal_cls = faults.index(0)
    onsets = {f: (f, tep.TEST_ONSET) for f in faults if f and (split.run == f).any()}
    delays, missed = first_alarm_delays(pred != normal_cls, split, split.y != normal_cls, onsets)
    shown = [v for f, v in delays.items() if f not in tep.UNOBSERVABLE_FAULTS]
    return {
        "mean_detection_delay_min": float(np.mean(shown)) if shown else None,  # over the observable faults
        "per_fault_delay_min": delays,
        "missed_runs": missed,
    }


def first_alarm_delays(alarm: np.ndarray, split: Split, faulty: np.ndarray, onsets: dict) -> tuple[dict, dict]:
    """Online detection delay: per fault, the mean number of minutes from a test run's onset (``onsets``: run id ->
    (fault, first faulty sample)) to the end of its first alarming faulty window; and per fault the runs never
    detected."""
    delays, missed = {}, {}
    for run_id, (fault, onset) in onsets.items():
        rows = (split.run == run_id) & faulty & alarm
        if rows.any():
            delays.setdefault(fault, []).append(float((split.end[rows].min() - onset) * SAMPLE_MINUTES))
        else:
            missed[fault] = missed.get(fault, 0) + 1
    return {f: float(np.mean(v)) for f, v in sorted(delays.items())}, missed


def observable(faults) -> list[int]:
    return [f for f in faults if f and f not in tep.UNOBSERVABLE_FAULTS]


class ClippedWindows(WindowClassifier):
    """Raw input for ``predict`` as the TEP tasks train: standardised, clipped at ±clip, then windowed."""

    def scale(self, spec: DataSpec, raw: np.ndarray) -> np.ndarray:
        """As in training: standardised, then clipped at ±clip."""
        x = spec.scaler.transform(raw)
        clip = float(spec.params["clip"])
        return np.clip(x, -clip, clip, out=x) if clip else x


class TwoStageAlarm:
    """The TEP tasks' two-stage alarm (``heedful.process.alarm``, settings ``alarm_*`` of the task config): the
    detector's thresholds are set on the normal windows of ``data.alarm_val`` (``val`` where there is none), by
    the time in the run with ``alarm_bin_hours``; its alarms gate the classifier's test predictions, and the gated
    predictions are scored like the classifier's own (``evaluate``)."""

    alarms = True

    def two_stage(self, data: TaskData, val_proba: np.ndarray, test_proba: np.ndarray) -> dict:
        """``val_proba``: class probabilities on the windows of ``data.alarm_val`` (or ``data.val``)."""
        p = data.params
        normal = data.class_names.index("normal")
        val = data.val if data.alarm_val is None else data.alarm_val
        val_normal = val.y == normal
        pca = None
        if p["alarm_detector"] != "model":
            pca = WindowPCA.fit(data.train.x[data.train.y == normal], p["alarm_span"])
        result = two_stage(
            p["alarm_detector"],
            p["alarm_rate"],
            p["alarm_persistence"],
            normal,
            val=(val.x[val_normal], val_proba[val_normal]),
            test=(data.test.x, test_proba),
            test_run=data.test.run,
            test_end=data.test.end,
            pca=pca,
            val_end=val.end[val_normal],
            bin_steps=round(p.get("alarm_bin_hours", 0.0) / TEP_SAMPLE_HOURS),
        )
        settings = {k: p[k] for k in ("alarm_detector", "alarm_rate", "alarm_span", "alarm_persistence")}
        return {
            **settings,
            "alarm_bin_hours": p.get("alarm_bin_hours", 0.0),
            "thresholds": {k: t.to_dict() for k, t in result.thresholds.items()},
            "val_normal_windows": int(val_normal.sum()),
            "val_normal_runs": len(np.unique(val.run[val_normal])),  # runs those windows come from
            "val_false_alarm_rate": result.val_alarm_rate,  # before persistence
            **self.evaluate(data, result.pred),
        }


def two_stage_line(test: dict) -> list[str]:
    """``train``'s summary line of the two-stage alarm, when the run has one."""
    two = test.get("two_stage")
    if not two:
        return []
    delay = two.get("mean_detection_delay_min")
    detection = two["detection_rate"]
    detection = float(np.mean(list(detection.values()))) if isinstance(detection, dict) else detection
    return [
        f"two-stage alarm ({two['alarm_detector']} detector at {two['alarm_rate']:g} of normal validation windows, "
        f"persistence {two['alarm_persistence']}): false alarms {two['false_alarm_rate']:.1%}, detection "
        f"{detection:.1%}, mean detection delay " + ("-" if delay is None else f"{delay:.0f} min")
    ]


class TEPFaults(TwoStageAlarm, ClippedWindows, Task):
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
            (f"two-stage {n}-fault avg", "two_stage.average_observable", "pct"),
            ("two-stage detection", "two_stage.detection_rate", "mean_pct"),
            ("two-stage false alarms", "two_stage.false_alarm_rate", "pct"),
        )

    def summary(self, test: dict, params: dict) -> list[str]:
        lines = [
            f"test overall accuracy {test['overall_accuracy']:.1%}, false-alarm rate {test['false_alarm_rate']:.1%}"
        ]
        faults = observable(params["faults"])
        if test.get("average_observable") is not None:
            shown = ", ".join(map(str, faults))
            lines.append(f"{len(faults)}-fault average (observable faults {shown}): {test['average_observable']:.1%}")
        two = test.get("two_stage")
        if two and two.get("average_observable") is not None:
            lines.append(f"two-stage alarm: {len(faults)}-fault average {two['average_observable']:.1%}")
        return lines + two_stage_line(test)

    def explain(self, run: Trained, out_png, fault: int | None, sample: int) -> dict:
        """The attention over the Braatz test run of ``fault`` (shipped with bibmon), zoomed on the onset."""
        if fault is None:
            raise InputError("explain: tep_faults needs --fault F")
        needs_attention(run.config)
        tep.check_fault(fault)
        fault_class(run.spec, fault)
        test = tep.load_run(fault, "test")
        return onset_picture(
            run.spec,
            run.model,
            test.values,
            test.onset,
            fault,
            out_png,
            scale=lambda raw: self.scale(run.spec, raw),
            title=f"{run.config['model']} on TEP test run d{fault:02d}: attention per window",
            xlabel="time step (3 min)",
        )
