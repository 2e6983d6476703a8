"""``heedful process ...``: process-track sub-commands (argparse only; the library is imported lazily)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("process", help="process time series: data, training, comparison, explanations")
    commands = parser.add_subparsers(dest="process_command", metavar="COMMAND")
    parser.set_defaults(func=lambda args: _print_help(parser))
    del commands  # filled by the process track


def _print_help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 0
