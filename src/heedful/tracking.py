"""Experiment tracking on local files only: TensorBoard event files or an MLflow file store in the run folder.

``log_with="tensorboard"`` writes event files under ``<run>/tracking/<run name>``; ``"mlflow"`` writes an MLflow file
store under ``<run>/tracking/mlruns`` (unless ``MLFLOW_TRACKING_URI`` was set before heedful started). Nothing is
contacted over the network. A tracked run is named after its run folder (``<comparison>/<model>`` for a model of a
comparison, whose store is the comparison's); its experiment is the run's task. It holds the run's config.json,
flattened, as parameters, the training curves (``start`` / ``log`` / ``finish`` around a loop's epochs, through
Accelerate's trackers), and, once the run is written, its final metrics and files (``log_outcome``; files are MLflow
artifacts: TensorBoard has none, its event files sit beside them).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import time
from pathlib import Path

from heedful.errors import InputError, MissingExtra

TRACKERS = ("tensorboard", "mlflow")
_USER_MLFLOW_URI = os.environ.get("MLFLOW_TRACKING_URI")  # a store the user chose wins over the run folder
_MODULE = {"tensorboard": "tensorboard", "mlflow": "mlflow"}
RUN_ID_FILE = "mlflow-run.json"  # the MLflow run of a run folder: a resumed run continues it
FILES = ("config.json", "metrics.json", "history.json", "table.md", "comparison.png", "report.html")
MAX_PARAM = 6000  # MLflow's longest parameter value


def check_tracker(name: str | None) -> None:
    """Refuse an unknown tracker, or one whose package is missing, before any training starts."""
    if not name:
        return
    if name not in TRACKERS:
        raise InputError(f"log_with must be one of {', '.join(TRACKERS)}, got {name!r}")
    if importlib.util.find_spec(_MODULE[name]) is None:
        raise MissingExtra("track", _MODULE[name])


# --- what a run is called -------------------------------------------------------------------------------------


def root(run_dir: str | Path) -> Path:
    """The run folder whose ``tracking/`` holds the store: a comparison's, for one of its models."""
    run_dir = Path(run_dir).resolve()
    if run_dir.parent.name == "models" and (run_dir.parent.parent / "config.json").is_file():
        return run_dir.parent.parent
    return run_dir


def run_name(run_dir: str | Path) -> str:
    run_dir = Path(run_dir).resolve()
    top = root(run_dir)
    return top.name if top == run_dir else f"{top.name}/{run_dir.name}"


def _config(run_dir: Path) -> dict:
    for folder in (run_dir, root(run_dir)):
        try:
            config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(config, dict):
            return config
    return {}


def experiment(run_dir: str | Path, default: str) -> str:
    """The run's task (config.json ``task``), else ``default``."""
    task = _config(Path(run_dir).resolve()).get("task")
    return task if isinstance(task, str) and task else default


def flatten(obj: dict, prefix: str = "") -> dict:
    """Nested keys joined by dots; lists and other values kept as they are."""
    out = {}
    for key, value in obj.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict) and value:
            out |= flatten(value, name)
        else:
            out[name] = value
    return out


def params(run_dir: Path, given: dict) -> dict:
    """The run's config.json flattened (``given`` where there is none), as strings, numbers and booleans."""
    config = _config(run_dir)
    flat = flatten(config) if config else flatten(given)
    if run_dir != root(run_dir):
        flat.setdefault("model", run_dir.name)  # a classical model of a comparison has only the comparison's config
    return {k: v if isinstance(v, int | float | str | bool) else _text(v) for k, v in flat.items()}


def _text(value) -> str:
    return (json.dumps(value, ensure_ascii=False) if value is not None else "None")[:MAX_PARAM]


def numbers(metrics: dict) -> dict[str, float]:
    """The numeric leaves of a metrics.json (lists left out), keys joined by ``/`` in names MLflow accepts."""
    out = {}
    for key, value in flatten(metrics).items():
        if _number(value) and key.split(".")[0] != "history":
            out[metric_key(key.replace(".", "/"))] = float(value)
    return out


def metric_key(key: str) -> str:
    """A metric or parameter name MLflow accepts: safe characters, and no part of the path empty, '.' or '..'
    (MLflow refuses names that a file system would read as another name, such as '/' or 'a/../b')."""
    safe = re.sub(r"[^\w./\- ]", "_", key.replace("@", "_at_"))
    return "/".join("_" if part in ("", ".", "..") else part for part in safe.split("/"))


def _is_main() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


# --- during training, through Accelerate ----------------------------------------------------------------------


def accelerator_kwargs(name: str | None, run_dir: str | Path | None) -> dict:
    """``Accelerator(**kwargs)`` arguments for tracking into ``run_dir``'s ``tracking/`` (empty when not tracking)."""
    if not name:
        return {}
    check_tracker(name)
    if run_dir is None:
        raise InputError("experiment tracking needs a run folder to write into")
    folder = _tracking_folder(run_dir)
    if name == "mlflow":
        _mlflow_env(folder)
    return {"log_with": name, "project_dir": str(folder)}


def _tracking_folder(run_dir: str | Path) -> Path:
    folder = root(run_dir) / "tracking"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _mlflow_env(folder: Path) -> str:
    uri = _USER_MLFLOW_URI or (folder / "mlruns").as_uri()
    os.environ["MLFLOW_TRACKING_URI"] = uri
    # plain files a user can read and copy; MLflow 3 wants a database unless told the file store is wanted
    os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    return uri


