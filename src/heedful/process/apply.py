"""Apply a trained model to one batch / run of sensor values from a CSV file (``heedful process predict``; the
entry point that reads a run and its task is ``heedful.process.runner.predict_csv``).

The file holds one row per time step and one column per input variable: either with a header row, whose names are
matched **by name** (any order; extra columns are ignored; a missing one is refused by name), or without one, in
the order the model was trained on (the task's ``input_names``). Values are read as float32, the precision the model
computes in, and checked after that cast. Everything that can be wrong with such a file is a one-line
``InputError``: unknown or missing columns, a wrong number of variables, non-numeric cells (named by row and
column), NaN or infinite values (named by channel and rows; ``impute="ffill"`` fills them explicitly instead),
values beyond float32's range, an empty or too-short batch. Rows are counted from 0, the header not included.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np

from heedful.errors import InputError
from heedful.process.answers import first_alarm
from heedful.process.data import DataSpec
from heedful.process.numbers import INFINITE, NUMBER, is_missing, out_of_range, parse_number, refusal
from heedful.process.sources.indpensim import check_finite
from heedful.process.train import predict, probabilities
from heedful.process.windows import sliding_windows, window_ends
from heedful.runs import require_file

IMPUTE = ("ffill",)


def read_values(path: str | Path, names: list[str]) -> np.ndarray:
    """(T, len(names)) float32 values from a CSV file, with a header row (matched by name) or without one."""
    path = require_file(path, "CSV file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text") from None
    values = parse_values(text, names, str(path))
    with np.errstate(over="ignore"):
        single = values.astype(np.float32)
    overflow = np.isfinite(values) & ~np.isfinite(single)
    if overflow.any():
        r, c = (int(i[0]) for i in np.nonzero(overflow))
        raise InputError(f"{path}: row {r}, column {names[c]!r}: {values[r, c]:g} is beyond float32's range (±3.4e38)")
    return single


def check_raw(values: np.ndarray, names, where: str) -> None:
    """Raw values a model may be given (``predict`` and the service): finite and within float32, the precision the
    model computes in; the first one that is not is named by row (from 0) and column. NaN is missing, checked by
    the caller's own rule."""
    bad = out_of_range(np.asarray(values, np.float64))
    if bad.any():
        r, c = (int(i[0]) for i in np.nonzero(bad))
        raise InputError(f"{where}: row {r}, column {names[c]!r}: {refusal(values[r, c])}")


def check_scaled(x: np.ndarray) -> None:
    """Scaled model inputs are finite: a value far outside the training range can overflow float32 in scaling."""
    if not np.isfinite(x).all():
        raise InputError("input values overflow after scaling: they are far outside the training range")


def parse_values(text: str, names: list[str], where: str) -> np.ndarray:
    """(T, len(names)) float64 values from CSV text (the one CSV reader: files here, request bodies in
    ``heedful.serve``), header row matched by name or none; empty / NaN-like cells are NaN. ``where`` names the
    source in the one-line ``InputError`` that anything else raises.

    A file of numbers only goes through ``pandas.read_csv`` (ten times faster on thousands of rows); anything else
    (a missing or odd cell, a ragged row) through the stdlib ``csv`` reader and a check of every cell, which names
    the row and column at fault. Both give Python's ``float`` of each cell (docs/benchmarks.md)."""
    text = text.removeprefix("\ufeff")  # a byte-order mark, as files are read (utf-8-sig): not part of a name
    if "\0" in text:
        raise InputError(f"{where}: not a CSV file (NUL bytes)")
    fast = _numbers_only(text, names)
    return fast if fast is not None else _checked_values(text, names, where)


def _checked_values(text: str, names: list[str], where: str) -> np.ndarray:
    rows = _read_cells(text, where)
    width = len(rows[0]) if rows else len(names)
    ragged = next((r for r, row in enumerate(rows) if len(row) != width), None)
    if ragged is not None:
        raise InputError(f"{where}: line {ragged + 1} has {len(rows[ragged])} cells, the first line {width}")
    if rows and all(_is_name(c) for c in rows[0]):
        header, rows = [c.strip() for c in rows[0]], rows[1:]
        columns = _columns_by_name(where, header, names)
    else:
        if width != len(names):
            raise InputError(
                f"{where}: {width} variables per row, but the model was trained on {len(names)} "
                f"({', '.join(names[:4])}, ...); or give a header row naming them"
            )
        columns = list(range(len(names)))
    if not rows:
        raise InputError(f"{where}: empty batch (no rows)")
    values = np.empty((len(rows), len(names)), np.float64)
    for r, row in enumerate(rows):
        for j, c in enumerate(columns):
            values[r, j] = _number(row[c], where, r, names[j])
    return values


_ODD_BREAKS = ("\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029")  # str.splitlines breaks there


