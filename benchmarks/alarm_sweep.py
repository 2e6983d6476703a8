"""Two-stage alarm settings on one trained TEP run: false alarms, detection, delay and accuracy per setting.

The classifier is trained once (``heedful process train`` or a ``compare`` model folder); this scores the two-stage
alarm (``heedful.process.alarm``) over detectors, PCA spans, false-alarm rates and persistence, through the same
``Task.two_stage`` that ``train`` / ``compare`` use, so each row equals a run with those ``--alarm-*`` flags. The
settings are compared on the test runs: use it to see the trade-offs, not to pick settings for a result.

Run: .venv/bin/python benchmarks/alarm_sweep.py RUN [--rates 0.01,0.05] [--spans 1,10,20] [--persistence 1,3]
"""

from __future__ import annotations

import argparse
import itertools

import numpy as np
import torch

from heedful.process.runner import load_with_data
from heedful.process.tasks import get_task
from heedful.process.train import predict, probabilities


def _mean(v):
    return float(np.mean(list(v.values()))) if isinstance(v, dict) else v


def _pct(v) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", help="a trained tep_faults / tep_sim_faults run folder")
    parser.add_argument("--detectors", default="pca,model,both")
    parser.add_argument("--rates", default="0.01,0.05")
    parser.add_argument("--spans", default="1,10,20,40", help="pca spans (samples); the model detector has none")
    parser.add_argument("--persistence", default="1,3")
    args = parser.parse_args()
    torch.set_num_threads(1)
    data, model, config = load_with_data(args.run)
    task = get_task(data.name)
    val, test = probabilities(model, data.val.x), probabilities(model, data.test.x)
    plain = task.evaluate(data, predict(model, data.test.x)[0])
    accuracy = "average_observable" if "average_observable" in plain else "online_accuracy"
    print(f"## {config['task']} / {config['model']}: {args.run}")
    print(f"| detector | span | rate | persistence | false alarms | detection | delay min | {accuracy} |")
    print("|---|---|---|---|---|---|---|---|")
    delay = plain["mean_detection_delay_min"]
    print(
        f"| none (classifier alone) | - | - | - | {_pct(plain['false_alarm_rate'])} | "
        f"{_pct(_mean(plain['detection_rate']))} | {delay:.0f} | {_pct(plain[accuracy])} |"
    )
    spans = [int(s) for s in args.spans.split(",")]
    for detector in args.detectors.split(","):
        for span, rate, m in itertools.product(
            spans if detector != "model" else [1],
            [float(r) for r in args.rates.split(",")],
            [int(p) for p in args.persistence.split(",")],
        ):
            data.params.update(alarm_detector=detector, alarm_span=span, alarm_rate=rate, alarm_persistence=m)
            two = task.two_stage(data, val, test)
            delay = two["mean_detection_delay_min"]
            print(
                f"| {detector} | {span if detector != 'model' else '-'} | {rate:g} | {m} | "
                f"{_pct(two['false_alarm_rate'])} | {_pct(_mean(two['detection_rate']))} | "
                f"{'-' if delay is None else f'{delay:.0f}'} | {_pct(two[accuracy])} |"
            )


if __name__ == "__main__":
    main()
