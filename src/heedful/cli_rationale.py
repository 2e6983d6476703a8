"""``heedful rationale ...``: dialogue-emotion rationale sub-commands (argparse only; lazy library imports)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("rationale", help="emotion-change rationales: index, retrieve, predict, evaluate")
    commands = parser.add_subparsers(dest="rationale_command", metavar="COMMAND")
    parser.set_defaults(func=lambda args: _print_help(parser))
    del commands  # filled by the rationale track


def _print_help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 0
