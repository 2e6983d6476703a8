"""``heedful rationale train`` and ``predict --method lm``: the language-model route (argparse only, lazy imports)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from heedful.errors import InputError

MODES = ("retrieval", "xattn", "both")  # heedful.rationale.lm.adapter.MODES minus zeroshot (nothing to train)


def lm_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--lm", help="local Hugging Face causal-LM folder (default: the packaged Gemma-3-270M, converted once)"
    )


def register_train(commands, data_args, encoder_args) -> None:
    p = commands.add_parser(
        "train",
        help="train the rationale LM (LoRA + gated cross-attention on h_change, and/or retrieved examples)",
        description="Fine-tune a causal LM to write the rationale of an emotion change. Modes: retrieval (retrieved "
        "examples in the prompt), xattn (cross-attention to the change graph), both. The base LM stays frozen; LoRA, "
        "the cross-attention blocks and the graph encoder are trained and saved (adapter.safetensors). Re-running "
        "with --resume FOLDER continues an interrupted run.",
    )
    data_args(p, "train")
    encoder_args(p)
    lm_arg(p)
    p.add_argument("--mode", default="both", choices=MODES, help="conditioning route (default: both)")
    p.add_argument("--index", help="index folder for the retrieved examples (default: built from the train split)")
    p.add_argument("--graph-init", help="start the graph encoder from a 'rationale pretrain' run folder")
    p.add_argument("--k", type=int, default=2, help="retrieved examples per prompt (default: 2)")
    p.add_argument("--max-tokens", type=int, default=1024, help="prompt + rationale token limit (default: 1024)")
    p.add_argument("--max-train", type=int, help="use only the first N training samples")
    p.add_argument("--epochs", type=int, default=2, help="(default: 2)")
    p.add_argument("--batch-size", type=int, default=4, help="(default: 4)")
    p.add_argument("--grad-accum", type=int, default=2, help="gradient accumulation steps (default: 2)")
    p.add_argument("--lr", type=float, default=5e-4, help="peak learning rate (default: 5e-4)")
    p.add_argument("--lora-r", type=int, default=8, help="LoRA rank (default: 8)")
    p.add_argument("--layers", help="comma-separated decoder layers to inject (default: 1/2, 2/3, 5/6 of depth)")
    p.add_argument("--max-dev", type=int, default=64, help="dev examples for early stopping (default: 64)")
    p.add_argument("--resume", help="a run folder of an interrupted 'rationale train' to continue")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    p.set_defaults(func=run_train)


def add_predict_args(p: argparse.ArgumentParser) -> None:
    lm_arg(p)
    p.add_argument("--model", help="--method lm: a 'rationale train' run folder (without it: zero-shot base LM)")
    p.add_argument("--strategy", default="greedy", choices=("greedy", "beam", "sample"), help="(default: greedy)")
    p.add_argument("--beams", type=int, default=4, help="beam width for --strategy beam (default: 4)")
    p.add_argument("--temperature", type=float, default=0.8, help="for --strategy sample (default: 0.8)")
    p.add_argument("--top-p", type=float, default=0.95, help="for --strategy sample (default: 0.95)")
    p.add_argument("--max-new-tokens", type=int, default=96, help="(default: 96)")
    p.add_argument("--batch-size", type=int, default=8, help="generation batch size (default: 8)")
    p.add_argument("--limit", type=int, help="predict only the first N samples of the split")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--attention", action="store_true", help="export cross-attention weights over utterances")


def _threads(n: int | None) -> None:
    if n is not None:
        import torch

        if n < 1:
            raise InputError(f"threads must be >= 1, got {n}")
        torch.set_num_threads(n)


def run_train(args) -> int:
    from heedful.rationale.data.config import DataConfig
    from heedful.rationale.lm.adapter import LoraSettings, RationaleLMConfig
    from heedful.rationale.lm.inject import InjectConfig
    from heedful.rationale.lm.pipeline import train_pipeline
    from heedful.rationale.lm.train import LMTrainConfig
    from heedful.rationale.retrieval.keys import KeyConfig
    from heedful.runs import new_run_dir, read_json

    _threads(args.threads)
    if args.resume:  # the saved settings win: a resumed run must be the same run
        folder = Path(args.resume)
        saved = read_json(folder / "config.json")
        data, train = DataConfig(**saved["data"]), LMTrainConfig(**saved["train"])
        model = RationaleLMConfig.from_dict(saved["model"])
        features, index = KeyConfig(**saved["features"]), saved.get("index")
        graph_init, max_train = saved.get("graph_init"), saved.get("max_train")
    else:
        layers = tuple(int(x) for x in args.layers.split(",")) if args.layers else None
        data = DataConfig(args.data, args.split, args.dev_fraction, args.seed, args.skip_invalid)
        model = RationaleLMConfig(
            lm=args.lm,
            mode=args.mode,
            inject=InjectConfig(layers=layers),
            lora=LoraSettings(r=args.lora_r),
            encoder=args.encoder,
            k=args.k,
            max_tokens=args.max_tokens,
        )
        train = LMTrainConfig(
            epochs=args.epochs,
            batch_size=args.batch_size,
            grad_accum=args.grad_accum,
            lr=args.lr,
            max_dev=args.max_dev,
            seed=args.seed,
        )
        features, index = KeyConfig(encoder=args.encoder, cache_dir=args.cache_dir), args.index
        graph_init, max_train = args.graph_init, args.max_train
        if args.split != "train":
            raise InputError("rationale train learns from --split train (dev is used for early stopping)")
        folder = new_run_dir(args.out, f"rationale-train-{args.mode}")
    print(f"run folder: {folder}")
    report = train_pipeline(data, model, train, folder, features, index, graph_init, max_train)
    print(
        f"trained {report['mode']} on {report['n_train']} samples: {report['epochs_run']} epoch(s), best dev loss "
        f"{report['best_dev_loss']:.4f}, {report['train_seconds']:.0f} s, {report['tokens_per_second']:.0f} tokens/s"
    )
    print(f"model saved in {folder}")
    return 0


def run_predict(args, samples) -> list[dict]:
    from heedful.rationale.lm.generate import GenerateConfig
    from heedful.rationale.lm.pipeline import predict_pipeline

    _threads(getattr(args, "threads", None))
    gen = GenerateConfig(
        args.strategy, args.beams, args.temperature, args.top_p, args.max_new_tokens, args.batch_size, args.attention
    )
    if args.model and args.lm:
        print("heedful: --lm ignored: the trained model names its base LM", file=sys.stderr)
    return predict_pipeline(samples, gen, args.model, args.lm, args.index)
