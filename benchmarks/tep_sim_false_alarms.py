"""Where a ``tep_sim_faults`` run's two-stage false alarms come from, and what thresholds set by the time in the run
do about them: the run's ``model`` detector (1 - p(normal)) recalibrated on normal validation runs without
retraining, each rule scored on the run's test windows (false alarms by the hour at which the window ends, detection,
delay).

Rules, all set on validation windows only (seeds disjoint from the test runs'), at ``--rate``:
- ``as trained``: one threshold on the normal windows of the first ``val_normal_runs`` validation runs the run was
  trained with (it reproduces the threshold in its metrics.json, which this checks);
- ``one, N runs``: one threshold on the normal windows of ``--normal-runs`` runs;
- ``by time, B h``: ``heedful.process.alarm.thresholds_by_time`` on those windows, one threshold per B hours.

Rebuilds the run's task from the cache (``$HEEDFUL_CACHE``) with ``--normal-runs`` normal validation runs (simulating
those not cached). With ``--out DIR`` the model's scores are kept in DIR and reused by a later call.

Run: HEEDFUL_CACHE=/work/tep-runs .venv/bin/python benchmarks/tep_sim_false_alarms.py COMPARE_RUN/models/lstm \\
         --normal-runs 100 --bin-hours 1,2,4 --out DIR
"""

from __future__ import annotations

import argparse
import itertools
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from heedful.checkpoint import BEST, build_fitting
from heedful.process.alarm import TimedThreshold, gate, persist, thresholds_by_time
from heedful.process.config import TEP_SAMPLE_HOURS
from heedful.process.runner import read_run_config, run_configs
from heedful.process.tasks import get_task
from heedful.process.train import load_weights, probabilities
from heedful.runs import read_json


def rate(alarm: np.ndarray, where: np.ndarray) -> str:
    return f"{alarm[where].mean():.1%} of {int(where.sum())}" if where.any() else "-"


def load(run: Path, normal_runs: int, workers: int):
    """The run's task data with ``normal_runs`` normal validation runs for the alarm, and its model."""
    config = read_run_config(run)
    task_cfg, model_cfg, _ = run_configs(run, config)
    trained_with = task_cfg.val_normal_runs
    task_cfg = replace(task_cfg, val_normal_runs=max(normal_runs, trained_with), workers=workers)
    task = get_task(config["task"])
    data = task.build(task_cfg)
    weights, spec = run / "checkpoint" / BEST, data.spec()
    model = build_fitting(lambda: task.build_model(config["model"], spec, model_cfg), weights, run / "config.json")
    load_weights(model, weights)
    return data, model.eval(), trained_with


def scores(data, model, out: Path | None) -> tuple[np.ndarray, np.ndarray]:
    """1 - p(normal) on the alarm's validation windows, and the class probabilities of the test windows (each
    kept in ``out`` and read back from there by a later call)."""
    normal = data.class_names.index("normal")
    val_file = f"val_scores_{len(data.alarm_val)}.npy"
    parts = {"val": (data.alarm_val.x, val_file), "test": (data.test.x, "test_proba.npy")}
    found = {}
    for name, (x, file) in parts.items():
        kept = out / file if out else None
        if kept and kept.exists() and len(np.load(kept)) == len(x):
            found[name] = np.load(kept)
            continue
        with torch.inference_mode():
            found[name] = probabilities(model, x)
        if name == "val":
            found[name] = 1 - found[name][:, normal]
        if kept:
            out.mkdir(parents=True, exist_ok=True)
            np.save(kept, found[name])
    return found["val"], found["test"]


def score_rule(data, proba: np.ndarray, alarm: np.ndarray) -> dict:
    """The two-stage alarm's online metrics for detector alarms ``alarm`` (after persistence)."""
    normal = data.class_names.index("normal")
    report = get_task(data.name).evaluate(data, gate(proba, alarm, normal))
    keys = ("false_alarm_rate", "detection_rate", "mean_detection_delay_min", "online_accuracy", "missed_runs")
    return {k: report[k] for k in keys}


HOURS = (0, 2, 4, 6, 8, 12, 24, 48)  # spans of the window's end, hours into the run


