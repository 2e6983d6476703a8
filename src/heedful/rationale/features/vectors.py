"""Row-wise L2 normalisation, the one copy the rationale track uses (encoders, retrieval keys, the index, recall@k)."""

from __future__ import annotations

import numpy as np

EPS = 1e-12  # a zero row stays zero instead of becoming NaN


def l2_normalise(x, axis: int = -1) -> np.ndarray:
    """float32 rows of unit length along ``axis`` (all-zero rows stay zero), C-contiguous."""
    x = np.asarray(x, dtype=np.float32)
    return np.ascontiguousarray(x / np.maximum(np.linalg.norm(x, axis=axis, keepdims=True), EPS))
