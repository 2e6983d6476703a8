"""Alarm thresholds by the time in the run (``heedful.process.alarm.thresholds_by_time``): each span's threshold
is the rate's quantile of its own normal validation windows, spans with too few windows merge with a neighbour
(documented), and the rule keeps the asked rate on normal windows that sit early in their runs, where one
threshold does not."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heedful.errors import InputError
from heedful.process.alarm import (
    RunAlarm,
    TimedThreshold,
    min_bin_windows,
    threshold_for_rate,
    thresholds_by_time,
    two_stage,
)
from heedful.process.config import TEPFaultsConfig, TEPSimFaultsConfig


def test_each_span_gets_the_quantile_of_its_own_windows():
    # 200 windows ending in steps [40, 80) score 1.000..1.995; 300 ending in [80, 120) score 0..0.997
    early, late = 1 + np.arange(200) / 200, np.arange(300) / 300
    end = np.concatenate([np.repeat(np.arange(40, 80, 5), 25), np.repeat(np.arange(80, 120, 5), 38)[:300]])
    rule = thresholds_by_time(np.concatenate([early, late]), end, 0.01, bin_steps=40, min_windows=100)
    assert rule.starts == (80,) and rule.windows == (200, 300)
    assert rule.thresholds == (early[200 - 1 - 2], late[300 - 1 - 3])  # 2 of 200 and 3 of 300 may alarm
    first, second = rule.thresholds
    np.testing.assert_array_equal(rule.at(np.array([0, 40, 79, 80, 119, 960])), [first] * 3 + [second] * 3)


def test_spans_with_too_few_windows_merge_with_the_next_and_the_last_with_the_one_before():
    # spans of 40 steps holding 50, 50, 0 (a gap), 200 and 30 windows; each span needs 100
    counts = {1: 50, 2: 50, 4: 200, 5: 30}
    end = np.concatenate([np.full(n, 40 * span + 7) for span, n in counts.items()])
    scores = np.random.default_rng(0).random(len(end))
    rule = thresholds_by_time(scores, end, 0.02, bin_steps=40, min_windows=100)
    assert rule.starts == (160,) and rule.windows == (100, 230)  # [50 + 50], [200 + 30]
    early = end < 160
    assert rule.thresholds == (threshold_for_rate(scores[early], 0.02), threshold_for_rate(scores[~early], 0.02))


def test_too_few_windows_for_two_spans_fall_back_to_one_threshold():
    scores, end = np.arange(150.0), np.arange(150) * 3  # 150 windows; spans need 100 each: one threshold
    one = thresholds_by_time(scores, end, 0.01, bin_steps=40, min_windows=100)
    assert one == TimedThreshold((), (threshold_for_rate(scores, 0.01),), (150,))
    assert thresholds_by_time(scores, end, 0.01, bin_steps=0).thresholds == one.thresholds  # 0: the rule without time
    assert min_bin_windows(0.01) == 500 and min_bin_windows(0.05) == 100 and min_bin_windows(0.3) == 17


def test_bad_spans_and_stored_thresholds_are_refused():
    with pytest.raises(InputError, match="need bin_steps >= 0"):
        thresholds_by_time(np.ones(10), np.arange(10), 0.1, bin_steps=-1)
    with pytest.raises(InputError, match="3 values for span starts"):
        TimedThreshold((10,), (1.0, 2.0, 3.0))
    with pytest.raises(InputError, match="span starts"):
        TimedThreshold((20, 10), (1.0, 2.0, 3.0))
    for bad in ("0.5", {"starts": [1]}, [0.1], True):
        with pytest.raises(InputError, match="expected a number or starts and thresholds"):
            TimedThreshold.from_stored(bad)


def test_stored_thresholds_round_trip_and_old_runs_keep_their_single_threshold():
    rule = TimedThreshold((80, 160), (0.9, 0.5, 0.2), (500, 600, 700))
    again = TimedThreshold.from_stored(rule.to_dict())
    assert (again.starts, again.thresholds) == (rule.starts, rule.thresholds)
    old = TimedThreshold.from_stored(0.37)  # a run's metrics.json from before: {"model": 0.37}
    np.testing.assert_array_equal(old.at(np.array([0, 100, 10_000])), [0.37, 0.37, 0.37])


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    n=st.integers(1, 3000),
    rate=st.sampled_from([0.01, 0.05, 0.2]),
    bin_steps=st.integers(0, 200),
)
def test_no_span_alarms_above_the_rate_on_its_own_windows(seed, n, rate, bin_steps):
    rng = np.random.default_rng(seed)
    end = rng.integers(40, 1000, n)
    scores = rng.normal(size=n) + (end < 200)  # calmer later in the run
    rule = thresholds_by_time(scores, end, rate, bin_steps, min_windows=50)
    assert sum(rule.windows) == n and len(rule.windows) == len(rule.thresholds)
    which = np.searchsorted(rule.starts, end, side="right")
    for i, t in enumerate(rule.thresholds):
        mine = scores[which == i]
        assert len(mine) == rule.windows[i] and (mine > t).sum() <= np.floor(rate * len(mine))
        assert len(rule.thresholds) == 1 or len(mine) >= 50


def test_thresholds_by_time_keep_the_rate_on_early_windows_where_one_threshold_does_not():
    """Normal scores are high in a run's first 4 h (steps < 80) and low later; validation windows spread over
    25 h, test windows sit in hours 2-8 like the pre-onset windows of faulty test runs."""
    rng = np.random.default_rng(3)

    def normal_windows(ends: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        x = np.zeros((len(ends), 2, 1))
        p_normal = 1 - np.where(ends < 80, 0.3, 0.1) * rng.random(len(ends))
        return x, np.stack([p_normal, 1 - p_normal], 1), ends

    val_x, val_p, val_end = normal_windows(np.tile(np.arange(40, 501, 5), 100))  # 100 runs of 25 h
    test_x, test_p, test_end = normal_windows(np.tile(np.arange(40, 161, 3), 300))  # hours 2-8
    sets = {"val": (val_x, val_p), "test": (test_x, test_p), "test_run": np.zeros(len(test_x), int)}
    one = two_stage("model", 0.01, 1, 0, **sets, test_end=test_end, val_end=val_end)
    by_time = two_stage("model", 0.01, 1, 0, **sets, test_end=test_end, val_end=val_end, bin_steps=40)
    assert one.val_alarm_rate <= 0.01 and one.alarm.mean() > 0.025  # one threshold: about 3% early on
    assert by_time.val_alarm_rate <= 0.01 and by_time.alarm.mean() < 0.02
    assert len(by_time.thresholds["model"].thresholds) == 12 and len(one.thresholds["model"].thresholds) == 1


@pytest.mark.parametrize("hours", [-1.0, 0.07])
def test_bad_alarm_bin_hours(hours):
    for cls in (TEPFaultsConfig, TEPSimFaultsConfig):
        with pytest.raises(InputError, match="alarm_bin_hours"):
            cls(alarm_bin_hours=hours)


def test_a_trained_runs_alarm_applies_its_thresholds_by_time_and_its_persistence():
    two = {"alarm_detector": "model", "alarm_rate": 0.01, "alarm_persistence": 2}
    alarm = RunAlarm.from_metrics({**two, "thresholds": {"model": TimedThreshold((60,), (0.5, 0.1)).to_dict()}})
    # 1 - p(normal) 0.3 everywhere: above the later threshold only, from end 60 on; kept from the second on
    proba = np.tile([0.7, 0.3], (6, 1))
    end = np.array([40, 50, 60, 70, 80, 90])
    np.testing.assert_array_equal(alarm.alarms(proba, end, normal=0), [0, 0, 0, 1, 1, 1])
    old = RunAlarm.from_metrics({**two, "alarm_persistence": 1, "thresholds": {"model": 0.2}})  # before spans
    np.testing.assert_array_equal(old.alarms(proba, end, normal=0), [1] * 6)
    assert RunAlarm.from_metrics({**two, "alarm_detector": "pca", "thresholds": {"pca": 1.0}}) is None
    assert RunAlarm.from_metrics(None) is None
    with pytest.raises(InputError, match="two_stage alarm without"):
        RunAlarm.from_metrics({**two, "thresholds": {}})
