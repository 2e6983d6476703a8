"""Run-level operations behind ``heedful process``: train into a run folder, reload it, resume it, and the entry
points that apply a run (``predict_csv``) or draw its attention (``explain_run``).

A run folder holds ``config.json`` (command, task, model, the full task / model / training configs), ``data.json``
and ``scaler.json`` (what the model takes and gives: ``heedful.process.data.DataSpec``), ``schema.toml`` (a copy of a
``table`` run's schema file, when it had one), ``checkpoint/`` (``heedful.checkpoint``'s layout), ``history.json``
and ``metrics.json``. Predicting and serving read only these files, never the training data. Every file is written
atomically; every file read back is checked and a damaged one is an ``InputError`` naming it.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch

from heedful import tracking
from heedful.checkpoint import BEST, build_fitting
from heedful.devices import main_process, resolve_device
from heedful.errors import InputError
from heedful.process.alarm import RunAlarm
from heedful.process.answers import answer_rows, first_alarm, model_outputs, raises_alarms
from heedful.process.apply import check_scaled, clean, read_values
from heedful.process.config import ModelConfig, TrainConfig
from heedful.process.data import SCALER_FILE, SPEC_FILE, DataSpec, TaskData
from heedful.process.explain import check_out_file
from heedful.process.sources.indpensim import check_finite
from heedful.process.tasks import Task, Trained, get_task, registry
from heedful.process.tasks.base import Unexplained
from heedful.process.train import CLASSIFYING, fit, load_weights, predict, probabilities
from heedful.runs import atomic_write, hold_run, new_run_dir, read_json, write_json
from heedful.training import from_main, main_first, wait_for_everyone

log = logging.getLogger(__name__)

# settings that do not change what is trained: a resumed run may give other values
NOT_IDENTITY = {"cache", "workers"}


def test_metrics(task: Task, data: TaskData, model: torch.nn.Module) -> dict:
    """The task's test metrics of ``model``, with ``"two_stage"`` for tasks that score a two-stage alarm
    (``Task.alarms``). There the test windows go through the model once: the class is the most probable one."""
    if not task.alarms:
        pred, _ = predict(model, data.test.x, lengths=data.test.lengths, kind=data.kind)
        return task.evaluate(data, pred)
    val = data.val if data.alarm_val is None else data.alarm_val  # the windows the alarm is set on
    val_proba, test_proba = probabilities(model, val.x), probabilities(model, data.test.x)
    return {**task.evaluate(data, test_proba.argmax(1)), "two_stage": task.two_stage(data, val_proba, test_proba)}


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
            task.saved_config(config["task_params"]),
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
    task_cfg = get_task(saved["task"]).saved_config({**asdict(task_cfg), **place})
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
    resolve_device(plan.train_cfg.device)  # a machine without the device refuses before any work
    task = get_task(plan.task)
    with main_first(plan.train_cfg.device):  # under a launch the others then read the main process's caches
        data = task.build(plan.task_cfg)
    torch.manual_seed(plan.train_cfg.seed)  # before the model exists: its initialisation is part of the run
    best = Path(resume) / "checkpoint" / BEST if resume is not None else None
    if best is not None and best.is_file():  # a resumed run's config is checked against its weights first
        model = build_fitting(
            lambda: task.build_model(model_name, data, plan.model_cfg), best, Path(resume) / "config.json"
        )
    else:
        model = task.build_model(model_name, data, plan.model_cfg)
    if resume is not None:
        run_dir = Path(resume)
    else:  # one folder per launch: the main process names it
        run_dir = from_main(lambda: new_run_dir(out_root, f"process-{plan.task}-{model_name}"), plan.train_cfg.device)
    with hold_run(run_dir, announce=progress):  # one writer at a time, a concurrent --resume too
        if resume is None and main_process():
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
            save_description(run_dir, task, data, plan.task_cfg)
        log.info("training %s on %s into %s", model_name, plan.task, run_dir)
        result = fit(model, data.train, data.val, plan.train_cfg, run_dir / "checkpoint", progress, data.kind, on_epoch)
        if main_process():
            _write_outcome(run_dir, task, data, model, model_name, plan, result)
        wait_for_everyone()  # every process returns a finished run
    return run_dir


def _write_outcome(run_dir: Path, task: Task, data: TaskData, model, model_name: str, plan: RunPlan, result) -> None:
    """A trained run's metrics.json and history.json, and its outcome in the tracker."""
    metrics = {
        "model": model_name,
        "task": plan.task,
        "parameters": sum(p.numel() for p in model.parameters()),
        "train_seconds": round(result.seconds, 2),
        "best_epoch": result.best_epoch,
        val_key(data): result.best_val,
        "test": test_metrics(task, data, model),
    }
    write_json(run_dir / "metrics.json", metrics)
    write_json(run_dir / "history.json", result.history)
    tracking.log_outcome(run_dir, plan.train_cfg.log_with, "process")


