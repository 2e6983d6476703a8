import importlib.util
import re

import numpy as np
import pytest

from heedful.process.sources import tep
from heedful.process.tasks.tep_faults import tep_report


def test_runs_have_the_braatz_shapes_and_labels():
    normal = tep.load_run(0, "train")  # stored transposed in the package
    assert normal.values.shape == (500, 52) and (normal.labels == 0).all() and normal.onset is None
    train = tep.load_run(7, "train")
    assert train.values.shape == (480, 52) and (train.labels == 7).all()
    test = tep.load_run(7, "test")
    assert test.values.shape == (960, 52) and test.onset == 160
    assert (test.labels[:160] == 0).all() and (test.labels[160:] == 7).all()
    assert len(tep.VARIABLE_NAMES) == 52 and tep.VARIABLE_NAMES[41] == "XMV(1)"


def test_fault_6_moves_the_plant_far_from_normal():
    """A sanity check on the data itself: fault 6 (A feed loss) is among the most visible."""
    normal, fault = tep.load_run(0, "test").values, tep.load_run(6, "test").values
    z = np.abs(fault[400:] - normal.mean(0)) / normal.std(0)
    assert z.max() > 20


@pytest.mark.parametrize(("fault", "split", "message"), [(22, "train", "0..21"), (1, "dev", "'train' or 'test'")])
def test_bad_requests(fault, split, message):
    with pytest.raises(ValueError, match=message):
        tep.load_run(fault, split)


def test_missing_package_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match=re.escape("pip install 'heedful[process]'")):
        tep.data_dir()


def test_task_splits_are_disjoint_in_time_and_scaled_on_train(small_tep):
    d = small_tep
    assert d.n_classes == 3 and d.n_features == 52
    for run in (0, 1, 2):
        train_end = d.train.end[d.train.run == run].max()
        val_start = d.val.end[d.val.run == run].min() - 10
        assert val_start >= train_end  # no training step inside a validation window
    # the scaler saw only the training part: there the data are standardised, elsewhere they need not be
    raw = np.concatenate(
        [tep.load_run(f, "train").values[: int(len(tep.load_run(f, "train").values) * 0.8)] for f in (0, 1, 2)]
    )
    np.testing.assert_allclose(d.scaler.mean, raw.mean(0), rtol=1e-4, atol=1e-4)
    test_labels = d.test.y[d.test.run == 1]
    assert set(test_labels.tolist()) == {0, 1}  # the test run starts normal


def test_report_counts_per_fault_and_false_alarms(small_tep):
    d = small_tep
    perfect = tep_report(d.test.y.copy(), d.test, (0, 1, 2))
    assert perfect["overall_accuracy"] == 1.0 and perfect["false_alarm_rate"] == 0.0
    assert perfect["per_fault_accuracy"] == {1: 1.0, 2: 1.0}
    all_fault_one = tep_report(np.ones_like(d.test.y), d.test, (0, 1, 2))
    assert all_fault_one["false_alarm_rate"] == 1.0
    assert all_fault_one["per_fault_accuracy"] == {1: 1.0, 2: 0.0}
    assert all_fault_one["detection_rate"] == {1: 1.0, 2: 1.0}
