"""What every task shares: the data containers (``Split``, ``TaskData``) and the ``Task`` interface."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from heedful.errors import InputError
from heedful.process.windows import Scaler

KINDS = ("classification", "sequence_classification", "regression", "sequence_regression", "forecast")


@dataclass
class Split:
    """x (N, W, C) float32 scaled; y the targets; run (N,) which run (fault id or batch) each sample came
    from; end (N,) the sample's exclusive end index inside its run.

    y by task kind: ``classification`` (N,) class ids; ``sequence_classification`` (N, W) class ids per step;
    ``regression`` (N, D); ``sequence_regression`` (N, W, D); ``forecast`` (N, H, D), all scaled.
    ``lengths`` (N,): valid steps of variable-length samples (padded after them; None: all W valid).
    ``mask``: like y, True where a target counts in the loss and the metric (None: all valid).
    ``censored`` (N,) for regression: y is a lower bound (the event had not happened by then).
    ``value`` (N,): the continuous quantity behind a class label (e.g. final penicillin), for baselines that
    regress it and then apply the class thresholds."""

    x: np.ndarray
    y: np.ndarray
    run: np.ndarray
    end: np.ndarray
    lengths: np.ndarray | None = None
    mask: np.ndarray | None = None
    censored: np.ndarray | None = None
    value: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.x)


@dataclass
class TaskData:
    name: str
    kind: str  # one of KINDS
    train: Split
    val: Split
    test: Split
    class_names: list[str]
    feature_names: list[str]
    scaler: Scaler
    params: dict = field(default_factory=dict)
    target_names: list[str] = field(default_factory=list)  # regression outputs, in y's last axis
    target_scaler: Scaler | None = None  # y = (value - mean) / scale, fitted on train
    alarm_val: Split | None = None  # the validation windows a two-stage alarm is set on (None: ``val``'s)
    trained_alarm: object = None  # a trained run's two-stage alarm (``alarm.RunAlarm``), which ``predict`` applies

    def __post_init__(self):
        if self.kind not in KINDS:
            raise InputError(f"unknown task kind {self.kind!r}; expected one of {KINDS}")

    @property
    def n_features(self) -> int:
        return self.train.x.shape[-1]

    @property
    def n_classes(self) -> int:
        return len(self.class_names)

    @property
    def horizon(self) -> int | None:
        return self.train.y.shape[1] if self.kind == "forecast" else None

    @property
    def task(self) -> Task:
        """The ``Task`` that built this data (from the registry)."""
        from heedful.process.tasks import get_task

        return get_task(self.name)


class Task:
    """One process task: it owns its config, builds its data, scores predictions, names its headline metrics and
    default comparison models, prepares raw sensor values for ``predict`` and says what ``explain`` can show.
    Nothing outside a task checks a task's name: callers ask the task (``get_task(name)`` or ``data.task``)."""

    name: ClassVar[str]
    default_models: ClassVar[tuple[str, ...]]
    # the comparison table's metric columns: (header, key in the test metrics, format: pct, mean_pct, r2 or num)
    headlines: ClassVar[tuple[tuple[str, str, str], ...]] = (("accuracy", "accuracy", "pct"),)
    serves_seq2seq: ClassVar[bool] = False  # seq2seq / seq2seq_attn decode its targets step by step
    detects_faults: ClassVar[bool] = False  # classes are 'normal' plus faults: pca_t2 applies
    nan_marks_target: ClassVar[bool] = False  # predict: NaN cells are the values to restore, not bad input
    explains: ClassVar[str] = ""  # what `heedful process explain` draws for this task ("": nothing yet)
    alarms: ClassVar[bool] = False  # a two-stage alarm (detector, then classifier) is scored: ``two_stage``

    @property
    def config_cls(self) -> type:
        from heedful.process.config import TASK_CONFIGS

        return TASK_CONFIGS[self.name]

    def config(self, **params):
        """The task's validated config; unknown parameter names are refused."""
        known = {f.name for f in dataclasses.fields(self.config_cls)}
        unknown = sorted(set(params) - known)
        if unknown:
            raise InputError(f"task {self.name}: unknown parameters {unknown}; known: {', '.join(sorted(known))}")
        return self.config_cls(**params)

    def models_for(self, params: dict) -> tuple[str, ...]:
        """The comparison's models for a run with these task parameters (some parameters change what serves)."""
        return self.default_models

    def build(self, cfg) -> TaskData:
        raise NotImplementedError

    def evaluate(self, data: TaskData, pred: np.ndarray) -> dict:
        """Test metrics of predictions on ``data.test`` (class ids, or scaled values)."""
        raise NotImplementedError

    def table_columns(self, params: dict) -> tuple[tuple[str, str, str], ...]:
        """The comparison table's metric columns for a run with these task parameters."""
        return self.headlines

    def summary(self, test: dict, params: dict) -> list[str]:
        """Lines that ``heedful process train`` prints about the test metrics."""
        return ["test: " + ", ".join(f"{k} {v:.4g}" for k, v in test.items() if isinstance(v, float))]

    # --- predict: raw sensor values of one batch / run ---

    def input_names(self, data: TaskData) -> list[str]:
        """The raw variables a ``predict`` CSV holds, in order."""
        return data.feature_names

    def min_steps(self, data: TaskData) -> int:
        return 2 * int(data.params.get("every", 1))

    def scale(self, data: TaskData, raw: np.ndarray) -> np.ndarray:
        """Raw values (..., variables) -> model inputs, exactly as the task scaled its samples."""
        return data.scaler.transform(raw)

    def model_input(self, data: TaskData, values: np.ndarray) -> np.ndarray:
        """Raw values (T, variables) -> the one scaled model input (T', features), as the task built its samples."""
        from heedful.process.tasks.pen_data import downsample

        return self.scale(data, downsample(values, int(data.params.get("every", 1))))

    def predict(self, data: TaskData, model, values: np.ndarray) -> dict:
        """Predictions of a trained model on raw values (T, variables), already checked finite."""
        from heedful.process.apply import predict_one

        return predict_one(data, model, self.model_input(data, values), int(data.params.get("every", 1)))

    # --- baselines and explanations ---

    def two_stage(self, data: TaskData, val_proba: np.ndarray, test_proba: np.ndarray) -> dict:
        """Test metrics of the two-stage alarm, from the classifier's class probabilities (N, classes) on
        ``data.val`` and ``data.test`` (tasks with ``alarms`` only)."""
        raise NotImplementedError

    def detection_report(self, data: TaskData, alarm: np.ndarray) -> dict:
        """Test metrics of a detector's alarms (N,) on ``data.test`` (``pca_t2``): detection rate per fault (the
        fault id read from the class name) and the false-alarm rate on normal windows."""
        is_normal = data.test.y == data.class_names.index("normal")
        rates = {}
        for cls, name in enumerate(data.class_names):
            rows = (data.test.y == cls) & ~is_normal
            if rows.any():
                rates[int(name.split()[-1])] = float(alarm[rows].mean())
        return {"detection_rate": rates, "false_alarm_rate": float(alarm[is_normal].mean())}

    def fit_classical(self, name: str, data: TaskData, seed: int = 0) -> tuple[np.ndarray, int]:
        from heedful.process.baselines import fit_classical

        return fit_classical(name, data, seed)

    def explain_file(self, fault: int | None, sample: int) -> str:
        """The picture's default file name in the run folder."""
        return f"explain_fault{fault}.png" if fault is not None else f"explain_sample{sample}.png"

    def explain(self, data: TaskData, model, config: dict, out_png, fault: int | None, sample: int) -> dict:
        from heedful.process.tasks import registry

        shown = "; ".join(f"{t.name}: {t.explains}" for t in registry().values() if t.explains)
        raise InputError(f"nothing to explain for {config['model']} on {self.name}; explain draws {shown}")


class WholeBatchExplained(Task):
    """A task whose models read whole batches and pool them to one prediction: ``explain`` draws the pooling
    attention of every test batch over its own steps (``heedful.process.explain.explain_batches``)."""

    explains = "attention pooling (*_attn models) over the hours of every test batch, one row per batch"

    def explain_file(self, fault: int | None, sample: int) -> str:
        return "explain_batches.png"

    def explain(self, data: TaskData, model, config: dict, out_png, fault: int | None, sample: int) -> dict:
        from heedful.process.explain import explain_batches

        return explain_batches(data, model, config, out_png, self.explain_rows, self.step_hours(data))

    def explain_rows(self, data: TaskData, pred: np.ndarray) -> tuple[np.ndarray, list[str]]:
        """Test predictions -> (the true target, to sort the rows by; one label per test batch)."""
        raise NotImplementedError

    def step_hours(self, data: TaskData) -> float:
        raise NotImplementedError
