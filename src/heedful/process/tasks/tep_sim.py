"""``tep_sim_faults``: Tennessee Eastman fault classification on simulated runs (``sources.tepsim``), in the
published protocol and in the one a plant operator lives with.

Runs: ``train_runs`` / ``val_runs`` / ``test_runs`` per class, each with its own seed (the three sets never share
one), and ``val_normal_runs`` normal validation runs that the two-stage alarm's thresholds are set on (the first
``val_runs`` of them are the validation split's normal runs; the others choose no epoch). Training and
validation runs last ``train_hours`` with the disturbance switched on at ``train_onset_hours`` (Rieth et al. 2017:
25 h, fault at 1 h); test runs ``test_hours`` with the onset at ``test_onset_hours`` (48 h, 8 h). Samples after a
plant shutdown do not exist and are never used.

Training windows, by ``protocol``:
- ``benchmark``: windows wholly after the onset carry the fault's class; normal runs give normal windows;
- ``online``: every window, labelled with the state at its last sample (pre-onset windows are normal).

The test split is every window of every test run (``test_stride`` apart), labelled with the state at its last
sample, and both protocols are reported on it:
- benchmark: the windows of normal runs and those wholly after the onset: per-class accuracy, macro average,
  confusion matrix;
- online: all windows: accuracy, detection rate (a fault predicted on a faulty window), false-alarm rate (a fault
  predicted on a normal one, pre-onset windows included) and the mean detection delay (minutes from the onset
  to the end of the first window after it that raises an alarm; runs never detected are counted as missed).
"""

from __future__ import annotations

import os
from dataclasses import asdict

import numpy as np

from heedful.errors import InputError
from heedful.process.bootstrap import macro_accuracy_interval
from heedful.process.config import TEPSimFaultsConfig
from heedful.process.data import Split, TaskData
from heedful.process.explain import fault_class, needs_attention, onset_picture
from heedful.process.sources import tepsim
from heedful.process.tasks.base import Task, Trained
from heedful.process.tasks.tep_faults import ClippedWindows, TwoStageAlarm, two_stage_line
from heedful.process.windows import Scaler, sliding_windows

MINUTES = tepsim.SAMPLE_HOURS * 60


def _windows(runs: list[tepsim.SimRun], values: list[np.ndarray], cfg, stride: int, after_onset: bool) -> Split:
    """Windows of every run (``values``: its scaled samples); ``after_onset``: only those wholly after a faulty
    run's onset, labelled with its class; otherwise all, labelled with the state at their last sample."""
    classes = {f: i for i, f in enumerate(cfg.faults)}
    xs, ys, rs, es = [], [], [], []
    for i, (run, v) in enumerate(zip(runs, values, strict=True)):
        first = cfg.window + (run.spec.onset if after_onset and run.spec.fault else 0)
        ends = np.arange(first, len(v) + 1, stride)
        if not len(ends):
            continue  # a run that shut down too early
        xs.append(sliding_windows(v, ends, cfg.window))
        ys.append(np.array([classes[int(label)] for label in run.labels[ends - 1]], dtype=np.int64))
        rs.append(np.full(len(ends), i))
        es.append(ends)
    if not xs:
        raise InputError(f"no window of {cfg.window} samples fits in these runs")
    return Split(np.concatenate(xs), np.concatenate(ys), np.concatenate(rs), np.concatenate(es))


def _describe(run: tepsim.SimRun) -> dict:
    s = run.spec
    return {"fault": s.fault, "seed": s.seed, "onset": s.onset, "samples": len(run.values), "shutdown": run.shutdown}


