"""The two-stage alarm (``heedful.process.alarm``): the threshold keeps the chosen false-alarm rate on normal
validation scores, persistence and the gate do what they say, bad settings are one-line errors, and a TEP run
reports it in metrics.json and the comparison table."""

import json

import numpy as np
import pytest

from heedful.cli import main
from heedful.errors import InputError
from heedful.process.alarm import WindowPCA, gate, persist, threshold_for_rate, two_stage
from heedful.process.config import TEPFaultsConfig, TEPSimFaultsConfig
from heedful.process.data import Split, TaskData
from heedful.process.tasks import get_task
from heedful.process.tasks.tep_faults import first_alarm_delays

TEP_ARGS = ["--task", "tep_faults", "--faults", "0,1,2", "--window", "10", "--stride", "4", "--test-stride", "4"]


@pytest.mark.parametrize("rate", [0.01, 0.05, 0.2])
def test_threshold_hits_the_rate_on_normal_validation_scores(rate):
    scores = np.random.default_rng(0).normal(size=2000)
    t = threshold_for_rate(scores, rate)
    assert (scores > t).mean() == pytest.approx(rate)
    assert (scores >= t).mean() > rate  # the lowest such threshold: one step lower alarms too often


def test_threshold_with_ties_and_few_windows():
    assert (np.array([1.0] * 50 + [2.0] * 50) > threshold_for_rate(np.array([1.0] * 50 + [2.0] * 50), 0.3)).mean() == 0
    few = np.arange(20.0)  # 20 windows cannot show a 1% rate: no normal validation window may alarm
    assert threshold_for_rate(few, 0.01) == 19.0
    for bad in (0.0, 1.0, -0.1):
        with pytest.raises(InputError, match=r"alarm_rate must be a fraction in \(0, 1\)"):
            threshold_for_rate(few, bad)


def test_persistence_counts_consecutive_alarms_within_a_run():
    # two runs, windows given out of time order: run 0 alarms at ends 2, 3, 4 and 6; run 1 at 1 and 2
    run = np.array([0, 1, 0, 0, 1, 0, 0, 0, 1])
    end = np.array([4, 1, 2, 3, 2, 1, 6, 5, 3])
    alarm = np.array([1, 1, 1, 1, 1, 0, 1, 0, 0], bool)
    np.testing.assert_array_equal(persist(alarm, run, end, 1), alarm)
    kept = persist(alarm, run, end, 2)
    assert {(r, e) for r, e, k in zip(run, end, kept, strict=True) if k} == {(0, 3), (0, 4), (1, 2)}
    assert {(r, e) for r, e, k in zip(run, end, persist(alarm, run, end, 3), strict=True) if k} == {(0, 4)}


def test_gate_names_the_best_fault_only_where_the_detector_alarms():
    proba = np.array([[0.9, 0.04, 0.06], [0.2, 0.7, 0.1], [0.5, 0.1, 0.4]])
    np.testing.assert_array_equal(gate(proba, np.array([True, False, True]), normal=0), [2, 0, 2])
    np.testing.assert_array_equal(gate(proba, np.array([True, True, True]), normal=1), [0, 0, 0])


def test_two_stage_on_synthetic_windows():
    """Normal windows are noise; faulty test windows carry a shift in channel 0. The pca detector, set to 5% on
    normal validation windows, keeps about 5% of fresh normal windows and catches the shifted ones."""
    rng = np.random.default_rng(1)
    normal_train, val_x, test_normal = (rng.normal(size=(n, 8, 4)) for n in (400, 400, 2000))
    test_fault = rng.normal(size=(200, 8, 4))
    test_fault[..., 0] += 4.0
    test_x = np.concatenate([test_normal, test_fault])
    proba = np.tile([0.6, 0.3, 0.1], (len(test_x), 1))  # the classifier always says normal, fault 1 second
    pca = WindowPCA.fit(normal_train, span=4)
    run, end = np.arange(len(test_x)), np.full(len(test_x), 8)  # one window per run: persistence has no effect
    sets = {"val": (val_x, proba[:400]), "test": (test_x, proba), "test_run": run, "test_end": end, "pca": pca}
    out = two_stage("pca", 0.05, 1, 0, **sets)
    assert out.val_alarm_rate <= 0.05 and 0.02 < out.alarm[:2000].mean() < 0.08 and out.alarm[2000:].mean() > 0.95
    assert set(out.pred[out.alarm]) == {1} and (out.pred[~out.alarm] == 0).all()
    # the model detector: 1 - p(normal) is 0.4 everywhere, nothing exceeds its threshold; 'both' needs both to alarm
    for detector in ("model", "both"):
        assert not two_stage(detector, 0.05, 1, 0, **sets).alarm.any()