def _numbers_only(text: str, names: list[str]) -> np.ndarray | None:
    """The values of a CSV whose every cell is a number, read by pandas; None for anything else."""
    import csv
    import io

    import pandas as pd

    if any(c in text for c in _ODD_BREAKS) or text.count("\r") != text.count("\r\n"):
        return None  # line breaks on which pandas and the checking reader could disagree: leave them to the latter
    pos = skipped = 0
    head = None
    while pos < len(text):  # the first row with a cell: a header or the first values
        end = text.find("\n", pos)
        end = len(text) if end < 0 else end
        try:
            row = next(csv.reader([text[pos:end].rstrip("\r")]), [])
        except csv.Error:
            return None
        if any(c.strip() for c in row):
            head = row
            break
        pos, skipped = end + 1, skipped + 1
    if head is None:
        return None
    header = all(_is_name(c) for c in head)
    try:
        columns = _columns_by_name("", [c.strip() for c in head], names) if header else list(range(len(names)))
        frame = pd.read_csv(io.StringIO(text), header=None, skiprows=skipped + int(header), keep_default_na=False)
    except (InputError, ValueError, csv.Error, pd.errors.EmptyDataError):
        return None
    if frame.shape[1] != len(head) or len(frame) == 0 or any(t.kind not in "if" for t in frame.dtypes):
        return None
    values = frame.to_numpy(np.float64)
    if np.isnan(values).any() or len(head) < len(names) or (not header and len(head) != len(names)):
        return None
    if out_of_range(values).any():  # inf or beyond float32: the checking reader's grammar names or keeps it
        return None
    return values[:, columns]


def _read_cells(text: str, where: str) -> list[list[str]]:
    import csv

    try:
        rows = [row for row in csv.reader(text.splitlines()) if row and any(c.strip() for c in row)]
    except csv.Error as err:
        raise InputError(f"{where}: not a CSV file ({err})") from None
    return rows


def _columns_by_name(where: str, header: list[str], names: list[str]) -> list[int]:
    repeated = sorted(h for h, n in Counter(header).items() if n > 1)  # linear: a header may have 10⁵ cells
    if repeated:
        raise InputError(f"{where}: header names {repeated} more than once")
    missing = [n for n in names if n not in header]
    if missing:
        unknown = [h for h in header if h not in names]
        extra = f"; unknown columns {unknown[:5]}" if unknown else ""
        raise InputError(f"{where}: header lacks the columns {missing[:8]} the model was trained on{extra}")
    return [header.index(n) for n in names]


def _number(cell: str, where: str, row: int, name: str) -> float:
    try:  # the training reader's grammar (heedful.process.numbers); inf is named or filled by clean()
        return parse_number(cell, infinite=True)
    except ValueError as err:
        raise InputError(f"{where}: row {row}, column {name!r}: {err}") from None


def _is_name(text: str) -> bool:
    text = text.strip()
    return not (is_missing(text) or text.lower() in INFINITE or re.fullmatch(NUMBER, text))


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
    return pd.DataFrame(values).ffill().bfill().to_numpy(np.float32)


def predict_batch(spec: DataSpec, model, x: np.ndarray, lengths=None) -> np.ndarray:
    """The model's prediction for scaled inputs ``x`` (N, T, F) or one sample (T, F); refuses inputs that left
    float32's range in scaling and non-finite outputs (never written to a file)."""
    single = x.ndim == 2
    x = np.asarray(x[None] if single else x, np.float32)
    check_scaled(x)
    pred, _ = predict(model, x, lengths=lengths, kind=spec.kind)
    if pred.dtype.kind == "f" and not np.isfinite(pred).all():
        raise InputError("the model's prediction is not finite: inputs far outside the training range?")
    return pred[0] if single else pred


def predict_proba(spec: DataSpec, model, x: np.ndarray) -> np.ndarray:
    """Class probabilities of a classifier for scaled full-length inputs ``x`` (N, T, F): (N, classes), or
    (N, T, classes) for per-step classes."""
    if "classification" not in spec.kind:
        raise InputError(f"a {spec.kind} model gives values, not class probabilities")
    x = np.asarray(x, np.float32)
    check_scaled(x)
    return probabilities(model, x)


def predict_one(spec: DataSpec, model, x: np.ndarray, every: int) -> dict:
    """One prediction for one whole (downsampled, scaled) batch ``x`` (T, F)."""
    pred = predict_batch(spec, model, x)
    if "classification" in spec.kind:
        out = [spec.class_names[int(c)] for c in np.atleast_1d(pred)]
        return {"prediction": out[0]} if spec.kind == "classification" else {"per_step": out, "every": every}
    real = spec.target_scaler.inverse_transform(pred)
    return {"targets": spec.target_names, "prediction": real.tolist()}


def predict_windows(spec: DataSpec, model, values: np.ndarray, window: int, scale) -> dict:
    """A class per window of ``window`` steps ending at every step of raw ``values`` (T, variables), and the first
    step raising an alarm (``first_alarm``); ``scale`` turns raw windows into model inputs (the task's scaling).
    With the run's calibrated alarm (``spec.alarm``, an ``alarm.RunAlarm``), also the two-stage alarm's classes and
    first alarm; its thresholds depend on the time in the run, counted from the first row of ``values``."""
    ends = window_ends(len(values), window, 1)
    x = scale(sliding_windows(values, ends, window))
    normal = spec.class_names.index("normal")
    alarm = getattr(spec, "alarm", None)  # a TaskData has none
    if alarm is None:
        pred = predict_batch(spec, model, x)
    else:
        proba = predict_proba(spec, model, x)
        pred, gated = proba.argmax(1), alarm.gated(proba, ends, normal)
    out = {"window_ends": ends.tolist(), "predictions": [spec.class_names[int(c)] for c in pred]}
    out["first_alarm"] = first_alarm(ends, out["predictions"])
    if alarm is not None:
        named = [spec.class_names[int(c)] for c in gated]
        out["two_stage"] = {"alarm_rate": alarm.rate, "first_alarm": first_alarm(ends, named)}
        out["two_stage"]["alarms"] = int((gated != normal).sum())
        out["two_stage_predictions"] = named
    return out
