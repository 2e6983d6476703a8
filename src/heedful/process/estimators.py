"""Estimators in sklearn's manner over the code the CLI runs: ``SequenceClassifier`` and ``SequenceRegressor``.

``fit`` trains a run folder (``runner.train_run``, as ``heedful process train``), ``predict`` applies it to the raw
values of one batch (``runner.predict_values``, as ``heedful process predict``), ``predict_proba`` gives the class
probabilities of the same rows, ``explain`` draws a window classifier's attention over them (as ``explain --csv``),
and ``save`` / ``load`` copy and open the run folder, which holds everything prediction needs::

    clf = SequenceClassifier("bigru_attn", train_config=TrainConfig(epochs=5))
    clf.fit(frame, time_column="time", target_column="phase", batch_column="batch", window=6)  # task "table"
    clf.predict(new_batch)            # a DataFrame with the input columns, or an array (T, inputs)
    clf.save("models/phase")
    SequenceClassifier.load("models/phase").predict_proba(new_batch)
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import ClassVar

import numpy as np

from heedful.errors import InputError
from heedful.process.apply import _columns_by_name, predict_proba
from heedful.process.config import ModelConfig, TrainConfig
from heedful.process.data import DataSpec
from heedful.process.runner import checked_values, load_trained, predict_values, train_run
from heedful.process.tasks import Trained, get_task


class SequenceEstimator:
    """What both estimators share; ``kinds``: the task kinds an estimator of this class serves."""

    kinds: ClassVar[tuple[str, ...]] = ()

    def __init__(
        self,
        model: str = "bigru_attn",
        task: str = "table",
        model_config: ModelConfig | None = None,
        train_config: TrainConfig | None = None,
        out: str | Path | None = None,
        progress: bool = False,
    ):
        self.model, self.task = model, task
        self.model_config, self.train_config = model_config or ModelConfig(), train_config or TrainConfig()
        self.out, self.progress = out, progress
        self.run_dir_: Path | None = None

    def fit(self, data=None, **task_params) -> SequenceEstimator:
        """Train on ``data`` (the ``table`` task's ``path``: a DataFrame, a file or a folder; None for the built-in
        tasks) with the task's parameters; the run folder goes under ``out`` (default: a new temporary folder)."""
        params = task_params if data is None else {**task_params, "path": data}
        out = self.out if self.out is not None else tempfile.mkdtemp(prefix="heedful-")
        cfgs = (self.model_config, self.train_config)
        return self._open(train_run(self.task, self.model, params, *cfgs, out, progress=self.progress))

    @classmethod
    def load(cls, folder: str | Path) -> SequenceEstimator:
        """An estimator of a trained run folder (``fit``'s, ``save``'s or ``heedful process train``'s)."""
        est = cls.__new__(cls)
        return est._open(Path(folder))

    def save(self, folder: str | Path) -> Path:
        """Copy the run folder to ``folder`` (which must not exist yet), whole or not at all."""
        folder = Path(folder)
        if folder.exists():
            raise InputError(f"{folder}: already exists; save into a new folder")
        tmp = folder.with_name(f".{folder.name}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.copytree(self._fitted(), tmp)
        tmp.rename(folder)
        return folder

    def _open(self, run: Path) -> SequenceEstimator:
        spec, net, config = load_trained(run)
        if spec.kind not in self.kinds:
            other = "SequenceClassifier" if "classification" in spec.kind else "SequenceRegressor"
            raise InputError(f"{run}: a {spec.kind} run; open it with {other}")
        self.run_dir_, self.spec_, self.net_, self.config_ = Path(run), spec, net, config
        self.model, self.task = config["model"], config["task"]
        return self

    def _fitted(self) -> Path:
        if self.run_dir_ is None:
            raise InputError("not fitted yet: call fit(...) or load(folder) first")
        return self.run_dir_

    def _values(self, X) -> np.ndarray:
        """One batch's raw values (T, the task's inputs): a DataFrame's columns by name, or an array in order."""
        self._fitted()
        task, spec = get_task(self.spec_.name), self.spec_
        names = task.input_names(spec)
        if hasattr(X, "columns"):
            columns = _columns_by_name("X", [str(c) for c in X.columns], names)
            values = np.asarray(X.iloc[:, columns], np.float64)
        else:
            values = np.asarray(X, np.float64)
            if values.ndim != 2 or values.shape[1] != len(names):
                raise InputError(f"X: expected (steps, {len(names)}) values of {', '.join(names[:4])}, ...; got "
                                 f"{values.shape}")  # fmt: skip
        return checked_values(task, spec, values.astype(np.float32), "X")

    def predict(self, X) -> np.ndarray:
        """The predictions for one batch of raw values: one per window (window tasks), per step, or one."""
        values = self._values(X)
        out = predict_values(self.spec_, self.net_, values, "X")
        key = next(k for k in ("predictions", "per_step", "values", "prediction") if k in out)
        pred = np.asarray(out[key])
        return pred[None] if key == "prediction" and self.spec_.kind == "classification" else pred

    def explain(self, X, out_png: str | Path) -> dict:
        """A window classifier's attention over the batch's windows, drawn to ``out_png``; its summary."""
        values = self._values(X)
        run = Trained(self.spec_, self.net_, self.config_, lambda: None)
        return get_task(self.spec_.name).explain_values(run, values, out_png, "X")


class SequenceClassifier(SequenceEstimator):
    """A class per window, per step or per batch (``kind`` classification or sequence_classification)."""

    kinds = ("classification", "sequence_classification")

    @property
    def classes_(self) -> list[str]:
        self._fitted()
        return list(self.spec_.class_names)

    def predict_proba(self, X) -> np.ndarray:
        """Class probabilities (rows as ``predict``, ``classes_`` columns)."""
        values = self._values(X)
        spec: DataSpec = self.spec_
        probs = predict_proba(spec, self.net_, get_task(spec.name).model_inputs(spec, values))
        return probs[0] if spec.kind == "sequence_classification" else probs


class SequenceRegressor(SequenceEstimator):
    """Values per window, per step, per batch or over a horizon (regression, sequence_regression, forecast)."""

    kinds = ("regression", "sequence_regression", "forecast")
