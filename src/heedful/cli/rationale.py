"""``heedful rationale ...``: dialogue-emotion rationale sub-commands (argparse only; lazy library imports).

data (check a file) → pretrain → index → retrieve / predict --method knn → evaluate. Every command writes a run
folder with config.json; flags are generated from the typed configs, so each default lives in its dataclass.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from heedful.cli.flags import add_config_flags, config_from_args
from heedful.cli.rationale_data import data_record
from heedful.cli.serve import add_report_flag, report_if_asked
from heedful.errors import InputError

# the split each command works on unless told otherwise (a property of the command, not of DataConfig)
SPLIT = {"data": "all", "pretrain": "train", "index": "train", "retrieve": "dev", "predict": "dev"}


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "rationale",
        help="emotion-change rationales: data, pretrain, index, retrieve, train, predict, evaluate, explain, visual",
        description="Emotion-change rationales (MECR / INSIDE format). Without --data, the embedded demo set is used.",
    )
    commands = parser.add_subparsers(dest="rationale_command", metavar="COMMAND")
    parser.set_defaults(func=lambda args: _print_help(parser), extra="rationale")
    _data(commands)
    _pretrain(commands)
    _index(commands)
    _retrieve(commands)
    from heedful.cli.rationale_lm import register_train

    register_train(commands, _data_args, _encoder_args)
    _predict(commands)
    _evaluate(commands)
    _explain(commands)
    from heedful.cli.rationale_visual import register as register_visual

    register_visual(commands)


def _print_help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 0


def _data_args(p: argparse.ArgumentParser, split: str, trains: bool = False) -> None:
    """DataConfig's flags (``heedful.cli.rationale_data``) and --out."""
    from heedful.cli.rationale_data import data_args

    data_args(p, split, trains)


def _out_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", default="runs", help="folder for run folders (default: runs)")


def _encoder_args(p: argparse.ArgumentParser) -> None:
    from heedful.rationale.retrieval.config import KeyConfig

    add_config_flags(p, KeyConfig, only=("encoder", "cache_dir", "visual", "visual_missing"))


def _query_args(p: argparse.ArgumentParser, cls, index_required: bool = True) -> None:
    """--index, and the flags of ``cls`` (QueryConfig or KnnConfig); k also answers to -k."""
    p.add_argument("--index", required=index_required, help="run folder written by 'heedful rationale index'")
    add_config_flags(p, cls, skip=("k",))
    p.add_argument("-k", "--k", type=int, default=cls.k, help=f"neighbours per sample (default: {cls.k})")


def _data(commands) -> None:
    p = commands.add_parser(
        "data",
        help="check a data file and write its samples (INSIDE format) with their clips and split",
        description="Load and validate a data file (INSIDE or flat MECR), infer the missing emotion changes and "
        "clips, and write the chosen split as samples.json (INSIDE format) with a summary.",
    )
    _data_args(p, SPLIT["data"])
    from heedful.cli.rationale_lm import visual_args

    visual_args(p)
    p.set_defaults(func=_run_data)


def _pretrain(commands) -> None:
    from heedful.rationale.graph.config import ContrastiveConfig, GraphConfig

    p = commands.add_parser(
        "pretrain",
        help="contrastive pre-training of the emotion-change graph (InfoNCE), recall@k on dev",
        description="Train the graph encoder on the train split so that h_change points at its rationale's text "
        "embedding; report recall@k on the clip-disjoint dev split. Writes graph.safetensors + graph.json.",
    )
    _data_args(p, SPLIT["pretrain"], trains=True)
    _encoder_args(p)
    add_config_flags(p, GraphConfig, skip=("text_dim", "visual_dim"))
    add_config_flags(p, ContrastiveConfig, skip=("seed",))  # --seed (DataConfig) seeds the training
    p.set_defaults(func=_run_pretrain)