def memory_estimate(cfg: TEPSimFaultsConfig, specs: dict[str, list[tepsim.RunSpec]]) -> int:
    """Bytes the task holds at its peak: every run's raw and scaled values, and each split's windows twice (the
    per-run arrays and their concatenation). Shutdowns only make it smaller."""
    sample = len(tepsim.VARIABLE_NAMES) * 4  # float32
    total = 0
    for name, split in specs.items():
        stride = cfg.test_stride if name == "test" else cfg.stride
        after = cfg.protocol == "benchmark" and name != "test"
        for s in split:
            first = cfg.window + (s.onset if after and s.fault else 0)
            windows = (s.samples - first) // stride + 1 if s.samples >= first else 0
            total += 2 * s.samples * sample + 2 * windows * cfg.window * sample
    return total


def available_memory() -> int:
    try:
        import psutil  # comes with distributed (the tep extra)

        return int(psutil.virtual_memory().available)
    except ImportError:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def check_memory(cfg: TEPSimFaultsConfig, specs: dict[str, list[tepsim.RunSpec]]) -> None:
    need, free = memory_estimate(cfg, specs), available_memory()
    if need > free:
        runs = len({s for split in specs.values() for s in split})  # val and alarm share normal runs
        raise InputError(
            f"tep_sim_faults: the windows of {runs} runs need about {tepsim.gigabytes(need)} of memory, "
            f"{tepsim.gigabytes(free)} available: fewer runs per class, or a larger --stride / --test-stride"
        )


def build_tep_sim_faults(cfg: TEPSimFaultsConfig | None = None, progress: bool = True) -> TaskData:
    cfg = cfg or TEPSimFaultsConfig()
    names = ("train", "val", "test", "alarm")
    specs = {name: tepsim.specs(cfg, name) for name in names}
    check_memory(cfg, specs)  # before simulating anything
    report = tepsim.generate(
        [s for name in names for s in specs[name]], cfg.cache, cfg.workers, cfg.scheduler, progress
    )
    runs, start = {}, 0
    for name in names:
        runs[name], start = report.runs[start : start + len(specs[name])], start + len(specs[name])
    scaler = Scaler.fit(np.concatenate([r.values for r in runs["train"]]))

    def scaled(run: tepsim.SimRun) -> np.ndarray:
        # some disturbances drive a run far outside anything in training: saturate instead of extrapolating
        v = scaler.transform(run.values)
        return np.clip(v, -cfg.clip, cfg.clip, out=v) if cfg.clip else v

    values = {name: [scaled(r) for r in runs[name]] for name in names}
    after = cfg.protocol == "benchmark"
    train = _windows(runs["train"], values["train"], cfg, cfg.stride, after)
    val = _windows(runs["val"], values["val"], cfg, cfg.stride, after)
    test = _windows(runs["test"], values["test"], cfg, cfg.test_stride, after_onset=False)
    alarm = _windows(runs["alarm"], values["alarm"], cfg, cfg.stride, after_onset=False)  # normal runs only
    class_names = ["normal" if f == 0 else f"fault {f}" for f in cfg.faults]
    params = {
        "source": f"tep-studio {tepsim.simulator_version()} (revised TEP, Ricker decentralised control)",
        **asdict(cfg),
        "shutdowns": {n: [_describe(r) for r in runs[n] if not r.complete] for n in names},
        "test_set": [_describe(r) for r in runs["test"]],
    }
    return TaskData(
        "tep_sim_faults",
        "classification",
        train,
        val,
        test,
        class_names,
        tepsim.VARIABLE_NAMES,
        scaler,
        params,
        alarm_val=alarm,
    )


# --- metrics -----------------------------------------------------------------------------------------


def tep_sim_report(pred: np.ndarray, data: TaskData) -> dict:
    """Both protocols on the test windows (see the module docstring). Class-keyed results use the fault id
    (0 = normal)."""
    pred, split = np.asarray(pred), data.test
    faults = tuple(data.params["faults"])
    runs = data.params["test_set"]
    onset = np.array([-1 if r["onset"] is None else r["onset"] for r in runs])[split.run]
    in_benchmark = (onset < 0) | (split.end - data.params["window"] >= onset)
    bench = _benchmark(pred[in_benchmark], split.y[in_benchmark], faults)
    ci = macro_accuracy_interval(pred[in_benchmark], split.y[in_benchmark], split.run[in_benchmark])
    ci["per_class_accuracy_ci"] = {faults[c]: v for c, v in ci["per_class_accuracy_ci"].items()}
    return {**bench, **ci, "test_runs": len(runs), **_online(pred, split, faults, runs)}


