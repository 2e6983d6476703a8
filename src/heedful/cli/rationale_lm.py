"""``heedful rationale train`` and ``predict --method lm``: the language-model route (argparse only, lazy imports)."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from heedful.cli.flags import add_config_flags, config_from_args
from heedful.errors import InputError

MODES = ("retrieval", "xattn", "both")  # heedful.rationale.lm.model.MODES minus zeroshot (nothing to train)
# a train run's config.json, read as a --config file: recorded values that are no flag of 'rationale train' (the
# graph's own layer count; the index the run built inside its folder, which a replay builds again)
RECORDED = {"model.graph.layers": None, "index": None}


def _train_cls():
    from heedful.rationale.lm.config import LMTrainConfig  # torch-free

    return LMTrainConfig


def _generate_cls():
    from heedful.rationale.lm.config import GenerateConfig  # torch-free

    return GenerateConfig


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
    data_args(p, "train", trains=True)
    encoder_args(p)
    lm_arg(p)
    # RationaleLMConfig imports torch (its graph config), so its flags default to None = the config's default
    p.add_argument("--mode", default="both", choices=MODES, help="conditioning route (default: both)")
    p.add_argument("--k", type=int, help="retrieved examples per prompt (default: RationaleLMConfig.k = 2)")
    p.add_argument("--max-tokens", type=int, help="prompt + rationale token limit (default: 1024)")
    p.add_argument(
        "--prompt-text",
        action=argparse.BooleanOptionalAction,
        help="the prompt spells what was said (default: on; --no-prompt-text: only speakers and emotions, so the "
        "cross-attention has to carry the dialogue)",
    )
    p.add_argument(
        "--scene-line",
        action=argparse.BooleanOptionalAction,
        help="verbalised video: a classifier fitted on the training frames (--visual) names the visual stimulus, "
        "written into the prompt as a line '画面：B皱眉'; the frames reach the LM as words only (default: off)",
    )
    p.add_argument(
        "--trim-vocab",
        action=argparse.BooleanOptionalAction,
        help="keep only the tokens of the training prompts and rationales (default: on)",
    )
    p.add_argument("--index", help="index folder for the retrieved examples (default: built from the train split)")
    p.add_argument("--graph-init", help="start the graph encoder from a 'rationale pretrain' run folder")
    p.add_argument("--max-train", type=int, help="use only the first N training samples")
    p.add_argument("--lora-r", type=int, default=8, help="LoRA rank (default: 8)")
    layers = p.add_argument(
        "--layers", help="comma-separated decoder layers to inject, counted from 0 (default: 1/2, 2/3, 5/6 of depth)"
    )
    layers.annotation = tuple[int, ...] | str | None  # a config file may give a list
    p.add_argument(
        "--gate-init",
        type=float,
        default=0.0,
        help="initial value of the cross-attention tanh gates (default: 0, the LM starts exactly unchanged)",
    )
    p.add_argument(
        "--freeze-gates",
        action="store_true",
        help="keep the cross-attention gates at --gate-init while training (an experiment)",
    )
    p.add_argument(
        "--gate-scale",
        choices=("residual", "none"),
        default="residual",
        help="rescale the cross-attention output to the residual stream before its gate (default: residual; none: "
        "part 3's unscaled blocks)",
    )
    p.add_argument(
        "--fusion",
        choices=("sum", "gated"),
        default="gated",
        help="how a node fuses its text and frame features when --visual is given (default: gated)",
    )
    p.add_argument(
        "--modality-dropout",
        type=float,
        default=0.0,
        help="share of nodes whose frame input is zeroed while training (default: 0)",
    )
    add_config_flags(p, _train_cls(), skip=("seed",))
    p.add_argument("--resume", help="a run folder of an interrupted 'rationale train' to continue")
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    p.set_defaults(func=run_train, record_aliases=RECORDED, record_sections=("model", "train", "data", "features"))


def add_predict_args(p: argparse.ArgumentParser) -> None:
    lm_arg(p)
    p.add_argument("--model", help="--method lm: a 'rationale train' run folder (without it: zero-shot base LM)")
    # --seed: the sampling seed (the split has --split-seed); --device: where the LM generates (lm only)
    add_config_flags(p, _generate_cls(), help={"strategy": "greedy | beam | sample | mbr"})
    p.add_argument("--limit", type=int, help="predict only the first N samples of the split")
    visual_args(p)  # predict's default --visual: the frames the model was trained with
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")


def parse_layers(text: str | tuple[int, ...] | None) -> tuple[int, ...] | None:
    """``--layers 4,8,12``: decoder layer numbers, each once; ``a,b`` or ``1,,2`` are refused, not guessed at."""
    if text is None:
        return None
    if isinstance(text, tuple):  # from a config file
        text = ",".join(map(str, text))
    parts = [p.strip() for p in text.split(",")]
    if not all(p.isascii() and p.isdigit() for p in parts):
        raise InputError(f"--layers: expected comma-separated layer numbers like 4,8,12, got {text[:40]!r}")
    layers = tuple(int(p) for p in parts)
    if len(set(layers)) < len(layers):
        raise InputError(f"--layers: a layer given twice in {text[:40]!r}")
    return layers


def lm_run_config(folder, flag: str, sections=("model",)) -> dict:
    """The checked config.json of a 'rationale train' run folder (``heedful.rationale.lm.runfolder``)."""
    from heedful.rationale.lm.runfolder import lm_run_config as read

    return read(folder, flag, sections)


def visual_args(p: argparse.ArgumentParser) -> None:
    """--visual and --visual-missing, from KeyConfig (the one place their defaults and help live)."""
    from heedful.rationale.retrieval.config import KeyConfig

    add_config_flags(p, KeyConfig, only=("visual", "visual_missing"))


def set_threads(n: int | None) -> None:
    if n is not None:
        import torch

        if n < 1:
            raise InputError(f"threads must be >= 1, got {n}")
        torch.set_num_threads(n)


def run_train(args) -> int:
    from heedful.cli.rationale_data import data_config
    from heedful.rationale.graph.config import GraphConfig
    from heedful.rationale.lm.config import LMTrainConfig
    from heedful.rationale.lm.inject import InjectConfig
    from heedful.rationale.lm.model import LoraSettings, RationaleLMConfig
    from heedful.rationale.lm.pipeline import train_pipeline
    from heedful.rationale.retrieval.keys import KeyConfig
    from heedful.runs import new_run_dir

    set_threads(args.threads)
    if args.resume:  # the saved settings win: a resumed run must be the same run
        from heedful.rationale.lm.runfolder import resume_settings

        folder = Path(args.resume)
        settings = resume_settings(folder)
    else:
        layers = parse_layers(args.layers)
        data = data_config(args)
        given = {
            name: getattr(args, name)
            for name in ("k", "max_tokens", "trim_vocab", "prompt_text", "scene_line")
            if getattr(args, name) is not None
        }
        model = RationaleLMConfig(
            lm=args.lm,
            mode=args.mode,
            inject=InjectConfig(
                layers=layers, gate_init=args.gate_init, gate_scale=args.gate_scale, freeze_gates=args.freeze_gates
            ),
            graph=GraphConfig(fusion=args.fusion, modality_dropout=args.modality_dropout),
            lora=LoraSettings(r=args.lora_r),
            encoder=args.encoder,
            **given,
        )
        train = config_from_args(LMTrainConfig, args, seed=args.seed)
        features = KeyConfig(
            encoder=args.encoder, cache_dir=args.cache_dir, visual=args.visual, visual_missing=args.visual_missing
        )
        index = args.index
        graph_init, max_train = args.graph_init, args.max_train
        if args.split != "train":
            raise InputError("rationale train learns from --split train (dev is used for early stopping)")
        from heedful.devices import resolve_device

        resolve_device(train.device)  # a machine without the device refuses before a run folder exists
        if args.visual:  # a bad frames file is refused before a run folder exists
            from heedful.rationale.features.visual import VisualFile

            VisualFile(args.visual)
        folder = new_run_dir(args.out, f"rationale-train-{args.mode}")
        settings = {"data": data, "model_cfg": model, "train_cfg": train, "features": features, "index": index}
        settings |= {"graph_init": graph_init, "max_train": max_train}
    print(f"run folder: {folder}")
    try:
        report = train_pipeline(folder=folder, **settings)
    except BaseException:
        if not args.resume and not (folder / "config.json").exists():
            # failed before the run could be resumed (an LM folder that is not one, say): leave no empty run folder
            shutil.rmtree(folder, ignore_errors=True)
        raise
    print(
        f"trained {report['mode']} on {report['n_train']} samples: {report['epochs_run']} epoch(s), best dev loss "
        f"{report['best_dev_loss']:.4f}, {report['train_seconds']:.0f} s, {report['tokens_per_second']:.0f} tokens/s"
    )
    print(f"model saved in {folder}")
    return 0


def run_predict(args, samples) -> list[dict]:
    from heedful.devices import resolve_device
    from heedful.rationale.lm.config import GenerateConfig
    from heedful.rationale.lm.pipeline import predict_pipeline

    set_threads(getattr(args, "threads", None))
    gen = config_from_args(GenerateConfig, args)
    resolve_device(gen.device)  # a machine without the device refuses before the LM loads
    if args.model:
        lm_run_config(args.model, "--model")
    if args.model and args.lm:
        print("heedful: --lm ignored: the trained model names its base LM", file=sys.stderr)
    features = None
    if args.model and getattr(args, "visual", None):  # frames of another data file than the training one
        from dataclasses import replace

        from heedful.rationale.retrieval.keys import KeyConfig
        from heedful.runs import read_json

        saved = read_json(Path(args.model) / "config.json").get("features") or {}
        features = replace(KeyConfig(**saved), visual=args.visual, visual_missing=args.visual_missing)
    return predict_pipeline(samples, gen, args.model, args.lm, args.index, features)
