"""Task ``tep_sim_faults``: the two protocols' windows and metrics, and a tiny version end to end through the CLI."""

import json

import numpy as np
import pytest

from heedful.cli import main
from heedful.errors import InputError
from heedful.process.config import TEPSimFaultsConfig, tep_sim_faults
from heedful.process.data import Split, TaskData
from heedful.process.sources import tepsim
from heedful.process.tasks import build_task, evaluate, get_task, task_config
from heedful.process.tasks.tep_sim import tep_sim_report
from heedful.process.windows import Scaler


@pytest.fixture(scope="module")
def tiny(tmp_path_factory, tepsim_tiny):
    pytest.importorskip("tep_studio")
    cache = str(tmp_path_factory.mktemp("tepsim"))
    return {**tepsim_tiny, "cache": cache}


def test_defaults_are_the_18_class_benchmark():
    cfg = TEPSimFaultsConfig()
    assert len(cfg.faults) == 18 and cfg.faults == tep_sim_faults("observable") and not {3, 9, 15} & set(cfg.faults)
    assert tep_sim_faults("all") == tuple(range(21))
    train, test = tepsim.specs(cfg, "train"), tepsim.specs(cfg, "test")
    assert len(train) == 18 * cfg.train_runs and (train[-1].hours, train[-1].onset_hours) == (25.0, 1.0)
    assert (test[-1].hours, test[-1].onset_hours) == (48.0, 8.0)
    seeds = [{s.seed for s in tepsim.specs(cfg, split)} for split in ("train", "val", "test")]
    assert not (seeds[0] & seeds[1] or seeds[0] & seeds[2] or seeds[1] & seeds[2])  # held-out seeds


def test_the_alarm_threshold_has_its_own_normal_validation_runs():
    cfg = TEPSimFaultsConfig(val_runs=2, val_normal_runs=5)
    val, alarm = tepsim.specs(cfg, "val"), tepsim.specs(cfg, "alarm")
    assert [s.seed for s in alarm] == [1_000_001 + i for i in range(5)] and {s.fault for s in alarm} == {0}
    assert len(val) == 18 * 2 and [s.seed for s in val if s.fault == 0] == [1_000_001, 1_000_002]  # balanced
    assert TEPSimFaultsConfig().val_normal_runs == 100 and TEPSimFaultsConfig().alarm_bin_hours == 2.0
    with pytest.raises(InputError, match="val_normal_runs must lie in"):
        TEPSimFaultsConfig(val_normal_runs=0)


def test_summary_lines_carry_the_interval_and_the_asked_false_alarm_rate():
    test = {
        "macro_accuracy": 0.9934,
        "macro_accuracy_ci": [0.9881, 0.9972],
        "test_runs": 360,
        "online_accuracy": 0.95,
        "detection_rate": 0.97,
        "false_alarm_rate": 0.1,
        "mean_detection_delay_min": 60.0,
        "two_stage": {
            "alarm_detector": "model",
            "alarm_rate": 0.01,
            "alarm_persistence": 1,
            "val_normal_runs": 5,
            "false_alarm_rate": 0.0149,
            "detection_rate": 0.9,
            "mean_detection_delay_min": 70.0,
        },
    }
    lines = get_task("tep_sim_faults").summary(test, {"faults": list(range(18))})
    assert lines[0].startswith("simulated 18-class accuracy: 99.3% [98.8, 99.7] on 360 test runs")
    assert lines[-1] == "simulated online false alarms: 1.5% (asked 1.0%); threshold set on 5 normal validation runs"
    test["two_stage"].update(val_normal_runs=100, alarm_bin_hours=2.0)
    lines = get_task("tep_sim_faults").summary(test, {"faults": list(range(18))})
    assert lines[-1].endswith("; thresholds set on 100 normal validation runs, one per 2 h into the run")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"protocol": "offline"}, "protocol must be 'benchmark' or 'online'"),
        ({"faults": "1,2"}, "must list 0"),
        ({"faults": "0,21"}, "IDV 1..20"),
        ({"train_onset_hours": 30.0}, "not inside the train runs"),
        ({"test_onset_hours": 48.0}, "not inside the test runs"),
        ({"test_hours": 48.01}, "multiple of 0.05 h"),
        ({"test_runs": 0}, r"test_runs must lie in \[1, 10000\]"),
        ({"train_runs": -2}, r"train_runs must lie in \[1, 10000\]"),
        ({"val_runs": 10_001}, r"val_runs must lie in \[1, 10000\]"),
        ({"train_hours": 2.0, "window": 40}, "fewer than one window"),
        ({"workers": 0}, "workers must be >= 1"),
        ({"base_seed": 0}, "base_seed must lie in"),
    ],
)
def test_bad_task_parameters(params, message):
    with pytest.raises(InputError, match=message):
        task_config("tep_sim_faults", **params)


