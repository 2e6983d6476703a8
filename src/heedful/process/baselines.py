"""Classical baselines: PCA T² / SPE fault detection and logistic regression on window summaries."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class PCADetector:
    """PCA on normal-operation samples; alarms when Hotelling's T² (or SPE, the squared residual) exceeds
    its ``quantile`` on the normal training data (an empirical control limit, no Gaussian assumption)."""

    mean: np.ndarray
    std: np.ndarray  # normal-operation scale: PCA must not see the faults' variance
    components: np.ndarray  # (k, C)
    variances: np.ndarray  # (k,)
    t2_limit: float
    spe_limit: float

    @classmethod
    def fit(cls, normal: np.ndarray, explained: float = 0.9, quantile: float = 0.99) -> PCADetector:
        if normal.ndim != 2 or len(normal) < 2:
            raise ValueError(f"PCA detector: expected (T, C) normal data with T >= 2, got {normal.shape}")
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
        raise ValueError(f"unknown statistic {statistic!r}; expected 't2' or 'spe'")


def window_summary(x: np.ndarray) -> np.ndarray:
    """(N, W, C) -> (N, 3C): last sample, mean and standard deviation over the window."""
    return np.concatenate([x[:, -1], x.mean(1), x.std(1)], axis=1)


def fit_logistic(x: np.ndarray, y: np.ndarray, seed: int = 0):
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(max_iter=2000, C=1.0, random_state=seed)
    return model.fit(window_summary(x), y)
