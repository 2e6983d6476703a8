"""Your own batch records: a folder of ``.csv`` / ``.parquet`` files (one batch each) or one table with a batch-id
column, read into checked batches on an even time grid.

Every check names the file, the column and the data row (1-based, header not counted) where it makes sense, as one
``InputError`` line. A batch that fails a check raises ``BadBatch`` (an ``InputError``); ``read_batches`` with
``skip_invalid`` reports it and goes on with the rest.

Missing cells (empty, ``NA``, ``NaN``) stay ``NaN`` here: the task masks them, it never fills them.
Time: numbers or time stamps, strictly increasing within a batch. Uneven sampling is refused unless a ``grid`` step
is given; then each grid point takes the sample nearest to it within half a step, or stays missing.
"""

from __future__ import annotations

import re
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from heedful.errors import InputError
from heedful.process.numbers import INFINITE, MISSING, NUMBER, out_of_range, refusal

SUFFIXES = (".csv", ".parquet")
GRID_POINTS = 100_000  # most grid points per batch, or 10 per row if more: finer grids are nearly all missing


class BadBatch(InputError):
    """One batch fails a check; the others may still be used (``skip_invalid``)."""


@dataclass
class TableSchema:
    """Which columns mean what (the ``table`` task's config, as the reader needs it)."""

    path: str
    time_column: str | None
    batch_column: str | None
    inputs: tuple[str, ...]
    target_column: str
    target_numeric: bool  # values (a number) or labels (a class: any text or number)
    split_column: str | None
    grid: float
    frame: object = None  # a pandas DataFrame to read instead of ``path`` (which then only names it in errors)


@dataclass
class TableBatch:
    """One batch on an even grid: ``values`` (T, inputs) float with NaN where missing; ``target`` (T,) float (NaN
    missing) or object labels (None missing); ``split`` the split column's value (or None)."""

    name: str
    values: np.ndarray
    target: np.ndarray
    split: str | None


def table_files(path: str | Path) -> list[Path]:
    """The batch files of a folder, or the one table file; refuses an empty folder and other file types."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    if path.is_file():
        _check_suffix(path)
        return [path]
    files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))
    if not files:
        raise InputError(f"{path}: empty folder; expected .csv or .parquet files, one batch each")
    for f in files:
        _check_suffix(f)
    return files


def _check_suffix(path: Path) -> None:
    if path.suffix.lower() not in SUFFIXES:
        raise InputError(f"{path}: not a CSV or Parquet file (expected .csv or .parquet)")


def read_frame(path: Path):
    import pandas as pd

    try:
        if path.suffix.lower() == ".parquet":
            frame = pd.read_parquet(path)
            _check_names(path, [str(c) for c in frame.columns])
            return frame
        _check_names(path, _csv_header(path))  # pandas renames a repeated name to "temp.1", an empty one "Unnamed: 2"
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    except (ValueError, OSError, UnicodeDecodeError) as err:
        raise BadBatch(f"{path}: cannot be read as {path.suffix.lower()[1:]}: {str(err).splitlines()[0]}") from None


def _given_frame(path: Path, frame):
    """A DataFrame given in place of a file, checked like a file's header (column names as text)."""
    frame = frame.copy()
    frame.columns = [str(c) for c in frame.columns]
    _check_names(path, list(frame.columns))
    return frame


def _csv_header(path: Path) -> list[str]:
    import csv

    with path.open(newline="", encoding="utf-8-sig", errors="replace") as f:
        try:
            return next(csv.reader(f), [])
        except csv.Error as err:
            raise BadBatch(f"{path}: not a CSV file ({err})") from None


def _check_names(path: Path, names: list[str]) -> None:
    """Every column has a name of its own: two columns named temp would make "temp" mean either of them."""
    empty = [i for i, name in enumerate(names) if not name.strip()]
    if empty:
        raise BadBatch(f"{path}: column {empty[0] + 1} of the header has no name; name every column")
    repeated = sorted(name for name, n in Counter(names).items() if n > 1)  # linear: a header may have 10⁵ cells
    if repeated:
        raise BadBatch(f"{path}: the header names {repeated} more than once; each column needs its own name")


