"""IndPenSim regression tasks: end time, forecasting, soft sensor, repair. Targets are standardised with training
statistics (``TaskData.target_scaler``); metrics are reported in the original units.

- ``pen_endtime``: from the first ``observe_hours`` of the online sensors (hourly), the hour at which penicillin
  first reaches ``threshold`` g/L. Batches that never reach it are *censored*: their target is the batch end, a
  lower bound, and the loss only penalises predictions below it. Metric: MAE (h) on the test batches that reach the
  threshold; for censored ones, the share predicted at or beyond their end.
- ``pen_forecast``: ``history`` steps of 10 online variables -> the next ``horizon`` steps of 5 of them (12-minute
  steps). Metric: R² per target over all horizon steps, against the persistence forecast (last value held).
- ``pen_softsensor``: whole batches of the online sensors every ``every`` steps -> the penicillin trajectory
  (per step; padded steps masked). Metric: R² and RMSE (g/L) over all valid test steps.
- ``pen_repair``: windows of the online sensors in which a contiguous segment of 1-3 channels is hidden (set to 0
  and flagged by indicator inputs); the model restores it. Metric: RMSE (scaled units) and R² on the hidden values,
  against linear interpolation across the gap.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from heedful.errors import InputError
from heedful.process.sources import indpensim as ip
from heedful.process.tasks.base import Split, TaskData
from heedful.process.tasks.pen_data import (
    PenDataConfig,
    channel_index,
    downsample,
    fit_scaler,
    load_batches,
    pad,
    r2,
    split_indices,
    valid_mask,
)
from heedful.process.windows import Scaler, sliding_windows, window_ends

ONLINE = list(ip.ONLINE)
SOURCE = "IndPenSim (pensimpy 1.2.5)"
FORECAST_INPUTS = [
    "aeration",
    "sugar_feed",
    "base_flow",
    "cooling_water",
    "temperature",
    "ph",
    "dissolved_o2",
    "offgas_o2",
    "offgas_co2",
    "volume",
]
FORECAST_TARGETS = ["temperature", "ph", "dissolved_o2", "offgas_o2", "offgas_co2"]


@dataclass
class PenEndtimeConfig(PenDataConfig):
    threshold: float = 20.0  # g/L
    observe_hours: float = 100.0
    every: int = 5

    def __post_init__(self):
        super().__post_init__()
        if self.threshold <= 0 or self.observe_hours < 1:
            raise InputError(f"need threshold > 0 and observe_hours >= 1, got {self.threshold}, {self.observe_hours}")


@dataclass
class PenForecastConfig(PenDataConfig):
    history: int = 24
    horizon: int = 12
    stride: int = 12

    def __post_init__(self):
        super().__post_init__()
        if self.history < 2 or self.horizon < 1 or self.stride < 1:
            raise InputError(f"need history >= 2, horizon >= 1, stride >= 1; got {self.history}, {self.horizon}")


@dataclass
class PenSoftsensorConfig(PenDataConfig):
    every: int = 5


@dataclass
class PenRepairConfig(PenDataConfig):
    window: int = 48
    stride: int = 24
    min_gap: int = 6
    max_gap: int = 18
    max_channels: int = 3

    def __post_init__(self):
        super().__post_init__()
        if not 1 <= self.min_gap <= self.max_gap <= self.window - 8:
            raise InputError(f"need 1 <= min_gap <= max_gap <= window - 8, got {self.min_gap}, {self.max_gap}")


def _scaled_target(ys: list[np.ndarray]) -> Scaler:
    return Scaler.fit(np.concatenate([y.reshape(-1, y.shape[-1]) for y in ys]))


# --- end time ------------------------------------------------------------------------------------------


def build_pen_endtime(cfg: PenEndtimeConfig) -> TaskData:
    batches = load_batches(cfg)
    cols = channel_index(ONLINE)
    observe = round(cfg.observe_hours / ip.STEP_HOURS)
    keep = [i for i, b in enumerate(batches) if len(b.values) > observe]
    if len(keep) < 5:
        raise InputError(f"fewer than 5 batches last longer than observe_hours={cfg.observe_hours}")
    target, censored = [], []
    for i in keep:
        b = batches[i]
        reached = b.channel("penicillin") >= cfg.threshold
        target.append(b.hours[np.argmax(reached)] if reached.any() else b.hours[-1])
        censored.append(not reached.any())
    target, censored, keep = np.array(target, np.float32), np.array(censored), np.array(keep)
    parts = split_indices(len(keep), cfg)
    seqs = [downsample(batches[i].values[:observe, cols], cfg.every) for i in keep]
    scaler = fit_scaler([seqs[j] for j in parts[0]])
    t_scaler = Scaler.fit(target[parts[0], None])
    splits = []
    for p in parts:
        x = np.stack([scaler.transform(seqs[j]) for j in p])
        y = t_scaler.transform(target[p, None])
        splits.append(Split(x, y, keep[p], np.full(len(p), observe), censored=censored[p]))
    params = {"source": SOURCE, **asdict(cfg), "censored_share": float(censored.mean())}
    return TaskData("pen_endtime", "regression", *splits, [], ONLINE, scaler, params, ["hours_to_threshold"], t_scaler)


def endtime_report(pred: np.ndarray, data: TaskData) -> dict:
    split = data.test
    hours = _unscale(data, pred)[:, 0]
    truth = _unscale(data, split.y)[:, 0]
    reached = ~split.censored
    return {
        "mae_hours": float(np.abs(hours - truth)[reached].mean()) if reached.any() else None,
        "reached": int(reached.sum()),
        "censored": int((~reached).sum()),
        "censored_beyond_end": float((hours >= truth)[~reached].mean()) if (~reached).any() else None,
        "mean_baseline_mae_hours": float(np.abs(truth[reached] - _train_mean_hours(data)).mean())
        if reached.any()
        else None,
    }


def _train_mean_hours(data: TaskData) -> float:
    tr = data.train
    return float(_unscale(data, tr.y)[~tr.censored, 0].mean())


def _unscale(data: TaskData, y: np.ndarray) -> np.ndarray:
    s = data.target_scaler
    return np.asarray(y, np.float64) * s.scale + s.mean


# --- forecasting -------------------------------------------------------------------------------------


def build_pen_forecast(cfg: PenForecastConfig) -> TaskData:
    batches = load_batches(cfg)
    cols, tcols = channel_index(FORECAST_INPUTS), channel_index(FORECAST_TARGETS)
    parts = split_indices(len(batches), cfg)
    scaler = fit_scaler([batches[i].values[:, cols] for i in parts[0]])
    pick = [FORECAST_INPUTS.index(n) for n in FORECAST_TARGETS]
    t_scaler = Scaler(scaler.mean[pick], scaler.scale[pick])  # targets in their input scaling
    total = cfg.history + cfg.horizon
    splits = []
    for p in parts:
        xs, ys, runs, ends = [], [], [], []
        for i in p:
            v = batches[i].values
            e = window_ends(len(v), total, cfg.stride)
            xs.append(scaler.transform(sliding_windows(v[:, cols], e - cfg.horizon, cfg.history)))
            ys.append(t_scaler.transform(sliding_windows(v[:, tcols], e, cfg.horizon)))
            runs.append(np.full(len(e), i))
            ends.append(e - cfg.horizon)
        splits.append(Split(np.concatenate(xs), np.concatenate(ys), np.concatenate(runs), np.concatenate(ends)))
    params = {"source": SOURCE, **asdict(cfg), "targets": FORECAST_TARGETS}
    return TaskData(
        "pen_forecast", "forecast", *splits, [], FORECAST_INPUTS, scaler, params, FORECAST_TARGETS, t_scaler
    )


def persistence(data: TaskData, x: np.ndarray) -> np.ndarray:
    """The last observed value of each target, held over the horizon (scaled target units)."""
    idx = [data.feature_names.index(n) for n in data.target_names]
    return np.repeat(x[:, -1:, idx], data.horizon, axis=1)


def forecast_report(pred: np.ndarray, data: TaskData) -> dict:
    y, base = _unscale(data, data.test.y), _unscale(data, persistence(data, data.test.x))
    p = _unscale(data, pred)
    per = {n: r2(y[..., k], p[..., k]) for k, n in enumerate(data.target_names)}
    per_base = {n: r2(y[..., k], base[..., k]) for k, n in enumerate(data.target_names)}
    return {
        "r2": float(np.mean(list(per.values()))),
        "r2_per_target": per,
        "persistence_r2": float(np.mean(list(per_base.values()))),
        "persistence_r2_per_target": per_base,
    }


# --- soft sensor -------------------------------------------------------------------------------------


def build_pen_softsensor(cfg: PenSoftsensorConfig) -> TaskData:
    batches = load_batches(cfg)
    cols, pcol = channel_index(ONLINE), ip.CHANNELS.index("penicillin")
    parts = split_indices(len(batches), cfg)
    seqs = [downsample(b.values[:, cols], cfg.every) for b in batches]
    targets = [downsample(b.values[:, [pcol]], cfg.every) for b in batches]
    scaler = fit_scaler([seqs[i] for i in parts[0]])
    t_scaler = _scaled_target([targets[i] for i in parts[0]])
    splits = []
    for p in parts:
        x, lengths = pad([scaler.transform(seqs[i]) for i in p])
        y, _ = pad([t_scaler.transform(targets[i]) for i in p])
        mask = np.repeat(valid_mask(lengths, x.shape[1])[..., None], 1, axis=2)
        splits.append(Split(x, y, np.asarray(p), lengths * cfg.every, lengths=lengths, mask=mask))
    params = {"source": SOURCE, **asdict(cfg)}
    return TaskData(
        "pen_softsensor", "sequence_regression", *splits, [], ONLINE, scaler, params, ["penicillin"], t_scaler
    )


def softsensor_report(pred: np.ndarray, data: TaskData) -> dict:
    m = data.test.mask
    y, p = _unscale(data, data.test.y)[m], _unscale(data, pred)[m]
    return {"r2": r2(y, p), "rmse_g_per_l": float(np.sqrt(((y - p) ** 2).mean()))}


# --- repair ------------------------------------------------------------------------------------------


def build_pen_repair(cfg: PenRepairConfig) -> TaskData:
    batches = load_batches(cfg)
    cols = channel_index(ONLINE)
    parts = split_indices(len(batches), cfg)
    scaler = fit_scaler([batches[i].values[:, cols] for i in parts[0]])
    splits = []
    for k, p in enumerate(parts):
        windows, runs, ends = [], [], []
        for i in p:
            e = window_ends(len(batches[i].values), cfg.window, cfg.stride)
            windows.append(scaler.transform(sliding_windows(batches[i].values[:, cols], e, cfg.window)))
            runs.append(np.full(len(e), i))
            ends.append(e)
        y = np.concatenate(windows)
        hidden = hide_segments(y.shape, cfg, np.random.default_rng([cfg.split_seed, k]))
        x = np.concatenate([np.where(hidden, 0.0, y), hidden], axis=-1).astype(np.float32)
        splits.append(Split(x, y, np.concatenate(runs), np.concatenate(ends), mask=hidden))
    params = {"source": SOURCE, **asdict(cfg)}
    features = ONLINE + [f"{n}_hidden" for n in ONLINE]
    return TaskData("pen_repair", "sequence_regression", *splits, [], features, scaler, params, ONLINE, None)


def hide_segments(shape: tuple[int, int, int], cfg: PenRepairConfig, rng: np.random.Generator) -> np.ndarray:
    """(N, W, C) bool: per window one gap of ``min_gap..max_gap`` steps on 1..``max_channels`` channels, at least
    4 steps from either end (so that interpolation has both neighbours)."""
    n, w, c = shape
    hidden = np.zeros(shape, dtype=bool)
    for i in range(n):
        gap = int(rng.integers(cfg.min_gap, cfg.max_gap + 1))
        start = int(rng.integers(4, w - gap - 4 + 1))
        chans = rng.choice(c, size=int(rng.integers(1, cfg.max_channels + 1)), replace=False)
        hidden[i, start : start + gap, chans] = True
    return hidden


def interpolate_gaps(y_hidden: np.ndarray, hidden: np.ndarray) -> np.ndarray:
    """Linear interpolation across hidden values, per window and channel (the classical baseline)."""
    out = y_hidden.copy()
    t = np.arange(y_hidden.shape[1])
    for i, ch in zip(*np.nonzero(hidden.any(1)), strict=True):
        seen = ~hidden[i, :, ch]
        out[i, ~seen, ch] = np.interp(t[~seen], t[seen], y_hidden[i, seen, ch])
    return out


def repair_report(pred: np.ndarray, data: TaskData) -> dict:
    m, y = data.test.mask, data.test.y
    c = y.shape[-1]
    base = interpolate_gaps(data.test.x[..., :c], m)
    return {
        "rmse": float(np.sqrt(((pred - y)[m] ** 2).mean())),
        "r2": r2(y[m], pred[m]),
        "interpolation_rmse": float(np.sqrt(((base - y)[m] ** 2).mean())),
        "interpolation_r2": r2(y[m], base[m]),
    }