def by_hour(data, alarm: np.ndarray) -> list[tuple[str, str, str]]:
    """False alarms of normal test windows by the hour their window ends: normal runs, pre-onset of faulty runs."""
    normal = data.class_names.index("normal")
    fault = np.array([r["fault"] for r in data.params["test_set"]])[data.test.run]
    hours, is_normal = data.test.end * TEP_SAMPLE_HOURS, data.test.y == normal
    rows = [("any hour", rate(alarm, is_normal & (fault == 0)), rate(alarm, is_normal & (fault != 0)))]
    for lo, hi in itertools.pairwise(HOURS):
        span = (hours > lo) & (hours <= hi)
        runs, pre = is_normal & (fault == 0) & span, is_normal & (fault != 0) & span
        if runs.any() or pre.any():
            rows.append((f"hours ({lo}, {hi}]", rate(alarm, runs), rate(alarm, pre)))
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a trained tep_sim_faults run (train run, or COMPARE_RUN/models/NAME)")
    parser.add_argument("--rate", type=float, default=None, help="false-alarm rate asked for (default: the run's)")
    parser.add_argument("--normal-runs", type=int, default=100, help="normal validation runs the new rules use")
    parser.add_argument("--bin-hours", default="2", help="time spans of the rules by time, hours (comma list)")
    parser.add_argument("--min-windows", type=int, default=None, help="windows a span needs (default: 5 / rate)")
    parser.add_argument("--workers", type=int, default=1, help="simulation workers for missing runs")
    parser.add_argument("--out", type=Path, default=None, help="folder for the model's scores and results.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    data, model, trained_with = load(args.run, args.normal_runs, args.workers)
    val_score, proba = scores(data, model, args.out)
    cal = data.alarm_val
    normal = data.class_names.index("normal")
    test_score = 1 - proba[:, normal]
    assert (cal.y == normal).all(), "the alarm's validation windows are normal windows"
    persistence = int(data.params["alarm_persistence"])
    args.rate = float(data.params["alarm_rate"]) if args.rate is None else args.rate
    first = cal.run < trained_with  # the runs the model's own threshold was set on
    rules = {"as trained": thresholds_by_time(val_score[first], cal.end[first], args.rate, 0)}
    rules[f"one, {args.normal_runs} runs"] = thresholds_by_time(val_score, cal.end, args.rate, 0)
    for hours in (float(h) for h in args.bin_hours.split(",")):
        steps = round(hours / TEP_SAMPLE_HOURS)
        rules[f"by time, {hours:g} h"] = thresholds_by_time(val_score, cal.end, args.rate, steps, args.min_windows)
    stored = read_json(args.run / "metrics.json")["test"].get("two_stage", {}).get("thresholds", {}).get("model")
    if stored is not None and args.rate == data.params["alarm_rate"]:
        mine, theirs = rules["as trained"].thresholds[0], TimedThreshold.from_stored(stored).thresholds[0]
        print(f"as trained: threshold {mine:.6f}, the run's metrics.json {theirs:.6f}")
    results = {}
    for name, rule in rules.items():
        alarm = persist(test_score > rule.at(data.test.end), data.test.run, data.test.end, persistence)
        val_rate = float((val_score > rule.at(cal.end)).mean())
        results[name] = {
            "thresholds": rule.to_dict(),
            "val_false_alarm_rate": val_rate,
            **score_rule(data, proba, alarm),
        }
        results[name]["by_hour"] = by_hour(data, alarm)
        r = results[name]
        delay = r["mean_detection_delay_min"]
        print(
            f"\n{name}: {len(rule.thresholds)} threshold(s); validation false alarms {val_rate:.2%}; test false alarms "
            f"{r['false_alarm_rate']:.2%}, detection {r['detection_rate']:.1%}, mean delay "
            + ("-" if delay is None else f"{delay:.0f} min")
            + f", missed runs {sum(r['missed_runs'].values())}"
        )
        print("  span starts (h): " + ", ".join(f"{s * TEP_SAMPLE_HOURS:g}" for s in rule.starts))
        print("  thresholds: " + ", ".join(f"{t:.4g}" for t in rule.thresholds))
        for span, runs, pre in r["by_hour"]:
            print(f"  windows ending in {span}: normal runs {runs}, pre-onset {pre}")
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "results.json").write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
