"""What the IndPenSim tasks share: which batches, the split by batch, scaling on train, padding with lengths.

Two batch sets, both generated (and cached) by ``heedful.process.sources.indpensim``:
- ``normal`` (200 batches by default): varied recipes (sugar / aeration / pressure ×0.7–1.3), recipe timing
  ×0.9–1.1, lengths 200–230 h, half with a mid-batch temperature set-point change; no faults.
- ``faults``: full 230 h batches, 85% of them with one of the faults 1-8 at a random onset.
"""

from __future__ import annotations

import numpy as np

from heedful.errors import InputError
from heedful.process.config import PenDataConfig
from heedful.process.sources import indpensim as ip
from heedful.process.windows import Scaler

SOURCE = "IndPenSim (pensimpy 1.2.5)"


def load_batches(cfg: PenDataConfig, progress: bool = True) -> list[ip.Batch]:
    return ip.generate(ip.specs(cfg.generation()), cfg.cache, cfg.workers, progress).batches


def split_indices(n: int, cfg: PenDataConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    order = np.random.default_rng(cfg.split_seed).permutation(n)
    n_test, n_val = max(1, round(n * cfg.test_fraction)), max(1, round(n * cfg.val_fraction))
    return np.sort(order[n_test + n_val :]), np.sort(order[n_test : n_test + n_val]), np.sort(order[:n_test])


def channel_index(names) -> list[int]:
    unknown = [n for n in names if n not in ip.CHANNELS]
    if unknown:
        raise InputError(f"unknown IndPenSim channels {unknown}; known: {', '.join(ip.CHANNELS)}")
    return [ip.CHANNELS.index(n) for n in names]


def pad(seqs: list[np.ndarray], fill: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """Sequences of different lengths -> (N, T_max, ...) padded after their end, and lengths (N,)."""
    lengths = np.array([len(s) for s in seqs], dtype=np.int64)
    out = np.full((len(seqs), int(lengths.max()), *seqs[0].shape[1:]), fill, dtype=seqs[0].dtype)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = s
    return out, lengths


def valid_mask(lengths: np.ndarray, t: int) -> np.ndarray:
    return np.arange(t)[None, :] < lengths[:, None]


def fit_scaler(seqs: list[np.ndarray]) -> Scaler:
    return Scaler.fit(np.concatenate(seqs))
