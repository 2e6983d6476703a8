"""Every flag of every command explains itself, and shows its default at most once."""

import argparse
import re

import pytest

from heedful.cli import build_parser
from heedful.cli.configfile import leaf_parser  # noqa: F401  (the tree walk below mirrors it)


def _commands(parser: argparse.ArgumentParser, path=()):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _commands(sub, (*path, name))


COMMANDS = list(_commands(build_parser()))


def _rendered(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    """The help text of one flag as --help prints it (%(default)s expanded), on one line."""
    formatter = parser._get_formatter()
    return " ".join(formatter._expand_help(action).split())


@pytest.mark.parametrize(("path", "parser"), COMMANDS, ids=[" ".join(p) or "heedful" for p, _ in COMMANDS])
def test_every_flag_has_help_and_one_default(path, parser):
    for action in parser._actions:
        if not action.option_strings or action.help is argparse.SUPPRESS:
            continue
        flag = "/".join(action.option_strings)
        text = _rendered(parser, action)
        assert text.strip(), f"heedful {' '.join(path)} {flag}: no help"
        assert text.count("default:") <= 1 + text.count(";"), f"{flag}: {text}"
        assert "(default: )" not in text and "==SUPPRESS==" not in text and "%%" not in text, f"{flag}: {text}"
        for shown in re.findall(r"\(default: ([^;)]*)", text):
            assert text.count(f"(default: {shown})") <= 1, f"{flag} shows its default twice: {text}"


def test_the_commands_are_all_there():
    names = {" ".join(p) for p, _ in COMMANDS}
    assert {"process train", "rationale train", "serve", "demo", "report"} <= names


@pytest.mark.parametrize("flag", ["--epochs", "--batch-size", "--grad-accum", "--lr", "--weight-decay",
                                  "--patience", "--cache-lower"])  # fmt: skip
def test_rationale_train_flags_named_in_the_issue_have_help(flag):
    (parser,) = [p for path, p in COMMANDS if path == ("rationale", "train")]
    (action,) = [a for a in parser._actions if flag in a.option_strings]
    assert len(_rendered(parser, action)) > 15


def _help_of(path, flag):
    (parser,) = [p for p_, p in COMMANDS if p_ == path]
    (action,) = [a for a in parser._actions if flag in a.option_strings]
    return _rendered(parser, action)


def test_window_names_its_unit_per_task():
    text = _help_of(("process", "train"), "--window")
    assert "3-minute samples" in text and "12-minute steps" in text and "table: window length in rows" in text, text
    assert text.count("3-minute samples") == 1 and "(default: 40; pen_faults 30; pen_repair 48; table 0)" in text


def test_target_kind_and_models_show_their_default_once():
    assert _help_of(("process", "train"), "--target-kind").count("step_class (default") <= 1
    assert _help_of(("process", "train"), "--target-kind").count("default: step_class") == 1
    models = _help_of(("process", "compare"), "--models")
    assert "(default: the task's set)" in models and models.count("default") == 1


def test_building_the_parser_imports_no_checker_and_no_model_library():
    import subprocess
    import sys

    code = (
        "import sys; from heedful.cli import build_parser; build_parser(); "
        "print(sorted(m for m in ('torch', 'pydantic', 'yaml', 'numpy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