def save_description(folder: Path, task: Task, data: TaskData, task_cfg) -> None:
    """What prediction needs, into a run folder: ``data.json``, ``scaler.json`` and the task's own files (a
    ``table`` run's schema)."""
    data.spec().save(folder)
    for name, source in task.run_files(task_cfg).items():
        text = Path(source).read_bytes()
        atomic_write(folder / name, lambda p, text=text: p.write_bytes(text))


def run_inputs(run_dir: str | Path) -> list[Path]:
    """The files that ``predict`` and ``explain`` read: the run's config, description and checkpoint, and the
    training data a ``path`` task parameter names (an old run, or ``explain`` on the test split, rebuilds the data
    from it). No output may be written over one."""
    run_dir = Path(run_dir)
    found = [run_dir / "config.json", run_dir / SPEC_FILE, run_dir / SCALER_FILE, run_dir / "schema.toml"]
    if (run_dir / "checkpoint").is_dir():
        found += [p for p in (run_dir / "checkpoint").rglob("*") if p.is_file()]
    try:
        data = read_json(run_dir / "config.json").get("task_params", {}).get("path")
        if isinstance(data, str) and data:
            source = Path(data)
            found += [p for p in source.iterdir() if p.is_file()] if source.is_dir() else [source]
    except (OSError, InputError, AttributeError):  # not a run, or data gone: loading says so if it matters
        pass
    return found


def _rebuild(run_dir: Path, config: dict):
    """The run's task data, built again from its training data; one line naming what is missing when it cannot."""
    task = get_task(config["task"])
    task_cfg, _, _ = run_configs(run_dir, config)
    try:
        return task.build(task_cfg)
    except (InputError, OSError) as err:
        raise InputError(f"{run_dir}: its training data cannot be read here: {' '.join(str(err).split())}") from None


def load_spec(run_dir: str | Path, config: dict | None = None) -> DataSpec:
    """What a run's model takes and gives, from its ``data.json`` and ``scaler.json``. A run written before runs
    held them is described by rebuilding its training data, when that is still where it was."""
    run_dir = Path(run_dir)
    config = config if config is not None else read_run_config(run_dir)
    if (run_dir / SPEC_FILE).exists():
        spec = DataSpec.load(run_dir)
        if spec.name != config["task"]:
            raise InputError(f"{run_dir / SPEC_FILE}: describes task {spec.name}, config.json says {config['task']}")
        return spec
    try:
        return _rebuild(run_dir, config).spec()
    except InputError as err:
        raise InputError(
            f"{run_dir}: {SPEC_FILE} is missing (a run written before runs held what prediction needs) and "
            f"{str(err).removeprefix(f'{run_dir}: ')}; put the data back where it was, or train again"
        ) from None