def _index(commands) -> None:
    from heedful.rationale.retrieval.config import KeyConfig

    p = commands.add_parser(
        "index",
        help="build a FAISS index over text or h_change vectors",
        description="Index the samples of a split by a retrieval key; writes index.faiss, its JSON sidecar and "
        "items.json (rationales to copy).",
    )
    _data_args(p, SPLIT["index"])
    add_config_flags(p, KeyConfig)
    p.set_defaults(func=_run_index)


def _retrieve(commands) -> None:
    from heedful.rationale.retrieval.config import QueryConfig

    p = commands.add_parser(
        "retrieve",
        help="top-k neighbours and retrieval-augmented prompts",
        description="Find each sample's nearest indexed samples (never itself, nor its clip unless --keep-clip) "
        "and build the prompt (context + retrieved examples + instruction); writes retrievals.json.",
    )
    _data_args(p, SPLIT["retrieve"])
    _query_args(p, QueryConfig)
    p.set_defaults(func=_run_retrieve)


def _predict(commands) -> None:
    from heedful.rationale.retrieval.config import KnnConfig

    p = commands.add_parser(
        "predict",
        help="predict rationales (--method knn: nearest-neighbour copy; --method lm: generate with an LM)",
        description="Predict the rationale of each sample; writes predictions.json (structured + scoring string). "
        "knn copies the nearest indexed rationale (needs --index); lm generates with a model from 'rationale train' "
        "(--model), or zero-shot with the base LM when --model is left out.",
    )
    _data_args(p, SPLIT["predict"])
    _query_args(p, KnnConfig, index_required=False)
    p.add_argument("--method", default="knn", choices=("knn", "lm"), help="prediction method (default: knn)")
    from heedful.cli.rationale_lm import add_predict_args

    add_predict_args(p)
    add_report_flag(p)
    p.set_defaults(func=_run_predict)


def _evaluate(commands) -> None:
    from heedful.rationale.data.config import DataConfig
    from heedful.rationale.eval.score import EvalConfig

    p = commands.add_parser(
        "evaluate",
        help="METEOR / ROUGE-L / BLEU-4 (characters) and optional BERTScore of predictions",
        description="Score predictions.json against the reference rationales of --data (matched by sample id).",
    )
    p.add_argument("predictions", help="predictions.json (or the run folder holding it)")
    add_config_flags(
        p, DataConfig, only=("data", "skip_invalid"), help={"data": "reference data (None: the embedded demo set)"}
    )
    add_config_flags(p, EvalConfig)
    p.add_argument(
        "--against",
        help="another predictions.json (or run folder): paired bootstrap of this one minus it, per sample",
    )
    _out_arg(p)
    add_report_flag(p)
    p.set_defaults(func=_run_evaluate)


def _explain(commands) -> None:
    from heedful.rationale.lm.config import RationaleFaithfulnessConfig

    p = commands.add_parser(
        "explain",
        help="how faithful the LM's attention over utterances is (deletion / insertion curves, ERASER)",
        description="Rank the utterances of each predicted dialogue by the LM's cross-attention, by input x gradient "
        "and at random, remove the top share (mean embedding) and measure how much less likely the generated "
        "rationale becomes; writes RUN/faithfulness.json and RUN/faithfulness.png (docs/explain.md).",
    )
    p.add_argument("run", help="run folder of 'heedful rationale predict --method lm' (a model with cross-attention)")
    p.add_argument("--faithfulness", action="store_true", help="measure the faithfulness of the utterance attention")
    p.add_argument(
        "--video",
        action="store_true",
        help="video removal: replace every frame by the training mean; change of the reference log-probability "
        "per token (writes RUN/video_removal.json)",
    )
    p.add_argument("--regenerate", action="store_true", help="--video: also regenerate and compare the visual part")
    add_config_flags(p.add_argument_group("faithfulness (docs/explain.md)"), RationaleFaithfulnessConfig)
    p.add_argument("--threads", type=int, help="torch CPU threads (default: torch's choice)")
    p.set_defaults(func=_run_explain)


# handlers: lazy imports, then one library call each


def _load(args, run: str | None = None):
    """The command's data settings and samples; ``run``: the model or index folder whose held-out split it reads."""
    from heedful.cli.rationale_data import data_config
    from heedful.rationale.data.config import load_split

    cfg = data_config(args, run)
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


