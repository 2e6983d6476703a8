"""Checks of request bodies against the service's limits and the loaded model, each failure a ``Problem`` naming
the field (and the limit); CSV text to windows."""

from __future__ import annotations

import numpy as np

from heedful.process.numbers import out_of_range
from heedful.serve.config import ServeConfig
from heedful.serve.schemas import ProcessRequest, RationaleRequest


class Problem(Exception):
    """A request the service refuses: HTTP ``status``, the offending ``field`` and the ``limit`` when one applies."""

    def __init__(self, status: int, message: str, field: str | None = None, limit: int | None = None):
        super().__init__(message)
        self.status, self.field, self.limit = status, field, limit


def problem_body(message: str, field: str | None = None, limit=None, **extra) -> dict:
    body = {"error": message, "field": field}
    if limit is not None:
        body["limit"] = limit
    return body | extra


def field_path(loc) -> str:
    parts = [p for p in loc if p != "body"]
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "body"


def check_window(window, pm, config: ServeConfig, where: str) -> np.ndarray:
    n, fixed = len(window), pm.window_length
    if fixed is not None and n != fixed:
        raise Problem(422, f"{where}: {n} steps, the model takes windows of exactly {fixed}", where, fixed)
    if n > config.max_window_length:
        limit = config.max_window_length
        raise Problem(422, f"{where}: {n} steps, over the limit of {limit}", where, limit)
    if n < 2:
        raise Problem(422, f"{where}: {n} steps, at least 2 are needed", where)
    v = len(pm.variables)
    for t, step in enumerate(window):
        if len(step) != v:
            names = ", ".join(pm.variables[:3])
            raise Problem(
                422,
                f"{where}[{t}]: {len(step)} variables, the model was trained on {v} ({names}, ...)",
                f"{where}[{t}]",
            )
    values = np.asarray(window, np.float64)
    _check_model_input(values, pm, where)
    return values


def _check_model_input(values: np.ndarray, pm, where: str) -> None:
    """The CLI's checks (``heedful.process.apply``): values within float32, still finite once scaled. JSON allows
    1e308, which scaled to inf and answered 200 with NaN, or 500."""
    from heedful.errors import InputError
    from heedful.process.apply import check_raw, check_scaled

    try:
        check_raw(values, pm.variables, where)
    except InputError as err:
        row, col = np.argwhere(out_of_range(values))[0]
        raise Problem(422, str(err), f"{where}[{row}][{col}]") from None
    try:
        check_scaled(pm.scaled(values))
    except InputError as err:
        raise Problem(422, f"{where}: {err}", where) from None


def csv_rows(text: str, pm, config: ServeConfig) -> np.ndarray:
    """The process track's CSV reader (``heedful.process.apply.parse_values``), its refusals as 422 problems; then
    the service's own limits: rows, and finite values only (no imputation here)."""
    from heedful.errors import InputError
    from heedful.process.apply import parse_values

    names = pm.variables
    try:
        values = parse_values(text, names, "csv")
    except InputError as err:
        raise Problem(422, str(err), "csv") from None
    if len(values) > config.max_window_length:
        limit = config.max_window_length
        raise Problem(422, f"csv: {len(values)} rows, over the limit of {limit}", "csv", limit)
    bad = ~np.isfinite(values)
    if bad.any():
        r, c = (int(i[0]) for i in np.nonzero(bad))
        raise Problem(422, f"csv: row {r}, column {names[c]!r}: not a finite number", "csv")
    return values


def windows_from_csv(req: ProcessRequest, pm, config: ServeConfig) -> tuple[list[np.ndarray], list[int]]:
    values = csv_rows(req.csv, pm, config)
    fixed = pm.window_length
    if fixed is None:
        return [check_window(values, pm, config, "csv")], [len(values)]
    if len(values) < fixed:
        raise Problem(422, f"csv: {len(values)} rows, the model takes windows of {fixed}", "csv", fixed)
    _check_model_input(values, pm, "csv")
    ends = list(range(fixed, len(values) + 1, req.stride))
    if len(ends) > config.max_windows:
        limit = config.max_windows
        raise Problem(422, f"csv: {len(ends)} windows, over the limit of {limit}: raise stride", "stride", limit)
    return [values[e - fixed : e] for e in ends], ends


