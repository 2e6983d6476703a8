import numpy as np
import pytest

from heedful.process.baselines import PCADetector, fit_classical, window_summary
from heedful.process.data import Split, TaskData
from heedful.process.windows import Scaler, sliding_windows, window_ends


def test_windows():
    values = np.arange(20, dtype=np.float32).reshape(10, 2)
    ends = window_ends(10, 4, stride=3)
    assert ends.tolist() == [4, 7, 10]
    w = sliding_windows(values, ends, 4)
    assert w.shape == (3, 4, 2) and w[1, -1, 0] == values[6, 0] and w[1, 0, 0] == values[3, 0]
    assert window_ends(10, 4, first_end=8).tolist() == [8, 9, 10]
    with pytest.raises(ValueError, match="shorter than the window"):
        window_ends(3, 4)


def test_scaler_roundtrip(tmp_path):
    x = np.random.default_rng(0).normal(5, 3, (100, 4)).astype(np.float32)
    x[:, 3] = 1.0  # a constant channel keeps scale 1 instead of dividing by zero
    scaler = Scaler.fit(x)
    z = scaler.transform(x)
    np.testing.assert_allclose(z[:, :3].mean(0), 0, atol=1e-5)
    assert np.isfinite(z).all()
    scaler.save(tmp_path / "s.json")
    np.testing.assert_array_equal(Scaler.load(tmp_path / "s.json").transform(x), z)
    with pytest.raises(ValueError, match="expected 4 channels, got 3"):
        scaler.transform(x[:, :3])
    with pytest.raises(ValueError, match="non-finite"):
        Scaler.fit(np.array([[np.nan, 1.0]]))


def test_pca_detector_alarms_on_a_shift_not_on_normal_data():
    rng = np.random.default_rng(0)
    mixing = rng.normal(size=(3, 10))
    normal = rng.normal(size=(2000, 3)) @ mixing + 0.1 * rng.normal(size=(2000, 10))
    det = PCADetector.fit(normal, quantile=0.99)
    fresh = rng.normal(size=(2000, 3)) @ mixing + 0.1 * rng.normal(size=(2000, 10))
    assert det.alarms(fresh).mean() < 0.03
    shifted = fresh + 6 * mixing[0]  # moves along a principal direction: T² sees it
    assert det.alarms(shifted).mean() > 0.9
    broken = fresh.copy()
    broken[:, 4] += 2.0  # breaks the correlation structure: SPE sees it
    assert det.alarms(broken, "spe").mean() > 0.9


def test_logistic_on_window_summaries():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 8, 3)).astype(np.float32)
    y = (x[:, :, 0].mean(1) > 0).astype(int)
    assert window_summary(x).shape == (200, 9)
    split = Split(x, y, np.zeros(200, int), np.full(200, 8))
    data = TaskData("toy", "classification", split, split, split, ["a", "b"], ["u", "v", "w"], Scaler.fit(x))
    pred, params = fit_classical("logistic", data)
    # a weight per summary feature (last, mean and std of 3 channels) and an intercept
    assert (pred == y).mean() > 0.95 and params == 9 + 1
