"""``heedful process ...``: process-track sub-commands (argparse only; the library is imported lazily).

Every flag is generated from a config dataclass of ``heedful.process.config`` (``heedful.cli.flags``), so each
default lives in that one module. Task flags are the union of the task configs' fields: a flag's help lists the
default of each task that has it, and a flag the chosen task does not have is refused. Flags keep no default in the
namespace (``argparse.SUPPRESS``): what is there was given, which is how ``--resume`` tells a repeated value from a
disagreeing one; configs are then built by keyword with the dataclass defaults for the rest.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from collections import Counter
from pathlib import Path

from heedful.cli.flags import add_config_flags, config_from_args, escaped, shown
from heedful.cli.serve import add_report_flag, report_if_asked
from heedful.devices import single_process
from heedful.errors import InputError
from heedful.fields import help_of
from heedful.process import config as C
from heedful.process.names import CLASSICAL_MODELS, NEURAL_MODELS, TASKS, check_task

TASK_CONFIGS = C.TASK_CONFIGS
GENERATION = "--source indpensim"
# a run's config.json also records what its data turned out to be ("data": sizes, channel names): not replayed
RECORDED = {"data": None}


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("process", help="process time series: data, training, comparison, explanations")
    commands = parser.add_subparsers(dest="process_command", metavar="COMMAND")
    parser.set_defaults(func=lambda args: _print_help(parser))
    _add_data(commands)
    _add_train(commands)
    _add_compare(commands)
    _add_explain(commands)
    _add_predict(commands)


def _print_help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 0


# --- flags from configs -------------------------------------------------------------------------------


def _fields(cls) -> list[str]:
    return [f.name for f in dataclasses.fields(cls) if f.init]


def _default(cls, name: str):
    f = next(f for f in dataclasses.fields(cls) if f.name == name)
    return f.default if f.default is not dataclasses.MISSING else f.default_factory()


def _union_flags(group, sources: dict[str, type]) -> dict[str, type]:
    """One flag per field of any source config; its help says which sources have it, in their words (a window
    is 3-minute samples for one task and 12-minute steps for another) and with their defaults, each once."""
    types: dict[str, type] = {}
    for cls in sources.values():
        new = [n for n in _fields(cls) if n not in types]
        add_config_flags(group, cls, only=new)
        types.update(dict.fromkeys(new, cls))
    for action in group._group_actions:
        if action.dest in types:
            action.help = escaped(_union_help(action.dest, sources))
    return types


def _union_help(name: str, sources: dict[str, type]) -> str:
    having = {label: cls for label, cls in sources.items() if name in _fields(cls)}
    by_text: dict[str, list[str]] = {}
    for label, cls in having.items():
        by_text.setdefault(help_of(cls, name), []).append(label)
    if len(by_text) == 1:
        ((text, labels),) = by_text.items()
        scope = "" if len(labels) == len(sources) else _scope(labels, list(sources)) + ": "
        return scope + text + _defaults(name, {k: having[k] for k in labels}, text)
    parts = "; ".join(f"{_scope(labels, list(sources))}: {text}" for text, labels in by_text.items())
    return parts + _defaults(name, having, " ".join(by_text))  # each default once, the exceptions named


def _defaults(name: str, having: dict[str, type], text: str = "") -> str:
    """' (default: D)' when the sources agree, else ' (default: D; label E)' for the ones that differ."""
    if "(default" in text:
        return ""
    values = {label: _default(cls, name) for label, cls in having.items()}
    if all(v is None or v == "" or v == () for v in values.values()):
        return ""
    texts = {label: shown(v) for label, v in values.items()}
    common, _ = Counter(texts.values()).most_common(1)[0]
    others = "; ".join(f"{label} {v}" for label, v in texts.items() if v != common)
    return f" (default: {common}{'; ' + others if others else ''})"


def _scope(having: list[str], labels: list[str]) -> str:
    pen = [label for label in labels if label.startswith("pen_")]
    if set(having) == set(pen):
        return "pen_* tasks"
    if set(having) == set(pen) | {GENERATION}:
        return f"pen_* tasks and {GENERATION}"
    return ", ".join(having)


def _suppress_defaults(parser: argparse.ArgumentParser) -> None:
    """Only given flags reach the namespace (the configs hold the defaults)."""
    for action in parser._actions:
        if action.option_strings and action.dest != "help":
            action.default = argparse.SUPPRESS


def _task_flags(p: argparse.ArgumentParser, generation: bool = False) -> None:
    p.add_argument("--task", default=None, help=f"task name: {', '.join(TASKS)}")
    sources = dict(TASK_CONFIGS) | ({GENERATION: C.GenerationConfig} if generation else {})
    group = p.add_argument_group("task parameters (each task has its own defaults)")
    types = _union_flags(group, sources)
    group.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="any task parameter by its field name, e.g. --set threshold=25 (repeatable; same as --threshold 25)",
    )
    kinds = {a.dest: a for a in group._group_actions}
    p.set_defaults(task_fields=types, flag_actions=kinds)


def _given(args: argparse.Namespace, names) -> dict:
    return {n: getattr(args, n) for n in names if hasattr(args, n)}


def _task_params(args: argparse.Namespace, task: str | None = None, allowed=None) -> dict:
    """The task parameters given (flags and --set), typed by their flags; a parameter of another task is refused."""
    task = task or args.task
    params = _given(args, args.task_fields)
    for item in getattr(args, "set", []):
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise InputError(f"--set: expected KEY=VALUE, got {item!r}")
        action = args.flag_actions.get(key)
        params[key] = _typed(action, key, value.strip()) if action is not None else value.strip()
    allowed = set(_fields(TASK_CONFIGS[task])) if allowed is None else set(allowed)
    foreign = sorted(k for k in params if k not in allowed)
    files = getattr(args, "config_sources", {})
    from_file = [k for k in foreign if files.get(k, "flag") != "flag"]
    if from_file:  # a config file of another task
        raise InputError(f"{files[from_file[0]]}: {from_file[0]!r} is not a parameter of task {task}")
    if foreign:
        raise InputError(f"task {task}: unknown parameters {foreign}; known: {', '.join(sorted(allowed))}")
    return params


def _typed(action: argparse.Action, key: str, value: str):
    if action.type is None:  # a --flag / --no-flag boolean
        if value.lower() in ("true", "1", "yes"):
            return True
        if value.lower() in ("false", "0", "no"):
            return False
        raise InputError(f"--set {key}: expected true or false, got {value!r}")
    try:
        return action.type(value)
    except (argparse.ArgumentTypeError, ValueError) as err:
        raise InputError(f"--set {key}: {err}") from None


def _out_folder(path: str) -> str:
    from heedful.runs import check_out_path

    check_out_path(path, folder=True)
    return path


# --- data ---------------------------------------------------------------------------------------------


def _add_data(commands) -> None:
    p = commands.add_parser(
        "data", help="build a task's dataset (--task) or generate IndPenSim batches (--source indpensim)"
    )
    p.add_argument("--source", choices=("indpensim",), default=None, help="generate batches of this simulator")
    _task_flags(p, generation=True)
    _suppress_defaults(p)
    p.set_defaults(func=_data)


def _data(args: argparse.Namespace) -> int:
    single_process("process data")
    if getattr(args, "source", None) == "indpensim":
        return _generate(args)
    if getattr(args, "task", None) is None:
        raise InputError("process data: give --task NAME or --source indpensim")
    check_task(args.task)
    import numpy as np

    from heedful.process.tasks import build_task

    data = build_task(args.task, **_task_params(args))
    outputs = f"{data.n_classes} classes" if "classification" in data.kind else f"targets {data.target_names}"
    print(f"task {data.name} ({data.kind}), {data.n_features} variables, {outputs}")
    for name in ("train", "val", "test"):
        split = getattr(data, name)
        line = f"{name:5s} {len(split):6d} samples of {split.x.shape[1]} steps"
        if data.kind == "classification":
            counts = np.bincount(split.y, minlength=data.n_classes)
            line += f"; per class min {counts.min()}, max {counts.max()}"
        print(line)
    return 0


def _generate(args: argparse.Namespace) -> int:
    from heedful.process.sources import indpensim as ip

    if getattr(args, "task", None) is not None:
        raise InputError("process data: give --task or --source, not both")
    place = {"cache", "workers"}
    params = _task_params(args, GENERATION, allowed=set(_fields(C.GenerationConfig)) | place)
    config = C.GenerationConfig(**{k: v for k, v in params.items() if k not in place})
    data = C.PenDataConfig()  # where and how: the tasks' defaults
    cache, workers = params.get("cache", data.cache), params.get("workers", data.workers)
    if workers < 1:
        raise InputError(f"workers must be >= 1, got {workers}")
    report = ip.generate(ip.specs(config), cache, workers)
    finals = [float(b.channel("penicillin")[-1]) for b in report.batches]
    done = len(report.batches) - report.computed
    print(
        f"{len(report.batches)} batches ({report.computed} simulated, {done} from the cache) in {report.seconds:.1f} s"
    )
    if report.per_batch_seconds:
        print(f"simulation: {sum(report.per_batch_seconds) / len(report.per_batch_seconds):.1f} s per batch")
    faulty = sum(int(b.spec.fault != 0) for b in report.batches)
    print(f"final penicillin {min(finals):.1f}-{max(finals):.1f} g/L; {faulty} batches with a fault")
    print(f"cache: {cache or ip.default_cache_dir()}")
    return 0


# --- train / compare ----------------------------------------------------------------------------------


def _training_flags(p: argparse.ArgumentParser) -> None:
    add_config_flags(p.add_argument_group("model"), C.ModelConfig)
    add_config_flags(p.add_argument_group("training"), C.TrainConfig)
    add_config_flags(p, C.RunConfig)


def _add_train(commands) -> None:
    p = commands.add_parser("train", help="train a model on a task into a run folder (or resume one)")
    add_config_flags(p, C.TrainTarget, skip=("task",), help={"model": f"one of: {', '.join(NEURAL_MODELS)}"})
    _task_flags(p)
    _training_flags(p)
    _suppress_defaults(p)
    add_report_flag(p)
    p.set_defaults(func=_train, record_aliases=RECORDED)


def _resolve(args: argparse.Namespace) -> tuple[C.RunConfig, dict, dict, dict]:
    """(run config, task params, model params, training values): only the values given, by keyword; the library
    builds the configs (new run) or checks them against the resumed run (``heedful.process.runner.plan_run``)."""
    run = config_from_args(C.RunConfig, args)
    task = getattr(args, "task", None)
    if task is not None:
        check_task(task)
    elif run.resume is None:
        raise InputError("give --task NAME (or --resume RUN)")
    if task is None and (_given(args, args.task_fields) or getattr(args, "set", [])):
        from heedful.process.runner import read_run_config

        task = read_run_config(run.resume, needs=())["task"]  # the resumed run's task names its parameters
    task_params = _task_params(args, task) if task is not None else {}
    return run, task_params, _given(args, _fields(C.ModelConfig)), _given(args, _fields(C.TrainConfig))


def _train(args: argparse.Namespace) -> int:
    import torch

    from heedful.devices import main_process
    from heedful.process.runner import train_run
    from heedful.process.tasks import get_task
    from heedful.runs import read_json

    torch.set_num_threads(1)
    run, task_params, model, train = _resolve(args)
    target = config_from_args(C.TrainTarget, args, task=getattr(args, "task", None))  # checks --model
    model_name = getattr(args, "model", None) if run.resume is not None else target.model
    task = getattr(args, "task", None)
    run_dir = train_run(task, model_name, task_params, model, train, _out_folder(run.out), run.resume)
    if not main_process():  # one launch, one run: the main process says how it went
        return 0
    metrics = read_json(run_dir / "metrics.json")
    config = read_json(run_dir / "config.json")  # the run folder was said when it started (train_run)
    print(
        f"{metrics['model']}: {metrics['parameters']} parameters, {metrics['train_seconds']} s, "
        f"best epoch {metrics['best_epoch']}"
    )
    for line in get_task(metrics["task"]).summary(metrics["test"], config["task_params"]):
        print(line)
    report_if_asked(args, run_dir)
    return 0


def _add_compare(commands) -> None:
    p = commands.add_parser("compare", help="train and test several models on one task: markdown table + plot")
    known = ", ".join((*NEURAL_MODELS, *CLASSICAL_MODELS))
    add_config_flags(p, C.CompareConfig, help={"models": f"comma-separated, from: {known} (default: the task's set)"})
    _task_flags(p)
    _training_flags(p)
    _suppress_defaults(p)
    add_report_flag(p)
    p.set_defaults(func=_compare, record_aliases=RECORDED)


def _compare(args: argparse.Namespace) -> int:
    single_process("process compare")
    import torch

    from heedful.process.compare import compare

    torch.set_num_threads(1)
    run, task_params, model, train = _resolve(args)
    models = list(args.models) if hasattr(args, "models") else None
    if models is not None and not models:
        raise InputError("--models: no model names given")
    run_dir = compare(getattr(args, "task", None), models, task_params, model, train, _out_folder(run.out), run.resume)
    print((run_dir / "table.md").read_text(), end="")  # the run folder was said when it started (compare)
    report_if_asked(args, run_dir)
    return 0


# --- explain / predict --------------------------------------------------------------------------------


def _add_explain(commands) -> None:
    p = commands.add_parser("explain", help="attention heatmap of a trained run over a test run, fault window shaded")
    p.add_argument("run", help="run folder written by `heedful process train` (or COMPARE_RUN/models/NAME)")
    add_config_flags(p, C.ExplainConfig)
    _add_faithfulness(p)
    p.set_defaults(func=_explain)


def _add_faithfulness(p: argparse.ArgumentParser) -> None:
    from heedful.cli.flags import add_config_flags
    from heedful.explain import FaithfulnessConfig

    p.add_argument(
        "--faithfulness",
        action="store_true",
        help="measure how faithful the attention is on the test split (deletion / insertion curves, ERASER, rank "
        "agreement with integrated gradients); writes RUN/faithfulness.json and RUN/faithfulness.png",
    )
    add_config_flags(p.add_argument_group("faithfulness (with --faithfulness; docs/explain.md)"), FaithfulnessConfig)


def _faithfulness(args: argparse.Namespace) -> int:
    import torch

    from heedful.cli.flags import config_from_args
    from heedful.explain import FaithfulnessConfig, summary_lines
    from heedful.process.faithfulness import faithfulness_run

    torch.set_num_threads(1)
    device = config_from_args(C.ExplainConfig, args).device
    result = faithfulness_run(args.run, config_from_args(FaithfulnessConfig, args), device)
    head = f"{result['model']} on {result['task']}, {result['samples']} test samples"
    print(f"{head}; removed steps: {result['removal']}")
    print("\n".join(summary_lines(result)))
    print(f"numbers: {args.run}/faithfulness.json; curves: {args.run}/faithfulness.png")
    return 0


def _explain(args: argparse.Namespace) -> int:
    single_process("process explain")
    if args.faithfulness:
        return _faithfulness(args)
    from heedful.process.runner import explain_run

    cfg = config_from_args(C.ExplainConfig, args)
    summary = explain_run(args.run, cfg.out, cfg.fault, cfg.sample, cfg.csv, cfg.impute, cfg.device)
    print(f"picture: {summary.pop('picture')}")
    if "changes" in summary:
        print(
            f"test batch {summary['batch']}, label changes at steps {summary['changes']}: {summary['windows']} windows "
            f"straddle a change and already name the new label; they put {summary['post_change_attention']:.1%} of "
            f"their attention on the steps after it, which are {summary['post_change_share']:.1%} of their steps"
        )
    elif "attention_on_last_quarter" in summary:  # --csv: new values, no truth
        named = ", ".join(f"{n} {name}" for name, n in summary["predictions"].items())
        print(
            f"{summary['windows']} windows (every {summary['stride']} steps; named: {named}) put "
            f"{summary['attention_on_last_quarter']:.1%} of their attention on the last quarter of their steps"
        )
    elif "windows" in summary:
        print("\n".join(_onset_lines(summary, cfg.fault)))
    elif "batches" in summary:
        print(
            f"{summary['batches']} test batches (median {summary['median_batch_steps']:.0f} steps): attention peaks at "
            f"hour {summary['peak_hour_median']:g} (median), sits at {summary['mean_position']:.0%} of the batch on "
            f"average, spreads over {summary['effective_steps']:.1f} steps and puts "
            f"{summary['attention_on_last_10pct']:.1%} on the last 10% of steps"
        )
    else:
        print(json.dumps(summary))
    return 0


def _onset_lines(summary: dict, fault: int) -> list[str]:
    """The fault-onset summary: windows straddling the onset that already name the fault, then all of them."""
    every = summary["straddling"]
    named = ", ".join(f"{n} {name}" for name, n in every["predictions"].items())
    return [
        f"{summary['windows']} windows straddle the onset and already name fault {fault}: they put "
        f"{summary['post_onset_attention']:.1%} of their attention on post-onset steps, "
        f"which are {summary['post_onset_share']:.1%} of their steps",
        f"all {every['windows']} windows straddling the onset (named: {named}): they put "
        f"{every['post_onset_attention']:.1%} of their attention on post-onset steps, "
        f"which are {every['post_onset_share']:.1%} of their steps",
    ]


def _add_predict(commands) -> None:
    p = commands.add_parser("predict", help="apply a trained run to one batch of sensor values (CSV)")
    p.add_argument("run", help="run folder written by `heedful process train` (or COMPARE_RUN/models/NAME)")
    add_config_flags(p, C.PredictConfig, required=("csv",))
    p.set_defaults(func=_predict, quiet_config=True)  # stdout is the JSON answer: the config only with --config


def _predict(args: argparse.Namespace) -> int:
    single_process("process predict")
    import torch

    from heedful.process.explain import check_out_file
    from heedful.process.runner import answer_csv, load_trained, predict_csv, run_inputs
    from heedful.runs import write_json

    torch.set_num_threads(1)
    cfg = config_from_args(C.PredictConfig, args)
    out = check_out_file(cfg.out, inputs=[cfg.csv, *run_inputs(args.run)]) if cfg.out else None
    data, model, _ = load_trained(args.run, cfg.device)
    rows = cfg.probabilities or cfg.attention  # the service's answer shape
    if rows:
        asked = {"probabilities": cfg.probabilities, "attention": cfg.attention}
        result = {"model": Path(args.run).name} | answer_csv(data, model, cfg.csv, cfg.impute, **asked)
    else:
        result = predict_csv(data, model, cfg.csv, cfg.impute)
    if out is not None:
        write_json(out, result)
    print(json.dumps(_summary(result) if out is not None or not rows else result))
    return 0


def _summary(result: dict) -> dict:
    """The answer without its long lists: windows counted by class, per-step classes as runs."""
    import numpy as np

    lists = ("values", "window_ends", "predictions", "per_step", "two_stage_predictions")
    shown = {k: v for k, v in result.items() if k not in lists}
    calls = result.get("predictions")
    if calls and isinstance(calls[0], dict):  # the service's rows
        calls = [r["class"] for r in calls] if "class" in calls[0] else None
    if calls:
        labels, counts = np.unique(calls, return_counts=True)
        shown["windows"] = dict(zip(labels.tolist(), counts.tolist(), strict=True))
    if "per_step" in result:
        shown["per_step"] = _runs(result["per_step"], result["every"])
    return shown


def _runs(labels: list[str], every: int) -> list[str]:
    """Run-length summary: 'batch 0-120', 'fed-batch 120-500', ... (steps)."""
    out, start = [], 0
    for i in range(1, len(labels) + 1):
        if i == len(labels) or labels[i] != labels[start]:
            out.append(f"{labels[start]} {start * every}-{i * every}")
            start = i
    return out
