"""Classical baselines: PCA T² / SPE detection, logistic regression on summaries, ridge / PLS / boosting, the
persistence forecast."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from heedful.errors import InputError


@dataclass
class PCADetector:
    """PCA on normal-operation samples; alarms when Hotelling's T² (or SPE, the squared residual) exceeds
    its ``quantile`` on the normal training data (an empirical control limit, no Gaussian assumption).

    The decomposition is ``sklearn.decomposition.PCA(explained, svd_solver="full")`` written out as one numpy SVD,
    and a test pins it to sklearn's (components to 1e-9 in float64, the same alarms). It stays numpy because on the
    float32 windows the alarm stage feeds it, sklearn's second centring and scipy's SVD move the control limits by
    about 1e-6 (relative): enough to flip an alarm on a window at the limit, so documented results would not be
    reproduced exactly (docs/benchmarks.md)."""

    mean: np.ndarray
    std: np.ndarray  # normal-operation scale: PCA must not see the faults' variance
    components: np.ndarray  # (k, C)
    variances: np.ndarray  # (k,)
    t2_limit: float
    spe_limit: float

    @classmethod
    def fit(cls, normal: np.ndarray, explained: float = 0.9, quantile: float = 0.99) -> PCADetector:
        if normal.ndim != 2 or len(normal) < 2:
            raise InputError(f"PCA detector: expected (T, C) normal data with T >= 2, got {normal.shape}")
        mean, std = normal.mean(0), normal.std(0)
        std = np.where(std > 1e-8, std, 1.0)
        _, s, vt = np.linalg.svd((normal - mean) / std, full_matrices=False)
        var = s**2 / (len(normal) - 1)
        k = int(np.searchsorted(np.cumsum(var) / var.sum(), explained) + 1)
        det = cls(mean, std, vt[:k], var[:k], 0.0, 0.0)
        t2, spe = det.statistics(normal)
        det.t2_limit, det.spe_limit = float(np.quantile(t2, quantile)), float(np.quantile(spe, quantile))
        return det

    def statistics(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        centred = (x - self.mean) / self.std
        scores = centred @ self.components.T
        t2 = (scores**2 / self.variances).sum(-1)
        spe = ((centred - scores @ self.components) ** 2).sum(-1)
        return t2, spe

    def alarms(self, x: np.ndarray, statistic: str = "t2") -> np.ndarray:
        t2, spe = self.statistics(x)
        if statistic == "t2":
            return t2 > self.t2_limit
        if statistic == "spe":
            return spe > self.spe_limit
        raise InputError(f"unknown statistic {statistic!r}; expected 't2' or 'spe'")


def window_summary(x: np.ndarray) -> np.ndarray:
    """(N, W, C) -> (N, 3C): last sample, mean and standard deviation over the window."""
    return np.concatenate([x[:, -1], x.mean(1), x.std(1)], axis=1)


def masked_summary(x: np.ndarray, lengths: np.ndarray | None) -> np.ndarray:
    """Like ``window_summary`` for padded variable-length samples: statistics over the valid steps only."""
    if lengths is None:
        return window_summary(x)
    valid = (np.arange(x.shape[1])[None, :] < lengths[:, None])[..., None]
    n = valid.sum(1)
    mean = (x * valid).sum(1) / n
    std = np.sqrt((((x - mean[:, None]) * valid) ** 2).sum(1) / n)
    return np.concatenate([x[np.arange(len(x)), lengths - 1], mean, std], axis=1)


def per_step_features(x: np.ndarray, lengths: np.ndarray | None) -> np.ndarray:
    """(N, T, C) -> (N, T, 2C + 1): the current values, their running mean up to the step (an integral of the
    inputs so far, which is what accumulated quantities such as penicillin depend on) and the step index / 100."""
    steps = np.arange(1, x.shape[1] + 1, dtype=np.float32)[None, :, None]
    running = np.cumsum(x, axis=1) / steps
    return np.concatenate([x, running, np.broadcast_to(steps / 100, (*x.shape[:2], 1))], axis=-1)


def _valid_rows(split) -> np.ndarray:
    if split.lengths is None:
        return np.ones(split.x.shape[:2], dtype=bool)
    return np.arange(split.x.shape[1])[None, :] < split.lengths[:, None]


def persistence(spec, x: np.ndarray) -> np.ndarray:
    """The last observed value of each target, held over the horizon (scaled target units). ``spec``: a
    ``DataSpec`` or ``TaskData`` of a forecasting task, whose targets are among its inputs."""
    idx = [spec.feature_names.index(n) for n in spec.target_names]
    return np.repeat(x[:, -1:, idx], spec.horizon, axis=1)


def fit_classical(name: str, data, seed: int = 0) -> tuple[np.ndarray, int]:
    """Fit a classical baseline on ``data.train``; return its test predictions (shaped like the neural models')
    and its parameter count, by the task's kind. Tasks with their own baselines (``interpolate``, quality through the
    final penicillin) call theirs first; ``pca_t2`` is handled by the comparison (detection only)."""
    from sklearn.cross_decomposition import PLSRegression
    from sklearn.linear_model import LogisticRegression, Ridge

    kind, tr, te = data.kind, data.train, data.test
    if name == "persistence":
        if kind != "forecast":
            raise InputError(f"persistence needs a forecasting task, got {data.name}")
        return persistence(data, te.x), 0
    if name == "interpolate":
        raise InputError(f"interpolate needs a repair task, got {data.name}")
    if name == "boosting":
        raise InputError(f"boosting needs a whole-batch value behind a class (pen_quality), got {data.name}")
    if name == "logistic":
        if kind == "classification":
            clf = LogisticRegression(max_iter=2000, random_state=seed).fit(masked_summary(tr.x, tr.lengths), tr.y)
            return clf.predict(masked_summary(te.x, te.lengths)), int(clf.coef_.size + clf.intercept_.size)
        if kind == "sequence_classification":
            rows = _valid_rows(tr)
            feats = per_step_features(tr.x, tr.lengths)
            clf = LogisticRegression(max_iter=2000, random_state=seed).fit(feats[rows], tr.y[rows])
            test = per_step_features(te.x, te.lengths)
            pred = clf.predict(test.reshape(-1, test.shape[-1])).reshape(te.x.shape[:2])
            return pred, int(clf.coef_.size + clf.intercept_.size)
        raise InputError(f"logistic needs a classification task, got {data.name} ({kind})")
    if name in ("ridge", "pls"):

        def make():
            if name == "ridge":
                return Ridge(alpha=1.0)
            rows = len(tr.x) if kind in ("regression", "forecast") else int(_valid_rows(tr).sum())
            return PLSRegression(n_components=max(1, min(8, rows - 1)), scale=False)

        if kind in ("regression", "forecast"):
            model = make().fit(tr.x.reshape(len(tr.x), -1), tr.y.reshape(len(tr.y), -1))
            pred = model.predict(te.x.reshape(len(te.x), -1)).reshape(te.y.shape)
        elif kind == "sequence_regression":
            rows = _valid_rows(tr)
            model = make().fit(per_step_features(tr.x, tr.lengths)[rows], tr.y[rows])
            test = per_step_features(te.x, te.lengths)
            pred = model.predict(test.reshape(-1, test.shape[-1])).reshape(te.y.shape)
        else:
            raise InputError(f"{name} needs a regression, forecasting or soft-sensor task, got {data.name}")
        coef = model.coef_
        return pred.astype(np.float32), int(np.size(coef) + np.size(getattr(model, "intercept_", 0)))
    raise InputError(f"unknown classical model {name!r}")


def segment_summary(x: np.ndarray, lengths: np.ndarray, segments: int = 16) -> np.ndarray:
    """(N, T, C) padded batches -> (N, (segments + 2) C + 1): the channel means over ``segments`` equal stretches of
    each batch's valid steps, its last values, standard deviations and length. Batches of different lengths line up
    by phase of the batch, not by hour."""
    rows = []
    for seq, n in zip(x, lengths, strict=True):
        n = int(n)
        edges = np.linspace(0, n, segments + 1).astype(int)
        # a batch shorter than the segments: a stretch without a step of its own takes the step it falls in
        means = [seq[a : max(b, a + 1)].mean(0) for a, b in itertools.pairwise(edges)]
        rows.append(np.concatenate([*means, seq[n - 1], seq[:n].std(0), [n / 100]]))
    return np.asarray(rows, dtype=np.float64)


def _boosting(tr, te, seed: int) -> tuple[np.ndarray, int]:
    """Histogram gradient boosting of ``Split.value`` on ``segment_summary``: test predictions and the number of
    leaves (one fitted value each)."""
    from sklearn.ensemble import HistGradientBoostingRegressor

    model = HistGradientBoostingRegressor(max_iter=300, learning_rate=0.05, random_state=seed)
    model.fit(segment_summary(tr.x, tr.lengths), tr.value)
    leaves = sum(tree.get_n_leaf_nodes() for it in getattr(model, "_predictors", []) for tree in it)
    return model.predict(segment_summary(te.x, te.lengths)), int(leaves)


def regress_then_classify(name: str, data, seed: int = 0) -> tuple[np.ndarray, int]:
    """Regression of the continuous value behind a class label (``Split.value``, e.g. the final penicillin): test
    predictions of the value and the parameter count; the task applies its thresholds. ``ridge`` / ``pls``: on the
    batch unfolded over its first ``min_length`` steps (the classical multiway-PLS layout) plus summaries of the
    whole batch; ``boosting``: gradient-boosted trees on segment means (``segment_summary``), which need no common
    length and find thresholds and interactions a linear model cannot."""
    from sklearn.cross_decomposition import PLSRegression
    from sklearn.linear_model import RidgeCV

    tr, te = data.train, data.test
    if name == "boosting":
        return _boosting(tr, te, seed)
    steps = int(min(tr.lengths.min(), te.lengths.min()))

    def features(split):
        return np.concatenate([split.x[:, :steps].reshape(len(split.x), -1), masked_summary(split.x, split.lengths)], 1)

    pls = PLSRegression(n_components=max(1, min(8, len(tr.x) - 1)))
    model = RidgeCV(alphas=np.logspace(-2, 4, 25)) if name == "ridge" else pls
    model.fit(features(tr), tr.value)
    return np.ravel(model.predict(features(te))), int(np.size(model.coef_) + 1)