def _benchmark(pred: np.ndarray, y: np.ndarray, faults: tuple[int, ...]) -> dict:
    from sklearn.metrics import accuracy_score, confusion_matrix, recall_score

    present = np.unique(y)  # classes without a true window have no recall
    recall = dict(zip(present.tolist(), recall_score(y, pred, labels=present, average=None).tolist(), strict=True))
    recall = {faults[c]: float(r) for c, r in recall.items()}
    return {
        "macro_accuracy": float(np.mean(list(recall.values()))),
        "benchmark_accuracy": float(accuracy_score(y, pred)),
        "per_class_accuracy": recall,
        "per_fault_accuracy": {f: v for f, v in recall.items() if f},
        "confusion": confusion_matrix(
            y, pred, labels=np.arange(len(faults))
        ).tolist(),  # rows: true class, columns: predicted, in the order of ``faults``
    }


def _online(pred: np.ndarray, split: Split, faults: tuple[int, ...], runs: list[dict]) -> dict:
    normal = faults.index(0)
    alarm, faulty = pred != normal, split.y != normal
    delays: dict[int, list[float]] = {}
    missed: dict[int, int] = {}
    for i, run in enumerate(runs):
        if not run["fault"] or run["onset"] >= run["samples"]:
            continue  # normal run, or shut down before the onset
        rows = (split.run == i) & faulty & alarm
        if rows.any():
            delays.setdefault(run["fault"], []).append(float((split.end[rows].min() - run["onset"]) * MINUTES))
        else:
            missed[run["fault"]] = missed.get(run["fault"], 0) + 1
    per_fault_detection = {
        f: float(alarm[split.y == c].mean()) for c, f in enumerate(faults) if f and (split.y == c).any()
    }
    all_delays = [d for v in delays.values() for d in v]
    return {
        "online_accuracy": float((pred == split.y).mean()),
        "detection_rate": float(alarm[faulty].mean()) if faulty.any() else None,
        "false_alarm_rate": float(alarm[~faulty].mean()) if (~faulty).any() else None,
        "mean_detection_delay_min": float(np.mean(all_delays)) if all_delays else None,
        "per_fault_detection": per_fault_detection,
        "per_fault_delay_min": {f: float(np.mean(v)) for f, v in sorted(delays.items())},
        "missed_runs": missed,
    }


def _false_alarm_line(test: dict) -> list[str]:
    """The two-stage alarm's false alarms on the test runs against the rate its threshold was set for."""
    two = test.get("two_stage")
    if not two:
        return []
    runs, hours = two.get("val_normal_runs"), two.get("alarm_bin_hours")
    on = f"; threshold set on {runs} normal validation runs" if runs else ""
    if runs and hours:
        on = f"; thresholds set on {runs} normal validation runs, one per {hours:g} h into the run"
    return [f"simulated online false alarms: {two['false_alarm_rate']:.1%} (asked {two['alarm_rate']:.1%}){on}"]


