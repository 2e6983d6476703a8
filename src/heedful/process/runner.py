"""Run-level operations behind ``heedful process``: train into a run folder, reload it, resume it.

A run folder holds ``config.json`` (command, task, model, the full task / model / training configs), ``scaler.json``,
``checkpoint/`` (``heedful.checkpoint``'s layout), ``history.json`` and ``metrics.json``. Every file is written
atomically; every file read back is checked and a damaged one is an ``InputError`` naming it.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch

from heedful.checkpoint import BEST, build_fitting
from heedful.errors import InputError
from heedful.process.config import ModelConfig, TrainConfig
from heedful.process.models import build_model
from heedful.process.tasks import TaskData, get_task
from heedful.process.train import CLASSIFYING, fit, load_weights, predict, probabilities
from heedful.runs import hold_run, new_run_dir, read_json, write_json

log = logging.getLogger(__name__)

# settings that do not change what is trained: a resumed run may give other values
NOT_IDENTITY = {"cache", "workers"}


def evaluate(data: TaskData, pred: np.ndarray) -> dict:
    return data.task.evaluate(data, pred)


def test_metrics(data: TaskData, model: torch.nn.Module) -> dict:
    """The task's test metrics of ``model``, with ``"two_stage"`` for tasks that score a two-stage alarm
    (``Task.alarms``). There the test windows go through the model once: the class is the most probable one."""
    if not data.task.alarms:
        pred, _ = predict(model, data.test.x, lengths=data.test.lengths, kind=data.kind)
        return evaluate(data, pred)
    val_proba, test_proba = probabilities(model, data.val.x), probabilities(model, data.test.x)
    return {**evaluate(data, test_proba.argmax(1)), "two_stage": data.task.two_stage(data, val_proba, test_proba)}


def val_key(data: TaskData) -> str:
    return "val_accuracy" if data.kind in CLASSIFYING else "val_score"


def run_config(command: str, task: str, task_params: dict, model_params: dict, cfg: TrainConfig, **extra) -> dict:
    """The ``config.json`` of a process run; ``read_run_config`` reads it back."""
    return {
        "command": command,
        "task": task,
        **extra,
        "task_params": task_params,
        "model_params": model_params,
        "train": asdict(cfg),
    }


def read_run_config(run_dir: str | Path, needs: tuple[str, ...] = ("model",)) -> dict:
    """A run's ``config.json``, checked: a task the registry knows, parameter sections that are objects, and the
    keys in ``needs``. The sections are validated by building their configs (``run_configs``)."""
    path = Path(run_dir) / "config.json"
    if not path.exists():
        raise FileNotFoundError(f"not a run folder: {run_dir} (config.json missing)")
    config = read_json(path)
    if not isinstance(config, dict):
        raise InputError(f"{path}: expected a JSON object, got {type(config).__name__}")
    for key in ("task", *needs):
        value = config.get(key)
        names = isinstance(value, list) and all(isinstance(m, str) for m in value)
        ok = names if key == "models" else isinstance(value, str)
        if not ok:
            raise InputError(f"{path}: no {key!r} entry; not a run written by `heedful process`")
    for key in ("task_params", "model_params", "train"):
        if not isinstance(config.get(key), dict):
            raise InputError(f"{path}: {key!r} must be a JSON object")
    return config


def run_configs(run_dir: str | Path, config: dict):
    """(task config, ModelConfig, TrainConfig) of a run's config.json; a bad value is an error naming the file."""
    path = Path(run_dir) / "config.json"
    try:
        task = get_task(config["task"])
        return (
            task.config(**config["task_params"]),
            ModelConfig(**config["model_params"]),
            TrainConfig(**config["train"]),
        )
    except (InputError, TypeError) as err:
        raise InputError(f"{path}: {' '.join(str(err).split())}") from None


def check_resume(run_dir: Path, saved: dict, configs: tuple, given: dict) -> None:
    """Refuse a value given alongside ``--resume`` that disagrees with the run (its config.json wins). ``given``:
    ``task`` / ``model`` names and ``task_params`` / ``model_params`` / ``train`` dicts of the values given."""
    for key in ("task", "model"):
        if given.get(key) is not None and given[key] != saved.get(key):
            raise InputError(f"--{key} {given[key]} disagrees with the run in {run_dir} ({saved[key]}); {_HOW}")
    for section, cfg in zip(("task_params", "model_params", "train"), configs, strict=True):
        values = {k: v for k, v in (given.get(section) or {}).items() if k not in NOT_IDENTITY}
        if not values:
            continue
        before = asdict(cfg)
        after = asdict(type(cfg)(**{**before, **values}))
        for key in values:
            if after[key] != before[key]:
                raise InputError(
                    f"--{key.replace('_', '-')} {_show(after[key])} disagrees with the run in {run_dir} "
                    f"({_show(before[key])}); {_HOW}"
                )


_HOW = "resume without that flag, or start a new run"


def _show(v) -> str:
    return ",".join(map(str, v)) if isinstance(v, tuple | list) else str(v)


@dataclass
class RunPlan:
    """What a run trains: from the arguments (new run) or from its config.json (resume)."""

    task: str
    task_cfg: object
    model_cfg: ModelConfig
    train_cfg: TrainConfig
    saved: dict | None  # the resumed run's config.json


