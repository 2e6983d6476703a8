"""``heedful process compare``: several models on one task, one table, one picture.

Every model's result is written to ``RUN/models/NAME/metrics.json`` as soon as it finishes (neural models
also checkpoint every epoch), so an interrupted comparison resumes where it stopped.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from heedful.errors import InputError
from heedful.process.baselines import PCADetector, fit_classical
from heedful.process.models import build_model
from heedful.process.names import CLASSICAL_MODELS as CLASSICAL
from heedful.process.names import NEURAL_MODELS
from heedful.process.runner import evaluate, load_run_config, run_config
from heedful.process.tasks import TaskData, build_task
from heedful.process.train import CLASSIFYING, TrainConfig, fit_classifier, predict
from heedful.runs import atomic_write, new_run_dir, read_json, write_json


def check_models(models: list[str]) -> None:
    for name in models:
        if name not in NEURAL_MODELS and name not in CLASSICAL:
            known = ", ".join((*NEURAL_MODELS, *CLASSICAL))
            raise InputError(f"unknown model {name!r}; expected one of: {known}")


def run_model(name: str, data: TaskData, cfg: TrainConfig, model_params: dict, folder: Path, progress: bool) -> dict:
    start = time.perf_counter()
    if name == "pca_t2":
        if data.name not in ("tep_faults", "pen_faults"):
            raise InputError(f"pca_t2 is a fault detector; task {data.name} has no faults")
        return _pca_metrics(data)
    if name in CLASSICAL:
        pred, params = fit_classical(name, data, cfg.seed)
        return _metrics(name, params, time.perf_counter() - start, evaluate(data, pred))
    model = build_model(name, data, **model_params)
    result = fit_classifier(model, data.train, data.val, cfg, folder / "checkpoint", progress, data.kind)
    pred, _ = predict(model, data.test.x, lengths=data.test.lengths, kind=data.kind)
    params = sum(p.numel() for p in model.parameters())
    metrics = _metrics(name, params, result.seconds, evaluate(data, pred), result.best_val, result.epochs_run)
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


def _pca_metrics(data: TaskData) -> dict:
    """Detection only: T² on the last sample of each window, control limit from normal training data."""
    start = time.perf_counter()
    normal_cls = data.class_names.index("normal")
    det = PCADetector.fit(data.train.x[data.train.y == normal_cls][:, -1])
    alarm = det.alarms(data.test.x[:, -1])
    is_normal = data.test.y == normal_cls
    rates = {}
    for cls, name in enumerate(data.class_names):
        rows = (data.test.y == cls) & ~is_normal
        if rows.any():
            rates[int(name.split()[-1])] = float(alarm[rows].mean())
    test = {"detection_rate": rates, "false_alarm_rate": float(alarm[is_normal].mean())}
    params = int(det.components.size + det.mean.size)
    return _metrics("pca_t2", params, time.perf_counter() - start, test)


def compare(
    task: str,
    models: list[str],
    task_params: dict,
    model_params: dict,
    cfg: TrainConfig,
    out_root: str | Path = "runs",
    resume: str | Path | None = None,
    progress: bool = True,
) -> Path:
    check_models(models)
    if resume is not None:
        run_dir = Path(resume)
        saved, cfg = load_run_config(run_dir)
        task, models, task_params, model_params = (
            saved["task"],
            saved["models"],
            saved["task_params"],
            saved["model_params"],
        )
    else:
        run_dir = new_run_dir(out_root, f"process-compare-{task}")
        write_json(
            run_dir / "config.json", run_config("process compare", task, task_params, model_params, cfg, models=models)
        )
    data = build_task(task, **task_params)
    results = []
    for name in models:
        path = run_dir / "models" / name / "metrics.json"
        if not path.exists():
            if name in NEURAL_MODELS:  # makes the folder a run that `heedful process explain` can open
                config = run_config("process compare", task, task_params, model_params, cfg, model=name)
                write_json(path.parent / "config.json", config)
            write_json(path, run_model(name, data, cfg, model_params, path.parent, progress))
        results.append(read_json(path))
    table = markdown_table(results) if task == "tep_faults" else task_table(task, results)
    atomic_write(run_dir / "table.md", lambda p: p.write_text(table, encoding="utf-8"))
    plot_comparison(results, run_dir / "comparison.png")
    return run_dir


def markdown_table(results: list[dict]) -> str:
    """Rows per model: 18-fault average, overall accuracy, mean detection rate, false alarms, and the training
    time per epoch relative to the unidirectional LSTM (early stopping makes total times incomparable)."""
    per_epoch = {r["model"]: r["train_seconds"] / r["epochs"] for r in results if r.get("epochs")}
    base = per_epoch.get("lstm")
    lines = [
        "| model | parameters | epochs | train s | s/epoch vs lstm | 18-fault avg | overall acc | mean detection "
        "| false alarms |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        t = r["test"]
        det = np.mean(list(t["detection_rate"].values())) if t.get("detection_rate") else None
        ratio = f"{per_epoch[r['model']] / base:.2f}x" if base and r["model"] in per_epoch else "-"
        lines.append(
            f"| {r['model']} | {r['parameters']:,} | {r.get('epochs') or '-'} | {r['train_seconds']:.1f} | {ratio} | "
            f"{_pct(t.get('average_18_observable'))} | {_pct(t.get('overall_accuracy'))} | {_pct(det)} | "
            f"{_pct(t.get('false_alarm_rate'))} |"
        )
    return "\n".join(lines) + "\n"


# the columns of each IndPenSim task's table: (header, key in the test metrics, format)
HEADLINES = {
    "pen_quality": [("test accuracy", "accuracy", "pct"), ("final penicillin MAE g/L", "final_penicillin_mae", "num")],
    "pen_phase": [("per-step accuracy", "accuracy", "pct")],
    "pen_faults": [
        ("overall acc", "overall_accuracy", "pct"),
        ("mean fault acc", "average_fault_accuracy", "pct"),
        ("mean detection", "detection_rate", "mean_pct"),
        ("false alarms", "false_alarm_rate", "pct"),
    ],
    "pen_endtime": [
        ("MAE h (reached)", "mae_hours", "num"),
        ("censored called late enough", "censored_beyond_end", "pct"),
    ],
    "pen_forecast": [("R²", "r2", "r2"), ("persistence R²", "persistence_r2", "r2")],
    "pen_softsensor": [("R²", "r2", "r2"), ("RMSE g/L", "rmse_g_per_l", "num")],
    "pen_repair": [
        ("RMSE (std units)", "rmse", "r2"),
        ("R²", "r2", "r2"),
        ("interpolation RMSE", "interpolation_rmse", "r2"),
    ],
    "tep_sim_faults": [  # simulated TEP (issue 12): benchmark protocol, then online protocol
        ("macro acc (benchmark)", "macro_accuracy", "pct"),
        ("online acc", "online_accuracy", "pct"),
        ("detection", "detection_rate", "pct"),
        ("false alarms", "false_alarm_rate", "pct"),
        ("mean delay min", "mean_detection_delay_min", "num"),
    ],
}


def task_table(task: str, results: list[dict]) -> str:
    """One row per model: parameters, epochs, training time, time per epoch relative to the first unidirectional
    RNN in the run, and the task's headline metrics."""
    per_epoch = {r["model"]: r["train_seconds"] / r["epochs"] for r in results if r.get("epochs")}
    base_name = next((m for m in ("lstm", "gru", *per_epoch) if m in per_epoch), None)
    cols = HEADLINES.get(task, [("accuracy", "accuracy", "pct")])
    lines = [
        f"| model | parameters | epochs | train s | s/epoch vs {base_name or '-'} | "
        + " | ".join(c[0] for c in cols)
        + " |",
        "|---" * (5 + len(cols)) + "|",
    ]
    for r in results:
        ratio = f"{per_epoch[r['model']] / per_epoch[base_name]:.2f}x" if r["model"] in per_epoch else "-"
        cells = [_cell(r["test"].get(key), fmt) for _, key, fmt in cols]
        lines.append(
            f"| {r['model']} | {r['parameters']:,} | {r.get('epochs') or '-'} | {r['train_seconds']:.1f} | {ratio} | "
            + " | ".join(cells)
            + " |"
        )
    return "\n".join(lines) + "\n"


def _cell(v, fmt: str) -> str:
    if v is None:
        return "-"
    if fmt == "mean_pct":
        return _pct(float(np.mean(list(v.values())))) if v else "-"
    if fmt == "pct":
        return _pct(v)
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