def _model(run_dir: Path, config: dict, spec, device: str = "cpu") -> torch.nn.Module:
    """The run's model with its best weights, in eval mode, built for ``spec`` (a ``DataSpec`` or ``TaskData``),
    on ``device`` (``--device``; checked before the weights load)."""
    place = resolve_device(device)
    _, model_cfg, _ = run_configs(run_dir, config)
    task = get_task(config["task"])
    weights = run_dir / "checkpoint" / BEST
    if not weights.exists():
        raise FileNotFoundError(f"no trained weights in {weights.parent} (best.safetensors missing)")
    model = build_fitting(lambda: task.build_model(config["model"], spec, model_cfg), weights, run_dir / "config.json")
    load_weights(model, weights)
    return model.to(place).eval()


def load_trained(run_dir: str | Path, device: str = "cpu") -> tuple[DataSpec, torch.nn.Module, dict]:
    """A trained run's description (``DataSpec``), model (best weights, eval mode, on ``device``) and config.json,
    from the run folder alone: the training data may be gone."""
    run_dir = Path(run_dir)
    config = read_run_config(run_dir)
    run_configs(run_dir, config)  # a bad value is named before anything loads
    spec = load_spec(run_dir, config)
    spec.alarm = trained_alarm(run_dir)
    return spec, _model(run_dir, config, spec, device), config


def load_with_data(run_dir: str | Path, device: str = "cpu") -> tuple[TaskData, torch.nn.Module, dict]:
    """A trained run with its task data built again from the training data (to score or explain its test split)."""
    run_dir = Path(run_dir)
    config = read_run_config(run_dir)
    data = _rebuild(run_dir, config)
    return data, _model(run_dir, config, data, device), config


def trained(run_dir: str | Path, device: str = "cpu") -> Trained:
    """A trained run as a task's ``explain`` takes it: its task data is rebuilt only when asked for."""
    run_dir = Path(run_dir)
    spec, model, config = load_trained(run_dir, device)
    return Trained(spec, model, config, lambda: _rebuild(run_dir, config))


# --- applying a run ----------------------------------------------------------------------------------


def read_batch(task: Task, spec: DataSpec, csv: str | Path, impute: str | None = None) -> np.ndarray:
    """The raw values (T, variables) of one batch in a CSV file, checked as the task needs them: its variables by
    name (or in order), finite (or filled with ``impute``)."""
    return checked_values(task, spec, read_values(csv, task.input_names(spec)), str(csv), impute)


def checked_values(task: Task, spec: DataSpec, values: np.ndarray, where: str, impute: str | None = None):
    """Raw values (T, the task's input variables) checked as the task needs them: finite (or filled with
    ``impute``); for a task whose NaN cells mark the values to restore, everything else finite."""
    names = task.input_names(spec)
    if task.nan_marks_target:  # NaN marks the values to restore; anything else must be finite
        check_finite(np.where(np.isnan(values), 0.0, values), names, where)
        return values
    return clean(values, names, where, impute)


def predict_values(spec: DataSpec, model, values: np.ndarray, where: str) -> dict:
    """Predictions of a trained model on raw values (T, raw variables)."""
    task = get_task(spec.name)
    need = task.min_steps(spec)
    if len(values) < need:
        raise InputError(f"{where}: batch too short: {len(values)} rows, {spec.name} needs at least {need}")
    try:
        return task.predict(spec, model, values)
    except InputError as err:
        raise InputError(f"{where}: {err}") from None


def predict_csv(spec: DataSpec, model, csv: str | Path, impute: str | None = None) -> dict:
    """Read, check and predict one CSV batch (what ``heedful process predict`` does). ``spec``: what
    ``load_trained`` gives (a ``TaskData`` serves too)."""
    values = read_batch(get_task(spec.name), spec, csv, impute)
    return predict_values(spec, model, values, str(csv))


# the compact answer's per-input keys: the service's rows stand in for them
COMPACT = ("prediction", "predictions", "per_step", "values", "first_alarm")


