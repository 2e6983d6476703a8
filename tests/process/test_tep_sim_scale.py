"""benchmarks/tep_sim_scale.py on two fake compare folders: the learning curve, the headline lines, per class."""

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "tep_sim_scale.py"


@pytest.fixture(scope="module")
def scale():
    spec = importlib.util.spec_from_file_location("tep_sim_scale", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def fake_run(root: Path, train_runs: int, model: str, acc: float, test_runs: int = 20) -> Path:
    run = root / f"compare-{train_runs}-{model}"
    params = {"faults": [0, 1], "train_runs": train_runs, "test_runs": test_runs, "test_hours": 48.0}
    params |= {"test_onset_hours": 8.0, "test_stride": 3, "window": 40, "base_seed": 1}
    (run / "models" / model).mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"task_params": params}))
    two = {"false_alarm_rate": 0.015, "alarm_rate": 0.01, "detection_rate": 0.9, "mean_detection_delay_min": 60.0}
    test = {
        "macro_accuracy": acc,
        "macro_accuracy_ci": [acc - 0.004, acc + 0.002],
        "test_runs": 2 * test_runs,
        "false_alarm_rate": 0.1,
        "per_class_accuracy": {"0": 1.0, "1": 2 * acc - 1.0},
        "per_class_accuracy_ci": {"0": [1.0, 1.0], "1": [0.9, 1.0]},
        "two_stage": {**two, "alarm_detector": "model", "val_normal_runs": 5},
    }
    metrics = {"model": model, "parameters": 31378, "train_seconds": 80.4, "epochs": 21, "test": test}
    (run / "models" / model / "metrics.json").write_text(json.dumps(metrics))
    return run


def test_tables_from_compare_runs(scale, tmp_path, capsys):
    runs = [fake_run(tmp_path, 10, "lstm", 0.995), fake_run(tmp_path, 5, "lstm", 0.99)]
    scale.main([str(r) for r in runs])
    out = capsys.readouterr().out
    assert "simulated 2-class accuracy: 99.5% [99.1, 99.7] on 40 test runs   (lstm, 10 training runs" in out
    assert "simulated online false alarms: 1.5% (asked 1.0%)" in out
    rows = [line for line in out.splitlines() if line.startswith("| lstm |")]
    assert [row.split(" | ")[1] for row in rows] == ["5", "10"]  # learning curve in order of training runs
    assert "| lstm, 10 | 100.0% [100.0, 100.0] | 99.0% [90.0, 100.0] |" in out


def test_runs_on_other_test_sets_are_refused(scale, tmp_path):
    runs = [fake_run(tmp_path, 5, "lstm", 0.99), fake_run(tmp_path, 10, "lstm", 0.99, test_runs=3)]
    with pytest.raises(SystemExit, match="scored on other test runs"):
        scale.main([str(r) for r in runs])
