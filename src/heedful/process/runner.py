"""Run-level operations behind ``heedful process``: train into a run folder, reload it, explain it."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from heedful.process.models import build_model
from heedful.process.tasks import TaskData, build_task
from heedful.process.tasks import evaluate as task_evaluate
from heedful.process.train import CLASSIFYING, TrainConfig, fit_classifier, load_weights, predict
from heedful.runs import new_run_dir, read_json, write_json


def evaluate(data: TaskData, pred: np.ndarray) -> dict:
    return task_evaluate(data, pred)


def val_key(data: TaskData) -> str:
    return "val_accuracy" if data.kind in CLASSIFYING else "val_score"


def run_config(command: str, task: str, task_params: dict, model_params: dict, cfg: TrainConfig, **extra) -> dict:
    """The ``config.json`` of a process run; ``load_run_config`` reads it back."""
    return {
        "command": command,
        "task": task,
        **extra,
        "task_params": task_params,
        "model_params": model_params,
        "train": asdict(cfg),
    }


def load_run_config(run_dir: Path) -> tuple[dict, TrainConfig]:
    if not (run_dir / "config.json").exists():
        raise FileNotFoundError(f"no run to resume in {run_dir} (config.json missing)")
    saved = read_json(run_dir / "config.json")
    return saved, TrainConfig(**saved["train"])


def train_run(
    task: str,
    model_name: str,
    task_params: dict,
    model_params: dict,
    cfg: TrainConfig,
    out_root: str | Path = "runs",
    resume: str | Path | None = None,
    progress: bool = True,
) -> Path:
    """Train ``model_name`` on ``task``; write config, checkpoints, scaler and test metrics to a run folder.
    With ``resume``, continue the run in that folder from its last complete epoch."""
    if resume is not None:
        run_dir = Path(resume)
        saved, cfg = load_run_config(run_dir)
        task, model_name = saved["task"], saved["model"]
        task_params, model_params = saved["task_params"], saved["model_params"]
    data = build_task(task, **task_params)
    model = build_model(model_name, data, **model_params)
    if resume is None:
        run_dir = new_run_dir(out_root, f"process-{task}-{model_name}")
        config = run_config("process train", task, task_params, model_params, cfg, model=model_name, data=data.params)
        write_json(run_dir / "config.json", config)
        data.scaler.save(run_dir / "scaler.json")
    result = fit_classifier(model, data.train, data.val, cfg, run_dir / "checkpoint", progress, data.kind)
    pred, _ = predict(model, data.test.x, lengths=data.test.lengths, kind=data.kind)
    metrics = {
        "model": model_name,
        "task": task,
        "parameters": sum(p.numel() for p in model.parameters()),
        "train_seconds": round(result.seconds, 2),
        "best_epoch": result.best_epoch,
        val_key(data): result.best_val,
        "test": evaluate(data, pred),
    }
    write_json(run_dir / "metrics.json", metrics)
    write_json(run_dir / "history.json", result.history)
    return run_dir


def load_trained(run_dir: str | Path) -> tuple[TaskData, torch.nn.Module, dict]:
    run_dir = Path(run_dir)
    config_path = run_dir / "config.json"
    if not config_path.exists():
        raise FileNotFoundError(f"not a run folder: {run_dir} (config.json missing)")
    config = read_json(config_path)
    data = build_task(config["task"], **config["task_params"])
    model = build_model(config["model"], data, **config["model_params"])
    weights = run_dir / "checkpoint" / "best.safetensors"
    if not weights.exists():
        raise FileNotFoundError(f"no trained weights in {weights.parent}")
    load_weights(model, weights)
    return data, model.eval(), config
