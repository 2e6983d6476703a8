"""Command line: thin, parses and calls the library. Heavy imports happen inside the commands so that
``heedful --help`` stays instant."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from heedful.errors import InputError, require_extra

# what a user can cause and fix: our own checks, and files that are missing, of the wrong kind or unreadable
INPUT_ERRORS = (InputError, FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError)


def _demo(args: argparse.Namespace) -> int:
    from heedful.cli.flags import config_from_args
    from heedful.demo import run_demo
    from heedful.demo.config import ProcessTourConfig, SequenceTourConfig

    config = config_from_args(SequenceTourConfig, args)
    process = config_from_args(ProcessTourConfig, args, prefix="process_")
    run_dir = run_demo(args.out, config, process)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    rev, fault = metrics["reversal"], metrics["fault_detection"]
    print(f"run folder: {run_dir}")
    print(
        "reversal exact match (greedy / beam 5): "
        f"attention {rev['bahdanau']['exact_match_greedy']:.1%} / {rev['bahdanau']['exact_match_beam5']:.1%}, "
        f"no attention {rev['no_attention']['exact_match_greedy']:.1%} / {rev['no_attention']['exact_match_beam5']:.1%}"
    )
    print(
        f"fault detection accuracy {fault['accuracy']:.1%}; attention inside the fault window "
        f"{fault['attention_mass_in_fault_window']:.1%} (window covers {fault['fault_window_share_of_steps']:.1%})"
    )
    proc = metrics["process"]
    accuracy = ", ".join(f"fault {f} {a:.0%}" for f, a in proc["per_fault_accuracy"].items())
    print(
        f"Tennessee Eastman (bi-GRU + attention, {process.epochs} epochs): {accuracy}; "
        f"false alarms {proc['false_alarm_rate']:.1%}"
    )
    for png in sorted(run_dir.glob("*.png")):
        print(f"picture: {png}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from heedful import __version__

    parser = argparse.ArgumentParser(
        prog="heedful", description="Attention-based sequence models that explain themselves."
    )
    parser.add_argument("--version", action="version", version=f"heedful {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of input errors too")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser(
        "demo",
        help="small end-to-end tour on embedded data",
        description="Train small attention models on embedded synthetic data; write a run folder with "
        "config.json, metrics.json and attention heatmaps.",
    )
    from heedful.cli.flags import add_config_flags
    from heedful.demo.config import ProcessTourConfig, SequenceTourConfig
    from heedful.process.config import RunConfig

    add_config_flags(demo, RunConfig, only=("out",))
    add_config_flags(demo.add_argument_group("sequence tour"), SequenceTourConfig)
    add_config_flags(demo.add_argument_group("Tennessee Eastman tour"), ProcessTourConfig, prefix="process_")
    demo.set_defaults(func=_demo)
    from heedful.cli import process as cli_process  # argparse only: no heavy imports at module level
    from heedful.cli import rationale as cli_rationale
    from heedful.cli import serve as cli_serve

    cli_process.register(sub)
    cli_rationale.register(sub)
    cli_serve.register(sub)
    from heedful.cli.configfile import add_common_flags

    add_common_flags(parser)
    return parser


class Terminated(BaseException):
    """SIGTERM (``kill``, a scheduler stopping a job), raised where the program is, so that cleanup runs."""


def _terminate(signum, frame):
    raise Terminated


def main(argv: Sequence[str] | None = None) -> int:
    import signal
    import threading

    in_main = threading.current_thread() is threading.main_thread()  # only there can a handler be set
    previous = signal.signal(signal.SIGTERM, _terminate) if in_main else None
    try:
        return _main(argv)
    except BrokenPipeError:  # `heedful ... | head`: the reader left; say nothing more, as Unix tools do
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # Python's own flush at exit would fail again
        return 141  # 128 + SIGPIPE
    except Terminated:  # like Ctrl-C: the run folder's lock and temporary files are gone, --resume continues
        print("heedful: terminated", file=sys.stderr)
        return 143  # 128 + SIGTERM
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)


def _main(argv: Sequence[str] | None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # every model comes from a package or a local path
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        if getattr(args, "extra", None):
            require_extra(args.extra)  # e.g. the rationale track without heedful[rationale]: one line, exit 2
        from heedful.cli.configfile import apply_config

        apply_config(parser, args, argv)  # --config FILE under the flags given; prints the effective config
        return args.func(args)
    except INPUT_ERRORS as err:
        if args.debug:
            raise
        # bad input: one line naming the problem, exit code 2, no traceback. Anything else is a bug: traceback.
        print(f"heedful: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("heedful: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