def read_batches(schema: TableSchema, skip_invalid: bool = False, report=print) -> list[TableBatch]:
    """Every valid batch; with ``skip_invalid`` a bad batch is reported (one line) and left out."""
    batches: list[TableBatch] = []
    given = schema.frame is not None
    for path in [Path(schema.path)] if given else table_files(schema.path):
        try:
            frame = _given_frame(path, schema.frame) if given else read_frame(path)
            if not schema.inputs:  # every column that has no other role
                roles = {schema.time_column, schema.batch_column, schema.target_column, schema.split_column}
                schema.inputs = tuple(str(c) for c in frame.columns if c not in roles)
            _check_columns(frame, schema, path)
            groups = _groups(frame, schema, path)
        except BadBatch as err:
            if not skip_invalid:
                raise
            report(f"skipped: {err}")
            continue
        for name, part in groups:
            try:
                batches.append(_batch(part, schema, path, name))
            except BadBatch as err:
                if not skip_invalid:
                    raise
                report(f"skipped: {err}")
    if not batches:
        raise InputError(f"{schema.path}: no valid batch left")
    return batches


def _check_columns(frame, schema: TableSchema, path: Path) -> None:
    named = [schema.time_column, schema.batch_column, schema.target_column, schema.split_column, *schema.inputs]
    for col in named:
        if col is not None and col not in frame.columns:
            shown = ", ".join(map(str, frame.columns))
            raise BadBatch(f"{path}: column {col!r} named by the schema is not there (columns: {shown})")


def _groups(frame, schema: TableSchema, path: Path):
    """(batch name, its rows with their data-row numbers in the file) per batch."""
    frame = frame.reset_index(drop=True)
    frame.index = frame.index + 1  # data rows, 1-based
    if schema.batch_column is None:
        return [(path.stem, frame)]
    ids = frame[schema.batch_column].astype(str).str.strip()
    if (ids == "").any():
        row = int(ids.index[ids == ""][0])
        raise BadBatch(f"{path}: column {schema.batch_column!r} row {row}: empty batch id")
    return [(f"{path.stem}:{key}", part) for key, part in frame.groupby(ids, sort=False)]


def numeric(column, path: Path, name: str, where: str) -> np.ndarray:
    """A column as float, missing cells NaN (``heedful.process.numbers``' grammar); a cell that is neither a number
    nor missing, or is not finite within float32's range (``inf``, ``1e308``), is refused by row: such a cell
    made NaN weights that trained to the end with exit 0."""
    import pandas as pd

    if pd.api.types.is_numeric_dtype(column):
        values = column.to_numpy(np.float64)
    else:
        text = column.astype(str).str.strip()
        missing, infinite = text.str.lower().isin(MISSING), text.str.lower().isin(INFINITE)
        bad = ~(missing | infinite | text.str.fullmatch(NUMBER))
        if bad.any():
            row = int(bad.index[bad.to_numpy()][0])
            raise BadBatch(f"{where}: column {name!r} row {row}: {text[row][:20]!r} is not a number (mixed types)")
        values = pd.to_numeric(text.where(~missing & ~infinite)).to_numpy(np.float64, copy=True)
        values[infinite.to_numpy()] = np.where(text[infinite].str.startswith("-"), -np.inf, np.inf)
    bad = out_of_range(values)
    if bad.any():
        row = int(column.index[bad][0])
        raise BadBatch(
            f"{where}: column {name!r} row {row}: {refusal(values[bad][0])}; empty the cell to mark it missing"
        )
    return values


def _labels(column) -> np.ndarray:
    text = column.astype(str).str.strip()
    missing = text.str.lower().isin(MISSING)
    # 1, 1.0 and "1" are the same class
    as_num = np.array([_tidy(v) for v in text], dtype=object)
    as_num[missing.to_numpy()] = None
    return as_num


def _tidy(v: str) -> str:
    if not re.fullmatch(NUMBER, v, re.ASCII):
        return v
    f = float(v)
    return str(int(f)) if f.is_integer() else str(f)


