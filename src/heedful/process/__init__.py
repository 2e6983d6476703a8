"""Process track: offline process-data sources, task dataset builders, training, comparison, explanations.

The public API, imported lazily (``import heedful.process`` loads neither numpy nor torch; each name loads its
module on first use)::

    from heedful.process import TrainConfig, ModelConfig, build_task, build_model, fit, predict, evaluate

(``compare_models`` is ``heedful.process.compare.compare``: the module of that name would shadow it.)

See docs/process.md for an example.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    # configs (numpy- and torch-free)
    "TrainConfig": "heedful.process.config",
    "ModelConfig": "heedful.process.config",
    "TEPFaultsConfig": "heedful.process.config",
    "PenDataConfig": "heedful.process.config",
    "PenQualityConfig": "heedful.process.config",
    "PenPhaseConfig": "heedful.process.config",
    "PenFaultsConfig": "heedful.process.config",
    "PenEndtimeConfig": "heedful.process.config",
    "PenForecastConfig": "heedful.process.config",
    "PenSoftsensorConfig": "heedful.process.config",
    "PenRepairConfig": "heedful.process.config",
    "GenerationConfig": "heedful.process.config",
    "TASKS": "heedful.process.names",
    "NEURAL_MODELS": "heedful.process.names",
    "CLASSICAL_MODELS": "heedful.process.names",
    # tasks and data
    "Task": "heedful.process.tasks",
    "TaskData": "heedful.process.data",
    "DataSpec": "heedful.process.data",
    "Split": "heedful.process.data",
    "get_task": "heedful.process.tasks",
    "build_task": "heedful.process.tasks",
    "task_config": "heedful.process.tasks",
    "evaluate": "heedful.process.tasks",
    # models, training, runs
    "build_model": "heedful.process.models",
    "fit": "heedful.process.train",
    "predict": "heedful.process.train",
    "TrainResult": "heedful.process.train",
    "train_run": "heedful.process.runner",
    "load_trained": "heedful.process.runner",
    "load_with_data": "heedful.process.runner",
    "compare_models": ("heedful.process.compare", "compare"),
    "explain_run": "heedful.process.runner",
    "predict_csv": "heedful.process.runner",
    "SequenceClassifier": "heedful.process.estimators",
    "SequenceRegressor": "heedful.process.estimators",
    "read_values": "heedful.process.apply",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'heedful.process' has no attribute {name!r}")
    module, attr = _EXPORTS[name] if isinstance(_EXPORTS[name], tuple) else (_EXPORTS[name], name)
    value = getattr(importlib.import_module(module), attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