def start(accelerator, name: str | None, run_dir: str | Path, default_experiment: str, given: dict) -> None:
    """Open the run's tracking: experiment = the task, run name = the run folder's, parameters = its config.json
    (``given`` when it has none). A resumed MLflow run continues the run it started."""
    if not name:
        return
    run_dir = Path(run_dir).resolve()
    values = params(run_dir, given)
    if name == "tensorboard":  # Accelerate names the event folder after the project
        accelerator.init_trackers(run_name(run_dir), config=values)
        return
    saved = _saved_run_id(run_dir)
    kwargs = {"run_id": saved} if saved else {"run_name": run_name(run_dir)}
    accelerator.init_trackers(experiment(run_dir, default_experiment), config=values, init_kwargs={"mlflow": kwargs})
    if accelerator.is_main_process and not saved:
        _save_run_id(run_dir, accelerator.get_tracker("mlflow", unwrap=True).info.run_id)


def log(accelerator, name: str | None, values: dict, step: int) -> None:
    if name:
        accelerator.log({k: float(v) for k, v in values.items() if isinstance(v, int | float)}, step=step)


def finish(accelerator, name: str | None) -> None:
    if name:
        accelerator.end_training()


def _id_path(run_dir: Path) -> Path:
    return run_dir / "tracking" / RUN_ID_FILE


def _saved_run_id(run_dir: Path) -> str | None:
    try:
        saved = json.loads(_id_path(run_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return saved.get("run_id") if isinstance(saved, dict) and isinstance(saved.get("run_id"), str) else None


def _save_run_id(run_dir: Path, run_id: str) -> None:
    path = _id_path(run_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # atomic: a reader sees the old file or the new one
    tmp.write_text(json.dumps({"run_id": run_id, "tracking_uri": os.environ.get("MLFLOW_TRACKING_URI")}))
    os.replace(tmp, path)


# --- once the run is written ----------------------------------------------------------------------------------


def log_outcome(
    run_dir: str | Path,
    name: str | None,
    default_experiment: str = "heedful",
    history: list[dict] | None = None,
    files: tuple[str, ...] = FILES,
) -> None:
    """Log a finished run's metrics.json (its numbers, at the last step) and ``files`` that exist into its tracked
    run; a run no training loop tracked (a classical model, a contrastive pre-training) is created here with its
    parameters and, given ``history``, its per-epoch values."""
    if not name or not _is_main():
        return
    check_tracker(name)
    run_dir = Path(run_dir).resolve()
    metrics = _config_file(run_dir / "metrics.json")
    steps = [h.get("step", h.get("epoch")) for h in (history or _history(run_dir, metrics))]
    step = int(steps[-1]) if steps and isinstance(steps[-1], int | float) else 0
    values = numbers(metrics) if isinstance(metrics, dict) else {}
    present = [run_dir / f for f in files if (run_dir / f).is_file()]
    if name == "mlflow":
        _mlflow_outcome(run_dir, default_experiment, history or [], values, step, present)
    else:
        _tensorboard_outcome(run_dir, history or [], values, step)


def log_files(run_dir: str | Path, paths: list[Path]) -> None:
    """Add files written after the run (its report) to the MLflow run that tracked it, if one did."""
    run_dir = Path(run_dir).resolve()
    run_id = _saved_run_id(run_dir) if _is_main() else None
    if run_id is None or importlib.util.find_spec("mlflow") is None:
        return
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=_mlflow_env(_tracking_folder(run_dir)))
    for path in paths:
        client.log_artifact(run_id, str(path))


def _config_file(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _history(run_dir: Path, metrics) -> list[dict]:
    history = _config_file(run_dir / "history.json")
    if history is None and isinstance(metrics, dict):
        history = metrics.get("history")
    return [h for h in history if isinstance(h, dict)] if isinstance(history, list) else []


def _mlflow_outcome(run_dir: Path, default: str, history: list[dict], values: dict, step: int, files: list[Path]):
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param

    client = MlflowClient(tracking_uri=_mlflow_env(_tracking_folder(run_dir)))
    run_id = _saved_run_id(run_dir)
    if run_id is None:  # nothing tracked it while it trained
        exp = client.get_experiment_by_name(experiment(run_dir, default))
        exp_id = exp.experiment_id if exp is not None else client.create_experiment(experiment(run_dir, default))
        run_id = client.create_run(exp_id, run_name=run_name(run_dir)).info.run_id
        _save_run_id(run_dir, run_id)
        items = [Param(metric_key(k), str(v)[:MAX_PARAM]) for k, v in params(run_dir, {}).items()]
        for i in range(0, len(items), 100):
            client.log_batch(run_id, params=items[i : i + 100])
    now = int(time.time() * 1000)
    points = [
        Metric(metric_key(k), float(v), now, int(h.get("epoch", i + 1)))
        for i, h in enumerate(history)
        for k, v in h.items()
        if k not in ("epoch", "step") and _number(v)
    ]
    points += [Metric(k, v, now, step) for k, v in values.items()]
    for i in range(0, len(points), 1000):
        client.log_batch(run_id, metrics=points[i : i + 1000])
    for path in files:
        client.log_artifact(run_id, str(path))
    client.set_terminated(run_id)


def _tensorboard_outcome(run_dir: Path, history: list[dict], values: dict, step: int) -> None:
    from accelerate.tracking import TensorBoardTracker

    folder = _tracking_folder(run_dir)
    fresh = not (folder / run_name(run_dir)).is_dir()
    tracker = TensorBoardTracker(run_name(run_dir), folder)
    tracker.start()
    try:
        if fresh:  # Accelerate logged the parameters of the runs it tracked
            tracker.store_init_configuration(params(run_dir, {}))
        for i, h in enumerate(history):
            points = {metric_key(k): float(v) for k, v in h.items() if k not in ("epoch", "step") and _number(v)}
            tracker.log(points, step=int(h.get("epoch", i + 1)))
        tracker.log(values, step=step)
    finally:
        tracker.finish()


def _number(v) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)
