"""The ``Task`` interface: one object per task name that builds its data, scores predictions, prepares raw values
for a trained model and says what ``explain`` shows. Tasks sit above the engine (``apply``, ``baselines``,
``explain``, ``models``), which never sees a task; the entry points (``heedful.process.runner``) sit above them.

Methods that apply a trained model take a ``DataSpec`` (what a run folder stores); those that score or explain the
test split take the ``TaskData``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar

import numpy as np

from heedful.errors import InputError
from heedful.process.apply import predict_one, predict_windows
from heedful.process.baselines import fit_classical
from heedful.process.config import TASK_CONFIGS
from heedful.process.data import KINDS, DataSpec, Split, TaskData
from heedful.process.explain import explain_batches, needs_attention, windows_picture
from heedful.process.models import build_model, seq2seq_refusal
from heedful.process.windows import downsample, sliding_windows, window_ends


class Unexplained(InputError):
    """``explain`` has nothing to draw for this task and model (the entry point adds what it can draw)."""


@dataclass
class Trained:
    """A trained run as a task's ``explain`` sees it: what its data is (``spec``), the model (best weights, eval
    mode), its ``config.json``, and its task data, rebuilt from the training data on first use (``data``)."""

    spec: DataSpec
    model: object
    config: dict
    rebuild: Callable[[], TaskData]

    @cached_property
    def data(self) -> TaskData:
        return self.rebuild()


class Task:
    """One process task: it owns its config, builds its data, scores predictions, names its headline metrics and
    default comparison models, prepares raw sensor values for ``predict`` and says what ``explain`` can show.
    Nothing outside a task checks a task's name: callers ask the task (``get_task(name)``)."""

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
        return TASK_CONFIGS[self.name]

    def config(self, **params):
        """The task's validated config; unknown parameter names are refused."""
        known = {f.name for f in dataclasses.fields(self.config_cls)}
        unknown = sorted(set(params) - known)
        if unknown:
            raise InputError(f"task {self.name}: unknown parameters {unknown}; known: {', '.join(sorted(known))}")
        return self.config_cls(**params)

    def saved_config(self, params: dict):
        """The config of a run's saved ``task_params`` (values already resolved when the run was written)."""
        return self.config(**params)

    def models_for(self, params: dict) -> tuple[str, ...]:
        """The comparison's models for a run with these task parameters (some parameters change what serves)."""
        return self.default_models

    def build(self, cfg) -> TaskData:
        raise NotImplementedError

    def run_files(self, cfg) -> dict[str, str]:
        """Files a run folder keeps a copy of (name in the run -> source), beside its data description."""
        return {}

    def build_model(self, name: str, spec: DataSpec, cfg=None):
        """The neural model ``name`` for this task's data (``heedful.process.models.build_model``)."""
        if name.startswith("seq2seq") and not self.serves_seq2seq:
            raise InputError(seq2seq_refusal(name, spec))
        return build_model(name, spec, cfg)

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

    def input_names(self, spec: DataSpec) -> list[str]:
        """The raw variables a ``predict`` CSV holds, in order."""
        return spec.feature_names

    def min_steps(self, spec: DataSpec) -> int:
        return 2 * int(spec.params.get("every", 1))

    def window_length(self, spec: DataSpec) -> int | None:
        """The exact steps of one model input, for models trained on fixed windows; None: any length (the service
        cuts a CSV into windows of this length)."""
        return None

    def scale(self, spec: DataSpec, raw: np.ndarray) -> np.ndarray:
        """Raw values (..., variables) -> model inputs, exactly as the task scaled its samples."""
        return spec.scaler.transform(raw)

    def model_input(self, spec: DataSpec, values: np.ndarray) -> np.ndarray:
        """Raw values (T, variables) -> the one scaled model input (T', features), as the task built its samples."""
        return self.scale(spec, downsample(values, int(spec.params.get("every", 1))))

    def predict(self, spec: DataSpec, model, values: np.ndarray) -> dict:
        """Predictions of a trained model on raw values (T, variables), already checked finite."""
        return predict_one(spec, model, self.model_input(spec, values), int(spec.params.get("every", 1)))

    def model_inputs(self, spec: DataSpec, values: np.ndarray) -> np.ndarray:
        """The scaled model inputs (N, T', features) that ``predict`` gives the model for raw values (T, variables):
        here the one sample; one per window for window tasks (``window_inputs``)."""
        return self.model_input(spec, values)[None]

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
        return fit_classical(name, data, seed)

    def explain_file(self, fault: int | None, sample: int) -> str:
        """The picture's default file name in the run folder."""
        return f"explain_fault{fault}.png" if fault is not None else f"explain_sample{sample}.png"

    def explain(self, run: Trained, out_png, fault: int | None, sample: int) -> dict:
        raise Unexplained(f"nothing to explain for {run.config['model']} on {self.name}")

    def explain_values(self, run: Trained, values: np.ndarray, out_png, where: str) -> dict:
        """The attention of a window classifier slid along new raw values (T, variables) of one batch."""
        spec = run.spec
        if not int(spec.params.get("window") or 0) or spec.kind != "classification":
            raise InputError(
                f"explain --csv draws the attention of window classifiers (tep_faults, tep_sim_faults, pen_faults, "
                f"table with --window); a {self.name} run ({spec.kind}) explains its test split: leave out --csv"
            )
        needs_attention(run.config)
        title = f"{run.config['model']} on {where}: attention of each window"
        return windows_picture(
            spec, run.model, values, out_png, scale=lambda raw: self.scale(spec, raw), title=title, xlabel="time step"
        )