class TEPSimFaults(TwoStageAlarm, ClippedWindows, Task):
    name = "tep_sim_faults"
    default_models = ("lstm", "bilstm", "gru", "bigru", "bilstm_attn", "bigru_attn", "logistic", "pca_t2")
    detects_faults = True
    explains = "attention pooling (*_attn models) around a fault's onset in a held-out test run (--fault F, --sample R)"
    headlines = (  # benchmark protocol, online protocol, then the online protocol behind the two-stage alarm
        ("macro acc (benchmark)", "macro_accuracy", "pct"),
        ("95% interval (runs)", "macro_accuracy_ci", "ci"),
        ("online acc", "online_accuracy", "pct"),
        ("detection", "detection_rate", "pct"),
        ("false alarms", "false_alarm_rate", "pct"),
        ("mean delay min", "mean_detection_delay_min", "num"),
        ("two-stage online acc", "two_stage.online_accuracy", "pct"),
        ("two-stage detection", "two_stage.detection_rate", "pct"),
        ("two-stage false alarms", "two_stage.false_alarm_rate", "pct"),
        ("two-stage delay min", "two_stage.mean_detection_delay_min", "num"),
    )

    def build(self, cfg: TEPSimFaultsConfig) -> TaskData:
        return build_tep_sim_faults(cfg)

    def evaluate(self, data: TaskData, pred: np.ndarray) -> dict:
        return tep_sim_report(pred, data)

    def detection_report(self, data: TaskData, alarm: np.ndarray) -> dict:
        """The online protocol of a detector (``pca_t2``): every alarm counts as "some fault"; no accuracy."""
        some_fault = (data.class_names.index("normal") + 1) % data.n_classes  # only alarm / no alarm is scored
        pred = np.where(alarm, some_fault, data.class_names.index("normal"))
        online = _online(pred, data.test, tuple(data.params["faults"]), data.params["test_set"])
        return {k: v for k, v in online.items() if k != "online_accuracy"}

    def summary(self, test: dict, params: dict) -> list[str]:
        delay, n = test["mean_detection_delay_min"], len(params["faults"])
        accuracy = f"simulated {n}-class accuracy: {test['macro_accuracy']:.1%}"
        if test.get("macro_accuracy_ci"):  # runs written before the interval was reported have none
            lo, hi = test["macro_accuracy_ci"]
            accuracy += f" [{100 * lo:.1f}, {100 * hi:.1f}] on {test['test_runs']} test runs"
        return [
            accuracy + " (benchmark protocol, macro; 95% bootstrap interval over test runs)",
            f"online protocol: accuracy {test['online_accuracy']:.1%}, detection {test['detection_rate']:.1%}, "
            f"false alarms {test['false_alarm_rate']:.1%}, mean detection delay "
            + ("-" if delay is None else f"{delay:.0f} min"),
            *two_stage_line(test),
            *_false_alarm_line(test),
        ]

    def explain(self, run: Trained, out_png, fault: int | None, sample: int) -> dict:
        """The attention over held-out test run ``sample`` of ``fault``, zoomed on the onset. The run comes from the
        simulation cache the task was built from (nothing is simulated again)."""
        if fault is None:
            raise InputError("explain: tep_sim_faults needs --fault F (and --sample R for its test run R, default 0)")
        needs_attention(run.config)
        if fault == 0:
            raise InputError("explain shows a fault's onset: give --fault F with F > 0 (normal runs have none)")
        fault_class(run.spec, fault)
        cfg = self.saved_config(run.config["task_params"])
        specs = [s for s in tepsim.specs(cfg, "test") if s.fault == fault]
        if not 0 <= sample < len(specs):
            raise InputError(
                f"--sample picks a test run of fault {fault}: it must lie in [0, {len(specs)}), got {sample}"
            )
        spec = specs[sample]
        (test,) = tepsim.generate([spec], cfg.cache, progress=False).runs
        if spec.onset >= len(test.values):
            raise InputError(f"test run {sample} of fault {fault} (seed {spec.seed}) shut down before its onset")
        title = f"{run.config['model']} on simulated TEP test run IDV({fault}), seed {spec.seed}: attention per window"
        summary = onset_picture(
            run.spec,
            run.model,
            test.values,
            spec.onset,
            fault,
            out_png,
            scale=lambda raw: self.scale(run.spec, raw),
            title=title,
            xlabel="time step (3 min)",
        )
        shown = {"fault": fault, "seed": spec.seed, "onset": spec.onset, "samples": len(test.values)}
        return {**summary, "test_run": shown}
