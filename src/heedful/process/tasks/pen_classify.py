"""IndPenSim classification tasks: batch quality, per-step phase, fault detection / type.

- ``pen_quality``: whole batches (variable length, masked by lengths) of the online sensors, hourly; class from the
  final penicillin concentration: A (on specification, >= 25 g/L), B (15-25 g/L), C (failed, < 15 g/L; in our
  recipe range these are over-fed, under-aerated batches that starve of oxygen). Penicillin and the other
  off-line states are not inputs. ``target``: learn the labels (``class``), or regress the final penicillin
  (``value``) or the penicillin of every step (``trajectory``) and threshold the estimate.
- ``pen_phase``: per-step phase (batch, fed-batch, discharge; from the recipe) of whole batches every
  ``every`` steps, from the measured variables only (``PHASE_INPUTS``): the recipe's own set-points (feeds, discharge
  flow, aeration, pressure) would give the phase away. Padded steps are masked out of loss and metric.
- ``pen_faults``: windows of the online sensors from the ``faults`` batch set, labelled with the fault acting at
  the window's last step (0 normal).
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np

from heedful.errors import InputError
from heedful.process.baselines import fit_classical, regress_then_classify
from heedful.process.config import PEN_STEP_HOURS, PenFaultsConfig, PenPhaseConfig, PenQualityConfig
from heedful.process.data import DataSpec, Split, TaskData
from heedful.process.explain import fault_class, needs_attention, onset_picture
from heedful.process.metrics import accuracy_report
from heedful.process.sources import indpensim as ip
from heedful.process.tasks.base import Task, Trained, WholeBatchExplained, WindowClassifier
from heedful.process.tasks.pen_data import (
    SOURCE,
    channel_index,
    fit_scaler,
    load_batches,
    pad,
    split_indices,
    valid_mask,
)
from heedful.process.windows import Scaler, downsample, sliding_windows, window_ends

ONLINE = list(ip.ONLINE)
QUALITY_CLASSES = ["A", "B", "C"]
RECIPE_INPUTS = ("aeration", "sugar_feed", "oil_feed", "paa_feed", "water_feed", "discharge", "pressure")
PHASE_INPUTS = [n for n in ONLINE if n not in RECIPE_INPUTS]


def _sequences(batches, idx, cols, every):
    return [downsample(batches[i].values[:, cols], every) for i in idx]


def _padded_split(seqs, scaler, y, idx, every) -> Split:
    x, lengths = pad([scaler.transform(s) for s in seqs])
    return Split(x, y, np.asarray(idx), lengths * every, lengths=lengths)


def build_pen_quality(cfg: PenQualityConfig) -> TaskData:
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
    params = {"source": SOURCE, **asdict(cfg), "thresholds_g_per_l": [low, high]}
    if cfg.target == "trajectory":
        return _trajectory_target(batches, splits, parts, cfg.every, scaler, params)
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


def _trajectory_target(batches, splits: list[Split], parts, every: int, scaler: Scaler, params: dict) -> TaskData:
    """``target="trajectory"``: the penicillin of every (downsampled) step is the target, a soft sensor whose
    estimate at the batch's last step is thresholded. One number per batch is little to learn from with ~120
    batches; the whole trajectory gives the network ~200 targets per batch, all shaped by the same kinetics."""
    col = ip.CHANNELS.index("penicillin")
    trajectories = [downsample(b.values[:, [col]], every) for b in batches]
    t_scaler = Scaler.fit(np.concatenate([trajectories[i] for i in parts[0]]))
    for split, p in zip(splits, parts, strict=True):
        split.y, lengths = pad([t_scaler.transform(trajectories[i]) for i in p])
        split.mask = valid_mask(lengths, split.y.shape[1])[..., None]
    return TaskData(
        "pen_quality", "sequence_regression", *splits, QUALITY_CLASSES, ONLINE, scaler, params, ["penicillin"], t_scaler
    )


def final_estimate(pred: np.ndarray, data: TaskData) -> np.ndarray:
    """(N,) predicted final penicillin (g/L) from scaled predictions: the value itself (``target="value"``) or the
    trajectory's last valid step (``target="trajectory"``)."""
    pred = np.asarray(pred, np.float64)
    if data.kind == "sequence_regression":
        pred = pred[np.arange(len(pred)), data.test.lengths - 1]
    return data.target_scaler.inverse_transform(pred[:, :1])[:, 0]


def quality_report(pred: np.ndarray, data: TaskData) -> dict:
    """Class accuracy; with ``target="value"`` or ``"trajectory"``, the predicted final penicillin is thresholded
    first (and its MAE is reported)."""
    if data.kind == "classification":
        return accuracy_report(pred, data.test, data.class_names)
    final = final_estimate(pred, data)
    split = Split(data.test.x, quality_class(data.test.value, data.params["thresholds"]), data.test.run, data.test.end)
    report = accuracy_report(quality_class(final, data.params["thresholds"]), split, data.class_names)
    return {**report, "final_penicillin_mae": float(np.abs(final - data.test.value).mean())}


def build_pen_phase(cfg: PenPhaseConfig) -> TaskData:
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
    params = {"source": SOURCE, **asdict(cfg)}
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
    params = {"source": SOURCE, **asdict(cfg), "fault_names": ip.FAULTS}
    return TaskData("pen_faults", "classification", *splits, names, ONLINE, scaler, params)


