"""Experiment tracking through Accelerate's trackers, on local files only.

``log_with="tensorboard"`` writes TensorBoard event files under ``<run>/tracking/<project>``; ``"mlflow"`` writes an
MLflow file store under ``<run>/tracking/mlruns`` (unless ``MLFLOW_TRACKING_URI`` was set before heedful started).
Nothing is contacted over the network. The training loops create their ``Accelerator`` with ``accelerator_kwargs``
and call ``start`` / ``log`` / ``finish`` around their epochs.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

from heedful.errors import InputError, MissingExtra

TRACKERS = ("tensorboard", "mlflow")
_USER_MLFLOW_URI = os.environ.get("MLFLOW_TRACKING_URI")  # a store the user chose wins over the run folder
_MODULE = {"tensorboard": "tensorboard", "mlflow": "mlflow"}


def check_tracker(name: str | None) -> None:
    """Refuse an unknown tracker, or one whose package is missing, before any training starts."""
    if not name:
        return
    if name not in TRACKERS:
        raise InputError(f"log_with must be one of {', '.join(TRACKERS)}, got {name!r}")
    if importlib.util.find_spec(_MODULE[name]) is None:
        raise MissingExtra("track", _MODULE[name])


def accelerator_kwargs(name: str | None, run_dir: str | Path | None) -> dict:
    """``Accelerator(**kwargs)`` arguments for tracking into ``run_dir/tracking`` (empty when not tracking)."""
    if not name:
        return {}
    check_tracker(name)
    if run_dir is None:
        raise InputError("experiment tracking needs a run folder to write into")
    folder = Path(run_dir).resolve() / "tracking"
    folder.mkdir(parents=True, exist_ok=True)
    if name == "mlflow":
        os.environ["MLFLOW_TRACKING_URI"] = _USER_MLFLOW_URI or (folder / "mlruns").as_uri()
        # plain files a user can read and copy; MLflow 3 wants a database unless told the file store is wanted
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    return {"log_with": name, "project_dir": str(folder)}


def start(accelerator, name: str | None, project: str, config: dict) -> None:
    if name:
        flat = {k: v if isinstance(v, int | float | str | bool) else str(v) for k, v in config.items()}
        accelerator.init_trackers(project, config=flat)


def log(accelerator, name: str | None, values: dict, step: int) -> None:
    if name:
        accelerator.log({k: float(v) for k, v in values.items() if isinstance(v, int | float)}, step=step)


def finish(accelerator, name: str | None) -> None:
    if name:
        accelerator.end_training()