def answer_values(spec: DataSpec, model, values: np.ndarray, where: str, probabilities=True, attention=True) -> dict:
    """The service's answer (``heedful.process.answers``) on raw values (T, variables): a row per model input (the
    class or values, the probabilities and attention as asked), ``window_ends`` and, for fault tasks,
    ``first_alarm``; with the task's other outputs (the two-stage alarm, ``every``, ...) after them."""
    task = get_task(spec.name)
    if task.nan_marks_target:
        raise InputError(f"{spec.name} restores the values marked NaN: its answer has no probabilities or attention")
    if probabilities and "classification" not in spec.kind:
        raise InputError(f"a {spec.kind} model gives values, not class probabilities: leave out --probabilities")
    result = predict_values(spec, model, values, where)  # checks the batch and gives the task's own extras
    x = np.asarray(task.model_inputs(spec, values), np.float32)
    check_scaled(x)
    rows = answer_rows(spec, *model_outputs(model, x), probabilities=probabilities, with_attention=attention)
    ends = result.get("window_ends", [len(values)])
    out = {"task": spec.name, "kind": spec.kind, "predictions": rows, "window_ends": ends}
    if raises_alarms(spec):
        out["first_alarm"] = first_alarm(ends, [r["class"] for r in rows])
    return out | {k: v for k, v in result.items() if k not in COMPACT and k not in out}


def answer_csv(spec: DataSpec, model, csv: str | Path, impute: str | None = None, **asked) -> dict:
    """``predict_csv`` in the service's answer shape (``answer_values``; ``asked``: ``probabilities``,
    ``attention``)."""
    values = read_batch(get_task(spec.name), spec, csv, impute)
    return answer_values(spec, model, values, str(csv), **asked)


def explain_run(
    run_dir: str | Path,
    out_png: str | Path | None,
    fault: int | None = None,
    sample: int = 0,
    csv: str | Path | None = None,
    impute: str | None = None,
    device: str = "cpu",
) -> dict:
    """What the run's task can show (``Task.explains``): fault-onset timelines (``tep_faults``, ``tep_sim_faults``,
    ``pen_faults``), the attention around label changes of a test batch (``table``), the decoder's attention
    matrix for test sample ``sample`` (``pen_forecast``, ``pen_softsensor``) or the pooling attention over every
    test batch (``pen_quality``, ``pen_endtime``). With ``csv``, the attention of a window classifier over that
    batch of new values instead (from the run folder alone). ``out_png`` None: the task's file name in the run
    folder. The summary names the picture (``picture``). ``device``: where the model computes."""
    inputs = run_inputs(run_dir) + ([Path(csv)] if csv is not None else [])
    if out_png is not None:
        check_out_file(out_png, inputs=inputs)  # before the model loads: a bad path fails fast
    run = trained(run_dir, device)
    task = get_task(run.spec.name)
    if csv is not None:
        values = read_batch(task, run.spec, csv, impute)
        out_png = check_out_file(out_png or Path(run_dir) / f"explain_{Path(csv).stem}.png", inputs=inputs)
        return {"picture": str(out_png), **task.explain_values(run, values, out_png, Path(csv).name)}
    out_png = check_out_file(out_png or Path(run_dir) / task.explain_file(fault, sample), inputs=inputs)
    try:
        return {"picture": str(out_png), **task.explain(run, out_png, fault, sample)}
    except Unexplained as err:
        shown = "; ".join(f"{t.name}: {t.explains}" for t in registry().values() if t.explains)
        raise InputError(f"{err}; explain draws {shown}") from None


def trained_alarm(run_dir: Path):
    """The run's calibrated ``model``-detector alarm (``alarm.RunAlarm``), or None (none, or no metrics yet)."""
    path = run_dir / "metrics.json"
    if not path.is_file():
        return None
    metrics = read_json(path)
    test = metrics.get("test") if isinstance(metrics, dict) else None
    try:
        return RunAlarm.from_metrics(test.get("two_stage") if isinstance(test, dict) else None)
    except InputError as err:
        raise InputError(f"{path}: {err}") from None
