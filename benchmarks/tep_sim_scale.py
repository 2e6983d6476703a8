"""Issue 24's tables from finished ``heedful process compare --task tep_sim_faults`` runs: the learning curve (one
row per number of training runs per class and model), the best model's two headline lines, and per-class accuracy
with its 95% interval over test runs. Reads the run folders only: nothing is trained or simulated.

Run: .venv/bin/python benchmarks/tep_sim_scale.py COMPARE_RUN [COMPARE_RUN ...] > tables.md
Every run must be scored on the same test runs (same ``test_runs``, ``test_hours``, ``base_seed``, ``faults``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

SAME_TEST_SET = ("faults", "test_runs", "test_hours", "test_onset_hours", "test_stride", "window", "base_seed")


def pct(v) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def interval(ci) -> str:
    return "-" if not ci else f"[{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]"


def load_rows(runs: list[Path]) -> list[dict]:
    """One row per finished model of each compare run: its training runs per class, metrics and task params."""
    rows, test_set = [], None
    for run in runs:
        params = json.loads((run / "config.json").read_text())["task_params"]
        mine = {k: params.get(k) for k in SAME_TEST_SET}
        if test_set is not None and mine != test_set:
            sys.exit(f"{run}: scored on other test runs than {runs[0]} ({mine} vs {test_set})")
        test_set = mine
        for path in sorted((run / "models").glob("*/metrics.json")):
            metrics = json.loads(path.read_text())
            rows.append({"train_runs": params["train_runs"], "params": params, **metrics})
    return sorted(rows, key=lambda r: (r["model"], r["train_runs"]))


def curve_table(rows: list[dict]) -> str:
    head = (
        "| model | training runs per class | parameters | epochs | train s | macro acc (benchmark) | 95% interval "
        "(runs) | online false alarms | two-stage false alarms (asked) | two-stage detection | two-stage delay min |"
    )
    lines = [head, "|---" * 11 + "|"]
    for r in rows:
        t, two = r["test"], r["test"].get("two_stage") or {}
        asked = f"{pct(two['false_alarm_rate'])} ({pct(two['alarm_rate'])})" if two else "-"
        delay = two.get("mean_detection_delay_min")
        lines.append(
            f"| {r['model']} | {r['train_runs']} | {r['parameters']:,} | {r.get('epochs') or '-'} | "
            f"{r['train_seconds']:.0f} | {pct(t.get('macro_accuracy'))} | {interval(t.get('macro_accuracy_ci'))} | "
            f"{pct(t.get('false_alarm_rate'))} | {asked} | {pct(two.get('detection_rate'))} | "
            + ("-" if delay is None else f"{delay:.0f}")
            + " |"
        )
    return "\n".join(lines) + "\n"


def headline(rows: list[dict]) -> str:
    """The two lines of the best classifier (highest macro accuracy; its two-stage alarm's false alarms)."""
    scored = [r for r in rows if r["test"].get("macro_accuracy") is not None]
    if not scored:
        return "no classifier finished yet\n"
    best = max(scored, key=lambda r: r["test"]["macro_accuracy"])
    t, n = best["test"], len(best["params"]["faults"])
    lines = [
        f"simulated {n}-class accuracy: {pct(t['macro_accuracy'])} {interval(t['macro_accuracy_ci'])} on "
        f"{t['test_runs']} test runs   ({best['model']}, {best['train_runs']} training runs per class)"
    ]
    two = t.get("two_stage")
    if two:
        hours = two.get("alarm_bin_hours")
        by_time = f", one per {hours:g} h into the run" if hours else ""
        lines.append(
            f"simulated online false alarms: {pct(two['false_alarm_rate'])} (asked {pct(two['alarm_rate'])})   "
            f"({two['alarm_detector']} detector, threshold on {two.get('val_normal_runs')} normal validation runs"
            f"{by_time})"
        )
    return "```\n" + "\n".join(lines) + "\n```\n"


def per_class_table(rows: list[dict]) -> str:
    scored = [r for r in rows if r["test"].get("per_class_accuracy")]
    if not scored:
        return ""
    classes = list(scored[0]["test"]["per_class_accuracy"])
    lines = ["| model, runs per class | " + " | ".join(classes) + " |", "|---" * (len(classes) + 1) + "|"]
    for r in scored:
        acc, ci = r["test"]["per_class_accuracy"], r["test"].get("per_class_accuracy_ci", {})
        cells = [f"{pct(acc[c])} {interval(ci.get(c))}" for c in classes]
        lines.append(f"| {r['model']}, {r['train_runs']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path, help="compare run folders of task tep_sim_faults")
    rows = load_rows(parser.parse_args(argv).runs)
    print(headline(rows))
    print(curve_table(rows))
    print(per_class_table(rows))


if __name__ == "__main__":
    main()