def plan_run(
    task: str | None,
    task_params: dict | None,
    model_params: dict | ModelConfig | None,
    cfg: TrainConfig | dict | None,
    resume: str | Path | None,
    needs: tuple[str, ...] = (),
) -> RunPlan:
    """New run: the validated configs. Resume: the run's configs, after checking that every value given agrees
    with them (``task_params`` may still change ``cache`` / ``workers``). With ``resume``, ``model_params`` and
    ``cfg`` hold only the values given (a ``TrainConfig`` counts where it differs from the defaults)."""
    if resume is None:
        if task is None:
            raise InputError("give a task (or resume a run)")
        model_cfg = model_params if isinstance(model_params, ModelConfig) else ModelConfig(**(model_params or {}))
        train_cfg = cfg if isinstance(cfg, TrainConfig) else TrainConfig(**(cfg or {}))
        return RunPlan(task, get_task(task).config(**(task_params or {})), model_cfg, train_cfg, None)
    run_dir = Path(resume)
    saved = read_run_config(run_dir, needs)
    configs = run_configs(run_dir, saved)
    given = {"task": task, "task_params": task_params, "model_params": _values(model_params), "train": _values(cfg)}
    check_resume(run_dir, saved, configs, given)
    task_cfg, model_cfg, train_cfg = configs
    place = {k: v for k, v in (task_params or {}).items() if k in NOT_IDENTITY}
    task_cfg = get_task(saved["task"]).config(**{**asdict(task_cfg), **place})
    return RunPlan(saved["task"], task_cfg, model_cfg, train_cfg, saved)


def _values(cfg) -> dict:
    """The values given: a dict as is; a config where it differs from its class's defaults."""
    if cfg is None or isinstance(cfg, dict):
        return cfg or {}
    default = type(cfg)()
    return {f.name: getattr(cfg, f.name) for f in fields(cfg) if getattr(cfg, f.name) != getattr(default, f.name)}


def train_run(
    task: str | None,
    model_name: str | None,
    task_params: dict | None = None,
    model_params: dict | ModelConfig | None = None,
    cfg: TrainConfig | dict | None = None,
    out_root: str | Path = "runs",
    resume: str | Path | None = None,
    progress: bool = True,
    on_epoch=None,
) -> Path:
    """Train ``model_name`` on ``task``; write config, checkpoints, scaler and test metrics to a run folder.
    With ``resume``, continue the run in that folder from its last complete epoch: its config.json holds the task,
    model and settings; anything given here must agree with it (``plan_run``). ``on_epoch``: see ``fit``."""
    plan = plan_run(task, task_params, model_params, cfg, resume, needs=("model",))
    if plan.saved is not None:
        if model_name is not None and model_name != plan.saved["model"]:
            raise InputError(f"--model {model_name} disagrees with the run in {resume} ({plan.saved['model']}); {_HOW}")
        model_name = plan.saved["model"]
    elif model_name is None:
        raise InputError("train: give a model (or resume a run)")
    data = get_task(plan.task).build(plan.task_cfg)
    torch.manual_seed(plan.train_cfg.seed)  # before the model exists: its initialisation is part of the run
    best = Path(resume) / "checkpoint" / BEST if resume is not None else None
    if best is not None and best.is_file():  # a resumed run's config is checked against its weights first
        model = build_fitting(lambda: build_model(model_name, data, plan.model_cfg), best, Path(resume) / "config.json")
    else:
        model = build_model(model_name, data, plan.model_cfg)
    run_dir = Path(resume) if resume is not None else new_run_dir(out_root, f"process-{plan.task}-{model_name}")
    with hold_run(run_dir, announce=progress):  # one writer at a time, a concurrent --resume too
        if resume is None:
            config = run_config(
                "process train",
                plan.task,
                asdict(plan.task_cfg),
                asdict(plan.model_cfg),
                plan.train_cfg,
                model=model_name,
                data=data.params,
            )
            write_json(run_dir / "config.json", config)
            data.scaler.save(run_dir / "scaler.json")
        log.info("training %s on %s into %s", model_name, plan.task, run_dir)
        result = fit(model, data.train, data.val, plan.train_cfg, run_dir / "checkpoint", progress, data.kind, on_epoch)
        metrics = {
            "model": model_name,
            "task": plan.task,
            "parameters": sum(p.numel() for p in model.parameters()),
            "train_seconds": round(result.seconds, 2),
            "best_epoch": result.best_epoch,
            val_key(data): result.best_val,
            "test": test_metrics(data, model),
        }
        write_json(run_dir / "metrics.json", metrics)
        write_json(run_dir / "history.json", result.history)
    return run_dir


def run_inputs(run_dir: str | Path) -> list[Path]:
    """The files that ``predict`` and ``explain`` read: the run's config, scaler and checkpoint, and the training
    data a ``path`` task parameter names (the data is rebuilt from it). No output may be written over one."""
    run_dir = Path(run_dir)
    found = [run_dir / "config.json", run_dir / "scaler.json"]
    if (run_dir / "checkpoint").is_dir():
        found += [p for p in (run_dir / "checkpoint").rglob("*") if p.is_file()]
    try:
        data = read_json(run_dir / "config.json").get("task_params", {}).get("path")
        if isinstance(data, str) and data:
            source = Path(data)
            found += [p for p in source.iterdir() if p.is_file()] if source.is_dir() else [source]
    except (OSError, InputError, AttributeError):  # not a run, or data gone: load_trained says so
        pass
    return found


def load_trained(run_dir: str | Path) -> tuple[TaskData, torch.nn.Module, dict]:
    """A trained run's task data, model (best weights, eval mode) and config.json."""
    run_dir = Path(run_dir)
    config = read_run_config(run_dir)
    task_cfg, model_cfg, _ = run_configs(run_dir, config)
    data = get_task(config["task"]).build(task_cfg)
    weights = run_dir / "checkpoint" / BEST
    if not weights.exists():
        raise FileNotFoundError(f"no trained weights in {weights.parent} (best.safetensors missing)")
    model = build_fitting(lambda: build_model(config["model"], data, model_cfg), weights, run_dir / "config.json")
    load_weights(model, weights)
    return data, model.eval(), config