def test_delays_count_minutes_to_the_first_alarming_faulty_window():
    end = np.arange(1, 11)
    split = Split(np.zeros((10, 1, 1)), np.zeros(10, int), np.zeros(10, int), end)
    faulty = end - 1 >= 4  # onset at sample 4
    alarm = np.zeros(10, bool)
    alarm[[1, 7]] = True  # a false alarm before the onset, then the first detection at end 8
    assert first_alarm_delays(alarm, split, faulty, {0: (5, 4)}) == ({5: 12.0}, {})
    assert first_alarm_delays(np.zeros(10, bool), split, faulty, {0: (5, 4)}) == ({}, {5: 1})


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"alarm_rate": 0.0}, r"alarm_rate must lie in \(0, 1\)"),
        ({"alarm_rate": 1.5}, r"alarm_rate must lie in \(0, 1\)"),
        ({"alarm_detector": "svm"}, "alarm_detector must be one of pca, model, both"),
        ({"alarm_persistence": 0}, "alarm_persistence must be >= 1"),
        ({"alarm_span": 0}, "alarm_span must be >= 1"),
    ],
)
def test_bad_alarm_settings(params, message):
    for cls in (TEPFaultsConfig, TEPSimFaultsConfig):
        with pytest.raises(InputError, match=message):
            cls(**params)


@pytest.mark.parametrize("value", ["0", "1", "-0.5", "2"])
def test_cli_bad_alarm_rate_is_one_line_exit_2(value, capsys):
    assert main(["process", "train", "--task", "tep_faults", "--model", "gru", "--alarm-rate", value]) == 2
    err = capsys.readouterr().err.strip()
    assert "alarm_rate must lie in (0, 1)" in err and "\n" not in err


def test_cli_train_and_compare_report_the_two_stage_alarm(tmp_path, capsys):
    args = [*TEP_ARGS, "--epochs", "1", "--hidden-size", "4", "--alarm-rate", "0.05", "--alarm-persistence", "2"]
    assert main(["process", "train", "--model", "gru", *args, "--out", str(tmp_path / "train")]) == 0
    (run,) = (tmp_path / "train").iterdir()
    two = json.loads((run / "metrics.json").read_text())["test"]["two_stage"]
    assert (two["alarm_detector"], two["alarm_rate"], two["alarm_persistence"]) == ("pca", 0.05, 2)
    assert two["val_false_alarm_rate"] <= 0.05 and 0.0 <= two["false_alarm_rate"] <= 1.0
    assert set(two["per_fault_accuracy"]) == {"1", "2"} and "mean_detection_delay_min" in two
    assert "two-stage alarm (pca detector at 0.05 of normal validation windows" in capsys.readouterr().out
    assert main(["process", "compare", "--models", "gru,pca_t2", *args, "--out", str(tmp_path / "cmp")]) == 0
    (cmp_run,) = (tmp_path / "cmp").iterdir()
    table = (cmp_run / "table.md").read_text()
    assert "two-stage false alarms" in table
    assert table.splitlines()[-1].startswith("| pca_t2 |") and table.splitlines()[-1].endswith("| - | - | - |")