def test_protocols_choose_the_training_windows_and_share_the_test_windows(tiny):
    bench = build_task("tep_sim_faults", **tiny)
    online = build_task("tep_sim_faults", **tiny, protocol="online")
    onset = 10  # 0.5 h of 3-minute samples
    faulty = bench.train.y != 0
    assert (bench.train.end[faulty] - 8 >= onset).all()  # wholly after the onset
    assert np.bincount(bench.train.y).tolist() == [2 * 17, 2 * 12, 2 * 12]
    pre = (online.train.y == 0) & np.isin(online.train.run, [2, 3, 4, 5])  # faulty runs' pre-onset windows
    assert pre.any() and (online.train.end[pre] <= onset).all()
    np.testing.assert_array_equal(bench.test.x, online.test.x)
    assert len(bench.test) == 3 * (60 - 8 + 1) and bench.class_names == ["normal", "fault 1", "fault 4"]
    assert bench.params["test_set"][1] == {"fault": 1, "seed": 2010001, "onset": 20, "samples": 60, "shutdown": ""}
    assert bench.params["shutdowns"] == {"train": [], "val": [], "test": [], "alarm": []}
    # the alarm's 2 normal validation runs (17 windows each), the first of them val's only normal run
    assert len(bench.alarm_val) == 2 * 17 and (bench.alarm_val.y == 0).all() and (bench.val.y == 0).sum() == 17
    np.testing.assert_array_equal(bench.alarm_val.x[:17], bench.val.x[bench.val.y == 0])


def _toy_data(onset=20, window=5):
    """Two test runs of 40 samples: normal (run 0) and fault 4 from sample 20 (run 1); windows end at 5..40."""
    ends = np.arange(window, 41)
    y = np.concatenate([np.zeros(len(ends), int), np.where(ends - 1 >= onset, 1, 0)])
    test = Split(np.zeros((2 * len(ends), window, 1), np.float32), y, np.repeat([0, 1], len(ends)), np.tile(ends, 2))
    runs = [
        {"fault": 0, "seed": 1, "onset": None, "samples": 40, "shutdown": ""},
        {"fault": 4, "seed": 2, "onset": onset, "samples": 40, "shutdown": ""},
    ]
    params = {"faults": [0, 4], "window": window, "test_set": runs}
    return TaskData(
        "tep_sim_faults", "classification", test, test, test, ["normal", "fault 4"], ["v"], Scaler(0, 1), params
    )


def test_report_counts_both_protocols():
    data = _toy_data()
    pred = data.test.y.copy()
    pred[3] = 1  # one false alarm in the normal run
    run1 = np.nonzero(data.test.run == 1)[0]
    ends = data.test.end[run1]
    pred[run1[(ends > 20) & (ends < 24)]] = 0  # fault seen 4 samples (12 min) after the onset
    report = evaluate(data, pred)
    assert report == tep_sim_report(pred, data)
    assert report["false_alarm_rate"] == pytest.approx(1 / (36 + 16))
    assert report["mean_detection_delay_min"] == pytest.approx(12.0)
    assert report["detection_rate"] == pytest.approx(17 / 20)
    # benchmark: normal windows + the 16 windows wholly after the onset (ends 25..40), all right but one
    assert report["per_class_accuracy"] == {0: pytest.approx(35 / 36), 4: 1.0}
    assert report["confusion"] == [[35, 1], [0, 16]]
    assert report["macro_accuracy"] == pytest.approx((35 / 36 + 1) / 2)
    # one run per class: every bootstrap resample over runs is the test set itself
    assert report["macro_accuracy_ci"] == pytest.approx([report["macro_accuracy"]] * 2) and report["test_runs"] == 2
    assert report["per_class_accuracy_ci"] == {0: pytest.approx([35 / 36] * 2), 4: [1.0, 1.0]}
    never = np.where(data.test.run == 1, 0, pred)
    assert evaluate(data, never)["missed_runs"] == {4: 1} and evaluate(data, never)["mean_detection_delay_min"] is None


