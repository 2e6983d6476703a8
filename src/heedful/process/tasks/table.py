"""``table``: your own batch records (``heedful.process.sources.table``) as a task.

Targets (``target_kind``): ``step_class`` (a phase or fault label per step), ``step_value`` (a value per step: soft
sensor), ``batch_class`` (a grade per batch), ``batch_value`` (a number per batch; the batch's last non-missing
value of the target column) or ``forecast`` (the next ``horizon`` values of the target from the last ``window`` steps
of the inputs and of the target itself). With ``window = 0`` every sample is a whole batch, padded and masked by its
length (per-step targets: ``sequence_classification`` / ``sequence_regression``); with ``window = W`` samples are
windows of W steps, per-step targets taken at the window's last step (``classification`` / ``regression``, which the
``*_attn`` models serve, so ``explain`` can show the attention around stage changes).

Missing input values are masked, never filled: every input with a missing value anywhere gets a mask channel
(``"<name> observed"``, 1 where observed, 0 where missing) and the value itself is set to the training mean (0 after
scaling) where missing, so the model sees that it is missing. Missing targets are masked out of loss and metrics
(per-step) or drop their window. The scaler is fitted on the observed training values only.
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np

from heedful.errors import InputError
from heedful.process.apply import predict_batch, predict_one
from heedful.process.config import TableConfig
from heedful.process.data import DataSpec, Split, TaskData
from heedful.process.explain import changing_batches, needs_attention, stages_picture
from heedful.process.metrics import accuracy_report, forecast_report, r2
from heedful.process.sources.table import BadBatch, TableBatch, TableSchema, read_batches
from heedful.process.tasks.base import Task, Trained, window_inputs
from heedful.process.tasks.pen_data import pad, valid_mask
from heedful.process.windows import Scaler, sliding_windows, window_ends

KIND = {
    ("step_class", False): "sequence_classification",
    ("step_value", False): "sequence_regression",
    ("batch_class", False): "classification",
    ("batch_value", False): "regression",
    ("step_class", True): "classification",
    ("step_value", True): "regression",
    ("batch_class", True): "classification",
    ("batch_value", True): "regression",
    ("forecast", True): "forecast",
}


def schema_of(cfg: TableConfig) -> TableSchema:
    return TableSchema(
        path=cfg.path,
        time_column=cfg.time_column,
        batch_column=cfg.batch_column,
        inputs=cfg.input_list(),
        target_column=cfg.target_column,
        target_numeric=not cfg.target_kind.endswith("_class"),
        split_column=cfg.split_column,
        grid=cfg.grid,
        frame=cfg.frame,
    )


def load_table(cfg: TableConfig, report=print) -> tuple[list[TableBatch], tuple[str, ...]]:
    """The valid batches (long enough for the window, with a target) and the input column names."""
    schema = schema_of(cfg)
    batches = read_batches(schema, cfg.skip_invalid, report)
    kept = []
    for b in batches:
        try:
            _check_batch(b, cfg)
        except BadBatch as err:
            if not cfg.skip_invalid:
                raise
            report(f"skipped: {err}")
            continue
        kept.append(b)
    if len(kept) < 3:
        raise InputError(f"{cfg.path}: {len(kept)} valid batches; train / val / test by batch needs at least 3")
    return kept, schema.inputs


def _check_batch(b: TableBatch, cfg: TableConfig) -> None:
    need = max(cfg.window + cfg.horizon, 2)
    if len(b.values) < need:
        what = f"the window of {cfg.window}" if cfg.window else "2 steps"
        what += f" plus the horizon of {cfg.horizon}" if cfg.horizon else ""
        raise BadBatch(f"{b.name}: batch of {len(b.values)} steps is shorter than {what}")
    if not _present(b.target).any():
        raise BadBatch(f"{b.name}: column {cfg.target_column!r} has no value in this batch")


def _present(target: np.ndarray) -> np.ndarray:
    if target.dtype == object:
        return np.array([v is not None for v in target], dtype=bool)
    return ~np.isnan(target)


def split_batches(batches: list[TableBatch], cfg: TableConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = len(batches)
    if cfg.split_column is not None:
        parts = tuple(np.array([i for i, b in enumerate(batches) if b.split == s], np.int64) for s in SPLITS)
        empty = [s for s, p in zip(SPLITS, parts, strict=True) if not len(p)]
        if empty:
            raise InputError(f"{cfg.path}: column {cfg.split_column!r} names no batch for {', '.join(empty)}")
        return parts
    order = np.random.default_rng(cfg.split_seed).permutation(n)
    n_test, n_val = max(1, round(n * cfg.test_fraction)), max(1, round(n * cfg.val_fraction))
    return np.sort(order[n_test + n_val :]), np.sort(order[n_test : n_test + n_val]), np.sort(order[:n_test])


SPLITS = ("train", "val", "test")


def fit_table_scaler(values: list[np.ndarray], masked: list[int], names=()) -> Scaler:
    """Mean / scale of the observed training values; mask channels keep mean 0, scale 1."""
    flat = np.concatenate(values).astype(np.float64)
    empty = np.isnan(flat).all(0)
    if empty.any():  # checked first: nanmean would warn four times before this error
        j = int(np.argmax(empty))
        name = repr(names[j]) if j < len(names) else f"#{j}"
        raise InputError(f"input column {name} has no observed value in the training batches")
    mean, std = np.nanmean(flat, 0), np.nanstd(flat, 0)
    scale = np.where(std > 1e-8, std, 1.0)
    n = len(masked)
    return Scaler(
        np.concatenate([mean, np.zeros(n)]).astype(np.float32), np.concatenate([scale, np.ones(n)]).astype(np.float32)
    )


def features(raw: np.ndarray, masked: list[int], scaler: Scaler) -> np.ndarray:
    """Raw (..., inputs) with NaN -> scaled (..., inputs + mask channels), missing values 0 and flagged."""
    observed = ~np.isnan(raw)
    x = np.concatenate([raw, observed[..., masked].astype(raw.dtype)], axis=-1)
    x = scaler.transform(np.where(np.isnan(x), scaler.mean, x))
    return np.where(np.concatenate([observed, np.ones_like(observed[..., masked])], -1), x, 0.0).astype(np.float32)


def _class_ids(batches, classes: list[str]) -> list[np.ndarray]:
    index = {c: i for i, c in enumerate(classes)}
    return [np.array([index.get(v, -1) if v is not None else -1 for v in b.target], np.int64) for b in batches]


def build_table(cfg: TableConfig) -> TaskData:
    batches, inputs = load_table(cfg)
    kind = KIND[(cfg.target_kind, cfg.window > 0)]
    classify = cfg.target_kind.endswith("_class")
    forecast = cfg.target_kind == "forecast"
    if forecast:  # the target's own past is an input
        inputs = (*inputs, cfg.target_column)
    raw = [np.concatenate([b.values, b.target[:, None]], 1) if forecast else b.values for b in batches]
    parts = split_batches(batches, cfg)
    masked = [j for j in range(len(inputs)) if any(np.isnan(r[:, j]).any() for r in raw)]
    scaler = fit_table_scaler([raw[i] for i in parts[0]], masked, inputs)
    classes, t_scaler = [], None
    if classify:
        classes = sorted({v for b in batches for v in b.target if v is not None}, key=_class_order)
        train_classes = {v for i in parts[0] for v in batches[i].target if v is not None}
        if len(classes) < 2 or len(train_classes) < 2:
            only = sorted(train_classes)
            raise InputError(f"{cfg.path}: target column {cfg.target_column!r} has one class only ({only}) in training")
        targets = _class_ids(batches, classes)
    else:
        targets = [b.target.astype(np.float64) for b in batches]
        observed = np.concatenate([targets[i][~np.isnan(targets[i])] for i in parts[0]])
        k = len(inputs) - 1
        # forecast: targets in their input scaling (persistence and seq2seq read them from the inputs)
        t_scaler = Scaler(scaler.mean[[k]], scaler.scale[[k]]) if forecast else Scaler.fit(observed[:, None])
    splits = [_split(raw, targets, p, cfg, scaler, masked, t_scaler) for p in parts]
    names = list(inputs) + [f"{inputs[j]} observed" for j in masked]
    params = {"source": f"table {cfg.path}", **asdict(cfg), "input_columns": list(inputs), "masked_inputs": masked}
    params["batch_names"] = [b.name for b in batches]
    if classify:
        return TaskData("table", kind, *splits, classes, names, scaler, params)
    return TaskData("table", kind, *splits, [], names, scaler, params, [cfg.target_column], t_scaler)


def _class_order(v: str):
    try:
        return (0, float(v), v)
    except ValueError:
        return (1, 0.0, v)


def _last_present(y: np.ndarray, numeric: bool):
    ok = (y >= 0) if not numeric else ~np.isnan(y)
    return y[np.nonzero(ok)[0][-1]]


def _split(raw, targets, idx, cfg: TableConfig, scaler, masked, t_scaler) -> Split:
    """Samples of the batches ``idx``: ``raw`` their input values (T, inputs), ``targets`` class ids or values."""
    numeric = t_scaler is not None
    per_batch = cfg.target_kind.startswith("batch_")
    if cfg.target_kind == "forecast":
        return _forecast_split(raw, targets, idx, cfg, scaler, masked, t_scaler)
    if cfg.window == 0:
        x, lengths = pad([features(raw[i], masked, scaler) for i in idx])
        if per_batch:
            y = np.array([_last_present(targets[i], numeric) for i in idx])
            y = t_scaler.transform(y[:, None]) if numeric else y.astype(np.int64)
            return Split(x, y, np.asarray(idx), lengths, lengths=lengths)
        seq, _ = pad([targets[i] for i in idx], fill=np.nan if numeric else -1)
        mask = valid_mask(lengths, seq.shape[1]) & (~np.isnan(seq) if numeric else seq >= 0)
        y = t_scaler.transform(np.nan_to_num(seq)[..., None]) if numeric else np.where(mask, seq, 0)
        return Split(x, y, np.asarray(idx), lengths, lengths=lengths, mask=mask)
    xs, ys, rs, es = [], [], [], []
    for i in idx:
        values, tgt = raw[i], targets[i]
        ends = window_ends(len(values), cfg.window, cfg.stride)
        y = np.full(len(ends), _last_present(tgt, numeric)) if per_batch else tgt[ends - 1]
        keep = ~np.isnan(y) if numeric else y >= 0
        xs.append(features(sliding_windows(values, ends[keep], cfg.window), masked, scaler))
        ys.append(y[keep])
        rs.append(np.full(int(keep.sum()), i))
        es.append(ends[keep])
    y = np.concatenate(ys)
    y = t_scaler.transform(y[:, None]) if numeric else y.astype(np.int64)
    return Split(np.concatenate(xs), y, np.concatenate(rs), np.concatenate(es))


def _forecast_split(raw, targets, idx, cfg: TableConfig, scaler, masked, t_scaler) -> Split:
    """History windows of ``window`` steps and the next ``horizon`` target values; windows whose future has a
    missing target value are left out."""
    xs, ys, rs, es = [], [], [], []
    for i in idx:
        ends = window_ends(len(raw[i]), cfg.window + cfg.horizon, cfg.stride)
        y = sliding_windows(targets[i][:, None], ends, cfg.horizon)  # (n, H, 1)
        keep = np.isfinite(y).all(axis=(1, 2))
        xs.append(features(sliding_windows(raw[i], ends[keep] - cfg.horizon, cfg.window), masked, scaler))
        ys.append(t_scaler.transform(y[keep]))
        rs.append(np.full(int(keep.sum()), i))
        es.append(ends[keep] - cfg.horizon)
    return Split(np.concatenate(xs), np.concatenate(ys), np.concatenate(rs), np.concatenate(es))


def table_report(pred: np.ndarray, data: TaskData) -> dict:
    test = data.test
    if data.kind == "forecast":
        return forecast_report(pred, data)
    if "classification" in data.kind:
        return accuracy_report(pred, test, data.class_names)
    ts = data.target_scaler
    valid = test.mask if test.mask is not None else np.ones(test.y.shape, dtype=bool)
    real, gold = ts.inverse_transform(pred), ts.inverse_transform(test.y)
    return {"r2": r2(gold[valid], real[valid]), "mae": float(np.abs(gold - real)[valid].mean())}


class TableTask(Task):
    name = "table"
    default_models = ("gru", "bigru", "logistic")
    headlines = (("test accuracy", "accuracy", "pct"),)
    nan_marks_target = True  # predict: missing cells are masked, as in training (inf is still refused)
    explains = "attention (window > 0, *_attn models) around the target's changes in a test batch (--sample B)"

    def build(self, cfg: TableConfig) -> TaskData:
        return build_table(cfg)

    def saved_config(self, params: dict) -> TableConfig:
        """A run's config.json holds the values its schema gave: the schema file is not read again (it may be gone
        or elsewhere; a copy is in the run folder), its name stays on record."""
        cfg = self.config(**{**params, "schema": None})
        cfg.schema = params.get("schema")
        return cfg

    def run_files(self, cfg: TableConfig) -> dict[str, str]:
        return {"schema.toml": cfg.schema} if cfg.schema else {}

    def evaluate(self, data: TaskData, pred: np.ndarray) -> dict:
        return table_report(pred, data)

    def table_columns(self, params: dict) -> tuple[tuple[str, str, str], ...]:
        if params.get("target_kind") == "forecast":
            return (("R²", "r2", "r2"), ("persistence R²", "persistence_r2", "r2"))
        if params.get("target_kind", "step_class").endswith("_value"):
            return (("test R²", "r2", "r2"), ("test MAE", "mae", "num"))
        return self.headlines

    def input_names(self, spec: DataSpec) -> list[str]:
        return list(spec.params["input_columns"])

    def min_steps(self, spec: DataSpec) -> int:
        return max(int(spec.params["window"]), 2)  # forecast: the history

    def window_length(self, spec: DataSpec) -> int | None:
        return int(spec.params["window"]) or None  # 0: whole batches

    def scale(self, spec: DataSpec, raw: np.ndarray) -> np.ndarray:
        masked = list(spec.params["masked_inputs"])
        missing = np.isnan(raw).any(axis=tuple(range(raw.ndim - 1)))
        unmasked = [n for j, n in enumerate(self.input_names(spec)) if missing[j] and j not in masked]
        if unmasked:
            raise InputError(f"column {unmasked[0]!r} has missing values, and no training batch had any there")
        return features(raw, masked, spec.scaler)

    def model_input(self, spec: DataSpec, values: np.ndarray) -> np.ndarray:
        if spec.kind == "forecast":  # the last `window` steps
            return self.scale(spec, values[-int(spec.params["window"]) :])
        return self.scale(spec, values)

    def predict(self, spec: DataSpec, model, values: np.ndarray) -> dict:
        window = int(spec.params["window"])
        if not window or spec.kind == "forecast":
            return predict_one(spec, model, self.model_input(spec, values), 1)
        ends = window_ends(len(values), window, 1)
        pred = predict_batch(spec, model, self.scale(spec, sliding_windows(values, ends, window)))
        if "classification" in spec.kind:
            out = [spec.class_names[int(c)] for c in pred]
        else:
            out = spec.target_scaler.inverse_transform(pred[:, :1])[:, 0].tolist()
        return {"window_ends": ends.tolist(), "predictions": out}

    def model_inputs(self, spec: DataSpec, values: np.ndarray) -> np.ndarray:
        if not int(spec.params["window"]) or spec.kind == "forecast":
            return self.model_input(spec, values)[None]
        return window_inputs(self, spec, values)

    def explain(self, run: Trained, out_png, fault: int | None, sample: int) -> dict:
        """With windows and per-step classes: the attention of windows slid along test batch ``sample`` (in the
        order of the test batches whose label changes), every stage shaded."""
        spec = run.spec
        needs_attention(run.config)
        window = int(spec.params["window"])
        if not window or spec.kind != "classification" or not spec.params["target_kind"].startswith("step_"):
            raise InputError("explain: table needs a run with --window W > 0 and --target-kind step_class")
        try:
            test = np.unique(run.data.test.run)
            batches, _ = load_table(self.saved_config(run.config["task_params"]), report=lambda line: None)
        except (InputError, OSError) as err:
            raise InputError(
                f"explain shows a test batch of the training data, which cannot be read here ({err}); "
                "give --csv FILE to explain a batch of your own"
            ) from None
        changing = changing_batches([batches[int(i)].target for i in test], spec.class_names)
        if not 0 <= sample < len(changing):
            raise InputError(f"sample must lie in [0, {len(changing)}): the test batches whose label changes")
        position, labels = changing[sample]
        batch = batches[int(test[position])]
        title = f"{run.config['model']} on test batch {batch.name}: attention of each window; stages shaded"
        masked = list(spec.params["masked_inputs"])  # as in training: missing cells masked, never refused

        def scale(raw):
            return features(raw, masked, spec.scaler)

        picture = stages_picture(spec, run.model, batch.values, labels, out_png, scale=scale, title=title)
        return {"batch": batch.name, **picture}
