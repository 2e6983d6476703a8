"""Sliding windows and train-only scaling: datasets own them, models only see the result."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from heedful.errors import InputError
from heedful.runs import write_json


def window_ends(length: int, window: int, stride: int = 1, first_end: int | None = None) -> np.ndarray:
    """End indices (exclusive) of windows of ``window`` steps over a series of ``length`` steps."""
    if window < 1 or stride < 1:
        raise InputError(f"window and stride must be >= 1, got window={window}, stride={stride}")
    if length < window:
        raise InputError(f"series of {length} steps is shorter than the window of {window}")
    start = window if first_end is None else max(window, first_end)
    return np.arange(start, length + 1, stride)


def downsample(values: np.ndarray, every: int) -> np.ndarray:
    """Every ``every``-th step, ending on the last full interval (step ``every - 1``, ``2 every - 1``, ...)."""
    return values[every - 1 :: every]


def sliding_windows(values: np.ndarray, ends: np.ndarray, window: int) -> np.ndarray:
    """(T, C) values -> (len(ends), window, C), a copy in float32."""
    index = ends[:, None] - window + np.arange(window)[None, :]
    return values[index].astype(np.float32)


@dataclass
class Scaler:
    """Per-channel standardisation fitted on training data only (constant channels keep scale 1)."""

    mean: np.ndarray
    scale: np.ndarray

    def __post_init__(self):
        # a scaler with inf or NaN (from extreme values) silently turns every input into NaN
        mean, scale = np.asarray(self.mean), np.asarray(self.scale)  # arrays, or scalars in hand-made scalers
        if not (np.isfinite(mean).all() and np.isfinite(scale).all() and (scale > 0).all()):
            raise InputError("scaler: a mean or scale is not finite (or not > 0): the values are too extreme")

    @classmethod
    def fit(cls, values: np.ndarray) -> Scaler:
        flat = values.reshape(-1, values.shape[-1]).astype(np.float64)
        if not np.isfinite(flat).all():
            raise InputError("cannot fit a scaler on non-finite values")
        std = flat.std(0)
        return cls(flat.mean(0).astype(np.float32), np.where(std > 1e-8, std, 1.0).astype(np.float32))

    def transform(self, values: np.ndarray) -> np.ndarray:
        if values.shape[-1] != self.mean.shape[0]:
            raise InputError(f"scaler: expected {self.mean.shape[0]} channels, got {values.shape[-1]}")
        with np.errstate(over="ignore"):  # a value beyond the training range becomes inf: callers check and name it
            return ((values - self.mean) / self.scale).astype(np.float32)

    def inverse_transform(self, values: np.ndarray) -> np.ndarray:
        """Scaled values back to their units (sklearn's ``StandardScaler.inverse_transform``), in the precision of
        ``values``: float32 stays float32, float64 stays float64. A one-channel scaler applies to arrays of any shape
        (a target without a channel axis)."""
        values = np.asarray(values)
        channels = self.mean.shape[0]
        if channels != 1 and values.shape[-1] != channels:
            raise InputError(f"scaler: expected {channels} channels, got {values.shape[-1]}")
        return values * self.scale + self.mean

    def save(self, path: str | Path) -> None:
        write_json(path, {"mean": self.mean.tolist(), "scale": self.scale.tolist()})

    @classmethod
    def load(cls, path: str | Path) -> Scaler:
        data = json.loads(Path(path).read_text())
        return cls(np.asarray(data["mean"], np.float32), np.asarray(data["scale"], np.float32))
