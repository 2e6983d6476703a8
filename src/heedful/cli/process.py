"""``heedful process ...``: process-track sub-commands (argparse only; the library is imported lazily)."""

from __future__ import annotations

import argparse
import json

from heedful.errors import InputError
from heedful.process.names import TASKS, check_task


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


def _task_args(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("--task", required=required, help=f"task name: {', '.join(TASKS)}")
    p.add_argument(
        "--window", type=int, default=None, help="window length in samples (TEP default: 40; pen_faults / pen_repair)"
    )
    p.add_argument(
        "--faults",
        default="observable",
        help="TEP classes: 'all' (0-21), 'observable' (all but 3, 9, 15; default) or a list like 0,1,2",
    )
    p.add_argument("--batches", type=int, default=None, help="IndPenSim tasks: number of batches (task default)")
    p.add_argument("--cache", default=None, help="IndPenSim batch cache folder (default: ~/.cache/heedful/indpensim)")
    p.add_argument("--workers", type=int, default=None, help="IndPenSim: simulation worker processes (default: 1)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="IndPenSim task parameter, e.g. --set threshold=25 --set every=2 (repeatable)",
    )


def _task_params(args: argparse.Namespace) -> dict:
    if args.task != "tep_faults":
        return _pen_params(args)
    from heedful.process.sources.tep import N_FAULTS, UNOBSERVABLE_FAULTS

    if args.faults == "all":
        faults = list(range(N_FAULTS + 1))
    elif args.faults == "observable":
        faults = [f for f in range(N_FAULTS + 1) if f not in UNOBSERVABLE_FAULTS]
    else:
        try:
            faults = [int(f) for f in args.faults.split(",")]
        except ValueError:
            raise InputError(
                f"--faults: expected 'all', 'observable' or integers like 0,1,2; got {args.faults!r}"
            ) from None
    return {"window": args.window or 40, "faults": faults}


def _pen_params(args: argparse.Namespace) -> dict:
    check_task(args.task)
    params = {k: v for k, v in (("batches", args.batches), ("cache", args.cache), ("workers", args.workers)) if v}
    if args.window is not None:
        params["window"] = args.window
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InputError(f"--set: expected KEY=VALUE, got {item!r}")
        params[key.strip()] = _number(value.strip())
    from heedful.process.tasks import task_config

    task_config(args.task, **params)  # unknown or invalid parameters fail here, before any simulation
    return params


def _number(text: str):
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


def _add_data(commands) -> None:
    p = commands.add_parser(
        "data", help="build a task's dataset (--task) or generate IndPenSim batches (--source indpensim)"
    )
    _task_args(p, required=False)
    p.add_argument("--source", choices=("indpensim",), default=None, help="generate batches of this simulator")
    p.add_argument("--base-seed", type=int, default=1000, help="pensimpy seed of batch 0 (default: 1000)")
    p.add_argument("--seed-stride", type=int, default=50, help="seed step between batches, >= 50 (default: 50)")
    p.add_argument("--fault-fraction", type=float, default=0.0, help="share of batches with a random fault")
    p.add_argument("--min-hours", type=float, default=230.0, help="shortest batch in hours (default: 230)")
    p.add_argument("--max-hours", type=float, default=230.0, help="longest batch in hours (default: 230)")
    p.add_argument("--scale", default="0.7,1.3", help="recipe scale range for sugar / aeration / pressure")
    p.add_argument("--time-jitter", type=float, default=0.0, help="recipe timing stretched by 1 ± this")
    p.add_argument("--temperature-programmes", action="store_true", help="half the batches change T set-point")
    p.set_defaults(func=_data)


def _data(args: argparse.Namespace) -> int:
    if args.source == "indpensim":
        return _generate(args)
    if args.task is None:
        raise InputError("process data: give --task NAME or --source indpensim")
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

    try:
        low, high = (float(v) for v in args.scale.split(","))
    except ValueError:
        raise InputError(f"--scale: expected LOW,HIGH like 0.7,1.3; got {args.scale!r}") from None
    config = ip.GenerationConfig(
        batches=args.batches or 10,
        base_seed=args.base_seed,
        seed_stride=args.seed_stride,
        scale_low=low,
        scale_high=high,
        fault_fraction=args.fault_fraction,
        min_hours=args.min_hours,
        max_hours=args.max_hours,
        time_jitter=args.time_jitter,
        temperature_programmes=args.temperature_programmes,
    )
    report = ip.generate(config, args.cache, args.workers or 1)
    finals = [float(b.channel("penicillin")[-1]) for b in report.batches]
    done = len(report.batches) - report.computed
    print(
        f"{len(report.batches)} batches ({report.computed} simulated, {done} from the cache) in {report.seconds:.1f} s"
    )
    if report.per_batch_seconds:
        print(f"simulation: {sum(report.per_batch_seconds) / len(report.per_batch_seconds):.1f} s per batch")
    faulty = sum(int(b.spec.fault != 0) for b in report.batches)
    print(f"final penicillin {min(finals):.1f}-{max(finals):.1f} g/L; {faulty} batches with a fault")
    print(f"cache: {args.cache or ip.default_cache_dir()}")
    return 0


def _training_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--hidden", type=int, default=64, help="hidden units per direction (default: 64)")
    p.add_argument("--layers", type=int, default=1, help="stacked RNN layers (default: 1)")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--patience", type=int, default=6, help="early stopping patience in epochs (default: 6)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="runs", help="folder for run folders (default: runs)")
    p.add_argument("--resume", default=None, help="continue the run in this run folder")