def windows_from_request(req: ProcessRequest, pm, config: ServeConfig) -> tuple[list[np.ndarray], list[int] | None]:
    """The checked windows of a request, and the CSV row where each ends (None for windows sent as such)."""
    if (req.windows is None) == (req.csv is None):
        raise Problem(422, "give exactly one of windows and csv", "windows")
    if req.csv is not None:
        return windows_from_csv(req, pm, config)
    if not req.windows:
        raise Problem(422, "windows: empty list", "windows")
    if len(req.windows) > config.max_windows:
        limit = config.max_windows
        raise Problem(422, f"windows: {len(req.windows)}, over the limit of {limit}", "windows", limit)
    return [check_window(w, pm, config, f"windows[{i}]") for i, w in enumerate(req.windows)], None


def csv_summary(pm, ends: list[int], predictions: list[dict]) -> dict:
    """Where each window ends (exclusive row index) and, for fault tasks, where the first alarm is raised (as
    ``heedful process predict`` says it: ``heedful.process.answers``)."""
    from heedful.process.answers import first_alarm, raises_alarms

    out = {"window_ends": ends}
    if raises_alarms(pm.data):
        out["first_alarm"] = first_alarm(ends, [p["class"] for p in predictions])
    return out


def pick_process(models: dict, name: str | None):
    if not models:
        raise Problem(404, "no process model is loaded (start the service with --process RUN)", "model")
    if name is None:
        if len(models) > 1:
            raise Problem(422, f"several process models are loaded: name one of {sorted(models)}", "model")
        return next(iter(models.values()))
    if name not in models:
        raise Problem(422, f"unknown model {name!r}; loaded: {sorted(models)}", "model")
    return models[name]


def check_dialogues(req: RationaleRequest, config: ServeConfig) -> list[dict]:
    if not req.dialogues:
        raise Problem(422, "dialogues: empty list", "dialogues")
    if len(req.dialogues) > config.max_dialogues:
        limit = config.max_dialogues
        raise Problem(422, f"dialogues: {len(req.dialogues)}, over the limit of {limit}", "dialogues", limit)
    for i, d in enumerate(req.dialogues):
        where = f"dialogues[{i}].utterances"
        if len(d.utterances) > config.max_utterances:
            limit = config.max_utterances
            raise Problem(422, f"{where}: {len(d.utterances)}, over the limit of {limit}", where, limit)
        for j, u in enumerate(d.utterances):
            if len(u.text) > config.max_chars:
                limit = config.max_chars
                raise Problem(
                    422,
                    f"{where}[{j}].text: {len(u.text)} characters, over the limit of {limit}",
                    f"{where}[{j}].text",
                    limit,
                )
    return [d.model_dump(exclude_none=True, exclude={"utterances": {"__all__": {"visual"}}}) for d in req.dialogues]


def request_frames(req: RationaleRequest) -> tuple | None:
    """Per dialogue, its utterances' ``visual`` vectors as nested tuples (comparable, so requests batch by them), or
    None for a dialogue without; None when no dialogue has any. Some utterances with and some without: 422."""
    frames, any_given = [], False
    for i, d in enumerate(req.dialogues):
        given = [u.visual is not None for u in d.utterances]
        if any(given) and not all(given):
            j = given.index(False)
            where = f"dialogues[{i}].utterances[{j}].visual"
            raise Problem(422, f"{where}: missing (give visual on every utterance of a dialogue, or on none)", where)
        if not any(given):
            frames.append(None)
            continue
        dims = {len(u.visual) for u in d.utterances}
        if len(dims) != 1 or 0 in dims:
            where = f"dialogues[{i}].utterances"
            raise Problem(422, f"{where}: visual vectors of different lengths {sorted(dims)}", where)
        frames.append(tuple(tuple(u.visual) for u in d.utterances))
        any_given = True
    return tuple(frames) if any_given else None
