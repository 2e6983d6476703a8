"""Where a ``tep_sim_faults`` run's two-stage false alarms come from: normal test runs against the pre-onset windows
of faulty runs, and by the hour of the run at which the window ends (test and validation windows).

The threshold is set as the task sets it (``model`` detector: 1 - p(normal) on the normal validation windows, at
``--rate``). Rebuilds the run's task from the cache (``$HEEDFUL_CACHE``), so it simulates nothing that is cached.

Run: HEEDFUL_CACHE=/work/tep-runs .venv/bin/python benchmarks/tep_sim_false_alarms.py COMPARE_RUN/models/lstm
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from heedful.process.alarm import threshold_for_rate
from heedful.process.runner import load_with_data
from heedful.process.train import probabilities


def rate(alarm: np.ndarray, where: np.ndarray) -> str:
    return f"{alarm[where].mean():.1%} of {int(where.sum())}" if where.any() else "-"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a trained tep_sim_faults run (train run, or COMPARE_RUN/models/NAME)")
    parser.add_argument("--rate", type=float, default=0.01, help="false-alarm rate asked for")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    data, model, _ = load_with_data(args.run)
    normal = data.class_names.index("normal")
    val_normal = data.val.y == normal
    val_score = 1 - probabilities(model, data.val.x[val_normal])[:, normal]
    test_score = 1 - probabilities(model, data.test.x)[:, normal]
    threshold = threshold_for_rate(val_score, args.rate)
    val_alarm, alarm = val_score > threshold, test_score > threshold
    fault = np.array([r["fault"] for r in data.params["test_set"]])[data.test.run]
    normal_window = data.test.y == normal
    hours = data.test.end * 0.05  # window end, hours into the run
    print(f"threshold {threshold:.4f}: normal validation windows {rate(val_alarm, np.ones_like(val_alarm))}")
    print(f"normal test runs: {rate(alarm, normal_window & (fault == 0))} windows")
    print(f"pre-onset windows of faulty test runs: {rate(alarm, normal_window & (fault != 0))}")
    for lo in range(0, int(hours.max()), 2):
        span = (hours > lo) & (hours <= lo + 2)
        runs, pre = normal_window & (fault == 0) & span, normal_window & (fault != 0) & span
        print(f"window ending in hours ({lo}, {lo + 2}]: normal runs {rate(alarm, runs)}, pre-onset {rate(alarm, pre)}")
    val_hours = data.val.end[val_normal] * 0.05
    for lo in range(0, int(val_hours.max()), 4):
        print(f"validation, hours ({lo}, {lo + 4}]: {rate(val_alarm, (val_hours > lo) & (val_hours <= lo + 4))}")


if __name__ == "__main__":
    main()