def window_inputs(task: Task, spec: DataSpec, values: np.ndarray) -> np.ndarray:
    """The task's scaled windows of ``window`` steps ending at every step of raw ``values`` (T, variables)."""
    window = int(spec.params["window"])
    return task.scale(spec, sliding_windows(values, window_ends(len(values), window, 1), window))


class WindowClassifier:
    """Prediction of a window classifier on raw values: a class per window of ``window`` steps ending at every step
    (``apply.predict_windows``), through the task's own ``scale``."""

    def min_steps(self, spec: DataSpec) -> int:
        return int(spec.params["window"])

    def window_length(self, spec: DataSpec) -> int | None:
        return int(spec.params["window"])

    def predict(self, spec: DataSpec, model, values: np.ndarray) -> dict:
        return predict_windows(spec, model, values, int(spec.params["window"]), lambda raw: self.scale(spec, raw))

    def model_inputs(self, spec: DataSpec, values: np.ndarray) -> np.ndarray:
        return window_inputs(self, spec, values)


class WholeBatchExplained(Task):
    """A task whose models read whole batches and pool them to one prediction: ``explain`` draws the pooling
    attention of every test batch over its own steps (``heedful.process.explain.explain_batches``)."""

    explains = "attention pooling (*_attn models) over the hours of every test batch, one row per batch"

    def explain_file(self, fault: int | None, sample: int) -> str:
        return "explain_batches.png"

    def explain(self, run: Trained, out_png, fault: int | None, sample: int) -> dict:
        needs_attention(run.config)
        return explain_batches(run.data, run.model, run.config, out_png, self.explain_rows, self.step_hours(run.spec))

    def explain_rows(self, data: TaskData, pred: np.ndarray) -> tuple[np.ndarray, list[str]]:
        """Test predictions -> (the true target, to sort the rows by; one label per test batch)."""
        raise NotImplementedError

    def step_hours(self, spec: DataSpec) -> float:
        raise NotImplementedError


__all__ = [
    "KINDS",
    "DataSpec",
    "Split",
    "Task",
    "TaskData",
    "Trained",
    "Unexplained",
    "WholeBatchExplained",
    "window_inputs",
]