def _times(part, schema: TableSchema, where: str) -> np.ndarray | None:
    import pandas as pd

    if schema.time_column is None:
        return None
    col = part[schema.time_column]
    try:
        t = numeric(col, Path(where), schema.time_column, where)
    except BadBatch:  # not numbers: time stamps
        try:
            with warnings.catch_warnings():  # "could not infer format": each stamp is parsed alone, as wanted
                warnings.simplefilter("ignore", UserWarning)
                stamps = pd.to_datetime(col.astype(str).str.strip(), errors="coerce")
        except ValueError as err:  # pandas refuses offsets that differ ("Mixed timezones detected")
            reason = "time stamps in more than one time zone" if "zone" in str(err) else str(err).splitlines()[0]
            raise BadBatch(
                f"{where}: column {schema.time_column!r}: {reason}; give every stamp in one zone (or all in UTC)"
            ) from None
        if stamps.isna().any():
            row = int(col.index[stamps.isna().to_numpy()][0])
            raise BadBatch(
                f"{where}: column {schema.time_column!r} row {row}: {col[row]!r} is neither a number nor a time stamp"
            ) from None
        t = (stamps - stamps.iloc[0]).dt.total_seconds().to_numpy(np.float64)
    if np.isnan(t).any():
        row = int(col.index[np.isnan(t)][0])
        raise BadBatch(f"{where}: column {schema.time_column!r} row {row}: missing time stamp")
    rows = col.index.to_numpy()
    step = np.diff(t)
    if (step == 0).any():
        i = int(np.argmax(step == 0))
        raise BadBatch(f"{where}: column {schema.time_column!r} row {rows[i + 1]}: duplicate time stamp {t[i]:g}")
    if (step < 0).any():
        i = int(np.argmax(step < 0))
        raise BadBatch(
            f"{where}: column {schema.time_column!r} row {rows[i + 1]}: time goes backwards "
            f"({t[i + 1]:g} after {t[i]:g}); sort the rows by time"
        )
    return t


def _batch(part, schema: TableSchema, path: Path, name: str) -> TableBatch:
    where = str(path) if schema.batch_column is None else f"{path} batch {name.split(':', 1)[1]}"
    if len(part) == 0:
        raise BadBatch(f"{where}: no rows")
    values = np.stack([numeric(part[c], path, c, where) for c in schema.inputs], axis=1)
    col = part[schema.target_column]
    target = numeric(col, path, schema.target_column, where) if schema.target_numeric else _labels(col)
    split = None
    if schema.split_column is not None:
        found = sorted(set(part[schema.split_column].astype(str).str.strip()))
        if len(found) != 1 or found[0] not in ("train", "val", "test"):
            raise BadBatch(
                f"{where}: column {schema.split_column!r} must hold one of train / val / test for the whole batch, "
                f"found {found}"
            )
        split = found[0]
    t = _times(part, schema, where)
    if t is not None and len(t) > 1:
        values, target = _on_grid(t, values, target, schema, where)
    return TableBatch(name, values, target, split)


def _on_grid(t: np.ndarray, values: np.ndarray, target: np.ndarray, schema: TableSchema, where: str):
    step = np.diff(t)
    if schema.grid <= 0:
        if np.allclose(step, step[0], rtol=1e-6, atol=0):
            return values, target
        raise BadBatch(
            f"{where}: column {schema.time_column!r}: uneven sampling (steps from {step.min():g} to {step.max():g}); "
            "give a grid step (--grid, or grid in the schema) to resample onto, or resample it yourself"
        )
    points = np.floor((t[-1] - t[0]) / schema.grid + 1e-9) + 1
    limit = max(10 * len(t), GRID_POINTS)
    if not points <= limit:  # checked before allocating: grid 1e-12 once asked for 276 TiB
        raise BadBatch(
            f"{where}: grid step {schema.grid:g} makes {points:.3g} points of {len(t)} rows (limit {limit:,}); "
            "give a coarser grid"
        )
    grid = t[0] + schema.grid * np.arange(int(points))
    right = np.clip(np.searchsorted(t, grid), 0, len(t) - 1)
    left = np.clip(right - 1, 0, len(t) - 1)
    nearest = np.where(np.abs(t[left] - grid) <= np.abs(t[right] - grid), left, right)
    near = np.abs(t[nearest] - grid) <= schema.grid / 2 + 1e-9
    out = values[nearest]
    out[~near] = np.nan  # no sample close enough: missing, and masked later
    tgt = target[nearest].copy()
    tgt[~near] = np.nan if schema.target_numeric else None
    return out, tgt
