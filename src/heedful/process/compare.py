"""``heedful process compare``: several models on one task, one table, one picture.

Every model's result is written to ``RUN/models/NAME/metrics.json`` as soon as it finishes (neural models
also checkpoint every epoch), so an interrupted comparison resumes where it stopped.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from heedful import tracking
from heedful.devices import resolve_device, single_process
from heedful.errors import InputError
from heedful.process.baselines import PCADetector
from heedful.process.config import ModelConfig
from heedful.process.names import CLASSICAL_MODELS as CLASSICAL
from heedful.process.names import NEURAL_MODELS
from heedful.process.runner import plan_run, run_config, save_description, test_metrics
from heedful.process.tasks import Task, TaskData, get_task
from heedful.process.train import CLASSIFYING, TrainConfig, fit
from heedful.runs import atomic_write, hold_run, new_run_dir, read_json, write_json


def check_models(models: list[str]) -> None:
    if not models:
        raise InputError("no models to compare: give model names like gru,bigru_attn (or none for the task's set)")
    repeated = sorted({m for m in models if models.count(m) > 1})
    if repeated:
        raise InputError(f"models {repeated} named more than once")
    for name in models:
        if name not in NEURAL_MODELS and name not in CLASSICAL:
            known = ", ".join((*NEURAL_MODELS, *CLASSICAL))
            raise InputError(f"unknown model {name!r}; expected one of: {known}")


def run_model(
    task: Task, name: str, data: TaskData, cfg: TrainConfig, model_cfg: ModelConfig, folder: Path, progress: bool
) -> dict:
    start = time.perf_counter()
    if name == "pca_t2":
        if not task.detects_faults:
            raise InputError(f"pca_t2 is a fault detector; task {data.name} has no faults")
        return _pca_metrics(task, data)
    if name in CLASSICAL:
        pred, params = task.fit_classical(name, data, cfg.seed)
        return _metrics(name, params, time.perf_counter() - start, task.evaluate(data, pred))
    torch.manual_seed(cfg.seed)  # before the model exists: its initialisation is part of the run
    model = task.build_model(name, data, model_cfg)
    result = fit(model, data.train, data.val, cfg, folder / "checkpoint", progress, data.kind)
    params = sum(p.numel() for p in model.parameters())
    test = test_metrics(task, data, model)
    metrics = _metrics(name, params, result.seconds, test, result.best_val, result.epochs_run)
    metrics["val_key"] = "val_accuracy" if data.kind in CLASSIFYING else "val_score"
    return metrics


def _metrics(name, params, seconds, test, val=None, epochs=None) -> dict:
    return {
        "model": name,
        "parameters": params,
        "train_seconds": round(seconds, 2),
        "epochs": epochs,
        "val_accuracy": val,  # the validation score: accuracy, or minus the MSE for regression kinds
        "test": test,
    }


def _pca_metrics(task: Task, data: TaskData) -> dict:
    """Detection only: T² on the last sample of each window, control limit from normal training data."""
    start = time.perf_counter()
    normal_cls = data.class_names.index("normal")
    det = PCADetector.fit(data.train.x[data.train.y == normal_cls][:, -1])
    test = task.detection_report(data, det.alarms(data.test.x[:, -1]))
    params = int(det.components.size + det.mean.size)
    return _metrics("pca_t2", params, time.perf_counter() - start, test)


def compare(
    task: str | None,
    models: list[str] | None = None,
    task_params: dict | None = None,
    model_params: dict | ModelConfig | None = None,
    cfg: TrainConfig | None = None,
    out_root: str | Path = "runs",
    resume: str | Path | None = None,
    progress: bool = True,
) -> Path:
    """Train and test ``models`` (default: the task's ``default_models``) on one task; write one table and plot.
    With ``resume``, finish that comparison: its config.json wins, values given here must agree with it."""
    single_process("process compare")  # its baselines and per-model loop are one process's work
    plan = plan_run(task, task_params, model_params, cfg, resume, needs=("models",))
    if plan.saved is not None:
        if models and list(models) != list(plan.saved["models"]):
            raise InputError(f"--models {','.join(models)} disagrees with the run in {resume}; resume without it")
        models = list(plan.saved["models"])
    elif models is None:
        models = list(get_task(plan.task).models_for(asdict(plan.task_cfg)))
    task_name, task_cfg, model_cfg, cfg = plan.task, plan.task_cfg, plan.model_cfg, plan.train_cfg
    check_models(list(models))
    resolve_device(cfg.device)  # a machine without the device refuses before any work
    run_dir = Path(resume) if resume is not None else new_run_dir(out_root, f"process-compare-{task_name}")
    with hold_run(run_dir, announce=progress):  # one writer at a time, a concurrent --resume too
        if resume is None:
            config = run_config("process compare", task_name, asdict(task_cfg), asdict(model_cfg), cfg, models=models)
            write_json(run_dir / "config.json", config)
        task = get_task(task_name)
        data = task.build(task_cfg)
        results = []
        for k, name in enumerate(models, 1):
            path = run_dir / "models" / name / "metrics.json"
            if progress:  # on stdout, with the run folder: stderr keeps bars and the one-line errors
                done = " (done before: its metrics.json)" if path.exists() else ""
                print(f"model {k} of {len(models)}: {name}{done}", flush=True)
            if not path.exists():
                if name in NEURAL_MODELS:  # makes the folder a run that `heedful process explain` can open
                    config = run_config(
                        "process compare",
                        task_name,
                        asdict(task_cfg),
                        asdict(model_cfg),
                        cfg,
                        model=name,
                        data=data.params,
                    )
                    write_json(path.parent / "config.json", config)
                    save_description(path.parent, task, data, task_cfg)
                write_json(path, run_model(task, name, data, cfg, model_cfg, path.parent, progress))
                tracking.log_outcome(path.parent, cfg.log_with, "process")
            results.append(read_metrics(path))
        table = task_table(task.table_columns(data.params), results)
        atomic_write(run_dir / "table.md", lambda p: p.write_text(table, encoding="utf-8"))
        plot_comparison(results, run_dir / "comparison.png")
        tracking.log_outcome(run_dir, cfg.log_with, "process")
    return run_dir


def read_metrics(path: Path) -> dict:
    """A model's ``metrics.json``, checked enough to be a table row."""
    metrics = read_json(path)
    ok = isinstance(metrics, dict) and isinstance(metrics.get("test"), dict) and isinstance(metrics.get("model"), str)
    if (
        not ok
        or not isinstance(metrics.get("parameters"), int)
        or not isinstance(metrics.get("train_seconds"), float | int)
    ):
        raise InputError(f"{path}: not a model's metrics (model, parameters, train_seconds, test); delete it to redo")
    return metrics


def task_table(cols, results: list[dict]) -> str:
    """One row per model: parameters, epochs, training time, time per epoch relative to the first unidirectional
    RNN in the run, and the task's headline metrics (``cols``: ``Task.table_columns``)."""
    per_epoch = {r["model"]: r["train_seconds"] / r["epochs"] for r in results if r.get("epochs")}
    base_name = next((m for m in ("lstm", "gru", *per_epoch) if m in per_epoch), None)
    lines = [
        f"| model | parameters | epochs | train s | s/epoch vs {base_name or '-'} | "
        + " | ".join(c[0] for c in cols)
        + " |",
        "|---" * (5 + len(cols)) + "|",
    ]
    for r in results:
        ratio = f"{per_epoch[r['model']] / per_epoch[base_name]:.2f}x" if r["model"] in per_epoch else "-"
        cells = [_cell(_lookup(r["test"], key), fmt) for _, key, fmt in cols]
        lines.append(
            f"| {r['model']} | {r['parameters']:,} | {r.get('epochs') or '-'} | {r['train_seconds']:.1f} | {ratio} | "
            + " | ".join(cells)
            + " |"
        )
    return "\n".join(lines) + "\n"


def _lookup(test: dict, key: str):
    """``a.b`` -> test["a"]["b"]; None where any part is missing (a baseline without a two-stage alarm)."""
    for part in key.split("."):
        if not isinstance(test, dict):
            return None
        test = test.get(part)
    return test


def _cell(v, fmt: str) -> str:
    if v is None:
        return "-"
    if fmt == "mean_pct":
        return _pct(float(np.mean(list(v.values())))) if v else "-"
    if fmt == "pct":
        return _pct(v)
    if fmt == "ci":
        return f"[{100 * v[0]:.1f}, {100 * v[1]:.1f}]"
    return f"{v:.3f}" if fmt == "r2" else f"{v:.1f}"


def _pct(v) -> str:
    return "-" if v is None else f"{100 * v:.1f}%"


def plot_comparison(results: list[dict], path: Path) -> None:
    """Per-fault accuracy (classifiers) as grouped bars."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rows = [r for r in results if r["test"].get("per_fault_accuracy")]
    if not rows:
        return
    faults = sorted({int(f) for r in rows for f in r["test"]["per_fault_accuracy"]})
    fig = Figure(figsize=(min(16.0, max(8.0, 0.1 * len(faults) * len(rows) + 2)), 4.5), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    width = 0.8 / len(rows)
    for i, r in enumerate(rows):
        acc = [r["test"]["per_fault_accuracy"].get(str(f), r["test"]["per_fault_accuracy"].get(f, 0)) for f in faults]
        ax.bar(np.arange(len(faults)) + i * width - 0.4 + width / 2, acc, width, label=r["model"])
    ax.set_xticks(np.arange(len(faults)), [str(f) for f in faults])
    ax.set(xlabel="TEP fault", ylabel="test accuracy", ylim=(0, 1), title="Per-fault test accuracy")
    fig.legend(*ax.get_legend_handles_labels(), loc="outside lower center", ncols=min(len(rows), 8), fontsize=8)
    atomic_write(path, lambda p: fig.savefig(p, format="png", dpi=110))
