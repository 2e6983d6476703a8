"""``heedful process predict``: apply a trained run to one batch / run of sensor values from a CSV file.

The file holds one row per time step and one column per input variable, in the order the model was trained
on (``feature_names`` in the run's task; a header row with those names is also accepted in any order).
Everything that can be wrong with such a file is a one-line ``ValueError``: a wrong number of variables, NaN or
infinite values (named by channel and rows; ``impute="ffill"`` fills them explicitly instead), an empty or
too-short batch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from heedful.errors import InputError
from heedful.process.sources.indpensim import check_finite
from heedful.process.tasks.base import TaskData

IMPUTE = ("ffill",)


def read_values(path: str | Path, names: list[str]) -> np.ndarray:
    """(T, len(names)) float values from a CSV file, with or without a header row."""
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    try:
        frame = pd.read_csv(path, header=None)
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: empty batch (no rows)") from None
    first = frame.iloc[0].astype(str).tolist() if len(frame) else []
    if first and all(_is_name(v) for v in first):  # a header row
        frame = frame.iloc[1:]
        frame.columns = [str(c).strip() for c in first]
        if set(names) <= set(frame.columns):
            frame = frame[names]
    if frame.shape[1] != len(names):
        raise InputError(
            f"{path}: {frame.shape[1]} variables per row, but the model was trained on {len(names)} "
            f"({', '.join(names[:4])}, ...)"
        )
    if len(frame) == 0:
        raise InputError(f"{path}: empty batch (no rows)")
    try:
        return frame.apply(pd.to_numeric, errors="raise").to_numpy(np.float64)
    except (ValueError, TypeError) as err:
        raise InputError(f"{path}: non-numeric value ({err})") from None


def _is_name(text: str) -> bool:
    try:
        float(text)
        return False
    except ValueError:
        return text.strip().lower() not in ("nan", "inf", "-inf", "")


def clean(values: np.ndarray, names: list[str], where: str, impute: str | None) -> np.ndarray:
    """Refuse non-finite values (naming the channel and rows), or fill them forward when asked to."""
    if impute is None:
        try:
            check_finite(values, names, where)
        except ValueError as err:
            raise InputError(f"{err}; pass --impute ffill to fill them from the previous row") from None
        return values
    if impute not in IMPUTE:
        raise InputError(f"unknown imputation {impute!r}; expected one of {IMPUTE}")
    import pandas as pd

    values = np.where(np.isfinite(values), values, np.nan)
    empty = np.isnan(values).all(0)
    if empty.any():
        raise InputError(f"{where}: channel {names[int(np.argmax(empty))]!r} has no finite value to fill from")
    return pd.DataFrame(values).ffill().bfill().to_numpy()


def min_steps(data: TaskData) -> int:
    p = data.params
    if data.name in ("tep_faults", "pen_faults", "pen_repair"):
        return int(p["window"])
    if data.name == "pen_forecast":
        return int(p["history"])
    if data.name == "pen_endtime":
        return round(p["observe_hours"] / 0.2)
    return 2 * int(p.get("every", 1))


def predict_values(data: TaskData, model, values: np.ndarray, where: str) -> dict:
    """Predictions of a trained model on raw values (T, raw variables)."""
    from heedful.process.tasks.pen_data import downsample
    from heedful.process.train import predict
    from heedful.process.windows import sliding_windows, window_ends

    need = min_steps(data)
    if len(values) < need:
        raise InputError(f"{where}: batch too short: {len(values)} rows, {data.name} needs at least {need}")
    name, p = data.name, data.params
    if name == "pen_repair":
        hidden = np.isnan(values)
        x = np.concatenate([np.where(hidden, 0.0, data.scaler.transform(np.nan_to_num(values))), hidden], axis=-1)
        pred, _ = predict(model, x[None].astype(np.float32), kind=data.kind)
        restored = np.where(hidden, pred[0] * data.scaler.scale + data.scaler.mean, values)
        return {"filled_values": int(hidden.sum()), "values": restored.tolist()}
    if name in ("tep_faults", "pen_faults"):
        ends = window_ends(len(values), need, 1)
        pred, _ = predict(model, data.scaler.transform(sliding_windows(values, ends, need)), kind=data.kind)
        labels = [data.class_names[int(c)] for c in pred]
        first = next((int(e) for e, c in zip(ends, pred, strict=True) if c != 0), None)
        return {"window_ends": ends.tolist(), "predictions": labels, "first_alarm_step": first}
    every = int(p.get("every", 1))
    if name == "pen_forecast":
        x = data.scaler.transform(values[-need:])
    elif name == "pen_endtime":
        x = data.scaler.transform(downsample(values[:need], every))
    else:
        x = data.scaler.transform(downsample(values, every))
    pred, _ = predict(model, x[None], kind=data.kind)
    if "classification" in data.kind:
        classes = np.atleast_1d(pred[0])
        out = [data.class_names[int(c)] for c in classes]
        return {"prediction": out[0]} if data.kind == "classification" else {"per_step": out, "every": every}
    ts = data.target_scaler
    real = pred[0] * ts.scale + ts.mean
    return {"targets": data.target_names, "prediction": real.tolist()}