def _run_data(args) -> int:
    from statistics import median

    from heedful.rationale.data.loaders import sample_to_dict
    from heedful.runs import write_json

    cfg, result = _load(args)
    samples = result.samples
    lengths = [len(s.utterances) for s in samples]
    summary = {
        "samples": len(samples),
        "clips": len({s.clip_id for s in samples}),
        "with_rationale": sum(s.rationale is not None for s in samples),
        "inferred_changes": sum(s.emo_change.inferred for s in samples),
        "utterances": {"min": min(lengths), "median": median(lengths), "max": max(lengths)},
        "invalid": len(result.errors),
    }
    if args.visual:  # checked before anything is written: a mismatch is one line naming the sample
        from heedful.rationale.features.visual import VisualFile

        frames = VisualFile(args.visual)
        frames.for_samples(samples, args.visual_missing)
        summary["visual"] = frames.describe() | {"zero_filled": len(frames.zero_filled)}
    run_dir = _run_dir(args, "data", {"data": data_record(cfg), "visual": args.visual}, result.errors)
    write_json(run_dir / "samples.json", [sample_to_dict(s) for s in samples])
    write_json(run_dir / "summary.json", summary)
    print(f"run folder: {run_dir}")
    print(
        f"{summary['samples']} samples in split {cfg.split} ({summary['clips']} clips, {summary['with_rationale']} "
        f"with a rationale, {summary['inferred_changes']} changes inferred; {min(lengths)}-{max(lengths)} utterances)"
    )
    if "visual" in summary:
        v = summary["visual"]
        print(f"visual: {v['dim']}-d frame features for every utterance ({v['zero_filled']} sample(s) zero-filled)")
    return 0


def _run_pretrain(args) -> int:
    from dataclasses import asdict

    from heedful.rationale.features.encoders import make_encoder
    from heedful.rationale.graph.config import ContrastiveConfig, GraphConfig
    from heedful.rationale.graph.pretrain import pretrain
    from heedful.runs import hold_run

    contrastive = config_from_args(ContrastiveConfig, args, seed=args.seed)
    graph = config_from_args(GraphConfig, args, text_dim=make_encoder(args.encoder).dim)
    graph.check_fits_memory()  # before a run folder exists
    cfg, result = _load(args)  # validates the data before training
    config = {"data": data_record(cfg, trains=True), "encoder": args.encoder, "graph": asdict(graph)}
    config["contrastive"] = asdict(contrastive)
    run_dir = _run_dir(args, "pretrain", config, result.errors)
    print(f"run folder: {run_dir}", flush=True)
    with hold_run(run_dir):
        report = pretrain(
            cfg,
            args.encoder,
            args.cache_dir,
            graph,
            contrastive,
            run_dir,
            visual=args.visual,
            visual_missing=args.visual_missing,
        )
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

    from heedful.rationale.retrieval.config import KeyConfig
    from heedful.rationale.retrieval.store import build_index
    from heedful.runs import hold_run

    key = config_from_args(KeyConfig, args)
    cfg, result = _load(args)
    run_dir = _run_dir(args, "index", {"data": data_record(cfg), "key": asdict(key)}, result.errors)
    print(f"run folder: {run_dir}", flush=True)
    with hold_run(run_dir):
        build_index(result.samples, key, run_dir, {"data": data_record(cfg)})
    print(f"indexed {len(result.samples)} samples by {key.key}")
    return 0


def _found(rows: list, k: int, stored: int) -> str:
    """What came back: ``k`` per sample when every row is full, else the range and why it is short."""
    sizes = [len(row) for row in rows]
    if all(n == k for n in sizes):
        return f"retrieved {k} neighbours for {len(rows)} samples"
    low, high = min(sizes, default=0), max(sizes, default=0)
    span = f"{low}" if low == high else f"{low}-{high}"
    return (
        f"retrieved {span} neighbours for {len(rows)} samples (asked for {k}; the index holds {stored}, "
        "less each query's own sample and clip)"
    )


