"""The process track's metrics are sklearn's now: each equals the hand-written code it replaced (kept here as the
reference) on the same inputs, so no number in the docs moved. The PCA detector and ``Scaler`` stay ours, pinned
here to sklearn's PCA and StandardScaler."""

import numpy as np
import pytest
from sklearn.preprocessing import StandardScaler

from heedful.process.baselines import PCADetector
from heedful.process.data import Split
from heedful.process.metrics import r2
from heedful.process.tasks.pen_classify import accuracy_report
from heedful.process.tasks.tep_sim import _benchmark
from heedful.process.windows import Scaler


def r2_by_hand(y, pred):
    y, pred = np.asarray(y, np.float64).ravel(), np.asarray(pred, np.float64).ravel()
    total = ((y - y.mean()) ** 2).sum()
    return float(1 - ((y - pred) ** 2).sum() / total) if total > 0 else float("nan")


def test_r2_is_sklearns_and_equals_the_hand_formula():
    rng = np.random.default_rng(0)
    for n in (2, 17, 5000):
        y = rng.normal(size=(n, 2)).astype(np.float32)
        pred = y + rng.normal(scale=0.5, size=y.shape).astype(np.float32)
        assert r2(y, pred) == r2_by_hand(y, pred)
    assert r2([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]) == 1.0
    assert r2([1.0, 2.0, 3.0], [2.0, 2.0, 2.0]) == 0.0  # the mean as prediction
    assert np.isnan(r2([2.0, 2.0], [2.0, 2.0])) and np.isnan(r2([2.0, 2.0], [1.0, 3.0])) and np.isnan(r2([1.0], [1.0]))


def test_accuracy_report_equals_masked_counts():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, size=(40, 12))
    y[y == 2] = 1  # class 2 never occurs: no recall for it
    pred = np.where(rng.random(y.shape) < 0.7, y, rng.integers(0, 3, size=y.shape))
    mask = np.arange(12)[None, :] < rng.integers(3, 13, size=40)[:, None]
    report = accuracy_report(
        pred, Split(np.zeros((40, 12, 1)), y, np.zeros(40), np.full(40, 12), mask=mask), ["a", "b", "c"]
    )
    correct = (pred == y) & mask
    assert report["accuracy"] == float(correct.sum() / mask.sum())
    assert report["per_class_recall"] == {name: float(correct[(y == c) & mask].mean()) for c, name in enumerate("ab")}
    assert list(report["per_class_recall"]) == ["a", "b"]


def test_tep_benchmark_metrics_equal_a_bincount_confusion():
    rng = np.random.default_rng(2)
    faults = (0, 1, 4, 6)
    y = rng.choice([0, 1, 3], size=500)  # fault 4 (class 2) has no true window
    pred = np.where(rng.random(500) < 0.6, y, rng.integers(0, 4, size=500))
    n = len(faults)
    confusion = np.bincount(y * n + pred, minlength=n * n).reshape(n, n)
    support = confusion.sum(1)
    recall = {f: float(confusion[c, c] / support[c]) for c, f in enumerate(faults) if support[c]}
    out = _benchmark(pred, y, faults)
    assert out["confusion"] == confusion.tolist()
    assert out["per_class_accuracy"] == recall and list(out["per_class_accuracy"]) == [0, 1, 6]
    assert out["macro_accuracy"] == float(np.mean(list(recall.values())))
    assert out["benchmark_accuracy"] == float(np.trace(confusion) / confusion.sum())
    assert out["per_fault_accuracy"] == {1: recall[1], 6: recall[6]}


def sklearn_pca_detector(normal, explained=0.9, quantile=0.99):
    """The detector with sklearn's PCA in place of our numpy SVD."""
    from sklearn.decomposition import PCA

    mean, std = normal.mean(0), normal.std(0)
    std = np.where(std > 1e-8, std, 1.0)
    pca = PCA(n_components=explained, svd_solver="full").fit((normal - mean) / std)
    det = PCADetector(mean, std, pca.components_, pca.explained_variance_, 0.0, 0.0)
    t2, spe = det.statistics(normal)
    det.t2_limit, det.spe_limit = float(np.quantile(t2, quantile)), float(np.quantile(spe, quantile))
    return det


def pca_data(channels, dtype):
    rng = np.random.default_rng(channels)
    mixing = rng.normal(size=(4, channels))
    normal = rng.normal(size=(3000, 4)) @ mixing + 0.2 * rng.normal(size=(3000, channels))
    test = rng.normal(size=(2000, 4)) @ mixing + 0.2 * rng.normal(size=(2000, channels))
    test[1000:] += 3 * mixing[1]
    return normal.astype(dtype), test.astype(dtype)


@pytest.mark.parametrize("channels", [3, 22, 52])
def test_pca_detector_equals_sklearns_pca_in_float64(channels):
    normal, test = pca_data(channels, np.float64)
    ours, ref = PCADetector.fit(normal), sklearn_pca_detector(normal)
    assert ours.components.shape == ref.components.shape
    signs = np.sign((ours.components * ref.components).sum(1))  # a component and its negation are the same axis
    np.testing.assert_allclose(ours.components * signs[:, None], ref.components, atol=1e-9)
    np.testing.assert_allclose(ours.variances, ref.variances, rtol=1e-12)
    assert ours.t2_limit == pytest.approx(ref.t2_limit, rel=1e-10)
    assert ours.spe_limit == pytest.approx(ref.spe_limit, rel=1e-10)
    for statistic in ("t2", "spe"):
        assert np.array_equal(ours.alarms(test, statistic), ref.alarms(test, statistic))


def test_pca_detector_and_sklearn_part_at_float32_precision():
    """Why ours stays: on float32 windows (what the alarm stage passes) the two agree only to float32 precision, so
    replacing ours would move control limits, and with them alarms at the limit, that the docs report."""
    normal, _ = pca_data(52, np.float32)
    ours, ref = PCADetector.fit(normal), sklearn_pca_detector(normal)
    assert ours.t2_limit == pytest.approx(ref.t2_limit, rel=1e-4) and ours.t2_limit != ref.t2_limit


def test_inverse_transform_is_standard_scalers_in_the_callers_precision():
    rng = np.random.default_rng(3)
    raw = rng.normal(5.0, 3.0, size=(200, 4)).astype(np.float32)
    scaler = Scaler.fit(raw)
    sk = StandardScaler().fit(raw.astype(np.float64))
    sk.mean_, sk.scale_ = scaler.mean.astype(np.float64), scaler.scale.astype(np.float64)
    z = scaler.transform(raw)
    np.testing.assert_array_equal(
        scaler.inverse_transform(z.astype(np.float64)), sk.inverse_transform(z.astype(np.float64))
    )
    assert scaler.inverse_transform(z).dtype == np.float32
    np.testing.assert_array_equal(scaler.inverse_transform(z), z * scaler.scale + scaler.mean)
    np.testing.assert_allclose(scaler.inverse_transform(z), raw, rtol=1e-4, atol=1e-4)  # float32 round trip
    one = Scaler(np.array([2.0], np.float32), np.array([0.5], np.float32))  # one channel: any shape
    assert one.inverse_transform(np.ones((3, 5))).tolist() == [[2.5] * 5] * 3
    with pytest.raises(ValueError, match="expected 4 channels, got 3"):
        scaler.inverse_transform(np.ones((2, 3)))
