"""The bootstrap interval over test runs (``heedful.process.bootstrap``) on cases worked out by hand."""

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score

from heedful.errors import InputError
from heedful.process.bootstrap import RunCounts, macro_accuracy_interval


def windows(runs: list[tuple[int, int, int]]):
    """(class, correct, total) per run -> pred, y, run per window (a wrong window is predicted as class 99)."""
    pred, y, run = [], [], []
    for i, (label, correct, total) in enumerate(runs):
        y += [label] * total
        pred += [label] * correct + [99] * (total - correct)
        run += [i] * total
    return np.array(pred), np.array(y), np.array(run)


def test_counts_per_run():
    counts = RunCounts.from_windows(*windows([(0, 3, 4), (1, 0, 2), (0, 5, 5)]))
    assert counts.label.tolist() == [0, 1, 0]
    assert counts.correct.tolist() == [3, 0, 5] and counts.total.tolist() == [4, 2, 5]


def test_equal_runs_give_a_point_interval():
    """Every run of a class scores the same: every resample gives the same macro accuracy."""
    pred, y, run = windows([(0, 9, 10), (0, 9, 10), (1, 5, 10), (1, 5, 10)])
    ci = macro_accuracy_interval(pred, y, run, resamples=200)
    assert ci["macro_accuracy_ci"] == pytest.approx([0.7, 0.7])
    assert ci["per_class_accuracy_ci"] == {0: pytest.approx([0.9, 0.9]), 1: pytest.approx([0.5, 0.5])}
    assert ci["bootstrap"]["runs"] == 4 and ci["bootstrap"]["unit"] == "test run"


def test_two_runs_one_bad_worked_by_hand():
    """Class 0: runs of 10/10 and 0/10; class 1: two perfect runs. Resampling class 0's two runs gives recall
    1 (both the good run, p = 1/4), 0.5 (one of each, p = 1/2) or 0 (p = 1/4): macro 1.0, 0.75 or 0.5.
    The 95% percentile interval is [0.5, 1.0]; the point estimate (all windows) is 0.75."""
    pred, y, run = windows([(0, 10, 10), (0, 0, 10), (1, 10, 10), (1, 10, 10)])
    ci = macro_accuracy_interval(pred, y, run, resamples=4000, seed=1)
    assert ci["macro_accuracy_ci"] == [0.5, 1.0]
    assert ci["per_class_accuracy_ci"][0] == [0.0, 1.0] and ci["per_class_accuracy_ci"][1] == [1.0, 1.0]


def test_runs_not_windows_are_resampled():
    """One long bad run and many short good ones: a window bootstrap would give a narrow interval; the run
    bootstrap's lower end reaches the resamples that draw the long run twice or more."""
    runs = [(0, 100, 100)] * 3 + [(0, 0, 300)] + [(1, 10, 10)] * 4
    pred, y, run = windows(runs)
    ci = macro_accuracy_interval(pred, y, run, resamples=4000)
    recall0 = [100 * k / (100 * k + 300 * (4 - k)) for k in range(5)]  # k of the 4 draws are good runs
    # P(k = 0) = 1/256 < 2.5% <= P(k <= 1) = 13/256; P(k = 4) = 81/256 > 2.5%
    assert ci["per_class_accuracy_ci"][0] == pytest.approx([recall0[1], 1.0]) and recall0[1] == 0.1


def test_the_point_estimate_is_sklearns_balanced_accuracy():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(3), 40)
    run = np.repeat(np.arange(12), 10)
    pred = np.where(rng.random(120) < 0.8, y, rng.integers(0, 3, 120))
    ci = macro_accuracy_interval(pred, y, run)
    point = balanced_accuracy_score(y, pred)
    assert ci["macro_accuracy_ci"][0] <= point <= ci["macro_accuracy_ci"][1]
    assert macro_accuracy_interval(pred, y, run) == ci  # seeded: the same interval every time


def test_bad_input():
    pred, y, run = windows([(0, 1, 2), (1, 2, 2)])
    with pytest.raises(InputError, match="differ in length"):
        macro_accuracy_interval(pred[:-1], y, run)
    with pytest.raises(InputError, match="more than one class"):
        macro_accuracy_interval(pred, y, np.zeros_like(run))
    with pytest.raises(InputError, match="resamples >= 1"):
        macro_accuracy_interval(pred, y, run, resamples=0)