def _run_retrieve(args) -> int:
    from dataclasses import asdict

    from heedful.rationale.data.prompt import build_prompt
    from heedful.rationale.retrieval.config import QueryConfig
    from heedful.rationale.retrieval.store import item_rationale, open_index, retrieve
    from heedful.runs import write_json

    query = config_from_args(QueryConfig, args)
    index, items, key = open_index(args.index)
    cfg, result = _load(args, args.index)  # the split the index held out
    hits = retrieve(index, key, result.samples, query.k, exclude_clip=not query.keep_clip)
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
    config = {"data": data_record(cfg), "index": args.index} | asdict(query)
    run_dir = _run_dir(args, "retrieve", config, result.errors)
    write_json(run_dir / "retrievals.json", out)
    print(f"run folder: {run_dir}")
    print(_found(hits, query.k, len(index)))
    return 0


def _run_predict(args) -> int:
    from dataclasses import asdict

    from heedful.rationale.retrieval.config import KnnConfig
    from heedful.rationale.retrieval.store import predict_knn
    from heedful.runs import write_json

    knn = config_from_args(KnnConfig, args)
    if args.method == "knn" and not args.index:
        raise InputError("--method knn needs --index (a folder from 'heedful rationale index')")
    if args.limit is not None and args.limit < 1:
        raise InputError(f"limit must be >= 1, got {args.limit}")
    held = args.model if args.method == "lm" and args.model else args.index  # the split it held out
    cfg, result = _load(args, held)
    if args.limit is not None:
        result.samples[:] = result.samples[: args.limit]
    config = {"data": data_record(cfg), "index": args.index, "method": args.method, "k": knn.k, "limit": args.limit}
    if args.method == "lm":
        from heedful.cli.rationale_lm import run_predict

        keys = ("lm", "model", "strategy", "beams", "temperature", "top_p", "max_new_tokens", "attention")
        keys += ("no_repeat_ngram", "repetition_penalty", "visual", "seed")
        predictions = run_predict(args, result.samples)  # first: a bad model path leaves no empty run folder
        run_dir = _run_dir(args, "predict", config | {k: getattr(args, k) for k in keys}, result.errors)
        write_json(run_dir / "predictions.json", predictions)
        print(f"run folder: {run_dir}")
        print(f"generated {len(predictions)} rationales; first: {predictions[0]['text']}")
        report_if_asked(args, run_dir)
        return 0
    predictions = predict_knn(args.index, result.samples, knn.k, knn.relabel, not knn.keep_clip)
    run_dir = _run_dir(args, "predict", config | asdict(knn), result.errors)
    write_json(run_dir / "predictions.json", predictions)
    print(f"run folder: {run_dir}")
    print(f"predicted {len(predictions)} rationales ({args.method})")
    report_if_asked(args, run_dir)
    return 0


def _run_evaluate(args) -> int:
    from heedful.rationale.data.config import DataConfig
    from heedful.rationale.data.loaders import load_samples
    from heedful.rationale.eval.score import EvalConfig, evaluate
    from heedful.runs import write_json

    data, settings = config_from_args(DataConfig, args), config_from_args(EvalConfig, args)
    path, predictions = _read_predictions(args.predictions)
    refs = load_samples(data.path, skip_invalid=data.skip_invalid)
    _report_invalid(refs.errors)
    by_id = {s.sample_id: s for s in refs.samples}
    metrics = evaluate(predictions, by_id, settings.bertscore_model, settings.bootstrap)
    if args.against:
        from heedful.rationale.eval.score import paired_against

        baseline = _read_predictions(args.against)[1]
        evaluate(baseline, by_id)  # the baseline must be a valid predictions file too
        metrics["paired"] = paired_against(predictions, baseline, by_id, settings.bootstrap or 1000)
    config = {"predictions": str(path), "data": data.data, "bertscore_model": settings.bertscore_model}
    config["bootstrap"] = settings.bootstrap
    run_dir = _run_dir(args, "evaluate", config, refs.errors)  # only once scored: no empty run folders on bad input
    write_json(run_dir / "metrics.json", metrics)
    print(f"run folder: {run_dir}")
    ci, paired = metrics.pop("ci", {}), metrics.pop("paired", None)
    print("  ".join(_metric(k, v, ci.get(k)) for k, v in metrics.items()))
    if paired:
        print(
            f"minus {args.against} (paired, n = {paired.pop('n')}, with a visual reference {paired.pop('n_visual')}):"
        )
        for name, d in paired.items():
            real = "real" if d["real"] else "within noise"
            print(f"  {name}: {d['mean']:+.4f} [{d['low']:+.4f}, {d['high']:+.4f}] ({real})")
    report_if_asked(args, run_dir)
    return 0