def quality_class(final: np.ndarray, thresholds) -> np.ndarray:
    """Class ids (0 A, 1 B, 2 C) of final penicillin values."""
    low, high = thresholds
    return np.where(final >= high, 0, np.where(final >= low, 1, 2))


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


class PenQuality(WholeBatchExplained):
    name = "pen_quality"
    default_models = ("lstm", "bilstm", "gru", "bigru", "bilstm_attn", "bigru_attn", "logistic")
    headlines = (("test accuracy", "accuracy", "pct"), ("final penicillin MAE g/L", "final_penicillin_mae", "num"))

    def models_for(self, params: dict) -> tuple[str, ...]:
        if params.get("target") == "trajectory":  # per-step outputs: no attention pooling, no label classifier
            return ("gru", "bigru", "ridge", "pls")
        return self.default_models

    def build(self, cfg: PenQualityConfig) -> TaskData:
        return build_pen_quality(cfg)

    def evaluate(self, data: TaskData, pred: np.ndarray) -> dict:
        return quality_report(pred, data)

    def fit_classical(self, name: str, data: TaskData, seed: int = 0) -> tuple[np.ndarray, int]:
        if data.kind == "sequence_regression":  # target="trajectory": per-step soft-sensor baselines
            return fit_classical(name, data, seed)
        if name in ("ridge", "pls", "boosting"):  # through the final penicillin, then the thresholds
            pred, params = regress_then_classify(name, data, seed)
            if data.kind == "regression":  # target="value": the metric thresholds scaled values itself
                return data.target_scaler.transform(pred[:, None]), params
            return quality_class(pred, data.params["thresholds"]), params
        return fit_classical(name, data, seed)

    def step_hours(self, spec: DataSpec) -> float:
        return PEN_STEP_HOURS * int(spec.params["every"])

    def explain_rows(self, data: TaskData, pred: np.ndarray) -> tuple[np.ndarray, list[str]]:
        """Rows by true final penicillin: 'g/L class -> predicted class' (target=value: and the predicted g/L)."""
        final, names = data.test.value, data.class_names
        truth = quality_class(final, data.params["thresholds"])
        if data.kind == "classification":
            return final, [f"{f:.1f} g/L {names[t]} -> {names[p]}" for f, t, p in zip(final, truth, pred, strict=True)]
        guess = final_estimate(pred, data)
        called = quality_class(guess, data.params["thresholds"])
        rows = zip(final, truth, guess, called, strict=True)
        return final, [f"{f:.1f} g/L {names[t]} -> {g:.1f} {names[c]}" for f, t, g, c in rows]


class PenPhase(Task):
    name = "pen_phase"
    default_models = ("lstm", "bilstm", "gru", "bigru", "logistic")
    headlines = (("per-step accuracy", "accuracy", "pct"),)

    def build(self, cfg: PenPhaseConfig) -> TaskData:
        return build_pen_phase(cfg)

    def evaluate(self, data: TaskData, pred: np.ndarray) -> dict:
        return accuracy_report(pred, data.test, data.class_names)


class PenFaults(WindowClassifier, Task):
    name = "pen_faults"
    default_models = ("lstm", "bilstm", "gru", "bigru", "bigru_attn", "logistic", "pca_t2")
    headlines = (
        ("overall acc", "overall_accuracy", "pct"),
        ("mean fault acc", "average_fault_accuracy", "pct"),
        ("mean detection", "detection_rate", "mean_pct"),
        ("false alarms", "false_alarm_rate", "pct"),
    )
    detects_faults = True
    explains = "attention pooling (*_attn models) around a fault's onset in a test batch (--fault 1-8)"

    def build(self, cfg: PenFaultsConfig) -> TaskData:
        return build_pen_faults(cfg)

    def evaluate(self, data: TaskData, pred: np.ndarray) -> dict:
        return fault_report(pred, data.test, data.class_names)

    def explain(self, run: Trained, out_png, fault: int | None, sample: int) -> dict:
        """The attention over the first test batch with ``fault``, zoomed on its onset (the batches come from the
        simulation cache, split as in training)."""
        if fault is None:
            raise InputError("explain: pen_faults needs --fault F (1-8)")
        needs_attention(run.config)
        if fault not in range(1, 9):
            raise InputError(f"IndPenSim fault must be 1-8, got {fault}")
        fault_class(run.spec, fault)
        cfg = self.saved_config(run.config["task_params"])
        batches = load_batches(cfg, progress=False)
        test_ids = [int(i) for i in split_indices(len(batches), cfg)[2] if batches[int(i)].spec.fault == fault]
        if not test_ids:
            raise InputError(f"no test batch has fault {fault}; generate more batches (--batches)")
        batch = batches[test_ids[0]]
        onset = batch.spec.fault_onset
        title = f"{run.config['model']} on IndPenSim test batch (seed {batch.spec.seed}), fault {fault} at step {onset}"
        return onset_picture(
            run.spec,
            run.model,
            batch.values[:, channel_index(run.spec.feature_names)],
            onset,
            fault,
            out_png,
            scale=lambda raw: self.scale(run.spec, raw),
            title=title,
            xlabel="time step (12 min)",
            stride=1,
            shade_end=int(np.nonzero(batch.fault)[0][-1]) + 1,
            shade_label=f"fault {fault}: {ip.FAULTS[fault]}",
        )