def test_cli_train_tiny_end_to_end(tiny, as_flags, tmp_path, capsys):
    args = ["process", "train", "--task", "tep_sim_faults", "--model", "gru", "--hidden-size", "8", "--epochs", "2"]
    assert main([*args, *as_flags(tiny), "--out", str(tmp_path)]) == 0
    (run,) = tmp_path.iterdir()
    test = json.loads((run / "metrics.json").read_text())["test"]
    assert set(test["per_class_accuracy"]) == {"0", "1", "4"} and len(test["confusion"]) == 3
    for key in ("macro_accuracy", "online_accuracy", "detection_rate", "false_alarm_rate"):
        assert 0.0 <= test[key] <= 1.0
    out = capsys.readouterr().out
    assert (
        "simulated 3-class accuracy: " in out
        and " on 3 test runs (benchmark protocol, macro" in out
        and "false alarms" in out
    )

    from heedful.process.sources import tepsim

    raw = tepsim.simulate(tepsim.RunSpec(4, 99, 1.0, 0.5)).values  # 20 samples: 13 windows of 8
    csv = tmp_path / "run.csv"
    csv.write_text(",".join(tepsim.VARIABLE_NAMES) + "\n" + "\n".join(",".join(map(str, r)) for r in raw) + "\n")
    assert main(["process", "predict", str(run), "--csv", str(csv), "--out", str(tmp_path / "pred.json")]) == 0
    pred = json.loads((tmp_path / "pred.json").read_text())
    assert pred["window_ends"] == list(range(8, 21)) and set(pred["predictions"]) <= {"normal", "fault 1", "fault 4"}
    # the run's calibrated two-stage alarm (model detector, the default) gates the same windows
    assert pred["two_stage"]["alarm_rate"] == 0.01 and len(pred["two_stage_predictions"]) == 13
    assert pred["two_stage"]["alarms"] == sum(c != "normal" for c in pred["two_stage_predictions"])


def test_cli_compare_tiny_table(tiny, as_flags, tmp_path, capsys):
    argv = ["process", "compare", "--task", "tep_sim_faults", "--models", "logistic", *as_flags(tiny)]
    assert main([*argv, "--out", str(tmp_path)]) == 0
    (run,) = tmp_path.iterdir()
    table = (run / "table.md").read_text()
    assert "macro acc (benchmark)" in table and "mean delay min" in table and "| logistic |" in table


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--faults", "0,23"], "IDV 1..20"),
        (["--test-onset-hours", "9"], "not inside the test runs"),
        (["--train-runs", "0"], "train_runs must lie in"),
        (["--set", "train_runs=-1"], "train_runs must lie in"),
        (["--scheduler", "tcp://127.0.0.1:9"], "cannot reach the Dask scheduler"),
    ],
)
def test_cli_bad_input_is_one_line_exit_2(tiny, tepsim_tiny, as_flags, tmp_path, capsys, extra, message):
    cache = ["--cache", str(tmp_path)]  # an empty cache: the scheduler case must try to simulate
    argv = ["process", "data", "--task", "tep_sim_faults", *as_flags(tepsim_tiny), *cache, *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_cli_refuses_runs_too_large_for_memory_before_simulating(tepsim_tiny, as_flags, tmp_path, capsys, monkeypatch):
    from heedful.process.tasks import tep_sim

    monkeypatch.setattr(tep_sim, "available_memory", lambda: 50_000_000)
    argv = ["process", "data", "--task", "tep_sim_faults", *as_flags(tepsim_tiny), "--cache", str(tmp_path)]
    assert main([*argv, "--test-runs", "2000"]) == 2
    err = capsys.readouterr().err.strip()
    assert "the windows of 6010 runs need about" in err and "0.05 GB available" in err and len(err.splitlines()) == 1
    assert not list(tmp_path.glob("*.npz"))


def test_memory_estimate_counts_runs_and_windows():
    from heedful.process.tasks.tep_sim import memory_estimate

    cfg = TEPSimFaultsConfig(faults="0,1", train_runs=1, val_runs=1, val_normal_runs=1, test_runs=1)
    specs = {name: tepsim.specs(cfg, name) for name in ("train", "val", "test")}
    sample, w = 52 * 4, 40
    train = 2 * 500 * sample + 2 * ((500 - 40) // 5 + 1) * w * sample  # normal run: every window
    train_fault = 2 * 500 * sample + 2 * ((500 - 60) // 5 + 1) * w * sample  # windows after the onset (sample 20)
    test = 2 * 960 * sample + 2 * ((960 - 40) // 3 + 1) * w * sample
    assert memory_estimate(cfg, specs) == 2 * (train + train_fault) + 2 * test
    specs["alarm"] = tepsim.specs(cfg, "alarm")  # the alarm's normal run: its windows are held once more
    assert memory_estimate(cfg, specs) == 3 * train + 2 * train_fault + 2 * test


def test_cli_missing_simulator_says_how_to_install(tepsim_tiny, as_flags, tmp_path, capsys, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "tep_studio", None)
    argv = ["process", "data", "--task", "tep_sim_faults", *as_flags(tepsim_tiny), "--cache", str(tmp_path)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert "pip install 'heedful[tep]'" in err and len(err.splitlines()) == 1