def _run_video(args) -> int:
    from heedful.cli.rationale_lm import set_threads
    from heedful.devices import resolve_device
    from heedful.rationale.lm.config import RationaleFaithfulnessConfig
    from heedful.rationale.lm.video_faithfulness import video_run

    set_threads(args.threads)
    cfg = config_from_args(RationaleFaithfulnessConfig, args)
    resolve_device(cfg.device)  # a machine without the device refuses before any work
    report = video_run(args.run, cfg, args.regenerate, device=cfg.device)
    print(
        f"video removal: {report['nats_per_token']:.4f} nats/token (mean |change| {report['abs_nats_per_token']:.4f}, "
        f"n = {report['n']})"
    )
    if "visual_rouge_l" in report:
        print(
            f"visual part ROUGE-L {report['visual_rouge_l']:.3f} with the frames, "
            f"{report['visual_rouge_l_without_video']:.3f} with the mean frame"
        )
    print(f"numbers: {args.run}/video_removal.json")
    return 0


def _read_predictions(given: str) -> tuple[Path, list]:
    from heedful.runs import read_json

    path = Path(given)
    path = path / "predictions.json" if path.is_dir() else path
    if not path.is_file():
        raise FileNotFoundError(f"no predictions file {path}")
    predictions = read_json(path)
    if not isinstance(predictions, list):
        raise InputError(f"{path}: expected a JSON list of predictions")
    return path, predictions


def _metric(name: str, value, ci) -> str:
    if not isinstance(value, float):
        return f"{name} {value}"
    return f"{name} {value:.4f}" + (f" [{ci[0]:.4f}, {ci[1]:.4f}]" if ci else "")


def _run_explain(args) -> int:
    from heedful.rationale.lm.config import RationaleFaithfulnessConfig

    if args.video:
        return _run_video(args)
    if not args.faithfulness:
        raise InputError(
            "rationale explain measures faithfulness: add --faithfulness (the attention itself comes from "
            "'rationale predict --method lm --attention')"
        )
    cfg = config_from_args(RationaleFaithfulnessConfig, args)
    from heedful.cli.rationale_lm import set_threads
    from heedful.devices import resolve_device

    resolve_device(cfg.device)  # a machine without the device refuses before any work
    set_threads(args.threads)
    from heedful.explain.faithfulness import summary_lines
    from heedful.rationale.lm.utterance_faithfulness import explain_run

    result = explain_run(args.run, cfg)
    print(f"{result['samples']} dialogues, mode {result['mode']}; removed utterances: {result['removal']}")
    print("\n".join(summary_lines(result)))
    gates = result["gates"]
    if gates["attention_closed"]:
        shown = ", ".join(f"layer {i}: {g['attention']:+.4f}" for i, g in gates["tanh"].items())
        print(f"the cross-attention gates are nearly closed (tanh {shown}): the condition barely reaches the LM")
    change = result.get("score_change")
    if change:
        pct = f"{100 * change['fraction']:g}%"
        print(
            f"regenerated without the top {pct} of utterances: ROUGE-L {change['intact']['rouge_l']:.3f} intact, "
            f"{change['attention']['rouge_l']:.3f} by attention, {change['random']['rouge_l']:.3f} at random"
        )
    print(f"numbers: {args.run}/faithfulness.json; curves: {args.run}/faithfulness.png")
    return 0
