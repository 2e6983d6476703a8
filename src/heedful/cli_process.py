"""``heedful process ...``: process-track sub-commands (argparse only; the library is imported lazily)."""

from __future__ import annotations

import argparse
import json

TASK_CHOICES = ("tep_faults",)


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("process", help="process time series: data, training, comparison, explanations")
    commands = parser.add_subparsers(dest="process_command", metavar="COMMAND")
    parser.set_defaults(func=lambda args: _print_help(parser))
    _add_data(commands)
    _add_train(commands)
    _add_compare(commands)
    _add_explain(commands)


def _print_help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 0


def _task_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", required=True, help=f"task name: {', '.join(TASK_CHOICES)}")
    p.add_argument("--window", type=int, default=40, help="window length in samples (default: 40)")
    p.add_argument(
        "--faults",
        default="observable",
        help="TEP classes: 'all' (0-21), 'observable' (all but 3, 9, 15; default) or a list like 0,1,2",
    )


def _task_params(args: argparse.Namespace) -> dict:
    from heedful.process.sources.tep import N_FAULTS, UNOBSERVABLE_FAULTS

    if args.faults == "all":
        faults = list(range(N_FAULTS + 1))
    elif args.faults == "observable":
        faults = [f for f in range(N_FAULTS + 1) if f not in UNOBSERVABLE_FAULTS]
    else:
        try:
            faults = [int(f) for f in args.faults.split(",")]
        except ValueError:
            raise ValueError(
                f"--faults: expected 'all', 'observable' or integers like 0,1,2; got {args.faults!r}"
            ) from None
    return {"window": args.window, "faults": faults}


def _add_data(commands) -> None:
    p = commands.add_parser("data", help="build a task's dataset and summarise it")
    _task_args(p)
    p.set_defaults(func=_data)


def _data(args: argparse.Namespace) -> int:
    import numpy as np

    from heedful.process.tasks import build_task

    data = build_task(args.task, **_task_params(args))
    print(f"task {data.name} ({data.kind}), {data.n_features} variables, {data.n_classes} classes")
    for name in ("train", "val", "test"):
        split = getattr(data, name)
        counts = np.bincount(split.y, minlength=data.n_classes)
        print(
            f"{name:5s} {len(split):6d} windows of {split.x.shape[1]} steps; per class min {counts.min()}, "
            f"max {counts.max()}"
        )
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
    return 0


def _add_compare(commands) -> None:
    p = commands.add_parser("compare", help="train and test several models on one task: markdown table + plot")
    _task_args(p)
    p.add_argument(
        "--models",
        default="lstm,bilstm,gru,bigru,bilstm_attn,bigru_attn,logistic,pca_t2",
        help="comma-separated model names (neural, logistic, pca_t2)",
    )
    _training_args(p)
    p.set_defaults(func=_compare)


def _compare(args: argparse.Namespace) -> int:
    import torch

    from heedful.process.compare import compare

    torch.set_num_threads(1)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    model_params = {"hidden_size": args.hidden, "num_layers": args.layers}
    run_dir = compare(args.task, models, _task_params(args), model_params, _train_config(args), args.out, args.resume)
    print(f"run folder: {run_dir}")
    print((run_dir / "table.md").read_text(), end="")
    return 0


def _add_explain(commands) -> None:
    p = commands.add_parser("explain", help="attention heatmap of a trained run over a test run, fault window shaded")
    p.add_argument("run", help="run folder written by `heedful process train`")
    p.add_argument("--fault", type=int, required=True, help="which test run to explain (TEP fault id)")
    p.add_argument("--out", default=None, help="PNG path (default: RUN/explain_fault<F>.png)")
    p.set_defaults(func=_explain)


def _explain(args: argparse.Namespace) -> int:
    from pathlib import Path

    from heedful.process.explain import explain_tep_run

    out = Path(args.out) if args.out else Path(args.run) / f"explain_fault{args.fault}.png"
    summary = explain_tep_run(args.run, args.fault, out)
    print(f"picture: {out}")
    print(
        f"{summary['windows']} windows straddle the onset and already name fault {args.fault}: they put "
        f"{summary['post_onset_attention']:.1%} of their attention on post-onset steps, "
        f"which are {summary['post_onset_share']:.1%} of their steps"
    )
    return 0