def _toy_sim_data(detector: str = "pca"):
    """tep_sim_faults-shaped data: normal run 0 and fault-4 run 1 (onset at sample 20), windows ending at 5..40;
    the fault shifts channel 0 by 5 std."""
    rng = np.random.default_rng(2)
    ends = np.arange(5, 41)
    y = np.concatenate([np.zeros(len(ends), int), np.where(ends - 1 >= 20, 1, 0)])
    x = rng.normal(size=(len(y), 5, 3)).astype(np.float32)
    x[y == 1, :, 0] += 5.0
    test = Split(x, y, np.repeat([0, 1], len(ends)), np.tile(ends, 2))
    normal = Split(
        rng.normal(size=(200, 5, 3)).astype(np.float32), np.zeros(200, int), np.zeros(200, int), np.tile(ends, 6)[:200]
    )
    runs = [
        {"fault": 0, "seed": 1, "onset": None, "samples": 40, "shutdown": ""},
        {"fault": 4, "seed": 2, "onset": 20, "samples": 40, "shutdown": ""},
    ]
    params = {"faults": [0, 4], "window": 5, "test_set": runs, "alarm_detector": detector, "alarm_rate": 0.01}
    params.update(alarm_span=5, alarm_persistence=1)
    names = ["normal", "fault 4"]
    return TaskData("tep_sim_faults", "classification", normal, normal, test, names, ["a", "b", "c"], None, params)


def test_tep_sim_scores_pca_t2_and_the_two_stage_alarm_by_the_online_protocol():
    data = _toy_sim_data()
    task = get_task("tep_sim_faults")
    alarm = data.test.y == 1
    alarm[0] = True  # one false alarm in the normal run
    report = task.detection_report(data, alarm)
    assert report["false_alarm_rate"] == pytest.approx(1 / (36 + 16)) and report["detection_rate"] == 1.0
    assert report["mean_detection_delay_min"] == pytest.approx(3.0) and "online_accuracy" not in report
    proba = np.tile([0.9, 0.1], (len(data.test), 1))  # the classifier never names the fault on its own
    two = task.two_stage(data, np.tile([0.9, 0.1], (200, 1)), proba)
    assert two["val_normal_windows"] == 200 and two["val_false_alarm_rate"] <= 0.01
    assert two["detection_rate"] == 1.0 and two["false_alarm_rate"] < 0.1 and two["online_accuracy"] > 0.9


def test_tep_sim_sets_its_alarm_on_the_alarm_runs_by_time_in_the_run():
    """``data.alarm_val`` (3 normal runs, windows ending at 5..40), not ``val``, carries the thresholds; with
    ``alarm_bin_hours`` 0.5 (10 samples) and rate 0.1 a span needs 50 windows: ends 5-9 (30 windows) join 10-19
    (60), 40 (6) joins 30-39 (60), and metrics.json keeps the spans' starts."""
    data = _toy_sim_data("model")
    ends = np.tile(np.arange(5, 41), 6)
    data.alarm_val = Split(
        np.zeros((len(ends), 5, 3), np.float32), np.zeros(len(ends), int), np.repeat(np.arange(6), 36) % 3, ends
    )
    data.params.update(alarm_rate=0.1, alarm_bin_hours=0.5)
    val_normal = np.where(ends < 20, 0.5, 0.95)  # the detector is jumpy early in the run
    val_proba = np.stack([val_normal, 1 - val_normal], 1)
    two = get_task("tep_sim_faults").two_stage(data, val_proba, np.tile([0.9, 0.1], (len(data.test), 1)))
    assert (two["val_normal_windows"], two["val_normal_runs"], two["alarm_bin_hours"]) == (216, 3, 0.5)
    assert two["thresholds"]["model"]["starts"] == [20, 30] and two["thresholds"]["model"]["windows"] == [90, 60, 66]
    assert two["thresholds"]["model"]["thresholds"] == pytest.approx([0.5, 0.05, 0.05])
    assert two["val_false_alarm_rate"] == 0.0  # scores tied at their span's threshold never alarm