def _train_config(args: argparse.Namespace):
    from heedful.process.train import TrainConfig

    return TrainConfig(
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, patience=args.patience, seed=args.seed
    )


def _add_train(commands) -> None:
    from heedful.process.names import NEURAL_MODELS

    p = commands.add_parser("train", help="train a model on a task into a run folder")
    _task_args(p)
    p.add_argument("--model", default="bigru_attn", help=f"one of: {', '.join(NEURAL_MODELS)} (default: bigru_attn)")
    _training_args(p)
    p.set_defaults(func=_train)


def _train(args: argparse.Namespace) -> int:
    import torch

    from heedful.process.runner import train_run
    from heedful.process.train import TrainConfig

    torch.set_num_threads(1)
    cfg = TrainConfig(
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, patience=args.patience, seed=args.seed
    )
    model_params = {"hidden_size": args.hidden, "num_layers": args.layers}
    _check_model(args.model)
    run_dir = train_run(args.task, args.model, _task_params(args), model_params, cfg, args.out, args.resume)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    test = metrics["test"]
    print(f"run folder: {run_dir}")
    print(
        f"{metrics['model']}: {metrics['parameters']} parameters, {metrics['train_seconds']} s, "
        f"best epoch {metrics['best_epoch']}"
    )
    if "average_18_observable" in test:
        print(f"test overall accuracy {test['overall_accuracy']:.1%}, false-alarm rate {test['false_alarm_rate']:.1%}")
        print(f"18-fault average: {100 * test['average_18_observable']:.1f}%")
    else:
        print("test: " + ", ".join(f"{k} {v:.4g}" for k, v in test.items() if isinstance(v, float)))
    return 0


DEFAULT_MODELS = {
    "tep_faults": "lstm,bilstm,gru,bigru,bilstm_attn,bigru_attn,logistic,pca_t2",
    "pen_quality": "lstm,bilstm,gru,bigru,bilstm_attn,bigru_attn,logistic",
    "pen_phase": "lstm,bilstm,gru,bigru,logistic",
    "pen_faults": "lstm,bilstm,gru,bigru,bigru_attn,logistic,pca_t2",
    "pen_endtime": "gru,bigru,bigru_attn,ridge,pls",
    "pen_forecast": "lstm,bilstm,gru,bigru,bilstm_attn,seq2seq,seq2seq_attn,persistence,ridge",
    "pen_softsensor": "lstm,bilstm,gru,bigru,seq2seq_attn,ridge,pls",
    "pen_repair": "lstm,bilstm,gru,bigru,interpolate",
    "tep_sim_faults": "lstm,bilstm,gru,bigru,bilstm_attn,bigru_attn,logistic",
}


def _check_model(name: str) -> None:
    from heedful.process.names import NEURAL_MODELS

    if name not in NEURAL_MODELS:
        raise InputError(f"unknown model {name!r}; expected one of: {', '.join(NEURAL_MODELS)}")


