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

from dataclasses import asdict

import numpy as np

from heedful.errors import InputError
from heedful.process.apply import predict_batch
from heedful.process.config import (
    PEN_STEP_HOURS,
    PenEndtimeConfig,
    PenForecastConfig,
    PenRepairConfig,
    PenSoftsensorConfig,
)
from heedful.process.data import DataSpec, Split, TaskData
from heedful.process.explain import explain_seq2seq
from heedful.process.metrics import forecast_report, r2, unscaled
from heedful.process.sources import indpensim as ip
from heedful.process.tasks.base import Task, Trained, Unexplained, WholeBatchExplained
from heedful.process.tasks.pen_data import (
    SOURCE,
    channel_index,
    fit_scaler,
    load_batches,
    pad,
    split_indices,
    valid_mask,
)
from heedful.process.windows import Scaler, downsample, sliding_windows, window_ends

ONLINE = list(ip.ONLINE)
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
    hours = unscaled(data, pred)[:, 0]
    truth = unscaled(data, split.y)[:, 0]
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
    return float(unscaled(data, tr.y)[~tr.censored, 0].mean())


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
    y, p = unscaled(data, data.test.y)[m], unscaled(data, pred)[m]
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


class PenEndtime(WholeBatchExplained):
    name = "pen_endtime"
    default_models = ("gru", "bigru", "bigru_attn", "ridge", "pls")
    headlines = (("MAE h (reached)", "mae_hours", "num"), ("censored called late enough", "censored_beyond_end", "pct"))

    def build(self, cfg: PenEndtimeConfig) -> TaskData:
        return build_pen_endtime(cfg)

    def evaluate(self, data: TaskData, pred: np.ndarray) -> dict:
        return endtime_report(pred, data)

    def min_steps(self, spec: DataSpec) -> int:
        return round(spec.params["observe_hours"] / ip.STEP_HOURS)

    def model_input(self, spec: DataSpec, values: np.ndarray) -> np.ndarray:
        return self.scale(spec, downsample(values[: self.min_steps(spec)], int(spec.params["every"])))

    def step_hours(self, spec: DataSpec) -> float:
        return PEN_STEP_HOURS * int(spec.params["every"])

    def explain_rows(self, data: TaskData, pred: np.ndarray) -> tuple[np.ndarray, list[str]]:
        """Rows by the true hour of reaching the threshold: 'hour -> predicted hour' ('>end' when never reached)."""
        truth, guess = unscaled(data, data.test.y)[:, 0], unscaled(data, pred)[:, 0]
        rows = zip(truth, guess, data.test.censored, strict=True)
        return truth, [f"{'>' if c else ''}{t:.0f} h -> {g:.0f} h" for t, g, c in rows]


class _Seq2SeqExplained(Task):
    serves_seq2seq = True
    explains = "the decoder's attention of seq2seq_attn models over one test sample (--sample S)"

    def explain(self, run: Trained, out_png, fault: int | None, sample: int) -> dict:
        if run.config["model"] != "seq2seq_attn":
            raise Unexplained(f"nothing to explain for {run.config['model']} on {self.name}")
        data = run.data
        return explain_seq2seq(data, run.model, run.config, sample, out_png, self.shaded(data, run.config, sample))

    def shaded(self, data: TaskData, config: dict, sample: int):
        """Spans of input steps to shade in the picture, or None."""
        return None


class PenForecast(_Seq2SeqExplained):
    name = "pen_forecast"
    default_models = (
        "lstm",
        "bilstm",
        "gru",
        "bigru",
        "bilstm_attn",
        "seq2seq",
        "seq2seq_attn",
        "persistence",
        "ridge",
    )
    headlines = (("R²", "r2", "r2"), ("persistence R²", "persistence_r2", "r2"))

    def build(self, cfg: PenForecastConfig) -> TaskData:
        return build_pen_forecast(cfg)

    def evaluate(self, data: TaskData, pred: np.ndarray) -> dict:
        return forecast_report(pred, data)

    def min_steps(self, spec: DataSpec) -> int:
        return int(spec.params["history"])

    def window_length(self, spec: DataSpec) -> int | None:
        return int(spec.params["history"])

    def model_input(self, spec: DataSpec, values: np.ndarray) -> np.ndarray:
        return self.scale(spec, values[-self.min_steps(spec) :])


class PenSoftsensor(_Seq2SeqExplained):
    name = "pen_softsensor"
    default_models = ("lstm", "bilstm", "gru", "bigru", "seq2seq_attn", "ridge", "pls")
    headlines = (("R²", "r2", "r2"), ("RMSE g/L", "rmse_g_per_l", "num"))

    def build(self, cfg: PenSoftsensorConfig) -> TaskData:
        return build_pen_softsensor(cfg)

    def evaluate(self, data: TaskData, pred: np.ndarray) -> dict:
        return softsensor_report(pred, data)

    def shaded(self, data: TaskData, config: dict, sample: int):
        """The discharge phases of the test batch."""
        test = data.test
        length = int(test.lengths[sample]) if test.lengths is not None else test.x.shape[1]
        batch = load_batches(self.config(**config["task_params"]), progress=False)[int(test.run[sample])]
        phase = downsample(batch.phase, int(data.params["every"]))[:length]
        spans, start = [], 0
        for t in range(1, length + 1):
            if t == length or phase[t] != phase[start]:
                if phase[start] == 2:
                    spans.append((start, t, ip.PHASES[2]))
                start = t
        return spans or None


class PenRepair(Task):
    name = "pen_repair"
    default_models = ("lstm", "bilstm", "gru", "bigru", "interpolate")
    headlines = (
        ("RMSE (std units)", "rmse", "r2"),
        ("R²", "r2", "r2"),
        ("interpolation RMSE", "interpolation_rmse", "r2"),
    )
    nan_marks_target = True

    def build(self, cfg: PenRepairConfig) -> TaskData:
        return build_pen_repair(cfg)

    def evaluate(self, data: TaskData, pred: np.ndarray) -> dict:
        return repair_report(pred, data)

    def input_names(self, spec: DataSpec) -> list[str]:
        return spec.target_names

    def predict(self, spec: DataSpec, model, values: np.ndarray) -> dict:
        """NaN cells are the values to restore."""
        hidden = np.isnan(values)
        x = np.concatenate([np.where(hidden, 0.0, self.scale(spec, np.nan_to_num(values))), hidden], axis=-1)
        pred = predict_batch(spec, model, x.astype(np.float32))
        restored = np.where(hidden, spec.scaler.inverse_transform(pred), values)
        return {"filled_values": int(hidden.sum()), "values": restored.tolist()}

    def fit_classical(self, name: str, data: TaskData, seed: int = 0) -> tuple[np.ndarray, int]:
        if name != "interpolate":
            raise InputError(f"{name} does not serve {self.name}; its classical baseline is interpolate")
        c = data.test.y.shape[-1]
        return interpolate_gaps(data.test.x[..., :c], data.test.x[..., c:] > 0.5), 0