def _add_compare(commands) -> None:
    p = commands.add_parser("compare", help="train and test several models on one task: markdown table + plot")
    _task_args(p)
    p.add_argument(
        "--models",
        default=None,
        help="comma-separated model names (default: the task's comparison set, see docs/process.md)",
    )
    _training_args(p)
    p.set_defaults(func=_compare)


def _compare(args: argparse.Namespace) -> int:
    import torch

    from heedful.process.compare import compare

    torch.set_num_threads(1)
    check_task(args.task)  # before DEFAULT_MODELS[...]: an unknown task is a one-line error, not a KeyError
    models = [m.strip() for m in (args.models or DEFAULT_MODELS[args.task]).split(",") if m.strip()]
    model_params = {"hidden_size": args.hidden, "num_layers": args.layers}
    run_dir = compare(args.task, models, _task_params(args), model_params, _train_config(args), args.out, args.resume)
    print(f"run folder: {run_dir}")
    print((run_dir / "table.md").read_text(), end="")
    return 0


def _add_explain(commands) -> None:
    p = commands.add_parser("explain", help="attention heatmap of a trained run over a test run, fault window shaded")
    p.add_argument("run", help="run folder written by `heedful process train`")
    p.add_argument("--fault", type=int, default=None, help="fault tasks: which fault's test run to explain")
    p.add_argument("--sample", type=int, default=0, help="seq2seq_attn runs: which test sample (default: 0)")
    p.add_argument("--out", default=None, help="PNG path (default: RUN/explain_fault<F>.png)")
    p.set_defaults(func=_explain)


def _explain(args: argparse.Namespace) -> int:
    from pathlib import Path

    from heedful.process.explain import explain_run

    name = f"explain_fault{args.fault}.png" if args.fault is not None else f"explain_sample{args.sample}.png"
    out = Path(args.out) if args.out else Path(args.run) / name
    summary = explain_run(args.run, out, args.fault, args.sample)
    print(f"picture: {out}")
    if "windows" in summary:
        print(
            f"{summary['windows']} windows straddle the onset and already name fault {args.fault}: they put "
            f"{summary['post_onset_attention']:.1%} of their attention on post-onset steps, "
            f"which are {summary['post_onset_share']:.1%} of their steps"
        )
    else:
        print(json.dumps(summary))
    return 0


def _add_predict(commands) -> None:
    p = commands.add_parser("predict", help="apply a trained run to one batch of sensor values (CSV)")
    p.add_argument("run", help="run folder written by `heedful process train` (or COMPARE_RUN/models/NAME)")
    p.add_argument("--csv", required=True, help="one row per time step, one column per input variable")
    p.add_argument("--impute", choices=("ffill",), default=None, help="fill NaN / inf from the previous row")
    p.add_argument("--out", default=None, help="write the predictions as JSON here")
    p.set_defaults(func=_predict)


def _predict(args: argparse.Namespace) -> int:
    from pathlib import Path

    import numpy as np
    import torch

    from heedful.process.predict import clean, predict_values, read_values
    from heedful.process.runner import load_trained
    from heedful.runs import write_json

    torch.set_num_threads(1)
    data, model, _ = load_trained(args.run)
    names = data.target_names if data.name == "pen_repair" else data.feature_names
    values = read_values(args.csv, names)
    if data.name != "pen_repair":  # for repair, NaN marks the values to restore
        values = clean(values, names, args.csv, args.impute)
    result = predict_values(data, model, values, args.csv)
    if args.out:
        write_json(Path(args.out), result)
    shown = {k: v for k, v in result.items() if k not in ("values", "window_ends", "predictions", "per_step")}
    if "predictions" in result:
        labels, counts = np.unique(result["predictions"], return_counts=True)
        shown["windows"] = dict(zip(labels.tolist(), counts.tolist(), strict=True))
    if "per_step" in result:
        shown["per_step"] = _runs(result["per_step"], result["every"])
    print(json.dumps(shown))
    return 0


def _runs(labels: list[str], every: int) -> list[str]:
    """Run-length summary: 'batch 0-120', 'fed-batch 120-500', ... (steps)."""
    out, start = [], 0
    for i in range(1, len(labels) + 1):
        if i == len(labels) or labels[i] != labels[start]:
            out.append(f"{labels[start]} {start * every}-{i * every}")
            start = i
    return out
